/*
 * record.c - what the emulator was asked: the last N requests (a ring, so
 * memory stays bounded under benchmark load) and counters per model and
 * per outcome that never roll over.
 */
#include <string.h>

#include "emu.h"

/* One request: its metadata as compact JSON text (a few hundred bytes) and
 * its body as the bytes received. */
typedef struct emu_entry {
	char *meta;
	char *body; /* NULL: empty */
	size_t body_len;
} emu_entry;

struct emu_record {
	emu_entry *ring;
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

static void entry_release(emu_entry *e)
{
	bh_free(e->meta);
	bh_free(e->body);
	*e = (emu_entry){NULL, NULL, 0};
}

/* Entries are kept serialised: one allocation instead of a tree of
 * jansson nodes, which matters at 100k entries under benchmark load. The
 * body is kept as it came, neither copied nor escaped into JSON text: a
 * debate request carries tens of kilobytes, and only a GET of the record
 * (rare, and off the hot path) needs it parsed. */
void emu_record_add(emu_record *r, json_t *entry, char *body, size_t body_len)
{
	char *text = json_dumps(entry, JSON_COMPACT);
	json_decref(entry);
	char *copy = text ? bh_strdup(text) : NULL;
	free(text);
	if (!copy) {
		bh_free(body);
		return;
	}
	emu_entry e = {copy, body, body_len};
	if (r->len == r->cap) {
		entry_release(&r->ring[r->start]);
		r->ring[r->start] = e;
		r->start = (r->start + 1) % r->cap;
		return;
	}
	r->ring[(r->start + r->len) % r->cap] = e;
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
 * were not JSON); the listing shows them parsed when they parse, else as a
 * string (left out when the bytes are not UTF-8). */
static json_t *entry_view(const emu_entry *e)
{
	json_t *v = json_loads(e->meta, 0, NULL);
	const char *raw = e->body ? e->body : "";
	json_t *body = json_loadb(raw, e->body_len, 0, NULL);
	if (!body)
		body = json_stringn(raw, e->body_len);
	if (body)
		json_object_set_new(v, "body", body);
	return v;
}

json_t *emu_record_list(const emu_record *r)
{
	json_t *a = json_array();
	for (size_t i = 0; i < r->len; i++)
		json_array_append_new(a, entry_view(&r->ring[(r->start + i) % r->cap]));
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
		entry_release(&r->ring[(r->start + i) % r->cap]);
	r->start = r->len = 0;
	json_object_clear(r->stats);
}

size_t emu_record_size(const emu_record *r)
{
	return r->len;
}
