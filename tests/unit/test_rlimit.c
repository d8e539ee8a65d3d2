/*
 * Unit tests of lib/rlimit.c: the shared limiter's scripts, run by a
 * real redis-server the test starts on a private port (no persistence),
 * against the in-memory limiter: the same operations at the same times
 * give the same decisions, counts and retry times.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "limiter.h"
#include "helpers.h"
#include "rlimit.h"
#include "table.h"
#include "util.h"
#include "wkey.h"

/* Later than any real clock the test runs at: the keys' EXPIREAT lies
 * in the future, as it does with Redis's own clock. */
#define T0 1900000020u	/* a multiple of 60 */
#define PREFIX "fgtest"

struct env {
	pid_t redis;
	redisContext *rc;
	char sha[FG_RS_COUNT][FG_RSHA_LEN + 1];
	struct fg_table *t;
	struct fg_limiter *l;
	unsigned seq;
};

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static redisReply *
run(struct env *e, const struct fg_rcmd *c)
{
	redisReply *r = redisCommandArgv(e->rc, c->argc, c->argv, c->argvlen);

	assert_non_null(r);
	if (r->type == REDIS_REPLY_ERROR)
		fail_msg("redis: %s", r->str);
	return r;
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char portarg[16];
	int port = free_port(), i;

	if (access("/usr/bin/redis-server", X_OK) != 0) {
		print_message("no /usr/bin/redis-server (Debian package redis-server)\n");
		free(e);
		return -1;
	}
	snprintf(portarg, sizeof(portarg), "%d", port);
	*state = e;
	if ((e->redis = fork()) == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* Its output would hold a pipe open past the test. */
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execl("/usr/bin/redis-server", "redis-server", "--port", portarg,
		    "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		    "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		struct timespec ts = { 0, 20000000 };

		e->rc = redisConnect("127.0.0.1", port);
		if (e->rc != NULL && !e->rc->err)
			break;
		redisFree(e->rc);
		e->rc = NULL;
		nanosleep(&ts, NULL);
	}
	if (e->rc == NULL)
		return -1;
	e->t = fg_table_new();
	e->l = fg_limiter_new(e->t);
	for (i = 0; i < FG_RS_COUNT; i++) {
		struct fg_rcmd c = { 0 };
		redisReply *r;
		int ok;

		if (fg_rlimit_load_cmd(&c, (enum fg_rscript)i) < 0)
			return -1;
		r = redisCommandArgv(e->rc, c.argc, c.argv, c.argvlen);
		fg_rcmd_free(&c);
		ok = r != NULL && r->type == REDIS_REPLY_STRING &&
		    r->len == FG_RSHA_LEN;
		if (ok)
			memcpy(e->sha[i], r->str, FG_RSHA_LEN);
		else
			print_message("SCRIPT LOAD %d: %s\n", i,
			    r != NULL && r->str != NULL ? r->str : "no reply");
		freeReplyObject(r);
		if (!ok)
			return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	if (e == NULL)
		return 0;
	if (e->rc != NULL)
		redisFree(e->rc);
	if (e->redis > 0) {
		kill(e->redis, SIGTERM);
		waitpid(e->redis, NULL, 0);
	}
	if (e->l != NULL)
		fg_limiter_free(e->l);
	if (e->t != NULL)
		fg_table_free(e->t);
	free(e);
	return 0;
}

/* Before each test: an empty Redis and an empty in-memory limiter. */
static int
fresh(void **state)
{
	struct env *e = *state;
	redisReply *r = redisCommand(e->rc, "FLUSHALL");

	assert_non_null(r);
	freeReplyObject(r);
	fg_limiter_free(e->l);
	fg_table_free(e->t);
	e->t = fg_table_new();
	e->l = fg_limiter_new(e->t);
	return 0;
}

/* What Redis holds of one transaction's reservations. */
struct rresv {
	struct fg_ritem it[256];
	size_t n;
};

/* k recipients in one reserve call; the reservations of recipient i,
 * when it gets them, go to rr[i] (or nowhere, rr NULL). */
static void
rreserve_batch(struct env *e, struct fg_rreq *q, size_t k, uint32_t now,
    uint32_t ttl, int peek, struct rresv **rr)
{
	struct fg_rcmd c = { 0 };
	long long v[256];
	redisReply *r;
	uint32_t used_now;
	size_t i, j, need = 1;

	for (i = 0; i < k; i++)
		need += 1 + 3 * q[i].n;
	assert_true(need <= 256);
	assert_int_equal(fg_rlimit_reserve_cmd(&c, e->sha[FG_RS_RESERVE], PREFIX,
	    q, k, now, ttl, peek), 0);
	r = run(e, &c);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, need);
	for (i = 0; i < r->elements; i++) {
		assert_int_equal(r->element[i]->type, REDIS_REPLY_INTEGER);
		v[i] = r->element[i]->integer;
	}
	assert_int_equal(fg_rlimit_reserve_reply(v, r->elements, q, k,
	    &used_now), 0);
	if (now != 0)
		assert_int_equal(used_now, now);
	freeReplyObject(r);
	fg_rcmd_free(&c);
	for (i = 0; i < k; i++) {
		if (q[i].rc != FG_RESERVED || peek || rr == NULL || rr[i] == NULL)
			continue;
		for (j = 0; j < q[i].n; j++) {
			struct fg_check *ck = &q[i].chk[j];
			struct fg_ritem *it;

			if (ck->cost == 0)
				continue;
			assert_true(rr[i]->n < 256);
			it = &rr[i]->it[rr[i]->n++];
			assert_int_equal(fg_wkey_join(ck->rule, ck->key, it->wkey,
			    sizeof(it->wkey)), 0);
			fg_rlimit_bucket(used_now, ttl, it->member,
			    sizeof(it->member));
			it->cost = ck->cost;
			it->period = ck->period;
		}
	}
}

static int
rreserve(struct env *e, struct fg_check *chk, size_t n, uint32_t now,
    uint32_t ttl, int peek, struct rresv *rr)
{
	struct fg_rreq q = { chk, n, 0 };

	rreserve_batch(e, &q, 1, now, ttl, peek, &rr);
	return q.rc;
}

/* Commits or releases a transaction's reservations, leaving m (or no
 * mark). */
static void
rend_marked(struct env *e, struct rresv *rr, uint32_t now, int commit,
    const struct fg_rmark *m)
{
	struct fg_rcmd c = { 0 };
	redisReply *r;

	if (rr->n == 0)
		return;
	if (commit)
		assert_int_equal(fg_rlimit_commit_cmd(&c, e->sha[FG_RS_COMMIT],
		    PREFIX, rr->it, rr->n, now, m), 0);
	else
		assert_int_equal(fg_rlimit_release_cmd(&c,
		    e->sha[FG_RS_RELEASE], PREFIX, rr->it, rr->n, m), 0);
	r = run(e, &c);
	freeReplyObject(r);
	fg_rcmd_free(&c);
	rr->n = 0;
}

static void
rend(struct env *e, struct rresv *rr, uint32_t now, int commit)
{
	rend_marked(e, rr, now, commit, NULL);
}

static void
test_reserve_commit_refuse(void **state)
{
	struct env *e = *state;
	struct rresv rr = { .n = 0 };
	struct fg_check c;
	int i;

	for (i = 0; i < 3; i++) {
		c = chk("hour", "alice@example.com", 3, 3600);
		assert_int_equal(rreserve(e, &c, 1, T0 + (uint32_t)i, 600, 0, &rr),
		    FG_RESERVED);
		assert_false(c.over);
		assert_int_equal(c.used, (uint64_t)i);
	}
	/* Reservations count before they are committed. */
	c = chk("hour", "alice@example.com", 3, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 5, 600, 0, NULL), FG_REFUSED);
	assert_true(c.over);
	assert_int_equal(c.used, 3);
	/* Held by transactions in flight: a full period from the next slot. */
	assert_int_equal(c.retry, 60 + 3600 - 5);
	rend(e, &rr, T0 + 10, 1);
	c = chk("hour", "alice@example.com", 3, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 20, 600, 0, NULL), FG_REFUSED);
	assert_int_equal(c.used, 3);
	/* In the window: the slot of T0 leaves at T0 + 60 + 3600. */
	assert_int_equal(c.retry, 60 + 3600 - 20);
	/* Another key is another budget. */
	c = chk("hour", "bob@example.com", 3, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 20, 600, 0, NULL), FG_RESERVED);
	/* And the window is empty once its slot has left. */
	c = chk("hour", "alice@example.com", 3, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 3660, 600, 1, NULL), FG_RESERVED);
	assert_int_equal(c.used, 0);
}

/* One refusing rule: nothing is reserved in the others. */
static void
test_all_or_none(void **state)
{
	struct env *e = *state;
	struct rresv rr = { .n = 0 };
	struct fg_check c[3];

	c[0] = chk("hour", "carol", 100, 3600);
	c[1] = chk("docomo", "carol/docomo.ne.jp", 1, 3600);
	assert_int_equal(rreserve(e, c, 2, T0, 600, 0, &rr), FG_RESERVED);
	rend(e, &rr, T0, 1);
	c[0] = chk("hour", "carol", 100, 3600);
	c[1] = chk("docomo", "carol/docomo.ne.jp", 1, 3600);
	c[2] = chk("day", "carol", 100, 86400);
	assert_int_equal(rreserve(e, c, 3, T0 + 1, 600, 0, &rr), FG_REFUSED);
	assert_false(c[0].over);
	assert_true(c[1].over);
	assert_false(c[2].over);
	assert_int_equal(rr.n, 0);
	c[0] = chk("hour", "carol", 100, 3600);
	c[2] = chk("day", "carol", 100, 86400);
	assert_int_equal(rreserve(e, c, 1, T0 + 2, 600, 1, NULL), FG_RESERVED);
	assert_int_equal(c[0].used, 1);
	assert_int_equal(rreserve(e, &c[2], 1, T0 + 2, 600, 1, NULL), FG_RESERVED);
	assert_int_equal(c[2].used, 0);
	/* A soft rule (tag, log) over its limit does not refuse. */
	c[0] = chk("hour", "carol", 100, 3600);
	c[1] = chk("docomo", "carol/docomo.ne.jp", 1, 3600);
	c[1].hard = false;
	assert_int_equal(rreserve(e, c, 2, T0 + 3, 600, 0, &rr), FG_RESERVED);
	assert_true(c[1].over);
	assert_int_equal(rr.n, 2);
	rend(e, &rr, 0, 0);
}

/* A relay that never ends its transaction: its reservations go back by
 * themselves after the TTL; released ones at once. */
static void
test_ttl_release(void **state)
{
	struct env *e = *state;
	struct rresv rr = { .n = 0 }, rr2 = { .n = 0 };
	struct fg_check c;

	c = chk("hour", "dave", 2, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0, 30, 0, &rr), FG_RESERVED);
	c = chk("hour", "dave", 2, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 1, 30, 0, &rr2), FG_RESERVED);
	c = chk("hour", "dave", 2, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 2, 30, 0, NULL), FG_REFUSED);
	rend(e, &rr2, 0, 0);
	c = chk("hour", "dave", 2, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 3, 30, 1, NULL), FG_RESERVED);
	assert_int_equal(c.used, 1);
	c = chk("hour", "dave", 2, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 29, 30, 1, NULL), FG_RESERVED);
	assert_int_equal(c.used, 1);
	c = chk("hour", "dave", 2, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 30, 30, 1, NULL), FG_RESERVED);
	assert_int_equal(c.used, 0);
	/* A late commit of an expired reservation still charges. */
	rend(e, &rr, T0 + 31, 1);
	c = chk("hour", "dave", 2, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 32, 30, 1, NULL), FG_RESERVED);
	assert_int_equal(c.used, 1);
}

/* The value of a mark's key and its TTL (-2: none). */
static long long
mark_value(struct env *e, const char *key, long long *ttl)
{
	redisReply *r = redisCommand(e->rc, "GET %s", key);
	long long v = -1;

	assert_non_null(r);
	if (r->type == REDIS_REPLY_STRING)
		v = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	r = redisCommand(e->rc, "TTL %s", key);
	assert_non_null(r);
	*ttl = r->integer;
	freeReplyObject(r);
	return v;
}

/* A commit, release or add given a mark leaves its number in the mark's
 * key, for a day, in the same script that changes the windows; one
 * given none leaves it alone. The windows count the same either way. */
static void
test_mark(void **state)
{
	struct env *e = *state;
	struct rresv rr = { .n = 0 }, rr2 = { .n = 0 }, rr3 = { .n = 0 };
	struct fg_rmark m = { "{" PREFIX "}:q:relay1.17", 7 };
	struct fg_rcmd cmd = { 0 };
	struct fg_check c;
	long long ttl;
	redisReply *r;

	assert_int_equal(mark_value(e, m.key, &ttl), -1);
	assert_int_equal(ttl, -2);
	c = chk("hour", "mia", 5, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0, 600, 0, &rr), FG_RESERVED);
	c = chk("hour", "mia", 5, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0, 600, 0, &rr2), FG_RESERVED);
	rend_marked(e, &rr, T0 + 1, 1, &m);
	assert_int_equal(mark_value(e, m.key, &ttl), 7);
	assert_true(ttl > 86000 && ttl <= 86400);
	m.seq = 8;
	rend_marked(e, &rr2, 0, 0, &m);
	assert_int_equal(mark_value(e, m.key, &ttl), 8);
	c = chk("hour", "mia", 5, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 2, 600, 1, NULL), FG_RESERVED);
	assert_int_equal(c.used, 1);	/* the commit, not the release */
	m.seq = 9;
	assert_int_equal(fg_rlimit_add_cmd(&cmd, e->sha[FG_RS_ADD], PREFIX,
	    "hour", "mia", 3600, 2, T0 + 3, &m), 0);
	r = run(e, &cmd);
	freeReplyObject(r);
	fg_rcmd_free(&cmd);
	assert_int_equal(mark_value(e, m.key, &ttl), 9);
	c = chk("hour", "mia", 5, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 4, 600, 0, &rr3), FG_RESERVED);
	rend(e, &rr3, T0 + 4, 1);
	assert_int_equal(mark_value(e, m.key, &ttl), 9);
	c = chk("hour", "mia", 5, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 5, 600, 1, NULL), FG_RESERVED);
	assert_int_equal(c.used, 4);
}

/* Several recipients in one call are decided one after the other, as
 * if each were its own call: the second sees the first's reservation, a
 * refused one reserves nothing in any of its windows. */
static void
test_batch(void **state)
{
	struct env *e = *state;
	struct fg_check a[2], b[2], c[2], d[1];
	struct fg_rreq q[4] = { { a, 2, 0 }, { b, 2, 0 }, { c, 2, 0 },
	    { d, 1, 0 } };
	struct fg_rcmd cmd = { 0 };
	long long v[64];
	redisReply *r;
	uint32_t now;
	size_t i;

	a[0] = chk("hour", "gina", 2, 3600);
	a[1] = chk("day", "gina", 10, 86400);
	b[0] = chk("hour", "gina", 2, 3600);
	b[1] = chk("day", "gina", 10, 86400);
	c[0] = chk("hour", "gina", 2, 3600);	/* the third: over */
	c[1] = chk("day", "gina", 10, 86400);
	d[0] = chk("day", "gina", 10, 86400);
	assert_int_equal(fg_rlimit_reserve_cmd(&cmd, e->sha[FG_RS_RESERVE],
	    PREFIX, q, 4, T0, 600, 0), 0);
	r = run(e, &cmd);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_true(r->elements <= 64);
	for (i = 0; i < r->elements; i++)
		v[i] = r->element[i]->integer;
	assert_int_equal(fg_rlimit_reserve_reply(v, r->elements, q, 4, &now),
	    0);
	freeReplyObject(r);
	fg_rcmd_free(&cmd);
	assert_int_equal(now, T0);
	assert_int_equal(q[0].rc, FG_RESERVED);
	assert_int_equal(a[0].used, 0);
	assert_int_equal(q[1].rc, FG_RESERVED);
	assert_int_equal(b[0].used, 1);
	assert_int_equal(b[1].used, 1);
	assert_int_equal(q[2].rc, FG_REFUSED);
	assert_true(c[0].over);
	assert_int_equal(c[1].used, 2);
	/* The refused recipient reserved nothing in "day". */
	assert_int_equal(q[3].rc, FG_RESERVED);
	assert_int_equal(d[0].used, 2);
	a[1] = chk("day", "gina", 10, 86400);
	assert_int_equal(rreserve(e, &a[1], 1, T0 + 1, 600, 1, NULL), FG_RESERVED);
	assert_int_equal(a[1].used, 3);
}

/* A window written by the first format (one hash: slots, "p", "e", "rX"
 * reservation buckets) is read as it was and converted in place; its
 * reservation is committed as before. */
static void
test_first_format(void **state)
{
	struct env *e = *state;
	struct rresv rr = { .n = 0 };
	struct fg_check c = chk("hour", "frank", 10, 3600);
	char w[FG_WKEY_MAX + 1], key[FG_RKEY_MAX + 1], exp[16], slot[16];
	redisReply *r;
	size_t i;

	assert_int_equal(fg_wkey_join("hour", "frank", w, sizeof(w)), 0);
	snprintf(key, sizeof(key), "{%s}:w:%s", PREFIX, w);
	rr.n = 1;
	fg_rlimit_bucket(T0, 600, rr.it[0].member, sizeof(rr.it[0].member));
	fg_strlcpy(rr.it[0].wkey, w, sizeof(rr.it[0].wkey));
	rr.it[0].cost = 2;
	rr.it[0].period = 3600;
	snprintf(exp, sizeof(exp), "%u", T0 + 7200);
	snprintf(slot, sizeof(slot), "%u", T0);
	r = redisCommand(e->rc, "HSET %s p 3600 e %s %s 2 %s 3", key, exp,
	    rr.it[0].member, slot);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	freeReplyObject(r);
	/* 3 in the window and 2 reserved. */
	assert_int_equal(rreserve(e, &c, 1, T0 + 10, 600, 1, NULL), FG_RESERVED);
	assert_int_equal(c.used, 5);
	/* The hash keeps only slots now. */
	r = redisCommand(e->rc, "HKEYS %s", key);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 1);
	assert_string_equal(r->element[0]->str, slot);
	freeReplyObject(r);
	/* The old reservation is committed into the window. */
	rend(e, &rr, T0 + 20, 1);
	c = chk("hour", "frank", 10, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 30, 600, 1, NULL), FG_RESERVED);
	assert_int_equal(c.used, 5);
	/* Reset: the slots go, the summary keeps nothing else. */
	{
		struct fg_rcmd cmd = { 0 };

		assert_int_equal(fg_rlimit_reset_cmd(&cmd, e->sha[FG_RS_RESET],
		    PREFIX, "hour", "frank"), 0);
		r = run(e, &cmd);
		assert_int_equal(r->integer, 1);
		freeReplyObject(r);
		fg_rcmd_free(&cmd);
	}
	c = chk("hour", "frank", 10, 3600);
	assert_int_equal(rreserve(e, &c, 1, T0 + 40, 600, 1, NULL), FG_RESERVED);
	assert_int_equal(c.used, 0);
	r = redisCommand(e->rc, "KEYS {%s}:*frank", PREFIX);
	for (i = 0; i < r->elements; i++)
		print_message("left: %s\n", r->element[i]->str);
	assert_int_equal(r->elements, 0);
	freeReplyObject(r);
}

/* Given no clock, the scripts take Redis's: the one every relay shares. */
static void
test_redis_clock(void **state)
{
	struct env *e = *state;
	struct fg_check c = chk("hour", "erin", 5, 3600);
	struct fg_rreq q = { &c, 1, 0 };
	struct fg_rcmd cmd = { 0 };
	long long v[5];
	redisReply *r;
	uint32_t now, t = (uint32_t)time(NULL);
	size_t i;

	assert_int_equal(fg_rlimit_reserve_cmd(&cmd, e->sha[FG_RS_RESERVE],
	    PREFIX, &q, 1, 0, 600, 0), 0);
	r = run(e, &cmd);
	assert_int_equal(r->elements, 5);
	for (i = 0; i < 5; i++)
		v[i] = r->element[i]->integer;
	assert_int_equal(fg_rlimit_reserve_reply(v, 5, &q, 1, &now), 0);
	assert_int_equal(q.rc, FG_RESERVED);
	assert_true(now >= t && now <= t + 5);
	freeReplyObject(r);
	fg_rcmd_free(&cmd);
	/* Every key carries the installation's hash tag. */
	r = redisCommand(e->rc, "KEYS *");
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_true(r->elements >= 1);
	for (i = 0; i < r->elements; i++)
		assert_memory_equal(r->element[i]->str, "{" PREFIX "}:", 9);
	freeReplyObject(r);
}

/* The summary's bytes as the scripts write them (Lua's struct, "<"). */
static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* A window's summary (GET) or its expiry in ms (PEXPIRETIME). */
static redisReply *
summary(struct env *e, const char *cmd, const char *rule, const char *key)
{
	char w[FG_WKEY_MAX + 1];
	redisReply *r;

	assert_int_equal(fg_wkey_join(rule, key, w, sizeof(w)), 0);
	r = redisCommand(e->rc, "%s {%s}:s:%s", cmd, PREFIX, w);
	assert_non_null(r);
	return r;
}

/*
 * The reserve's numbers travel packed (little-endian): a limit past 2^24
 * and one of 1 read as such. A second reserve in a bucket the summary
 * already holds rewrites that bucket's count alone: the rest of the
 * summary and its expiry stay as they were.
 */
static void
test_packed_and_patched(void **state)
{
	struct env *e = *state;
	struct fg_check big = chk("day", "gina", 4000000000u, 86400);
	struct fg_check one = chk("hour", "gina", 1, 3600);
	struct fg_check none[256];
	struct fg_rreq q = { none, 0, 0 };
	struct fg_rcmd cmd = { 0 };
	double got;
	redisReply *a, *b, *t1, *t2, *st;
	unsigned char *p;
	uint64_t u;
	size_t i;

	big.cost = 70000;
	/* T0 + 1 to T0 + 60: one bucket (a tenth of the TTL). */
	assert_int_equal(rreserve(e, &big, 1, T0 + 1, 600, 0, NULL),
	    FG_RESERVED);
	assert_false(big.over);
	assert_int_equal(big.used, 0);
	assert_int_equal(rreserve(e, &big, 1, T0 + 2, 600, 0, NULL),
	    FG_RESERVED);
	assert_int_equal(big.used, 70000);
	assert_int_equal(rreserve(e, &one, 1, T0, 600, 0, NULL), FG_RESERVED);
	assert_int_equal(rreserve(e, &one, 1, T0, 600, 0, NULL), FG_REFUSED);
	assert_true(one.over);
	assert_int_equal(one.used, 1);

	/* The same bucket again: 24 bytes of head, one bucket of 12. */
	a = summary(e, "GET", "day", "gina");
	t1 = summary(e, "PEXPIRETIME", "day", "gina");
	assert_int_equal(a->type, REDIS_REPLY_STRING);
	assert_int_equal(a->len, 36);
	st = redisCommand(e->rc, "CONFIG RESETSTAT");
	freeReplyObject(st);
	assert_int_equal(rreserve(e, &big, 1, T0 + 3, 600, 0, NULL),
	    FG_RESERVED);
	assert_int_equal(big.used, 140000);
	st = redisCommand(e->rc, "INFO commandstats");
	assert_int_equal(st->type, REDIS_REPLY_STRING);
	assert_non_null(strstr(st->str, "cmdstat_setrange:calls=1,"));
	assert_null(strstr(st->str, "cmdstat_set:"));
	freeReplyObject(st);
	b = summary(e, "GET", "day", "gina");
	t2 = summary(e, "PEXPIRETIME", "day", "gina");
	assert_int_equal(b->len, 36);
	assert_memory_equal(a->str, b->str, 28);	/* head, bucket's time */
	p = (unsigned char *)b->str;
	u = le32(p + 28) | (uint64_t)le32(p + 32) << 32;
	memcpy(&got, &u, sizeof(got));
	assert_true(got == 210000.0);
	assert_int_equal(t1->type, REDIS_REPLY_INTEGER);
	assert_true(t1->integer > 0);
	assert_int_equal(t1->integer, t2->integer);
	freeReplyObject(a);
	freeReplyObject(b);
	freeReplyObject(t1);
	freeReplyObject(t2);

	/* A recipient of no check, or of more than a byte's worth. */
	assert_int_equal(fg_rlimit_reserve_cmd(&cmd, e->sha[FG_RS_RESERVE],
	    PREFIX, &q, 1, T0, 600, 0), -1);
	for (i = 0; i < 256; i++)
		none[i] = chk("hour", "gina", 5, 3600);
	q.n = 256;
	assert_int_equal(fg_rlimit_reserve_cmd(&cmd, e->sha[FG_RS_RESERVE],
	    PREFIX, &q, 1, T0, 600, 0), -1);
	fg_rcmd_free(&cmd);
}

/*
 * A commit's and a release's reservations travel in one argument too:
 * bucket, cost (and period) little-endian, the bucket read from the
 * member; a member that is not "r" and a number is refused, never sent.
 */
static void
test_end_packed(void **state)
{
	struct env *e = *state;
	struct fg_check c[2] = { chk("hour", "hana", 10, 3600),
	    chk("day", "hana", 10, 86400) };
	struct rresv rr = { 0 };
	struct fg_ritem it[2];
	struct fg_rmark m = { "{" PREFIX "}:q:test.1.1", 7 };
	static const char *const bad[] = { "x1900000600", "r19000006x",
	    "r", "r-5", "r 5", "r99999999999" };
	struct fg_rcmd cmd = { 0 };
	const unsigned char *p;
	size_t i;

	c[0].cost = 2;
	c[1].cost = 3;
	assert_int_equal(rreserve(e, c, 2, T0, 600, 0, &rr), FG_RESERVED);
	assert_int_equal(rr.n, 2);
	memcpy(it, rr.it, sizeof(it));
	/* EVALSHA sha 5, 2 hashes, 2 summaries, the mark; now, the items,
	 * the mark's number. */
	assert_int_equal(fg_rlimit_commit_cmd(&cmd, e->sha[FG_RS_COMMIT],
	    PREFIX, it, 2, T0 + 5, &m), 0);
	assert_int_equal(cmd.argc, 3 + 5 + 3);
	assert_string_equal(cmd.argv[2], "5");
	assert_string_equal(cmd.argv[7], m.key);
	assert_string_equal(cmd.argv[8], "1900000025");
	assert_int_equal(cmd.argvlen[9], 24);
	p = (const unsigned char *)cmd.argv[9];
	for (i = 0; i < 2; i++, p += 12) {
		assert_int_equal(le32(p), strtoul(it[i].member + 1, NULL, 10));
		assert_int_equal(le32(p + 4), it[i].cost);
		assert_int_equal(le32(p + 8), it[i].period);
	}
	assert_string_equal(cmd.argv[10], "7");
	assert_int_equal(fg_rlimit_release_cmd(&cmd, e->sha[FG_RS_RELEASE],
	    PREFIX, it, 2, NULL), 0);
	assert_int_equal(cmd.argc, 3 + 2 + 1);
	assert_int_equal(cmd.argvlen[5], 16);
	p = (const unsigned char *)cmd.argv[5];
	assert_int_equal(le32(p + 8), strtoul(it[1].member + 1, NULL, 10));
	assert_int_equal(le32(p + 12), 3);

	/* Redis takes them: spent in both windows, the mark left. */
	rend_marked(e, &rr, T0 + 5, 1, &m);
	c[0].cost = c[1].cost = 0;
	assert_int_equal(rreserve(e, c, 2, T0 + 6, 600, 1, NULL), FG_RESERVED);
	assert_int_equal(c[0].used, 2);
	assert_int_equal(c[1].used, 3);
	{
		redisReply *r = redisCommand(e->rc, "GET %s", m.key);

		assert_int_equal(r->type, REDIS_REPLY_STRING);
		assert_string_equal(r->str, "7");
		freeReplyObject(r);
	}

	/* Members floodgate never makes, by both builders. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fg_strlcpy(it[1].member, bad[i], sizeof(it[1].member));
		assert_int_equal(fg_rlimit_commit_cmd(&cmd,
		    e->sha[FG_RS_COMMIT], PREFIX, it, 2, T0, NULL), -1);
		assert_int_equal(fg_rlimit_release_cmd(&cmd,
		    e->sha[FG_RS_RELEASE], PREFIX, it, 2, NULL), -1);
	}
	fg_rcmd_free(&cmd);
}

/* Replies of the wrong shape are errors, never decisions. */
static void
test_bad_replies(void **state)
{
	struct fg_check c[2] = { chk("a", "k", 1, 60), chk("b", "k", 1, 60) };
	struct fg_rreq q = { c, 2, -5 };
	long long ok[8] = { T0, 0, 0, 0, 0, 1, 1, 30 };
	long long v[8];
	uint32_t now;

	(void)state;
	assert_int_equal(fg_rlimit_reserve_reply(ok, 8, &q, 1, &now), 0);
	assert_int_equal(q.rc, FG_RESERVED);
	assert_int_equal(now, T0);
	assert_true(c[1].over);
	assert_int_equal(c[1].retry, 30);
	assert_int_equal(fg_rlimit_reserve_reply(ok, 5, &q, 1, &now), FG_RESERVE_ERROR);
	memcpy(v, ok, sizeof(v));
	v[1] = 2;
	assert_int_equal(fg_rlimit_reserve_reply(v, 8, &q, 1, &now), FG_RESERVE_ERROR);
	memcpy(v, ok, sizeof(v));
	v[0] = 0;
	assert_int_equal(fg_rlimit_reserve_reply(v, 8, &q, 1, &now), FG_RESERVE_ERROR);
	memcpy(v, ok, sizeof(v));
	v[6] = -1;
	c[1].used = 77;
	assert_int_equal(fg_rlimit_reserve_reply(v, 8, &q, 1, &now), FG_RESERVE_ERROR);
	assert_int_equal(c[1].used, 77);	/* nothing filled from a bad reply */
	assert_true(fg_rlimit_prefix_ok("floodgate"));
	assert_true(fg_rlimit_prefix_ok("relay-pool_1.example"));
	assert_false(fg_rlimit_prefix_ok(""));
	assert_false(fg_rlimit_prefix_ok("a}b"));
	assert_false(fg_rlimit_prefix_ok("a b"));
	assert_false(fg_rlimit_prefix_ok("0123456789012345678901234567890123"));
}

/* Redis full, a replica, ...: errors that say no write will pass, told
 * from those of one key or one script; the real one of a full Redis to
 * a reserve among them. */
static void
test_refuses_writes(void **state)
{
	struct env *e = *state;
	struct fg_check c = chk("hour", "t1", 10, 3600);
	struct fg_rreq q = { &c, 1, -5 };
	struct fg_rcmd cmd = { 0 };
	redisReply *r;
	char why[200];

	assert_true(fg_rlimit_refuses_writes("READONLY You can't write against a read only replica.", why, sizeof(why)));
	assert_string_equal(why, "refuses writes: READONLY You can't write against a read only replica.");
	assert_true(fg_rlimit_refuses_writes("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.", why, sizeof(why)));
	assert_true(fg_rlimit_refuses_writes("LOADING Redis is loading the dataset in memory", why, sizeof(why)));
	assert_true(fg_rlimit_refuses_writes("MOVED 3999 127.0.0.1:6381", why, sizeof(why)));
	assert_true(fg_rlimit_refuses_writes("NOAUTH Authentication required.", why, sizeof(why)));
	assert_false(fg_rlimit_refuses_writes("NOSCRIPT No matching script. Please use EVAL.", why, sizeof(why)));
	assert_false(fg_rlimit_refuses_writes("WRONGTYPE Operation against a key holding the wrong kind of value", why, sizeof(why)));
	assert_false(fg_rlimit_refuses_writes("ERR Error running script (call to f_0123): @user_script:12: attempt to compare nil with number", why, sizeof(why)));
	assert_false(fg_rlimit_refuses_writes("OOMPH not a code", why, sizeof(why)));
	assert_false(fg_rlimit_refuses_writes("", why, sizeof(why)));
	/* The real thing: a reserve to a full Redis. */
	freeReplyObject(redisCommand(e->rc, "CONFIG SET maxmemory 1"));
	assert_int_equal(fg_rlimit_reserve_cmd(&cmd, e->sha[FG_RS_RESERVE],
	    PREFIX, &q, 1, T0, 600, 0), 0);
	r = redisCommandArgv(e->rc, cmd.argc, cmd.argv, cmd.argvlen);
	fg_rcmd_free(&cmd);
	freeReplyObject(redisCommand(e->rc, "CONFIG SET maxmemory 0"));
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	assert_true(fg_rlimit_refuses_writes(r->str, why, sizeof(why)));
	assert_string_equal(why, "refuses writes: OOM command not allowed when used memory > 'maxmemory'.");
	freeReplyObject(r);
	/* An ACL user refused a command: at the top, and inside a script
	 * (where Redis 7.0 says ERR). */
	assert_true(fg_rlimit_refuses_writes("NOPERM this user has no permissions to run the 'hincrby' command", why, sizeof(why)));
	freeReplyObject(redisCommand(e->rc, "ACL SETUSER fgnohincr on >pw ~* +@all -hincrby"));
	freeReplyObject(redisCommand(e->rc, "AUTH fgnohincr pw"));
	assert_int_equal(fg_rlimit_add_cmd(&cmd, e->sha[FG_RS_ADD], PREFIX,
	    "hour", "acl", 3600, 2, T0, NULL), 0);
	r = redisCommandArgv(e->rc, cmd.argc, cmd.argv, cmd.argvlen);
	fg_rcmd_free(&cmd);
	freeReplyObject(redisCommand(e->rc, "AUTH default any"));
	freeReplyObject(redisCommand(e->rc, "ACL DELUSER fgnohincr"));
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	assert_true(fg_rlimit_refuses_writes(r->str, why, sizeof(why)));
	assert_string_equal(why, "refuses writes: ERR The user executing the script can't run this command or subcommand (ACL LOG in Redis names it)");
	freeReplyObject(r);
	/* Cut to the buffer, never past it. */
	assert_true(fg_rlimit_refuses_writes("OOM command not allowed", why, 10));
	assert_string_equal(why, "refuses w");
}

/* The probe's answer as one line of names, run as ACL user user. */
static void
probe_as(struct env *e, const char *user, char *out, size_t len)
{
	struct fg_rcmd cmd = { 0 };
	redisReply *r;
	size_t i;

	if (user != NULL)
		freeReplyObject(redisCommand(e->rc, "AUTH %s pw", user));
	assert_int_equal(fg_rlimit_probe_cmd(&cmd, e->sha[FG_RS_PROBE], PREFIX), 0);
	r = run(e, &cmd);
	fg_rcmd_free(&cmd);
	if (user != NULL)
		freeReplyObject(redisCommand(e->rc, "AUTH default any"));
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	out[0] = '\0';
	for (i = 0; i < r->elements; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s",
		    i > 0 ? " " : "", r->element[i]->str);
	freeReplyObject(r);
}

/*
 * The probe names the commands of the scripts an ACL user may not run
 * on floodgate's keys, and none for a user that may run them all; every
 * command a script runs is one it checks.
 */
static void
test_probe(void **state)
{
	struct env *e = *state;
	char names[200];
	int s;

	probe_as(e, NULL, names, sizeof(names));
	assert_string_equal(names, "");
/* The ACL command (a literal: hiredis splits it), then the probe. */
#define PROBE_AFTER(acl, user, want) do {				\
	freeReplyObject(redisCommand(e->rc, acl));			\
	probe_as(e, user, names, sizeof(names));			\
	assert_string_equal(names, want);				\
} while (0)
	PROBE_AFTER("ACL SETUSER fgall on >pw ~{" PREFIX "}:* -@all +evalsha +time +get +set +setrange +mget +del +expireat +hgetall +hset +hdel +hincrby",
	    "fgall", "");
	/* A user made before the reserve wrote with SETRANGE, and one that
	 * also lost HDEL and TIME. */
	PROBE_AFTER("ACL SETUSER fgall -setrange", "fgall", "setrange");
	PROBE_AFTER("ACL SETUSER fgall -hdel -time", "fgall", "time setrange hdel");
	/* Every command, but a key pattern that leaves out the windows and
	 * their summaries, and one that lets the marks be read only. */
	PROBE_AFTER("ACL SETUSER fgall +hdel +time +setrange resetkeys ~{" PREFIX "}:probe ~{" PREFIX "}:at:* ~{" PREFIX "}:st:* ~{" PREFIX "}:epoch ~{" PREFIX "}:fb ~{" PREFIX "}:susp ~{" PREFIX "}:pause %%R~{" PREFIX "}:q:*",
	    "fgall", "~w:* ~s:* ~q:*");
	/* Keys of another prefix only, and SETRANGE missing too: every
	 * command on the probe's key is refused, which says nothing of
	 * which commands are missing: all named, and the keys. */
	PROBE_AFTER("ACL SETUSER fgall resetkeys ~{other}:* -setrange", "fgall",
	    "get mget set setrange del expireat hgetall hset hdel hincrby ~*");
	/* The families' keys allowed: only SETRANGE. */
	PROBE_AFTER("ACL SETUSER fgall ~{" PREFIX "}:*", "fgall", "setrange");
#undef PROBE_AFTER
	freeReplyObject(redisCommand(e->rc, "ACL DELUSER fgall"));
	/* Each call('CMD' of every script is among the probe's. */
	for (s = 0; s < FG_RS_COUNT; s++) {
		const char *p = fg_rscript_source((enum fg_rscript)s);

		while ((p = strstr(p, "call('")) != NULL) {
			char want[40];
			size_t n = strcspn(p + 6, "'");

			assert_true(n > 0 && n < 20);
			snprintf(want, sizeof(want), "{'%.*s'", (int)n, p + 6);
			for (size_t i = 0; want[i] != '\0'; i++)
				want[i] = (char)tolower((unsigned char)want[i]);
			if (strstr(fg_rscript_source(FG_RS_PROBE), want) == NULL)
				fail_msg("script %d runs %s, which the probe does not check",
				    s, want + 2);
			p += 6 + n;
		}
	}
}

/* The forget script's answer for field and value of "{PREFIX}:name". */
static long long
forget(struct env *e, const char *name, const char *field, const char *value)
{
	struct fg_rcmd c = { 0 };
	redisReply *r;
	long long n;

	assert_int_equal(fg_rlimit_forget_cmd(&c, e->sha[FG_RS_FORGET], PREFIX,
	    name, field, value), 0);
	r = run(e, &c);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	n = r->integer;
	freeReplyObject(r);
	fg_rcmd_free(&c);
	return n;
}

/* A record is forgotten only while it holds the value it ended with:
 * one another relay set since, or a field never there, is kept. */
static void
test_forget(void **state)
{
	struct env *e = *state;
	redisReply *r;

	freeReplyObject(redisCommand(e->rc, "HSET {" PREFIX "}:susp a@t spam|100|200 b@t x|1|2"));
	/* set anew since: kept */
	assert_int_equal(forget(e, "susp", "a@t", "floodgatectl|50|100"), 0);
	/* as it ended: gone, the other field kept */
	assert_int_equal(forget(e, "susp", "a@t", "spam|100|200"), 1);
	/* not there (any more) */
	assert_int_equal(forget(e, "susp", "a@t", "spam|100|200"), 0);
	r = redisCommand(e->rc, "HGETALL {" PREFIX "}:susp");
	assert_int_equal(r->elements, 2);
	assert_string_equal(r->element[0]->str, "b@t");
	freeReplyObject(r);
	/* a value that reads like the field is not taken for it */
	freeReplyObject(redisCommand(e->rc, "HSET {" PREFIX "}:pause x.jp c.jp c.jp v1"));
	assert_int_equal(forget(e, "pause", "c.jp", "c.jp"), 0);
	r = redisCommand(e->rc, "HLEN {" PREFIX "}:pause");
	assert_int_equal(r->integer, 2);
	freeReplyObject(r);
}

/*
 * The same random sequence of reserves, commits, releases, resets and
 * feedback adds, with periods that change (a reload), through both
 * limiters: every decision, count and retry time is the same.
 */
static void
test_same_as_memory(void **state)
{
	static const char *rules[] = { "hour", "day", "docomo", "burst" };
	static const char *keys[] = { "t1", "t2", "t3/docomo.ne.jp" };
	static const uint32_t periods[] = { 10, 60, 119, 120, 600, 3600, 86400 };
	struct env *e = *state;
	struct fg_resv mr[4] = { { 0 } };
	struct rresv rr[4];
	uint32_t now = T0, period[4];
	unsigned seed = getenv("FG_SEED") ? (unsigned)atoi(getenv("FG_SEED")) : 20261130;
	unsigned step, decisions = 0, refusals = 0, steps = getenv("FG_STEPS") ? (unsigned)atoi(getenv("FG_STEPS")) : 4000;
	size_t i;

	memset(rr, 0, sizeof(rr));
	for (i = 0; i < 4; i++)
		period[i] = periods[i % 7];
	for (step = 0; step < steps; step++) {
		unsigned op = (unsigned)rand_r(&seed) % 100;
		size_t tx = (size_t)rand_r(&seed) % 4;

		now += (uint32_t)rand_r(&seed) % (rand_r(&seed) % 10 == 0 ? 4000 : 40);
		if (op < 60) {
			/* One to three recipients, in one call to Redis. */
			struct fg_check mc[3][4], rc2[3][4];
			struct fg_rreq q[3];
			struct rresv *rrs[3];
			size_t m = 1 + (size_t)rand_r(&seed) % 3, j, k;
			int a[3];

			for (j = 0; j < m; j++) {
				size_t n = 1 + (size_t)rand_r(&seed) % 4;
				size_t t = (tx + j) % 4;

				for (k = 0; k < n; k++) {
					size_t ri = (k + (size_t)rand_r(&seed)) % 4;

					/* One check per rule in a recipient. */
					for (i = 0; i < k; i++)
						if (strcmp(mc[j][i].rule, rules[ri]) == 0)
							break;
					if (i < k) {
						n = k;
						break;
					}
					mc[j][k] = chk(rules[ri], keys[(size_t)rand_r(&seed) % 3],
					    1 + (uint32_t)rand_r(&seed) % 12, period[ri]);
					mc[j][k].cost = rand_r(&seed) % 8 == 0 ? 0 :
					    1 + (uint32_t)rand_r(&seed) % 3;
					mc[j][k].hard = rand_r(&seed) % 6 != 0;
				}
				memcpy(rc2[j], mc[j], sizeof(mc[j]));
				a[j] = fg_limiter_reserve(e->l, mc[j], n, now, &mr[t]);
				q[j].chk = rc2[j];
				q[j].n = n;
				rrs[j] = &rr[t];
			}
			rreserve_batch(e, q, m, now, 100000000, 0, rrs);
			for (j = 0; j < m; j++) {
				assert_int_equal(a[j], q[j].rc);
				for (k = 0; k < q[j].n; k++) {
					struct fg_check *x = &mc[j][k], *y = &rc2[j][k];

					if (x->used != y->used || x->retry != y->retry)
						print_message("step %u recipient %zu of %zu: %s/%s period %u at T0+%u: used %llu/%llu, retry %u/%u (memory/redis)\n",
						    step, j, m, x->rule, x->key, x->period, now - T0,
						    (unsigned long long)x->used, (unsigned long long)y->used,
						    x->retry, y->retry);
					assert_int_equal(x->over, y->over);
					assert_int_equal(x->used, y->used);
					assert_int_equal(x->retry, y->retry);
				}
				decisions++;
				refusals += a[j] == FG_REFUSED;
			}
		} else if (op < 75) {
			fg_limiter_commit(e->l, &mr[tx], now);
			rend(e, &rr[tx], now, 1);
		} else if (op < 88) {
			fg_limiter_release(e->l, &mr[tx]);
			rend(e, &rr[tx], now, 0);
		} else if (op < 93) {
			/* A reload changes a rule's period. */
			size_t ri = (size_t)rand_r(&seed) % 4;

			period[ri] = periods[(size_t)rand_r(&seed) % 7];
		} else if (op < 97) {
			/* Feedback results or a merge: counted at once. */
			size_t ri = (size_t)rand_r(&seed) % 4;
			const char *key = keys[(size_t)rand_r(&seed) % 3];
			uint32_t n = 1 + (uint32_t)rand_r(&seed) % 3;
			struct fg_rcmd c = { 0 };
			redisReply *r;

			assert_int_equal(fg_limiter_add(e->l, rules[ri], key,
			    period[ri], n, now), 0);
			assert_int_equal(fg_rlimit_add_cmd(&c, e->sha[FG_RS_ADD],
			    PREFIX, rules[ri], key, period[ri], n, now, NULL), 0);
			r = run(e, &c);
			freeReplyObject(r);
			fg_rcmd_free(&c);
		} else {
			size_t ri = (size_t)rand_r(&seed) % 4;
			const char *key = keys[(size_t)rand_r(&seed) % 3];
			struct fg_rcmd c = { 0 };
			redisReply *r;

			fg_limiter_reset(e->l, rules[ri], key);
			assert_int_equal(fg_rlimit_reset_cmd(&c, e->sha[FG_RS_RESET],
			    PREFIX, rules[ri],
			    key), 0);
			r = run(e, &c);
			freeReplyObject(r);
			fg_rcmd_free(&c);
		}
	}
	for (i = 0; i < 4; i++) {
		fg_limiter_release(e->l, &mr[i]);
		fg_resv_free(&mr[i]);
	}
	print_message("%u decisions, %u refused, all the same\n", decisions,
	    refusals);
	assert_true(refusals > decisions / 10);
	assert_true(refusals < decisions);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_reserve_commit_refuse, fresh),
		cmocka_unit_test_setup(test_all_or_none, fresh),
		cmocka_unit_test_setup(test_ttl_release, fresh),
		cmocka_unit_test_setup(test_batch, fresh),
		cmocka_unit_test_setup(test_mark, fresh),
		cmocka_unit_test_setup(test_first_format, fresh),
		cmocka_unit_test_setup(test_redis_clock, fresh),
		cmocka_unit_test_setup(test_packed_and_patched, fresh),
		cmocka_unit_test_setup(test_end_packed, fresh),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test_setup(test_refuses_writes, fresh),
		cmocka_unit_test_setup(test_probe, fresh),
		cmocka_unit_test_setup(test_forget, fresh),
		cmocka_unit_test_setup(test_same_as_memory, fresh),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
