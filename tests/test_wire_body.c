/*
 * test_wire_body.c - the Converse request body writer (bedrock/wire.c)
 * against its oracle, json_dumps(JSON_COMPACT): the same bytes for every
 * tree, modelId dropped at the top only, and the same failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bedrock/wire.h"

/* What the body must be: the request without modelId, dumped by jansson. */
static char *oracle(const json_t *req)
{
	json_t *copy = json_copy((json_t *)req);
	json_object_del(copy, "modelId");
	char *s = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	return s;
}

static void assert_same_as_oracle(const json_t *req)
{
	size_t len = 0;
	char *want = oracle(req);
	char *got = bh_converse_body(req, &len, NULL);
	assert_non_null(want);
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(want);
	free(got);
}

/* Texts that exercise every escape and UTF-8 length. */
static const char *const texts[] = {
    "",
    "plain ascii",
    "quote \" backslash \\ slash / tab \t newline \n cr \r",
    "\b\f\x01\x02\x1f\x7f control bytes",
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x9d four bytes",
    "```\n<answer>132</answer>\n```",
    "\xe2\x80\xa8 line separator stays raw",
};

static json_t *random_value(unsigned *seed, int depth);

static json_t *random_object(unsigned *seed, int depth)
{
	json_t *o = json_object();
	int n = (int)(rand_r(seed) % 5);
	for (int i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof(key), "k%d%s", rand_r(seed) % 7,
		         texts[rand_r(seed) % BH_ARRAY_LEN(texts)]);
		json_object_set_new(o, key, random_value(seed, depth + 1));
	}
	return o;
}

static json_t *random_value(unsigned *seed, int depth)
{
	int kind = (int)(rand_r(seed) % (depth > 4 ? 6 : 8));
	switch (kind) {
	case 0:
		return json_string(texts[rand_r(seed) % BH_ARRAY_LEN(texts)]);
	case 1:
		return json_integer((json_int_t)rand_r(seed) - RAND_MAX / 2);
	case 2:
		return json_real((double)rand_r(seed) / 7.0);
	case 3:
		return json_true();
	case 4:
		return json_null();
	case 5:
		return json_stringn("nul\0inside", 10);
	case 6: {
		json_t *a = json_array();
		int n = (int)(rand_r(seed) % 4);
		for (int i = 0; i < n; i++)
			json_array_append_new(a, random_value(seed, depth + 1));
		return a;
	}
	default:
		return random_object(seed, depth);
	}
}

static void test_random_trees(void **state)
{
	unsigned seed = 12345;
	for (int i = 0; i < 500; i++) {
		json_t *req = random_object(&seed, 0);
		if (i % 2)
			json_object_set_new(req, "modelId", json_string("m"));
		assert_same_as_oracle(req);
		json_decref(req);
	}
}

/* The shapes the engine sends, and numbers at their limits. */
static void test_fixed_cases(void **state)
{
	static const char *const cases[] = {
	    "{}",
	    "{\"modelId\":\"x\"}",
	    "{\"modelId\":\"x\",\"messages\":[]}",
	    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"},"
	    "{\"cachePoint\":{\"type\":\"default\"}}]}],\"modelId\":\"m\","
	    "\"inferenceConfig\":{\"maxTokens\":512,\"temperature\":0.7,\"topP\":1e-300}}",
	    "{\"a\":{\"modelId\":\"nested stays\"},\"b\":[[],{},[{}]]}",
	    "{\"n\":[-9223372036854775808,9223372036854775807,0,-0.0,1.5e308,3.0]}",
	    "{\"requestMetadata\":{\"bhive_sample\":\"3\"},\"e\":\"\\u00e9\\u0000\\ud83d\\udc1d\"}",
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		json_t *req = json_loads(cases[i], JSON_ALLOW_NUL, NULL);
		assert_non_null(req);
		assert_same_as_oracle(req);
		json_decref(req);
	}
}

/* Text that is not UTF-8 (possible only through _nocheck) fails as
 * json_dumps fails, with an error that says so; a non-object is refused. */
static void test_failures(void **state)
{
	json_t *req = json_object();
	json_object_set_new(req, "t", json_string_nocheck("bad \xc3\x28 utf-8"));
	bhive_error err;
	bhive_error_clear(&err);
	assert_null(oracle(req));
	assert_null(bh_converse_body(req, NULL, &err));
	assert_int_equal(err.code, BHIVE_ERR_INVALID);
	assert_non_null(strstr(err.message, "not valid UTF-8"));
	json_decref(req);
	bhive_error_clear(&err);
	req = json_object();
	json_t *inner = json_array();
	json_object_set_new(req, "deep", inner);
	for (int i = 0; i < 3000; i++) {
		json_t *next = json_array();
		json_array_append_new(inner, next);
		inner = next;
	}
	assert_null(bh_converse_body(req, NULL, &err));
	assert_int_equal(err.code, BHIVE_ERR_INVALID);
	assert_non_null(strstr(err.message, "nests deeper than"));
	json_decref(req);
	bhive_error_clear(&err);
	json_t *arr = json_array();
	assert_null(bh_converse_body(arr, NULL, &err));
	assert_int_equal(err.code, BHIVE_ERR_INVALID);
	json_decref(arr);
}

/* A debate-sized body: the history plus 31 answers, written exactly. */
static void test_large_body(void **state)
{
	json_t *msgs = json_array();
	char answer[2048];
	memset(answer, 'x', sizeof(answer) - 1);
	answer[sizeof(answer) - 1] = '\0';
	for (int i = 0; i < 64; i++) {
		answer[i] = '\n';
		json_array_append_new(msgs, json_pack("{s:s, s:[{s:s}]}", "role",
		                                      i % 2 ? "assistant" : "user", "content",
		                                      "text", answer));
	}
	json_t *req = json_pack("{s:s, s:o}", "modelId", "m", "messages", msgs);
	assert_same_as_oracle(req);
	json_decref(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_trees),
	    cmocka_unit_test(test_fixed_cases),
	    cmocka_unit_test(test_failures),
	    cmocka_unit_test(test_large_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
