/*
 * hive_int.h - the engine's internal structures, shared by config.c,
 * prompts.c, engine*.c and output.c. Not API.
 *
 * A conversation (bh_conv) owns its result from the start: slots, usage and
 * trace are filled in place as answers arrive, and the finished result is
 * handed to the caller whole.
 */
#ifndef BH_HIVE_INT_H
#define BH_HIVE_INT_H

#include "bhive/hive.h"
#include "util/util.h"

struct bhive_config {
	char **models;
	size_t nmodels;
	int reflections;
	char *aggregator;
	bhive_verifier_fn verifier;
	void *verifier_ud;
	int verifier_fatal;
	double max_seconds;
	int caching;
	json_t *schema;
	bhive_augment augment;
	uint64_t augment_seed;
	char *prompts[BHIVE_PROMPT_COUNT]; /* NULL: the default */
	int early_stop;
	int vote;
	int best_of_n;
	int continue_on_failure;
	const bhive_prices *prices;
};

/* One slot: a model id and its own chat history. */
typedef struct bh_slot {
	char *model;
	json_t *history;   /* Converse messages */
	char *answer;      /* latest answer */
	char *thinking;    /* latest reasoning text */
	char *feedback;    /* verifier feedback on the latest answer, or NULL */
	int feedback_done; /* the verifier ran on the latest answer */
	double score;      /* verifier score of the latest answer, -1 unknown */
	char *key;         /* the latest answer's vote key, for early stop */
	int unchanged;     /* rounds in a row the answer stayed the same */
	int native_schema; /* this slot's model takes outputConfig.textFormat */
	int failed;
	bhive_error err;
} bh_slot;

/* Accounting for one model id. */
typedef struct bh_model_acc {
	char *model;
	int calls;  /* every call made, failed ones included */
	int failed; /* of those, calls that got no answer */
	bhive_usage usage;
	double latency_ms;
	bhive_cost cost;
} bh_model_acc;

struct bhive_result {
	const char *stop_reason;
	bhive_error err; /* code 0 on success */
	char *answer;    /* final answer, or NULL */
	char *thinking;
	json_t *parsed;
	int rounds;
	double wall_ms;
	int calls;        /* failed calls included */
	int failed_calls; /* calls that got no answer */
	bh_slot *slots;
	size_t nslots;
	char *aggregator;    /* model id, or NULL */
	json_t *agg_history; /* the aggregator's one request and its answer */
	bh_model_acc *models;
	size_t nmodels;
	json_t *response; /* last Converse response */
	json_t *trace;    /* array */
	char *region;
	int cost_unknown;
	double cost_usd;
};

/* ---- engine ------------------------------------------------------------ */

typedef enum bh_conv_state {
	BH_CONV_QUEUED = 0, /* added, waiting for a place under the running limit */
	BH_CONV_AUGMENT,    /* extra slots' models rephrase the prompt */
	BH_CONV_ROUND,      /* every live slot's call of the current round in flight */
	BH_CONV_AGGREGATE,  /* the aggregator's call in flight */
	BH_CONV_DONE        /* result on the done queue */
} bh_conv_state;

struct bh_schema;

typedef struct bh_conv {
	struct bhive_hive *hive;
	struct bh_conv *next; /* in the queue, the running list or the done list */
	unsigned long id;
	void *user_data;
	bhive_config *cfg;
	json_t *base;     /* the caller's request without messages */
	json_t *messages; /* the caller's messages */
	char *question;   /* text of the first user message */
	bh_conv_state state;
	int round;
	int inflight;
	int sending; /* calls being started: hold state changes */
	int fatal;   /* a verifier failed with verifier_fatal set */
	int64_t start_ms;
	bhive_result *res;
	struct bh_schema *schema;
} bh_conv;

struct bhive_hive {
	bhive_client *client;
	int max_running;
	int running;
	int pending;  /* added and not finished */
	int starting; /* start_queued is on the stack */
	unsigned long next_id;
	bh_conv *queue_head, *queue_tail;
	bh_conv *running_list;
	bh_conv *done_head, *done_tail;
	bhive_progress_fn progress;
	void *progress_ud;
	struct bh_call *calls; /* engine_conv.c: this hive's calls on the client */
	int closing;           /* bhive_hive_free is cancelling them */
};

/* engine_conv.c */
bh_conv *bh_conv_new(bhive_hive *hive, const bhive_config *cfg, const json_t *request,
                     bhive_error *err);
void bh_conv_free(bh_conv *c);
void bh_conv_start(bh_conv *c);
/* Cancels the hive's calls still on the client (their records freed). */
void bh_hive_cancel_calls(bhive_hive *hive);
/* engine.c: a conversation has finished; its result is ready. */
void bh_hive_finished(bhive_hive *hive, bh_conv *c);
/* engine_finish.c: combines the slots' answers, parses structured output. */
void bh_conv_combine(bh_conv *c);
void bh_conv_structured(bh_conv *c);

/* config.c */
const char *bh_config_prompt(const bhive_config *cfg, bhive_prompt_kind kind);

/* prompts.c: the texts of docs/PROMPTS.md, built into new strings. */
char *bh_prompt_reflect(const bhive_config *cfg, const char *feedback, const char *question);
char *bh_prompt_debate(const bhive_config *cfg, const bh_slot *slots, size_t n, size_t self,
                       const char *question);
char *bh_prompt_aggregate(const bhive_config *cfg, const bh_slot *slots, size_t n,
                          const char *question);
/* The text of the first user message (first text block), "" if none. */
const char *bh_first_user_text(const json_t *messages);
/* A Converse message with one text block (new reference). */
json_t *bh_text_message(const char *role, const char *text);
/* The key majority vote compares: last <answer> tag, else last number, else
 * the trimmed text. New string. */
char *bh_vote_key(const char *answer);

/* engine_request.c: the request body for one call (new reference). */
json_t *bh_request_build(const json_t *base, const json_t *messages, int caching,
                         const json_t *output_config);
/* Number of cachePoint blocks in a request (system and messages). */
int bh_request_cache_points(const json_t *request);

/* output.c */
bhive_result *bh_result_new(void);
int bh_result_account(bhive_result *r, const char *model, const json_t *response);
/* A call to model that got no answer: counted, with no usage. */
int bh_result_account_failure(bhive_result *r, const char *model);
void bh_result_trace(bhive_result *r, int slot, int round, const char *model, const char *event,
                     double wall_ms);
void bh_result_cost(bhive_result *r, const bhive_prices *prices, bhive_error *err);
void bh_slot_release(bh_slot *s);

#endif
