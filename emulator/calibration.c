/*
 * calibration.c - the arithmetic benchmark of the Python original run
 * against a simulated reasoner in process, exactly as `bhive bench
 * --arithmetic D:N --seed S` against `bhive-emulator --seed S` runs it:
 * the questions of libbhive's generator (src/bench/dataset.c), the
 * reflection turns of the engine's own prompt builder (docs/PROMPTS.md),
 * the seed the server derives for the model (emulator/converse.c) and the
 * in-tags evaluator (src/bench/evaluate.c). Any difference between this
 * and the real path would make the fitted curves lie about what users see;
 * tests/test_calibration_e2e.c checks the real path against the same
 * published figures.
 */
#include "calibration.h"
#include "bhive/bench.h"
#include "hive/hive_int.h"
#include "reasoner_int.h"
#include <string.h>

/* From ../shared/reference/published-results.md; round 4 was not published. */
static const double published[EMU_DIFFICULTIES][6] = {
    {0.84, 1.00, 1.00, 1.00, -1, 1.00},
    {0.47, 0.55, 0.58, 0.61, -1, 0.62},
    {0.22, 0.28, 0.30, 0.30, -1, 0.31},
};

const char *emu_difficulty_name(int difficulty)
{
	static const char *const names[] = {"easy", "medium", "hard"};
	return difficulty >= 0 && difficulty < EMU_DIFFICULTIES ? names[difficulty] : "?";
}

void emu_difficulty_range(int difficulty, long *lo, long *hi)
{
	static const long range[EMU_DIFFICULTIES][2] = {{0, 50}, {250, 750}, {1000, 2000}};
	int d = difficulty >= 0 && difficulty < EMU_DIFFICULTIES ? difficulty : 0;
	*lo = range[d][0];
	*hi = range[d][1];
}

double emu_published_accuracy(int difficulty, int round)
{
	if (difficulty < 0 || difficulty >= EMU_DIFFICULTIES || round < 0 || round > 5)
		return -1;
	return published[difficulty][round];
}

/* The server hashes its --seed with the model id (request_seed in
 * converse.c); params without an id take the seed as it is. */
uint64_t emu_calib_model_seed(const emu_reasoner_params *p, uint64_t seed)
{
	return p->model_id ? bh_hash64(p->model_id, strlen(p->model_id), seed) : seed;
}

/* Characters of every text block of the request, for the input token count. */
static size_t request_chars(const json_t *messages)
{
	size_t i, total = 0;
	json_t *m;
	json_array_foreach(messages, i, m) total +=
	    strlen(bh_json_str(json_array_get(json_object_get(m, "content"), 0), "text"));
	return total;
}

/* The engine's next turn: the model's answer, then its reflect prompt. */
static int add_reflection(json_t *messages, const bhive_config *cfg, const char *answer,
                          const char *question)
{
	char *turn = bh_prompt_reflect(cfg, NULL, question);
	int rc = turn ? 0 : BHIVE_ERR_NOMEM;
	if (!rc && (json_array_append_new(messages, bh_text_message("assistant", answer)) ||
	            json_array_append_new(messages, bh_text_message("user", turn))))
		rc = BHIVE_ERR_NOMEM;
	bh_free(turn);
	return rc;
}

/* What the calibration shares between its questions. */
typedef struct calib_run {
	const emu_reasoner_params *p;
	uint64_t seed; /* the model's seed as the server passes it */
	int rounds;
	bhive_config *cfg; /* default prompts, as bhive bench uses */
	bhive_evaluator *ev;
	emu_calib_result *out;
} calib_run;

/* The reply's score by the evaluator bhive bench uses for arithmetic. */
static double score_reply(const calib_run *run, const char *reply, const char *expected,
                          bhive_error *err)
{
	double score = 0;
	return bhive_evaluate(run->ev, reply, expected, &score, err) ? -1 : score;
}

/* One sample through rounds 0..rounds, tallied into run->out. */
static int run_question(const calib_run *run, const bhive_sample *s, bhive_error *err)
{
	json_t *req = bhive_sample_request(s);
	json_t *messages = json_object_get(req, "messages");
	int rc = req ? 0 : BHIVE_ERR_NOMEM;
	for (int r = 0; !rc && r <= run->rounds; r++) {
		emu_reply reply;
		run->out->input_tokens[r] += (double)request_chars(messages) / 4.0;
		rc = emu_reasoner_reply(run->p, req, run->seed, &reply, err);
		if (rc)
			break;
		double score = score_reply(run, reply.text, s->expected, err);
		rc = score < 0 ? BHIVE_ERR_INVALID : 0;
		run->out->accuracy[r] += score;
		run->out->output_tokens[r] += (double)strlen(reply.text) / 4.0;
		if (!rc && r < run->rounds)
			rc = add_reflection(messages, run->cfg, reply.text,
			                    bh_first_user_text(messages));
		emu_reply_release(&reply);
	}
	json_decref(req);
	return rc;
}

static int run_dataset(calib_run *run, const bhive_dataset *ds, bhive_error *err)
{
	int rc = 0;
	size_t n = bhive_dataset_size(ds);
	for (size_t i = 0; i < n && !rc; i++)
		rc = run_question(run, bhive_dataset_get(ds, i), err);
	for (int k = 0; k <= run->rounds; k++) {
		run->out->accuracy[k] /= (double)n;
		run->out->input_tokens[k] /= (double)n;
		run->out->output_tokens[k] /= (double)n;
	}
	return rc;
}

int emu_calibrate(const emu_reasoner_params *p, int difficulty, int n, int rounds, uint64_t seed,
                  emu_calib_result *out, bhive_error *err)
{
	memset(out, 0, sizeof(*out));
	if (n < 1 || rounds < 0 || rounds > EMU_CALIB_MAX_ROUNDS || difficulty < 0 ||
	    difficulty >= EMU_DIFFICULTIES)
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "calibration needs n >= 1, 0..%d rounds and a difficulty",
		                    EMU_CALIB_MAX_ROUNDS);
	calib_run run = {p, emu_calib_model_seed(p, seed), rounds, bhive_config_new(), NULL, out};
	/* Public calls clear err on entry: make each only after the last succeeded. */
	bhive_dataset *ds =
	    bhive_dataset_arithmetic(emu_difficulty_name(difficulty), (size_t)n, seed, err);
	if (ds)
		run.ev = bhive_evaluator_new("in-tags", err);
	int rc = ds && run.ev ? 0 : err && err->code ? err->code : BHIVE_ERR_NOMEM;
	if (!rc && !run.cfg)
		rc = bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory starting a calibration");
	out->rounds = rounds;
	out->questions = n;
	if (!rc)
		rc = run_dataset(&run, ds, err);
	bhive_evaluator_free(run.ev);
	bhive_dataset_free(ds);
	bhive_config_free(run.cfg);
	return rc;
}
