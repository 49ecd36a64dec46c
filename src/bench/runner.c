/*
 * runner.c - benchmark runs: many samples of many jobs through one hive
 * engine, each finished sample scored and committed to the store at once.
 *
 * The engine gets at most `concurrency` conversations running plus a short
 * queue ahead (so a finished conversation is replaced at once, without
 * waiting for this loop), never the whole dataset: memory stays bounded by
 * the concurrency, not by the number of samples. Jobs are fed round-robin,
 * one sample each in turn, so every job advances on a prefix of its data
 * and a budget check can stop an expensive job early.
 */
#include "bench/runner_int.h"
#include <math.h>
#include <signal.h>
#include <string.h>

bhive_runner *bhive_runner_new(bhive_client *client, bhive_store *store, const char *source,
                               bhive_error *err)
{
	bhive_error_clear(err);
	if (!client || !store) {
		bh_error_set(err, BHIVE_ERR_INVALID, "a runner needs a client and a store");
		return NULL;
	}
	bhive_runner *r = bh_calloc(1, sizeof(*r));
	if (!r || !(r->source = bh_strdup(source ? source : "unknown source"))) {
		bh_free(r);
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	r->client = client;
	r->store = store;
	r->concurrency = 32;
	r->min_samples = 5;
	return r;
}

static void job_release(bh_job *j)
{
	bh_free(j->name);
	bh_free(j->verifier);
	bhive_config_free(j->cfg);
	json_decref(j->labels);
	json_decref(j->config_json);
}

void bhive_runner_free(bhive_runner *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->njobs; i++)
		job_release(&r->jobs[i]);
	bh_free(r->jobs);
	bh_free(r->source);
	bhive_hive_free(r->hive);
	bh_free(r);
}

void bhive_runner_set_concurrency(bhive_runner *r, int n)
{
	if (r)
		r->concurrency = n > 0 ? n : 32;
}

void bhive_runner_set_progress(bhive_runner *r, bhive_runner_progress_fn fn, void *ud)
{
	if (!r)
		return;
	r->progress = fn;
	r->progress_ud = ud;
}

void bhive_runner_set_budget(bhive_runner *r, double max_cost_usd, double max_seconds,
                             size_t min_samples)
{
	if (!r)
		return;
	r->max_cost = max_cost_usd;
	r->max_seconds = max_seconds;
	r->min_samples = min_samples ? min_samples : 1;
}

void bhive_runner_cancel(bhive_runner *r)
{
	if (r && r->cancel < 2)
		r->cancel++;
}

/* The run key's config: the config's JSON plus the verifier's name, which
 * changes the figures but is not data in the config itself. */
static json_t *key_config(const bhive_job_spec *spec)
{
	json_t *c = bhive_config_to_json(spec->config);
	if (c && spec->verifier)
		json_object_set_new(c, "verifier", json_string(spec->verifier));
	return c;
}

/* Counts what the store already holds for the job: those are not sent again. */
static int job_resume_state(bhive_runner *r, bh_job *j, bhive_error *err)
{
	bhive_run_summary s;
	if (bhive_store_summary(r->store, j->run, &s, err))
		return -1;
	j->total = bhive_dataset_size(j->ds);
	j->resumed = s.samples;
	j->done = s.samples;
	j->cost_sum = s.total_cost_usd;
	j->wall_sum = s.mean_wall_ms * (double)s.samples;
	j->scored = s.scored;
	j->score_sum = s.accuracy * (double)s.scored;
	return 0;
}

int bhive_runner_add(bhive_runner *r, const bhive_job_spec *spec, bhive_error *err)
{
	bhive_error_clear(err);
	if (!r || !spec || !spec->config || !spec->dataset)
		return bh_error_set(err, BHIVE_ERR_INVALID, "a job needs a config and a dataset"),
		       -1;
	if (bhive_config_validate(spec->config, NULL, NULL, err))
		return -1;
	bh_job *jobs = bh_realloc(r->jobs, (r->njobs + 1) * sizeof(*jobs));
	if (!jobs)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory"), -1;
	r->jobs = jobs;
	bh_job *j = &jobs[r->njobs];
	memset(j, 0, sizeof(*j));
	j->name = bh_strdup(spec->name ? spec->name : "job");
	j->verifier = bh_strdup(spec->verifier);
	j->cfg = bhive_config_dup(spec->config);
	j->labels = spec->labels ? json_deep_copy(spec->labels) : json_object();
	j->config_json = key_config(spec);
	j->ds = spec->dataset;
	j->ev = spec->evaluator;
	if (!j->name || !j->cfg || !j->labels || !j->config_json ||
	    (spec->verifier && !j->verifier)) {
		job_release(j);
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory"), -1;
	}
	j->run = bhive_store_run(r->store, j->name, j->config_json,
	                         bhive_dataset_fingerprint(j->ds), bhive_dataset_name(j->ds),
	                         j->ev ? bhive_evaluator_spec(j->ev) : "none", r->source, err);
	if (j->run <= 0 || job_resume_state(r, j, err)) {
		job_release(j);
		return -1;
	}
	return (int)r->njobs++;
}

/* ---- progress ---------------------------------------------------------- */

static void report_progress(bhive_runner *r, int finished)
{
	if (!r->progress)
		return;
	bhive_runner_progress p = {0};
	for (size_t i = 0; i < r->njobs; i++) {
		const bh_job *j = &r->jobs[i];
		p.total += j->total;
		p.done += j->done;
		p.resumed += j->resumed;
		p.failed += j->failed;
		p.in_flight += j->in_flight;
		p.scored += j->scored;
		p.score_sum += j->score_sum;
		if (j->stopped)
			p.skipped += j->total - j->next_count;
	}
	p.cost_usd = r->cost_spent;
	p.elapsed_s = bh_now_s() - r->started;
	size_t now_done = p.done - p.resumed;
	p.rate = p.elapsed_s > 0 ? (double)now_done / p.elapsed_s : 0;
	size_t left = p.total - p.done - p.failed - p.skipped;
	p.eta_s = p.rate > 0 ? (double)left / p.rate : -1;
	p.finished = finished;
	r->progress(r->progress_ud, &p);
}

/* ---- feeding the engine ------------------------------------------------ */

/* A conversation's user data is its job and sample index packed into the
 * pointer itself: nothing to allocate, nothing to leak when a run is cut
 * short with conversations still in the engine. */
static void *pack_tag(size_t job, size_t index)
{
	return (void *)(uintptr_t)(((uint64_t)job << 40) | (uint64_t)index);
}

static void unpack_tag(void *tag, size_t *job, size_t *index)
{
	uint64_t v = (uint64_t)(uintptr_t)tag;
	*job = (size_t)(v >> 40);
	*index = (size_t)(v & ((1ULL << 40) - 1));
}

/* The next sample index of job j that the store does not hold, or the
 * dataset size when none is left. Samples are visited once each. */
static size_t job_next_sample(bhive_runner *r, bh_job *j)
{
	while (j->next < j->total) {
		size_t i = j->next++;
		j->next_count = j->next;
		if (!bhive_store_has_sample(r->store, j->run, i))
			return i;
	}
	return j->total;
}

static int job_open(const bh_job *j)
{
	return !j->stopped && j->next < j->total;
}

/* Adds one sample of job ji to the engine. 0, 1 when the job has none left,
 * or -1 with err. */
static int add_sample(bhive_runner *r, size_t ji, bhive_error *err)
{
	bh_job *j = &r->jobs[ji];
	size_t idx = job_next_sample(r, j);
	if (idx >= j->total)
		return 1;
	json_t *req = bhive_sample_request(bhive_dataset_get(j->ds, idx));
	if (!req)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory"), -1;
	unsigned long id = bhive_hive_add(r->hive, j->cfg, req, pack_tag(ji, idx), err);
	json_decref(req);
	if (!id)
		return -1;
	j->in_flight++;
	r->in_engine++;
	return 0;
}

/* Keeps the engine's running slots full plus a queue ahead, taking one
 * sample of each open job in turn. */
static int fill(bhive_runner *r, bhive_error *err)
{
	size_t want = (size_t)r->concurrency + (size_t)r->queue_ahead;
	size_t idle = 0;
	while (r->cancel == 0 && r->in_engine < want && idle < r->njobs) {
		size_t ji = r->cursor++ % r->njobs;
		if (!job_open(&r->jobs[ji])) {
			idle++;
			continue;
		}
		int rc = add_sample(r, ji, err);
		if (rc < 0)
			return -1;
		idle = rc ? idle + 1 : 0;
	}
	return 0;
}

/* ---- finished samples -------------------------------------------------- */

static const char *final_answer(const bhive_result *res)
{
	const char *a = bhive_result_answer(res);
	return a ? a : bhive_result_slot_answer(res, 0);
}

static double model_latency(const bhive_result *res)
{
	double sum = 0;
	bhive_model_stats st;
	for (size_t i = 0; bhive_result_model_stats(res, i, &st) == 0; i++)
		sum += st.latency_ms;
	return sum;
}

/* Scores the answer: -1 when there is nothing to score against. */
static int score_answer(const bh_job *j, const bhive_sample *s, const char *answer, double *score,
                        bhive_error *err)
{
	*score = -1;
	if (!j->ev || !s->expected)
		return 0;
	if (!answer) {
		*score = 0;
		return 0;
	}
	return bhive_evaluate(j->ev, answer, s->expected, score, err);
}

/* Stops a job whose running means over a prefix break the budget. */
static void check_budget(bhive_runner *r, bh_job *j)
{
	if (j->stopped || j->done < r->min_samples || j->done == 0)
		return;
	double cost = j->cost_sum / (double)j->done, secs = j->wall_sum / (double)j->done / 1000.0;
	if (r->max_cost > 0 && cost > r->max_cost)
		snprintf(j->stop_reason, sizeof(j->stop_reason),
		         "stopped early after %zu samples: mean cost $%.6f per sample is over the "
		         "budget of $%.6f",
		         j->done, cost, r->max_cost);
	else if (r->max_seconds > 0 && secs > r->max_seconds)
		snprintf(j->stop_reason, sizeof(j->stop_reason),
		         "stopped early after %zu samples: mean time %.2f s per sample is over the "
		         "budget of %.2f s",
		         j->done, secs, r->max_seconds);
	else
		return;
	j->stopped = 1;
	BH_INFO("job \"%s\" %s", j->name, j->stop_reason);
}

static void note_failure(bh_job *j, const bhive_sample *s, const bhive_error *e)
{
	j->failed++;
	if (!j->first_error[0])
		snprintf(j->first_error, sizeof(j->first_error), "sample \"%s\": %s", s->id,
		         e && e->message[0] ? e->message : "the conversation failed");
}

/* An answer the evaluator could not score was still paid for: it is
 * recorded with no score and the evaluator's message as its error, so a
 * resumed run does not send it again. */
static void note_eval_error(bh_job *j, const bhive_sample *s, bhive_sample_result *sr,
                            const bhive_error *e, char *msg, size_t n)
{
	snprintf(msg, n, "the evaluator failed: %s", e->message[0] ? e->message : "no score");
	sr->score = -1;
	sr->error = msg;
	if (!j->first_error[0])
		snprintf(j->first_error, sizeof(j->first_error), "sample \"%s\": %s", s->id, msg);
}

/* Builds the store record of a successful sample and commits it. */
static int record_sample(bhive_runner *r, bh_job *j, size_t idx, const bhive_result *res,
                         bhive_error *err)
{
	const bhive_sample *s = bhive_dataset_get(j->ds, idx);
	const char *answer = final_answer(res);
	bhive_sample_result sr = {
	    .index = idx, .sample_id = s->id, .answer = answer, .expected = s->expected};
	bhive_error everr = {0};
	char evmsg[BHIVE_ERROR_TEXT_LENGTH + 32];
	if (score_answer(j, s, answer, &sr.score, &everr))
		note_eval_error(j, s, &sr, &everr, evmsg, sizeof(evmsg));
	bhive_usage u = bhive_result_usage(res);
	sr.input_tokens = (long)u.input_tokens;
	sr.output_tokens = (long)u.output_tokens;
	sr.cache_read_tokens = (long)u.cache_read_tokens;
	sr.cache_write_tokens = (long)u.cache_write_tokens;
	sr.cost_usd = bhive_result_cost_usd(res);
	sr.latency_ms = model_latency(res);
	sr.wall_ms = bhive_result_wall_ms(res);
	sr.calls = bhive_result_calls(res);
	json_t *trace = bhive_result_to_json(res);
	sr.trace = trace;
	int rc = bhive_store_put(r->store, j->run, &sr, err);
	json_decref(trace);
	if (rc)
		return -1;
	j->done++;
	j->cost_sum += sr.cost_usd;
	j->wall_sum += sr.wall_ms;
	if (sr.score >= 0) {
		j->scored++;
		j->score_sum += sr.score;
	}
	return 0;
}

/* Takes one finished conversation: records it, or counts the failure (the
 * money it spent still counts). */
static int take_result(bhive_runner *r, bhive_result *res, void *tag, bhive_error *err)
{
	size_t ji, idx;
	unpack_tag(tag, &ji, &idx);
	bh_job *j = &r->jobs[ji];
	j->in_flight--;
	r->in_engine--;
	r->cost_spent += bhive_result_cost_usd(res);
	int rc = 0;
	if (bhive_result_code(res))
		note_failure(j, bhive_dataset_get(j->ds, idx), bhive_result_error(res));
	else
		rc = record_sample(r, j, idx, res, err);
	check_budget(r, j);
	bhive_result_free(res);
	return rc;
}

static int drain_done(bhive_runner *r, bhive_error *err)
{
	bhive_result *res;
	void *ud;
	int rc = 0;
	while ((res = bhive_hive_next_done(r->hive, NULL, &ud)) != NULL) {
		if (take_result(r, res, ud, err))
			rc = -1;
		report_progress(r, 0);
	}
	return rc;
}

/* The loop: perform in short slices so results reach the store at once. */
static int run_loop(bhive_runner *r, bhive_error *err)
{
	while (r->in_engine > 0) {
		if (r->cancel >= 2)
			return bh_error_set(err, BHIVE_ERR_CANCELLED, "the run was interrupted");
		if (bhive_hive_perform(r->hive, 5) < 0)
			return bh_error_set(err, BHIVE_ERR_NETWORK, "the client loop failed");
		if (drain_done(r, err) || fill(r, err))
			return -1;
	}
	return r->cancel ? bh_error_set(err, BHIVE_ERR_CANCELLED, "the run was interrupted") : 0;
}

/* After a hard cancel or a failure, conversations may still have calls in
 * flight on the client: the engine stays until bhive_runner_free, which
 * cancels them on the client (still alive then: it is freed after). */
static void forget_unfinished(bhive_runner *r)
{
	for (size_t i = 0; i < r->njobs; i++)
		r->jobs[i].in_flight = 0;
	r->in_engine = 0;
}

int bhive_runner_run(bhive_runner *r, bhive_error *err)
{
	bhive_error_clear(err);
	if (!r)
		return bh_error_set(err, BHIVE_ERR_INVALID, "no runner");
	if (r->hive || r->ran)
		return bh_error_set(err, BHIVE_ERR_INVALID, "a runner runs once");
	if (!(r->hive = bhive_hive_new(r->client, err)))
		return err ? err->code : BHIVE_ERR_NOMEM;
	/* A short queue ahead covers the loop's slice; under a budget none, so
	 * a job stopped early leaves nothing queued to pay for. */
	r->queue_ahead = r->max_cost > 0 || r->max_seconds > 0 ? 0 : r->concurrency / 8 + 4;
	bhive_hive_set_max_running(r->hive, r->concurrency);
	r->started = bh_now_s();
	report_progress(r, 0);
	int rc = fill(r, err) ? -1 : run_loop(r, err);
	if (rc)
		rc = err && err->code ? err->code : BHIVE_ERR_NETWORK;
	if (r->in_engine == 0) {
		bhive_hive_free(r->hive);
		r->hive = NULL;
		r->ran = 1;
	}
	forget_unfinished(r);
	report_progress(r, 1);
	return rc;
}
