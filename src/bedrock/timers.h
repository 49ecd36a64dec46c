/*
 * timers.h - the client loop's timers: a binary min-heap on the due time,
 * ties broken by insertion order so timers due together fire in the order
 * they were added. Ids are never reused within one heap.
 */
#ifndef BH_BEDROCK_TIMERS_H
#define BH_BEDROCK_TIMERS_H

#include "util/util.h"
#include <stdint.h>

typedef void (*bh_timer_fn)(void *ud);

typedef struct bh_timer {
	int64_t due_ms;
	unsigned long id;
	bh_timer_fn fn;
	void *ud;
} bh_timer;

typedef struct bh_timers {
	bh_timer *heap;
	size_t len, cap;
	unsigned long next_id;
} bh_timers;

void bh_timers_init(bh_timers *t);
void bh_timers_release(bh_timers *t);

/* Adds a timer due at due_ms; returns its id (> 0) or 0 out of memory. */
unsigned long bh_timers_add(bh_timers *t, int64_t due_ms, bh_timer_fn fn, void *ud);

/* Removes a timer that has not fired; unknown ids are ignored. */
void bh_timers_cancel(bh_timers *t, unsigned long id);

/* Due time of the earliest timer, or -1 if there is none. */
int64_t bh_timers_next(const bh_timers *t);

/* Takes the earliest timer if it is due at now_ms; false otherwise. */
bool bh_timers_pop_due(bh_timers *t, int64_t now_ms, bh_timer *out);

#endif
