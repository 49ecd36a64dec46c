#ifndef BHIVE_HIVE_H
#define BHIVE_HIVE_H

/*
 * The hive: extra inference-time compute on top of Converse.
 *
 * A conversation is one Converse request (messages, system, inferenceConfig,
 * toolConfig ...: the AWS CLI's shape) run under a bhive_config: one slot per
 * model id (a repeated id is another sample of that model), rounds of
 * self-reflection or debate, an optional verifier whose feedback goes into
 * every revision, and an optional aggregator that writes the final answer.
 * The prompts are those of docs/PROMPTS.md.
 *
 * The engine (bhive_hive) runs many conversations at once on one
 * bhive_client loop, under a limit of conversations in flight; every slot of
 * a round is in flight at once, and round k+1 of a debate waits only for
 * the slots of round k. bhive_hive_converse() is the same engine with one
 * conversation on a private loop (curl's easy interface over multi).
 *
 * Threads: a config may be read from many threads once set up; a hive and
 * its results belong to the thread that runs its client.
 */

#include "client.h"
#include "cost.h"
#include "error.h"
#include "verify.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ----------------------------------------------------- */

typedef struct bhive_config bhive_config;

typedef enum bhive_augment {
	BHIVE_AUGMENT_NONE = 0,
	BHIVE_AUGMENT_LEXICAL = 1, /* keyboard, OCR and spelling-style typos per extra slot */
	BHIVE_AUGMENT_SEMANTIC = 2 /* each extra slot's model rephrases the prompt first */
} bhive_augment;

/* The prompt templates of docs/PROMPTS.md, each overridable. */
typedef enum bhive_prompt_kind {
	BHIVE_PROMPT_REFLECT = 0,
	BHIVE_PROMPT_DEBATE = 1,
	BHIVE_PROMPT_CAREFUL = 2,
	BHIVE_PROMPT_AGGREGATE = 3
} bhive_prompt_kind;
#define BHIVE_PROMPT_COUNT 4

/* The default text of a template (static), NULL for an unknown kind. */
const char *bhive_prompt_default(bhive_prompt_kind kind);

/* A config with no models, no reflections and every option off. NULL on NOMEM. */
bhive_config *bhive_config_new(void);
void bhive_config_free(bhive_config *cfg);               /* NULL ok */
bhive_config *bhive_config_dup(const bhive_config *cfg); /* NULL on NOMEM */

/*
 * Setters. Strings and JSON are copied. Each returns 0 or BHIVE_ERR_INVALID
 * (bad value) / BHIVE_ERR_NOMEM; the config is unchanged on error.
 */
int bhive_config_add_model(bhive_config *cfg, const char *model_id); /* one slot each */
void bhive_config_clear_models(bhive_config *cfg);
int bhive_config_set_reflections(bhive_config *cfg, int num_reflections); /* >= 0 */
int bhive_config_set_aggregator(bhive_config *cfg, const char *model_id); /* NULL: none */
/* A verifier callback (see verify.h); fn NULL removes it. ud is borrowed. */
void bhive_config_set_verifier(bhive_config *cfg, bhive_verifier_fn fn, void *ud);
/* Verifier failures: 0 (default) reports them and feeds "the verifier failed: ..."
 * back to the model; 1 fails the conversation. */
void bhive_config_set_verifier_fatal(bhive_config *cfg, int fatal);
/* Round 0 always runs; a later round starts only while the time since the
 * start is below the limit. <= 0: no limit. */
int bhive_config_set_max_reasoning_seconds(bhive_config *cfg, double seconds);
/* cachePoint blocks on the system prompt, after the first user message and
 * after later user turns; at most 4 per request, oldest message ones dropped. */
void bhive_config_set_prompt_caching(bhive_config *cfg, int on);
/* Structured output from a JSON Schema (NULL removes it): native
 * outputConfig.textFormat for models whose price entry says so, else
 * instructions plus <json> tags, parsed and validated. */
int bhive_config_set_schema(bhive_config *cfg, const json_t *schema);
int bhive_config_set_augment(bhive_config *cfg, bhive_augment mode, uint64_t seed);
/* Overrides one template; NULL restores the default. */
int bhive_config_set_prompt(bhive_config *cfg, bhive_prompt_kind kind, const char *text);
/* Early stop: k > 0 ends the rounds once every slot's answer is unchanged for
 * k rounds, or the verifier scores every slot's answer >= 1. 0: off. */
int bhive_config_set_early_stop(bhive_config *cfg, int unchanged_rounds);
/* Majority vote over the slots' last answers (self-consistency), used when
 * there is no aggregator. Answers compare by their last <answer> tag, else
 * their last number, else their trimmed text. */
void bhive_config_set_vote(bhive_config *cfg, int on);
/* Best-of-N: the slot answer with the highest verifier score is final. */
void bhive_config_set_best_of_n(bhive_config *cfg, int on);
/* A slot that fails after its retries leaves the debate instead of failing
 * the conversation (which fails only when every slot has failed). */
void bhive_config_set_continue_on_failure(bhive_config *cfg, int on);
/* The price table for costs (borrowed: must outlive every conversation
 * started with this config). NULL: the built-in table. */
void bhive_config_set_prices(bhive_config *cfg, const bhive_prices *prices);

/* Getters (borrowed). */
size_t bhive_config_model_count(const bhive_config *cfg);
const char *bhive_config_model(const bhive_config *cfg, size_t i);
int bhive_config_reflections(const bhive_config *cfg);
const char *bhive_config_aggregator(const bhive_config *cfg);
const char *bhive_config_prompt(const bhive_config *cfg, bhive_prompt_kind kind);

/*
 * Configurations as data:
 *   {"models": ["id", ...], "num_reflections": 2, "aggregator": "id",
 *    "max_reasoning_seconds": 30, "prompt_caching": true, "schema": {...},
 *    "augment": "none|lexical|semantic", "augment_seed": 1,
 *    "prompts": {"reflect": "...", "debate": ..., "careful": ..., "aggregate": ...},
 *    "early_stop": 2, "vote": true, "best_of_n": true, "continue_on_failure": true,
 *    "verifier_fatal": false}
 * Unknown members are an error (typos must not pass silently). The verifier
 * and the price table are not data: set them with their setters.
 * _to_json returns a new reference with every member, defaults included.
 */
bhive_config *bhive_config_from_json(const json_t *json, bhive_error *err);
json_t *bhive_config_to_json(const bhive_config *cfg);

typedef enum bhive_severity { BHIVE_SEVERITY_WARNING = 1, BHIVE_SEVERITY_ERROR = 2 } bhive_severity;
typedef void (*bhive_diag_fn)(void *ud, bhive_severity severity, const char *message);

/*
 * Checks a config. Errors: no models, a verifier with one model and no
 * reflections (it would never be used), best-of-N without a verifier.
 * Warnings: several models without an aggregator or vote, an aggregator
 * with one model. Every finding goes to fn (may be NULL). Returns 0 when
 * there is no error, else BHIVE_ERR_INVALID with the first error in err.
 */
int bhive_config_validate(const bhive_config *cfg, bhive_diag_fn fn, void *ud, bhive_error *err);

/* ---- results ----------------------------------------------------------- */

typedef struct bhive_result bhive_result;

/* Why the rounds ended: "completed", "time_limit", "early_stop_unchanged",
 * "early_stop_verified", "error". Static strings. */
const char *bhive_result_stop_reason(const bhive_result *r);
/* 0 when the conversation succeeded, else its code; err as borrowed (NULL
 * on success). A failure of structured output is BHIVE_ERR_SCHEMA with the
 * answers kept. */
int bhive_result_code(const bhive_result *r);
const bhive_error *bhive_result_error(const bhive_result *r);

/* The final answer: the aggregator's, the vote's or best-of-N's pick, or the
 * only slot's. NULL when several slots answered with nothing to combine
 * them (read each slot's answer then). */
const char *bhive_result_answer(const bhive_result *r);
/* The reasoning text that came with the final answer, NULL if none. */
const char *bhive_result_thinking(const bhive_result *r);
/* The parsed structured output of the final answer (or of slot 0 when
 * there is none), NULL without a schema or when it failed. */
const json_t *bhive_result_parsed(const bhive_result *r);
/* Rounds that ran (round 0 included; 0 when round 0 failed). */
int bhive_result_rounds(const bhive_result *r);
double bhive_result_wall_ms(const bhive_result *r);
/* Number of Converse calls made, aggregator and rephrasing included, and
 * calls that failed too (the JSON form counts those in "failed_calls",
 * overall and per model). */
int bhive_result_calls(const bhive_result *r);

/* Slots in config order. Accessors return NULL past the end. */
size_t bhive_result_slot_count(const bhive_result *r);
const char *bhive_result_slot_model(const bhive_result *r, size_t i);
const char *bhive_result_slot_answer(const bhive_result *r, size_t i);
const char *bhive_result_slot_thinking(const bhive_result *r, size_t i);
/* The slot's chat history: Converse messages, every turn sent and received. */
const json_t *bhive_result_slot_history(const bhive_result *r, size_t i);
/* NULL when the slot did not fail. */
const bhive_error *bhive_result_slot_error(const bhive_result *r, size_t i);

/* Accounting per model id (slots of one id and the aggregator summed). */
typedef struct bhive_model_stats {
	const char *model_id; /* borrowed from the result */
	int calls;            /* failed calls included */
	bhive_usage usage;
	double latency_ms; /* sum of metrics.latencyMs */
	bhive_cost cost;   /* cost.unknown = 1 when the table lacks the id */
} bhive_model_stats;
size_t bhive_result_model_count(const bhive_result *r);
/* Fills *out for model i; 0 or BHIVE_ERR_INVALID past the end. */
int bhive_result_model_stats(const bhive_result *r, size_t i, bhive_model_stats *out);
bhive_usage bhive_result_usage(const bhive_result *r); /* all models summed */
double bhive_result_cost_usd(const bhive_result *r);   /* known prices summed */
int bhive_result_cost_unknown(const bhive_result *r);  /* 1 if any model lacked a price */

/* The last Converse response received (the aggregator's when there is one)
 * exactly as the service sent it; borrowed. NULL when none arrived. */
const json_t *bhive_result_response(const bhive_result *r);
/* The engine's trace: one entry per call and state change (borrowed array). */
const json_t *bhive_result_trace(const bhive_result *r);

/* The whole result as JSON (a new reference). Never holds secrets. */
json_t *bhive_result_to_json(const bhive_result *r);
void bhive_result_free(bhive_result *r); /* NULL ok */

/* ---- the engine -------------------------------------------------------- */

typedef struct bhive_hive bhive_hive;

/*
 * A live view: called on the engine's thread after every model answer (and
 * for failures: answer NULL, err set). Pointers are borrowed for the call.
 */
typedef struct bhive_progress {
	unsigned long conversation;
	int slot; /* -1: aggregator, -2: rephrasing for augmentation */
	int round;
	const char *model_id;
	const char *answer;
	long long input_tokens;
	long long output_tokens;
	double latency_ms; /* metrics.latencyMs */
	double wall_ms;    /* since the conversation started */
	const bhive_error *err;
} bhive_progress;
typedef void (*bhive_progress_fn)(void *ud, const bhive_progress *p);

/* An engine on client (borrowed: it must outlive the hive). NULL on NOMEM. */
bhive_hive *bhive_hive_new(bhive_client *client, bhive_error *err);
/* Frees the hive and every unfinished conversation and unread result. Its
 * calls still in flight are cancelled on the client (bhive_client_cancel),
 * so the client must still exist: free the hive first. NULL ok. */
void bhive_hive_free(bhive_hive *hive);
/* At most n conversations in flight at once (others wait in order); 0: no limit. */
void bhive_hive_set_max_running(bhive_hive *hive, int n);
void bhive_hive_set_progress(bhive_hive *hive, bhive_progress_fn fn, void *ud);

/*
 * Adds a conversation: request is a Converse request body (messages, and
 * system, inferenceConfig, toolConfig, additionalModelRequestFields or any
 * other member, passed through; modelId ignored). cfg and request are
 * copied. Returns an id > 0, or 0 with err filled (invalid config, no
 * messages). user_data comes back with the result.
 */
unsigned long bhive_hive_add(bhive_hive *hive, const bhive_config *cfg, const json_t *request,
                             void *user_data, bhive_error *err);

/*
 * Runs the client loop for at most timeout_ms (-1: until every conversation
 * has finished). Returns the number of conversations not yet finished, or
 * -1 on a fatal loop error.
 */
int bhive_hive_perform(bhive_hive *hive, long timeout_ms);

/* Conversations added and not yet finished. */
int bhive_hive_pending(const bhive_hive *hive);

/*
 * The next finished conversation, in the order they finished, or NULL. The
 * caller owns the result (bhive_result_free). id and user_data may be NULL.
 */
bhive_result *bhive_hive_next_done(bhive_hive *hive, unsigned long *id, void **user_data);

/*
 * The blocking call: one conversation on a private engine over client. Returns
 * the result (free it), or NULL with err filled when the conversation failed;
 * then, when failed_out is not NULL, the failed result is handed over there
 * (so the answers, histories and errors of each slot can still be read).
 */
bhive_result *bhive_hive_converse(bhive_client *client, const bhive_config *cfg,
                                  const json_t *request, bhive_result **failed_out,
                                  bhive_error *err);

#ifdef __cplusplus
}
#endif
#endif
