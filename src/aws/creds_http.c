/*
 * creds_http.c - the providers that ask a local HTTP service: container
 * credentials (ECS task roles, EKS pod identity) and EC2 instance metadata
 * (IMDSv2), plus the small blocking libcurl helper STS uses too.
 *
 * Credentials are fetched rarely (once an hour or so), so each request is a
 * short-lived easy handle rather than a transfer on the client's multi loop.
 * Metadata services are link-local: short timeouts and one retry, as the
 * SDKs use, so a machine that is not on EC2 gives up within seconds.
 */
#include "aws/creds_internal.h"
#include <arpa/inet.h>
#include <curl/curl.h>
#include <string.h>

#define IMDS_TIMEOUT_MS 1000
#define IMDS_ATTEMPTS 2
#define CONTAINER_TIMEOUT_MS 2000
#define CONTAINER_ATTEMPTS 2
#define MAX_CRED_BODY (1u << 20)
#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_DEFAULT_V6 "http://[fd00:ec2::254]"
#define CONTAINER_HOST "http://169.254.170.2"

void bh_cred_http_init(bh_cred_http *r)
{
	memset(r, 0, sizeof(*r));
	bh_buf_init(&r->body, MAX_CRED_BODY);
}

void bh_cred_http_release(bh_cred_http *r)
{
	bh_buf_release(&r->body);
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	bh_cred_http *r = userdata;
	return bh_buf_append(&r->body, p, size * n) ? 0 : size * n;
}

/* The options every credential request shares. */
static void easy_setup(CURL *e, const bh_cred_chain *ch, const char *url, long timeout_ms,
                       bool direct, bh_cred_http *r)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	long connect = ch->connect_timeout_ms > 0 ? ch->connect_timeout_ms : direct ? 1000 : 10000;
	if (connect > timeout_ms)
		connect = timeout_ms;
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
	if (ch->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, ch->ca_file);
	if (direct)
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
}

int bh_cred_http_do(const bh_cred_chain *ch, const char *method, const char *url,
                    const char *const *headers, const char *body, long timeout_ms, bool direct,
                    bh_cred_http *r)
{
	bh_buf_reset(&r->body);
	r->status = 0;
	r->timed_out = false;
	r->error[0] = '\0';
	CURL *e = curl_easy_init();
	if (!e)
		return BHIVE_ERR_NOMEM;
	easy_setup(e, ch, url, timeout_ms, direct, r);
	struct curl_slist *hl = NULL;
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	if (body || strcmp(method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
	}
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	CURLcode cc = curl_easy_perform(e);
	if (cc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	else if (!r->error[0])
		bh_strlcpy(r->error, curl_easy_strerror(cc), sizeof(r->error));
	r->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
	curl_slist_free_all(hl);
	curl_easy_cleanup(e);
	if (cc != CURLE_OK)
		return r->timed_out ? BHIVE_ERR_TIMEOUT : BHIVE_ERR_NETWORK;
	return 0;
}

/* Retries once more on no answer or a 5xx, as the SDKs' metadata fetchers. */
static int http_retry(const bh_cred_chain *ch, const char *method, const char *url,
                      const char *const *headers, long timeout_ms, int attempts, bh_cred_http *r)
{
	int rc = 0;
	for (int i = 0; i < attempts; i++) {
		rc = bh_cred_http_do(ch, method, url, headers, NULL, timeout_ms, true, r);
		if (rc == BHIVE_ERR_NOMEM || (rc == 0 && r->status < 500))
			return rc;
		BH_DEBUG("credentials: %s %s: %s (attempt %d)", method, url,
		         rc ? r->error : "server error", i + 1);
	}
	return rc;
}

/* ---- container credentials ------------------------------------------- */

/* Plain http is allowed only to the container agent's own addresses and
 * loopback, as the SDKs require: the token must not cross a network. */
static bool container_host_allowed(const char *host)
{
	static const char *const hosts[] = {"localhost", "169.254.170.2", "169.254.170.23",
	                                    "[fd00:ec2::23]", "[::1]"};
	for (size_t i = 0; i < BH_ARRAY_LEN(hosts); i++)
		if (bh_strcaseeq(host, hosts[i]))
			return true;
	struct in_addr a;
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static int check_full_uri(const char *uri, bhive_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = 0;
	if (!u || curl_url_set(u, CURLUPART_URL, uri, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0))
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                  "AWS_CONTAINER_CREDENTIALS_FULL_URI \"%s\" is not a valid URL",
		                  uri);
	else if (!bh_strcaseeq(scheme, "https") &&
	         !(bh_strcaseeq(scheme, "http") && container_host_allowed(host)))
		rc = bh_error_set(
		    err, BHIVE_ERR_CREDENTIALS,
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI host \"%s\" is not allowed over "
		    "http; use https, a loopback address or the container agent's",
		    host);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* The Authorization value: the token file (re-read each time, it rotates)
 * beats AWS_CONTAINER_AUTHORIZATION_TOKEN. NULL value with rc 0: none. */
static int container_token(char **out, bhive_error *err)
{
	*out = NULL;
	const char *file = bh_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *env = bh_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	if (file) {
		bhive_error ioerr;
		bhive_error_clear(&ioerr);
		char *text = bh_read_file(file, 16384, NULL, &ioerr);
		if (!text)
			return bh_error_set(err, BHIVE_ERR_CREDENTIALS,
			                    "container authorization token: %s", ioerr.message);
		*out = text;
	} else if (env) {
		if (!(*out = bh_strdup(env)))
			return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	}
	if (*out && strpbrk(bh_trim(*out), "\r\n")) {
		bh_free(*out);
		*out = NULL;
		return bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                    "container authorization token contains a line break");
	}
	return 0;
}

static int container_fetch(bh_cred_chain *ch, const char *url, bh_credentials *out,
                           bhive_error *err)
{
	char *token = NULL;
	int rc = container_token(&token, err);
	if (rc)
		return rc;
	char *auth = token ? bh_asprintf("Authorization: %s", bh_trim(token)) : NULL;
	const char *headers[] = {"Accept: application/json", auth, NULL};
	bh_cred_http r;
	bh_cred_http_init(&r);
	rc = http_retry(ch, "GET", url, headers, CONTAINER_TIMEOUT_MS, CONTAINER_ATTEMPTS, &r);
	if (rc)
		bh_error_set(err, rc == BHIVE_ERR_NOMEM ? rc : BHIVE_ERR_CREDENTIALS,
		             "container credentials endpoint \"%s\" did not answer: %s", url,
		             r.error);
	else if (r.status != 200)
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                  "container credentials endpoint \"%s\" returned HTTP %ld", url,
		                  r.status);
	else
		rc = bh_cred_from_json(r.body.data ? r.body.data : "", r.body.len, "Token",
		                       "the container credentials endpoint", "container", out, err);
	if (rc && err && err->http_status == 0)
		err->http_status = (int)r.status;
	bh_cred_http_release(&r);
	bh_free(auth);
	bh_free(token);
	return rc ? (rc == BHIVE_ERR_NOMEM ? rc : BHIVE_ERR_CREDENTIALS) : 0;
}

int bh_cred_container(bh_cred_chain *ch, bool required, bh_credentials *out, bh_buf *tried,
                      bhive_error *err)
{
	const char *rel = bh_getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = bh_getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	if (!rel && !full) {
		bh_buf_puts(tried, ", container credentials (AWS_CONTAINER_CREDENTIALS_*_URI)");
		if (required)
			return bh_error_set(err, BHIVE_ERR_CREDENTIALS,
			                    "container credentials need "
			                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI");
		return BH_CRED_NONE;
	}
	if (!rel && check_full_uri(full, err))
		return BHIVE_ERR_CREDENTIALS;
	char *url = rel ? bh_asprintf("%s%s%s", CONTAINER_HOST, rel[0] == '/' ? "" : "/", rel)
	                : bh_strdup(full);
	if (!url)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	int rc = container_fetch(ch, url, out, err);
	bh_free(url);
	return rc;
}

/* ---- EC2 instance metadata (IMDSv2) ---------------------------------- */

static bool env_true(const char *name)
{
	return bh_strcaseeq(bh_getenv(name), "true");
}

static bool cfg_true(const bh_cred_chain *ch, const char *key)
{
	return bh_strcaseeq(bh_aws_config_get(ch->cfg, key), "true");
}

/* Base URL: the environment, then the profile, then the mode's default. */
static char *imds_base(const bh_cred_chain *ch)
{
	const char *ep = bh_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (!ep)
		ep = bh_aws_config_get(ch->cfg, "ec2_metadata_service_endpoint");
	if (!ep) {
		const char *mode = bh_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
		if (!mode)
			mode = bh_aws_config_get(ch->cfg, "ec2_metadata_service_endpoint_mode");
		ep = bh_strcaseeq(mode, "IPv6") ? IMDS_DEFAULT_V6 : IMDS_DEFAULT;
	}
	char *base = bh_strdup(ep);
	size_t n = base ? strlen(base) : 0;
	while (n && base[n - 1] == '/')
		base[--n] = '\0';
	return base;
}

/* A metadata failure is "not on EC2" for the chain (it ends in "no
 * credentials"), but an error when a profile named this source. */
static int imds_absent(bool required, bh_buf *tried, bhive_error *err, const char *why)
{
	bh_buf_printf(tried, ", instance metadata (%s)", why);
	if (required)
		return bh_error_set(err, BHIVE_ERR_CREDENTIALS, "instance metadata: %s", why);
	return BH_CRED_NONE;
}

/* PUT /latest/api/token. Sets *token (NULL: fall back to IMDSv1). */
static int imds_token(bh_cred_chain *ch, const char *base, char **token, char *why, size_t whysz)
{
	static const char *const headers[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
	char *url = bh_asprintf("%s/latest/api/token", base);
	bh_cred_http r;
	bh_cred_http_init(&r);
	*token = NULL;
	int rc = url ? http_retry(ch, "PUT", url, headers, IMDS_TIMEOUT_MS, IMDS_ATTEMPTS, &r)
	             : BHIVE_ERR_NOMEM;
	if (rc)
		snprintf(why, whysz, "no answer from \"%s\": %s", base, r.error);
	else if (r.status == 200 && r.body.len)
		*token = bh_strdup(bh_trim(r.body.data));
	else if (r.status == 403 || r.status == 404 || r.status == 405) {
		if (env_true("AWS_EC2_METADATA_V1_DISABLED") ||
		    cfg_true(ch, "ec2_metadata_v1_disabled"))
			rc = -2;
		snprintf(why, whysz, "token request returned HTTP %ld and IMDSv1 is disabled",
		         r.status);
	} else {
		rc = -2;
		snprintf(why, whysz, "token request returned HTTP %ld", r.status);
	}
	bh_cred_http_release(&r);
	bh_free(url);
	return rc;
}

/* GET base+path with the session token (if any). */
static int imds_get(bh_cred_chain *ch, const char *base, const char *path, const char *token,
                    bh_cred_http *r)
{
	char *url = bh_asprintf("%s%s", base, path);
	char *hdr = token ? bh_asprintf("X-aws-ec2-metadata-token: %s", token) : NULL;
	const char *headers[] = {hdr, NULL};
	int rc = url && (!token || hdr)
	             ? http_retry(ch, "GET", url, headers, IMDS_TIMEOUT_MS, IMDS_ATTEMPTS, r)
	             : BHIVE_ERR_NOMEM;
	bh_free(url);
	bh_free(hdr);
	return rc;
}

/* The instance profile's role name: the first line of the listing. */
static int imds_role(bh_cred_chain *ch, const char *base, const char *token, char **role, char *why,
                     size_t whysz)
{
	bh_cred_http r;
	bh_cred_http_init(&r);
	*role = NULL;
	int rc = imds_get(ch, base, "/latest/meta-data/iam/security-credentials/", token, &r);
	if (rc) {
		snprintf(why, whysz, "no answer from \"%s\": %s", base, r.error);
	} else if (r.status != 200 || !r.body.len) {
		snprintf(why, whysz,
		         r.status == 404 ? "no instance role attached"
		                         : "role listing returned HTTP %ld",
		         r.status);
		rc = -2;
	} else {
		char *nl = strchr(r.body.data, '\n');
		if (nl)
			*nl = '\0';
		*role = bh_strdup(bh_trim(r.body.data));
	}
	bh_cred_http_release(&r);
	return rc;
}

/* The role's credentials document; {"Code": "Success", ...}. */
static int imds_creds(bh_cred_chain *ch, const char *base, const char *token, const char *role,
                      bh_credentials *out, bhive_error *err)
{
	bh_buf path;
	bh_buf_init(&path, 4096);
	bh_buf_puts(&path, "/latest/meta-data/iam/security-credentials/");
	bh_uri_encode(&path, role, strlen(role), false);
	bh_cred_http r;
	bh_cred_http_init(&r);
	int rc = path.data ? imds_get(ch, base, path.data, token, &r) : BHIVE_ERR_NOMEM;
	if (rc)
		bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		             "instance metadata \"%s\" did not answer: %s", base, r.error);
	else if (r.status != 200)
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                  "instance metadata returned HTTP %ld for role \"%s\"", r.status,
		                  role);
	else
		rc = bh_cred_from_json(r.body.data ? r.body.data : "", r.body.len, "Token",
		                       "instance metadata", "imds", out, err);
	bh_cred_http_release(&r);
	bh_buf_release(&path);
	return rc ? BHIVE_ERR_CREDENTIALS : 0;
}

/* Token, role name, credentials: the IMDSv2 sequence. */
static int imds_fetch(bh_cred_chain *ch, const char *base, bool required, bh_credentials *out,
                      bh_buf *tried, bhive_error *err)
{
	char why[512];
	char *token = NULL, *role = NULL;
	int rc = imds_token(ch, base, &token, why, sizeof(why));
	if (!rc)
		rc = imds_role(ch, base, token, &role, why, sizeof(why));
	if (rc == BHIVE_ERR_NOMEM)
		rc = bh_error_set(err, rc, "out of memory");
	else if (rc)
		rc = imds_absent(required, tried, err, why);
	else
		rc = imds_creds(ch, base, token, role, out, err);
	bh_free(token);
	bh_free(role);
	return rc;
}

int bh_cred_imds(bh_cred_chain *ch, bool required, bh_credentials *out, bh_buf *tried,
                 bhive_error *err)
{
	if (env_true("AWS_EC2_METADATA_DISABLED"))
		return imds_absent(required, tried, err, "disabled by AWS_EC2_METADATA_DISABLED");
	char *base = imds_base(ch);
	if (!base)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	int rc = imds_fetch(ch, base, required, out, tried, err);
	bh_free(base);
	return rc;
}
