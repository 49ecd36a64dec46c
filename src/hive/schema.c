/*
 * schema.c - structured output: a JSON Schema validator for the subset that
 * structured outputs use, extraction of the JSON value from a reply, the
 * fallback instruction and the native outputConfig member.
 *
 * Design: bh_schema_new walks the schema once, checking every keyword's
 * type, compiling each "pattern" (kept in a small table keyed by the schema
 * node) and resolving every "$ref", so that validation cannot meet a broken
 * schema. Validation is a recursive walk over (schema node, instance) that
 * carries the JSON path for messages; anyOf/oneOf try branches with errors
 * switched off. Depth is capped, so "$ref": "#" cannot loop for ever.
 */
#include "hive/schema.h"
#include "util/util.h"
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#define SCHEMA_MAX_DEPTH 64
#define PATH_MAX_LEN 256

typedef struct compiled_re {
	const json_t *node; /* the schema object holding "pattern" */
	regex_t re;
} compiled_re;

struct bh_schema {
	json_t *root;
	compiled_re *res;
	size_t nres;
};

/* A walk's state: the path so far (truncated when very long) and where
 * errors go (NULL while trying anyOf/oneOf branches). */
typedef struct walk {
	const bh_schema *s;
	bhive_error *err;
	char path[PATH_MAX_LEN];
	size_t len;
	int depth;
	bool compiling; /* messages are about the schema, not the value */
} walk;

static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "integer", "string"};

static int fail(walk *w, const char *fmt, ...) BH_PRINTF(2, 3);

/* Records a problem at the current path ("$.a.b: problem"). */
static int fail(walk *w, const char *fmt, ...)
{
	char msg[BHIVE_ERROR_TEXT_LENGTH];
	va_list ap;
	if (!w->err)
		return BHIVE_ERR_SCHEMA;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (w->compiling)
		return bh_error_set(w->err, BHIVE_ERR_SCHEMA, "schema at \"%s\" is not valid: %s",
		                    w->path, msg);
	return bh_error_set(w->err, BHIVE_ERR_SCHEMA, "%s: %s", w->path, msg);
}

static bool is_identifier(const char *k)
{
	if (!*k || !((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '_'))
			return false;
	return true;
}

/* Appends ".key" (or ["key"] for other names) to the path; returns the old
 * length for path_pop. */
static size_t path_push_key(walk *w, const char *key)
{
	size_t old = w->len;
	const char *fmt = is_identifier(key) ? ".%s" : "[\"%s\"]";
	if (w->len < sizeof(w->path))
		snprintf(w->path + w->len, sizeof(w->path) - w->len, fmt, key);
	w->len = strlen(w->path);
	return old;
}

static size_t path_push_index(walk *w, size_t i)
{
	size_t old = w->len;
	if (w->len < sizeof(w->path))
		snprintf(w->path + w->len, sizeof(w->path) - w->len, "[%zu]", i);
	w->len = strlen(w->path);
	return old;
}

static void path_pop(walk *w, size_t old)
{
	w->len = old;
	w->path[old] = '\0';
}

static void walk_init(walk *w, const bh_schema *s, bhive_error *err)
{
	memset(w, 0, sizeof(*w));
	w->s = s;
	w->err = err;
	w->path[0] = '$';
	w->len = 1;
}

/* ---- small JSON facts --------------------------------------------------- */

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}

/* Does v have the JSON Schema type name? 2.0 is an integer, as the
 * specification says. */
static bool has_type(const json_t *v, const char *name)
{
	if (strcmp(name, "integer") == 0) {
		if (json_is_integer(v))
			return true;
		double d = json_is_real(v) ? json_real_value(v) : NAN;
		return isfinite(d) && d == floor(d);
	}
	if (strcmp(name, "number") == 0)
		return json_is_number(v);
	if (strcmp(name, "boolean") == 0)
		return json_is_boolean(v);
	return strcmp(name, json_type_name(v)) == 0;
}

static bool json_eq(const json_t *a, const json_t *b);

static bool array_eq(const json_t *a, const json_t *b)
{
	if (json_array_size(a) != json_array_size(b))
		return false;
	for (size_t i = 0; i < json_array_size(a); i++)
		if (!json_eq(json_array_get(a, i), json_array_get(b, i)))
			return false;
	return true;
}

static bool object_eq(const json_t *a, const json_t *b)
{
	const char *k;
	const json_t *v;
	if (json_object_size(a) != json_object_size(b))
		return false;
	json_object_foreach((json_t *)a, k, v)
	{
		const json_t *o = json_object_get(b, k);
		if (!o || !json_eq(v, o))
			return false;
	}
	return true;
}

/* Equality as JSON Schema defines it: numbers by value (1 equals 1.0). */
static bool json_eq(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a))
		return array_eq(a, b);
	if (json_is_object(a))
		return object_eq(a, b);
	return json_equal((json_t *)a, (json_t *)b);
}

/* Length in code points of UTF-8 text (jansson strings are valid UTF-8). */
static size_t utf8_length(const char *s, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			count++;
	return count;
}

/* A short, single-line rendering of a value for messages. */
static void brief_value(const json_t *v, char *out, size_t n)
{
	char *d = bh_json_dump(v);
	bh_strlcpy(out, d ? d : "?", n);
	if (d && strlen(d) >= n && n > 4)
		memcpy(out + n - 4, "...", 4);
	free(d);
}

/* ---- compiling ---------------------------------------------------------- */

/* Rewrites the ECMA-262 classes \d and \D, which POSIX lacks, outside
 * bracket expressions. */
static char *posix_pattern(const char *p)
{
	bh_buf b;
	bool in_bracket = false;
	int rc = 0;
	bh_buf_init(&b, 0);
	for (; *p && rc == 0; p++) {
		if (*p == '\\' && (p[1] == 'd' || p[1] == 'D') && !in_bracket) {
			rc = bh_buf_puts(&b, p[1] == 'd' ? "[0-9]" : "[^0-9]");
			p++;
			continue;
		}
		if (*p == '\\' && p[1]) {
			rc = bh_buf_append(&b, p, 2);
			p++;
			continue;
		}
		if (*p == '[')
			in_bracket = true;
		else if (*p == ']')
			in_bracket = false;
		rc = bh_buf_putc(&b, *p);
	}
	if (rc) {
		bh_buf_release(&b);
		return NULL;
	}
	return bh_buf_steal(&b);
}

static int compile_pattern(walk *w, bh_schema *s, const json_t *node, const char *pattern)
{
	compiled_re *r = bh_realloc(s->res, (s->nres + 1) * sizeof(*r));
	if (!r)
		return bh_error_set(w->err, BHIVE_ERR_NOMEM, "out of memory compiling a schema");
	s->res = r;
	char *posix = posix_pattern(pattern);
	if (!posix)
		return bh_error_set(w->err, BHIVE_ERR_NOMEM, "out of memory compiling a schema");
	int rc = regcomp(&r[s->nres].re, posix, REG_EXTENDED | REG_NOSUB);
	bh_free(posix);
	if (rc != 0)
		return fail(w, "\"pattern\" \"%s\" is not a valid regular expression", pattern);
	r[s->nres].node = node;
	s->nres++;
	return 0;
}

static const regex_t *find_regex(const bh_schema *s, const json_t *node)
{
	for (size_t i = 0; i < s->nres; i++)
		if (s->res[i].node == node)
			return &s->res[i].re;
	return NULL;
}

/* Resolves "#", "#/$defs/NAME" or "#/definitions/NAME" (one level, as
 * structured outputs write them; "~1" and "~0" are unescaped). */
static const json_t *resolve_ref(const json_t *root, const char *ref)
{
	char name[256];
	const char *rest;
	if (strcmp(ref, "#") == 0)
		return root;
	const json_t *defs = NULL;
	if (bh_starts_with(ref, "#/$defs/")) {
		defs = json_object_get(root, "$defs");
		rest = ref + 8;
	} else if (bh_starts_with(ref, "#/definitions/")) {
		defs = json_object_get(root, "definitions");
		rest = ref + 14;
	} else {
		return NULL;
	}
	size_t j = 0;
	for (; *rest && j + 1 < sizeof(name); rest++) {
		if (rest[0] == '~' && (rest[1] == '0' || rest[1] == '1')) {
			name[j++] = rest[1] == '0' ? '~' : '/';
			rest++;
		} else {
			name[j++] = *rest;
		}
	}
	name[j] = '\0';
	return json_object_get(defs, name);
}

static int compile_node(walk *w, bh_schema *s, const json_t *node);

static bool is_type_name(const char *n)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(type_names); i++)
		if (bh_streq(n, type_names[i]))
			return true;
	return false;
}

static int check_type_kw(walk *w, const json_t *t)
{
	if (json_is_string(t)) {
		if (!is_type_name(json_string_value(t)))
			return fail(w, "unknown type \"%s\"", json_string_value(t));
		return 0;
	}
	if (!json_is_array(t) || json_array_size(t) == 0)
		return fail(w, "\"type\" is not a type name or an array of them");
	for (size_t i = 0; i < json_array_size(t); i++)
		if (!is_type_name(json_string_value(json_array_get(t, i))))
			return fail(w, "\"type\" holds an unknown type name");
	return 0;
}

/* Compiles every schema in an object of schemas (properties, $defs). */
static int compile_map(walk *w, bh_schema *s, const char *kw, const json_t *map)
{
	const char *k;
	const json_t *v;
	if (!json_is_object(map))
		return fail(w, "\"%s\" is not an object", kw);
	size_t old = path_push_key(w, kw);
	json_object_foreach((json_t *)map, k, v)
	{
		size_t old2 = path_push_key(w, k);
		int rc = compile_node(w, s, v);
		path_pop(w, old2);
		if (rc)
			return rc;
	}
	path_pop(w, old);
	return 0;
}

static int compile_list(walk *w, bh_schema *s, const char *kw, const json_t *list)
{
	if (!json_is_array(list) || json_array_size(list) == 0)
		return fail(w, "\"%s\" is not a non-empty array of schemas", kw);
	size_t old = path_push_key(w, kw);
	for (size_t i = 0; i < json_array_size(list); i++) {
		size_t old2 = path_push_index(w, i);
		int rc = compile_node(w, s, json_array_get(list, i));
		path_pop(w, old2);
		if (rc)
			return rc;
	}
	path_pop(w, old);
	return 0;
}

static int compile_sub(walk *w, bh_schema *s, const char *kw, const json_t *sub)
{
	size_t old = path_push_key(w, kw);
	int rc = compile_node(w, s, sub);
	path_pop(w, old);
	return rc;
}

static const char *const number_kws[] = {"minimum", "maximum"};
static const char *const exclusive_kws[] = {"exclusiveMinimum", "exclusiveMaximum"};
static const char *const count_kws[] = {"minLength", "maxLength",     "minItems",
                                        "maxItems",  "minProperties", "maxProperties"};

/* Checks the numeric keywords: bounds and counts. */
static int check_bounds(walk *w, const json_t *node)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(number_kws); i++) {
		const json_t *v = json_object_get(node, number_kws[i]);
		if (v && !json_is_number(v))
			return fail(w, "\"%s\" is not a number", number_kws[i]);
	}
	for (size_t i = 0; i < BH_ARRAY_LEN(exclusive_kws); i++) {
		const json_t *v = json_object_get(node, exclusive_kws[i]);
		if (v && !json_is_number(v) && !json_is_boolean(v))
			return fail(w, "\"%s\" is not a number", exclusive_kws[i]);
	}
	for (size_t i = 0; i < BH_ARRAY_LEN(count_kws); i++) {
		const json_t *v = json_object_get(node, count_kws[i]);
		if (v && !(json_is_integer(v) && json_integer_value(v) >= 0))
			return fail(w, "\"%s\" is not an integer >= 0", count_kws[i]);
	}
	return 0;
}

/* Checks the keywords that hold no subschema, compiling "pattern". */
static int check_scalars(walk *w, bh_schema *s, const json_t *node)
{
	int rc = check_bounds(w, node);
	if (rc)
		return rc;
	const json_t *req = json_object_get(node, "required");
	for (size_t i = 0; req && i < json_array_size(req); i++)
		if (!json_is_string(json_array_get(req, i)))
			return fail(w, "\"required\" holds something other than a string");
	if (req && !json_is_array(req))
		return fail(w, "\"required\" is not an array of strings");
	const json_t *en = json_object_get(node, "enum");
	if (en && !json_is_array(en))
		return fail(w, "\"enum\" is not an array");
	const json_t *pat = json_object_get(node, "pattern");
	if (pat && !json_is_string(pat))
		return fail(w, "\"pattern\" is not a string");
	return pat ? compile_pattern(w, s, node, json_string_value(pat)) : 0;
}

static int check_ref(walk *w, const bh_schema *s, const json_t *ref)
{
	if (!json_is_string(ref))
		return fail(w, "\"$ref\" is not a string");
	if (!resolve_ref(s->root, json_string_value(ref)))
		return fail(w, "\"$ref\" \"%s\" does not resolve to a definition in this schema",
		            json_string_value(ref));
	return 0;
}

/* Compiles the keywords holding subschemas. */
static int compile_children(walk *w, bh_schema *s, const json_t *node)
{
	static const char *const maps[] = {"properties", "$defs", "definitions"};
	static const char *const lists[] = {"anyOf", "oneOf", "allOf"};
	static const char *const subs[] = {"additionalProperties", "items", "not"};
	int rc = 0;
	for (size_t i = 0; !rc && i < BH_ARRAY_LEN(maps); i++) {
		const json_t *v = json_object_get(node, maps[i]);
		rc = v ? compile_map(w, s, maps[i], v) : 0;
	}
	for (size_t i = 0; !rc && i < BH_ARRAY_LEN(lists); i++) {
		const json_t *v = json_object_get(node, lists[i]);
		rc = v ? compile_list(w, s, lists[i], v) : 0;
	}
	for (size_t i = 0; !rc && i < BH_ARRAY_LEN(subs); i++) {
		const json_t *v = json_object_get(node, subs[i]);
		rc = v ? compile_sub(w, s, subs[i], v) : 0;
	}
	return rc;
}

static int compile_node(walk *w, bh_schema *s, const json_t *node)
{
	if (json_is_boolean(node))
		return 0;
	if (!json_is_object(node))
		return fail(w, "a schema must be an object or a boolean");
	if (++w->depth > SCHEMA_MAX_DEPTH)
		return fail(w, "the schema is nested too deeply");
	const json_t *t = json_object_get(node, "type");
	const json_t *ref = json_object_get(node, "$ref");
	int rc = t ? check_type_kw(w, t) : 0;
	if (!rc && ref)
		rc = check_ref(w, s, ref);
	if (!rc)
		rc = check_scalars(w, s, node);
	if (!rc)
		rc = compile_children(w, s, node);
	w->depth--;
	return rc;
}

void bh_schema_free(bh_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nres; i++)
		regfree(&s->res[i].re);
	bh_free(s->res);
	json_decref(s->root);
	bh_free(s);
}

bh_schema *bh_schema_new(const json_t *schema, bhive_error *err)
{
	walk w;
	if (!schema) {
		bh_error_set(err, BHIVE_ERR_SCHEMA, "no schema given");
		return NULL;
	}
	bh_schema *s = bh_calloc(1, sizeof(*s));
	if (!s) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory compiling a schema");
		return NULL;
	}
	s->root = json_incref((json_t *)schema);
	walk_init(&w, s, err);
	w.compiling = true;
	if (compile_node(&w, s, schema) != 0) {
		bh_schema_free(s);
		return NULL;
	}
	return s;
}

const json_t *bh_schema_json(const bh_schema *s)
{
	return s ? s->root : NULL;
}

/* ---- validating --------------------------------------------------------- */

static int validate(walk *w, const json_t *node, const json_t *v);

static int check_type(walk *w, const json_t *t, const json_t *v)
{
	if (json_is_string(t)) {
		if (has_type(v, json_string_value(t)))
			return 0;
		return fail(w, "expected %s, got %s", json_string_value(t), json_type_name(v));
	}
	for (size_t i = 0; i < json_array_size(t); i++)
		if (has_type(v, json_string_value(json_array_get(t, i))))
			return 0;
	char *names = bh_json_dump(t);
	int rc = fail(w, "expected one of %s, got %s", names ? names : "?", json_type_name(v));
	free(names);
	return rc;
}

static int check_enum_const(walk *w, const json_t *node, const json_t *v)
{
	char shown[96];
	const json_t *c = json_object_get(node, "const");
	const json_t *en = json_object_get(node, "enum");
	if (c && !json_eq(c, v)) {
		brief_value(c, shown, sizeof(shown));
		return fail(w, "value must be %s", shown);
	}
	if (!en)
		return 0;
	for (size_t i = 0; i < json_array_size(en); i++)
		if (json_eq(json_array_get(en, i), v))
			return 0;
	brief_value(v, shown, sizeof(shown));
	return fail(w, "%s is not one of the allowed values", shown);
}

/* The bound of an exclusive keyword: its own number (draft 6+), or the
 * plain bound when it is the draft-4 boolean true. */
static const json_t *exclusive_bound(const json_t *node, const char *ex, const char *plain)
{
	const json_t *e = json_object_get(node, ex);
	if (json_is_number(e))
		return e;
	return json_is_true(e) ? json_object_get(node, plain) : NULL;
}

static int check_number(walk *w, const json_t *node, const json_t *v)
{
	double d = json_number_value(v);
	const json_t *lo = json_object_get(node, "minimum");
	const json_t *hi = json_object_get(node, "maximum");
	const json_t *xlo = exclusive_bound(node, "exclusiveMinimum", "minimum");
	const json_t *xhi = exclusive_bound(node, "exclusiveMaximum", "maximum");
	if (lo && d < json_number_value(lo))
		return fail(w, "%g is less than the minimum %g", d, json_number_value(lo));
	if (hi && d > json_number_value(hi))
		return fail(w, "%g is greater than the maximum %g", d, json_number_value(hi));
	if (xlo && d <= json_number_value(xlo))
		return fail(w, "%g is not greater than the exclusive minimum %g", d,
		            json_number_value(xlo));
	if (xhi && d >= json_number_value(xhi))
		return fail(w, "%g is not less than the exclusive maximum %g", d,
		            json_number_value(xhi));
	return 0;
}

static int check_string(walk *w, const json_t *node, const json_t *v)
{
	size_t n = utf8_length(json_string_value(v), json_string_length(v));
	json_int_t lo = bh_json_int(node, "minLength", -1);
	json_int_t hi = bh_json_int(node, "maxLength", -1);
	if (lo >= 0 && (json_int_t)n < lo)
		return fail(w, "string of %zu characters is shorter than the minimum %lld", n,
		            (long long)lo);
	if (hi >= 0 && (json_int_t)n > hi)
		return fail(w, "string of %zu characters is longer than the maximum %lld", n,
		            (long long)hi);
	const regex_t *re = find_regex(w->s, node);
	if (re && regexec(re, json_string_value(v), 0, NULL, 0) != 0) {
		char shown[96];
		brief_value(v, shown, sizeof(shown));
		return fail(w, "%s does not match the pattern \"%s\"", shown,
		            bh_json_str(node, "pattern"));
	}
	return 0;
}

static int check_array(walk *w, const json_t *node, const json_t *v)
{
	size_t n = json_array_size(v);
	json_int_t lo = bh_json_int(node, "minItems", -1);
	json_int_t hi = bh_json_int(node, "maxItems", -1);
	if (lo >= 0 && (json_int_t)n < lo)
		return fail(w, "array of %zu items has fewer than the minimum %lld", n,
		            (long long)lo);
	if (hi >= 0 && (json_int_t)n > hi)
		return fail(w, "array of %zu items has more than the maximum %lld", n,
		            (long long)hi);
	const json_t *items = json_object_get(node, "items");
	for (size_t i = 0; items && i < n; i++) {
		size_t old = path_push_index(w, i);
		int rc = validate(w, items, json_array_get(v, i));
		path_pop(w, old);
		if (rc)
			return rc;
	}
	return 0;
}

static int check_required(walk *w, const json_t *node, const json_t *v)
{
	const json_t *req = json_object_get(node, "required");
	for (size_t i = 0; i < json_array_size(req); i++) {
		const char *name = json_string_value(json_array_get(req, i));
		if (!json_object_get(v, name))
			return fail(w, "missing required property \"%s\"", name);
	}
	json_int_t lo = bh_json_int(node, "minProperties", -1);
	json_int_t hi = bh_json_int(node, "maxProperties", -1);
	if ((lo >= 0 && (json_int_t)json_object_size(v) < lo) ||
	    (hi >= 0 && (json_int_t)json_object_size(v) > hi))
		return fail(w, "object has %zu properties, outside the allowed count",
		            json_object_size(v));
	return 0;
}

/* Validates each member against its property schema, or against
 * additionalProperties when the schema does not name it. */
static int check_properties(walk *w, const json_t *node, const json_t *v)
{
	const char *k;
	const json_t *mv;
	const json_t *props = json_object_get(node, "properties");
	const json_t *extra = json_object_get(node, "additionalProperties");
	json_object_foreach((json_t *)v, k, mv)
	{
		const json_t *sub = json_object_get(props, k);
		if (!sub && json_is_false(extra))
			return fail(w, "property \"%s\" is not allowed", k);
		if (!sub)
			sub = extra;
		if (!sub)
			continue;
		size_t old = path_push_key(w, k);
		int rc = validate(w, sub, mv);
		path_pop(w, old);
		if (rc)
			return rc;
	}
	return 0;
}

/* How many schemas of list v matches, trying them without messages. */
static size_t count_matches(walk *w, const json_t *list, const json_t *v, size_t stop_at)
{
	bhive_error *saved = w->err;
	size_t matched = 0;
	w->err = NULL;
	for (size_t i = 0; i < json_array_size(list) && matched < stop_at; i++)
		if (validate(w, json_array_get(list, i), v) == 0)
			matched++;
	w->err = saved;
	return matched;
}

static int check_combinators(walk *w, const json_t *node, const json_t *v)
{
	const json_t *all = json_object_get(node, "allOf");
	const json_t *any = json_object_get(node, "anyOf");
	const json_t *one = json_object_get(node, "oneOf");
	for (size_t i = 0; i < json_array_size(all); i++) {
		int rc = validate(w, json_array_get(all, i), v);
		if (rc)
			return rc;
	}
	if (any && count_matches(w, any, v, 1) == 0)
		return fail(w, "value matches none of the \"anyOf\" schemas");
	if (one) {
		size_t n = count_matches(w, one, v, 2);
		if (n != 1)
			return fail(w, "value matches %s of the \"oneOf\" schemas",
			            n == 0 ? "none" : "more than one");
	}
	return 0;
}

static int check_not(walk *w, const json_t *node, const json_t *v)
{
	const json_t *not = json_object_get(node, "not");
	bhive_error *saved = w->err;
	if (!not )
		return 0;
	w->err = NULL;
	int rc = validate(w, not, v);
	w->err = saved;
	return rc == 0 ? fail(w, "value must not match the \"not\" schema") : 0;
}

/* The checks that apply to the instance's own type. */
static int check_by_kind(walk *w, const json_t *node, const json_t *v)
{
	if (json_is_number(v))
		return check_number(w, node, v);
	if (json_is_string(v))
		return check_string(w, node, v);
	if (json_is_array(v))
		return check_array(w, node, v);
	if (json_is_object(v)) {
		int rc = check_required(w, node, v);
		return rc ? rc : check_properties(w, node, v);
	}
	return 0;
}

static int validate_object_node(walk *w, const json_t *node, const json_t *v)
{
	const json_t *ref = json_object_get(node, "$ref");
	const json_t *t = json_object_get(node, "type");
	int rc = 0;
	if (ref)
		rc = validate(w, resolve_ref(w->s->root, json_string_value(ref)), v);
	if (!rc && t)
		rc = check_type(w, t, v);
	if (!rc)
		rc = check_enum_const(w, node, v);
	if (!rc)
		rc = check_by_kind(w, node, v);
	if (!rc)
		rc = check_combinators(w, node, v);
	if (!rc)
		rc = check_not(w, node, v);
	return rc;
}

static int validate(walk *w, const json_t *node, const json_t *v)
{
	if (json_is_true(node) || !node)
		return 0;
	if (json_is_false(node))
		return fail(w, "no value is allowed here");
	if (++w->depth > SCHEMA_MAX_DEPTH) {
		w->depth--;
		return fail(w, "the schema recurses too deeply for this value");
	}
	int rc = validate_object_node(w, node, v);
	w->depth--;
	return rc;
}

int bh_schema_validate(const bh_schema *s, const json_t *instance, bhive_error *err)
{
	walk w;
	if (!s || !instance)
		return bh_error_set(err, BHIVE_ERR_SCHEMA, "no schema or value to validate");
	walk_init(&w, s, err);
	return validate(&w, s->root, instance);
}

/* ---- replies, instructions, requests ------------------------------------ */

/* Finds the last "open ... close" span in text; *start and *len describe
 * the text between them. */
static bool last_span(const char *text, const char *open, const char *close, const char **start,
                      size_t *len)
{
	const char *found = NULL, *p = text;
	while ((p = strstr(p, open)) != NULL) {
		const char *body = p + strlen(open);
		const char *end = strstr(body, close);
		if (!end)
			break;
		found = p;
		*start = body;
		*len = (size_t)(end - body);
		p = end + strlen(close);
	}
	return found != NULL;
}

json_t *bh_schema_extract(const char *reply, bhive_error *err)
{
	const char *start;
	size_t len;
	if (!reply)
		reply = "";
	if (last_span(reply, "<json>", "</json>", &start, &len) ||
	    last_span(reply, "```json", "```", &start, &len))
		return bh_json_parse(start, len, "the JSON in the reply", err);
	json_t *whole = json_loads(reply, JSON_DECODE_ANY, NULL);
	if (!whole)
		bh_error_set(
		    err, BHIVE_ERR_SCHEMA,
		    "no JSON found in the reply (no <json></json> tags, no ```json fence)");
	return whole;
}

char *bh_schema_instruction(const json_t *schema)
{
	char *text = bh_json_dump(schema);
	if (!text)
		return NULL;
	char *out = bh_asprintf("Respond with a JSON object that matches this JSON Schema, "
	                        "inside <json></json> tags:\n%s",
	                        text);
	free(text);
	return out;
}

static json_t *text_format(const json_t *schema, const char *name)
{
	char *text = bh_json_dump(schema);
	if (!text)
		return NULL;
	json_t *tf = json_pack("{s:s, s:{s:{s:s, s:s}}}", "type", "json_schema", "structure",
	                       "jsonSchema", "schema", text, "name", name ? name : "response");
	free(text);
	return tf;
}

int bh_schema_add_output_config(json_t *request, const json_t *schema, const char *name,
                                bhive_error *err)
{
	if (!json_is_object(request) || !schema)
		return bh_error_set(err, BHIVE_ERR_INVALID, "no request object or schema given");
	json_t *oc = json_object_get(request, "outputConfig");
	if (oc && !json_is_object(oc))
		return bh_error_set(err, BHIVE_ERR_INVALID, "\"outputConfig\" is not an object");
	if (!oc && json_object_set_new(request, "outputConfig", oc = json_object()) != 0)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory adding outputConfig");
	json_t *tf = text_format(schema, name);
	if (!tf || json_object_set_new(oc, "textFormat", tf) != 0)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory adding outputConfig");
	return 0;
}
