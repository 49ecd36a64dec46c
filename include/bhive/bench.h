#ifndef BHIVE_BENCH_H
#define BHIVE_BENCH_H

/*
 * Benchmarks: datasets, evaluators and the results store.
 *
 * A dataset is a list of samples (a prompt or Converse messages, an
 * optional expected answer, optional metadata). An evaluator scores an
 * answer against the expected one. The store is a SQLite file holding every
 * finished sample of every run, so that running the same benchmark again
 * resumes it and never pays twice for a sample.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "error.h"
#include "hive.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- datasets ---------------------------------------------------------- */

typedef struct bhive_sample {
	const char *id;          /* "id" member, else the 1-based line number as text */
	const char *prompt;      /* "prompt", or NULL when messages are given */
	const json_t *messages;  /* "messages" (Converse shape), or NULL */
	const char *expected;    /* "expected" (string or number as text), or NULL */
	const json_t *metadata;  /* "metadata", or NULL */
	int line;                /* line in the JSONL file, 0 for generated samples */
} bhive_sample;

typedef struct bhive_dataset bhive_dataset;

/* How bhive_dataset_load_jsonl treats a malformed line. */
typedef enum bhive_bad_line {
	BHIVE_BAD_LINE_FAIL = 0, /* stop with BHIVE_ERR_PARSE naming the line */
	BHIVE_BAD_LINE_SKIP = 1  /* skip it, report it through the callback */
} bhive_bad_line;

/* Called for every skipped line with its number and the problem. */
typedef void (*bhive_bad_line_fn)(void *ud, int line, const char *problem);

/*
 * Loads a JSONL file: one JSON object a line with "prompt" (string) or
 * "messages" (array), optional "expected" (string or number), "id",
 * "metadata". Blank lines are ignored. Returns NULL and fills err on
 * failure (the line number in err->line).
 */
bhive_dataset *bhive_dataset_load_jsonl(const char *path, bhive_bad_line mode,
                                        bhive_bad_line_fn on_bad, void *ud, bhive_error *err);

/*
 * The arithmetic benchmark of the Python original: "What is the result of
 * {a}+{b}*{c}+{d}-{e}*{f}? Make sure to state your answer in <answer>
 * </answer> tags." with operands uniform in [0,50) "easy", [250,750)
 * "medium", [1000,2000) "hard"; expected = a+b*c+d-e*f. Seeded.
 */
bhive_dataset *bhive_dataset_arithmetic(const char *difficulty, size_t n, uint64_t seed,
                                        bhive_error *err);

size_t bhive_dataset_size(const bhive_dataset *ds);
/* Borrowed; valid until the dataset is freed. NULL past the end. */
const bhive_sample *bhive_dataset_get(const bhive_dataset *ds, size_t i);
/* Whether every sample has an expected answer. */
int bhive_dataset_has_expected(const bhive_dataset *ds);
/* A stable identity of the content (hash as 16 hex digits), for run keys. */
const char *bhive_dataset_fingerprint(const bhive_dataset *ds);
/* A short description: the file name or "arithmetic:medium:100:seed=1". */
const char *bhive_dataset_name(const bhive_dataset *ds);
/* The Converse request body of a sample: {"messages": [...]} (new reference). */
json_t *bhive_sample_request(const bhive_sample *s);
void bhive_dataset_free(bhive_dataset *ds);

/* ---- evaluators -------------------------------------------------------- */

typedef struct bhive_evaluator bhive_evaluator;

/*
 * Parses an evaluator spec:
 *   "exact"            trimmed, case-insensitive equality
 *   "contains"         the expected text occurs in the answer (case-insensitive)
 *   "in-tags[:TAG]"    the last <TAG>...</TAG> (default tag "answer") equals expected
 *   "numeric[:TOL]"    the last number in the answer (or in <answer> tags when
 *                      present) is within TOL (default 1e-9) of expected
 *   "cmd:COMMAND ARGS" runs COMMAND without a shell with env BHIVE_ANSWER and
 *                      BHIVE_EXPECTED, the answer on stdin; its stdout's
 *                      first number is the score (0..1); exit != 0 is an error
 */
bhive_evaluator *bhive_evaluator_new(const char *spec, bhive_error *err);
void bhive_evaluator_free(bhive_evaluator *ev);
const char *bhive_evaluator_spec(const bhive_evaluator *ev);

/* Scores answer against expected into *score (0..1). 0 or a bhive_code. */
int bhive_evaluate(const bhive_evaluator *ev, const char *answer, const char *expected,
                   double *score, bhive_error *err);

/* ---- results store ----------------------------------------------------- */

typedef struct bhive_store bhive_store;

/*
 * Opens or creates a results store. A file that is not a bhive store (not
 * SQLite, another application's database, a newer schema, a corrupt file)
 * is BHIVE_ERR_STORE and is never written to.
 */
bhive_store *bhive_store_open(const char *path, bhive_error *err);
void bhive_store_close(bhive_store *st);

/*
 * Finds or creates the run for (config, dataset fingerprint, evaluator,
 * source): the same command run again gets the same run id back. source
 * says where figures come from ("simulated models (bhive-emulator)" or
 * "Amazon Bedrock (us-east-1)"). Returns the run id (> 0) or 0 with err.
 */
int64_t bhive_store_run(bhive_store *st, const char *name, const json_t *config,
                        const char *dataset_fingerprint, const char *dataset_name,
                        const char *evaluator, const char *source, bhive_error *err);

/* Whether the run already holds a finished sample at this index. */
int bhive_store_has_sample(bhive_store *st, int64_t run, size_t index);

/* One finished sample. */
typedef struct bhive_sample_result {
	size_t index;
	const char *sample_id;
	const char *answer;        /* may be NULL when the sample failed */
	const char *expected;      /* may be NULL */
	double score;              /* < 0 when there was nothing to score */
	long input_tokens, output_tokens, cache_read_tokens, cache_write_tokens;
	double cost_usd;
	double latency_ms;         /* summed model latency */
	double wall_ms;
	int calls;
	const char *error;         /* NULL on success */
	const json_t *trace;       /* the whole result JSON, may be NULL */
} bhive_sample_result;

/* Records a finished sample, committed at once (so a crash loses nothing
 * already recorded). Recording the same index twice keeps the first. */
int bhive_store_put(bhive_store *st, int64_t run, const bhive_sample_result *r,
                    bhive_error *err);

/* Aggregates of a run. */
typedef struct bhive_run_summary {
	int64_t run;
	size_t samples;            /* finished */
	size_t scored;
	size_t errors;
	double accuracy;           /* mean score over scored samples */
	double mean_cost_usd, total_cost_usd;
	double mean_latency_ms, mean_wall_ms;
	double mean_input_tokens, mean_output_tokens;
} bhive_run_summary;
int bhive_store_summary(bhive_store *st, int64_t run, bhive_run_summary *out, bhive_error *err);

/* The raw SQLite handle (sqlite3 *) for reports. Borrowed. */
void *bhive_store_db(bhive_store *st);

/* ---- runner (engineer "bench") ------------------------------------------
 *
 * A runner sends every sample of one or more jobs (a config over a dataset,
 * scored by an evaluator) through one hive engine, with at most
 * `concurrency` conversations in flight, samples of the jobs interleaved so
 * that every job advances on a prefix of its data at once. Each finished
 * sample is scored and written to the store at once; a sample the store
 * already holds for the same run key is never sent again (resume). A sample
 * whose conversation failed is not recorded, so running again retries it.
 */

typedef struct bhive_runner bhive_runner;

/* What one job is. Everything is copied or borrowed as noted. */
typedef struct bhive_job_spec {
	const char *name;                 /* row label, e.g. "claude-3-sonnet r=2" (copied) */
	const bhive_config *config;       /* copied (its verifier callback and ud are kept) */
	const char *verifier;             /* name of the verifier set on config, part of the
	                                   * run key (copied); NULL: none */
	const bhive_dataset *dataset;     /* borrowed: must outlive the runner */
	const bhive_evaluator *evaluator; /* borrowed; NULL: no scores */
	const json_t *labels;             /* extra members for reports, e.g.
	                                   * {"difficulty": "easy"} (copied); may be NULL */
} bhive_job_spec;

/* A snapshot for progress displays; all figures over every job. */
typedef struct bhive_runner_progress {
	size_t done;          /* finished: recorded now or found in the store */
	size_t total;         /* samples of every job (those of stopped jobs included) */
	size_t resumed;       /* found in the store at the start: not sent */
	size_t failed;        /* conversations that failed (not recorded) */
	size_t skipped;       /* not sent because their job was stopped early */
	size_t in_flight;
	size_t scored;
	double score_sum;     /* accuracy so far = score_sum / scored */
	double cost_usd;      /* spent by this process */
	double elapsed_s;     /* since bhive_runner_run started */
	double rate;          /* samples finished per second by this process */
	double eta_s;         /* seconds left at that rate; < 0 unknown */
	int finished;         /* 1 in the last call, made when the run ends */
} bhive_runner_progress;
typedef void (*bhive_runner_progress_fn)(void *ud, const bhive_runner_progress *p);

/*
 * A runner on client and store (both borrowed: they must outlive it).
 * source says where figures come from (see bhive_bench_source); it is part
 * of every run key. NULL with err on failure.
 */
bhive_runner *bhive_runner_new(bhive_client *client, bhive_store *store, const char *source,
                               bhive_error *err);
/* NULL ok. Calls a run cut short (second cancel, loop failure) left on the
 * client are cancelled there: free the runner before the client. */
void bhive_runner_free(bhive_runner *r);
/* Conversations in flight at once (default 32, a fit for Bedrock's default quotas). */
void bhive_runner_set_concurrency(bhive_runner *r, int n);
/* Called after every finished sample and once at the end, on the running thread. */
void bhive_runner_set_progress(bhive_runner *r, bhive_runner_progress_fn fn, void *ud);
/*
 * A budget per sample: a job whose running mean cost (USD) or mean wall time
 * (seconds) over at least min_samples finished samples exceeds it starts no
 * further samples and is reported as stopped early. <= 0: no limit.
 */
void bhive_runner_set_budget(bhive_runner *r, double max_cost_usd, double max_seconds,
                             size_t min_samples);
/*
 * Adds a job and finds or creates its run in the store. Returns its index
 * (>= 0), or -1 with err (an invalid config, a store failure).
 */
int bhive_runner_add(bhive_runner *r, const bhive_job_spec *spec, bhive_error *err);
/*
 * Runs every job to the end. Returns 0 (failed samples do not make it
 * fail: see the progress counts), BHIVE_ERR_CANCELLED after
 * bhive_runner_cancel, or another code with err (the store or the loop
 * failed).
 */
int bhive_runner_run(bhive_runner *r, bhive_error *err);
/*
 * Asks a run to stop; safe from a signal handler. The first call stops
 * new samples and lets those in flight finish (and be recorded); the
 * second drops them: the run returns at once, and the runner then holds
 * calls still in flight on the client, so free the client before the
 * runner.
 */
void bhive_runner_cancel(bhive_runner *r);

/*
 * The report of every job as JSON (a new reference):
 *   {"source": "...", "rows": [{"name", "run", "models": [...], "reflections",
 *    "aggregator", "verifier", "augment", LABELS..., "dataset", "evaluator",
 *    "total", "samples", "scored", "failed", "evaluator_errors" (samples
 *    recorded without a score because the evaluator failed), "accuracy" (null when nothing was
 *    scored), "mean_cost_usd", "total_cost_usd", "mean_latency_ms" (model
 *    latency summed per sample), "mean_wall_ms", "mean_input_tokens",
 *    "mean_output_tokens", "stopped_early", "stop_reason", "first_error"}]}
 * Figures come from the store, so resumed samples count.
 */
json_t *bhive_runner_report(bhive_runner *r, bhive_error *err);

/*
 * Where figures come from: "simulated models (bhive-emulator)" when the
 * client's endpoint answers GET /_emulator/health as the emulator does,
 * else "Amazon Bedrock (REGION)" (plus " via ENDPOINT" for an endpoint
 * that is not an AWS one). Writes into out (size n) and returns out.
 */
const char *bhive_bench_source(const bhive_client *client, char *out, size_t n);
/* 1 when a source string names simulated models. */
int bhive_source_is_simulated(const char *source);

/* ---- reports ------------------------------------------------------------
 * Writers over the report JSON above (optionally with "best" and "pareto"
 * from bhive_optimise_select). Each says where its figures came from.
 */

/* An aligned table: name, accuracy, mean cost, mean latency, tokens, n. */
int bhive_report_write_table(FILE *out, const json_t *report);
/* CSV (RFC 4180): a header row, then one row per configuration; the
 * "source" column says where each row's figures came from. */
int bhive_report_write_csv(FILE *out, const json_t *report);
/* Indented JSON of the report. */
int bhive_report_write_json(FILE *out, const json_t *report);

/*
 * PNG plots with gnuplot (pngcairo) into dir (created if missing):
 * accuracy.png (accuracy against reflection rounds, one line per
 * difficulty or dataset), tradeoff.png (mean latency against mean cost,
 * colour = accuracy) and pareto.png (the Pareto front of accuracy against
 * cost, one front per difficulty or dataset). reference, when not NULL,
 * is {"label": "...", "series": {"easy": [[rounds, accuracy], ...], ...}},
 * drawn dashed beside the measured lines.
 * Writes the names of the files made into *written (a new array, may be
 * NULL). BHIVE_ERR_IO when gnuplot is missing or fails (the message says so).
 */
int bhive_report_plot(const json_t *report, const json_t *reference, const char *dir,
                      json_t **written, bhive_error *err);

/* ---- optimisation -------------------------------------------------------- */

/*
 * Expands a grid into job configs:
 *   {"models": [["a"], ["a", "b"]] (or ["a", "b"]: one model each),
 *    "reflections": [0, 1, 3], "aggregators": [null, "id"],
 *    "verifiers": [null, "arithmetic"], "augment": ["none", "lexical"],
 *    "base": {config members every configuration shares}}
 * Returns an array of {"name": "...", "config": {...}, "verifier": name|null}
 * (a new reference), or NULL with err. Combinations that add nothing are
 * left out: an aggregator or augmentation for a single model, a verifier
 * for a single model without reflections. Several models without an
 * aggregator answer by majority vote.
 */
json_t *bhive_grid_expand(const json_t *grid, bhive_error *err);

/*
 * Adds to a report: "budget": {"max_cost_usd", "max_seconds"}, per row
 * "within_budget", "best": the index of the best row within budget
 * (highest accuracy, then lower mean cost, then lower mean wall time) or
 * null, and "pareto": indexes of the rows no other row beats on accuracy,
 * cost and latency at once. Budgets <= 0 are no limit. Rows stopped early
 * (figures of a prefix only) are never within budget nor on the front.
 */
int bhive_optimise_select(json_t *report, double max_cost_usd, double max_seconds,
                          bhive_error *err);

#ifdef __cplusplus
}
#endif
#endif
