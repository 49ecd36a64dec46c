/*
 * reasoner.h - simulated models: given a Converse request, produce the text
 * a model of a given skill would answer. Deterministic for a seed and a
 * request. The server (server.c) owns HTTP, validation, token accounting,
 * maxTokens truncation, latency and faults; this module owns only what the
 * model "says".
 */
#ifndef EMU_REASONER_H
#define EMU_REASONER_H

#include "util/util.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct emu_reasoner_params {
	double skill;            /* 0..1: higher makes fewer arithmetic step errors */
	bool native_json_schema; /* model supports outputConfig.textFormat json_schema */
	/* Added by the reasoner part; zero-initialised callers keep working. */
	double reflection;    /* aptitude to catch own errors when reflecting, 1 = Claude
	                       * 3 Sonnet; 0 = derived from skill (docs/SIMULATION.md) */
	const char *model_id; /* named in generic answers; NULL = "simulated model" */
} emu_reasoner_params;

typedef struct emu_reply {
	char *text;      /* the answer text (bh_malloc'd) */
	char *reasoning; /* reasoningContent text when a reasoning budget was asked, else NULL */
} emu_reply;

/*
 * Fills out from request (the Converse request body) or returns a bhive_code.
 * seed is the run's seed for this model, the same for every request (the
 * server hashes its --seed with the model id): the reply's randomness comes
 * from (seed, skill, the request's message texts), and what a model is
 * blind to on a question is keyed on (seed, skill, question) so that it
 * stays the same from round to round. A per-request seed would break the
 * calibrated reflection curves (docs/SIMULATION.md).
 */
int emu_reasoner_reply(const emu_reasoner_params *p, const json_t *request, uint64_t seed,
                       emu_reply *out, bhive_error *err);
void emu_reply_release(emu_reply *r);

/* The built-in model table: ids the Python original's README and benchmarks
 * use, and current Claude, Nova, Llama, Mistral and DeepSeek ids. Lookups
 * also accept the us./eu./apac./global. inference-profile forms and ARNs. */
typedef struct emu_default_model {
	const char *id;
	double skill;
	double base_latency_ms; /* before the time scale */
	double ms_per_token;    /* per output token */
	bool native_json_schema;
	double reflection; /* as emu_reasoner_params.reflection */
} emu_default_model;
const emu_default_model *emu_default_models(size_t *count);
const emu_default_model *emu_default_model_find(const char *model_id);
/* Reasoner parameters for a table entry (model_id borrowed from the table). */
emu_reasoner_params emu_default_model_params(const emu_default_model *m);

#endif
