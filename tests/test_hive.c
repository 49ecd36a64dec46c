/*
 * test_hive.c - the hive engine against bhive-emulator's scripted models.
 *
 * Each test starts the emulator on 127.0.0.1 port 0 with a scripted-model
 * configuration it writes, runs conversations through the public API, then
 * reads GET /_emulator/requests and asserts on exactly what was sent: call
 * counts, prompt contents, cache checkpoints, structured output and
 * failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bhive.h"
#include "util/util.h"

#define Q "What is 2 + 2?"
#define REFLECT                                                                                    \
	"\nPlease reiterate your answer by thinking step by step, making sure to state your "      \
	"answer at the end of the response.\n"
#define REMIND "\nAs a reminder, the original question is " Q
#define FEEDBACK_INTRO "\nAn external verification function has added context to this answer: "

/* ---- the emulator as a child process ----------------------------------- */

typedef struct emu {
	pid_t pid;
	char url[128];
	char config[64];
} emu;

/* Starts bhive-emulator with config (JSON text); fills e->url. */
static void emu_start(emu *e, const char *config)
{
	snprintf(e->config, sizeof(e->config), "/tmp/bhive-test-hive-XXXXXX");
	int fd = mkstemp(e->config);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, config, strlen(config)), (ssize_t)strlen(config));
	close(fd);
	int out[2];
	int devnull = open("/dev/null", O_WRONLY);
	assert_int_equal(pipe(out), 0);
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		/* A failed assertion must not leave the emulator running. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(out[1], 1);
		dup2(devnull, 2);
		close(out[0]);
		close(out[1]);
		execl(BHIVE_EMULATOR_BIN, BHIVE_EMULATOR_BIN, "--port", "0", "--config", e->config,
		      "--no-default-models", "--log-level", "error", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(devnull);
	FILE *f = fdopen(out[0], "r");
	char line[256] = "";
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	char *u = strstr(line, "http://");
	assert_non_null(u);
	u[strcspn(u, " \r\n")] = '\0';
	snprintf(e->url, sizeof(e->url), "%s", u);
}

static void emu_stop(emu *e)
{
	if (e->pid > 0) {
		kill(e->pid, SIGTERM);
		waitpid(e->pid, NULL, 0);
	}
	unlink(e->config);
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	bh_buf_append(ud, p, size * n);
	return size * n;
}

/* GET or DELETE an /_emulator/ endpoint; returns the JSON answer. */
static json_t *emu_control(const emu *e, const char *method, const char *what)
{
	char url[256];
	bh_buf b;
	bh_buf_init(&b, 0);
	snprintf(url, sizeof(url), "%s/_emulator/%s", e->url, what);
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	json_t *j = json_loads(b.data ? b.data : "null", JSON_DECODE_ANY, NULL);
	bh_buf_release(&b);
	assert_non_null(j);
	return j;
}

/* The recorded requests to model (NULL: all), in arrival order. */
static json_t *requests_for(const emu *e, const char *model)
{
	json_t *all = emu_control(e, "GET", "requests"), *out = json_array(), *r;
	size_t i;
	json_array_foreach(all, i, r) if (!model || bh_streq(bh_json_str(r, "model"), model))
	    json_array_append(out, json_object_get(r, "body"));
	json_decref(all);
	return out;
}

/* The text of the last message of a recorded request body. */
static const char *last_user_text(const json_t *body)
{
	const json_t *msgs = json_object_get(body, "messages");
	const json_t *m = json_array_get(msgs, json_array_size(msgs) - 1);
	return bh_json_str(json_array_get(json_object_get(m, "content"), 0), "text");
}

static bhive_client *client_for(const emu *e, int max_attempts)
{
	bhive_client_options o;
	bhive_error err;
	bhive_client_options_init(&o);
	o.region = "us-east-1";
	o.endpoint_url = e->url;
	o.access_key_id = "AKIDEXAMPLE";
	o.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	o.retry_mode = BHIVE_RETRY_STANDARD;
	o.max_attempts = max_attempts;
	bhive_client *c = bhive_client_new(&o, &err);
	if (!c)
		fail_msg("client: %s", err.message);
	return c;
}

static json_t *question(void)
{
	return json_pack("{s:[{s:s,s:[{s:s}]}]}", "messages", "role", "user", "content", "text", Q);
}

/* Runs one conversation; asserts on success unless want_code is set. */
static bhive_result *run(bhive_client *c, const bhive_config *cfg, const json_t *req, int want_code)
{
	bhive_error err;
	bhive_result *failed = NULL;
	bhive_result *r = bhive_hive_converse(c, cfg, req, &failed, &err);
	if (!want_code) {
		if (!r)
			fail_msg("conversation failed: %s", err.message);
		return r;
	}
	assert_null(r);
	assert_int_equal(bhive_code_family(err.code), bhive_code_family(want_code));
	assert_non_null(failed);
	return failed;
}

/* A scripted model answering its replies in order. */
#define SCRIPTED(id, replies)                                                                      \
	"\"" id "\": {\"kind\": \"scripted\", \"script\": {\"replies\": [" replies "]}}"
#define REPLY(t) "{\"text\": \"" t "\"}"

/* ---- reflection -------------------------------------------------------- */

static char *echo_verifier(void *ud, const char *q, const char *answer, double *score,
                           bhive_error *err)
{
	int *calls = ud;
	(*calls)++;
	assert_string_equal(q, Q);
	char buf[256];
	snprintf(buf, sizeof(buf), "checked [%s]", answer);
	return strdup(buf);
}

/* 1 model x k reflections = k + 1 calls; each reflection carries the
 * verifier's feedback on the previous answer and the original question. */
static void test_reflection(void **state)
{
	emu e;
	/* clang-format off */
	emu_start(&e, "{\"models\": {"
	              SCRIPTED("test.solo-v1:0", REPLY("r0") "," REPLY("r1") "," REPLY("r2") ","
	                                         REPLY("r3"))
	              "}}");
	/* clang-format on */
	bhive_client *c = client_for(&e, 1);
	bhive_config *cfg = bhive_config_new();
	int vcalls = 0;
	bhive_config_add_model(cfg, "test.solo-v1:0");
	bhive_config_set_reflections(cfg, 3);
	bhive_config_set_verifier(cfg, echo_verifier, &vcalls);
	json_t *req = question();
	bhive_result *r = run(c, cfg, req, 0);
	assert_string_equal(bhive_result_answer(r), "r3");
	assert_int_equal(bhive_result_rounds(r), 4);
	assert_int_equal(bhive_result_calls(r), 4);
	assert_string_equal(bhive_result_stop_reason(r), "completed");
	assert_int_equal(vcalls, 3); /* the last answer's feedback would be unused */
	json_t *sent = requests_for(&e, NULL);
	assert_int_equal(json_array_size(sent), 4);
	for (size_t i = 0; i < 4; i++) {
		json_t *msgs = json_object_get(json_array_get(sent, i), "messages");
		assert_int_equal(json_array_size(msgs), 1 + 2 * i);
		if (i == 0)
			continue;
		char want[512];
		snprintf(want, sizeof(want), REFLECT "\n" FEEDBACK_INTRO "checked [r%zu]" REMIND,
		         i - 1);
		assert_string_equal(last_user_text(json_array_get(sent, i)), want);
	}
	/* The history holds every turn, the last being the final answer. */
	const json_t *h = bhive_result_slot_history(r, 0);
	assert_int_equal(json_array_size(h), 8);
	json_decref(sent);
	json_decref(req);
	bhive_result_free(r);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
}

/* ---- debate and aggregation -------------------------------------------- */

/* clang-format off */
#define DEBATE_MODELS                                                                  \
	SCRIPTED("test.a-v1:0", REPLY("a0") "," REPLY("a1") "," REPLY("a2")) ","       \
	SCRIPTED("test.b-v1:0", REPLY("b0") "," REPLY("b1") "," REPLY("b2")) ","       \
	SCRIPTED("test.c-v1:0", REPLY("c0") "," REPLY("c1") "," REPLY("c2")) ","       \
	SCRIPTED("test.agg-v1:0", REPLY("final"))
/* clang-format on */

/* n models x k rounds + aggregator = n(k+1)+1 calls; every debater sees every
 * other slot's latest answer and not its own; the aggregator the last round. */
static void test_debate(void **state)
{
	static const char *const ids[] = {"test.a-v1:0", "test.b-v1:0", "test.c-v1:0"};
	static const char *const letters = "abc";
	emu e;
	emu_start(&e, "{\"models\": {" DEBATE_MODELS "}}");
	bhive_client *c = client_for(&e, 1);
	bhive_config *cfg = bhive_config_new();
	for (int i = 0; i < 3; i++)
		bhive_config_add_model(cfg, ids[i]);
	bhive_config_set_reflections(cfg, 2);
	bhive_config_set_aggregator(cfg, "test.agg-v1:0");
	json_t *req = question();
	bhive_result *r = run(c, cfg, req, 0);
	assert_string_equal(bhive_result_answer(r), "final");
	assert_int_equal(bhive_result_calls(r), 3 * 3 + 1);
	json_t *all = requests_for(&e, NULL);
	assert_int_equal(json_array_size(all), 10);
	json_decref(all);
	for (int i = 0; i < 3; i++) {
		json_t *sent = requests_for(&e, ids[i]);
		assert_int_equal(json_array_size(sent), 3);
		for (size_t round = 1; round < 3; round++) {
			const char *t = last_user_text(json_array_get(sent, round));
			for (int j = 0; j < 3; j++) {
				char ans[32];
				snprintf(ans, sizeof(ans), "```%c%zu```", letters[j], round - 1);
				if (j == i)
					assert_null(strstr(t, ans));
				else
					assert_non_null(strstr(t, ans));
			}
			assert_true(bh_starts_with(t, "\nThese are the recent answers"));
			assert_true(bh_ends_with(t, REMIND));
		}
		char last[3] = {letters[i], '2', 0};
		assert_string_equal(bhive_result_slot_answer(r, (size_t)i), last);
		json_decref(sent);
	}
	json_t *agg = requests_for(&e, "test.agg-v1:0");
	assert_int_equal(json_array_size(agg), 1);
	const json_t *msgs = json_object_get(json_array_get(agg, 0), "messages");
	assert_int_equal(json_array_size(msgs), 1);
	const char *t = last_user_text(json_array_get(agg, 0));
	assert_string_equal(t, "\nYou will see proposed answers to the following question from "
	                       "multiple agents, please provide an aggregated final answer.\n"
	                       "\n\nOne agent response: ```a2```\n"
	                       "\n\nOne agent response: ```b2```\n"
	                       "\n\nOne agent response: ```c2```\n" REMIND);
	json_t *j = bhive_result_to_json(r);
	assert_int_equal(json_array_size(json_object_get(j, "slots")), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(j, "models"), "test.a-v1:0"), "calls")),
	    3);
	json_decref(j);
	json_decref(agg);
	json_decref(req);
	bhive_result_free(r);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
}

/* Connections accepted by the emulator so far (the asking one included). */
static long long emu_connections(const emu *e)
{
	json_t *h = emu_control(e, "GET", "health");
	long long n = json_integer_value(json_object_get(h, "connections"));
	json_decref(h);
	return n;
}

/* A debate round reuses the previous round's connections: 32 slots x 3
 * rounds over HTTP/1.1 keep-alive open exactly 32 connections. (With
 * libcurl's default idle-connection cap, the end of each round closed a
 * few and the next round opened them again.) */
static void test_debate_reuses_connections(void **state)
{
	emu e;
	/* answers spread over 20-60 ms, so transfers finish one by one */
	emu_start(&e, "{\"models\": {\"test.many-v1:0\": {\"kind\": \"scripted\", "
	              "\"faults\": {\"latency\": {\"dist\": \"uniform\", \"min_ms\": 20, "
	              "\"max_ms\": 60}}, "
	              "\"script\": {\"rules\": [{\"contains\": \"2 + 2\", "
	              "\"reply\": {\"text\": \"<answer>4</answer>\"}}]}}}}");
	bhive_client *c = client_for(&e, 1);
	bhive_config *cfg = bhive_config_new();
	for (int i = 0; i < 32; i++)
		bhive_config_add_model(cfg, "test.many-v1:0");
	bhive_config_set_reflections(cfg, 2);
	bhive_config_set_vote(cfg, 1);
	json_t *req = question();
	long long before = emu_connections(&e);
	bhive_result *r = run(c, cfg, req, 0);
	assert_int_equal(bhive_result_calls(r), 32 * 3);
	/* less this GET's own connection */
	assert_int_equal(emu_connections(&e) - before - 1, 32);
	json_decref(req);
	bhive_result_free(r);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
	(void)state;
}

/* Self-consistency: a majority vote over slots, no aggregator call. */
static void test_vote(void **state)
{
	emu e;
	/* clang-format off */
	emu_start(&e, "{\"models\": {"
	              SCRIPTED("test.a-v1:0", REPLY("it is <answer>5</answer>")) ","
	              SCRIPTED("test.b-v1:0", REPLY("sure: <answer>4</answer>")) ","
	              SCRIPTED("test.c-v1:0", REPLY("<answer> 4 </answer> indeed"))
	              "}}");
	/* clang-format on */
	bhive_client *c = client_for(&e, 1);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "test.a-v1:0");
	bhive_config_add_model(cfg, "test.b-v1:0");
	bhive_config_add_model(cfg, "test.c-v1:0");
	bhive_config_set_vote(cfg, 1);
	json_t *req = question();
	bhive_result *r = run(c, cfg, req, 0);
	assert_string_equal(bhive_result_answer(r), "sure: <answer>4</answer>");
	assert_int_equal(bhive_result_calls(r), 3);
	json_decref(req);
	bhive_result_free(r);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
}

/* ---- time limit and early stop ----------------------------------------- */

/* Round 0 always runs; a round starts only inside the limit. */
static void test_time_limit(void **state)
{
#define SLOW "{\"text\": \"<answer>4</answer>\", \"delay_ms\": 300}"
	emu e;
	/* clang-format off */
	emu_start(&e, "{\"models\": {"
	              SCRIPTED("test.slow-v1:0", SLOW "," SLOW "," SLOW "," SLOW "," SLOW "," SLOW)
	              "}}");
	/* clang-format on */
	bhive_client *c = client_for(&e, 1);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "test.slow-v1:0");
	bhive_config_set_reflections(cfg, 5);
	bhive_config_set_max_reasoning_seconds(cfg, 0.45);
	json_t *req = question();
	bhive_result *r = run(c, cfg, req, 0);
	/* 0 ms: round 0; ~300 ms: round 1 starts; ~600 ms: past the limit. */
	assert_int_equal(bhive_result_rounds(r), 2);
	assert_string_equal(bhive_result_stop_reason(r), "time_limit");
	assert_string_equal(bhive_result_answer(r), "<answer>4</answer>");
	json_t *sent = requests_for(&e, NULL);
	assert_int_equal(json_array_size(sent), 2);
	json_decref(sent);
	bhive_result_free(r);
	/* A limit shorter than round 0 still gives round 0's answer. */
	bhive_config_set_max_reasoning_seconds(cfg, 0.01);
	r = run(c, cfg, req, 0);
	assert_int_equal(bhive_result_rounds(r), 1);
	assert_string_equal(bhive_result_stop_reason(r), "time_limit");
	json_decref(req);
	bhive_result_free(r);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
}

static char *score_verifier(void *ud, const char *q, const char *answer, double *score,
                            bhive_error *err)
{
	*score = strstr(answer, "<answer>4</answer>") ? 1.0 : 0.0;
	return strdup(*score > 0 ? "correct" : "wrong");
}

static void test_early_stop(void **state)
{
	emu e;
	/* clang-format off */
	emu_start(&e, "{\"models\": {"
	              SCRIPTED("test.same-v1:0", REPLY("x <answer>3</answer>") ","
	                                         REPLY("y <answer>3</answer>") ","
	                                         REPLY("z <answer>3</answer>") ","
	                                         REPLY("w <answer>3</answer>")) ","
	              SCRIPTED("test.fix-v1:0", REPLY("<answer>5</answer>") ","
	                                        REPLY("<answer>4</answer>") ","
	                                        REPLY("<answer>4</answer>"))
	              "}}");
	/* clang-format on */
	bhive_client *c = client_for(&e, 1);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "test.same-v1:0");
	bhive_config_set_reflections(cfg, 3);
	bhive_config_set_early_stop(cfg, 2);
	json_t *req = question();
	/* The answer key (3) is unchanged after rounds 1 and 2: stop after round 2. */
	bhive_result *r = run(c, cfg, req, 0);
	assert_int_equal(bhive_result_rounds(r), 3);
	assert_string_equal(bhive_result_stop_reason(r), "early_stop_unchanged");
	assert_string_equal(bhive_result_answer(r), "z <answer>3</answer>");
	bhive_result_free(r);
	/* The verifier's score of 1 stops after round 1. */
	bhive_config_clear_models(cfg);
	bhive_config_add_model(cfg, "test.fix-v1:0");
	bhive_config_set_early_stop(cfg, 1);
	bhive_config_set_verifier(cfg, score_verifier, NULL);
	r = run(c, cfg, req, 0);
	assert_int_equal(bhive_result_rounds(r), 2);
	assert_string_equal(bhive_result_stop_reason(r), "early_stop_verified");
	json_t *sent = requests_for(&e, "test.fix-v1:0");
	assert_int_equal(json_array_size(sent), 2);
	assert_non_null(strstr(last_user_text(json_array_get(sent, 1)), FEEDBACK_INTRO "wrong"));
	json_decref(sent);
	json_decref(req);
	bhive_result_free(r);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
}

/* ---- prompt caching ---------------------------------------------------- */

static int count_points(const json_t *content)
{
	size_t i;
	json_t *b;
	int n = 0;
	json_array_foreach(content, i, b) n += json_object_get(b, "cachePoint") != NULL;
	return n;
}

static void test_cache_points(void **state)
{
	emu e;
	/* clang-format off */
	emu_start(&e, "{\"models\": {"
	              SCRIPTED("test.solo-v1:0", REPLY("r0") "," REPLY("r1") "," REPLY("r2") ","
	                                         REPLY("r3") "," REPLY("r4") "," REPLY("r5"))
	              "}}");
	/* clang-format on */
	bhive_client *c = client_for(&e, 1);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "test.solo-v1:0");
	bhive_config_set_reflections(cfg, 5);
	bhive_config_set_prompt_caching(cfg, 1);
	json_t *req = question();
	json_object_set_new(req, "system", json_pack("[{s:s}]", "text", "be brief"));
	bhive_result *r = run(c, cfg, req, 0);
	assert_int_equal(bhive_result_calls(r), 6);
	json_t *sent = requests_for(&e, NULL);
	for (size_t i = 0; i < 6; i++) {
		json_t *body = json_array_get(sent, i);
		json_t *msgs = json_object_get(body, "messages");
		int total = count_points(json_object_get(body, "system"));
		assert_int_equal(total, 1);
		size_t k;
		json_t *m;
		int users = 0;
		json_array_foreach(msgs, k, m)
		{
			int n = count_points(json_object_get(m, "content"));
			total += n;
			if (bh_streq(bh_json_str(m, "role"), "assistant")) {
				assert_int_equal(n, 0);
				continue;
			}
			users++;
			/* the newest user turns carry one; the oldest go first */
			assert_int_equal(n, users > (int)i + 1 - 3 ? 1 : 0);
		}
		assert_int_equal(total, i + 2 <= 4 ? (int)i + 2 : 4);
	}
	json_decref(sent);
	json_decref(req);
	bhive_result_free(r);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
}

/* ---- structured output ------------------------------------------------- */

#define SCHEMA                                                                                     \
	"{\"type\": \"object\", \"required\": [\"n\"], \"properties\": {\"n\": {\"type\": "        \
	"\"integer\"}}}"

static void test_structured_output(void **state)
{
	emu e;
	/* clang-format off */
	emu_start(&e, "{\"models\": {"
	              SCRIPTED("test.json-v1:0", REPLY("here <json>{\\\"n\\\": 4}</json>") ","
	                                         REPLY("<json>{\\\"n\\\": \\\"four\\\"}</json>") ","
	                                         REPLY("<json>{\\\"n\\\": </json>") ","
	                                         REPLY("no json at all")) ","
	              "\"test.native-v1:0\": {\"kind\": \"scripted\", \"native_json_schema\": true,"
	              " \"script\": {\"replies\": [" REPLY("{\\\"n\\\": 7}") "]}}"
	              "}}");
	/* clang-format on */
	bhive_client *c = client_for(&e, 1);
	bhive_config *cfg = bhive_config_new();
	json_t *schema = json_loads(SCHEMA, 0, NULL);
	bhive_config_add_model(cfg, "test.json-v1:0");
	bhive_config_set_schema(cfg, schema);
	json_t *req = question();
	bhive_result *r = run(c, cfg, req, 0);
	assert_int_equal(json_integer_value(json_object_get(bhive_result_parsed(r), "n")), 4);
	bhive_result_free(r);
	json_t *sent = requests_for(&e, NULL);
	const char *t = last_user_text(json_array_get(sent, 0));
	assert_true(bh_starts_with(t, Q "\n"));
	assert_non_null(strstr(t, "<json>"));
	assert_null(json_object_get(json_array_get(sent, 0), "outputConfig"));
	json_decref(sent);
	/* Wrong type, broken JSON, no JSON: BHIVE_ERR_SCHEMA with the answer kept. */
	static const char *const why[] = {"$.n", "structured output", "structured output"};
	for (int i = 0; i < 3; i++) {
		r = run(c, cfg, req, BHIVE_ERR_SCHEMA);
		assert_int_equal(bhive_result_code(r), BHIVE_ERR_SCHEMA);
		assert_non_null(strstr(bhive_result_error(r)->message, why[i]));
		assert_non_null(bhive_result_answer(r));
		assert_null(bhive_result_parsed(r));
		bhive_result_free(r);
	}
	/* A model the price table marks native gets outputConfig, no instruction. */
	const char *prices = "{\"models\": {\"test.native-v1:0\": {\"input\": 0.001, \"output\": "
	                     "0.002, \"structured_output\": true}}}";
	bhive_prices *p = bhive_prices_new(NULL);
	assert_int_equal(bhive_prices_load_string(p, prices, strlen(prices), "test", NULL), 0);
	bhive_config_set_prices(cfg, p);
	bhive_config_clear_models(cfg);
	bhive_config_add_model(cfg, "test.native-v1:0");
	json_decref(emu_control(&e, "DELETE", "requests"));
	r = run(c, cfg, req, 0);
	assert_int_equal(json_integer_value(json_object_get(bhive_result_parsed(r), "n")), 7);
	sent = requests_for(&e, NULL);
	json_t *tf =
	    json_object_get(json_object_get(json_array_get(sent, 0), "outputConfig"), "textFormat");
	assert_string_equal(bh_json_str(tf, "type"), "json_schema");
	assert_string_equal(last_user_text(json_array_get(sent, 0)), Q);
	json_decref(sent);
	bhive_result_free(r);
	bhive_prices_free(p);
	json_decref(schema);
	json_decref(req);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
}

/* ---- failures ---------------------------------------------------------- */

#define FAILING                                                                                    \
	"\"test.bad-v1:0\": {\"kind\": \"scripted\", \"script\": {\"rules\": [{\"regex\": \".\", " \
	"\"reply\": {\"error\": {\"status\": 429, \"type\": \"ThrottlingException\", "             \
	"\"message\": "                                                                            \
	"\"Too many requests, please wait before trying again.\"}}}]}}"

/* One debater failing after its retries: a clear error, or with
 * continue-on-failure the debate goes on without it. */
static void test_slot_failure(void **state)
{
	emu e;
	emu_start(&e, "{\"models\": {" DEBATE_MODELS "," FAILING "}}");
	bhive_client *c = client_for(&e, 2);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "test.a-v1:0");
	bhive_config_add_model(cfg, "test.bad-v1:0");
	bhive_config_add_model(cfg, "test.c-v1:0");
	bhive_config_set_reflections(cfg, 1);
	bhive_config_set_aggregator(cfg, "test.agg-v1:0");
	json_t *req = question();
	bhive_result *r = run(c, cfg, req, BHIVE_ERR_SERVICE);
	const bhive_error *err = bhive_result_error(r);
	assert_string_equal(err->error_type, "ThrottlingException");
	assert_non_null(
	    strstr(err->message, "model \"test.bad-v1:0\" returned ThrottlingException"));
	assert_string_equal(bhive_result_stop_reason(r), "error");
	assert_non_null(bhive_result_slot_error(r, 1));
	assert_null(bhive_result_slot_error(r, 0));
	bhive_result_free(r);
	json_t *bad = requests_for(&e, "test.bad-v1:0");
	assert_int_equal(json_array_size(bad), 2); /* the first try and one retry */
	json_decref(bad);
	json_decref(emu_control(&e, "DELETE", "requests"));

	bhive_config_set_continue_on_failure(cfg, 1);
	r = run(c, cfg, req, 0);
	assert_string_equal(bhive_result_answer(r), "final");
	assert_non_null(bhive_result_slot_error(r, 1));
	json_t *a = requests_for(&e, "test.a-v1:0");
	/* scripts continue where the first run left off: a1 then a2 */
	assert_int_equal(json_array_size(a), 2);
	const char *t = last_user_text(json_array_get(a, 1));
	assert_non_null(strstr(t, "```c1```"));
	assert_null(strstr(t, "One agent response: ```a1```"));
	json_t *bad2 = requests_for(&e, "test.bad-v1:0");
	assert_int_equal(json_array_size(bad2), 2);
	json_decref(bad2);
	json_t *agg = requests_for(&e, "test.agg-v1:0");
	assert_int_equal(json_array_size(agg), 1);
	t = last_user_text(json_array_get(agg, 0));
	assert_non_null(strstr(t, "```a2```"));
	assert_non_null(strstr(t, "```c2```"));
	json_decref(agg);
	json_decref(a);
	json_decref(req);
	bhive_result_free(r);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
}

/* ---- augmentation ------------------------------------------------------ */

#define REPHRASER(id)                                                                              \
	"\"" id "\": {\"kind\": \"scripted\", \"script\": {\"rules\": ["                           \
	"{\"contains\": \"Rephrase the following prompt\", \"reply\": {\"text\": "                 \
	"\"<rephrased>Kindly add 2 and 2.</rephrased>\"}},"                                        \
	"{\"regex\": \".\", \"reply\": {\"text\": \"<answer>4</answer>\"}}]}}"

/* Slot 0 keeps the original prompt; semantic rephrasing costs one call per
 * extra slot; lexical variants differ per slot and keep the digits. */
static void test_augment(void **state)
{
	emu e;
	/* clang-format off */
	emu_start(&e, "{\"models\": {"
	              REPHRASER("test.a-v1:0") "," REPHRASER("test.b-v1:0") ","
	              REPHRASER("test.c-v1:0")
	              "}}");
	/* clang-format on */
	bhive_client *c = client_for(&e, 1);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "test.a-v1:0");
	bhive_config_add_model(cfg, "test.b-v1:0");
	bhive_config_add_model(cfg, "test.c-v1:0");
	bhive_config_set_vote(cfg, 1);
	bhive_config_set_augment(cfg, BHIVE_AUGMENT_SEMANTIC, 1);
	json_t *req = question();
	bhive_result *r = run(c, cfg, req, 0);
	assert_int_equal(bhive_result_calls(r), 3 + 2);
	json_t *a = requests_for(&e, "test.a-v1:0"), *b = requests_for(&e, "test.b-v1:0");
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(last_user_text(json_array_get(a, 0)), Q);
	assert_int_equal(json_array_size(b), 2);
	assert_non_null(strstr(last_user_text(json_array_get(b, 0)), "<prompt>" Q "</prompt>"));
	assert_string_equal(last_user_text(json_array_get(b, 1)), "Kindly add 2 and 2.");
	json_decref(a);
	json_decref(b);
	bhive_result_free(r);

	json_decref(emu_control(&e, "DELETE", "requests"));
	json_object_set_new(req, "messages",
	                    json_pack("[{s:s,s:[{s:s}]}]", "role", "user", "content", "text",
	                              "Please compute the following sum for me carefully: "
	                              "what is 12 plus 30, written as digits?"));
	bhive_config_set_augment(cfg, BHIVE_AUGMENT_LEXICAL, 7);
	r = run(c, cfg, req, 0);
	assert_int_equal(bhive_result_calls(r), 3);
	json_t *all = requests_for(&e, NULL);
	const char *texts[3];
	for (int i = 0; i < 3; i++) {
		static const char *const ids[] = {"test.a-v1:0", "test.b-v1:0", "test.c-v1:0"};
		json_t *one = requests_for(&e, ids[i]);
		texts[i] = bh_strdup(last_user_text(json_array_get(one, 0)));
		json_decref(one);
		assert_non_null(strstr(texts[i], "12"));
		assert_non_null(strstr(texts[i], "30"));
	}
	assert_string_equal(texts[0], "Please compute the following sum for me carefully: what is "
	                              "12 plus 30, written as digits?");
	assert_string_not_equal(texts[1], texts[0]);
	assert_string_not_equal(texts[2], texts[0]);
	assert_string_not_equal(texts[1], texts[2]);
	for (int i = 0; i < 3; i++)
		bh_free((char *)texts[i]);
	json_decref(all);
	json_decref(req);
	bhive_result_free(r);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
}

/* ---- best-of-N, thinking, fatal verifier -------------------------------- */

static char *length_verifier(void *ud, const char *q, const char *answer, double *score,
                             bhive_error *err)
{
	if (strstr(answer, "explode")) {
		bh_error_set(err, BHIVE_ERR_VERIFIER, "cannot judge \"%s\"", answer);
		return NULL;
	}
	*score = strstr(answer, "<answer>4</answer>") ? 1.0 : 0.2;
	return strdup("scored");
}

static void test_best_of_n(void **state)
{
	emu e;
	/* clang-format off */
	emu_start(&e, "{\"models\": {"
	              SCRIPTED("test.a-v1:0", REPLY("<answer>5</answer>")) ","
	              "\"test.b-v1:0\": {\"kind\": \"scripted\", \"script\": {\"replies\": ["
	              "{\"text\": \"<answer>4</answer>\", \"reasoning\": \"two and two\"}]}},"
	              SCRIPTED("test.c-v1:0", REPLY("<answer>5</answer>")) ","
	              SCRIPTED("test.x-v1:0", REPLY("explode") "," REPLY("explode") ","
	                                      REPLY("explode"))
	              "}}");
	/* clang-format on */
	bhive_client *c = client_for(&e, 1);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, "test.a-v1:0");
	bhive_config_add_model(cfg, "test.b-v1:0");
	bhive_config_add_model(cfg, "test.c-v1:0");
	bhive_config_set_best_of_n(cfg, 1);
	bhive_config_set_verifier(cfg, length_verifier, NULL);
	json_t *req = question();
	/* A vote would pick 5; the verifier's best score picks slot 1. */
	bhive_result *r = run(c, cfg, req, 0);
	assert_string_equal(bhive_result_answer(r), "<answer>4</answer>");
	assert_string_equal(bhive_result_thinking(r), "two and two");
	assert_string_equal(bhive_result_slot_thinking(r, 1), "two and two");
	assert_null(bhive_result_slot_thinking(r, 0));
	bhive_result_free(r);
	/* A failing verifier is reported to the model; made fatal, it stops the run. */
	bhive_config_clear_models(cfg);
	bhive_config_add_model(cfg, "test.x-v1:0");
	bhive_config_set_best_of_n(cfg, 0);
	bhive_config_set_reflections(cfg, 1);
	r = run(c, cfg, req, 0);
	json_t *sent = requests_for(&e, "test.x-v1:0");
	assert_non_null(strstr(last_user_text(json_array_get(sent, 1)),
	                       FEEDBACK_INTRO "the verifier failed: cannot judge"));
	json_decref(sent);
	bhive_result_free(r);
	bhive_config_set_verifier_fatal(cfg, 1);
	r = run(c, cfg, req, BHIVE_ERR_VERIFIER);
	assert_non_null(strstr(bhive_result_error(r)->message, "verifier failed: cannot judge"));
	assert_int_equal(bhive_result_calls(r), 1);
	bhive_result_free(r);
	json_decref(req);
	bhive_config_free(cfg);
	bhive_client_free(c);
	emu_stop(&e);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reflection),
	    cmocka_unit_test(test_debate),
	    cmocka_unit_test(test_debate_reuses_connections),
	    cmocka_unit_test(test_vote),
	    cmocka_unit_test(test_time_limit),
	    cmocka_unit_test(test_early_stop),
	    cmocka_unit_test(test_cache_points),
	    cmocka_unit_test(test_structured_output),
	    cmocka_unit_test(test_slot_failure),
	    cmocka_unit_test(test_augment),
	    cmocka_unit_test(test_best_of_n),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
