/*
 * The in-memory state: a hash table keyed by window name, split into
 * shards with a lock each so that the milter loop and the service thread
 * rarely meet. Entries are written behind to the store through a
 * per-shard dirty list.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "util.h"

struct shard {
	pthread_mutex_t lock;
	struct fg_htab h;
	struct fg_entry *dirty;
};

struct fg_table {
	struct shard shard[FG_TABLE_SHARDS];
};

static void entry_free(struct fg_entry *e);
static int key_eq(const struct fg_hnode *n, const void *key);
static int free_visit(struct fg_hnode *n, void *arg);

struct fg_table *
fg_table_new(void)
{
	struct fg_table *t = calloc(1, sizeof(*t));
	unsigned i;

	if (t == NULL)
		return NULL;
	for (i = 0; i < FG_TABLE_SHARDS; i++)
		pthread_mutex_init(&t->shard[i].lock, NULL);
	return t;
}

static void
entry_free(struct fg_entry *e)
{
	fg_window_free(&e->win);
	free(e);
}

static int
free_visit(struct fg_hnode *n, void *arg)
{
	(void)arg;
	entry_free((struct fg_entry *)n);
	return 1;
}

void
fg_table_free(struct fg_table *t)
{
	unsigned i;

	if (t == NULL)
		return;
	for (i = 0; i < FG_TABLE_SHARDS; i++) {
		fg_htab_walk(&t->shard[i].h, free_visit, NULL);
		fg_htab_clear(&t->shard[i].h);
		pthread_mutex_destroy(&t->shard[i].lock);
	}
	free(t);
}

/* The low bits pick the bucket, the high bits the shard. */
unsigned
fg_table_shard(uint64_t hash)
{
	return (unsigned)(hash >> 58) % FG_TABLE_SHARDS;
}

void
fg_table_lock(struct fg_table *t, unsigned shard)
{
	pthread_mutex_lock(&t->shard[shard].lock);
}

void
fg_table_unlock(struct fg_table *t, unsigned shard)
{
	pthread_mutex_unlock(&t->shard[shard].lock);
}

static int
key_eq(const struct fg_hnode *n, const void *key)
{
	return strcmp(((const struct fg_entry *)n)->key, key) == 0;
}

/* Called with the shard locked. */
struct fg_entry *
fg_table_get(struct fg_table *t, unsigned shard, uint64_t hash,
    const char *key, int create)
{
	struct shard *s = &t->shard[shard];
	struct fg_entry *e;
	size_t len;

	e = (struct fg_entry *)fg_htab_find(&s->h, hash, key_eq, key);
	if (e != NULL || !create)
		return e;
	len = strlen(key) + 1;
	if ((e = calloc(1, sizeof(*e) + len)) == NULL)
		return NULL;
	memcpy(e->key, key, len);
	e->node.hash = hash;
	if (fg_htab_add(&s->h, &e->node) < 0) {
		free(e);
		return NULL;
	}
	return e;
}

/* Called with the shard locked. */
void
fg_table_dirty(struct fg_table *t, unsigned shard, struct fg_entry *e)
{
	struct shard *s = &t->shard[shard];

	if (e->dirty)
		return;
	e->dirty = 1;
	e->dnext = s->dirty;
	s->dirty = e;
}

size_t
fg_table_count(struct fg_table *t)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; i < FG_TABLE_SHARDS; i++) {
		fg_table_lock(t, i);
		n += t->shard[i].h.count;
		fg_table_unlock(t, i);
	}
	return n;
}

/* Start-up: an entry read back from the store. */
int
fg_table_load(struct fg_table *t, const char *key, uint32_t period,
    const struct fg_slot *slot, uint16_t nslot, uint32_t now)
{
	uint64_t h = fg_hash(key);
	unsigned sh = fg_table_shard(h);
	struct fg_entry *e;
	int rc = -1;

	fg_table_lock(t, sh);
	if ((e = fg_table_get(t, sh, h, key, 1)) == NULL)
		goto out;
	fg_window_free(&e->win);
	fg_window_init(&e->win, period);
	if (nslot > 0) {
		if ((e->win.slot = malloc(nslot * sizeof(*slot))) == NULL)
			goto out;
		memcpy(e->win.slot, slot, nslot * sizeof(*slot));
		e->win.nslot = e->win.cap = nslot;
	}
	fg_window_expire(&e->win, now);
	rc = 0;
out:
	fg_table_unlock(t, sh);
	return rc;
}

/*
 * Take every dirty entry's state for the store, shard by shard so that
 * no lock is held for long. An entry whose window is empty gets
 * expires = 0: its row is deleted; the sweep frees the entry later.
 */
int
fg_table_drain(struct fg_table *t, uint32_t now, struct fg_entry_copy **out,
    size_t *nout)
{
	struct fg_entry_copy *c = NULL;
	size_t n = 0, cap = 0;
	unsigned i;
	int rc = 0;

	for (i = 0; i < FG_TABLE_SHARDS; i++) {
		struct shard *s = &t->shard[i];
		struct fg_entry *e, *next;

		fg_table_lock(t, i);
		for (e = s->dirty; e != NULL; e = next) {
			struct fg_entry_copy *cc;

			next = e->dnext;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 256;
				void *p = realloc(c, nc * sizeof(*c));

				if (p == NULL) {
					/* Leave the rest dirty for next time. */
					s->dirty = e;
					rc = -1;
					break;
				}
				c = p;
				cap = nc;
			}
			e->dirty = 0;
			e->dnext = NULL;
			fg_window_expire(&e->win, now);
			cc = &c[n];
			memset(cc, 0, sizeof(*cc));
			cc->key = fg_strdup(e->key);
			cc->period = e->win.period;
			cc->expires = fg_window_expires(&e->win);
			if (e->win.nslot > 0) {
				cc->slot = malloc(e->win.nslot * sizeof(*cc->slot));
				if (cc->slot != NULL) {
					memcpy(cc->slot, e->win.slot,
					    e->win.nslot * sizeof(*cc->slot));
					cc->nslot = e->win.nslot;
				}
			}
			if (cc->key == NULL || (e->win.nslot > 0 && cc->slot == NULL)) {
				free(cc->key);
				free(cc->slot);
				e->dirty = 1;
				e->dnext = next;
				s->dirty = e;
				rc = -1;
				break;
			}
			n++;
		}
		if (rc == 0)
			s->dirty = NULL;
		fg_table_unlock(t, i);
		if (rc < 0)
			break;
	}
	*out = c;
	*nout = n;
	return rc;
}

void
fg_table_free_copies(struct fg_entry_copy *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c[i].key);
		free(c[i].slot);
	}
	free(c);
}

/*
 * Free entries that hold nothing: an empty window and no reservation.
 * Their rows expire in the store on their own. Dirty entries wait for
 * the next drain so that the store sees their last state.
 */
struct sweep {
	uint32_t now;
	size_t freed;
};

static int
sweep_visit(struct fg_hnode *n, void *arg)
{
	struct fg_entry *e = (struct fg_entry *)n;
	struct sweep *sw = arg;

	fg_window_expire(&e->win, sw->now);
	if (e->win.nslot > 0 || e->reserved > 0 || e->dirty)
		return 0;
	entry_free(e);
	sw->freed++;
	return 1;
}

size_t
fg_table_sweep(struct fg_table *t, uint32_t now)
{
	struct sweep sw = { now, 0 };
	unsigned i;

	for (i = 0; i < FG_TABLE_SHARDS; i++) {
		fg_table_lock(t, i);
		fg_htab_walk(&t->shard[i].h, sweep_visit, &sw);
		fg_table_unlock(t, i);
	}
	return sw.freed;
}

struct foreach {
	uint32_t now;
	void (*fn)(const struct fg_entry *, void *);
	void *arg;
};

static int
foreach_visit(struct fg_hnode *n, void *arg)
{
	struct fg_entry *e = (struct fg_entry *)n;
	struct foreach *f = arg;

	fg_window_expire(&e->win, f->now);
	f->fn(e, f->arg);
	return 0;
}

void
fg_table_foreach(struct fg_table *t, uint32_t now,
    void (*fn)(const struct fg_entry *, void *), void *arg)
{
	struct foreach f = { now, fn, arg };
	unsigned i;

	for (i = 0; i < FG_TABLE_SHARDS; i++) {
		fg_table_lock(t, i);
		fg_htab_walk(&t->shard[i].h, foreach_visit, &f);
		fg_table_unlock(t, i);
	}
}

struct victim {
	uint32_t last;
	unsigned shard;
	struct fg_entry *e;
};

struct candidates {
	struct victim *v;
	size_t n, max;
	unsigned shard;
};

static int
candidate_visit(struct fg_hnode *node, void *arg)
{
	struct fg_entry *e = (struct fg_entry *)node;
	struct candidates *c = arg;

	if (e->reserved > 0 || e->dirty || c->n == c->max)
		return 0;
	c->v[c->n].last = e->win.nslot ? e->win.slot[e->win.nslot - 1].start : 0;
	c->v[c->n].shard = c->shard;
	c->v[c->n].e = e;
	c->n++;
	return 0;
}

static int
victim_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct victim *)a)->last;
	uint32_t y = ((const struct victim *)b)->last;

	return x < y ? -1 : x > y;
}

/*
 * Keep the table at most `max` entries: forget the least recently used
 * entries that nothing is reserved on and whose state is written. Only
 * the service thread frees entries, so the candidates stay valid between
 * the two passes; each is checked again under its lock.
 */
size_t
fg_table_evict(struct fg_table *t, size_t max, uint32_t now)
{
	struct candidates c;
	size_t count = fg_table_count(t), want, evicted = 0, i;

	if (max == 0 || count <= max)
		return 0;
	/* A little below the cap, so that eviction is not every second. */
	want = count - max + max / 20;
	if ((c.v = malloc(count * sizeof(*c.v))) == NULL)
		return 0;
	c.n = 0;
	c.max = count;
	for (c.shard = 0; c.shard < FG_TABLE_SHARDS; c.shard++) {
		fg_table_lock(t, c.shard);
		fg_htab_walk(&t->shard[c.shard].h, candidate_visit, &c);
		fg_table_unlock(t, c.shard);
	}
	qsort(c.v, c.n, sizeof(*c.v), victim_cmp);
	for (i = 0; i < c.n && evicted < want; i++) {
		struct fg_entry *e = c.v[i].e;

		fg_table_lock(t, c.v[i].shard);
		if (e->reserved == 0 && !e->dirty &&
		    fg_htab_unlink(&t->shard[c.v[i].shard].h, &e->node) == 0) {
			entry_free(e);
			evicted++;
		}
		fg_table_unlock(t, c.v[i].shard);
	}
	free(c.v);
	(void)now;
	return evicted;
}
