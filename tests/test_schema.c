/* test_schema.c - structured output: validation messages, extraction, requests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "hive/schema.h"
#include "util/util.h"

static json_t *parse(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!v)
		fail_msg("bad test JSON: %s", text);
	return v;
}

static const char *const answer_schema =
	"{\"type\": \"object\", \"required\": [\"answer\"], \"additionalProperties\": false,"
	" \"properties\": {"
	"  \"answer\": {\"type\": \"integer\", \"minimum\": -1000, \"maximum\": 1000},"
	"  \"steps\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"minLength\": 1},"
	"            \"maxItems\": 3},"
	"  \"confidence\": {\"type\": [\"number\", \"null\"], \"exclusiveMinimum\": 0,"
	"                 \"exclusiveMaximum\": 1},"
	"  \"unit\": {\"enum\": [\"m\", \"s\", 1]},"
	"  \"code\": {\"type\": \"string\", \"pattern\": \"^[A-Z]{2}\\\\d+$\"}"
	"}}";

/* Each instance against the schema above: "" means valid, else the exact message. */
static void test_validate_messages(void **state)
{
	static const struct {
		const char *instance;
		const char *message;
	} cases[] = {
		{"{\"answer\": 42}", ""},
		{"{\"answer\": 42.0}", ""},
		{"{\"answer\": 42, \"steps\": [\"a\", \"b\"], \"confidence\": 0.5, \"unit\": 1,"
		 " \"code\": \"AB12\"}", ""},
		{"{\"answer\": 1, \"confidence\": null}", ""},
		{"{\"answer\": \"42\"}", "$.answer: expected integer, got string"},
		{"{\"answer\": 4.5}", "$.answer: expected integer, got number"},
		{"{}", "$: missing required property \"answer\""},
		{"[1]", "$: expected object, got array"},
		{"{\"answer\": 1, \"extra\": 2}", "$: property \"extra\" is not allowed"},
		{"{\"answer\": 1001}", "$.answer: 1001 is greater than the maximum 1000"},
		{"{\"answer\": -1001}", "$.answer: -1001 is less than the minimum -1000"},
		{"{\"answer\": 1, \"steps\": [\"a\", \"\"]}",
		 "$.steps[1]: string of 0 characters is shorter than the minimum 1"},
		{"{\"answer\": 1, \"steps\": [\"a\", \"b\", \"c\", \"d\"]}",
		 "$.steps: array of 4 items has more than the maximum 3"},
		{"{\"answer\": 1, \"confidence\": 1}",
		 "$.confidence: 1 is not less than the exclusive maximum 1"},
		{"{\"answer\": 1, \"confidence\": 0}",
		 "$.confidence: 0 is not greater than the exclusive minimum 0"},
		{"{\"answer\": 1, \"confidence\": \"high\"}",
		 "$.confidence: expected one of [\"number\",\"null\"], got string"},
		{"{\"answer\": 1, \"unit\": \"kg\"}", "$.unit: \"kg\" is not one of the allowed values"},
		{"{\"answer\": 1, \"unit\": 1.0}", ""},
		{"{\"answer\": 1, \"code\": \"ab12\"}",
		 "$.code: \"ab12\" does not match the pattern \"^[A-Z]{2}\\d+$\""},
	};
	json_t *sj = parse(answer_schema);
	bh_schema *s = bh_schema_new(sj, NULL);
	assert_non_null(s);
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_error err;
		bhive_error_clear(&err);
		json_t *v = parse(cases[i].instance);
		int rc = bh_schema_validate(s, v, &err);
		if (!*cases[i].message && rc != 0)
			fail_msg("case %zu: unexpected error: %s", i, err.message);
		if (*cases[i].message) {
			assert_int_equal(rc, BHIVE_ERR_SCHEMA);
			assert_string_equal(err.message, cases[i].message);
		}
		json_decref(v);
	}
	bh_schema_free(s);
	json_decref(sj);
}

static int check(const char *schema, const char *instance, char *msg, size_t n)
{
	bhive_error err;
	bhive_error_clear(&err);
	json_t *sj = parse(schema), *v = parse(instance);
	bh_schema *s = bh_schema_new(sj, &err);
	assert_non_null(s);
	int rc = bh_schema_validate(s, v, &err);
	bh_strlcpy(msg, rc ? err.message : "", n);
	bh_schema_free(s);
	json_decref(sj);
	json_decref(v);
	return rc;
}

/* Combinators, $ref, const, nested paths and awkward property names. */
static void test_combinators_and_refs(void **state)
{
	static const struct {
		const char *schema, *instance, *message;
	} cases[] = {
		{"{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"integer\"}]}", "3", ""},
		{"{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"integer\"}]}", "true",
		 "$: value matches none of the \"anyOf\" schemas"},
		{"{\"oneOf\": [{\"type\": \"number\"}, {\"type\": \"integer\"}]}", "3",
		 "$: value matches more than one of the \"oneOf\" schemas"},
		{"{\"oneOf\": [{\"type\": \"number\"}, {\"type\": \"integer\"}]}", "3.5", ""},
		{"{\"oneOf\": [{\"type\": \"null\"}]}", "1", "$: value matches none of the \"oneOf\" schemas"},
		{"{\"allOf\": [{\"minimum\": 1}, {\"maximum\": 2}]}", "3", "$: 3 is greater than the maximum 2"},
		{"{\"not\": {\"type\": \"string\"}}", "\"x\"", "$: value must not match the \"not\" schema"},
		{"{\"const\": {\"a\": [1, 2]}}", "{\"a\": [1, 2.0]}", ""},
		{"{\"const\": 5}", "6", "$: value must be 5"},
		{"{\"$defs\": {\"pos\": {\"type\": \"integer\", \"minimum\": 1}},"
		 " \"type\": \"object\", \"properties\": {\"n\": {\"$ref\": \"#/$defs/pos\"}}}",
		 "{\"n\": 0}", "$.n: 0 is less than the minimum 1"},
		{"{\"definitions\": {\"s\": {\"type\": \"string\"}},"
		 " \"items\": {\"$ref\": \"#/definitions/s\"}}", "[\"a\", 2]",
		 "$[1]: expected string, got integer"},
		{"{\"type\": \"object\", \"properties\": {\"next\": {\"$ref\": \"#\"},"
		 " \"v\": {\"type\": \"integer\"}}}", "{\"next\": {\"next\": {\"v\": \"x\"}}}",
		 "$.next.next.v: expected integer, got string"},
		{"{\"properties\": {\"a b\": {\"type\": \"string\"}}}", "{\"a b\": 1}",
		 "$[\"a b\"]: expected string, got integer"},
		{"{\"additionalProperties\": {\"type\": \"integer\"}}", "{\"x\": 1, \"y\": \"2\"}",
		 "$.y: expected integer, got string"},
		{"{\"type\": \"string\", \"maxLength\": 2}", "\"\xc3\xa9\xc3\xa9\"", ""},
		{"{\"type\": \"string\", \"maxLength\": 2}", "\"abc\"",
		 "$: string of 3 characters is longer than the maximum 2"},
		{"{\"type\": \"array\", \"minItems\": 2}", "[1]",
		 "$: array of 1 items has fewer than the minimum 2"},
		{"{\"minimum\": 1, \"exclusiveMinimum\": true}", "1",
		 "$: 1 is not greater than the exclusive minimum 1"},
		{"false", "1", "$: no value is allowed here"},
		{"true", "1", ""},
		{"{\"type\": \"object\", \"properties\": {\"a\": false}}", "{\"a\": 1}",
		 "$.a: no value is allowed here"},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		char msg[BHIVE_ERROR_TEXT_LENGTH];
		check(cases[i].schema, cases[i].instance, msg, sizeof(msg));
		if (strcmp(msg, cases[i].message) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, msg, cases[i].message);
	}
}

/* Schemas that are themselves wrong are refused with the place named. */
static void test_bad_schemas(void **state)
{
	static const struct {
		const char *schema, *needle;
	} cases[] = {
		{"3", "a schema must be an object or a boolean"},
		{"{\"type\": \"int\"}", "unknown type \"int\""},
		{"{\"properties\": {\"n\": {\"minimum\": \"0\"}}}",
		 "schema at \"$.properties.n\" is not valid"},
		{"{\"properties\": {\"n\": {\"minimum\": \"0\"}}}", "\"minimum\" is not a number"},
		{"{\"pattern\": \"([a-z\"}", "is not a valid regular expression"},
		{"{\"$ref\": \"#/$defs/missing\"}", "does not resolve"},
		{"{\"$ref\": \"http://example.com/s.json\"}", "does not resolve"},
		{"{\"anyOf\": []}", "\"anyOf\" is not a non-empty array of schemas"},
		{"{\"required\": [1]}", "\"required\" holds something other than a string"},
		{"{\"minLength\": -1}", "\"minLength\" is not an integer >= 0"},
		{"{\"items\": {\"items\": 5}}", "schema at \"$.items.items\""},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_error err;
		bhive_error_clear(&err);
		json_t *sj = parse(cases[i].schema);
		bh_schema *s = bh_schema_new(sj, &err);
		assert_null(s);
		assert_int_equal(err.code, BHIVE_ERR_SCHEMA);
		if (!strstr(err.message, cases[i].needle))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.message, cases[i].needle);
		json_decref(sj);
	}
}

/* A schema that refers to itself with no value to consume stops. */
static void test_ref_loop(void **state)
{
	char msg[BHIVE_ERROR_TEXT_LENGTH];
	assert_int_equal(check("{\"$ref\": \"#\"}", "1", msg, sizeof(msg)), BHIVE_ERR_SCHEMA);
	assert_non_null(strstr(msg, "recurses too deeply"));
}

static void test_extract(void **state)
{
	static const struct {
		const char *reply;
		const char *json; /* NULL: error expected */
		int code;
	} cases[] = {
		{"Sure.\n<json>{\"a\": 1}</json>", "{\"a\": 1}", 0},
		{"<json>{\"a\": 1}</json> then <json>{\"a\": 2}</json>", "{\"a\": 2}", 0},
		{"Here:\n```json\n{\"b\": [1, 2]}\n```\nDone.", "{\"b\": [1, 2]}", 0},
		{"<json>{\"t\": 1}</json>\n```json\n{\"f\": 1}\n```", "{\"t\": 1}", 0},
		{"  {\"whole\": true}\n", "{\"whole\": true}", 0},
		{"no json here", NULL, BHIVE_ERR_SCHEMA},
		{"<json>{\"a\": }</json>", NULL, BHIVE_ERR_PARSE},
		{"", NULL, BHIVE_ERR_SCHEMA},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_error err;
		bhive_error_clear(&err);
		json_t *v = bh_schema_extract(cases[i].reply, &err);
		if (!cases[i].json) {
			assert_null(v);
			assert_int_equal(err.code, cases[i].code);
			continue;
		}
		assert_non_null(v);
		json_t *want = parse(cases[i].json);
		assert_true(json_equal(v, want));
		json_decref(want);
		json_decref(v);
	}
	bhive_error err;
	bhive_error_clear(&err);
	json_t *v = bh_schema_extract("<json>{\n\"a\": ]}</json>", &err);
	assert_null(v);
	assert_int_equal(err.line, 2);
}

static void test_instruction(void **state)
{
	json_t *sj = parse("{\"type\": \"object\", \"required\": [\"answer\"]}");
	char *text = bh_schema_instruction(sj);
	assert_string_equal(text, "Respond with a JSON object that matches this JSON Schema, inside "
	                          "<json></json> tags:\n{\"type\":\"object\",\"required\":[\"answer\"]}");
	bh_free(text);
	json_decref(sj);
}

/* The native member, shaped as the service model's OutputConfig. */
static void test_output_config(void **state)
{
	json_t *sj = parse("{\"type\": \"object\"}");
	json_t *req = parse("{\"messages\": [], \"outputConfig\": {\"effort\": \"high\"}}");
	assert_int_equal(bh_schema_add_output_config(req, sj, NULL, NULL), 0);
	json_t *want = parse("{\"messages\": [], \"outputConfig\": {\"effort\": \"high\","
	                     " \"textFormat\": {\"type\": \"json_schema\", \"structure\":"
	                     " {\"jsonSchema\": {\"schema\": \"{\\\"type\\\":\\\"object\\\"}\","
	                     " \"name\": \"response\"}}}}}");
	assert_true(json_equal(req, want));
	json_decref(want);
	json_decref(req);
	req = parse("{\"messages\": []}");
	assert_int_equal(bh_schema_add_output_config(req, sj, "answer", NULL), 0);
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(json_object_get(json_object_get(json_object_get(req, "outputConfig"),
		                                                "textFormat"),
		                                "structure"),
		                "jsonSchema"),
		"name")), "answer");
	json_decref(req);
	req = parse("{\"outputConfig\": 3}");
	assert_int_equal(bh_schema_add_output_config(req, sj, NULL, NULL), BHIVE_ERR_INVALID);
	json_decref(req);
	json_decref(sj);
}

/* The member names agree with the service model in the shared folder. */
static void test_service_model_names(void **state)
{
	json_error_t je;
	json_t *m = json_load_file(BHIVE_SHARED_DIR "/spec/bedrock-runtime.service-2.json", 0, &je);
	if (!m)
		skip();
	json_t *shapes = json_object_get(m, "shapes");
	assert_non_null(json_object_get(json_object_get(json_object_get(shapes, "ConverseRequest"),
	                                                "members"), "outputConfig"));
	assert_non_null(json_object_get(json_object_get(json_object_get(shapes, "OutputConfig"),
	                                                "members"), "textFormat"));
	json_t *of = json_object_get(json_object_get(shapes, "OutputFormat"), "members");
	assert_non_null(json_object_get(of, "type"));
	assert_non_null(json_object_get(of, "structure"));
	assert_non_null(json_object_get(json_object_get(json_object_get(shapes,
	                "OutputFormatStructure"), "members"), "jsonSchema"));
	json_t *js = json_object_get(json_object_get(shapes, "JsonSchemaDefinition"), "members");
	assert_non_null(json_object_get(js, "schema"));
	assert_non_null(json_object_get(js, "name"));
	json_t *types = json_object_get(json_object_get(shapes, "OutputFormatType"), "enum");
	assert_string_equal(json_string_value(json_array_get(types, 0)), "json_schema");
	json_decref(m);
}

/* Each allocation failing in turn gives NOMEM or a working schema, no leak. */
static void test_alloc_failures(void **state)
{
	json_t *sj = parse(answer_schema);
	json_t *ok = parse("{\"answer\": 1, \"code\": \"AB1\"}");
	for (long n = 0; n < 50; n++) {
		bhive_error err;
		bhive_error_clear(&err);
		bh_alloc_fail_after(n);
		bh_schema *s = bh_schema_new(sj, &err);
		bh_alloc_fail_after(-1);
		if (s) {
			assert_int_equal(bh_schema_validate(s, ok, NULL), 0);
			bh_schema_free(s);
			break;
		}
		assert_int_equal(err.code, BHIVE_ERR_NOMEM);
	}
	json_decref(ok);
	json_decref(sj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_messages), cmocka_unit_test(test_combinators_and_refs),
		cmocka_unit_test(test_bad_schemas),       cmocka_unit_test(test_ref_loop),
		cmocka_unit_test(test_extract),           cmocka_unit_test(test_instruction),
		cmocka_unit_test(test_output_config),     cmocka_unit_test(test_service_model_names),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
