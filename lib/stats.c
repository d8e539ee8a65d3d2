/*
 * Hourly counters per account and per destination domain, and the log of
 * refusals, collected in memory by the milter loop and handed to the
 * service thread, which writes them to the store. Pending events are
 * bounded: when the store is down for long, the oldest are not kept.
 * An account's refusals past FG_EVENTS_PER_MINUTE in a minute are
 * folded into one event a drain.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "stats.h"
#include "util.h"

struct node {
	struct fg_hnode node;
	struct fg_stat_row row;
};

/* One account's refusals this minute, and those folded since the last
 * drain. */
struct budget {
	struct fg_hnode node;
	char account[FG_ACCOUNT_MAX + 1];
	uint32_t minute;
	uint32_t kept;
	struct fg_event fold;	/* fold.folded > 0: some to hand over */
};

struct fg_stats {
	pthread_mutex_t lock;
	struct fg_htab h;
	struct fg_htab budgets;
	uint32_t minute;	/* the newest event's */
	struct fg_event *ev;
	size_t nev, evcap;
	uint64_t dropped;
	uint64_t total[FG_ST_N];
	struct fg_rule_counter rc[FG_RULE_COUNTERS];
	size_t nrc;
};

static struct node *find(struct fg_stats *s, uint32_t hour, char kind,
    const char *name, int create);

struct fg_stats *
fg_stats_new(void)
{
	struct fg_stats *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

static int
free_visit(struct fg_hnode *n, void *arg)
{
	(void)arg;
	free(((struct node *)n)->row.name);
	free(n);
	return 1;
}

static void
free_nodes(struct fg_stats *s)
{
	fg_htab_walk(&s->h, free_visit, NULL);
	fg_htab_clear(&s->h);
}

static int
free_budget(struct fg_hnode *n, void *arg)
{
	(void)arg;
	free(n);
	return 1;
}

void
fg_stats_free(struct fg_stats *s)
{
	if (s == NULL)
		return;
	free_nodes(s);
	fg_htab_walk(&s->budgets, free_budget, NULL);
	fg_htab_clear(&s->budgets);
	free(s->ev);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static uint64_t
row_hash(uint32_t hour, char kind, const char *name)
{
	return fg_hash(name) ^ ((uint64_t)hour * 0x9e3779b97f4a7c15ULL) ^
	    (uint64_t)(unsigned char)kind;
}

static int
row_eq(const struct fg_hnode *n, const void *key)
{
	const struct fg_stat_row *a = &((const struct node *)n)->row, *b = key;

	return a->hour == b->hour && a->kind == b->kind &&
	    strcmp(a->name, b->name) == 0;
}

/* Called with the lock held. */
static struct node *
find(struct fg_stats *s, uint32_t hour, char kind, const char *name,
    int create)
{
	struct fg_stat_row want = { .hour = hour, .kind = kind,
	    .name = (char *)name };
	uint64_t h = row_hash(hour, kind, name);
	struct node *n;

	n = (struct node *)fg_htab_find(&s->h, h, row_eq, &want);
	if (n != NULL || !create)
		return n;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	if ((n->row.name = fg_strdup(name)) == NULL) {
		free(n);
		return NULL;
	}
	n->node.hash = h;
	n->row.hour = hour;
	n->row.kind = kind;
	if (fg_htab_add(&s->h, &n->node) < 0) {
		free(n->row.name);
		free(n);
		return NULL;
	}
	return n;
}

void
fg_stats_count(struct fg_stats *s, uint32_t now, const char *account,
    const char *domain, enum fg_stat what, uint32_t n)
{
	uint32_t hour = now - now % 3600;
	struct node *x;

	pthread_mutex_lock(&s->lock);
	/* Totals count recipients once: by account. */
	if (account != NULL)
		s->total[what] += n;
	if (account != NULL && (x = find(s, hour, 'a', account, 1)) != NULL)
		x->row.v[what] += n;
	if (domain != NULL && (x = find(s, hour, 'd',
	    domain[0] ? domain : "(local)", 1)) != NULL)
		x->row.v[what] += n;
	pthread_mutex_unlock(&s->lock);
}

/* Called with the lock held. Rules are few: a linear scan will do. */
static void
count_rule(struct fg_stats *s, const struct fg_event *ev)
{
	size_t i;

	for (i = 0; i < s->nrc; i++) {
		if (strcmp(s->rc[i].rule, ev->rule) == 0 &&
		    strcmp(s->rc[i].action, ev->action) == 0) {
			s->rc[i].n++;
			return;
		}
	}
	if (s->nrc == FG_RULE_COUNTERS)
		return;
	fg_strlcpy(s->rc[s->nrc].rule, ev->rule, sizeof(s->rc[0].rule));
	fg_strlcpy(s->rc[s->nrc].action, ev->action, sizeof(s->rc[0].action));
	s->rc[s->nrc++].n = 1;
}

size_t
fg_stats_rule_counters(struct fg_stats *s, struct fg_rule_counter *out,
    size_t max)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->nrc < max ? s->nrc : max;
	memcpy(out, s->rc, n * sizeof(*out));
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Called with the lock held; -1 when the queue is full. */
static int
push_event(struct fg_stats *s, const struct fg_event *ev)
{
	if (s->nev == s->evcap) {
		size_t cap = s->evcap ? s->evcap * 2 : 64;
		void *p;

		if (cap > FG_EVENTS_MAX)
			cap = FG_EVENTS_MAX;
		if (s->evcap == FG_EVENTS_MAX || (p = realloc(s->ev,
		    cap * sizeof(*s->ev))) == NULL)
			return -1;
		s->ev = p;
		s->evcap = cap;
	}
	s->ev[s->nev++] = *ev;
	return 0;
}

static int
budget_eq(const struct fg_hnode *n, const void *account)
{
	return strcmp(((const struct budget *)n)->account, account) == 0;
}

/* The account's budget for this minute; NULL past FG_EVENT_ACCOUNTS_MAX
 * or without memory (kept one by one then). Called with the lock held. */
static struct budget *
budget(struct fg_stats *s, const char *account, uint32_t now)
{
	uint64_t hash = fg_hash(account);
	struct budget *b;

	b = (struct budget *)fg_htab_find(&s->budgets, hash, budget_eq,
	    account);
	if (b == NULL) {
		if (s->budgets.count >= FG_EVENT_ACCOUNTS_MAX ||
		    (b = calloc(1, sizeof(*b))) == NULL)
			return NULL;
		fg_strlcpy(b->account, account, sizeof(b->account));
		b->node.hash = hash;
		b->minute = now / 60;
		if (fg_htab_add(&s->budgets, &b->node) < 0) {
			free(b);
			return NULL;
		}
	}
	/* Forward only: another thread's event of the minute before,
	 * decided a moment earlier, must not start this one afresh. */
	if (now / 60 > b->minute) {
		b->minute = now / 60;
		b->kept = 0;
	}
	if (now / 60 > s->minute)
		s->minute = now / 60;
	return b;
}

int
fg_stats_event(struct fg_stats *s, const struct fg_event *ev)
{
	struct budget *b;
	int kept = 1;

	pthread_mutex_lock(&s->lock);
	count_rule(s, ev);
	b = budget(s, ev->account, ev->time);
	if (b != NULL && b->kept >= FG_EVENTS_PER_MINUTE) {
		uint32_t n = b->fold.folded;

		b->fold = *ev;
		b->fold.folded = n + 1;
		kept = 0;
	} else {
		if (b != NULL)
			b->kept++;
		if (push_event(s, ev) < 0)
			s->dropped++;
	}
	pthread_mutex_unlock(&s->lock);
	return kept;
}

/* At a drain: what each account folded, as one event; a budget of a
 * past minute with nothing folded goes. */
static int
fold_visit(struct fg_hnode *n, void *arg)
{
	struct budget *b = (struct budget *)n;
	struct fg_stats *s = arg;

	if (b->fold.folded > 0) {
		if (push_event(s, &b->fold) < 0)
			s->dropped += b->fold.folded;
		b->fold.folded = 0;
		return 0;
	}
	if (b->minute < s->minute) {
		free(b);
		return 1;
	}
	return 0;
}

struct take {
	struct fg_stat_row *r;
	size_t k;
};

static int
take_visit(struct fg_hnode *n, void *arg)
{
	struct take *t = arg;

	t->r[t->k++] = ((struct node *)n)->row;
	free(n);
	return 1;
}

/* Hand everything collected so far to the caller (the service thread). */
int
fg_stats_drain(struct fg_stats *s, struct fg_stat_row **rows, size_t *nrows,
    struct fg_event **ev, size_t *nev)
{
	struct take t = { NULL, 0 };

	pthread_mutex_lock(&s->lock);
	fg_htab_walk(&s->budgets, fold_visit, s);
	t.r = s->h.count ? malloc(s->h.count * sizeof(*t.r)) : NULL;
	if (s->h.count && t.r == NULL) {
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	fg_htab_walk(&s->h, take_visit, &t);
	fg_htab_clear(&s->h);
	*rows = t.r;
	*nrows = t.k;
	*ev = s->ev;
	*nev = s->nev;
	s->ev = NULL;
	s->nev = s->evcap = 0;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* The store failed: take the rows and events back for the next try. */
void
fg_stats_restore(struct fg_stats *s, struct fg_stat_row *rows, size_t nrows,
    struct fg_event *ev, size_t nev)
{
	size_t i;
	int k;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < nrows; i++) {
		struct node *x = find(s, rows[i].hour, rows[i].kind,
		    rows[i].name, 1);

		if (x != NULL)
			for (k = 0; k < FG_ST_N; k++)
				x->row.v[k] += rows[i].v[k];
	}
	for (i = 0; i < nev; i++) {
		if (push_event(s, &ev[i]) < 0) {
			s->dropped += nev - i;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	fg_stats_free_rows(rows, nrows);
	free(ev);
}

void
fg_stats_free_rows(struct fg_stat_row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(rows[i].name);
	free(rows);
}

void
fg_stats_totals(struct fg_stats *s, uint64_t out[FG_ST_N], uint64_t *dropped)
{
	int k;

	pthread_mutex_lock(&s->lock);
	for (k = 0; k < FG_ST_N; k++)
		out[k] = s->total[k];
	if (dropped != NULL)
		*dropped = s->dropped;
	pthread_mutex_unlock(&s->lock);
}
