/*
 * Sliding windows kept in time slots. A window of PERIOD seconds uses
 * slots of PERIOD/60 seconds (at least 1 s). Only slots that hold
 * something are stored, oldest first; an emptied window keeps room for
 * two until the table's sweep frees its entry.
 */
#ifndef FG_WINDOW_H
#define FG_WINDOW_H

#include <stdint.h>

struct fg_slot {
	uint32_t start;		/* unix time, a multiple of the width */
	uint32_t n;
};

struct fg_window {
	struct fg_slot *slot;
	uint16_t nslot, cap;
	uint32_t period;
};

uint32_t fg_window_width(uint32_t period);
void fg_window_init(struct fg_window *w, uint32_t period);
void fg_window_free(struct fg_window *w);
void fg_window_expire(struct fg_window *w, uint32_t now);
int fg_window_ready(struct fg_window *w);
uint64_t fg_window_count(const struct fg_window *w, uint32_t now);
int fg_window_add(struct fg_window *w, uint32_t now, uint32_t n);
uint32_t fg_window_retry(const struct fg_window *w, uint32_t now, uint64_t excess);
int fg_window_set_period(struct fg_window *w, uint32_t period);
uint32_t fg_window_expires(const struct fg_window *w);

#endif
