/*
 * test_emulator.c - bhive-emulator over real HTTP: wire shapes against the
 * recorded Bedrock traffic in shared/testdata/converse, validation
 * messages, model ids, scripted models, the request record, prompt-cache
 * usage and maxTokens. Authentication is in test_emulator_auth.c, faults
 * and timing in test_emulator_faults.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_emulator_harness.h"

static emu_proc emu;
static char config_path[64], script_path[64];

static const char script_json[] =
    "{\"replies\": [{\"text\": \"first\"}, {\"text\": \"second\", \"delay_ms\": 120},"
    " {\"error\": {\"status\": 424, \"type\": \"ModelErrorException\","
    " \"message\": \"scripted failure\"}}],"
    " \"rules\": [{\"contains\": \"ping\", \"reply\": {\"text\": \"pong\"}},"
    " {\"regex\": \"^count [0-9]+$\", \"reply\": {\"text\": \"counted\","
    " \"reasoning\": \"because\"}}]}";

/* A scripted model from a file, one with an inline script, and the
 * application inference profile of the recorded traffic mapped to a
 * reasoner, next to the built-in models. */
static int setup(void **state)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	char config[1024];
	if (!harness_write_file(script_path, sizeof(script_path), script_json))
		return -1;
	snprintf(
	    config, sizeof(config),
	    "{\"models\": {\"test.scripted-v1:0\": {\"kind\": \"scripted\", \"script\": \"%s\"},"
	    " \"test.inline-v1\": {\"kind\": \"scripted\", \"script\": {\"replies\":"
	    " [{\"text\": \"0123456789abcdefghij\"}]}},"
	    " \"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/"
	    "mi1dadi0g15f\": {\"kind\": \"reasoner\", \"skill\": 0.5},"
	    " \"moonshot.kimi-k2-thinking\": {\"skill\": 0.6}}}",
	    script_path);
	if (!harness_write_file(config_path, sizeof(config_path), config))
		return -1;
	const char *args[] = {"--config", config_path, "--time-scale", "0", NULL};
	return emu_proc_start(&emu, args) ? 0 : -1;
}

static int teardown(void **state)
{
	int rc = emu_proc_stop(&emu);
	unlink(config_path);
	unlink(script_path);
	curl_global_cleanup();
	return rc == 0 ? 0 : -1;
}

static void test_health(void **state)
{
	http_resp r;
	http_call(&emu, "GET", "/_emulator/health", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "simulated")));
	http_resp_release(&r);
}

/* Every key the recorded response has at these places, the emulator's has. */
static void assert_same_keys(const json_t *want, const json_t *got, const char *where)
{
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)want, key, v)
	{
		if (strcmp(key, "serverToolUsage") == 0 || strcmp(key, "trace") == 0 ||
		    strcmp(key, "cacheReadInputTokenCount") == 0 ||
		    strcmp(key, "cacheWriteInputTokenCount") == 0 ||
		    strcmp(key, "cacheDetails") == 0)
			continue;
		if (!json_object_get(got, key))
			fail_msg("%s: emulator response lacks \"%s\"", where, key);
	}
}

static void check_shape(const json_t *want, const http_resp *r, const char *file)
{
	assert_same_keys(want, r->json, file);
	assert_same_keys(json_object_get(want, "usage"), json_object_get(r->json, "usage"), file);
	assert_same_keys(json_object_get(want, "metrics"), json_object_get(r->json, "metrics"),
	                 file);
	const json_t *msg = json_object_get(json_object_get(r->json, "output"), "message");
	assert_string_equal(bh_json_str(msg, "role"), "assistant");
	assert_true(json_array_size(json_object_get(msg, "content")) >= 1);
	const json_t *u = json_object_get(r->json, "usage");
	assert_int_equal(bh_json_int(u, "totalTokens", -1),
	                 bh_json_int(u, "inputTokens", 0) + bh_json_int(u, "outputTokens", 0) +
	                     bh_json_int(u, "cacheReadInputTokens", 0) +
	                     bh_json_int(u, "cacheWriteInputTokens", 0));
	assert_int_equal(strlen(r->request_id), 36);
}

static void replay_entry(const json_t *e)
{
	char file[512];
	const char *path = bh_json_str(e, "path");
	char *body = bh_json_dump(json_object_get(e, "request_body"));
	http_resp r;
	const char *h[] = {"Content-Type: application/json", "Authorization: Bearer t", NULL};
	http_call(&emu, "POST", path, body, h, &r);
	free(body);
	snprintf(file, sizeof(file), "%s/testdata/converse/%s", BHIVE_SHARED_DIR,
	         bh_json_str(e, "body_file"));
	size_t len;
	char *text = bh_read_file(file, 0, &len, NULL);
	json_t *want = text ? json_loadb(text, len, 0, NULL) : NULL;
	assert_non_null(want);
	long status = (long)bh_json_int(e, "status", 0);
	if (r.status != status)
		fail_msg("%s: status %ld, recorded %ld (%s)", path, r.status, status, r.body.data);
	if (status == 200)
		check_shape(want, &r, file);
	else
		assert_string_equal(resp_message(&r), bh_json_str(want, "message"));
	json_decref(want);
	bh_free(text);
	http_resp_release(&r);
}

/* The recorded real requests are valid here too, and get answers of the
 * recorded shape; the recorded error is reproduced word for word. */
static void test_replay_recorded_traffic(void **state)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/testdata/converse/index.json", BHIVE_SHARED_DIR);
	size_t len, n = 0;
	char *text = bh_read_file(path, 0, &len, NULL);
	assert_non_null(text);
	json_t *idx = json_loadb(text, len, 0, NULL);
	size_t i;
	const json_t *e;
	json_array_foreach(json_object_get(idx, "entries"), i, e)
	{
		if (!bh_streq(bh_json_str(e, "kind"), "json") ||
		    bh_ends_with(bh_json_str(e, "path"), "converse-stream"))
			continue;
		replay_entry(e);
		n++;
	}
	assert_true(n >= 17);
	json_decref(idx);
	bh_free(text);
}

typedef struct bad_case {
	const char *body;
	long status;
	const char *type;
	const char *message; /* prefix of the expected message */
} bad_case;

static const bad_case bad_cases[] = {
    {"{\"messages\": []}", 400, "ValidationException",
     "A conversation must start with a user message."},
    {"{}", 400, "ValidationException", "A conversation must start with a user message."},
    {"{\"messages\": [{\"role\": \"assistant\", \"content\": [{\"text\": \"x\"}]}]}", 400,
     "ValidationException", "A conversation must start with a user message."},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"a\"}]},"
     " {\"role\": \"user\", \"content\": [{\"text\": \"b\"}]}]}",
     400, "ValidationException", "A conversation must alternate between user and assistant roles."},
    {"{\"messages\": [{\"role\": \"robot\", \"content\": [{\"text\": \"x\"}]}]}", 400,
     "ValidationException",
     "1 validation error detected: Value 'robot' at 'messages.1.member.role' failed to "
     "satisfy constraint: Member must satisfy enum value set: [user, assistant]"},
    {"{\"messages\": [{\"role\": \"user\"}]}", 400, "ValidationException",
     "1 validation error detected: Value null at 'messages.1.member.content' failed to "
     "satisfy constraint: Member must not be null"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": []}]}", 400, "ValidationException",
     "The content field in the Message object at messages.0 is empty."},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"sound\": \"x\"}]}]}", 400,
     "ValidationException",
     "1 validation error detected: Value 'sound' at "
     "'messages.1.member.content.1.member'"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"a\", \"image\": {}}]}]}", 400,
     "ValidationException",
     "1 validation error detected: Value at "
     "'messages.1.member.content.1.member' failed to satisfy constraint: Member must have "
     "exactly one member set"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"a\"}]}],"
     " \"inferenceConfig\": {\"maxTokens\": 0}}",
     400, "ValidationException",
     "1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to "
     "satisfy constraint: Member must have value greater than or equal to 1"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"a\"}]}],"
     " \"inferenceConfig\": {\"temperature\": 1.5}}",
     400, "ValidationException",
     "1 validation error detected: Value '1.5' at 'inferenceConfig.temperature' failed to "
     "satisfy constraint: Member must have value less than or equal to 1"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"a\"}]}],"
     " \"inferenceConfig\": {\"topP\": -0.5}}",
     400, "ValidationException",
     "1 validation error detected: Value '-0.5' at 'inferenceConfig.topP' failed to "
     "satisfy constraint: Member must have value greater than or equal to 0"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"a\"}]}],"
     " \"system\": [{\"text\": \"\"}]}",
     400, "ValidationException", "1 validation error detected: Value '' at 'system.1.member.text'"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"a\"}, {\"cachePoint\":"
     " {\"type\": \"default\"}}]}], \"system\": [{\"text\": \"s\"}, {\"cachePoint\": {\"type\":"
     " \"default\"}}, {\"cachePoint\": {\"type\": \"default\"}}, {\"cachePoint\": {\"type\":"
     " \"default\"}}, {\"cachePoint\": {\"type\": \"default\"}}]}",
     400, "ValidationException",
     "A maximum of 4 blocks with cache_control may be provided. "
     "Found 5."},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"toolUse\": {\"name\": \"f\"}}]}]}", 400,
     "ValidationException",
     "1 validation error detected: Value null at "
     "'messages.1.member.content.1.member.toolUse.toolUseId'"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"a\"}]}],"
     " \"toolConfig\": {\"tools\": [{\"toolSpec\": {\"name\": \"f\"}}]}}",
     400, "ValidationException",
     "1 validation error detected: Value null at "
     "'toolConfig.tools.1.member.toolSpec.inputSchema'"},
    {"{\"messages\": \"hello\"}", 400, "SerializationException", "Expected a list at 'messages'"},
    {"{\"messages\": [", 400, "SerializationException", "Could not parse request body into json"},
    {"[1, 2]", 400, "SerializationException", "Could not parse request body into json"},
    {"", 400, "SerializationException", "Could not parse request body into json"},
};

static void test_validation_messages(void **state)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(bad_cases); i++) {
		const bad_case *c = &bad_cases[i];
		http_resp r;
		converse_bearer(&emu, "amazon.nova-micro-v1%3A0", c->body, "t", &r);
		if (r.status != c->status || strcmp(r.error_type, c->type) != 0 ||
		    !bh_starts_with(resp_message(&r), c->message))
			fail_msg("case %zu: got %ld %s \"%s\"", i, r.status, r.error_type,
			         resp_message(&r));
		http_resp_release(&r);
	}
}

typedef struct id_case {
	const char *label;
	long status;
} id_case;

static void test_model_ids(void **state)
{
	const id_case cases[] = {
	    {SONNET, 200},
	    {"us." SONNET, 200},
	    {"eu." SONNET, 200},
	    {"apac." SONNET, 200},
	    {"global." SONNET, 200},
	    {"arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus." SONNET,
	     200},
	    {"arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2F" SONNET, 200},
	    {"mistral.mistral-large-2402-v1%3A0", 200},
	    {"us.does-not-exist-model-v1%3A0", 400},
	    {"anthropic.claude-3-sonnet-20240229-v1%3A9", 400},
	    {"arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fzz",
	     400},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		http_resp r;
		converse_bearer(&emu, cases[i].label, SIMPLE_BODY, "t", &r);
		if (r.status != cases[i].status)
			fail_msg("%s: got %ld", cases[i].label, r.status);
		if (r.status == 400)
			assert_string_equal(resp_message(&r),
			                    "The provided model identifier is invalid.");
		http_resp_release(&r);
	}
}

static void test_converse_stream_refused(void **state)
{
	http_resp r;
	const char *h[] = {"Authorization: Bearer t", NULL};
	http_call(&emu, "POST", "/model/" SONNET "/converse-stream", SIMPLE_BODY, h, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.error_type, "ValidationException");
	assert_non_null(strstr(resp_message(&r), "ConverseStream is not supported"));
	http_resp_release(&r);
	http_call(&emu, "POST", "/model/" SONNET "/invoke", SIMPLE_BODY, h, &r);
	assert_int_equal(r.status, 404);
	http_resp_release(&r);
}

static void test_simple_answer(void **state)
{
	http_resp r;
	converse_bearer(&emu, SONNET, SIMPLE_BODY, "t", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(resp_text(&r), "4"));
	assert_string_equal(bh_json_str(r.json, "stopReason"), "end_turn");
	/* "What is 2 + 2?" is 14 characters: 4 tokens at four characters a token */
	assert_int_equal(resp_usage(&r, "inputTokens"), 4);
	assert_true(resp_usage(&r, "outputTokens") >= 1);
	/* Claude answers carry zero cache counters, as recorded; Nova's do not */
	assert_int_equal(resp_usage(&r, "cacheReadInputTokens"), 0);
	http_resp_release(&r);
	converse_bearer(&emu, "amazon.nova-micro-v1%3A0", SIMPLE_BODY, "t", &r);
	assert_null(json_object_get(json_object_get(r.json, "usage"), "cacheReadInputTokens"));
	http_resp_release(&r);
}

static void test_max_tokens(void **state)
{
	const char *body =
	    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"What is the result of "
	    "12+3*4+5-6*7? Make sure to state your answer in <answer> </answer> tags.\"}]}],"
	    "\"inferenceConfig\":{\"maxTokens\":3}}";
	http_resp r;
	converse_bearer(&emu, SONNET, body, "t", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(bh_json_str(r.json, "stopReason"), "max_tokens");
	assert_int_equal(resp_usage(&r, "outputTokens"), 3);
	assert_true(strlen(resp_text(&r)) <= 12);
	http_resp_release(&r);
}

static void test_stop_sequence(void **state)
{
	const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}],"
	                   "\"inferenceConfig\":{\"stopSequences\":[\"abc\"]}}";
	http_resp r;
	converse_bearer(&emu, "test.inline-v1", body, "t", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(resp_text(&r), "0123456789");
	assert_string_equal(bh_json_str(r.json, "stopReason"), "stop_sequence");
	http_resp_release(&r);
}

#define CACHED_BODY(question)                                                                      \
	"{\"system\":[{\"text\":\"" LONG_SYSTEM "\"},{\"cachePoint\":{\"type\":\"default\"}}],"    \
	"\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"" question "\"}]}]}"
#define LONG_SYSTEM "You are a careful assistant. Answer briefly and check every step twice."

/* Write on first sight of a prefix, read afterwards; the uncached tail is
 * ordinary input. Same shape as the recorded cache_write_and_read pair. */
static void test_cache_usage(void **state)
{
	http_resp r1, r2, r3;
	converse_bearer(&emu, "amazon.nova-micro-v1%3A0", CACHED_BODY("What is 2 + 2?"), "t", &r1);
	converse_bearer(&emu, "amazon.nova-micro-v1%3A0", CACHED_BODY("What is 3 + 3?"), "t", &r2);
	converse_bearer(&emu, SONNET, CACHED_BODY("What is 3 + 3?"), "t", &r3);
	long prefix = ((long)strlen(LONG_SYSTEM) + 3) / 4;
	assert_int_equal(r1.status, 200);
	assert_int_equal(resp_usage(&r1, "cacheWriteInputTokens"), prefix);
	assert_int_equal(resp_usage(&r1, "cacheReadInputTokens"), 0);
	assert_int_equal(resp_usage(&r1, "inputTokens"), 4);
	assert_int_equal(resp_usage(&r2, "cacheWriteInputTokens"), 0);
	assert_int_equal(resp_usage(&r2, "cacheReadInputTokens"), prefix);
	/* the cache is per model */
	assert_int_equal(resp_usage(&r3, "cacheWriteInputTokens"), prefix);
	http_resp_release(&r1);
	http_resp_release(&r2);
	http_resp_release(&r3);
}

static void scripted(const char *text, http_resp *r)
{
	char body[512];
	snprintf(body, sizeof(body),
	         "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"%s\"}]}]}", text);
	converse_bearer(&emu, "test.scripted-v1%3A0", body, "t", r);
}

static void test_scripted_model(void **state)
{
	http_resp r;
	scripted("ping please", &r);
	assert_string_equal(resp_text(&r), "pong");
	http_resp_release(&r);
	scripted("count 12", &r);
	assert_string_equal(resp_text(&r), "counted");
	const json_t *c0 = json_array_get(
	    json_object_get(json_object_get(json_object_get(r.json, "output"), "message"),
	                    "content"),
	    0);
	assert_string_equal(
	    bh_json_str(json_object_get(json_object_get(c0, "reasoningContent"), "reasoningText"),
	                "text"),
	    "because");
	http_resp_release(&r);
	scripted("hello", &r);
	assert_string_equal(resp_text(&r), "first");
	http_resp_release(&r);
	scripted("hello", &r);
	assert_string_equal(resp_text(&r), "second");
	assert_true(r.seconds >= 0.11);
	assert_int_equal(bh_json_int(json_object_get(r.json, "metrics"), "latencyMs", 0), 120);
	http_resp_release(&r);
	scripted("hello", &r);
	assert_int_equal(r.status, 424);
	assert_string_equal(r.error_type, "ModelErrorException");
	assert_string_equal(resp_message(&r), "scripted failure");
	http_resp_release(&r);
	scripted("hello", &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(resp_message(&r), "scripted model \"test.scripted-v1:0\" has no "
	                                      "replies left");
	http_resp_release(&r);
	scripted("ping again", &r);
	assert_string_equal(resp_text(&r), "pong");
	http_resp_release(&r);
}

static const json_t *last_entry(const http_resp *r)
{
	return json_array_get(r->json, json_array_size(r->json) - 1);
}

static void test_recording(void **state)
{
	http_resp r;
	http_call(&emu, "DELETE", "/_emulator/requests", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	http_resp_release(&r);
	converse_bearer(&emu, "us." SONNET, SIMPLE_BODY, "secret-token-value", &r);
	http_resp_release(&r);
	converse_bearer(&emu, "nope", SIMPLE_BODY, "t", &r);
	http_resp_release(&r);
	http_call(&emu, "GET", "/_emulator/requests", NULL, NULL, &r);
	assert_int_equal(json_array_size(r.json), 2);
	const json_t *e = json_array_get(r.json, 0);
	assert_string_equal(bh_json_str(e, "model"), "us.anthropic.claude-3-sonnet-20240229-v1:0");
	assert_string_equal(bh_json_str(e, "path"), "/model/us." SONNET "/converse");
	assert_int_equal(bh_json_int(e, "status", 0), 200);
	assert_string_equal(
	    bh_json_str(
	        json_array_get(
	            json_object_get(
	                json_array_get(json_object_get(json_object_get(e, "body"), "messages"), 0),
	                "content"),
	            0),
	        "text"),
	    "What is 2 + 2?");
	assert_string_equal(bh_json_str(json_object_get(e, "headers"), "authorization"),
	                    "Bearer [redacted]");
	assert_null(strstr(r.body.data, "secret-token-value"));
	assert_string_equal(bh_json_str(last_entry(&r), "error_type"), "ValidationException");
	http_resp_release(&r);
	http_call(&emu, "GET", "/_emulator/stats", NULL, NULL, &r);
	const json_t *models = json_object_get(r.json, "models");
	assert_int_equal(
	    bh_json_int(json_object_get(models, "anthropic.claude-3-sonnet-20240229-v1:0"), "ok",
	                0),
	    1);
	assert_int_equal(bh_json_int(json_object_get(models, "nope"), "ValidationException", 0), 1);
	assert_int_equal(bh_json_int(r.json, "total", 0), 2);
	http_resp_release(&r);
	http_call(&emu, "DELETE", "/_emulator/requests", NULL, NULL, &r);
	http_resp_release(&r);
	http_call(&emu, "GET", "/_emulator/requests", NULL, NULL, &r);
	assert_int_equal(json_array_size(r.json), 0);
	http_resp_release(&r);
}

static void test_unknown_paths(void **state)
{
	http_resp r;
	http_call(&emu, "GET", "/nothing", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	http_resp_release(&r);
	http_call(&emu, "GET", "/_emulator/nothing", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	http_resp_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health),
	    cmocka_unit_test(test_replay_recorded_traffic),
	    cmocka_unit_test(test_validation_messages),
	    cmocka_unit_test(test_model_ids),
	    cmocka_unit_test(test_converse_stream_refused),
	    cmocka_unit_test(test_simple_answer),
	    cmocka_unit_test(test_max_tokens),
	    cmocka_unit_test(test_stop_sequence),
	    cmocka_unit_test(test_cache_usage),
	    cmocka_unit_test(test_scripted_model),
	    cmocka_unit_test(test_recording),
	    cmocka_unit_test(test_unknown_paths),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
