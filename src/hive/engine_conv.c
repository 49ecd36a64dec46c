/*
 * engine_conv.c - one conversation as a state machine on the client loop.
 *
 *   QUEUED -> [AUGMENT] -> ROUND 0 -> ROUND 1 ... -> [AGGREGATE] -> DONE
 *
 * Every state change goes through conv_set_state (traced at trace level).
 * All calls of a state are started together; the state's work continues
 * when the last of them has answered (inflight back to 0), so round k+1 of
 * a debate waits for every slot's round k and nothing else waits. Calls are
 * started only after every prompt of the round is built, so an answer that
 * arrives early can never change what another slot is sent.
 */
#include "hive/augment.h"
#include "hive/hive_int.h"
#include "hive/schema.h"
#include <stdlib.h>
#include <string.h>

/* What a call in flight is for. */
enum { CALL_SLOT, CALL_AGGREGATE, CALL_REPHRASE };

typedef struct bh_call {
	bh_conv *conv;
	struct bh_call *next, *prev; /* in the hive's list of calls */
	int kind;
	int slot;
	int round;
} bh_call;

#define LEXICAL_RATE 0.03

static void conv_step(bh_conv *c);
static void report_progress(bh_conv *c, const bh_call *call, const char *model, const char *answer,
                            const json_t *response, const bhive_error *err);

static const char *state_name(bh_conv_state s)
{
	static const char *const names[] = {"queued", "augment", "round", "aggregate", "done"};
	return (size_t)s < BH_ARRAY_LEN(names) ? names[s] : "?";
}

static double conv_wall_ms(const bh_conv *c)
{
	return (double)(bh_now_ms() - c->start_ms);
}

/* The one place states change, so a trace shows every transition. */
static void conv_set_state(bh_conv *c, bh_conv_state s)
{
	if (c->state != s)
		BH_TRACE("conversation %lu: %s -> %s (round %d)", c->id, state_name(c->state),
		         state_name(s), c->round);
	c->state = s;
	bh_result_trace(c->res, -1, c->round, NULL, state_name(s), conv_wall_ms(c));
}

/* ---- creation ---------------------------------------------------------- */

void bh_conv_free(bh_conv *c)
{
	if (!c)
		return;
	bhive_config_free(c->cfg);
	json_decref(c->base);
	json_decref(c->messages);
	bh_free(c->question);
	bhive_result_free(c->res);
	bh_schema_free(c->schema);
	bh_free(c);
}

/* Checks the caller's request and splits it into messages and the rest. */
static int conv_take_request(bh_conv *c, const json_t *request, bhive_error *err)
{
	const json_t *msgs = json_object_get(request, "messages");
	if (!json_is_object(request))
		return bh_error_set(err, BHIVE_ERR_INVALID, "a request must be a JSON object");
	if (!json_is_array(msgs) || json_array_size(msgs) == 0)
		return bh_error_set(err, BHIVE_ERR_INVALID, "the request has no \"messages\"");
	c->messages = json_deep_copy(msgs);
	c->base = json_deep_copy(request);
	if (!c->messages || !c->base)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	json_object_del(c->base, "messages");
	json_object_del(c->base, "modelId");
	c->question = bh_strdup(bh_first_user_text(c->messages));
	return c->question ? 0 : bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
}

/* One slot per model id, each with its own copy of the messages. */
static int conv_make_slots(bh_conv *c, bhive_error *err)
{
	bhive_result *r = c->res;
	const bhive_config *cfg = c->cfg;
	r->slots = bh_calloc(cfg->nmodels, sizeof(*r->slots));
	if (!r->slots)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < cfg->nmodels; i++) {
		bh_slot *s = &r->slots[i];
		r->nslots = i + 1;
		s->score = -1;
		s->model = bh_strdup(cfg->models[i]);
		s->history = json_deep_copy(c->messages);
		s->native_schema =
		    cfg->schema && bhive_prices_structured_output(cfg->prices, s->model);
		if (!s->model || !s->history)
			return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	}
	if (cfg->aggregator && !(r->aggregator = bh_strdup(cfg->aggregator)))
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	return 0;
}

bh_conv *bh_conv_new(bhive_hive *hive, const bhive_config *cfg, const json_t *request,
                     bhive_error *err)
{
	bh_conv *c = bh_calloc(1, sizeof(*c));
	if (!c || !(c->cfg = bhive_config_dup(cfg)) || !(c->res = bh_result_new())) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		bh_conv_free(c);
		return NULL;
	}
	c->hive = hive;
	const char *region = bhive_client_region(hive->client);
	c->res->region = region ? bh_strdup(region) : NULL;
	if (conv_take_request(c, request, err) || conv_make_slots(c, err) ||
	    (cfg->schema && !(c->schema = bh_schema_new(c->cfg->schema, err)))) {
		bh_conv_free(c);
		return NULL;
	}
	return c;
}

/* ---- sending ----------------------------------------------------------- */

static void on_call_done(void *ud, json_t *response, const bhive_error *err,
                         const bhive_call_info *info);

/* The request member for Bedrock's native structured output, or NULL. */
static json_t *native_output_config(const bh_conv *c, int native)
{
	json_t *req;
	if (!native || !c->cfg->schema || !(req = json_object()))
		return NULL;
	json_t *oc = NULL;
	if (!bh_schema_add_output_config(req, c->cfg->schema, NULL, NULL))
		oc = json_incref(json_object_get(req, "outputConfig"));
	json_decref(req);
	return oc;
}

/* The hive keeps a list of its calls on the client, so freeing it can
 * cancel them there: their records would leak otherwise, and a client
 * that went on running would call back into freed memory. */
static void call_link(bhive_hive *h, bh_call *call)
{
	call->prev = NULL;
	call->next = h->calls;
	if (h->calls)
		h->calls->prev = call;
	h->calls = call;
}

static void call_unlink(bhive_hive *h, bh_call *call)
{
	if (call->prev)
		call->prev->next = call->next;
	else
		h->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->next = call->prev = NULL;
}

void bh_hive_cancel_calls(bhive_hive *h)
{
	h->closing = 1;
	while (h->calls) {
		bh_call *call = h->calls;
		/* on_call_done unlinks and frees it; a call the client no longer
		 * knows is only ours to free. */
		if (bhive_client_cancel(h->client, on_call_done, call) == 0) {
			call_unlink(h, call);
			bh_free(call);
		}
	}
}

/* Starts one call; on a synchronous failure fills err and returns its code. */
static int conv_send(bh_conv *c, int kind, int slot, const char *model, const json_t *base,
                     const json_t *messages, int native, bhive_error *err)
{
	bh_call *call = bh_malloc(sizeof(*call));
	json_t *oc = native_output_config(c, native);
	json_t *req = bh_request_build(base, messages, c->cfg->caching, oc);
	json_decref(oc);
	if (!call || !req) {
		bh_free(call);
		json_decref(req);
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	}
	*call = (bh_call){.conv = c, .kind = kind, .slot = slot, .round = c->round};
	c->inflight++;
	call_link(c->hive, call);
	int rc = bhive_converse_start(c->hive->client, model, req, on_call_done, call, err);
	json_decref(req);
	if (rc) {
		c->inflight--;
		call_unlink(c->hive, call);
		bh_free(call);
	}
	bh_result_trace(c->res, slot, c->round, model, rc ? "send failed" : "sent",
	                conv_wall_ms(c));
	return rc;
}

/* A slot leaves the conversation with err as its reason. */
static void slot_fail(bh_conv *c, int i, const bhive_error *err)
{
	bh_slot *s = &c->res->slots[i];
	s->failed = 1;
	bh_error_copy(&s->err, err);
	BH_INFO("conversation %lu: slot %d (%s) failed: %s", c->id, i, s->model, err->message);
}

static int slot_live(const bh_slot *s)
{
	return !s->failed;
}

/* ---- augmentation ------------------------------------------------------ */

/* Replaces the first text block of the first user message. */
static void set_first_user_text(json_t *history, const char *text)
{
	size_t i, k;
	json_t *m, *block;
	json_array_foreach(history, i, m)
	{
		if (!bh_streq(bh_json_str(m, "role"), "user"))
			continue;
		json_array_foreach(json_object_get(m, "content"), k, block)
		{
			if (json_object_get(block, "text")) {
				json_object_set_new(block, "text", json_string(text));
				return;
			}
		}
		return;
	}
}

static void conv_augment_lexical(bh_conv *c)
{
	for (size_t i = 1; i < c->res->nslots; i++) {
		char *t = bh_augment_lexical(c->question, BH_AUGMENT_LEXICAL, LEXICAL_RATE,
		                             c->cfg->augment_seed, (int)i);
		if (t)
			set_first_user_text(c->res->slots[i].history, t);
		bh_free(t);
	}
}

/* Asks every extra slot's model to rephrase the prompt. */
static void conv_augment_semantic(bh_conv *c)
{
	char *prompt = bh_augment_rephrase_prompt(c->question);
	json_t *msgs = json_pack("[o]", bh_text_message("user", prompt ? prompt : c->question));
	bh_free(prompt);
	conv_set_state(c, BH_CONV_AUGMENT);
	c->sending = 1;
	for (size_t i = 1; i < c->res->nslots; i++) {
		bhive_error e = {0};
		if (conv_send(c, CALL_REPHRASE, (int)i, c->res->slots[i].model, NULL, msgs, 0, &e))
			BH_WARN("rephrasing for slot %zu failed, it keeps the original prompt: %s",
			        i, e.message);
	}
	c->sending = 0;
	json_decref(msgs);
}

static void rephrase_answer(bh_conv *c, const bh_call *call, json_t *response,
                            const bhive_error *err)
{
	bhive_error e = {0};
	char *text = response ? bhive_response_text(response) : NULL;
	char *re = text ? bh_augment_parse_rephrased(text, &e) : NULL;
	report_progress(c, call, c->res->slots[call->slot].model, re, response, err);
	if (re)
		set_first_user_text(c->res->slots[call->slot].history, re);
	else
		bh_result_trace(c->res, call->slot, 0, c->res->slots[call->slot].model,
		                "rephrase failed: original prompt kept", conv_wall_ms(c));
	bhive_free(text);
	bh_free(re);
}

/* ---- rounds ------------------------------------------------------------ */

/* Round 0 prompt: the schema instruction for slots without native support. */
static void slot_add_instruction(bh_conv *c, bh_slot *s)
{
	if (!c->cfg->schema || s->native_schema)
		return;
	char *ins = bh_schema_instruction(c->cfg->schema);
	const char *q = bh_first_user_text(s->history);
	char *t = ins ? bh_asprintf("%s\n%s", q, ins) : NULL;
	if (t)
		set_first_user_text(s->history, t);
	bh_free(t);
	bh_free(ins);
}

/*
 * The user turn a slot gets in round r > 0: a reflection when it is alone
 * (one model, or the last one left after the others failed), else the
 * debate over the other slots' latest answers.
 */
static char *slot_round_prompt(bh_conv *c, size_t i)
{
	bhive_result *r = c->res;
	size_t others = 0;
	for (size_t j = 0; j < r->nslots; j++)
		others += j != i && !r->slots[j].failed && r->slots[j].answer;
	if (others == 0)
		return bh_prompt_reflect(c->cfg, r->slots[i].feedback, c->question);
	return bh_prompt_debate(c->cfg, r->slots, r->nslots, i, c->question);
}

/* Builds every live slot's prompt for round c->round, then sends them all. */
static void conv_start_round(bh_conv *c, int round)
{
	bhive_result *r = c->res;
	c->round = round;
	conv_set_state(c, BH_CONV_ROUND);
	for (size_t i = 0; i < r->nslots; i++) {
		bh_slot *s = &r->slots[i];
		if (!slot_live(s))
			continue;
		if (round == 0) {
			slot_add_instruction(c, s);
			continue;
		}
		char *p = slot_round_prompt(c, i);
		json_array_append_new(s->history, bh_text_message("user", p ? p : ""));
		bh_free(p);
	}
	c->sending = 1;
	for (size_t i = 0; i < r->nslots; i++) {
		bh_slot *s = &r->slots[i];
		bhive_error e = {0};
		if (slot_live(s) && conv_send(c, CALL_SLOT, (int)i, s->model, c->base, s->history,
		                              s->native_schema, &e))
			slot_fail(c, (int)i, &e);
	}
	c->sending = 0;
}

/* Whether verifier feedback on this round's answers can still be used. */
static int feedback_wanted(const bh_conv *c)
{
	const bhive_config *cfg = c->cfg;
	return cfg->verifier && (c->round < cfg->reflections || cfg->aggregator || cfg->best_of_n ||
	                         cfg->early_stop);
}

/* Runs the verifier on a slot's new answer. */
static void slot_verify(bh_conv *c, bh_slot *s)
{
	bhive_error e = {0};
	double score = -1;
	char *fb = c->cfg->verifier(c->cfg->verifier_ud, c->question, s->answer, &score, &e);
	bh_free(s->feedback);
	s->score = score;
	if (fb) {
		s->feedback = bh_strdup(fb);
		free(fb);
		return;
	}
	if (!e.code)
		bh_error_set(&e, BHIVE_ERR_VERIFIER, "the verifier returned no feedback");
	BH_WARN("verifier failed on the answer of %s: %s", s->model, e.message);
	s->feedback = bh_asprintf("the verifier failed: %s", e.message);
	if (c->cfg->verifier_fatal) {
		bh_error_prefix(&e, "verifier failed");
		bh_error_copy(&c->res->err, &e);
		c->res->err.code = BHIVE_ERR_VERIFIER;
		c->fatal = 1;
	}
}

/* Tracks whether a slot's answer changed since the last round. */
static void slot_track_change(bh_slot *s)
{
	char *key = bh_vote_key(s->answer);
	if (s->key && key && strcmp(s->key, key) == 0)
		s->unchanged++;
	else
		s->unchanged = 0;
	bh_free(s->key);
	s->key = key;
}

static void report_progress(bh_conv *c, const bh_call *call, const char *model, const char *answer,
                            const json_t *response, const bhive_error *err)
{
	bhive_hive *h = c->hive;
	if (!h->progress)
		return;
	const json_t *u = json_object_get(response, "usage");
	bhive_progress p = {
	    .conversation = c->id,
	    .slot = call->kind == CALL_SLOT ? call->slot : (call->kind == CALL_AGGREGATE ? -1 : -2),
	    .round = call->round,
	    .model_id = model,
	    .answer = answer,
	    .input_tokens = bh_json_int(u, "inputTokens", 0),
	    .output_tokens = bh_json_int(u, "outputTokens", 0),
	    .latency_ms = bh_json_num(json_object_get(response, "metrics"), "latencyMs", 0),
	    .wall_ms = conv_wall_ms(c),
	    .err = err,
	};
	h->progress(h->progress_ud, &p);
}

/* The reasoning text of a response, NULL if none. */
static char *response_thinking(const json_t *response)
{
	const json_t *content = json_object_get(
	    json_object_get(json_object_get(response, "output"), "message"), "content");
	size_t i;
	json_t *b;
	bh_buf buf;
	bh_buf_init(&buf, 0);
	json_array_foreach(content, i, b)
	{
		const json_t *rt =
		    json_object_get(json_object_get(b, "reasoningContent"), "reasoningText");
		if (bh_json_str(rt, "text"))
			bh_buf_puts(&buf, bh_json_str(rt, "text"));
	}
	return bh_buf_steal(&buf);
}

/* Stores an answer: the text, its reasoning, the history turn and the usage. */
static void take_answer(bh_conv *c, const char *model, json_t *response, char **answer,
                        char **thinking, json_t *history)
{
	bh_free(*answer);
	bh_free(*thinking);
	char *t = bhive_response_text(response);
	*answer = bh_strdup(t ? t : "");
	bhive_free(t);
	*thinking = response_thinking(response);
	if (*thinking && !**thinking) {
		bh_free(*thinking);
		*thinking = NULL;
	}
	json_array_append_new(history, bh_text_message("assistant", *answer));
	bh_result_account(c->res, model, response);
	json_decref(c->res->response);
	c->res->response = json_incref(response);
}

static void slot_answer(bh_conv *c, const bh_call *call, json_t *response, const bhive_error *err)
{
	bh_slot *s = &c->res->slots[call->slot];
	if (!response) {
		slot_fail(c, call->slot, err);
		report_progress(c, call, s->model, NULL, NULL, err);
		return;
	}
	take_answer(c, s->model, response, &s->answer, &s->thinking, s->history);
	s->feedback_done = 0;
	bh_free(s->feedback);
	s->feedback = NULL;
	s->score = -1;
	slot_track_change(s);
	report_progress(c, call, s->model, s->answer, response, NULL);
	if (feedback_wanted(c)) {
		slot_verify(c, s);
		s->feedback_done = 1;
	}
}

static void on_call_done(void *ud, json_t *response, const bhive_error *err,
                         const bhive_call_info *info)
{
	bh_call *call = ud;
	bh_conv *c = call->conv;
	call_unlink(c->hive, call);
	if (c->hive->closing) { /* cancelled by bhive_hive_free: nothing goes on */
		bh_free(call);
		c->inflight--;
		return;
	}
	const char *model =
	    call->kind == CALL_AGGREGATE ? c->res->aggregator : c->res->slots[call->slot].model;
	bh_result_trace(c->res, call->kind == CALL_AGGREGATE ? -1 : call->slot, call->round, model,
	                response ? "answered" : "failed", conv_wall_ms(c));
	if (!response)
		bh_result_account_failure(c->res, model);
	if (call->kind == CALL_SLOT)
		slot_answer(c, call, response, err);
	else if (call->kind == CALL_REPHRASE) {
		if (response)
			bh_result_account(c->res, model, response);
		rephrase_answer(c, call, response, err);
	} else if (!response) {
		bh_error_copy(&c->res->err, err);
		report_progress(c, call, model, NULL, NULL, err);
	} else {
		take_answer(c, model, response, &c->res->answer, &c->res->thinking,
		            c->res->agg_history);
		report_progress(c, call, model, c->res->answer, response, NULL);
	}
	BH_UNUSED(info);
	bh_free(call);
	c->inflight--;
	conv_step(c);
}

/* ---- decisions at the end of a round ----------------------------------- */

static void conv_finish(bh_conv *c)
{
	if (!c->res->err.code) {
		bh_conv_combine(c);
		bh_conv_structured(c);
	} else {
		c->res->stop_reason = "error";
	}
	bh_result_cost(c->res, c->cfg->prices, c->res->err.code ? NULL : &c->res->err);
	c->res->wall_ms = conv_wall_ms(c);
	conv_set_state(c, BH_CONV_DONE);
	bh_hive_finished(c->hive, c);
}

/* The aggregator's single fresh turn over the last round's answers. */
static void conv_aggregate(bh_conv *c)
{
	bhive_result *r = c->res;
	char *p = bh_prompt_aggregate(c->cfg, r->slots, r->nslots, c->question);
	int native =
	    c->cfg->schema && bhive_prices_structured_output(c->cfg->prices, r->aggregator);
	if (p && c->cfg->schema && !native) {
		char *ins = bh_schema_instruction(c->cfg->schema);
		char *t = ins ? bh_asprintf("%s\n%s", p, ins) : NULL;
		if (t) {
			bh_free(p);
			p = t;
		}
		bh_free(ins);
	}
	r->agg_history = json_pack("[o]", bh_text_message("user", p ? p : ""));
	bh_free(p);
	conv_set_state(c, BH_CONV_AGGREGATE);
	bhive_error e = {0};
	c->sending = 1;
	if (conv_send(c, CALL_AGGREGATE, -1, r->aggregator, c->base, r->agg_history, native, &e))
		bh_error_copy(&r->err, &e);
	c->sending = 0;
}

/* The conversation's error when slots failed, or 0 when it can go on. */
static int conv_check_failures(bh_conv *c)
{
	bhive_result *r = c->res;
	size_t live = 0, first_failed = r->nslots;
	for (size_t i = 0; i < r->nslots; i++) {
		if (slot_live(&r->slots[i]))
			live++;
		else if (first_failed == r->nslots)
			first_failed = i;
	}
	if (c->fatal)
		return r->err.code;
	if (first_failed < r->nslots && (!c->cfg->continue_on_failure || live == 0)) {
		bh_error_copy(&r->err, &r->slots[first_failed].err);
		if (!r->err.code)
			bh_error_set(&r->err, BHIVE_ERR_SERVICE, "slot %zu failed", first_failed);
	}
	return r->err.code;
}

/* Early stop: every live slot unchanged for k rounds, or verified correct. */
static const char *conv_early_stop(const bh_conv *c)
{
	const bhive_result *r = c->res;
	int k = c->cfg->early_stop, unchanged = 1, verified = c->cfg->verifier != NULL;
	if (k <= 0)
		return NULL;
	for (size_t i = 0; i < r->nslots; i++) {
		const bh_slot *s = &r->slots[i];
		if (!slot_live(s))
			continue;
		unchanged &= s->unchanged >= k;
		verified &= s->score >= 1.0;
	}
	if (verified)
		return "early_stop_verified";
	return unchanged ? "early_stop_unchanged" : NULL;
}

/* Decides what follows round c->round: another round, the aggregator or the end. */
static void conv_round_done(bh_conv *c)
{
	const bhive_config *cfg = c->cfg;
	const char *stop = NULL;
	c->res->rounds = c->round + 1;
	if (conv_check_failures(c)) {
		conv_finish(c);
		return;
	}
	if (c->round >= cfg->reflections)
		stop = "completed";
	else if (!(stop = conv_early_stop(c)) && cfg->max_seconds > 0 &&
	         conv_wall_ms(c) >= cfg->max_seconds * 1000.0)
		stop = "time_limit";
	if (!stop) {
		conv_start_round(c, c->round + 1);
		return;
	}
	c->res->stop_reason = stop;
	if (cfg->aggregator)
		conv_aggregate(c);
	else
		conv_finish(c);
}

/*
 * The dispatcher: runs whenever nothing is in flight. A state whose calls all
 * failed to start has nothing to wait for, so the loop moves on at once.
 */
static void conv_step(bh_conv *c)
{
	while (c->inflight == 0 && !c->sending) {
		switch (c->state) {
		case BH_CONV_QUEUED:
		case BH_CONV_AUGMENT:
			conv_start_round(c, 0);
			break;
		case BH_CONV_ROUND:
			conv_round_done(c);
			break;
		case BH_CONV_AGGREGATE:
			conv_finish(c);
			break;
		case BH_CONV_DONE:
			return;
		}
	}
}

void bh_conv_start(bh_conv *c)
{
	c->start_ms = bh_now_ms();
	bh_result_trace(c->res, -1, 0, NULL, "start", 0);
	if (c->res->nslots > 1 && c->cfg->augment == BHIVE_AUGMENT_LEXICAL)
		conv_augment_lexical(c);
	if (c->res->nslots > 1 && c->cfg->augment == BHIVE_AUGMENT_SEMANTIC)
		conv_augment_semantic(c);
	conv_step(c);
}
