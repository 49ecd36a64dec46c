/*
 * fuzz_sigv4.c - libFuzzer target for the SigV4 code that sees outside
 * input: the Authorization parser (every request the emulator receives)
 * and the signer/verifier over arbitrary paths, queries and headers.
 *
 * Input: the first byte picks flags; the rest is split at '\n' into an
 * Authorization value, a path, a query, then "name:value" header lines
 * (the last line is also used as the body).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* The library is built without coverage instrumentation (only fuzz
 * targets get -fsanitize=fuzzer), so the signer is compiled into this
 * target to let libFuzzer see its branches. Its symbols then come from
 * here and libbhive's copy is never pulled from the archive. */
#include "../src/aws/sigv4.c"

#define MAX_LINES 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits a NUL-terminated copy at '\n' into at most MAX_LINES lines. */
static size_t split_lines(char *s, char **lines)
{
	size_t n = 0;
	while (s && n < MAX_LINES) {
		lines[n++] = s;
		s = strchr(s, '\n');
		if (s)
			*s++ = '\0';
	}
	return n;
}

/* Header lines as name/value pairs; a line without ':' is a bare name. */
static size_t to_headers(char **lines, size_t n, bh_sigv4_header *h)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char *colon = strchr(lines[i], ':');
		if (colon)
			*colon = '\0';
		h[k].name = lines[i];
		h[k].value = colon ? colon + 1 : NULL;
		k++;
	}
	return k;
}

/* Parses the Authorization line and, when it parses, verifies the request
 * against it (every path through the verifier must fail cleanly). */
static void parse_and_verify(const char *authz, const bh_sigv4_request *req,
                             bh_sigv4_result *res)
{
	bh_sigv4_auth auth;
	bhive_error err;
	bhive_error_clear(&err);
	if (bh_sigv4_parse_authorization(authz, &auth, &err) == 0)
		bh_sigv4_verify(req, &auth, "secret", NULL, res, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 8192)
		return 0;
	unsigned flags = data[0];
	char *text = bh_strndup((const char *)data + 1, size - 1);
	if (!text)
		return 0;
	char *lines[MAX_LINES];
	size_t n = split_lines(text, lines);
	bh_sigv4_header h[MAX_LINES];
	size_t nh = n > 3 ? to_headers(lines + 3, n - 3, h) : 0;
	const char *body = lines[n - 1];
	bh_sigv4_request req = { "POST", n > 1 ? lines[1] : "/", n > 2 ? lines[2] : NULL,
		                 h, nh, body, strlen(body), NULL };
	bh_sigv4_params p = { .access_key_id = "AKIDEXAMPLE", .secret_access_key = "secret",
		              .session_token = (flags & 1) ? "token" : NULL, .region = "us-east-1",
		              .service = "bedrock", .time = 1440938160 + (flags >> 4) * 86400,
		              .double_encode_path = flags & 2, .normalize_path = flags & 4,
		              .sign_query = flags & 8, .content_sha256_header = flags & 16 };
	bh_sigv4_result res;
	bh_sigv4_result_init(&res);
	bh_sigv4_sign(&req, &p, &res, NULL);
	parse_and_verify(lines[0], &req, &res);
	bh_sigv4_result_release(&res);
	bh_free(text);
	return 0;
}
