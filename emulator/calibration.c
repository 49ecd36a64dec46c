/*
 * calibration.c - the arithmetic benchmark of the Python original run
 * against a simulated reasoner in process: the same question text, the same
 * reflection turns as bhive's engine sends (docs/PROMPTS.md), the answer
 * read from <answer> tags and compared with the exact value.
 */
#include "calibration.h"
#include "reasoner_int.h"
#include <string.h>

static const char reflect_prompt[] = "\nPlease reiterate your answer by thinking step by step, "
                                     "making sure to state your answer at the end of the "
                                     "response.\n";

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

static json_t *text_message(const char *role, const char *text)
{
	return json_pack("{s:s, s:[{s:s}]}", "role", role, "content", "text", text);
}

/* The question as the original's benchmark writes it; *truth its value. */
static char *make_question(bh_rng *r, int difficulty, long long *truth)
{
	long lo, hi;
	long long op[6];
	emu_difficulty_range(difficulty, &lo, &hi);
	for (int i = 0; i < 6; i++)
		op[i] = lo + (long long)bh_rng_below(r, (uint64_t)(hi - lo));
	*truth = op[0] + op[1] * op[2] + op[3] - op[4] * op[5];
	return bh_asprintf(
	    "What is the result of %lld+%lld*%lld+%lld-%lld*%lld? Make sure to state "
	    "your answer in <answer> </answer> tags.",
	    op[0], op[1], op[2], op[3], op[4], op[5]);
}

static bool is_right(const char *reply, long long truth)
{
	char v[64];
	long n;
	return emu_tag_value(reply, "answer", v, sizeof(v)) && bh_parse_long(v, &n) == 0 &&
	       n == truth;
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

/* The reflection turn: reflect + "\n" + the reminder of the question. */
static int add_reflection(json_t *messages, const char *answer, const char *question)
{
	char *turn = bh_asprintf("%s\n\nAs a reminder, the original question is %s", reflect_prompt,
	                         question);
	int rc = turn ? 0 : BHIVE_ERR_NOMEM;
	if (!rc && (json_array_append_new(messages, text_message("assistant", answer)) ||
	            json_array_append_new(messages, text_message("user", turn))))
		rc = BHIVE_ERR_NOMEM;
	bh_free(turn);
	return rc;
}

/* One question through rounds 0..rounds, tallied into out. */
static int run_question(const emu_reasoner_params *p, const char *question, long long truth,
                        int rounds, uint64_t seed, emu_calib_result *out, bhive_error *err)
{
	json_t *req = json_pack("{s:[o]}", "messages", text_message("user", question));
	json_t *messages = json_object_get(req, "messages");
	int rc = req ? 0 : BHIVE_ERR_NOMEM;
	for (int r = 0; !rc && r <= rounds; r++) {
		emu_reply reply;
		out->input_tokens[r] += (double)request_chars(messages) / 4.0;
		rc = emu_reasoner_reply(p, req, seed, &reply, err);
		if (rc)
			break;
		out->accuracy[r] += is_right(reply.text, truth);
		out->output_tokens[r] += (double)strlen(reply.text) / 4.0;
		if (r < rounds)
			rc = add_reflection(messages, reply.text, question);
		emu_reply_release(&reply);
	}
	json_decref(req);
	return rc;
}

int emu_calibrate(const emu_reasoner_params *p, int difficulty, int n, int rounds, uint64_t seed,
                  emu_calib_result *out, bhive_error *err)
{
	bh_rng r;
	memset(out, 0, sizeof(*out));
	if (n < 1 || rounds < 0 || rounds > EMU_CALIB_MAX_ROUNDS)
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "calibration needs n >= 1 and 0..%d rounds",
		                    EMU_CALIB_MAX_ROUNDS);
	bh_rng_seed(&r, bh_hash64(&difficulty, sizeof(difficulty), seed));
	out->rounds = rounds;
	out->questions = n;
	int rc = 0;
	for (int i = 0; i < n && !rc; i++) {
		long long truth;
		char *q = make_question(&r, difficulty, &truth);
		rc = q ? run_question(p, q, truth, rounds, seed, out, err) : BHIVE_ERR_NOMEM;
		bh_free(q);
	}
	for (int k = 0; k <= rounds; k++) {
		out->accuracy[k] /= n;
		out->input_tokens[k] /= n;
		out->output_tokens[k] /= n;
	}
	return rc;
}
