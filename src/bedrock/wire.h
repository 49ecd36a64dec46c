/*
 * wire.h - the Converse operation on the wire (restJson1): the request
 * path and body, the response body, and error responses.
 *
 * Design note: the library does not model Converse shapes. A request is
 * the caller's JSON minus "modelId"; a response is the service's JSON kept
 * as is, checked only for output.message. That way every member AWS adds
 * later passes through untouched in both directions.
 */
#ifndef BH_BEDROCK_WIRE_H
#define BH_BEDROCK_WIRE_H

#include "bhive/client.h"
#include "util/util.h"

/* Appends "/model/{modelId}/converse" with the id encoded as a non-greedy
 * label (every byte but the unreserved ones, so ':' -> %3A, '/' -> %2F). */
int bh_converse_path(bh_buf *out, const char *model_id);

/* The request body: request minus "modelId", compact, byte for byte what
 * json_dumps(JSON_COMPACT) writes. Returns a string to free with free()
 * (bh_free is the same), NULL with err on failure. */
char *bh_converse_body(const json_t *request, size_t *len, bhive_error *err);

/* Value of a header in a NULL-terminated "Name: value" list, name
 * compared case-insensitively, leading spaces skipped. NULL if absent. */
const char *bh_http_header(const char *const *headers, const char *name, size_t *len);

/* The restJson1 error type: x-amzn-ErrorType header, else top-level body
 * "code", else top-level "__type"; cut at the first ':' and after the last
 * '#'. body may be NULL. Writes "" when there is none. */
void bh_restjson_error_type(const char *header, size_t header_len, const json_t *body, char *out,
                            size_t outsz);

/* The extended bhive code for an AWS error type and HTTP status. */
int bh_service_error_code(const char *error_type, long status);

/*
 * Turns a finished HTTP exchange into a Converse response. 2xx: the parsed
 * body (new reference) when it is a JSON object with output.message, else
 * NULL with BHIVE_ERR_PARSE. Other statuses: NULL with a service error
 * (code, http_status, error_type, request_id, source and message filled).
 */
json_t *bh_converse_parse(const char *model_id, const bhive_http_response *resp, bhive_error *err);

/* Writes at most max bytes of p into out as a quoted, escaped C-like
 * string with "..." when cut: used to show bodies in errors. */
void bh_quote_bytes(const char *p, size_t n, size_t max, char *out, size_t outsz);

#endif
