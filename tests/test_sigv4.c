/*
 * test_sigv4.c - SigV4 against every AWS vector in ../shared/testdata:
 * sigv4 (aws-c-auth layout, header and query signing), sigv4_botocore
 * (.req/.creq/.sts/.authz), sigv4_smithy_rs_extra and sigv4_bedrock. Cases
 * are found by walking the folders, so a new case is picked up as it lands.
 * Then the pieces the vectors do not reach: HMAC (RFC 4231), the signing
 * key (AWS documentation example), the key cache, the Authorization parser,
 * verification, threads and allocation failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "aws/sigv4.h"

#define VEC(dir) BHIVE_SHARED_DIR "/testdata/" dir
#define MAX_HEADERS 64

/* The vector suites' documented example credentials. */
static const struct {
	const char *akid, *secret;
} known_keys[] = {
	{ "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
	{ "ANOTREAL", "notrealrnrELgWzOk3IfjzDKtFBhDby" }, /* smithy-rs Credentials::for_tests() */
};

static const char *secret_for(const char *akid)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(known_keys); i++)
		if (!strcmp(known_keys[i].akid, akid))
			return known_keys[i].secret;
	return NULL;
}

/* ---- a raw HTTP request file, parsed ------------------------------------ */

typedef struct raw_req {
	char *text;                    /* owned copy, cut into the fields below */
	char *method, *path, *query;
	bh_sigv4_header headers[MAX_HEADERS];
	size_t num_headers;
	char *body;
	size_t body_len;
} raw_req;

static char *slurp(const char *path, size_t *len)
{
	bhive_error err;
	bhive_error_clear(&err);
	return bh_read_file(path, 0, len, &err);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Strips CRs in place (the upstream parsers do), returning the new length. */
static size_t strip_cr(char *s, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\r')
			s[j++] = s[i];
	s[j] = '\0';
	return j;
}

/* "METHOD SP TARGET SP HTTP/1.1": the target may hold spaces. */
static bool parse_request_line(raw_req *r, char *line)
{
	char *sp = strchr(line, ' ');
	char *ver = strstr(line, " HTTP/");
	if (!sp || !ver || ver < sp)
		ver = line + strlen(line);
	if (!sp)
		return false;
	*sp = '\0';
	*ver = '\0';
	r->method = line;
	r->path = sp + 1;
	char *q = strchr(r->path, '?');
	r->query = NULL;
	if (q) {
		*q = '\0';
		r->query = q + 1;
	}
	return true;
}

/* Header lines up to the blank line; a line starting with whitespace
 * continues the previous value (kept with its newline, as sent). */
static bool parse_headers(raw_req *r, char **cursor)
{
	char *p = *cursor;
	while (p && *p && *p != '\n') {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if ((*p == ' ' || *p == '\t') && r->num_headers) {
			p[-1] = '\n'; /* re-join with the previous line */
		} else {
			char *colon = strchr(p, ':');
			if (!colon || r->num_headers == MAX_HEADERS)
				return false;
			*colon = '\0';
			r->headers[r->num_headers].name = p;
			r->headers[r->num_headers].value = colon + 1;
			r->num_headers++;
		}
		p = nl ? nl + 1 : NULL;
	}
	*cursor = p;
	return true;
}

static bool raw_req_load(raw_req *r, const char *file)
{
	memset(r, 0, sizeof(*r));
	size_t n = 0;
	r->text = slurp(file, &n);
	if (!r->text)
		return false;
	n = strip_cr(r->text, n);
	char *nl = strchr(r->text, '\n');
	if (nl)
		*nl = '\0';
	if (!parse_request_line(r, r->text))
		return false;
	char *p = nl ? nl + 1 : NULL;
	if (!parse_headers(r, &p))
		return false;
	r->body = p && *p == '\n' ? p + 1 : (char *)"";
	r->body_len = strlen(r->body);
	return true;
}

static const char *raw_header(const raw_req *r, const char *name)
{
	for (size_t i = 0; i < r->num_headers; i++)
		if (bh_strcaseeq(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

/* ---- comparing against the expected files ------------------------------- */

static int failures, compared;

static void mismatch(const char *ccase, const char *what, const char *want, const char *got)
{
	print_error("%s: %s differs\n--- expected\n%s\n--- got\n%s\n", ccase, what, want,
	            got ? got : "(null)");
	failures++;
}

/* Compares with a file, ignoring one trailing newline (see the READMEs). */
static void expect_file(const char *ccase, const char *file, const char *got)
{
	size_t n = 0;
	char *want = slurp(file, &n);
	if (!want) {
		mismatch(ccase, file, "(file unreadable)", got);
		return;
	}
	if (n && want[n - 1] == '\n')
		want[--n] = '\0';
	compared++;
	if (!got || strcmp(want, got))
		mismatch(ccase, strrchr(file, '/') + 1, want, got);
	bh_free(want);
}

/* The value of the "Authorization:" line of a signed request file. */
static char *authorization_line(const char *file)
{
	char *text = slurp(file, NULL);
	char *found = NULL;
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (bh_starts_with(line, "Authorization:")) {
			char *v = line + strlen("Authorization:");
			found = bh_strdup(v + strspn(v, " "));
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	bh_free(text);
	return found;
}

/* The query of the request line of a presigned request file. */
static char *presigned_query(const char *file)
{
	char *text = slurp(file, NULL);
	char *q = text ? strchr(text, '?') : NULL;
	char *sp = q ? strstr(q, " HTTP/") : NULL;
	char *out = sp ? bh_strndup(q + 1, (size_t)(sp - q - 1)) : NULL;
	bh_free(text);
	return out;
}

/* ---- the aws-c-auth layout: context.json + request.txt ------------------ */

typedef struct vcase {
	char dir[512];
	const char *name;
	bh_sigv4_params p;
	json_t *ctx;
} vcase;

static bool ctx_bool(const json_t *ctx, const char *key, bool def)
{
	json_t *v = json_object_get(ctx, key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

/* Parameters from context.json, with the flags the suites define. */
static bool params_from_context(vcase *c, bool *sign_body)
{
	json_t *creds = json_object_get(c->ctx, "credentials");
	c->p.access_key_id = bh_json_str(creds, "access_key_id");
	c->p.secret_access_key = bh_json_str(creds, "secret_access_key");
	c->p.session_token = bh_json_str(creds, "token");
	c->p.region = bh_json_str(c->ctx, "region");
	c->p.service = bh_json_str(c->ctx, "service");
	c->p.time = bh_parse_iso8601(bh_json_str(c->ctx, "timestamp"));
	c->p.normalize_path = ctx_bool(c->ctx, "normalize", true);
	c->p.double_encode_path = ctx_bool(c->ctx, "double_uri_encode", true);
	c->p.omit_session_token = ctx_bool(c->ctx, "omit_session_token", false);
	c->p.expires = (long)bh_json_int(c->ctx, "expiration_in_seconds", 3600);
	*sign_body = ctx_bool(c->ctx, "sign_body", false) ||
	             ctx_bool(c->ctx, "x_amz_content_sha256_header", false);
	return c->p.access_key_id && c->p.secret_access_key && c->p.region && c->p.service &&
	       c->p.time > 0;
}

static void path_in(char *out, size_t n, const vcase *c, const char *file)
{
	snprintf(out, n, "%s/%s", c->dir, file);
}

/* Signs r and compares with the case's files for prefix ("header" or
 * "query"); the signed request only when it was made with the same inputs. */
static void sign_and_compare(const vcase *c, const raw_req *r, const bh_sigv4_params *p,
                             const char *prefix, bool signed_request)
{
	bh_sigv4_request req = { r->method, r->path, r->query, r->headers, r->num_headers,
		                 r->body, r->body_len, NULL };
	bh_sigv4_result res;
	bh_sigv4_result_init(&res);
	bhive_error err;
	bhive_error_clear(&err);
	if (bh_sigv4_sign(&req, p, &res, &err)) {
		print_error("%s: signing failed: %s\n", c->name, err.message);
		failures++;
		bh_sigv4_result_release(&res);
		return;
	}
	char f[700], file[64];
	snprintf(file, sizeof(file), "%s-canonical-request.txt", prefix);
	path_in(f, sizeof(f), c, file);
	if (exists(f))
		expect_file(c->name, f, res.canonical_request.data);
	snprintf(file, sizeof(file), "%s-string-to-sign.txt", prefix);
	path_in(f, sizeof(f), c, file);
	if (exists(f))
		expect_file(c->name, f, res.string_to_sign.data);
	snprintf(file, sizeof(file), "%s-signature.txt", prefix);
	path_in(f, sizeof(f), c, file);
	if (exists(f))
		expect_file(c->name, f, res.signature);
	snprintf(file, sizeof(file), "%s-signed-request.txt", prefix);
	path_in(f, sizeof(f), c, file);
	if (!signed_request) {
		/* checked by the caller */
	} else if (exists(f) && !p->sign_query) {
		char *want = authorization_line(f);
		compared++;
		if (!want || strcmp(want, res.authorization.data))
			mismatch(c->name, "Authorization", want ? want : "(none)",
			         res.authorization.data);
		bh_free(want);
	} else if (exists(f)) {
		char *want = presigned_query(f);
		compared++;
		if (!want || strcmp(want, res.signed_query.data))
			mismatch(c->name, "presigned query", want ? want : "(none)",
			         res.signed_query.data);
		bh_free(want);
	}
	bh_sigv4_result_release(&res);
}

/* A case with context.json: header signing, and query signing when the
 * suite has the files for it. */
static void run_context_case(vcase *c, const raw_req *r)
{
	bool sign_body = false;
	if (!params_from_context(c, &sign_body)) {
		print_error("%s: context.json lacks credentials/region/service/timestamp\n",
		            c->name);
		failures++;
		return;
	}
	bh_sigv4_params hp = c->p;
	hp.content_sha256_header = sign_body;
	sign_and_compare(c, r, &hp, "header", true);
	char f[700];
	path_in(f, sizeof(f), c, "query-signature.txt");
	if (exists(f)) {
		bh_sigv4_params qp = c->p;
		qp.sign_query = true;
		sign_and_compare(c, r, &qp, "query", true);
	}
}

/* Time, region and service from a file's "x-amz-date:" or string-to-sign
 * lines; used where a suite ships no context.json (smithy-rs extras). */
static bool scope_from_sts(const char *file, bh_sigv4_params *p, char *region, char *service)
{
	char *text = slurp(file, NULL);
	char date[17] = "";
	bool ok = text && sscanf(text, "AWS4-HMAC-SHA256\n%16s\n%*8s/%63[^/]/%63[^/]/", date,
	                         region, service) == 3;
	if (ok)
		p->time = bh_sigv4_parse_amz_date(date);
	bh_free(text);
	return ok && p->time > 0;
}

static bool time_from_creq(const char *file, bh_sigv4_params *p)
{
	char *text = slurp(file, NULL);
	char *d = text ? strstr(text, "\nx-amz-date:") : NULL;
	char date[17] = "";
	if (d)
		bh_strlcpy(date, d + strlen("\nx-amz-date:"), sizeof(date));
	p->time = bh_sigv4_parse_amz_date(date);
	bh_free(text);
	return p->time > 0;
}

/*
 * No context.json: every expected file carries its own parameters. The
 * canonical request is checked at its own x-amz-date; the string to sign
 * at its scope; the Authorization line with the credentials it names and
 * the request's X-Amz-Date (smithy-rs made the two with different inputs).
 */
static void run_derived_case(vcase *c, const raw_req *r)
{
	char f[700], region[64] = "us-east-1", service[64] = "service";
	bh_sigv4_params base = { .access_key_id = "AKIDEXAMPLE",
		                 .secret_access_key = secret_for("AKIDEXAMPLE"),
		                 .region = region, .service = service,
		                 .double_encode_path = true, .normalize_path = true };
	int checked = 0;
	path_in(f, sizeof(f), c, "header-string-to-sign.txt");
	if (exists(f) && scope_from_sts(f, &base, region, service)) {
		sign_and_compare(c, r, &base, "header", false);
		checked++;
	}
	path_in(f, sizeof(f), c, "header-canonical-request.txt");
	if (!checked && exists(f) && time_from_creq(f, &base)) {
		sign_and_compare(c, r, &base, "header", false);
		checked++;
	}
	path_in(f, sizeof(f), c, "header-signed-request.txt");
	char *authz = exists(f) ? authorization_line(f) : NULL;
	bh_sigv4_auth auth;
	if (authz && !bh_sigv4_parse_authorization(authz, &auth, NULL) &&
	    secret_for(auth.access_key_id)) {
		raw_req sr;
		bool loaded = raw_req_load(&sr, f);
		const char *date = loaded ? raw_header(&sr, "x-amz-date") : NULL;
		bh_sigv4_params p = base;
		p.access_key_id = auth.access_key_id;
		p.secret_access_key = secret_for(auth.access_key_id);
		p.region = auth.region;
		p.service = auth.service;
		p.time = bh_sigv4_parse_amz_date(date);
		compared++;
		bh_sigv4_request req = { r->method, r->path, r->query, r->headers,
			                 r->num_headers, r->body, r->body_len, NULL };
		bh_sigv4_result res;
		bh_sigv4_result_init(&res);
		if (p.time <= 0 || bh_sigv4_sign(&req, &p, &res, NULL) ||
		    strcmp(res.authorization.data, authz))
			mismatch(c->name, "Authorization", authz, res.authorization.data);
		bh_sigv4_result_release(&res);
		bh_free(sr.text);
		checked++;
	}
	bh_free(authz);
	if (!checked) {
		print_error("%s: no expected file could be used\n", c->name);
		failures++;
	}
}

static int run_dir_case(const char *suite, const char *name)
{
	vcase c;
	memset(&c, 0, sizeof(c));
	snprintf(c.dir, sizeof(c.dir), "%s/%s", suite, name);
	c.name = name;
	char f[700];
	path_in(f, sizeof(f), &c, "request.txt");
	if (!exists(f))
		return 0;
	raw_req r;
	if (!raw_req_load(&r, f)) {
		print_error("%s: cannot parse request.txt\n", name);
		failures++;
		bh_free(r.text);
		return 1;
	}
	path_in(f, sizeof(f), &c, "context.json");
	if (exists(f)) {
		char *text = slurp(f, NULL);
		c.ctx = text ? json_loads(text, 0, NULL) : NULL;
		bh_free(text);
		if (c.ctx)
			run_context_case(&c, &r);
		else
			failures++;
		json_decref(c.ctx);
	} else {
		run_derived_case(&c, &r);
	}
	bh_free(r.text);
	return 1;
}

/* Every sub-folder holding a request.txt is a case. */
static int run_suite(const char *suite)
{
	DIR *d = opendir(suite);
	assert_non_null(d);
	int cases = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			cases += run_dir_case(suite, e->d_name);
	closedir(d);
	return cases;
}

/* At least the cases and expected files there are today: a suite that
 * silently stopped comparing would fail here. */
static void check_suite(const char *suite, int min_cases, int min_compared)
{
	failures = compared = 0;
	int cases = run_suite(suite);
	print_message("%s: %d cases, %d expected values compared\n", strrchr(suite, '/') + 1,
	              cases, compared);
	assert_true(cases >= min_cases);
	assert_true(compared >= min_compared);
	assert_int_equal(failures, 0);
}

/* 38 cases x (canonical request, string to sign, signature, signed
 * request) x (header, query). */
static void test_aws_c_auth_suite(void **state)
{
	check_suite(VEC("sigv4"), 38, 38 * 8);
}

static void test_bedrock_suite(void **state)
{
	check_suite(VEC("sigv4_bedrock"), 6, 6 * 4);
}

/* double-url-encode: creq, sts, Authorization; double-encode-path: creq,
 * Authorization. */
static void test_smithy_rs_extra(void **state)
{
	check_suite(VEC("sigv4_smithy_rs_extra"), 2, 5);
}

/* ---- the botocore layout: NAME/NAME.{req,creq,sts,authz} ---------------- */

/* The token is whatever the expected canonical request signs. */
static char *token_from_creq(const char *creq)
{
	const char *t = strstr(creq, "\nx-amz-security-token:");
	if (!t)
		return NULL;
	t += strlen("\nx-amz-security-token:");
	return bh_strndup(t, strcspn(t, "\n"));
}

static void run_botocore_case(const char *dir, const char *name)
{
	char f[700];
	snprintf(f, sizeof(f), "%s/%s.req", dir, name);
	raw_req r;
	if (!raw_req_load(&r, f)) {
		print_error("%s: cannot parse .req\n", name);
		failures++;
		bh_free(r.text);
		return;
	}
	snprintf(f, sizeof(f), "%s/%s.creq", dir, name);
	char *creq = slurp(f, NULL);
	snprintf(f, sizeof(f), "%s/%s.authz", dir, name);
	char *authz = slurp(f, NULL);
	bh_sigv4_auth auth;
	if (!creq || !authz || bh_sigv4_parse_authorization(authz, &auth, NULL)) {
		print_error("%s: unreadable .creq/.authz\n", name);
		failures++;
	} else {
		char *token = token_from_creq(creq);
		bh_sigv4_params p = { .access_key_id = auth.access_key_id,
			              .secret_access_key = secret_for(auth.access_key_id),
			              .session_token = token, .region = auth.region,
			              .service = auth.service,
			              .time = bh_sigv4_parse_amz_date(raw_header(&r, "X-Amz-Date")),
			              .double_encode_path = true, .normalize_path = true };
		bh_sigv4_request req = { r.method, r.path, r.query, r.headers, r.num_headers,
			                 r.body, r.body_len, NULL };
		bh_sigv4_result res;
		bh_sigv4_result_init(&res);
		if (p.secret_access_key && p.time > 0 && !bh_sigv4_sign(&req, &p, &res, NULL)) {
			expect_file(name, (snprintf(f, sizeof(f), "%s/%s.creq", dir, name), f),
			            res.canonical_request.data);
			expect_file(name, (snprintf(f, sizeof(f), "%s/%s.sts", dir, name), f),
			            res.string_to_sign.data);
			expect_file(name, (snprintf(f, sizeof(f), "%s/%s.authz", dir, name), f),
			            res.authorization.data);
		} else {
			print_error("%s: cannot sign\n", name);
			failures++;
		}
		bh_sigv4_result_release(&res);
		bh_free(token);
	}
	bh_free(creq);
	bh_free(authz);
	bh_free(r.text);
}

/* Case folders sit at the top or one level down (normalize-path/...). */
static int walk_botocore(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int cases = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char sub[600], req[1300];
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		snprintf(req, sizeof(req), "%s/%s.req", sub, e->d_name);
		if (exists(req)) {
			run_botocore_case(sub, e->d_name);
			cases++;
		} else if (depth < 2) {
			cases += walk_botocore(sub, depth + 1);
		}
	}
	closedir(d);
	return cases;
}

static void test_botocore_suite(void **state)
{
	failures = compared = 0;
	int cases = walk_botocore(VEC("sigv4_botocore"), 0);
	print_message("sigv4_botocore: %d cases, %d expected values compared\n", cases, compared);
	assert_true(cases >= 34);
	assert_true(compared >= 34 * 3);
	assert_int_equal(failures, 0);
}

/* ---- primitives ---------------------------------------------------------- */

static void hex_of(const unsigned char *d, char out[65])
{
	bh_hex(d, 32, out);
}

/* RFC 4231 cases 1, 2 and 6 (the last has a key longer than a block). */
static void test_hmac_rfc4231(void **state)
{
	unsigned char key1[20], key6[131], mac[32];
	char hex[65];
	memset(key1, 0x0b, sizeof(key1));
	memset(key6, 0xaa, sizeof(key6));
	bh_hmac_sha256(key1, sizeof(key1), "Hi There", 8, mac);
	hex_of(mac, hex);
	assert_string_equal(hex,
	                    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	bh_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
	hex_of(mac, hex);
	assert_string_equal(hex,
	                    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	bh_hmac_sha256(key6, sizeof(key6), m6, strlen(m6), mac);
	hex_of(mac, hex);
	assert_string_equal(hex,
	                    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	bh_sha256_hex("", 0, hex);
	assert_string_equal(hex,
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* The AWS documentation's "derive a signing key" example. */
static void test_signing_key(void **state)
{
	unsigned char k[32];
	char hex[65];
	bh_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1",
	                     "iam", k);
	hex_of(k, hex);
	assert_string_equal(hex,
	                    "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
	/* A secret long enough that "AWS4" + secret exceeds an HMAC block
	 * takes the hashed-key path; spell the chain out with the long key. */
	char secret[101], k0[105];
	memset(secret, 'S', 100);
	secret[100] = '\0';
	snprintf(k0, sizeof(k0), "AWS4%s", secret);
	unsigned char want[32];
	bh_hmac_sha256(k0, strlen(k0), "20240515", 8, want);
	bh_hmac_sha256(want, 32, "us-east-1", 9, want);
	bh_hmac_sha256(want, 32, "bedrock", 7, want);
	bh_hmac_sha256(want, 32, "aws4_request", 12, want);
	bh_sigv4_signing_key(secret, "20240515", "us-east-1", "bedrock", k);
	assert_memory_equal(k, want, 32);
}

static const bh_sigv4_header bedrock_headers[] = {
	{ "Host", "bedrock-runtime.us-east-1.amazonaws.com" },
	{ "Content-Type", "application/json" },
	{ "User-Agent", "bhive/test" },
};

static bh_sigv4_request bedrock_request(const char *body)
{
	bh_sigv4_request r = { "POST", "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/converse",
		               NULL, bedrock_headers, BH_ARRAY_LEN(bedrock_headers), body,
		               strlen(body), NULL };
	return r;
}

static bh_sigv4_params bedrock_params(const char *secret, int64_t t)
{
	bh_sigv4_params p = { .access_key_id = "AKIDEXAMPLE", .secret_access_key = secret,
		              .region = "us-east-1", .service = "bedrock", .time = t,
		              .double_encode_path = true, .normalize_path = true };
	return p;
}

/* Signature computed without the cache, for comparison. */
static void uncached_signature(const bh_sigv4_result *res, const char *secret, char out[65])
{
	unsigned char k[32], mac[32];
	char date[9];
	memcpy(date, res->amz_date, 8);
	date[8] = '\0';
	bh_sigv4_signing_key(secret, date, "us-east-1", "bedrock", k);
	bh_hmac_sha256(k, 32, res->string_to_sign.data, res->string_to_sign.len, mac);
	bh_hex(mac, 32, out);
}

/* Alternating secrets and days must never reuse a stale cached key, and a
 * reused result must not keep anything from the previous call. */
static void test_key_cache_and_reuse(void **state)
{
	const char *secrets[] = { "secret-one", "secret-two", "secret-one" };
	const int64_t days[] = { 1715765400, 1715765400 + 86400, 1715765400 };
	bh_sigv4_request req = bedrock_request("{}");
	bh_sigv4_result res;
	bh_sigv4_result_init(&res);
	for (size_t i = 0; i < 3; i++) {
		for (size_t d = 0; d < 3; d++) {
			bh_sigv4_params p = bedrock_params(secrets[i], days[d]);
			assert_int_equal(bh_sigv4_sign(&req, &p, &res, NULL), 0);
			char want[65];
			uncached_signature(&res, secrets[i], want);
			assert_string_equal(res.signature, want);
			assert_non_null(strstr(res.canonical_request.data, "v1%253A0/converse\n"));
			assert_null(strstr(res.canonical_request.data, "user-agent"));
			assert_int_equal(res.signed_query.len, 0);
		}
	}
	bh_sigv4_result_release(&res);
}

/* Header signing with a token: the token is signed, an old X-Amz-Date from
 * the caller is replaced, and x-amz-content-sha256 only comes on request. */
static void test_added_headers(void **state)
{
	const bh_sigv4_header h[] = { { "Host", "h" }, { "X-Amz-Date", "19990101T000000Z" } };
	bh_sigv4_request req = { "GET", "/", NULL, h, 2, NULL, 0, NULL };
	bh_sigv4_params p = bedrock_params("s", 1440938160);
	p.session_token = "tok";
	bh_sigv4_result res;
	bh_sigv4_result_init(&res);
	assert_int_equal(bh_sigv4_sign(&req, &p, &res, NULL), 0);
	assert_non_null(strstr(res.canonical_request.data,
	                       "host:h\nx-amz-date:20150830T123600Z\nx-amz-security-token:tok\n"));
	assert_null(strstr(res.canonical_request.data, "19990101"));
	assert_null(strstr(res.canonical_request.data, "x-amz-content-sha256"));
	p.content_sha256_header = true;
	req.payload_hash = "UNSIGNED-PAYLOAD";
	assert_int_equal(bh_sigv4_sign(&req, &p, &res, NULL), 0);
	assert_non_null(strstr(res.canonical_request.data,
	                       "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date"));
	assert_true(bh_ends_with(res.canonical_request.data, "\nUNSIGNED-PAYLOAD"));
	bh_sigv4_result_release(&res);
}

/* Paths and queries past what the suites cover, including S3-style
 * signing (no normalising, no second encoding). */
static void test_uri_and_query_table(void **state)
{
	static const struct {
		const char *path, *query;
		bool normalize, dbl;
		const char *uri, *canon_query;
	} cases[] = {
		{ "", NULL, true, true, "/", "" },
		{ "/a/b/../../..", NULL, true, true, "/", "" },
		{ "/a/./b/", NULL, true, true, "/a/b/", "" },
		{ "/a%2Fb", NULL, true, true, "/a%252Fb", "" },
		{ "/a%2Fb c", NULL, false, false, "/a%2Fb%20c", "" },
		{ "/my-object//example//photo.user", NULL, false, false,
		  "/my-object//example//photo.user", "" },
		{ "/", "b=2&a=1&a=0", true, true, "/", "a=0&a=1&b=2" },
		{ "/", "k&&x=", true, true, "/", "k=&x=" },
		{ "/", "sp=a+b%20c%2fd", true, true, "/", "sp=a%2Bb%20c%2Fd" },
		{ "/", "bad=%zz%4", true, true, "/", "bad=%25zz%254" },
	};
	const bh_sigv4_header h[] = { { "Host", "h" } };
	bh_sigv4_result res;
	bh_sigv4_result_init(&res);
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bh_sigv4_request req = {"GET", cases[i].path, cases[i].query, h, 1, NULL, 0, NULL};
		bh_sigv4_params p = bedrock_params("s", 1440938160);
		p.normalize_path = cases[i].normalize;
		p.double_encode_path = cases[i].dbl;
		assert_int_equal(bh_sigv4_sign(&req, &p, &res, NULL), 0);
		char want[256];
		snprintf(want, sizeof(want), "GET\n%s\n%s\n", cases[i].uri, cases[i].canon_query);
		if (!bh_starts_with(res.canonical_request.data, want))
			fail_msg("case %zu: got\n%s", i, res.canonical_request.data);
	}
	bh_sigv4_result_release(&res);
}

static void test_bad_params(void **state)
{
	bh_sigv4_request req = bedrock_request("{}");
	bh_sigv4_params p = bedrock_params("s", 1);
	p.region = "";
	bh_sigv4_result res;
	bh_sigv4_result_init(&res);
	bhive_error err;
	bhive_error_clear(&err);
	assert_int_equal(bh_sigv4_sign(&req, &p, &res, &err), BHIVE_ERR_INVALID);
	assert_string_equal(err.message, "cannot sign request: no region given");
	bh_sigv4_result_release(&res);
}

/* ---- Authorization parsing ---------------------------------------------- */

#define GOOD_SIG "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

static void test_parse_authorization_ok(void **state)
{
	bh_sigv4_auth a;
	const char *v = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	                "aws4_request, SignedHeaders=host;x-amz-date, Signature=" GOOD_SIG;
	assert_int_equal(bh_sigv4_parse_authorization(v, &a, NULL), 0);
	assert_string_equal(a.access_key_id, "AKIDEXAMPLE");
	assert_string_equal(a.date, "20150830");
	assert_string_equal(a.region, "us-east-1");
	assert_string_equal(a.service, "service");
	assert_string_equal(a.signed_headers, "host;x-amz-date");
	assert_string_equal(a.signature, GOOD_SIG);
	/* Any order, no space after commas (some SDKs). */
	v = "AWS4-HMAC-SHA256 Signature=" GOOD_SIG ",SignedHeaders=host,Credential=A/20240101/"
	    "eu-west-3/bedrock/aws4_request";
	assert_int_equal(bh_sigv4_parse_authorization(v, &a, NULL), 0);
	assert_string_equal(a.service, "bedrock");
}

static void test_parse_authorization_bad(void **state)
{
	static const struct {
		const char *value, *msg;
	} cases[] = {
	    {NULL, "missing authorization header"},
	    {"", "algorithm is not AWS4-HMAC-SHA256"},
	    {"Bearer abc", "algorithm is not AWS4-HMAC-SHA256"},
	    {"AWS4-HMAC-SHA256", "algorithm is not"},
	    {"AWS4-HMAC-SHA256 ", "missing Credential"},
	    {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host",
	     "missing Signature"},
	    {"AWS4-HMAC-SHA256 Credential=A/2015083/r/s/aws4_request", "is not YYYYMMDD"},
	    {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_reques", "aws4_request"},
	    {"AWS4-HMAC-SHA256 Credential=A/20150830/r/aws4_request", "KEY/YYYYMMDD"},
	    {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/x/aws4_request", "KEY/YYYYMMDD"},
	    {"AWS4-HMAC-SHA256 Credential=/20150830/r/s/aws4_request", "empty access key id"},
	    {"AWS4-HMAC-SHA256 Credential=A/20150830//s/aws4_request", "empty region"},
	    {"AWS4-HMAC-SHA256 Credential=a b/20150830/r/s/aws4_request", "invalid characters"},
	    {"AWS4-HMAC-SHA256 SignedHeaders=x-amz-date;host", "not sorted and unique"},
	    {"AWS4-HMAC-SHA256 SignedHeaders=host;host", "not sorted and unique"},
	    {"AWS4-HMAC-SHA256 SignedHeaders=Host", "lowercase"},
	    {"AWS4-HMAC-SHA256 SignedHeaders=host;", "empty name"},
	    {"AWS4-HMAC-SHA256 SignedHeaders=;host", "empty name"},
	    {"AWS4-HMAC-SHA256 Signature=abc", "64 lowercase hex"},
	    {"AWS4-HMAC-SHA256 Signature=" GOOD_SIG "0", "64 lowercase hex"},
	    {"AWS4-HMAC-SHA256 "
	     "Signature=5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31",
	     "64 lowercase hex"},
	    {"AWS4-HMAC-SHA256 Signature=" GOOD_SIG ", Signature=" GOOD_SIG, "appears twice"},
	    {"AWS4-HMAC-SHA256 Foo=bar", "unknown component \"Foo\""},
	    {"AWS4-HMAC-SHA256 Signature=" GOOD_SIG ",", "trailing comma"},
	    {"AWS4-HMAC-SHA256 Signature=" GOOD_SIG ",,", "empty component"},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bh_sigv4_auth a;
		bhive_error err;
		bhive_error_clear(&err);
		int rc = bh_sigv4_parse_authorization(cases[i].value, &a, &err);
		if (rc != BHIVE_ERR_SERVICE_ACCESS || !strstr(err.message, cases[i].msg))
			fail_msg("case %zu (%s): rc %d, message \"%s\"", i,
			         cases[i].value ? cases[i].value : "NULL", rc, err.message);
	}
}

static void test_parse_amz_date(void **state)
{
	assert_int_equal(bh_sigv4_parse_amz_date("20150830T123600Z"), 1440938160);
	const char *bad[] = { NULL, "", "20150830T123600", "20150830 123600Z", "20151330T123600Z",
		              "2015083OT123600Z", "20150830T123600Z0", "20150830T253600Z" };
	for (size_t i = 0; i < BH_ARRAY_LEN(bad); i++)
		assert_int_equal(bh_sigv4_parse_amz_date(bad[i]), -1);
}

/* ---- verification --------------------------------------------------------- */

typedef struct signed_msg {
	bh_sigv4_header h[6];
	size_t n;
	bh_sigv4_result res;
} signed_msg;

/* Signs a Bedrock request the way the client does and lays out the headers
 * a server would receive. */
static void sign_for_server(signed_msg *m, const char *body, const char *token)
{
	bh_sigv4_request req = bedrock_request(body);
	bh_sigv4_params p = bedrock_params("the-secret", 1715765400);
	p.session_token = token;
	bh_sigv4_result_init(&m->res);
	assert_int_equal(bh_sigv4_sign(&req, &p, &m->res, NULL), 0);
	m->n = 0;
	for (size_t i = 0; i < BH_ARRAY_LEN(bedrock_headers); i++)
		m->h[m->n++] = bedrock_headers[i];
	m->h[m->n++] = (bh_sigv4_header){ "X-Amz-Date", m->res.amz_date };
	if (token)
		m->h[m->n++] = (bh_sigv4_header){ "X-Amz-Security-Token", token };
	m->h[m->n++] = (bh_sigv4_header){ "Authorization", m->res.authorization.data };
}

static int verify_msg(signed_msg *m, const char *body, const char *secret, bhive_error *err)
{
	bh_sigv4_auth auth;
	int rc = bh_sigv4_parse_authorization(m->res.authorization.data, &auth, err);
	if (rc)
		return rc;
	bh_sigv4_request req = bedrock_request(body);
	req.headers = m->h;
	req.num_headers = m->n;
	int64_t t = 0;
	rc = bh_sigv4_verify(&req, &auth, secret, &t, NULL, err);
	assert_true(rc || t == 1715765400);
	return rc;
}

static void test_verify(void **state)
{
	signed_msg m;
	bhive_error err;
	sign_for_server(&m, "{\"a\":1}", "tok");
	assert_int_equal(verify_msg(&m, "{\"a\":1}", "the-secret", NULL), 0);
	bhive_error_clear(&err);
	assert_int_equal(verify_msg(&m, "{\"a\":2}", "the-secret", &err), BHIVE_ERR_SERVICE_ACCESS);
	assert_string_equal(err.message, "signature does not match for access key \"AKIDEXAMPLE\"");
	assert_int_equal(verify_msg(&m, "{\"a\":1}", "other", NULL), BHIVE_ERR_SERVICE_ACCESS);
	m.h[4].value = "other-token"; /* the signed token was swapped */
	assert_int_equal(verify_msg(&m, "{\"a\":1}", "the-secret", NULL), BHIVE_ERR_SERVICE_ACCESS);
	m.h[3].value = "20240516T093000Z"; /* a day later than the scope */
	bhive_error_clear(&err);
	assert_int_equal(verify_msg(&m, "{\"a\":1}", "the-secret", &err), BHIVE_ERR_SERVICE_ACCESS);
	assert_non_null(strstr(err.message, "does not match X-Amz-Date"));
	m.h[3].name = "X-Other";
	bhive_error_clear(&err);
	assert_int_equal(verify_msg(&m, "{\"a\":1}", "the-secret", &err), BHIVE_ERR_SERVICE_ACCESS);
	assert_string_equal(err.message, "missing X-Amz-Date header");
	bh_sigv4_result_release(&m.res);
}

/* A signed header that the request lost, and a declared payload hash. */
static void test_verify_headers_and_payload(void **state)
{
	signed_msg m;
	bhive_error err;
	sign_for_server(&m, "{}", NULL);
	m.h[1].name = "X-Content-Type"; /* content-type is signed but now absent */
	bhive_error_clear(&err);
	assert_int_equal(verify_msg(&m, "{}", "the-secret", &err), BHIVE_ERR_SERVICE_ACCESS);
	assert_string_equal(err.message,
	                    "signed header \"content-type\" is missing from the request");
	m.h[1].name = "Content-Type";
	m.h[2] = (bh_sigv4_header){ "x-amz-content-sha256", "UNSIGNED-PAYLOAD" };
	/* declared but not signed: the body hash in the signature no longer matches */
	assert_int_equal(verify_msg(&m, "{}", "the-secret", NULL), BHIVE_ERR_SERVICE_ACCESS);
	m.h[2] = (bh_sigv4_header){ "x-amz-content-sha256", "00" };
	bhive_error_clear(&err);
	assert_int_equal(verify_msg(&m, "{}", "the-secret", &err), BHIVE_ERR_SERVICE_ACCESS);
	assert_string_equal(err.message, "x-amz-content-sha256 does not match the request body");
	bh_sigv4_result_release(&m.res);
}

/* ---- threads and allocation failure -------------------------------------- */

static void *sign_loop(void *arg)
{
	const char *secret = arg;
	bh_sigv4_request req = bedrock_request("{\"x\":1}");
	bh_sigv4_result res;
	bh_sigv4_result_init(&res);
	intptr_t bad = 0;
	for (int i = 0; i < 2000; i++) {
		bh_sigv4_params p = bedrock_params(secret, 1715765400 + (i % 3) * 86400);
		char want[65];
		if (bh_sigv4_sign(&req, &p, &res, NULL))
			bad++;
		uncached_signature(&res, secret, want);
		bad += strcmp(want, res.signature) != 0;
	}
	bh_sigv4_result_release(&res);
	return (void *)bad;
}

static void test_threads(void **state)
{
	pthread_t t[3];
	const char *secrets[] = { "a", "b", "c" };
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, sign_loop, (void *)secrets[i]), 0);
	for (int i = 0; i < 3; i++) {
		void *bad = NULL;
		pthread_join(t[i], &bad);
		assert_int_equal((intptr_t)bad, 0);
	}
}

/* Every allocation in turn fails: the signer reports NOMEM, never crashes
 * or leaks (the sanitizer build checks the leaks). */
static void test_alloc_failures(void **state)
{
	bh_sigv4_header h[40];
	char names[40][16];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "X-H%02d", 39 - i);
		h[i] = (bh_sigv4_header){ names[i], "  v  v " };
	}
	char query[400] = "z=1";
	for (int i = 0; i < 40; i++)
		bh_strlcpy(query + strlen(query), "&q=%41", sizeof(query) - strlen(query));
	bh_sigv4_request req = { "GET", "/a/../b c/", query, h, 40, "body", 4, NULL };
	int ok = 0;
	for (long n = 0; n < 200 && !ok; n++) {
		bh_sigv4_params p = bedrock_params("s", 1440938160);
		p.sign_query = n % 2;
		bh_sigv4_result res;
		bh_sigv4_result_init(&res);
		bhive_error err;
		bhive_error_clear(&err);
		bh_alloc_fail_after(n);
		int rc = bh_sigv4_sign(&req, &p, &res, &err);
		bh_alloc_fail_after(-1);
		assert_true(rc == 0 || rc == BHIVE_ERR_NOMEM);
		ok = rc == 0 && n > 20;
		bh_sigv4_result_release(&res);
	}
	assert_true(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_c_auth_suite),
		cmocka_unit_test(test_botocore_suite),
		cmocka_unit_test(test_smithy_rs_extra),
		cmocka_unit_test(test_bedrock_suite),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_signing_key),
		cmocka_unit_test(test_key_cache_and_reuse),
		cmocka_unit_test(test_added_headers),
		cmocka_unit_test(test_uri_and_query_table),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_parse_authorization_ok),
		cmocka_unit_test(test_parse_authorization_bad),
		cmocka_unit_test(test_parse_amz_date),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_verify_headers_and_payload),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
