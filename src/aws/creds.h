/*
 * creds.h - the credential chain, in the AWS SDKs' order:
 *   explicit keys -> environment -> web identity (env) -> shared files
 *   (static keys, role_arn with source_profile / credential_source,
 *   web_identity_token_file, credential_process) -> container (ECS/EKS)
 *   -> EC2 instance metadata (IMDSv2).
 * The Bedrock API key (bearer token) is handled by the client before this.
 * Temporary credentials are refreshed before they expire.
 */
#ifndef BH_AWS_CREDS_H
#define BH_AWS_CREDS_H

#include <stdint.h>
#include "util/util.h"
#include "aws/config.h"

typedef struct bh_credentials {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;   /* NULL if none */
	int64_t expiration;    /* seconds since epoch, 0 = never */
	/* static string: "explicit", "env", "web-identity", "shared-credentials-file",
	 * "assume-role", "process", "container", "imds" */
	const char *source;
} bh_credentials;

void bh_credentials_release(bh_credentials *c);
int bh_credentials_copy(bh_credentials *dst, const bh_credentials *src);

typedef struct bh_cred_chain bh_cred_chain;

typedef struct bh_cred_options {
	const char *access_key_id;     /* explicit; all three copied */
	const char *secret_access_key;
	const char *session_token;
	const char *ca_file;
	long connect_timeout_ms;       /* HTTP providers; 0 = 1000 (metadata), 10000 (STS) */
	long process_timeout_ms;       /* credential_process run limit; 0 = 60000 */
} bh_cred_options;

/* cfg is borrowed and must outlive the chain (NULL: no shared files). A
 * chain is used by one thread at a time. */
bh_cred_chain *bh_cred_chain_new(const bh_aws_config *cfg, const bh_cred_options *opts,
                                 bhive_error *err);
void bh_cred_chain_free(bh_cred_chain *ch);

/*
 * Current credentials, refreshed when they expire within 5 minutes (or
 * already expired). Blocking (HTTP providers use their own short-lived
 * connections). out is filled with copies (release them with
 * bh_credentials_release). BHIVE_ERR_CREDENTIALS naming the cause when no
 * provider has credentials or a configured one failed; BHIVE_ERR_CONFIG for
 * an inconsistent profile (role loops, missing source_profile). A profile
 * named through bh_aws_config_load's argument (--profile) sets the
 * environment keys aside, as botocore does; AWS_PROFILE does not.
 */
int bh_cred_chain_get(bh_cred_chain *ch, bh_credentials *out, bhive_error *err);

#endif
