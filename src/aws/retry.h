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

/* Adaptive mode: milliseconds to wait before sending (0 = now). now in seconds. */
double bh_retry_before_send(bh_retry *r, double now);

/*
 * After attempt number `attempt` (1-based) ended: returns the delay in ms
 * before the next attempt, or -1 if it must not be retried (not retryable,
 * attempts exhausted, or the retry quota is empty). Updates the quota and
 * the adaptive rate limiter.
 */
long bh_retry_after_attempt(bh_retry *r, int attempt, const bh_attempt_outcome *o, double now);

/* Call after a success: refunds quota, feeds the rate limiter. */
void bh_retry_on_success(bh_retry *r, int attempt, double now);

/* Introspection for tests and benchmarks. */
int bh_retry_quota(const bh_retry *r);
double bh_retry_fill_rate(const bh_retry *r);
int bh_retry_max_attempts(const bh_retry *r);
bhive_retry_mode bh_retry_mode(const bh_retry *r);

#endif
