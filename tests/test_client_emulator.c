/*
 * test_client_emulator.c - bhive_client against the real bhive-emulator
 * binary: it verifies SigV4 on the raw request (so the double-encoded
 * ':' in the path is checked by a server, not by the client's own code),
 * bearer tokens, and serves faults at the HTTP level (cut-off bodies,
 * malformed JSON, throttling).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bhive/client.h"
#include "util/util.h"

#define MODEL "anthropic.claude-3-haiku-20240307-v1:0"
#define AKID "AKIDEMULATOR"
#define SECRET "emulatorSecretKey0123456789"
#define API_KEY "emulator-api-key"

typedef struct emulator {
	pid_t pid;
	char url[64];
} emulator;

/* Starts bhive-emulator on port 0 with extra flags; its first stdout line
 * names the URL. false when it cannot start (the test is then skipped). */
static bool emu_start(emulator *e, const char *const *extra)
{
	const char *argv[24] = {BHIVE_EMULATOR_BIN,
	                        "--port",
	                        "0",
	                        "--key",
	                        AKID ":" SECRET,
	                        "--api-key",
	                        API_KEY,
	                        "--latency-ms",
	                        "0",
	                        "--log-level",
	                        "error"};
	size_t n = 11;
	for (size_t i = 0; extra && extra[i] && n < 23; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	int p[2];
	if (access(BHIVE_EMULATOR_BIN, X_OK) != 0 || pipe(p) != 0)
		return false;
	e->pid = fork();
	if (e->pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 2); /* its "simulated" banner would clutter the test log */
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	char line[128] = "";
	size_t k = 0;
	while (k + 1 < sizeof(line) && read(p[0], line + k, 1) == 1 && line[k] != '\n')
		k++;
	line[k] = '\0';
	close(p[0]);
	if (!bh_starts_with(line, "listening ")) {
		kill(e->pid, SIGTERM);
		waitpid(e->pid, NULL, 0);
		return false;
	}
	bh_strlcpy(e->url, line + strlen("listening "), sizeof(e->url));
	return true;
}

static void emu_stop(emulator *e)
{
	kill(e->pid, SIGTERM);
	waitpid(e->pid, NULL, 0);
}

static bhive_client *client_for(const emulator *e, const char *secret, const char *bearer,
                                int attempts)
{
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-east-1";
	o.endpoint_url = e->url;
	o.access_key_id = AKID;
	o.secret_access_key = secret;
	o.bearer_token = bearer;
	o.retry_mode = BHIVE_RETRY_STANDARD;
	o.max_attempts = attempts;
	o.read_timeout_ms = 5000;
	bhive_error err;
	bhive_client *c = bhive_client_new(&o, &err);
	if (!c)
		fail_msg("%s", err.message);
	return c;
}

static json_t *call(bhive_client *c, const char *model, bhive_call_info *info, bhive_error *err)
{
	json_t *req =
	    json_pack("{s:[{s:s, s:[{s:s}]}], s:{s:i}}", "messages", "role", "user", "content",
	              "text", "What is 12 + 30?", "inferenceConfig", "maxTokens", 200);
	json_t *resp = bhive_converse(c, model, req, info, err);
	json_decref(req);
	return resp;
}

static int isolate_env(void **state)
{
	unsetenv("AWS_BEARER_TOKEN_BEDROCK");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
	setenv("AWS_CONFIG_FILE", "/nonexistent/bhive-test/config", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/bhive-test/credentials", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	return 0;
}

static void test_auth(void **state)
{
	emulator e;
	if (!emu_start(&e, NULL))
		skip();
	/* SigV4, checked by the server on the raw request */
	bhive_client *c = client_for(&e, SECRET, NULL, 1);
	bhive_call_info info;
	bhive_error err;
	json_t *resp = call(c, MODEL, &info, &err);
	if (!resp)
		fail_msg("%s", err.message);
	char *text = bhive_response_text(resp);
	assert_non_null(text);
	assert_true(strlen(text) > 0);
	bhive_free(text);
	assert_true(info.request_id[0] != '\0');
	assert_true(bh_json_int(json_object_get(resp, "usage"), "outputTokens", 0) > 0);
	json_decref(resp);
	/* an ARN-shaped id also signs right ('/' double-encoded); the emulator
	 * may not serve it, but it must not fail the signature */
	assert_null(
	    call(c, "arn:aws:bedrock:us-east-1:123456789012:foundation-model/nope", NULL, &err));
	assert_int_not_equal(err.code, BHIVE_ERR_SERVICE_ACCESS);
	assert_int_equal(bhive_code_family(err.code), BHIVE_ERR_SERVICE);
	bhive_client_free(c);
	/* a Bedrock API key */
	c = client_for(&e, NULL, API_KEY, 1);
	resp = call(c, MODEL, NULL, &err);
	if (!resp)
		fail_msg("%s", err.message);
	json_decref(resp);
	bhive_client_free(c);
	/* the wrong secret */
	c = client_for(&e, "wrongSecret", NULL, 3);
	assert_null(call(c, MODEL, &info, &err));
	assert_int_equal(err.code, BHIVE_ERR_SERVICE_ACCESS);
	assert_int_equal(err.http_status, 403);
	assert_int_equal(info.attempts, 1);
	assert_true(err.error_type[0] != '\0');
	assert_true(bh_starts_with(err.message, "model \"" MODEL "\" returned "));
	assert_null(strstr(err.message, "wrongSecret"));
	bhive_client_free(c);
	emu_stop(&e);
}

typedef struct fault_case {
	const char *flag;
	int attempts;
	int code;
	const char *contains;
} fault_case;

static void test_faults(void **state)
{
	static const fault_case cases[] = {
	    {"--cutoff-rate", 1, BHIVE_ERR_NETWORK, "request to \"127.0.0.1:"},
	    {"--malformed-rate", 1, BHIVE_ERR_PARSE, "is not a Converse response"},
	    {"--throttle-rate", 2, BHIVE_ERR_SERVICE_THROTTLED, "returned ThrottlingException: "},
	    {"--timeout-rate", 3, BHIVE_ERR_SERVICE_MODEL_TIMEOUT, "ModelTimeoutException"},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		const char *extra[] = {cases[i].flag, "1", NULL};
		emulator e;
		if (!emu_start(&e, extra))
			skip();
		bhive_client *c = client_for(&e, SECRET, NULL, cases[i].attempts);
		bhive_call_info info;
		bhive_error err;
		assert_null(call(c, MODEL, &info, &err));
		if (err.code != cases[i].code || !strstr(err.message, cases[i].contains))
			fail_msg("%s: got %d \"%s\"", cases[i].flag, err.code, err.message);
		/* throttling and cut-offs are retried; a model timeout is not */
		assert_int_equal(info.attempts, cases[i].code == BHIVE_ERR_SERVICE_MODEL_TIMEOUT ||
		                                        cases[i].code == BHIVE_ERR_PARSE
		                                    ? 1
		                                    : cases[i].attempts);
		bhive_client_free(c);
		emu_stop(&e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_faults),
	};
	return cmocka_run_group_tests(tests, isolate_env, NULL);
}
