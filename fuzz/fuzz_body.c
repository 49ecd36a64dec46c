/*
 * fuzz_body.c - the Converse request body writer against its oracle: any
 * JSON object jansson accepts (strings with escapes, UTF-8 of every length,
 * numbers, nesting) must be written byte for byte as json_dumps writes it
 * in compact form, with a top-level modelId left out.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "bedrock/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *req = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
	if (!json_is_object(req)) {
		json_decref(req);
		return 0;
	}
	json_t *copy = json_copy(req);
	json_object_del(copy, "modelId");
	char *want = json_dumps(copy, JSON_COMPACT);
	size_t len = 0;
	char *got = bh_converse_body(req, &len, NULL);
	if (!want != !got)
		abort();
	if (want && (strcmp(want, got) != 0 || len != strlen(want)))
		abort();
	free(want);
	free(got);
	json_decref(copy);
	json_decref(req);
	return 0;
}
