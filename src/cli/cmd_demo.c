/*
 * cmd_demo.c - `bhive demo`: the arithmetic benchmark of the original on
 * SIMULATED models, in one command and without AWS. It starts
 * bhive-emulator on a free loopback port, runs easy, medium and hard
 * questions with 0 to 5 rounds of reflection, prints the table beside the
 * original's published figures, writes the plots, shows a short debate,
 * and stops the emulator again (Ctrl-C included).
 */
#include "cli_bench.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEMO_MODEL "anthropic.claude-3-sonnet-20240229-v1:0"

/*
 * The published figures of the Python original (BedrockHive), real Amazon
 * Bedrock, DEMO_MODEL, self-reflection only: accuracy by rounds.
 */
static const char published_source[] =
    "published, real Bedrock: aws-samples/sample-genai-reflection-for-bedrock "
    "examples/benchmarks";
static const int published_rounds[] = {0, 1, 2, 3, 5};
static const struct {
	const char *difficulty;
	double accuracy[5];
} published[] = {
    {"easy", {0.84, 1.00, 1.00, 1.00, 1.00}},
    {"medium", {0.47, 0.55, 0.58, 0.61, 0.62}},
    {"hard", {0.22, 0.28, 0.30, 0.30, 0.31}},
};

static const char *const debate_models[] = {"anthropic.claude-3-sonnet-20240229-v1:0",
                                            "anthropic.claude-3-haiku-20240307-v1:0",
                                            "meta.llama3-70b-instruct-v1:0"};
#define DEBATE_AGGREGATOR "anthropic.claude-3-5-sonnet-20240620-v1:0"

typedef struct demo_args {
	bench_common c;
	const char *emulator;
	double time_scale;
	long debate_questions;
	char store_tmp[64];
} demo_args;

typedef struct emulator_proc {
	pid_t pid;
	char url[64];
} emulator_proc;

static const char demo_usage[] =
    "usage: bhive demo [--samples N] [--plots DIR] [options]\n"
    "\n"
    "Runs the original's arithmetic benchmark (easy, medium, hard x 0, 1, 2, 3, 5 rounds of\n"
    "reflection) on SIMULATED models served by a local bhive-emulator: no AWS account, no\n"
    "cost. Prints the table beside the original's published figures from real Bedrock,\n"
    "writes the plots and shows a short debate of three models with an aggregator.\n"
    "\n"
    "  --samples N               questions per difficulty (default 100)\n"
    "  --plots DIR               where the PNG charts go (default ./bhive-demo)\n"
    "  --time-scale X            simulated latency factor (default 0.05: quick)\n"
    "  --debate-questions N      questions for the debate example (default 3; 0: none)\n"
    "  --emulator PATH           the bhive-emulator binary (default: next to bhive,\n"
    "                            $BHIVE_EMULATOR, then PATH)\n"
    "  --store FILE              keep the results in FILE (default: a temporary file)\n"
    "  --concurrency N           conversations in flight (default 64)\n"
    "  --seed S                  seed of the questions and of the emulator (default 1)\n"
    "  --output table|json|csv   the report's form on stdout (default table)\n"
    "  --no-progress             no progress line\n";

enum {
	DOPT_SAMPLES = 1,
	DOPT_PLOTS,
	DOPT_TIME_SCALE,
	DOPT_DEBATE,
	DOPT_EMULATOR,
	DOPT_STORE,
	DOPT_CONCURRENCY,
	DOPT_SEED,
	DOPT_OUTPUT,
	DOPT_NO_PROGRESS,
	DOPT_HELP
};

static const struct option demo_options[] = {
    {"samples", required_argument, NULL, DOPT_SAMPLES},
    {"plots", required_argument, NULL, DOPT_PLOTS},
    {"time-scale", required_argument, NULL, DOPT_TIME_SCALE},
    {"debate-questions", required_argument, NULL, DOPT_DEBATE},
    {"emulator", required_argument, NULL, DOPT_EMULATOR},
    {"store", required_argument, NULL, DOPT_STORE},
    {"concurrency", required_argument, NULL, DOPT_CONCURRENCY},
    {"seed", required_argument, NULL, DOPT_SEED},
    {"output", required_argument, NULL, DOPT_OUTPUT},
    {"no-progress", no_argument, NULL, DOPT_NO_PROGRESS},
    {"help", no_argument, NULL, DOPT_HELP},
    {NULL, 0, NULL, 0}};

static int whole(const char *opt, const char *v, long lo, long hi, long *out)
{
	if (cli_parse_long(v, out) || *out < lo || *out > hi) {
		cli_error("%s needs a whole number from %ld to %ld, got \"%s\"", opt, lo, hi, v);
		return -1;
	}
	return 0;
}

static int demo_option(demo_args *a, int code, const char *v)
{
	switch (code) {
	case DOPT_SAMPLES:
		return whole("--samples", v, 1, 100000, &a->c.default_samples);
	case DOPT_DEBATE:
		return whole("--debate-questions", v, 0, 100, &a->debate_questions);
	case DOPT_CONCURRENCY:
		return whole("--concurrency", v, 1, 100000, &a->c.concurrency);
	case DOPT_SEED:
		return whole("--seed", v, 0, 0x7fffffffL, &a->c.seed);
	case DOPT_PLOTS:
		a->c.plots_dir = v;
		return 0;
	case DOPT_EMULATOR:
		a->emulator = v;
		return 0;
	case DOPT_STORE:
		a->c.store_path = v;
		return 0;
	case DOPT_NO_PROGRESS:
		a->c.progress = 0;
		return 0;
	case DOPT_OUTPUT:
		a->c.output = v;
		if (!strcmp(v, "table") || !strcmp(v, "json") || !strcmp(v, "csv"))
			return 0;
		cli_error("--output must be table, json or csv, got \"%s\"", v);
		return -1;
	case DOPT_TIME_SCALE:
		if (cli_parse_double(v, &a->time_scale) == 0 && a->time_scale >= 0)
			return 0;
		cli_error("--time-scale needs a number >= 0, got \"%s\"", v);
		return -1;
	default:
		return -1;
	}
}

static int parse_demo(demo_args *a, int argc, char **argv)
{
	int code;
	bench_common_init(&a->c);
	a->c.plots_dir = "bhive-demo";
	a->c.default_samples = 100; /* as the original benchmark: 100 questions a difficulty */
	a->c.concurrency = 64;
	a->c.store_path = NULL;
	a->time_scale = 0.05;
	a->debate_questions = 3;
	opterr = 0;
	optind = 1;
	int idx = -1;
	while ((code = getopt_long(argc, argv, "+h", demo_options, &idx)) != -1) {
		if (code == DOPT_HELP || code == 'h')
			return 1;
		if (code == '?' || code == ':') {
			cli_error("unknown option or missing value: \"%s\"", argv[optind - 1]);
			return -1;
		}
		if (cli_check_value(demo_options, idx, optarg) || demo_option(a, code, optarg))
			return -1;
		idx = -1;
	}
	if (optind < argc) {
		cli_error("unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	return 0;
}

/* ---- the emulator ------------------------------------------------------ */

/* bhive-emulator next to this bhive, else $BHIVE_EMULATOR, else PATH. */
static char *find_emulator(const char *given)
{
	if (given)
		return strdup(given);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash && (size_t)(slash - self) + 16 < sizeof(self)) {
			snprintf(slash + 1, sizeof(self) - (size_t)(slash + 1 - self),
			         "bhive-emulator");
			if (access(self, X_OK) == 0)
				return strdup(self);
		}
	}
	const char *env = getenv("BHIVE_EMULATOR");
	return strdup(env && *env ? env : "bhive-emulator");
}

/* Reads "listening http://127.0.0.1:PORT" from the emulator's stdout. */
static int read_listening(int fd, char *url, size_t n)
{
	char line[256];
	size_t len = 0;
	while (len + 1 < sizeof(line)) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 15000) <= 0 || read(fd, line + len, 1) != 1)
			return -1;
		if (line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	const char *u = strstr(line, "http://");
	if (strncmp(line, "listening ", 10) || !u)
		return -1;
	snprintf(url, n, "%s", u);
	return 0;
}

static void exec_emulator(const char *path, int out_fd, const demo_args *a)
{
	char scale[32], seed[32];
	snprintf(scale, sizeof(scale), "%g", a->time_scale);
	snprintf(seed, sizeof(seed), "%ld", a->c.seed);
	/* The emulator must not outlive us, even after kill -9. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	dup2(out_fd, 1);
	if (!freopen("/dev/null", "w", stderr))
		_exit(126);
	execlp(path, path, "--port", "0", "--bind", "127.0.0.1", "--time-scale", scale, "--seed",
	       seed, (char *)NULL);
	_exit(127);
}

static int start_emulator(emulator_proc *e, const demo_args *a)
{
	char *path = find_emulator(a->emulator);
	int fds[2];
	if (!path || pipe(fds)) {
		free(path);
		cli_error("cannot start bhive-emulator: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	e->pid = fork();
	if (e->pid == 0)
		exec_emulator(path, fds[1], a);
	close(fds[1]);
	int rc = e->pid > 0 ? read_listening(fds[0], e->url, sizeof(e->url)) : -1;
	close(fds[0]);
	if (rc)
		cli_error(
		    "bhive-emulator (\"%s\") did not start: build it, put it next to bhive, or "
		    "give --emulator PATH or BHIVE_EMULATOR",
		    path);
	free(path);
	return rc;
}

static void stop_emulator(emulator_proc *e)
{
	if (e->pid <= 0)
		return;
	kill(e->pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(e->pid, NULL, WNOHANG) == e->pid) {
			e->pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(e->pid, SIGKILL);
	waitpid(e->pid, NULL, 0);
	e->pid = 0;
}

/* ---- the published figures --------------------------------------------- */

static json_t *reference_series(void)
{
	json_t *series = json_object();
	for (size_t d = 0; d < sizeof(published) / sizeof(published[0]); d++) {
		json_t *pts = json_array();
		for (size_t k = 0; k < 5; k++)
			json_array_append_new(
			    pts, json_pack("[i,f]", published_rounds[k], published[d].accuracy[k]));
		json_object_set_new(series, published[d].difficulty, pts);
	}
	return json_pack("{s:s, s:o}", "label", "published, real Bedrock", "series", series);
}

static const json_t *find_row(const json_t *report, const char *difficulty, int rounds)
{
	const json_t *rows = json_object_get(report, "rows");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const json_t *row = json_array_get(rows, i);
		if (cli_jstr(row, "difficulty") &&
		    !strcmp(cli_jstr(row, "difficulty"), difficulty) &&
		    cli_jint(row, "reflections", -1) == rounds)
			return row;
	}
	return NULL;
}

static void print_comparison(const json_t *report)
{
	printf("\nAccuracy by rounds of reflection: SIMULATED here / %s\n", published_source);
	printf("%-8s", "");
	for (size_t k = 0; k < 5; k++)
		printf("   r=%-11d", published_rounds[k]);
	printf("\n");
	for (size_t d = 0; d < sizeof(published) / sizeof(published[0]); d++) {
		printf("%-8s", published[d].difficulty);
		for (size_t k = 0; k < 5; k++) {
			const json_t *row =
			    find_row(report, published[d].difficulty, published_rounds[k]);
			const json_t *acc = json_object_get(row, "accuracy");
			char here[16];
			if (json_is_number(acc))
				snprintf(here, sizeof(here), "%3.0f%%",
				         100.0 * json_number_value(acc));
			else
				snprintf(here, sizeof(here), "  -");
			printf("   %s / %3.0f%%  ", here, 100.0 * published[d].accuracy[k]);
		}
		printf("\n");
	}
}

/* ---- the debate example ------------------------------------------------ */

static json_t *debate_config(void)
{
	json_t *models = json_array();
	for (size_t i = 0; i < sizeof(debate_models) / sizeof(debate_models[0]); i++)
		json_array_append_new(models, json_string(debate_models[i]));
	return json_pack("{s:o, s:i, s:s}", "models", models, "num_reflections", 1, "aggregator",
	                 DEBATE_AGGREGATOR);
}

static void print_debate_result(const bhive_sample *smp, const bhive_result *r)
{
	const char *answer = bhive_result_answer(r);
	const char *open = answer ? strstr(answer, "<answer>") : NULL;
	const char *close = open ? strstr(open, "</answer>") : NULL;
	printf("  %s\n    expected %s; debate answer: ", smp->prompt, smp->expected);
	if (bhive_result_code(r))
		printf("failed: %s\n", bhive_result_error(r)->message);
	else if (open && close)
		printf("%.*s", (int)(close - open - 8), open + 8);
	else
		printf("%s", answer ? answer : "(none)");
	if (!bhive_result_code(r))
		printf("  (%d calls, $%.5f, %.1f s)\n", bhive_result_calls(r),
		       bhive_result_cost_usd(r), bhive_result_wall_ms(r) / 1000.0);
}

/* Three SIMULATED models debate one round, an aggregator answers. */
static int run_debate(bench_session *s, long n)
{
	bhive_error err = {0};
	json_t *cj = debate_config();
	bhive_config *cfg = bhive_config_from_json(cj, &err);
	bhive_dataset *ds = cfg ? bhive_dataset_arithmetic("medium", (size_t)n, 7, &err) : NULL;
	json_decref(cj);
	if (!ds) {
		cli_error("debate: %s", err.message);
		bhive_config_free(cfg);
		return CLI_EXIT_FAILURE;
	}
	printf("\nDebate (SIMULATED): %s, %s and %s, one round of debate, aggregator %s\n",
	       debate_models[0], debate_models[1], debate_models[2], DEBATE_AGGREGATOR);
	for (size_t i = 0; i < bhive_dataset_size(ds); i++) {
		const bhive_sample *smp = bhive_dataset_get(ds, i);
		json_t *req = bhive_sample_request(smp);
		bhive_result *failed = NULL;
		bhive_result *r = bhive_hive_converse(s->client, cfg, req, &failed, &err);
		print_debate_result(smp, r ? r : failed);
		bhive_result_free(r);
		bhive_result_free(failed);
		json_decref(req);
	}
	bhive_dataset_free(ds);
	bhive_config_free(cfg);
	return 0;
}

/* ---- the run ----------------------------------------------------------- */

static int add_demo_jobs(bench_session *s)
{
	int rc = 0;
	for (size_t k = 0; !rc && k < 5; k++) {
		json_t *cfg = json_pack("{s:[s], s:i}", "models", DEMO_MODEL, "num_reflections",
		                        published_rounds[k]);
		char name[32];
		snprintf(name, sizeof(name), "r=%d", published_rounds[k]);
		rc = bench_session_add(s, cfg, NULL, name);
		json_decref(cfg);
	}
	return rc;
}

static void say_simulated(const demo_args *a)
{
	printf("bhive demo: the models in this demo are SIMULATED by bhive-emulator, a local\n"
	       "stand-in for Amazon Bedrock: no AWS account, no cost. Its figures show how bhive\n"
	       "works; they are not measurements of real models. %ld questions per difficulty,\n"
	       "simulated %s, rounds of reflection 0, 1, 2, 3 and 5.\n\n",
	       a->c.default_samples, DEMO_MODEL);
	fflush(stdout);
}

static int demo_bench(demo_args *a, emulator_proc *emu)
{
	bench_session s;
	json_t *report = NULL, *ref = reference_series();
	static const char *const arith[] = {"easy", "medium", "hard"};
	a->c.arith = (const char **)arith;
	a->c.narith = 3;
	a->c.endpoint = emu->url;
	a->c.region = "us-east-1";
	a->c.access_key_id = "AKIDBHIVEDEMO";
	a->c.secret_access_key = "bhive-demo-emulator-accepts-any-key";
	int rc = bench_session_open(&s, &a->c);
	if (!rc)
		rc = add_demo_jobs(&s);
	if (!rc)
		rc = bench_session_run(&s, &report);
	if (report && !s.interrupted) {
		if (bench_session_output(&s, report, ref))
			rc = CLI_EXIT_FAILURE;
		if (!strcmp(a->c.output, "table"))
			print_comparison(report);
	}
	if (!rc && !s.interrupted && a->debate_questions > 0)
		rc = run_debate(&s, a->debate_questions);
	if (!rc)
		printf("\nAll figures above come from SIMULATED models (bhive-emulator). The same "
		       "commands\nrun on Amazon Bedrock with --endpoint-url left out and AWS "
		       "credentials set.\n");
	json_decref(report);
	json_decref(ref);
	bench_session_close(&s);
	return rc;
}

/* A private store unless --store is given: the demo starts afresh. */
static int demo_store(demo_args *a)
{
	if (a->c.store_path)
		return 0;
	snprintf(a->store_tmp, sizeof(a->store_tmp), "/tmp/bhive-demo-XXXXXX");
	int fd = mkstemp(a->store_tmp);
	if (fd < 0) {
		cli_error("cannot make a temporary store: %s", strerror(errno));
		return -1;
	}
	close(fd);
	a->c.store_path = a->store_tmp;
	a->c.temp_store = 1;
	return 0;
}

static void remove_store(demo_args *a)
{
	if (!a->store_tmp[0])
		return;
	char path[96];
	unlink(a->store_tmp);
	snprintf(path, sizeof(path), "%s-wal", a->store_tmp);
	unlink(path);
	snprintf(path, sizeof(path), "%s-shm", a->store_tmp);
	unlink(path);
}

int cmd_demo(int argc, char **argv)
{
	demo_args a;
	emulator_proc emu = {0};
	memset(&a, 0, sizeof(a));
	int rc = parse_demo(&a, argc, argv);
	if (rc) {
		if (rc > 0)
			fputs(demo_usage, stdout);
		else
			fprintf(stderr, "(see bhive demo --help)\n");
		return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	say_simulated(&a);
	if (demo_store(&a) || start_emulator(&emu, &a)) {
		remove_store(&a);
		return CLI_EXIT_FAILURE;
	}
	rc = demo_bench(&a, &emu);
	stop_emulator(&emu);
	remove_store(&a);
	return rc;
}
