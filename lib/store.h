/*
 * The SQLite file: window state (so that a restart keeps the counts),
 * hourly statistics, and the log of refusals. Only the service thread
 * writes; floodgatectl may read it while the daemon is down.
 */
#ifndef FG_STORE_H
#define FG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "blocks.h"
#include "stats.h"
#include "table.h"

#define FG_SCHEMA_VERSION	11

struct fg_store;

enum fg_store_probe {
	FG_STORE_OK = 0,
	FG_STORE_CORRUPT = 1,
	FG_STORE_UNUSABLE = -1
};

/* A message on hold: its recipients' domains, one per recipient, comma
 * separated, are what its release is charged for. */
struct fg_held_row {
	char queue_id[FG_QID_MAX + 1];
	uint32_t time;
	char account[FG_ACCOUNT_MAX + 1];
	char rule[FG_NAME_MAX + 1];
	uint32_t recipients;
	char *domains;
	uint32_t planned;	/* its release planned then (0: not), kept
				 * across a restart of floodgate */
};

struct fg_top_row {
	char name[FG_ACCOUNT_MAX + 1];	/* an account, domain or rule */
	uint64_t v[FG_ST_N];	/* accepted, deferred, rejected, held, sent,
				 * bounced, unknown */
};

/* How long a statement waits for another process's lock on the file
 * before it fails (SQLite's busy timeout), unless fg_store_set_wait
 * says otherwise. */
#define FG_STORE_WAIT_MS	2000

struct fg_store *fg_store_open(const char *path, int readonly, char *err,
    size_t errlen);
void fg_store_set_wait(struct fg_store *s, int ms);
void fg_store_close(struct fg_store *s);
int fg_store_load(struct fg_store *s, struct fg_table *t, uint32_t now,
    size_t *loaded, char *err, size_t errlen);
int fg_store_flush(struct fg_store *s, const struct fg_entry_copy *c,
    size_t n, const struct fg_stat_row *rows, size_t nrows,
    const struct fg_event *ev, size_t nev, char *err, size_t errlen);
/* Gives back the page cache's unused memory (after idle state went). */
void fg_store_release_memory(struct fg_store *s);
int fg_store_maintain(struct fg_store *s, uint32_t now, char *err,
    size_t errlen);
int fg_store_top(struct fg_store *s, const char *by, uint32_t since,
    int limit, struct fg_top_row **out, size_t *nout, char *err,
    size_t errlen);
int fg_store_events(struct fg_store *s, const char *account, int limit,
    struct fg_event **out, size_t *nout, char *err, size_t errlen);
int fg_store_held(struct fg_store *s, const char *account,
    struct fg_held_row **out, size_t *nout, char *err, size_t errlen);
int fg_store_held_add(struct fg_store *s, const struct fg_held_row *h,
    char *err, size_t errlen);
int fg_store_held_done(struct fg_store *s, const char *qid, uint32_t now,
    const char *outcome, char *err, size_t errlen);
/* The open row of one queue ID: 1 (*h filled; free h->domains), 0 none. */
int fg_store_held_find(struct fg_store *s, const char *qid,
    struct fg_held_row *h, char *err, size_t errlen);
/* An open held message's release planned at `when` (0: no longer
 * planned); fg_store_held_mark writes n of them in one transaction,
 * all or none. */
struct fg_held_mark {
	const char *queue_id;
	uint32_t when;
};
int fg_store_held_mark(struct fg_store *s, const struct fg_held_mark *m,
    size_t n, char *err, size_t errlen);
void fg_store_held_free(struct fg_held_row *h, size_t n);
/* How many messages are on hold now, and since when the oldest (0:
 * none). */
int fg_store_on_hold(struct fg_store *s, uint64_t *n, uint32_t *oldest,
    char *err, size_t errlen);
int fg_store_probe(const char *path, char *err, size_t errlen);

/* Delivery feedback (fbstore.c). */

/* A message floodgate charged: whose it is, for the delivery log. */
struct fg_qid_row {
	char qid[FG_QID_MAX + 1];
	char account[FG_ACCOUNT_MAX + 1];
	uint32_t time;
	int notice;		/* the MTA's notice about another message */
};

int fg_store_qids_add(struct fg_store *s, const struct fg_qid_row *r,
    size_t n, char *err, size_t errlen);
/* 1 and the account (and whether qid is a notice) when floodgate
 * charged or followed qid, 0 when not, -1 on an error. */
int fg_store_qid(struct fg_store *s, const char *qid,
    char account[FG_ACCOUNT_MAX + 1], int *notice);
int fg_store_qids_prune(struct fg_store *s, uint32_t before, char *err,
    size_t errlen);

/* Where the follower of the delivery log was. */
struct fg_follow_pos {
	uint64_t inode, offset;
	char head[513];		/* the file's first bytes, as hex: a new file */
	char cursor[512];	/* the journal's */
};

int fg_store_follow_get(struct fg_store *s, const char *source,
    struct fg_follow_pos *p);
int fg_store_follow_put(struct fg_store *s, const char *source,
    const struct fg_follow_pos *p, char *err, size_t errlen);

/* A mark of another store (name -> value): 1 found, 0 none, -1 an
 * error. */
int fg_store_mark_get(struct fg_store *s, const char *name, char *value,
    size_t len);
int fg_store_mark_put(struct fg_store *s, const char *name,
    const char *value, char *err, size_t errlen);

/*
 * What a relay still owed the shared store (its URL and prefix) when it
 * stopped: kind 'c' a charge of an outage (name a window, a its slot, b
 * its period), 'u' a reservation to give back (a its bucket), 's' a
 * statistic (a its hour, b its kind); n how many. Saved rows are summed
 * with any already there; take hands each to fn once and deletes them
 * (the number taken, or -1).
 */
struct fg_pending {
	char kind;
	const char *name;
	uint32_t a, b;
	uint64_t n;
};
int fg_store_pending_save(struct fg_store *s, const char *store,
    const struct fg_pending *p, size_t n, char *err, size_t errlen);
int fg_store_pending_take(struct fg_store *s, const char *store,
    void (*fn)(void *arg, const struct fg_pending *p), void *arg, char *err,
    size_t errlen);
/* Charges kept for stores other than store (NULL: any): those whose
 * window has passed by now are dropped (they count nowhere any more);
 * fn once for each store with some left, with how many and when the
 * last of their windows passes. 0, or -1. */
int fg_store_pending_others(struct fg_store *s, const char *store,
    uint32_t now, void (*fn)(void *arg, const char *other, long long rows,
    long long until), void *arg, char *err, size_t errlen);

int fg_store_blocks_save(struct fg_store *s, const struct fg_suspension *su,
    size_t ns, const struct fg_pause *pa, size_t np, char *err,
    size_t errlen);
int fg_store_blocks_load(struct fg_store *s, struct fg_suspension **su,
    size_t *ns, struct fg_pause **pa, size_t *np, char *err, size_t errlen);

/* An incident: something delivery feedback or the store did that a
 * person is told of once when it starts and once when it ends. */
struct fg_incident {
	int64_t id;			/* 0: not stored yet */
	char kind[16];			/* suspend, bounces, pause, store, refused */
	char subject[FG_ACCOUNT_MAX + FG_NAME_MAX + 2];
	uint32_t started, ended;	/* ended 0: open */
	uint64_t count;
	char detail[1024];		/* top destinations, rules: for people */
	int notified;			/* 1 start passed, 2 end too */
	int told;			/* FG_TOLD_*: whom a notification
					 * went to; -1 not recorded (a row
					 * from before schema 10) */
};
/* Of an incident's start and end, those a notification told of: a
 * start or end passed with no notify target that wants its kind, or
 * ended untold, is passed (notified) but not told. */
#define FG_TOLD_START	1
#define FG_TOLD_END	2
/* Its FG_TOLD_* bits; a row from before schema 10 (told -1) as those
 * floodgates showed it: told as far as it was passed. */
int fg_incident_told(const struct fg_incident *i);

int fg_store_incident_save(struct fg_store *s, struct fg_incident *i,
    char *err, size_t errlen);
/* The incidents still owed (open, or not told of their end) the daemon
 * takes up at its start, and the open ones floodgatectl incidents lists
 * past its newest 1000: the same bound, so every open incident the
 * daemon tracks can be listed. */
#define FG_INCIDENTS_OWED_MAX	10000

/* Incidents that started or ended since, or are open (open 0), newest
 * first; open ones (1), oldest first; open ones and those people were
 * not told the end of (2), newest first. */
int fg_store_incidents(struct fg_store *s, int open, uint32_t since,
    int limit, struct fg_incident **out, size_t *nout, char *err,
    size_t errlen);
/* Incidents still owed past the newest keep: ended now, told to nobody,
 * why added to their detail. How many, or -1. */
int fg_store_incidents_untrack(struct fg_store *s, int keep, uint32_t now,
    const char *why, char *err, size_t errlen);
/* Open ones older than (started, id), newest first. */
int fg_store_incidents_open_before(struct fg_store *s, uint32_t started,
    int64_t id, int limit, struct fg_incident **out, size_t *nout, char *err,
    size_t errlen);
int fg_store_set_aside(const char *path, uint32_t now, char *aside, size_t len);

/* What is at the path s was opened on: the file s has open, nothing
 * (removed while in use), or another file (replaced). */
enum fg_store_place {
	FG_STORE_IN_PLACE = 0,
	FG_STORE_GONE = 1,
	FG_STORE_REPLACED = 2
};
enum fg_store_place fg_store_placed(const struct fg_store *s,
    const char *path);
/*
 * The file s has open, removed from path while in use, written there
 * again whole (VACUUM INTO a file beside it, renamed to path): a store
 * on it is returned and s closed. NULL, err said, when it cannot be
 * (s stays as it was, writing to its file with no name).
 */
struct fg_store *fg_store_put_back(struct fg_store *s, const char *path,
    char *err, size_t errlen);

#endif
