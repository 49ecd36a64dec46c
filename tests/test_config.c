/* test_config.c - the shared config and credentials files, as botocore reads them. */
/* clang-format off: cmocka needs these first, in this order */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "aws/config.h"

static const char CONFIG[] = "# full-line comment\n"
                             "; another\n"
                             "[default]\n"
                             "region = us-west-2   # inline comment\n"
                             "output=json\n"
                             "Mixed_Case = Kept\n"
                             "\n"
                             "[profile dev]\n"
                             "region = eu-west-1\n"
                             "role_arn = arn:aws:iam::123456789012:role/dev;x\n"
                             "source_profile = default\n"
                             "s3 =\n"
                             "  addressing_style = path\n"
                             "  max_concurrent_requests = 20 ; comment\n"
                             "services = my-svc\n"
                             "\n"
                             "[  profile   spaced  ]\n"
                             "region=ap-south-1\n"
                             "\n"
                             "[ignored-without-profile-prefix]\n"
                             "region = nowhere\n"
                             "\n"
                             "[services my-svc]\n"
                             "bedrock_runtime =\n"
                             "  endpoint_url = http://127.0.0.1:8080\n"
                             "sts =\n"
                             "\tendpoint_url = http://127.0.0.1:9090\n"
                             "\n"
                             "[sso-session corp]\n"
                             "sso_region = us-east-1\n"
                             "sso_start_url = https://corp.awsapps.com/start#frag\n"
                             "\n"
                             "[profile dev]\n"
                             "region = eu-central-1\n"
                             "multi = first\n"
                             "  second\n"
                             "\n"
                             "[profile empty]\n";

static const char CREDS[] = "[default]\n"
                            "aws_access_key_id = AKIDFROMCREDS\n"
                            "region = from-credentials\n"
                            "[dev]\n"
                            "aws_access_key_id = AKIDDEV\n"
                            "[profile weird]\n"
                            "x = 1\n";

static bh_aws_config *load_text(const char *profile)
{
	bhive_error err;
	bhive_error_clear(&err);
	bh_aws_config *c =
	    bh_aws_config_from_text(CONFIG, strlen(CONFIG), CREDS, strlen(CREDS), profile, &err);
	if (!c)
		fail_msg("load failed: %s", err.message);
	return c;
}

static void test_lookups(void **state)
{
	bh_aws_config *c = load_text("dev");
	static const struct {
		const char *profile, *key, *want;
	} cases[] = {
	    {"default", "region", "from-credentials"}, /* credentials file wins */
	    {"default", "output", "json"},
	    {"default", "mixed_case", "Kept"}, /* keys compare without case */
	    {"default", "Mixed_Case", "Kept"},
	    {"dev", "region", "eu-central-1"}, /* later section merges, later wins */
	    {"dev", "role_arn", "arn:aws:iam::123456789012:role/dev;x"},
	    {"dev", "source_profile", "default"},
	    {"dev", "aws_access_key_id", "AKIDDEV"},
	    {"dev", "s3", ""},
	    {"dev", "multi", "first\nsecond"},
	    {"dev", "services", "my-svc"},
	    {"spaced", "region", "ap-south-1"},
	    {"ignored-without-profile-prefix", "region", NULL},
	    {"profile weird", "x", "1"}, /* credentials file: names verbatim */
	    {"nope", "region", NULL},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		const char *got = bh_aws_config_get_in(c, cases[i].profile, cases[i].key);
		if (!cases[i].want)
			assert_null(got);
		else if (!got || strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: %s.%s = %s, want %s", i, cases[i].profile, cases[i].key,
			         got ? got : "(null)", cases[i].want);
	}
	assert_string_equal(bh_aws_config_profile(c), "dev");
	assert_true(bh_aws_config_profile_from_arg(c));
	assert_string_equal(bh_aws_config_get_file(c, "default", "region", false), "us-west-2");
	assert_string_equal(bh_aws_config_get_file(c, "default", "region", true),
	                    "from-credentials");
	assert_null(bh_aws_config_get_file(c, "default", "output", true));
	assert_string_equal(bh_aws_config_get(c, "region"), "eu-central-1");
	assert_string_equal(bh_aws_config_get_sub(c, "dev", "s3", "addressing_style"), "path");
	assert_string_equal(bh_aws_config_get_sub(c, "dev", "s3", "max_concurrent_requests"), "20");
	assert_string_equal(
	    bh_aws_config_service_get(c, "my-svc", "bedrock_runtime", "endpoint_url"),
	    "http://127.0.0.1:8080");
	assert_string_equal(bh_aws_config_service_get(c, "my-svc", "sts", "endpoint_url"),
	                    "http://127.0.0.1:9090");
	assert_null(bh_aws_config_service_get(c, "my-svc", "s3", "endpoint_url"));
	assert_string_equal(bh_aws_config_sso_session_get(c, "corp", "sso_start_url"),
	                    "https://corp.awsapps.com/start#frag");
	assert_true(bh_aws_config_has_profile(c, "empty"));
	assert_true(bh_aws_config_has_profile(c, "weird") == 0);
	assert_false(bh_aws_config_has_profile(c, "ignored-without-profile-prefix"));
	bh_aws_config_free(c);
}

static void test_null_config(void **state)
{
	assert_null(bh_aws_config_get(NULL, "region"));
	assert_null(bh_aws_config_get_in(NULL, "x", "region"));
	assert_null(bh_aws_config_service_get(NULL, "a", "b", "c"));
	assert_false(bh_aws_config_has_profile(NULL, "default"));
	bh_aws_config_free(NULL);
}

/* Each malformed input fails with the file and line named. */
static void test_malformed(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *msg;
	} cases[] = {
	    {"[default]\nregion = x\ngarbage without equals\n", 3, "expected \"key = value\""},
	    {"[default]\n[profile broken\nregion = x\n", 2, "without closing"},
	    {"[default]\n  nested = orphan\n", 2, "no parent"},
	    {"  nested = first\n", 1, "no parent"},
	    {"region = x\n", 1, "outside any section"},
	    {"[default]\n= value\n", 2, "expected \"key = value\""},
	    {"[]\n", 1, "empty section name"},
	    {"[default]\ns3 =\n  no equals here\n", 3, "nested property"},
	    {"[x]\nregion = ok\n\n\nbad line\n", 5, "expected"},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_error err;
		bhive_error_clear(&err);
		bh_aws_config *c = bh_aws_config_from_text(cases[i].text, strlen(cases[i].text),
		                                           NULL, 0, NULL, &err);
		if (c)
			fail_msg("case %zu parsed", i);
		assert_int_equal(err.code, BHIVE_ERR_CONFIG);
		assert_string_equal(err.source, "config");
		if (err.line != cases[i].line || !strstr(err.message, cases[i].msg))
			fail_msg("case %zu: line %d \"%s\"", i, err.line, err.message);
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "config:%d: ", cases[i].line);
		assert_true(bh_starts_with(err.message, prefix));
	}
}

static void test_crlf_and_nul(void **state)
{
	static const char text[] =
	    "[default]\r\nregion = us-east-2\r\n\r\n[profile a]\r\nk=v\0junk\n";
	bh_aws_config *c = bh_aws_config_from_text(text, sizeof(text) - 1, NULL, 0, "a", NULL);
	assert_non_null(c);
	assert_string_equal(bh_aws_config_get_in(c, "default", "region"), "us-east-2");
	assert_string_equal(bh_aws_config_get(c, "k"), "v");
	bh_aws_config_free(c);
}

/* Temp files for the environment-driven tests. */
static char tmpdir[256];

static void write_file(const char *name, const char *text, char *path, size_t pathsz)
{
	snprintf(path, pathsz, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup_env(void **state)
{
	bh_strlcpy(tmpdir, "/tmp/bhive-test-config-XXXXXX", sizeof(tmpdir));
	assert_non_null(mkdtemp(tmpdir));
	static const char *vars[] = {"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
	                             "AWS_PROFILE", "AWS_DEFAULT_PROFILE"};
	for (size_t i = 0; i < BH_ARRAY_LEN(vars); i++)
		unsetenv(vars[i]);
	return 0;
}

static int teardown_env(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_load_env_files(void **state)
{
	char cpath[300], kpath[300];
	write_file("cfg", CONFIG, cpath, sizeof(cpath));
	write_file("creds", CREDS, kpath, sizeof(kpath));
	setenv("AWS_CONFIG_FILE", cpath, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", kpath, 1);
	bhive_error err;
	bhive_error_clear(&err);
	bh_aws_config *c = bh_aws_config_load(NULL, &err);
	assert_non_null(c);
	assert_string_equal(bh_aws_config_profile(c), "default");
	assert_false(bh_aws_config_profile_from_arg(c));
	assert_string_equal(bh_aws_config_get(c, "aws_access_key_id"), "AKIDFROMCREDS");
	bh_aws_config_free(c);

	setenv("AWS_DEFAULT_PROFILE", "spaced", 1);
	c = bh_aws_config_load(NULL, &err);
	assert_string_equal(bh_aws_config_get(c, "region"), "ap-south-1");
	bh_aws_config_free(c);
	setenv("AWS_PROFILE", "dev", 1); /* beats AWS_DEFAULT_PROFILE */
	c = bh_aws_config_load(NULL, &err);
	assert_string_equal(bh_aws_config_profile(c), "dev");
	bh_aws_config_free(c);
	c = bh_aws_config_load("empty", &err); /* the argument beats both */
	assert_string_equal(bh_aws_config_profile(c), "empty");
	bh_aws_config_free(c);
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_DEFAULT_PROFILE");
}

static void test_missing_profile_and_files(void **state)
{
	char cpath[300];
	snprintf(cpath, sizeof(cpath), "%s/does-not-exist", tmpdir);
	setenv("AWS_CONFIG_FILE", cpath, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cpath, 1);
	bhive_error err;
	bhive_error_clear(&err);
	bh_aws_config *c = bh_aws_config_load(NULL, &err); /* missing files are fine */
	assert_non_null(c);
	assert_null(bh_aws_config_get(c, "region"));
	bh_aws_config_free(c);

	c = bh_aws_config_load("ghost", &err);
	assert_null(c);
	assert_int_equal(err.code, BHIVE_ERR_CONFIG);
	assert_non_null(strstr(err.message, "profile \"ghost\" not found"));
	bhive_error_clear(&err);
	setenv("AWS_PROFILE", "ghost2", 1);
	assert_null(bh_aws_config_load(NULL, &err));
	assert_non_null(strstr(err.message, "\"ghost2\""));
	unsetenv("AWS_PROFILE");
}

static void test_malformed_file_names_path(void **state)
{
	char cpath[300];
	write_file("bad", "[default]\nregion = x\n[profile y\n", cpath, sizeof(cpath));
	setenv("AWS_CONFIG_FILE", cpath, 1);
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	setenv("HOME", tmpdir, 1); /* ~/.aws/credentials absent */
	bhive_error err;
	bhive_error_clear(&err);
	assert_null(bh_aws_config_load(NULL, &err));
	assert_int_equal(err.code, BHIVE_ERR_CONFIG);
	assert_string_equal(err.source, cpath);
	assert_int_equal(err.line, 3);
	assert_non_null(strstr(err.message, cpath));
}

static void test_home_default_paths(void **state)
{
	char dir[300], path[300];
	snprintf(dir, sizeof(dir), "%s/.aws", tmpdir);
	mkdir(dir, 0700);
	write_file(".aws/config", "[profile h]\nregion = from-home\n", path, sizeof(path));
	write_file(".aws/credentials", "[h]\naws_access_key_id = AKIDHOME\n", path, sizeof(path));
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	setenv("HOME", tmpdir, 1);
	bh_aws_config *c = bh_aws_config_load("h", NULL);
	assert_non_null(c);
	assert_string_equal(bh_aws_config_get(c, "region"), "from-home");
	assert_string_equal(bh_aws_config_get(c, "aws_access_key_id"), "AKIDHOME");
	bh_aws_config_free(c);
	setenv("AWS_CONFIG_FILE", "~/.aws/config", 1); /* "~" expands to HOME */
	c = bh_aws_config_load("h", NULL);
	assert_non_null(c);
	assert_string_equal(bh_aws_config_get(c, "region"), "from-home");
	bh_aws_config_free(c);
}

static void test_alloc_failures(void **state)
{
	/* Every allocation failure is reported, never a crash or a leak. */
	for (long n = 0; n < 400; n++) {
		bhive_error err;
		bhive_error_clear(&err);
		bh_alloc_fail_after(n);
		bh_aws_config *c = bh_aws_config_from_text(CONFIG, strlen(CONFIG), CREDS,
		                                           strlen(CREDS), "dev", &err);
		bh_alloc_fail_after(-1);
		if (c) {
			bh_aws_config_free(c);
			return;
		}
		assert_int_equal(err.code, BHIVE_ERR_NOMEM);
	}
	fail_msg("never succeeded");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookups),
	    cmocka_unit_test(test_null_config),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_crlf_and_nul),
	    cmocka_unit_test(test_load_env_files),
	    cmocka_unit_test(test_missing_profile_and_files),
	    cmocka_unit_test(test_malformed_file_names_path),
	    cmocka_unit_test(test_home_default_paths),
	    cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, setup_env, teardown_env);
}
