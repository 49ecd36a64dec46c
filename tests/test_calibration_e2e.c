/*
 * test_calibration_e2e.c - the simulated Claude 3 Sonnet's accuracy curves
 * through the real path: `bhive bench --arithmetic` (dataset generator,
 * hive engine, SigV4 client, in-tags evaluator) against the bhive-emulator
 * binary at time scale 0. The figures must lie within +-0.05 of the
 * published ones at rounds 0 and 3 on medium and hard, and must equal what
 * the in-process calibration (emulator/calibration.c, which fits the
 * reasoner) computes for the same questions and seed: when the two paths
 * drift apart, the fit no longer describes what users see.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "calibration.h"
#include "test_emulator_harness.h"

#define SONNET3 "anthropic.claude-3-sonnet-20240229-v1:0"
#define QUESTIONS 1000 /* one standard error is about 0.015 */
#define SEED 2024
#define TEXT_OF(x) #x
#define TEXT(x) TEXT_OF(x)
#define TOLERANCE 0.05

/* The points checked: both difficulties where reflection matters, before
 * reflecting and after three rounds. */
static const struct {
	int difficulty;
	int rounds;
} points[] = {
    {EMU_MEDIUM, 0},
    {EMU_MEDIUM, 3},
    {EMU_HARD, 0},
    {EMU_HARD, 3},
};

typedef struct e2e {
	emu_proc emu;
	char dir[64];
	char store[96];
	json_t *report; /* bhive bench --output json */
} e2e;

/* Reads fd to its end; false when it stays silent for a minute. */
static bool read_all(int fd, bh_buf *out)
{
	char chunk[4096];
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, 60000) <= 0)
			return false;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			return true;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || bh_buf_append(out, chunk, (size_t)n))
			return false;
	}
}

/* Runs bhive with argv (NULL-terminated) and returns its stdout when it
 * exits 0, else NULL. Any key works: the emulator runs without keys. */
static char *run_cli(const char *const *argv)
{
	int fds[2];
	bh_buf out;
	if (pipe(fds) != 0)
		return NULL;
	setenv("AWS_ACCESS_KEY_ID", "AKIDCALIBRATIONE2E", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "calibration-e2e-any-key-works", 1);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (!getenv("BHIVE_TEST_VERBOSE") && !freopen("/dev/null", "w", stderr))
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	bh_buf_init(&out, (size_t)64 << 20);
	bool ok = pid > 0 && read_all(fds[0], &out);
	close(fds[0]);
	int status = 0;
	if (pid > 0 && (!ok || waitpid(pid, &status, 0) != pid))
		ok = false;
	if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		bh_buf_release(&out);
		return NULL;
	}
	return bh_buf_steal(&out);
}

/* The benchmark as a user runs it: both difficulties, 0 and 3 rounds. */
static json_t *run_bench(const e2e *t)
{
	char arg_medium[32], arg_hard[32];
	snprintf(arg_medium, sizeof(arg_medium), "medium:%d", QUESTIONS);
	snprintf(arg_hard, sizeof(arg_hard), "hard:%d", QUESTIONS);
	const char *const argv[] = {BHIVE_CLI_BIN,    "bench",         "--arithmetic",
	                            arg_medium,       "--arithmetic",  arg_hard,
	                            "--seed",         TEXT(SEED),      "--model",
	                            SONNET3,          "--reflections", "0,3",
	                            "--endpoint-url", t->emu.url,      "--region",
	                            "us-east-1",      "--store",       t->store,
	                            "--no-progress",  "--concurrency", "64",
	                            "--output",       "json",          NULL};
	char *text = run_cli(argv);
	json_t *report =
	    text ? bh_json_parse(text, strlen(text), "bhive bench output", NULL) : NULL;
	bh_free(text);
	return report;
}

static int setup(void **state)
{
	static const char *const emu_args[] = {"--time-scale", "0", "--seed", TEXT(SEED), NULL};
	e2e *t = bh_calloc(1, sizeof(*t));
	if (!t)
		return -1;
	*state = t;
	snprintf(t->dir, sizeof(t->dir), "/tmp/bhive-calib-e2e-XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->store, sizeof(t->store), "%s/results.db", t->dir);
	if (!emu_proc_start(&t->emu, emu_args))
		return -1;
	t->report = run_bench(t);
	return t->report ? 0 : -1;
}

static int teardown(void **state)
{
	e2e *t = *state;
	if (!t)
		return 0;
	if (t->emu.pid > 0)
		emu_proc_stop(&t->emu);
	json_decref(t->report);
	if (t->store[0])
		unlink(t->store);
	if (t->dir[0])
		rmdir(t->dir);
	bh_free(t);
	return 0;
}

/* The report's row for one difficulty and round count; fails when missing. */
static const json_t *find_row(const json_t *report, int difficulty, int rounds)
{
	size_t i;
	json_t *row;
	json_array_foreach(json_object_get(report, "rows"), i, row)
	{
		if (bh_streq(bh_json_str(row, "difficulty"), emu_difficulty_name(difficulty)) &&
		    bh_json_int(row, "reflections", -1) == rounds)
			return row;
	}
	fail_msg("no row for %s with %d reflections", emu_difficulty_name(difficulty), rounds);
	return NULL;
}

/* Every question was asked and scored: nothing failed on the way. */
static void test_every_question_scored(void **state)
{
	e2e *t = *state;
	for (size_t i = 0; i < BH_ARRAY_LEN(points); i++) {
		const json_t *row = find_row(t->report, points[i].difficulty, points[i].rounds);
		assert_int_equal(bh_json_int(row, "scored", -1), QUESTIONS);
		assert_int_equal(bh_json_int(row, "failed", -1), 0);
	}
}

static void test_within_published(void **state)
{
	e2e *t = *state;
	for (size_t i = 0; i < BH_ARRAY_LEN(points); i++) {
		int d = points[i].difficulty, k = points[i].rounds;
		const json_t *row = find_row(t->report, d, k);
		double acc = json_real_value(json_object_get(row, "accuracy"));
		double pub = emu_published_accuracy(d, k);
		if (fabs(acc - pub) > TOLERANCE)
			fail_msg("%s round %d through bhive bench: %.3f, published %.2f",
			         emu_difficulty_name(d), k, acc, pub);
	}
}

/* Same questions, same seed: the counts of right answers must be equal. */
static void test_equals_in_process(void **state)
{
	e2e *t = *state;
	emu_reasoner_params p = emu_default_model_params(emu_default_model_find(SONNET3));
	for (size_t i = 0; i < BH_ARRAY_LEN(points); i++) {
		int d = points[i].difficulty, k = points[i].rounds;
		emu_calib_result r;
		bhive_error err = {0};
		assert_int_equal(emu_calibrate(&p, d, QUESTIONS, k, SEED, &r, &err), 0);
		const json_t *row = find_row(t->report, d, k);
		long e2e_right =
		    lround(json_real_value(json_object_get(row, "accuracy")) * QUESTIONS);
		long calib_right = lround(r.accuracy[k] * QUESTIONS);
		if (e2e_right != calib_right)
			fail_msg("%s round %d: bhive bench got %ld of %d right, in-process "
			         "calibration %ld",
			         emu_difficulty_name(d), k, e2e_right, QUESTIONS, calib_right);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_question_scored),
	    cmocka_unit_test(test_within_published),
	    cmocka_unit_test(test_equals_in_process),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
