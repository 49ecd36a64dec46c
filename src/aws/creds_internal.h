/*
 * creds_internal.h - what the credential providers share: the chain's
 * state, a blocking HTTP helper, and the providers themselves. Not API.
 *
 * Provider contract: return 0 with *out filled; BH_CRED_NONE when the
 * provider is not configured at all (the chain moves on, and a short note
 * for the final "no credentials" message goes into `tried`); any other
 * bhive_code when it is configured but failed (the chain stops there, as
 * the SDKs do). Error messages never contain secrets: JSON and XML that
 * may hold them are never quoted back.
 */
#ifndef BH_AWS_CREDS_INTERNAL_H
#define BH_AWS_CREDS_INTERNAL_H

#include "aws/creds.h"

#define BH_CRED_NONE (-1)

/* Refresh this many seconds before expiry (the SDKs' advisory window). */
#define BH_CRED_REFRESH_WINDOW 300
/* After a failed refresh, wait this long before trying again (while the old
 * credentials are still valid). */
#define BH_CRED_RETRY_AFTER 10

struct bh_cred_chain {
	const bh_aws_config *cfg;
	char *access_key_id, *secret_access_key, *session_token;
	char *ca_file;
	long connect_timeout_ms; /* 0: each provider's default */
	long process_timeout_ms;
	bh_credentials cached;
	bool have_cached;
	int64_t retry_after; /* wall time before which a failed refresh is not retried */
};

/* Fills out with copies; NOMEM on failure (out released). */
int bh_cred_set(bh_credentials *out, const char *akid, const char *secret, const char *token,
                int64_t expiration, const char *source, bhive_error *err);

/* Parses {"AccessKeyId", "SecretAccessKey", token_field, "Expiration"} as
 * credential_process, containers and IMDS print them. what names the
 * provider in errors. */
int bh_cred_from_json(const char *text, size_t len, const char *token_field, const char *what,
                      const char *source, bh_credentials *out, bhive_error *err);

/* ---- blocking HTTP (libcurl easy) ---------------------------------- */
typedef struct bh_cred_http {
	long status; /* 0: no response */
	bh_buf body;
	bool timed_out;
	char error[256]; /* libcurl's message when there was no response */
} bh_cred_http;

void bh_cred_http_init(bh_cred_http *r);
void bh_cred_http_release(bh_cred_http *r);

/* One request. headers: NULL-terminated "Name: value" list. timeout_ms
 * bounds the whole transfer. direct: bypass any proxy (link-local
 * metadata services). Returns 0 when a response arrived (any status),
 * BHIVE_ERR_NETWORK / BHIVE_ERR_TIMEOUT otherwise (r->error says why). */
int bh_cred_http_do(const bh_cred_chain *ch, const char *method, const char *url,
                    const char *const *headers, const char *body, long timeout_ms, bool direct,
                    bh_cred_http *r);

/* ---- providers ------------------------------------------------------ */
int bh_cred_container(bh_cred_chain *ch, bool required, bh_credentials *out, bh_buf *tried,
                      bhive_error *err);
int bh_cred_imds(bh_cred_chain *ch, bool required, bh_credentials *out, bh_buf *tried,
                 bhive_error *err);
int bh_cred_process(bh_cred_chain *ch, const char *profile, const char *cmdline,
                    bh_credentials *out, bhive_error *err);

/* Splits a command line as the AWS CLI does on POSIX (shlex): blanks
 * separate words, '...' is literal, "..." allows \" \\ \$ \`, a backslash
 * outside quotes escapes the next character. *argv is NULL-terminated;
 * free with bh_cred_argv_free. BHIVE_ERR_CONFIG on unbalanced quotes. */
int bh_cred_split_command(const char *cmdline, char ***argv, bhive_error *err);
void bh_cred_argv_free(char **argv);

/* STS AssumeRole signed with src, for the profile's role settings. */
int bh_cred_assume_role(bh_cred_chain *ch, const char *profile, const bh_credentials *src,
                        bh_credentials *out, bhive_error *err);
/* STS AssumeRoleWithWebIdentity (unsigned) with the token read from token_file. */
int bh_cred_web_identity(bh_cred_chain *ch, const char *token_file, const char *role_arn,
                         const char *session_name, bh_credentials *out, bhive_error *err);

/* The STS endpoint and region the chain uses (new strings). */
char *bh_cred_sts_region(const bh_cred_chain *ch);
char *bh_cred_sts_endpoint(const bh_cred_chain *ch, const char *region);

#endif
