/*
 * fuzz_schema.c - libFuzzer target for the structured-output validator.
 *
 * The first input byte picks the mode: even, the rest is a JSON instance
 * validated against a fixed schema that uses every supported keyword; odd,
 * the rest is a schema, compiled and used to validate a fixed instance.
 * Either way the reply extractor also sees the raw text.
 */
#include "hive/schema.h"
#include "util/util.h"
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_schema[] =
    "{\"$defs\": {\"pos\": {\"type\": \"integer\", \"minimum\": 1}},"
    " \"type\": \"object\", \"required\": [\"answer\"], \"additionalProperties\": false,"
    " \"properties\": {"
    "  \"answer\": {\"anyOf\": [{\"$ref\": \"#/$defs/pos\"}, {\"type\": \"null\"}]},"
    "  \"steps\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"minLength\": 1,"
    "            \"maxLength\": 40, \"pattern\": \"^[a-z ]+\\\\d*$\"}, \"maxItems\": 5},"
    "  \"kind\": {\"enum\": [\"sum\", \"product\", 3]},"
    "  \"p\": {\"type\": \"number\", \"exclusiveMinimum\": 0, \"maximum\": 1},"
    "  \"next\": {\"$ref\": \"#\"},"
    "  \"tag\": {\"oneOf\": [{\"const\": \"a\"}, {\"type\": \"string\", \"maxLength\": 1}]},"
    "  \"no\": {\"not\": {\"type\": \"boolean\"}, \"allOf\": [{\"type\": [\"string\", "
    "\"integer\"]}]}"
    "}}";

static const char fixed_instance[] =
    "{\"answer\": 42, \"steps\": [\"add\", \"multiply 2\"], \"kind\": \"sum\", \"p\": 0.5,"
    " \"next\": {\"answer\": null}, \"tag\": \"a\", \"no\": \"x\", \"extra\": [1, {\"a\": []}]}";

static void run(const char *schema_text, size_t slen, const char *inst_text, size_t ilen)
{
	bhive_error err;
	memset(&err, 0, sizeof(err));
	json_t *schema = json_loadb(schema_text, slen, JSON_DECODE_ANY, NULL);
	json_t *inst = json_loadb(inst_text, ilen, JSON_DECODE_ANY, NULL);
	bh_schema *s = schema ? bh_schema_new(schema, &err) : NULL;
	if (s && inst)
		bh_schema_validate(s, inst, &err);
	bh_schema_free(s);
	json_decref(schema);
	json_decref(inst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *text = (const char *)data + 1;
	size_t n = size - 1;
	if (data[0] % 2 == 0)
		run(fixed_schema, strlen(fixed_schema), text, n);
	else
		run(text, n, fixed_instance, strlen(fixed_instance));
	char *reply = bh_strndup(text, n);
	json_t *v = reply ? bh_schema_extract(reply, NULL) : NULL;
	json_decref(v);
	bh_free(reply);
	return 0;
}
