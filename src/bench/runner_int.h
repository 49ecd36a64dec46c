/*
 * runner_int.h - the runner's state, shared by runner.c and report.c.
 * Not API.
 */
#ifndef BH_RUNNER_INT_H
#define BH_RUNNER_INT_H

#include "bhive/bench.h"
#include "util/util.h"
#include <signal.h>

/* One job: a config over a dataset, and its counts in this process. */
typedef struct bh_job {
	char *name;
	char *verifier;
	bhive_config *cfg;
	json_t *labels;
	json_t *config_json; /* the run key's config (verifier included) */
	const bhive_dataset *ds;
	const bhive_evaluator *ev;
	int64_t run;
	size_t total;      /* samples in the dataset */
	size_t next;       /* next index to look at */
	size_t next_count; /* indexes looked at (for the skipped count) */
	size_t resumed;    /* found in the store at the start */
	size_t done;       /* recorded (resumed included) */
	size_t failed;
	size_t in_flight;
	size_t scored;
	double score_sum, cost_sum, wall_sum;
	int stopped;
	char stop_reason[192];
	char first_error[320];
} bh_job;

struct bhive_runner {
	bhive_client *client;
	bhive_store *store;
	bhive_hive *hive;
	char *source;
	bh_job *jobs;
	size_t njobs;
	size_t cursor; /* round-robin position */
	int concurrency;
	int queue_ahead;
	size_t in_engine; /* conversations added and not yet taken back */
	bhive_runner_progress_fn progress;
	void *progress_ud;
	double max_cost, max_seconds;
	size_t min_samples;
	double started;
	double cost_spent;
	int ran;
	volatile sig_atomic_t cancel;
};

#endif
