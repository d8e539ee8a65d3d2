/*
 * fgrscript: floodgate's Lua scripts for the shared store, for make
 * bench.
 *
 *   fgrscript reserve | commit | release | add | reset | probe
 *	prints that script.
 *   fgrscript call PORT RECIPIENTS CALLS
 *	loads the reserve script into the redis-server on 127.0.0.1:PORT
 *	and sends it CALLS reserves of RECIPIENTS recipients each, built
 *	as floodgate builds them (fg_rlimit_reserve_cmd): the sample
 *	rules' three windows per recipient (1m, 1h, 1d), accounts drawn
 *	from 1,000, 16 calls in flight. Redis's own time a call is then in
 *	INFO commandstats (evalsha).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "limiter.h"
#include "rlimit.h"

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

static int
call(int port, int rcpts, long calls)
{
	static const char *const rule[3] = { "burst", "hour", "day" };
	static const uint32_t period[3] = { 60, 3600, 86400 };
	struct fg_check chk[RCPT_MAX][3];
	struct fg_rreq req[RCPT_MAX];
	char key[RCPT_MAX][16], sha[41];
	const char *src = fg_rscript_source(FG_RS_RESERVE);
	redisContext *rc = redisConnect("127.0.0.1", port);
	redisReply *r;
	struct fg_rcmd c;
	long sent = 0, got = 0;
	int i, j;

	if (rc == NULL || rc->err) {
		fprintf(stderr, "fgrscript: cannot connect to 127.0.0.1:%d\n",
		    port);
		return 1;
	}
	r = redisCommand(rc, "SCRIPT LOAD %s", src);
	if (r == NULL || r->type != REDIS_REPLY_STRING || r->len != 40) {
		(void)reply_ok(r);
		fprintf(stderr, "fgrscript: SCRIPT LOAD failed\n");
		return 1;
	}
	memcpy(sha, r->str, 41);
	freeReplyObject(r);
	memset(&c, 0, sizeof(c));
	srandom(1);
	while (got < calls) {
		while (sent < calls && sent - got < DEPTH) {
			for (i = 0; i < rcpts; i++) {
				snprintf(key[i], sizeof(key[i]), "a%ld",
				    random() % 1000);
				for (j = 0; j < 3; j++)
					chk[i][j] = (struct fg_check){
						.rule = rule[j], .key = key[i],
						.limit = 100000000,
						.period = period[j],
						.cost = 1, .hard = true };
				req[i] = (struct fg_rreq){ .chk = chk[i], .n = 3 };
			}
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

int
main(int argc, char **argv)
{
	static const char *const names[FG_RS_COUNT] = {
		[FG_RS_RESERVE] = "reserve", [FG_RS_COMMIT] = "commit",
		[FG_RS_RELEASE] = "release", [FG_RS_ADD] = "add",
		[FG_RS_RESET] = "reset", [FG_RS_PROBE] = "probe",
	};
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
	for (i = 0; argc == 2 && i < FG_RS_COUNT; i++)
		if (strcmp(argv[1], names[i]) == 0) {
			fputs(fg_rscript_source((enum fg_rscript)i), stdout);
			return 0;
		}
	fprintf(stderr, "usage: fgrscript reserve|commit|release|add|reset|probe\n"
	    "       fgrscript call PORT RECIPIENTS CALLS\n");
	return 2;
}
