/*
 * floodgatectl's connection to the daemon (the control socket), and its
 * read-only answers from the database when the daemon is down.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "inspect.h"
#include "limiter.h"
#include "net.h"
#include "store.h"
#include "table.h"
#include "util.h"

int ctl_timeout = CTL_TIMEOUT_DEFAULT;

int64_t
ctl_deadline(void)
{
	return fg_mono_us() + (int64_t)ctl_timeout * 1000000;
}

int
ctl_poll(struct pollfd *pfd, nfds_t n, int64_t deadline)
{
	int64_t left = deadline - fg_mono_us();

	return left <= 0 ? 0 : poll(pfd, n, (int)((left + 999) / 1000));
}

int
ctl_talk(const char *sock, const char *request, char **reply)
{
	char buf[8192];
	size_t len = 0, cap = 0;
	int64_t deadline = ctl_deadline();
	ssize_t n;
	int fd;

	*reply = NULL;
	if ((fd = fg_net_connect_unix(sock)) < 0)
		return -1;
	/* A refusal may arrive, and the socket close, before the request is
	 * written: read the answer anyway (SIGPIPE is ignored). */
	if (write(fd, request, strlen(request)) < 0 && errno != EPIPE) {
		close(fd);
		return -1;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc;

		/* A daemon that stopped answering (stopped, or stuck on a
		 * disk) must not hold a script or a timer unit forever. */
		if ((rc = ctl_poll(&pfd, 1, deadline)) == 0) {
			free(*reply);
			*reply = NULL;
			close(fd);
			errno = ETIMEDOUT;
			return -1;
		}
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			break;
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

/* Why the daemon could not be asked, for a message. */
const char *
ctl_why(void)
{
	static char why[64];

	if (errno != ETIMEDOUT)
		return strerror(errno);
	snprintf(why, sizeof(why), "no answer within %d s", ctl_timeout);
	return why;
}

/* Why a ctl_ask could not reach the daemon, or got no answer; empty
 * while every one did. */
static char lost[80];

const char *
ctl_daemon_lost(void)
{
	return lost[0] != '\0' ? lost : NULL;
}

/* floodgate holds its database's lock, yet its control socket did not
 * answer: it runs. */
static void
say_unreached(const char *sock, const char *why)
{
	fprintf(stderr, "floodgatectl: floodgate runs (it holds its database's lock) but cannot be reached at %s: %s; a removed control socket is made again within a second, else restart floodgate\n",
	    sock, why);
}

char *
ctl_ask(const char *sock, const char *database, const char *fmt, ...)
{
	char req[FG_CTL_MAXREQ + 2], *reply = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req) - 1, fmt, ap);
	va_end(ap);
	strcat(req, "\n");
	if (ctl_talk(sock, req, &reply) < 0) {
		int e = errno;

		fg_strlcpy(lost, ctl_why(), sizeof(lost));
		if ((e == ENOENT || e == ECONNREFUSED) && ctl_db_held(database)) {
			say_unreached(sock, lost);
			fprintf(stderr, "floodgatectl: release needs the daemon\n");
		} else
			fprintf(stderr, "floodgatectl: cannot reach floodgate at %s: %s%s\n",
			    sock, lost, e == ENOENT || e == ECONNREFUSED ?
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

int
ctl_db_held(const char *database)
{
	int fd, held = 0;

	if ((fd = open(database, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	/* The daemon holds it exclusively for as long as it runs. */
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		held = 1;
	close(fd);
	return held;
}

/*
 * The daemon cannot be reached: answer from the database, opened
 * read-only. A floodgate that holds the database's lock runs: said so
 * (before, "not running", where its control socket had been removed).
 */
int
ctl_offline(struct fg_config *cfg, struct fg_ctl_req *req, const char *sock,
    const char *why, int running, char **reply)
{
	struct fg_ctl_out o = { 0 };
	struct fg_inspect in;
	struct fg_store *st;
	struct fg_table *t = NULL;
	char err[FG_ERRLEN];
	size_t loaded = 0;
	int v = fg_ctl_lookup(req->verb), blocks = -1;

	if (running)
		say_unreached(sock, why);
	if (v < 0 || !(fg_ctl_cmds[v].flags & FG_CTL_OFFLINE)) {
		if (running)
			fprintf(stderr, "floodgatectl: %s needs the daemon\n",
			    req->verb);
		else
			fprintf(stderr, "floodgatectl: floodgate is not running (%s): %s needs the daemon\n",
			    sock, req->verb);
		return -1;
	}
	if ((st = fg_store_open(cfg->database, 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "floodgatectl: %s, and its database %s cannot be read: %s\n",
		    running ? "floodgate cannot be reached" :
		    "floodgate is not running", cfg->database, err);
		return -1;
	}
	fprintf(stderr, "floodgatectl: %s; reading %s (read-only%s)\n",
	    running ? "floodgate cannot be reached" :
	    "floodgate is not running", cfg->database,
	    running ? ", as of its last write" : "");
	t = fg_table_new();
	in.cfg = cfg;
	in.limiter = fg_limiter_new(t);
	in.store = st;
	in.blocks = fg_blocks_new();
	in.now = (uint32_t)time(NULL);
	in.peek = NULL;		/* the daemon's view of Redis: not offline */
	in.windows = NULL;
	in.top = NULL;
	in.relays_down = 0;
	in.live = NULL;
	in.nlive = 0;
	/* Without them, an account suspended or a domain paused would be
	 * shown free: an error, not a partial answer. */
	if (in.blocks == NULL)
		fg_seterr(err, sizeof(err), "out of memory");
	else {
		struct fg_suspension *su;
		struct fg_pause *pa;
		size_t ns, np;

		if (fg_store_blocks_load(st, &su, &ns, &pa, &np, err,
		    sizeof(err)) == 0) {
			if ((blocks = fg_blocks_load(in.blocks, su, ns, pa,
			    np)) < 0)
				fg_seterr(err, sizeof(err), "out of memory");
			free(su);
			free(pa);
		}
	}
	if (blocks < 0) {
		fg_ctl_error(&o, "database: cannot load suspensions and pauses: %s",
		    err);
	} else if (fg_store_load(st, t, in.now, &loaded, err, sizeof(err)) < 0) {
		fg_ctl_error(&o, "database: %s", err);
	} else if (v == FG_CTL_STATUS) {
		fg_ctl_ok(&o);
		fg_ctl_kv(&o, "daemon", "%s", running ?
		    "running, not reachable" : "not running");
		fg_ctl_kv(&o, "config", "%s", cfg->path);
		fg_ctl_kv(&o, "mode", "%s", cfg->monitor ? "monitor" : "enforce");
		fg_ctl_kv(&o, "rules", "%zu", cfg->nrule);
		fg_ctl_kv(&o, "database", "%s", cfg->database);
		fg_ctl_kv(&o, "tracked_keys", "%zu", loaded);
		fg_inspect_on_hold(st, &o);
		fg_ctl_rec_end(&o);
		fg_inspect_blocks(&in, &o, 1);
		fg_ctl_end(&o);
	} else
		fg_inspect_for(v)(&in, req, &o);
	fg_limiter_free(in.limiter);
	fg_blocks_free(in.blocks);
	fg_table_free(t);
	fg_store_close(st);
	*reply = o.buf;
	return o.buf != NULL ? 0 : -1;
}
