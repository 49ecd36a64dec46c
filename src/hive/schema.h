/*
 * schema.h - structured output: a JSON Schema validator for the subset that
 * structured outputs use, extraction of the JSON object from a model's
 * reply, the fallback instruction for models without native support, and
 * the native request member (outputConfig.textFormat).
 *
 * Supported keywords: type (a name or an array of names; "integer" accepts
 * numbers with no fraction), properties, required, additionalProperties
 * (bool or schema), items (schema), enum, const, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum (numbers, and the draft-4 booleans),
 * minLength, maxLength (in code points), pattern (POSIX extended regex,
 * unanchored), minItems, maxItems, anyOf, oneOf, allOf, not, $ref to
 * "#", "#/$defs/NAME" or "#/definitions/NAME". Other keywords (title,
 * description, format, $schema ...) are ignored.
 *
 * Not API: internal to libbhive.
 */
#ifndef BH_SCHEMA_H
#define BH_SCHEMA_H

#include "bhive/error.h"
#include <jansson.h>

typedef struct bh_schema bh_schema;

/*
 * Compiles schema (an object or a boolean; a reference is kept, so do not
 * change it afterwards). A schema that is not valid itself (a wrong keyword
 * type, a bad regex, a dangling $ref) is BHIVE_ERR_SCHEMA naming the path
 * inside the schema: `schema at "$.properties.n" is not valid: "minimum" is not a number`.
 */
bh_schema *bh_schema_new(const json_t *schema, bhive_error *err);
void bh_schema_free(bh_schema *s); /* NULL ok */

/* The schema given to bh_schema_new (borrowed). */
const json_t *bh_schema_json(const bh_schema *s);

/*
 * Validates instance. Returns 0, or BHIVE_ERR_SCHEMA with the first problem
 * found, its JSON path first: "$.answer: expected integer, got string",
 * "$: missing required property \"answer\"", "$.items[2]: 7 is greater than
 * the maximum 5".
 */
int bh_schema_validate(const bh_schema *s, const json_t *instance, bhive_error *err);

/*
 * The JSON value in a model's reply: the last <json>...</json>, else the
 * last ```json fence, else the whole reply (trimmed) if it parses. Returns
 * a new reference, or NULL with BHIVE_ERR_SCHEMA ("no JSON found in the
 * reply") or BHIVE_ERR_PARSE (the tagged text is not JSON; line/column set).
 */
json_t *bh_schema_extract(const char *reply, bhive_error *err);

/*
 * The instruction appended to the last user message for models without
 * native support (docs/PROMPTS.md):
 *   "Respond with a JSON object that matches this JSON Schema, inside
 *    <json></json> tags:\n" + the schema as compact JSON.
 * Returns a bh_malloc'd string or NULL when out of memory.
 */
char *bh_schema_instruction(const json_t *schema);

/*
 * Adds Bedrock's native structured output to a Converse request:
 *   "outputConfig": {"textFormat": {"type": "json_schema", "structure":
 *      {"jsonSchema": {"schema": "<schema as a JSON string>", "name": name}}}}
 * name NULL: "response". An existing outputConfig keeps its other members
 * (such as "effort"). Returns 0 or a bhive_code.
 */
int bh_schema_add_output_config(json_t *request, const json_t *schema, const char *name,
                                bhive_error *err);

#endif
