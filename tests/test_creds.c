/*
 * test_creds.c - every credential provider against the stub server or temp
 * files, with a canary secret that must never show up in an error message.
 */
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
#include "aws/creds_internal.h"
#include "aws/sigv4.h"
#include "stub_server.h"

#define CANARY "CANARYsecret/DoNotLeak+k9Zq"
#define NOW 1764072000 /* 2025-11-25T12:00:00Z */
#define EXP_ISO "2025-11-25T13:00:00Z"
#define EXP 1764075600

static bh_stub_server *stub;
static const char *arg_profile; /* the profile argument get() passes, as --profile would */
static char tmpdir[256];

/* Every variable any provider reads, cleared before each test. */
static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "AWS_EC2_METADATA_V1_DISABLED",
    "AWS_EC2_METADATA_DISABLED",
};

static char *tmp_path(const char *name)
{
	static char buf[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(tmp_path(name), "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A credential_process stand-in whose behaviour the first argument picks. */
static const char SCRIPT[] =
    "#!/bin/sh\n"
    "printf '%s' \"$2\" > \"$(dirname \"$0\")/proc-arg2\"\n"
    "echo run >> \"$(dirname \"$0\")/proc-runs\"\n"
    "case \"$1\" in\n"
    "ok) printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"%s\", "
    "\"SessionToken\": \"TOKPROC\", \"Expiration\": \"" EXP_ISO "\"}' \"$BHIVE_CANARY\" ;;\n"
    "static) printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", "
    "\"SecretAccessKey\": \"%s\"}' \"$BHIVE_CANARY\" ;;\n"
    "v2) printf '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"%s\"}' "
    "\"$BHIVE_CANARY\" ;;\n"
    "nover) printf '{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"%s\"}' \"$BHIVE_CANARY\" ;;\n"
    "garbage) printf 'AccessKeyId=A Secret=%s' \"$BHIVE_CANARY\" ;;\n"
    "badjson) printf '{\"Version\": 1, \"SecretAccessKey\": \"%s\" oops' \"$BHIVE_CANARY\" ;;\n"
    "missing) printf '{\"Version\": 1, \"SecretAccessKey\": \"%s\"}' \"$BHIVE_CANARY\" ;;\n"
    "badexp) printf '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"%s\", "
    "\"Expiration\": \"tomorrow\"}' \"$BHIVE_CANARY\" ;;\n"
    "expired) printf '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"%s\", "
    "\"Expiration\": \"2020-01-01T00:00:00Z\"}' \"$BHIVE_CANARY\" ;;\n"
    "fail) echo 'credential helper: simulated failure' >&2; exit 3 ;;\n"
    "slow) sleep 5 ;;\n"
    "esac\n";

static int group_setup(void **state)
{
	bh_strlcpy(tmpdir, "/tmp/bhive-test-creds-XXXXXX", sizeof(tmpdir));
	if (!mkdtemp(tmpdir) || !(stub = bh_stub_start()))
		return -1;
	write_file("proc.sh", SCRIPT);
	chmod(tmp_path("proc.sh"), 0755);
	setenv("BHIVE_CANARY", CANARY, 1);
	return 0;
}

static int group_teardown(void **state)
{
	bh_stub_free(stub);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A clean slate: no AWS variables, empty files, IMDS off, a fixed clock. */
static int setup(void **state)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(aws_vars); i++)
		unsetenv(aws_vars[i]);
	setenv("HOME", tmpdir, 1);
	setenv("AWS_CONFIG_FILE", tmp_path("config"), 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", tmp_path("credentials"), 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	write_file("config", "");
	write_file("credentials", "");
	remove(tmp_path("proc-runs"));
	bh_stub_reset(stub);
	bh_set_wall_time(NOW);
	arg_profile = NULL;
	return 0;
}

static int teardown(void **state)
{
	bh_set_wall_time(0);
	return 0;
}

static void set_files(const char *config, const char *creds)
{
	write_file("config", config ? config : "");
	write_file("credentials", creds ? creds : "");
}

/* Loads the files, runs a fresh chain once. */
static int get(const bh_cred_options *opts, bh_credentials *out, bhive_error *err)
{
	bhive_error_clear(err);
	memset(out, 0, sizeof(*out));
	bh_aws_config *cfg = bh_aws_config_load(arg_profile, err);
	if (!cfg)
		return err->code;
	bh_cred_chain *ch = bh_cred_chain_new(cfg, opts, err);
	assert_non_null(ch);
	int rc = bh_cred_chain_get(ch, out, err);
	bh_cred_chain_free(ch);
	bh_aws_config_free(cfg);
	return rc;
}

static void expect_ok(const bh_cred_options *opts, const char *akid, const char *source,
                      bh_credentials *out)
{
	bhive_error err;
	int rc = get(opts, out, &err);
	if (rc)
		fail_msg("expected credentials, got %d: %s", rc, err.message);
	assert_string_equal(out->access_key_id, akid);
	assert_string_equal(out->source, source);
}

/* The error must carry the code and the fragment, and never the canary. */
static void expect_error(const bh_cred_options *opts, int code, const char *fragment,
                         bhive_error *err)
{
	bh_credentials out;
	int rc = get(opts, &out, err);
	if (rc == 0)
		fail_msg("expected an error containing \"%s\", got credentials from %s", fragment,
		         out.source);
	if (rc != code || !strstr(err->message, fragment))
		fail_msg("expected %d \"%s\", got %d \"%s\"", code, fragment, rc, err->message);
	assert_int_equal(err->code, code);
	assert_null(strstr(err->message, CANARY));
	assert_null(strstr(err->message, "CANARY"));
}

static void test_explicit_and_env(void **state)
{
	bh_credentials c;
	bh_cred_options opts = {.access_key_id = "AKIDEXPLICIT",
	                        .secret_access_key = CANARY,
	                        .session_token = "TOKEXPLICIT"};
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", CANARY, 1);
	expect_ok(&opts, "AKIDEXPLICIT", "explicit", &c);
	assert_string_equal(c.session_token, "TOKEXPLICIT");
	assert_int_equal(c.expiration, 0);
	bh_credentials_release(&c);

	setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
	set_files(NULL, "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = x\n");
	expect_ok(NULL, "AKIDENV", "env", &c); /* the environment beats the files */
	assert_string_equal(c.secret_access_key, CANARY);
	assert_string_equal(c.session_token, "TOKENV");
	bh_credentials_release(&c);
}

static void test_env_half_pair(void **state)
{
	bhive_error err;
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "AWS_SECRET_ACCESS_KEY is not", &err);
	unsetenv("AWS_ACCESS_KEY_ID");
	setenv("AWS_SECRET_ACCESS_KEY", CANARY, 1);
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "AWS_ACCESS_KEY_ID is not", &err);
	bh_cred_options opts = {.secret_access_key = CANARY};
	expect_error(&opts, BHIVE_ERR_CREDENTIALS, "access key id is missing", &err);
}

static void test_profile_static(void **state)
{
	bh_credentials c;
	bhive_error err;
	set_files("[profile dev]\naws_access_key_id = AKIDCONFIG\n"
	          "aws_secret_access_key = " CANARY "\n",
	          "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = " CANARY
	          "\naws_session_token = TOKDEFAULT\n");
	expect_ok(NULL, "AKIDDEFAULT", "shared-credentials-file", &c);
	assert_string_equal(c.session_token, "TOKDEFAULT");
	bh_credentials_release(&c);
	setenv("AWS_PROFILE", "dev", 1);
	expect_ok(NULL, "AKIDCONFIG", "config-file", &c);
	assert_null(c.session_token);
	bh_credentials_release(&c);

	/* credentials-file keys beat credential_process, which beats config-file keys */
	char cfg[512];
	snprintf(cfg, sizeof(cfg), "[profile order]\ncredential_process = %s static\n"
	         "aws_access_key_id = AKIDCFGFILE\naws_secret_access_key = x\n",
	         tmp_path("proc.sh"));
	set_files(cfg, "[order]\naws_access_key_id = AKIDCREDFILE\naws_secret_access_key = y\n");
	setenv("AWS_PROFILE", "order", 1);
	expect_ok(NULL, "AKIDCREDFILE", "shared-credentials-file", &c);
	bh_credentials_release(&c);
	set_files(cfg, NULL);
	expect_ok(NULL, "AKIDPROC", "process", &c);
	bh_credentials_release(&c);

	set_files("[profile half]\naws_access_key_id = AKIDHALF\n", NULL);
	setenv("AWS_PROFILE", "half", 1);
	expect_error(NULL, BHIVE_ERR_CONFIG, "no aws_secret_access_key", &err);
}

static void test_nothing_found(void **state)
{
	bhive_error err;
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "no credentials: set AWS_ACCESS_KEY_ID", &err);
	assert_non_null(strstr(err.message, "AWS_BEARER_TOKEN_BEDROCK"));
	assert_non_null(strstr(err.message, "environment variables"));
	assert_non_null(strstr(err.message, "profile \"default\""));
	assert_non_null(strstr(err.message, "instance metadata (disabled"));
	assert_int_equal(bh_stub_request_count(stub), 0);
}

static void test_split_command(void **state)
{
	static const struct {
		const char *in;
		const char *want[4];
	} cases[] = {
	    {"prog", {"prog"}},
	    {"  prog  a   b ", {"prog", "a", "b"}},
	    {"prog 'a b' \"c d\"", {"prog", "a b", "c d"}},
	    {"prog a\\ b 'x\\y'", {"prog", "a b", "x\\y"}},
	    {"prog \"q\\\"t\" \"\\n\"", {"prog", "q\"t", "\\n"}},
	    {"prog '' x", {"prog", "", "x"}},
	    {"pre'fix'\"ed\" z", {"prefixed", "z"}},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		char **argv;
		assert_int_equal(bh_cred_split_command(cases[i].in, &argv, NULL), 0);
		size_t n = 0;
		for (; cases[i].want[n]; n++)
			if (!argv[n] || strcmp(argv[n], cases[i].want[n]) != 0)
				fail_msg("case %zu word %zu: \"%s\"", i, n,
				         argv[n] ? argv[n] : "(null)");
		assert_null(argv[n]);
		bh_cred_argv_free(argv);
	}
	static const char *const bad[] = {"prog 'open", "prog \"open", "", "   "};
	for (size_t i = 0; i < BH_ARRAY_LEN(bad); i++) {
		char **argv;
		bhive_error err;
		bhive_error_clear(&err);
		assert_int_equal(bh_cred_split_command(bad[i], &argv, &err), BHIVE_ERR_CONFIG);
		assert_null(argv);
	}
}

static void set_process(const char *mode)
{
	char text[1024];
	snprintf(text, sizeof(text), "[default]\ncredential_process = %s %s 'two words'\n",
	         tmp_path("proc.sh"), mode);
	set_files(text, NULL);
}

static void test_process_ok(void **state)
{
	bh_credentials c;
	set_process("ok");
	expect_ok(NULL, "AKIDPROC", "process", &c);
	assert_string_equal(c.secret_access_key, CANARY);
	assert_string_equal(c.session_token, "TOKPROC");
	assert_int_equal(c.expiration, EXP);
	bh_credentials_release(&c);
	size_t len;
	char *arg = bh_read_file(tmp_path("proc-arg2"), 0, &len, NULL);
	assert_string_equal(arg, "two words"); /* quotes honoured, no shell */
	bh_free(arg);
	set_process("static");
	expect_ok(NULL, "AKIDPROC", "process", &c);
	assert_null(c.session_token);
	assert_int_equal(c.expiration, 0);
	bh_credentials_release(&c);
}

static void test_process_errors(void **state)
{
	static const struct {
		const char *mode;
		const char *fragment;
	} cases[] = {
	    {"v2", "only Version 1"},          {"nover", "Version missing"},
	    {"garbage", "invalid JSON"},       {"badjson", "invalid JSON"},
	    {"missing", "no \"AccessKeyId\""}, {"badexp", "not an ISO 8601"},
	    {"fail", "exit status 3"},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_error err;
		set_process(cases[i].mode);
		expect_error(NULL, BHIVE_ERR_CREDENTIALS, cases[i].fragment, &err);
		assert_non_null(strstr(err.message, "proc.sh"));
	}
	bhive_error err;
	set_process("expired");
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "from process expired at 20200101T000000Z", &err);
	set_files("[default]\ncredential_process = /nonexistent/helper --x\n", NULL);
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "cannot be run", &err);
	set_files("[default]\ncredential_process = 'unbalanced\n", NULL);
	expect_error(NULL, BHIVE_ERR_CONFIG, "unclosed quote", &err);
}

static void test_process_timeout(void **state)
{
	bhive_error err;
	bh_cred_options opts = {.process_timeout_ms = 300};
	set_process("slow");
	int64_t t0 = bh_now_ms();
	expect_error(&opts, BHIVE_ERR_CREDENTIALS, "timed out after 300 ms", &err);
	assert_true(bh_now_ms() - t0 < 3000);
}

static const char CONTAINER_JSON[] =
    "{\"AccessKeyId\": \"ASIACONT\", \"SecretAccessKey\": \"" CANARY "\", "
    "\"Token\": \"TOKCONT\", \"Expiration\": \"" EXP_ISO "\", \"RoleArn\": \"r\"}";

static void set_full_uri(const char *path)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", bh_stub_url(stub), path);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
}

/* ---- STS ---------------------------------------------------------------- */

static char *sts_xml(const char *action, const char *akid, const char *token)
{
	return bh_asprintf("<%sResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
	                   "  <%sResult>\n"
	                   "    <AssumedRoleUser>\n"
	                   "      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:s3-access</AssumedRoleId>\n"
	                   "      <Arn>arn:aws:sts::123456789012:assumed-role/demo/s</Arn>\n"
	                   "    </AssumedRoleUser>\n"
	                   "    <Credentials>\n"
	                   "      <AccessKeyId>%s</AccessKeyId>\n"
	                   "      <SecretAccessKey>%s</SecretAccessKey>\n"
	                   "      <SessionToken>%s</SessionToken>\n"
	                   "      <Expiration>" EXP_ISO "</Expiration>\n"
	                   "    </Credentials>\n"
	                   "  </%sResult>\n"
	                   "  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7"
	                   "</RequestId></ResponseMetadata>\n"
	                   "</%sResponse>\n",
	                   action, action, akid, CANARY, token, action, action);
}

static void add_sts(const char *action, const char *akid, const char *token, int times)
{
	char *xml = sts_xml(action, akid, token);
	bh_stub_reply r = {
	    .status = 200, .body = xml, .times = times, .headers = "Content-Type: text/xml\n"};
	assert_int_equal(bh_stub_add(stub, "POST", "/", &r), 0);
	bh_free(xml);
}

/* Recomputes the request's signature from what the server received. */
static void assert_signed_by(const bh_stub_request *q, const char *akid, const char *secret)
{
	const char *auth_value = bh_stub_request_header(q, "Authorization");
	assert_non_null(auth_value);
	bh_sigv4_auth auth;
	assert_int_equal(bh_sigv4_parse_authorization(auth_value, &auth, NULL), 0);
	assert_string_equal(auth.access_key_id, akid);
	assert_string_equal(auth.service, "sts");
	assert_string_equal(auth.date, "20251125");
	bh_sigv4_header hs[32];
	size_t n = q->num_headers < 32 ? q->num_headers : 32;
	for (size_t i = 0; i < n; i++)
		hs[i] = (bh_sigv4_header){q->headers[i].name, q->headers[i].value};
	bh_sigv4_request req = {.method = q->method,
	                        .path = q->path,
	                        .headers = hs,
	                        .num_headers = n,
	                        .body = q->body,
	                        .body_len = q->body_len};
	bhive_error err;
	bhive_error_clear(&err);
	int64_t t = 0;
	if (bh_sigv4_verify(&req, &auth, secret, &t, NULL, &err))
		fail_msg("signature does not verify: %s", err.message);
	assert_int_equal(t, NOW);
}

static void test_assume_role(void **state)
{
	bh_credentials c;
	setenv("AWS_ENDPOINT_URL_STS", bh_stub_url(stub), 1);
	setenv("AWS_REGION", "eu-west-3", 1);
	set_files("[profile base]\naws_access_key_id = AKIDBASE\n"
	          "aws_secret_access_key = " CANARY "\n"
	          "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/demo\n"
	          "source_profile = base\nexternal_id = ext id&1\nrole_session_name = sess\n"
	          "duration_seconds = 1800\n",
	          NULL);
	setenv("AWS_PROFILE", "role", 1);
	add_sts("AssumeRole", "ASIAROLE", "TOKROLE", 0);
	expect_ok(NULL, "ASIAROLE", "assume-role", &c);
	assert_string_equal(c.secret_access_key, CANARY);
	assert_string_equal(c.session_token, "TOKROLE");
	assert_int_equal(c.expiration, EXP);
	bh_credentials_release(&c);

	assert_int_equal(bh_stub_request_count(stub), 1);
	const bh_stub_request *q = bh_stub_request_at(stub, 0);
	assert_string_equal(q->method, "POST");
	assert_string_equal(q->body, "Action=AssumeRole&Version=2011-06-15"
	                             "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo"
	                             "&RoleSessionName=sess&ExternalId=ext%20id%261"
	                             "&DurationSeconds=1800");
	assert_non_null(strstr(bh_stub_request_header(q, "Authorization"),
	                       "/20251125/eu-west-3/sts/aws4_request"));
	assert_null(bh_stub_request_header(q, "X-Amz-Security-Token"));
	assert_signed_by(q, "AKIDBASE", CANARY);
}

/* role -> role -> static keys: the second call is signed with the first
 * call's temporary credentials, session token included. */
static void test_assume_role_chain(void **state)
{
	bh_credentials c;
	char cfg[1024];
	snprintf(cfg, sizeof(cfg),
	         "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
	         "services = local\nregion = ap-northeast-1\n"
	         "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = c\n"
	         "[profile c]\nregion = us-west-2\n"
	         "[services local]\nsts =\n  endpoint_url = %s\n",
	         bh_stub_url(stub));
	set_files(cfg, "[c]\naws_access_key_id = AKIDC\naws_secret_access_key = " CANARY "\n");
	add_sts("AssumeRole", "ASIAB", "TOKB", 1);
	add_sts("AssumeRole", "ASIAA", "TOKA", 1);
	setenv("AWS_PROFILE", "a", 1);
	expect_ok(NULL, "ASIAA", "assume-role", &c);
	bh_credentials_release(&c);
	assert_int_equal(bh_stub_request_count(stub), 2);
	const bh_stub_request *q1 = bh_stub_request_at(stub, 0);
	const bh_stub_request *q2 = bh_stub_request_at(stub, 1);
	assert_non_null(strstr(q1->body, "role%2Fb"));
	assert_non_null(strstr(q2->body, "role%2Fa"));
	assert_signed_by(q1, "AKIDC", CANARY);
	assert_null(bh_stub_request_header(q1, "X-Amz-Security-Token"));
	assert_signed_by(q2, "ASIAB", CANARY);
	assert_string_equal(bh_stub_request_header(q2, "X-Amz-Security-Token"), "TOKB");
	assert_non_null(strstr(bh_stub_request_header(q2, "Authorization"), "/ap-northeast-1/"));
}

static void test_assume_role_config_errors(void **state)
{
	static const struct {
		const char *config;
		int code;
		const char *fragment;
	} cases[] = {
	    {"[profile p]\nrole_arn = r\nsource_profile = q\n[profile q]\nrole_arn = r2\n"
	     "source_profile = p\n",
	     BHIVE_ERR_CONFIG, "loops: p -> q -> p"},
	    {"[profile p]\nrole_arn = r\nsource_profile = ghost\n", BHIVE_ERR_CONFIG,
	     "source_profile \"ghost\" of profile \"p\" does not exist"},
	    {"[profile p]\nrole_arn = r\n", BHIVE_ERR_CONFIG, "no source_profile"},
	    {"[profile p]\nrole_arn = r\nsource_profile = q\ncredential_source = Environment\n"
	     "[profile q]\n",
	     BHIVE_ERR_CONFIG, "both source_profile and credential_source"},
	    {"[profile p]\nrole_arn = r\ncredential_source = Moon\n", BHIVE_ERR_CONFIG,
	     "credential_source \"Moon\""},
	    {"[profile p]\nrole_arn = r\ncredential_source = Environment\n", BHIVE_ERR_CREDENTIALS,
	     "credential_source \"Environment\" of profile \"p\""},
	    {"[profile p]\nrole_arn = r\nsource_profile = q\n[profile q]\n", BHIVE_ERR_CONFIG,
	     "source_profile \"q\" of profile \"p\" has no credentials"},
	    {"[profile p]\nrole_arn = r\nsource_profile = p\n", BHIVE_ERR_CONFIG,
	     "sources itself but has no keys"},
	    {"[profile p]\nweb_identity_token_file = /x\n", BHIVE_ERR_CONFIG, "no role_arn"},
	    {"[profile p]\nrole_arn = r\nsource_profile = p\naws_access_key_id = A\n"
	     "aws_secret_access_key = " CANARY "\nmfa_serial = arn:mfa\n",
	     BHIVE_ERR_CREDENTIALS, "MFA"},
	    {"[profile p]\nrole_arn = r\nsource_profile = p\naws_access_key_id = A\n"
	     "aws_secret_access_key = " CANARY "\nduration_seconds = 10\n",
	     BHIVE_ERR_CONFIG, "duration_seconds \"10\""},
	    {"[profile p]\nsso_session = corp\n", BHIVE_ERR_CREDENTIALS, "Identity Center"},
	};
	setenv("AWS_PROFILE", "p", 1);
	setenv("AWS_ENDPOINT_URL_STS", bh_stub_url(stub), 1);
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_error err;
		set_files(cases[i].config, NULL);
		expect_error(NULL, cases[i].code, cases[i].fragment, &err);
	}
	assert_int_equal(bh_stub_request_count(stub), 0);
}

static void test_assume_role_sts_error(void **state)
{
	arg_profile = "p"; /* a profile named by the caller sets the env provider aside */
	setenv("AWS_ENDPOINT_URL", bh_stub_url(stub), 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", CANARY, 1);
	set_files("[profile p]\nrole_arn = arn:aws:iam::1:role/x\n"
	          "credential_source = Environment\n",
	          NULL);
	bh_stub_reply r = {
	    .status = 403,
	    .headers = "Content-Type: text/xml\n",
	    .body = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
	            "  <Error>\n    <Type>Sender</Type>\n    <Code>AccessDenied</Code>\n"
	            "    <Message>User: arn:aws:iam::1:user/u is not authorized to perform: "
	            "sts:AssumeRole on resource: arn:aws:iam::1:role/x</Message>\n"
	            "  </Error>\n  <RequestId>4b5bc3b7-2e5e-4b3a-a1d3-000000000000</RequestId>\n"
	            "</ErrorResponse>\n"};
	bh_stub_add(stub, "POST", "/", &r);
	bhive_error err;
	expect_error(NULL, BHIVE_ERR_CREDENTIALS,
	             "sts AssumeRole for role \"arn:aws:iam::1:role/x\" failed: AccessDenied: "
	             "User: arn:aws:iam::1:user/u",
	             &err);
	assert_int_equal(err.http_status, 403);
	assert_string_equal(err.error_type, "AccessDenied");
	assert_string_equal(err.request_id, "4b5bc3b7-2e5e-4b3a-a1d3-000000000000");
	assert_signed_by(bh_stub_request_at(stub, 0), "AKIDENV", CANARY);
}

static void test_credential_source_environment(void **state)
{
	bh_credentials c;
	setenv("AWS_ENDPOINT_URL_STS", bh_stub_url(stub), 1);
	set_files("[profile p]\nrole_arn = arn:aws:iam::1:role/x\n"
	          "credential_source = Environment\n",
	          NULL);
	add_sts("AssumeRole", "ASIAX", "TOKX", 0);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", CANARY, 1);
	setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
	setenv("AWS_PROFILE", "p", 1);
	expect_ok(NULL, "AKIDENV", "env", &c); /* AWS_PROFILE: env keys still win */
	bh_credentials_release(&c);
	assert_int_equal(bh_stub_request_count(stub), 0);
	arg_profile = "p"; /* as with "--profile p": the profile decides */
	expect_ok(NULL, "ASIAX", "assume-role", &c);
	bh_credentials_release(&c);
	const bh_stub_request *q = bh_stub_request_at(stub, 0);
	assert_signed_by(q, "AKIDENV", CANARY);
	assert_string_equal(bh_stub_request_header(q, "X-Amz-Security-Token"), "TOKENV");
}

/* credential_source = EcsContainer: the container's temporary credentials
 * sign the AssumeRole call, token included. */
static void test_credential_source_container(void **state)
{
	bh_credentials c;
	setenv("AWS_ENDPOINT_URL_STS", bh_stub_url(stub), 1);
	set_files("[default]\nrole_arn = arn:aws:iam::1:role/fromecs\n"
	          "credential_source = EcsContainer\n",
	          NULL);
	bh_stub_add_simple(stub, "GET", "/ecs", 200, CONTAINER_JSON);
	set_full_uri("/ecs");
	add_sts("AssumeRole", "ASIAFROMECS", "TOKFROMECS", 0);
	expect_ok(NULL, "ASIAFROMECS", "assume-role", &c);
	bh_credentials_release(&c);
	assert_int_equal(bh_stub_request_count(stub), 2);
	const bh_stub_request *q = bh_stub_request_at(stub, 1);
	assert_signed_by(q, "ASIACONT", CANARY);
	assert_string_equal(bh_stub_request_header(q, "X-Amz-Security-Token"), "TOKCONT");

	bhive_error err;
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "container credentials need", &err);
	set_files("[default]\nrole_arn = r\ncredential_source = Ec2InstanceMetadata\n", NULL);
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "instance metadata: disabled", &err);
}

static void test_web_identity(void **state)
{
	bh_credentials c;
	write_file("token", "  eyJhbGciOiJSUzI1NiJ9.payload.sig\n");
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tmp_path("token"), 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/web", 1);
	setenv("AWS_ROLE_SESSION_NAME", "pod-7", 1);
	setenv("AWS_ENDPOINT_URL_STS", bh_stub_url(stub), 1);
	add_sts("AssumeRoleWithWebIdentity", "ASIAWEB", "TOKWEB", 0);
	expect_ok(NULL, "ASIAWEB", "web-identity", &c);
	assert_int_equal(c.expiration, EXP);
	bh_credentials_release(&c);
	const bh_stub_request *q = bh_stub_request_at(stub, 0);
	assert_null(bh_stub_request_header(q, "Authorization")); /* unsigned */
	assert_string_equal(q->body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
	                             "&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fweb"
	                             "&RoleSessionName=pod-7"
	                             "&WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.payload.sig");

	/* the same from a profile */
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	unsetenv("AWS_ROLE_ARN");
	char cfg[512];
	snprintf(cfg, sizeof(cfg),
	         "[default]\nrole_arn = arn:aws:iam::1:role/prof\n"
	         "web_identity_token_file = %s\n",
	         tmp_path("token"));
	set_files(cfg, NULL);
	expect_ok(NULL, "ASIAWEB", "web-identity", &c);
	bh_credentials_release(&c);
	q = bh_stub_request_at(stub, 1);
	assert_non_null(strstr(q->body, "role%2Fprof"));
	assert_non_null(strstr(q->body, "RoleSessionName=bhive-session-1764072000"));

	bhive_error err;
	snprintf(cfg, sizeof(cfg), "[default]\nrole_arn = r\nweb_identity_token_file = %s\n",
	         tmp_path("no-such-token"));
	set_files(cfg, NULL);
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "web identity token: cannot open", &err);
}

static void test_sts_endpoint(void **state)
{
	bh_cred_chain *ch = bh_cred_chain_new(NULL, NULL, NULL);
	char *region = bh_cred_sts_region(ch);
	assert_string_equal(region, "us-east-1");
	char *url = bh_cred_sts_endpoint(ch, region);
	assert_string_equal(url, "https://sts.us-east-1.amazonaws.com");
	bh_free(url);
	bh_free(region);
	setenv("AWS_DEFAULT_REGION", "cn-north-1", 1);
	region = bh_cred_sts_region(ch);
	url = bh_cred_sts_endpoint(ch, region);
	assert_string_equal(url, "https://sts.cn-north-1.amazonaws.com.cn");
	bh_free(url);
	bh_free(region);
	setenv("AWS_ENDPOINT_URL", "http://global", 1);
	url = bh_cred_sts_endpoint(ch, "x");
	assert_string_equal(url, "http://global");
	bh_free(url);
	setenv("AWS_ENDPOINT_URL_STS", "http://sts-only", 1);
	url = bh_cred_sts_endpoint(ch, "x");
	assert_string_equal(url, "http://sts-only");
	bh_free(url);
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	url = bh_cred_sts_endpoint(ch, "eu-west-1");
	assert_string_equal(url, "https://sts.eu-west-1.amazonaws.com");
	bh_free(url);
	bh_cred_chain_free(ch);
}

/* ---- container and instance metadata ------------------------------------ */

static void test_container(void **state)
{
	bh_credentials c;
	bh_stub_add_simple(stub, "GET", "/v2/credentials", 200, CONTAINER_JSON);
	set_full_uri("/v2/credentials");
	write_file("auth-token", "Bearer-from-file\n");
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tmp_path("auth-token"), 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "from-env", 1);
	expect_ok(NULL, "ASIACONT", "container", &c);
	assert_string_equal(c.session_token, "TOKCONT");
	assert_int_equal(c.expiration, EXP);
	bh_credentials_release(&c);
	const bh_stub_request *q = bh_stub_request_at(stub, 0);
	assert_string_equal(bh_stub_request_header(q, "Authorization"), "Bearer-from-file");
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	expect_ok(NULL, "ASIACONT", "container", &c);
	bh_credentials_release(&c);
	q = bh_stub_request_at(stub, 1);
	assert_string_equal(bh_stub_request_header(q, "Authorization"), "from-env");
}

static void test_container_errors(void **state)
{
	bhive_error err;
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "host \"example.com\" is not allowed", &err);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://localhost:1/creds", 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "bad\r\nInjected: 1", 1);
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "line break", &err);
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	bh_stub_add_simple(stub, "GET", "/denied", 403, "{\"message\": \"no\"}");
	set_full_uri("/denied");
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "returned HTTP 403", &err);
	assert_int_equal(err.http_status, 403);
	bh_stub_add_simple(stub, "GET", "/garbage", 200, "AccessKeyId: " CANARY);
	set_full_uri("/garbage");
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "invalid JSON", &err);
	/* a 5xx is retried once, then reported */
	bh_stub_reset(stub);
	bh_stub_add_simple(stub, "GET", "/flaky", 503, "");
	set_full_uri("/flaky");
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "returned HTTP 503", &err);
	assert_int_equal(bh_stub_request_count(stub), 2);
}

static void imds_routes(const char *role)
{
	char path[256], body[512];
	bh_stub_reply tok = {.status = 200, .body = "IMDSTOKEN-abc"};
	bh_stub_add(stub, "PUT", "/latest/api/token", &tok);
	snprintf(body, sizeof(body), "%s\n", role);
	bh_stub_add_simple(stub, "GET", "/latest/meta-data/iam/security-credentials/", 200, body);
	snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s", role);
	snprintf(body, sizeof(body),
	         "{\"Code\": \"Success\", \"Type\": \"AWS-HMAC\", "
	         "\"AccessKeyId\": \"ASIAIMDS\", \"SecretAccessKey\": \"%s\", "
	         "\"Token\": \"TOKIMDS\", \"Expiration\": \"%s\"}",
	         CANARY, EXP_ISO);
	bh_stub_add_simple(stub, "GET", path, 200, body);
}

static void test_imds(void **state)
{
	bh_credentials c;
	unsetenv("AWS_EC2_METADATA_DISABLED");
	char ep[128];
	snprintf(ep, sizeof(ep), "%s/", bh_stub_url(stub)); /* a trailing slash is fine */
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);
	imds_routes("my-role");
	expect_ok(NULL, "ASIAIMDS", "imds", &c);
	assert_string_equal(c.session_token, "TOKIMDS");
	assert_int_equal(c.expiration, EXP);
	bh_credentials_release(&c);
	assert_int_equal(bh_stub_request_count(stub), 3);
	const bh_stub_request *q = bh_stub_request_at(stub, 0);
	assert_string_equal(q->method, "PUT"); /* the token comes first */
	assert_string_equal(q->path, "/latest/api/token");
	assert_string_equal(bh_stub_request_header(q, "X-aws-ec2-metadata-token-ttl-seconds"),
	                    "21600");
	for (size_t i = 1; i < 3; i++) {
		q = bh_stub_request_at(stub, i);
		assert_string_equal(q->method, "GET");
		assert_string_equal(bh_stub_request_header(q, "X-aws-ec2-metadata-token"),
		                    "IMDSTOKEN-abc");
	}
	assert_string_equal(bh_stub_request_at(stub, 2)->path,
	                    "/latest/meta-data/iam/security-credentials/my-role");

	/* the disabled flag: no request at all */
	bh_stub_reset(stub);
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	bhive_error err;
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "disabled by AWS_EC2_METADATA_DISABLED", &err);
	assert_int_equal(bh_stub_request_count(stub), 0);
}

static void test_imds_profile_endpoint_and_retry(void **state)
{
	bh_credentials c;
	unsetenv("AWS_EC2_METADATA_DISABLED");
	char cfg[256];
	snprintf(cfg, sizeof(cfg), "[default]\nec2_metadata_service_endpoint = %s\n",
	         bh_stub_url(stub));
	set_files(cfg, NULL);
	bh_stub_reply fail = {.status = 500, .times = 1};
	bh_stub_add(stub, "PUT", "/latest/api/token", &fail); /* first try fails */
	imds_routes("r");
	expect_ok(NULL, "ASIAIMDS", "imds", &c);
	bh_credentials_release(&c);
	assert_int_equal(bh_stub_request_count(stub), 4);

	/* no instance role: not an error, the chain just has nothing */
	bh_stub_reset(stub);
	bh_stub_add_simple(stub, "PUT", "/latest/api/token", 200, "T");
	bhive_error err;
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "no instance role attached", &err);
	assert_non_null(strstr(err.message, "no credentials"));

	/* IMDSv1 fallback when the token call is refused, unless v1 is disabled */
	bh_stub_reset(stub);
	bh_stub_add_simple(stub, "PUT", "/latest/api/token", 403, "");
	imds_routes("v1role");
	expect_ok(NULL, "ASIAIMDS", "imds", &c);
	bh_credentials_release(&c);
	assert_null(
	    bh_stub_request_header(bh_stub_request_at(stub, 1), "X-aws-ec2-metadata-token"));
	setenv("AWS_EC2_METADATA_V1_DISABLED", "true", 1);
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "IMDSv1 is disabled", &err);
}

static void test_imds_timeout(void **state)
{
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", bh_stub_url(stub), 1);
	bh_stub_reply slow = {.status = 200, .body = "T", .delay_ms = 1500};
	bh_stub_add(stub, "PUT", "/latest/api/token", &slow);
	bhive_error err;
	int64_t t0 = bh_now_ms();
	expect_error(NULL, BHIVE_ERR_CREDENTIALS, "instance metadata (no answer", &err);
	int64_t took = bh_now_ms() - t0;
	assert_true(took >= 1900 && took < 3500); /* two attempts of one second */
}

/* ---- refresh ----------------------------------------------------------- */

static void test_refresh(void **state)
{
	static const char second[] =
	    "{\"AccessKeyId\": \"ASIASECOND\", \"SecretAccessKey\": \"" CANARY "\", "
	    "\"Token\": \"T2\", \"Expiration\": \"2025-11-25T14:00:00Z\"}";
	bh_stub_reply first = {.status = 200, .body = CONTAINER_JSON, .times = 1};
	bh_stub_add(stub, "GET", "/c", &first);
	bh_stub_add_simple(stub, "GET", "/c", 200, second);
	set_full_uri("/c");
	bh_cred_chain *ch = bh_cred_chain_new(NULL, NULL, NULL);
	bh_credentials c;
	bhive_error err;
	bhive_error_clear(&err);
	static const struct {
		int64_t now;
		const char *akid;
		size_t requests;
	} steps[] = {
	    {NOW, "ASIACONT", 1},
	    {NOW + 1000, "ASIACONT", 1}, /* well before expiry: cached */
	    {EXP - 301, "ASIACONT", 1},
	    {EXP - 299, "ASIASECOND", 2}, /* inside the 5-minute window: refreshed */
	    {EXP + 100, "ASIASECOND", 2},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(steps); i++) {
		bh_set_wall_time(steps[i].now);
		if (bh_cred_chain_get(ch, &c, &err))
			fail_msg("step %zu: %s", i, err.message);
		assert_string_equal(c.access_key_id, steps[i].akid);
		assert_int_equal(bh_stub_request_count(stub), steps[i].requests);
		bh_credentials_release(&c);
	}
	/* a failed refresh keeps credentials that have not yet expired */
	bh_stub_reset(stub);
	bh_stub_add_simple(stub, "GET", "/c", 500, "");
	bh_set_wall_time(EXP + 3600 - 100);
	assert_int_equal(bh_cred_chain_get(ch, &c, &err), 0);
	assert_string_equal(c.access_key_id, "ASIASECOND");
	bh_credentials_release(&c);
	assert_int_equal(bh_stub_request_count(stub), 2); /* tried, with its one retry */
	bh_set_wall_time(EXP + 3600 - 95);                /* not hammered right away */
	assert_int_equal(bh_cred_chain_get(ch, &c, &err), 0);
	bh_credentials_release(&c);
	assert_int_equal(bh_stub_request_count(stub), 2);
	bh_set_wall_time(EXP + 3600 - 80); /* but tried again after a while */
	assert_int_equal(bh_cred_chain_get(ch, &c, &err), 0);
	bh_credentials_release(&c);
	assert_int_equal(bh_stub_request_count(stub), 4);
	/* and reports the failure once they have */
	bh_set_wall_time(EXP + 3600 + 1);
	assert_int_equal(bh_cred_chain_get(ch, &c, &err), BHIVE_ERR_CREDENTIALS);
	assert_non_null(strstr(err.message, "returned HTTP 500"));
	assert_null(strstr(err.message, CANARY));
	bh_cred_chain_free(ch);
}

static void test_static_never_refreshed(void **state)
{
	set_process("static");
	bh_aws_config *cfg = bh_aws_config_load(NULL, NULL);
	bh_cred_chain *ch = bh_cred_chain_new(cfg, NULL, NULL);
	bh_credentials c;
	for (int i = 0; i < 3; i++) {
		bh_set_wall_time(NOW + i * 100000);
		assert_int_equal(bh_cred_chain_get(ch, &c, NULL), 0);
		bh_credentials_release(&c);
	}
	size_t len = 0;
	char *runs = bh_read_file(tmp_path("proc-runs"), 0, &len, NULL);
	assert_int_equal(len, 4); /* "run\n" once */
	bh_free(runs);
	bh_cred_chain_free(ch);
	bh_aws_config_free(cfg);
}

static void test_stub_server(void **state)
{
	/* the helper itself: unmatched routes, hang-ups, sequences */
	bh_cred_chain *ch = bh_cred_chain_new(NULL, NULL, NULL);
	bh_cred_http r;
	bh_cred_http_init(&r);
	char url[256];
	snprintf(url, sizeof(url), "%s/nothing", bh_stub_url(stub));
	assert_int_equal(bh_cred_http_do(ch, "GET", url, NULL, NULL, 2000, true, &r), 0);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body.data, "no stub route");
	bh_stub_reply hang = {.hang_up = true};
	bh_stub_add(stub, "POST", "/hang", &hang);
	snprintf(url, sizeof(url), "%s/hang", bh_stub_url(stub));
	assert_int_equal(bh_cred_http_do(ch, "POST", url, NULL, "body", 2000, true, &r),
	                 BHIVE_ERR_NETWORK);
	const bh_stub_request *q = bh_stub_request_at(stub, 1);
	assert_string_equal(q->body, "body");
	assert_int_equal(q->body_len, 4);
	bh_cred_http_release(&r);
	bh_cred_chain_free(ch);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_explicit_and_env),
	    T(test_env_half_pair),
	    T(test_profile_static),
	    T(test_nothing_found),
	    T(test_split_command),
	    T(test_process_ok),
	    T(test_process_errors),
	    T(test_process_timeout),
	    T(test_assume_role),
	    T(test_assume_role_chain),
	    T(test_assume_role_config_errors),
	    T(test_assume_role_sts_error),
	    T(test_credential_source_environment),
	    T(test_credential_source_container),
	    T(test_web_identity),
	    T(test_sts_endpoint),
	    T(test_container),
	    T(test_container_errors),
	    T(test_imds),
	    T(test_imds_profile_endpoint_and_retry),
	    T(test_imds_timeout),
	    T(test_refresh),
	    T(test_static_never_refreshed),
	    T(test_stub_server),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
