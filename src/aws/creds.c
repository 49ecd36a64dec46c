/*
 * creds.c - the credential chain: which provider answers, in the SDKs'
 * order, and when to ask again.
 *
 * The chain keeps the last credentials it found. Static ones (explicit,
 * environment, profile keys) never expire; temporary ones are fetched again
 * when they expire within BH_CRED_REFRESH_WINDOW seconds, by running the
 * chain from the top (the same provider answers unless the environment
 * changed). If that refresh fails while the old credentials are still
 * valid, they are used once more with a warning, as the SDKs do.
 *
 * The HTTP providers live in creds_http.c, STS in creds_sts.c and
 * credential_process in creds_process.c.
 */
#include "aws/creds_internal.h"
#include <string.h>

/* A source_profile chain longer than this is surely a loop or a mistake. */
#define MAX_PROFILE_DEPTH 16

void bh_credentials_release(bh_credentials *c)
{
	if (!c)
		return;
	bh_free(c->access_key_id);
	bh_free(c->secret_access_key);
	bh_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

int bh_cred_set(bh_credentials *out, const char *akid, const char *secret, const char *token,
                int64_t expiration, const char *source, bhive_error *err)
{
	memset(out, 0, sizeof(*out));
	out->access_key_id = bh_strdup(akid);
	out->secret_access_key = bh_strdup(secret);
	out->session_token = token && *token ? bh_strdup(token) : NULL;
	out->expiration = expiration;
	out->source = source;
	if (!out->access_key_id || !out->secret_access_key ||
	    (token && *token && !out->session_token)) {
		bh_credentials_release(out);
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory copying credentials");
	}
	return 0;
}

int bh_credentials_copy(bh_credentials *dst, const bh_credentials *src)
{
	return bh_cred_set(dst, src->access_key_id, src->secret_access_key, src->session_token,
	                   src->expiration, src->source, NULL);
}

/* Reads the credential fields of a JSON document. Never quotes the text
 * back: it holds the secret. jansson's own message is left out too, since
 * it can cite the token near the error. */
/* A member present with another type than a string would otherwise read as
 * absent: a session token dropped, an expiry never honoured. */
static const char *non_string_member(const json_t *j, const char *token_field)
{
	const char *keys[] = {"AccessKeyId", "SecretAccessKey", token_field, "Expiration"};
	for (size_t i = 0; i < BH_ARRAY_LEN(keys); i++) {
		const json_t *v = json_object_get(j, keys[i]);
		if (v && !json_is_string(v) && !json_is_null(v))
			return keys[i];
	}
	return NULL;
}

int bh_cred_from_json(const char *text, size_t len, const char *token_field, const char *what,
                      const char *source, bh_credentials *out, bhive_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, 0, &je);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                    "%s returned invalid JSON (line %d, column %d)", what, je.line,
		                    j ? 1 : je.column);
	}
	const char *akid = bh_json_str(j, "AccessKeyId");
	const char *secret = bh_json_str(j, "SecretAccessKey");
	const char *token = bh_json_str(j, token_field);
	const char *exp = bh_json_str(j, "Expiration");
	const char *bad = non_string_member(j, token_field);
	int rc;
	if (bad)
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                  "%s returned \"%s\" that is not a string", what, bad);
	else if (!akid || !*akid || !secret || !*secret)
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS, "%s returned no \"%s\"", what,
		                  !akid || !*akid ? "AccessKeyId" : "SecretAccessKey");
	else if (exp && bh_parse_iso8601(exp) < 0)
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                  "%s returned an Expiration that is not an ISO 8601 time", what);
	else
		rc = bh_cred_set(out, akid, secret, token, exp ? bh_parse_iso8601(exp) : 0, source,
		                 err);
	json_decref(j);
	return rc;
}

/* ---- explicit keys and the environment ------------------------------ */

static int from_explicit(bh_cred_chain *ch, bh_credentials *out, bh_buf *tried, bhive_error *err)
{
	if (!ch->access_key_id && !ch->secret_access_key)
		return BH_CRED_NONE;
	if (!ch->access_key_id || !ch->secret_access_key)
		return bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                    "explicit credentials need both an access key id and a secret "
		                    "access key; %s is missing",
		                    ch->access_key_id ? "the secret access key"
		                                      : "the access key id");
	return bh_cred_set(out, ch->access_key_id, ch->secret_access_key, ch->session_token, 0,
	                   "explicit", err);
}

/* AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY come as a pair; one alone is
 * a mistake worth stopping for rather than silently using a profile. */
static int env_keys(bh_cred_chain *ch, bh_credentials *out, bh_buf *tried, bhive_error *err)
{
	const char *akid = bh_getenv("AWS_ACCESS_KEY_ID");
	const char *secret = bh_getenv("AWS_SECRET_ACCESS_KEY");
	if (!akid && !secret) {
		bh_buf_puts(tried, "environment variables");
		return BH_CRED_NONE;
	}
	if (!akid || !secret)
		return bh_error_set(err, BHIVE_ERR_CREDENTIALS, "%s is set but %s is not",
		                    akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		                    akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	return bh_cred_set(out, akid, secret, bh_getenv("AWS_SESSION_TOKEN"), 0, "env", err);
}

/* As botocore: a profile the caller named (--profile) sets the environment
 * keys aside, so the profile decides; AWS_PROFILE does not. */
static int from_env(bh_cred_chain *ch, bh_credentials *out, bh_buf *tried, bhive_error *err)
{
	if (bh_aws_config_profile_from_arg(ch->cfg)) {
		bh_buf_puts(tried, "environment variables (set aside for the named profile)");
		return BH_CRED_NONE;
	}
	return env_keys(ch, out, tried, err);
}

static char *default_session_name(void)
{
	return bh_asprintf("bhive-session-%lld", (long long)bh_wall_time());
}

static int from_env_web_identity(bh_cred_chain *ch, bh_credentials *out, bh_buf *tried,
                                 bhive_error *err)
{
	const char *file = bh_getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *role = bh_getenv("AWS_ROLE_ARN");
	if (!file || !role) {
		bh_buf_puts(tried, ", web identity (AWS_WEB_IDENTITY_TOKEN_FILE)");
		return BH_CRED_NONE;
	}
	const char *name = bh_getenv("AWS_ROLE_SESSION_NAME");
	char *def = name ? NULL : default_session_name();
	int rc = bh_cred_web_identity(ch, file, role, name ? name : def, out, err);
	bh_free(def);
	return rc;
}

/* ---- the shared files ------------------------------------------------ */

static int resolve_profile(bh_cred_chain *ch, const char *name, const char **path, int depth,
                           bh_credentials *out, bhive_error *err);

enum { FROM_EITHER, FROM_CREDENTIALS_FILE, FROM_CONFIG_FILE };

static const char *static_key(bh_cred_chain *ch, const char *name, const char *key, int from)
{
	if (from == FROM_EITHER)
		return bh_aws_config_get_in(ch->cfg, name, key);
	return bh_aws_config_get_file(ch->cfg, name, key, from == FROM_CREDENTIALS_FILE);
}

/* Static keys of a profile, from one file or the merged view;
 * BH_CRED_NONE when it has none. */
static int profile_static(bh_cred_chain *ch, const char *name, int from, bh_credentials *out,
                          bhive_error *err)
{
	const char *akid = static_key(ch, name, "aws_access_key_id", from);
	const char *secret = static_key(ch, name, "aws_secret_access_key", from);
	if (!akid && !secret)
		return BH_CRED_NONE;
	if (!akid || !*akid || !secret || !*secret)
		return bh_error_set(err, BHIVE_ERR_CONFIG, "profile \"%s\" has %s but no %s", name,
		                    akid ? "aws_access_key_id" : "aws_secret_access_key",
		                    akid ? "aws_secret_access_key" : "aws_access_key_id");
	return bh_cred_set(out, akid, secret, static_key(ch, name, "aws_session_token", from), 0,
	                   from == FROM_CONFIG_FILE ? "config-file" : "shared-credentials-file",
	                   err);
}

/* "a -> b -> a" for the loop message. */
static void path_text(const char **path, int depth, const char *last, char *out, size_t n)
{
	bh_buf b;
	bh_buf_init(&b, n ? n - 1 : 0);
	for (int i = 0; i < depth; i++)
		bh_buf_printf(&b, "%s -> ", path[i]);
	bh_buf_puts(&b, last);
	bh_strlcpy(out, b.data ? b.data : last, n);
	bh_buf_release(&b);
}

/* A source_profile: static keys there end the chain (botocore's rule), else
 * it is resolved like any profile, watching for loops. */
static int source_profile(bh_cred_chain *ch, const char *name, const char *src, const char **path,
                          int depth, bh_credentials *out, bhive_error *err)
{
	if (!bh_aws_config_has_profile(ch->cfg, src))
		return bh_error_set(err, BHIVE_ERR_CONFIG,
		                    "source_profile \"%s\" of profile \"%s\" does not exist", src,
		                    name);
	int rc = profile_static(ch, src, FROM_EITHER, out, err);
	if (rc != BH_CRED_NONE)
		return rc;
	for (int i = 0; i <= depth; i++) {
		if (strcmp(path[i], src) == 0 || depth + 1 >= MAX_PROFILE_DEPTH) {
			char loop[256];
			path_text(path, depth + 1, src, loop, sizeof(loop));
			return bh_error_set(err, BHIVE_ERR_CONFIG, "source_profile chain loops: %s",
			                    loop);
		}
	}
	rc = resolve_profile(ch, src, path, depth + 1, out, err);
	if (rc == BH_CRED_NONE)
		return bh_error_set(err, BHIVE_ERR_CONFIG,
		                    "source_profile \"%s\" of profile \"%s\" has no credentials",
		                    src, name);
	return rc;
}

/* credential_source: the named provider must answer, nothing else. */
static int credential_source(bh_cred_chain *ch, const char *name, const char *cs,
                             bh_credentials *out, bhive_error *err)
{
	bh_buf tried;
	bh_buf_init(&tried, 1024);
	int rc;
	if (strcmp(cs, "Environment") == 0)
		rc = env_keys(ch, out, &tried, err);
	else if (strcmp(cs, "Ec2InstanceMetadata") == 0)
		rc = bh_cred_imds(ch, true, out, &tried, err);
	else if (strcmp(cs, "EcsContainer") == 0)
		rc = bh_cred_container(ch, true, out, &tried, err);
	else
		rc = bh_error_set(
		    err, BHIVE_ERR_CONFIG,
		    "profile \"%s\" has credential_source \"%s\"; expected Environment, "
		    "Ec2InstanceMetadata or EcsContainer",
		    name, cs);
	bh_buf_release(&tried);
	if (rc == BH_CRED_NONE)
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                  "credential_source \"%s\" of profile \"%s\" has no credentials",
		                  cs, name);
	return rc;
}

/* role_arn: find the source credentials, then call STS AssumeRole. */
static int profile_role(bh_cred_chain *ch, const char *name, const char **path, int depth,
                        bh_credentials *out, bhive_error *err)
{
	const char *src = bh_aws_config_get_in(ch->cfg, name, "source_profile");
	const char *cs = bh_aws_config_get_in(ch->cfg, name, "credential_source");
	const char *wif = bh_aws_config_get_in(ch->cfg, name, "web_identity_token_file");
	const char *role = bh_aws_config_get_in(ch->cfg, name, "role_arn");
	if (src && cs)
		return bh_error_set(err, BHIVE_ERR_CONFIG,
		                    "profile \"%s\" has both source_profile "
		                    "and credential_source; keep one",
		                    name);
	if (!src && !cs && wif) {
		const char *sn = bh_aws_config_get_in(ch->cfg, name, "role_session_name");
		char *def = sn ? NULL : default_session_name();
		int rc = bh_cred_web_identity(ch, wif, role, sn ? sn : def, out, err);
		bh_free(def);
		return rc;
	}
	if (!src && !cs)
		return bh_error_set(err, BHIVE_ERR_CONFIG,
		                    "profile \"%s\" has role_arn but no source_profile, "
		                    "credential_source or web_identity_token_file",
		                    name);
	bh_credentials base;
	int rc;
	if (src && strcmp(src, name) == 0) /* a profile may source its own keys */
		rc = profile_static(ch, name, FROM_EITHER, &base, err);
	else if (src)
		rc = source_profile(ch, name, src, path, depth, &base, err);
	else
		rc = credential_source(ch, name, cs, &base, err);
	if (rc == BH_CRED_NONE)
		return bh_error_set(err, BHIVE_ERR_CONFIG,
		                    "profile \"%s\" sources itself but has no keys", name);
	if (rc)
		return rc;
	rc = bh_cred_assume_role(ch, name, &base, out, err);
	bh_credentials_release(&base);
	return rc;
}

/* One profile, in botocore's order: assume role, web identity, static keys
 * from the credentials file, credential_process, static keys from the
 * config file. */
static int resolve_profile(bh_cred_chain *ch, const char *name, const char **path, int depth,
                           bh_credentials *out, bhive_error *err)
{
	path[depth] = name;
	if (bh_aws_config_get_in(ch->cfg, name, "role_arn"))
		return profile_role(ch, name, path, depth, out, err);
	if (bh_aws_config_get_in(ch->cfg, name, "web_identity_token_file"))
		return bh_error_set(err, BHIVE_ERR_CONFIG,
		                    "profile \"%s\" has web_identity_token_file but no role_arn",
		                    name);
	int rc = profile_static(ch, name, FROM_CREDENTIALS_FILE, out, err);
	if (rc != BH_CRED_NONE)
		return rc;
	const char *proc = bh_aws_config_get_in(ch->cfg, name, "credential_process");
	if (proc)
		return bh_cred_process(ch, name, proc, out, err);
	if ((rc = profile_static(ch, name, FROM_CONFIG_FILE, out, err)) != BH_CRED_NONE)
		return rc;
	if (bh_aws_config_get_in(ch->cfg, name, "sso_session") ||
	    bh_aws_config_get_in(ch->cfg, name, "sso_start_url"))
		return bh_error_set(
		    err, BHIVE_ERR_CREDENTIALS,
		    "profile \"%s\" uses IAM Identity Center (SSO), which bhive does not "
		    "support; use \"aws configure export-credentials --profile %s "
		    "--format process\" as its credential_process",
		    name, name);
	return BH_CRED_NONE;
}

static int from_profile(bh_cred_chain *ch, bh_credentials *out, bh_buf *tried, bhive_error *err)
{
	const char *name = bh_aws_config_profile(ch->cfg);
	const char *path[MAX_PROFILE_DEPTH + 1];
	int rc = ch->cfg ? resolve_profile(ch, name, path, 0, out, err) : BH_CRED_NONE;
	if (rc == BH_CRED_NONE)
		bh_buf_printf(tried, ", profile \"%s\" in the shared files", name);
	return rc;
}

static int from_container(bh_cred_chain *ch, bh_credentials *out, bh_buf *tried, bhive_error *err)
{
	return bh_cred_container(ch, false, out, tried, err);
}

static int from_imds(bh_cred_chain *ch, bh_credentials *out, bh_buf *tried, bhive_error *err)
{
	return bh_cred_imds(ch, false, out, tried, err);
}

typedef int (*provider_fn)(bh_cred_chain *, bh_credentials *, bh_buf *, bhive_error *);

static const provider_fn providers[] = {
    from_explicit, from_env, from_env_web_identity, from_profile, from_container, from_imds,
};

/* Runs the providers in order; the first that is configured decides. */
static int run_chain(bh_cred_chain *ch, bh_credentials *out, bhive_error *err)
{
	bh_buf tried;
	bh_buf_init(&tried, 2048);
	int rc = BH_CRED_NONE;
	for (size_t i = 0; i < BH_ARRAY_LEN(providers) && rc == BH_CRED_NONE; i++)
		rc = providers[i](ch, out, &tried, err);
	if (rc == BH_CRED_NONE)
		rc =
		    bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                 "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
		                 "or a profile in ~/.aws/credentials, or AWS_BEARER_TOKEN_BEDROCK "
		                 "(tried %s)",
		                 tried.data ? tried.data : "nothing");
	bh_buf_release(&tried);
	if (!rc)
		BH_DEBUG("credentials from %s", out->source);
	return rc;
}

bh_cred_chain *bh_cred_chain_new(const bh_aws_config *cfg, const bh_cred_options *opts,
                                 bhive_error *err)
{
	bh_cred_options none;
	memset(&none, 0, sizeof(none));
	if (!opts)
		opts = &none;
	bh_cred_chain *ch = bh_calloc(1, sizeof(*ch));
	if (!ch)
		goto nomem;
	ch->cfg = cfg;
	ch->access_key_id = bh_strdup(opts->access_key_id);
	ch->secret_access_key = bh_strdup(opts->secret_access_key);
	ch->session_token = bh_strdup(opts->session_token);
	ch->ca_file = bh_strdup(opts->ca_file);
	ch->connect_timeout_ms = opts->connect_timeout_ms; /* 0: each provider's default */
	ch->process_timeout_ms = opts->process_timeout_ms > 0 ? opts->process_timeout_ms : 60000;
	if ((opts->access_key_id && !ch->access_key_id) ||
	    (opts->secret_access_key && !ch->secret_access_key) ||
	    (opts->session_token && !ch->session_token) || (opts->ca_file && !ch->ca_file))
		goto nomem;
	return ch;
nomem:
	bh_cred_chain_free(ch);
	bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory creating the credential chain");
	return NULL;
}

void bh_cred_chain_free(bh_cred_chain *ch)
{
	if (!ch)
		return;
	bh_free(ch->access_key_id);
	bh_free(ch->secret_access_key);
	bh_free(ch->session_token);
	bh_free(ch->ca_file);
	bh_credentials_release(&ch->cached);
	bh_free(ch);
}

/* Usable without asking again: static, outside the refresh window, or a
 * refresh failed moments ago (so a broken provider is not hammered on
 * every request while the old credentials still work). */
static bool fresh(const bh_cred_chain *ch)
{
	const bh_credentials *c = &ch->cached;
	int64_t now = bh_wall_time();
	if (c->expiration == 0 || c->expiration - now > BH_CRED_REFRESH_WINDOW)
		return true;
	return now < ch->retry_after && now < c->expiration;
}

static int copy_out(bh_credentials *out, const bh_credentials *c, bhive_error *err)
{
	if (bh_credentials_copy(out, c))
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory copying credentials");
	return 0;
}

/* A provider that hands out credentials already past their expiry is
 * broken (or the clock is); using them would only fail later, less clearly. */
static int expired(bh_credentials *got, bhive_error *err)
{
	char when[17];
	bh_amz_date(got->expiration, when);
	bh_error_set(err, BHIVE_ERR_CREDENTIALS,
	             "credentials from %s expired at %s; check the provider and the system clock",
	             got->source, when);
	bh_credentials_release(got);
	return BHIVE_ERR_CREDENTIALS;
}

int bh_cred_chain_get(bh_cred_chain *ch, bh_credentials *out, bhive_error *err)
{
	memset(out, 0, sizeof(*out));
	if (ch->have_cached && fresh(ch))
		return copy_out(out, &ch->cached, err);
	bh_credentials got;
	bhive_error local;
	bhive_error_clear(&local);
	int rc = run_chain(ch, &got, &local);
	if (rc && ch->have_cached && ch->cached.expiration > bh_wall_time()) {
		BH_WARN("refreshing credentials failed (%s); using the current ones until they "
		        "expire",
		        local.message);
		ch->retry_after = bh_wall_time() + BH_CRED_RETRY_AFTER;
		return copy_out(out, &ch->cached, err);
	}
	if (rc) {
		bh_error_copy(err, &local);
		return rc;
	}
	if (got.expiration && got.expiration <= bh_wall_time())
		return expired(&got, err);
	bh_credentials_release(&ch->cached);
	ch->cached = got;
	ch->have_cached = true;
	ch->retry_after = 0;
	return copy_out(out, &ch->cached, err);
}
