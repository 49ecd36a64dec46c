/*
 * engine_finish.c - the end of a conversation: which answer is final
 * (aggregator, majority vote, best verifier score, or the only slot) and the
 * structured output parsed from it.
 */
#include "hive/hive_int.h"
#include "hive/schema.h"
#include <string.h>

/* Makes slot i's answer and thinking the final ones. */
static void pick_slot(bhive_result *r, size_t i)
{
	bh_free(r->answer);
	bh_free(r->thinking);
	r->answer = bh_strdup(r->slots[i].answer);
	r->thinking = bh_strdup(r->slots[i].thinking);
}

/* The slot whose answer key most slots share; ties go to the earliest. */
static size_t vote_winner(const bhive_result *r)
{
	size_t best = r->nslots, best_votes = 0;
	for (size_t i = 0; i < r->nslots; i++) {
		const bh_slot *s = &r->slots[i];
		if (s->failed || !s->key)
			continue;
		size_t votes = 0;
		for (size_t j = 0; j < r->nslots; j++)
			votes += !r->slots[j].failed && bh_streq(r->slots[j].key, s->key);
		if (votes > best_votes) {
			best = i;
			best_votes = votes;
		}
	}
	return best;
}

/* The live slot with the highest verifier score; ties go to the earliest. */
static size_t best_scored(const bhive_result *r)
{
	size_t best = r->nslots;
	for (size_t i = 0; i < r->nslots; i++) {
		const bh_slot *s = &r->slots[i];
		if (!s->failed && s->answer &&
		    (best == r->nslots || s->score > r->slots[best].score))
			best = i;
	}
	return best;
}

/* The only live slot when one model was configured, else none. */
static size_t single_slot(const bhive_result *r)
{
	return r->nslots == 1 && !r->slots[0].failed ? 0 : r->nslots;
}

void bh_conv_combine(bh_conv *c)
{
	bhive_result *r = c->res;
	size_t pick;
	if (r->aggregator)
		return; /* the aggregator's answer is already final */
	if (c->cfg->best_of_n)
		pick = best_scored(r);
	else if (c->cfg->vote)
		pick = vote_winner(r);
	else
		pick = single_slot(r);
	if (pick < r->nslots)
		pick_slot(r, pick);
}

/* Whether the final answer came from a model with native structured output. */
static int final_is_native(const bh_conv *c)
{
	const bhive_result *r = c->res;
	if (r->aggregator)
		return bhive_prices_structured_output(c->cfg->prices, r->aggregator);
	for (size_t i = 0; i < r->nslots; i++)
		if (r->answer && bh_streq(r->slots[i].answer, r->answer))
			return r->slots[i].native_schema;
	return r->nslots ? r->slots[0].native_schema : 0;
}

void bh_conv_structured(bh_conv *c)
{
	bhive_result *r = c->res;
	if (!c->schema)
		return;
	const char *text = r->answer ? r->answer : (r->nslots ? r->slots[0].answer : NULL);
	bhive_error e = {0};
	json_t *v = NULL;
	if (!text)
		bh_error_set(&e, BHIVE_ERR_SCHEMA, "no answer to parse structured output from");
	else if ((v = bh_schema_extract(text, &e)) != NULL)
		bh_schema_validate(c->schema, v, &e);
	if (e.code) {
		bh_error_prefix(&e, "structured output%s", final_is_native(c) ? " (native)" : "");
		e.code = BHIVE_ERR_SCHEMA;
		bh_error_copy(&r->err, &e);
		json_decref(v);
		return;
	}
	r->parsed = v;
}
