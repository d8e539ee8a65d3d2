/*
 * The control protocol between floodgatectl and the daemon: one request
 * line per connection, "floodgate/1 VERB ARG...", answered by "ok" or
 * "error TEXT", then records of tab-separated key=value pairs, then ".".
 * Values never hold a tab, a newline or another control character: they
 * are replaced by a blank, so a record is always one line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

const struct fg_ctl_cmd fg_ctl_cmds[FG_CTL_NVERBS] = {
	[FG_CTL_STATUS] = { "status", "",
	    "daemon, store and counts since start", FG_CTL_OFFLINE },
	[FG_CTL_TOP] = { "top", "[--by account|domain|rule|unknown|bounces] [--since 1h] [-n 10]",
	    "who sent most, who was refused most", FG_CTL_OFFLINE | FG_CTL_FLUSH },
	[FG_CTL_SHOW] = { "show", "ACCOUNT",
	    "every rule for ACCOUNT, used/limit, recent refusals",
	    FG_CTL_OFFLINE | FG_CTL_FLUSH },
	[FG_CTL_EXPLAIN] = { "explain", "ACCOUNT RECIPIENT [IP]",
	    "would a message pass now? (charges nothing)", FG_CTL_OFFLINE },
	[FG_CTL_HELD] = { "held", "[ACCOUNT]",
	    "messages on hold (of ACCOUNT): queue ID, account, rule, age",
	    FG_CTL_OFFLINE | FG_CTL_FLUSH },
	[FG_CTL_RELEASE] = { "release", "",
	    "release held mail as budgets allow (root; run each minute)",
	    FG_CTL_CLIENT | FG_CTL_ROOT },
	[FG_CTL_RESET] = { "reset", "ACCOUNT [RULE]",
	    "forget what ACCOUNT sent (all rules, or one)", 0 },
	[FG_CTL_RELOAD] = { "reload", "",
	    "reload the configuration (like SIGUSR1)", 0 },
	[FG_CTL_SUSPEND] = { "suspend", "ACCOUNT [DURATION]",
	    "defer ACCOUNT's mail until resume, or for DURATION", 0 },
	[FG_CTL_RESUME] = { "resume", "ACCOUNT",
	    "lift the suspension of ACCOUNT", 0 },
	[FG_CTL_PAUSES] = { "pauses", "",
	    "domains paused (by a backoff or pause), and until when",
	    FG_CTL_OFFLINE },
	[FG_CTL_PAUSE] = { "pause", "DOMAIN|@GROUP DURATION",
	    "defer mail to DOMAIN (*.DOMAIN: subdomains) for DURATION", 0 },
	[FG_CTL_UNPAUSE] = { "unpause", "DOMAIN|@GROUP",
	    "end the pause of DOMAIN (or GROUP's domains) now", 0 },
	[FG_CTL_INCIDENTS] = { "incidents", "[--since 7d]",
	    "incidents open and recent: suspensions, trips, pauses, store",
	    FG_CTL_OFFLINE },
	[FG_CTL_RELEASE_PLAN] = { "release-plan", "[MAX]",
	    "reserve the held messages that may go now", FG_CTL_STEP | FG_CTL_ROOT },
	[FG_CTL_RELEASE_DONE] = { "release-done", "QUEUE-ID released|failed|gone",
	    "what became of a planned release", FG_CTL_STEP | FG_CTL_ROOT },
};

/* Fields whose values are numbers; every other field is text. */
static const char *const numeric[] = {
	"accepted", "age", "bounced", "config_loaded", "config_warnings",
	"connections", "count", "deferred", "delivery_lines", "duration",
	"ended", "events_dropped", "evictions", "held", "id", "incidents_open",
	"limit", "line", "max_connections", "max_keys", "memory_kb", "pid",
	"recipients", "rejected", "reloads", "remaining", "results", "retry",
	"rules", "sent", "since", "started", "suspended_accounts",
	"paused_domains", "time", "tracked_keys", "trips", "unknown", "until",
	"uptime", "used", "windows_reset", NULL
};

int
fg_ctl_lookup(const char *verb)
{
	int i;

	for (i = 0; i < FG_CTL_NVERBS; i++)
		if (strcmp(fg_ctl_cmds[i].verb, verb) == 0)
			return i;
	return -1;
}

void
fg_ctl_verbs(char *buf, size_t len)
{
	int i, n = 0, shown = 0;
	size_t o = 0;

	for (i = 0; i < FG_CTL_NVERBS; i++)
		if (!(fg_ctl_cmds[i].flags & FG_CTL_STEP))
			n++;
	buf[0] = '\0';
	for (i = 0; i < FG_CTL_NVERBS && o < len; i++) {
		if (fg_ctl_cmds[i].flags & FG_CTL_STEP)
			continue;
		shown++;
		o += (size_t)snprintf(buf + o, len - o, "%s%s", shown == 1 ?
		    "" : shown == n ? " or " : ", ", fg_ctl_cmds[i].verb);
	}
}

int
fg_ctl_numeric(const char *key)
{
	size_t i;

	for (i = 0; numeric[i] != NULL; i++)
		if (strcmp(numeric[i], key) == 0)
			return 1;
	return 0;
}

static void put(struct fg_ctl_out *o, const char *s, size_t n);
static void putv(struct fg_ctl_out *o, int clean, const char *fmt, va_list ap);

int
fg_ctl_parse(const char *line, size_t len, struct fg_ctl_req *req, char *err,
    size_t errlen)
{
	char *p, *tok, *save = NULL;
	size_t i;
	int v;

	memset(req, 0, sizeof(*req));
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > FG_CTL_MAXREQ) {
		fg_seterr(err, errlen, "request longer than %d bytes", FG_CTL_MAXREQ);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 && c != '\t') {
			fg_seterr(err, errlen, "control character in request");
			return -1;
		}
	}
	memcpy(req->buf, line, len);
	req->buf[len] = '\0';
	p = req->buf;
	if ((tok = strtok_r(p, " \t", &save)) == NULL ||
	    strncmp(tok, "floodgate/", 10) != 0) {
		fg_seterr(err, errlen, "expected \"floodgate/%d VERB ...\"", FG_CTL_VERSION);
		return -1;
	}
	if (strcmp(tok + 10, "1") != 0) {
		fg_seterr(err, errlen, "protocol version \"%s\" not supported (this floodgate speaks %d)",
		    tok + 10, FG_CTL_VERSION);
		return -1;
	}
	req->version = 1;
	if ((req->verb = strtok_r(NULL, " \t", &save)) == NULL) {
		fg_seterr(err, errlen, "expected a command after the version");
		return -1;
	}
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
		if (req->argc == FG_CTL_MAXARGS) {
			fg_seterr(err, errlen, "more than %d arguments", FG_CTL_MAXARGS);
			return -1;
		}
		req->argv[req->argc++] = tok;
	}
	/* A command that takes nothing must not run as if the word after
	 * it were not there (release extra, status tenant42). */
	if ((v = fg_ctl_lookup(req->verb)) >= 0 &&
	    fg_ctl_cmds[v].args[0] == '\0' && req->argc > 0) {
		fg_seterr(err, errlen, "%s: \"%s\": expected no argument",
		    req->verb, req->argv[0]);
		return -1;
	}
	return 0;
}

static void
put(struct fg_ctl_out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		char *b;

		while (cap < o->len + n + 1)
			cap *= 2;
		if ((b = realloc(o->buf, cap)) == NULL) {
			o->oom = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void
putv(struct fg_ctl_out *o, int clean, const char *fmt, va_list ap)
{
	char tmp[1024];
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap), i;

	if (n < 0)
		return;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	if (clean)
		for (i = 0; i < n; i++)
			if ((unsigned char)tmp[i] < 0x20 || tmp[i] == 0x7f)
				tmp[i] = ' ';
	put(o, tmp, (size_t)n);
}

void
fg_ctl_ok(struct fg_ctl_out *o)
{
	put(o, "ok\n", 3);
}

void
fg_ctl_error(struct fg_ctl_out *o, const char *fmt, ...)
{
	va_list ap;

	put(o, "error ", 6);
	va_start(ap, fmt);
	putv(o, 1, fmt, ap);
	va_end(ap);
	put(o, "\n.\n", 3);
}

void
fg_ctl_kv(struct fg_ctl_out *o, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (o->inrec)
		put(o, "\t", 1);
	o->inrec = 1;
	put(o, key, strlen(key));
	put(o, "=", 1);
	va_start(ap, fmt);
	putv(o, 1, fmt, ap);
	va_end(ap);
}

void
fg_ctl_rec_end(struct fg_ctl_out *o)
{
	if (o->inrec)
		put(o, "\n", 1);
	o->inrec = 0;
}

void
fg_ctl_end(struct fg_ctl_out *o)
{
	fg_ctl_rec_end(o);
	put(o, ".\n", 2);
}

void
fg_ctl_out_free(struct fg_ctl_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

/* Splits a record line in place; returns the number of pairs. */
int
fg_ctl_split(char *line, char **key, char **val, int max)
{
	char *save = NULL, *f;
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	for (f = strtok_r(line, "\t", &save); f != NULL && n < max;
	    f = strtok_r(NULL, "\t", &save)) {
		char *eq = strchr(f, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		key[n] = f;
		val[n] = eq + 1;
		n++;
	}
	return n;
}
