/*
 * The in-memory state: a hash table keyed by window name ("rule\037key",
 * wkey.h), split into shards with a lock each so that the milter loop and
 * the service thread rarely meet. Entries are written behind to the
 * store through a per-shard dirty list.
 */
#ifndef FG_TABLE_H
#define FG_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "htab.h"
#include "window.h"
#include "wkey.h"

#define FG_TABLE_SHARDS	64

struct fg_entry {
	struct fg_hnode node;		/* hash chain; node.hash is the key's */
	struct fg_entry *dnext;		/* dirty list */
	struct fg_window win;
	uint32_t reserved;		/* units held by transactions in flight */
	uint8_t dirty;
	char key[];			/* the window name */
};

/* What the store is told about one entry. */
struct fg_entry_copy {
	char *key;			/* the window name */
	uint32_t period;
	uint32_t expires;		/* 0: delete the row */
	uint16_t nslot;
	struct fg_slot *slot;
};

struct fg_table;

struct fg_table *fg_table_new(void);
void fg_table_free(struct fg_table *t);
unsigned fg_table_shard(uint64_t hash);
void fg_table_lock(struct fg_table *t, unsigned shard);
void fg_table_unlock(struct fg_table *t, unsigned shard);
struct fg_entry *fg_table_get(struct fg_table *t, unsigned shard,
    uint64_t hash, const char *key, int create);
void fg_table_dirty(struct fg_table *t, unsigned shard, struct fg_entry *e);
size_t fg_table_count(struct fg_table *t);
int fg_table_load(struct fg_table *t, const char *key, uint32_t period,
    const struct fg_slot *slot, uint16_t nslot, uint32_t now);
int fg_table_drain(struct fg_table *t, uint32_t now,
    struct fg_entry_copy **out, size_t *nout);
void fg_table_free_copies(struct fg_entry_copy *c, size_t n);
size_t fg_table_sweep(struct fg_table *t, uint32_t now);
size_t fg_table_evict(struct fg_table *t, size_t max, uint32_t now);
void fg_table_foreach(struct fg_table *t, uint32_t now,
    void (*fn)(const struct fg_entry *, void *), void *arg);

#endif
