/*
 * Sliding windows kept in time slots. A slot starting at S holds what
 * was accepted in [S, S+width). It counts against the window at time T
 * while S + width > T - period: a slot is dropped only once its newest
 * possible event is a full period old, so "never more than N in any
 * PERIOD" holds exactly and the window errs by at most one slot width on
 * the safe side (it may remember an event up to width seconds longer).
 */
#include <stdlib.h>
#include <string.h>

#include "window.h"

uint32_t
fg_window_width(uint32_t period)
{
	return period >= 120 ? period / 60 : 1;
}

void
fg_window_init(struct fg_window *w, uint32_t period)
{
	memset(w, 0, sizeof(*w));
	w->period = period;
}

void
fg_window_free(struct fg_window *w)
{
	free(w->slot);
	w->slot = NULL;
	w->nslot = w->cap = 0;
}

static int
slot_live(const struct fg_window *w, const struct fg_slot *s, uint32_t now)
{
	return (uint64_t)s->start + fg_window_width(w->period) + w->period > now;
}

void
fg_window_expire(struct fg_window *w, uint32_t now)
{
	uint16_t i = 0;

	while (i < w->nslot && !slot_live(w, &w->slot[i], now))
		i++;
	if (i == 0)
		return;
	memmove(w->slot, w->slot + i, (size_t)(w->nslot - i) * sizeof(*w->slot));
	w->nslot -= i;
}

/*
 * Room for one slot at least, had before a reservation is made on the
 * window, so that its commit never needs memory for the window's first
 * slot (a later one falls back to the newest). An emptied window keeps
 * its room; the table's sweep frees the entry once it is idle.
 */
int
fg_window_ready(struct fg_window *w)
{
	struct fg_slot *s;

	if (w->cap > 0)
		return 0;
	if ((s = malloc(2 * sizeof(*s))) == NULL)
		return -1;
	w->slot = s;
	w->cap = 2;
	return 0;
}

uint64_t
fg_window_count(const struct fg_window *w, uint32_t now)
{
	uint64_t sum = 0;
	uint16_t i;

	for (i = 0; i < w->nslot; i++)
		if (slot_live(w, &w->slot[i], now))
			sum += w->slot[i].n;
	return sum;
}

int
fg_window_add(struct fg_window *w, uint32_t now, uint32_t n)
{
	uint32_t width = fg_window_width(w->period);
	uint32_t start = now - now % width;
	struct fg_slot *last;

	fg_window_expire(w, now);
	last = w->nslot > 0 ? &w->slot[w->nslot - 1] : NULL;
	/* A clock that stepped back charges the newest slot. */
	if (last != NULL && last->start >= start) {
		last->n = last->n > UINT32_MAX - n ? UINT32_MAX : last->n + n;
		return 0;
	}
	if (w->nslot == w->cap) {
		uint16_t cap = w->cap ? (uint16_t)(w->cap * 2) : 2;
		struct fg_slot *s;

		if (cap > 128) {
			/* More slots than a window spans: clock trouble. Fold
			 * the oldest two together, conservatively newer. */
			w->slot[1].n += w->slot[0].n;
			memmove(w->slot, w->slot + 1,
			    (size_t)(w->nslot - 1) * sizeof(*w->slot));
			w->nslot--;
		} else {
			if ((s = realloc(w->slot, cap * sizeof(*s))) == NULL)
				return -1;
			w->slot = s;
			w->cap = cap;
		}
	}
	w->slot[w->nslot].start = start;
	w->slot[w->nslot].n = n;
	w->nslot++;
	return 0;
}

/*
 * Seconds until at least `excess` units have left the window: the time
 * a refused recipient is told to wait. 0 when the window alone cannot
 * free that much (the rest is held by reservations in flight).
 */
uint32_t
fg_window_retry(const struct fg_window *w, uint32_t now, uint64_t excess)
{
	uint32_t width = fg_window_width(w->period);
	uint64_t freed = 0;
	uint16_t i;

	for (i = 0; i < w->nslot; i++) {
		if (!slot_live(w, &w->slot[i], now))
			continue;
		freed += w->slot[i].n;
		if (freed >= excess) {
			uint64_t t = (uint64_t)w->slot[i].start + width + w->period;
			return (uint32_t)(t - now);
		}
	}
	return 0;
}

/*
 * A reload changed the period of a rule (or an override applies). Each
 * slot moves to the new slot holding its newest possible event, so that
 * nothing is forgotten early.
 */
int
fg_window_set_period(struct fg_window *w, uint32_t period)
{
	uint32_t ow = fg_window_width(w->period), nw = fg_window_width(period);
	uint16_t i, o = 0;

	w->period = period;
	if (ow == nw)
		return 0;
	for (i = 0; i < w->nslot; i++) {
		uint32_t last = w->slot[i].start + ow - 1;
		uint32_t start = last - last % nw;

		if (o > 0 && w->slot[o - 1].start == start)
			w->slot[o - 1].n += w->slot[i].n;
		else {
			w->slot[o].start = start;
			w->slot[o].n = w->slot[i].n;
			o++;
		}
	}
	w->nslot = o;
	return 0;
}

/* When the window will be empty if nothing more is added. */
uint32_t
fg_window_expires(const struct fg_window *w)
{
	if (w->nslot == 0)
		return 0;
	return w->slot[w->nslot - 1].start + fg_window_width(w->period) +
	    w->period;
}
