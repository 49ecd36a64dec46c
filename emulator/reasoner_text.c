/*
 * reasoner_text.c - what a simulated model says to everything but the
 * arithmetic benchmark: simple calculations, rephrasing requests (semantic
 * augmentation), aggregation by majority, structured output filled from a
 * JSON Schema, and a plainly labelled generic answer for the rest.
 */
#include "reasoner_int.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool emu_tag_value(const char *text, const char *tag, char *out, size_t outsz)
{
	char open[40], close[40];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *last = NULL;
	for (const char *p = strstr(text, open); p; p = strstr(p + 1, open))
		last = p;
	const char *end = last ? strstr(last, close) : NULL;
	if (!end)
		return false;
	const char *s = last + strlen(open);
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	size_t n = (size_t)(end - s) < outsz ? (size_t)(end - s) : outsz - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	return n > 0;
}

static bool contains_ci(const char *s, size_t len, const char *word)
{
	size_t w = strlen(word);
	for (size_t i = 0; i + w <= len; i++)
		if (strncasecmp(s + i, word, w) == 0)
			return true;
	return false;
}

int emu_feedback_class(const char *feedback, size_t len)
{
	if (contains_ci(feedback, len, "incorrect") || contains_ci(feedback, len, "not correct") ||
	    contains_ci(feedback, len, "no answer was found") ||
	    contains_ci(feedback, len, "wrong"))
		return EMU_FEEDBACK_WRONG;
	if (contains_ci(feedback, len, "correct"))
		return EMU_FEEDBACK_RIGHT;
	return EMU_FEEDBACK_NONE;
}

/* The verifier's word on one agent response: between the response's closing
 * fence and the next response (limit), up to a blank line. */
static int vote_feedback(const char *p, const char *limit)
{
	static const char mark[] = "added context to this answer:";
	const char *at = memmem(p, (size_t)(limit - p), mark, sizeof(mark) - 1);
	if (!at)
		return EMU_FEEDBACK_NONE;
	at += sizeof(mark) - 1;
	const char *end = memmem(at, (size_t)(limit - at), "\n\n", 2);
	const char *rem = memmem(at, (size_t)(limit - at), "As a reminder", 13);
	if (!end || (rem && rem < end))
		end = rem ? rem : limit;
	return emu_feedback_class(at, (size_t)(end - at));
}

/* One "One agent response: ```...```" block from body up to limit. */
static void vote_read(const char *body, const char *limit, emu_vote *v)
{
	const char *open = memmem(body, (size_t)(limit - body), "```", 3);
	const char *close = open ? memmem(open + 3, (size_t)(limit - open - 3), "```", 3) : NULL;
	memset(v, 0, sizeof(*v));
	if (!open)
		return;
	if (!close)
		close = limit;
	char *inner = bh_strndup(open + 3, (size_t)(close - open - 3));
	if (inner)
		emu_tag_value(inner, "answer", v->value, sizeof(v->value));
	bh_free(inner);
	v->feedback = vote_feedback(close, limit);
}

size_t emu_votes_parse(const char *text, emu_vote *votes, size_t max)
{
	static const char mark[] = "One agent response:";
	size_t n = 0;
	for (const char *p = strstr(text, mark); p && n < max; n++) {
		const char *body = p + sizeof(mark) - 1;
		const char *next = strstr(body, mark);
		vote_read(body, next ? next : body + strlen(body), &votes[n]);
		p = next;
	}
	return n;
}

/* Two stated answers are the same when equal as text or as integers. */
static bool same_value(const char *a, const char *b)
{
	long x, y;
	if (strcmp(a, b) == 0)
		return true;
	return bh_parse_long(a, &x) == 0 && bh_parse_long(b, &y) == 0 && x == y;
}

int emu_votes_majority(const emu_vote *votes, size_t n, bool skip_wrong, size_t *count)
{
	int best = -1;
	size_t best_n = 0;
	for (size_t i = 0; i < n; i++) {
		if (!votes[i].value[0] || (skip_wrong && votes[i].feedback == EMU_FEEDBACK_WRONG))
			continue;
		size_t k = 0;
		for (size_t j = 0; j < n; j++)
			k += (!skip_wrong || votes[j].feedback != EMU_FEEDBACK_WRONG) &&
			     same_value(votes[i].value, votes[j].value);
		if (k > best_n)
			best = (int)i, best_n = k;
	}
	if (count)
		*count = best_n;
	return best;
}

/* ---- simple calculations: "What is 17 * 3?" ------------------------- */

typedef struct calc {
	const char *s;
	int ops;
	bool ok;
	bool div_zero;
} calc;

static double calc_sum(calc *e, int depth);

static void calc_space(calc *e)
{
	while (*e->s == ' ')
		e->s++;
}

/* A plain decimal number (no exponent, no hex: strtod alone takes both). */
static double calc_number(calc *e)
{
	char tmp[48];
	size_t n = 0;
	while (n + 1 < sizeof(tmp) && (isdigit((unsigned char)e->s[n]) || e->s[n] == '.'))
		n++;
	if (n == 0 || n + 1 >= sizeof(tmp)) {
		e->ok = false;
		return 0;
	}
	memcpy(tmp, e->s, n);
	tmp[n] = '\0';
	e->s += n;
	double v;
	if (bh_parse_double(tmp, &v))
		e->ok = false;
	return v;
}

static double calc_atom(calc *e, int depth)
{
	calc_space(e);
	if (*e->s == '-') {
		e->s++;
		return -calc_atom(e, depth + 1);
	}
	if (*e->s != '(' || depth > 20)
		return calc_number(e);
	e->s++;
	double v = calc_sum(e, depth + 1);
	calc_space(e);
	if (*e->s != ')')
		e->ok = false;
	else
		e->s++;
	return v;
}

/* Multiplication signs people type: *, x between spaces, and UTF-8 × and ÷. */
static int calc_mul_op(calc *e)
{
	calc_space(e);
	const char *s = e->s;
	if (*s == '*' || *s == '/')
		return e->s++, *s;
	if (*s == 'x' && s[1] == ' ' && s[-1] == ' ')
		return e->s++, '*';
	if ((unsigned char)s[0] == 0xc3 &&
	    ((unsigned char)s[1] == 0x97 || (unsigned char)s[1] == 0xb7))
		return e->s += 2, (unsigned char)s[1] == 0x97 ? '*' : '/';
	return 0;
}

static double calc_product(calc *e, int depth)
{
	double v = calc_atom(e, depth);
	for (int op; e->ok && (op = calc_mul_op(e)) != 0;) {
		double r = calc_atom(e, depth);
		e->ops++;
		if (op == '/' && r == 0)
			e->div_zero = true;
		v = op == '*' ? v * r : (r != 0 ? v / r : 0);
	}
	return v;
}

static double calc_sum(calc *e, int depth)
{
	double v = calc_product(e, depth);
	for (;;) {
		calc_space(e);
		char op = *e->s;
		if (!e->ok || (op != '+' && op != '-'))
			return v;
		e->s++;
		double r = calc_product(e, depth);
		e->ops++;
		v = op == '+' ? v + r : v - r;
	}
}

static const char *const question_words[] = {"what is",   "what's",   "how much is", "compute",
                                             "calculate", "evaluate", "solve"};

static bool asks_question(const char *text)
{
	while (isspace((unsigned char)*text))
		text++;
	for (size_t i = 0; i < BH_ARRAY_LEN(question_words); i++)
		if (strncasecmp(text, question_words[i], strlen(question_words[i])) == 0)
			return true;
	return false;
}

/* Where the expression starts: the first digit, '(' or minus sign before a digit. */
static const char *calc_start(const char *text)
{
	for (const char *s = text; *s; s++)
		if (isdigit((unsigned char)*s) || *s == '(' ||
		    (*s == '-' && isdigit((unsigned char)s[1])))
			return s;
	return NULL;
}

static void format_number(double v, char *out, size_t outsz)
{
	if (fabs(v) < 1e15 && v == floor(v))
		snprintf(out, outsz, "%.0f", v + 0.0);
	else
		snprintf(out, outsz, "%.10g", v);
}

/* The rest after the expression must be punctuation, or the text must ask. */
static bool calc_accept(const char *text, const calc *e)
{
	const char *rest = e->s;
	while (*rest && strchr(" ?.=!\n", *rest))
		rest++;
	return e->ok && e->ops > 0 && (!*rest || asks_question(text));
}

/* A calculation asked on the first line of text (at most 200 characters). */
static bool simple_calc(const char *line, emu_answer *out, bool tags)
{
	const char *start = calc_start(line);
	if (!start)
		return false;
	calc e = {.s = start, .ok = true};
	double v = calc_sum(&e, 0);
	if (!calc_accept(line, &e))
		return false;
	const char *end = e.s;
	while (end > start && end[-1] == ' ')
		end--;
	if (e.div_zero) {
		bh_buf_printf(&out->final, "%.*s is undefined: it divides by zero.",
		              (int)(end - start), start);
		return true;
	}
	format_number(v, out->value, sizeof(out->value));
	bh_buf_printf(&out->final, "%.*s = %s.", (int)(end - start), start, out->value);
	if (tags)
		bh_buf_printf(&out->final, "\n\n<answer>%s</answer>", out->value);
	return true;
}

bool emu_simple_answer(const char *text, emu_answer *out)
{
	size_t n = strcspn(text, "\n");
	if (n > 200)
		return false;
	char *line = bh_strndup(text, n);
	bool ok = line && simple_calc(line, out, strstr(text, "<answer>") != NULL);
	bh_free(line);
	return ok;
}

/* ---- rephrasing (semantic augmentation) ------------------------------ */

static const struct {
	const char *from;
	const char *to[3];
	bool statement; /* the result is no longer a question: '?' becomes '.' */
} rephrasings[] = {
    {"What is the result of ",
     {"Compute the value of ", "Work out the result of ", "Calculate "},
     true},
    {"Make sure to state your answer",
     {"Be sure to state your answer", "Remember to state your answer", "Please state your answer"},
     false},
    {"What is ", {"Tell me: what is ", "Please answer: what is ", "Question: what is "}, false},
};

/* Replaces the first occurrence of each known phrase by a seeded variant;
 * numbers, tags and the rest of the text are copied unchanged. */
static int rephrase(bh_rng *r, const char *prompt, bh_buf *out)
{
	char *text = bh_strdup(prompt);
	int changed = 0, rc = text ? 0 : BHIVE_ERR_NOMEM;
	for (size_t i = 0; !rc && i < BH_ARRAY_LEN(rephrasings); i++) {
		char *at = strstr(text, rephrasings[i].from);
		if (!at || (i == 2 && changed))
			continue;
		const char *to = rephrasings[i].to[bh_rng_below(r, 3)];
		char *q = rephrasings[i].statement ? strchr(at, '?') : NULL;
		if (q)
			*q = '.';
		char *next = bh_asprintf("%.*s%s%s", (int)(at - text), text, to,
		                         at + strlen(rephrasings[i].from));
		bh_free(text);
		text = next;
		rc = text ? 0 : BHIVE_ERR_NOMEM;
		changed++;
	}
	if (!rc)
		rc = bh_buf_printf(out, "%s%s", changed ? "" : "Please answer the following. ",
		                   text);
	bh_free(text);
	return rc;
}

int emu_rephrase_answer(emu_ctx *c, emu_answer *out)
{
	const char *open = strstr(c->last_user, "<prompt>");
	const char *close = NULL;
	for (const char *p = open ? strstr(open, "</prompt>") : NULL; p;
	     p = strstr(p + 1, "</prompt>"))
		close = p;
	if (!open || !close)
		return bh_buf_puts(&out->final, "There is no <prompt></prompt> to rephrase.");
	char *prompt = bh_strndup(open + 8, (size_t)(close - open - 8));
	bh_buf body;
	bh_buf_init(&body, 0);
	int rc = prompt ? rephrase(&c->rng, prompt, &body) : BHIVE_ERR_NOMEM;
	if (!rc)
		rc = bh_buf_printf(&out->final, "<rephrased>%s</rephrased>", body.data);
	bh_buf_release(&body);
	bh_free(prompt);
	return rc;
}

/* ---- aggregation ------------------------------------------------------ */

static int aggregate_fallback(emu_ctx *c, emu_answer *out)
{
	emu_arith q;
	if (emu_arith_find(c->last_user, &q))
		return emu_arith_answer(c, &q, out);
	return bh_buf_puts(&out->final, "None of the agents stated an answer in <answer></answer> "
	                                "tags, so there is nothing to aggregate.");
}

int emu_aggregate_answer(emu_ctx *c, emu_answer *out)
{
	emu_vote votes[32];
	size_t n = emu_votes_parse(c->last_user, votes, BH_ARRAY_LEN(votes)), count = 0;
	int m = emu_votes_majority(votes, n, false, &count);
	if (m < 0)
		return aggregate_fallback(c, out);
	int rc = bh_buf_puts(&out->work, "The agents proposed these answers:");
	for (size_t i = 0; i < n && !rc; i++)
		rc = bh_buf_printf(&out->work, " %s%s",
		                   votes[i].value[0] ? votes[i].value : "(none)",
		                   i + 1 < n ? "," : ".\n");
	bh_strlcpy(out->value, votes[m].value, sizeof(out->value));
	if (!rc)
		rc = bh_buf_printf(&out->final,
		                   "The most common answer is %s (%zu of %zu agents)."
		                   "\n\n<answer>%s</answer>",
		                   out->value, count, n, out->value);
	return rc;
}

/* ---- anything else ---------------------------------------------------- */

static const char *const generic_lines[] = {
    ("It can solve the arithmetic benchmark and simple calculations; for other questions it "
     "only shows that the request went through."),
    "Its answers are deterministic for a seed and a request, so tests can rely on them.",
    "Point bhive at Amazon Bedrock to get a real model's answer to this question.",
    "The text, token counts and latency are produced locally; no real model was called.",
};

/* The prompt's first words on one line, for the generic answer to echo. */
static void prompt_excerpt(const char *prompt, char *out, size_t outsz)
{
	size_t n = 0;
	for (const char *s = prompt; *s && n + 4 < outsz && n < 60; s++)
		out[n++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
	out[n] = '\0';
	if (strlen(prompt) > n && n + 4 < outsz)
		bh_strlcpy(out + n, "...", outsz - n);
}

int emu_generic_answer(emu_ctx *c, emu_answer *out)
{
	char excerpt[80];
	const char *id = c->p->model_id ? c->p->model_id : "simulated model";
	prompt_excerpt(c->first_user, excerpt, sizeof(excerpt));
	int rc = bh_buf_printf(
	    &out->final,
	    "[simulated model %s] This answer comes from a simulated "
	    "model in bhive-emulator, not from a real language model. You asked: "
	    "\"%s\". %s %s",
	    id, excerpt, generic_lines[bh_rng_below(&c->rng, BH_ARRAY_LEN(generic_lines))],
	    c->last_assistant ? "On reflection, my previous answer stands."
	                      : "This is the simulation's whole answer.");
	bh_strlcpy(out->value, "simulated", sizeof(out->value));
	return rc;
}

/* ---- structured output: an instance of a JSON Schema ----------------- */

static bool name_has(const char *name, const char *const *words, size_t n)
{
	for (size_t i = 0; name && i < n; i++)
		if (contains_ci(name, strlen(name), words[i]))
			return true;
	return false;
}

static bool answer_like(const char *name)
{
	static const char *const w[] = {"answer", "result", "solution", "value"};
	return name_has(name, w, BH_ARRAY_LEN(w));
}

static bool reasoning_like(const char *name)
{
	static const char *const w[] = {"reason", "explanation", "steps", "rationale", "thought"};
	return name_has(name, w, BH_ARRAY_LEN(w));
}

typedef struct filler {
	const json_t *root;
	const char *answer;
	const char *work;
} filler;

static json_t *fill(const filler *f, const json_t *schema, const char *name, int depth);

static const json_t *resolve_ref(const filler *f, const char *ref)
{
	if (bh_streq(ref, "#"))
		return f->root;
	if (bh_starts_with(ref, "#/$defs/"))
		return json_object_get(json_object_get(f->root, "$defs"), ref + 8);
	if (bh_starts_with(ref, "#/definitions/"))
		return json_object_get(json_object_get(f->root, "definitions"), ref + 14);
	return NULL;
}

/* The first type named that is not "null" (a lone "null" is kept). */
static const char *schema_type(const json_t *schema)
{
	const json_t *t = json_object_get(schema, "type");
	if (json_is_string(t))
		return json_string_value(t);
	const char *pick = NULL;
	for (size_t i = 0; json_is_array(t) && i < json_array_size(t); i++) {
		const char *s = json_string_value(json_array_get(t, i));
		if (s && (!pick || bh_streq(pick, "null")))
			pick = s;
	}
	if (pick)
		return pick;
	if (json_object_get(schema, "properties"))
		return "object";
	return json_object_get(schema, "items") ? "array" : "string";
}

static json_t *fill_object(const filler *f, const json_t *schema, int depth)
{
	json_t *obj = json_object();
	const json_t *props = json_object_get(schema, "properties"), *req;
	const char *key;
	json_t *sub;
	json_object_foreach((json_t *)props, key, sub)
	    json_object_set_new(obj, key, fill(f, sub, key, depth + 1));
	size_t i;
	json_array_foreach(json_object_get(schema, "required"), i,
	                   req) if (json_is_string(req) &&
	                            !json_object_get(obj, json_string_value(req)))
	    json_object_set_new(obj, json_string_value(req), json_string(f->answer));
	return obj;
}

static json_t *fill_array(const filler *f, const json_t *schema, const char *name, int depth)
{
	json_t *arr = json_array();
	json_int_t n = bh_json_int(schema, "minItems", 1);
	json_int_t max = bh_json_int(schema, "maxItems", 16);
	if (n > max)
		n = max;
	for (json_int_t i = 0; i < n && i < 16; i++)
		json_array_append_new(arr,
		                      fill(f, json_object_get(schema, "items"), name, depth + 1));
	return arr;
}

/* A number inside minimum/maximum (exclusive bounds moved inwards by one). */
static double clamp_number(const json_t *schema, double v, bool integer)
{
	double step = integer ? 1.0 : 1e-6;
	double lo = bh_json_num(schema, "minimum", -INFINITY);
	double hi = bh_json_num(schema, "maximum", INFINITY);
	lo = fmax(lo, bh_json_num(schema, "exclusiveMinimum", -INFINITY) + step);
	hi = fmin(hi, bh_json_num(schema, "exclusiveMaximum", INFINITY) - step);
	v = v < lo ? (integer ? ceil(lo) : lo) : v;
	return v > hi ? (integer ? floor(hi) : hi) : v;
}

static json_t *fill_number(const filler *f, const json_t *schema, const char *name, bool integer)
{
	double v = 0;
	if (answer_like(name) && bh_parse_double(f->answer, &v) != 0)
		v = 0;
	if (integer)
		v = floor(v);
	v = clamp_number(schema, v, integer);
	return integer ? json_integer((json_int_t)v) : json_real(v);
}

static json_t *fill_string(const filler *f, const json_t *schema, const char *name)
{
	const char *base = answer_like(name)      ? f->answer
	                   : reasoning_like(name) ? f->work
	                                          : "simulated";
	bh_buf b;
	bh_buf_init(&b, 0);
	bh_buf_puts(&b, base && base[0] ? base : "simulated");
	json_int_t min = bh_json_int(schema, "minLength", 0);
	while (b.data && (json_int_t)b.len < min && b.len < 4096)
		bh_buf_putc(&b, '.');
	json_int_t max = bh_json_int(schema, "maxLength", -1);
	if (b.data && max >= 0 && (json_int_t)b.len > max)
		b.data[max] = '\0';
	json_t *s = json_string(b.data ? b.data : "");
	bh_buf_release(&b);
	return s ? s : json_string("");
}

static json_t *fill_typed(const filler *f, const json_t *schema, const char *name, int depth)
{
	const char *type = schema_type(schema);
	if (bh_streq(type, "object"))
		return fill_object(f, schema, depth);
	if (bh_streq(type, "array"))
		return fill_array(f, schema, name, depth);
	if (bh_streq(type, "integer") || bh_streq(type, "number"))
		return fill_number(f, schema, name, bh_streq(type, "integer"));
	if (bh_streq(type, "boolean"))
		return json_true();
	if (bh_streq(type, "null"))
		return json_null();
	return fill_string(f, schema, name);
}

static json_t *fill(const filler *f, const json_t *schema, const char *name, int depth)
{
	const json_t *alt;
	if (depth > 16 || !json_is_object(schema))
		return json_is_false(schema) ? json_null() : json_string(f->answer);
	if (json_is_string(json_object_get(schema, "$ref")))
		return fill(f, resolve_ref(f, bh_json_str(schema, "$ref")), name, depth + 1);
	if (json_object_get(schema, "const"))
		return json_deep_copy(json_object_get(schema, "const"));
	if (json_array_size(json_object_get(schema, "enum")))
		return json_deep_copy(json_array_get(json_object_get(schema, "enum"), 0));
	if ((alt = json_object_get(schema, "anyOf")) || (alt = json_object_get(schema, "oneOf")) ||
	    (alt = json_object_get(schema, "allOf")))
		if (json_array_size(alt))
			return fill(f, json_array_get(alt, 0), name, depth + 1);
	return fill_typed(f, schema, name, depth);
}

json_t *emu_schema_instance(const json_t *schema, const char *answer, const char *work)
{
	filler f = {
	    .root = schema, .answer = answer && answer[0] ? answer : "simulated", .work = work};
	return fill(&f, schema, NULL, 0);
}
