/*
 * Reserve, commit, release over the sharded table. A recipient's checks
 * are decided all together under the locks of every shard they touch
 * (taken in shard order, so threads cannot deadlock): either every rule
 * is charged or none is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limiter.h"
#include "table.h"
#include "util.h"

/* A recipient's checks are as many as the rules that apply to it: this
 * many are located on the stack, more on the heap. */
#define STACK_CHECKS	16

struct fg_limiter {
	struct fg_table *table;
};

struct located {
	uint64_t hash;
	unsigned shard;
	struct fg_entry *entry;
	char key[FG_WKEY_MAX + 1];
};

static int locate(const struct fg_check *c, struct located *loc);
static size_t lock_all(struct fg_table *t, const struct located *loc,
    size_t n, unsigned *locked);
static void unlock_all(struct fg_table *t, const unsigned *locked, size_t n);
static void evaluate(struct fg_entry *e, struct fg_check *c, uint32_t now);

struct fg_limiter *
fg_limiter_new(struct fg_table *t)
{
	struct fg_limiter *l = calloc(1, sizeof(*l));

	if (l != NULL)
		l->table = t;
	return l;
}

void
fg_limiter_free(struct fg_limiter *l)
{
	free(l);
}

struct fg_table *
fg_limiter_table(struct fg_limiter *l)
{
	return l->table;
}

static int
locate(const struct fg_check *c, struct located *loc)
{
	if (fg_wkey_join(c->rule, c->key, loc->key, sizeof(loc->key)) < 0)
		return -1;
	loc->hash = fg_hash(loc->key);
	loc->shard = fg_table_shard(loc->hash);
	return 0;
}

static size_t
lock_all(struct fg_table *t, const struct located *loc, size_t n,
    unsigned *locked)
{
	uint64_t seen = 0;
	size_t i, k = 0;
	unsigned s;

	for (i = 0; i < n; i++)
		seen |= 1ULL << loc[i].shard;
	for (s = 0; s < FG_TABLE_SHARDS; s++) {
		if (seen & (1ULL << s)) {
			fg_table_lock(t, s);
			locked[k++] = s;
		}
	}
	return k;
}

static void
unlock_all(struct fg_table *t, const unsigned *locked, size_t n)
{
	while (n > 0)
		fg_table_unlock(t, locked[--n]);
}

static void
evaluate(struct fg_entry *e, struct fg_check *c, uint32_t now)
{
	uint64_t inwin = 0, want;

	if (e != NULL) {
		if (e->win.period != c->period)
			fg_window_set_period(&e->win, c->period);
		fg_window_expire(&e->win, now);
		inwin = fg_window_count(&e->win, now);
		c->used = inwin + e->reserved;
	} else
		c->used = 0;
	want = c->used + c->cost;
	c->over = c->cost > 0 && want > c->limit;
	c->retry = 0;
	if (c->over) {
		uint64_t excess = want - c->limit;

		uint32_t width = fg_window_width(c->period);

		if (e != NULL && excess <= inwin)
			c->retry = fg_window_retry(&e->win, now, excess);
		if (c->retry == 0) {
			/* Units held by transactions in flight will, once
			 * committed, stay a full period from now. */
			c->retry = now - now % width + width + c->period - now;
		}
	}
}

int
fg_limiter_reserve(struct fg_limiter *l, struct fg_check *c, size_t n,
    uint32_t now, struct fg_resv *r)
{
	struct located stackloc[STACK_CHECKS], *loc = stackloc;
	unsigned locked[FG_TABLE_SHARDS];
	size_t i, nl;
	int refused = 0, rc = FG_RESERVED;

	if (n > STACK_CHECKS && (loc = malloc(n * sizeof(*loc))) == NULL)
		return FG_RESERVE_ERROR;
	for (i = 0; i < n; i++) {
		if (locate(&c[i], &loc[i]) < 0) {
			rc = FG_RESERVE_ERROR;
			goto done;
		}
	}
	if (r->cap - r->n < n) {
		size_t cap = r->cap * 2 > r->n + n ? r->cap * 2 : r->n + n + 8;
		void *p = realloc(r->item, cap * sizeof(*r->item));

		if (p == NULL) {
			rc = FG_RESERVE_ERROR;
			goto done;
		}
		r->item = p;
		r->cap = cap;
	}
	nl = lock_all(l->table, loc, n, locked);
	for (i = 0; i < n; i++) {
		loc[i].entry = fg_table_get(l->table, loc[i].shard,
		    loc[i].hash, loc[i].key, 0);
		evaluate(loc[i].entry, &c[i], now);
		if (c[i].over && c[i].hard)
			refused = 1;
	}
	if (refused) {
		rc = FG_REFUSED;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct fg_entry *e = loc[i].entry;

		if (c[i].cost == 0)
			continue;
		if (e == NULL) {
			e = fg_table_get(l->table, loc[i].shard, loc[i].hash,
			    loc[i].key, 1);
			if (e == NULL) {
				rc = FG_RESERVE_ERROR;
				break;
			}
			fg_window_init(&e->win, c[i].period);
		}
		if (fg_window_ready(&e->win) < 0) {
			rc = FG_RESERVE_ERROR;
			break;
		}
		e->reserved += c[i].cost;
		r->item[r->n].entry = e;
		r->item[r->n].cost = c[i].cost;
		r->n++;
	}
	if (rc == FG_RESERVE_ERROR) {
		/* Undo this recipient's part only. */
		while (i-- > 0) {
			if (c[i].cost == 0)
				continue;
			r->n--;
			r->item[r->n].entry->reserved -= r->item[r->n].cost;
		}
	}
out:
	unlock_all(l->table, locked, nl);
done:
	if (loc != stackloc)
		free(loc);
	return rc;
}

/* Read-only: what reserve would say, charging nothing. */
void
fg_limiter_peek(struct fg_limiter *l, struct fg_check *c, size_t n,
    uint32_t now)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct located loc;
		struct fg_entry *e;

		if (locate(&c[i], &loc) < 0) {
			c[i].over = false;
			c[i].used = 0;
			continue;
		}
		fg_table_lock(l->table, loc.shard);
		e = fg_table_get(l->table, loc.shard, loc.hash, loc.key, 0);
		evaluate(e, &c[i], now);
		fg_table_unlock(l->table, loc.shard);
	}
}

/* A transaction's reservations end: spent (commit) or given back. */
static void
settle(struct fg_limiter *l, struct fg_resv *r, uint32_t now, int commit)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		struct fg_entry *e = r->item[i].entry;
		unsigned sh = fg_table_shard(e->node.hash);

		fg_table_lock(l->table, sh);
		e->reserved -= r->item[i].cost;
		/* Out of memory for one more slot: the slot list grows only
		 * once per width, so this is rare; count it in the newest.
		 * The first slot's room was had at the reservation. */
		if (commit) {
			if (fg_window_add(&e->win, now, r->item[i].cost) < 0 &&
			    e->win.nslot > 0)
				e->win.slot[e->win.nslot - 1].n += r->item[i].cost;
			fg_table_dirty(l->table, sh, e);
		}
		fg_table_unlock(l->table, sh);
	}
	r->n = 0;
}

void
fg_limiter_commit(struct fg_limiter *l, struct fg_resv *r, uint32_t now)
{
	settle(l, r, now, 1);
}

void
fg_limiter_release(struct fg_limiter *l, struct fg_resv *r)
{
	settle(l, r, 0, 0);
}

/* Forget what a key has sent (an operator's reset). Reservations in
 * flight stay: their transactions still end in commit or release. */
int
fg_limiter_reset(struct fg_limiter *l, const char *rule, const char *key)
{
	struct fg_check c = { .rule = rule, .key = key };
	struct located loc;
	struct fg_entry *e;

	if (locate(&c, &loc) < 0)
		return -1;
	fg_table_lock(l->table, loc.shard);
	e = fg_table_get(l->table, loc.shard, loc.hash, loc.key, 0);
	if (e != NULL) {
		/* Emptied, not freed: reservations in flight commit to it. */
		e->win.nslot = 0;
		fg_table_dirty(l->table, loc.shard, e);
	}
	fg_table_unlock(l->table, loc.shard);
	return e != NULL ? 0 : -1;
}

int
fg_limiter_add(struct fg_limiter *l, const char *rule, const char *key,
    uint32_t period, uint32_t n, uint32_t now)
{
	struct fg_check c = { .rule = rule, .key = key };
	struct located loc;
	struct fg_entry *e;
	int rc = -1;

	if (locate(&c, &loc) < 0)
		return -1;
	fg_table_lock(l->table, loc.shard);
	e = fg_table_get(l->table, loc.shard, loc.hash, loc.key, 1);
	if (e != NULL) {
		if (e->win.period == 0)
			fg_window_init(&e->win, period);
		else if (e->win.period != period)
			fg_window_set_period(&e->win, period);
		rc = fg_window_add(&e->win, now, n);
		fg_table_dirty(l->table, loc.shard, e);
	}
	fg_table_unlock(l->table, loc.shard);
	return rc;
}

void
fg_resv_free(struct fg_resv *r)
{
	free(r->item);
	free(r->ritem);
	r->item = NULL;
	r->ritem = NULL;
	r->n = r->cap = 0;
	r->nr = r->rcap = 0;
}

void
fg_checks_share(struct fg_check *c, size_t n, uint32_t relays)
{
	size_t i;

	for (i = 0; relays > 1 && i < n; i++)
		c[i].limit = (uint32_t)(((uint64_t)c[i].limit + relays - 1) /
		    relays);
}
