/*
 * The shared store's insides, lent by shared.c (the connection to Redis,
 * the reserves, outages) to the two files built on its calls:
 * shared_ctl.c (suspensions and pauses, the feedback stream,
 * floodgatectl's views) and shared_stats.c (the pool's statistics). Not
 * for use outside those three.
 */
#ifndef FG_SHARED_INT_H
#define FG_SHARED_INT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "htab.h"
#include "rlimit.h"

/* The connection's parameters: set at start, read-only after (the
 * strings are freed once the last statistics are out). */
struct shared_conf {
	char *host, *path, *user, *password, prefix[FG_RPREFIX_MAX + 1];
	unsigned port, db;
	uint32_t ttl;
	char url[256];
	char relay[40];			/* this relay in reservation names */
};
extern struct shared_conf shc;

/*
 * Counts kept while Redis is down, summed per name and two numbers: a
 * window's charges per slot and period (replay), reservations to give
 * back per window and bucket (unres), the pool's statistics per hour and
 * kind (the stash).
 */
struct shared_tally {
	struct fg_hnode node;
	uint32_t a, b;
	uint64_t n;
	char name[];
};

/* Adds n to (name, a, b) in t; -1 when it is not kept (t holds max
 * already, or no memory). */
int shared_tally_add(struct fg_htab *t, size_t max, const char *name,
    uint32_t a, uint32_t b, uint64_t n);
void shared_tally_clear(struct fg_htab *t);

/* One command for the store's thread, its answer ignored (errors
 * logged, once a second at most). */
void shared_raw(int argc, const char *const *argv);
/* A script's SHA1, as Redis loaded it. */
const char *shared_sha(enum fg_rscript s);
/* 1 once after each connect: this relay's suspensions and pauses go in
 * where the store has none; _again when they could not be sent. */
int shared_resync_take(void);
void shared_resync_again(void);
/* Whether r says Redis lost floodgate's scripts (they are loaded again;
 * the store's thread only). */
int shared_noscript(const redisReply *r);
/* fg_shared_call's fn for one integer reply: *(long long *)arg, -1 for
 * another reply. */
void shared_on_integer(void *arg, size_t i, const redisReply *r);

/* shared_ctl.c: SCAN (hash NULL) or HSCAN to the end, a thousand a
 * call, page() given each call's elements; at most max_calls calls (0:
 * no bound). -1 when a call fails, a reply is not a page, or page()
 * returns -1. */
int shared_scan(const char *hash, const char *match, int max_calls,
    int (*page)(void *arg, const redisReply *els), void *arg);

/*
 * shared_stats.c: what a relay counts for the pool's statistics while
 * Redis is down (the service thread's), summed per hash and field,
 * goes with the first flush after it is back: the pool's top counts the
 * outage too. Bounded: past SHARED_STASH_MAX fields the rest is
 * dropped, and said. Kept in the database across a stop with the rest
 * of what Redis is owed.
 */
#define SHARED_STASH_MAX	100000
extern struct fg_htab shared_stash;	/* name: field, a: hour, b: kind */
extern uint64_t shared_stash_dropped;
/* The last statistics at a clean stop, on a connection of their own
 * when Redis answered then (up_at_stop). */
void shared_final_stats(int up_at_stop);

#endif
