/*
 * endpoint.h - region and endpoint resolution for bedrock-runtime:
 * the endpoint rule set (FIPS, dual-stack, partitions) and the configured
 * endpoint overrides (explicit, AWS_ENDPOINT_URL_BEDROCK_RUNTIME,
 * AWS_ENDPOINT_URL, [services] sections, profile endpoint_url,
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).
 */
#ifndef BH_AWS_ENDPOINT_H
#define BH_AWS_ENDPOINT_H

#include <stdbool.h>
#include "util/util.h"
#include "aws/config.h"

/* Region: explicit, AWS_REGION, AWS_DEFAULT_REGION, profile "region".
 * Returns a new string or NULL (BHIVE_ERR_REGION with a message saying how
 * to set one). */
char *bh_resolve_region(const char *explicit_region, const bh_aws_config *cfg, bhive_error *err);

typedef struct bh_endpoint_params {
	const char *region;            /* may be NULL (rule set then errors) */
	bool use_fips;
	bool use_dualstack;
	const char *endpoint;          /* a custom endpoint, may be NULL */
} bh_endpoint_params;

/* Evaluates the bedrock-runtime endpoint rule set. Returns the URL (new
 * string) or NULL with BHIVE_ERR_INVALID carrying the rule set's error text. */
char *bh_endpoint_rules_resolve(const bh_endpoint_params *p, bhive_error *err);

/* The whole resolution: overrides first, else the rule set. FIPS and
 * dual-stack: explicit (>= 0), AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT,
 * profile use_fips_endpoint / use_dualstack_endpoint. */
char *bh_resolve_endpoint(const char *explicit_url, const char *region, int use_fips,
                          int use_dualstack, const bh_aws_config *cfg, bhive_error *err);

#endif
