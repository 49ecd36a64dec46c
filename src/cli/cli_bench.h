/*
 * cli_bench.h - what `bhive bench`, `bhive optimise` and `bhive demo`
 * share: the options common to every benchmark run and a session that
 * loads datasets, opens the store, runs the jobs with a progress display
 * and writes the reports (cmd_bench.c).
 */
#ifndef BHIVE_CLI_BENCH_H
#define BHIVE_CLI_BENCH_H

#include "cli.h"
#include <getopt.h>
#include <stdio.h>

int cmd_bench(int argc, char **argv);
int cmd_optimise(int argc, char **argv);
int cmd_demo(int argc, char **argv);

/* Options of every benchmark command. Strings are borrowed from argv. */
typedef struct bench_common {
	const char **datasets; /* JSONL files */
	size_t ndatasets;
	const char **arith; /* "easy", "medium:20" ... */
	size_t narith;
	const char *evaluator; /* NULL: in-tags for arithmetic, else exact */
	const char *store_path;
	const char *output; /* table, json, csv */
	const char *plots_dir, *csv_path, *json_path;
	const char *endpoint, *region, *profile, *retry_mode, *prices_file;
	const char *access_key_id, *secret_access_key; /* the demo's emulator only */
	long concurrency, max_attempts, seed, default_samples;
	int bad_line_skip;
	int progress;         /* -1 auto, 0 off, 1 terminal line, 2 plain lines */
	int quiet;            /* no "wrote ..." notes */
	int require_expected; /* refuse samples without an expected answer (optimise) */
	int temp_store;       /* the store is thrown away at the end (demo) */
} bench_common;

/* Everything a run holds, released by bench_session_close. */
typedef struct bench_session {
	bench_common *c;
	bhive_dataset **ds;
	char **ds_label; /* difficulty or file name */
	int *ds_arith;   /* 1: an arithmetic difficulty */
	size_t nds;
	bhive_evaluator *ev;
	bhive_client *client;
	bhive_prices *prices;
	bhive_store *store;
	bhive_runner *runner;
	char source[256];
	cli_verifier **verifiers; /* external verifier commands, one per configuration */
	size_t nverifiers;
	bhive_sql_verifier **sql;
	size_t nsql;
	size_t njobs;
	double last_print; /* progress display state */
	double next_pct;
	int interrupted;
} bench_session;

/* Sets the defaults of every benchmark command. */
void bench_common_init(bench_common *c);
/*
 * Parses an option common to the benchmark commands (an option code of
 * bench_long_options below). 0 ok, 1 not a common option, -1 bad value.
 */
int bench_common_option(bench_common *c, int code, const char *value);
/* Common options for getopt_long, to append to a command's own. */
#define BENCH_COMMON_OPT_BASE 1000
extern const struct option bench_common_options[];
extern const size_t bench_common_options_count;
/* The usage text of the common options. */
extern const char bench_common_usage[];

/*
 * Loads the datasets, the evaluator, the client (and says where figures
 * come from), the store and the runner. Returns the exit code: 0 ok, else
 * CLI_EXIT_USAGE / CLI_EXIT_FAILURE with the message printed.
 */
int bench_session_open(bench_session *s, bench_common *c);
/*
 * Adds one configuration (config JSON and a verifier spec: NULL,
 * "arithmetic", "sql:DB" or "cmd:COMMAND") over every dataset. name is the
 * row label's configuration part. Returns an exit code.
 */
int bench_session_add(bench_session *s, const json_t *config, const char *verifier,
                      const char *name);
/* Runs every job with progress and Ctrl-C handling; the report via *report. */
int bench_session_run(bench_session *s, json_t **report);
/* Table / CSV / JSON on stdout, exports and plots. reference may be NULL. */
int bench_session_output(bench_session *s, const json_t *report, const json_t *reference);
void bench_session_close(bench_session *s);

/* JSON members for reading reports: NULL / def when absent or of another type. */
static inline const char *cli_jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static inline json_int_t cli_jint(const json_t *o, const char *key, json_int_t def)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

static inline double cli_jnum(const json_t *o, const char *key, double def)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : def;
}

/* "0,1,2,3,5" into a new array of integers; NULL with a message. */
json_t *cli_parse_int_list(const char *opt, const char *text);

#endif
