/*
 * fgrscript: floodgate's Lua scripts for the shared store, for make
 * bench.
 *
 *   fgrscript reserve | commit | release | add | reset | probe | forget
 *	prints that script.
 *   fgrscript call PORT RECIPIENTS CALLS
 *	loads the reserve script into the redis-server on 127.0.0.1:PORT
 *	and sends it CALLS reserves of RECIPIENTS recipients each, built
 *	as floodgate builds them (fg_rlimit_reserve_cmd): the sample
 *	rules' three windows per recipient (1m, 1h, 1d), accounts drawn
 *	from 1,000, 16 calls in flight. Redis's own time a call is then in
 *	INFO commandstats (evalsha).
 *   fgrscript message PORT MESSAGES
 *	a message of one recipient as an MTA sends most of them: the
 *	reserve (the same windows and accounts as call), then, on its
 *	answer, the commit of its reservations with a mark, as floodgate
 *	sends them; one message at a time. Redis's time a message is then
 *	twice evalsha's time a call in INFO commandstats.
 *   fgrscript calls PORT
 *	what Redis's SLOWLOG holds of floodgate's script calls (run with
 *	slowlog-log-slower-than 0), per script: calls, median and mean
 *	microseconds a call and, for the reserve, recipients a call.
 *	The SLOWLOG times a call inside Redis, its own commands included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>

#include "limiter.h"
#include "rlimit.h"
#include "wkey.h"

static const char *const names[FG_RS_COUNT] = {
	[FG_RS_RESERVE] = "reserve", [FG_RS_COMMIT] = "commit",
	[FG_RS_RELEASE] = "release", [FG_RS_ADD] = "add",
	[FG_RS_RESET] = "reset", [FG_RS_PROBE] = "probe",
	[FG_RS_FORGET] = "forget",
};

#define DEPTH		16
#define RCPT_MAX	64

static int
reply_ok(redisReply *r)
{
	int ok = r != NULL && r->type != REDIS_REPLY_ERROR;

	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		fprintf(stderr, "fgrscript: redis: %s\n", r->str);
	freeReplyObject(r);
	return ok;
}

/* SCRIPT LOAD of script s; its SHA1 in sha (41 bytes). */
static int
load_script(redisContext *rc, enum fg_rscript s, char *sha)
{
	redisReply *r = redisCommand(rc, "SCRIPT LOAD %s",
	    fg_rscript_source(s));

	if (r == NULL || r->type != REDIS_REPLY_STRING || r->len != 40) {
		(void)reply_ok(r);
		fprintf(stderr, "fgrscript: SCRIPT LOAD of %s failed\n",
		    names[s]);
		return -1;
	}
	memcpy(sha, r->str, 41);
	freeReplyObject(r);
	return 0;
}

static const char *const rule[3] = { "burst", "hour", "day" };
static const uint32_t period[3] = { 60, 3600, 86400 };

/* A recipient's checks: the sample rules' three windows for an account
 * drawn from 1,000, with limits nothing reaches. */
static void
recipient(struct fg_check *chk, char *key, size_t len, struct fg_rreq *req)
{
	int j;

	snprintf(key, len, "a%ld", random() % 1000);
	for (j = 0; j < 3; j++)
		chk[j] = (struct fg_check){ .rule = rule[j], .key = key,
		    .limit = 100000000, .period = period[j], .cost = 1,
		    .hard = true };
	*req = (struct fg_rreq){ .chk = chk, .n = 3 };
}

static int
call(int port, int rcpts, long calls)
{
	struct fg_check chk[RCPT_MAX][3];
	struct fg_rreq req[RCPT_MAX];
	char key[RCPT_MAX][16], sha[41];
	redisContext *rc = redisConnect("127.0.0.1", port);
	redisReply *r;
	struct fg_rcmd c;
	long sent = 0, got = 0;
	int i;

	if (rc == NULL || rc->err) {
		fprintf(stderr, "fgrscript: cannot connect to 127.0.0.1:%d\n",
		    port);
		return 1;
	}
	if (load_script(rc, FG_RS_RESERVE, sha) < 0) {
		redisFree(rc);
		return 1;
	}
	memset(&c, 0, sizeof(c));
	srandom(1);
	while (got < calls) {
		while (sent < calls && sent - got < DEPTH) {
			for (i = 0; i < rcpts; i++)
				recipient(chk[i], key[i], sizeof(key[i]),
				    &req[i]);
			if (fg_rlimit_reserve_cmd(&c, sha, "floodgate", req,
			    (size_t)rcpts, 0, 600, 0) < 0 ||
			    redisAppendCommandArgv(rc, c.argc, c.argv,
			    c.argvlen) != REDIS_OK) {
				fprintf(stderr, "fgrscript: cannot build a call\n");
				return 1;
			}
			sent++;
		}
		if (redisGetReply(rc, (void **)&r) != REDIS_OK ||
		    !reply_ok(r)) {
			fprintf(stderr, "fgrscript: the reserve failed\n");
			return 1;
		}
		got++;
	}
	fg_rcmd_free(&c);
	redisFree(rc);
	return 0;
}

/* One call and its reply, which must be an array (a reserve) or
 * anything but an error (a commit); NULL when it failed. */
static redisReply *
roundtrip(redisContext *rc, const struct fg_rcmd *c, int array)
{
	redisReply *r = redisCommandArgv(rc, c->argc,
	    (const char **)c->argv, c->argvlen);

	if (r == NULL || r->type == REDIS_REPLY_ERROR ||
	    (array && r->type != REDIS_REPLY_ARRAY)) {
		(void)reply_ok(r);
		return NULL;
	}
	return r;
}

static int
message(int port, long messages)
{
	struct fg_check chk[3];
	struct fg_rreq req;
	struct fg_ritem it[3];
	struct fg_rmark m = { "{floodgate}:q:fgrscript.1.1", 0 };
	char key[16], sha[2][41];
	redisContext *rc = redisConnect("127.0.0.1", port);
	redisReply *r;
	struct fg_rcmd c;
	long long v[1 + 1 + 3 * 3];
	uint32_t now;
	long k;
	size_t i;
	int j;

	if (rc == NULL || rc->err) {
		fprintf(stderr, "fgrscript: cannot connect to 127.0.0.1:%d\n",
		    port);
		return 1;
	}
	if (load_script(rc, FG_RS_RESERVE, sha[0]) < 0 ||
	    load_script(rc, FG_RS_COMMIT, sha[1]) < 0) {
		redisFree(rc);
		return 1;
	}
	memset(&c, 0, sizeof(c));
	srandom(1);
	for (k = 0; k < messages; k++) {
		recipient(chk, key, sizeof(key), &req);
		if (fg_rlimit_reserve_cmd(&c, sha[0], "floodgate", &req, 1, 0,
		    600, 0) < 0 || (r = roundtrip(rc, &c, 1)) == NULL)
			goto fail;
		for (i = 0; i < r->elements && i < sizeof(v) / sizeof(v[0]);
		    i++)
			v[i] = r->element[i]->integer;
		j = fg_rlimit_reserve_reply(v, r->elements, &req, 1, &now);
		freeReplyObject(r);
		if (j < 0 || req.rc != FG_RESERVED)
			goto fail;
		for (j = 0; j < 3; j++) {
			if (fg_wkey_join(rule[j], key, it[j].wkey,
			    sizeof(it[j].wkey)) < 0)
				goto fail;
			fg_rlimit_bucket(now, 600, it[j].member,
			    sizeof(it[j].member));
			it[j].cost = 1;
			it[j].period = period[j];
		}
		m.seq = (uint64_t)k + 1;
		if (fg_rlimit_commit_cmd(&c, sha[1], "floodgate", it, 3, 0,
		    &m) < 0 || (r = roundtrip(rc, &c, 0)) == NULL)
			goto fail;
		freeReplyObject(r);
	}
	fg_rcmd_free(&c);
	redisFree(rc);
	return 0;
fail:
	fprintf(stderr, "fgrscript: message %ld failed\n", k + 1);
	fg_rcmd_free(&c);
	redisFree(rc);
	return 1;
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* An argument's count as SLOWLOG keeps them: at most 32, the last one
 * then "... (N more arguments)". */
static long
slow_argc(const redisReply *a)
{
	const redisReply *l;
	long more;

	if (a->elements == 0)
		return 0;
	l = a->element[a->elements - 1];
	if (l->type == REDIS_REPLY_STRING &&
	    sscanf(l->str, "... (%ld more arguments)", &more) == 1)
		return (long)a->elements - 1 + more;
	return (long)a->elements;
}

static int
calls(int port)
{
	char sha[FG_RS_COUNT][41];
	long long *us[FG_RS_COUNT] = { 0 };
	size_t n[FG_RS_COUNT] = { 0 }, i;
	double rcpts = 0;
	redisContext *rc = redisConnect("127.0.0.1", port);
	redisReply *r;
	int s;

	if (rc == NULL || rc->err) {
		fprintf(stderr, "fgrscript: cannot connect to 127.0.0.1:%d\n",
		    port);
		return 1;
	}
	for (s = 0; s < FG_RS_COUNT; s++)
		if (load_script(rc, (enum fg_rscript)s, sha[s]) < 0) {
			redisFree(rc);
			return 1;
		}
	r = redisCommand(rc, "SLOWLOG GET -1");
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		(void)reply_ok(r);
		fprintf(stderr, "fgrscript: SLOWLOG GET failed\n");
		redisFree(rc);
		return 1;
	}
	for (s = 0; s < FG_RS_COUNT; s++)
		us[s] = calloc(r->elements + 1, sizeof(*us[s]));
	for (i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i], *a;
		long nk;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 ||
		    (a = e->element[3])->type != REDIS_REPLY_ARRAY ||
		    a->elements < 3 || strcasecmp(a->element[0]->str, "evalsha") != 0)
			continue;
		for (s = 0; s < FG_RS_COUNT; s++)
			if (us[s] != NULL && strcmp(a->element[1]->str, sha[s]) == 0)
				break;
		if (s == FG_RS_COUNT)
			continue;
		us[s][n[s]++] = e->element[2]->integer;
		nk = atol(a->element[2]->str);
		/* EVALSHA sha numkeys, the keys, now ttl peek, then one
		 * argument a recipient. */
		if (s == FG_RS_RESERVE)
			rcpts += (double)(slow_argc(a) - 6 - nk);
	}
	for (s = 0; s < FG_RS_COUNT; s++) {
		long long sum = 0;

		if (us[s] == NULL || n[s] == 0) {
			free(us[s]);
			continue;
		}
		qsort(us[s], n[s], sizeof(*us[s]), cmp_ll);
		for (i = 0; i < n[s]; i++)
			sum += us[s][i];
		printf("script=%s calls=%zu median_us=%lld mean_us=%.1f",
		    names[s], n[s], us[s][n[s] / 2],
		    (double)sum / (double)n[s]);
		if (s == FG_RS_RESERVE)
			printf(" rcpts_per_call=%.1f us_per_rcpt=%.1f",
			    rcpts / (double)n[s], (double)sum / rcpts);
		printf("\n");
		free(us[s]);
	}
	freeReplyObject(r);
	redisFree(rc);
	return 0;
}

int
main(int argc, char **argv)
{
	int i;

	if (argc == 5 && strcmp(argv[1], "call") == 0) {
		int port = atoi(argv[2]), n = atoi(argv[3]);
		long calls = atol(argv[4]);

		if (port <= 0 || port > 65535 || n < 1 || n > RCPT_MAX ||
		    calls < 1) {
			fprintf(stderr, "fgrscript: call PORT RECIPIENTS(1-%d) CALLS\n",
			    RCPT_MAX);
			return 2;
		}
		return call(port, n, calls);
	}
	if (argc == 4 && strcmp(argv[1], "message") == 0) {
		int port = atoi(argv[2]);
		long messages = atol(argv[3]);

		if (port <= 0 || port > 65535 || messages < 1) {
			fprintf(stderr, "fgrscript: message PORT MESSAGES\n");
			return 2;
		}
		return message(port, messages);
	}
	if (argc == 3 && strcmp(argv[1], "calls") == 0) {
		int port = atoi(argv[2]);

		if (port <= 0 || port > 65535) {
			fprintf(stderr, "fgrscript: calls PORT\n");
			return 2;
		}
		return calls(port);
	}
	for (i = 0; argc == 2 && i < FG_RS_COUNT; i++)
		if (strcmp(argv[1], names[i]) == 0) {
			fputs(fg_rscript_source((enum fg_rscript)i), stdout);
			return 0;
		}
	fprintf(stderr, "usage: fgrscript reserve|commit|release|add|reset|probe|forget\n"
	    "       fgrscript call PORT RECIPIENTS CALLS\n"
	    "       fgrscript message PORT MESSAGES\n"
	    "       fgrscript calls PORT\n");
	return 2;
}
