/*
 * output.c - bhive_result: what a conversation produced and spent, its
 * borrowed accessors and its JSON form.
 *
 * The engine fills a result in place while the conversation runs; usage is
 * summed per model id (the slots of one id and the aggregator together, as
 * the Python original reports it) and priced once at the end.
 */
#include "hive/hive_int.h"
#include <string.h>

bhive_result *bh_result_new(void)
{
	bhive_result *r = bh_calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->trace = json_array();
	r->stop_reason = "completed";
	return r;
}

void bh_slot_release(bh_slot *s)
{
	bh_free(s->model);
	json_decref(s->history);
	bh_free(s->answer);
	bh_free(s->thinking);
	bh_free(s->feedback);
	bh_free(s->key);
	memset(s, 0, sizeof(*s));
}

void bhive_result_free(bhive_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nslots; i++)
		bh_slot_release(&r->slots[i]);
	bh_free(r->slots);
	for (size_t i = 0; i < r->nmodels; i++)
		bh_free(r->models[i].model);
	bh_free(r->models);
	bh_free(r->answer);
	bh_free(r->thinking);
	bh_free(r->aggregator);
	bh_free(r->region);
	json_decref(r->parsed);
	json_decref(r->agg_history);
	json_decref(r->response);
	json_decref(r->trace);
	bh_free(r);
}

/* The accounting entry of model, added when new; NULL on NOMEM. */
static bh_model_acc *model_acc(bhive_result *r, const char *model)
{
	for (size_t i = 0; i < r->nmodels; i++)
		if (strcmp(r->models[i].model, model) == 0)
			return &r->models[i];
	bh_model_acc *m = bh_realloc(r->models, (r->nmodels + 1) * sizeof(*m));
	if (!m)
		return NULL;
	r->models = m;
	m = &r->models[r->nmodels];
	memset(m, 0, sizeof(*m));
	if (!(m->model = bh_strdup(model)))
		return NULL;
	r->nmodels++;
	return m;
}

int bh_result_account(bhive_result *r, const char *model, const json_t *response)
{
	bh_model_acc *m = model_acc(r, model);
	if (!m)
		return BHIVE_ERR_NOMEM;
	const json_t *u = json_object_get(response, "usage");
	bhive_usage add = {
	    .input_tokens = bh_json_int(u, "inputTokens", 0),
	    .output_tokens = bh_json_int(u, "outputTokens", 0),
	    .cache_read_tokens = bh_json_int(u, "cacheReadInputTokens", 0),
	    .cache_write_tokens = bh_json_int(u, "cacheWriteInputTokens", 0),
	};
	bhive_usage_add(&m->usage, &add);
	m->latency_ms += bh_json_num(json_object_get(response, "metrics"), "latencyMs", 0);
	m->calls++;
	r->calls++;
	return 0;
}

int bh_result_account_failure(bhive_result *r, const char *model)
{
	/* A call that failed was still made (and may have been retried and
	 * billed for its input): "calls": 0 beside an error misled. */
	bh_model_acc *m = model_acc(r, model);
	if (!m)
		return BHIVE_ERR_NOMEM;
	m->calls++;
	m->failed++;
	r->calls++;
	r->failed_calls++;
	return 0;
}

void bh_result_trace(bhive_result *r, int slot, int round, const char *model, const char *event,
                     double wall_ms)
{
	json_array_append_new(r->trace,
	                      json_pack("{s:f,s:i,s:i,s:s?,s:s}", "t_ms", wall_ms, "slot", slot,
	                                "round", round, "model", model, "event", event));
}

void bh_result_cost(bhive_result *r, const bhive_prices *prices, bhive_error *err)
{
	r->cost_usd = 0;
	r->cost_unknown = 0;
	for (size_t i = 0; i < r->nmodels; i++) {
		bh_model_acc *m = &r->models[i];
		/* bhive_prices_cost clears the error it is given: each model gets
		 * its own, and the first failure is the one kept. */
		bhive_error e;
		bhive_error_clear(&e);
		if (bhive_prices_cost(prices, m->model, r->region, &m->usage, &m->cost, &e)) {
			m->cost.unknown = 1;
			bh_error_copy(err, &e);
		}
		r->cost_unknown |= m->cost.unknown;
		r->cost_usd += m->cost.usd;
	}
}

/* ---- accessors --------------------------------------------------------- */

const char *bhive_result_stop_reason(const bhive_result *r)
{
	return r ? r->stop_reason : NULL;
}

int bhive_result_code(const bhive_result *r)
{
	return r ? r->err.code : BHIVE_ERR_INVALID;
}

const bhive_error *bhive_result_error(const bhive_result *r)
{
	return r && r->err.code ? &r->err : NULL;
}

const char *bhive_result_answer(const bhive_result *r)
{
	return r ? r->answer : NULL;
}

const char *bhive_result_thinking(const bhive_result *r)
{
	return r ? r->thinking : NULL;
}

const json_t *bhive_result_parsed(const bhive_result *r)
{
	return r ? r->parsed : NULL;
}

int bhive_result_rounds(const bhive_result *r)
{
	return r ? r->rounds : 0;
}

double bhive_result_wall_ms(const bhive_result *r)
{
	return r ? r->wall_ms : 0;
}

int bhive_result_calls(const bhive_result *r)
{
	return r ? r->calls : 0;
}

size_t bhive_result_slot_count(const bhive_result *r)
{
	return r ? r->nslots : 0;
}

static const bh_slot *slot_at(const bhive_result *r, size_t i)
{
	return r && i < r->nslots ? &r->slots[i] : NULL;
}

const char *bhive_result_slot_model(const bhive_result *r, size_t i)
{
	const bh_slot *s = slot_at(r, i);
	return s ? s->model : NULL;
}

const char *bhive_result_slot_answer(const bhive_result *r, size_t i)
{
	const bh_slot *s = slot_at(r, i);
	return s ? s->answer : NULL;
}

const char *bhive_result_slot_thinking(const bhive_result *r, size_t i)
{
	const bh_slot *s = slot_at(r, i);
	return s ? s->thinking : NULL;
}

const json_t *bhive_result_slot_history(const bhive_result *r, size_t i)
{
	const bh_slot *s = slot_at(r, i);
	return s ? s->history : NULL;
}

const bhive_error *bhive_result_slot_error(const bhive_result *r, size_t i)
{
	const bh_slot *s = slot_at(r, i);
	return s && s->failed ? &s->err : NULL;
}

size_t bhive_result_model_count(const bhive_result *r)
{
	return r ? r->nmodels : 0;
}

int bhive_result_model_stats(const bhive_result *r, size_t i, bhive_model_stats *out)
{
	if (!r || i >= r->nmodels || !out)
		return BHIVE_ERR_INVALID;
	const bh_model_acc *m = &r->models[i];
	out->model_id = m->model;
	out->calls = m->calls;
	out->usage = m->usage;
	out->latency_ms = m->latency_ms;
	out->cost = m->cost;
	return 0;
}

bhive_usage bhive_result_usage(const bhive_result *r)
{
	bhive_usage sum = {0};
	for (size_t i = 0; r && i < r->nmodels; i++)
		bhive_usage_add(&sum, &r->models[i].usage);
	return sum;
}

double bhive_result_cost_usd(const bhive_result *r)
{
	return r ? r->cost_usd : 0;
}

int bhive_result_cost_unknown(const bhive_result *r)
{
	return r ? r->cost_unknown : 0;
}

const json_t *bhive_result_response(const bhive_result *r)
{
	return r ? r->response : NULL;
}

const json_t *bhive_result_trace(const bhive_result *r)
{
	return r ? r->trace : NULL;
}

/* ---- JSON -------------------------------------------------------------- */

static json_t *error_json(const bhive_error *e)
{
	if (!e || !e->code)
		return json_null();
	json_t *j = json_pack("{s:i,s:s,s:s}", "code", e->code, "kind", bhive_strerror(e->code),
	                      "message", e->message);
	if (e->error_type[0])
		json_object_set_new(j, "error_type", json_string(e->error_type));
	if (e->http_status)
		json_object_set_new(j, "http_status", json_integer(e->http_status));
	if (e->request_id[0])
		json_object_set_new(j, "request_id", json_string(e->request_id));
	return j;
}

static json_t *slot_json(const bh_slot *s, size_t i)
{
	json_t *j = json_pack("{s:i,s:s,s:s?,s:s?,s:O?,s:o}", "slot", (int)i, "model", s->model,
	                      "answer", s->answer, "thinking", s->thinking, "history", s->history,
	                      "error", error_json(s->failed ? &s->err : NULL));
	if (s->feedback)
		json_object_set_new(j, "verifier_feedback", json_string(s->feedback));
	if (s->score >= 0)
		json_object_set_new(j, "verifier_score", json_real(s->score));
	return j;
}

static json_t *usage_json(const bhive_usage *u)
{
	return json_pack("{s:I,s:I,s:I,s:I}", "inputTokens", (json_int_t)u->input_tokens,
	                 "outputTokens", (json_int_t)u->output_tokens, "cacheReadInputTokens",
	                 (json_int_t)u->cache_read_tokens, "cacheWriteInputTokens",
	                 (json_int_t)u->cache_write_tokens);
}

static json_t *models_json(const bhive_result *r)
{
	json_t *j = json_object();
	for (size_t i = 0; i < r->nmodels; i++) {
		const bh_model_acc *m = &r->models[i];
		json_t *e =
		    json_pack("{s:i,s:i,s:o,s:f,s:f,s:b}", "calls", m->calls, "failed_calls",
		              m->failed, "usage", usage_json(&m->usage), "latencyMs", m->latency_ms,
		              "cost_usd", m->cost.usd, "price_known", !m->cost.unknown);
		json_object_set_new(j, m->model, e);
	}
	return j;
}

static json_t *cost_json(const bhive_result *r)
{
	json_t *unknown = json_array();
	for (size_t i = 0; i < r->nmodels; i++)
		if (r->models[i].cost.unknown)
			json_array_append_new(unknown, json_string(r->models[i].model));
	bhive_usage total = bhive_result_usage(r);
	return json_pack("{s:f,s:b,s:o,s:o}", "total_usd", r->cost_usd, "unknown_prices",
	                 r->cost_unknown, "unknown_models", unknown, "usage", usage_json(&total));
}

json_t *bhive_result_to_json(const bhive_result *r)
{
	if (!r)
		return NULL;
	json_t *slots = json_array();
	for (size_t i = 0; i < r->nslots; i++)
		json_array_append_new(slots, slot_json(&r->slots[i], i));
	json_t *agg = r->aggregator ? json_pack("{s:s,s:O?}", "model", r->aggregator, "history",
	                                        r->agg_history)
	                            : json_null();
	json_t *j =
	    json_pack("{s:s?,s:s?,s:O?,s:s,s:i,s:i,s:f,s:o,s:o,s:o,s:o,s:o,s:O}", "answer",
	              r->answer, "thinking", r->thinking, "parsed", r->parsed, "stop_reason",
	              r->stop_reason, "rounds", r->rounds, "calls", r->calls, "wall_ms", r->wall_ms,
	              "slots", slots, "aggregator", agg, "models", models_json(r), "cost",
	              cost_json(r), "error", error_json(&r->err), "trace", r->trace);
	if (j)
		json_object_set_new(j, "failed_calls", json_integer(r->failed_calls));
	if (j && r->response && r->nslots == 1 && r->rounds == 1 && !r->aggregator)
		json_object_set(j, "response", r->response);
	return j;
}
