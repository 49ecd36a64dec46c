/*
 * prompts.c - the texts sent after round 0, exactly as docs/PROMPTS.md lays
 * them out (the Python original's wording, so call contents match it and
 * the emulator's simulated reasoners recognise what they are asked).
 */
#include "hive/hive_int.h"
#include <ctype.h>
#include <string.h>

static const char *const default_prompts[BHIVE_PROMPT_COUNT] = {
    "\nPlease reiterate your answer by thinking step by step, making sure to state your "
    "answer at the end of the response.\n",
    "\nThese are the recent answers to the same question from other agents:\n",
    "\nUse these opinions carefully as additional advice and examining each solution step "
    "by step, can you provide an updated answer? Make sure to state your answer at the end "
    "of the response.\n",
    "\nYou will see proposed answers to the following question from multiple agents, please "
    "provide an aggregated final answer.\n",
};

static const char feedback_intro[] =
    "\nAn external verification function has added context to this answer: ";
static const char reminder_intro[] = "\nAs a reminder, the original question is ";

const char *bhive_prompt_default(bhive_prompt_kind kind)
{
	if ((int)kind < 0 || kind >= BHIVE_PROMPT_COUNT)
		return NULL;
	return default_prompts[kind];
}

/* Appends the verifier's feedback line when there is feedback. */
static void put_feedback(bh_buf *b, const char *feedback)
{
	if (feedback) {
		bh_buf_puts(b, feedback_intro);
		bh_buf_puts(b, feedback);
	}
}

/* One other agent's answer, in backticks; appended piecewise, not through
 * printf: answers run to kilobytes and a debate round writes n*(n-1). */
static void put_response(bh_buf *b, const char *answer, const char *tail)
{
	bh_buf_puts(b, "\n\nOne agent response: ```");
	bh_buf_puts(b, answer);
	bh_buf_puts(b, tail);
}

/* The reminder closes every prompt unless the question has no text. */
static void put_reminder(bh_buf *b, const char *question)
{
	if (question && *question) {
		bh_buf_puts(b, reminder_intro);
		bh_buf_puts(b, question);
	}
}

char *bh_prompt_reflect(const bhive_config *cfg, const char *feedback, const char *question)
{
	bh_buf b;
	bh_buf_init(&b, 0);
	bh_buf_puts(&b, bh_config_prompt(cfg, BHIVE_PROMPT_REFLECT));
	bh_buf_puts(&b, "\n");
	put_feedback(&b, feedback);
	put_reminder(&b, question);
	return bh_buf_steal(&b);
}

char *bh_prompt_debate(const bhive_config *cfg, const bh_slot *slots, size_t n, size_t self,
                       const char *question)
{
	bh_buf b;
	bh_buf_init(&b, 0);
	bh_buf_puts(&b, bh_config_prompt(cfg, BHIVE_PROMPT_DEBATE));
	for (size_t j = 0; j < n; j++) {
		if (j == self || slots[j].failed || !slots[j].answer)
			continue;
		put_response(&b, slots[j].answer, "```");
		put_feedback(&b, slots[j].feedback);
	}
	bh_buf_printf(&b, "\n\n %s\n", bh_config_prompt(cfg, BHIVE_PROMPT_CAREFUL));
	put_reminder(&b, question);
	return bh_buf_steal(&b);
}

char *bh_prompt_aggregate(const bhive_config *cfg, const bh_slot *slots, size_t n,
                          const char *question)
{
	bh_buf b;
	bh_buf_init(&b, 0);
	bh_buf_puts(&b, bh_config_prompt(cfg, BHIVE_PROMPT_AGGREGATE));
	for (size_t j = 0; j < n; j++) {
		if (slots[j].failed || !slots[j].answer)
			continue;
		put_response(&b, slots[j].answer, "```\n");
		put_feedback(&b, slots[j].feedback);
	}
	put_reminder(&b, question);
	return bh_buf_steal(&b);
}

const char *bh_first_user_text(const json_t *messages)
{
	size_t i, k;
	json_t *m, *block;
	json_array_foreach(messages, i, m)
	{
		if (!bh_streq(bh_json_str(m, "role"), "user"))
			continue;
		json_array_foreach(json_object_get(m, "content"), k, block)
		{
			const char *t = bh_json_str(block, "text");
			if (t)
				return t;
		}
		return "";
	}
	return "";
}

/* Text that is not valid UTF-8 (a verifier's output, say) has its bad
 * bytes replaced by U+FFFD rather than the turn being lost; valid text (all
 * of it in practice, and debate prompts run to tens of kilobytes) is taken
 * after one fast check instead of jansson's own. */
json_t *bh_text_message(const char *role, const char *text)
{
	const char *t = text ? text : "";
	size_t n = strlen(t);
	char *fixed = NULL;
	if (bh_utf8_valid_prefix(t, n) != n) {
		if (!(fixed = bh_utf8_repair(t, n)))
			return NULL;
		t = fixed;
		n = strlen(t);
	}
	json_t *str = json_stringn_nocheck(t, n);
	bh_free(fixed);
	return str ? json_pack("{s:s,s:[{s:o}]}", "role", role, "content", "text", str) : NULL;
}

/* The content of the last <answer>...</answer> pair, or NULL. */
static char *last_answer_tag(const char *s)
{
	const char *open = NULL, *p = s, *close;
	while ((p = strstr(p, "<answer>")) != NULL)
		open = p++;
	if (!open || !(close = strstr(open, "</answer>")))
		return NULL;
	open += strlen("<answer>");
	char *t = bh_strndup(open, (size_t)(close - open));
	if (!t)
		return NULL;
	char *trimmed = bh_trim(t);
	memmove(t, trimmed, strlen(trimmed) + 1);
	return t;
}

/* The last number in s (sign, digits, one decimal point), commas dropped. */
static char *last_number(const char *s)
{
	const char *end = NULL, *start = NULL;
	for (const char *p = s; *p; p++)
		if (isdigit((unsigned char)*p))
			end = p;
	if (!end)
		return NULL;
	start = end;
	while (start > s &&
	       (isdigit((unsigned char)start[-1]) || start[-1] == '.' || start[-1] == ','))
		start--;
	if (start > s && start[-1] == '-')
		start--;
	bh_buf b;
	bh_buf_init(&b, 0);
	for (const char *p = start; p <= end; p++)
		if (*p != ',')
			bh_buf_putc(&b, *p);
	return bh_buf_steal(&b);
}

char *bh_vote_key(const char *answer)
{
	if (!answer)
		return NULL;
	char *k = last_answer_tag(answer);
	if (k || (k = last_number(answer)))
		return k;
	k = bh_strdup(answer);
	if (!k)
		return NULL;
	char *t = bh_trim(k);
	memmove(k, t, strlen(t) + 1);
	return k;
}
