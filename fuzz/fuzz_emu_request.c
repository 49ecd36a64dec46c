/*
 * fuzz_emu_request.c - libFuzzer over what bhive-emulator reads from the
 * network before a model runs: the Authorization header (SigV4 parsing and
 * verification against a configured key) and the Converse body (JSON
 * parsing, validation, prompt measurement, last user text).
 *
 * Input: the first line is the Authorization value, the rest the body.
 * Build: CC=clang cmake -DBHIVE_FUZZ=ON ...; run: ./fuzz_emu_request corpus/
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

static emu_config *fuzz_config(void)
{
	static emu_config *c;
	if (!c) {
		c = emu_config_new();
		emu_config_add_key(c, "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL);
	}
	return c;
}

static void fuzz_auth(const char *auth, const char *body, size_t body_len)
{
	const emu_http_header h[] = {
	    {"Host", "127.0.0.1:8787"},
	    {"Content-Type", "application/json"},
	    {"X-Amz-Date", "20240101T000000Z"},
	    {"Authorization", auth},
	};
	emu_auth_request r = {"POST",
	                      "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/converse",
	                      NULL,
	                      h,
	                      BH_ARRAY_LEN(h),
	                      body,
	                      body_len,
	                      1704067200};
	emu_status st = {0};
	emu_auth_check(fuzz_config(), &r, &st);
}

static void fuzz_body(const char *body, size_t len)
{
	emu_status st = {0};
	json_t *req = emu_parse_body(body, len, &st);
	if (!req)
		return;
	if (emu_validate_converse(req, &st) == 0) {
		emu_prompt_size ps;
		emu_prompt_measure(req, 0, &ps);
		char *last = emu_last_user_text(req);
		bh_free(last);
	}
	json_decref(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t alen = nl ? (size_t)(nl - (const char *)data) : size;
	char *auth = bh_strndup((const char *)data, alen);
	const char *body = nl ? nl + 1 : "";
	size_t blen = nl ? size - alen - 1 : 0;
	if (auth)
		fuzz_auth(auth, body, blen);
	fuzz_body(body, blen);
	bh_free(auth);
	return 0;
}
