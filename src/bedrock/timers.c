/* timers.c - binary min-heap of timers for the client loop. */
#include "bedrock/timers.h"
#include <string.h>

void bh_timers_init(bh_timers *t)
{
	memset(t, 0, sizeof(*t));
	t->next_id = 1;
}

void bh_timers_release(bh_timers *t)
{
	bh_free(t->heap);
	bh_timers_init(t);
}

/* Ids grow monotonically, so comparing them orders equal due times by
 * insertion. */
static bool before(const bh_timer *a, const bh_timer *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->id < b->id);
}

static void swap(bh_timer *a, bh_timer *b)
{
	bh_timer x = *a;
	*a = *b;
	*b = x;
}

static void sift_up(bh_timers *t, size_t i)
{
	while (i > 0 && before(&t->heap[i], &t->heap[(i - 1) / 2])) {
		swap(&t->heap[i], &t->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

static void sift_down(bh_timers *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->len && before(&t->heap[l], &t->heap[m]))
			m = l;
		if (r < t->len && before(&t->heap[r], &t->heap[m]))
			m = r;
		if (m == i)
			return;
		swap(&t->heap[i], &t->heap[m]);
		i = m;
	}
}

unsigned long bh_timers_add(bh_timers *t, int64_t due_ms, bh_timer_fn fn, void *ud)
{
	if (t->len == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		bh_timer *h = bh_realloc(t->heap, cap * sizeof(*h));
		if (!h)
			return 0;
		t->heap = h;
		t->cap = cap;
	}
	unsigned long id = t->next_id++;
	t->heap[t->len] = (bh_timer){.due_ms = due_ms, .id = id, .fn = fn, .ud = ud};
	t->len++;
	sift_up(t, t->len - 1);
	return id;
}

/* Cancelling is rare (a hive engine's budget timer), so a linear search
 * is fine; the last element then fills the hole and is sifted into place. */
void bh_timers_cancel(bh_timers *t, unsigned long id)
{
	for (size_t i = 0; i < t->len; i++) {
		if (t->heap[i].id != id)
			continue;
		t->heap[i] = t->heap[--t->len];
		if (i < t->len) {
			sift_up(t, i);
			sift_down(t, i);
		}
		return;
	}
}

int64_t bh_timers_next(const bh_timers *t)
{
	return t->len ? t->heap[0].due_ms : -1;
}

bool bh_timers_pop_due(bh_timers *t, int64_t now_ms, bh_timer *out)
{
	if (!t->len || t->heap[0].due_ms > now_ms)
		return false;
	*out = t->heap[0];
	t->heap[0] = t->heap[--t->len];
	if (t->len)
		sift_down(t, 0);
	return true;
}
