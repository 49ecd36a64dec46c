/*
 * creds_sts.c - AWS STS: AssumeRole (signed with the source credentials)
 * and AssumeRoleWithWebIdentity (unsigned, the token is the proof).
 *
 * STS speaks the awsQuery protocol: a form-encoded POST to "/" and an XML
 * answer. The few fields needed are picked out by tag name; STS's XML has
 * no attributes or CDATA in these elements, only the five predefined
 * entities, so a full XML parser would buy nothing here.
 */
#include "aws/creds_internal.h"
#include "aws/sigv4.h"
#include <string.h>

#define STS_TIMEOUT_MS 30000
#define STS_VERSION "2011-06-15"

char *bh_cred_sts_region(const bh_cred_chain *ch)
{
	const char *r = bh_getenv("AWS_REGION");
	if (!r)
		r = bh_getenv("AWS_DEFAULT_REGION");
	if (!r)
		r = bh_aws_config_get(ch->cfg, "region");
	return bh_strdup(r && *r ? r : "us-east-1");
}

/* Configured endpoint overrides, in the SDKs' order: service variable,
 * global variable, the profile's [services] sts entry, the profile's
 * endpoint_url; all ignored when the user says so. */
static const char *sts_override(const bh_cred_chain *ch)
{
	if (bh_strcaseeq(bh_getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") ||
	    bh_strcaseeq(bh_aws_config_get(ch->cfg, "ignore_configured_endpoint_urls"), "true"))
		return NULL;
	const char *ep = bh_getenv("AWS_ENDPOINT_URL_STS");
	if (!ep)
		ep = bh_getenv("AWS_ENDPOINT_URL");
	const char *svc = bh_aws_config_get(ch->cfg, "services");
	if (!ep && svc)
		ep = bh_aws_config_service_get(ch->cfg, svc, "sts", "endpoint_url");
	if (!ep)
		ep = bh_aws_config_get(ch->cfg, "endpoint_url");
	return ep && *ep ? ep : NULL;
}

char *bh_cred_sts_endpoint(const bh_cred_chain *ch, const char *region)
{
	const char *ep = sts_override(ch);
	if (ep)
		return bh_strdup(ep);
	const char *suffix = bh_starts_with(region, "cn-") ? "amazonaws.com.cn" : "amazonaws.com";
	return bh_asprintf("https://sts.%s.%s", region, suffix);
}

/* ---- the request ------------------------------------------------------ */

static void form_add(bh_buf *b, const char *key, const char *value)
{
	if (!value)
		return;
	if (b->len)
		bh_buf_putc(b, '&');
	bh_buf_puts(b, key);
	bh_buf_putc(b, '=');
	bh_uri_encode(b, value, strlen(value), false);
}

/* "https://host:port/path" -> "host:port" for the signed Host header. */
static char *url_host(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/?#");
	return bh_strndup(p, n);
}

/* Path of the URL (the endpoint may carry one), "/" when empty. */
static const char *url_path(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	p += strcspn(p, "/?#");
	return *p == '/' ? p : "/";
}

typedef struct sts_call {
	const bh_cred_chain *ch;
	const char *action; /* for messages */
	const char *role_arn;
	const char *body;
	const bh_credentials *sign; /* NULL: unsigned */
	char *region, *url;
} sts_call;

/* Signs the form POST and returns its header lines (caller frees each and
 * the array). */
static int sign_headers(const sts_call *c, char **lines, bhive_error *err)
{
	char *host = url_host(c->url);
	char amz[17];
	int64_t now = bh_wall_time();
	bh_amz_date(now, amz);
	bh_sigv4_header hs[4] = {
	    {"Host", host},
	    {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
	    {"X-Amz-Date", amz},
	    {"X-Amz-Security-Token", c->sign->session_token},
	};
	bh_sigv4_request req = {.method = "POST",
	                        .path = url_path(c->url),
	                        .headers = hs,
	                        .num_headers = c->sign->session_token ? 4 : 3,
	                        .body = c->body,
	                        .body_len = strlen(c->body)};
	bh_sigv4_params p = {.access_key_id = c->sign->access_key_id,
	                     .secret_access_key = c->sign->secret_access_key,
	                     .session_token = c->sign->session_token,
	                     .region = c->region,
	                     .service = "sts",
	                     .time = now,
	                     .double_encode_path = true,
	                     .normalize_path = true};
	bh_sigv4_result res;
	bh_sigv4_result_init(&res);
	int rc = host ? bh_sigv4_sign(&req, &p, &res, err) : BHIVE_ERR_NOMEM;
	if (!rc) {
		lines[0] = bh_asprintf("X-Amz-Date: %s", amz);
		lines[1] = bh_asprintf("Authorization: %s", res.authorization.data);
		if (c->sign->session_token)
			lines[2] = bh_asprintf("X-Amz-Security-Token: %s", c->sign->session_token);
	}
	bh_sigv4_result_release(&res);
	bh_free(host);
	return rc;
}

/* ---- the answer ------------------------------------------------------- */

/* Text of the first <tag>...</tag> after `from`, entities decoded; NULL if
 * absent. */
static char *xml_text(const char *xml, const char *tag)
{
	char open[64], close[64];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *a = xml ? strstr(xml, open) : NULL;
	const char *b = a ? strstr(a, close) : NULL;
	if (!b)
		return NULL;
	a += strlen(open);
	static const struct {
		const char *ent;
		char c;
	} ents[] = {
	    {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
	bh_buf out;
	bh_buf_init(&out, 0);
	while (a < b) {
		size_t i = 0;
		while (i < BH_ARRAY_LEN(ents) && strncmp(a, ents[i].ent, strlen(ents[i].ent)) != 0)
			i++;
		bh_buf_putc(&out, i < BH_ARRAY_LEN(ents) ? ents[i].c : *a);
		a += i < BH_ARRAY_LEN(ents) ? strlen(ents[i].ent) : 1;
	}
	char *s = bh_buf_steal(&out);
	return s ? s : bh_strdup("");
}

/* <ErrorResponse><Error><Code>..</Code><Message>..</Message></Error>
 * <RequestId>..</RequestId></ErrorResponse> into err. */
static int sts_error(const sts_call *c, const bh_cred_http *r, bhive_error *err)
{
	const char *xml = r->body.data;
	char *code = xml_text(xml, "Code"), *msg = xml_text(xml, "Message");
	char *rid = xml_text(xml, "RequestId");
	if (err && !err->code) {
		bh_error_set(err, BHIVE_ERR_CREDENTIALS, "sts %s for role \"%s\" failed: %s: %s",
		             c->action, c->role_arn, code ? code : "HTTP error",
		             msg ? msg : "(no message)");
		err->http_status = (int)r->status;
		bh_strlcpy(err->error_type, code ? code : "", sizeof(err->error_type));
		bh_strlcpy(err->request_id, rid ? rid : "", sizeof(err->request_id));
		bh_strlcpy(err->source, c->url, sizeof(err->source));
	}
	bh_free(code);
	bh_free(msg);
	bh_free(rid);
	return BHIVE_ERR_CREDENTIALS;
}

static int sts_parse(const sts_call *c, const bh_cred_http *r, const char *source,
                     bh_credentials *out, bhive_error *err)
{
	const char *xml = r->body.data;
	char *akid = xml_text(xml, "AccessKeyId"), *secret = xml_text(xml, "SecretAccessKey");
	char *token = xml_text(xml, "SessionToken"), *exp = xml_text(xml, "Expiration");
	int64_t when = exp ? bh_parse_iso8601(exp) : 0;
	int rc;
	if (!akid || !*akid || !secret || !*secret || !token || !*token)
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                  "sts %s for role \"%s\" returned no credentials", c->action,
		                  c->role_arn);
	else if (when < 0)
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                  "sts %s for role \"%s\" returned a bad Expiration", c->action,
		                  c->role_arn);
	else
		rc = bh_cred_set(out, akid, secret, token, when, source, err);
	bh_free(akid);
	bh_free(secret);
	bh_free(token);
	bh_free(exp);
	return rc;
}

/* Sends the call and turns the answer into credentials or an error. */
static int sts_send(sts_call *c, const char *source, bh_credentials *out, bhive_error *err)
{
	char *signed_[3] = {NULL, NULL, NULL};
	int rc = c->sign ? sign_headers(c, signed_, err) : 0;
	const char *headers[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
	                         "Accept: text/xml",
	                         signed_[0],
	                         signed_[1],
	                         signed_[2],
	                         NULL};
	bh_cred_http r;
	bh_cred_http_init(&r);
	if (!rc && c->sign && (!signed_[0] || !signed_[1]))
		rc = bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	if (!rc && bh_cred_http_do(c->ch, "POST", c->url, headers, c->body, STS_TIMEOUT_MS, false,
	                           &r) != 0)
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS, "sts %s at \"%s\" failed: %s",
		                  c->action, c->url, r.error);
	else if (!rc && (r.status < 200 || r.status > 299))
		rc = sts_error(c, &r, err);
	else if (!rc)
		rc = sts_parse(c, &r, source, out, err);
	bh_cred_http_release(&r);
	for (size_t i = 0; i < BH_ARRAY_LEN(signed_); i++)
		bh_free(signed_[i]);
	return rc;
}

/* Region and URL for one call. */
static int sts_prepare(bh_cred_chain *ch, sts_call *c, bhive_error *err)
{
	c->region = bh_cred_sts_region(ch);
	c->url = c->region ? bh_cred_sts_endpoint(ch, c->region) : NULL;
	if (!c->url)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	BH_DEBUG("sts %s for role \"%s\" at %s", c->action, c->role_arn, c->url);
	return 0;
}

static void sts_release(sts_call *c)
{
	bh_free(c->region);
	bh_free(c->url);
}

/* The profile's optional AssumeRole parameters, checked before any call. */
static int role_params(bh_cred_chain *ch, const char *profile, bh_buf *form, bhive_error *err)
{
	const char *ext = bh_aws_config_get_in(ch->cfg, profile, "external_id");
	const char *dur = bh_aws_config_get_in(ch->cfg, profile, "duration_seconds");
	long secs;
	if (bh_aws_config_get_in(ch->cfg, profile, "mfa_serial"))
		return bh_error_set(
		    err, BHIVE_ERR_CREDENTIALS,
		    "profile \"%s\" needs an MFA code (mfa_serial), which bhive cannot "
		    "prompt for; assume the role first and export its credentials",
		    profile);
	if (dur && (bh_parse_long(dur, &secs) || secs < 900 || secs > 43200))
		return bh_error_set(
		    err, BHIVE_ERR_CONFIG,
		    "profile \"%s\": duration_seconds \"%s\" is not a number of seconds "
		    "between 900 and 43200",
		    profile, dur);
	form_add(form, "ExternalId", ext);
	form_add(form, "DurationSeconds", dur);
	return 0;
}

int bh_cred_assume_role(bh_cred_chain *ch, const char *profile, const bh_credentials *src,
                        bh_credentials *out, bhive_error *err)
{
	const char *role = bh_aws_config_get_in(ch->cfg, profile, "role_arn");
	const char *name = bh_aws_config_get_in(ch->cfg, profile, "role_session_name");
	char *def = name ? NULL : bh_asprintf("bhive-session-%lld", (long long)bh_wall_time());
	bh_buf form;
	bh_buf_init(&form, 0);
	form_add(&form, "Action", "AssumeRole");
	form_add(&form, "Version", STS_VERSION);
	form_add(&form, "RoleArn", role);
	form_add(&form, "RoleSessionName", name ? name : def);
	sts_call c = {.ch = ch, .action = "AssumeRole", .role_arn = role, .sign = src};
	int rc = role_params(ch, profile, &form, err);
	if (!rc && (!form.data || (!name && !def)))
		rc = bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	if (!rc && !(rc = sts_prepare(ch, &c, err))) {
		c.body = form.data;
		rc = sts_send(&c, "assume-role", out, err);
	}
	sts_release(&c);
	bh_buf_release(&form);
	bh_free(def);
	return rc;
}

/* The token file is read on every call: orchestrators rotate it. */
static char *read_token(const char *file, bhive_error *err)
{
	bhive_error ioerr;
	bhive_error_clear(&ioerr);
	char *text = bh_read_file(file, 1 << 20, NULL, &ioerr);
	if (!text) {
		bh_error_set(err, BHIVE_ERR_CREDENTIALS, "web identity token: %s", ioerr.message);
		return NULL;
	}
	char *t = bh_trim(text);
	memmove(text, t, strlen(t) + 1);
	if (!*text) {
		bh_free(text);
		bh_error_set(err, BHIVE_ERR_CREDENTIALS, "web identity token file \"%s\" is empty",
		             file);
		return NULL;
	}
	return text;
}

int bh_cred_web_identity(bh_cred_chain *ch, const char *token_file, const char *role_arn,
                         const char *session_name, bh_credentials *out, bhive_error *err)
{
	char *token = read_token(token_file, err);
	if (!token)
		return BHIVE_ERR_CREDENTIALS;
	bh_buf form;
	bh_buf_init(&form, 0);
	form_add(&form, "Action", "AssumeRoleWithWebIdentity");
	form_add(&form, "Version", STS_VERSION);
	form_add(&form, "RoleArn", role_arn);
	form_add(&form, "RoleSessionName", session_name);
	form_add(&form, "WebIdentityToken", token);
	sts_call c = {.ch = ch, .action = "AssumeRoleWithWebIdentity", .role_arn = role_arn};
	int rc = form.data ? sts_prepare(ch, &c, err)
	                   : bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	if (!rc) {
		c.body = form.data;
		rc = sts_send(&c, "web-identity", out, err);
	}
	sts_release(&c);
	bh_buf_release(&form);
	bh_free(token);
	return rc;
}
