/*
 * Hourly counters per account and per destination domain, and the log of
 * refusals, collected in memory by the milter loop and handed to the
 * service thread, which writes them to the store.
 */
#ifndef FG_STATS_H
#define FG_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "sizes.h"

enum fg_stat {
	FG_ST_ACCEPTED,
	FG_ST_DEFERRED,
	FG_ST_REJECTED,
	FG_ST_HELD,
	/* Delivery results from the log (delivery feedback). */
	FG_ST_SENT,
	FG_ST_BOUNCED,		/* bounced or expired */
	FG_ST_UNKNOWN,		/* of which: the recipient does not exist */
	FG_ST_N
};

struct fg_stat_row {
	uint32_t hour;		/* unix time of the hour's start */
	char kind;		/* 'a' account, 'd' destination domain */
	char *name;
	uint32_t v[FG_ST_N];
};

struct fg_event {
	uint32_t time;
	uint32_t used, limit, retry;
	/* 0: one refusal. N: the N refusals of an account past its
	 * FG_EVENTS_PER_MINUTE, folded into one row (the last one's). */
	uint32_t folded;
	char session[FG_SESSION_MAX + 1];
	char queue_id[FG_QID_MAX + 1];
	char account[FG_ACCOUNT_MAX + 1];
	char rule[FG_NAME_MAX + 1];
	char dest[FG_DOMAIN_MAX + 1];
	char action[FG_ACTION_MAX + 1];
};

#define FG_EVENTS_MAX	10000
/* Refusals of one account logged and kept one by one in a minute; the
 * rest are folded into a row a flush, so that a tenant's script that
 * goes on past its limit (thousands a second) cannot fill the disk
 * with the database and the log. */
#define FG_EVENTS_PER_MINUTE	100
/* Accounts whose minute is counted at once; past it, kept one by one. */
#define FG_EVENT_ACCOUNTS_MAX	4096

/* The refusals a row stands for. */
static inline uint32_t
fg_event_count(const struct fg_event *ev)
{
	return ev->folded ? ev->folded : 1;
}

#define FG_RULE_COUNTERS	512

/* Decisions other than a plain accept, by rule and action (metrics). */
struct fg_rule_counter {
	char rule[FG_NAME_MAX + 1];
	char action[FG_ACTION_MAX + 1];
	uint64_t n;
};

struct fg_stats;

struct fg_stats *fg_stats_new(void);
void fg_stats_free(struct fg_stats *s);
void fg_stats_count(struct fg_stats *s, uint32_t now, const char *account,
    const char *domain, enum fg_stat what, uint32_t n);
/* 1: kept one by one (to be logged); 0: folded (see fg_event). */
int fg_stats_event(struct fg_stats *s, const struct fg_event *ev);
int fg_stats_drain(struct fg_stats *s, struct fg_stat_row **rows,
    size_t *nrows, struct fg_event **ev, size_t *nev);
void fg_stats_restore(struct fg_stats *s, struct fg_stat_row *rows,
    size_t nrows, struct fg_event *ev, size_t nev);
void fg_stats_free_rows(struct fg_stat_row *rows, size_t n);
void fg_stats_totals(struct fg_stats *s, uint64_t out[FG_ST_N],
    uint64_t *dropped);
size_t fg_stats_rule_counters(struct fg_stats *s, struct fg_rule_counter *out,
    size_t max);

#endif
