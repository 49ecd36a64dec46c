/*
 * reasoner.c - the simulated models' entry point: reads a Converse request
 * as plain texts, seeds the model's randomness from (seed, skill, message
 * texts), decides what kind of turn it is (first attempt, reflection,
 * debate, aggregation, rephrasing, a simple calculation, anything else),
 * and shapes the reply: reasoningContent when a reasoning budget was asked
 * for, a bare JSON object for native structured output, <json> tags for the
 * prompted fallback.
 */
#include "reasoner_int.h"
#include <string.h>

/* Sonnet 3 (skill 0.60) is the unit; better models also catch more. */
double emu_reflection_for_skill(double skill)
{
	double r = 1.0 + 2.0 * (skill - 0.60);
	return r < 0.4 ? 0.4 : r > 2.5 ? 2.5 : r;
}

/* The text blocks of one message, joined by newlines. */
static char *message_text(const json_t *msg)
{
	bh_buf b;
	size_t i;
	json_t *block;
	bh_buf_init(&b, 0);
	bh_buf_puts(&b, "");
	json_array_foreach(json_object_get(msg, "content"), i, block)
	{
		const char *t = bh_json_str(block, "text");
		if (t && b.len)
			bh_buf_putc(&b, '\n');
		if (t)
			bh_buf_puts(&b, t);
	}
	return bh_buf_steal(&b);
}

static void ctx_release(emu_ctx *c)
{
	for (size_t i = 0; c->text && i < c->n; i++)
		bh_free(c->text[i]);
	bh_free(c->text);
	bh_free(c->user);
}

/* Seeds the round's randomness: the same model, seed and history always
 * give the same reply; any difference in the texts gives another draw. */
static void ctx_seed(emu_ctx *c)
{
	uint64_t h = c->model_key;
	for (size_t i = 0; i < c->n; i++) {
		h = bh_hash64(c->user[i] ? "user" : "assistant", c->user[i] ? 4 : 9, h);
		h = bh_hash64(c->text[i], strlen(c->text[i]), h);
	}
	bh_rng_seed(&c->rng, h);
}

static void ctx_roles(emu_ctx *c)
{
	c->first_user = c->last_user = "";
	for (size_t i = 0; i < c->n; i++) {
		if (c->user[i] && !c->first_user[0])
			c->first_user = c->text[i];
		if (c->user[i])
			c->last_user = c->text[i];
		else
			c->last_assistant = c->text[i], c->turns++;
	}
}

static int ctx_init(emu_ctx *c, const emu_reasoner_params *p, const json_t *request, uint64_t seed,
                    bhive_error *err)
{
	const json_t *msgs = json_object_get(request, "messages");
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->reflection = p->reflection > 0 ? p->reflection : emu_reflection_for_skill(p->skill);
	c->model_key = bh_hash64(&p->skill, sizeof(p->skill), seed);
	c->n = json_array_size(msgs);
	if (!c->n)
		return bh_error_set(err, BHIVE_ERR_INVALID, "request has no messages");
	c->text = bh_calloc(c->n, sizeof(*c->text));
	c->user = bh_calloc(c->n, sizeof(*c->user));
	for (size_t i = 0; c->text && c->user && i < c->n; i++) {
		const json_t *m = json_array_get(msgs, i);
		c->user[i] = !bh_streq(bh_json_str(m, "role"), "assistant");
		if (!(c->text[i] = message_text(m)))
			break;
	}
	if (!c->text || !c->user || !c->text[c->n - 1])
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory reading the request");
	ctx_roles(c);
	ctx_seed(c);
	return 0;
}

/* The benchmark question: in the first user message, else in the reminder. */
static bool find_arith(const emu_ctx *c, emu_arith *q)
{
	const char *reminder = strstr(c->last_user, "the original question is");
	return emu_arith_find(c->first_user, q) || (reminder && emu_arith_find(reminder, q));
}

/* Decides what kind of turn this is and lets the right part answer. */
static int compose(emu_ctx *c, emu_answer *a)
{
	emu_arith q;
	if (strstr(c->last_user, "Rephrase the following prompt") &&
	    strstr(c->last_user, "<prompt>"))
		return emu_rephrase_answer(c, a);
	if (strstr(c->last_user, "provide an aggregated final answer"))
		return emu_aggregate_answer(c, a);
	if (find_arith(c, &q))
		return emu_arith_answer(c, &q, a);
	if (emu_simple_answer(c->first_user, a) || emu_simple_answer(c->last_user, a))
		return 0;
	return emu_generic_answer(c, a);
}

/* ---- shaping the reply ------------------------------------------------- */

/* The reasoning budget asked for in additionalModelRequestFields: Anthropic
 * "thinking", "reasoning_config"/"reasoningConfig" (budget or effort).
 * 0 = none asked; -1 = asked without a budget. */
static long reasoning_budget(const json_t *request)
{
	static const char *const keys[] = {"thinking", "reasoning_config", "reasoningConfig"};
	const json_t *extra = json_object_get(request, "additionalModelRequestFields");
	for (size_t i = 0; i < BH_ARRAY_LEN(keys); i++) {
		const json_t *r = json_object_get(extra, keys[i]);
		const char *type = bh_json_str(r, "type");
		if (!json_is_object(r) || bh_streq(type, "disabled"))
			continue;
		json_int_t budget =
		    bh_json_int(r, "budget_tokens", bh_json_int(r, "budgetTokens", -1));
		if (budget > 0)
			return (long)budget;
		if (type || bh_json_str(r, "maxReasoningEffort") || bh_json_str(r, "effort"))
			return -1;
	}
	return 0;
}

/* Splits the answer into reasoningContent (the working, cut to about four
 * characters per budget token) and a brief text. */
static int shape_reasoning(emu_answer *a, long budget, emu_reply *out)
{
	bh_buf r;
	bh_buf_init(&r, 0);
	int rc = bh_buf_puts(&r, a->work.len ? a->work.data : "Let me work this out.\n");
	if (!rc && !a->work.len)
		rc = bh_buf_puts(&r, a->final.data ? a->final.data : "");
	if (!rc && budget > 0 && r.len > (size_t)budget * 4) {
		r.len = (size_t)budget * 4;
		r.data[r.len] = '\0';
	}
	out->reasoning = rc ? NULL : bh_buf_steal(&r);
	bh_buf_release(&r);
	out->text = bh_strdup(a->final.data ? a->final.data : "");
	return out->reasoning && out->text ? 0 : BHIVE_ERR_NOMEM;
}

static int shape_plain(emu_answer *a, emu_reply *out)
{
	out->text = bh_asprintf("%s%s%s", a->work.data ? a->work.data : "", a->work.len ? "\n" : "",
	                        a->final.data ? a->final.data : "");
	return out->text ? 0 : BHIVE_ERR_NOMEM;
}

/* The JSON Schema of native structured output, when asked and supported. */
static json_t *native_schema(const emu_reasoner_params *p, const json_t *request, bhive_error *err,
                             int *rc)
{
	const json_t *fmt = json_object_get(json_object_get(request, "outputConfig"), "textFormat");
	const char *text =
	    bh_json_str(json_object_get(json_object_get(fmt, "structure"), "jsonSchema"), "schema");
	*rc = 0;
	if (!p->native_json_schema || !bh_streq(bh_json_str(fmt, "type"), "json_schema") || !text)
		return NULL;
	json_t *schema = bh_json_parse(text, strlen(text), "outputConfig json schema", err);
	if (!schema)
		*rc = BHIVE_ERR_INVALID;
	return schema;
}

/* The schema in the prompted fallback: the JSON after "<json></json> tags:". */
static json_t *prompted_schema(const char *last_user)
{
	const char *at = strstr(last_user, "<json></json>");
	const char *brace = at ? strchr(at, '{') : NULL;
	json_error_t je;
	return brace ? json_loads(brace, JSON_DISABLE_EOF_CHECK, &je) : NULL;
}

static int shape_json(emu_answer *a, const json_t *schema, bool tagged, emu_reply *out)
{
	json_t *inst = emu_schema_instance(schema, a->value, a->work.data ? a->work.data : "");
	char *dump = inst ? bh_json_dump(inst) : NULL;
	json_decref(inst);
	if (!dump)
		return BHIVE_ERR_NOMEM;
	if (tagged)
		out->text =
		    bh_asprintf("%s%s%s\n\n<json>%s</json>", a->work.data ? a->work.data : "",
		                a->work.len ? "\n" : "", a->final.data ? a->final.data : "", dump);
	else
		out->text = bh_strdup(dump);
	free(dump);
	return out->text ? 0 : BHIVE_ERR_NOMEM;
}

static int shape(const emu_ctx *c, const json_t *request, emu_answer *a, emu_reply *out,
                 bhive_error *err)
{
	int rc;
	json_t *schema = native_schema(c->p, request, err, &rc);
	bool tagged = false;
	long budget = reasoning_budget(request);
	if (rc)
		return rc;
	if (!schema && (schema = prompted_schema(c->last_user)) != NULL)
		tagged = true;
	if (schema)
		rc = shape_json(a, schema, tagged, out);
	else if (budget)
		rc = shape_reasoning(a, budget, out);
	else
		rc = shape_plain(a, out);
	if (!rc && schema && budget && !out->reasoning)
		out->reasoning = bh_strdup(a->work.len ? a->work.data : "Let me work this out.");
	json_decref(schema);
	return rc;
}

int emu_reasoner_reply(const emu_reasoner_params *p, const json_t *request, uint64_t seed,
                       emu_reply *out, bhive_error *err)
{
	emu_ctx c;
	emu_answer a;
	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	int rc = ctx_init(&c, p, request, seed, err);
	bh_buf_init(&a.work, 0);
	bh_buf_init(&a.final, 0);
	if (!rc)
		rc = compose(&c, &a);
	if (!rc)
		rc = shape(&c, request, &a, out, err);
	if (rc) {
		emu_reply_release(out);
		bh_error_set(err, rc, "simulated model could not answer: %s", bhive_strerror(rc));
	}
	bh_buf_release(&a.work);
	bh_buf_release(&a.final);
	ctx_release(&c);
	return rc;
}

void emu_reply_release(emu_reply *r)
{
	if (!r)
		return;
	bh_free(r->text);
	bh_free(r->reasoning);
	r->text = r->reasoning = NULL;
}
