/*
 * test_bad_input.c - bad input the library itself must refuse clearly, and
 * never truncate or drop silently: unreadable files, endpoint overrides
 * with impossible authorities, a mistyped log level, credential JSON with
 * wrongly typed members, NUL bytes in datasets, evaluators that print
 * megabytes, and blank text blocks the emulator must refuse as Bedrock
 * does. Each case here failed before its fix (see tests/bad_input.sh for
 * the same attacks end to end through the binaries).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "aws/creds.h"
#include "aws/creds_internal.h"
#include "aws/endpoint.h"
#include "bhive/bench.h"
#include "emu.h"
#include "util/util.h"

static const char CANARY[] = "canarySECRETcanarySECRET1234567890abcd";

static char tmpdir[128];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bhive-bad-input-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_bytes(const char *name, const char *bytes, size_t n, char *path, size_t sz)
{
	snprintf(path, sz, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, n, f), n);
	fclose(f);
}

/* A directory opens fine and fails on read: the message must say why. */
static void test_read_file_directory(void **state)
{
	bhive_error err;
	bhive_error_clear(&err);
	assert_null(bh_read_file(tmpdir, 0, NULL, &err));
	assert_int_equal(err.code, BHIVE_ERR_IO);
	assert_non_null(strstr(err.message, tmpdir));
	assert_non_null(strstr(err.message, "Is a directory"));
}

/* Overrides that curl would only reject later with "bad/illegal format",
 * or that carry user info (a password): refused, and the password masked
 * in the message. */
static void test_endpoint_override_authority(void **state)
{
	static const struct {
		const char *url;
		const char *want; /* NULL: refused */
	} cases[] = {
	    {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
	    {"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
	    {"https://[::1]:443/base", "https://[::1]:443/base"},
	    {"http://127.0.0.1:99999", NULL},
	    {"http://127.0.0.1:", NULL},
	    {"http://127.0.0.1:8o80", NULL},
	    {"http://[::1", NULL},
	    {"http://[nothex]:80", NULL},
	    {"http://user:pw@127.0.0.1:8080", NULL},
	    {"https://ab:canarySECRET@h/x@y", NULL},
	};
	unsetenv("AWS_USE_FIPS_ENDPOINT");
	unsetenv("AWS_USE_DUALSTACK_ENDPOINT");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_error err;
		bhive_error_clear(&err);
		char *got = bh_resolve_endpoint(cases[i].url, "us-east-1", -1, -1, NULL, &err);
		if (cases[i].want) {
			assert_non_null(got);
			assert_string_equal(got, cases[i].want);
		} else {
			assert_null(got);
			assert_non_null(strstr(err.message, "invalid endpoint URL"));
			const char *at = strchr(cases[i].url, '@');
			if (at) { /* host and path shown, the user info masked */
				assert_null(strstr(err.message, "pw@"));
				assert_null(strstr(err.message, "canary"));
				assert_non_null(strstr(err.message, at));
			} else {
				assert_non_null(strstr(err.message, cases[i].url));
			}
		}
		bh_free(got);
	}
}

/* Runs bh_log_level() with BHIVE_LOG_LEVEL=value, stderr caught in a file. */
static void log_level_stderr(const char *value, char *out, size_t outsz, int *level)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
	fflush(stderr);
	int saved = dup(2);
	FILE *f = fopen(path, "w+");
	assert_non_null(f);
	dup2(fileno(f), 2);
	setenv("BHIVE_LOG_LEVEL", value, 1);
	bh_log_set_level(-1);
	*level = bh_log_level();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	size_t n = fread(out, 1, outsz - 1, f);
	out[n] = '\0';
	fclose(f);
	unsetenv("BHIVE_LOG_LEVEL");
	bh_log_set_level(-1);
}

/* A typo in BHIVE_LOG_LEVEL must not silently mean the default level. */
static void test_log_level_typo(void **state)
{
	char out[512];
	int level;
	log_level_stderr("trcae", out, sizeof(out), &level);
	assert_int_equal(level, BH_LOG_WARN);
	assert_non_null(strstr(out, "BHIVE_LOG_LEVEL"));
	assert_non_null(strstr(out, "\"trcae\""));
	log_level_stderr("debug", out, sizeof(out), &level);
	assert_int_equal(level, BH_LOG_DEBUG);
	assert_string_equal(out, "");
}

/* Credential JSON (credential_process, container, IMDS) with a member of
 * the wrong type: it must be refused, not read as absent, and the secret
 * in the same document must stay out of the message. */
static void test_cred_json_wrong_types(void **state)
{
	static const struct {
		const char *json;
		const char *member; /* NULL: accepted */
	} cases[] = {
	    {"{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"%s\",\"Token\":\"t\"}", NULL},
	    {"{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"%s\",\"Token\":null}", NULL},
	    {"{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"%s\",\"Token\":5}", "Token"},
	    {"{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"%s\",\"Expiration\":1700000000}",
	     "Expiration"},
	    {"{\"AccessKeyId\":[\"AKID\"],\"SecretAccessKey\":\"%s\"}", "AccessKeyId"},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		char json[512];
		snprintf(json, sizeof(json), cases[i].json, CANARY);
		bh_credentials c;
		memset(&c, 0, sizeof(c));
		bhive_error err;
		bhive_error_clear(&err);
		int rc = bh_cred_from_json(json, strlen(json), "Token", "credential_process \"p\"",
		                           "process", &c, &err);
		if (!cases[i].member) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, BHIVE_ERR_CREDENTIALS);
			assert_non_null(strstr(err.message, cases[i].member));
			assert_non_null(strstr(err.message, "not a string"));
			assert_null(strstr(err.message, CANARY));
		}
		bh_credentials_release(&c);
	}
}

static int bad_lines[8];
static size_t num_bad;

static void note_bad(void *ud, int line, const char *problem)
{
	if (num_bad < BH_ARRAY_LEN(bad_lines))
		bad_lines[num_bad++] = line;
	assert_non_null(strstr(problem, ud));
}

/* A NUL byte used to end the line's text early: the object before it was
 * taken and the rest of the line dropped without a word. */
static void test_dataset_nul_byte(void **state)
{
	static const char text[] = "{\"prompt\":\"a\",\"expected\":\"1\"}\0{\"prompt\":\"lost\"}\n"
	                           "{\"prompt\":\"b\",\"expected\":\"2\"}\n";
	char path[256];
	write_bytes("nul.jsonl", text, sizeof(text) - 1, path, sizeof(path));
	bhive_error err;
	bhive_dataset *ds = bhive_dataset_load_jsonl(path, BHIVE_BAD_LINE_FAIL, NULL, NULL, &err);
	assert_null(ds);
	assert_int_equal(err.code, BHIVE_ERR_PARSE);
	assert_int_equal(err.line, 1);
	assert_non_null(strstr(err.message, "line 1"));
	assert_non_null(strstr(err.message, "NUL"));
	num_bad = 0;
	ds = bhive_dataset_load_jsonl(path, BHIVE_BAD_LINE_SKIP, note_bad, "NUL", &err);
	assert_non_null(ds);
	assert_int_equal(num_bad, 1);
	assert_int_equal(bad_lines[0], 1);
	assert_int_equal(bhive_dataset_size(ds), 1);
	assert_string_equal(bhive_dataset_get(ds, 0)->prompt, "b");
	bhive_dataset_free(ds);
}

/* An evaluator command that prints megabytes after its score: reading
 * stopped at the cap and closed the pipe, the child died of SIGPIPE and a
 * good score became "evaluator failed". The alarm guards against a hang. */
static void test_evaluator_floods_stdout(void **state)
{
	bhive_error err;
	bhive_evaluator *ev =
	    bhive_evaluator_new("cmd:sh -c 'echo 1; head -c 4000000 /dev/zero'", &err);
	assert_non_null(ev);
	double score = -1;
	alarm(30);
	int64_t t0 = bh_now_ms();
	assert_int_equal(bhive_evaluate(ev, "answer", "expected", &score, &err), 0);
	alarm(0);
	assert_true(bh_now_ms() - t0 < 20000);
	assert_true(score == 1.0);
	bhive_evaluator_free(ev);
}

/* Bedrock refuses a message whose only text is blank ("The text field in
 * the ContentBlock object at messages.1.content.0 is blank. Add text to the
 * text field, and try again.", as users report it); the emulator accepted
 * it, so a client that sends one (an empty prompt, an empty answer sent
 * back in a reflection round) never failed in tests. */
static void test_emulator_blank_text(void **state)
{
	static const struct {
		const char *body;
		const char *want; /* NULL: valid */
	} cases[] = {
	    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}", NULL},
	    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"\"}]}]}",
	     "The text field in the ContentBlock object at messages.0.content.0 is blank. "
	     "Add text to the text field, and try again."},
	    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"q\"}]},"
	     "{\"role\":\"assistant\",\"content\":[{\"text\":\" \\n\\t\"}]},"
	     "{\"role\":\"user\",\"content\":[{\"text\":\"more\"}]}]}",
	     "The text field in the ContentBlock object at messages.1.content.0 is blank. "
	     "Add text to the text field, and try again."},
	    /* recorded: a "\n" block between others was accepted */
	    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"},{\"text\":\"\\n\"},"
	     "{\"text\":\"b\"}]}]}",
	     NULL},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		emu_status st;
		memset(&st, 0, sizeof(st));
		json_t *req = json_loads(cases[i].body, 0, NULL);
		assert_non_null(req);
		int rc = emu_validate_converse(req, &st);
		if (!cases[i].want) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_not_equal(rc, 0);
			assert_int_equal(st.http_status, 400);
			assert_string_equal(st.type, "ValidationException");
			assert_string_equal(st.message, cases[i].want);
		}
		json_decref(req);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_file_directory),
	    cmocka_unit_test(test_endpoint_override_authority),
	    cmocka_unit_test(test_log_level_typo),
	    cmocka_unit_test(test_cred_json_wrong_types),
	    cmocka_unit_test(test_dataset_nul_byte),
	    cmocka_unit_test(test_evaluator_floods_stdout),
	    cmocka_unit_test(test_emulator_blank_text),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
