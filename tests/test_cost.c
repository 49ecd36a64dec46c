/* test_cost.c - price table: hand-computed costs, id forms, overrides, strict mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "bhive/cost.h"
#include "util/util.h"

#define SONNET3 "anthropic.claude-3-sonnet-20240229-v1:0"
#define HAIKU3 "anthropic.claude-3-haiku-20240307-v1:0"
#define SONNET45 "anthropic.claude-sonnet-4-5-20250929-v1:0"

static double cost_usd(const bhive_prices *p, const char *id, const char *region, long long in,
                       long long out, long long cr, long long cw)
{
	bhive_usage u = {in, out, cr, cw};
	bhive_cost c;
	assert_int_equal(bhive_prices_cost(p, id, region, &u, &c, NULL), 0);
	assert_int_equal(c.unknown, 0);
	return c.usd;
}

/* Figures worked out by hand from the published per-1,000-token prices. */
static void test_hand_computed(void **state)
{
	static const struct {
		const char *id;
		long long in, out, cr, cw;
		double usd;
	} cases[] = {
		/* 1000 in x 0.003 + 500 out x 0.015 / 1000 = 0.003 + 0.0075 */
		{SONNET3, 1000, 500, 0, 0, 0.0105},
		/* 2000 x 0.00025 + 4000 x 0.00125 = 0.0005 + 0.005 */
		{HAIKU3, 2000, 4000, 0, 0, 0.0055},
		/* cache: 10000 read x 0.0003 + 1000 write x 0.00375 = 0.003 + 0.00375 */
		{"anthropic.claude-3-7-sonnet-20250219-v1:0", 0, 0, 10000, 1000, 0.00675},
		/* Nova Micro: 1e6 in x 0.000035 + 1e6 out x 0.00014 = 0.035 + 0.14 */
		{"amazon.nova-micro-v1:0", 1000000, 1000000, 0, 0, 0.175},
		/* Nova Pro cache read 0.0002: 5000 x 0.0002 = 0.001 */
		{"amazon.nova-pro-v1:0", 0, 0, 5000, 0, 0.001},
		/* Llama 3.3 70B: 0.00072 both ways, 1000 + 1000 */
		{"meta.llama3-3-70b-instruct-v1:0", 1000, 1000, 0, 0, 0.00144},
		/* DeepSeek R1: 1000 x 0.00135 + 1000 x 0.0054 */
		{"deepseek.r1-v1:0", 1000, 1000, 0, 0, 0.00675},
		/* Mistral Large 2402: 0.004 + 2 x 0.012 */
		{"mistral.mistral-large-2402-v1:0", 1000, 2000, 0, 0, 0.028},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		double got = cost_usd(NULL, cases[i].id, NULL, cases[i].in, cases[i].out, cases[i].cr,
		                      cases[i].cw);
		assert_float_equal(got, cases[i].usd, 1e-12);
	}
}

/* Cache writes are priced on their own (1.25 x input), not as input. */
static void test_cache_write_not_input(void **state)
{
	bhive_usage u = {0, 0, 0, 1000};
	bhive_cost c;
	assert_int_equal(bhive_prices_cost(NULL, SONNET3, NULL, &u, &c, NULL), 0);
	assert_float_equal(c.cache_write_usd, 0.00375, 1e-12);
	assert_float_equal(c.input_usd, 0.0, 0);
	assert_float_equal(c.usd, 0.00375, 1e-12);
}

static void test_split_sums(void **state)
{
	bhive_usage u = {1234, 567, 890, 12};
	bhive_cost c;
	assert_int_equal(bhive_prices_cost(NULL, SONNET45, NULL, &u, &c, NULL), 0);
	assert_float_equal(c.usd, c.input_usd + c.output_usd + c.cache_read_usd + c.cache_write_usd,
	                   1e-15);
	bhive_price pr;
	assert_int_equal(bhive_prices_lookup(bhive_prices_default(), SONNET45, NULL, &pr), 0);
	assert_float_equal(bhive_cost_of(&pr, &u), c.usd, 1e-15);
}

/* Every form of an id resolves to the same price, or to its own entry when
 * the table prices the profile separately (global Sonnet 4.5). */
static void test_id_forms(void **state)
{
	static const struct {
		const char *id;
		double input;
	} cases[] = {
		{SONNET3, 0.003},
		{"us." SONNET3, 0.003},
		{"eu." SONNET3, 0.003},
		{"apac." SONNET3, 0.003},
		{"jp." SONNET3, 0.003},
		{"au." SONNET3, 0.003},
		{"global." SONNET3, 0.003},
		{"arn:aws:bedrock:us-east-1::foundation-model/" SONNET3, 0.003},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us." SONNET3, 0.003},
		{SONNET45, 0.0033},
		{"us." SONNET45, 0.0033},
		{"global." SONNET45, 0.003},
		{"arn:aws:bedrock:us-west-2:123456789012:inference-profile/global." SONNET45, 0.003},
	};
	const bhive_prices *p = bhive_prices_default();
	assert_non_null(p);
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_price pr;
		assert_int_equal(bhive_prices_lookup(p, cases[i].id, NULL, &pr), 0);
		assert_float_equal(pr.input, cases[i].input, 1e-12);
	}
	char buf[128];
	assert_string_equal(bhive_model_base_id("us." SONNET3, buf, sizeof(buf)), SONNET3);
	assert_string_equal(bhive_model_base_id("arn:aws:bedrock:us-east-1:1:inference-profile/"
	                                        "eu." HAIKU3, buf, sizeof(buf)), HAIKU3);
	assert_string_equal(bhive_model_base_id("us.nothing", buf, sizeof(buf)), "us.nothing");
}

static void test_regional_price(void **state)
{
	const char *id = "meta.llama3-8b-instruct-v1:0";
	/* us-east-1 (base): 1000 x 0.0003 + 1000 x 0.0006 */
	assert_float_equal(cost_usd(NULL, id, "us-east-1", 1000, 1000, 0, 0), 0.0009, 1e-12);
	/* eu-west-2: 1000 x 0.00039 + 1000 x 0.00078 */
	assert_float_equal(cost_usd(NULL, id, "eu-west-2", 1000, 1000, 0, 0), 0.00117, 1e-12);
}

static void test_unknown_model(void **state)
{
	bhive_usage u = {1000, 1000, 0, 0};
	bhive_cost c;
	bhive_error err;
	bhive_prices *p = bhive_prices_new(NULL);
	assert_non_null(p);
	assert_int_equal(bhive_prices_cost(p, "acme.unknown-v1", NULL, &u, &c, &err), 0);
	assert_int_equal(c.unknown, 1);
	assert_float_equal(c.usd, 0.0, 0);
	assert_string_equal(c.model_id, "acme.unknown-v1");
	bhive_prices_set_strict(p, 1);
	assert_int_equal(bhive_prices_cost(p, "acme.unknown-v1", NULL, &u, &c, &err),
	                 BHIVE_ERR_UNKNOWN_MODEL);
	assert_int_equal(c.unknown, 1);
	assert_string_equal(err.message, "no price known for model \"acme.unknown-v1\"");
	/* strict mode still prices known models */
	assert_int_equal(bhive_prices_cost(p, SONNET3, NULL, &u, &c, &err), 0);
	bhive_prices_free(p);
}

static char *write_temp(const char *text)
{
	char path[] = "/tmp/bhive_prices_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return bh_strdup(path);
}

/* A user file changes one member of a known model and adds a new one. */
static void test_override_file(void **state)
{
	char *path = write_temp("{\"models\": {\n"
	                        "  \"" SONNET3 "\": {\"output\": 0.02},\n"
	                        "  \"acme.model-v1\": {\"input\": 1, \"output\": 2,\n"
	                        "     \"structured_output\": true, \"note\": \"ours\"}\n"
	                        "}}\n");
	bhive_prices *p = bhive_prices_new(NULL);
	bhive_error err;
	assert_int_equal(bhive_prices_load_file(p, path, &err), 0);
	/* 1000 x 0.003 (kept) + 500 x 0.02 (overridden) */
	assert_float_equal(cost_usd(p, SONNET3, NULL, 1000, 500, 0, 0), 0.013, 1e-12);
	/* the new model, cache prices defaulting to the input price */
	assert_float_equal(cost_usd(p, "us.acme.model-v1", NULL, 1000, 1000, 1000, 1000), 5.0,
	                    1e-12);
	assert_int_equal(bhive_prices_structured_output(p, "acme.model-v1"), 1);
	/* the shared default table is untouched */
	assert_float_equal(cost_usd(NULL, SONNET3, NULL, 1000, 500, 0, 0), 0.0105, 1e-12);
	bhive_prices_free(p);
	unlink(path);
	bh_free(path);
}

static void test_per_million_unit(void **state)
{
	const char *text = "{\"unit\": \"usd_per_1m_tokens\", \"models\": {"
	                   "\"acme.m\": {\"input\": 3, \"output\": 15}}}";
	bhive_prices *p = bhive_prices_new(NULL);
	assert_int_equal(bhive_prices_load_string(p, text, strlen(text), "t", NULL), 0);
	assert_float_equal(cost_usd(p, "acme.m", NULL, 1000, 500, 0, 0), 0.0105, 1e-12);
	bhive_prices_free(p);
}

/* Malformed files: parse errors carry line/column and the path; wrong
 * values name the model and member; the table stays as it was. */
static void test_malformed(void **state)
{
	static const struct {
		const char *text;
		int code;
		int line, column;
		const char *needle;
	} cases[] = {
		{"{\"models\": {\n  \"a.b\": {\"input\": 1,,}\n}}", BHIVE_ERR_PARSE, 2, 0, "line 2"},
		{"{\"models\": {\"a.b\": {\"input\": \"cheap\", \"output\": 1}}}", BHIVE_ERR_INVALID, 0,
		 0, "price \"input\" of model \"a.b\" is not a number >= 0"},
		{"{\"models\": {\"a.b\": {\"input\": -1, \"output\": 1}}}", BHIVE_ERR_INVALID, 0, 0,
		 "is not a number >= 0"},
		{"{\"models\": {\"a.b\": {\"input\": 1}}}", BHIVE_ERR_INVALID, 0, 0,
		 "model \"a.b\" needs both \"input\" and \"output\" prices"},
		{"{\"models\": {\"a.b\": {\"inptu\": 1, \"output\": 1}}}", BHIVE_ERR_INVALID, 0, 0,
		 "unknown or wrong member \"inptu\" of model \"a.b\""},
		{"{\"prices\": {}}", BHIVE_ERR_INVALID, 0, 0, "no \"models\" object"},
		{"{\"unit\": \"eur\", \"models\": {}}", BHIVE_ERR_INVALID, 0, 0, "\"unit\" must be"},
		{"{\"models\": {\"" SONNET3 "\": {\"output\": 9}, \"x.y\": 3}}", BHIVE_ERR_INVALID, 0,
		 0, "model \"x.y\" is not an object"},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_prices *p = bhive_prices_new(NULL);
		char *path = write_temp(cases[i].text);
		bhive_error err;
		assert_int_equal(bhive_prices_load_file(p, path, &err), cases[i].code);
		assert_int_equal(err.code, cases[i].code);
		if (!strstr(err.message, cases[i].needle))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.message, cases[i].needle);
		assert_string_equal(err.source, path);
		if (cases[i].line) {
			assert_int_equal(err.line, cases[i].line);
			assert_true(err.column > 0);
		}
		/* unchanged: Sonnet 3 output still 0.015 */
		assert_float_equal(cost_usd(p, SONNET3, NULL, 0, 1000, 0, 0), 0.015, 1e-12);
		bhive_prices_free(p);
		unlink(path);
		bh_free(path);
	}
}

static void test_missing_file(void **state)
{
	bhive_prices *p = bhive_prices_new(NULL);
	bhive_error err;
	assert_int_equal(bhive_prices_load_file(p, "/nonexistent/prices.json", &err),
	                 BHIVE_ERR_IO);
	bhive_prices_free(p);
}

static void test_structured_output_flag(void **state)
{
	assert_int_equal(bhive_prices_structured_output(NULL, "us." SONNET45), 1);
	assert_int_equal(bhive_prices_structured_output(NULL, "amazon.nova-pro-v1:0"), 1);
	assert_int_equal(bhive_prices_structured_output(NULL, SONNET3), 0);
	assert_int_equal(bhive_prices_structured_output(NULL, "meta.llama3-8b-instruct-v1:0"), 0);
	assert_int_equal(bhive_prices_structured_output(NULL, "acme.unknown"), 0);
}

/* The models the brief and the Python original name all have prices. */
static void test_catalogue(void **state)
{
	static const char *const ids[] = {
		"anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20241022-v2:0",
		"anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude-3-7-sonnet-20250219-v1:0",
		"anthropic.claude-sonnet-4-20250514-v1:0", SONNET45,
		"anthropic.claude-opus-4-20250514-v1:0", "anthropic.claude-opus-4-1-20250805-v1:0",
		"anthropic.claude-haiku-4-5-20251001-v1:0", "amazon.nova-lite-v1:0",
		"amazon.nova-premier-v1:0", "meta.llama3-70b-instruct-v1:0",
		"meta.llama3-1-405b-instruct-v1:0", "meta.llama4-maverick-17b-instruct-v1:0",
		"mistral.mistral-small-2402-v1:0", "deepseek.v3-v1:0"};
	for (size_t i = 0; i < BH_ARRAY_LEN(ids); i++) {
		bhive_price pr;
		assert_int_equal(bhive_prices_lookup(bhive_prices_default(), ids[i], NULL, &pr), 0);
		assert_true(pr.input > 0 && pr.output >= pr.input);
		assert_true(pr.cache_read <= pr.input && pr.cache_write >= pr.input);
	}
}

/* Every allocation failing in turn: no crash, no leak, a clean NOMEM. */
static void test_alloc_failures(void **state)
{
	for (long n = 0; n < 400; n++) {
		bhive_error err;
		bh_alloc_fail_after(n);
		bhive_prices *p = bhive_prices_new(&err);
		bh_alloc_fail_after(-1);
		if (p) {
			assert_float_equal(cost_usd(p, SONNET3, NULL, 1000, 500, 0, 0), 0.0105, 1e-12);
			bhive_prices_free(p);
			return;
		}
		assert_int_equal(err.code, BHIVE_ERR_NOMEM);
	}
	fail_msg("the table never loaded");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hand_computed),   cmocka_unit_test(test_cache_write_not_input),
		cmocka_unit_test(test_split_sums),      cmocka_unit_test(test_id_forms),
		cmocka_unit_test(test_regional_price),  cmocka_unit_test(test_unknown_model),
		cmocka_unit_test(test_override_file),   cmocka_unit_test(test_per_million_unit),
		cmocka_unit_test(test_malformed),       cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_structured_output_flag), cmocka_unit_test(test_catalogue),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
