/*
 * fuzz_endpoint.c - the endpoint rule-set interpreter on arbitrary input:
 * byte 0 chooses FIPS (bit 0), dual-stack (bit 1) and the mode (bit 2).
 * Mode 0: the rest is a region for the built-in rule set. Mode 1: the rest
 * is a rule set of its own, evaluated with its parameters' defaults.
 * Either way: no crash, no leak, and exactly one of a URL or an error.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "aws/endpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A URL from the built-in rule set always names the service and the
 * region; its errors are the rule set's (or out of memory). */
static void fuzz_region(const char *region, bool fips, bool dualstack)
{
	bh_endpoint_params p = { region, fips, dualstack, NULL };
	bhive_error err;
	bhive_error_clear(&err);
	char *url = bh_endpoint_rules_resolve(&p, &err);
	if (url && (!bh_starts_with(url, "https://bedrock-runtime") || !strstr(url, region)))
		__builtin_trap();
	if (!url && err.code != BHIVE_ERR_INVALID && err.code != BHIVE_ERR_NOMEM)
		__builtin_trap();
	bh_free(url);
	json_decref(bh_aws_partition(region));
	bh_region_is_valid(region);
}

static void fuzz_rules(const char *text, size_t len)
{
	json_t *rs = json_loadb(text, len, 0, NULL);
	if (!rs)
		return;
	bhive_error err;
	bhive_error_clear(&err);
	char *url = bh_endpoint_rules_eval(rs, NULL, &err);
	if ((url != NULL) == (err.code != 0))
		__builtin_trap();
	bh_free(url);
	json_decref(rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *rest = bh_strndup((const char *)data + 1, size - 1);
	if (!rest)
		return 0;
	if (data[0] & 4)
		fuzz_rules((const char *)data + 1, size - 1);
	else
		fuzz_region(rest, data[0] & 1, data[0] & 2);
	bh_free(rest);
	return 0;
}
