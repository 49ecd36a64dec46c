/*
 * test_retry.c - retry strategies against botocore's formulas: exact
 * delays from the seeded generator, quota arithmetic, attempt limits,
 * classification per the service model (../shared/spec), the adaptive
 * CUBIC rate limiter against values worked out by hand from
 * retries/adaptive.py, bucket.py and throttling.py, and settings
 * resolution (explicit > environment > profile > default).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "aws/retry.h"
#include "aws/config.h"

#define SEED 20240515
#define EPS 1e-9

/* cmocka's float assertion works in single precision; these need double. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), #a, __LINE__)
static void assert_near_at(double a, double b, double eps, const char *what, int line)
{
	if (!(fabs(a - b) <= eps))
		fail_msg("line %d: %s = %.17g, want %.17g", line, what, a, b);
}

static const bh_attempt_outcome o_500 = { 500, "InternalServerException", false, false };
static const bh_attempt_outcome o_throttle = { 429, "ThrottlingException", false, false };
static const bh_attempt_outcome o_timeout = { 0, NULL, false, true };
static const bh_attempt_outcome o_ok = { 200, NULL, false, false };

/* The delay botocore would draw: rand() * min(2^(n-1), cap) seconds. */
static long expected_delay(bh_rng *mirror, int attempt, double cap)
{
	double c = ldexp(1.0, attempt - 1);
	return lround(bh_rng_double(mirror) * (c < cap ? c : cap) * 1000.0);
}

/* ---- classification ------------------------------------------------------ */

static void test_classification_table(void **state)
{
	static const struct {
		bh_attempt_outcome o;
		bool retry, throttle;
	} cases[] = {
		{ { 429, "ThrottlingException", false, false }, true, true },
		{ { 429, "ModelNotReadyException", false, false }, true, false },
		{ { 500, "InternalServerException", false, false }, true, false },
		{ { 502, NULL, false, false }, true, false },
		{ { 503, "ServiceUnavailableException", false, false }, true, false },
		{ { 504, NULL, false, false }, true, false },
		{ { 400, "RequestTimeout", false, false }, true, false },
		{ { 400, "RequestTimeoutException", false, false }, true, false },
		{ { 400, "PriorRequestNotComplete", false, false }, true, true },
		{ { 400, "SlowDown", false, false }, true, true },
		{ { 400, "TooManyRequestsException", false, false }, true, true },
		{ { 400, "EC2ThrottledException", false, false }, true, true },
		{ { 0, NULL, true, false }, true, false },
		{ { 0, NULL, false, true }, true, false },
		{ { 400, "ValidationException", false, false }, false, false },
		{ { 408, "ModelTimeoutException", false, false }, false, false },
		{ { 424, "ModelErrorException", false, false }, false, false },
		{ { 403, "AccessDeniedException", false, false }, false, false },
		{ { 403, "AccessDenied", false, false }, false, false },
		{ { 404, "ResourceNotFoundException", false, false }, false, false },
		{ { 400, "ServiceQuotaExceededException", false, false }, false, false },
		{ { 429, NULL, false, false }, false, false },
		{ { 501, NULL, false, false }, false, false },
		{ { 0, NULL, false, false }, false, false },
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		if (bh_retry_is_retryable(&cases[i].o) != cases[i].retry ||
		    bh_retry_is_throttle(&cases[i].o) != cases[i].throttle)
			fail_msg("case %zu (%ld %s)", i, cases[i].o.http_status,
			         cases[i].o.error_type ? cases[i].o.error_type : "-");
	}
	assert_false(bh_retry_is_retryable(NULL));
}

/* Every error the service model declares, at its modeled status: retried
 * exactly when the model says @retryable, it is a throttling code botocore
 * knows, or its status is a transient 5xx. The expected answer for each
 * shape is written out, so a new shape in the model fails until it is
 * classified here on purpose. */
static void test_service_model_errors(void **state)
{
	static const struct {
		const char *name;
		bool retry;
	} expect[] = {
		{ "AccessDeniedException", false }, { "ConflictException", false },
		{ "InternalServerException", true }, { "ModelErrorException", false },
		{ "ModelNotReadyException", true }, { "ModelStreamErrorException", false },
		{ "ModelTimeoutException", false }, { "ResourceNotFoundException", false },
		{ "ServiceQuotaExceededException", false }, { "ServiceUnavailableException", true },
		{ "ThrottlingException", true }, { "ValidationException", false },
	};
	json_error_t je;
	json_t *root = json_load_file(BHIVE_SHARED_DIR "/spec/bedrock-runtime.errors.json", 0, &je);
	assert_non_null(root);
	json_t *errors = json_object_get(root, "errors");
	assert_true(json_object_size(errors) >= 10);
	const char *name;
	json_t *shape;
	json_object_foreach(errors, name, shape) {
		size_t i = 0;
		while (i < BH_ARRAY_LEN(expect) && strcmp(expect[i].name, name))
			i++;
		if (i == BH_ARRAY_LEN(expect))
			fail_msg("error shape \"%s\" has no expected classification", name);
		bh_attempt_outcome o = { (long)bh_json_int(shape, "http_status", 0), name, false,
			                 false };
		if (bh_retry_is_retryable(&o) != expect[i].retry)
			fail_msg("\"%s\" (%ld) classified wrongly", name, o.http_status);
		if (json_is_true(json_object_get(shape, "retryable")))
			assert_true(bh_retry_is_retryable(&o));
	}
	json_decref(root);
}

/* ---- standard mode ---------------------------------------------------------- */

static void test_standard_delays(void **state)
{
	bh_retry *r = bh_retry_new(BHIVE_RETRY_STANDARD, 8, SEED);
	assert_non_null(r);
	bh_rng mirror;
	bh_rng_seed(&mirror, SEED);
	bh_retry_call call = { 0 };
	for (int n = 1; n < 8; n++) {
		long want = expected_delay(&mirror, n, 20.0);
		long got = bh_retry_call_failed(r, &call, &o_500, 0);
		assert_int_equal(got, want);
		assert_true(got >= 0 && got <= (n > 5 ? 20000 : (1000L << (n - 1))));
	}
	assert_int_equal(call.attempts, 7);
	assert_int_equal(bh_retry_call_failed(r, &call, &o_500, 0), -1); /* 8th of 8 */
	assert_int_equal(bh_retry_quota(r), 500 - 7 * 5);
	bh_retry_free(r);
}

static void test_standard_default_attempts(void **state)
{
	bh_retry *r = bh_retry_new(BHIVE_RETRY_FROM_CONFIG, 0, SEED);
	assert_int_equal(bh_retry_mode(r), BHIVE_RETRY_STANDARD);
	assert_int_equal(bh_retry_max_attempts(r), 3);
	bh_retry_call call = { 0 };
	assert_true(bh_retry_call_failed(r, &call, &o_throttle, 0) >= 0);
	assert_true(bh_retry_call_failed(r, &call, &o_throttle, 0) >= 0);
	assert_int_equal(bh_retry_call_failed(r, &call, &o_throttle, 0), -1);
	assert_int_equal(bh_retry_quota(r), 490);
	bh_retry_free(r);
}

/* 500 - 5 per retry, 10 after a timeout; back 1 for a first-try success
 * (never above 500), or the latest retry's cost after a retried success. */
static void test_quota_arithmetic(void **state)
{
	bh_retry *r = bh_retry_new(BHIVE_RETRY_STANDARD, 3, SEED);
	bh_retry_call a = { 0 }, b = { 0 }, c = { 0 };
	bh_retry_call_success(r, &a, 0);
	assert_int_equal(bh_retry_quota(r), 500);
	assert_true(bh_retry_call_failed(r, &b, &o_500, 0) >= 0);
	assert_int_equal(bh_retry_quota(r), 495);
	assert_true(bh_retry_call_failed(r, &b, &o_timeout, 0) >= 0);
	assert_int_equal(bh_retry_quota(r), 485);
	assert_int_equal(b.last_cost, 10);
	assert_true(bh_retry_call_failed(r, &c, &o_throttle, 0) >= 0);
	assert_int_equal(bh_retry_quota(r), 480);
	bh_retry_call_success(r, &b, 0); /* refunds its latest cost: 10 */
	assert_int_equal(bh_retry_quota(r), 490);
	bh_retry_call_success(r, &c, 0);
	assert_int_equal(bh_retry_quota(r), 495);
	bh_retry_call d = { 0 };
	for (int i = 0; i < 7; i++)
		bh_retry_call_success(r, &d, 0), d = (bh_retry_call){ 0 };
	assert_int_equal(bh_retry_quota(r), 500);
	/* A 2xx handed to the failure path counts as the success it is. */
	bh_retry_call e = { 0 };
	assert_true(bh_retry_call_failed(r, &e, &o_500, 0) >= 0);
	assert_int_equal(bh_retry_call_failed(r, &e, &o_ok, 0), -1);
	assert_int_equal(bh_retry_quota(r), 500);
	bh_retry_free(r);
}

/* Draining the quota: 100 retries of 5 empty it; then nothing is retried
 * and no random number is drawn; a refund lets one retry through. */
static void test_quota_exhaustion(void **state)
{
	bh_retry *r = bh_retry_new(BHIVE_RETRY_STANDARD, 2, SEED);
	bh_rng mirror;
	bh_rng_seed(&mirror, SEED);
	for (int i = 0; i < 100; i++) {
		bh_retry_call call = { 0 };
		assert_int_equal(bh_retry_call_failed(r, &call, &o_500, 0),
		                 expected_delay(&mirror, 1, 20.0));
	}
	assert_int_equal(bh_retry_quota(r), 0);
	bh_retry_call call = { 0 };
	assert_int_equal(bh_retry_call_failed(r, &call, &o_500, 0), -1);
	bh_retry_call ok = { .attempts = 1, .last_cost = 5 };
	bh_retry_call_success(r, &ok, 0);
	assert_int_equal(bh_retry_quota(r), 5);
	call = (bh_retry_call){ 0 };
	assert_int_equal(bh_retry_call_failed(r, &call, &o_timeout, 0), -1); /* needs 10 */
	assert_int_equal(bh_retry_call_failed(r, &(bh_retry_call){ 0 }, &o_500, 0),
	                 expected_delay(&mirror, 1, 20.0));
	assert_int_equal(bh_retry_quota(r), 0);
	bh_retry_free(r);
}

static void test_never_retried(void **state)
{
	const bh_attempt_outcome no[] = {
		{ 400, "ValidationException", false, false },
		{ 408, "ModelTimeoutException", false, false },
		{ 424, "ModelErrorException", false, false },
		{ 403, "AccessDeniedException", false, false },
	};
	for (int mode = BHIVE_RETRY_LEGACY; mode <= BHIVE_RETRY_ADAPTIVE; mode++) {
		bh_retry *r = bh_retry_new((bhive_retry_mode)mode, 5, SEED);
		for (size_t i = 0; i < BH_ARRAY_LEN(no); i++) {
			bh_retry_call call = { 0 };
			assert_int_equal(bh_retry_call_failed(r, &call, &no[i], 1.0), -1);
		}
		assert_int_equal(bh_retry_quota(r), 500);
		bh_retry_free(r);
	}
}

/* The attempt-number wrappers the client uses without a call record. */
static void test_attempt_wrappers(void **state)
{
	bh_retry *r = bh_retry_new(BHIVE_RETRY_STANDARD, 3, SEED);
	bh_rng mirror;
	bh_rng_seed(&mirror, SEED);
	assert_int_equal(bh_retry_after_attempt(r, 1, &o_500, 0), expected_delay(&mirror, 1, 20));
	assert_int_equal(bh_retry_after_attempt(r, 2, &o_500, 0), expected_delay(&mirror, 2, 20));
	assert_int_equal(bh_retry_after_attempt(r, 3, &o_500, 0), -1);
	assert_int_equal(bh_retry_quota(r), 490);
	bh_retry_on_success(r, 3, 0);
	assert_int_equal(bh_retry_quota(r), 495);
	bh_retry_on_success(r, 1, 0);
	assert_int_equal(bh_retry_quota(r), 496);
	bh_retry_free(r);
}

static void test_same_seed_same_delays(void **state)
{
	bh_retry *a = bh_retry_new(BHIVE_RETRY_STANDARD, 50, 7);
	bh_retry *b = bh_retry_new(BHIVE_RETRY_STANDARD, 50, 7);
	bh_retry *c = bh_retry_new(BHIVE_RETRY_STANDARD, 50, 8);
	bh_retry_call ca = { 0 }, cb = { 0 }, cc = { 0 };
	int differ = 0;
	for (int i = 0; i < 20; i++) {
		long x = bh_retry_call_failed(a, &ca, &o_500, 0);
		assert_int_equal(x, bh_retry_call_failed(b, &cb, &o_500, 0));
		differ += x != bh_retry_call_failed(c, &cc, &o_500, 0);
	}
	assert_true(differ > 10);
	bh_retry_free(a);
	bh_retry_free(b);
	bh_retry_free(c);
}

/* ---- legacy mode -------------------------------------------------------------- */

static void test_legacy(void **state)
{
	bh_retry *r = bh_retry_new(BHIVE_RETRY_LEGACY, 0, SEED);
	assert_int_equal(bh_retry_max_attempts(r), 5);
	bh_rng mirror;
	bh_rng_seed(&mirror, SEED);
	bh_retry_call call = { 0 };
	for (int n = 1; n < 5; n++)
		assert_int_equal(bh_retry_call_failed(r, &call, &o_throttle, 0),
		                 expected_delay(&mirror, n, 20.0));
	assert_int_equal(bh_retry_call_failed(r, &call, &o_throttle, 0), -1);
	assert_int_equal(bh_retry_quota(r), 500); /* no quota in legacy */
	static const struct {
		bh_attempt_outcome o;
		bool retry;
	} cases[] = {
		{ { 509, NULL, false, false }, true },
		{ { 400, "ThrottlingException", false, false }, true },
		{ { 400, "Throttling", false, false }, true },
		{ { 429, "ModelNotReadyException", false, false }, true },
		{ { 503, NULL, false, false }, true },
		{ { 0, NULL, true, false }, true },
		{ { 502, NULL, false, false }, true },
		{ { 504, NULL, false, false }, true },
		{ { 400, "ProvisionedThroughputExceededException", false, false }, true },
		{ { 400, "SlowDown", false, false }, false },         /* standard mode only */
		{ { 403, "ThrottlingException", false, false }, false }, /* only with 400 */
		{ { 0, NULL, false, false }, false },
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bh_retry_call c = { 0 };
		if ((bh_retry_call_failed(r, &c, &cases[i].o, 0) >= 0) != cases[i].retry)
			fail_msg("legacy case %zu", i);
	}
	bh_retry_free(r);
}

/* Legacy's delay is botocore's rand * 2^(n-1) until that passes 20 s,
 * which only happens from attempt 6 on; then it is 20 s. */
static void test_legacy_cap(void **state)
{
	bh_retry *r = bh_retry_new(BHIVE_RETRY_LEGACY, 20, SEED);
	bh_rng mirror;
	bh_rng_seed(&mirror, SEED);
	bh_retry_call call = { 0 };
	int capped = 0;
	for (int n = 1; n < 20; n++) {
		double d = bh_rng_double(&mirror) * ldexp(1.0, n - 1);
		long want = d > 20 ? 20000 : lround(d * 1000);
		assert_int_equal(bh_retry_call_failed(r, &call, &o_500, 0), want);
		capped += d > 20;
	}
	assert_true(capped > 5);
	bh_retry_free(r);
}

/* ---- adaptive mode ---------------------------------------------------------- */

static void send_ok(bh_retry *r, double t)
{
	assert_true(bh_retry_before_send(r, t) == 0);
	bh_retry_call call = { 0 };
	bh_retry_call_success(r, &call, t + 0.05);
}

/*
 * 20 requests at 10/s from t=100, answered 50 ms later, then a throttle at
 * 102.05. Worked out with botocore's formulas:
 *   rate clocker (0.5 s buckets, first bucket floor(100) = 100, smoothing
 *   0.8): buckets close at 100.55 (6 requests / 0.5 s = 12 -> 9.6), 101.05
 *   (10 -> 9.92), 101.55 (10 -> 9.984) and, with the throttle, 102.05
 *   (10 -> 9.9968).
 *   CUBIC before any throttle: w_max 0, K 0, so the last success at 101.95
 *   asks for 0.4 * 1.95^3 = 2.96595 (below 2 x 9.984, so it stands).
 *   Throttle: not limiting yet, so the measured 9.9968 becomes w_max, the
 *   rate is 0.7 x 9.9968 = 6.99776 and K = cbrt(9.9968 x 0.3 / 0.4).
 *   Success at 103.0: the clocker closes [102, 103) with 1 request
 *   (1/1 s -> 0.8 + 0.2 x 9.9968 = 2.79936); CUBIC asks for
 *   0.4 (0.95 - K)^3 + 9.9968 = 9.588, capped at 2 x 2.79936 = 5.59872.
 *   Success at 105.0: 1 request over 2 s (0.5 -> 0.4 + 0.2 x 2.79936 =
 *   0.959872), CUBIC asks for more than w_max, capped at 1.919744.
 */
static void test_adaptive_cubic(void **state)
{
	bh_retry *r = bh_retry_new(BHIVE_RETRY_ADAPTIVE, 3, SEED);
	for (int i = 0; i < 20; i++)
		send_ok(r, 100.0 + i * 0.1);
	assert_false(bh_retry_limiting(r));
	assert_near(bh_retry_measured_rate(r), 9.984, EPS);
	assert_near(bh_retry_fill_rate(r), 0.4 * 1.95 * 1.95 * 1.95, EPS);
	bh_retry_call call = { 0 };
	assert_true(bh_retry_call_failed(r, &call, &o_throttle, 102.05) >= 0);
	assert_true(bh_retry_limiting(r));
	assert_near(bh_retry_measured_rate(r), 9.9968, EPS);
	assert_near(bh_retry_fill_rate(r), 0.7 * 9.9968, EPS);
	bh_retry_call ok = { 0 };
	bh_retry_call_success(r, &ok, 103.0);
	assert_near(bh_retry_measured_rate(r), 2.79936, EPS);
	assert_near(bh_retry_fill_rate(r), 5.59872, EPS);
	ok = (bh_retry_call){ 0 };
	bh_retry_call_success(r, &ok, 105.0);
	assert_near(bh_retry_measured_rate(r), 0.959872, EPS);
	assert_near(bh_retry_fill_rate(r), 1.919744, EPS);
	bh_retry_free(r);
}

/*
 * The token bucket once limiting: at the throttle (102.05) it holds
 * 2.052195 tokens (filled since 101.95 at 2.96595/s up to that cap; worked
 * out by the same formulas). Two sends go at once, the third must wait
 * (1 - 0.052195) / 6.99776 s = 135.444 ms, and is let through then.
 */
static void test_adaptive_token_bucket(void **state)
{
	bh_retry *r = bh_retry_new(BHIVE_RETRY_ADAPTIVE, 3, SEED);
	for (int i = 0; i < 20; i++)
		send_ok(r, 100.0 + i * 0.1);
	bh_retry_call call = { 0 };
	bh_retry_call_failed(r, &call, &o_throttle, 102.05);
	assert_true(bh_retry_before_send(r, 102.05) == 0);
	assert_true(bh_retry_before_send(r, 102.05) == 0);
	double wait = bh_retry_before_send(r, 102.05);
	assert_near(wait, (1 - 0.052195) / 6.99776 * 1000, 1e-6);
	assert_near(bh_retry_before_send(r, 102.05), wait, 1e-9); /* nothing taken */
	assert_true(bh_retry_before_send(r, 102.05 + wait / 1000 + 1e-9) == 0);
	assert_true(bh_retry_before_send(r, 102.05 + wait / 1000 + 1e-9) > 100);
	bh_retry_free(r);
}

/* Other modes never wait and never move the limiter. */
static void test_standard_has_no_limiter(void **state)
{
	bh_retry *r = bh_retry_new(BHIVE_RETRY_STANDARD, 3, SEED);
	bh_retry_call call = { 0 };
	bh_retry_call_failed(r, &call, &o_throttle, 1.0);
	assert_true(bh_retry_before_send(r, 1.0) == 0);
	assert_false(bh_retry_limiting(r));
	assert_true(bh_retry_before_send(NULL, 1.0) == 0);
	bh_retry_free(r);
	bh_retry_free(NULL);
}

/* ---- settings ------------------------------------------------------------------ */

static char config_path[64];

static void write_config(const char *text)
{
	FILE *f = fopen(config_path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int settings_setup(void **state)
{
	bh_strlcpy(config_path, "/tmp/bhive-test-retry-XXXXXX", sizeof(config_path));
	int fd = mkstemp(config_path);
	if (fd < 0)
		return -1;
	close(fd);
	setenv("AWS_CONFIG_FILE", config_path, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/bhive-test-credentials", 1);
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_DEFAULT_PROFILE");
	return 0;
}

static int settings_teardown(void **state)
{
	unlink(config_path);
	unsetenv("AWS_RETRY_MODE");
	unsetenv("AWS_MAX_ATTEMPTS");
	return 0;
}

typedef struct settings_case {
	const char *config, *env_mode, *env_attempts;
	bhive_retry_mode mode;
	int attempts;
	int want_rc;
	bhive_retry_mode want_mode;
	int want_attempts;
	const char *want_msg;
} settings_case;

static void run_settings_case(size_t i, const settings_case *c)
{
	write_config(c->config ? c->config : "");
	if (c->env_mode)
		setenv("AWS_RETRY_MODE", c->env_mode, 1);
	else
		unsetenv("AWS_RETRY_MODE");
	if (c->env_attempts)
		setenv("AWS_MAX_ATTEMPTS", c->env_attempts, 1);
	else
		unsetenv("AWS_MAX_ATTEMPTS");
	bhive_error err;
	bhive_error_clear(&err);
	bh_aws_config *cfg = bh_aws_config_load(NULL, &err);
	if (!cfg)
		fail_msg("case %zu: config: %s", i, err.message);
	bhive_retry_mode m = 0;
	int n = 0;
	int rc = bh_retry_settings(c->mode, c->attempts, cfg, &m, &n, &err);
	bh_aws_config_free(cfg);
	if (rc != c->want_rc)
		fail_msg("case %zu: rc %d want %d (%s)", i, rc, c->want_rc, err.message);
	if (rc && strcmp(err.message, c->want_msg))
		fail_msg("case %zu: message \"%s\"", i, err.message);
	if (!rc && (m != c->want_mode || n != c->want_attempts))
		fail_msg("case %zu: mode %d attempts %d", i, (int)m, n);
}

static void test_settings(void **state)
{
	static const char prof[] = "[default]\nretry_mode = legacy\n";
	static const char prof7[] = "[default]\nretry_mode = adaptive\nmax_attempts = 7\n";
	static const settings_case cases[] = {
	    {NULL, NULL, NULL, 0, 0, 0, BHIVE_RETRY_STANDARD, 3, NULL},
	    {prof, NULL, NULL, 0, 0, 0, BHIVE_RETRY_LEGACY, 5, NULL},
	    {prof7, NULL, NULL, 0, 0, 0, BHIVE_RETRY_ADAPTIVE, 7, NULL},
	    {prof7, "standard", NULL, 0, 0, 0, BHIVE_RETRY_STANDARD, 7, NULL},
	    {prof7, "legacy", "2", 0, 0, 0, BHIVE_RETRY_LEGACY, 2, NULL},
	    {prof7, "legacy", "2", BHIVE_RETRY_ADAPTIVE, 9, 0, BHIVE_RETRY_ADAPTIVE, 9, NULL},
	    {NULL, NULL, "4", BHIVE_RETRY_LEGACY, 0, 0, BHIVE_RETRY_LEGACY, 4, NULL},
	    {NULL, NULL, "x", 0, 0, BHIVE_ERR_CONFIG, 0, 0,
	     "AWS_MAX_ATTEMPTS=\"x\" is not a whole number >= 1"},
	    {NULL, NULL, "0", 0, 0, BHIVE_ERR_CONFIG, 0, 0,
	     "AWS_MAX_ATTEMPTS=\"0\" is not a whole number >= 1"},
	    {NULL, "Standard", NULL, 0, 0, BHIVE_ERR_CONFIG, 0, 0,
	     "AWS_RETRY_MODE=\"Standard\" is not legacy, standard or adaptive"},
	    {"[default]\nretry_mode = fast\n", NULL, NULL, 0, 0, BHIVE_ERR_CONFIG, 0, 0,
	     "retry_mode \"fast\" in profile \"default\" is not legacy, standard or adaptive"},
	    {"[default]\nmax_attempts = 2.5\n", NULL, NULL, 0, 0, BHIVE_ERR_CONFIG, 0, 0,
	     "max_attempts \"2.5\" in profile \"default\" is not a whole number >= 1"},
	    /* the environment hides a bad profile value, as in botocore */
	    {"[default]\nmax_attempts = -1\n", NULL, "6", 0, 0, 0, BHIVE_RETRY_STANDARD, 6, NULL},
	    {NULL, NULL, NULL, 0, -2, BHIVE_ERR_INVALID, 0, 0,
	     "max attempts -2 is not a whole number >= 1"},
	    {NULL, NULL, NULL, (bhive_retry_mode)9, 0, BHIVE_ERR_INVALID, 0, 0,
	     "retry mode 9 is not legacy, standard or adaptive"},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++)
		run_settings_case(i, &cases[i]);
}

/* A named profile is the one named in the message. */
static void test_settings_profile_name(void **state)
{
	write_config("[profile fast]\nretry_mode = turbo\n");
	unsetenv("AWS_RETRY_MODE");
	unsetenv("AWS_MAX_ATTEMPTS");
	bhive_error err;
	bhive_error_clear(&err);
	bh_aws_config *cfg = bh_aws_config_load("fast", &err);
	assert_non_null(cfg);
	bhive_retry_mode m;
	int n;
	assert_int_equal(bh_retry_settings(0, 0, cfg, &m, &n, &err), BHIVE_ERR_CONFIG);
	assert_string_equal(err.message,
	                    "retry_mode \"turbo\" in profile \"fast\" is not legacy, standard or "
	                    "adaptive");
	bh_aws_config_free(cfg);
	bhive_error_clear(&err);
	assert_int_equal(bh_retry_settings(0, 0, NULL, &m, &n, &err), 0);
	assert_int_equal(m, BHIVE_RETRY_STANDARD);
	assert_int_equal(n, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classification_table),
		cmocka_unit_test(test_service_model_errors),
		cmocka_unit_test(test_standard_delays),
		cmocka_unit_test(test_standard_default_attempts),
		cmocka_unit_test(test_quota_arithmetic),
		cmocka_unit_test(test_quota_exhaustion),
		cmocka_unit_test(test_never_retried),
		cmocka_unit_test(test_attempt_wrappers),
		cmocka_unit_test(test_same_seed_same_delays),
		cmocka_unit_test(test_legacy),
		cmocka_unit_test(test_legacy_cap),
		cmocka_unit_test(test_adaptive_cubic),
		cmocka_unit_test(test_adaptive_token_bucket),
		cmocka_unit_test(test_standard_has_no_limiter),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_settings_profile_name),
	};
	return cmocka_run_group_tests(tests, settings_setup, settings_teardown);
}
