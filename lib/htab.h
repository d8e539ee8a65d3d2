/*
 * One chained hash table for every keyed collection in floodgate (the
 * window table's shards, the hourly statistics, sets of window names).
 * Nodes are intrusive: a struct embeds a struct fg_hnode as its first
 * member and the table never allocates or frees it. Not locked: the
 * owner locks.
 */
#ifndef FG_HTAB_H
#define FG_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct fg_hnode {
	struct fg_hnode *next;
	uint64_t hash;
};

struct fg_htab {
	struct fg_hnode **bucket;
	size_t nbucket;		/* a power of two, or 0 */
	size_t count;
};

/* Whether node n holds key (the hashes already agree). */
typedef int (*fg_htab_eq)(const struct fg_hnode *n, const void *key);
/* Called for every node; returning 1 unlinks it (the callback then owns
 * it and may free it). */
typedef int (*fg_htab_visit)(struct fg_hnode *n, void *arg);

struct fg_hnode *fg_htab_find(const struct fg_htab *h, uint64_t hash,
    fg_htab_eq eq, const void *key);
/* Links n (n->hash set by the caller); grows the table first when it is
 * full. -1 (n not linked) when there is no memory to grow. */
int fg_htab_add(struct fg_htab *h, struct fg_hnode *n);
/* Unlinks n; 0, or -1 when n is not in the table. */
int fg_htab_unlink(struct fg_htab *h, struct fg_hnode *n);
void fg_htab_walk(struct fg_htab *h, fg_htab_visit fn, void *arg);
/* A visitor that unlinks and frees every node (allocated whole, the
 * node at its start). */
int fg_htab_free_node(struct fg_hnode *n, void *arg);
/* Frees the buckets only; the nodes are the owner's. */
void fg_htab_clear(struct fg_htab *h);

/* A set of strings (window names a message paid for, windows a release
 * must not touch), on the same table. */
struct fg_strset {
	struct fg_htab h;
};

/* 1 added, 0 already there, -1 out of memory. */
int fg_strset_add(struct fg_strset *s, const char *str);
int fg_strset_has(const struct fg_strset *s, const char *str);
size_t fg_strset_count(const struct fg_strset *s);
void fg_strset_free(struct fg_strset *s);

#endif
