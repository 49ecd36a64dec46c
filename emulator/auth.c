/*
 * auth.c - who may call the emulator: SigV4 against configured keys,
 * Bedrock API keys as bearer tokens, or anyone with a well-formed SigV4
 * header when no key is configured (permissive mode, so a newcomer's own
 * AWS environment just works).
 *
 * The signature is recomputed with the library's signer over the request
 * exactly as received: the raw path, the headers the client listed in
 * SignedHeaders, and the body. Errors carry AWS's exception names and
 * sentences so that SDKs raise the same exceptions as against Bedrock.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "aws/sigv4.h"
#include "emu.h"

#define SKEW_SECONDS 300

static const char *header(const emu_auth_request *r, const char *name)
{
	for (size_t i = 0; i < r->num_headers; i++)
		if (bh_strcaseeq(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

static int deny(emu_status *st, const char *type, const char *msg)
{
	emu_status_set(st, 403, type, "%s", msg);
	return -1;
}

static const char unrecognized[] = "The security token included in the request is invalid.";

static int check_bearer(const emu_config *c, const char *token, emu_status *st)
{
	if (c->num_api_keys == 0 && c->num_keys == 0)
		return token[0] ? 0
		                : deny(st, "AccessDeniedException",
		                       "Authentication failed: Please make sure your API Key "
		                       "is valid.");
	for (size_t i = 0; i < c->num_api_keys; i++)
		if (strcmp(c->api_keys[i], token) == 0)
			return 0;
	return deny(st, "AccessDeniedException",
	            "Authentication failed: Please make sure your API Key is valid.");
}

/* AWS rejects a request signed more than five minutes away from its clock. */
static int check_skew(int64_t t, int64_t now, const char *amz_date, emu_status *st)
{
	char now_s[17], edge[17];
	bh_amz_date(now, now_s);
	if (t < now - SKEW_SECONDS) {
		bh_amz_date(now - SKEW_SECONDS, edge);
		emu_status_set(st, 403, "InvalidSignatureException",
		               "Signature expired: %s is now earlier than %s (%s - 5 min.)",
		               amz_date, edge, now_s);
		return -1;
	}
	if (t > now + SKEW_SECONDS) {
		bh_amz_date(now + SKEW_SECONDS, edge);
		emu_status_set(st, 403, "InvalidSignatureException",
		               "Signature not yet current: %s is still later than %s (%s + 5 min.)",
		               amz_date, edge, now_s);
		return -1;
	}
	return 0;
}

static const emu_key *find_key(const emu_config *c, const char *id)
{
	for (size_t i = 0; i < c->num_keys; i++)
		if (strcmp(c->keys[i].access_key_id, id) == 0)
			return &c->keys[i];
	return NULL;
}

static const char bad_signature[] =
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service "
    "documentation for details.";

/* The library's verifier recomputes the signature over exactly the headers
 * the client listed, the raw path and the body. */
static int verify_signature(const emu_auth_request *r, const bh_sigv4_auth *a, const emu_key *key,
                            emu_status *st)
{
	bh_sigv4_header *hs = bh_calloc(r->num_headers ? r->num_headers : 1, sizeof(*hs));
	if (!hs)
		return deny(st, "InternalServerException", "out of memory");
	for (size_t i = 0; i < r->num_headers; i++)
		hs[i] = (bh_sigv4_header){r->headers[i].name, r->headers[i].value};
	bh_sigv4_request req = {r->method,      r->raw_path, r->query,    hs,
	                        r->num_headers, r->body,     r->body_len, NULL};
	int rc = bh_sigv4_verify(&req, a, key->secret_access_key, NULL, NULL, NULL);
	bh_free(hs);
	return rc == 0 ? 0 : deny(st, "InvalidSignatureException", bad_signature);
}

/* Session tokens belong to temporary keys: the token sent must be the one
 * configured for the key, and a key without one must not get one. */
static int check_token(const emu_auth_request *r, const emu_key *key, emu_status *st)
{
	const char *tok = header(r, "x-amz-security-token");
	if (key->session_token ? bh_streq(tok, key->session_token) : tok == NULL)
		return 0;
	return deny(st, "UnrecognizedClientException", unrecognized);
}

static int check_sigv4(const emu_config *c, const emu_auth_request *r, const char *value,
                       emu_status *st)
{
	bh_sigv4_auth a;
	bhive_error e;
	memset(&e, 0, sizeof(e));
	if (bh_sigv4_parse_authorization(value, &a, &e) != 0)
		return deny(
		    st, "IncompleteSignatureException",
		    e.message[0]
		        ? e.message
		        : "Authorization header is not a valid AWS Signature Version 4 header.");
	const char *amz_date = header(r, "x-amz-date");
	int64_t t = bh_sigv4_parse_amz_date(amz_date);
	if (t < 0)
		return deny(st, "IncompleteSignatureException",
		            "Authorization header requires existence of either a 'X-Amz-Date' or "
		            "a 'Date' header.");
	const emu_key *key = find_key(c, a.access_key_id);
	bool permissive = c->num_keys == 0 && c->num_api_keys == 0;
	if (!key && !permissive)
		return deny(st, "UnrecognizedClientException", unrecognized);
	if (strcmp(a.service, "bedrock") != 0)
		return deny(st, "InvalidSignatureException",
		            "Credential should be scoped to correct service: 'bedrock'. ");
	if (check_skew(t, r->now, amz_date, st))
		return -1;
	if (!key)
		return 0;
	if (check_token(r, key, st))
		return -1;
	return verify_signature(r, &a, key, st);
}

int emu_auth_check(const emu_config *c, const emu_auth_request *r, emu_status *st)
{
	const char *auth = header(r, "authorization");
	if (!auth || !auth[0])
		return deny(st, "MissingAuthenticationTokenException",
		            "Missing Authentication Token");
	if (strncasecmp(auth, "Bearer ", 7) == 0)
		return check_bearer(c, auth + 7, st);
	if (strncmp(auth, "AWS4-HMAC-SHA256 ", 17) == 0)
		return check_sigv4(c, r, auth, st);
	return deny(st, "IncompleteSignatureException",
	            "Authorization header requires 'Credential' parameter. Authorization header "
	            "requires 'Signature' parameter. Authorization header requires "
	            "'SignedHeaders' parameter.");
}
