/*
 * fuzz_config.c - arbitrary bytes as a shared config file and as a
 * credentials file: the parser must never crash, leak or read out of
 * bounds, and a success must answer lookups for the selected profile.
 */
#include "aws/config.h"
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first half is parsed as the config file, the rest as credentials,
 * so both section grammars and the merge between them are exercised. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t half = size / 2;
	bhive_error err;
	bhive_error_clear(&err);
	bh_aws_config *c =
	    bh_aws_config_from_text(text, half, text + half, size - half, NULL, &err);
	if (c) {
		bh_aws_config_get(c, "region");
		bh_aws_config_get_in(c, "x", "role_arn");
		bh_aws_config_get_sub(c, "default", "s3", "addressing_style");
		bh_aws_config_service_get(c, "x", "sts", "endpoint_url");
		bh_aws_config_has_profile(c, "default");
		bh_aws_config_free(c);
	} else if (err.code != BHIVE_ERR_CONFIG && err.code != BHIVE_ERR_NOMEM) {
		__builtin_trap(); /* a parse failure is always a config error */
	}
	c = bh_aws_config_from_text(text, size, NULL, 0, NULL, NULL);
	bh_aws_config_free(c);
	return 0;
}
