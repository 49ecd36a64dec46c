/*
 * sigv4.h - AWS Signature Version 4 (header and query signing), written on
 * OpenSSL's SHA-256 and HMAC. Shared by the client (signing) and the
 * emulator (verifying).
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
	long expires;                  /* with sign_query */
} bh_sigv4_params;

typedef struct bh_sigv4_result {
	bh_buf canonical_request;
	bh_buf string_to_sign;
	char signature[65];
	bh_buf authorization;          /* full Authorization header value */
	char amz_date[17];
	char payload_hash[65];
	bh_buf signed_query;           /* with sign_query: the whole new query string */
} bh_sigv4_result;

void bh_sigv4_result_init(bh_sigv4_result *r);
void bh_sigv4_result_release(bh_sigv4_result *r);

/* Computes everything for req; 0 or a bhive_code. */
int bh_sigv4_sign(const bh_sigv4_request *req, const bh_sigv4_params *p,
                  bh_sigv4_result *out, bhive_error *err);

void bh_sha256_hex(const void *data, size_t len, char out[65]);
void bh_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[32]);

/* Parsed "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
typedef struct bh_sigv4_auth {
	char access_key_id[128];
	char date[9];
	char region[64];
	char service[64];
	char signed_headers[1024];     /* "host;x-amz-date" */
	char signature[65];
} bh_sigv4_auth;
int bh_sigv4_parse_authorization(const char *value, bh_sigv4_auth *out, bhive_error *err);

#endif
