/*
 * floodgatectl: ask floodgate who is sending, why mail was deferred, and
 * let a tenant go. Talks to the control socket; when the daemon is down,
 * the read-only commands read the SQLite file directly and say so.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "inspect.h"
#include "limiter.h"
#include "store.h"
#include "table.h"
#include "util.h"

#define MAX_KEYS	32

struct rec {
	int n;
	char *key[MAX_KEYS];
	char *val[MAX_KEYS];
	char *line;
};

static int json;

static void usage(void) __attribute__((noreturn));
static int talk(const char *sock, const char *request, char **reply);
static int offline(struct fg_config *cfg, struct fg_ctl_req *req,
    char **reply);
static int render(const char *cmd, const char *source, char *reply);
static int release(struct fg_config *cfg, const char *sock, char **reply);

static void
usage(void)
{
	fprintf(stderr,
	    "usage: floodgatectl [-c FILE] [-s SOCKET] [--json] COMMAND [ARGS]\n"
	    "  status                          daemon, store and counts since start\n"
	    "  top [--by account|domain|rule] [--since 1h] [-n 10]\n"
	    "                                  who sent most, who was refused most\n"
	    "  show ACCOUNT                    every rule for ACCOUNT, used/limit, recent refusals\n"
	    "  explain ACCOUNT RECIPIENT [IP]  would a message pass now? (charges nothing)\n"
	    "  held                            messages on hold: queue ID, account, rule, age\n"
	    "  release                         release held mail as budgets allow (root; run each minute)\n"
	    "  reset ACCOUNT [RULE]            forget what ACCOUNT sent (all rules, or one)\n"
	    "  reload                          reload the configuration (like SIGUSR1)\n"
	    "ACCOUNT is a tenant name, a login or a sender address. Default FILE: %s\n",
	    FG_DEFAULT_CONFIG);
	exit(2);
}

static int
talk(const char *sock, const char *request, char **reply)
{
	struct sockaddr_un sun;
	char buf[8192];
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	*reply = NULL;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	fg_strlcpy(sun.sun_path, sock, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	/* A refusal may arrive, and the socket close, before the request is
	 * written: read the answer anyway (SIGPIPE is ignored). */
	if (write(fd, request, strlen(request)) < 0 && errno != EPIPE) {
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (len + (size_t)n + 1 > cap) {
			char *p;

			cap = (len + (size_t)n + 1) * 2;
			if ((p = realloc(*reply, cap)) == NULL) {
				close(fd);
				return -1;
			}
			*reply = p;
		}
		memcpy(*reply + len, buf, (size_t)n);
		len += (size_t)n;
		(*reply)[len] = '\0';
	}
	close(fd);
	return *reply != NULL ? 0 : -1;
}

/* The daemon is down: answer from the database, opened read-only. */
static int
offline(struct fg_config *cfg, struct fg_ctl_req *req, char **reply)
{
	struct fg_ctl_out o = { 0 };
	struct fg_inspect in;
	struct fg_store *st;
	struct fg_table *t = NULL;
	char err[FG_ERRLEN];
	size_t loaded = 0;

	if (strcmp(req->verb, "reset") == 0 || strcmp(req->verb, "reload") == 0) {
		fprintf(stderr, "floodgatectl: floodgate is not running (%s): %s needs the daemon\n",
		    cfg->control, req->verb);
		return -1;
	}
	if ((st = fg_store_open(cfg->database, 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "floodgatectl: floodgate is not running, and its database cannot be read: %s\n", err);
		return -1;
	}
	fprintf(stderr, "floodgatectl: floodgate is not running; reading %s (read-only)\n",
	    cfg->database);
	t = fg_table_new();
	in.cfg = cfg;
	in.limiter = fg_limiter_new(t);
	in.store = st;
	in.now = (uint32_t)time(NULL);
	if (fg_store_load(st, t, in.now, &loaded, err, sizeof(err)) < 0) {
		fg_ctl_error(&o, "database: %s", err);
	} else if (strcmp(req->verb, "status") == 0) {
		fg_ctl_ok(&o);
		fg_ctl_kv(&o, "daemon", "not running");
		fg_ctl_kv(&o, "config", "%s", cfg->path);
		fg_ctl_kv(&o, "mode", "%s", cfg->monitor ? "monitor" : "enforce");
		fg_ctl_kv(&o, "rules", "%zu", cfg->nrule);
		fg_ctl_kv(&o, "database", "%s", cfg->database);
		fg_ctl_kv(&o, "tracked_keys", "%zu", loaded);
		fg_ctl_end(&o);
	} else if (strcmp(req->verb, "top") == 0)
		fg_inspect_top(&in, req, &o);
	else if (strcmp(req->verb, "show") == 0)
		fg_inspect_show(&in, req, &o);
	else if (strcmp(req->verb, "explain") == 0)
		fg_inspect_explain(&in, req, &o);
	else if (strcmp(req->verb, "held") == 0)
		fg_inspect_held(&in, req, &o);
	else
		fg_ctl_error(&o, "\"%s\": unknown command", req->verb);
	fg_limiter_free(in.limiter);
	fg_table_free(t);
	fg_store_close(st);
	*reply = o.buf;
	return o.buf != NULL ? 0 : -1;
}

static int
is_number(const char *s)
{
	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static const char *
get(const struct rec *r, const char *key)
{
	int i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->val[i];
	return NULL;
}

/* For people: times as local dates, seconds as durations. */
static void
humanize(struct rec *r, char **owned, int *nowned)
{
	int j;

	for (j = 0; j < r->n; j++) {
		char buf[64];
		uint32_t v;

		if (fg_parse_uint(r->val[j], UINT32_MAX, &v) < 0)
			continue;
		if (strcmp(r->key[j], "time") == 0 ||
		    strcmp(r->key[j], "config_loaded") == 0) {
			time_t t = (time_t)v;
			struct tm tm;

			localtime_r(&t, &tm);
			strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
		} else if (strcmp(r->key[j], "uptime") == 0 ||
		    strcmp(r->key[j], "retry") == 0 ||
		    strcmp(r->key[j], "age") == 0) {
			if (v == 0)
				fg_strlcpy(buf, "-", sizeof(buf));
			else
				fg_format_duration(v, buf, sizeof(buf));
		} else
			continue;
		if (*nowned < 4096 && (owned[*nowned] = fg_strdup(buf)) != NULL)
			r->val[j] = owned[(*nowned)++];
	}
}

/* Records of the same type print as one aligned table; a lone record as
 * "key: value" lines. */
static void
print_group(struct rec *r, int n)
{
	int i, j, w[MAX_KEYS] = { 0 };

	if (n == 1 && (get(&r[0], "rule") == NULL || get(&r[0], "type") == NULL ||
	    strcmp(get(&r[0], "type"), "rule") != 0)) {
		int kw = 0;

		for (j = 0; j < r[0].n; j++)
			if ((int)strlen(r[0].key[j]) > kw)
				kw = (int)strlen(r[0].key[j]);
		for (j = 0; j < r[0].n; j++)
			if (strcmp(r[0].key[j], "type") != 0)
				printf("%-*s  %s\n", kw + 1, r[0].key[j], r[0].val[j]);
		return;
	}
	for (j = 0; j < r[0].n; j++)
		w[j] = (int)strlen(r[0].key[j]);
	for (i = 0; i < n; i++)
		for (j = 0; j < r[i].n && j < r[0].n; j++)
			if ((int)strlen(r[i].val[j]) > w[j])
				w[j] = (int)strlen(r[i].val[j]);
	for (j = 0; j < r[0].n; j++)
		if (strcmp(r[0].key[j], "type") != 0)
			printf(j + 1 < r[0].n ? "%-*s  " : "%-.*s", j + 1 < r[0].n ?
			    w[j] : (int)strlen(r[0].key[j]), r[0].key[j]);
	printf("\n");
	for (i = 0; i < n; i++) {
		for (j = 0; j < r[i].n && j < r[0].n; j++)
			if (strcmp(r[0].key[j], "type") != 0)
				printf(j + 1 < r[0].n ? "%-*s  " : "%-.*s", j + 1 < r[0].n ?
				    w[j] : (int)strlen(r[i].val[j]), r[i].val[j]);
		printf("\n");
	}
}

static int
render(const char *cmd, const char *source, char *reply)
{
	struct rec *r = NULL;
	char *line, *save = NULL;
	int n = 0, i, start;

	line = strtok_r(reply, "\n", &save);
	if (line == NULL) {
		fprintf(stderr, "floodgatectl: empty reply\n");
		return 1;
	}
	if (strncmp(line, "error ", 6) == 0) {
		fprintf(stderr, "floodgatectl: %s\n", line + 6);
		return 1;
	}
	if (strcmp(line, "ok") != 0) {
		fprintf(stderr, "floodgatectl: unexpected reply: %s\n", line);
		return 1;
	}
	while ((line = strtok_r(NULL, "\n", &save)) != NULL && strcmp(line, ".") != 0) {
		struct rec *nr = realloc(r, (size_t)(n + 1) * sizeof(*r));

		if (nr == NULL)
			break;
		r = nr;
		r[n].line = line;
		r[n].n = fg_ctl_split(line, r[n].key, r[n].val, MAX_KEYS);
		n++;
	}
	if (json) {
		printf("{\"command\": ");
		json_string(cmd);
		printf(", \"source\": ");
		json_string(source);
		printf(", \"records\": [");
		for (i = 0; i < n; i++) {
			int j;

			printf("%s{", i ? ", " : "");
			for (j = 0; j < r[i].n; j++) {
				printf("%s", j ? ", " : "");
				json_string(r[i].key[j]);
				printf(": ");
				if (is_number(r[i].val[j]))
					printf("%s", r[i].val[j]);
				else
					json_string(r[i].val[j]);
			}
			printf("}");
		}
		printf("]}\n");
	} else {
		char **owned = calloc(4096, sizeof(*owned));
		int nowned = 0;

		if (owned != NULL)
			for (i = 0; i < n; i++)
				humanize(&r[i], owned, &nowned);
		for (start = 0, i = 1; i <= n; i++) {
			const char *a = start < n ? get(&r[start], "type") : NULL;
			const char *b = i < n ? get(&r[i], "type") : NULL;

			if (i == n || (a == NULL) != (b == NULL) ||
			    (a && b && strcmp(a, b) != 0)) {
				if (start > 0)
					printf("\n");
				print_group(r + start, i - start);
				start = i;
			}
		}
		if (n == 0)
			printf("(nothing)\n");
		while (nowned > 0)
			free(owned[--nowned]);
		free(owned);
	}
	free(r);
	return 0;
}

/* Runs a command quietly; its exit status, or -1. */
static int
run(char *const argv[])
{
	pid_t pid;
	int st, fd;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static char *
add_id(char *ids, size_t *len, const char *q)
{
	char *n = realloc(ids, *len + strlen(q) + 3);

	if (n == NULL) {
		free(ids);
		return NULL;
	}
	*len += (size_t)sprintf(n + *len, " %s ", q);
	return n;
}

/*
 * The queue IDs on hold, " ID ID ... ": Postfix's hold queue
 * (postqueue -j), or Sendmail's quarantined queue files (-bp -qQ).
 */
static char *
hold_queue(const struct fg_config *cfg)
{
	char cmd[1200], line[4096], *ids;
	size_t len = 0;
	FILE *fp;

	if (cfg->mta_sendmail)
		snprintf(cmd, sizeof(cmd), "'%s' -C '%s' -bp -qQ 2>/dev/null",
		    cfg->sendmail_path, cfg->sendmail_config);
	else
		snprintf(cmd, sizeof(cmd), "postqueue -c '%s' -j 2>/dev/null",
		    cfg->postfix_config);
	if (strchr(cfg->postfix_config, '\'') || strchr(cfg->sendmail_path, '\'') ||
	    strchr(cfg->sendmail_config, '\'') || (fp = popen(cmd, "r")) == NULL)
		return NULL;
	ids = calloc(1, 1);
	while (ids != NULL && fgets(line, sizeof(line), fp) != NULL) {
		char *q, *e;

		if (cfg->mta_sendmail) {
			/* "ID[*X]  SIZE DATE SENDER" starts a queue entry. */
			if (!((line[0] >= '0' && line[0] <= '9') ||
			    (line[0] >= 'A' && line[0] <= 'Z') ||
			    (line[0] >= 'a' && line[0] <= 'z')) ||
			    strncmp(line, "Total", 5) == 0)
				continue;
			q = line;
			for (e = q; (*e >= '0' && *e <= '9') || (*e >= 'A' &&
			    *e <= 'Z') || (*e >= 'a' && *e <= 'z'); e++)
				;
			*e = '\0';
		} else {
			if (strstr(line, "\"queue_name\": \"hold\"") == NULL ||
			    (q = strstr(line, "\"queue_id\": \"")) == NULL)
				continue;
			q += 13;
			if ((e = strchr(q, '"')) == NULL)
				continue;
			*e = '\0';
		}
		ids = add_id(ids, &len, q);
	}
	if (pclose(fp) != 0 && !cfg->mta_sendmail) {
		free(ids);
		return NULL;
	}
	return ids;
}

/* Gives a held message back to its MTA and has it delivered now. */
static int
release_one(const struct fg_config *cfg, const char *qid)
{
	char id[64];

	if (cfg->mta_sendmail) {
		char *unq[] = { cfg->sendmail_path, "-C", cfg->sendmail_config,
		    "-Q", "-qQ", id, NULL };
		char *run_q[] = { cfg->sendmail_path, "-C", cfg->sendmail_config,
		    "-qf", id, NULL };

		/* Without -qQ, -Q silently does nothing. */
		snprintf(id, sizeof(id), "-qI%s", qid);
		if (run(unq) != 0)
			return -1;
		run(run_q);
		return 0;
	} else {
		char *su[] = { "postsuper", "-c", cfg->postfix_config, "-H",
		    (char *)qid, NULL };
		char *pq[] = { "postqueue", "-c", cfg->postfix_config, "-i",
		    (char *)qid, NULL };

		if (run(su) != 0)
			return -1;
		run(pq);	/* now rather than at the next queue run */
		return 0;
	}
}

static int
in_list(const char *ids, const char *qid)
{
	char pat[48];

	snprintf(pat, sizeof(pat), " %s ", qid);
	return strstr(ids, pat) != NULL;
}

/* Asks the daemon; returns its reply's records (after "ok"), or NULL. */
static char *
ask(const char *sock, const char *fmt, ...)
{
	char req[FG_CTL_MAXREQ + 2], *reply = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req) - 1, fmt, ap);
	va_end(ap);
	strcat(req, "\n");
	if (talk(sock, req, &reply) < 0) {
		fprintf(stderr, "floodgatectl: cannot reach floodgate at %s: %s%s\n",
		    sock, strerror(errno), errno == ENOENT || errno == ECONNREFUSED ?
		    " (release needs the daemon)" : "");
		return NULL;
	}
	if (strncmp(reply, "ok\n", 3) != 0) {
		fprintf(stderr, "floodgatectl: %s", strncmp(reply, "error ", 6) ?
		    reply : reply + 6);
		free(reply);
		return NULL;
	}
	return reply;
}

/* The queue ID and account of a held-message record (split in place). */
static void
held_fields(char *line, const char **qid, const char **acct)
{
	char *key[MAX_KEYS], *val[MAX_KEYS];
	int n = fg_ctl_split(line, key, val, MAX_KEYS), i;

	*qid = NULL;
	*acct = "";
	for (i = 0; i < n; i++) {
		if (strcmp(key[i], "queue_id") == 0)
			*qid = val[i];
		else if (strcmp(key[i], "account") == 0)
			*acct = val[i];
	}
}

/*
 * release: drop what left the hold queue by other hands, then release
 * oldest first what each account's budget allows now: postsuper -H puts
 * it back in the queue and postqueue -i delivers it at once. floodgate
 * charges a message only once Postfix has it back.
 */
static int
release(struct fg_config *cfg, const char *sock, char **reply)
{
	struct fg_ctl_out o = { 0 };
	char *ids, *held, *plan, *line, *save = NULL;

	if (geteuid() != 0) {
		fprintf(stderr, "floodgatectl: release must run as root\n");
		return -1;
	}
	if ((ids = hold_queue(cfg)) == NULL) {
		fprintf(stderr, "floodgatectl: cannot list the %s queue\n",
		    cfg->mta_sendmail ? "Sendmail" : "Postfix");
		return -1;
	}
	if ((held = ask(sock, "floodgate/1 held")) == NULL) {
		free(ids);
		return -1;
	}
	fg_ctl_ok(&o);
	for (line = strtok_r(held + 3, "\n", &save); line && strcmp(line, ".");
	    line = strtok_r(NULL, "\n", &save)) {
		const char *qid, *acct;
		char *r;

		held_fields(line, &qid, &acct);
		if (qid == NULL || in_list(ids, qid))
			continue;
		/* Deleted, or released by hand: no longer floodgate's. */
		if ((r = ask(sock, "floodgate/1 release-done %s gone", qid)) != NULL) {
			fg_ctl_kv(&o, "queue_id", "%s", qid);
			fg_ctl_kv(&o, "account", "%s", acct);
			fg_ctl_kv(&o, "result", "gone from the hold queue");
			fg_ctl_rec_end(&o);
			free(r);
		}
	}
	free(held);
	if ((plan = ask(sock, "floodgate/1 release-plan")) == NULL) {
		free(ids);
		fg_ctl_out_free(&o);
		return -1;
	}
	save = NULL;
	for (line = strtok_r(plan + 3, "\n", &save); line && strcmp(line, ".");
	    line = strtok_r(NULL, "\n", &save)) {
		const char *qid, *acct;
		char *r;
		int ok;

		held_fields(line, &qid, &acct);
		if (qid == NULL)
			continue;
		ok = in_list(ids, qid) && release_one(cfg, qid) == 0;
		r = ask(sock, "floodgate/1 release-done %s %s", qid,
		    ok ? "released" : "failed");
		free(r);
		fg_ctl_kv(&o, "queue_id", "%s", qid);
		fg_ctl_kv(&o, "account", "%s", acct);
		fg_ctl_kv(&o, "result", "%s", ok ? "released" : "failed, still held");
		fg_ctl_rec_end(&o);
	}
	free(plan);
	free(ids);
	fg_ctl_end(&o);
	*reply = o.buf;
	return o.buf != NULL ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *cfg_path = FG_DEFAULT_CONFIG, *sock = NULL;
	char *err, request[FG_CTL_MAXREQ + 64], *reply = NULL, rerr[FG_ERRLEN];
	const char *by = NULL, *since = NULL, *count = NULL;
	struct fg_config *cfg;
	struct fg_ctl_req req;
	int i, rc, o = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			cfg_path = argv[++i];
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			sock = argv[++i];
		else if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			json = 1;
		else
			usage();
	}
	if (i >= argc)
		usage();
	o = snprintf(request, sizeof(request), "floodgate/%d %s", FG_CTL_VERSION, argv[i]);
	if (strcmp(argv[i], "top") == 0) {
		for (i++; i < argc; i++) {
			if (strcmp(argv[i], "--by") == 0 && i + 1 < argc)
				by = argv[++i];
			else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc)
				since = argv[++i];
			else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
				count = argv[++i];
			else if (strcmp(argv[i], "--json") == 0)
				json = 1;
			else
				usage();
		}
		o += snprintf(request + o, sizeof(request) - (size_t)o, " %s %s %s",
		    by ? by : "account", since ? since : "1h", count ? count : "10");
	} else {
		for (i++; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0) {
				json = 1;
				continue;
			}
			if (strchr(argv[i], ' ') || strchr(argv[i], '\t') ||
			    strchr(argv[i], '\n')) {
				fprintf(stderr, "floodgatectl: \"%s\": arguments cannot contain blanks\n", argv[i]);
				return 2;
			}
			o += snprintf(request + o, sizeof(request) - (size_t)o, " %s", argv[i]);
		}
	}
	if ((size_t)o >= FG_CTL_MAXREQ) {
		fprintf(stderr, "floodgatectl: request too long\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((err = malloc(FG_CONFIG_ERRLEN)) == NULL)
		return 1;
	if ((cfg = fg_config_load(cfg_path, err, FG_CONFIG_ERRLEN)) == NULL) {
		fprintf(stderr, "%s\nfloodgatectl: %s: configuration has errors\n", err, cfg_path);
		return 1;
	}
	free(err);
	if (sock == NULL)
		sock = cfg->control;
	if (fg_ctl_parse(request, strlen(request), &req, rerr, sizeof(rerr)) < 0) {
		fprintf(stderr, "floodgatectl: %s\n", rerr);
		return 2;
	}
	strcat(request, "\n");
	if (strcmp(req.verb, "release") == 0) {
		rc = release(cfg, sock, &reply) < 0 ? 1 : render("release", "daemon", reply);
	} else if (talk(sock, request, &reply) == 0) {
		rc = render(req.verb, "daemon", reply);
	} else if (errno == ENOENT || errno == ECONNREFUSED) {
		rc = offline(cfg, &req, &reply) < 0 ? 1 : render(req.verb, "database", reply);
	} else {
		fprintf(stderr, "floodgatectl: %s: %s\n", sock, strerror(errno));
		rc = 1;
	}
	free(reply);
	fg_config_unref(cfg);
	return rc;
}
