/* test_bench_data.c - datasets, evaluators and the results store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bhive/bench.h"
#include "util/util.h"

static char tmpdir[64];

static int setup(void **state)
{
	bh_strlcpy(tmpdir, "/tmp/bhive-bench-XXXXXX", sizeof(tmpdir));
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *write_file(const char *name, const char *text)
{
	char *path = bh_asprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static int bad_lines[8], nbad;
static void on_bad(void *ud, int line, const char *problem)
{
	if (nbad < 8)
		bad_lines[nbad++] = line;
}

static void test_jsonl(void **state)
{
	char *p = write_file("d.jsonl",
	                     "{\"prompt\": \"What is 2 + 2?\", \"expected\": 4}\n"
	                     "\n"
	                     "{\"prompt\": 5}\n"
	                     "not json\n"
	                     "{\"id\": \"m\", \"messages\": [{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}],"
	                     " \"expected\": \"hello\"}\n");
	bhive_error err;
	bhive_dataset *ds = bhive_dataset_load_jsonl(p, BHIVE_BAD_LINE_FAIL, NULL, NULL, &err);
	assert_null(ds);
	assert_int_equal(err.code, BHIVE_ERR_PARSE);
	assert_int_equal(err.line, 3);
	assert_non_null(strstr(err.message, "line 3"));

	nbad = 0;
	ds = bhive_dataset_load_jsonl(p, BHIVE_BAD_LINE_SKIP, on_bad, NULL, &err);
	assert_non_null(ds);
	assert_int_equal(nbad, 2);
	assert_int_equal(bad_lines[0], 3);
	assert_int_equal(bad_lines[1], 4);
	assert_int_equal(bhive_dataset_size(ds), 2);
	const bhive_sample *s = bhive_dataset_get(ds, 0);
	assert_string_equal(s->expected, "4");
	assert_string_equal(s->id, "1");
	assert_int_equal(s->line, 1);
	s = bhive_dataset_get(ds, 1);
	assert_string_equal(s->id, "m");
	assert_int_equal(s->line, 5);
	json_t *req = bhive_sample_request(s);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(json_array_get(
	                                           json_object_get(req, "messages"), 0), "content"), 0),
	                        "text")), "hi");
	json_decref(req);
	assert_true(bhive_dataset_has_expected(ds));
	assert_null(bhive_dataset_get(ds, 2));
	bhive_dataset_free(ds);
	free(p);
}

static void test_arithmetic(void **state)
{
	bhive_error err;
	bhive_dataset *a = bhive_dataset_arithmetic("medium", 50, 7, &err);
	bhive_dataset *b = bhive_dataset_arithmetic("medium", 50, 7, &err);
	assert_non_null(a);
	assert_string_equal(bhive_dataset_fingerprint(a), bhive_dataset_fingerprint(b));
	for (size_t i = 0; i < 50; i++) {
		const bhive_sample *s = bhive_dataset_get(a, i);
		long v[6];
		assert_int_equal(sscanf(s->prompt, "What is the result of %ld+%ld*%ld+%ld-%ld*%ld?", &v[0],
		                        &v[1], &v[2], &v[3], &v[4], &v[5]), 6);
		for (int k = 0; k < 6; k++)
			assert_true(v[k] >= 250 && v[k] < 750);
		char want[32];
		snprintf(want, sizeof(want), "%ld", v[0] + v[1] * v[2] + v[3] - v[4] * v[5]);
		assert_string_equal(s->expected, want);
		assert_non_null(strstr(s->prompt, "Make sure to state your answer in <answer> </answer> tags."));
	}
	bhive_dataset_free(a);
	bhive_dataset_free(b);
	assert_null(bhive_dataset_arithmetic("impossible", 5, 1, &err));
	assert_int_equal(err.code, BHIVE_ERR_INVALID);
}

static double score(const char *spec, const char *answer, const char *expected)
{
	bhive_error err;
	bhive_evaluator *ev = bhive_evaluator_new(spec, &err);
	assert_non_null(ev);
	double s = -1;
	assert_int_equal(bhive_evaluate(ev, answer, expected, &s, &err), 0);
	bhive_evaluator_free(ev);
	return s;
}

static void test_evaluators(void **state)
{
	assert_true(score("exact", "  Paris \n", "paris") == 1.0);
	assert_true(score("exact", "Paris.", "paris") == 0.0);
	assert_true(score("contains", "The capital is Paris.", "paris") == 1.0);
	assert_true(score("in-tags", "so <answer>12</answer> no <answer> 42 </answer>", "42") == 1.0);
	assert_true(score("in-tags", "42", "42") == 0.0);
	assert_true(score("in-tags:sql", "<sql>SELECT 1</sql>", "select 1") == 1.0);
	assert_true(score("numeric", "the total is 1,234.5 units", "1234.5") == 1.0);
	assert_true(score("numeric", "<answer>-17</answer> then 99", "-17") == 1.0);
	assert_true(score("numeric:0.01", "3.14", "3.1416") == 1.0);
	assert_true(score("numeric", "no number", "3") == 0.0);
	assert_true(score("cmd:sh -c 'test \"$BHIVE_ANSWER\" = \"$BHIVE_EXPECTED\" && echo 1 || echo 0'",
	                  "yes", "yes") == 1.0);
	assert_true(score("cmd:sh -c 'cat >/dev/null; echo 0.5'", "x", "y") == 0.5);

	bhive_error err;
	assert_null(bhive_evaluator_new("fuzzy", &err));
	assert_non_null(strstr(err.message, "unknown evaluator \"fuzzy\""));
	assert_null(bhive_evaluator_new("numeric:abc", &err));
	bhive_evaluator *ev = bhive_evaluator_new("cmd:sh -c 'exit 3'", &err);
	double s;
	assert_int_equal(bhive_evaluate(ev, "a", "b", &s, &err), BHIVE_ERR_IO);
	assert_non_null(strstr(err.message, "exit status 3"));
	bhive_evaluator_free(ev);
	ev = bhive_evaluator_new("cmd:echo nothing", &err);
	assert_int_equal(bhive_evaluate(ev, "a", "b", &s, &err), BHIVE_ERR_PARSE);
	bhive_evaluator_free(ev);
}

static void test_store(void **state)
{
	char *path = bh_asprintf("%s/r.db", tmpdir);
	bhive_error err;
	bhive_store *st = bhive_store_open(path, &err);
	assert_non_null(st);
	json_t *cfg = json_pack("{s:[s], s:i}", "models", "m", "reflections", 2);
	int64_t run = bhive_store_run(st, "r2", cfg, "abc", "d", "in-tags", "simulated", &err);
	assert_true(run > 0);
	assert_false(bhive_store_has_sample(st, run, 3));
	bhive_sample_result r = { .index = 3, .sample_id = "s3", .answer = "<answer>1</answer>",
	                          .expected = "1", .score = 1.0, .input_tokens = 10,
	                          .output_tokens = 5, .cost_usd = 0.25, .latency_ms = 100,
	                          .wall_ms = 120, .calls = 3 };
	assert_int_equal(bhive_store_put(st, run, &r, &err), 0);
	r.score = 0.0; /* a second put of the same index keeps the first */
	assert_int_equal(bhive_store_put(st, run, &r, &err), 0);
	r.index = 4, r.cost_usd = 0.75, r.answer = NULL, r.error = "throttled";
	assert_int_equal(bhive_store_put(st, run, &r, &err), 0);
	bhive_store_close(st);

	st = bhive_store_open(path, &err); /* reopen: same run, samples kept */
	assert_non_null(st);
	assert_int_equal(bhive_store_run(st, "r2", cfg, "abc", "d", "in-tags", "simulated", &err), run);
	assert_true(bhive_store_has_sample(st, run, 3));
	bhive_run_summary sum;
	assert_int_equal(bhive_store_summary(st, run, &sum, &err), 0);
	assert_int_equal(sum.samples, 2);
	assert_int_equal(sum.errors, 1);
	assert_true(sum.accuracy > 0.49 && sum.accuracy < 0.51);
	assert_true(sum.total_cost_usd > 0.99 && sum.total_cost_usd < 1.01);
	assert_true(bhive_store_run(st, "r3", cfg, "abd", "d", "in-tags", "simulated", &err) != run);
	bhive_store_close(st);
	json_decref(cfg);
	free(path);
}

static void test_store_refuses_foreign(void **state)
{
	bhive_error err;
	char *junk = write_file("junk.db", "this is not a database at all, just text\n");
	assert_null(bhive_store_open(junk, &err));
	assert_int_equal(err.code, BHIVE_ERR_STORE);
	size_t len;
	char *after = bh_read_file(junk, 0, &len, NULL);
	assert_string_equal(after, "this is not a database at all, just text\n");
	bh_free(after);

	char *foreign = bh_asprintf("%s/foreign.db", tmpdir);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "sqlite3 %s 'CREATE TABLE t(x); INSERT INTO t VALUES (1);'", foreign);
	if (system(cmd) == 0) {
		assert_null(bhive_store_open(foreign, &err));
		assert_non_null(strstr(err.message, "another application"));
	}
	free(junk);
	free(foreign);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonl),
		cmocka_unit_test(test_arithmetic),
		cmocka_unit_test(test_evaluators),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_store_refuses_foreign),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
