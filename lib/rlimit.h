/*
 * The shared limiter's Redis side: the Lua scripts that reserve, commit,
 * release, peek, add and reset, the commands that call them and the
 * reading of their replies. No I/O here: the daemon sends the commands
 * on its own connection, the tests on theirs.
 */
#ifndef FG_RLIMIT_H
#define FG_RLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "limiter.h"
#include "sizes.h"

/*
 * Every key of one installation starts with "{PREFIX}:", one hash tag:
 * on Redis Cluster they all live in one slot, so that a recipient's
 * checks are reserved all or none by one script.
 */
#define FG_RPREFIX_MAX	32
#define FG_RKEY_MAX	(FG_RPREFIX_MAX + 5 + FG_WKEY_MAX)
/* A reservation's name: unique per relay and reserve call. */
#define FG_RMEMBER_MAX	64

enum fg_rscript {
	FG_RS_RESERVE,
	FG_RS_COMMIT,
	FG_RS_RELEASE,
	FG_RS_ADD,
	FG_RS_RESET,
	FG_RS_PROBE,
	FG_RS_FORGET,
	FG_RS_COUNT
};

/* The script's source, for SCRIPT LOAD; Redis answers with the SHA1
 * that EVALSHA names it by (40 hex digits). */
const char *fg_rscript_source(enum fg_rscript s);
#define FG_RSHA_LEN	40

/*
 * One command: argc strings with their lengths, all in one allocation.
 * fg_rcmd_free releases it.
 */
struct fg_rcmd {
	int argc;
	const char **argv;
	size_t *argvlen;
	char *buf;
	size_t buflen, bufcap;
	int cap;
};

void fg_rcmd_free(struct fg_rcmd *c);

/* One reservation made in Redis: which window, in which bucket
 * (fg_rlimit_bucket: the hash field that counts it). */
struct fg_ritem {
	char wkey[FG_WKEY_MAX + 1];
	char member[FG_RMEMBER_MAX + 1];
	uint32_t cost;
	uint32_t period;
};

/* One recipient's checks in a reserve; rc is filled from the reply. */
struct fg_rreq {
	struct fg_check *chk;
	size_t n;
	int rc;				/* FG_RESERVED or FG_REFUSED */
};

/*
 * EVALSHA of the reserve script for k recipients, each decided as if
 * alone, in order (peek: charge nothing). now 0: Redis's own clock
 * (TIME), the one every relay shares. ttl: seconds a reservation lives
 * if its transaction never ends (in bucket fg_rlimit_bucket(now, ttl),
 * now as the reply says). -1 when a key does not fit, or a recipient
 * has no check or more than 255.
 */
int fg_rlimit_reserve_cmd(struct fg_rcmd *c, const char *sha,
    const char *prefix, const struct fg_rreq *req, size_t k, uint32_t now,
    uint32_t ttl, int peek);
/* The bucket a reservation made at now is counted in: "rX", X when it
 * lapses (now + ttl, rounded up to a tenth of ttl). */
void fg_rlimit_bucket(uint32_t now, uint32_t ttl, char *out, size_t len);
/*
 * Reads the reserve script's reply: an array of integers, {now, then
 * per recipient: refused, then over, used, retry per check}. Fills the
 * checks and each rc, *now with the clock the script used; returns 0,
 * or FG_RESERVE_ERROR (nothing filled) when the reply is not of that
 * shape.
 */
int fg_rlimit_reserve_reply(const long long *v, size_t nv,
    struct fg_rreq *req, size_t k, uint32_t *now);

/*
 * A call that changes windows may leave its number in a key of its own
 * connection when Redis applies it ("SET key seq EX 86400", in the same
 * script): the calls of one connection are applied in order, so once
 * the connection is lost, the key says which of those whose answers
 * never came were applied (seq up to its value) and which were not.
 * NULL: none left.
 */
struct fg_rmark {
	const char *key;
	uint64_t seq;
};

/* Commit (spend, now 0: Redis's clock) or release n reservations. */
int fg_rlimit_commit_cmd(struct fg_rcmd *c, const char *sha,
    const char *prefix, const struct fg_ritem *it, size_t n, uint32_t now,
    const struct fg_rmark *m);
int fg_rlimit_release_cmd(struct fg_rcmd *c, const char *sha,
    const char *prefix, const struct fg_ritem *it, size_t n,
    const struct fg_rmark *m);
/* Counts n in a window at once, no reservation (feedback, a merge). */
int fg_rlimit_add_cmd(struct fg_rcmd *c, const char *sha,
    const char *prefix, const char *rule, const char *key, uint32_t period, uint32_t n,
    uint32_t now, const struct fg_rmark *m);
/* Forgets what a window counts (reservations in flight stay). */
int fg_rlimit_reset_cmd(struct fg_rcmd *c, const char *sha,
    const char *prefix, const char *rule, const char *key);
/* VERB "{prefix}:name" [field [value]]: the shared blocks' hashes
 * (HSET, HSETNX, HDEL, HGETALL). */
int fg_rlimit_hash_cmd(struct fg_rcmd *c, const char *verb,
    const char *prefix, const char *name, const char *field,
    const char *value);
/* Deletes field of "{prefix}:name" only while it still holds value (a
 * record this relay saw end, which another relay may have set anew
 * since: that one is kept). Redis answers 1 when it deleted. */
int fg_rlimit_forget_cmd(struct fg_rcmd *c, const char *sha,
    const char *prefix, const char *name, const char *field,
    const char *value);
/* Any command from its words. */
int fg_rcmd_build(struct fg_rcmd *c, int argc, const char *const *argv);
/* The commands the scripts run that the connection's ACL user may not
 * run on floodgate's keys, and the families of keys it may not read or
 * write (Redis answers a list: the commands' names, then "~" and each
 * family, "~*" when no command could run on floodgate's keys at all;
 * empty when all is allowed, or before Redis 7, which cannot tell).
 * Redis's own refusal, inside a script or of a script's keys, does not
 * name the command or the key; this does, at connect. */
int fg_rlimit_probe_cmd(struct fg_rcmd *c, const char *sha,
    const char *prefix);
/* SCRIPT LOAD of one script. */
int fg_rlimit_load_cmd(struct fg_rcmd *c, enum fg_rscript s);

/* Keeps n shared reservations in a transaction's r; -1 without memory. */
int fg_resv_add_ritems(struct fg_resv *r, const struct fg_ritem *it, size_t n);

/* Whether Redis's error err says it takes no writes at all now,
 * whatever the key: full (maxmemory under noeviction), a replica, a
 * failed snapshot (stop-writes-on-bgsave-error), loading, a script
 * running too long, a cluster that moved the slot, a password or ACL
 * (an ACL user refused a command or key, in a script or not).
 * why: "refuses writes: " and the message without a script's
 * position (for a command refused inside a script, a pointer to Redis's
 * ACL LOG, which names it). */
int fg_rlimit_refuses_writes(const char *err, char *why, size_t len);

/* Whether prefix is usable in a hash tag: 1 to FG_RPREFIX_MAX bytes of
 * letters, digits, '-', '_', '.'. */
int fg_rlimit_prefix_ok(const char *prefix);

#endif
