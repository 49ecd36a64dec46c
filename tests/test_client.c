/*
 * test_client.c - bhive_client end to end against loopback servers the
 * test starts (tests/support/stub_server): SigV4 and bearer auth, retries,
 * errors, timeouts, bad bodies, concurrency, a caller-supplied transport,
 * and a canary secret that must never show.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws/sigv4.h"
#include "bedrock/wire.h"
#include "bhive/client.h"
#include "bhive/version.h"
#include "net/http.h"
#include "stub_server.h"

#define MODEL "anthropic.claude-3-haiku-20240307-v1:0"
#define PATH "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
/* The stub server records and routes on the path as libmicrohttpd decodes
 * it; the encoded form is checked through the custom transport test. */
#define DPATH "/model/" MODEL "/converse"
#define AKID "AKIDEXAMPLE"
#define CANARY_SECRET "CANARYsecretKEYwJalrXUtnFEMIK7MDENGbPxRfiCY"
#define CANARY_TOKEN "CANARYsessionTOKENFwoGZXIvYXdzEJr"
#define CANARY_BEARER "CANARYbearerABSKQmVkcm9ja0FQSUtleS"
#define OK_BODY                                                                                    \
	"{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"4\"}]}},"       \
	"\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":3,\"outputTokens\":1,"             \
	"\"totalTokens\":4},\"metrics\":{\"latencyMs\":12},\"newMember\":[1]}"
#define JSON_HDR "Content-Type: application/json\n"

/* The tests see no user configuration: no files, no metadata service. */
static int isolate_env(void **state)
{
	static const char *unset[] = {"AWS_PROFILE",
	                              "AWS_DEFAULT_PROFILE",
	                              "AWS_REGION",
	                              "AWS_DEFAULT_REGION",
	                              "AWS_ACCESS_KEY_ID",
	                              "AWS_SECRET_ACCESS_KEY",
	                              "AWS_SESSION_TOKEN",
	                              "AWS_BEARER_TOKEN_BEDROCK",
	                              "AWS_ENDPOINT_URL",
	                              "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
	                              "AWS_RETRY_MODE",
	                              "AWS_MAX_ATTEMPTS",
	                              "AWS_WEB_IDENTITY_TOKEN_FILE",
	                              "AWS_ROLE_ARN",
	                              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	                              "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	                              "AWS_USE_FIPS_ENDPOINT",
	                              "AWS_USE_DUALSTACK_ENDPOINT",
	                              "BHIVE_LOG_LEVEL"};
	for (size_t i = 0; i < BH_ARRAY_LEN(unset); i++)
		unsetenv(unset[i]);
	setenv("AWS_CONFIG_FILE", "/nonexistent/bhive-test/config", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/bhive-test/credentials", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	return 0;
}

static bhive_client *new_client(bh_stub_server *s, int attempts, const char *bearer)
{
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-west-2";
	o.endpoint_url = s ? bh_stub_url(s) : "http://127.0.0.1:9";
	o.access_key_id = AKID;
	o.secret_access_key = CANARY_SECRET;
	o.bearer_token = bearer;
	o.retry_mode = BHIVE_RETRY_STANDARD;
	o.max_attempts = attempts;
	o.read_timeout_ms = 5000;
	bhive_error err;
	bhive_client *c = bhive_client_new(&o, &err);
	if (!c)
		fail_msg("client: %s", err.message);
	return c;
}

static json_t *request(void)
{
	return json_pack("{s:s, s:[{s:s, s:[{s:s}]}], s:{s:i}}", "modelId", "ignored", "messages",
	                 "role", "user", "content", "text", "2+2?", "inferenceConfig", "maxTokens",
	                 10);
}

static json_t *call(bhive_client *c, bhive_call_info *info, bhive_error *err)
{
	json_t *req = request();
	json_t *resp = bhive_converse(c, MODEL, req, info, err);
	json_decref(req);
	return resp;
}

/* ---- SigV4 and bearer ----------------------------------------------------- */

/* Recomputes the signature of what the server received, with the secret
 * the server would hold: the request that went out is the one signed. */
static void verify_received(const bh_stub_request *q, const char *token)
{
	bh_sigv4_header h[16];
	size_t n = 0;
	for (size_t i = 0; i < q->num_headers && n < 16; i++)
		h[n++] = (bh_sigv4_header){q->headers[i].name, q->headers[i].value};
	assert_string_equal(q->path, DPATH);
	bh_sigv4_request req = {.method = q->method,
	                        .path = PATH,
	                        .headers = h,
	                        .num_headers = n,
	                        .body = q->body,
	                        .body_len = q->body_len};
	bh_sigv4_auth auth;
	bhive_error err;
	bhive_error_clear(&err);
	assert_int_equal(
	    bh_sigv4_parse_authorization(bh_stub_request_header(q, "authorization"), &auth, &err),
	    0);
	assert_string_equal(auth.access_key_id, AKID);
	assert_string_equal(auth.date, "20231114");
	assert_string_equal(auth.region, "us-west-2");
	assert_string_equal(auth.service, "bedrock");
	assert_string_equal(auth.signed_headers, token ? "content-type;host;x-amz-date;"
	                                                 "x-amz-security-token"
	                                               : "content-type;host;x-amz-date");
	if (bh_sigv4_verify(&req, &auth, CANARY_SECRET, NULL, NULL, &err))
		fail_msg("signature does not verify: %s", err.message);
}

static void test_sigv4_call(void **state)
{
	bh_set_wall_time(1700000000); /* 2023-11-14T22:13:20Z */
	bh_stub_server *s = bh_stub_start();
	bh_stub_reply r = {
	    .status = 200, .body = OK_BODY, .headers = JSON_HDR "x-amzn-RequestId: req-123\n"};
	bh_stub_add(s, "POST", DPATH, &r);
	bhive_client *c = new_client(s, 3, NULL);
	bhive_call_info info;
	bhive_error err;
	json_t *resp = call(c, &info, &err);
	if (!resp)
		fail_msg("%s", err.message);
	char *text = bhive_response_text(resp);
	assert_string_equal(text, "4");
	bhive_free(text);
	assert_non_null(json_object_get(resp, "newMember"));
	assert_int_equal(info.attempts, 1);
	assert_int_equal(info.http_status, 200);
	assert_string_equal(info.request_id, "req-123");
	assert_int_equal(bh_stub_request_count(s), 1);
	const bh_stub_request *q = bh_stub_request_at(s, 0);
	assert_string_equal(q->path, DPATH);
	assert_true(bh_starts_with(bh_stub_request_header(q, "authorization"),
	                           "AWS4-HMAC-SHA256 Credential=" AKID
	                           "/20231114/us-west-2/bedrock/aws4_request, SignedHeaders="));
	assert_string_equal(bh_stub_request_header(q, "x-amz-date"), "20231114T221320Z");
	assert_string_equal(bh_stub_request_header(q, "content-type"), "application/json");
	assert_string_equal(bh_stub_request_header(q, "user-agent"), "bhive/" BHIVE_VERSION_STRING);
	assert_null(bh_stub_request_header(q, "x-amz-security-token"));
	assert_null(strstr(q->body, "modelId"));
	assert_non_null(strstr(q->body, "\"maxTokens\":10"));
	verify_received(q, NULL);
	json_decref(resp);
	bhive_client_free(c);
	bh_stub_free(s);
	bh_set_wall_time(0);
}

static void test_session_token(void **state)
{
	bh_set_wall_time(1700000000);
	bh_stub_server *s = bh_stub_start();
	bh_stub_add_simple(s, "POST", DPATH, 200, OK_BODY);
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-west-2";
	o.endpoint_url = bh_stub_url(s);
	setenv("AWS_ACCESS_KEY_ID", AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", CANARY_SECRET, 1);
	setenv("AWS_SESSION_TOKEN", CANARY_TOKEN, 1);
	bhive_client *c = bhive_client_new(&o, NULL);
	assert_non_null(c);
	json_t *resp = call(c, NULL, NULL);
	assert_non_null(resp);
	const bh_stub_request *q = bh_stub_request_at(s, 0);
	assert_string_equal(bh_stub_request_header(q, "x-amz-security-token"), CANARY_TOKEN);
	verify_received(q, CANARY_TOKEN);
	json_decref(resp);
	bhive_client_free(c);
	bh_stub_free(s);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	bh_set_wall_time(0);
}

/* A Bedrock API key replaces SigV4, from the option or the environment,
 * and no credential provider is asked (there are none here). */
static void test_bearer(void **state)
{
	bh_stub_server *s = bh_stub_start();
	bh_stub_add_simple(s, "POST", DPATH, 200, OK_BODY);
	for (int from_env = 0; from_env < 2; from_env++) {
		bhive_client_options o;
		bhive_client_options_init(&o);
		o.region = "us-east-1";
		o.endpoint_url = bh_stub_url(s);
		if (from_env)
			setenv("AWS_BEARER_TOKEN_BEDROCK", CANARY_BEARER, 1);
		else
			o.bearer_token = CANARY_BEARER;
		bhive_error err;
		bhive_client *c = bhive_client_new(&o, &err);
		assert_non_null(c);
		json_t *resp = call(c, NULL, &err);
		if (!resp)
			fail_msg("%s", err.message);
		json_decref(resp);
		bhive_client_free(c);
		const bh_stub_request *q = bh_stub_request_at(s, (size_t)from_env);
		assert_string_equal(bh_stub_request_header(q, "authorization"),
		                    "Bearer " CANARY_BEARER);
	}
	unsetenv("AWS_BEARER_TOKEN_BEDROCK");
	/* without the key, the empty chain is an error at call time */
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-east-1";
	o.endpoint_url = bh_stub_url(s);
	bhive_client *c = bhive_client_new(&o, NULL);
	assert_non_null(c);
	bhive_error err;
	assert_null(call(c, NULL, &err));
	assert_int_equal(err.code, BHIVE_ERR_CREDENTIALS);
	assert_int_equal(bh_stub_request_count(s), 2);
	bhive_client_free(c);
	bh_stub_free(s);
}

/* ---- retries ---------------------------------------------------------------- */

static void add_error(bh_stub_server *s, int status, const char *type, int times)
{
	char headers[256], body[256];
	snprintf(headers, sizeof(headers),
	         JSON_HDR "x-amzn-ErrorType: %s\nx-amzn-RequestId: r-%d\n", type, status);
	snprintf(body, sizeof(body), "{\"message\":\"%s happened\"}", type);
	bh_stub_reply r = {.status = status, .body = body, .headers = headers, .times = times};
	bh_stub_add(s, "POST", DPATH, &r);
}

static void test_retry_then_success(void **state)
{
	bh_stub_server *s = bh_stub_start();
	add_error(s, 429, "ThrottlingException", 1);
	add_error(s, 503, "ServiceUnavailableException", 1);
	bh_stub_add_simple(s, "POST", DPATH, 200, OK_BODY);
	bhive_client *c = new_client(s, 3, NULL);
	bhive_call_info info;
	bhive_error err;
	json_t *resp = call(c, &info, &err);
	if (!resp)
		fail_msg("%s", err.message);
	assert_int_equal(info.attempts, 3);
	assert_int_equal(info.http_status, 200);
	assert_int_equal(bh_stub_request_count(s), 3);
	json_decref(resp);
	bhive_client_free(c);
	bh_stub_free(s);
}

static void test_retries_exhausted(void **state)
{
	bh_stub_server *s = bh_stub_start();
	add_error(s, 429, "ModelNotReadyException", 0);
	bhive_client *c = new_client(s, 2, NULL);
	bhive_call_info info;
	bhive_error err;
	assert_null(call(c, &info, &err));
	assert_int_equal(info.attempts, 2);
	assert_int_equal(err.code, BHIVE_ERR_SERVICE_NOT_READY);
	assert_string_equal(err.request_id, "r-429");
	assert_int_equal(bh_stub_request_count(s), 2);
	bhive_client_free(c);
	bh_stub_free(s);
}

static void test_no_retry(void **state)
{
	static const struct {
		int status;
		const char *type;
		int code;
	} cases[] = {
	    {400, "ValidationException", BHIVE_ERR_SERVICE_VALIDATION},
	    {408, "ModelTimeoutException", BHIVE_ERR_SERVICE_MODEL_TIMEOUT},
	    {424, "ModelErrorException", BHIVE_ERR_SERVICE_MODEL_ERROR},
	    {403, "AccessDeniedException", BHIVE_ERR_SERVICE_ACCESS},
	    {404, "ResourceNotFoundException", BHIVE_ERR_SERVICE_NOT_FOUND},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bh_stub_server *s = bh_stub_start();
		add_error(s, cases[i].status, cases[i].type, 0);
		bhive_client *c = new_client(s, 3, NULL);
		bhive_call_info info;
		bhive_error err;
		assert_null(call(c, &info, &err));
		assert_int_equal(info.attempts, 1);
		assert_int_equal(bh_stub_request_count(s), 1);
		assert_int_equal(err.code, cases[i].code);
		assert_int_equal(err.http_status, cases[i].status);
		assert_string_equal(err.error_type, cases[i].type);
		char want[256];
		snprintf(want, sizeof(want), "model \"%s\" returned %s: %s happened", MODEL,
		         cases[i].type, cases[i].type);
		assert_string_equal(err.message, want);
		bhive_client_free(c);
		bh_stub_free(s);
	}
}

typedef struct tally {
	int ok, failed, last_code;
} tally;

static void count_cb(void *ud, json_t *resp, const bhive_error *err, const bhive_call_info *info)
{
	tally *t = ud;
	if (resp)
		t->ok++;
	else
		t->failed++;
	if (err)
		t->last_code = err->code;
}

/* The standard mode's retry quota (500, 5 per retry) allows 100 retries
 * when nothing succeeds: 120 calls that always get a 503 and may each
 * retry once make 100 + 120 requests, not 240. */
static void test_quota_exhaustion(void **state)
{
	bh_stub_server *s = bh_stub_start();
	add_error(s, 503, "ServiceUnavailableException", 0);
	bhive_client *c = new_client(s, 2, NULL);
	tally t = {0};
	json_t *req = request();
	for (int i = 0; i < 120; i++)
		assert_int_equal(bhive_converse_start(c, MODEL, req, count_cb, &t, NULL), 0);
	json_decref(req);
	assert_int_equal(bhive_client_pending(c), 120);
	assert_int_equal(bhive_client_run(c, 20000), 0);
	assert_int_equal(t.failed, 120);
	assert_int_equal(t.last_code, BHIVE_ERR_SERVICE_UNAVAILABLE);
	assert_int_equal(bh_stub_request_count(s), 220);
	bhive_client_free(c);
	bh_stub_free(s);
}

/* ---- transport failures ---------------------------------------------------- */

static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_connection_refused(void **state)
{
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", closed_port());
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-west-2";
	o.endpoint_url = url;
	o.access_key_id = AKID;
	o.secret_access_key = CANARY_SECRET;
	o.max_attempts = 2;
	bhive_client *c = bhive_client_new(&o, NULL);
	bhive_call_info info;
	bhive_error err;
	assert_null(call(c, &info, &err));
	assert_int_equal(err.code, BHIVE_ERR_NETWORK);
	assert_int_equal(info.attempts, 2); /* connection errors are retried */
	assert_non_null(strstr(err.message, url + strlen("http://")));
	assert_string_equal(err.source, url + strlen("http://"));
	bhive_client_free(c);
}

/* TLS is verified and its failures are network errors naming the host:
 * here the server does not speak TLS at all. */
static void test_tls_failure(void **state)
{
	bh_stub_server *s = bh_stub_start();
	char url[64];
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", bh_stub_port(s));
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-west-2";
	o.endpoint_url = url;
	o.bearer_token = CANARY_BEARER;
	o.max_attempts = 1;
	bhive_client *c = bhive_client_new(&o, NULL);
	assert_non_null(c);
	bhive_error err;
	assert_null(call(c, NULL, &err));
	assert_int_equal(err.code, BHIVE_ERR_NETWORK);
	assert_true(bh_starts_with(err.message, "request to \"127.0.0.1:"));
	assert_null(strstr(err.message, "CANARY"));
	bhive_client_free(c);
	bh_stub_free(s);
}

static void test_read_timeout(void **state)
{
	bh_stub_server *s = bh_stub_start();
	bh_stub_reply r = {.status = 200, .body = OK_BODY, .delay_ms = 2500};
	bh_stub_add(s, "POST", DPATH, &r);
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-west-2";
	o.endpoint_url = bh_stub_url(s);
	o.bearer_token = "t";
	o.max_attempts = 1;
	o.read_timeout_ms = 1000;
	bhive_client *c = bhive_client_new(&o, NULL);
	bhive_call_info info;
	bhive_error err;
	int64_t t0 = bh_now_ms();
	assert_null(call(c, &info, &err));
	int64_t ms = bh_now_ms() - t0;
	assert_int_equal(err.code, BHIVE_ERR_TIMEOUT);
	assert_true(ms >= 900 && ms < 2400);
	bhive_client_free(c);
	bh_stub_free(s);
}

static void expect_failure(bh_stub_server *s, const bh_stub_reply *r, int code, const char *text)
{
	bh_stub_reset(s);
	bh_stub_add(s, "POST", DPATH, r);
	bhive_client *c = new_client(s, 1, "t");
	bhive_error err;
	assert_null(call(c, NULL, &err));
	if (err.code != code || !strstr(err.message, text))
		fail_msg("got %d \"%s\", want %d with \"%s\"", err.code, err.message, code, text);
	bhive_client_free(c);
}

static void test_bad_bodies(void **state)
{
	bh_stub_server *s = bh_stub_start();
	bh_stub_reply garbage = {.status = 200, .body = "<html>oops</html>"};
	expect_failure(s, &garbage, BHIVE_ERR_PARSE,
	               "response from model \"" MODEL
	               "\" is not a Converse response: invalid JSON");
	expect_failure(s, &garbage, BHIVE_ERR_PARSE, "body \"<html>oops</html>\"");
	bh_stub_reply truncated = {.status = 200, .body = "{\"output\":{\"message\":{\"ro"};
	expect_failure(s, &truncated, BHIVE_ERR_PARSE, "invalid JSON");
	bh_stub_reply hang = {.hang_up = true};
	expect_failure(s, &hang, BHIVE_ERR_NETWORK, "request to \"127.0.0.1:");
	bh_stub_reply html502 = {.status = 502, .body = "<html>bad gateway</html>"};
	expect_failure(s, &html502, BHIVE_ERR_SERVICE_INTERNAL,
	               "returned HTTP 502: \"<html>bad gateway</html>\"");
	bh_stub_free(s);
}

/* A body over the transport's cap fails clearly instead of being cut. */
static void test_huge_body(void **state)
{
	bh_stub_server *s = bh_stub_start();
	char *big = malloc(8192);
	memset(big, ' ', 8191);
	big[8191] = '\0';
	memcpy(big, "{\"output\":{\"message\":{}}}", 25);
	bh_stub_add_simple(s, "POST", DPATH, 200, big);
	bhive_transport tp;
	bh_http_options ho = {.max_body = 4096};
	assert_int_equal(bh_http_transport_new(&ho, &tp, NULL), 0);
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-west-2";
	o.endpoint_url = bh_stub_url(s);
	o.bearer_token = "t";
	o.transport = &tp;
	bhive_client *c = bhive_client_new(&o, NULL);
	bhive_error err;
	bhive_call_info info;
	assert_null(call(c, &info, &err));
	assert_int_equal(err.code, BHIVE_ERR_PARSE);
	assert_non_null(strstr(err.message, "larger than the limit of 4096 bytes"));
	assert_int_equal(info.attempts, 1);
	bhive_client_free(c);
	bh_stub_free(s);
	free(big);
}

/* ---- many at once --------------------------------------------------------- */

static void test_concurrent_100(void **state)
{
	bh_stub_server *s = bh_stub_start();
	bh_stub_reply r = {.status = 200, .body = OK_BODY, .delay_ms = 50};
	bh_stub_add(s, "POST", DPATH, &r);
	bhive_transport tp;
	assert_int_equal(bh_http_transport_new(NULL, &tp, NULL), 0);
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-west-2";
	o.endpoint_url = bh_stub_url(s);
	o.access_key_id = AKID;
	o.secret_access_key = CANARY_SECRET;
	o.transport = &tp;
	bhive_client *c = bhive_client_new(&o, NULL);
	tally t = {0};
	json_t *req = request();
	int64_t t0 = bh_now_ms();
	for (int i = 0; i < 100; i++)
		assert_int_equal(bhive_converse_start(c, MODEL, req, count_cb, &t, NULL), 0);
	assert_int_equal(bhive_client_run(c, 20000), 0);
	int64_t first = bh_now_ms() - t0;
	assert_int_equal(t.ok, 100);
	/* all in flight together: far less than 100 x 50 ms */
	assert_true(first < 2500);
	/* a second wave reuses the pooled easy handles */
	long handles = bh_http_transport_handles(&tp);
	assert_true(handles >= 1 && handles <= 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(bhive_converse_start(c, MODEL, req, count_cb, &t, NULL), 0);
	assert_int_equal(bhive_client_run(c, 20000), 0);
	assert_int_equal(t.ok, 200);
	assert_int_equal(bh_http_transport_handles(&tp), handles);
	assert_int_equal(bh_stub_request_count(s), 200);
	json_decref(req);
	bhive_client_free(c);
	bh_stub_free(s);
}

/* ---- a caller-supplied transport --------------------------------------------- */

typedef struct fake {
	int sent, polls;
	const int *statuses; /* answers in order */
	char url[256];
	char auth[512];
	bhive_http_done_fn done;
	void *call_ud;
	bool destroyed;
} fake;

static int fake_send(void *ud, const bhive_http_request *req, bhive_http_done_fn done,
                     void *call_ud, bhive_error *err)
{
	fake *f = ud;
	bh_strlcpy(f->url, req->url, sizeof(f->url));
	const char *a = bh_http_header(req->headers, "authorization", NULL);
	bh_strlcpy(f->auth, a ? a : "", sizeof(f->auth));
	f->done = done;
	f->call_ud = call_ud;
	return 0;
}

static int fake_poll(void *ud, long timeout_ms)
{
	fake *f = ud;
	f->polls++;
	if (!f->done)
		return 0;
	static const char *hdrs[] = {"x-amzn-ErrorType: ThrottlingException", NULL};
	int status = f->statuses[f->sent++];
	bhive_http_response r = {status, status == 200 ? NULL : hdrs,
	                         status == 200 ? OK_BODY : "{\"message\":\"slow\"}", 0};
	r.body_len = strlen(r.body);
	bhive_http_done_fn done = f->done;
	f->done = NULL;
	done(f->call_ud, &r, NULL);
	return f->done ? 1 : 0;
}

static void fake_destroy(void *ud)
{
	((fake *)ud)->destroyed = true;
}

static void test_custom_transport(void **state)
{
	static const int statuses[] = {429, 200};
	fake f = {.statuses = statuses};
	bhive_transport tp = {&f, fake_send, fake_poll, fake_destroy};
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "eu-west-1";
	o.access_key_id = AKID;
	o.secret_access_key = CANARY_SECRET;
	o.transport = &tp;
	bhive_client *c = bhive_client_new(&o, NULL);
	assert_non_null(c);
	assert_string_equal(bhive_client_endpoint(c),
	                    "https://bedrock-runtime.eu-west-1.amazonaws.com");
	bhive_call_info info;
	bhive_error err;
	json_t *resp = call(c, &info, &err);
	if (!resp)
		fail_msg("%s", err.message);
	assert_int_equal(info.attempts, 2);
	assert_int_equal(f.sent, 2);
	assert_string_equal(f.url, "https://bedrock-runtime.eu-west-1.amazonaws.com" PATH);
	assert_true(bh_starts_with(f.auth, "AWS4-HMAC-SHA256 Credential=" AKID "/"));
	assert_non_null(strstr(f.auth, "/eu-west-1/bedrock/aws4_request"));
	json_decref(resp);
	bhive_client_free(c);
	assert_true(f.destroyed);
}

/* ---- cancelling ------------------------------------------------------------- */

/* A transport that keeps every attempt until the test answers it. */
typedef struct holder {
	bhive_http_done_fn done[8];
	void *call_ud[8];
	int n;
} holder;

static int hold_send(void *ud, const bhive_http_request *req, bhive_http_done_fn done,
                     void *call_ud, bhive_error *err)
{
	holder *h = ud;
	(void)req;
	(void)err;
	assert_true(h->n < 8);
	h->done[h->n] = done;
	h->call_ud[h->n++] = call_ud;
	return 0;
}

static int hold_poll(void *ud, long timeout_ms)
{
	(void)ud;
	(void)timeout_ms;
	return 0;
}

/* Answers held attempt i with status (200: a Converse response). */
static void hold_answer(holder *h, int i, long status)
{
	static const char *hdrs[] = {"x-amzn-ErrorType: ThrottlingException", NULL};
	bhive_http_response r = {status, status == 200 ? NULL : hdrs,
	                         status == 200 ? OK_BODY : "{\"message\":\"slow\"}", 0};
	r.body_len = strlen(r.body);
	h->done[i](h->call_ud[i], &r, NULL);
}

typedef struct cancel_seen {
	int calls, cancelled;
} cancel_seen;

static void cancel_cb(void *ud, json_t *resp, const bhive_error *err, const bhive_call_info *info)
{
	cancel_seen *s = ud;
	s->calls++;
	assert_null(resp);
	assert_non_null(info);
	if (err && err->code == BHIVE_ERR_CANCELLED) {
		s->cancelled++;
		assert_non_null(strstr(err->message, "cancelled"));
	}
}

/* Cancelling calls them back once each with BHIVE_ERR_CANCELLED, whether
 * the transport holds their attempt or they wait for a retry; a late
 * answer is dropped and nothing leaks (the ASan build checks). */
static void test_cancel(void **state)
{
	(void)state;
	holder h = {0};
	bhive_transport tp = {&h, hold_send, hold_poll, NULL};
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-east-1";
	o.access_key_id = AKID;
	o.secret_access_key = CANARY_SECRET;
	o.retry_mode = BHIVE_RETRY_STANDARD;
	o.max_attempts = 3;
	o.transport = &tp;
	bhive_client *c = bhive_client_new(&o, NULL);
	assert_non_null(c);
	cancel_seen a = {0}, b = {0}, d = {0};
	json_t *req = request();
	assert_int_equal(bhive_converse_start(c, MODEL, req, cancel_cb, &a, NULL), 0);
	assert_int_equal(bhive_converse_start(c, MODEL, req, cancel_cb, &b, NULL), 0);
	assert_int_equal(bhive_converse_start(c, MODEL, req, cancel_cb, &d, NULL), 0);
	json_decref(req);
	assert_int_equal(h.n, 3);
	/* One call by its callback and user data; the others stay. */
	assert_int_equal(bhive_client_cancel(c, cancel_cb, &a), 1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.cancelled, 1);
	assert_int_equal(bhive_client_pending(c), 2);
	assert_int_equal(bhive_client_cancel(c, cancel_cb, &a), 0);
	hold_answer(&h, 0, 200); /* too late: dropped */
	assert_int_equal(a.calls, 1);
	/* d is throttled and waits for its retry timer when it is cancelled. */
	hold_answer(&h, 2, 429);
	assert_int_equal(d.calls, 0);
	assert_int_equal(bhive_client_cancel_all(c), 2);
	assert_int_equal(b.cancelled, 1);
	assert_int_equal(d.cancelled, 1);
	assert_int_equal(bhive_client_pending(c), 0);
	assert_int_equal(bhive_client_run(c, 20), 0);
	assert_int_equal(h.n, 3); /* the retry was never sent */
	assert_int_equal(b.calls + d.calls, 2);
	/* b's attempt is still with the transport: freed with the client. */
	bhive_client_free(c);
	assert_int_equal(bhive_client_cancel_all(NULL), 0);
}

/* ---- settings ---------------------------------------------------------------- */

static void test_region(void **state)
{
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.bearer_token = "t";
	bhive_error err;
	assert_null(bhive_client_new(&o, &err));
	assert_int_equal(err.code, BHIVE_ERR_REGION);
	o.endpoint_url = "http://127.0.0.1:1/";
	bhive_client *c = bhive_client_new(&o, &err);
	assert_non_null(c);
	assert_string_equal(bhive_client_region(c), "us-east-1");
	bhive_client_free(c);
	bhive_client_free(NULL);
}

/* libuv's rule: when start fails, the callback is never called. */
static void test_start_failures(void **state)
{
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-west-2";
	o.endpoint_url = "http://127.0.0.1:9";
	bhive_client *c = bhive_client_new(&o, NULL); /* no credentials anywhere */
	assert_non_null(c);
	tally t = {0};
	json_t *req = request();
	bhive_error err;
	assert_int_equal(bhive_converse_start(c, NULL, req, count_cb, &t, &err), BHIVE_ERR_INVALID);
	assert_int_equal(bhive_converse_start(c, MODEL, NULL, count_cb, &t, &err),
	                 BHIVE_ERR_INVALID);
	assert_int_equal(bhive_converse_start(c, MODEL, req, count_cb, &t, &err),
	                 BHIVE_ERR_CREDENTIALS);
	assert_int_equal(bhive_client_pending(c), 0);
	assert_int_equal(bhive_client_run(c, 100), 0);
	assert_int_equal(t.ok + t.failed, 0);
	json_decref(req);
	bhive_client_free(c);
}

/* ---- timers ---------------------------------------------------------------- */

static void mark(void *ud)
{
	int *order = ud;
	order[order[0]++ + 1] = 1;
}

static void test_timers(void **state)
{
	bhive_client *c = new_client(NULL, 1, "t");
	int hits[8] = {0};
	unsigned long a = bhive_client_add_timer(c, 30, mark, hits);
	unsigned long b = bhive_client_add_timer(c, 10, mark, hits);
	assert_true(a > 0 && b > 0 && a != b);
	bhive_client_cancel_timer(c, a);
	int64_t t0 = bh_now_ms();
	assert_int_equal(bhive_client_run(c, 1000), 0);
	assert_int_equal(hits[0], 1);
	assert_true(bh_now_ms() - t0 >= 10);
	bhive_client_free(c);
}

/* A caller driving the client from its own loop: run(0) never blocks and
 * still moves the call along. */
static void test_run_nonblocking(void **state)
{
	bh_stub_server *s = bh_stub_start();
	bh_stub_reply r = {.status = 200, .body = OK_BODY, .delay_ms = 400};
	bh_stub_add(s, "POST", DPATH, &r);
	bhive_client *c = new_client(s, 1, "t");
	tally t = {0};
	json_t *req = request();
	assert_int_equal(bhive_converse_start(c, MODEL, req, count_cb, &t, NULL), 0);
	json_decref(req);
	int64_t t0 = bh_now_ms(), slowest = 0;
	int spins = 0;
	for (;;) {
		int64_t before = bh_now_ms();
		int left = bhive_client_run(c, 0);
		if (bh_now_ms() - before > slowest)
			slowest = bh_now_ms() - before;
		if (left == 0 || bh_now_ms() - t0 > 5000)
			break;
		spins++;
		usleep(5000);
	}
	assert_int_equal(t.ok, 1);
	assert_true(spins > 3);     /* the server took 400 ms: many turns */
	assert_true(slowest < 200); /* and no turn blocked on it */
	assert_int_equal(bhive_client_pending(c), 0);
	bhive_client_free(c);
	bh_stub_free(s);
}

/* ---- secrets ------------------------------------------------------------- */

/* Everything the library writes to stderr at trace level, and every error
 * message, is searched for the canaries. */
static void test_canary(void **state)
{
	char path[] = "/tmp/bhive-canary-XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(2);
	dup2(fd, 2);
	bh_log_set_level(BH_LOG_TRACE);
	bh_stub_server *s = bh_stub_start();
	add_error(s, 403, "InvalidSignatureException", 0);
	char msgs[4096] = "";
	for (int bearer = 0; bearer < 2; bearer++) {
		bhive_client *c = new_client(s, 1, bearer ? CANARY_BEARER : NULL);
		bhive_error err;
		assert_null(call(c, NULL, &err));
		strncat(msgs, err.message, sizeof(msgs) - strlen(msgs) - 1);
		bhive_client_free(c);
	}
	bhive_client *c = new_client(NULL, 1, NULL);
	bhive_error err;
	assert_null(call(c, NULL, &err));
	strncat(msgs, err.message, sizeof(msgs) - strlen(msgs) - 1);
	bhive_client_free(c);
	bh_stub_free(s);
	fflush(stderr);
	bh_log_set_level(BH_LOG_WARN);
	dup2(saved, 2);
	close(saved);
	size_t len;
	char *log = bh_read_file(path, 0, &len, NULL);
	unlink(path);
	close(fd);
	assert_non_null(log);
	assert_non_null(strstr(log, "attempt 1")); /* the debug line was written */
	assert_null(strstr(log, "CANARY"));
	assert_null(strstr(msgs, "CANARY"));
	bh_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sigv4_call),
	    cmocka_unit_test(test_session_token),
	    cmocka_unit_test(test_bearer),
	    cmocka_unit_test(test_retry_then_success),
	    cmocka_unit_test(test_retries_exhausted),
	    cmocka_unit_test(test_no_retry),
	    cmocka_unit_test(test_quota_exhaustion),
	    cmocka_unit_test(test_connection_refused),
	    cmocka_unit_test(test_tls_failure),
	    cmocka_unit_test(test_read_timeout),
	    cmocka_unit_test(test_bad_bodies),
	    cmocka_unit_test(test_huge_body),
	    cmocka_unit_test(test_concurrent_100),
	    cmocka_unit_test(test_custom_transport),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_region),
	    cmocka_unit_test(test_start_failures),
	    cmocka_unit_test(test_timers),
	    cmocka_unit_test(test_run_nonblocking),
	    cmocka_unit_test(test_canary),
	};
	return cmocka_run_group_tests(tests, isolate_env, NULL);
}
