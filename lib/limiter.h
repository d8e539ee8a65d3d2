/*
 * The decision state behind a small interface: reserve at RCPT, commit at
 * end of message, release on abort. A shared backend (several relays
 * behind one IP pool) would implement these same four calls.
 */
#ifndef FG_LIMITER_H
#define FG_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fg_table;
struct fg_entry;

struct fg_check {
	const char *rule;
	const char *key;
	uint32_t limit;
	uint32_t period;
	uint32_t cost;		/* 0: already paid by this message */
	bool hard;		/* refuses when over; false: tag/log only */
	/* filled in by fg_limiter_reserve */
	bool over;
	uint64_t used;		/* in the window, plus reservations */
	uint32_t retry;		/* seconds, when over */
};

struct fg_resv_item {
	struct fg_entry *entry;
	uint32_t cost;
};

struct fg_ritem;

struct fg_resv {
	struct fg_resv_item *item;
	size_t n, cap;
	/* Reserved in a shared store (rlimit.h), ended by its caller. */
	struct fg_ritem *ritem;
	size_t nr, rcap;
};

enum fg_reserve_result {
	FG_RESERVED = 0,
	FG_REFUSED = 1,
	FG_RESERVE_ERROR = -1
};

struct fg_limiter;

struct fg_limiter *fg_limiter_new(struct fg_table *t);
void fg_limiter_free(struct fg_limiter *l);
struct fg_table *fg_limiter_table(struct fg_limiter *l);
int fg_limiter_reserve(struct fg_limiter *l, struct fg_check *c, size_t n,
    uint32_t now, struct fg_resv *r);
void fg_limiter_commit(struct fg_limiter *l, struct fg_resv *r, uint32_t now);
void fg_limiter_release(struct fg_limiter *l, struct fg_resv *r);
void fg_limiter_peek(struct fg_limiter *l, struct fg_check *c, size_t n,
    uint32_t now);
int fg_limiter_reset(struct fg_limiter *l, const char *rule, const char *key);
/* Counts n in a window at once, with no reservation: delivery results
 * for feedback limits and backoffs. -1 without memory. */
int fg_limiter_add(struct fg_limiter *l, const char *rule, const char *key,
    uint32_t period, uint32_t n, uint32_t now);
void fg_resv_free(struct fg_resv *r);
/* A relay deciding alone for relays sharing a store that does not
 * answer: every limit divided by them, rounded up. */
void fg_checks_share(struct fg_check *c, size_t n, uint32_t relays);

#endif
