/*
 * The shared store (store redis://...): several relays behind one IP pool
 * decide from the same windows in Redis. See shared.c, shared_ctl.c and
 * shared_stats.c.
 */
#ifndef FG_SHARED_H
#define FG_SHARED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "limiter.h"
#include "rlimit.h"
#include "wkey.h"

struct event_base;

/* The reserve's answer when Redis did not give one in redis_timeout:
 * decide from memory, limits divided by relays. */
#define FG_SHARED_DOWN	(-2)

/*
 * One recipient's reservation in flight. The caller owns it and keeps it
 * (and chk) until done is called: on base's loop, or, with base NULL,
 * by fg_shared_reserve_wait's return. done gets rc FG_RESERVED,
 * FG_REFUSED, FG_RESERVE_ERROR or FG_SHARED_DOWN; with FG_RESERVED the
 * reservations made are in items.
 */
struct fg_sreserve {
	struct fg_check *chk;
	size_t n;
	int rc;
	uint32_t now;			/* Redis's clock at the decision */
	struct fg_ritem *items;		/* n of them, filled on FG_RESERVED */
	size_t nitems;
	struct event_base *base;
	void (*done)(struct fg_sreserve *r);
	void *arg;
	/* private to shared.c */
	atomic_int finished;
};

int fg_shared_prepare(const struct fg_config *c, char *err, size_t errlen);
/* The longest password floodgate reads from redis_password_file. */
#define FG_REDIS_PASSWORD_MAX	511
/* The password file's first line into buf (len: FG_REDIS_PASSWORD_MAX
 * + 1) and its mode; -1 with err when it cannot be read, is empty or
 * is longer than buf. */
int fg_shared_password_read(const char *path, char *buf, size_t len,
    mode_t *mode, char *err, size_t errlen);
/* 1, with the warning in msg, when the password file's mode lets every
 * local user in. */
int fg_shared_password_open(const char *path, mode_t mode, char *msg,
    size_t len);
/* loop: the milter engine's event loop to run on (its thread does all
 * of the store's work), or NULL for a thread and loop of its own. */
int fg_shared_start(const struct fg_config *c, struct event_base *loop,
    char *err, size_t errlen);
void fg_shared_stop(void);
/* Whether Redis answers now (status, metrics, explain). */
int fg_shared_up(void);
/* Configured, and not answering for two seconds or more. */
int fg_shared_failing(uint32_t now);
/* Configured, and not answering yet or any more. */
int fg_shared_waiting(void);
/* "up", "down since ...", for status. */
void fg_shared_state(char *buf, size_t len);
/* redis_timeout anew (a reload): for the reserves and calls sent from
 * now on. */
void fg_shared_set_timeout(uint32_t ms);

/* FG_SHARED_DOWN at once when Redis is known down (done is not
 * called); 1 when done will be. */
int fg_shared_reserve(struct fg_sreserve *r);
/* For threads that may wait (libmilter's): at most redis_timeout. */
int fg_shared_reserve_wait(struct fg_sreserve *r);
/* A transaction's reservations end: spent at now (0: Redis's clock)
 * or given back. Sent in the background; a commit Redis cannot take now
 * is kept and added once it answers again. */
void fg_shared_end(const struct fg_ritem *it, size_t n, int commit,
    uint32_t now);
/* Charged from memory while Redis was down: added to the shared window
 * once it answers again. */
void fg_shared_merge(const char *wkey, uint32_t period, uint32_t n,
    uint32_t when);
/* Commands sent together, waited for at most redis_timeout (not on the
 * milter loop); each reply goes to fn on the store's thread. -1 when
 * Redis is down or late. */
struct redisReply;
int fg_shared_call(struct fg_rcmd *cmd, size_t n,
    void (*fn)(void *arg, size_t i, const struct redisReply *r), void *arg);
/* The service tick: suspensions and pauses shared with the other relays. */
struct fg_blocks;
void fg_shared_sync_blocks(struct fg_blocks *b);
/* A delivery result counted in a feedback window (rule with its
 * companion suffix), for the other relays. */
void fg_shared_fb_publish(const char *rule, const char *key,
    const char *account, uint32_t period, uint32_t n);
struct fg_fbentry {
	char rule[FG_WRULE_MAX + 1];
	char key[FG_KEY_MAX + 1];
	char account[FG_ACCOUNT_MAX + 1];
	uint32_t period, n;
};
/* The other relays' results since the last call (the service tick);
 * free() *out. */
size_t fg_shared_fb_pull(struct fg_fbentry **out);
/* What the shared windows say of chk (nothing charged); -1 down. */
int fg_shared_peek(struct fg_check *chk, size_t n);
/* Each shared window of rule (NULL: any) for account and a destination
 * ("RULE\037ACCOUNT/DOMAIN"); -1 down. */
int fg_shared_windows(const char *rule, const char *account,
    void (*fn)(void *arg, const char *wkey), void *arg);
/* Forgets a shared window now: 1 when it held something, 0, -1 down. */
int fg_shared_reset_now(const char *rule, const char *key);
/* fg_engine's shared_reserve (policy.h). */
int fg_shared_reserve_now(struct fg_limiter *l, struct fg_check *chk,
    size_t n, uint32_t now, struct fg_resv *resv, uint32_t relays);
/* fg_engine's shared_end (policy.h). */
void fg_shared_settle(struct fg_resv *r, int commit, uint32_t now);
/* The keyspace's mark this relay last saw ("epoch"), and its own record
 * in Redis, "ID TIME" ("at"), kept in its database (fg_store_mark_put
 * under the name fg_shared_mark_name gives): seeded before
 * fg_shared_start, read by the service thread (1 when there is one). */
void fg_shared_mark_name(const struct fg_config *c, const char *mark,
    char *buf, size_t len);
void fg_shared_seed_epoch(const char *e);
int fg_shared_epoch(char *buf, size_t len);
void fg_shared_seed_tick(const char *v);
int fg_shared_tick(char *buf, size_t len);
/* The in-memory limiter that keeps this relay's own charges (its
 * fallback while Redis is down, and what it gives back to a Redis that
 * came back empty). */
void fg_shared_shadow(struct fg_limiter *l);
/*
 * This relay's hourly statistics and refusals, as written to its
 * database, added to every relay's in Redis (floodgatectl top for the
 * whole pool); while Redis is down they wait, summed, for it to come
 * back. The service thread's.
 */
struct fg_stat_row;
struct fg_event;
void fg_shared_stats_publish(const struct fg_stat_row *rows, size_t nrows,
    const struct fg_event *ev, size_t nev);
/* What Redis is still owed (an outage's charges, reservations to give
 * back, statistics, transactions that ended after fg_shared_stop) to
 * the database, at stop after the service's last flush; back into
 * memory before fg_shared_start. */
struct fg_store;
void fg_shared_save_pending(struct fg_store *st, const struct fg_config *c);
void fg_shared_load_pending(struct fg_store *st, const struct fg_config *c);
/* Warns of charges the database keeps for another store than c's (or
 * for any, without one) whose windows have not passed by now: they wait
 * for a start with that store. Those whose windows have are dropped. */
void fg_shared_pending_elsewhere(struct fg_store *st,
    const struct fg_config *c, uint32_t now);
/* floodgatectl top from every relay's statistics in Redis (as
 * fg_store_top); -1 down. */
struct fg_top_row;
int fg_shared_top(const char *by, uint32_t since, int limit,
    struct fg_top_row **out, size_t *nout);

#endif
