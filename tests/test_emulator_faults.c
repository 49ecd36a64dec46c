/*
 * test_emulator_faults.c - injected faults (each kind, global and per
 * model, changed at run time), quotas, forced latency and its parking of
 * connections, determinism for a seed, and clean shutdown on SIGTERM and
 * SIGINT even with requests parked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_emulator_harness.h"

#define NOVA "amazon.nova-micro-v1%3A0"
#define ARITH_BODY                                                                                 \
	"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"What is the result of "        \
	"37+81*52+64-29*71? Make sure to state your answer in <answer> </answer> tags.\"}]}]}"

static emu_proc emu;

static int setup(void **state)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const char *args[] = {"--seed", "7", "--time-scale", "0", NULL};
	return emu_proc_start(&emu, args) ? 0 : -1;
}

static int teardown(void **state)
{
	int rc = emu_proc_stop(&emu);
	curl_global_cleanup();
	return rc == 0 ? 0 : -1;
}

static void set_faults(const emu_proc *p, const char *json)
{
	http_resp r;
	const char *h[] = {"Content-Type: application/json", NULL};
	http_call(p, "POST", "/_emulator/faults", json, h, &r);
	if (r.status != 200)
		fail_msg("faults %s refused: %s", json, r.body.data);
	http_resp_release(&r);
}

typedef struct fault_case {
	const char *faults;
	long status;
	const char *type;
	const char *message;
} fault_case;

static const fault_case fault_cases[] = {
    {"{\"throttle\": 1}", 429, "ThrottlingException",
     "Too many requests, please wait before trying again."},
    {"{\"not_ready\": 1}", 429, "ModelNotReadyException", "Model is not ready"},
    {"{\"error_500\": 1}", 500, "InternalServerException",
     "The system encountered an unexpected error during processing. Try your request again."},
    {"{\"error_503\": 1}", 503, "ServiceUnavailableException",
     "Bedrock is unable to process your request."},
    {"{\"timeout\": 1}", 408, "ModelTimeoutException", "Model has timed out"},
};

static void test_error_faults(void **state)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(fault_cases); i++) {
		const fault_case *c = &fault_cases[i];
		set_faults(&emu, c->faults);
		http_resp r;
		converse_bearer(&emu, SONNET, SIMPLE_BODY, "t", &r);
		if (r.status != c->status || strcmp(r.error_type, c->type) != 0 ||
		    !bh_starts_with(resp_message(&r), c->message))
			fail_msg("%s: got %ld %s \"%s\"", c->faults, r.status, r.error_type,
			         resp_message(&r));
		http_resp_release(&r);
	}
	set_faults(&emu, "{\"reset\": true}");
}

static void test_body_faults(void **state)
{
	http_resp r;
	set_faults(&emu, "{\"reset\": 1}");
	converse_bearer(&emu, SONNET, SIMPLE_BODY, "t", &r);
	assert_true(r.rc == CURLE_RECV_ERROR || r.rc == CURLE_GOT_NOTHING);
	http_resp_release(&r);

	set_faults(&emu, "{\"cutoff\": 1}");
	converse_bearer(&emu, SONNET, SIMPLE_BODY, "t", &r);
	assert_int_equal(r.rc, CURLE_PARTIAL_FILE);
	http_resp_release(&r);

	set_faults(&emu, "{\"malformed\": 1}");
	converse_bearer(&emu, SONNET, SIMPLE_BODY, "t", &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_null(r.json);
	assert_true(bh_starts_with(r.body.data, "{\"output\""));
	http_resp_release(&r);

	set_faults(&emu, "{\"slow_body\": 1, \"drip_bytes\": 64, \"drip_interval_ms\": 40}");
	converse_bearer(&emu, SONNET, SIMPLE_BODY, "t", &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_non_null(r.json);
	double steps = (double)((r.body.len + 63) / 64);
	assert_true(r.seconds >= (steps - 1) * 0.040 * 0.9);
	http_resp_release(&r);

	http_call(&emu, "GET", "/_emulator/stats", NULL, NULL, &r);
	const json_t *o = json_object_get(r.json, "outcomes");
	assert_true(bh_json_int(o, "reset", 0) >= 1);
	assert_true(bh_json_int(o, "cutoff", 0) >= 1);
	assert_true(bh_json_int(o, "malformed_body", 0) >= 1);
	assert_true(bh_json_int(o, "slow_body", 0) >= 1);
	http_resp_release(&r);
	set_faults(&emu, "{\"reset\": true}");
}

static void test_per_model_faults(void **state)
{
	set_faults(&emu, "{\"models\": {\"amazon.nova-micro-v1:0\": {\"throttle\": 1}}}");
	http_resp r;
	converse_bearer(&emu, "us." NOVA, SIMPLE_BODY, "t", &r);
	assert_int_equal(r.status, 429);
	http_resp_release(&r);
	converse_bearer(&emu, SONNET, SIMPLE_BODY, "t", &r);
	assert_int_equal(r.status, 200);
	http_resp_release(&r);
	http_call(&emu, "GET", "/_emulator/faults", NULL, NULL, &r);
	const json_t *m =
	    json_object_get(json_object_get(r.json, "models"), "amazon.nova-micro-v1:0");
	assert_true(bh_json_num(m, "throttle", 0) == 1.0);
	http_resp_release(&r);
	set_faults(&emu, "{\"models\": {\"amazon.nova-micro-v1:0\": null}}");
	converse_bearer(&emu, NOVA, SIMPLE_BODY, "t", &r);
	assert_int_equal(r.status, 200);
	http_resp_release(&r);
	/* bad settings are refused and change nothing */
	const char *h[] = {"Content-Type: application/json", NULL};
	http_call(&emu, "POST", "/_emulator/faults", "{\"throttle\": 2}", h, &r);
	assert_int_equal(r.status, 400);
	http_resp_release(&r);
	http_call(&emu, "POST", "/_emulator/faults", "{\"models\": {\"x.y\": {}}}", h, &r);
	assert_int_equal(r.status, 400);
	http_resp_release(&r);
}

static void test_quota(void **state)
{
	http_resp r;
	set_faults(&emu, "{\"models\": {\"mistral.mistral-small-2402-v1:0\": {\"rpm\": 2}}}");
	for (int i = 0; i < 3; i++) {
		converse_bearer(&emu, "mistral.mistral-small-2402-v1%3A0", SIMPLE_BODY, "t", &r);
		assert_int_equal(r.status, i < 2 ? 200 : 429);
		if (i == 2)
			assert_string_equal(resp_message(&r),
			                    "Too many requests, please wait before trying again.");
		http_resp_release(&r);
	}
	/* 10 tokens a minute: the first short question fits, then output
	 * tokens use up the rest */
	set_faults(&emu, "{\"models\": {\"meta.llama3-1-8b-instruct-v1:0\": {\"tpm\": 10}}}");
	int ok = 0;
	for (int i = 0; i < 4; i++) {
		converse_bearer(&emu, "meta.llama3-1-8b-instruct-v1%3A0", SIMPLE_BODY, "t", &r);
		ok += r.status == 200;
		if (r.status == 429)
			assert_string_equal(resp_message(&r),
			                    "Too many tokens, please wait before trying again.");
		http_resp_release(&r);
	}
	assert_true(ok >= 1 && ok < 4);
	set_faults(&emu, "{\"reset\": true}");
}

static void test_latency_distribution(void **state)
{
	set_faults(&emu, "{\"latency\": {\"dist\": \"uniform\", \"min_ms\": 50, \"max_ms\": 60}}");
	http_resp r;
	converse_bearer(&emu, SONNET, SIMPLE_BODY, "t", &r);
	json_int_t ms = bh_json_int(json_object_get(r.json, "metrics"), "latencyMs", 0);
	assert_true(ms >= 50 && ms <= 60);
	assert_true(r.seconds >= 0.045);
	http_resp_release(&r);
	set_faults(&emu, "{\"reset\": true}");
}

/* Statuses of n requests with a 50% throttle, as a string of '0'/'1'. */
static void throttle_pattern(const char *seed, char *out, size_t n)
{
	emu_proc p;
	const char *args[] = {"--seed", seed, "--time-scale", "0", "--throttle-rate", "0.5", NULL};
	assert_true(emu_proc_start(&p, args));
	for (size_t i = 0; i < n; i++) {
		http_resp r;
		converse_bearer(&p, SONNET, SIMPLE_BODY, "t", &r);
		out[i] = r.status == 429 ? '1' : '0';
		http_resp_release(&r);
	}
	out[n] = '\0';
	assert_int_equal(emu_proc_stop(&p), 0);
}

static void arith_answer(const char *seed, char *out, size_t outsz)
{
	emu_proc p;
	const char *args[] = {"--seed", seed, "--time-scale", "0", NULL};
	assert_true(emu_proc_start(&p, args));
	http_resp r;
	converse_bearer(&p, SONNET, ARITH_BODY, "t", &r);
	assert_int_equal(r.status, 200);
	bh_strlcpy(out, resp_text(&r), outsz);
	http_resp_release(&r);
	assert_int_equal(emu_proc_stop(&p), 0);
}

static void test_determinism(void **state)
{
	char a[33], b[33], c[33];
	throttle_pattern("42", a, 32);
	throttle_pattern("42", b, 32);
	throttle_pattern("43", c, 32);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_non_null(strchr(a, '0'));
	assert_non_null(strchr(a, '1'));
	char x[4096], y[4096];
	arith_answer("42", x, sizeof(x));
	arith_answer("42", y, sizeof(y));
	assert_string_equal(x, y);
	assert_non_null(strstr(x, "<answer>"));
}

/* n requests at once with curl multi; returns the wall time they took. */
static double parallel_requests(const emu_proc *p, int n, int *ok)
{
	CURLM *m = curl_multi_init();
	CURL **e = calloc((size_t)n, sizeof(*e));
	char url[256];
	snprintf(url, sizeof(url), "%s/model/%s/converse", p->url, SONNET);
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer t");
	h = curl_slist_append(h, "Content-Type: application/json");
	FILE *devnull = fopen("/dev/null", "w");
	for (int i = 0; i < n; i++) {
		e[i] = curl_easy_init();
		curl_easy_setopt(e[i], CURLOPT_URL, url);
		curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, SIMPLE_BODY);
		curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(e[i], CURLOPT_WRITEDATA, devnull);
		curl_easy_setopt(e[i], CURLOPT_TIMEOUT_MS, 20000L);
		curl_multi_add_handle(m, e[i]);
	}
	double t0 = bh_now_s();
	int running = 1;
	while (running) {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	double t = bh_now_s() - t0;
	*ok = 0;
	for (int i = 0; i < n; i++) {
		long status = 0;
		curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &status);
		*ok += status == 200;
		curl_multi_remove_handle(m, e[i]);
		curl_easy_cleanup(e[i]);
	}
	fclose(devnull);
	curl_slist_free_all(h);
	free(e);
	curl_multi_cleanup(m);
	return t;
}

/* 200 requests of 400 ms each overlap instead of queueing: one thread
 * serves them all because waiting connections are parked. */
static void test_forced_latency_parks(void **state)
{
	emu_proc p;
	const char *args[] = {"--latency-ms", "400", NULL};
	assert_true(emu_proc_start(&p, args));
	http_resp r;
	converse_bearer(&p, SONNET, SIMPLE_BODY, "t", &r);
	assert_int_equal(bh_json_int(json_object_get(r.json, "metrics"), "latencyMs", 0), 400);
	assert_true(r.seconds >= 0.39);
	http_resp_release(&r);
	int ok = 0;
	double t = parallel_requests(&p, 200, &ok);
	assert_int_equal(ok, 200);
	assert_true(t >= 0.39 && t < 3.0);
	assert_int_equal(emu_proc_stop(&p), 0);
}

/* A request parked for ten seconds does not hold up SIGTERM or SIGINT. */
static void shutdown_with_parked(int sig)
{
	emu_proc p;
	const char *args[] = {"--latency-ms", "10000", NULL};
	assert_true(emu_proc_start(&p, args));
	CURLM *m = curl_multi_init();
	CURL *e = curl_easy_init();
	char url[256];
	snprintf(url, sizeof(url), "%s/model/%s/converse", p.url, SONNET);
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer t");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, SIMPLE_BODY);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_multi_add_handle(m, e);
	int running = 1;
	double t0 = bh_now_s();
	while (running && bh_now_s() - t0 < 0.3) {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	assert_int_equal(running, 1);
	double t1 = bh_now_s();
	assert_int_equal(emu_proc_signal_wait(&p, sig), 0);
	assert_true(bh_now_s() - t1 < 2.0);
	curl_multi_remove_handle(m, e);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	curl_multi_cleanup(m);
}

static void test_clean_shutdown(void **state)
{
	shutdown_with_parked(SIGTERM);
	shutdown_with_parked(SIGINT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_faults),         cmocka_unit_test(test_body_faults),
	    cmocka_unit_test(test_per_model_faults),     cmocka_unit_test(test_quota),
	    cmocka_unit_test(test_latency_distribution), cmocka_unit_test(test_determinism),
	    cmocka_unit_test(test_forced_latency_parks), cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
