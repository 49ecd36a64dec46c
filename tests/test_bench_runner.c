/*
 * test_bench_runner.c - the benchmark runner, resumption, budgets and early
 * stop, the optimiser's choice, grids and report writers.
 *
 * Models are answered by an in-process transport with known tokens and
 * prices, so every cost, score and choice below is known exactly.
 */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include "bhive/bench.h"
#include "util/util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a transport with scripted models ---------------------------------- */

typedef struct fake_call {
	bhive_http_done_fn done;
	void *ud;
	char *model;
	char *prompt;
	int64_t due_ms;
} fake_call;

typedef struct fake_net {
	fake_call calls[512];
	int n;
	int total;
	json_t *sent; /* {model: [prompt, ...]} every request in order */
} fake_net;

static fake_net net;

/* Per model: the answer, and a delay. */
static const struct {
	const char *model;
	const char *even, *odd; /* texts for prompts with "even" or not */
	int delay_ms;
} scripted[] = {
    /* an empty text is a 400 ValidationException */
    {"test.bad-v1%3A0", "<answer>41</answer>", "<answer>41</answer>", 0},
    {"test.ok-v1%3A0", "<answer>42</answer>", "<answer>41</answer>", 0},
    {"test.good-v1%3A0", "<answer>42</answer>", "<answer>42</answer>", 0},
    {"test.pricey-v1%3A0", "<answer>42</answer>", "<answer>42</answer>", 5},
    {"test.slow-v1%3A0", "<answer>42</answer>", "<answer>42</answer>", 40},
    {"test.fail-v1%3A0", "<answer>42</answer>", "", 0},
};

/* Prices per 1,000 tokens; every call is 1000 in, 100 out. */
#define PRICES                                                                                     \
	"{\"models\": {"                                                                           \
	"\"test.bad-v1:0\": {\"input\": 0.0001, \"output\": 0.0001},"                              \
	"\"test.ok-v1:0\": {\"input\": 0.0002, \"output\": 0.0002},"                               \
	"\"test.good-v1:0\": {\"input\": 0.001, \"output\": 0.001},"                               \
	"\"test.pricey-v1:0\": {\"input\": 0.1, \"output\": 0.1},"                                 \
	"\"test.slow-v1:0\": {\"input\": 0.0001, \"output\": 0.0001},"                             \
	"\"test.fail-v1:0\": {\"input\": 0.0001, \"output\": 0.0001}}}"
#define COST(in_price) ((in_price)*1.0 + (in_price)*0.1)

static char *url_model(const char *url)
{
	const char *p = strstr(url, "/model/");
	const char *e = p ? strstr(p + 7, "/converse") : NULL;
	return p && e ? bh_strndup(p + 7, (size_t)(e - p - 7)) : bh_strdup("?");
}

static char *first_prompt(const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *t = json_string_value(json_object_get(
	    json_array_get(
	        json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content"), 0),
	    "text"));
	char *s = bh_strdup(t ? t : "");
	json_decref(j);
	return s;
}

static int script_index(const char *model)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(scripted); i++)
		if (strcmp(scripted[i].model, model) == 0)
			return (int)i;
	return -1;
}

static int fake_send(void *ud, const bhive_http_request *req, bhive_http_done_fn done,
                     void *call_ud, bhive_error *err)
{
	fake_net *f = ud;
	assert_true(f->n < 512);
	fake_call *c = &f->calls[f->n++];
	c->done = done;
	c->ud = call_ud;
	c->model = url_model(req->url);
	c->prompt = first_prompt(req->body, req->body_len);
	int k = script_index(c->model);
	c->due_ms = bh_now_ms() + (k >= 0 ? scripted[k].delay_ms : 0);
	json_t *list = json_object_get(f->sent, c->model);
	if (!list)
		json_object_set_new(f->sent, c->model, list = json_array());
	json_array_append_new(list, json_string(c->prompt));
	f->total++;
	return 0;
}

static void answer(fake_call *c)
{
	int k = script_index(c->model);
	char body[768];
	const char *hdrs[] = {"Content-Type: application/json", NULL};
	const char *text = k < 0                       ? "?"
	                   : strstr(c->prompt, "even") ? scripted[k].even
	                                               : scripted[k].odd;
	int status = k < 0 ? 404 : *text ? 200 : 400;
	if (status == 200)
		snprintf(
		    body, sizeof(body),
		    "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":"
		    "\"%s\"}]}},\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":1000,"
		    "\"outputTokens\":100,\"totalTokens\":1100},\"metrics\":{\"latencyMs\":%d}}",
		    text, k >= 0 ? scripted[k].delay_ms + 10 : 10);
	else
		snprintf(body, sizeof(body), "{\"message\":\"The model refused the request.\"}");
	const char *ehdrs[] = {"Content-Type: application/json",
	                       "x-amzn-ErrorType: ValidationException", NULL};
	bhive_http_response resp = {status, status == 200 ? hdrs : ehdrs, body, strlen(body)};
	c->done(c->ud, &resp, NULL);
}

/* Answers the calls that are due; sleeps up to the next due time. */
static int fake_poll(void *ud, long timeout_ms)
{
	fake_net *f = ud;
	int64_t now = bh_now_ms(), next = now + (timeout_ms < 0 ? 1000 : timeout_ms);
	for (int i = 0; i < f->n; i++)
		if (f->calls[i].due_ms < next)
			next = f->calls[i].due_ms;
	if (next > now)
		usleep((useconds_t)(next - now) * 1000);
	now = bh_now_ms();
	fake_call due[512];
	int nd = 0, keep = 0;
	for (int i = 0; i < f->n; i++) {
		if (f->calls[i].due_ms <= now)
			due[nd++] = f->calls[i];
		else
			f->calls[keep++] = f->calls[i];
	}
	f->n = keep;
	for (int i = 0; i < nd; i++) {
		answer(&due[i]);
		bh_free(due[i].model);
		bh_free(due[i].prompt);
	}
	return f->n;
}

static void fake_destroy(void *ud)
{
	fake_net *f = ud;
	for (int i = 0; i < f->n; i++) {
		bh_free(f->calls[i].model);
		bh_free(f->calls[i].prompt);
	}
	f->n = 0;
}

static bhive_client *fake_client(void)
{
	bhive_client_options o;
	bhive_transport t = {&net, fake_send, fake_poll, fake_destroy};
	bhive_error err;
	bhive_client_options_init(&o);
	o.region = "us-east-1";
	o.access_key_id = "AKIDEXAMPLE";
	o.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	o.endpoint_url = "http://127.0.0.1:9";
	o.max_attempts = 1;
	o.transport = &t;
	bhive_client *c = bhive_client_new(&o, &err);
	if (!c)
		fail_msg("client: %s", err.message);
	return c;
}

/* ---- fixtures ---------------------------------------------------------- */

static char tmpdir[64];
static bhive_prices *prices;

static int setup(void **state)
{
	bh_strlcpy(tmpdir, "/tmp/bhive-runner-XXXXXX", sizeof(tmpdir));
	if (!mkdtemp(tmpdir))
		return -1;
	bhive_error err;
	prices = bhive_prices_new(&err);
	return prices && bhive_prices_load_string(prices, PRICES, strlen(PRICES), "test", &err) == 0
	           ? 0
	           : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	bhive_prices_free(prices);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int reset_net(void **state)
{
	json_decref(net.sent);
	memset(&net, 0, sizeof(net));
	net.sent = json_object();
	return 0;
}

static int free_net(void **state)
{
	json_decref(net.sent);
	net.sent = NULL;
	return 0;
}

/* n samples "question i (even|odd)" expecting 42 (no "expected" when !expected). */
static bhive_dataset *make_dataset(const char *name, int n, int expected)
{
	char *path = bh_asprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	for (int i = 0; i < n; i++)
		fprintf(f, "{\"id\": \"q%d\", \"prompt\": \"question %d (%s)\"%s}\n", i, i,
		        i % 2 ? "odd" : "even", expected ? ", \"expected\": 42" : "");
	fclose(f);
	bhive_error err;
	bhive_dataset *ds = bhive_dataset_load_jsonl(path, BHIVE_BAD_LINE_FAIL, NULL, NULL, &err);
	if (!ds)
		fail_msg("dataset: %s", err.message);
	bh_free(path);
	return ds;
}

static bhive_config *model_config(const char *model, int reflections)
{
	bhive_config *cfg = bhive_config_new();
	assert_int_equal(bhive_config_add_model(cfg, model), 0);
	assert_int_equal(bhive_config_set_reflections(cfg, reflections), 0);
	bhive_config_set_prices(cfg, prices);
	return cfg;
}

static bhive_store *open_store(const char *name)
{
	char *path = bh_asprintf("%s/%s", tmpdir, name);
	bhive_error err;
	bhive_store *st = bhive_store_open(path, &err);
	if (!st)
		fail_msg("store: %s", err.message);
	bh_free(path);
	return st;
}

static int add_job(bhive_runner *r, const char *model, int refl, const bhive_dataset *ds,
                   const bhive_evaluator *ev)
{
	bhive_config *cfg = model_config(model, refl);
	bhive_error err;
	bhive_job_spec spec = {.name = model, .config = cfg, .dataset = ds, .evaluator = ev};
	int i = bhive_runner_add(r, &spec, &err);
	if (i < 0)
		fail_msg("add: %s", err.message);
	bhive_config_free(cfg);
	return i;
}

static const json_t *row_named(const json_t *report, const char *name)
{
	const json_t *rows = json_object_get(report, "rows");
	for (size_t i = 0; i < json_array_size(rows); i++)
		if (bh_streq(bh_json_str(json_array_get(rows, i), "name"), name))
			return json_array_get(rows, i);
	fail_msg("no row \"%s\"", name);
	return NULL;
}

static size_t sent_to(const char *encoded_model)
{
	return json_array_size(json_object_get(net.sent, encoded_model));
}

/* ---- tests ------------------------------------------------------------- */

/* One job: accuracy, cost and tokens exactly as scripted and priced. */
static void test_run_figures(void **state)
{
	bhive_dataset *ds = make_dataset("ten.jsonl", 10, 1);
	bhive_evaluator *ev = bhive_evaluator_new("in-tags", NULL);
	bhive_client *cl = fake_client();
	bhive_store *st = open_store("figures.db");
	bhive_error err;
	bhive_runner *r = bhive_runner_new(cl, st, "test source", &err);
	add_job(r, "test.ok-v1:0", 1, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), 0);
	json_t *rep = bhive_runner_report(r, &err);
	const json_t *row = row_named(rep, "test.ok-v1:0");
	assert_string_equal(bh_json_str(rep, "source"), "test source");
	assert_int_equal(bh_json_int(row, "samples", 0), 10);
	assert_int_equal(bh_json_int(row, "scored", 0), 10);
	assert_int_equal(bh_json_int(row, "reflections", -1), 1);
	assert_true(fabs(bh_json_num(row, "accuracy", -1) - 0.5) < 1e-12);
	/* two calls a sample at 0.0002 per 1,000 tokens in and out */
	assert_true(fabs(bh_json_num(row, "mean_cost_usd", 0) - 2 * COST(0.0002)) < 1e-12);
	assert_true(fabs(bh_json_num(row, "mean_input_tokens", 0) - 2000) < 1e-9);
	assert_int_equal(net.total, 20);
	json_decref(rep);
	bhive_runner_free(r);
	bhive_client_free(cl);
	bhive_store_close(st);
	bhive_evaluator_free(ev);
	bhive_dataset_free(ds);
}

static void cancel_after(void *ud, const bhive_runner_progress *p)
{
	bhive_runner **r = ud;
	if (p->done >= 4 && *r)
		bhive_runner_cancel(*r);
}

/* A run stopped part-way, then the same jobs again: nothing finished is sent twice. */
static void test_resume(void **state)
{
	bhive_dataset *ds = make_dataset("resume.jsonl", 12, 1);
	bhive_evaluator *ev = bhive_evaluator_new("in-tags", NULL);
	bhive_client *cl = fake_client();
	bhive_store *st = open_store("resume.db");
	bhive_error err;
	bhive_runner *r = bhive_runner_new(cl, st, "test source", &err);
	bhive_runner_set_concurrency(r, 2);
	bhive_runner_set_progress(r, cancel_after, &r);
	add_job(r, "test.good-v1:0", 0, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), BHIVE_ERR_CANCELLED);
	json_t *first = json_deep_copy(json_object_get(net.sent, "test.good-v1%3A0"));
	size_t n1 = json_array_size(first);
	assert_true(n1 >= 4 && n1 < 12);
	json_t *rep = bhive_runner_report(r, &err);
	/* in-flight samples of a first Ctrl-C finish and are recorded */
	assert_int_equal(bh_json_int(json_array_get(json_object_get(rep, "rows"), 0), "samples", 0),
	                 (json_int_t)n1);
	json_decref(rep);
	bhive_runner_free(r);

	reset_net(state);
	r = bhive_runner_new(cl, st, "test source", &err);
	add_job(r, "test.good-v1:0", 0, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), 0);
	const json_t *second = json_object_get(net.sent, "test.good-v1%3A0");
	assert_int_equal(json_array_size(second), 12 - n1);
	for (size_t i = 0; i < json_array_size(second); i++)
		for (size_t k = 0; k < n1; k++)
			assert_string_not_equal(json_string_value(json_array_get(second, i)),
			                        json_string_value(json_array_get(first, k)));
	rep = bhive_runner_report(r, &err);
	const json_t *row = json_array_get(json_object_get(rep, "rows"), 0);
	assert_int_equal(bh_json_int(row, "samples", 0), 12);
	assert_true(fabs(bh_json_num(row, "accuracy", 0) - 1.0) < 1e-12);
	json_decref(rep);
	bhive_runner_free(r);

	/* A third time: nothing at all is sent. */
	reset_net(state);
	r = bhive_runner_new(cl, st, "test source", &err);
	add_job(r, "test.good-v1:0", 0, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), 0);
	assert_int_equal(net.total, 0);
	bhive_runner_free(r);
	/* A different source is a different run: everything is sent again. */
	r = bhive_runner_new(cl, st, "another source", &err);
	add_job(r, "test.good-v1:0", 0, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), 0);
	assert_int_equal(net.total, 12);
	json_decref(first);
	bhive_runner_free(r);
	bhive_client_free(cl);
	bhive_store_close(st);
	bhive_evaluator_free(ev);
	bhive_dataset_free(ds);
}

/* Four configurations at once under a cost budget: the pricey one stops
 * early on a prefix; the optimiser picks the best within budget. */
static void test_budget_and_best(void **state)
{
	bhive_dataset *ds = make_dataset("grid.jsonl", 30, 1);
	bhive_evaluator *ev = bhive_evaluator_new("in-tags", NULL);
	bhive_client *cl = fake_client();
	bhive_store *st = open_store("grid.db");
	bhive_error err;
	bhive_runner *r = bhive_runner_new(cl, st, "test source", &err);
	bhive_runner_set_concurrency(r, 2);
	bhive_runner_set_budget(r, 0.01, 0, 3);
	static const char *const models[] = {"test.bad-v1:0", "test.ok-v1:0", "test.good-v1:0",
	                                     "test.pricey-v1:0"};
	for (size_t i = 0; i < BH_ARRAY_LEN(models); i++)
		add_job(r, models[i], 0, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), 0);
	assert_true(sent_to("test.pricey-v1%3A0") < 12);
	assert_int_equal(sent_to("test.good-v1%3A0"), 30);
	assert_int_equal(sent_to("test.bad-v1%3A0"), 30);
	json_t *rep = bhive_runner_report(r, &err);
	const json_t *pricey = row_named(rep, "test.pricey-v1:0");
	assert_true(json_is_true(json_object_get(pricey, "stopped_early")));
	assert_non_null(strstr(bh_json_str(pricey, "stop_reason"), "over the budget"));
	assert_false(
	    json_is_true(json_object_get(row_named(rep, "test.good-v1:0"), "stopped_early")));
	assert_int_equal(bhive_optimise_select(rep, 0.01, 0, &err), 0);
	assert_int_equal(bh_json_int(rep, "best", -1), 2);
	assert_false(json_is_true(json_object_get(pricey, "within_budget")));
	/* Front: bad (cheapest), ok (middle), good (best); pricey is beaten by good. */
	const json_t *front = json_object_get(rep, "pareto");
	assert_int_equal(json_array_size(front), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(json_integer_value(json_array_get(front, i)), (json_int_t)i);
	/* Without a budget the best is still good: same accuracy as pricey, cheaper. */
	assert_int_equal(bhive_optimise_select(rep, 0, 0, &err), 0);
	assert_int_equal(bh_json_int(rep, "best", -1), 2);
	/* A budget nothing meets. */
	assert_int_equal(bhive_optimise_select(rep, 1e-9, 0, &err), 0);
	assert_true(json_is_null(json_object_get(rep, "best")));
	json_decref(rep);
	bhive_runner_free(r);
	bhive_client_free(cl);
	bhive_store_close(st);
	bhive_evaluator_free(ev);
	bhive_dataset_free(ds);
}

/* A time budget stops the slow model early and leaves the fast one. */
static void test_time_budget(void **state)
{
	bhive_dataset *ds = make_dataset("slow.jsonl", 20, 1);
	bhive_evaluator *ev = bhive_evaluator_new("in-tags", NULL);
	bhive_client *cl = fake_client();
	bhive_store *st = open_store("slow.db");
	bhive_error err;
	bhive_runner *r = bhive_runner_new(cl, st, "test source", &err);
	bhive_runner_set_concurrency(r, 2);
	bhive_runner_set_budget(r, 0, 0.02, 2);
	add_job(r, "test.slow-v1:0", 0, ds, ev);
	add_job(r, "test.good-v1:0", 0, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), 0);
	assert_true(sent_to("test.slow-v1%3A0") < 10);
	json_t *rep = bhive_runner_report(r, &err);
	assert_true(
	    json_is_true(json_object_get(row_named(rep, "test.slow-v1:0"), "stopped_early")));
	assert_int_equal(bh_json_int(row_named(rep, "test.good-v1:0"), "samples", 0), 20);
	json_decref(rep);
	bhive_runner_free(r);
	bhive_client_free(cl);
	bhive_store_close(st);
	bhive_evaluator_free(ev);
	bhive_dataset_free(ds);
}

/* No expected answers: run and recorded, but nothing scored. A failing
 * model's samples are counted, not recorded, and retried next time. */
static void test_unscored_and_failed(void **state)
{
	bhive_dataset *ds = make_dataset("open.jsonl", 4, 0);
	bhive_evaluator *ev = bhive_evaluator_new("in-tags", NULL);
	bhive_client *cl = fake_client();
	bhive_store *st = open_store("open.db");
	bhive_error err;
	bhive_runner *r = bhive_runner_new(cl, st, "test source", &err);
	add_job(r, "test.good-v1:0", 0, ds, ev);
	add_job(r, "test.fail-v1:0", 0, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), 0);
	json_t *rep = bhive_runner_report(r, &err);
	const json_t *good = row_named(rep, "test.good-v1:0");
	assert_int_equal(bh_json_int(good, "samples", 0), 4);
	assert_int_equal(bh_json_int(good, "scored", -1), 0);
	assert_true(json_is_null(json_object_get(good, "accuracy")));
	const json_t *fail = row_named(rep, "test.fail-v1:0");
	/* even prompts succeed, odd ones are refused with a 400 */
	assert_int_equal(bh_json_int(fail, "failed", 0), 2);
	assert_int_equal(bh_json_int(fail, "samples", 0), 2);
	assert_non_null(strstr(bh_json_str(fail, "first_error"), "ValidationException"));
	json_decref(rep);
	bhive_runner_free(r);
	reset_net(state);
	r = bhive_runner_new(cl, st, "test source", &err);
	add_job(r, "test.good-v1:0", 0, ds, ev);
	add_job(r, "test.fail-v1:0", 0, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), 0);
	assert_int_equal(net.total, 2);
	assert_int_equal(sent_to("test.fail-v1%3A0"), 2);
	bhive_runner_free(r);
	bhive_client_free(cl);
	bhive_store_close(st);
	bhive_evaluator_free(ev);
	bhive_dataset_free(ds);
}

/* Grids: axes crossed, aggregators and augmentation only for debates. */
/* An evaluator that fails: the paid-for answers are recorded without a
 * score and with the evaluator's message, reported, and not sent again. */
static void test_evaluator_failure(void **state)
{
	bhive_dataset *ds = make_dataset("evfail.jsonl", 4, 1);
	bhive_error err;
	bhive_evaluator *ev = bhive_evaluator_new("cmd:sh -c \"exit 3\"", &err);
	assert_non_null(ev);
	bhive_client *cl = fake_client();
	bhive_store *st = open_store("evfail.db");
	bhive_runner *r = bhive_runner_new(cl, st, "test source", &err);
	add_job(r, "test.good-v1:0", 0, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), 0);
	assert_int_equal(net.total, 4);
	json_t *rep = bhive_runner_report(r, &err);
	const json_t *row = row_named(rep, "test.good-v1:0");
	assert_int_equal(bh_json_int(row, "samples", 0), 4);
	assert_int_equal(bh_json_int(row, "scored", -1), 0);
	assert_int_equal(bh_json_int(row, "failed", -1), 0);
	assert_int_equal(bh_json_int(row, "evaluator_errors", 0), 4);
	assert_true(json_is_null(json_object_get(row, "accuracy")));
	assert_non_null(strstr(bh_json_str(row, "first_error"), "evaluator failed"));
	json_decref(rep);
	bhive_runner_free(r);
	/* Resumed: every answer is in the store, nothing is paid for twice. */
	reset_net(state);
	r = bhive_runner_new(cl, st, "test source", &err);
	add_job(r, "test.good-v1:0", 0, ds, ev);
	assert_int_equal(bhive_runner_run(r, &err), 0);
	assert_int_equal(net.total, 0);
	bhive_runner_free(r);
	bhive_client_free(cl);
	bhive_store_close(st);
	bhive_evaluator_free(ev);
	bhive_dataset_free(ds);
}

static void test_grid(void **state)
{
	bhive_error err;
	json_t *g =
	    json_loads("{\"models\": [\"a\", [\"a\", \"b\"]], \"reflections\": [0, 2],"
	               " \"aggregators\": [null, \"c\"], \"verifiers\": [null, \"arithmetic\"],"
	               " \"base\": {\"early_stop\": 1}}",
	               0, NULL);
	json_t *pts = bhive_grid_expand(g, &err);
	assert_non_null(pts);
	/* a: r=0 without verifier, r=2 with and without; a+b: 2 x 2 x 2 */
	assert_int_equal(json_array_size(pts), 3 + 8);
	assert_string_equal(bh_json_str(json_array_get(pts, 0), "name"), "a r=0");
	assert_string_equal(bh_json_str(json_array_get(pts, 1), "name"), "a r=2");
	assert_true(json_is_true(
	    json_object_get(json_object_get(json_array_get(pts, 3), "config"), "vote")));
	const json_t *last = json_array_get(pts, 10);
	assert_string_equal(bh_json_str(last, "name"), "a+b r=2 agg=c ver=arithmetic");
	assert_string_equal(bh_json_str(last, "verifier"), "arithmetic");
	const json_t *cfg = json_object_get(last, "config");
	assert_int_equal(bh_json_int(cfg, "early_stop", 0), 1);
	assert_string_equal(bh_json_str(cfg, "aggregator"), "c");
	bhive_config *c = bhive_config_from_json(cfg, &err);
	assert_non_null(c);
	bhive_config_free(c);
	json_decref(pts);
	json_decref(g);
	/* Row names shorten model ids; configs keep them whole. */
	g = json_loads("{\"models\": [\"us.anthropic.claude-3-haiku-20240307-v1:0\"]}", 0, NULL);
	pts = bhive_grid_expand(g, &err);
	assert_string_equal(bh_json_str(json_array_get(pts, 0), "name"),
	                    "claude-3-haiku-20240307 r=0");
	assert_string_equal(
	    json_string_value(json_array_get(
	        json_object_get(json_object_get(json_array_get(pts, 0), "config"), "models"), 0)),
	    "us.anthropic.claude-3-haiku-20240307-v1:0");
	json_decref(pts);
	json_decref(g);
	static const char *const bad[] = {
	    "{\"models\": []}",
	    "{\"models\": [\"a\"], \"reflections\": [-1]}",
	    "{\"models\": [\"a\"], \"reflection\": [1]}",
	    "{\"models\": [[1]]}",
	    "[1]",
	    "{\"models\": [\"a\"], \"verifiers\": []}",
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(bad); i++) {
		g = json_loads(bad[i], 0, NULL);
		assert_null(bhive_grid_expand(g, &err));
		assert_int_equal(err.code, BHIVE_ERR_INVALID);
		json_decref(g);
	}
}

/* The order of choice: accuracy, then cost, then latency; early stops never win. */
static void test_select_order(void **state)
{
	static const struct {
		const char *rows;
		double max_cost, max_secs;
		int best;
	} cases[] = {
	    {"[{\"accuracy\":0.9,\"mean_cost_usd\":2,\"mean_wall_ms\":10,\"samples\":5},"
	     "{\"accuracy\":0.9,\"mean_cost_usd\":1,\"mean_wall_ms\":50,\"samples\":5}]",
	     0, 0, 1},
	    {"[{\"accuracy\":0.9,\"mean_cost_usd\":1,\"mean_wall_ms\":10,\"samples\":5},"
	     "{\"accuracy\":0.9,\"mean_cost_usd\":1,\"mean_wall_ms\":50,\"samples\":5}]",
	     0, 0, 0},
	    {"[{\"accuracy\":0.5,\"mean_cost_usd\":1,\"mean_wall_ms\":10,\"samples\":5},"
	     "{\"accuracy\":0.9,\"mean_cost_usd\":3,\"mean_wall_ms\":50,\"samples\":5}]",
	     2, 0, 0},
	    {"[{\"accuracy\":0.5,\"mean_cost_usd\":1,\"mean_wall_ms\":10,\"samples\":5},"
	     "{\"accuracy\":0.9,\"mean_cost_usd\":1,\"mean_wall_ms\":5000,\"samples\":5}]",
	     0, 1, 0},
	    {"[{\"accuracy\":0.5,\"mean_cost_usd\":1,\"mean_wall_ms\":10,\"samples\":5},"
	     "{\"accuracy\":1.0,\"mean_cost_usd\":0.1,\"mean_wall_ms\":1,\"samples\":5,"
	     "\"stopped_early\":true}]",
	     0, 0, 0},
	    {"[{\"accuracy\":null,\"mean_cost_usd\":1,\"mean_wall_ms\":10,\"samples\":5}]", 0, 0,
	     -1},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		json_t *rep = json_pack("{s:s, s:o}", "source", "x", "rows",
		                        json_loads(cases[i].rows, 0, NULL));
		assert_int_equal(
		    bhive_optimise_select(rep, cases[i].max_cost, cases[i].max_secs, NULL), 0);
		assert_int_equal(bh_json_int(rep, "best", -1), cases[i].best);
		json_decref(rep);
	}
}

static char *write_to_string(int (*fn)(FILE *, const json_t *), const json_t *rep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(fn(f, rep), 0);
	fclose(f);
	return buf;
}

/* CSV: header, quoting, the source on every row, label columns; the table names its source. */
static void test_report_writers(void **state)
{
	json_t *rep =
	    json_loads("{\"source\": \"simulated models (bhive-emulator)\", \"rows\": [{\"name\": "
	               "\"easy, r=1\","
	               " \"models\": [\"a\", \"b\"], \"reflections\": 1, \"difficulty\": \"easy\","
	               " \"samples\": 3, \"total\": 4, \"accuracy\": 0.5, \"mean_cost_usd\": 0.25,"
	               " \"mean_wall_ms\": 1500, \"stopped_early\": false}]}",
	               0, NULL);
	char *csv = write_to_string(bhive_report_write_csv, rep);
	assert_true(bh_starts_with(csv, "name,source,dataset,evaluator,models,reflections,"));
	assert_non_null(strstr(csv, ",difficulty\r\n"));
	assert_non_null(
	    strstr(csv, "\r\n\"easy, r=1\",simulated models (bhive-emulator),,,a+b,1,"));
	assert_non_null(strstr(csv, ",0.5,0.25,"));
	assert_true(bh_ends_with(csv, ",easy\r\n"));
	free(csv);
	char *table = write_to_string(bhive_report_write_table, rep);
	assert_true(bh_starts_with(table, "Figures from: simulated models (bhive-emulator)\n"));
	assert_non_null(strstr(table, "50.0%"));
	assert_non_null(strstr(table, "3/4"));
	free(table);
	char *js = write_to_string(bhive_report_write_json, rep);
	json_t *back = json_loads(js, 0, NULL);
	assert_true(json_equal(back, rep));
	json_decref(back);
	free(js);
	json_decref(rep);
}

/* Sources: an AWS endpoint is never probed; simulated sources are recognised. */
static void test_source(void **state)
{
	bhive_client_options o;
	bhive_error err;
	char out[256];
	bhive_client_options_init(&o);
	o.region = "eu-west-3";
	o.access_key_id = "AKIDEXAMPLE";
	o.secret_access_key = "x";
	bhive_client *cl = bhive_client_new(&o, &err);
	assert_non_null(cl);
	assert_string_equal(bhive_bench_source(cl, out, sizeof(out)), "Amazon Bedrock (eu-west-3)");
	bhive_client_free(cl);
	assert_true(bhive_source_is_simulated("simulated models (bhive-emulator)"));
	assert_false(bhive_source_is_simulated("Amazon Bedrock (us-east-1)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_run_figures, reset_net, free_net),
	    cmocka_unit_test_setup_teardown(test_resume, reset_net, free_net),
	    cmocka_unit_test_setup_teardown(test_budget_and_best, reset_net, free_net),
	    cmocka_unit_test_setup_teardown(test_time_budget, reset_net, free_net),
	    cmocka_unit_test_setup_teardown(test_unscored_and_failed, reset_net, free_net),
	    cmocka_unit_test_setup_teardown(test_evaluator_failure, reset_net, free_net),
	    cmocka_unit_test(test_grid),
	    cmocka_unit_test(test_select_order),
	    cmocka_unit_test(test_report_writers),
	    cmocka_unit_test(test_source),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
