/*
 * sigv4.h - AWS Signature Version 4 (header and query signing), written on
 * OpenSSL's SHA-256 and HMAC. Shared by the client (signing) and the
 * emulator (verifying).
 *
 * The signer follows botocore and aws-c-auth byte for byte (checked against
 * every vector in ../shared/testdata/sigv4*):
 *   - canonical URI: the path as sent, dot segments and duplicate slashes
 *     removed (normalize_path), then URI-encoded once more keeping '/'
 *     (double_encode_path), so a Bedrock model id's "%3A" becomes "%253A";
 *   - canonical query: every parameter percent-decoded, re-encoded (RFC 3986
 *     unreserved characters kept) and sorted by key, then value;
 *   - canonical headers: lowercase names, values trimmed with inner runs of
 *     whitespace collapsed, duplicates joined with ',' in request order.
 *     Authorization, User-Agent, Expect, Transfer-Encoding, Connection and
 *     X-Amzn-Trace-Id are never signed. A Host header must be among
 *     req->headers (libcurl sends the same value itself).
 *   - header signing adds (and replaces any caller's) X-Amz-Date and, with a
 *     session token, X-Amz-Security-Token to the signed headers: the caller
 *     must send both (values: result amz_date and p->session_token) plus
 *     Authorization.
 *
 * Threads: any thread may sign; each keeps its own digest context and
 * signing-key cache (one entry per thread, keyed by date, region, service
 * and secret), so a steady stream of calls derives the key once a day.
 */
#ifndef BH_SIGV4_H
#define BH_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

typedef struct bh_sigv4_header {
	const char *name;
	const char *value;
} bh_sigv4_header;

typedef struct bh_sigv4_request {
	const char *method;
	const char *path;              /* as sent on the wire (already percent-encoded once) */
	const char *query;             /* raw query string without '?', may be NULL */
	const bh_sigv4_header *headers;/* as sent; names any case, duplicates allowed */
	size_t num_headers;
	const void *body;
	size_t body_len;
	const char *payload_hash;      /* optional precomputed hex SHA-256 (or UNSIGNED-PAYLOAD) */
} bh_sigv4_request;

typedef struct bh_sigv4_params {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;     /* may be NULL */
	const char *region;
	const char *service;           /* "bedrock" for Bedrock Runtime */
	int64_t time;                  /* seconds since the epoch */
	bool double_encode_path;       /* true for every service but S3 */
	bool normalize_path;           /* true for every service but S3 */
	bool sign_query;               /* presign: put the signature in the query */
	long expires;                  /* with sign_query: X-Amz-Expires seconds (0 = 3600) */
	/* Added fields; zero keeps the common behaviour. */
	bool omit_session_token;       /* token sent but not signed (rare services) */
	bool content_sha256_header;    /* header signing: add and sign x-amz-content-sha256 */
	/* Verifier mode: a ';'-separated list of lowercase names. Exactly these
	 * headers are taken from req (each must be present) and nothing is
	 * added: X-Amz-Date and the token are signed as the request has them. */
	const char *only_headers;
} bh_sigv4_params;

/* Reuse one result across calls: signing resets the buffers but keeps their
 * memory, so a warm result costs no allocation. */
typedef struct bh_sigv4_result {
	bh_buf canonical_request;
	bh_buf string_to_sign;
	char signature[65];
	bh_buf authorization;          /* full Authorization header value */
	char amz_date[17];
	char payload_hash[65];         /* or "UNSIGNED-PAYLOAD" */
	bh_buf signed_query;           /* with sign_query: the whole new query string */
	bh_buf scratch;                /* internal */
} bh_sigv4_result;

void bh_sigv4_result_init(bh_sigv4_result *r);
void bh_sigv4_result_release(bh_sigv4_result *r);

/* Computes everything for req; 0, BHIVE_ERR_INVALID (missing key, region,
 * service or method; an only_headers name missing) or BHIVE_ERR_NOMEM. */
int bh_sigv4_sign(const bh_sigv4_request *req, const bh_sigv4_params *p,
                  bh_sigv4_result *out, bhive_error *err);

void bh_sha256_hex(const void *data, size_t len, char out[65]);
void bh_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[32]);

/* The signing key: HMAC chain over "AWS4"+secret, date (YYYYMMDD), region,
 * service, "aws4_request". Uncached; bh_sigv4_sign caches it. */
void bh_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, unsigned char out[32]);

/* "YYYYMMDDTHHMMSSZ" to seconds since the epoch; -1 if malformed. */
int64_t bh_sigv4_parse_amz_date(const char *s);

/* Parsed "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
typedef struct bh_sigv4_auth {
	char access_key_id[128];
	char date[9];
	char region[64];
	char service[64];
	char signed_headers[1024];     /* "host;x-amz-date" */
	char signature[65];
} bh_sigv4_auth;

/*
 * Strict parser: the algorithm must be AWS4-HMAC-SHA256, and Credential
 * (KEY/YYYYMMDD/region/service/aws4_request), SignedHeaders (lowercase
 * names, sorted, unique, ';'-separated) and Signature (64 lowercase hex)
 * must each appear once, separated by ',' and optional spaces. Anything
 * else is BHIVE_ERR_SERVICE_ACCESS with a message naming what is wrong.
 */
int bh_sigv4_parse_authorization(const char *value, bh_sigv4_auth *out, bhive_error *err);

/*
 * Verifier for a server: recomputes the signature of req (whose headers
 * include X-Amz-Date, and X-Amz-Security-Token if one was used) from the
 * parsed auth and the secret that belongs to auth->access_key_id, as AWS
 * does: only the signed headers, host and x-amz-date must be signed, the
 * date must match the credential scope, the payload hash is the body's
 * (or the x-amz-content-sha256 header's, which must then match the body
 * unless it is UNSIGNED-PAYLOAD). 0 when it matches (compared in constant
 * time), else BHIVE_ERR_SERVICE_ACCESS with the reason; *req_time gets the
 * request's X-Amz-Date (for the caller's clock-skew check) when non-NULL.
 * The canonical request and string to sign are left in scratch (may be
 * NULL) so a server can show them in its error like AWS does.
 */
int bh_sigv4_verify(const bh_sigv4_request *req, const bh_sigv4_auth *auth,
                    const char *secret_access_key, int64_t *req_time, bh_sigv4_result *scratch,
                    bhive_error *err);

#endif
