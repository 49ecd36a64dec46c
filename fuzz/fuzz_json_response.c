/*
 * fuzz_json_response.c - arbitrary bytes as a finished Converse HTTP
 * exchange, parsed by bh_converse_parse: the parser must never crash, leak
 * or read out of bounds, and must keep its contract.
 *
 * Input: byte 0 picks the HTTP status; the rest up to the first blank line
 * ("\n\n") are header lines ("x-amzn-ErrorType: ...", "x-amzn-RequestId:
 * ..."), the remainder is the body. Without a blank line it is all body.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "bedrock/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 8

static const long statuses[] = { 200, 200, 200, 201, 299, 400, 403, 404, 408,
	                         424, 429, 500, 502, 503, 504, 302, 0 };

/* Splits the header block into NUL-terminated lines in hdr_buf. */
static void split_headers(char *hdr_buf, const char **headers)
{
	size_t n = 0;
	char *line = hdr_buf;
	while (line && *line && n < MAX_HEADERS) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		headers[n++] = line;
		line = nl ? nl + 1 : NULL;
	}
	headers[n] = NULL;
}

/* A success is a JSON object with output.message; a failure on 2xx is a
 * parse error, on any other status a service error with that status. */
static void check(const bhive_http_response *resp, json_t *v, const bhive_error *err)
{
	bool ok2xx = resp->status >= 200 && resp->status <= 299;
	if (v) {
		if (!ok2xx || !json_is_object(json_object_get(json_object_get(v, "output"),
		                                              "message")))
			__builtin_trap();
		bhive_free(bhive_response_text(v));
		return;
	}
	if (memchr(err->message, '\0', sizeof(err->message)) == NULL || !err->message[0])
		__builtin_trap();
	if (ok2xx && err->code != BHIVE_ERR_PARSE)
		__builtin_trap();
	if (!ok2xx && (bhive_code_family(err->code) != BHIVE_ERR_SERVICE ||
	               err->http_status != (int)resp->status))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *rest = (const char *)data + 1;
	size_t rest_len = size - 1;
	const char *blank = memmem(rest, rest_len, "\n\n", 2);
	size_t hdr_len = blank ? (size_t)(blank - rest) : 0;
	size_t body_off = blank ? hdr_len + 2 : 0;
	char *hdr_buf = bh_strndup(rest, hdr_len);
	char *body = bh_malloc(rest_len - body_off + 1); /* may hold NULs; NUL-terminated */
	if (body) {
		memcpy(body, rest + body_off, rest_len - body_off);
		body[rest_len - body_off] = '\0';
	}
	const char *headers[MAX_HEADERS + 1];
	if (!hdr_buf || !body)
		goto out;
	split_headers(hdr_buf, headers);
	bhive_http_response resp = {
		.status = statuses[data[0] % BH_ARRAY_LEN(statuses)],
		.headers = headers,
		.body = body,
		.body_len = rest_len - body_off,
	};
	bhive_error err;
	bhive_error_clear(&err);
	json_t *v = bh_converse_parse("anthropic.claude-3-haiku-20240307-v1:0", &resp, &err);
	check(&resp, v, &err);
	json_decref(v);
out:
	bh_free(hdr_buf);
	bh_free(body);
	return 0;
}
