/*
 * What the service thread asks of the shared store, through
 * fg_shared_call on shared.c's connection: every relay's suspensions and
 * pauses, the delivery feedback stream, floodgatectl's view of the
 * shared windows and its reset, and the reserves of release planning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "blocks.h"
#include "limiter.h"
#include "log.h"
#include "shared.h"
#include "shared_int.h"
#include "util.h"
#include "wkey.h"

/*
 * Suspensions and pauses, shared: each service tick sends this relay's
 * changes (HSETNX / HDEL / HSET of "{P}:susp" and "{P}:pause"), then
 * reads both hashes back, and that becomes every relay's view (what is
 * not sent yet on top). Down, the changes wait.
 */
struct pull {
	size_t first;			/* the HGETALL of suspensions */
	struct fg_suspension *s;
	struct fg_pause *p;
	size_t ns, np;
	int bad;
};

static void
on_pull(void *arg, size_t i, const redisReply *r)
{
	struct pull *pl = arg;
	size_t k, n;

	if (i < pl->first) {
		/* A change's answer: only a lost script matters (an ended
		 * record's drop, tried again at the next tick once loaded). */
		(void)shared_noscript(r);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
		pl->bad = 1;
		return;
	}
	n = r->elements / 2;
	if (i == pl->first) {
		if ((pl->s = calloc(n + 1, sizeof(*pl->s))) == NULL) {
			pl->bad = 1;
			return;
		}
		for (k = 0; k < n; k++) {
			struct fg_suspension *x = &pl->s[pl->ns];
			const char *v = r->element[2 * k + 1]->str;
			unsigned long since, until = 0;
			char rule[FG_NAME_MAX + 1];

			/* "rule|since|until"; a relay before suspensions
			 * could end wrote "rule|since". */
			if (v == NULL || r->element[2 * k]->str == NULL ||
			    sscanf(v, "%64[^|]|%lu|%lu", rule, &since,
			    &until) < 2)
				continue;
			fg_strlcpy(x->account, r->element[2 * k]->str,
			    sizeof(x->account));
			fg_strlcpy(x->rule, rule, sizeof(x->rule));
			x->since = (uint32_t)since;
			x->until = (uint32_t)until;
			pl->ns++;
		}
		return;
	}
	if ((pl->p = calloc(n + 1, sizeof(*pl->p))) == NULL) {
		pl->bad = 1;
		return;
	}
	for (k = 0; k < n; k++) {
		struct fg_pause *x = &pl->p[pl->np];
		const char *v = r->element[2 * k + 1]->str;
		unsigned long since, until, dur, trips;
		char rule[FG_NAME_MAX + 1];

		if (v == NULL || r->element[2 * k]->str == NULL ||
		    sscanf(v, "%64[^|]|%lu|%lu|%lu|%lu", rule, &since, &until,
		    &dur, &trips) != 5)
			continue;
		fg_strlcpy(x->domain, r->element[2 * k]->str, sizeof(x->domain));
		fg_strlcpy(x->rule, rule, sizeof(x->rule));
		x->since = (uint32_t)since;
		x->until = (uint32_t)until;
		x->duration = (uint32_t)dur;
		x->trips = (uint32_t)trips;
		pl->np++;
	}
}

/* The values in "{P}:susp" ("rule|since|until") and "{P}:pause"
 * ("rule|since|until|duration|trips"), which on_pull() reads. */
#define BLOCK_VALUE_MAX	(FG_NAME_MAX + 64)

static void
susp_value(char *v, const struct fg_suspension *s)
{
	snprintf(v, BLOCK_VALUE_MAX, "%s|%u|%u", s->rule, s->since, s->until);
}

static void
pause_value(char *v, const struct fg_pause *p)
{
	snprintf(v, BLOCK_VALUE_MAX, "%s|%u|%u|%u|%u", p->rule, p->since,
	    p->until, p->duration, p->trips);
}

static int
susp_cmd(struct fg_rcmd *c, const char *verb, const struct fg_suspension *s)
{
	char v[BLOCK_VALUE_MAX];

	susp_value(v, s);
	return fg_rlimit_hash_cmd(c, verb, shc.prefix, "susp", s->account, v);
}

static int
pause_cmd(struct fg_rcmd *c, const char *verb, const struct fg_pause *p)
{
	char v[BLOCK_VALUE_MAX];

	pause_value(v, p);
	return fg_rlimit_hash_cmd(c, verb, shc.prefix, "pause", p->domain, v);
}

static int
push_cmd(struct fg_rcmd *c, const struct fg_block_op *op)
{
	char v[BLOCK_VALUE_MAX];

	switch (op->kind) {
	case 's':
	case 'u':
		/* A new suspension does not replace another relay's; a
		 * new end, set by hand, does. */
		return susp_cmd(c, op->kind == 's' ? "HSETNX" : "HSET", &op->s);
	case 'r':
		return fg_rlimit_hash_cmd(c, "HDEL", shc.prefix, "susp",
		    op->s.account, NULL);
	case 'e':
		/* Ended here: gone from the store only if no relay has set
		 * it anew since this relay last read it. */
		susp_value(v, &op->s);
		return fg_rlimit_forget_cmd(c, shared_sha(FG_RS_FORGET), shc.prefix,
		    "susp", op->s.account, v);
	case 'p':
		return pause_cmd(c, "HSET", &op->p);
	default:
		pause_value(v, &op->p);
		return fg_rlimit_forget_cmd(c, shared_sha(FG_RS_FORGET), shc.prefix,
		    "pause", op->p.domain, v);
	}
}

void
fg_shared_sync_blocks(struct fg_blocks *b)
{
	static int nomem_said;
	struct fg_block_op *ops;
	struct fg_rcmd *cmd;
	struct pull pl;
	size_t n, i, k = 0;

	struct fg_suspension *su = NULL;
	struct fg_pause *pa = NULL;
	size_t ns = 0, np = 0;

	if (!fg_shared_up())
		return;		/* the changes wait in the journal */
	/* Connected again (Redis may have restarted empty): what this
	 * relay knows goes in where the store has nothing. */
	if (shared_resync_take())
		fg_blocks_rows(b, &su, &ns, &pa, &np);
	n = fg_blocks_take(b, &ops);
	if ((cmd = calloc(ns + np + n + 2, sizeof(*cmd))) == NULL) {
		fg_blocks_untake(b, ops, n);
		free(su);
		free(pa);
		shared_resync_again();
		return;
	}
	for (i = 0; i < ns; i++)
		if (susp_cmd(&cmd[k], "HSETNX", &su[i]) == 0)
			k++;
	for (i = 0; i < np; i++)
		if (pause_cmd(&cmd[k], "HSETNX", &pa[i]) == 0)
			k++;
	free(su);
	free(pa);
	for (i = 0; i < n; i++)
		if (push_cmd(&cmd[k], &ops[i]) == 0)
			k++;
	memset(&pl, 0, sizeof(pl));
	pl.first = k;
	if (fg_rlimit_hash_cmd(&cmd[k], "HGETALL", shc.prefix, "susp", NULL,
	    NULL) == 0 && fg_rlimit_hash_cmd(&cmd[k + 1], "HGETALL", shc.prefix,
	    "pause", NULL, NULL) == 0 &&
	    fg_shared_call(cmd, k + 2, on_pull, &pl) == 0 && !pl.bad) {
		/* Said once a spell: this runs each service tick. */
		if (fg_blocks_replace(b, pl.s, pl.ns, pl.p, pl.np) < 0) {
			if (!nomem_said)
				fg_log_err("shared store: out of memory for its %zu suspensions and %zu pauses; keeping the copy read before",
				    pl.ns, pl.np);
			nomem_said = 1;
		} else if (nomem_said) {
			fg_log_notice("shared store: its suspensions and pauses read again");
			nomem_said = 0;
		}
		free(ops);
	} else
		fg_blocks_untake(b, ops, n);
	for (i = 0; i < k + 2; i++)
		fg_rcmd_free(&cmd[i]);
	free(cmd);
	free(pl.s);
	free(pl.p);
}

/*
 * Delivery feedback, shared: each relay reads only its own delivery log,
 * so every result it counts also goes to the stream "{P}:fb" (capped at
 * about 100,000 entries), and each service tick adds the other relays'
 * entries to this relay's feedback windows: every relay judges a
 * tenant's bounces on all of them.
 */
#define FB_STREAM_MAX	"100000"
#define FB_READ_MAX	"10000"

static char fb_last[64];

/* the service thread's */

void
fg_shared_fb_publish(const char *rule, const char *key, const char *account,
    uint32_t period, uint32_t n)
{
	char k[FG_RKEY_MAX + 1], ps[16], ns[16];
	const char *argv[18];

	if (!fg_shared_up())
		return;
	snprintf(k, sizeof(k), "{%s}:fb", shc.prefix);
	snprintf(ps, sizeof(ps), "%u", period);
	snprintf(ns, sizeof(ns), "%u", n);
	argv[0] = "XADD"; argv[1] = k; argv[2] = "MAXLEN"; argv[3] = "~";
	argv[4] = FB_STREAM_MAX; argv[5] = "*";
	argv[6] = "r"; argv[7] = rule; argv[8] = "k"; argv[9] = key;
	argv[10] = "a"; argv[11] = account; argv[12] = "p"; argv[13] = ps;
	argv[14] = "n"; argv[15] = ns; argv[16] = "o"; argv[17] = shc.relay;
	shared_raw(18, argv);
}

struct fbread {
	struct fg_fbentry *e;
	size_t n, cap;
	char last[64];
	int bad;
};

static const char *
field(const redisReply *kv, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < kv->elements; i += 2)
		if (kv->element[i]->str != NULL &&
		    strcmp(kv->element[i]->str, name) == 0)
			return kv->element[i + 1]->str;
	return NULL;
}

static void
on_fbread(void *arg, size_t i, const redisReply *r)
{
	struct fbread *fr = arg;
	const redisReply *list;
	size_t k;

	(void)i;
	if (r->type == REDIS_REPLY_NIL)
		return;			/* nothing new */
	if (r->type != REDIS_REPLY_ARRAY) {
		fr->bad = 1;
		return;
	}
	if (fr->cap == (size_t)-1) {
		/* XREVRANGE: the newest entry's ID, to start after it. */
		if (r->elements > 0 && r->element[0]->type == REDIS_REPLY_ARRAY &&
		    r->element[0]->elements == 2 && r->element[0]->element[0]->str)
			fg_strlcpy(fr->last, r->element[0]->element[0]->str,
			    sizeof(fr->last));
		else
			fg_strlcpy(fr->last, "0-0", sizeof(fr->last));
		return;
	}
	if (r->elements != 1 || r->element[0]->elements != 2) {
		fr->bad = 1;
		return;
	}
	list = r->element[0]->element[1];
	if ((fr->e = calloc(list->elements + 1, sizeof(*fr->e))) == NULL) {
		fr->bad = 1;
		return;
	}
	for (k = 0; k < list->elements; k++) {
		const redisReply *ent = list->element[k], *kv;
		const char *rule, *key, *acct, *p, *n, *o;
		struct fg_fbentry *x;

		if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2 ||
		    ent->element[0]->str == NULL)
			continue;
		fg_strlcpy(fr->last, ent->element[0]->str, sizeof(fr->last));
		kv = ent->element[1];
		if (kv->type != REDIS_REPLY_ARRAY ||
		    (rule = field(kv, "r")) == NULL || (key = field(kv, "k")) == NULL ||
		    (acct = field(kv, "a")) == NULL || (p = field(kv, "p")) == NULL ||
		    (n = field(kv, "n")) == NULL || (o = field(kv, "o")) == NULL ||
		    strcmp(o, shc.relay) == 0)
			continue;	/* malformed, or ours */
		x = &fr->e[fr->n++];
		fg_strlcpy(x->rule, rule, sizeof(x->rule));
		fg_strlcpy(x->key, key, sizeof(x->key));
		fg_strlcpy(x->account, acct, sizeof(x->account));
		x->period = (uint32_t)strtoul(p, NULL, 10);
		x->n = (uint32_t)strtoul(n, NULL, 10);
	}
}

size_t
fg_shared_fb_pull(struct fg_fbentry **out)
{
	char k[FG_RKEY_MAX + 1];
	const char *argv[7];
	struct fg_rcmd c = { 0 };
	struct fbread fr;
	int rc;

	*out = NULL;
	if (!fg_shared_up())
		return 0;
	memset(&fr, 0, sizeof(fr));
	snprintf(k, sizeof(k), "{%s}:fb", shc.prefix);
	if (fb_last[0] == '\0') {
		argv[0] = "XREVRANGE"; argv[1] = k; argv[2] = "+"; argv[3] = "-";
		argv[4] = "COUNT"; argv[5] = "1";
		fr.cap = (size_t)-1;
		rc = fg_rcmd_build(&c, 6, argv) == 0 ?
		    fg_shared_call(&c, 1, on_fbread, &fr) : -1;
		fg_rcmd_free(&c);
		if (rc == 0 && !fr.bad)
			fg_strlcpy(fb_last, fr.last, sizeof(fb_last));
		return 0;
	}
	argv[0] = "XREAD"; argv[1] = "COUNT"; argv[2] = FB_READ_MAX;
	argv[3] = "STREAMS"; argv[4] = k; argv[5] = fb_last;
	rc = fg_rcmd_build(&c, 6, argv) == 0 ?
	    fg_shared_call(&c, 1, on_fbread, &fr) : -1;
	fg_rcmd_free(&c);
	if (rc < 0 || fr.bad) {
		free(fr.e);
		return 0;
	}
	if (fr.last[0] != '\0')
		fg_strlcpy(fb_last, fr.last, sizeof(fb_last));
	*out = fr.e;
	return fr.n;
}

/*
 * floodgatectl's view of the shared windows (on the service thread, at
 * most redis_timeout per round trip).
 */
struct peekctx {
	struct fg_rreq q;
	int rc;
};

static void
on_peek(void *arg, size_t i, const redisReply *r)
{
	struct peekctx *p = arg;
	long long v[2 + 3 * 64];
	uint32_t now;
	size_t k;

	(void)i;
	p->rc = -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements > 2 + 3 * 64)
		return;
	for (k = 0; k < r->elements; k++)
		v[k] = r->element[k]->type == REDIS_REPLY_INTEGER ?
		    r->element[k]->integer : -1;
	if (fg_rlimit_reserve_reply(v, r->elements, &p->q, 1, &now) == 0)
		p->rc = 0;
}

int
fg_shared_peek(struct fg_check *chk, size_t n)
{
	struct fg_rcmd c = { 0 };
	struct peekctx p = { { chk, n, 0 }, -1 };
	int rc;

	if (n == 0)
		return 0;
	if (n > 64 || fg_rlimit_reserve_cmd(&c, shared_sha(FG_RS_RESERVE),
	    shc.prefix, &p.q, 1, 0, shc.ttl, 1) < 0) {
		fg_rcmd_free(&c);
		return -1;
	}
	rc = fg_shared_call(&c, 1, on_peek, &p);
	fg_rcmd_free(&c);
	return rc < 0 ? -1 : p.rc;
}

/*
 * SCAN and HSCAN to the end, a thousand a call: page() gets each call's
 * elements (keys; or field, value, ...) and returns -1 to stop. At most
 * max_calls calls (0: no bound); -1 when a call fails, a reply is not a
 * page, or page() stopped.
 */
#define SCAN_COUNT	"1000"

struct scan {
	char cursor[32];
	int (*page)(void *arg, const redisReply *els);
	void *arg;
	int bad;
};

static void
on_scan(void *arg, size_t i, const redisReply *r)
{
	struct scan *s = arg;

	(void)i;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->str == NULL ||
	    r->element[1]->type != REDIS_REPLY_ARRAY ||
	    s->page(s->arg, r->element[1]) < 0) {
		s->bad = 1;
		return;
	}
	fg_strlcpy(s->cursor, r->element[0]->str, sizeof(s->cursor));
}

int
shared_scan(const char *hash, const char *match, int max_calls,
    int (*page)(void *arg, const redisReply *els), void *arg)
{
	struct scan s = { "0", page, arg, 0 };
	int calls = 0;

	do {
		const char *argv[7];
		struct fg_rcmd c = { 0 };
		int argc = 0, rc;

		argv[argc++] = hash != NULL ? "HSCAN" : "SCAN";
		if (hash != NULL)
			argv[argc++] = hash;
		argv[argc++] = s.cursor;
		if (match != NULL) {
			argv[argc++] = "MATCH";
			argv[argc++] = match;
		}
		argv[argc++] = "COUNT";
		argv[argc++] = SCAN_COUNT;
		rc = fg_rcmd_build(&c, argc, argv) == 0 ?
		    fg_shared_call(&c, 1, on_scan, &s) : -1;
		fg_rcmd_free(&c);
		if (rc < 0 || s.bad)
			return -1;
	} while (strcmp(s.cursor, "0") != 0 &&
	    (max_calls == 0 || ++calls < max_calls));
	return 0;
}

/* fg_shared_windows: each summary key found, without "{P}:s:". */
struct winscan {
	void (*fn)(void *arg, const char *wkey);
	void *arg;
	size_t skip;
};

static int
win_page(void *arg, const redisReply *keys)
{
	struct winscan *w = arg;
	size_t k;

	for (k = 0; k < keys->elements; k++) {
		const char *key = keys->element[k]->str;

		if (key != NULL && strlen(key) > w->skip)
			w->fn(w->arg, key + w->skip);
	}
	return 0;
}

/* Glob characters in an account are matched as themselves. */
static void
glob_quote(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in != '\0' && o + 2 < len; in++) {
		if (strchr("*?[]\\", *in) != NULL)
			out[o++] = '\\';
		out[o++] = *in;
	}
	out[o] = '\0';
}

int
fg_shared_windows(const char *rule, const char *account,
    void (*fn)(void *arg, const char *wkey), void *arg)
{
	char pat[FG_RKEY_MAX * 2 + 8], qa[FG_ACCOUNT_MAX * 2 + 1];
	struct winscan w = { fn, arg, strlen(shc.prefix) + 5 };

	glob_quote(account, qa, sizeof(qa));
	snprintf(pat, sizeof(pat), "{%s}:s:%s%c%s/*", shc.prefix,
	    rule != NULL ? rule : "*", FG_WKEY_SEP, qa);
	return shared_scan(NULL, pat, 10000, win_page, &w);
}

/* Forgets one shared window now; 1 when it held something. */
int
fg_shared_reset_now(const char *rule, const char *key)
{
	struct fg_rcmd c = { 0 };
	long long n = -1;
	int rc;

	if (fg_rlimit_reset_cmd(&c, shared_sha(FG_RS_RESET), shc.prefix, rule,
	    key) < 0) {
		fg_rcmd_free(&c);
		return -1;
	}
	rc = fg_shared_call(&c, 1, shared_on_integer, &n);
	fg_rcmd_free(&c);
	return rc < 0 || n < 0 ? -1 : n > 0;
}

/* fg_engine's shared_reserve: release planning, on the service thread. */
int
fg_shared_reserve_now(struct fg_limiter *l, struct fg_check *chk, size_t n,
    uint32_t now, struct fg_resv *resv, uint32_t relays)
{
	struct fg_ritem items[64];
	struct fg_sreserve r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.chk = chk;
	r.n = n;
	r.items = items;
	rc = n > 64 ? FG_SHARED_DOWN : fg_shared_reserve_wait(&r);
	if (rc == FG_SHARED_DOWN) {
		fg_checks_share(chk, n, relays);
		return fg_limiter_reserve(l, chk, n, now, resv);
	}
	if (rc == FG_RESERVED && fg_resv_add_ritems(resv, items, r.nitems) < 0)
		return FG_RESERVE_ERROR;
	return rc;
}
