/*
 * cmd_optimise.c - `bhive optimise`: the grid of the original (model
 * combinations x reflection counts x aggregators x verifiers x
 * augmentation) under a budget per sample. Every configuration runs at
 * once, one that breaks the budget on a prefix of the data is stopped
 * early, and the report names the best configuration within budget and
 * the Pareto front of accuracy, cost and latency.
 */
#include "cli_bench.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct optimise_args {
	bench_common c;
	const char *grid_file, *reflections, *aggregators, *augment;
	const char **models, **sets, **verifiers;
	size_t nmodels, nsets, nverifiers;
	double max_cost, max_seconds;
	long min_samples;
} optimise_args;

static const char optimise_usage[] =
    "usage: bhive optimise (--dataset FILE.jsonl | --arithmetic D[:N]) (--grid FILE |\n"
    "                      --model ID ...) [--max-cost-per-sample USD]\n"
    "                      [--max-seconds-per-sample S] [options]\n"
    "\n"
    "Runs every configuration of a grid over the data at once and reports the best one\n"
    "within the budget (highest accuracy, then lower cost, then lower latency) and the\n"
    "Pareto front of accuracy, cost and latency. A configuration whose running mean over\n"
    "the first samples already breaks the budget is stopped early. Every sample needs an\n"
    "expected answer. Results go to the store: the same command again resumes.\n"
    "\n"
    "Grid (flags override the members of --grid):\n"
    "  --grid FILE               {\"models\": [[\"a\"], [\"a\",\"b\"]], \"reflections\": [0,1,3],\n"
    "                            \"aggregators\": [null, \"id\"], \"verifiers\": [null,\n"
    "                            \"arithmetic\"], \"augment\": [\"none\", \"lexical\"], \"base\": "
    "{...}}\n"
    "  --model ID                a single-model configuration (repeatable)\n"
    "  --models A,B,...          a debate among these models (repeatable)\n"
    "  --reflections LIST        e.g. 0,1,3 (default 0)\n"
    "  --aggregators LIST        e.g. none,anthropic.claude-3-haiku-20240307-v1:0\n"
    "  --verifier V              none | arithmetic | sql:DBFILE | cmd:COMMAND (repeatable)\n"
    "  --augment LIST            none,lexical,semantic\n"
    "\n"
    "Budget:\n"
    "  --max-cost-per-sample USD   mean cost per sample\n"
    "  --max-seconds-per-sample S  mean wall time per sample\n"
    "  --min-samples N           samples finished before a configuration can be stopped\n"
    "                            early (default 5)\n"
    "\n";

enum {
	OOPT_GRID = 1,
	OOPT_MODEL,
	OOPT_MODELS,
	OOPT_REFLECTIONS,
	OOPT_AGGREGATORS,
	OOPT_VERIFIER,
	OOPT_AUGMENT,
	OOPT_MAX_COST,
	OOPT_MAX_SECONDS,
	OOPT_MIN_SAMPLES,
	OOPT_HELP
};

static const struct option optimise_own_options[] = {
    {"grid", required_argument, NULL, OOPT_GRID},
    {"model", required_argument, NULL, OOPT_MODEL},
    {"models", required_argument, NULL, OOPT_MODELS},
    {"reflections", required_argument, NULL, OOPT_REFLECTIONS},
    {"aggregators", required_argument, NULL, OOPT_AGGREGATORS},
    {"aggregator", required_argument, NULL, OOPT_AGGREGATORS},
    {"verifier", required_argument, NULL, OOPT_VERIFIER},
    {"augment", required_argument, NULL, OOPT_AUGMENT},
    {"max-cost-per-sample", required_argument, NULL, OOPT_MAX_COST},
    {"max-seconds-per-sample", required_argument, NULL, OOPT_MAX_SECONDS},
    {"min-samples", required_argument, NULL, OOPT_MIN_SAMPLES},
    {"help", no_argument, NULL, OOPT_HELP},
};

static int push_str(const char ***arr, size_t *n, const char *v)
{
	const char **a = realloc(*arr, (*n + 1) * sizeof(*a));
	if (!a)
		return -1;
	a[(*n)++] = v;
	*arr = a;
	return 0;
}

static int budget_value(const char *opt, const char *v, double *out)
{
	if (cli_parse_double(v, out) || *out <= 0) {
		cli_error("%s needs a number above 0, got \"%s\"", opt, v);
		return -1;
	}
	return 0;
}

static int optimise_option(optimise_args *a, int code, const char *v)
{
	switch (code) {
	case OOPT_GRID:
		a->grid_file = v;
		return 0;
	case OOPT_MODEL:
		return push_str(&a->models, &a->nmodels, v);
	case OOPT_MODELS:
		return push_str(&a->sets, &a->nsets, v);
	case OOPT_VERIFIER:
		return push_str(&a->verifiers, &a->nverifiers, v);
	case OOPT_REFLECTIONS:
		a->reflections = v;
		return 0;
	case OOPT_AGGREGATORS:
		a->aggregators = v;
		return 0;
	case OOPT_AUGMENT:
		a->augment = v;
		return 0;
	case OOPT_MAX_COST:
		return budget_value("--max-cost-per-sample", v, &a->max_cost);
	case OOPT_MAX_SECONDS:
		return budget_value("--max-seconds-per-sample", v, &a->max_seconds);
	case OOPT_MIN_SAMPLES:
		if (cli_parse_long(v, &a->min_samples) == 0 && a->min_samples >= 1)
			return 0;
		cli_error("--min-samples needs a whole number from 1, got \"%s\"", v);
		return -1;
	default:
		return bench_common_option(&a->c, code, v) ? -1 : 0;
	}
}

static int parse_optimise(optimise_args *a, int argc, char **argv)
{
	size_t nown = sizeof(optimise_own_options) / sizeof(optimise_own_options[0]);
	struct option *opts = calloc(nown + bench_common_options_count + 1, sizeof(*opts));
	int code, rc = opts ? 0 : -1;
	if (opts) {
		memcpy(opts, optimise_own_options, sizeof(optimise_own_options));
		memcpy(opts + nown, bench_common_options,
		       bench_common_options_count * sizeof(*opts));
	}
	bench_common_init(&a->c);
	a->min_samples = 5;
	opterr = 0;
	optind = 1;
	int idx = -1;
	while (!rc && (code = getopt_long(argc, argv, "+h", opts, &idx)) != -1) {
		if (code == OOPT_HELP || code == 'h')
			rc = 1;
		else if (code == '?' || code == ':')
			rc =
			    (cli_error("unknown option or missing value: \"%s\"", argv[optind - 1]),
			     -1);
		else if (cli_check_value(opts, idx, optarg) || optimise_option(a, code, optarg))
			rc = -1;
		idx = -1;
	}
	if (!rc && optind < argc)
		rc = (cli_error("unexpected argument \"%s\"", argv[optind]), -1);
	free(opts);
	return rc;
}

/* "a,b,none" into an array of strings, "none" as null. */
static json_t *word_list(const char *text, int none_is_null)
{
	json_t *list = json_array();
	char *copy = strdup(text), *save = NULL;
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(list, none_is_null && !strcmp(t, "none") ? json_null()
		                                                               : json_string(t));
	free(copy);
	return list;
}

/* Flags over the --grid file's members. */
static int grid_flags(const optimise_args *a, json_t *grid)
{
	if (a->nmodels || a->nsets) {
		json_t *models = json_array();
		for (size_t i = 0; i < a->nmodels; i++)
			json_array_append_new(models, json_pack("[s]", a->models[i]));
		for (size_t i = 0; i < a->nsets; i++)
			json_array_append_new(models, word_list(a->sets[i], 0));
		json_object_set_new(grid, "models", models);
	}
	if (a->reflections) {
		json_t *r = cli_parse_int_list("--reflections", a->reflections);
		if (!r)
			return -1;
		json_object_set_new(grid, "reflections", r);
	}
	if (a->aggregators)
		json_object_set_new(grid, "aggregators", word_list(a->aggregators, 1));
	if (a->augment)
		json_object_set_new(grid, "augment", word_list(a->augment, 0));
	if (a->nverifiers) {
		json_t *v = json_array();
		for (size_t i = 0; i < a->nverifiers; i++)
			json_array_append_new(v, strcmp(a->verifiers[i], "none")
			                             ? json_string(a->verifiers[i])
			                             : json_null());
		json_object_set_new(grid, "verifiers", v);
	}
	return 0;
}

static json_t *build_grid(const optimise_args *a)
{
	json_t *grid = a->grid_file ? cli_load_json_arg(a->grid_file, "--grid") : json_object();
	if (grid && !json_is_object(grid)) {
		cli_error("--grid must hold a JSON object");
		json_decref(grid);
		return NULL;
	}
	if (grid && grid_flags(a, grid)) {
		json_decref(grid);
		return NULL;
	}
	bhive_error err = {0};
	json_t *points = grid ? bhive_grid_expand(grid, &err) : NULL;
	if (grid && !points)
		cli_error("grid: %s", err.message);
	else if (points && json_array_size(points) == 0)
		cli_error("the grid is empty: no configuration to try");
	json_decref(grid);
	if (points && json_array_size(points) == 0) {
		json_decref(points);
		return NULL;
	}
	return points;
}

static int add_points(bench_session *s, const json_t *points)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < json_array_size(points); i++) {
		const json_t *p = json_array_get(points, i);
		rc = bench_session_add(s, json_object_get(p, "config"), cli_jstr(p, "verifier"),
		                       cli_jstr(p, "name"));
	}
	return rc;
}

static void print_best(const json_t *report)
{
	const json_t *best = json_object_get(report, "best");
	const json_t *rows = json_object_get(report, "rows");
	if (!json_is_integer(best)) {
		fprintf(stderr, "bhive: no configuration stayed within the budget\n");
		return;
	}
	const json_t *row = json_array_get(rows, (size_t)json_integer_value(best));
	fprintf(stderr,
	        "bhive: best within budget: %s (accuracy %.1f%%, $%.6f and %.2f s per "
	        "sample; figures from %s)\n",
	        cli_jstr(row, "name"), 100.0 * cli_jnum(row, "accuracy", 0),
	        cli_jnum(row, "mean_cost_usd", 0), cli_jnum(row, "mean_wall_ms", 0) / 1000.0,
	        cli_jstr(report, "source"));
}

static int optimise_main(optimise_args *a)
{
	bench_session s;
	json_t *points = build_grid(a), *report = NULL;
	if (!points)
		return CLI_EXIT_USAGE;
	a->c.require_expected = 1;
	int rc = bench_session_open(&s, &a->c);
	if (!rc)
		rc = add_points(&s, points);
	if (!rc) {
		bhive_runner_set_budget(s.runner, a->max_cost, a->max_seconds,
		                        (size_t)a->min_samples);
		fprintf(stderr, "bhive: %zu configurations at once over %zu samples each\n",
		        json_array_size(points), bhive_dataset_size(s.ds[0]));
		rc = bench_session_run(&s, &report);
	}
	if (report && !bhive_optimise_select(report, a->max_cost, a->max_seconds, NULL)) {
		if (bench_session_output(&s, report, NULL))
			rc = CLI_EXIT_FAILURE;
		print_best(report);
	}
	json_decref(report);
	json_decref(points);
	bench_session_close(&s);
	return rc;
}

int cmd_optimise(int argc, char **argv)
{
	optimise_args a;
	memset(&a, 0, sizeof(a));
	int rc = parse_optimise(&a, argc, argv);
	if (rc > 0)
		printf("%s%s", optimise_usage, bench_common_usage);
	else if (rc < 0)
		fprintf(stderr, "(see bhive optimise --help)\n");
	rc = rc ? (rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE) : optimise_main(&a);
	free(a.models);
	free(a.sets);
	free(a.verifiers);
	free(a.c.datasets);
	free(a.c.arith);
	return rc;
}
