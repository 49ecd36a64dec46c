/*
 * dataset.c - benchmark datasets: JSONL files and the arithmetic generator.
 *
 * A dataset owns one JSON array of sample objects; bhive_sample views point
 * into it, so loading allocates once per line and nothing is copied again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "bhive/bench.h"
#include "util/util.h"

struct bhive_dataset {
	json_t *items;           /* array of sample objects */
	bhive_sample *samples;
	size_t n;
	char *name;
	char fingerprint[17];
	char **texts;            /* id/expected strings made from numbers */
	size_t ntexts;
};

static const char *keep_text(bhive_dataset *ds, char *s)
{
	char **t = bh_realloc(ds->texts, (ds->ntexts + 1) * sizeof(*t));
	if (!t) {
		bh_free(s);
		return NULL;
	}
	ds->texts = t;
	t[ds->ntexts++] = s;
	return s;
}

/* "expected" may be a string or a number; numbers are kept as their text. */
static int expected_text(bhive_dataset *ds, const json_t *v, const char **out)
{
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		*out = json_string_value(v);
		return 0;
	}
	if (json_is_integer(v)) {
		*out = keep_text(ds, bh_asprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v)));
		return *out ? 0 : BHIVE_ERR_NOMEM;
	}
	if (json_is_real(v)) {
		*out = keep_text(ds, bh_asprintf("%.17g", json_real_value(v)));
		return *out ? 0 : BHIVE_ERR_NOMEM;
	}
	return BHIVE_ERR_PARSE;
}

/* Checks one line's object; returns NULL when fine, else the problem. */
static const char *check_sample(const json_t *o)
{
	if (!json_is_object(o))
		return "not a JSON object";
	const json_t *p = json_object_get(o, "prompt"), *m = json_object_get(o, "messages");
	if (!p && !m)
		return "needs \"prompt\" or \"messages\"";
	if (p && !json_is_string(p))
		return "\"prompt\" must be a string";
	if (m && (!json_is_array(m) || json_array_size(m) == 0))
		return "\"messages\" must be a non-empty array";
	const json_t *e = json_object_get(o, "expected");
	if (e && !json_is_null(e) && !json_is_string(e) && !json_is_number(e))
		return "\"expected\" must be a string or a number";
	const json_t *id = json_object_get(o, "id");
	if (id && !json_is_string(id) && !json_is_integer(id))
		return "\"id\" must be a string or an integer";
	return NULL;
}

static bhive_dataset *dataset_new(const char *name)
{
	bhive_dataset *ds = bh_calloc(1, sizeof(*ds));
	if (!ds)
		return NULL;
	ds->items = json_array();
	ds->name = bh_strdup(name);
	if (!ds->items || !ds->name) {
		bhive_dataset_free(ds);
		return NULL;
	}
	return ds;
}

/* Builds the sample views once every item is in place. */
static int finish(bhive_dataset *ds, const int *lines, bhive_error *err)
{
	ds->n = json_array_size(ds->items);
	ds->samples = bh_calloc(ds->n ? ds->n : 1, sizeof(*ds->samples));
	if (!ds->samples)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory loading a dataset");
	uint64_t h = 0;
	for (size_t i = 0; i < ds->n; i++) {
		json_t *o = json_array_get(ds->items, i);
		bhive_sample *s = &ds->samples[i];
		s->line = lines ? lines[i] : 0;
		s->prompt = bh_json_str(o, "prompt");
		s->messages = json_object_get(o, "messages");
		s->metadata = json_object_get(o, "metadata");
		json_t *id = json_object_get(o, "id");
		if (json_is_string(id))
			s->id = json_string_value(id);
		else
			s->id = keep_text(ds, json_is_integer(id)
			                          ? bh_asprintf("%" JSON_INTEGER_FORMAT, json_integer_value(id))
			                          : bh_asprintf("%zu", i + 1));
		if (!s->id || expected_text(ds, json_object_get(o, "expected"), &s->expected))
			return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory loading a dataset");
		char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		if (!text)
			return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory loading a dataset");
		h = bh_hash64(text, strlen(text), h);
		free(text);
	}
	snprintf(ds->fingerprint, sizeof(ds->fingerprint), "%016llx", (unsigned long long)h);
	return 0;
}

/* Reads one line of any length; returns NULL at end of file. */
static char *read_line(FILE *f, bh_buf *b)
{
	bh_buf_reset(b);
	int c;
	while ((c = fgetc(f)) != EOF && c != '\n')
		if (bh_buf_putc(b, (char)c))
			return NULL;
	if (c == EOF && b->len == 0)
		return NULL;
	return b->data ? b->data : (char *)"";
}

static int load_lines(bhive_dataset *ds, FILE *f, const char *path, bhive_bad_line mode,
                      bhive_bad_line_fn on_bad, void *ud, int **lines, bhive_error *err)
{
	bh_buf line;
	bh_buf_init(&line, (size_t)16 << 20);
	int lineno = 0, rc = 0;
	size_t cap = 0;
	char *text;
	while ((text = read_line(f, &line)) != NULL) {
		lineno++;
		char *t = bh_trim(text);
		if (!*t)
			continue;
		json_error_t je;
		/* A NUL byte would end the text early and drop the rest silently. */
		bool nul = strlen(text) != line.len;
		json_t *o = nul ? NULL : json_loads(t, 0, &je);
		const char *problem = nul ? "NUL byte in the line" : o ? check_sample(o) : je.text;
		if (problem) {
			json_decref(o);
			if (mode == BHIVE_BAD_LINE_SKIP) {
				if (on_bad)
					on_bad(ud, lineno, problem);
				continue;
			}
			rc = bh_error_set(err, BHIVE_ERR_PARSE, "\"%s\" line %d: %s", path, lineno, problem);
			if (err)
				err->line = lineno;
			break;
		}
		size_t n = json_array_size(ds->items);
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			int *nl = bh_realloc(*lines, cap * sizeof(int));
			if (!nl) {
				json_decref(o);
				rc = bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory reading \"%s\"", path);
				break;
			}
			*lines = nl;
		}
		(*lines)[n] = lineno;
		json_array_append_new(ds->items, o);
	}
	if (!rc && ferror(f))
		rc = bh_error_set(err, BHIVE_ERR_IO, "cannot read \"%s\"", path);
	if (!rc && line.len >= line.max)
		rc = bh_error_set(err, BHIVE_ERR_PARSE, "\"%s\" line %d is longer than 16 MiB", path,
		                  lineno + 1);
	else if (!rc && !feof(f)) /* read_line stopped early: out of memory, not the end */
		rc = bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory reading \"%s\" line %d", path,
		                  lineno + 1);
	bh_buf_release(&line);
	return rc;
}

bhive_dataset *bhive_dataset_load_jsonl(const char *path, bhive_bad_line mode,
                                        bhive_bad_line_fn on_bad, void *ud, bhive_error *err)
{
	bhive_error_clear(err);
	FILE *f = fopen(path, "r");
	if (!f) {
		bh_error_set(err, BHIVE_ERR_IO, "cannot open dataset \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	bhive_dataset *ds = dataset_new(path);
	int *lines = NULL;
	int rc = ds ? load_lines(ds, f, path, mode, on_bad, ud, &lines, err)
	            : bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	fclose(f);
	if (!rc && json_array_size(ds->items) == 0)
		rc = bh_error_set(err, BHIVE_ERR_PARSE, "dataset \"%s\" has no samples", path);
	if (!rc)
		rc = finish(ds, lines, err);
	bh_free(lines);
	if (rc) {
		bhive_dataset_free(ds);
		return NULL;
	}
	return ds;
}

static int operand_range(const char *difficulty, long *lo, long *hi)
{
	if (bh_streq(difficulty, "easy"))
		*lo = 0, *hi = 50;
	else if (bh_streq(difficulty, "medium"))
		*lo = 250, *hi = 750;
	else if (bh_streq(difficulty, "hard"))
		*lo = 1000, *hi = 2000;
	else
		return -1;
	return 0;
}

static json_t *arithmetic_item(bh_rng *rng, long lo, long hi, const char *difficulty, size_t i)
{
	long v[6];
	for (int k = 0; k < 6; k++)
		v[k] = lo + (long)bh_rng_below(rng, (uint64_t)(hi - lo));
	long long expected = (long long)v[0] + (long long)v[1] * v[2] + v[3] - (long long)v[4] * v[5];
	char prompt[256];
	snprintf(prompt, sizeof(prompt),
	         "What is the result of %ld+%ld*%ld+%ld-%ld*%ld? Make sure to state your answer "
	         "in <answer> </answer> tags.",
	         v[0], v[1], v[2], v[3], v[4], v[5]);
	char id[64], exp[32];
	snprintf(id, sizeof(id), "%s-%zu", difficulty, i + 1);
	snprintf(exp, sizeof(exp), "%lld", expected);
	return json_pack("{s:s, s:s, s:s, s:{s:s}}", "id", id, "prompt", prompt, "expected", exp,
	                 "metadata", "difficulty", difficulty);
}

bhive_dataset *bhive_dataset_arithmetic(const char *difficulty, size_t n, uint64_t seed,
                                        bhive_error *err)
{
	bhive_error_clear(err);
	long lo, hi;
	if (!difficulty || operand_range(difficulty, &lo, &hi)) {
		bh_error_set(err, BHIVE_ERR_INVALID,
		             "unknown arithmetic difficulty \"%s\" (easy, medium or hard)",
		             difficulty ? difficulty : "");
		return NULL;
	}
	if (n == 0 || n > 10000000) {
		bh_error_set(err, BHIVE_ERR_INVALID, "arithmetic sample count %zu out of range", n);
		return NULL;
	}
	char name[96];
	snprintf(name, sizeof(name), "arithmetic:%s:%zu:seed=%llu", difficulty, n,
	         (unsigned long long)seed);
	bhive_dataset *ds = dataset_new(name);
	if (!ds) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	bh_rng rng;
	bh_rng_seed(&rng, seed ^ bh_hash64(difficulty, strlen(difficulty), 0));
	for (size_t i = 0; i < n; i++) {
		json_t *o = arithmetic_item(&rng, lo, hi, difficulty, i);
		if (!o || json_array_append_new(ds->items, o)) {
			bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
			bhive_dataset_free(ds);
			return NULL;
		}
	}
	if (finish(ds, NULL, err)) {
		bhive_dataset_free(ds);
		return NULL;
	}
	return ds;
}

size_t bhive_dataset_size(const bhive_dataset *ds) { return ds ? ds->n : 0; }

const bhive_sample *bhive_dataset_get(const bhive_dataset *ds, size_t i)
{
	return ds && i < ds->n ? &ds->samples[i] : NULL;
}

int bhive_dataset_has_expected(const bhive_dataset *ds)
{
	for (size_t i = 0; ds && i < ds->n; i++)
		if (!ds->samples[i].expected)
			return 0;
	return ds != NULL;
}

const char *bhive_dataset_fingerprint(const bhive_dataset *ds) { return ds->fingerprint; }

const char *bhive_dataset_name(const bhive_dataset *ds) { return ds->name; }

json_t *bhive_sample_request(const bhive_sample *s)
{
	if (s->messages)
		return json_pack("{s:O}", "messages", s->messages);
	return json_pack("{s:[{s:s, s:[{s:s}]}]}", "messages", "role", "user", "content", "text",
	                 s->prompt);
}

void bhive_dataset_free(bhive_dataset *ds)
{
	if (!ds)
		return;
	json_decref(ds->items);
	for (size_t i = 0; i < ds->ntexts; i++)
		bh_free(ds->texts[i]);
	bh_free(ds->texts);
	bh_free(ds->samples);
	bh_free(ds->name);
	bh_free(ds);
}
