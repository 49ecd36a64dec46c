/* test_reasoner.c - the simulated reasoners: determinism, the texts they
 * write, the turns they recognise (docs/PROMPTS.md), structured output,
 * reasoning content, the default model table and a reduced calibration
 * against the published curves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calibration.h"
#include "reasoner_int.h"

#define SONNET3 "anthropic.claude-3-sonnet-20240229-v1:0"
#define HAIKU3 "anthropic.claude-3-haiku-20240307-v1:0"

static const char reflect_turn[] = "\nPlease reiterate your answer by thinking step by step, "
                                   "making sure to state your answer at the end of the "
                                   "response.\n\n";

static emu_reasoner_params params_of(const char *id)
{
	const emu_default_model *m = emu_default_model_find(id);
	assert_non_null(m);
	return emu_default_model_params(m);
}

/* A request whose turns alternate user, assistant, user ... */
static json_t *request_of(const char *const *turns, size_t n)
{
	json_t *msgs = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(msgs, json_pack("{s:s, s:[{s:s}]}", "role",
		                                      i % 2 ? "assistant" : "user", "content",
		                                      "text", turns[i]));
	return json_pack("{s:o}", "messages", msgs);
}

/* The reply text to turns (caller frees). */
static char *reply_to(const emu_reasoner_params *p, const char *const *turns, size_t n,
                      uint64_t seed)
{
	json_t *req = request_of(turns, n);
	emu_reply r;
	assert_int_equal(emu_reasoner_reply(p, req, seed, &r, NULL), 0);
	assert_null(r.reasoning);
	json_decref(req);
	return r.text;
}

static char *question_text(long long a, long long b, long long c, long long d, long long e,
                           long long f)
{
	return bh_asprintf("What is the result of %lld+%lld*%lld+%lld-%lld*%lld? Make sure to "
	                   "state your answer in <answer> </answer> tags.",
	                   a, b, c, d, e, f);
}

/* The i-th question of a difficulty, from a fixed stream. */
static char *nth_question(int difficulty, int i, long long *truth)
{
	long lo, hi;
	long long op[6];
	bh_rng r;
	emu_difficulty_range(difficulty, &lo, &hi);
	bh_rng_seed(&r, (uint64_t)(i * 31 + difficulty));
	for (int k = 0; k < 6; k++)
		op[k] = lo + (long long)bh_rng_below(&r, (uint64_t)(hi - lo));
	*truth = op[0] + op[1] * op[2] + op[3] - op[4] * op[5];
	return question_text(op[0], op[1], op[2], op[3], op[4], op[5]);
}

static bool answer_is(const char *text, long long v)
{
	char s[64];
	long n;
	return emu_tag_value(text, "answer", s, sizeof(s)) && bh_parse_long(s, &n) == 0 && n == v;
}

static void test_same_seed_same_text(void **state)
{
	emu_reasoner_params p = params_of(SONNET3);
	int differ = 0;
	for (int i = 0; i < 60; i++) {
		long long truth;
		char *q = nth_question(EMU_MEDIUM, i, &truth);
		const char *turns[] = {q};
		char *a = reply_to(&p, turns, 1, 7), *b = reply_to(&p, turns, 1, 7);
		char *c = reply_to(&p, turns, 1, 8);
		assert_string_equal(a, b);
		differ += strcmp(a, c) != 0;
		bh_free(a), bh_free(b), bh_free(c), bh_free(q);
	}
	assert_true(differ > 0);
}

static void test_steps_and_answer_tags(void **state)
{
	emu_reasoner_params p = params_of(SONNET3);
	char *q = question_text(12, 34, 5, 6, 7, 8);
	const char *turns[] = {q};
	char *a = reply_to(&p, turns, 1, 1);
	assert_non_null(strstr(a, "First, 34*5 = "));
	assert_non_null(strstr(a, "Next, 7*8 = "));
	assert_non_null(strstr(a, "Finally, "));
	char v[64];
	long n;
	assert_true(emu_tag_value(a, "answer", v, sizeof(v)));
	assert_int_equal(bh_parse_long(v, &n), 0);
	bh_free(a), bh_free(q);
}

/* Rephrased questions with spaces are still the benchmark. */
static void test_finds_expression_in_variants(void **state)
{
	emu_arith q;
	assert_true(emu_arith_find("Compute the value of 3 + 4 * 5 + 6 - 7 * 8. Be sure to state "
	                           "your answer in <answer> </answer> tags.",
	                           &q));
	assert_true(q.op[0] == 3 && q.op[5] == 8);
	assert_int_equal(emu_arith_value(&q), 3 + 20 + 6 - 56);
	assert_false(emu_arith_find("What is 2+3*4?", &q));
	assert_false(emu_arith_find("1+2*3+4-5*6*7", &q));
}

/* A strong model on easy questions is right nearly always; the errors a
 * weak one makes on hard questions are real errors, not missing answers. */
static void test_error_odds_follow_size_and_skill(void **state)
{
	emu_reasoner_params strong = params_of("anthropic.claude-sonnet-4-5-20250929-v1:0");
	emu_reasoner_params weak = params_of("meta.llama3-1-8b-instruct-v1:0");
	int easy_right = 0, hard_right = 0, hard_answered = 0;
	for (int i = 0; i < 200; i++) {
		long long te, th;
		char *qe = nth_question(EMU_EASY, i, &te), *qh = nth_question(EMU_HARD, i, &th);
		const char *e[] = {qe}, *h[] = {qh};
		char *ae = reply_to(&strong, e, 1, 3), *ah = reply_to(&weak, h, 1, 3);
		char v[64];
		easy_right += answer_is(ae, te);
		hard_right += answer_is(ah, th);
		hard_answered += emu_tag_value(ah, "answer", v, sizeof(v));
		bh_free(ae), bh_free(ah), bh_free(qe), bh_free(qh);
	}
	assert_true(easy_right >= 190);
	assert_true(hard_right < 60);
	assert_int_equal(hard_answered, 200);
}

static void test_simple_questions(void **state)
{
	static const struct {
		const char *q, *want;
	} cases[] = {
	    {"What is 2 + 2?", "2 + 2 = 4."},
	    {"What is 17 * 3?", "17 * 3 = 51."},
	    {"what is 10 / 4?", "10 / 4 = 2.5."},
	    {"Calculate (3 + 4) * 5", "(3 + 4) * 5 = 35."},
	    {"What is 7 - 10?", "7 - 10 = -3."},
	    {"12*12", "12*12 = 144."},
	    {"What is 6 x 7?", "6 x 7 = 42."},
	    {"What is 1 / 0?", "1 / 0 is undefined: it divides by zero."},
	};
	emu_reasoner_params p = params_of(SONNET3);
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		const char *turns[] = {cases[i].q};
		char *a = reply_to(&p, turns, 1, 1);
		assert_string_equal(a, cases[i].want);
		bh_free(a);
	}
}

static void test_generic_answer_says_simulated(void **state)
{
	emu_reasoner_params p = params_of("amazon.nova-pro-v1:0");
	const char *turns[] = {"Write a haiku about the sea in 2024."};
	char *a = reply_to(&p, turns, 1, 1);
	assert_true(bh_starts_with(a, "[simulated model amazon.nova-pro-v1:0] "));
	char *b = reply_to(&p, turns, 1, 1);
	assert_string_equal(a, b);
	bh_free(a), bh_free(b);
}

static char *aggregate_turn(const char *const *answers, size_t n, const char *question)
{
	bh_buf b;
	bh_buf_init(&b, 0);
	bh_buf_puts(&b, "\nYou will see proposed answers to the following question from multiple "
	                "agents, please provide an aggregated final answer.\n");
	for (size_t i = 0; i < n; i++)
		bh_buf_printf(&b, "\n\nOne agent response: ```%s```\n", answers[i]);
	bh_buf_printf(&b, "\nAs a reminder, the original question is %s", question);
	return bh_buf_steal(&b);
}

static void test_aggregation_majority(void **state)
{
	static const struct {
		const char *answers[4];
		size_t n;
		const char *want;
	} cases[] = {
	    {{"So 42.\n<answer>42</answer>", "<answer>41</answer>", "<answer>42</answer>"},
	     3,
	     "42"},
	    {{"<answer>5</answer>", "<answer>6</answer>"}, 2, "5"},
	    {{"no tags", "<answer>-7</answer>", "<answer>8</answer>", "<answer>8</answer>"},
	     4,
	     "8"},
	};
	emu_reasoner_params p = params_of("mistral.mistral-large-2402-v1:0");
	char *q = question_text(1, 2, 3, 4, 5, 6);
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		char *turn = aggregate_turn(cases[i].answers, cases[i].n, q);
		const char *turns[] = {turn};
		char *a = reply_to(&p, turns, 1, 9);
		char v[64];
		assert_true(emu_tag_value(a, "answer", v, sizeof(v)));
		assert_string_equal(v, cases[i].want);
		bh_free(a), bh_free(turn);
	}
	bh_free(q);
}

/* Reflection after a wrong answer, with or without the verifier's word;
 * returns how many of the wrong first answers became right. */
static int corrected(const char *feedback_fmt, int *wrong)
{
	emu_reasoner_params p = params_of(SONNET3);
	int fixed = 0;
	*wrong = 0;
	for (int i = 0; i < 400; i++) {
		long long truth;
		char *q = nth_question(EMU_MEDIUM, i, &truth);
		const char *t0[] = {q};
		char *a0 = reply_to(&p, t0, 1, 5), v[64];
		if (!answer_is(a0, truth) && emu_tag_value(a0, "answer", v, sizeof(v))) {
			char *fb = feedback_fmt ? bh_asprintf(feedback_fmt, v) : bh_strdup("");
			char *turn = bh_asprintf("%s%s\nAs a reminder, the original question is %s",
			                         reflect_turn, fb, q);
			const char *t1[] = {q, a0, turn};
			char *a1 = reply_to(&p, t1, 3, 5);
			(*wrong)++;
			fixed += answer_is(a1, truth);
			bh_free(a1), bh_free(turn), bh_free(fb);
		}
		bh_free(a0), bh_free(q);
	}
	return fixed;
}

static void test_verifier_incorrect_raises_catch_rate(void **state)
{
	int wrong_plain, wrong_told;
	int plain = corrected(NULL, &wrong_plain);
	int told = corrected("\nAn external verification function has added context to this "
	                     "answer: The answer %s is incorrect.",
	                     &wrong_told);
	assert_int_equal(wrong_plain, wrong_told);
	assert_true(wrong_plain > 100);
	assert_true(told > 2 * plain);
	assert_true(told > wrong_told / 2);
}

static void test_verifier_correct_keeps_answer(void **state)
{
	emu_reasoner_params p = params_of("meta.llama3-1-8b-instruct-v1:0");
	for (int i = 0; i < 100; i++) {
		long long truth;
		char *q = nth_question(EMU_HARD, i, &truth);
		const char *t0[] = {q};
		char *a0 = reply_to(&p, t0, 1, 2), v0[64], v1[64];
		assert_true(emu_tag_value(a0, "answer", v0, sizeof(v0)));
		char *turn =
		    bh_asprintf("%s\nAn external verification function has added context "
		                "to this answer: The answer %s is correct: the expression "
		                "evaluates to %s.\nAs a reminder, the original question is "
		                "%s",
		                reflect_turn, v0, v0, q);
		const char *t1[] = {q, a0, turn};
		char *a1 = reply_to(&p, t1, 3, 2);
		assert_true(emu_tag_value(a1, "answer", v1, sizeof(v1)));
		assert_string_equal(v0, v1);
		bh_free(a1), bh_free(turn), bh_free(a0), bh_free(q);
	}
}

/* Debate: a wrong model shown two agents who agree on the right answer
 * ends right far more often than reflecting alone. */
static void test_debate_moves_toward_agreeing_agents(void **state)
{
	emu_reasoner_params p = params_of(SONNET3);
	int wrong = 0, fixed = 0, plain_wrong;
	for (int i = 0; i < 400; i++) {
		long long truth;
		char *q = nth_question(EMU_MEDIUM, i, &truth);
		const char *t0[] = {q};
		char *a0 = reply_to(&p, t0, 1, 5);
		if (!answer_is(a0, truth)) {
			char *turn =
			    bh_asprintf("\nThese are the recent answers to the same question from "
			                "other agents:\n"
			                "\n\nOne agent response: ```<answer>%lld</answer>```"
			                "\n\nOne agent response: ```<answer>%lld</answer>```"
			                "\n\n \nUse these opinions carefully as additional advice "
			                "and examining "
			                "each solution step by step, can you provide an updated "
			                "answer? Make sure "
			                "to state your answer at the end of the response.\n"
			                "\n\nAs a reminder, the original question is %s",
			                truth, truth, q);
			const char *t1[] = {q, a0, turn};
			char *a1 = reply_to(&p, t1, 3, 5);
			wrong++;
			fixed += answer_is(a1, truth);
			bh_free(a1), bh_free(turn);
		}
		bh_free(a0), bh_free(q);
	}
	int plain = corrected(NULL, &plain_wrong);
	assert_int_equal(wrong, plain_wrong);
	assert_true(fixed > 2 * plain);
}

static void test_reasoning_content(void **state)
{
	emu_reasoner_params p = params_of("anthropic.claude-3-7-sonnet-20250219-v1:0");
	char *q = question_text(12, 34, 5, 6, 7, 8);
	const char *turns[] = {q};
	json_t *req = request_of(turns, 1);
	json_object_set_new(
	    req, "additionalModelRequestFields",
	    json_pack("{s:{s:s, s:i}}", "thinking", "type", "enabled", "budget_tokens", 2048));
	emu_reply r;
	assert_int_equal(emu_reasoner_reply(&p, req, 1, &r, NULL), 0);
	assert_non_null(r.reasoning);
	assert_non_null(strstr(r.reasoning, "First, 34*5 = "));
	assert_null(strstr(r.text, "First,"));
	assert_non_null(strstr(r.text, "<answer>"));
	emu_reply_release(&r);
	json_object_set_new(req, "additionalModelRequestFields",
	                    json_pack("{s:{s:s}}", "reasoningConfig", "maxReasoningEffort", "low"));
	assert_int_equal(emu_reasoner_reply(&p, req, 1, &r, NULL), 0);
	assert_non_null(r.reasoning);
	emu_reply_release(&r);
	json_decref(req);
	bh_free(q);
}

static const char answer_schema[] = "{\"type\":\"object\",\"properties\":{\"answer\":{\"type\":"
                                    "\"integer\"},\"explanation\":{\"type\":\"string\"},\"ok\":"
                                    "{\"type\":\"boolean\"},\"tags\":{\"type\":\"array\","
                                    "\"items\":{\"enum\":[\"a\",\"b\"]},\"minItems\":2}},"
                                    "\"required\":[\"answer\",\"explanation\"],"
                                    "\"additionalProperties\":false}";

static void check_instance(const json_t *v, long long want)
{
	assert_true(json_is_object(v));
	assert_true(json_is_integer(json_object_get(v, "answer")));
	assert_int_equal(json_integer_value(json_object_get(v, "answer")), want);
	assert_true(json_is_string(json_object_get(v, "explanation")));
	assert_true(json_is_true(json_object_get(v, "ok")));
	assert_int_equal(json_array_size(json_object_get(v, "tags")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(v, "tags"), 0)), "a");
	assert_int_equal(json_object_size(v), 4);
}

static void test_structured_output_native(void **state)
{
	emu_reasoner_params p = params_of("amazon.nova-lite-v1:0");
	const char *turns[] = {"What is 17 * 3?"};
	json_t *req = request_of(turns, 1);
	json_object_set_new(req, "outputConfig",
	                    json_pack("{s:{s:s, s:{s:{s:s, s:s}}}}", "textFormat", "type",
	                              "json_schema", "structure", "jsonSchema", "schema",
	                              answer_schema, "name", "response"));
	emu_reply r;
	assert_int_equal(emu_reasoner_reply(&p, req, 1, &r, NULL), 0);
	json_t *v = json_loads(r.text, 0, NULL);
	assert_non_null(v);
	check_instance(v, 51);
	json_decref(v);
	emu_reply_release(&r);
	/* a model without native support answers in prose */
	p.native_json_schema = false;
	assert_int_equal(emu_reasoner_reply(&p, req, 1, &r, NULL), 0);
	assert_string_equal(r.text, "17 * 3 = 51.");
	emu_reply_release(&r);
	json_decref(req);
}

static void test_structured_output_prompted(void **state)
{
	emu_reasoner_params p = params_of(SONNET3);
	char *turn = bh_asprintf("What is 6 * 7?\nRespond with a JSON object that matches this "
	                         "JSON Schema, inside <json></json> tags:\n%s",
	                         answer_schema);
	const char *turns[] = {turn};
	char *a = reply_to(&p, turns, 1, 1);
	const char *open = strstr(a, "<json>"), *close = strstr(a, "</json>");
	assert_non_null(open);
	assert_non_null(close);
	assert_true(open > a);
	json_t *v = json_loadb(open + 6, (size_t)(close - open - 6), 0, NULL);
	check_instance(v, 42);
	json_decref(v);
	bh_free(a), bh_free(turn);
}

/* The digits of s in order, to compare two texts' numbers. */
static void digits_of(const char *s, char *out, size_t outsz)
{
	size_t n = 0;
	for (; *s && n + 1 < outsz; s++)
		if ((*s >= '0' && *s <= '9') || *s == '+' || *s == '*' || *s == '-')
			out[n++] = *s;
	out[n] = '\0';
}

static void test_rephrase_keeps_numbers(void **state)
{
	emu_reasoner_params p = params_of(SONNET3);
	int changed = 0;
	for (int i = 0; i < 20; i++) {
		long long truth;
		char *q = nth_question(EMU_HARD, i, &truth);
		char *turn =
		    bh_asprintf("Rephrase the following prompt without changing its meaning. "
		                "Keep every number, name and instruction. Reply with the "
		                "rephrased prompt only, inside <rephrased></rephrased> tags."
		                "\n<prompt>%s</prompt>",
		                q);
		const char *turns[] = {turn};
		char *a = reply_to(&p, turns, 1, (uint64_t)i), got[512], d1[128], d2[128];
		emu_arith found;
		assert_true(emu_tag_value(a, "rephrased", got, sizeof(got)));
		digits_of(q, d1, sizeof(d1));
		digits_of(got, d2, sizeof(d2));
		assert_string_equal(d1, d2);
		assert_non_null(strstr(got, "<answer> </answer>"));
		assert_true(emu_arith_find(got, &found));
		assert_int_equal(emu_arith_value(&found), truth);
		changed += strcmp(got, q) != 0;
		bh_free(a), bh_free(turn), bh_free(q);
	}
	assert_int_equal(changed, 20);
}

static void test_model_table(void **state)
{
	size_t n;
	const emu_default_model *all = emu_default_models(&n);
	assert_true(n >= 27);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(all[i].id, all[j].id);
		bool native = bh_starts_with(all[i].id, "amazon.nova") ||
		              bh_starts_with(all[i].id, "anthropic.claude-sonnet-4") ||
		              bh_starts_with(all[i].id, "anthropic.claude-opus-4") ||
		              bh_starts_with(all[i].id, "anthropic.claude-haiku-4");
		assert_int_equal(all[i].native_json_schema, native);
		assert_true(all[i].base_latency_ms >= 200 && all[i].base_latency_ms <= 1000);
		assert_true(all[i].ms_per_token >= 4 && all[i].ms_per_token <= 30);
	}
	static const char *const forms[] = {
	    SONNET3,
	    "us." SONNET3,
	    "eu." SONNET3,
	    "apac." SONNET3,
	    "global." SONNET3,
	    "arn:aws:bedrock:us-east-1::foundation-model/" SONNET3,
	    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us." SONNET3,
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(forms); i++) {
		const emu_default_model *m = emu_default_model_find(forms[i]);
		assert_non_null(m);
		assert_string_equal(m->id, SONNET3);
	}
	assert_null(emu_default_model_find("anthropic.claude-unknown-v1:0"));
	assert_null(emu_default_model_find("xx." SONNET3));
	assert_null(emu_default_model_find(""));
	assert_true(emu_default_model_find(HAIKU3)->skill < emu_default_model_find(SONNET3)->skill);
}

static void test_no_messages_is_an_error(void **state)
{
	emu_reasoner_params p = params_of(SONNET3);
	json_t *req = json_pack("{s:[]}", "messages");
	emu_reply r;
	bhive_error err = {0};
	assert_int_equal(emu_reasoner_reply(&p, req, 1, &r, &err), BHIVE_ERR_INVALID);
	assert_null(r.text);
	assert_string_equal(err.message, "request has no messages");
	json_decref(req);
}

/* The reduced calibration: fails when the curves drift out of +-0.05. */
static void test_calibration_within_tolerance(void **state)
{
	emu_reasoner_params p = params_of(SONNET3);
	for (int d = 0; d < EMU_DIFFICULTIES; d++) {
		emu_calib_result r;
		assert_int_equal(emu_calibrate(&p, d, 2000, 5, 2024, &r, NULL), 0);
		for (int k = 0; k <= 5; k++) {
			double pub = emu_published_accuracy(d, k);
			if (pub < 0)
				continue;
			if (r.accuracy[k] < pub - 0.05 || r.accuracy[k] > pub + 0.05)
				fail_msg("%s round %d: simulated %.3f, published %.2f",
				         emu_difficulty_name(d), k, r.accuracy[k], pub);
		}
		/* output length stays about constant, so cost grows linearly */
		assert_true(r.output_tokens[5] > 0.7 * r.output_tokens[0]);
		assert_true(r.output_tokens[5] < 1.3 * r.output_tokens[0]);
	}
}

/* The original's finding: Haiku with 3 reflections beats Sonnet with 3. */
static void test_haiku_beats_sonnet_after_three_reflections(void **state)
{
	emu_reasoner_params h = params_of(HAIKU3), s = params_of(SONNET3);
	emu_calib_result rh, rs;
	assert_int_equal(emu_calibrate(&h, EMU_MEDIUM, 500, 3, 11, &rh, NULL), 0);
	assert_int_equal(emu_calibrate(&s, EMU_MEDIUM, 500, 3, 11, &rs, NULL), 0);
	assert_true(rh.accuracy[0] < rs.accuracy[0]);
	assert_true(rh.accuracy[3] > rs.accuracy[3]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_seed_same_text),
	    cmocka_unit_test(test_steps_and_answer_tags),
	    cmocka_unit_test(test_finds_expression_in_variants),
	    cmocka_unit_test(test_error_odds_follow_size_and_skill),
	    cmocka_unit_test(test_simple_questions),
	    cmocka_unit_test(test_generic_answer_says_simulated),
	    cmocka_unit_test(test_aggregation_majority),
	    cmocka_unit_test(test_verifier_incorrect_raises_catch_rate),
	    cmocka_unit_test(test_verifier_correct_keeps_answer),
	    cmocka_unit_test(test_debate_moves_toward_agreeing_agents),
	    cmocka_unit_test(test_reasoning_content),
	    cmocka_unit_test(test_structured_output_native),
	    cmocka_unit_test(test_structured_output_prompted),
	    cmocka_unit_test(test_rephrase_keeps_numbers),
	    cmocka_unit_test(test_model_table),
	    cmocka_unit_test(test_no_messages_is_an_error),
	    cmocka_unit_test(test_calibration_within_tolerance),
	    cmocka_unit_test(test_haiku_beats_sonnet_after_three_reflections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
