/*
 * retry.h - retry strategies as botocore implements them: legacy, standard
 * (token-bucket quota, full-jitter exponential backoff) and adaptive
 * (standard plus the client-side CUBIC rate limiter). Pure logic: the
 * caller owns clocks and timers; time is passed in, so tests are exact.
 */
#ifndef BH_AWS_RETRY_H
#define BH_AWS_RETRY_H

#include <stdbool.h>
#include "util/util.h"
#include "bhive/client.h"

typedef struct bh_retry bh_retry;

/* Mode and attempts: explicit (mode != FROM_CONFIG / attempts > 0), then
 * AWS_RETRY_MODE / AWS_MAX_ATTEMPTS, then the profile's retry_mode /
 * max_attempts (cfg may be NULL), then standard with 3 attempts (legacy: 5).
 * A bad value is BHIVE_ERR_CONFIG naming its source. */
struct bh_aws_config;
int bh_retry_settings(bhive_retry_mode mode, int max_attempts, const struct bh_aws_config *cfg,
                      bhive_retry_mode *mode_out, int *attempts_out, bhive_error *err);

bh_retry *bh_retry_new(bhive_retry_mode mode, int max_attempts, uint64_t seed);
void bh_retry_free(bh_retry *r);

/* What one attempt ended with. */
typedef struct bh_attempt_outcome {
	long http_status;          /* 0: no response */
	const char *error_type;    /* parsed AWS error type, or NULL */
	bool transport_error;      /* connect failure, reset, cut-off body */
	bool timeout;              /* our connect/read timeout */
} bh_attempt_outcome;

/* Classification per the service model and botocore (no quota involved). */
bool bh_retry_is_retryable(const bh_attempt_outcome *o);
bool bh_retry_is_throttle(const bh_attempt_outcome *o);

/*
 * Adaptive mode: before every attempt (first and retries). 0 means a send
 * token was taken: send now. A positive value is the milliseconds until a
 * token will be there; nothing was taken, so call again after that long
 * (botocore blocks in the same loop). Other modes always return 0. now is
 * in seconds on any fixed clock (bh_now_s).
 */
double bh_retry_before_send(bh_retry *r, double now);

/*
 * Per-request retry state, embedded by the caller and zeroed before the
 * first attempt: botocore keeps the retry quota a request took in that
 * request's context, and gives exactly that back when it succeeds.
 */
typedef struct bh_retry_call {
	int attempts;              /* attempts finished so far */
	int last_cost;             /* quota taken for the latest retry, 0 = none */
} bh_retry_call;

/*
 * After an attempt ended without success: the delay in ms before the next
 * attempt, or -1 if it must not be retried (not retryable, attempts
 * exhausted, or the retry quota is empty). Updates the quota (standard and
 * adaptive), the adaptive rate limiter and *call. An outcome with a 2xx
 * status is a success and is passed to bh_retry_call_success (returns -1).
 * Call exactly one of the two per attempt.
 */
long bh_retry_call_failed(bh_retry *r, bh_retry_call *call, const bh_attempt_outcome *o,
                          double now);

/* After a successful attempt: refunds the quota (1 without retries, else
 * the cost of the latest retry) and feeds the rate limiter. */
void bh_retry_call_success(bh_retry *r, bh_retry_call *call, double now);

/*
 * The same without a per-request record: `attempt` (1-based) is the attempt
 * that just ended. A success after retries refunds the usual retry cost (5),
 * which differs from botocore only when the latest retry followed a timeout
 * (cost 10); use the bh_retry_call functions to be exact.
 */
long bh_retry_after_attempt(bh_retry *r, int attempt, const bh_attempt_outcome *o, double now);
void bh_retry_on_success(bh_retry *r, int attempt, double now);

/* Introspection for tests and benchmarks. */
int bh_retry_quota(const bh_retry *r);
double bh_retry_fill_rate(const bh_retry *r);      /* adaptive token bucket, tokens/s */
double bh_retry_measured_rate(const bh_retry *r);  /* adaptive: smoothed send rate */
bool bh_retry_limiting(const bh_retry *r);         /* adaptive: throttled at least once */
int bh_retry_max_attempts(const bh_retry *r);
bhive_retry_mode bh_retry_mode(const bh_retry *r);

#endif
