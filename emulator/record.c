/*
 * record.c - what the emulator was asked: the last N requests (a ring, so
 * memory stays bounded under benchmark load) and counters per model and
 * per outcome that never roll over.
 */
#include <string.h>

#include "emu.h"

struct emu_record {
	char **ring; /* compact JSON text: a few hundred bytes each */
	size_t cap;
	size_t start; /* oldest entry */
	size_t len;
	json_t *stats; /* {"models": {id: {outcome: n}}, "outcomes": {...}, "total": n} */
};

emu_record *emu_record_new(size_t max_entries)
{
	emu_record *r = bh_calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cap = max_entries ? max_entries : 1;
	r->ring = bh_calloc(r->cap, sizeof(*r->ring));
	r->stats = json_object();
	if (!r->ring || !r->stats) {
		emu_record_free(r);
		return NULL;
	}
	return r;
}

void emu_record_free(emu_record *r)
{
	if (!r)
		return;
	if (r->ring)
		emu_record_clear(r);
	bh_free(r->ring);
	json_decref(r->stats);
	bh_free(r);
}

/* Entries are kept serialised: one allocation instead of a tree of
 * jansson nodes, which matters at 100k entries under benchmark load. */
void emu_record_add(emu_record *r, json_t *entry)
{
	char *text = json_dumps(entry, JSON_COMPACT);
	json_decref(entry);
	if (!text)
		return;
	char *copy = bh_strdup(text);
	free(text);
	if (!copy)
		return;
	if (r->len == r->cap) {
		bh_free(r->ring[r->start]);
		r->ring[r->start] = copy;
		r->start = (r->start + 1) % r->cap;
		return;
	}
	r->ring[(r->start + r->len) % r->cap] = copy;
	r->len++;
}

static void bump(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	json_object_set_new(obj, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static json_t *child(json_t *obj, const char *key)
{
	json_t *c = json_object_get(obj, key);
	if (!c) {
		c = json_object();
		json_object_set_new(obj, key, c);
	}
	return c;
}

void emu_record_count(emu_record *r, const char *model, const char *outcome)
{
	bump(child(child(r->stats, "models"), model ? model : ""), outcome);
	bump(child(r->stats, "outcomes"), outcome);
	bump(r->stats, "total");
}

/* Bodies are kept as the bytes received (compact, and exact even when they
 * were not JSON); the listing shows them parsed when they parse. */
static json_t *entry_view(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);
	json_t *raw = json_object_get(v, "_body_raw");
	if (!raw)
		return v;
	json_t *body = json_loadb(json_string_value(raw), json_string_length(raw), 0, NULL);
	json_object_set_new(v, "body", body ? body : json_incref(raw));
	json_object_del(v, "_body_raw");
	return v;
}

json_t *emu_record_list(const emu_record *r)
{
	json_t *a = json_array();
	for (size_t i = 0; i < r->len; i++)
		json_array_append_new(a, entry_view(r->ring[(r->start + i) % r->cap]));
	return a;
}

json_t *emu_record_stats(const emu_record *r)
{
	json_t *s = json_deep_copy(r->stats);
	json_object_set_new(s, "recorded", json_integer((json_int_t)r->len));
	json_object_set_new(s, "record_limit", json_integer((json_int_t)r->cap));
	return s;
}

/* Clears the record and the counters: a test starts from zero. */
void emu_record_clear(emu_record *r)
{
	for (size_t i = 0; i < r->len; i++)
		bh_free(r->ring[(r->start + i) % r->cap]);
	r->start = r->len = 0;
	json_object_clear(r->stats);
}

size_t emu_record_size(const emu_record *r)
{
	return r->len;
}
