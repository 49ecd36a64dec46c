/*
 * config.h - the AWS shared config and credentials files (~/.aws/config,
 * ~/.aws/credentials, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE), parsed
 * as the AWS CLI does: [default], [profile x] in config, [x] in credentials,
 * [services x] and [sso-session x] sections, nested sub-properties, comments.
 */
#ifndef BH_AWS_CONFIG_H
#define BH_AWS_CONFIG_H

#include "util/util.h"

typedef struct bh_aws_config bh_aws_config;

/*
 * Loads both files. profile NULL: AWS_PROFILE, AWS_DEFAULT_PROFILE, "default".
 * Missing files are fine (empty); a malformed file is BHIVE_ERR_CONFIG
 * naming file and line. An explicitly named profile that exists in neither
 * file is BHIVE_ERR_CONFIG too (as the CLI's ProfileNotFound).
 */
bh_aws_config *bh_aws_config_load(const char *profile, bhive_error *err);
void bh_aws_config_free(bh_aws_config *c);

/* The selected profile's name. */
const char *bh_aws_config_profile(const bh_aws_config *c);
/* 1 when the profile came from bh_aws_config_load's argument (--profile)
 * rather than AWS_PROFILE / AWS_DEFAULT_PROFILE / the default. */
int bh_aws_config_profile_from_arg(const bh_aws_config *c);

/* A key of the selected profile (credentials file beats config file for the
 * same key). NULL if absent. */
const char *bh_aws_config_get(const bh_aws_config *c, const char *key);

/* A key of another profile (for source_profile chains). */
const char *bh_aws_config_get_in(const bh_aws_config *c, const char *profile, const char *key);
int bh_aws_config_has_profile(const bh_aws_config *c, const char *profile);
/* A key of a profile from one file only (botocore reads static keys from
 * the credentials file before credential_process, and from the config
 * file after it). */
const char *bh_aws_config_get_file(const bh_aws_config *c, const char *profile, const char *key,
                                   bool credentials_file);

/* A sub-property of a [services NAME] section, e.g. ("my-svc",
 * "bedrock_runtime", "endpoint_url"). */
const char *bh_aws_config_service_get(const bh_aws_config *c, const char *services_name,
                                      const char *service_key, const char *key);

/* A nested sub-property of a profile key, e.g. ("dev", "s3", "addressing_style"). */
const char *bh_aws_config_get_sub(const bh_aws_config *c, const char *profile, const char *key,
                                  const char *subkey);

/* A key of an [sso-session NAME] section. */
const char *bh_aws_config_sso_session_get(const bh_aws_config *c, const char *session,
                                          const char *key);

/*
 * Like bh_aws_config_load, but from text in memory (either may be NULL);
 * errors name "config" or "credentials" as the file. For tests and fuzzers.
 * Every lookup above accepts a NULL config and then finds nothing.
 */
bh_aws_config *bh_aws_config_from_text(const char *config_text, size_t config_len,
                                       const char *creds_text, size_t creds_len,
                                       const char *profile, bhive_error *err);

#endif
