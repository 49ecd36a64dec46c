/*
 * test_emulator_units.c - the emulator's pieces without HTTP: latency
 * specs, model id forms, fault draws, the quota window with an injected
 * clock, scripts, configuration errors and prompt measurement.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "emu.h"

typedef struct latency_case {
	const char *spec;
	int ok;
	int dist;
	double a, b;
} latency_case;

static void test_latency_parse(void **state)
{
	const latency_case cases[] = {
	    {"100", 1, EMU_DIST_FIXED, 100, 0},
	    {"fixed:250", 1, EMU_DIST_FIXED, 250, 0},
	    {"uniform:50:150", 1, EMU_DIST_UNIFORM, 50, 150},
	    {"normal:100:20", 1, EMU_DIST_NORMAL, 100, 20},
	    {"lognormal:100:0.5", 1, EMU_DIST_LOGNORMAL, 100, 0.5},
	    {"uniform:50", 0, 0, 0, 0},
	    {"fixed:1:2", 0, 0, 0, 0},
	    {"-5", 0, 0, 0, 0},
	    {"gamma:1:2", 0, 0, 0, 0},
	    {"", 0, 0, 0, 0},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		emu_latency l = {0};
		bhive_error err = {0};
		int rc = emu_latency_parse(cases[i].spec, &l, &err);
		assert_int_equal(rc == 0, cases[i].ok);
		if (!cases[i].ok) {
			assert_non_null(strstr(err.message, "is not valid"));
			continue;
		}
		assert_int_equal(l.dist, cases[i].dist);
		assert_true(l.a == cases[i].a && l.b == cases[i].b);
	}
}

static void test_latency_draws(void **state)
{
	bh_rng rng;
	bh_rng_seed(&rng, 3);
	emu_latency u = {EMU_DIST_UNIFORM, 50, 60}, n = {EMU_DIST_NORMAL, 100, 10};
	double sum = 0;
	for (int i = 0; i < 1000; i++) {
		double v = emu_latency_draw(&u, &rng);
		assert_true(v >= 50 && v <= 60);
		sum += emu_latency_draw(&n, &rng);
	}
	assert_true(sum / 1000 > 98 && sum / 1000 < 102);
	emu_latency ln = {EMU_DIST_LOGNORMAL, 100, 0};
	assert_true(emu_latency_draw(&ln, &rng) == 100);
}

static void test_model_base_id(void **state)
{
	const char *cases[][2] = {
	    {"anthropic.claude-3-sonnet-20240229-v1:0", "anthropic.claude-3-sonnet-20240229-v1:0"},
	    {"us.anthropic.claude-3-sonnet-20240229-v1:0",
	     "anthropic.claude-3-sonnet-20240229-v1:0"},
	    {"apac.amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0"},
	    {"global.anthropic.claude-sonnet-4-5-20250929-v1:0",
	     "anthropic.claude-sonnet-4-5-20250929-v1:0"},
	    {"arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.meta.llama3-70b-v1:0",
	     "meta.llama3-70b-v1:0"},
	    {"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
	     "amazon.nova-pro-v1:0"},
	    {"", ""},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		char out[256];
		emu_model_base_id(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
}

/* Rates are honoured, and one draw per request keeps sequences fixed. */
static void test_fault_draw(void **state)
{
	emu_faults f;
	emu_faults_default(&f);
	f.throttle = 0.25;
	f.error500 = 0.25;
	bh_rng a, b;
	bh_rng_seed(&a, 11);
	bh_rng_seed(&b, 11);
	int counts[16] = {0};
	for (int i = 0; i < 4000; i++) {
		int k = emu_fault_draw(&f, &a);
		assert_int_equal(k, emu_fault_draw(&f, &b));
		counts[k]++;
	}
	assert_true(counts[EMU_FAULT_THROTTLE] > 900 && counts[EMU_FAULT_THROTTLE] < 1100);
	assert_true(counts[EMU_FAULT_500] > 900 && counts[EMU_FAULT_500] < 1100);
	assert_int_equal(counts[EMU_FAULT_RESET], 0);
	emu_status st = {0};
	emu_fault_status(EMU_FAULT_TIMEOUT, &st);
	assert_int_equal(st.http_status, 408);
	assert_string_equal(st.type, "ModelTimeoutException");
}

static void test_quota_window(void **state)
{
	emu_faults f;
	emu_faults_default(&f);
	f.rpm = 2;
	f.tpm = 100;
	emu_quota q = {0};
	emu_status st = {0};
	assert_true(emu_quota_admit(&q, &f, 1000, 10, &st));
	assert_true(emu_quota_admit(&q, &f, 2000, 10, &st));
	assert_false(emu_quota_admit(&q, &f, 3000, 10, &st));
	assert_string_equal(st.message, "Too many requests, please wait before trying again.");
	memset(&st, 0, sizeof(st));
	assert_true(emu_quota_admit(&q, &f, 61000, 60, &st)); /* a new minute */
	emu_quota_add_tokens(&q, 30);
	assert_false(emu_quota_admit(&q, &f, 62000, 20, &st));
	assert_string_equal(st.message, "Too many tokens, please wait before trying again.");
}

static void test_faults_json_round_trip(void **state)
{
	json_t *j = json_loads("{\"throttle\":0.5,\"rpm\":7,\"latency\":{\"dist\":\"normal\","
	                       "\"mean_ms\":90,\"sd_ms\":9}}",
	                       0, NULL);
	emu_faults f;
	emu_faults_default(&f);
	assert_int_equal(emu_faults_from_json(j, &f, NULL), 0);
	json_t *back = emu_faults_to_json(&f);
	assert_true(bh_json_num(back, "throttle", 0) == 0.5);
	assert_int_equal(bh_json_int(back, "rpm", 0), 7);
	assert_string_equal(bh_json_str(json_object_get(back, "latency"), "dist"), "normal");
	json_decref(back);
	json_decref(j);
	const char *bad[] = {"{\"throttle\": 1.5}", "{\"rpm\": -1}",
	                     "{\"latency\": {\"dist\": \"x\"}}", "[]"};
	for (size_t i = 0; i < BH_ARRAY_LEN(bad); i++) {
		bhive_error err = {0};
		j = json_loads(bad[i], 0, NULL);
		assert_int_not_equal(emu_faults_from_json(j, &f, &err), 0);
		assert_true(err.message[0] != '\0');
		json_decref(j);
	}
}

static void test_script_rules_and_order(void **state)
{
	json_t *spec = json_loads("{\"replies\":[{\"text\":\"a\"},{\"text\":\"b\",\"delay_ms\":5}],"
	                          "\"rules\":[{\"regex\":\"^x+$\",\"reply\":{\"text\":\"xs\"}}]}",
	                          0, NULL);
	emu_script *s = emu_script_new(spec, NULL, NULL);
	assert_non_null(s);
	emu_script_reply r;
	assert_true(emu_script_next(s, "xxx", &r));
	assert_string_equal(r.text, "xs");
	assert_true(emu_script_next(s, "hello", &r));
	assert_string_equal(r.text, "a");
	assert_int_equal(r.delay_ms, -1);
	assert_true(emu_script_next(s, "hello", &r));
	assert_int_equal(r.delay_ms, 5);
	assert_false(emu_script_next(s, "hello", &r));
	emu_script_free(s);
	json_decref(spec);
	const char *bad[] = {"{\"replies\": [{}]}", "{\"rules\": [{\"reply\": {\"text\": \"x\"}}]}",
	                     "{\"rules\": [{\"regex\": \"(\", \"reply\": {\"text\": \"x\"}}]}",
	                     "\"/nonexistent/script.json\"", "42"};
	for (size_t i = 0; i < BH_ARRAY_LEN(bad); i++) {
		bhive_error err = {0};
		json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		assert_null(emu_script_new(j, NULL, &err));
		assert_true(err.message[0] != '\0');
		json_decref(j);
	}
}

static void test_config_models_and_keys(void **state)
{
	emu_config *c = emu_config_new();
	json_t *root =
	    json_loads("{\"keys\":[{\"access_key_id\":\"A\",\"secret_access_key\":\"S\"}],"
	               "\"models\":{\"us.x.model-v1:0\":{\"skill\":0.3}},"
	               "\"default_models\":false}",
	               0, NULL);
	assert_int_equal(emu_config_load_json(c, root, NULL, NULL), 0);
	assert_true(c->no_default_models);
	assert_int_equal(c->num_keys, 1);
	emu_model *m = emu_config_find_model(c, "eu.x.model-v1:0");
	assert_non_null(m);
	assert_true(m->skill == 0.3);
	assert_null(emu_config_find_model(c, "x.model-v2:0"));
	assert_int_equal(emu_config_add_key(c, "ID:SECRET:TOKEN", NULL), 0);
	assert_string_equal(c->keys[1].session_token, "TOKEN");
	assert_int_not_equal(emu_config_add_key(c, "nocolon", NULL), 0);
	assert_int_equal(emu_config_add_defaults(c, NULL), 0);
	assert_non_null(emu_config_find_model(c, "us.anthropic.claude-3-sonnet-20240229-v1:0"));
	json_decref(root);
	emu_config_free(c);
	emu_config_free(NULL);
}

static void test_prompt_measure(void **state)
{
	json_t *req = json_loads(
	    "{\"system\":[{\"text\":\"12345678\"},{\"cachePoint\":{\"type\":\"default\"}}],"
	    "\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"abcd\"}]},"
	    "{\"role\":\"assistant\",\"content\":[{\"text\":\"ef\"}]},"
	    "{\"role\":\"user\",\"content\":[{\"text\":\"last\"},{\"text\":\" one\"}]}]}",
	    0, NULL);
	emu_prompt_size a, b;
	emu_prompt_measure(req, 0, &a);
	emu_prompt_measure(req, 0, &b);
	assert_int_equal(a.chars, 8 + 4 + 2 + 8);
	assert_int_equal(a.num_cache_points, 1);
	assert_int_equal(a.cache_chars[0], 8);
	assert_true(a.cache_hash[0] == b.cache_hash[0]);
	char *last = emu_last_user_text(req);
	assert_string_equal(last, "last one");
	bh_free(last);
	assert_int_equal(emu_tokens(0, 1), 1);
	assert_int_equal(emu_tokens(9, 1), 3);
	json_decref(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_latency_parse),
	    cmocka_unit_test(test_latency_draws),
	    cmocka_unit_test(test_model_base_id),
	    cmocka_unit_test(test_fault_draw),
	    cmocka_unit_test(test_quota_window),
	    cmocka_unit_test(test_faults_json_round_trip),
	    cmocka_unit_test(test_script_rules_and_order),
	    cmocka_unit_test(test_config_models_and_keys),
	    cmocka_unit_test(test_prompt_measure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
