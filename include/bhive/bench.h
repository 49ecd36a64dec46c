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

#ifdef __cplusplus
}
#endif
#endif
