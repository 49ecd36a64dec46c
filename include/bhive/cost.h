#ifndef BHIVE_COST_H
#define BHIVE_COST_H

/*
 * Cost: what a conversation spent, in US dollars.
 *
 * A price table maps a model id to four prices, each in USD per 1,000
 * tokens (Bedrock's on-demand price list quotes per 1,000 for older models
 * and per 1,000,000 for newer ones; the table stores everything per 1,000):
 * input, output, cache read and cache write. Cache writes are priced on
 * their own (Anthropic: 1.25 x input), never as plain input.
 *
 * The default table (data/prices.json) is compiled into the library; a user
 * file can override and extend it (bhive_prices_load_file). Its form:
 *
 *   {"models": {"anthropic.claude-3-sonnet-20240229-v1:0": {
 *        "input": 0.003, "output": 0.015, "cache_read": 0.0003,
 *        "cache_write": 0.00375, "structured_output": false,
 *        "regions": {"eu-central-1": {"input": 0.0033, "output": 0.0165}},
 *        "note": "free text"}}}
 *
 * Lookups accept the id itself, cross-region and global inference-profile
 * ids ("us.", "eu.", "apac.", "jp.", "au.", "global." before the id), and
 * inference-profile or foundation-model ARNs (the id after the last '/').
 * A region-specific price is used when the table has one for the region the
 * call went to; otherwise the model's base price.
 *
 * Threads: a table is read-only after loading; lookups from many threads at
 * once are safe, loading into a table others read is not.
 */

#include "error.h"
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tokens of one call or a sum of calls, as the Converse "usage" member. */
typedef struct bhive_usage {
	long long input_tokens;       /* inputTokens: uncached input */
	long long output_tokens;      /* outputTokens */
	long long cache_read_tokens;  /* cacheReadInputTokens */
	long long cache_write_tokens; /* cacheWriteInputTokens */
} bhive_usage;

/* Adds b to a (both non-NULL). */
void bhive_usage_add(bhive_usage *a, const bhive_usage *b);

/* The prices of one model, USD per 1,000 tokens. */
typedef struct bhive_price {
	double input;
	double output;
	double cache_read;
	double cache_write;
	int structured_output; /* 1: native outputConfig.textFormat json_schema */
} bhive_price;

/* A cost, split by kind of token. */
typedef struct bhive_cost {
	double usd; /* the sum of the four below */
	double input_usd;
	double output_usd;
	double cache_read_usd;
	double cache_write_usd;
	int unknown;        /* 1: no price known for model_id; all figures 0 */
	char model_id[160]; /* the id asked about (truncated if longer) */
} bhive_cost;

typedef struct bhive_prices bhive_prices;

/*
 * A new table holding the built-in defaults. Returns NULL with err filled
 * only when out of memory.
 */
bhive_prices *bhive_prices_new(bhive_error *err);

/* Frees a table. NULL ok. */
void bhive_prices_free(bhive_prices *prices);

/*
 * The built-in table, created once per process and shared (read-only; do
 * not free it, do not load into it). NULL only when out of memory.
 */
const bhive_prices *bhive_prices_default(void);

/*
 * Merges a price file over the table: models it names replace the table's
 * entries member by member (a file may give just "output" for a model and
 * keep the other prices), new models are added. A malformed file is
 * BHIVE_ERR_PARSE with err->line/column and err->source = path, a wrong
 * value BHIVE_ERR_INVALID naming the model and member; the table is then
 * unchanged.
 */
int bhive_prices_load_file(bhive_prices *prices, const char *path, bhive_error *err);

/* The same from JSON text (len bytes; what names it in messages, may be NULL). */
int bhive_prices_load_string(bhive_prices *prices, const char *text, size_t len, const char *what,
                             bhive_error *err);

/* Strict mode: unknown models make bhive_prices_cost fail. Off by default. */
void bhive_prices_set_strict(bhive_prices *prices, int strict);

/*
 * The prices of model_id (any of the forms above) in region (NULL: the base
 * price). Returns 0 and fills *out, or BHIVE_ERR_UNKNOWN_MODEL.
 */
int bhive_prices_lookup(const bhive_prices *prices, const char *model_id, const char *region,
                        bhive_price *out);

/* The cost of usage at price: tokens / 1000 x price per kind. */
double bhive_cost_of(const bhive_price *price, const bhive_usage *usage);

/*
 * Fills *out with the cost of usage for model_id in region (NULL: base
 * price). An unknown model gives out->unknown = 1 and a cost of 0 and
 * returns 0, or in strict mode returns BHIVE_ERR_UNKNOWN_MODEL with the id
 * named in err. prices NULL: the built-in table.
 */
int bhive_prices_cost(const bhive_prices *prices, const char *model_id, const char *region,
                      const bhive_usage *usage, bhive_cost *out, bhive_error *err);

/*
 * 1 when the table says model_id supports Bedrock's native structured output
 * (outputConfig.textFormat json_schema), else 0 (unknown models too).
 * prices NULL: the built-in table.
 */
int bhive_prices_structured_output(const bhive_prices *prices, const char *model_id);

/*
 * The table's key for a model id: the id with an ARN's path and an
 * inference-profile prefix removed, copied into buf (size n, truncated).
 * Returns buf.
 */
char *bhive_model_base_id(const char *model_id, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
