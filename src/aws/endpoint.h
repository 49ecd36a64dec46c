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

/* The rule set compiled into the library: a byte copy of
 * data/bedrock-runtime.endpoint-rule-set-1.json, NUL-terminated, static. */
const char *bh_endpoint_ruleset_text(size_t *len);

/*
 * The general evaluator of the Smithy endpoint rule-set language: any parsed
 * rule set, with params an object keyed by parameter name ("Region",
 * "UseFIPS" ...; parameters left out take their defaults). Returns the URL
 * (new string). A rule set's error rule gives NULL with BHIVE_ERR_INVALID and
 * the message "cannot resolve endpoint: <the rule's text>"; a malformed rule
 * set or a wrongly typed parameter gives NULL with BHIVE_ERR_INVALID saying
 * what is wrong.
 */
char *bh_endpoint_rules_eval(const json_t *ruleset, const json_t *params, bhive_error *err);

/* The rule-set function aws.partition: the partition a region belongs to
 * (listed regions first, then region patterns, else "aws"), as a new object
 * with name, dnsSuffix, dualStackDnsSuffix, supportsFIPS, supportsDualStack
 * and implicitGlobalRegion. NULL only when out of memory. */
json_t *bh_aws_partition(const char *region);

/* A region must be one DNS label (letters, digits, '-', 1-63 bytes, no
 * leading or trailing '-'), as the SDKs check before building a host name. */
bool bh_region_is_valid(const char *region);

/* Whether url parses as the rule set's parseURL reads URLs: http(s), a host
 * (an IPv6 literal in brackets), a port of at most 65535, no user info,
 * query or fragment. Overrides are checked with it before any request. */
bool bh_endpoint_url_is_valid(const char *url);

/* The whole resolution: overrides first, else the rule set. FIPS and
 * dual-stack: explicit (>= 0), AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT,
 * profile use_fips_endpoint / use_dualstack_endpoint. */
char *bh_resolve_endpoint(const char *explicit_url, const char *region, int use_fips,
                          int use_dualstack, const bh_aws_config *cfg, bhive_error *err);
/*
 * Overrides, first found wins: explicit_url; then, unless
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (or the profile's
 * ignore_configured_endpoint_urls) is true, AWS_ENDPOINT_URL_BEDROCK_RUNTIME,
 * the bedrock_runtime endpoint_url of the [services NAME] section the profile
 * names with "services = NAME", AWS_ENDPOINT_URL, the profile's endpoint_url.
 * An override goes into the rule set as its Endpoint parameter (so FIPS or
 * dual-stack with an override is the rule set's error, as in the SDKs). It
 * must be an http(s) URL without query; a trailing '/' is dropped, so callers
 * append "/model/...". No override and no region: BHIVE_ERR_REGION. Bad
 * booleans are BHIVE_ERR_CONFIG naming their source. cfg may be NULL.
 */

#endif
