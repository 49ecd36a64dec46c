/*
 * endpoint.c - where requests go. The region comes from the caller, the
 * environment or the profile; the endpoint from an override (the caller's,
 * then the configured ones in the order botocore uses) or else from the
 * built-in rule set, which also decides FIPS and dual-stack host names.
 */
#include <stdio.h>
#include <string.h>
#include "aws/endpoint.h"

#define NO_REGION "no region: set AWS_REGION or region in the profile, or pass --region"

/* The settings and the environment variables that carry them. */
#define ENV_ENDPOINT_SERVICE "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
#define ENV_ENDPOINT_GLOBAL "AWS_ENDPOINT_URL"
#define ENV_IGNORE "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
#define ENV_FIPS "AWS_USE_FIPS_ENDPOINT"
#define ENV_DUALSTACK "AWS_USE_DUALSTACK_ENDPOINT"
#define SERVICE_KEY "bedrock_runtime" /* the service's key in a [services] section */

/* Where a setting came from, for error messages: "AWS_REGION" or
 * `region in profile "dev"`. */
typedef struct origin {
	char text[192];
} origin;

static const char *profile_value(const bh_aws_config *cfg, const char *key, origin *o)
{
	const char *v = cfg ? bh_aws_config_get(cfg, key) : NULL;
	if (!v || !*v)
		return NULL;
	snprintf(o->text, sizeof(o->text), "%s in profile \"%s\"", key,
	         bh_aws_config_profile(cfg));
	return v;
}

static const char *env_value(const char *name, origin *o)
{
	const char *v = bh_getenv(name);
	if (v)
		bh_strlcpy(o->text, name, sizeof(o->text));
	return v;
}

static const char *pick_region(const char *explicit_region, const bh_aws_config *cfg, origin *o)
{
	if (explicit_region && *explicit_region) {
		bh_strlcpy(o->text, "the region option", sizeof(o->text));
		return explicit_region;
	}
	const char *v = env_value("AWS_REGION", o);
	if (!v)
		v = env_value("AWS_DEFAULT_REGION", o);
	return v ? v : profile_value(cfg, "region", o);
}

/* The region becomes part of a host name, so anything but one DNS label is
 * refused here rather than sent to a strange host. */
char *bh_resolve_region(const char *explicit_region, const bh_aws_config *cfg, bhive_error *err)
{
	origin o;
	const char *r = pick_region(explicit_region, cfg, &o);
	if (!r) {
		bh_error_set(err, BHIVE_ERR_REGION, NO_REGION);
		return NULL;
	}
	if (!bh_region_is_valid(r)) {
		bh_error_set(err, BHIVE_ERR_INVALID,
		             "invalid region \"%s\" from %s: expected a name like us-east-1", r,
		             o.text);
		return NULL;
	}
	char *dup = bh_strdup(r);
	if (!dup)
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	return dup;
}

/* Booleans are "true" or "false" in any case, as the SDKs accept them; the
 * SDKs read anything else as false, which hides typos, so it is an error. */
static int parse_bool(const char *v, const origin *o, bool *out, bhive_error *err)
{
	if (bh_strcaseeq(v, "true") || bh_strcaseeq(v, "false")) {
		*out = bh_strcaseeq(v, "true");
		return 0;
	}
	return bh_error_set(err, BHIVE_ERR_CONFIG, "bad boolean \"%s\" in %s: use true or false", v,
	                    o->text);
}

/* One boolean setting: the caller's (>= 0), the environment variable, the
 * profile key, else false. */
static int setting_bool(int explicit_val, const char *env, const bh_aws_config *cfg,
                        const char *key, bool *out, bhive_error *err)
{
	origin o;
	*out = false;
	if (explicit_val >= 0) {
		*out = explicit_val != 0;
		return 0;
	}
	const char *v = env_value(env, &o);
	if (!v)
		v = profile_value(cfg, key, &o);
	return v ? parse_bool(v, &o, out, err) : 0;
}

/* The bedrock_runtime endpoint_url of the [services NAME] section that the
 * profile points at with "services = NAME". */
static const char *services_value(const bh_aws_config *cfg, origin *o)
{
	const char *section = cfg ? bh_aws_config_get(cfg, "services") : NULL;
	const char *v = section ? bh_aws_config_service_get(cfg, section, SERVICE_KEY,
	                                                     "endpoint_url")
	                        : NULL;
	if (!v || !*v)
		return NULL;
	snprintf(o->text, sizeof(o->text), "%s endpoint_url in [services %s]", SERVICE_KEY,
	         section);
	return v;
}

/* The configured overrides in botocore's order (ConfiguredEndpointProvider):
 * service variable, global variable, [services] section, profile key. */
static const char *configured_url(const bh_aws_config *cfg, origin *o)
{
	const char *v = env_value(ENV_ENDPOINT_SERVICE, o);
	if (!v)
		v = env_value(ENV_ENDPOINT_GLOBAL, o);
	if (!v)
		v = services_value(cfg, o);
	return v ? v : profile_value(cfg, "endpoint_url", o);
}

/* Finds the override, if any: *url stays NULL when the rule set decides. */
static int pick_override(const char *explicit_url, const bh_aws_config *cfg, const char **url,
                         origin *o, bhive_error *err)
{
	*url = NULL;
	if (explicit_url && *explicit_url) {
		bh_strlcpy(o->text, "the endpoint URL option", sizeof(o->text));
		*url = explicit_url;
		return 0;
	}
	bool ignore;
	int rc = setting_bool(-1, ENV_IGNORE, cfg, "ignore_configured_endpoint_urls", &ignore, err);
	if (rc == 0 && !ignore)
		*url = configured_url(cfg, o);
	return rc;
}

/* The URL as an error may show it: user info before an '@' in the
 * authority (a password, as like as not) is masked. */
static void url_for_message(const char *url, char *out, size_t outsz)
{
	const char *sep = strstr(url, "://");
	const char *auth = sep ? sep + 3 : url;
	size_t alen = strcspn(auth, "/");
	const char *at = memchr(auth, '@', alen);
	if (!at) {
		bh_strlcpy(out, url, outsz);
		return;
	}
	snprintf(out, outsz, "%.*s****%s", (int)(auth - url), url, at);
}

/* An override must be an http(s) URL with a host and no query: what the
 * transport can append "/model/..." to. Returns a copy without the
 * trailing '/'. */
static char *clean_override(const char *url, const origin *o, bhive_error *err)
{
	const char *rest = bh_starts_with(url, "https://") ? url + 8
	                   : bh_starts_with(url, "http://") ? url + 7
	                                                     : NULL;
	size_t n = strlen(url);
	if (!rest || !*rest || *rest == '/' || strpbrk(url, "?# \t\r\n") ||
	    !bh_endpoint_url_is_valid(url)) {
		char shown[512];
		url_for_message(url, shown, sizeof(shown));
		bh_error_set(err, BHIVE_ERR_INVALID,
		             "invalid endpoint URL \"%s\" from %s: expected "
		             "http(s)://host[:port][/path]",
		             shown, o->text);
		return NULL;
	}
	while (n > (size_t)(rest - url) && url[n - 1] == '/')
		n--;
	char *dup = bh_strndup(url, n);
	if (!dup)
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	return dup;
}

char *bh_resolve_endpoint(const char *explicit_url, const char *region, int use_fips,
                          int use_dualstack, const bh_aws_config *cfg, bhive_error *err)
{
	origin o;
	const char *url;
	bh_endpoint_params p = { .region = region && *region ? region : NULL };
	if (pick_override(explicit_url, cfg, &url, &o, err) ||
	    setting_bool(use_fips, ENV_FIPS, cfg, "use_fips_endpoint", &p.use_fips, err) ||
	    setting_bool(use_dualstack, ENV_DUALSTACK, cfg, "use_dualstack_endpoint",
	                 &p.use_dualstack, err))
		return NULL;
	if (!url && !p.region) {
		bh_error_set(err, BHIVE_ERR_REGION, NO_REGION);
		return NULL;
	}
	if (!url && !bh_region_is_valid(p.region)) {
		bh_error_set(err, BHIVE_ERR_INVALID,
		             "invalid region \"%s\": expected a name like us-east-1", p.region);
		return NULL;
	}
	char *clean = url ? clean_override(url, &o, err) : NULL;
	if (url && !clean)
		return NULL;
	p.endpoint = clean;
	char *res = bh_endpoint_rules_resolve(&p, err);
	bh_free(clean);
	return res;
}
