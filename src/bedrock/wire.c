/* wire.c - Converse request/response wire form and restJson1 errors. */
#include "bedrock/wire.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many bytes of an unexpected body an error message shows. */
#define BH_QUOTE_MAX 80

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Encoded on the stack and appended once: this runs for every call, and a
 * byte-at-a-time append showed in the per-call CPU. Same output as
 * bh_uri_encode (which long ids fall back to). */
/* Ids too long for the stack buffer (none are, in practice). */
static int converse_path_slow(bh_buf *out, const char *model_id, size_t n)
{
	if (bh_buf_puts(out, "/model/") || bh_uri_encode(out, model_id, n, false))
		return BHIVE_ERR_NOMEM;
	return bh_buf_puts(out, "/converse");
}

int bh_converse_path(bh_buf *out, const char *model_id)
{
	static const char hex[] = "0123456789ABCDEF";
	char tmp[3 * 256 + 32];
	size_t n = strlen(model_id), k = 7;
	if (n > 256)
		return converse_path_slow(out, model_id, n);
	memcpy(tmp, "/model/", 7);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)model_id[i];
		if (unreserved(c)) {
			tmp[k++] = (char)c;
		} else {
			tmp[k++] = '%';
			tmp[k++] = hex[c >> 4];
			tmp[k++] = hex[c & 15];
		}
	}
	memcpy(tmp + k, "/converse", 9);
	return bh_buf_append(out, tmp, k + 9);
}

/* ---- the request body ---------------------------------------------------
 *
 * The body is written here rather than by json_dumps: a debate request
 * carries the whole history plus the other agents' answers (tens of
 * kilobytes, 32 of them per round, all on the round's critical path), and
 * jansson's dumper goes through a callback per run of plain bytes. The
 * output is byte for byte json_dumps(request, JSON_COMPACT): members in
 * insertion order, the same escapes, reals formatted by jansson itself.
 */

#define BH_DUMP_MAX_DEPTH 2048

/* Why the writer stopped; any other non-zero value is out of memory. */
#define BH_BODY_NOT_UTF8 (-2)
#define BH_BODY_TOO_DEEP (-3)

/* 1 for the ASCII bytes a JSON string carries as they are. */
static const unsigned char plain_ascii[256] = {
    [0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x22 is '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x5C is '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* The short escapes jansson writes; other control bytes become \u00XX. */
static char short_escape(unsigned char c)
{
	switch (c) {
	case '"': return '"';
	case '\\': return '\\';
	case '\b': return 'b';
	case '\f': return 'f';
	case '\n': return 'n';
	case '\r': return 'r';
	case '\t': return 't';
	default: return 0;
	}
}

/* For 8 bytes of text loaded little-endian: the high bit of each byte that
 * cannot be copied as it is (a control byte, '"', '\\' or non-ASCII). A
 * flag can be false above a true one, never below: the lowest flag is
 * exact, and only the lowest is used. */
static inline uint64_t special8(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
	return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & high;
}

/* Input bytes escaped per step: each takes at most 6 output bytes, so a
 * step reserves its worst case once and then writes without checks. */
#define BH_STRING_STEP 1024

/* A JSON string, written straight into the buffer: eight plain bytes at a
 * time, up to the first byte that needs care. */
static int put_string(bh_buf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	if (bh_buf_putc(b, '"'))
		return -1;
	while (i < n) {
		size_t end = n - i > BH_STRING_STEP ? i + BH_STRING_STEP : n;
		/* 8 bytes may be copied past end; a UTF-8 sequence runs 3 past */
		if (bh_buf_reserve(b, (end - i) * 6 + 16))
			return -1;
		char *o = b->data + b->len;
		while (i < end) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			if (n - i >= 8) {
				uint64_t x;
				memcpy(&x, s + i, 8);
				uint64_t m = special8(x);
				memcpy(o, &x, 8);
				size_t k = m ? (size_t)__builtin_ctzll(m) >> 3 : 8;
				o += k;
				i += k;
				if (k == 8 || i >= end)
					continue;
			}
#endif
			unsigned char c = s[i];
			if (plain_ascii[c]) {
				*o++ = (char)c;
				i++;
			} else if (c >= 0x80) {
				size_t step = bh_utf8_seq(s + i, n - i);
				if (!step)
					return BH_BODY_NOT_UTF8;
				memcpy(o, s + i, step);
				o += step;
				i += step;
			} else {
				char e = short_escape(c);
				*o++ = '\\';
				if (e) {
					*o++ = e;
				} else {
					memcpy(o, "u00", 3);
					o[3] = hex[c >> 4];
					o[4] = hex[c & 15];
					o += 5;
				}
				i++;
			}
		}
		b->len = (size_t)(o - b->data);
		b->data[b->len] = '\0';
	}
	return bh_buf_putc(b, '"');
}

/* Numbers and constants, reals through jansson for its exact formatting. */
static int put_scalar(bh_buf *b, const json_t *v)
{
	char num[32];
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return bh_buf_puts(b, num);
	case JSON_TRUE:
		return bh_buf_puts(b, "true");
	case JSON_FALSE:
		return bh_buf_puts(b, "false");
	case JSON_NULL:
		return bh_buf_puts(b, "null");
	default: {
		char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		int rc = t ? bh_buf_puts(b, t) : -1;
		free(t);
		return rc;
	}
	}
}

static int put_value(bh_buf *b, const json_t *v, int depth);

/* An object's members in insertion order (jansson's order without
 * JSON_SORT_KEYS); skip names one member to leave out (or NULL). */
static int put_object(bh_buf *b, const json_t *v, const char *skip, int depth)
{
	int rc = bh_buf_putc(b, '{');
	bool first = true;
	for (void *it = json_object_iter((json_t *)v); it && !rc;
	     it = json_object_iter_next((json_t *)v, it)) {
		const char *key = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		if (skip && klen == strlen(skip) && memcmp(key, skip, klen) == 0)
			continue;
		if (!first)
			rc = bh_buf_putc(b, ',');
		first = false;
		rc = rc ? rc : put_string(b, key, klen);
		rc = rc ? rc : bh_buf_putc(b, ':');
		rc = rc ? rc : put_value(b, json_object_iter_value(it), depth + 1);
	}
	return rc ? rc : bh_buf_putc(b, '}');
}

static int put_array(bh_buf *b, const json_t *v, int depth)
{
	int rc = bh_buf_putc(b, '[');
	for (size_t i = 0; i < json_array_size(v) && !rc; i++) {
		if (i)
			rc = bh_buf_putc(b, ',');
		rc = rc ? rc : put_value(b, json_array_get(v, i), depth + 1);
	}
	return rc ? rc : bh_buf_putc(b, ']');
}

static int put_value(bh_buf *b, const json_t *v, int depth)
{
	if (!v)
		return -1;
	if (depth > BH_DUMP_MAX_DEPTH)
		return BH_BODY_TOO_DEEP;
	if (json_is_object(v))
		return put_object(b, v, NULL, depth);
	if (json_is_array(v))
		return put_array(b, v, depth);
	if (json_is_string(v))
		return put_string(b, json_string_value(v), json_string_length(v));
	return put_scalar(b, v);
}

/* The last body's size, a hint for the next one's buffer: growing a
 * buffer by doubling up to tens of kilobytes costs a chain of reallocs per
 * call. Only a hint, so threads may race on it. */
static _Atomic size_t body_hint = 1024;

/* The model id travels in the path, so the body carries every other member
 * exactly as the caller wrote it. */
char *bh_converse_body(const json_t *request, size_t *len, bhive_error *err)
{
	if (!json_is_object(request)) {
		bh_error_set(err, BHIVE_ERR_INVALID, "converse request is not a JSON object");
		return NULL;
	}
	size_t hint = body_hint;
	bh_buf b;
	bh_buf_init(&b, 0);
	int rc = bh_buf_reserve(&b, hint + hint / 4 + 64);
	rc = rc ? rc : put_object(&b, request, "modelId", 0);
	if (rc) {
		bh_buf_release(&b);
		if (rc == BH_BODY_TOO_DEEP)
			bh_error_set(err, BHIVE_ERR_INVALID,
			             "converse request nests deeper than %d levels", BH_DUMP_MAX_DEPTH);
		else if (rc == BH_BODY_NOT_UTF8)
			bh_error_set(err, BHIVE_ERR_INVALID,
			             "converse request has a string that is not valid UTF-8");
		else
			bh_error_set(err, BHIVE_ERR_NOMEM,
			             "out of memory serialising a converse request");
		return NULL;
	}
	body_hint = b.len;
	if (len)
		*len = b.len;
	return bh_buf_steal(&b);
}

const char *bh_http_header(const char *const *headers, const char *name, size_t *len)
{
	size_t n = strlen(name);
	for (size_t i = 0; headers && headers[i]; i++) {
		const char *h = headers[i];
		if (strncasecmp(h, name, n) != 0 || h[n] != ':')
			continue;
		const char *v = h + n + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t vl = strlen(v);
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
			vl--;
		if (len)
			*len = vl;
		return v;
	}
	return NULL;
}

/* restJson1 rule: the shape name is what is left after cutting a trailing
 * ":<url>" and a leading "<namespace>#". */
static void sanitize_type(const char *s, size_t n, char *out, size_t outsz)
{
	const char *colon = memchr(s, ':', n);
	if (colon)
		n = (size_t)(colon - s);
	for (size_t i = n; i > 0; i--) {
		if (s[i - 1] == '#') {
			s += i;
			n -= i;
			break;
		}
	}
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

void bh_restjson_error_type(const char *header, size_t header_len, const json_t *body, char *out,
                            size_t outsz)
{
	const char *s = header;
	size_t n = header_len;
	if (!s) {
		s = bh_json_str(body, "code");
		if (!s)
			s = bh_json_str(body, "__type");
		n = s ? strlen(s) : 0;
	}
	if (!s) {
		out[0] = '\0';
		return;
	}
	sanitize_type(s, n, out, outsz);
}

static const struct {
	const char *type;
	int code;
} service_types[] = {
    {"ThrottlingException", BHIVE_ERR_SERVICE_THROTTLED},
    {"TooManyRequestsException", BHIVE_ERR_SERVICE_THROTTLED},
    {"ValidationException", BHIVE_ERR_SERVICE_VALIDATION},
    {"ConflictException", BHIVE_ERR_SERVICE_VALIDATION},
    {"AccessDeniedException", BHIVE_ERR_SERVICE_ACCESS},
    {"UnrecognizedClientException", BHIVE_ERR_SERVICE_ACCESS},
    {"InvalidSignatureException", BHIVE_ERR_SERVICE_ACCESS},
    {"SignatureDoesNotMatch", BHIVE_ERR_SERVICE_ACCESS},
    {"IncompleteSignature", BHIVE_ERR_SERVICE_ACCESS},
    {"IncompleteSignatureException", BHIVE_ERR_SERVICE_ACCESS},
    {"MissingAuthenticationTokenException", BHIVE_ERR_SERVICE_ACCESS},
    {"ExpiredTokenException", BHIVE_ERR_SERVICE_ACCESS},
    {"UnauthorizedException", BHIVE_ERR_SERVICE_ACCESS},
    {"ResourceNotFoundException", BHIVE_ERR_SERVICE_NOT_FOUND},
    {"ModelTimeoutException", BHIVE_ERR_SERVICE_MODEL_TIMEOUT},
    {"ModelErrorException", BHIVE_ERR_SERVICE_MODEL_ERROR},
    {"ModelStreamErrorException", BHIVE_ERR_SERVICE_MODEL_ERROR},
    {"ModelNotReadyException", BHIVE_ERR_SERVICE_NOT_READY},
    {"InternalServerException", BHIVE_ERR_SERVICE_INTERNAL},
    {"InternalFailure", BHIVE_ERR_SERVICE_INTERNAL},
    {"ServiceUnavailableException", BHIVE_ERR_SERVICE_UNAVAILABLE},
    {"ServiceUnavailable", BHIVE_ERR_SERVICE_UNAVAILABLE},
    {"ServiceQuotaExceededException", BHIVE_ERR_SERVICE_QUOTA},
};

/* Known shapes decide; an unmodeled type falls back on the status class,
 * since 429 and 5xx mean the same to a caller whatever their name. */
int bh_service_error_code(const char *error_type, long status)
{
	for (size_t i = 0; error_type && i < BH_ARRAY_LEN(service_types); i++)
		if (strcmp(error_type, service_types[i].type) == 0)
			return service_types[i].code;
	if (status == 429)
		return BHIVE_ERR_SERVICE_THROTTLED;
	if (status == 401 || status == 403)
		return BHIVE_ERR_SERVICE_ACCESS;
	if (status == 404)
		return BHIVE_ERR_SERVICE_NOT_FOUND;
	if (status == 503)
		return BHIVE_ERR_SERVICE_UNAVAILABLE;
	if (status >= 500)
		return BHIVE_ERR_SERVICE_INTERNAL;
	return BHIVE_ERR_SERVICE;
}

void bh_quote_bytes(const char *p, size_t n, size_t max, char *out, size_t outsz)
{
	bh_buf b;
	bh_buf_init(&b, outsz > 8 ? outsz - 8 : 1);
	int rc = bh_buf_putc(&b, '"');
	for (size_t i = 0; i < n && i < max && rc == 0; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\')
			rc = bh_buf_printf(&b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			rc = bh_buf_printf(&b, "\\x%02x", c);
		else
			rc = bh_buf_putc(&b, (char)c);
	}
	if (rc == 0)
		rc = bh_buf_puts(&b, n > max ? "\"..." : "\"");
	bh_strlcpy(out, b.data ? b.data : "\"\"", outsz);
	bh_buf_release(&b);
}

/* The service's own words: restJson1 uses "message", some services
 * "Message" (the Smithy tests have both). */
static const char *error_message(const json_t *body)
{
	const char *m = bh_json_str(body, "message");
	return m ? m : bh_json_str(body, "Message");
}

static void fill_service_error(const char *model_id, const bhive_http_response *resp,
                               const json_t *body, bhive_error *err)
{
	char type[64], quoted[BH_QUOTE_MAX * 4 + 8];
	size_t hl = 0;
	const char *h = bh_http_header(resp->headers, "x-amzn-ErrorType", &hl);
	bh_restjson_error_type(h, hl, body, type, sizeof(type));
	const char *msg = error_message(body);
	if (!body && resp->body_len) {
		bh_quote_bytes(resp->body, resp->body_len, BH_QUOTE_MAX, quoted, sizeof(quoted));
		msg = quoted;
	}
	int code = bh_service_error_code(type, resp->status);
	if (type[0] && msg)
		bh_error_set(err, code, "model \"%s\" returned %s: %s", model_id, type, msg);
	else if (type[0])
		bh_error_set(err, code, "model \"%s\" returned %s (HTTP %ld)", model_id, type,
		             resp->status);
	else if (msg)
		bh_error_set(err, code, "model \"%s\" returned HTTP %ld: %s", model_id,
		             resp->status, msg);
	else
		bh_error_set(err, code, "model \"%s\" returned HTTP %ld", model_id, resp->status);
	if (err && err->code == code) {
		err->http_status = (int)resp->status;
		bh_strlcpy(err->error_type, type, sizeof(err->error_type));
	}
}

static void fill_request_id(const bhive_http_response *resp, bhive_error *err)
{
	size_t n = 0;
	const char *id = bh_http_header(resp->headers, "x-amzn-RequestId", &n);
	if (!err || !id)
		return;
	if (n >= sizeof(err->request_id))
		n = sizeof(err->request_id) - 1;
	memcpy(err->request_id, id, n);
	err->request_id[n] = '\0';
}

static json_t *parse_error(const char *model_id, const bhive_http_response *resp, bhive_error *err)
{
	json_t *body = NULL;
	if (resp->body_len)
		body = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (body && !json_is_object(body)) {
		json_decref(body);
		body = NULL;
	}
	bhive_error e;
	bhive_error_clear(&e);
	fill_service_error(model_id, resp, body, &e);
	fill_request_id(resp, &e);
	bh_strlcpy(e.source, model_id, sizeof(e.source));
	bh_error_copy(err, &e);
	json_decref(body);
	return NULL;
}

static json_t *not_converse(const char *model_id, const bhive_http_response *resp, const char *why,
                            int line, int column, bhive_error *err)
{
	char quoted[BH_QUOTE_MAX * 4 + 8];
	bh_quote_bytes(resp->body ? resp->body : "", resp->body_len, BH_QUOTE_MAX, quoted,
	               sizeof(quoted));
	if (err && !err->code) {
		bh_error_set(err, BHIVE_ERR_PARSE,
		             "response from model \"%s\" is not a Converse response: %s; body %s",
		             model_id, why, quoted);
		err->http_status = (int)resp->status;
		err->line = line;
		err->column = column;
		bh_strlcpy(err->source, model_id, sizeof(err->source));
		fill_request_id(resp, err);
	}
	return NULL;
}

json_t *bh_converse_parse(const char *model_id, const bhive_http_response *resp, bhive_error *err)
{
	if (resp->status < 200 || resp->status > 299)
		return parse_error(model_id, resp, err);
	json_error_t je;
	json_t *v = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, &je);
	if (!v) {
		char why[200];
		snprintf(why, sizeof(why), "invalid JSON (%s at line %d column %d)", je.text,
		         je.line, je.column);
		return not_converse(model_id, resp, why, je.line, je.column, err);
	}
	json_t *msg = json_object_get(json_object_get(v, "output"), "message");
	if (!json_is_object(msg)) {
		json_decref(v);
		return not_converse(model_id, resp, "no output.message object", 0, 0, err);
	}
	return v;
}

/* Text blocks joined without a separator: reasoning, tool use and other
 * blocks are not part of "the answer". */
char *bhive_response_text(const json_t *response)
{
	json_t *content = json_object_get(
	    json_object_get(json_object_get(response, "output"), "message"), "content");
	bh_buf b;
	bh_buf_init(&b, 0);
	bool any = false;
	size_t i;
	json_t *block;
	json_array_foreach(content, i, block)
	{
		json_t *t = json_object_get(block, "text");
		if (!json_is_string(t))
			continue;
		any = true;
		if (bh_buf_append(&b, json_string_value(t), json_string_length(t))) {
			bh_buf_release(&b);
			return NULL;
		}
	}
	if (!any)
		return NULL;
	if (!b.data)
		return bh_strdup("");
	return bh_buf_steal(&b);
}
