/*
 * floodgatectl: ask floodgate who is sending, why mail was deferred, and
 * let a tenant go. Talks to the control socket; when the daemon is down,
 * the read-only commands read the SQLite file directly and say so. The
 * commands are those of the control protocol's table (control.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "net.h"
#include "store.h"
#include "util.h"

static void usage(int status) __attribute__((noreturn));
static int release(struct fg_config *cfg, const char *sock, char **reply);

/* Asked for (-h): on stdout, exit 0; a wrong command line: stderr, 2. */
static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;
	int i;

	fprintf(f, "usage: floodgatectl [-c FILE] [-s SOCKET] [-t SECONDS] [--json] COMMAND [ARGS]\n"
	    "       floodgatectl -V|--version | -h|--help\n");
	for (i = 0; i < FG_CTL_NVERBS; i++) {
		const struct fg_ctl_cmd *c = &fg_ctl_cmds[i];
		char head[128];

		if (c->flags & FG_CTL_STEP)
			continue;
		snprintf(head, sizeof(head), "%s%s%s", c->verb,
		    c->args[0] ? " " : "", c->args);
		if (strlen(head) > 32)
			fprintf(f, "  %s\n  %-32s  %s\n", head, "", c->help);
		else
			fprintf(f, "  %-32s  %s\n", head, c->help);
	}
	fprintf(f, "ACCOUNT is a tenant name, a login, a sender or a client IP address.\nDefault FILE: %s\n"
	    "-t: the longest to wait for floodgate's answer, and for each MTA command\n"
	    "    release runs (default %d s)\n",
	    FG_DEFAULT_CONFIG, CTL_TIMEOUT_DEFAULT);
	exit(status);
}

/* The signal that stopped a release run: SIGTERM (systemd stops the
 * unit, or its start timed out), SIGINT (^C) or SIGHUP. */
static volatile sig_atomic_t stop_sig;

static void
on_stop(int sig)
{
	stop_sig = sig;
}

int
ctl_stopping(void)
{
	return stop_sig;
}

/*
 * A release run stops between two messages, not in one: the message in
 * hand is released and floodgate told (or it would go uncharged); the
 * MTA's commands run in a process group of their own, which ^C does not
 * reach. A second signal stops at once.
 */
static void
stop_between_messages(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sa.sa_flags = SA_RESTART | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* Whether the rest of the run is left for the next one (a signal, the
 * daemon silent, a command of the MTA's killed); why is said once. */
static int
cut_short(int *said)
{
	char why[128];

	if (stop_sig)
		snprintf(why, sizeof(why), "stopped by SIG%s",
		    sigabbrev_np(stop_sig) ? sigabbrev_np(stop_sig) : "?");
	else if (ctl_daemon_lost())
		snprintf(why, sizeof(why), "floodgate: %s", ctl_daemon_lost());
	else if (ctl_mta_stalled())
		snprintf(why, sizeof(why), "the MTA did not answer within %d s",
		    ctl_timeout);
	else
		return 0;
	if (!*said)
		fprintf(stderr, "floodgatectl: %s; the rest of this run's releases are left for the next run\n",
		    why);
	*said = 1;
	return 1;
}

/*
 * release: drop what left the hold queue by other hands, then release
 * what floodgate plans (oldest first, as each window allows): the MTA
 * gets each message back and delivers it at once; floodgate charges a
 * message only once the MTA has it back.
 */
static int
release(struct fg_config *cfg, const char *sock, char **reply)
{
	struct fg_ctl_out o = { 0 };
	struct fg_strset *ids;
	char *held, *plan = NULL, *line, *save = NULL;
	int said = 0, waiting = 0, listed = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "floodgatectl: release must run as root\n");
		return -1;
	}
	stop_between_messages();
	if ((ids = ctl_hold_queue(cfg)) == NULL)
		return -1;
	if ((held = ctl_ask(sock, cfg->database, "floodgate/1 held")) == NULL) {
		ctl_hold_queue_free(ids);
		return -1;
	}
	fg_ctl_ok(&o);
	for (line = strtok_r(held + 3, "\n", &save); line && strcmp(line, ".");
	    line = strtok_r(NULL, "\n", &save)) {
		const char *qid, *acct;
		char *r;

		if (stop_sig)
			break;
		ctl_held_fields(line, &qid, &acct);
		if (qid == NULL || !fg_qid_valid(qid))
			continue;
		if (ctl_in_list(ids, qid)) {
			waiting++;
			continue;
		}
		/* Deleted, or released by hand: no longer floodgate's. */
		if ((r = ctl_ask(sock, cfg->database,
		    "floodgate/1 release-done %s gone", qid)) != NULL) {
			fg_ctl_kv(&o, "queue_id", "%s", qid);
			fg_ctl_kv(&o, "account", "%s", acct);
			fg_ctl_kv(&o, "result", "gone from the hold queue");
			fg_ctl_rec_end(&o);
			listed++;
			free(r);
		} else if (ctl_daemon_lost())
			break;
	}
	free(held);
	if (ctl_daemon_lost() || (!stop_sig &&
	    (plan = ctl_ask(sock, cfg->database,
	    "floodgate/1 release-plan")) == NULL)) {
		ctl_hold_queue_free(ids);
		fg_ctl_out_free(&o);
		return -1;
	}
	save = NULL;
	for (line = plan != NULL ? strtok_r(plan + 3, "\n", &save) : NULL;
	    line && strcmp(line, "."); line = strtok_r(NULL, "\n", &save)) {
		const char *qid, *acct;
		char *r;
		int ok, skip;

		ctl_held_fields(line, &qid, &acct);
		if (qid == NULL || !fg_qid_valid(qid))
			continue;
		/* A command of the MTA's killed, or the daemon silent: each
		 * of the rest would wait as long (and a release floodgate
		 * is not told of goes uncharged). Stopped: the rest are
		 * given back to floodgate unreleased. */
		skip = cut_short(&said);
		ok = !skip && ctl_in_list(ids, qid) && ctl_release_one(cfg, qid) == 0;
		if (!ctl_daemon_lost()) {
			r = ctl_ask(sock, cfg->database,
			    "floodgate/1 release-done %s %s", qid,
			    ok ? "released" : "failed");
			free(r);
		}
		fg_ctl_kv(&o, "queue_id", "%s", qid);
		fg_ctl_kv(&o, "account", "%s", acct);
		fg_ctl_kv(&o, "result", "%s", !ok ? (skip ?
		    "not tried, still held" : "failed, still held") :
		    ctl_daemon_lost() ? "released, floodgate not told" :
		    "released");
		fg_ctl_rec_end(&o);
		listed++;
	}
	/* "(nothing)" each minute in the timer's journal, whatever waits:
	 * how much does is said beside it. */
	if (listed == 0 && waiting > 0 && !stop_sig)
		fprintf(stderr, "floodgatectl: nothing to release: %d message%s held, none may go yet (floodgatectl held lists %s, with the rule that holds %s)\n",
		    waiting, waiting == 1 ? "" : "s", waiting == 1 ? "it" : "them",
		    waiting == 1 ? "it" : "each");
	if (stop_sig)
		cut_short(&said);	/* after the last message, or before any */
	free(plan);
	ctl_hold_queue_free(ids);
	fg_ctl_end(&o);
	*reply = o.buf;
	return o.buf != NULL ? 0 : -1;
}

/* What floodgatectl needs of a file with errors elsewhere: the socket
 * (and the database, which says where floodgate listens), and how
 * release gives held mail back. */
static const char *const ctl_statements[] = {
	"control", "database", "mta", "postfix_config", "sendmail_config",
	"sendmail_path",
};

/* The socket to ask. control takes effect at start: after a reload of
 * a file that moves it, floodgate still listens where it started, and
 * nothing where the file now says. The daemon records its socket in
 * its database; that one is asked, and the operator told. */
static const char *
running_socket(const struct fg_config *cfg, char *buf, size_t len)
{
	struct fg_store *st;
	struct stat sb;
	char err[FG_ERRLEN];
	int found;

	if (stat(cfg->control, &sb) == 0 || errno != ENOENT ||
	    (st = fg_store_open(cfg->database, 1, err, sizeof(err))) == NULL)
		return cfg->control;
	found = fg_store_mark_get(st, FG_CTL_MARK, buf, len) == 1;
	fg_store_close(st);
	if (!found || strcmp(buf, cfg->control) == 0 || stat(buf, &sb) < 0 ||
	    !S_ISSOCK(sb.st_mode))
		return cfg->control;
	fprintf(stderr, "floodgatectl: nothing at %s (control in %s): floodgate listens on %s, where it started, until its restart\n",
	    cfg->control, cfg->path, buf);
	return buf;
}

int
main(int argc, char **argv)
{
	const char *cfg_path = FG_DEFAULT_CONFIG, *sock = NULL;
	char *err, request[FG_CTL_MAXREQ + 64], *reply = NULL, rerr[FG_ERRLEN];
	char running[FG_UNIX_PATH_MAX + 1];
	const char *by = NULL, *since = NULL, *count = NULL;
	struct fg_config *cfg;
	struct fg_ctl_req req;
	int i, v, rc, o = 0, json = 0, partial = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "-s") == 0) &&
		    i + 1 < argc && argv[i + 1][0] == '\0') {
			fprintf(stderr, "floodgatectl: %s: expected a %s, not an empty word\n",
			    argv[i], argv[i][1] == 'c' ? "configuration file" :
			    "control socket");
			return 2;
		}
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			cfg_path = argv[++i];
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			sock = argv[++i];
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			uint32_t t;

			if (fg_parse_uint(argv[++i], CTL_TIMEOUT_MAX, &t) < 0 || t == 0) {
				fprintf(stderr, "floodgatectl: -t %s: expected seconds, 1 to %d\n",
				    argv[i], CTL_TIMEOUT_MAX);
				return 2;
			}
			ctl_timeout = (int)t;
		}
		else if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			json = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			usage(0);
		else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			printf("floodgatectl %s\n", FG_VERSION);
			return 0;
		} else
			usage(2);
	}
	if (i >= argc)
		usage(2);
	if ((v = fg_ctl_lookup(argv[i])) < 0 || (fg_ctl_cmds[v].flags & FG_CTL_STEP)) {
		char list[256];

		fg_ctl_verbs(list, sizeof(list));
		fprintf(stderr, "floodgatectl: \"%s\": unknown command; expected %s\n",
		    argv[i], list);
		return 2;
	}
	/* The request is words between blanks: an empty argument would
	 * vanish there and the next take its place (suspend "" 2h would
	 * suspend an account named 2h, for good). */
	for (o = i + 1; o < argc; o++)
		if (argv[o][0] == '\0') {
			if (fg_ctl_cmds[v].args[0] == '\0')
				fprintf(stderr, "floodgatectl: %s: argument %d is empty; %s takes no argument\n",
				    argv[i], o - i, argv[i]);
			else
				fprintf(stderr, "floodgatectl: %s: argument %d is empty; expected %s %s\n",
				    argv[i], o - i, argv[i], fg_ctl_cmds[v].args);
			return 2;
		}
	o = snprintf(request, sizeof(request), "floodgate/%d %s", FG_CTL_VERSION, argv[i]);
	if (v == FG_CTL_TOP) {
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
				usage(2);
		}
		o += snprintf(request + o, sizeof(request) - (size_t)o, " %s %s %s",
		    by ? by : "account", since ? since : "1h", count ? count : "10");
	} else {
		for (i++; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0) {
				json = 1;
				continue;
			}
			/* incidents --since 7d: the one option of its kind;
			 * a bare word is not taken for it (nor a second one) */
			if (v == FG_CTL_INCIDENTS) {
				if (strcmp(argv[i], "--since") != 0 || i + 1 == argc ||
				    since != NULL) {
					fprintf(stderr, "floodgatectl: incidents: \"%s\": expected --since DURATION (once), such as --since 7d\n",
					    argv[i]);
					return 2;
				}
				since = argv[++i];
			}
			if (strpbrk(argv[i], " \t\n\r") != NULL) {
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
		char ignored[FG_ERRLEN];

		/* floodgate runs the configuration it last loaded: reach it
		 * (and release held mail) with what this file says of the
		 * socket and the MTA, if those lines are sound. */
		cfg = fg_config_load_only(cfg_path, ctl_statements,
		    sizeof(ctl_statements) / sizeof(ctl_statements[0]), ignored,
		    sizeof(ignored));
		fprintf(stderr, "%s\nfloodgatectl: %s: configuration has errors", err,
		    cfg_path);
		if (cfg == NULL) {
			fputc('\n', stderr);
			free(err);
			return 1;
		}
		fprintf(stderr, " (floodgate runs the one it last loaded); only its control, database, mta, postfix_config, sendmail_path and sendmail_config are read\n");
		partial = 1;
	}
	free(err);
	if (sock == NULL)
		sock = running_socket(cfg, running, sizeof(running));
	if (fg_ctl_parse(request, strlen(request), &req, rerr, sizeof(rerr)) < 0) {
		fprintf(stderr, "floodgatectl: %s\n", rerr);
		fg_config_unref(cfg);
		return 2;
	}
	strcat(request, "\n");
	if (v == FG_CTL_RELEASE) {
		rc = release(cfg, sock, &reply) < 0 ? 1 :
		    ctl_render("release", "daemon", reply, json);
		if (ctl_mta_stalled() || ctl_daemon_lost() != NULL)
			rc = 1;	/* the unit shows it failed */
	} else if (ctl_talk(sock, request, &reply) == 0) {
		rc = ctl_render(req.verb, "daemon", reply, json);
	} else if ((errno == ENOENT || errno == ECONNREFUSED) && partial) {
		fprintf(stderr, "floodgatectl: %s: floodgate %s, and its database is read here only with a configuration without errors\n",
		    sock, ctl_db_held(cfg->database) ?
		    "runs (it holds its database's lock) but cannot be reached" :
		    "is not running");
		rc = 1;
	} else if (errno == ENOENT || errno == ECONNREFUSED) {
		const char *why = strerror(errno);

		rc = ctl_offline(cfg, &req, sock, why,
		    ctl_db_held(cfg->database), &reply) < 0 ? 1 :
		    ctl_render(req.verb, "database", reply, json);
	} else {
		fprintf(stderr, "floodgatectl: %s: %s\n", sock, ctl_why());
		rc = 1;
	}
	free(reply);
	fg_config_unref(cfg);
	if (stop_sig) {
		/* A release run stopped by a signal ends as the signal
		 * would have ended it: a shell, or systemd stopping the
		 * unit, sees that. */
		fflush(stdout);
		signal(stop_sig, SIG_DFL);
		raise(stop_sig);
	}
	return rc;
}
