/*
 * The pool's statistics in Redis: each relay adds its own every second
 * (counted while Redis is down, they wait in the stash), the last at a
 * clean stop on a connection of their own, and floodgatectl top reads
 * the sum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "htab.h"
#include "log.h"
#include "shared.h"
#include "shared_int.h"
#include "stats.h"
#include "store.h"
#include "util.h"
#include "wkey.h"

struct fg_htab shared_stash;
uint64_t shared_stash_dropped;

/* At the stop, the connection the last statistics go on
 * (shared_final_stats); the commands appended to it, and whether one
 * could not be. */
static redisContext *final_rc;
static size_t final_sent;
static int final_failed;

/* One command: on final_rc at the stop, else for the store's thread. */
static void
stats_raw(int argc, const char *const *argv)
{
	if (final_rc == NULL) {
		shared_raw(argc, argv);
		return;
	}
	if (redisAppendCommandArgv(final_rc, argc, (const char **)argv,
	    NULL) == REDIS_OK)
		final_sent++;
	else
		final_failed = 1;
}

/*
 * Statistics for the whole pool: one hash per hour and kind,
 * "{P}:st:HOUR:a" (accounts), ":d" (destination domains) and ":r"
 * (refusals by rule), field "NAME\037C" with C one of STAT_CODES (a
 * rule's: its action), kept as long as a relay keeps its own.
 */
#define STAT_CODES	"adrhsbu"	/* enum fg_stat's order */
#define STATS_KEEP_S	(90u * 86400u)

static void
stats_key(char *k, size_t len, uint32_t hour, char kind)
{
	snprintf(k, len, "{%s}:st:%u:%c", shc.prefix, hour, kind);
}

/* The hashes written this flush get their expiry once. */
static void
stats_expire(char (*seen)[FG_RKEY_MAX + 1], size_t *nseen, const char *k,
    uint32_t hour)
{
	char at[16];
	const char *argv[3] = { "EXPIREAT", k, at };
	size_t i;

	for (i = 0; i < *nseen; i++)
		if (strcmp(seen[i], k) == 0)
			return;
	if (*nseen < 16)
		fg_strlcpy(seen[(*nseen)++], k, FG_RKEY_MAX + 1);
	snprintf(at, sizeof(at), "%u", hour + STATS_KEEP_S);
	stats_raw(3, argv);
}


/* One increment: to Redis when it answers, else to the stash. */
static void
stats_incr(char (*seen)[FG_RKEY_MAX + 1], size_t *nseen, int up,
    uint32_t hour, char kind, const char *field, uint64_t n)
{
	char key[FG_RKEY_MAX + 1], v[24];
	const char *argv[4] = { "HINCRBY", key, field, v };

	if (!up) {
		if (shared_tally_add(&shared_stash, SHARED_STASH_MAX, field, hour, (uint8_t)kind,
		    n) < 0)
			shared_stash_dropped += n;
		return;
	}
	stats_key(key, sizeof(key), hour, kind);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)n);
	stats_raw(4, argv);
	stats_expire(seen, nseen, key, hour);
}

struct stash_send {
	char (*seen)[FG_RKEY_MAX + 1];
	size_t *nseen;
};

/* One stashed field to Redis (on the store's connection, or at the
 * stop on the last statistics' own); kept in the stash. */
static int
stash_incr(struct fg_hnode *n, void *arg)
{
	struct stash_send *ss = arg;
	struct shared_tally *x = (struct shared_tally *)n;

	stats_incr(ss->seen, ss->nseen, 1, x->a, (char)x->b, x->name, x->n);
	return 0;
}

/* Sends one stashed field and forgets it. */
static int
stash_send(struct fg_hnode *n, void *arg)
{
	stash_incr(n, arg);
	free(n);
	return 1;
}

void
fg_shared_stats_publish(const struct fg_stat_row *rows, size_t nrows,
    const struct fg_event *ev, size_t nev)
{
	char seen[16][FG_RKEY_MAX + 1];
	size_t nseen = 0, i;
	int k, up = fg_shared_up();

	if (up && shared_stash.count + shared_stash_dropped > 0) {
		struct stash_send ss = { seen, &nseen };
		size_t was = shared_stash.count;

		fg_htab_walk(&shared_stash, stash_send, &ss);
		fg_htab_clear(&shared_stash);
		if (shared_stash_dropped)
			fg_log_notice("shared store: gave %s the statistics counted while it was down (%zu fields; some were dropped: more than %d)",
			    shc.url, was, SHARED_STASH_MAX);
		else
			fg_log_notice("shared store: gave %s the statistics counted while it was down (%zu fields)",
			    shc.url, was);
		shared_stash_dropped = 0;
	}
	for (i = 0; i < nrows; i++) {
		char f[FG_ACCOUNT_MAX + 3];

		for (k = 0; k < FG_ST_N; k++) {
			if (rows[i].v[k] == 0)
				continue;
			snprintf(f, sizeof(f), "%s%c%c", rows[i].name,
			    FG_WKEY_SEP, STAT_CODES[k]);
			stats_incr(seen, &nseen, up, rows[i].hour,
			    rows[i].kind == 'd' ? 'd' : 'a', f, rows[i].v[k]);
		}
	}
	for (i = 0; i < nev; i++) {
		char f[FG_NAME_MAX + FG_ACTION_MAX + 2];
		const char *a = ev[i].action;

		if (strcmp(a, "defer") && strcmp(a, "cap") &&
		    strcmp(a, "reject") && strcmp(a, "hold"))
			continue;
		snprintf(f, sizeof(f), "%s%c%s", ev[i].rule, FG_WKEY_SEP, a);
		stats_incr(seen, &nseen, up, ev[i].time - ev[i].time % 3600,
		    'r', f, fg_event_count(&ev[i]));
	}
}

/*
 * The last statistics, at a clean stop. The service's last flush comes
 * after the store's connection closed (it lives on the engine's loop,
 * which stops after it), so when Redis answered at the stop they go on
 * a connection of their own, a second at most for each step. Taken
 * whole or kept whole: a reply lost midway keeps them all for the next
 * start (a field Redis had taken then counts twice in the pool's
 * statistics, never in a limit).
 */
#define FINAL_TIMEOUT_S	1

static int
final_ok(redisReply *r, char *why, size_t len)
{
	int ok = r != NULL && r->type != REDIS_REPLY_ERROR;

	if (!ok)
		fg_strlcpy(why, r != NULL ? r->str : final_rc->errstr[0] ?
		    final_rc->errstr : "no answer", len);
	if (r != NULL)
		freeReplyObject(r);
	return ok;
}

void
shared_final_stats(int up_at_stop)
{
	struct timeval tv = { FINAL_TIMEOUT_S, 0 };
	char seen[16][FG_RKEY_MAX + 1], why[256] = "";
	size_t nseen = 0, fields = shared_stash.count;
	struct stash_send ss = { seen, &nseen };
	void *r;
	int ok = 1;

	if (!up_at_stop || fields == 0 || shared_stash_dropped > 0 ||
	    (shc.host == NULL && shc.path == NULL))
		return;
	final_rc = shc.path != NULL ? redisConnectUnixWithTimeout(shc.path, tv) :
	    redisConnectWithTimeout(shc.host, (int)shc.port, tv);
	if (final_rc == NULL || final_rc->err ||
	    redisSetTimeout(final_rc, tv) != REDIS_OK) {
		fg_strlcpy(why, final_rc != NULL ? final_rc->errstr :
		    "out of memory", sizeof(why));
		ok = 0;
	}
	if (ok && shc.password != NULL)	/* as on_connect logs in */
		ok = final_ok(shc.user != NULL ?
		    redisCommand(final_rc, "AUTH %s %s", shc.user, shc.password) :
		    redisCommand(final_rc, "AUTH %s", shc.password), why,
		    sizeof(why));
	if (ok && shc.db != 0)
		ok = final_ok(redisCommand(final_rc, "SELECT %u", shc.db), why,
		    sizeof(why));
	final_sent = 0;
	final_failed = 0;
	if (ok) {
		fg_htab_walk(&shared_stash, stash_incr, &ss);
		if (final_failed) {
			fg_strlcpy(why, "out of memory", sizeof(why));
			ok = 0;
		}
	}
	for (; ok && final_sent > 0; final_sent--) {
		r = NULL;
		ok = redisGetReply(final_rc, &r) == REDIS_OK &&
		    final_ok(r, why, sizeof(why));
		if (!ok && why[0] == '\0')
			fg_strlcpy(why, final_rc->errstr, sizeof(why));
	}
	if (final_rc != NULL)
		redisFree(final_rc);
	final_rc = NULL;
	if (ok) {
		shared_tally_clear(&shared_stash);
		fg_log_notice("shared store: gave %s the statistics of the stop (%zu fields)",
		    shc.url, fields);
	} else {
		fg_log_warn("shared store: cannot give %s the statistics of the stop (%s); kept for the next start",
		    shc.url, why);
	}
}

/*
 * floodgatectl top from Redis: the hours' hashes are read with HSCAN, a
 * thousand fields a call, so that a long --since on a large pool never
 * holds Redis (every relay's reserves wait behind a command) or this
 * relay's connection for long; each name is summed as it is read.
 */

struct topsum {
	struct fg_hnode node;
	struct fg_top_row row;
};

struct topread {
	struct fg_htab names;
	int rule;
};

static int
topsum_eq(const struct fg_hnode *n, const void *key)
{
	return strcmp(((const struct topsum *)n)->row.name, key) == 0;
}

/* One HSCAN page: field, value, ... */
static int
top_page(void *arg, const redisReply *kv)
{
	struct topread *t = arg;
	size_t j;

	for (j = 0; j + 1 < kv->elements; j += 2) {
		const redisReply *f = kv->element[j], *v = kv->element[j + 1];
		char name[FG_ACCOUNT_MAX + 1];
		const char *sep, *code;
		struct topsum *x;
		long long n;
		uint64_t h;
		int stat = -1;

		if (f->str == NULL || v->str == NULL ||
		    (sep = strrchr(f->str, FG_WKEY_SEP)) == NULL ||
		    (size_t)(sep - f->str) >= sizeof(name) ||
		    (n = strtoll(v->str, NULL, 10)) <= 0)
			continue;
		code = sep + 1;
		if (t->rule)
			stat = strcmp(code, "reject") == 0 ? FG_ST_REJECTED :
			    strcmp(code, "hold") == 0 ? FG_ST_HELD :
			    FG_ST_DEFERRED;
		else if (code[0] != '\0' && code[1] == '\0' &&
		    strchr(STAT_CODES, code[0]) != NULL)
			stat = (int)(strchr(STAT_CODES, code[0]) - STAT_CODES);
		if (stat < 0)
			continue;
		memcpy(name, f->str, (size_t)(sep - f->str));
		name[sep - f->str] = '\0';
		h = fg_hash(name);
		if ((x = (struct topsum *)fg_htab_find(&t->names, h, topsum_eq,
		    name)) == NULL) {
			if ((x = calloc(1, sizeof(*x))) == NULL)
				return -1;
			x->node.hash = h;
			fg_strlcpy(x->row.name, name, sizeof(x->row.name));
			if (fg_htab_add(&t->names, &x->node) < 0) {
				free(x);
				return -1;
			}
		}
		x->row.v[stat] += (uint64_t)n;
	}
	return 0;
}

struct topcollect {
	struct fg_top_row *rows;
	size_t n;
	const char *by;
};

/* Each name once, kept as the query would (HAVING); the node freed. */
static int
top_collect(struct fg_hnode *n, void *arg)
{
	struct topcollect *c = arg;
	const struct fg_top_row *r = &((struct topsum *)n)->row;

	if (c->rows != NULL &&
	    !(strcmp(c->by, "unknown") == 0 && r->v[FG_ST_UNKNOWN] == 0) &&
	    !(strcmp(c->by, "bounces") == 0 && r->v[FG_ST_BOUNCED] == 0))
		c->rows[c->n++] = *r;
	free(n);
	return 1;
}

static uint64_t
top_sent(const struct fg_top_row *r)
{
	return r->v[FG_ST_ACCEPTED] + r->v[FG_ST_DEFERRED] +
	    r->v[FG_ST_REJECTED] + r->v[FG_ST_HELD];
}

/* The order of fg_store_top's queries. */
static int
toprow_cmp(const void *a, const void *b, void *arg)
{
	const struct fg_top_row *x = a, *y = b;
	const char *top_by = arg;
	uint64_t p, q, p2 = 0, q2 = 0;

	if (strcmp(top_by, "unknown") == 0) {
		p = x->v[FG_ST_UNKNOWN];
		q = y->v[FG_ST_UNKNOWN];
		p2 = x->v[FG_ST_BOUNCED];
		q2 = y->v[FG_ST_BOUNCED];
	} else if (strcmp(top_by, "bounces") == 0) {
		p = x->v[FG_ST_BOUNCED];
		q = y->v[FG_ST_BOUNCED];
		p2 = x->v[FG_ST_UNKNOWN];
		q2 = y->v[FG_ST_UNKNOWN];
	} else {
		p = top_sent(x);
		q = top_sent(y);
	}
	if (p != q)
		return p > q ? -1 : 1;
	if (p2 != q2)
		return p2 > q2 ? -1 : 1;
	return strcmp(x->name, y->name);
}

int
fg_shared_top(const char *by, uint32_t since, int limit,
    struct fg_top_row **out, size_t *nout)
{
	struct topread t;
	struct topcollect c = { NULL, 0, by };
	char kind = strcmp(by, "rule") == 0 ? 'r' :
	    strcmp(by, "domain") == 0 ? 'd' : 'a';
	uint32_t now = (uint32_t)time(NULL), h;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	memset(&t, 0, sizeof(t));
	t.rule = kind == 'r';
	if (now > STATS_KEEP_S && since < now - STATS_KEEP_S)
		since = now - STATS_KEEP_S;
	for (h = since - since % 3600; h <= now && rc == 0; h += 3600) {
		char k[FG_RKEY_MAX + 1];

		stats_key(k, sizeof(k), h, kind);
		rc = shared_scan(k, NULL, 0, top_page, &t);
	}
	if (rc == 0 &&
	    (c.rows = malloc((t.names.count + 1) * sizeof(*c.rows))) == NULL)
		rc = -1;
	fg_htab_walk(&t.names, top_collect, &c);
	fg_htab_clear(&t.names);
	if (rc < 0) {
		free(c.rows);
		return -1;
	}
	qsort_r(c.rows, c.n, sizeof(*c.rows), toprow_cmp, (void *)by);
	*out = c.rows;
	*nout = c.n > (size_t)limit ? (size_t)limit : c.n;
	return 0;
}
