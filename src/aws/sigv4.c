/*
 * sigv4.c - AWS Signature Version 4 signing and verification.
 *
 * Design: one pass builds the canonical request straight into the result's
 * buffer; a scratch buffer in the result holds the signed-header list, the
 * normalised path and the re-encoded query parameters, so a reused result
 * signs without touching the heap. HMAC is built on a per-thread EVP
 * SHA-256 context (RFC 2104 over two digest runs), which avoids OpenSSL 3's
 * per-call MAC fetch and allocation. The derived signing key is cached per
 * thread for (date, region, service, secret).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "aws/sigv4.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define STACK_ENTRIES 32

/* ---- per-thread crypto state ------------------------------------------ */

typedef struct sig_tls {
	EVP_MD_CTX *md;
	bool key_valid;
	char key_date[9];
	char key_region[64];
	char key_service[64];
	char key_secret[128];
	unsigned char key[32];
} sig_tls;

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key;
static EVP_MD *sha256_md;

/* Frees a thread's state when the thread ends; the cached secret is wiped. */
static void tls_destroy(void *p)
{
	sig_tls *t = p;
	if (!t)
		return;
	EVP_MD_CTX_free(t->md);
	OPENSSL_cleanse(t, sizeof(*t));
	bh_free(t);
}

/* The digest is fetched once: an implicit fetch on every init is what makes
 * OpenSSL 3's one-shot calls slow. */
static void tls_init_once(void)
{
	pthread_key_create(&tls_key, tls_destroy);
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_type(void)
{
	return sha256_md ? sha256_md : EVP_sha256();
}

/* This thread's state, created on first use; NULL only when out of memory. */
static sig_tls *tls_get(void)
{
	pthread_once(&tls_once, tls_init_once);
	sig_tls *t = pthread_getspecific(tls_key);
	if (t)
		return t;
	t = bh_calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->md = EVP_MD_CTX_new();
	if (!t->md || pthread_setspecific(tls_key, t)) {
		EVP_MD_CTX_free(t->md);
		bh_free(t);
		return NULL;
	}
	return t;
}

/* SHA-256 over up to two pieces, on the thread's reusable context. Falls
 * back to a private context when none can be had (out of memory). */
static void digest2(const void *a, size_t alen, const void *b, size_t blen, unsigned char out[32])
{
	sig_tls *t = tls_get();
	EVP_MD_CTX *md = t ? t->md : EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = md && EVP_DigestInit_ex2(md, sha256_type(), NULL) &&
	         EVP_DigestUpdate(md, a, alen) && (!blen || EVP_DigestUpdate(md, b, blen)) &&
	         EVP_DigestFinal_ex(md, out, &n);
	if (!ok)
		memset(out, 0, 32);
	if (!t)
		EVP_MD_CTX_free(md);
}

void bh_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char d[32];
	digest2(data, len, "", 0, d);
	bh_hex(d, 32, out);
}

void bh_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[32])
{
	unsigned char k[64] = { 0 }, pad[64], inner[32];
	if (keylen > sizeof(k))
		digest2(key, keylen, "", 0, k);
	else if (keylen)
		memcpy(k, key, keylen);
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x36;
	digest2(pad, sizeof(pad), data, len, inner);
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x5c;
	digest2(pad, sizeof(pad), inner, sizeof(inner), out);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
}

void bh_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, unsigned char out[32])
{
	/* "AWS4" + secret is the first HMAC key. HMAC hashes keys longer than
	 * a block first, so a long one is hashed here in two pieces instead of
	 * being copied. */
	unsigned char k0[64], k[32];
	size_t slen = strlen(secret), klen = 4 + slen;
	if (klen > sizeof(k0)) {
		digest2("AWS4", 4, secret, slen, k0);
		klen = 32;
	} else {
		memcpy(k0, "AWS4", 4);
		memcpy(k0 + 4, secret, slen);
	}
	bh_hmac_sha256(k0, klen, date, strlen(date), k);
	bh_hmac_sha256(k, 32, region, strlen(region), k);
	bh_hmac_sha256(k, 32, service, strlen(service), k);
	bh_hmac_sha256(k, 32, "aws4_request", 12, out);
	OPENSSL_cleanse(k0, sizeof(k0));
	OPENSSL_cleanse(k, sizeof(k));
}

/* The signing key changes once a day per scope, so one cached entry per
 * thread saves four HMACs on nearly every call. Values too long for the
 * cache are derived every time. */
static void cached_signing_key(const char *secret, const char *date, const char *region,
                               const char *service, unsigned char out[32])
{
	sig_tls *t = tls_get();
	bool cacheable = t && strlen(secret) < sizeof(t->key_secret) &&
	                 strlen(region) < sizeof(t->key_region) &&
	                 strlen(service) < sizeof(t->key_service);
	if (cacheable && t->key_valid && !strcmp(t->key_date, date) &&
	    !strcmp(t->key_region, region) && !strcmp(t->key_service, service) &&
	    !strcmp(t->key_secret, secret)) {
		memcpy(out, t->key, 32);
		return;
	}
	bh_sigv4_signing_key(secret, date, region, service, out);
	if (!cacheable)
		return;
	bh_strlcpy(t->key_date, date, sizeof(t->key_date));
	bh_strlcpy(t->key_region, region, sizeof(t->key_region));
	bh_strlcpy(t->key_service, service, sizeof(t->key_service));
	bh_strlcpy(t->key_secret, secret, sizeof(t->key_secret));
	memcpy(t->key, out, 32);
	t->key_valid = true;
}

/* ---- result ------------------------------------------------------------ */

void bh_sigv4_result_init(bh_sigv4_result *r)
{
	memset(r, 0, sizeof(*r));
	bh_buf_init(&r->canonical_request, 0);
	bh_buf_init(&r->string_to_sign, 0);
	bh_buf_init(&r->authorization, 0);
	bh_buf_init(&r->signed_query, 0);
	bh_buf_init(&r->scratch, 0);
}

void bh_sigv4_result_release(bh_sigv4_result *r)
{
	if (!r)
		return;
	bh_buf_release(&r->canonical_request);
	bh_buf_release(&r->string_to_sign);
	bh_buf_release(&r->authorization);
	bh_buf_release(&r->signed_query);
	bh_buf_release(&r->scratch);
}

static void result_reset(bh_sigv4_result *r)
{
	bh_buf_reset(&r->canonical_request);
	bh_buf_reset(&r->string_to_sign);
	bh_buf_reset(&r->authorization);
	bh_buf_reset(&r->signed_query);
	bh_buf_reset(&r->scratch);
	r->signature[0] = r->amz_date[0] = r->payload_hash[0] = '\0';
}

/* ---- encoding helpers --------------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-encodes s, leaving unreserved bytes and those in keep alone.
 * Runs of kept bytes are appended at once: this is the signer's hot loop. */
static int encode_keep(bh_buf *out, const char *s, size_t n, const char *keep)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && (is_unreserved((unsigned char)s[run]) ||
		                   (s[run] && strchr(keep, s[run]))))
			run++;
		if (run > i && bh_buf_append(out, s + i, run - i))
			return BHIVE_ERR_NOMEM;
		if (run == n)
			break;
		unsigned char c = (unsigned char)s[run];
		char e[3] = { '%', digits[c >> 4], digits[c & 15] };
		if (bh_buf_append(out, e, 3))
			return BHIVE_ERR_NOMEM;
		i = run + 1;
	}
	return 0;
}

/* Decodes %XX escapes (a stray '%' stays literal) and encodes the result
 * again: the canonical form of a query key or value, whichever way the
 * caller wrote it. */
static int canonical_component(bh_buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0) {
			c = (char)(hexval((unsigned char)s[i + 1]) * 16 +
			           hexval((unsigned char)s[i + 2]));
			i += 2;
		}
		if (encode_keep(out, &c, 1, ""))
			return BHIVE_ERR_NOMEM;
	}
	return 0;
}

/* ---- canonical URI ------------------------------------------------------ */

/*
 * RFC 3986 dot-segment removal plus collapsing of empty segments, as the
 * SDKs do for every service but S3: "//a/./b/../" -> "/a/". Appends to out.
 */
static int normalise_path(bh_buf *out, const char *path)
{
	size_t base = out->len, n = strlen(path);
	const char *p = path, *end = path + n;
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *seg_end = slash ? slash : end;
		size_t len = (size_t)(seg_end - p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (out->len > base && out->data[out->len - 1] != '/')
				out->len--;
			if (out->len > base)
				out->len--;
			out->data[out->len] = '\0';
		} else if (len && !(len == 1 && p[0] == '.')) {
			if (bh_buf_putc(out, '/') || bh_buf_append(out, p, len))
				return BHIVE_ERR_NOMEM;
		}
		p = seg_end + (slash ? 1 : 0);
	}
	if (out->len == base || (n && path[n - 1] == '/'))
		return bh_buf_putc(out, '/') ? BHIVE_ERR_NOMEM : 0;
	return 0;
}

/* Appends the canonical URI of path to out, using scratch for the
 * normalised form (restored afterwards). */
static int put_canonical_uri(bh_buf *out, bh_buf *scratch, const char *path,
                             const bh_sigv4_params *p)
{
	if (!path || !*path)
		path = "/";
	size_t mark = scratch->len;
	const char *src = path;
	size_t n = strlen(path);
	if (p->normalize_path) {
		if (normalise_path(scratch, path))
			return BHIVE_ERR_NOMEM;
		src = scratch->data + mark;
		n = scratch->len - mark;
	}
	int rc = encode_keep(out, src, n, p->double_encode_path ? "/" : "/%");
	scratch->len = mark;
	if (scratch->data)
		scratch->data[mark] = '\0';
	return rc;
}

/* ---- canonical query ---------------------------------------------------- */

typedef struct qparam {
	size_t koff, klen, voff, vlen;
	const char *base;
} qparam;

static int qparam_cmp(const void *a, const void *b)
{
	const qparam *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->base + x->koff, y->base + y->koff, n);
	if (c || x->klen != y->klen)
		return c ? c : (x->klen < y->klen ? -1 : 1);
	n = x->vlen < y->vlen ? x->vlen : y->vlen;
	c = memcmp(x->base + x->voff, y->base + y->voff, n);
	if (c || x->vlen != y->vlen)
		return c ? c : (x->vlen < y->vlen ? -1 : 1);
	return 0;
}

static size_t count_params(const char *q, size_t n)
{
	size_t count = n ? 1 : 0;
	for (size_t i = 0; i < n; i++)
		count += q[i] == '&';
	return count;
}

/* Re-encodes every non-empty "k[=v]" of q into scratch, recording offsets. */
static int encode_params(bh_buf *scratch, const char *q, size_t n, qparam *ps, size_t *count)
{
	const char *p = q, *end = q + n;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		if (pe > p) {
			const char *eq = memchr(p, '=', (size_t)(pe - p));
			const char *ke = eq ? eq : pe;
			qparam *qp = &ps[(*count)++];
			qp->koff = scratch->len;
			if (canonical_component(scratch, p, (size_t)(ke - p)))
				return BHIVE_ERR_NOMEM;
			qp->klen = scratch->len - qp->koff;
			qp->voff = scratch->len;
			if (eq && canonical_component(scratch, eq + 1, (size_t)(pe - eq - 1)))
				return BHIVE_ERR_NOMEM;
			qp->vlen = scratch->len - qp->voff;
		}
		p = pe + (amp ? 1 : 0);
	}
	return 0;
}

/* Appends the canonical query of the raw query q (plus extra, the presign
 * parameters, already encoded) to out: sorted by key then value. */
static int put_canonical_query(bh_buf *out, bh_buf *scratch, const char *q, const char *extra)
{
	q = q ? q : "";
	extra = extra ? extra : "";
	size_t qn = strlen(q), xn = strlen(extra);
	size_t max = count_params(q, qn) + count_params(extra, xn);
	if (!max)
		return 0;
	qparam stack[STACK_ENTRIES], *ps = stack;
	if (max > STACK_ENTRIES && !(ps = bh_malloc(max * sizeof(*ps))))
		return BHIVE_ERR_NOMEM;
	size_t mark = scratch->len, count = 0;
	int rc = encode_params(scratch, q, qn, ps, &count);
	if (!rc)
		rc = encode_params(scratch, extra, xn, ps, &count);
	for (size_t i = 0; !rc && i < count; i++)
		ps[i].base = scratch->data;
	if (!rc && count)
		qsort(ps, count, sizeof(*ps), qparam_cmp);
	for (size_t i = 0; !rc && i < count; i++) {
		if ((i && bh_buf_putc(out, '&')) ||
		    bh_buf_append(out, scratch->data + ps[i].koff, ps[i].klen) ||
		    bh_buf_putc(out, '=') ||
		    bh_buf_append(out, scratch->data + ps[i].voff, ps[i].vlen))
			rc = BHIVE_ERR_NOMEM;
	}
	scratch->len = mark;
	if (scratch->data)
		scratch->data[mark] = '\0';
	if (ps != stack)
		bh_free(ps);
	return rc;
}

/* ---- canonical headers -------------------------------------------------- */

typedef struct hdr {
	const char *name;
	size_t nlen;
	const char *value;
} hdr;

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Orders names as their lowercase bytes would sort. */
static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	for (size_t i = 0; i < n; i++) {
		int d = lower((unsigned char)a[i]) - lower((unsigned char)b[i]);
		if (d)
			return d;
	}
	return an == bn ? 0 : (an < bn ? -1 : 1);
}

static bool name_is(const char *name, size_t n, const char *lc)
{
	return strlen(lc) == n && name_cmp(name, n, lc, n) == 0;
}

/* Headers a proxy or the HTTP layer may add or change, which the SDKs never
 * sign, plus those this signer writes itself (a caller's token header is
 * signed as it is when no token is given in the parameters). */
static bool skipped_header(const char *name, size_t n, const bh_sigv4_params *p)
{
	static const char *const never[] = { "authorization", "user-agent", "expect",
		                             "transfer-encoding", "connection",
		                             "x-amzn-trace-id" };
	for (size_t i = 0; i < BH_ARRAY_LEN(never); i++)
		if (name_is(name, n, never[i]))
			return true;
	if (p->sign_query)
		return false;
	bool own_token = p->session_token && *p->session_token;
	return name_is(name, n, "x-amz-date") ||
	       (own_token && name_is(name, n, "x-amz-security-token")) ||
	       (p->content_sha256_header && name_is(name, n, "x-amz-content-sha256"));
}

/* Stable insertion sort: duplicates keep request order, so their values
 * join in the order they were sent. Header lists are short. */
static void sort_headers(hdr *h, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		hdr cur = h[i];
		size_t j = i;
		while (j > 0 && name_cmp(h[j - 1].name, h[j - 1].nlen, cur.name, cur.nlen) > 0) {
			h[j] = h[j - 1];
			j--;
		}
		h[j] = cur;
	}
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trimmed value with each run of whitespace collapsed to one space. */
static int put_header_value(bh_buf *out, const char *v)
{
	bool first = true;
	for (;;) {
		while (is_space(*v))
			v++;
		if (!*v)
			return 0;
		const char *word = v;
		while (*v && !is_space(*v))
			v++;
		if ((!first && bh_buf_putc(out, ' ')) ||
		    bh_buf_append(out, word, (size_t)(v - word)))
			return BHIVE_ERR_NOMEM;
		first = false;
	}
}

/* Lowercases through a small stack buffer: one append per 64 bytes. */
static int put_lower(bh_buf *out, const char *s, size_t n)
{
	char chunk[64];
	while (n) {
		size_t k = n < sizeof(chunk) ? n : sizeof(chunk);
		for (size_t i = 0; i < k; i++)
			chunk[i] = (char)lower((unsigned char)s[i]);
		if (bh_buf_append(out, chunk, k))
			return BHIVE_ERR_NOMEM;
		s += k;
		n -= k;
	}
	return 0;
}

static bool same_name(const hdr *a, const hdr *b)
{
	return !name_cmp(a->name, a->nlen, b->name, b->nlen);
}

/* "a;b;c": each distinct name once, lowercase. */
static int put_names(bh_buf *names, const hdr *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i && same_name(&h[i - 1], &h[i]))
			continue;
		if ((i && bh_buf_putc(names, ';')) || put_lower(names, h[i].name, h[i].nlen))
			return BHIVE_ERR_NOMEM;
	}
	return 0;
}

/* "name:v1,v2\n" per distinct name. */
static int put_header_block(bh_buf *out, const hdr *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc;
		if (i && same_name(&h[i - 1], &h[i]))
			rc = bh_buf_putc(out, ',');
		else
			rc = (i && bh_buf_putc(out, '\n')) ||
			     put_lower(out, h[i].name, h[i].nlen) || bh_buf_putc(out, ':');
		if (rc || put_header_value(out, h[i].value))
			return BHIVE_ERR_NOMEM;
	}
	return n && bh_buf_putc(out, '\n') ? BHIVE_ERR_NOMEM : 0;
}

static void add_hdr(hdr *h, size_t *n, const char *name, const char *value)
{
	h[*n].name = name;
	h[*n].nlen = strlen(name);
	h[*n].value = value ? value : "";
	(*n)++;
}

/* The request's headers that get signed, plus the ones the signer adds. */
static size_t collect_headers(const bh_sigv4_request *req, const bh_sigv4_params *p,
                              const bh_sigv4_result *out, hdr *h)
{
	size_t n = 0;
	for (size_t i = 0; i < req->num_headers; i++) {
		const char *name = req->headers[i].name;
		if (name && !skipped_header(name, strlen(name), p))
			add_hdr(h, &n, name, req->headers[i].value);
	}
	if (p->sign_query)
		return n;
	add_hdr(h, &n, "x-amz-date", out->amz_date);
	if (p->session_token && *p->session_token && !p->omit_session_token)
		add_hdr(h, &n, "x-amz-security-token", p->session_token);
	if (p->content_sha256_header)
		add_hdr(h, &n, "x-amz-content-sha256", out->payload_hash);
	return n;
}

/* Verifier mode: exactly the listed headers, each of which must exist. */
static int collect_listed(const bh_sigv4_request *req, const char *list, hdr *h, size_t *n,
                          bhive_error *err)
{
	*n = 0;
	for (const char *s = list; *s;) {
		const char *semi = strchr(s, ';');
		size_t len = semi ? (size_t)(semi - s) : strlen(s);
		size_t before = *n;
		for (size_t i = 0; i < req->num_headers; i++) {
			const char *name = req->headers[i].name;
			if (name && strlen(name) == len && !name_cmp(name, len, s, len))
				add_hdr(h, n, name, req->headers[i].value);
		}
		if (*n == before)
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "signed header \"%.*s\" is missing from the request",
			                    (int)(len > 64 ? 64 : len), s);
		s += len + (semi ? 1 : 0);
	}
	return 0;
}

static size_t count_list(const char *list)
{
	size_t n = 1;
	for (; *list; list++)
		n += *list == ';';
	return n;
}

/* The headers to sign, sorted; *h may be replaced by a heap array. */
static int sorted_headers(const bh_sigv4_request *req, const bh_sigv4_params *p,
                          const bh_sigv4_result *res, hdr **h, size_t *n, bhive_error *err)
{
	size_t max = req->num_headers + 3;
	if (p->only_headers)
		max = req->num_headers * count_list(p->only_headers) + 1;
	if (max > STACK_ENTRIES && !(*h = bh_malloc(max * sizeof(**h))))
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory signing a request");
	*n = 0;
	if (p->only_headers) {
		int rc = collect_listed(req, p->only_headers, *h, n, err);
		if (rc)
			return rc;
	} else {
		*n = collect_headers(req, p, res, *h);
	}
	sort_headers(*h, *n);
	return 0;
}

/* ---- signing ------------------------------------------------------------ */

static int check_params(const bh_sigv4_request *req, const bh_sigv4_params *p, bhive_error *err)
{
	const char *missing = !req || !req->method || !*req->method     ? "method"
	                      : !p->access_key_id || !*p->access_key_id ? "access key id"
	                      : !p->secret_access_key || !*p->secret_access_key
	                          ? "secret access key"
	                      : !p->region || !*p->region   ? "region"
	                      : !p->service || !*p->service ? "service"
	                                                    : NULL;
	if (missing)
		return bh_error_set(err, BHIVE_ERR_INVALID, "cannot sign request: no %s given",
		                    missing);
	if (req->num_headers && !req->headers)
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "cannot sign request: no headers given");
	return 0;
}

static void set_payload_hash(const bh_sigv4_request *req, bh_sigv4_result *out)
{
	if (req->payload_hash && *req->payload_hash)
		bh_strlcpy(out->payload_hash, req->payload_hash, sizeof(out->payload_hash));
	else
		bh_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0,
		              out->payload_hash);
}

/* "20150830/us-east-1/service/aws4_request" */
static int put_scope(bh_buf *b, const bh_sigv4_result *out, const bh_sigv4_params *p)
{
	return bh_buf_append(b, out->amz_date, 8) || bh_buf_putc(b, '/') ||
	       bh_buf_puts(b, p->region) || bh_buf_putc(b, '/') || bh_buf_puts(b, p->service) ||
	       bh_buf_puts(b, "/aws4_request");
}

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/* "YYYYMMDDTHHMMSSZ" without strftime, which showed in profiles. */
static void format_amz_date(int64_t t, char out[17])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		bh_amz_date(t, out);
		return;
	}
	int y = tm.tm_year + 1900;
	put2(out, y / 100);
	put2(out + 2, y % 100);
	put2(out + 4, tm.tm_mon + 1);
	put2(out + 6, tm.tm_mday);
	out[8] = 'T';
	put2(out + 9, tm.tm_hour);
	put2(out + 11, tm.tm_min);
	put2(out + 13, tm.tm_sec);
	out[15] = 'Z';
	out[16] = '\0';
}

/* Presign parameters in the order aws-c-auth writes them, before the
 * signature; the token goes here unless it must stay unsigned. */
static int put_presign_params(bh_buf *q, const bh_sigv4_params *p, const bh_sigv4_result *out,
                              const char *names, size_t names_len)
{
	int rc = bh_buf_puts(q, "X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=") ||
	         encode_keep(q, p->access_key_id, strlen(p->access_key_id), "") ||
	         bh_buf_puts(q, "%2F") || bh_buf_append(q, out->amz_date, 8) ||
	         bh_buf_puts(q, "%2F") || encode_keep(q, p->region, strlen(p->region), "") ||
	         bh_buf_puts(q, "%2F") || encode_keep(q, p->service, strlen(p->service), "") ||
	         bh_buf_puts(q, "%2Faws4_request&X-Amz-Date=") || bh_buf_puts(q, out->amz_date) ||
	         bh_buf_puts(q, "&X-Amz-SignedHeaders=") ||
	         encode_keep(q, names, names_len, "") ||
	         bh_buf_printf(q, "&X-Amz-Expires=%ld", p->expires > 0 ? p->expires : 3600L);
	if (!rc && p->session_token && *p->session_token && !p->omit_session_token)
		rc = bh_buf_puts(q, "&X-Amz-Security-Token=") ||
		     encode_keep(q, p->session_token, strlen(p->session_token), "");
	return rc ? BHIVE_ERR_NOMEM : 0;
}

/* The part of the canonical request before the header block. */
static int put_request_line(bh_sigv4_result *out, const bh_sigv4_request *req,
                            const bh_sigv4_params *p, const char *extra_query)
{
	bh_buf *cr = &out->canonical_request;
	if (bh_buf_puts(cr, req->method) || bh_buf_putc(cr, '\n') ||
	    put_canonical_uri(cr, &out->scratch, req->path, p) || bh_buf_putc(cr, '\n') ||
	    put_canonical_query(cr, &out->scratch, req->query, extra_query) ||
	    bh_buf_putc(cr, '\n'))
		return BHIVE_ERR_NOMEM;
	return 0;
}

/* String to sign, signature and Authorization value from the finished
 * canonical request. */
static int finish_signature(bh_sigv4_result *out, const bh_sigv4_params *p, const char *names,
                            size_t names_len)
{
	char crhash[65];
	bh_sha256_hex(out->canonical_request.data, out->canonical_request.len, crhash);
	bh_buf *sts = &out->string_to_sign;
	if (bh_buf_puts(sts, ALGORITHM "\n") || bh_buf_puts(sts, out->amz_date) ||
	    bh_buf_putc(sts, '\n') || put_scope(sts, out, p) || bh_buf_putc(sts, '\n') ||
	    bh_buf_puts(sts, crhash))
		return BHIVE_ERR_NOMEM;
	char date[9];
	memcpy(date, out->amz_date, 8);
	date[8] = '\0';
	unsigned char key[32], mac[32];
	cached_signing_key(p->secret_access_key, date, p->region, p->service, key);
	bh_hmac_sha256(key, 32, sts->data, sts->len, mac);
	OPENSSL_cleanse(key, sizeof(key));
	bh_hex(mac, 32, out->signature);
	bh_buf *a = &out->authorization;
	if (bh_buf_puts(a, ALGORITHM " Credential=") || bh_buf_puts(a, p->access_key_id) ||
	    bh_buf_putc(a, '/') || put_scope(a, out, p) || bh_buf_puts(a, ", SignedHeaders=") ||
	    bh_buf_append(a, names, names_len) || bh_buf_puts(a, ", Signature=") ||
	    bh_buf_puts(a, out->signature))
		return BHIVE_ERR_NOMEM;
	return 0;
}

/* Presign: after the caller's query and the X-Amz-* parameters come any
 * unsigned token and the signature. */
static int finish_query(bh_sigv4_result *out, const bh_sigv4_params *p)
{
	bh_buf *q = &out->signed_query;
	int rc = 0;
	if (p->session_token && *p->session_token && p->omit_session_token)
		rc = bh_buf_puts(q, "&X-Amz-Security-Token=") ||
		     encode_keep(q, p->session_token, strlen(p->session_token), "");
	if (!rc)
		rc = bh_buf_puts(q, "&X-Amz-Signature=") || bh_buf_puts(q, out->signature);
	return rc ? BHIVE_ERR_NOMEM : 0;
}

/* Presign: the caller's query first, then the X-Amz-* parameters, whose
 * offset in signed_query goes to *extra_off. */
static int start_query(bh_sigv4_result *out, const bh_sigv4_request *req,
                       const bh_sigv4_params *p, size_t names_len, size_t *extra_off)
{
	bh_buf *q = &out->signed_query;
	if (req->query && *req->query && (bh_buf_puts(q, req->query) || bh_buf_putc(q, '&')))
		return BHIVE_ERR_NOMEM;
	*extra_off = q->len;
	return put_presign_params(q, p, out, out->scratch.data, names_len);
}

/*
 * Canonical request, in order: the signed-header list goes to the start of
 * scratch first (presigning needs it in the query), then method, URI and
 * query (which use scratch beyond it), the header block, list and payload.
 */
static int build_canonical(const bh_sigv4_request *req, const bh_sigv4_params *p,
                           bh_sigv4_result *out, const hdr *h, size_t n, size_t *names_len)
{
	size_t extra_off = 0;
	if (put_names(&out->scratch, h, n) || bh_buf_putc(&out->scratch, '\0'))
		return BHIVE_ERR_NOMEM;
	*names_len = out->scratch.len - 1;
	if (p->sign_query && start_query(out, req, p, *names_len, &extra_off))
		return BHIVE_ERR_NOMEM;
	if (put_request_line(out, req, p,
	                     p->sign_query ? out->signed_query.data + extra_off : NULL))
		return BHIVE_ERR_NOMEM;
	bh_buf *cr = &out->canonical_request;
	if (put_header_block(cr, h, n) || bh_buf_putc(cr, '\n') ||
	    bh_buf_append(cr, out->scratch.data, *names_len) || bh_buf_putc(cr, '\n') ||
	    bh_buf_puts(cr, out->payload_hash))
		return BHIVE_ERR_NOMEM;
	return 0;
}

static int sign_steps(const bh_sigv4_request *req, const bh_sigv4_params *p,
                      bh_sigv4_result *out, bhive_error *err)
{
	hdr stack[STACK_ENTRIES], *h = stack;
	size_t n = 0, names_len = 0;
	int rc = sorted_headers(req, p, out, &h, &n, err);
	if (!rc) {
		rc = build_canonical(req, p, out, h, n, &names_len);
		if (!rc)
			rc = finish_signature(out, p, out->scratch.data, names_len);
		if (!rc && p->sign_query)
			rc = finish_query(out, p);
		if (rc)
			rc = bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory signing a request");
	}
	if (h != stack)
		bh_free(h);
	return rc;
}

int bh_sigv4_sign(const bh_sigv4_request *req, const bh_sigv4_params *p,
                  bh_sigv4_result *out, bhive_error *err)
{
	result_reset(out);
	int rc = check_params(req, p, err);
	if (rc)
		return rc;
	format_amz_date(p->time, out->amz_date);
	set_payload_hash(req, out);
	return sign_steps(req, p, out, err);
}

/* ---- dates --------------------------------------------------------------- */

static bool digits_at(const char *s, size_t from, size_t n, long *out)
{
	long v = 0;
	for (size_t i = from; i < from + n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

int64_t bh_sigv4_parse_amz_date(const char *s)
{
	long y, mo, d, h, mi, se;
	if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' || !digits_at(s, 0, 4, &y) ||
	    !digits_at(s, 4, 2, &mo) || !digits_at(s, 6, 2, &d) || !digits_at(s, 9, 2, &h) ||
	    !digits_at(s, 11, 2, &mi) || !digits_at(s, 13, 2, &se))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -1;
	struct tm tm = { 0 };
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)mo - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)se;
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t;
}

/* ---- Authorization header parsing --------------------------------------- */

#define AUTH_BAD(err, ...)                                                                         \
	bh_error_set(err, BHIVE_ERR_SERVICE_ACCESS, "malformed authorization header: " __VA_ARGS__)

/* Copies [s, s+n) into a fixed field, refusing empty or oversized values. */
static int copy_field(char *dst, size_t size, const char *s, size_t n, const char *what,
                      bhive_error *err)
{
	if (!n)
		return AUTH_BAD(err, "empty %s", what);
	if (n >= size)
		return AUTH_BAD(err, "%s longer than %zu characters", what, size - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static bool all_chars(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok =
		    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c && strchr(extra, c));
		if (!ok)
			return false;
	}
	return true;
}

/* Credential=KEY/YYYYMMDD/region/service/aws4_request */
static int parse_credential(const char *s, size_t n, bh_sigv4_auth *out, bhive_error *err)
{
	const char *part[5];
	size_t len[5], k = 0;
	const char *p = s, *end = s + n;
	while (k < 5) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		part[k] = p;
		len[k] = (size_t)((slash ? slash : end) - p);
		k++;
		if (!slash)
			break;
		p = slash + 1;
	}
	if (k != 5 || part[4] + len[4] != end)
		return AUTH_BAD(err, "Credential must be KEY/YYYYMMDD/REGION/SERVICE/aws4_request");
	long date;
	if (len[1] != 8 || !digits_at(part[1], 0, 8, &date))
		return AUTH_BAD(err, "credential date \"%.*s\" is not YYYYMMDD",
		                (int)(len[1] > 16 ? 16 : len[1]), part[1]);
	if (len[4] != 12 || memcmp(part[4], "aws4_request", 12))
		return AUTH_BAD(err, "credential scope does not end in aws4_request");
	if (!all_chars(part[0], len[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") ||
	    !all_chars(part[2], len[2], "-") || !all_chars(part[3], len[3], "-._"))
		return AUTH_BAD(err, "credential has invalid characters");
	if (copy_field(out->access_key_id, sizeof(out->access_key_id), part[0], len[0],
	               "access key id", err) ||
	    copy_field(out->date, sizeof(out->date), part[1], len[1], "date", err) ||
	    copy_field(out->region, sizeof(out->region), part[2], len[2], "region", err) ||
	    copy_field(out->service, sizeof(out->service), part[3], len[3], "service", err))
		return BHIVE_ERR_SERVICE_ACCESS;
	return 0;
}

/* SignedHeaders: lowercase names, strictly ascending, ';'-separated. */
static int parse_signed_headers(const char *s, size_t n, bh_sigv4_auth *out, bhive_error *err)
{
	int rc = copy_field(out->signed_headers, sizeof(out->signed_headers), s, n,
	                    "SignedHeaders", err);
	if (rc)
		return rc;
	if (!all_chars(s, n, "-_.;"))
		return AUTH_BAD(err, "SignedHeaders must be lowercase header names");
	const char *prev = NULL;
	size_t prev_len = 0;
	for (const char *p = out->signed_headers; *p;) {
		size_t len = strcspn(p, ";");
		if (!len)
			return AUTH_BAD(err, "empty name in SignedHeaders");
		if (prev && name_cmp(prev, prev_len, p, len) >= 0)
			return AUTH_BAD(err, "SignedHeaders are not sorted and unique at \"%.*s\"",
			                (int)(len > 64 ? 64 : len), p);
		prev = p;
		prev_len = len;
		p += len + (p[len] == ';');
		if (p[-1] == ';' && !*p)
			return AUTH_BAD(err, "empty name in SignedHeaders");
	}
	return 0;
}

static int parse_signature(const char *s, size_t n, bh_sigv4_auth *out, bhive_error *err)
{
	if (n != 64 || !all_chars(s, n, "") || strspn(s, "0123456789abcdef") < 64)
		return AUTH_BAD(err, "Signature must be 64 lowercase hex digits");
	return copy_field(out->signature, sizeof(out->signature), s, n, "Signature", err);
}

/* One "Name=value" component; each name may appear once. */
static int parse_component(const char *s, size_t n, bh_sigv4_auth *out, unsigned *seen,
                           bhive_error *err)
{
	static const char *const names[] = { "Credential=", "SignedHeaders=", "Signature=" };
	for (unsigned i = 0; i < 3; i++) {
		size_t kl = strlen(names[i]);
		if (n < kl || memcmp(s, names[i], kl))
			continue;
		if (*seen & (1u << i))
			return AUTH_BAD(err, "%.*s appears twice", (int)kl - 1, names[i]);
		*seen |= 1u << i;
		if (i == 0)
			return parse_credential(s + kl, n - kl, out, err);
		if (i == 1)
			return parse_signed_headers(s + kl, n - kl, out, err);
		return parse_signature(s + kl, n - kl, out, err);
	}
	const char *eq = memchr(s, '=', n);
	size_t shown = eq ? (size_t)(eq - s) : n;
	return AUTH_BAD(err, "unknown component \"%.*s\"", (int)(shown > 32 ? 32 : shown), s);
}

int bh_sigv4_parse_authorization(const char *value, bh_sigv4_auth *out, bhive_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!value)
		return bh_error_set(err, BHIVE_ERR_SERVICE_ACCESS, "missing authorization header");
	size_t alg = strlen(ALGORITHM);
	if (strncmp(value, ALGORITHM, alg) || value[alg] != ' ')
		return AUTH_BAD(err, "algorithm is not " ALGORITHM);
	const char *p = value + alg;
	unsigned seen = 0;
	while (*(p += strspn(p, " "))) {
		size_t n = strcspn(p, ",");
		size_t trimmed = n;
		while (trimmed && p[trimmed - 1] == ' ')
			trimmed--;
		if (!trimmed)
			return AUTH_BAD(err, "empty component");
		int rc = parse_component(p, trimmed, out, &seen, err);
		if (rc)
			return rc;
		p += n;
		if (*p == ',' && !p[1 + strspn(p + 1, " ")])
			return AUTH_BAD(err, "trailing comma");
		if (*p == ',')
			p++;
	}
	static const char *const names[] = { "Credential", "SignedHeaders", "Signature" };
	for (unsigned i = 0; i < 3; i++)
		if (!(seen & (1u << i)))
			return AUTH_BAD(err, "missing %s", names[i]);
	return 0;
}

/* ---- verification --------------------------------------------------------- */

static const char *find_header(const bh_sigv4_request *req, const char *lc)
{
	size_t n = strlen(lc);
	for (size_t i = 0; i < req->num_headers; i++) {
		const char *name = req->headers[i].name;
		if (name && strlen(name) == n && !name_cmp(name, n, lc, n))
			return req->headers[i].value ? req->headers[i].value : "";
	}
	return NULL;
}

static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ";");
		if (len == n && !memcmp(p, name, n))
			return true;
		p += len + (p[len] == ';');
	}
	return false;
}

/* The payload hash the client signed: the body's, or a declared one that
 * must agree with the body (UNSIGNED-PAYLOAD excepted). */
static int verify_payload(const bh_sigv4_request *req, char out[65], bhive_error *err)
{
	bh_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, out);
	const char *declared = find_header(req, "x-amz-content-sha256");
	if (!declared)
		return 0;
	if (!strcmp(declared, "UNSIGNED-PAYLOAD")) {
		bh_strlcpy(out, declared, 65);
		return 0;
	}
	if (strcmp(declared, out))
		return bh_error_set(err, BHIVE_ERR_SERVICE_ACCESS,
		                    "x-amz-content-sha256 does not match the request body");
	return 0;
}

/* Header-level checks before any hashing: date format and scope, and the
 * headers AWS insists are signed. */
static int verify_headers(const bh_sigv4_request *req, const bh_sigv4_auth *auth,
                          int64_t *t, bhive_error *err)
{
	const char *date = find_header(req, "x-amz-date");
	if (!date)
		return bh_error_set(err, BHIVE_ERR_SERVICE_ACCESS, "missing X-Amz-Date header");
	*t = bh_sigv4_parse_amz_date(date);
	if (*t < 0)
		return bh_error_set(err, BHIVE_ERR_SERVICE_ACCESS,
		                    "X-Amz-Date \"%.20s\" is not YYYYMMDDTHHMMSSZ", date);
	if (strncmp(date, auth->date, 8))
		return bh_error_set(err, BHIVE_ERR_SERVICE_ACCESS,
		                    "credential date \"%s\" does not match X-Amz-Date \"%.16s\"",
		                    auth->date, date);
	if (!list_has(auth->signed_headers, "host") ||
	    !list_has(auth->signed_headers, "x-amz-date"))
		return bh_error_set(err, BHIVE_ERR_SERVICE_ACCESS,
		                    "host and x-amz-date must be signed (SignedHeaders=%s)",
		                    auth->signed_headers);
	return 0;
}

int bh_sigv4_verify(const bh_sigv4_request *req, const bh_sigv4_auth *auth,
                    const char *secret_access_key, int64_t *req_time, bh_sigv4_result *scratch,
                    bhive_error *err)
{
	int64_t t = 0;
	char payload[65];
	int rc = verify_headers(req, auth, &t, err);
	if (!rc)
		rc = verify_payload(req, payload, err);
	if (rc)
		return rc;
	if (req_time)
		*req_time = t;
	bh_sigv4_request r = *req;
	r.payload_hash = payload;
	bh_sigv4_params p = { .access_key_id = auth->access_key_id,
		              .secret_access_key = secret_access_key,
		              .region = auth->region,
		              .service = auth->service,
		              .time = t,
		              .double_encode_path = true,
		              .normalize_path = true,
		              .only_headers = auth->signed_headers };
	bh_sigv4_result local, *res = scratch ? scratch : &local;
	if (!scratch)
		bh_sigv4_result_init(&local);
	rc = bh_sigv4_sign(&r, &p, res, err);
	if (rc == BHIVE_ERR_INVALID && err && err->code == rc)
		err->code = BHIVE_ERR_SERVICE_ACCESS;
	else if (!rc && CRYPTO_memcmp(res->signature, auth->signature, 64))
		rc = bh_error_set(err, BHIVE_ERR_SERVICE_ACCESS,
		                  "signature does not match for access key \"%s\"",
		                  auth->access_key_id);
	if (!scratch)
		bh_sigv4_result_release(&local);
	return rc == BHIVE_ERR_INVALID ? BHIVE_ERR_SERVICE_ACCESS : rc;
}
