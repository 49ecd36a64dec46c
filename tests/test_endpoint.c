/* test_endpoint.c - the endpoint rule-set interpreter against AWS's own
 * endpoint tests, its library functions on small rule sets, and region and
 * endpoint precedence with temporary config files and environment. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "aws/endpoint.h"

#define RULESET_NAME "bedrock-runtime.endpoint-rule-set-1.json"
#define MSG_PREFIX "cannot resolve endpoint: "
#define OK(want) want, 0, NULL /* a case that succeeds */

static json_t *load_json(const char *path)
{
	bhive_error err = { 0 };
	size_t len;
	char *text = bh_read_file(path, 0, &len, &err);
	if (!text)
		fail_msg("%s", err.message);
	json_t *v = bh_json_parse(text, len, path, &err);
	bh_free(text);
	if (!v)
		fail_msg("%s", err.message);
	return v;
}

static json_t *builtin_ruleset(void)
{
	size_t len;
	const char *text = bh_endpoint_ruleset_text(&len);
	json_t *rs = bh_json_parse(text, len, "built-in rule set", NULL);
	assert_non_null(rs);
	return rs;
}

static char *read_all(const char *path, size_t *len)
{
	char *text = bh_read_file(path, 0, len, NULL);
	if (!text)
		fail_msg("cannot read %s", path);
	return text;
}

/* The library carries the rule set itself; it must be the data file and
 * the oracle byte for byte. */
static void test_embedded_copy(void **state)
{
	size_t n_emb, n_data, n_spec;
	const char *emb = bh_endpoint_ruleset_text(&n_emb);
	char *data = read_all(BHIVE_SOURCE_DIR "/data/" RULESET_NAME, &n_data);
	char *spec = read_all(BHIVE_SHARED_DIR "/spec/" RULESET_NAME, &n_spec);
	assert_true(n_emb > 1000);
	assert_int_equal(n_emb, n_data);
	assert_int_equal(n_emb, n_spec);
	assert_memory_equal(emb, data, n_emb);
	assert_memory_equal(emb, spec, n_emb);
	assert_int_equal(emb[n_emb], '\0');
	bh_free(data);
	bh_free(spec);
}

/* The same parameters through the built-ins interface. */
static char *resolve_via_builtins(const json_t *params, bhive_error *err)
{
	bh_endpoint_params p = {
		.region = bh_json_str(params, "Region"),
		.use_fips = json_is_true(json_object_get(params, "UseFIPS")),
		.use_dualstack = json_is_true(json_object_get(params, "UseDualStack")),
		.endpoint = bh_json_str(params, "Endpoint"),
	};
	return bh_endpoint_rules_resolve(&p, err);
}

static void check_result(const char *doc, const json_t *expect, char *url, const bhive_error *err)
{
	const char *want_url = bh_json_str(json_object_get(expect, "endpoint"), "url");
	const char *want_err = bh_json_str(expect, "error");
	if (want_url) {
		if (!bh_streq(url, want_url))
			fail_msg("%s: got %s (%s), want %s", doc, url ? url : "NULL", err->message,
			         want_url);
	} else {
		char msg[600];
		assert_non_null(want_err);
		snprintf(msg, sizeof(msg), MSG_PREFIX "%s", want_err);
		if (url || err->code != BHIVE_ERR_INVALID || strcmp(err->message, msg) != 0)
			fail_msg("%s: got %s / \"%s\", want error \"%s\"", doc, url ? url : "NULL",
			         err->message, msg);
	}
	bh_free(url);
}

/* Every case of AWS's endpoint tests, through both interfaces. */
static void test_official_cases(void **state)
{
	json_t *tests = load_json(BHIVE_SHARED_DIR "/spec/bedrock-runtime.endpoint-tests-1.json");
	json_t *rs = builtin_ruleset();
	json_t *cases = json_object_get(tests, "testCases");
	size_t i, passed = 0;
	json_t *c;
	json_array_foreach(cases, i, c) {
		const char *doc = bh_json_str(c, "documentation");
		json_t *params = json_object_get(c, "params");
		json_t *expect = json_object_get(c, "expect");
		bhive_error e1 = { 0 }, e2 = { 0 };
		check_result(doc, expect, bh_endpoint_rules_eval(rs, params, &e1), &e1);
		check_result(doc, expect, resolve_via_builtins(params, &e2), &e2);
		passed++;
	}
	print_message("%zu of %zu endpoint test cases passed\n", passed, json_array_size(cases));
	assert_true(passed > 0);
	assert_int_equal(passed, json_array_size(cases));
	json_decref(rs);
	json_decref(tests);
}

typedef struct part_case {
	const char *region, *name, *dns, *dualstack_dns, *global;
	bool fips, dualstack;
} part_case;

/* Listed regions, regions only a pattern knows, and unknown ones (which
 * fall back to "aws"). */
static const part_case part_cases[] = {
	{ "us-east-1", "aws", "amazonaws.com", "api.aws", "us-east-1", true, true },
	{ "mx-central-1", "aws", "amazonaws.com", "api.aws", "us-east-1", true, true },
	{ "ap-northeast-9", "aws", "amazonaws.com", "api.aws", "us-east-1", true, true },
	{ "aws-global", "aws", "amazonaws.com", "api.aws", "us-east-1", true, true },
	{ "xx-moon-1", "aws", "amazonaws.com", "api.aws", "us-east-1", true, true },
	{ "", "aws", "amazonaws.com", "api.aws", "us-east-1", true, true },
	{ "cn-north-1", "aws-cn", "amazonaws.com.cn", "api.amazonwebservices.com.cn",
	  "cn-northwest-1", true, true },
	{ "cn-south-7", "aws-cn", "amazonaws.com.cn", "api.amazonwebservices.com.cn",
	  "cn-northwest-1", true, true },
	{ "us-gov-west-1", "aws-us-gov", "amazonaws.com", "api.aws", "us-gov-west-1", true, true },
	{ "us-gov-north-9", "aws-us-gov", "amazonaws.com", "api.aws", "us-gov-west-1", true, true },
	{ "us-iso-west-1", "aws-iso", "c2s.ic.gov", "api.aws.ic.gov", "us-iso-east-1", true,
	  false },
	{ "us-isob-east-1", "aws-iso-b", "sc2s.sgov.gov", "api.aws.scloud", "us-isob-east-1", true,
	  false },
	{ "eu-isoe-west-1", "aws-iso-e", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk",
	  "eu-isoe-west-1", true, false },
	{ "us-isof-south-1", "aws-iso-f", "csp.hci.ic.gov", "api.aws.hci.ic.gov", "us-isof-south-1",
	  true, false },
	{ "us-isof-west-3", "aws-iso-f", "csp.hci.ic.gov", "api.aws.hci.ic.gov", "us-isof-south-1",
	  true, false },
	{ "eusc-de-east-1", "aws-eusc", "amazonaws.eu", "api.amazonwebservices.eu",
	  "eusc-de-east-1", true, false },
	{ "eusc-de-west-2", "aws-eusc", "amazonaws.eu", "api.amazonwebservices.eu",
	  "eusc-de-east-1", true, false },
};

static void test_partitions(void **state)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(part_cases); i++) {
		const part_case *c = &part_cases[i];
		json_t *p = bh_aws_partition(c->region);
		assert_non_null(p);
		assert_string_equal(bh_json_str(p, "name"), c->name);
		assert_string_equal(bh_json_str(p, "dnsSuffix"), c->dns);
		assert_string_equal(bh_json_str(p, "dualStackDnsSuffix"), c->dualstack_dns);
		assert_string_equal(bh_json_str(p, "implicitGlobalRegion"), c->global);
		assert_int_equal(json_is_true(json_object_get(p, "supportsFIPS")), c->fips);
		assert_int_equal(json_is_true(json_object_get(p, "supportsDualStack")),
		                 c->dualstack);
		json_decref(p);
	}
}

typedef struct rules_case {
	const char *region;
	bool fips, dualstack;
	const char *want; /* URL, or the rule set's error text */
} rules_case;

/* Partitions the official tests leave out, through the built-in rule set. */
static const rules_case rules_cases[] = {
	{ "eusc-de-east-1", false, false, "https://bedrock-runtime.eusc-de-east-1.amazonaws.eu" },
	{ "eusc-de-east-1", true, false,
	  "https://bedrock-runtime-fips.eusc-de-east-1.amazonaws.eu" },
	{ "eusc-de-east-1", false, true,
	  "DualStack is enabled but this partition does not support DualStack" },
	{ "us-isof-south-1", false, false,
	  "https://bedrock-runtime.us-isof-south-1.csp.hci.ic.gov" },
	{ "eu-isoe-west-1", true, true,
	  "FIPS and DualStack are enabled, but this partition does not support one or both" },
	{ "cn-northwest-1", true, true,
	  "https://bedrock-runtime-fips.cn-northwest-1.api.amazonwebservices.com.cn" },
	{ "us-west-2", false, false, "https://bedrock-runtime.us-west-2.amazonaws.com" },
};

static void test_more_regions(void **state)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(rules_cases); i++) {
		const rules_case *c = &rules_cases[i];
		bh_endpoint_params p = { c->region, c->fips, c->dualstack, NULL };
		bhive_error err = { 0 };
		char *url = bh_endpoint_rules_resolve(&p, &err);
		if (bh_starts_with(c->want, "https://")) {
			assert_non_null(url);
			assert_string_equal(url, c->want);
		} else {
			assert_null(url);
			assert_int_equal(err.code, BHIVE_ERR_INVALID);
			assert_string_equal(err.message + strlen(MSG_PREFIX), c->want);
		}
		bh_free(url);
	}
}

/* ---- the library functions, each on a small rule set ------------------ */

/* Evaluates rules with an optional string parameter "In" (NULL = unset)
 * and a string list "List" = ["a", "b"]. Returns the URL or NULL with err. */
static char *run_rules(const char *rules, const char *in, bhive_error *err)
{
	char *text = bh_asprintf("{\"version\":\"1.0\",\"parameters\":{\"In\":{\"type\":\"String\","
	                         "\"required\":false},\"List\":{\"type\":\"stringArray\","
	                         "\"required\":false}},\"rules\":%s}",
	                         rules);
	json_t *rs = bh_json_parse(text, strlen(text), "test rules", NULL);
	if (!rs)
		fail_msg("test rule set does not parse: %s", rules);
	json_t *params = json_object();
	if (in)
		json_object_set_new(params, "In", json_string(in));
	json_object_set_new(params, "List", json_pack("[s,s]", "a", "b"));
	char *url = bh_endpoint_rules_eval(rs, params, err);
	json_decref(params);
	json_decref(rs);
	bh_free(text);
	return url;
}

typedef struct fn_case {
	const char *in;
	const char *want; /* URL, or "!" + the message after "cannot resolve endpoint: " */
} fn_case;

static void run_fn_cases(const char *rules, const fn_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bhive_error err = { 0 };
		char *url = run_rules(rules, cases[i].in, &err);
		const char *want = cases[i].want;
		if (want[0] != '!') {
			if (!bh_streq(url, want))
				fail_msg("input \"%s\": got %s (%s), want %s", cases[i].in,
				         url ? url : "NULL", err.message, want);
		} else if (url || !bh_starts_with(err.message, MSG_PREFIX) ||
		           strcmp(err.message + strlen(MSG_PREFIX), want + 1) != 0) {
			fail_msg("input \"%s\": got %s / \"%s\", want error %s", cases[i].in,
			         url ? url : "NULL", err.message, want + 1);
		}
		bh_free(url);
	}
}

static const char PARSE_URL_RULES[] =
	"[{\"conditions\":[{\"fn\":\"parseURL\",\"argv\":[{\"ref\":\"In\"}],\"assign\":\"U\"}],"
	"\"type\":\"tree\",\"rules\":["
	"{\"conditions\":[{\"fn\":\"booleanEquals\",\"argv\":[{\"fn\":\"getAttr\",\"argv\":"
	"[{\"ref\":\"U\"},\"isIp\"]},true]}],\"type\":\"endpoint\",\"endpoint\":{\"url\":"
	"\"{U#scheme}|{U#authority}|{U#path}|{U#normalizedPath}|ip\"}},"
	"{\"conditions\":[],\"type\":\"endpoint\",\"endpoint\":{\"url\":"
	"\"{U#scheme}|{U#authority}|{U#path}|{U#normalizedPath}|name\"}}]},"
	"{\"conditions\":[],\"type\":\"error\",\"error\":\"not a URL\"}]";

static const fn_case parse_url_cases[] = {
	{ "https://example.com", "https|example.com||/|name" },
	{ "http://127.0.0.1:8080/a/b", "http|127.0.0.1:8080|/a/b|/a/b/|ip" },
	{ "https://[::1]:443/", "https|[::1]:443|/|/|ip" },
	{ "HTTPS://Host.example/x/", "https|Host.example|/x/|/x/|name" },
	{ "http://localhost:0", "http|localhost:0||/|name" },
	{ "http://1.2.3.4.5", "http|1.2.3.4.5||/|name" },
	{ "ftp://example.com", "!not a URL" },
	{ "https://example.com?x=1", "!not a URL" },
	{ "https://example.com/#frag", "!not a URL" },
	{ "https://", "!not a URL" },
	{ "https:///path", "!not a URL" },
	{ "https://h:99999", "!not a URL" },
	{ "https://h:12ab", "!not a URL" },
	{ "https://h:", "!not a URL" },
	{ "https://[::1", "!not a URL" },
	{ "https://[nothex]", "!not a URL" },
	{ "https://user@host", "!not a URL" },
	{ "https://a b", "!not a URL" },
	{ "example.com", "!not a URL" },
	{ NULL, "!not a URL" },
};

static void test_parse_url(void **state)
{
	run_fn_cases(PARSE_URL_RULES, parse_url_cases, BH_ARRAY_LEN(parse_url_cases));
}

static const char HOST_LABEL_RULES[] =
	"[{\"conditions\":[{\"fn\":\"isValidHostLabel\",\"argv\":[{\"ref\":\"In\"},false]}],"
	"\"type\":\"endpoint\",\"endpoint\":{\"url\":\"label\"}},"
	"{\"conditions\":[{\"fn\":\"isValidHostLabel\",\"argv\":[{\"ref\":\"In\"},true]}],"
	"\"type\":\"endpoint\",\"endpoint\":{\"url\":\"dotted\"}},"
	"{\"conditions\":[],\"type\":\"error\",\"error\":\"invalid {In}\"}]";

static const fn_case host_label_cases[] = {
	{ "us-east-1", "label" },
	{ "a", "label" },
	{ "9lives-", "label" },
	{ "a.b-c.d", "dotted" },
	{ "-a", "!invalid -a" },
	{ "a..b", "!invalid a..b" },
	{ "a.b.", "!invalid a.b." },
	{ "a_b", "!invalid a_b" },
	{ "", "!invalid " },
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "label" },
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	  "!invalid xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
};

static void test_host_label(void **state)
{
	run_fn_cases(HOST_LABEL_RULES, host_label_cases, BH_ARRAY_LEN(host_label_cases));
}

static const char SUBSTRING_RULES[] =
	"[{\"conditions\":["
	"{\"fn\":\"substring\",\"argv\":[{\"ref\":\"In\"},0,4,false],\"assign\":\"S\"},"
	"{\"fn\":\"substring\",\"argv\":[{\"ref\":\"In\"},0,4,true],\"assign\":\"R\"},"
	"{\"fn\":\"substring\",\"argv\":[{\"ref\":\"In\"},1,2,false],\"assign\":\"M\"}],"
	"\"type\":\"endpoint\",\"endpoint\":{\"url\":\"{S}|{R}|{M}\"}},"
	"{\"conditions\":[],\"type\":\"error\",\"error\":\"none\"}]";

static const fn_case substring_cases[] = {
	{ "abcdefgh", "abcd|efgh|b" },
	{ "abcd", "abcd|abcd|b" },
	{ "abc", "!none" },
	{ "abcd\xc3\xa9", "!none" },
	{ NULL, "!none" },
};

static void test_substring(void **state)
{
	run_fn_cases(SUBSTRING_RULES, substring_cases, BH_ARRAY_LEN(substring_cases));
}

static const char URI_ENCODE_RULES[] =
	"[{\"conditions\":[{\"fn\":\"uriEncode\",\"argv\":[{\"ref\":\"In\"}],\"assign\":\"E\"}],"
	"\"type\":\"endpoint\",\"endpoint\":{\"url\":\"{E}\"}}]";

static const fn_case uri_encode_cases[] = {
	{ " %:/?#[]@!$&'()*+,;=\xF0\x9F\x98\xB9",
	  "%20%25%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%F0%9F%98%B9" },
	{ "a-b_c.d~e", "a-b_c.d~e" },
};

static void test_uri_encode(void **state)
{
	run_fn_cases(URI_ENCODE_RULES, uri_encode_cases, BH_ARRAY_LEN(uri_encode_cases));
}

/* isSet, not, stringEquals, templates in arguments and messages, escapes. */
static const char LOGIC_RULES[] =
	"[{\"conditions\":[{\"fn\":\"not\",\"argv\":"
	"[{\"fn\":\"isSet\",\"argv\":[{\"ref\":\"In\"}]}]}],"
	"\"type\":\"endpoint\",\"endpoint\":{\"url\":\"unset\"}},"
	"{\"conditions\":[{\"fn\":\"stringEquals\",\"argv\":[{\"ref\":\"In\"},\"x{{y}}\"]}],"
	"\"type\":\"endpoint\",\"endpoint\":{\"url\":\"literal {{braces}}\"}},"
	"{\"conditions\":[{\"fn\":\"stringEquals\",\"argv\":[\"{In}\",\"a\"]}],"
	"\"type\":\"endpoint\",\"endpoint\":{\"url\":\"template {In}\"}},"
	"{\"conditions\":[{\"fn\":\"stringEquals\",\"argv\":[{\"ref\":\"In\"},\"list\"]},"
	"{\"fn\":\"getAttr\",\"argv\":[{\"ref\":\"List\"},\"[1]\"],\"assign\":\"L\"}],"
	"\"type\":\"endpoint\",\"endpoint\":{\"url\":\"{L}\"}},"
	"{\"conditions\":[{\"fn\":\"stringEquals\",\"argv\":[{\"ref\":\"In\"},\"deep\"]},"
	"{\"fn\":\"aws.partition\",\"argv\":[\"cn-north-1\"],\"assign\":\"P\"}],"
	"\"type\":\"endpoint\",\"endpoint\":{\"url\":{\"fn\":\"getAttr\",\"argv\":"
	"[{\"ref\":\"P\"},\"dualStackDnsSuffix\"]}}},"
	"{\"conditions\":[],\"type\":\"error\",\"error\":\"no match for {In}\"}]";

static const fn_case logic_cases[] = {
	{ NULL, "unset" },
	{ "x{y}", "literal {braces}" },
	{ "a", "template a" },
	{ "list", "b" },
	{ "deep", "api.amazonwebservices.com.cn" },
	{ "b", "!no match for b" },
};

static void test_logic_and_templates(void **state)
{
	run_fn_cases(LOGIC_RULES, logic_cases, BH_ARRAY_LEN(logic_cases));
}

/* A name assigned by a rule whose later condition failed must not be seen
 * by the next rule; a tree whose conditions held is terminal. */
static const char SCOPE_RULES[] =
	"[{\"conditions\":[{\"fn\":\"aws.partition\",\"argv\":[\"us-east-1\"],\"assign\":\"P\"},"
	"{\"fn\":\"isSet\",\"argv\":[{\"ref\":\"In\"}]}],"
	"\"type\":\"tree\",\"rules\":[{\"conditions\":[{\"fn\":\"stringEquals\",\"argv\":"
	"[{\"ref\":\"In\"},\"x\"]}],\"type\":\"endpoint\",\"endpoint\":{\"url\":\"{P#name}\"}}]},"
	"{\"conditions\":[{\"fn\":\"isSet\",\"argv\":[{\"ref\":\"P\"}]}],"
	"\"type\":\"endpoint\",\"endpoint\":{\"url\":\"leaked\"}},"
	"{\"conditions\":[],\"type\":\"endpoint\",\"endpoint\":{\"url\":\"isolated\"}}]";

static const fn_case scope_cases[] = {
	{ NULL, "isolated" },
	{ "x", "aws" },
	{ "y", "!no rule of a tree rule applies" },
};

static void test_scopes_and_trees(void **state)
{
	run_fn_cases(SCOPE_RULES, scope_cases, BH_ARRAY_LEN(scope_cases));
}

/* Broken rule sets and parameters: an error saying so, never a crash. */
#define WHEN(cond)                                                                            \
	"[{\"conditions\":[" cond "],\"type\":\"endpoint\",\"endpoint\":{\"url\":\"x\"}}]"

static const char *const malformed_rules[] = {
	WHEN("{\"fn\":\"nope\",\"argv\":[]}"),
	WHEN("{\"fn\":\"not\",\"argv\":[true,true]}"),
	WHEN("{\"fn\":\"booleanEquals\",\"argv\":[\"a\",true]}"),
	WHEN("{\"fn\":\"isSet\",\"argv\":[{\"nothing\":1}]}"),
	WHEN("{\"fn\":\"isSet\",\"argv\":[{\"ref\":\"In\"}],\"assign\":\"In\"}"),
	WHEN("{\"argv\":[]}"),
	"[{\"conditions\":[],\"endpoint\":{\"url\":\"x\"}}]",
	"[{\"conditions\":[],\"type\":\"endpoint\"}]",
	"[{\"conditions\":[],\"type\":\"endpoint\",\"endpoint\":{\"url\":true}}]",
	"[{\"conditions\":[],\"type\":\"endpoint\",\"endpoint\":{\"url\":\"{In\"}}]",
	"[{\"conditions\":[],\"type\":\"endpoint\",\"endpoint\":{\"url\":\"{Nope}\"}}]",
	"[{\"conditions\":[],\"type\":\"endpoint\",\"endpoint\":{\"url\":\"{}\"}}]",
	"[{\"conditions\":[],\"type\":\"error\",\"error\":false}]",
	"[{\"type\":\"endpoint\",\"endpoint\":{\"url\":\"x\"}}]",
	"[{\"conditions\":[],\"type\":\"tree\",\"rules\":{}}]",
	"{}",
};

static void test_malformed_rule_sets(void **state)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(malformed_rules); i++) {
		bhive_error err = { 0 };
		char *url = run_rules(malformed_rules[i], "in", &err);
		if (url || err.code != BHIVE_ERR_INVALID ||
		    !bh_starts_with(err.message, "malformed endpoint rule set: "))
			fail_msg("rules %s: got %s / \"%s\"", malformed_rules[i],
			         url ? url : "NULL", err.message);
	}
}

/* A rule set nested past the limit is refused without exhausting the stack. */
static void test_deep_nesting(void **state)
{
	bh_buf b;
	bh_buf_init(&b, 0);
	for (int i = 0; i < 100; i++)
		bh_buf_puts(&b, "[{\"conditions\":[],\"type\":\"tree\",\"rules\":");
	bh_buf_puts(&b, "[]");
	for (int i = 0; i < 100; i++)
		bh_buf_puts(&b, "}]");
	json_t *rules = json_loads(b.data, 0, NULL);
	bh_buf_release(&b);
	assert_non_null(rules);
	json_t *rs = json_pack("{s:{}, s:o}", "parameters", "rules", rules);
	bhive_error err = { 0 };
	assert_null(bh_endpoint_rules_eval(rs, NULL, &err));
	assert_string_equal(err.message, "malformed endpoint rule set: nested too deeply");
	json_decref(rs);
}

static void test_bad_params(void **state)
{
	json_t *rs = builtin_ruleset();
	static const char *const cases[][2] = {
		{ "{\"UseFIPS\":\"yes\"}", "endpoint parameter \"UseFIPS\" has the wrong type" },
		{ "{\"Region\":1}", "endpoint parameter \"Region\" has the wrong type" },
		{ "{\"Bucket\":\"b\"}",
		  "endpoint parameter \"Bucket\" is not defined by the rule set" },
		{ "[]", "endpoint parameters are not an object" },
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		json_t *params = json_loads(cases[i][0], JSON_DECODE_ANY, NULL);
		bhive_error err = { 0 };
		assert_null(bh_endpoint_rules_eval(rs, params, &err));
		assert_int_equal(err.code, BHIVE_ERR_INVALID);
		assert_string_equal(err.message, cases[i][1]);
		json_decref(params);
	}
	/* a required parameter without a default */
	json_t *req = json_loads("{\"parameters\":{\"X\":{\"type\":\"string\",\"required\":true}},"
	                         "\"rules\":[]}", 0, NULL);
	bhive_error err = { 0 };
	assert_null(bh_endpoint_rules_eval(req, NULL, &err));
	assert_string_equal(err.message, "endpoint parameter \"X\" is required");
	json_decref(req);
	json_decref(rs);
}

/* Each allocation of the library's own failing in turn gives NOMEM, never a
 * crash or a leak (jansson's allocations are not counted). */
static void test_alloc_failures(void **state)
{
	bh_endpoint_params p = { "us-east-1", true, false, NULL };
	for (long n = 0; n < 1000; n++) {
		bhive_error err = { 0 };
		bh_alloc_fail_after(n);
		char *url = bh_endpoint_rules_resolve(&p, &err);
		bh_alloc_fail_after(-1);
		if (url) {
			assert_string_equal(url,
			                    "https://bedrock-runtime-fips.us-east-1.amazonaws.com");
			bh_free(url);
			return;
		}
		assert_int_equal(err.code, BHIVE_ERR_NOMEM);
	}
	fail_msg("resolution never succeeded");
}

/* ---- region and endpoint precedence ------------------------------------ */

static const char *const env_names[] = {
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_USE_FIPS_ENDPOINT",
	"AWS_USE_DUALSTACK_ENDPOINT", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE",
};

typedef struct env_fixture {
	char *saved[BH_ARRAY_LEN(env_names)];
	char dir[64];
	char config[96];
	char creds[96];
} env_fixture;

static int env_setup(void **state)
{
	env_fixture *f = bh_calloc(1, sizeof(*f));
	for (size_t i = 0; i < BH_ARRAY_LEN(env_names); i++)
		f->saved[i] = bh_strdup(getenv(env_names[i]));
	bh_strlcpy(f->dir, "/tmp/bhive-endpoint-XXXXXX", sizeof(f->dir));
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->config, sizeof(f->config), "%s/config", f->dir);
	snprintf(f->creds, sizeof(f->creds), "%s/credentials", f->dir);
	*state = f;
	return 0;
}

static int env_teardown(void **state)
{
	env_fixture *f = *state;
	for (size_t i = 0; i < BH_ARRAY_LEN(env_names); i++) {
		if (f->saved[i])
			setenv(env_names[i], f->saved[i], 1);
		else
			unsetenv(env_names[i]);
		bh_free(f->saved[i]);
	}
	unlink(f->config);
	rmdir(f->dir);
	bh_free(f);
	return 0;
}

/* A clean environment with the case's variables ("NAME=value") and config
 * file, loaded for the default profile (or AWS_PROFILE if a case sets it). */
static bh_aws_config *prepare(env_fixture *f, const char *const *env, const char *config)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(env_names); i++)
		unsetenv(env_names[i]);
	for (size_t i = 0; env[i]; i++) {
		char name[128];
		const char *eq = strchr(env[i], '=');
		assert_non_null(eq);
		bh_strlcpy(name, env[i], (size_t)(eq - env[i]) + 1);
		setenv(name, eq + 1, 1);
	}
	FILE *fp = fopen(f->config, "w");
	assert_non_null(fp);
	fputs(config ? config : "", fp);
	fclose(fp);
	setenv("AWS_CONFIG_FILE", f->config, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", f->creds, 1);
	bhive_error err = { 0 };
	bh_aws_config *cfg = bh_aws_config_load(NULL, &err);
	if (!cfg)
		fail_msg("config does not load: %s", err.message);
	return cfg;
}

typedef struct region_case {
	const char *name;
	const char *env[4];
	const char *config;
	const char *explicit_region;
	const char *want;     /* region, or NULL for an error */
	int code;
	const char *message;  /* exact message of the error */
} region_case;

static const region_case region_cases[] = {
	{ "explicit beats all", { "AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-2" },
	  "[default]\nregion = eu-west-3\n", "ap-south-1", OK("ap-south-1") },
	{ "AWS_REGION first", { "AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-2" },
	  "[default]\nregion = eu-west-3\n", NULL, OK("eu-west-1") },
	{ "empty explicit is unset", { "AWS_REGION=eu-west-1" }, NULL, "", OK("eu-west-1") },
	{ "AWS_DEFAULT_REGION next", { "AWS_DEFAULT_REGION=eu-west-2" },
	  "[default]\nregion = eu-west-3\n", NULL, OK("eu-west-2") },
	{ "empty variable is unset", { "AWS_REGION=", "AWS_DEFAULT_REGION=" },
	  "[default]\nregion = eu-west-3\n", NULL, OK("eu-west-3") },
	{ "profile region", { NULL }, "[default]\nregion = eu-west-3\n", NULL, OK("eu-west-3") },
	{ "named profile", { "AWS_PROFILE=dev" },
	  "[default]\nregion = eu-west-3\n[profile dev]\nregion = us-gov-east-1\n", NULL,
	  OK("us-gov-east-1") },
	{ "none", { NULL }, "[default]\noutput = json\n", NULL, NULL, BHIVE_ERR_REGION,
	  "no region: set AWS_REGION or region in the profile, or pass --region" },
	{ "not a label", { "AWS_REGION=us-east-1.evil.com" }, NULL, NULL, NULL, BHIVE_ERR_INVALID,
	  "invalid region \"us-east-1.evil.com\" from AWS_REGION: expected a name like us-east-1" },
	{ "bad profile region", { NULL }, "[default]\nregion = us_east_1\n", NULL, NULL,
	  BHIVE_ERR_INVALID,
	  "invalid region \"us_east_1\" from region in profile \"default\": expected a name like "
	  "us-east-1" },
};

static void test_region_precedence(void **state)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(region_cases); i++) {
		const region_case *c = &region_cases[i];
		bh_aws_config *cfg = prepare(*state, c->env, c->config);
		bhive_error err = { 0 };
		char *r = bh_resolve_region(c->explicit_region, cfg, &err);
		if (c->want && !bh_streq(r, c->want))
			fail_msg("%s: got %s (%s), want %s", c->name, r ? r : "NULL", err.message,
			         c->want);
		if (!c->want && (r || err.code != c->code || strcmp(err.message, c->message)))
			fail_msg("%s: got %s / %d \"%s\"", c->name, r ? r : "NULL", err.code,
			         err.message);
		bh_free(r);
		bh_aws_config_free(cfg);
	}
	assert_null(bh_resolve_region(NULL, NULL, NULL)); /* no config, no err: still safe */
}

/* A profile that sets every configured override, so each case shows which
 * one wins. */
#define FULL_DEFAULT                                                                          \
	"[default]\nregion = eu-west-1\nendpoint_url = http://profile-global:1\nservices = svc\n"
#define SVC_SECTION                                                                           \
	"\n[services svc]\nbedrock_runtime =\n  endpoint_url = http://services-section:2/\n"
#define FULL_PROFILE FULL_DEFAULT SVC_SECTION
#define FULL_IGNORING FULL_DEFAULT "ignore_configured_endpoint_urls = true\n" SVC_SECTION
#define PROFILE_ONLY_GLOBAL "[default]\nendpoint_url = http://profile-global:1\n"
#define ENV_SVC "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://env-service:3"
#define ENV_GLOBAL "AWS_ENDPOINT_URL=http://env-global:4"
#define RULESET_URL "https://bedrock-runtime.us-east-1.amazonaws.com"

typedef struct ep_case {
	const char *name;
	const char *env[5];
	const char *config;
	const char *explicit_url;
	const char *region;
	int fips, dualstack;
	const char *want; /* URL, or NULL for an error */
	int code;
	const char *message; /* exact error message */
} ep_case;

static const ep_case ep_cases[] = {
	{ "nothing configured", { NULL }, NULL, NULL, "us-east-1", -1, -1, OK(RULESET_URL) },
	{ "explicit wins", { ENV_SVC, ENV_GLOBAL }, FULL_PROFILE, "http://127.0.0.1:9/",
	  "us-east-1",
	  -1, -1, OK("http://127.0.0.1:9") },
	{ "service variable", { ENV_SVC, ENV_GLOBAL }, FULL_PROFILE, NULL, "us-east-1", -1, -1,
	  OK("http://env-service:3") },
	{ "global variable beats the file", { ENV_GLOBAL }, FULL_PROFILE, NULL, "us-east-1", -1, -1,
	  OK("http://env-global:4") },
	{ "services section", { NULL }, FULL_PROFILE, NULL, "us-east-1", -1, -1,
	  OK("http://services-section:2") },
	{ "profile endpoint_url", { NULL }, PROFILE_ONLY_GLOBAL, NULL, "us-east-1", -1, -1,
	  OK("http://profile-global:1") },
	{ "services section for another service",
	  { NULL },
	  "[default]\nservices = s\nendpoint_url = http://profile-global:1\n"
	  "[services s]\nsts =\n  endpoint_url = http://sts:5\n",
	  NULL, "us-east-1", -1, -1, OK("http://profile-global:1") },
	{ "ignore by variable", { ENV_SVC, ENV_GLOBAL, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true" },
	  FULL_PROFILE, NULL, "us-east-1", -1, -1, OK(RULESET_URL) },
	{ "ignore keeps explicit", { ENV_SVC, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=TRUE" },
	  FULL_PROFILE, "https://explicit.example/base/", "us-east-1", -1, -1,
	  OK("https://explicit.example/base") },
	{ "ignore by profile", { ENV_SVC, ENV_GLOBAL },
	  FULL_IGNORING, NULL, "us-east-1", -1,
	  -1, OK(RULESET_URL) },
	{ "variable beats profile ignore", { ENV_SVC, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=false" },
	  FULL_IGNORING, NULL, "us-east-1", -1,
	  -1, OK("http://env-service:3") },
	{ "fips by variable", { "AWS_USE_FIPS_ENDPOINT=true" }, NULL, NULL, "us-east-1", -1, -1,
	  OK("https://bedrock-runtime-fips.us-east-1.amazonaws.com") },
	{ "fips by profile", { NULL }, "[default]\nuse_fips_endpoint = True\n", NULL, "us-east-1",
	  -1, -1, OK("https://bedrock-runtime-fips.us-east-1.amazonaws.com") },
	{ "explicit fips off beats variable", { "AWS_USE_FIPS_ENDPOINT=true" }, NULL, NULL,
	  "us-east-1", 0, -1, OK(RULESET_URL) },
	{ "variable beats profile fips", { "AWS_USE_FIPS_ENDPOINT=false" },
	  "[default]\nuse_fips_endpoint = true\n", NULL, "us-east-1", -1, -1, OK(RULESET_URL) },
	{ "dual-stack by variable", { "AWS_USE_DUALSTACK_ENDPOINT=TRUE" }, NULL, NULL, "us-east-1",
	  -1, -1, OK("https://bedrock-runtime.us-east-1.api.aws") },
	{ "dual-stack and fips explicit", { NULL }, NULL, NULL, "cn-north-1", 1, 1,
	  OK("https://bedrock-runtime-fips.cn-north-1.api.amazonwebservices.com.cn") },
	{ "bad fips variable", { "AWS_USE_FIPS_ENDPOINT=yes" }, NULL, NULL, "us-east-1", -1, -1,
	  NULL, BHIVE_ERR_CONFIG,
	  "bad boolean \"yes\" in AWS_USE_FIPS_ENDPOINT: use true or false" },
	{ "bad dual-stack profile", { NULL }, "[default]\nuse_dualstack_endpoint = 1\n", NULL,
	  "us-east-1", -1, -1, NULL, BHIVE_ERR_CONFIG,
	  "bad boolean \"1\" in use_dualstack_endpoint in profile \"default\": use true or false" },
	{ "bad ignore variable", { "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=maybe" }, NULL, NULL,
	  "us-east-1", -1, -1, NULL, BHIVE_ERR_CONFIG,
	  "bad boolean \"maybe\" in AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: use true or false" },
	{ "fips with an override", { ENV_GLOBAL, "AWS_USE_FIPS_ENDPOINT=true" }, NULL, NULL,
	  "us-east-1", -1, -1, NULL, BHIVE_ERR_INVALID,
	  MSG_PREFIX "Invalid Configuration: FIPS and custom endpoint are not supported" },
	{ "dual-stack with an override", { NULL }, NULL, "http://h:1", "us-east-1", -1, 1, NULL,
	  BHIVE_ERR_INVALID,
	  MSG_PREFIX "Invalid Configuration: Dualstack and custom endpoint are not supported" },
	{ "no region", { NULL }, NULL, NULL, NULL, -1, -1, NULL, BHIVE_ERR_REGION,
	  "no region: set AWS_REGION or region in the profile, or pass --region" },
	{ "no region but an override", { ENV_SVC }, NULL, NULL, NULL, -1, -1,
	  OK("http://env-service:3") },
	{ "override not http", { "AWS_ENDPOINT_URL=ftp://x" }, NULL, NULL, "us-east-1", -1, -1,
	  NULL, BHIVE_ERR_INVALID,
	  "invalid endpoint URL \"ftp://x\" from AWS_ENDPOINT_URL: expected "
	  "http(s)://host[:port][/path]" },
	{ "override with query", { NULL }, "[default]\nendpoint_url = http://h/?a=1\n", NULL,
	  "us-east-1", -1, -1, NULL, BHIVE_ERR_INVALID,
	  "invalid endpoint URL \"http://h/?a=1\" from endpoint_url in profile \"default\": "
	  "expected http(s)://host[:port][/path]" },
	{ "region not a label", { NULL }, NULL, NULL, "us-east-1/x", -1, -1, NULL,
	  BHIVE_ERR_INVALID, "invalid region \"us-east-1/x\": expected a name like us-east-1" },
};

static void check_endpoint_case(const ep_case *c, bh_aws_config *cfg)
{
	bhive_error err = { 0 };
	char *url =
		bh_resolve_endpoint(c->explicit_url, c->region, c->fips, c->dualstack, cfg, &err);
	if (c->want && !bh_streq(url, c->want))
		fail_msg("%s: got %s (%s), want %s", c->name, url ? url : "NULL", err.message,
		         c->want);
	if (!c->want && (url || err.code != c->code || strcmp(err.message, c->message)))
		fail_msg("%s: got %s / %d \"%s\"", c->name, url ? url : "NULL", err.code,
		         err.message);
	bh_free(url);
}

static void test_endpoint_precedence(void **state)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(ep_cases); i++) {
		bh_aws_config *cfg = prepare(*state, ep_cases[i].env, ep_cases[i].config);
		check_endpoint_case(&ep_cases[i], cfg);
		bh_aws_config_free(cfg);
	}
}

/* Without a config object only the caller and the environment count. */
static void test_endpoint_without_config(void **state)
{
	static const char *const env[] = { ENV_GLOBAL, "AWS_USE_DUALSTACK_ENDPOINT=false", NULL };
	bh_aws_config *cfg = prepare(*state, env, NULL);
	bh_aws_config_free(cfg);
	char *url = bh_resolve_endpoint(NULL, NULL, -1, -1, NULL, NULL);
	assert_non_null(url);
	assert_string_equal(url, "http://env-global:4");
	bh_free(url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_copy),
		cmocka_unit_test(test_official_cases),
		cmocka_unit_test(test_partitions),
		cmocka_unit_test(test_more_regions),
		cmocka_unit_test(test_parse_url),
		cmocka_unit_test(test_host_label),
		cmocka_unit_test(test_substring),
		cmocka_unit_test(test_uri_encode),
		cmocka_unit_test(test_logic_and_templates),
		cmocka_unit_test(test_scopes_and_trees),
		cmocka_unit_test(test_malformed_rule_sets),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test_setup_teardown(test_region_precedence, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_endpoint_precedence, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_endpoint_without_config, env_setup,
		                                env_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
