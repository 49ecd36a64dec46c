/*
 * test_hive_unit.c - the hive engine without a server: the exact prompt
 * texts of docs/PROMPTS.md, config checks and JSON form, cache checkpoint
 * placement, vote keys, and (over a caller-supplied transport that answers
 * with fixed usage) cost arithmetic against hand-computed figures and the
 * running limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bhive.h"
#include "hive/hive_int.h"

#define Q "What is 2 + 2?"
#define REMIND "\nAs a reminder, the original question is " Q

/* ---- prompts ----------------------------------------------------------- */

static void test_reflect_prompt(void **state)
{
	char *p = bh_prompt_reflect(NULL, NULL, Q);
	assert_string_equal(p, "\nPlease reiterate your answer by thinking step by step, making "
	                       "sure to state your answer at the end of the response.\n\n" REMIND);
	bh_free(p);
	p = bh_prompt_reflect(NULL, "wrong", Q);
	assert_string_equal(p, "\nPlease reiterate your answer by thinking step by step, making "
	                       "sure to state your answer at the end of the response.\n\n"
	                       "\nAn external verification function has added context to this "
	                       "answer: wrong" REMIND);
	bh_free(p);
	/* No text in the question: no reminder, as the original does. */
	p = bh_prompt_reflect(NULL, NULL, "");
	assert_null(strstr(p, "reminder"));
	bh_free(p);
}

static void test_debate_prompt(void **state)
{
	bh_slot s[3] = {{.answer = "A0"}, {.answer = "B0", .feedback = "fb-B"}, {.answer = "C0"}};
	char *p = bh_prompt_debate(NULL, s, 3, 1, Q);
	assert_string_equal(
	    p, "\nThese are the recent answers to the same question from other agents:\n"
	       "\n\nOne agent response: ```A0```"
	       "\n\nOne agent response: ```C0```"
	       "\n\n \nUse these opinions carefully as additional advice and examining each "
	       "solution step by step, can you provide an updated answer? Make sure to state "
	       "your answer at the end of the response.\n\n" REMIND);
	bh_free(p);
	/* Slot 0 sees B's feedback after B's answer; a failed slot is left out. */
	s[2].failed = 1;
	p = bh_prompt_debate(NULL, s, 3, 0, Q);
	assert_non_null(strstr(p, "```B0```\nAn external verification function has added context "
	                          "to this answer: fb-B\n\n \nUse"));
	assert_null(strstr(p, "A0"));
	assert_null(strstr(p, "C0"));
	bh_free(p);
}

static void test_aggregate_prompt_and_override(void **state)
{
	bh_slot s[2] = {{.answer = "x"}, {.answer = "y"}};
	char *p = bh_prompt_aggregate(NULL, s, 2, Q);
	assert_string_equal(p, "\nYou will see proposed answers to the following question from "
	                       "multiple agents, please provide an aggregated final answer.\n"
	                       "\n\nOne agent response: ```x```\n"
	                       "\n\nOne agent response: ```y```\n" REMIND);
	bh_free(p);
	bhive_config *cfg = bhive_config_new();
	assert_int_equal(bhive_config_set_prompt(cfg, BHIVE_PROMPT_AGGREGATE, "AGG:"), 0);
	p = bh_prompt_aggregate(cfg, s, 2, Q);
	assert_true(bh_starts_with(p, "AGG:\n\nOne agent response"));
	bh_free(p);
	bhive_config_set_prompt(cfg, BHIVE_PROMPT_AGGREGATE, NULL);
	assert_string_equal(bhive_config_prompt(cfg, BHIVE_PROMPT_AGGREGATE),
	                    bhive_prompt_default(BHIVE_PROMPT_AGGREGATE));
	bhive_config_free(cfg);
}

static void test_vote_keys(void **state)
{
	static const struct {
		const char *answer, *key;
	} cases[] = {
	    {"so <answer>42</answer> and <answer> 7 </answer>", "7"},
	    {"The result is 1,234.", "1234"},
	    {"it is -17", "-17"},
	    {"  plain words \n", "plain words"},
	    {"x=3 then 4.5", "4.5"},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		char *k = bh_vote_key(cases[i].answer);
		assert_string_equal(k, cases[i].key);
		bh_free(k);
	}
}

/* ---- config ------------------------------------------------------------ */

static char *fake_verifier(void *ud, const char *q, const char *a, double *score, bhive_error *err)
{
	return strdup("ok");
}

typedef struct diags {
	int errors, warnings;
	char last[256];
} diags;

static void count_diag(void *ud, bhive_severity sev, const char *msg)
{
	diags *d = ud;
	if (sev == BHIVE_SEVERITY_ERROR)
		d->errors++;
	else
		d->warnings++;
	snprintf(d->last, sizeof(d->last), "%s", msg);
}

static void test_validate(void **state)
{
	static const struct {
		int models, reflections, aggregator, verifier, vote;
		int errors, warnings;
		const char *text;
	} cases[] = {
	    {0, 0, 0, 0, 0, 1, 0, "no models"}, {1, 0, 0, 1, 0, 1, 0, "verifier"},
	    {1, 2, 0, 1, 0, 0, 0, NULL},        {3, 1, 0, 0, 0, 0, 1, "without an aggregator"},
	    {3, 1, 0, 0, 1, 0, 0, NULL},        {1, 1, 1, 0, 0, 0, 1, "aggregator with one model"},
	    {2, 0, 1, 1, 0, 0, 0, NULL},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_config *cfg = bhive_config_new();
		bhive_error err;
		diags d = {0};
		for (int m = 0; m < cases[i].models; m++)
			bhive_config_add_model(cfg, m ? "b" : "a");
		bhive_config_set_reflections(cfg, cases[i].reflections);
		if (cases[i].aggregator)
			bhive_config_set_aggregator(cfg, "agg");
		if (cases[i].verifier)
			bhive_config_set_verifier(cfg, fake_verifier, NULL);
		bhive_config_set_vote(cfg, cases[i].vote);
		int rc = bhive_config_validate(cfg, count_diag, &d, &err);
		assert_int_equal(rc, cases[i].errors ? BHIVE_ERR_INVALID : 0);
		assert_int_equal(d.errors, cases[i].errors);
		assert_int_equal(d.warnings, cases[i].warnings);
		if (cases[i].text)
			assert_non_null(strstr(d.last, cases[i].text));
		bhive_config_free(cfg);
	}
	bhive_config *cfg = bhive_config_new();
	assert_int_equal(bhive_config_set_reflections(cfg, -1), BHIVE_ERR_INVALID);
	bhive_config_free(cfg);
}

static void test_config_json(void **state)
{
	bhive_error err;
	json_t *j = json_loads("{\"models\": [\"m1\", \"m1\", \"m2\"], \"num_reflections\": 2,"
	                       "\"aggregator\": \"agg\", \"max_reasoning_seconds\": 1.5,"
	                       "\"prompt_caching\": true, \"augment\": \"lexical\","
	                       "\"augment_seed\": 9, \"prompts\": {\"reflect\": \"R\"},"
	                       "\"early_stop\": 2, \"vote\": true, \"continue_on_failure\": true,"
	                       "\"schema\": {\"type\": \"object\"}}",
	                       0, NULL);
	bhive_config *cfg = bhive_config_from_json(j, &err);
	assert_non_null(cfg);
	assert_int_equal(bhive_config_model_count(cfg), 3);
	assert_string_equal(bhive_config_model(cfg, 1), "m1");
	assert_int_equal(bhive_config_reflections(cfg), 2);
	assert_string_equal(bhive_config_prompt(cfg, BHIVE_PROMPT_REFLECT), "R");
	json_t *back = bhive_config_to_json(cfg);
	bhive_config *again = bhive_config_from_json(back, &err);
	json_t *back2 = bhive_config_to_json(again);
	assert_true(json_equal(back, back2));
	assert_true(json_equal(json_object_get(back, "models"), json_object_get(j, "models")));
	json_decref(back);
	json_decref(back2);
	bhive_config_free(again);
	bhive_config_free(cfg);
	json_decref(j);

	static const char *const bad[] = {
	    "{\"modles\": [\"x\"]}",   "{\"num_reflections\": -1}", "{\"vote\": 1}",
	    "{\"augment\": \"loud\"}", "{\"models\": [3]}",         "{\"prompts\": {\"x\": \"y\"}}",
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(bad); i++) {
		j = json_loads(bad[i], 0, NULL);
		assert_null(bhive_config_from_json(j, &err));
		assert_int_equal(err.code, BHIVE_ERR_INVALID);
		json_decref(j);
	}
}

/* ---- cache checkpoints ------------------------------------------------- */

static void test_cache_points(void **state)
{
	json_t *base =
	    json_loads("{\"system\": [{\"text\": \"sys\"}], \"modelId\": \"x\"}", 0, NULL);
	json_t *msgs = json_array();
	for (int i = 0; i < 7; i++) {
		char t[16];
		snprintf(t, sizeof(t), "t%d", i);
		json_array_append_new(msgs, bh_text_message(i % 2 ? "assistant" : "user", t));
	}
	/* users at 0, 2, 4, 6: system + the 3 newest user turns (2, 4, 6). */
	json_t *req = bh_request_build(base, msgs, 1, NULL);
	assert_int_equal(bh_request_cache_points(req), 4);
	assert_null(json_object_get(req, "modelId"));
	json_t *sys = json_object_get(req, "system");
	assert_non_null(json_object_get(json_array_get(sys, 1), "cachePoint"));
	json_t *m = json_object_get(req, "messages");
	assert_int_equal(json_array_size(json_object_get(json_array_get(m, 0), "content")), 1);
	for (int i = 2; i <= 6; i += 2)
		assert_int_equal(json_array_size(json_object_get(json_array_get(m, i), "content")),
		                 2);
	assert_int_equal(json_array_size(json_object_get(json_array_get(m, 1), "content")), 1);
	/* The caller's own messages were not touched. */
	json_decref(req);
	req = json_pack("{s:O}", "messages", msgs);
	assert_int_equal(bh_request_cache_points(req), 0);
	json_decref(req);
	/* Without a system prompt, and with a short history, the first user message has one. */
	json_t *two = json_pack("[O,O]", json_array_get(msgs, 0), json_array_get(msgs, 1));
	req = bh_request_build(NULL, two, 1, NULL);
	assert_int_equal(bh_request_cache_points(req), 1);
	json_decref(req);
	req = bh_request_build(base, two, 0, NULL);
	assert_int_equal(bh_request_cache_points(req), 0);
	json_decref(req);
	json_decref(two);
	json_decref(msgs);
	json_decref(base);
}

/* ---- a transport answering with fixed usage ---------------------------- */

typedef struct pending_call {
	bhive_http_done_fn done;
	void *ud;
	char *model;
} pending_call;

typedef struct fake_net {
	pending_call calls[256];
	int n;
	int max_inflight;
	int total;
} fake_net;

/* The model id from a URL .../model/ID/converse (still percent-encoded). */
static char *url_model(const char *url)
{
	const char *p = strstr(url, "/model/");
	const char *e = p ? strstr(p + 7, "/converse") : NULL;
	return p && e ? bh_strndup(p + 7, (size_t)(e - p - 7)) : bh_strdup("?");
}

static int fake_send(void *ud, const bhive_http_request *req, bhive_http_done_fn done,
                     void *call_ud, bhive_error *err)
{
	fake_net *f = ud;
	assert_true(f->n < 256);
	f->calls[f->n++] = (pending_call){done, call_ud, url_model(req->url)};
	f->total++;
	if (f->n > f->max_inflight)
		f->max_inflight = f->n;
	return 0;
}

/* Answers every pending call: 1000 in, 500 out, 2000 cache read, 400 cache write. */
static int fake_poll(void *ud, long timeout_ms)
{
	fake_net *f = ud;
	int n = f->n;
	pending_call batch[256];
	memcpy(batch, f->calls, sizeof(pending_call) * (size_t)n);
	f->n = 0;
	for (int i = 0; i < n; i++) {
		char body[512];
		snprintf(body, sizeof(body),
		         "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":"
		         "\"answer from %s <answer>4</answer>\"}]}},\"stopReason\":\"end_turn\","
		         "\"usage\":{\"inputTokens\":1000,\"outputTokens\":500,"
		         "\"cacheReadInputTokens\":2000,\"cacheWriteInputTokens\":400,"
		         "\"totalTokens\":3900},\"metrics\":{\"latencyMs\":250}}",
		         batch[i].model);
		const char *hdrs[] = {"Content-Type: application/json", NULL};
		bhive_http_response resp = {200, hdrs, body, strlen(body)};
		batch[i].done(batch[i].ud, &resp, NULL);
		bh_free(batch[i].model);
	}
	return f->n;
}

static void fake_destroy(void *ud) {}

static bhive_client *fake_client(fake_net *f)
{
	bhive_client_options o;
	bhive_transport t = {f, fake_send, fake_poll, fake_destroy};
	bhive_error err;
	bhive_client_options_init(&o);
	o.region = "us-east-1";
	o.access_key_id = "AKIDEXAMPLE";
	o.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	o.endpoint_url = "http://127.0.0.1:9";
	o.transport = &t;
	bhive_client *c = bhive_client_new(&o, &err);
	if (!c)
		fail_msg("client: %s", err.message);
	return c;
}

#define PRICES                                                                                     \
	"{\"models\": {\"test.alpha-v1:0\": {\"input\": 0.003, \"output\": 0.015, "                \
	"\"cache_read\": 0.0003, \"cache_write\": 0.00375}, \"test.beta-v1:0\": {\"input\": "      \
	"0.001, \"output\": 0.002, \"cache_read\": 0.0001, \"cache_write\": 0.00125}}}"

/*
 * Two slots of alpha, one of beta, one round, alpha aggregates: alpha makes
 * 3 calls, beta 1, each 1000 in, 500 out, 2000 cache read, 400 cache write.
 *   alpha per call: 1000*0.003 + 500*0.015 + 2000*0.0003 + 400*0.00375
 *                   = (3 + 7.5 + 0.6 + 1.5) / 1000 = 0.0126; x3 = 0.0378
 *   beta per call:  1 + 1 + 0.2 + 0.5 = 2.7 / 1000 = 0.0027
 *   total 0.0405; gamma (the aggregator in the second run) has no price.
 */
static void test_cost_hand_computed(void **state)
{
	fake_net f = {0};
	bhive_client *client = fake_client(&f);
	bhive_prices *prices = bhive_prices_new(NULL);
	assert_int_equal(bhive_prices_load_string(prices, PRICES, strlen(PRICES), "test", NULL), 0);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "test.alpha-v1:0");
	bhive_config_add_model(cfg, "test.alpha-v1:0");
	bhive_config_add_model(cfg, "test.beta-v1:0");
	bhive_config_set_aggregator(cfg, "test.alpha-v1:0");
	bhive_config_set_prices(cfg, prices);
	json_t *req =
	    json_pack("{s:[{s:s,s:[{s:s}]}]}", "messages", "role", "user", "content", "text", Q);
	bhive_error err;
	bhive_result *r = bhive_hive_converse(client, cfg, req, NULL, &err);
	assert_non_null(r);
	assert_int_equal(bhive_result_calls(r), 4);
	assert_float_equal(bhive_result_cost_usd(r), 0.0405, 1e-12);
	assert_int_equal(bhive_result_cost_unknown(r), 0);
	bhive_model_stats st;
	assert_int_equal(bhive_result_model_stats(r, 0, &st), 0);
	assert_string_equal(st.model_id, "test.alpha-v1:0");
	assert_int_equal(st.calls, 3);
	assert_int_equal(st.usage.cache_write_tokens, 1200);
	assert_float_equal(st.latency_ms, 750, 1e-9);
	assert_float_equal(st.cost.usd, 0.0378, 1e-12);
	bhive_usage u = bhive_result_usage(r);
	assert_int_equal(u.input_tokens, 4000);
	json_t *j = bhive_result_to_json(r);
	assert_float_equal(
	    json_real_value(json_object_get(json_object_get(j, "cost"), "total_usd")), 0.0405,
	    1e-12);
	json_decref(j);
	bhive_result_free(r);

	/* An aggregator without a price: flagged, the known part still counted. */
	bhive_config_set_aggregator(cfg, "test.gamma-v1:0");
	r = bhive_hive_converse(client, cfg, req, NULL, &err);
	assert_non_null(r);
	assert_int_equal(bhive_result_cost_unknown(r), 1);
	assert_float_equal(bhive_result_cost_usd(r), 0.0252 + 0.0027, 1e-12);
	bhive_result_free(r);
	/* Strict mode makes it an error. */
	bhive_prices_set_strict(prices, 1);
	bhive_result *failed = NULL;
	assert_null(bhive_hive_converse(client, cfg, req, &failed, &err));
	assert_int_equal(err.code, BHIVE_ERR_UNKNOWN_MODEL);
	assert_non_null(failed);
	bhive_result_free(failed);

	json_decref(req);
	bhive_config_free(cfg);
	bhive_prices_free(prices);
	bhive_client_free(client);
}

/* Strict prices over two models, the first unpriced: pricing the second
 * must not clear the first one's error. */
static void test_cost_strict_first_unpriced(void **state)
{
	(void)state;
	bhive_prices *prices = bhive_prices_new(NULL);
	assert_int_equal(bhive_prices_load_string(prices, PRICES, strlen(PRICES), "test", NULL), 0);
	bhive_prices_set_strict(prices, 1);
	json_t *resp =
	    json_pack("{s:{s:i,s:i}}", "usage", "inputTokens", 1000, "outputTokens", 100);
	bhive_result *r = bh_result_new();
	assert_non_null(r);
	assert_int_equal(bh_result_account(r, "test.gamma-v1:0", resp), 0);
	assert_int_equal(bh_result_account(r, "test.alpha-v1:0", resp), 0);
	bhive_error err;
	bhive_error_clear(&err);
	bh_result_cost(r, prices, &err);
	assert_int_equal(err.code, BHIVE_ERR_UNKNOWN_MODEL);
	assert_non_null(strstr(err.message, "test.gamma-v1:0"));
	assert_int_equal(bhive_result_cost_unknown(r), 1);
	assert_true(bhive_result_cost_usd(r) > 0); /* the priced model still counts */
	bhive_result_free(r);
	json_decref(resp);
	bhive_prices_free(prices);
}

/* A hive freed with calls in flight (a second Ctrl-C in bench) cancels them
 * on the client: nothing stays pending there, the late answers are dropped,
 * and the engine's call records are freed (the ASan build checks). */
static void test_free_with_calls_in_flight(void **state)
{
	(void)state;
	fake_net f = {0};
	bhive_client *client = fake_client(&f);
	bhive_hive *h = bhive_hive_new(client, NULL);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "test.alpha-v1:0");
	bhive_config_add_model(cfg, "test.beta-v1:0");
	bhive_config_set_vote(cfg, 1);
	json_t *req =
	    json_pack("{s:[{s:s,s:[{s:s}]}]}", "messages", "role", "user", "content", "text", Q);
	assert_int_not_equal(bhive_hive_add(h, cfg, req, NULL, NULL), 0);
	assert_int_not_equal(bhive_hive_add(h, cfg, req, NULL, NULL), 0);
	assert_int_equal(f.n, 4);
	assert_int_equal(bhive_client_pending(client), 4);
	bhive_hive_free(h);
	assert_int_equal(bhive_client_pending(client), 0);
	assert_int_equal(bhive_client_run(client, 0), 0);
	/* The transport answers late: the answers go nowhere. */
	assert_int_equal(fake_poll(&f, 0), 0);
	assert_int_equal(f.total, 4);
	json_decref(req);
	bhive_config_free(cfg);
	bhive_client_free(client);
}

/* Many conversations under a running limit: all finish, never more in flight. */
static void test_running_limit(void **state)
{
	fake_net f = {0};
	bhive_client *client = fake_client(&f);
	bhive_hive *h = bhive_hive_new(client, NULL);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "test.alpha-v1:0");
	bhive_config_add_model(cfg, "test.beta-v1:0");
	bhive_config_set_reflections(cfg, 2);
	bhive_config_set_vote(cfg, 1);
	bhive_hive_set_max_running(h, 3);
	json_t *req =
	    json_pack("{s:[{s:s,s:[{s:s}]}]}", "messages", "role", "user", "content", "text", Q);
	int seen[41] = {0};
	for (int i = 1; i <= 40; i++)
		assert_int_equal(bhive_hive_add(h, cfg, req, (void *)(intptr_t)i, NULL),
		                 (unsigned long)i);
	assert_int_equal(bhive_hive_pending(h), 40);
	assert_int_equal(bhive_hive_perform(h, -1), 0);
	assert_true(f.max_inflight <= 3 * 2);
	assert_int_equal(f.total, 40 * 2 * 3);
	unsigned long id;
	void *ud;
	bhive_result *r;
	int n = 0;
	while ((r = bhive_hive_next_done(h, &id, &ud)) != NULL) {
		assert_int_equal((intptr_t)ud, (intptr_t)id);
		assert_false(seen[id]);
		seen[id] = 1;
		assert_int_equal(bhive_result_rounds(r), 3);
		assert_non_null(strstr(bhive_result_answer(r), "<answer>4</answer>"));
		bhive_result_free(r);
		n++;
	}
	assert_int_equal(n, 40);
	json_decref(req);
	bhive_config_free(cfg);
	bhive_hive_free(h);
	bhive_client_free(client);
}

/* A turn whose text is not UTF-8 (a verifier's output) keeps its text with
 * each bad byte replaced by U+FFFD, rather than being lost. */
static void test_text_message_repairs_utf8(void **state)
{
	(void)state;
	json_t *m = bh_text_message("user", "feedback \xff\xfe" "done \xc3\xa9");
	assert_non_null(m);
	const char *t = json_string_value(
	    json_object_get(json_array_get(json_object_get(m, "content"), 0), "text"));
	assert_string_equal(t, "feedback \xef\xbf\xbd\xef\xbf\xbd" "done \xc3\xa9");
	assert_string_equal(json_string_value(json_object_get(m, "role")), "user");
	json_decref(m);
	m = bh_text_message("assistant", NULL);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(json_object_get(m, "content"), 0), "text")),
	    "");
	json_decref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reflect_prompt),
	    cmocka_unit_test(test_text_message_repairs_utf8),
	    cmocka_unit_test(test_debate_prompt),
	    cmocka_unit_test(test_aggregate_prompt_and_override),
	    cmocka_unit_test(test_vote_keys),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_config_json),
	    cmocka_unit_test(test_cache_points),
	    cmocka_unit_test(test_cost_hand_computed),
	    cmocka_unit_test(test_cost_strict_first_unpriced),
	    cmocka_unit_test(test_running_limit),
	    cmocka_unit_test(test_free_with_calls_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
