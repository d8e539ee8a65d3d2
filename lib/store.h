/*
 * The SQLite file: window state (so that a restart keeps the counts),
 * hourly statistics, and the log of refusals. Only the service thread
 * writes; floodgatectl may read it while the daemon is down.
 */
#ifndef FG_STORE_H
#define FG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"
#include "table.h"

#define FG_SCHEMA_VERSION	3

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
};

struct fg_top_row {
	char name[FG_ACCOUNT_MAX + 1];	/* an account, domain or rule */
	uint64_t v[FG_ST_N];	/* accepted, deferred, rejected, held */
};

struct fg_store *fg_store_open(const char *path, int readonly, char *err,
    size_t errlen);
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
int fg_store_held(struct fg_store *s, struct fg_held_row **out,
    size_t *nout, char *err, size_t errlen);
int fg_store_held_add(struct fg_store *s, const struct fg_held_row *h,
    char *err, size_t errlen);
int fg_store_held_done(struct fg_store *s, const char *qid, uint32_t now,
    const char *outcome, char *err, size_t errlen);
void fg_store_held_free(struct fg_held_row *h, size_t n);
int fg_store_probe(const char *path, char *err, size_t errlen);
int fg_store_set_aside(const char *path, uint32_t now, char *aside, size_t len);

#endif
