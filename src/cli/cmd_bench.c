/*
 * cmd_bench.c - `bhive bench`: configurations over a dataset, with many
 * conversations in flight, every finished sample in a SQLite store (so the
 * same command again resumes and never pays twice), and a table, CSV, JSON
 * and plots that say where their figures came from.
 *
 * The session code here is shared with `bhive optimise` and `bhive demo`
 * (cli_bench.h).
 */
#include "cli_bench.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- common options ---------------------------------------------------- */

enum {
	COPT_DATASET = BENCH_COMMON_OPT_BASE,
	COPT_ARITH,
	COPT_EVALUATOR,
	COPT_STORE,
	COPT_OUTPUT,
	COPT_PLOTS,
	COPT_CSV,
	COPT_JSON,
	COPT_ENDPOINT,
	COPT_REGION,
	COPT_PROFILE,
	COPT_RETRY,
	COPT_PRICES,
	COPT_CONCURRENCY,
	COPT_MAX_ATTEMPTS,
	COPT_SEED,
	COPT_BAD_LINE,
	COPT_PROGRESS,
	COPT_NO_PROGRESS,
	COPT_LOG_LEVEL,
	COPT_SAMPLES
};

const struct option bench_common_options[] = {
    {"dataset", required_argument, NULL, COPT_DATASET},
    {"arithmetic", required_argument, NULL, COPT_ARITH},
    {"evaluator", required_argument, NULL, COPT_EVALUATOR},
    {"store", required_argument, NULL, COPT_STORE},
    {"output", required_argument, NULL, COPT_OUTPUT},
    {"plots", required_argument, NULL, COPT_PLOTS},
    {"csv", required_argument, NULL, COPT_CSV},
    {"json", required_argument, NULL, COPT_JSON},
    {"endpoint-url", required_argument, NULL, COPT_ENDPOINT},
    {"region", required_argument, NULL, COPT_REGION},
    {"profile", required_argument, NULL, COPT_PROFILE},
    {"retry-mode", required_argument, NULL, COPT_RETRY},
    {"prices", required_argument, NULL, COPT_PRICES},
    {"concurrency", required_argument, NULL, COPT_CONCURRENCY},
    {"max-attempts", required_argument, NULL, COPT_MAX_ATTEMPTS},
    {"seed", required_argument, NULL, COPT_SEED},
    {"on-bad-line", required_argument, NULL, COPT_BAD_LINE},
    {"progress", no_argument, NULL, COPT_PROGRESS},
    {"no-progress", no_argument, NULL, COPT_NO_PROGRESS},
    {"log-level", required_argument, NULL, COPT_LOG_LEVEL},
    {"samples", required_argument, NULL, COPT_SAMPLES},
};
const size_t bench_common_options_count =
    sizeof(bench_common_options) / sizeof(bench_common_options[0]);

const char bench_common_usage[] =
    "Data:\n"
    "  --dataset FILE.jsonl      one sample a line: {\"prompt\" or \"messages\", \"expected\",\n"
    "                            \"id\", \"metadata\"} (repeatable)\n"
    "  --arithmetic D[:N]        the original's arithmetic benchmark, D = easy, medium or\n"
    "                            hard (comma list or repeated), N questions (default 50)\n"
    "  --samples N               questions per arithmetic difficulty when :N is not given\n"
    "  --seed S                  seed of the arithmetic generator (default 1)\n"
    "  --on-bad-line skip|fail   a malformed JSONL line is skipped (reported with its line\n"
    "                            number) or fatal (default fail)\n"
    "  --evaluator E             in-tags[:TAG] | exact | contains | numeric[:TOL] |\n"
    "                            cmd:COMMAND (default in-tags for arithmetic, else exact)\n"
    "\n"
    "Run:\n"
    "  --store FILE              results store (SQLite; default bhive-results.db); the\n"
    "                            same command again resumes: finished samples are never\n"
    "                            sent again\n"
    "  --concurrency N           conversations in flight (default 32)\n"
    "  --progress / --no-progress  the progress line (default: on a terminal; plain\n"
    "                            lines every 5 s otherwise)\n"
    "\n"
    "Output:\n"
    "  --output table|json|csv   on stdout (default table)\n"
    "  --csv FILE, --json FILE   also write the report there\n"
    "  --plots DIR               PNG charts with gnuplot: accuracy.png, tradeoff.png,\n"
    "                            pareto.png\n"
    "\n"
    "AWS:\n"
    "  --endpoint-url URL        e.g. a local bhive-emulator\n"
    "  --region R, --profile P   as the AWS CLI takes them\n"
    "  --retry-mode M            legacy, standard or adaptive (default adaptive)\n"
    "  --max-attempts N          attempts per call, retries included\n"
    "  --prices FILE             a price table merged over the built-in one\n"
    "  --log-level L             off, error, warn, info, debug, trace\n";

void bench_common_init(bench_common *c)
{
	memset(c, 0, sizeof(*c));
	c->store_path = "bhive-results.db";
	c->output = "table";
	c->retry_mode = "adaptive";
	c->concurrency = 32;
	c->seed = 1;
	c->default_samples = 50;
	c->progress = -1;
}

static int push(const char ***arr, size_t *n, const char *v)
{
	const char **a = realloc(*arr, (*n + 1) * sizeof(*a));
	if (!a)
		return -1;
	a[(*n)++] = v;
	*arr = a;
	return 0;
}

static int number_option(const char *opt, const char *v, long lo, long hi, long *out)
{
	if (cli_parse_long(v, out) || *out < lo || *out > hi) {
		cli_error("%s needs a whole number from %ld to %ld, got \"%s\"", opt, lo, hi, v);
		return -1;
	}
	return 0;
}

static int choice_option(const char *opt, const char *v, const char *a, const char *b,
                         const char *c)
{
	if (strcmp(v, a) && strcmp(v, b) && (!c || strcmp(v, c))) {
		cli_error("%s must be %s, %s%s%s, got \"%s\"", opt, a, b, c ? " or " : "",
		          c ? c : "", v);
		return -1;
	}
	return 0;
}

/* Options whose value is a number or one of a few words. */
static int checked_option(bench_common *c, int code, const char *v)
{
	switch (code) {
	case COPT_CONCURRENCY:
		return number_option("--concurrency", v, 1, 100000, &c->concurrency);
	case COPT_MAX_ATTEMPTS:
		return number_option("--max-attempts", v, 1, 100, &c->max_attempts);
	case COPT_SEED:
		return number_option("--seed", v, 0, 0x7fffffffL, &c->seed);
	case COPT_SAMPLES:
		return number_option("--samples", v, 1, 10000000, &c->default_samples);
	case COPT_OUTPUT:
		c->output = v;
		return choice_option("--output", v, "table", "json", "csv");
	case COPT_BAD_LINE:
		c->bad_line_skip = !strcmp(v, "skip");
		return choice_option("--on-bad-line", v, "skip", "fail", NULL);
	case COPT_RETRY:
		c->retry_mode = v;
		return choice_option("--retry-mode", v, "legacy", "standard", "adaptive");
	case COPT_LOG_LEVEL:
		if (cli_set_log_level(v) == 0)
			return 0;
		cli_error("unknown log level \"%s\" (off, error, warn, info, debug, trace)", v);
		return -1;
	default:
		return 1;
	}
}

int bench_common_option(bench_common *c, int code, const char *v)
{
	switch (code) {
	case COPT_DATASET:
		return push(&c->datasets, &c->ndatasets, v);
	case COPT_ARITH:
		return push(&c->arith, &c->narith, v);
	case COPT_EVALUATOR:
		c->evaluator = v;
		return 0;
	case COPT_STORE:
		c->store_path = v;
		return 0;
	case COPT_PLOTS:
		c->plots_dir = v;
		return 0;
	case COPT_CSV:
		c->csv_path = v;
		return 0;
	case COPT_JSON:
		c->json_path = v;
		return 0;
	case COPT_ENDPOINT:
		c->endpoint = v;
		return 0;
	case COPT_REGION:
		c->region = v;
		return 0;
	case COPT_PROFILE:
		c->profile = v;
		return 0;
	case COPT_PRICES:
		c->prices_file = v;
		return 0;
	case COPT_PROGRESS:
		c->progress = 1;
		return 0;
	case COPT_NO_PROGRESS:
		c->progress = 0;
		return 0;
	default:
		return checked_option(c, code, v);
	}
}

json_t *cli_parse_int_list(const char *opt, const char *text)
{
	json_t *list = json_array();
	char *copy = strdup(text), *save = NULL;
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
	     t = strtok_r(NULL, ",", &save)) {
		long v;
		if (cli_parse_long(t, &v) || v < 0 || v > 1000) {
			cli_error(
			    "%s needs whole numbers from 0 to 1000 separated by commas, got \"%s\"",
			    opt, text);
			json_decref(list);
			list = NULL;
			break;
		}
		json_array_append_new(list, json_integer(v));
	}
	free(copy);
	if (list && json_array_size(list) == 0) {
		cli_error("%s needs at least one number", opt);
		json_decref(list);
		list = NULL;
	}
	return list;
}

/* ---- datasets ---------------------------------------------------------- */

static void report_bad_line(void *ud, int line, const char *problem)
{
	fprintf(stderr, "bhive: warning: \"%s\" line %d skipped: %s\n", (const char *)ud, line,
	        problem);
}

static int add_dataset(bench_session *s, bhive_dataset *ds, const char *label, int arith)
{
	bhive_dataset **d = realloc(s->ds, (s->nds + 1) * sizeof(*d));
	char **l = d ? realloc(s->ds_label, (s->nds + 1) * sizeof(*l)) : NULL;
	int *k = l ? realloc(s->ds_arith, (s->nds + 1) * sizeof(*k)) : NULL;
	if (d)
		s->ds = d;
	if (l)
		s->ds_label = l;
	if (k)
		s->ds_arith = k;
	if (!d || !l || !k || !(l[s->nds] = strdup(label))) {
		bhive_dataset_free(ds);
		cli_error("out of memory");
		return CLI_EXIT_FAILURE;
	}
	k[s->nds] = arith;
	d[s->nds++] = ds;
	return 0;
}

/* "easy", "medium:20" or "easy,hard:10". */
static int load_arith(bench_session *s, const char *spec)
{
	char *copy = strdup(spec), *save = NULL;
	int rc = copy ? 0 : CLI_EXIT_FAILURE;
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && !rc;
	     t = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(t, ':');
		long n = s->c->default_samples;
		if (colon) {
			*colon = '\0';
			if (cli_parse_long(colon + 1, &n) || n < 1 || n > 10000000) {
				cli_error("--arithmetic \"%s\": the count after ':' must be a "
				          "whole number "
				          "from 1",
				          spec);
				rc = CLI_EXIT_USAGE;
				break;
			}
		}
		bhive_error err = {0};
		bhive_dataset *ds =
		    bhive_dataset_arithmetic(t, (size_t)n, (uint64_t)s->c->seed, &err);
		if (!ds) {
			cli_error("--arithmetic: %s", err.message);
			rc = CLI_EXIT_USAGE;
		} else {
			rc = add_dataset(s, ds, t, 1);
		}
	}
	free(copy);
	return rc;
}

static int load_datasets(bench_session *s)
{
	bench_common *c = s->c;
	int rc = 0;
	for (size_t i = 0; !rc && i < c->narith; i++)
		rc = load_arith(s, c->arith[i]);
	for (size_t i = 0; !rc && i < c->ndatasets; i++) {
		bhive_error err = {0};
		bhive_dataset *ds = bhive_dataset_load_jsonl(
		    c->datasets[i], c->bad_line_skip ? BHIVE_BAD_LINE_SKIP : BHIVE_BAD_LINE_FAIL,
		    report_bad_line, (void *)c->datasets[i], &err);
		if (!ds) {
			cli_error("%s", err.message);
			rc = CLI_EXIT_USAGE;
		} else {
			const char *base = strrchr(c->datasets[i], '/');
			rc = add_dataset(s, ds, base ? base + 1 : c->datasets[i], 0);
		}
	}
	if (!rc && s->nds == 0) {
		cli_error(
		    "no data: give --dataset FILE.jsonl or --arithmetic easy|medium|hard[:N]");
		rc = CLI_EXIT_USAGE;
	}
	return rc;
}

/* Optimising needs a score for every sample: refused before anything is
 * sent or any store is touched. */
static int check_expected(const bench_session *s)
{
	for (size_t i = 0; i < s->nds; i++)
		for (size_t k = 0; k < bhive_dataset_size(s->ds[i]); k++) {
			const bhive_sample *smp = bhive_dataset_get(s->ds[i], k);
			if (smp->expected)
				continue;
			cli_error(
			    "dataset \"%s\" has no expected answer for sample \"%s\" (line %d): "
			    "optimise needs one for every sample to score configurations (bhive "
			    "bench runs such data without scores)",
			    bhive_dataset_name(s->ds[i]), smp->id, smp->line);
			return CLI_EXIT_USAGE;
		}
	return 0;
}

/* ---- client, store, runner --------------------------------------------- */

static bhive_retry_mode retry_mode(const char *s)
{
	if (!strcmp(s, "legacy"))
		return BHIVE_RETRY_LEGACY;
	if (!strcmp(s, "standard"))
		return BHIVE_RETRY_STANDARD;
	return BHIVE_RETRY_ADAPTIVE;
}

static int open_client(bench_session *s)
{
	bench_common *c = s->c;
	bhive_client_options o;
	bhive_error err = {0};
	bhive_client_options_init(&o);
	o.endpoint_url = c->endpoint;
	o.region = c->region;
	o.profile = c->profile;
	o.access_key_id = c->access_key_id;
	o.secret_access_key = c->secret_access_key;
	o.retry_mode = retry_mode(c->retry_mode);
	o.max_attempts = (int)c->max_attempts;
	if (!(s->client = bhive_client_new(&o, &err))) {
		cli_error("%s", err.message);
		return CLI_EXIT_FAILURE;
	}
	bhive_bench_source(s->client, s->source, sizeof(s->source));
	if (c->prices_file && (!(s->prices = bhive_prices_new(&err)) ||
	                       bhive_prices_load_file(s->prices, c->prices_file, &err))) {
		cli_error("%s", err.message);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static const char *default_evaluator(const bench_session *s)
{
	if (s->c->evaluator)
		return s->c->evaluator;
	return s->c->narith && !s->c->ndatasets ? "in-tags" : "exact";
}

int bench_session_open(bench_session *s, bench_common *c)
{
	bhive_error err = {0};
	memset(s, 0, sizeof(*s));
	s->c = c;
	int rc = load_datasets(s);
	if (!rc && c->require_expected)
		rc = check_expected(s);
	if (rc)
		return rc;
	if (!(s->ev = bhive_evaluator_new(default_evaluator(s), &err))) {
		cli_error("--evaluator: %s", err.message);
		return CLI_EXIT_USAGE;
	}
	if ((rc = open_client(s)))
		return rc;
	if (!(s->store = bhive_store_open(c->store_path, &err)) ||
	    !(s->runner = bhive_runner_new(s->client, s->store, s->source, &err))) {
		cli_error("%s", err.message);
		return CLI_EXIT_FAILURE;
	}
	bhive_runner_set_concurrency(s->runner, (int)c->concurrency);
	fprintf(stderr, "bhive: figures from %s%s\n", s->source,
	        bhive_source_is_simulated(s->source) ? ": the models are SIMULATED, not Amazon "
	                                               "Bedrock"
	                                             : "");
	return 0;
}

/* ---- jobs -------------------------------------------------------------- */

/* External verifier commands live apart, one allocation each, so the
 * pointer a config holds stays put while more are added. */
static int keep_verifier(bench_session *s, const char *cmd, bhive_config *cfg)
{
	cli_verifier **all = realloc(s->verifiers, (s->nverifiers + 1) * sizeof(*all));
	cli_verifier *v = all ? calloc(1, sizeof(*v)) : NULL;
	if (all)
		s->verifiers = all;
	if (!v)
		return CLI_EXIT_FAILURE;
	all[s->nverifiers++] = v;
	v->argv = cli_split_argv(cmd);
	v->cmdline = (char *)cmd;
	v->timeout_s = 30;
	if (!v->argv) {
		cli_error("verifier command \"%s\" is empty or has an unclosed quote", cmd);
		return CLI_EXIT_USAGE;
	}
	bhive_config_set_verifier(cfg, cli_verifier_run, v);
	return 0;
}

static int keep_sql(bench_session *s, const char *db, bhive_config *cfg)
{
	bhive_error err = {0};
	bhive_sql_verifier **v = realloc(s->sql, (s->nsql + 1) * sizeof(*v));
	if (!v)
		return CLI_EXIT_FAILURE;
	s->sql = v;
	if (!(v[s->nsql] = bhive_verifier_sql_new(db, &err))) {
		cli_error("%s", err.message);
		return CLI_EXIT_USAGE;
	}
	bhive_config_set_verifier(cfg, bhive_verifier_sql, v[s->nsql++]);
	return 0;
}

/* Sets the verifier named by spec on cfg. */
static int set_verifier(bench_session *s, const char *spec, bhive_config *cfg)
{
	if (!spec || !strcmp(spec, "none"))
		return 0;
	if (!strcmp(spec, "arithmetic")) {
		bhive_config_set_verifier(cfg, bhive_verifier_arithmetic, NULL);
		return 0;
	}
	if (!strncmp(spec, "sql:", 4))
		return keep_sql(s, spec + 4, cfg);
	if (!strncmp(spec, "cmd:", 4))
		return keep_verifier(s, spec + 4, cfg);
	cli_error("unknown verifier \"%s\" (arithmetic, sql:DBFILE, cmd:COMMAND or none)", spec);
	return CLI_EXIT_USAGE;
}

static void print_diag(void *ud, bhive_severity sev, const char *msg)
{
	if (sev == BHIVE_SEVERITY_WARNING && !*(int *)ud) {
		fprintf(stderr, "bhive: warning: %s\n", msg);
		*(int *)ud = 1;
	}
}

static bhive_config *make_config(bench_session *s, const json_t *config, const char *verifier,
                                 int *rc)
{
	bhive_error err = {0};
	static int warned;
	bhive_config *cfg = bhive_config_from_json(config, &err);
	*rc = CLI_EXIT_USAGE;
	if (!cfg) {
		cli_error("configuration: %s", err.message);
		return NULL;
	}
	if ((*rc = set_verifier(s, verifier, cfg)) == 0 &&
	    bhive_config_validate(cfg, print_diag, &warned, &err)) {
		cli_error("configuration: %s", err.message);
		*rc = CLI_EXIT_USAGE;
	}
	if (*rc) {
		bhive_config_free(cfg);
		return NULL;
	}
	if (s->prices)
		bhive_config_set_prices(cfg, s->prices);
	return cfg;
}

int bench_session_add(bench_session *s, const json_t *config, const char *verifier,
                      const char *name)
{
	int rc;
	bhive_config *cfg = make_config(s, config, verifier, &rc);
	if (!cfg)
		return rc;
	for (size_t i = 0; i < s->nds && !rc; i++) {
		char label[512];
		snprintf(label, sizeof(label), "%s%s%s", s->nds > 1 ? s->ds_label[i] : "",
		         s->nds > 1 ? " " : "", name);
		json_t *labels =
		    json_pack("{s:s}", s->ds_arith[i] ? "difficulty" : "group", s->ds_label[i]);
		bhive_error err = {0};
		bhive_job_spec spec = {.name = label,
		                       .config = cfg,
		                       .verifier = verifier,
		                       .dataset = s->ds[i],
		                       .evaluator = s->ev,
		                       .labels = labels};
		if (bhive_runner_add(s->runner, &spec, &err) < 0) {
			cli_error("%s", err.message);
			rc = CLI_EXIT_FAILURE;
		}
		json_decref(labels);
		s->njobs++;
	}
	bhive_config_free(cfg);
	return rc;
}

/* ---- progress ---------------------------------------------------------- */

static void format_eta(double s, char *out, size_t n)
{
	if (s < 0)
		snprintf(out, n, "--:--");
	else if (s >= 3600)
		snprintf(out, n, "%d:%02d:%02d", (int)(s / 3600), (int)(s / 60) % 60, (int)s % 60);
	else
		snprintf(out, n, "%d:%02d", (int)(s / 60), (int)s % 60);
}

static void progress_text(const bhive_runner_progress *p, char *out, size_t n)
{
	char eta[32], acc[32];
	format_eta(p->eta_s, eta, sizeof(eta));
	if (p->scored)
		snprintf(acc, sizeof(acc), "%.1f%%", 100.0 * p->score_sum / (double)p->scored);
	else
		snprintf(acc, sizeof(acc), "-");
	int len = snprintf(out, n, "%zu/%zu done, accuracy %s, $%.4f spent, %.1f/s, ETA %s",
	                   p->done, p->total, acc, p->cost_usd, p->rate, eta);
	if (p->failed && len > 0 && (size_t)len < n)
		snprintf(out + len, n - (size_t)len, ", %zu failed", p->failed);
}

/* A bar of 24 cells on a terminal line, redrawn at most ten times a second. */
static void progress_terminal(bench_session *s, const bhive_runner_progress *p, double now)
{
	if (!p->finished && now - s->last_print < 0.1)
		return;
	s->last_print = now;
	char text[256], bar[32];
	int cells = p->total ? (int)(24.0 * (double)p->done / (double)p->total) : 0;
	for (int i = 0; i < 24; i++)
		bar[i] = i < cells ? '#' : '.';
	bar[24] = '\0';
	progress_text(p, text, sizeof(text));
	fprintf(stderr, "\r\033[K[%s] %s%s", bar, text, p->finished ? "\n" : "");
	fflush(stderr);
}

/* Plain lines for logs: every 5 seconds or every 10%, and at the end. */
static void progress_plain(bench_session *s, const bhive_runner_progress *p, double now)
{
	double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 100;
	if (!p->finished && now - s->last_print < 5 && pct < s->next_pct)
		return;
	s->last_print = now;
	while (s->next_pct <= pct)
		s->next_pct += 10;
	char text[256];
	progress_text(p, text, sizeof(text));
	fprintf(stderr, "bhive: progress: %s\n", text);
}

static void on_progress(void *ud, const bhive_runner_progress *p)
{
	bench_session *s = ud;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (s->c->progress == 1)
		progress_terminal(s, p, now);
	else if (s->c->progress == 2)
		progress_plain(s, p, now);
}

/* ---- Ctrl-C ------------------------------------------------------------ */

static bhive_runner *volatile running;
static volatile sig_atomic_t interrupts;

static void on_signal(int sig)
{
	static const char msg[] = "\nbhive: interrupted: finishing the samples in flight (they are "
	                          "recorded); Ctrl-C again to stop at once\n";
	(void)sig;
	interrupts++;
	if (interrupts == 1 && write(2, msg, sizeof(msg) - 1) < 0)
		interrupts++;
	if (interrupts >= 3)
		_exit(130);
	if (running)
		bhive_runner_cancel(running);
}

static void catch_signals(bhive_runner *r)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = r ? on_signal : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	running = r;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Rows grouped by dataset (difficulty), in the order the data was given,
 * and by configuration within each: the runner interleaves them. */
static void group_rows(const bench_session *s, json_t *report)
{
	json_t *rows = json_object_get(report, "rows"), *sorted = json_array();
	for (size_t d = 0; d < s->nds; d++)
		for (size_t i = 0; i < json_array_size(rows); i++) {
			json_t *row = json_array_get(rows, i);
			const char *g = cli_jstr(row, s->ds_arith[d] ? "difficulty" : "group");
			if (g && !strcmp(g, s->ds_label[d]))
				json_array_append(sorted, row);
		}
	if (json_array_size(sorted) == json_array_size(rows))
		json_object_set(report, "rows", sorted);
	json_decref(sorted);
}

int bench_session_run(bench_session *s, json_t **report)
{
	bhive_error err = {0};
	*report = NULL;
	if (s->c->progress < 0)
		s->c->progress = isatty(2) ? 1 : 2;
	s->next_pct = 10;
	bhive_runner_set_progress(s->runner, on_progress, s);
	catch_signals(s->runner);
	int rc = bhive_runner_run(s->runner, &err);
	catch_signals(NULL);
	if (rc == BHIVE_ERR_CANCELLED)
		s->interrupted = 1;
	else if (rc)
		cli_error("%s", err.message);
	*report = bhive_runner_report(s->runner, &err);
	if (!*report)
		cli_error("%s", err.message);
	else
		group_rows(s, *report);
	if (s->interrupted && s->c->temp_store)
		fprintf(stderr, "bhive: interrupted\n");
	else if (s->interrupted)
		fprintf(stderr,
		        "bhive: interrupted: finished samples are in \"%s\"; run the same "
		        "command again to resume\n",
		        s->c->store_path);
	return *report && !rc ? 0 : CLI_EXIT_FAILURE;
}

/* ---- output ------------------------------------------------------------ */

static int write_export(const char *path, const json_t *report, int csv)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		cli_error("cannot write \"%s\": %s", path, strerror(errno));
		return CLI_EXIT_FAILURE;
	}
	int rc = csv ? bhive_report_write_csv(f, report) : bhive_report_write_json(f, report);
	if (fclose(f) || rc) {
		cli_error("cannot write \"%s\"", path);
		return CLI_EXIT_FAILURE;
	}
	return 0;
}

/* Failures and early stops, after the table. */
static void report_notes(const json_t *report)
{
	const json_t *rows = json_object_get(report, "rows");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const json_t *row = json_array_get(rows, i);
		const char *name = cli_jstr(row, "name");
		if (cli_jstr(row, "stop_reason"))
			fprintf(stderr, "bhive: \"%s\" %s\n", name, cli_jstr(row, "stop_reason"));
		if (cli_jint(row, "failed", 0))
			fprintf(stderr,
			        "bhive: warning: \"%s\": %lld samples failed and were not recorded "
			        "(run the same command again to retry them); first: %s\n",
			        name, (long long)cli_jint(row, "failed", 0),
			        cli_jstr(row, "first_error"));
		const char *first = cli_jstr(row, "first_error");
		if (cli_jint(row, "evaluator_errors", 0))
			fprintf(stderr,
			        "bhive: warning: \"%s\": %lld answers could not be scored (the "
			        "evaluator failed; they are kept without a score and not sent "
			        "again)%s%s\n",
			        name, (long long)cli_jint(row, "evaluator_errors", 0),
			        first ? "; first: " : "", first ? first : "");
	}
}

static int write_plots(bench_session *s, const json_t *report, const json_t *reference)
{
	bhive_error err = {0};
	json_t *files = NULL;
	if (bhive_report_plot(report, reference, s->c->plots_dir, &files, &err)) {
		fprintf(stderr, "bhive: warning: %s\n", err.message);
		return 0;
	}
	for (size_t i = 0; !s->c->quiet && i < json_array_size(files); i++)
		fprintf(stderr, "bhive: wrote %s\n", json_string_value(json_array_get(files, i)));
	json_decref(files);
	return 0;
}

int bench_session_output(bench_session *s, const json_t *report, const json_t *reference)
{
	const char *mode = s->c->output;
	int rc = !strcmp(mode, "csv")    ? bhive_report_write_csv(stdout, report)
	         : !strcmp(mode, "json") ? bhive_report_write_json(stdout, report)
	                                 : bhive_report_write_table(stdout, report);
	fflush(stdout);
	if (rc)
		return CLI_EXIT_FAILURE;
	report_notes(report);
	if (s->c->csv_path && write_export(s->c->csv_path, report, 1))
		return CLI_EXIT_FAILURE;
	if (s->c->json_path && write_export(s->c->json_path, report, 0))
		return CLI_EXIT_FAILURE;
	if (s->c->plots_dir)
		write_plots(s, report, reference);
	return 0;
}

void bench_session_close(bench_session *s)
{
	/* The runner (and its engine) goes first: a run cut short leaves calls
	 * on the client, which the engine cancels there as it is freed. */
	bhive_runner_free(s->runner);
	bhive_client_free(s->client);
	bhive_store_close(s->store);
	bhive_evaluator_free(s->ev);
	bhive_prices_free(s->prices);
	for (size_t i = 0; i < s->nds; i++) {
		bhive_dataset_free(s->ds[i]);
		free(s->ds_label[i]);
	}
	free(s->ds);
	free(s->ds_label);
	free(s->ds_arith);
	for (size_t i = 0; i < s->nverifiers; i++) {
		cli_free_argv(s->verifiers[i]->argv);
		free(s->verifiers[i]);
	}
	free(s->verifiers);
	for (size_t i = 0; i < s->nsql; i++)
		bhive_verifier_sql_free(s->sql[i]);
	free(s->sql);
}

/* ---- bhive bench ------------------------------------------------------- */

typedef struct bench_args {
	bench_common c;
	const char **models, **verifiers, **configs;
	size_t nmodels, nverifiers, nconfigs;
	const char *reflections, *aggregator;
	int vote;
} bench_args;

static const char bench_usage[] =
    "usage: bhive bench (--dataset FILE.jsonl | --arithmetic D[:N]) --model ID [options]\n"
    "\n"
    "Runs one configuration per reflection count (and per verifier and --config given)\n"
    "over the data, many conversations at once, and prints accuracy, mean cost, mean\n"
    "latency and tokens per configuration. Every finished sample goes to the store at\n"
    "once: the same command again resumes and never sends a finished sample again.\n"
    "\n"
    "Configurations:\n"
    "  --model ID                a model slot (repeat for a debate)\n"
    "  --reflections LIST        rounds of reflection, e.g. 0,1,2,3,5 (default 0)\n"
    "  --aggregator ID           a model that writes the final answer of a debate\n"
    "  --vote                    majority vote over the slots\n"
    "  --verifier V              arithmetic | sql:DBFILE | cmd:COMMAND | none (repeat for\n"
    "                            one configuration each)\n"
    "  --config FILE             a hive config as JSON (repeatable; --reflections applies)\n"
    "\n";

enum {
	BOPT_MODEL = 1,
	BOPT_REFLECTIONS,
	BOPT_AGGREGATOR,
	BOPT_VERIFIER,
	BOPT_CONFIG,
	BOPT_VOTE,
	BOPT_HELP
};

static const struct option bench_own_options[] = {
    {"model", required_argument, NULL, BOPT_MODEL},
    {"reflections", required_argument, NULL, BOPT_REFLECTIONS},
    {"aggregator", required_argument, NULL, BOPT_AGGREGATOR},
    {"verifier", required_argument, NULL, BOPT_VERIFIER},
    {"config", required_argument, NULL, BOPT_CONFIG},
    {"vote", no_argument, NULL, BOPT_VOTE},
    {"help", no_argument, NULL, BOPT_HELP},
};

/* Own options followed by the common ones, NULL-terminated. */
static struct option *merge_options(const struct option *own, size_t n)
{
	struct option *all = calloc(n + bench_common_options_count + 1, sizeof(*all));
	if (!all)
		return NULL;
	memcpy(all, own, n * sizeof(*own));
	memcpy(all + n, bench_common_options, bench_common_options_count * sizeof(*all));
	return all;
}

static int bench_option(bench_args *a, int code, const char *v)
{
	switch (code) {
	case BOPT_MODEL:
		return push(&a->models, &a->nmodels, v);
	case BOPT_VERIFIER:
		return push(&a->verifiers, &a->nverifiers, v);
	case BOPT_CONFIG:
		return push(&a->configs, &a->nconfigs, v);
	case BOPT_REFLECTIONS:
		a->reflections = v;
		return 0;
	case BOPT_AGGREGATOR:
		a->aggregator = v;
		return 0;
	case BOPT_VOTE:
		a->vote = 1;
		return 0;
	default:
		return bench_common_option(&a->c, code, v) ? -1 : 0;
	}
}

static int parse_bench(bench_args *a, int argc, char **argv)
{
	struct option *opts = merge_options(bench_own_options, sizeof(bench_own_options) /
	                                                           sizeof(bench_own_options[0]));
	int code, rc = 0, idx = -1;
	bench_common_init(&a->c);
	opterr = 0;
	optind = 1;
	while (!rc && opts && (code = getopt_long(argc, argv, "+h", opts, &idx)) != -1) {
		if (code == BOPT_HELP || code == 'h')
			rc = 1;
		else if (code == '?' || code == ':') {
			cli_error("unknown option or missing value: \"%s\"", argv[optind - 1]);
			rc = -1;
		} else if (cli_check_value(opts, idx, optarg) || bench_option(a, code, optarg))
			rc = -1;
		idx = -1;
	}
	if (!rc && optind < argc) {
		cli_error("unexpected argument \"%s\"", argv[optind]);
		rc = -1;
	}
	free(opts);
	return opts ? rc : -1;
}

/* The base configurations: --config files, else one from --model flags. */
static json_t *base_configs(const bench_args *a)
{
	json_t *list = json_array();
	for (size_t i = 0; i < a->nconfigs; i++) {
		json_t *c = cli_load_json_arg(a->configs[i], "--config");
		if (!c) {
			json_decref(list);
			return NULL;
		}
		json_array_append_new(list, c);
	}
	if (a->nmodels) {
		json_t *models = json_array();
		for (size_t i = 0; i < a->nmodels; i++)
			json_array_append_new(models, json_string(a->models[i]));
		json_t *c = json_pack("{s:o}", "models", models);
		if (a->aggregator)
			json_object_set_new(c, "aggregator", json_string(a->aggregator));
		if (a->vote)
			json_object_set_new(c, "vote", json_true());
		json_array_append_new(list, c);
	}
	if (json_array_size(list) == 0) {
		cli_error("no model: give --model ID (or --config FILE)");
		json_decref(list);
		return NULL;
	}
	return list;
}

static char *job_name(const json_t *cfg, json_int_t k, const char *ver, int with_models)
{
	char buf[512] = "";
	size_t len = 0;
	const json_t *models = json_object_get(cfg, "models");
	for (size_t i = 0; with_models && i < json_array_size(models); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "+" : "",
		                        json_string_value(json_array_get(models, i)));
	if (len < sizeof(buf))
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%sr=%" JSON_INTEGER_FORMAT,
		                        len ? " " : "", k);
	if (ver && strcmp(ver, "none") && len < sizeof(buf))
		snprintf(buf + len, sizeof(buf) - len, " ver=%s", ver);
	return strdup(buf);
}

/* Adds config x reflections x verifiers. */
static int add_bench_jobs(bench_session *s, const bench_args *a, const json_t *bases,
                          const json_t *refl)
{
	static const char *const no_verifier[] = {NULL};
	const char *const *vers = a->nverifiers ? a->verifiers : no_verifier;
	size_t nv = a->nverifiers ? a->nverifiers : 1;
	int rc = 0;
	for (size_t b = 0; !rc && b < json_array_size(bases); b++)
		for (size_t k = 0; !rc && k < json_array_size(refl); k++)
			for (size_t v = 0; !rc && v < nv; v++) {
				json_t *cfg = json_deep_copy(json_array_get(bases, b));
				json_int_t n = json_integer_value(json_array_get(refl, k));
				if (a->reflections || !json_object_get(cfg, "num_reflections"))
					json_object_set_new(cfg, "num_reflections",
					                    json_integer(n));
				n = json_integer_value(json_object_get(cfg, "num_reflections"));
				char *name = job_name(
				    cfg, n, vers[v], json_array_size(bases) > 1 || a->nconfigs > 0);
				rc = bench_session_add(s, cfg, vers[v], name ? name : "job");
				free(name);
				json_decref(cfg);
			}
	return rc;
}

static int bench_main(bench_args *a)
{
	bench_session s;
	json_t *refl = cli_parse_int_list("--reflections", a->reflections ? a->reflections : "0");
	json_t *bases = refl ? base_configs(a) : NULL, *report = NULL;
	if (!bases) {
		json_decref(refl);
		return CLI_EXIT_USAGE;
	}
	int rc = bench_session_open(&s, &a->c);
	if (!rc)
		rc = add_bench_jobs(&s, a, bases, refl);
	int scored_all = 1;
	for (size_t i = 0; !rc && i < s.nds; i++)
		scored_all &= bhive_dataset_has_expected(s.ds[i]);
	if (!rc && !scored_all)
		fprintf(stderr, "bhive: note: the dataset has samples without an expected answer: "
		                "they are run but not scored\n");
	if (!rc) {
		rc = bench_session_run(&s, &report);
		if (report && bench_session_output(&s, report, NULL))
			rc = CLI_EXIT_FAILURE;
	}
	json_decref(report);
	json_decref(refl);
	json_decref(bases);
	bench_session_close(&s);
	return rc;
}

int cmd_bench(int argc, char **argv)
{
	bench_args a;
	memset(&a, 0, sizeof(a));
	int rc = parse_bench(&a, argc, argv);
	if (rc > 0)
		printf("%s%s", bench_usage, bench_common_usage);
	else if (rc < 0)
		fprintf(stderr, "(see bhive bench --help)\n");
	if (!rc)
		rc = bench_main(&a);
	else
		rc = rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	free(a.models);
	free(a.verifiers);
	free(a.configs);
	free(a.c.datasets);
	free(a.c.arith);
	return rc;
}
