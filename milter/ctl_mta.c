/*
 * floodgatectl and the MTA's hold queue: which messages are held
 * (Postfix: postqueue -j; Sendmail: -bp -qQ) and how one is given back
 * (postsuper -H and postqueue -i; sendmail -Q -qQ -qI and -qf -qI).
 * Commands run without a shell; when one fails, the error names the
 * command, its exit status and what it wrote to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "run.h"
#include "util.h"

/* A command of the MTA's own was killed for not ending within -t. */
static int stalled;

/* run()'s flags: keep its stdout; it waits on the next hop (a delivery
 * in the foreground), so being killed says nothing of the MTA. */
#define RUN_OUT		1
#define RUN_NEXT_HOP	2

/*
 * Runs argv, collecting stdout (with RUN_OUT) and stderr's start; 0
 * when it ran (whatever its status), -1 when it could not be started or
 * did not end within ctl_timeout seconds (-t): then it is ended with
 * what it started (fg_run(): SIGTERM, then SIGKILL; the MTA's queue
 * survives a killed command, as it survives a crash), so that a hung
 * postqueue or postsuper never holds the release timer, and unless it
 * waited on the next hop, the MTA is taken for stalled. posix_spawn,
 * not fork: a run over a large hold queue holds tens of megabytes,
 * which fork would copy the page tables of for each of the MTA's
 * commands. In a process group of its own, out of the terminal's
 * reach: ^C stops floodgatectl between two messages, not this command
 * in one.
 */
static int
run(char *const argv[], int flags, struct fg_run *r)
{
	if (fg_run(argv, FG_RUN_ERR | FG_RUN_PGROUP |
	    (flags & RUN_OUT ? FG_RUN_OUT : 0), ctl_deadline(), NULL, r) < 0)
		return -1;
	if (r->late) {
		if (!(flags & RUN_NEXT_HOP))
			stalled = 1;
		snprintf(r->how, sizeof(r->how), "no end within %d s, killed",
		    ctl_timeout);
		free(r->out);
		r->out = NULL;
		return -1;
	}
	/* One line for the error message: newlines become "; ". */
	while (r->errlen > 0 && (r->err[r->errlen - 1] == '\n' ||
	    r->err[r->errlen - 1] == '\r'))
		r->err[--r->errlen] = '\0';
	return 0;
}

/* "floodgatectl: WHAT: CMD ARGS: exit 1: stderr" */
static void
report(const char *what, char *const argv[], const struct fg_run *r)
{
	size_t i;

	fprintf(stderr, "floodgatectl: %s: ", what);
	for (i = 0; argv[i] != NULL; i++)
		fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
	fprintf(stderr, ": %s", r->how);
	if (r->errlen > 0) {
		fputs(": ", stderr);
		for (i = 0; i < r->errlen; i++) {
			unsigned char c = (unsigned char)r->err[i];

			if (c == '\n')
				fputs("; ", stderr);
			else if (c < 0x20 || c == 0x7f)
				fprintf(stderr, "\\x%02x", c);
			else
				fputc(c, stderr);
		}
	}
	fputc('\n', stderr);
	free(r->out);
}

/* Sendmail -bp -qQ: "ID[*X]  SIZE DATE SENDER" starts a queue entry. */
static char *
sendmail_id(char *line)
{
	char *e;

	if (strncmp(line, "Total", 5) == 0)
		return NULL;
	for (e = line; (*e >= '0' && *e <= '9') || (*e >= 'A' && *e <= 'Z') ||
	    (*e >= 'a' && *e <= 'z'); e++)
		;
	if (e == line)
		return NULL;
	*e = '\0';
	return line;
}

/* postqueue -j: one JSON object per message, on one line each. */
static char *
postfix_id(char *line)
{
	char *q, *e;

	if (strstr(line, "\"queue_name\": \"hold\"") == NULL ||
	    (q = strstr(line, "\"queue_id\": \"")) == NULL)
		return NULL;
	q += 13;
	if ((e = strchr(q, '"')) == NULL)
		return NULL;
	*e = '\0';
	return q;
}

/* The IDs the command listed, one a line; only IDs of letters and
 * digits (never floodgate's otherwise: it holds only such IDs). -1 out
 * of memory. */
static int
queue_ids(struct fg_strset *ids, char *out, char *(*id_of)(char *line))
{
	char *line, *save = NULL, *q;

	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if ((q = id_of(line)) != NULL && fg_qid_valid(q) &&
		    fg_strset_add(ids, q) < 0)
			return -1;
	return 0;
}

struct fg_strset *
ctl_hold_queue(const struct fg_config *cfg)
{
	char *pf[] = { "postqueue", "-c", cfg->postfix_config, "-j", NULL };
	char *sm[] = { cfg->sendmail_path, "-C", cfg->sendmail_config, "-bp",
	    "-qQ", NULL };
	char *const *argv = cfg->mta_sendmail ? sm : pf;
	struct fg_run r;
	struct fg_strset *ids;

	if (run(argv, RUN_OUT, &r) < 0) {
		report("cannot list the hold queue", argv, &r);
		return NULL;
	}
	/* Sendmail's -bp exits non-zero for an empty queue on some
	 * versions; what it prints is what counts. */
	if (r.status != 0 && !cfg->mta_sendmail) {
		report("cannot list the hold queue", argv, &r);
		return NULL;
	}
	if ((ids = calloc(1, sizeof(*ids))) == NULL || (r.out != NULL &&
	    queue_ids(ids, r.out, cfg->mta_sendmail ? sendmail_id :
	    postfix_id) < 0)) {
		ctl_hold_queue_free(ids);
		ids = NULL;
		fprintf(stderr, "floodgatectl: out of memory listing the hold queue\n");
	}
	free(r.out);
	return ids;
}

void
ctl_hold_queue_free(struct fg_strset *ids)
{
	if (ids != NULL)
		fg_strset_free(ids);
	free(ids);
}

int
ctl_release_one(const struct fg_config *cfg, const char *qid)
{
	char id[FG_QID_MAX + 8];
	struct fg_run r;

	if (!fg_qid_valid(qid)) {
		fprintf(stderr, "floodgatectl: \"%s\": not a queue ID; not released\n",
		    qid);
		return -1;
	}
	if (stalled)
		return -1;
	if (cfg->mta_sendmail) {
		char *unq[] = { cfg->sendmail_path, "-C", cfg->sendmail_config,
		    "-Q", "-qQ", id, NULL };
		char *now[] = { cfg->sendmail_path, "-C", cfg->sendmail_config,
		    "-qf", id, NULL };

		/* Without -qQ, -Q silently does nothing. -qI matches
		 * substrings: a valid ID of Sendmail's fixed length matches
		 * only itself. */
		snprintf(id, sizeof(id), "-qI%s", qid);
		if (run(unq, 0, &r) < 0 || r.status != 0) {
			report("release", unq, &r);
			return -1;
		}
		/* A delivery in the foreground, as long as the next hop
		 * takes: killed after -t, the message waits for Sendmail's
		 * next queue run, and the others still go (the next hop is
		 * slow, not Sendmail). A run being stopped leaves it to
		 * that queue run at once. */
		if (ctl_stopping())
			return 0;
		if (run(now, RUN_NEXT_HOP, &r) < 0 || r.status != 0)
			report("released, but not delivered now", now, &r);
		return 0;
	} else {
		char *su[] = { "postsuper", "-c", cfg->postfix_config, "-H",
		    (char *)qid, NULL };
		char *pq[] = { "postqueue", "-c", cfg->postfix_config, "-i",
		    (char *)qid, NULL };

		if (run(su, 0, &r) < 0 || r.status != 0) {
			report("release", su, &r);
			return -1;
		}
		/* Now rather than at the next queue run; if this fails the
		 * message still goes then. postqueue only asks Postfix's
		 * flush service: one that does not end, Postfix does not
		 * answer. */
		if (run(pq, 0, &r) < 0 || r.status != 0)
			report("released, but not delivered now", pq, &r);
		return 0;
	}
}

int
ctl_mta_stalled(void)
{
	return stalled;
}

int
ctl_in_list(const struct fg_strset *ids, const char *qid)
{
	return fg_strset_has(ids, qid);
}
