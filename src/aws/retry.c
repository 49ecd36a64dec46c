/*
 * retry.c - botocore's three retry modes, as pure logic over passed-in
 * time and a seeded random generator.
 *
 * legacy:   _retry.json's general policy: 5 attempts, delay rand * 2^(n-1)
 *           seconds (capped at 20 s here; botocore does not cap, which only
 *           matters from 6 attempts on), retries 429, 500, 502, 503, 504,
 *           509, five throttling codes (with 400) and connection errors. No
 *           quota.
 * standard: retries/standard.py: 3 attempts, delay rand * min(2^(n-1), 20)
 *           s, retries transient errors (500/502/503/504, RequestTimeout...,
 *           connection errors, timeouts), throttling codes and errors the
 *           service model marks retryable (ModelNotReadyException). A quota
 *           of 500 pays 5 per retry (10 after a timeout); a success gives
 *           back 1, or what its latest retry took.
 * adaptive: standard plus retries/adaptive.py's client rate limiter: a
 *           token bucket whose rate follows CUBIC (throttle: rate * 0.7 and
 *           remember the peak; success: 0.4 * (t - K)^3 + peak), capped at
 *           twice the measured send rate (smoothed 0.8 over 0.5 s buckets).
 *           It only starts limiting after the first throttle.
 */
#include <limits.h>
#include <math.h>
#include <string.h>
#include "aws/retry.h"
#include "aws/config.h"

#define MAX_BACKOFF_S 20.0
#define QUOTA_INITIAL 500
#define QUOTA_RETRY_COST 5
#define QUOTA_TIMEOUT_COST 10
#define QUOTA_NO_RETRY_REFUND 1
#define CUBIC_SCALE 0.4
#define CUBIC_BETA 0.7
#define RATE_SMOOTHING 0.8
#define RATE_BUCKET_S 0.5
#define BUCKET_MIN_RATE 0.5
#define MAX_RATE_ADJUST 2.0

struct bh_retry {
	bhive_retry_mode mode;
	int max_attempts;
	bh_rng rng;
	int quota;
	/* adaptive: clock origin is the first event seen */
	bool started, enabled;
	double measured_rate, last_bucket, count;   /* rate clocker */
	double w_max, k, last_fail;                 /* CUBIC */
	double fill_rate, max_capacity, capacity, last_refill; /* token bucket */
};

/* ---- classification ----------------------------------------------------- */

/* Every code botocore's standard mode treats as throttling. */
static const char *const throttle_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
	"TooManyRequestsException", "ProvisionedThroughputExceededException",
	"TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
	"LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
	"EC2ThrottledException",
};

static const char *const transient_codes[] = {
	"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
};

/* Errors bedrock-runtime's model marks @retryable (not as throttling). */
static const char *const modeled_retryable[] = { "ModelNotReadyException" };

static bool in_list(const char *code, const char *const *list, size_t n)
{
	for (size_t i = 0; code && i < n; i++)
		if (!strcmp(code, list[i]))
			return true;
	return false;
}

bool bh_retry_is_throttle(const bh_attempt_outcome *o)
{
	return o && in_list(o->error_type, throttle_codes, BH_ARRAY_LEN(throttle_codes));
}

static bool is_transient(const bh_attempt_outcome *o)
{
	long s = o->http_status;
	return in_list(o->error_type, transient_codes, BH_ARRAY_LEN(transient_codes)) ||
	       s == 500 || s == 502 || s == 503 || s == 504 ||
	       (s == 0 && (o->transport_error || o->timeout));
}

bool bh_retry_is_retryable(const bh_attempt_outcome *o)
{
	return o && (is_transient(o) || bh_retry_is_throttle(o) ||
	             in_list(o->error_type, modeled_retryable, BH_ARRAY_LEN(modeled_retryable)));
}

/* Codes _retry.json's general policy retries, each only with status 400. */
static const char *const legacy_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
	"ProvisionedThroughputExceededException",
};

/* _retry.json's __default__ policies (as botocore ships them now). */
static bool legacy_retryable(const bh_attempt_outcome *o)
{
	long s = o->http_status;
	if (s == 0)
		return o->transport_error || o->timeout;
	return s == 429 || s == 500 || s == 502 || s == 503 || s == 504 || s == 509 ||
	       (s == 400 && in_list(o->error_type, legacy_codes, BH_ARRAY_LEN(legacy_codes)));
}

static bool is_success(const bh_attempt_outcome *o)
{
	return o->http_status >= 200 && o->http_status < 300;
}

/* ---- settings ------------------------------------------------------------ */

static bool parse_mode(const char *s, bhive_retry_mode *out)
{
	static const struct {
		const char *name;
		bhive_retry_mode mode;
	} modes[] = { { "legacy", BHIVE_RETRY_LEGACY },
		      { "standard", BHIVE_RETRY_STANDARD },
		      { "adaptive", BHIVE_RETRY_ADAPTIVE } };
	for (size_t i = 0; i < BH_ARRAY_LEN(modes); i++)
		if (!strcmp(s, modes[i].name)) {
			*out = modes[i].mode;
			return true;
		}
	return false;
}

static bool parse_attempts(const char *s, int *out)
{
	long v;
	if (bh_parse_long(s, &v) || v < 1 || v > INT_MAX)
		return false;
	*out = (int)v;
	return true;
}

static const char *profile_name(const struct bh_aws_config *cfg)
{
	const char *p = bh_aws_config_profile(cfg);
	return p ? p : "default";
}

static int resolve_mode(bhive_retry_mode mode, const struct bh_aws_config *cfg,
                        bhive_retry_mode *out, bhive_error *err)
{
	if (mode != BHIVE_RETRY_FROM_CONFIG) {
		if (mode < BHIVE_RETRY_LEGACY || mode > BHIVE_RETRY_ADAPTIVE)
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "retry mode %d is not legacy, standard or adaptive",
			                    (int)mode);
		*out = mode;
		return 0;
	}
	const char *env = bh_getenv("AWS_RETRY_MODE");
	if (env && !parse_mode(env, out))
		return bh_error_set(err, BHIVE_ERR_CONFIG,
		                    "AWS_RETRY_MODE=\"%.64s\" is not legacy, standard or adaptive",
		                    env);
	if (env)
		return 0;
	const char *prof = cfg ? bh_aws_config_get(cfg, "retry_mode") : NULL;
	if (prof && !parse_mode(prof, out))
		return bh_error_set(
		    err, BHIVE_ERR_CONFIG,
		    "retry_mode \"%.64s\" in profile \"%s\" is not legacy, standard "
		    "or adaptive",
		    prof, profile_name(cfg));
	if (!prof)
		*out = BHIVE_RETRY_STANDARD;
	return 0;
}

static int resolve_attempts(int max_attempts, bhive_retry_mode mode,
                            const struct bh_aws_config *cfg, int *out, bhive_error *err)
{
	if (max_attempts < 0)
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "max attempts %d is not a whole number >= 1", max_attempts);
	if (max_attempts > 0) {
		*out = max_attempts;
		return 0;
	}
	const char *env = bh_getenv("AWS_MAX_ATTEMPTS");
	if (env && !parse_attempts(env, out))
		return bh_error_set(err, BHIVE_ERR_CONFIG,
		                    "AWS_MAX_ATTEMPTS=\"%.64s\" is not a whole number >= 1", env);
	if (env)
		return 0;
	const char *prof = cfg ? bh_aws_config_get(cfg, "max_attempts") : NULL;
	if (prof && !parse_attempts(prof, out))
		return bh_error_set(
		    err, BHIVE_ERR_CONFIG,
		    "max_attempts \"%.64s\" in profile \"%s\" is not a whole number "
		    ">= 1",
		    prof, profile_name(cfg));
	if (!prof)
		*out = mode == BHIVE_RETRY_LEGACY ? 5 : 3;
	return 0;
}

int bh_retry_settings(bhive_retry_mode mode, int max_attempts, const struct bh_aws_config *cfg,
                      bhive_retry_mode *mode_out, int *attempts_out, bhive_error *err)
{
	bhive_retry_mode m = BHIVE_RETRY_STANDARD;
	int n = 3;
	int rc = resolve_mode(mode, cfg, &m, err);
	if (!rc)
		rc = resolve_attempts(max_attempts, m, cfg, &n, err);
	if (rc)
		return rc;
	*mode_out = m;
	*attempts_out = n;
	return 0;
}

/* ---- object --------------------------------------------------------------- */

bh_retry *bh_retry_new(bhive_retry_mode mode, int max_attempts, uint64_t seed)
{
	bh_retry *r = bh_calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->mode = mode == BHIVE_RETRY_FROM_CONFIG ? BHIVE_RETRY_STANDARD : mode;
	r->max_attempts = max_attempts > 0 ? max_attempts : (r->mode == BHIVE_RETRY_LEGACY ? 5 : 3);
	bh_rng_seed(&r->rng, seed);
	r->quota = QUOTA_INITIAL;
	r->fill_rate = 1;
	r->max_capacity = 1;
	return r;
}

void bh_retry_free(bh_retry *r)
{
	bh_free(r);
}

/* ---- adaptive rate limiter ----------------------------------------------- */

/* botocore builds its limiter with the client; here the clock starts at
 * the first event: CUBIC's last failure, the rate clocker's first (whole
 * second) bucket and the bucket's refill time. */
static void limiter_start(bh_retry *r, double now)
{
	if (r->started)
		return;
	r->started = true;
	r->last_fail = now;
	r->last_bucket = floor(now);
	r->last_refill = now;
}

static void bucket_refill(bh_retry *r, double now)
{
	double cap = r->capacity + (now - r->last_refill) * r->fill_rate;
	r->capacity = cap < r->max_capacity ? cap : r->max_capacity;
	r->last_refill = now;
}

/* New rate: tokens earned so far count at the old rate. */
static void bucket_set_rate(bh_retry *r, double rate, double now)
{
	bucket_refill(r, now);
	r->fill_rate = rate > BUCKET_MIN_RATE ? rate : BUCKET_MIN_RATE;
	r->max_capacity = rate >= 1 ? rate : 1;
	if (r->capacity > r->max_capacity)
		r->capacity = r->max_capacity;
}

/* Smoothed requests per second, updated when a new half-second starts. */
static double rate_record(bh_retry *r, double now)
{
	double bucket = floor(now / RATE_BUCKET_S) * RATE_BUCKET_S;
	r->count += 1;
	if (bucket > r->last_bucket) {
		double current = r->count / (bucket - r->last_bucket);
		r->measured_rate =
		    current * RATE_SMOOTHING + r->measured_rate * (1 - RATE_SMOOTHING);
		r->count = 0;
		r->last_bucket = bucket;
	}
	return r->measured_rate;
}

static double cubic_success(const bh_retry *r, double now)
{
	double dt = now - r->last_fail - r->k;
	return CUBIC_SCALE * dt * dt * dt + r->w_max;
}

static double cubic_throttle(bh_retry *r, double rate, double now)
{
	r->w_max = rate;
	r->k = pow(r->w_max * (1 - CUBIC_BETA) / CUBIC_SCALE, 1.0 / 3.0);
	r->last_fail = now;
	return rate * CUBIC_BETA;
}

/* Every response, success or not, moves the send rate. */
static void limiter_update(bh_retry *r, bool throttled, double now)
{
	if (r->mode != BHIVE_RETRY_ADAPTIVE)
		return;
	limiter_start(r, now);
	double measured = rate_record(r, now);
	double rate;
	if (!throttled) {
		rate = cubic_success(r, now);
	} else {
		double use = r->enabled && r->fill_rate < measured ? r->fill_rate : measured;
		rate = cubic_throttle(r, use, now);
		r->enabled = true;
	}
	double cap = MAX_RATE_ADJUST * measured;
	bucket_set_rate(r, rate < cap ? rate : cap, now);
}

double bh_retry_before_send(bh_retry *r, double now)
{
	if (!r || r->mode != BHIVE_RETRY_ADAPTIVE)
		return 0;
	limiter_start(r, now);
	if (!r->enabled)
		return 0;
	bucket_refill(r, now);
	if (r->capacity >= 1) {
		r->capacity -= 1;
		return 0;
	}
	return (1 - r->capacity) / r->fill_rate * 1000.0;
}

/* ---- decisions ------------------------------------------------------------ */

static long to_ms(double seconds)
{
	return lround(seconds * 1000.0);
}

/* Legacy: no quota; rand is drawn only when retrying, as botocore does. */
static long legacy_failed(bh_retry *r, int attempt, const bh_attempt_outcome *o)
{
	if (!legacy_retryable(o) || attempt >= r->max_attempts)
		return -1;
	double d = bh_rng_double(&r->rng) * ldexp(1.0, attempt - 1);
	return to_ms(d < MAX_BACKOFF_S ? d : MAX_BACKOFF_S);
}

/* Standard: retryable and under the attempt limit, then pay the quota,
 * then draw the full-jitter delay. */
static long standard_failed(bh_retry *r, bh_retry_call *call, int attempt,
                            const bh_attempt_outcome *o)
{
	if (attempt >= r->max_attempts || !bh_retry_is_retryable(o))
		return -1;
	int cost = o->timeout ? QUOTA_TIMEOUT_COST : QUOTA_RETRY_COST;
	if (cost > r->quota)
		return -1;
	r->quota -= cost;
	call->last_cost = cost;
	double cap = ldexp(1.0, attempt - 1);
	return to_ms(bh_rng_double(&r->rng) * (cap < MAX_BACKOFF_S ? cap : MAX_BACKOFF_S));
}

long bh_retry_call_failed(bh_retry *r, bh_retry_call *call, const bh_attempt_outcome *o,
                          double now)
{
	if (!r || !call || !o)
		return -1;
	if (is_success(o)) {
		bh_retry_call_success(r, call, now);
		return -1;
	}
	int attempt = ++call->attempts;
	limiter_update(r, bh_retry_is_throttle(o), now);
	if (r->mode == BHIVE_RETRY_LEGACY)
		return legacy_failed(r, attempt, o);
	return standard_failed(r, call, attempt, o);
}

void bh_retry_call_success(bh_retry *r, bh_retry_call *call, double now)
{
	if (!r || !call)
		return;
	call->attempts++;
	limiter_update(r, false, now);
	if (r->mode == BHIVE_RETRY_LEGACY)
		return;
	int refund = call->last_cost ? call->last_cost : QUOTA_NO_RETRY_REFUND;
	r->quota = r->quota + refund < QUOTA_INITIAL ? r->quota + refund : QUOTA_INITIAL;
}

long bh_retry_after_attempt(bh_retry *r, int attempt, const bh_attempt_outcome *o, double now)
{
	bh_retry_call call = { .attempts = attempt > 0 ? attempt - 1 : 0 };
	return bh_retry_call_failed(r, &call, o, now);
}

void bh_retry_on_success(bh_retry *r, int attempt, double now)
{
	bh_retry_call call = { .attempts = attempt > 0 ? attempt - 1 : 0,
		               .last_cost = attempt > 1 ? QUOTA_RETRY_COST : 0 };
	bh_retry_call_success(r, &call, now);
}

/* ---- introspection ---------------------------------------------------------- */

int bh_retry_quota(const bh_retry *r)
{
	return r ? r->quota : 0;
}

double bh_retry_fill_rate(const bh_retry *r)
{
	return r ? r->fill_rate : 0;
}

double bh_retry_measured_rate(const bh_retry *r)
{
	return r ? r->measured_rate : 0;
}

bool bh_retry_limiting(const bh_retry *r)
{
	return r && r->enabled;
}

int bh_retry_max_attempts(const bh_retry *r)
{
	return r ? r->max_attempts : 0;
}

bhive_retry_mode bh_retry_mode(const bh_retry *r)
{
	return r ? r->mode : BHIVE_RETRY_FROM_CONFIG;
}
