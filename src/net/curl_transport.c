/* curl_transport.c - the bhive_transport vtable on libcurl's multi interface. */
#include "net/http.h"
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

/* Connections kept open while idle, for reuse. */
#define BH_IDLE_CONNECTIONS 512L

/* A finished transfer keeps big buffers only up to this size when pooled. */
#define BH_POOL_KEEP_BYTES ((size_t)1 << 20)

typedef struct bh_curl bh_curl;

typedef struct bh_xfer {
	bh_curl *owner;
	CURL *easy;
	struct bh_xfer *next, *prev; /* active list, or free list (next only) */
	bh_buf req_body;
	bh_buf req_hdr;           /* request header lines, each NUL-terminated */
	struct curl_slist *nodes; /* the header list over req_hdr */
	size_t nodes_cap;
	bh_buf body;
	bh_buf hdr; /* response header lines, each NUL-terminated */
	const char **hdr_ptrs;
	size_t hdr_cap;
	bhive_http_done_fn done;
	void *call_ud;
	char host[128];
	char errbuf[CURL_ERROR_SIZE];
	int64_t last_ms; /* when the last byte arrived (or the send) */
	long read_ms;
	bool too_big;
	bool nomem;
	bool stalled; /* read timeout */
} bh_xfer;

struct bh_curl {
	CURLM *multi;
	bh_xfer *active;
	bh_xfer *free_list;
	int inflight;
	char *ca_file;
	size_t max_body;
	long handles;
	int64_t next_scan; /* next look for stalled transfers */
	long scan_ms;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	bh_xfer *x = ud;
	size_t len = size * n;
	x->last_ms = bh_now_ms();
	if (x->body.len + len > x->owner->max_body) {
		x->too_big = true;
		return 0;
	}
	if (bh_buf_append(&x->body, p, len)) {
		x->nomem = true;
		return 0;
	}
	return len;
}

/* Header lines of the final response only: an interim 1xx response (or
 * anything before the last status line) starts the list afresh. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	bh_xfer *x = ud;
	size_t len = size * n;
	x->last_ms = bh_now_ms();
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		bh_buf_reset(&x->hdr);
		return len;
	}
	size_t l = len;
	while (l && (p[l - 1] == '\r' || p[l - 1] == '\n'))
		l--;
	if (l == 0)
		return len;
	if (bh_buf_append(&x->hdr, p, l) || bh_buf_putc(&x->hdr, '\0')) {
		x->nomem = true;
		return 0;
	}
	return len;
}

/* Options that never change between requests are set once per handle. */
static int setup_easy(bh_curl *c, bh_xfer *x)
{
	CURL *e = curl_easy_init();
	if (!e)
		return BHIVE_ERR_NOMEM;
	x->easy = e;
	c->handles++;
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	return 0;
}

static bh_xfer *xfer_get(bh_curl *c)
{
	bh_xfer *x = c->free_list;
	if (x) {
		c->free_list = x->next;
		return x;
	}
	x = bh_calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->owner = c;
	bh_buf_init(&x->req_body, 0);
	bh_buf_init(&x->req_hdr, 0);
	bh_buf_init(&x->body, 0);
	bh_buf_init(&x->hdr, 0);
	if (setup_easy(c, x)) {
		bh_free(x);
		return NULL;
	}
	return x;
}

static void xfer_destroy(bh_xfer *x)
{
	curl_easy_cleanup(x->easy);
	bh_free(x->nodes);
	bh_buf_release(&x->req_hdr);
	bh_buf_release(&x->req_body);
	bh_buf_release(&x->body);
	bh_buf_release(&x->hdr);
	bh_free(x->hdr_ptrs);
	bh_free(x);
}

/* Back to the free list with its memory, unless one response made the
 * buffers large: those are dropped so a rare huge body is not kept. */
static void xfer_put(bh_curl *c, bh_xfer *x)
{
	if (x->body.cap > BH_POOL_KEEP_BYTES)
		bh_buf_release(&x->body);
	if (x->req_body.cap > BH_POOL_KEEP_BYTES)
		bh_buf_release(&x->req_body);
	bh_buf_reset(&x->body);
	bh_buf_reset(&x->req_body);
	bh_buf_reset(&x->hdr);
	x->too_big = x->nomem = x->stalled = false;
	x->done = NULL;
	x->next = c->free_list;
	x->prev = NULL;
	c->free_list = x;
}

/* The host (and port) of a URL, without any user:password@ part, so error
 * messages can name it safely. */
static void url_host(const char *url, char *out, size_t outsz)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* The header list is built in the transfer's own memory and kept with it:
 * libcurl only walks a curl_slist, and curl_slist_append would cost two
 * allocations per header per request. The strings are copied, so the
 * caller's may go away after send. */
static int set_headers(bh_xfer *x, const bhive_http_request *req)
{
	size_t n = 0;
	bh_buf_reset(&x->req_hdr);
	for (; req->headers && req->headers[n]; n++)
		if (bh_buf_puts(&x->req_hdr, req->headers[n]) || bh_buf_putc(&x->req_hdr, '\0'))
			return BHIVE_ERR_NOMEM;
	/* No "Expect: 100-continue" round trip before bodies over 1 KiB. */
	if (bh_buf_puts(&x->req_hdr, "Expect:") || bh_buf_putc(&x->req_hdr, '\0'))
		return BHIVE_ERR_NOMEM;
	if (n + 1 > x->nodes_cap) {
		struct curl_slist *p = bh_realloc(x->nodes, (n + 1) * sizeof(*p));
		if (!p)
			return BHIVE_ERR_NOMEM;
		x->nodes = p;
		x->nodes_cap = n + 1;
	}
	char *d = x->req_hdr.data;
	for (size_t i = 0; i <= n; i++, d += strlen(d) + 1) {
		x->nodes[i].data = d;
		x->nodes[i].next = i < n ? &x->nodes[i + 1] : NULL;
	}
	return 0;
}

static void set_method(bh_xfer *x, const bhive_http_request *req)
{
	CURL *e = x->easy;
	if (bh_streq(req->method, "GET") && req->body_len == 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		return;
	}
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->req_body.data ? x->req_body.data : "");
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req_body.len);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
	                 bh_streq(req->method, "POST") || !req->method ? NULL : req->method);
}

/* Per-request options: everything that depends on req. The read timeout is
 * not libcurl's low-speed check, whose speed average still counts the
 * upload for seconds: the poll loop looks for transfers with no byte for
 * read_ms instead. */
static int prepare(bh_xfer *x, const bhive_http_request *req)
{
	if (bh_buf_append(&x->req_body, req->body ? req->body : "", req->body_len))
		return BHIVE_ERR_NOMEM;
	if (set_headers(x, req))
		return BHIVE_ERR_NOMEM;
	CURL *e = x->easy;
	long connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 60000;
	long read_ms = req->read_timeout_ms > 0 ? req->read_timeout_ms : 300000;
	x->errbuf[0] = '\0';
	x->read_ms = read_ms;
	x->last_ms = bh_now_ms();
	url_host(req->url, x->host, sizeof(x->host));
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->nodes);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	/* Waiting for a connection to multiplex on only pays where HTTP/2 can
	 * be negotiated, that is over TLS. */
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, bh_starts_with(req->url, "https:") ? 1L : 0L);
	set_method(x, req);
	return 0;
}

static void list_add(bh_curl *c, bh_xfer *x)
{
	x->prev = NULL;
	x->next = c->active;
	if (c->active)
		c->active->prev = x;
	c->active = x;
	c->inflight++;
}

static void list_remove(bh_curl *c, bh_xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		c->active = x->next;
	if (x->next)
		x->next->prev = x->prev;
	c->inflight--;
}

static int curl_send(void *ud, const bhive_http_request *req, bhive_http_done_fn done,
                     void *call_ud, bhive_error *err)
{
	bh_curl *c = ud;
	if (!req || !req->url || !done)
		return bh_error_set(err, BHIVE_ERR_INVALID, "http request without url or callback");
	bh_xfer *x = xfer_get(c);
	if (!x)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory starting a request");
	int rc = prepare(x, req);
	if (rc == 0 && curl_multi_add_handle(c->multi, x->easy) != CURLM_OK)
		rc = BHIVE_ERR_NETWORK;
	if (rc) {
		xfer_put(c, x);
		return bh_error_set(err, rc, "cannot start a request to \"%s\"", x->host);
	}
	x->done = done;
	x->call_ud = call_ud;
	list_add(c, x);
	long scan = x->read_ms / 10 < 10 ? 10 : x->read_ms / 10;
	if (scan < c->scan_ms)
		c->scan_ms = scan;
	return 0;
}

/* Builds the NULL-terminated header array over the NUL-separated lines. */
static const char *const *header_array(bh_xfer *x)
{
	size_t count = 0;
	for (size_t i = 0; i < x->hdr.len; i++)
		count += x->hdr.data[i] == '\0';
	if (count + 1 > x->hdr_cap) {
		const char **p = bh_realloc(x->hdr_ptrs, (count + 1) * sizeof(*p));
		if (!p)
			return NULL;
		x->hdr_ptrs = p;
		x->hdr_cap = count + 1;
	}
	size_t k = 0;
	for (size_t i = 0; i < x->hdr.len; i += strlen(x->hdr.data + i) + 1)
		x->hdr_ptrs[k++] = x->hdr.data + i;
	x->hdr_ptrs[k] = NULL;
	return x->hdr_ptrs;
}

static void fail_error(bh_xfer *x, CURLcode rc, bhive_error *e)
{
	const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
	if (x->too_big)
		bh_error_set(e, BHIVE_ERR_PARSE,
		             "response from \"%s\" is larger than the limit of %zu bytes", x->host,
		             x->owner->max_body);
	else if (x->nomem)
		bh_error_set(e, BHIVE_ERR_NOMEM, "out of memory reading a response from \"%s\"",
		             x->host);
	else if (x->stalled)
		bh_error_set(e, BHIVE_ERR_TIMEOUT,
		             "request to \"%s\" timed out: no data for %ld ms", x->host,
		             x->read_ms);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		bh_error_set(e, BHIVE_ERR_TIMEOUT, "request to \"%s\" timed out: %s", x->host, why);
	else
		bh_error_set(e, BHIVE_ERR_NETWORK, "request to \"%s\" failed: %s", x->host, why);
	bh_strlcpy(e->source, x->host, sizeof(e->source));
}

/* Hands a finished transfer to its caller. The transfer goes back to the
 * pool only after the callback, which borrows its buffers (and may start
 * new requests, which must not reuse this one). */
static void finish(bh_curl *c, bh_xfer *x, CURLcode rc)
{
	curl_multi_remove_handle(c->multi, x->easy);
	list_remove(c, x);
	bhive_error e;
	bhive_error_clear(&e);
	bhive_http_response resp = {0};
	if (rc == CURLE_OK && !x->too_big && !x->nomem && !x->stalled) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &resp.status);
		resp.headers = header_array(x);
		resp.body = x->body.data ? x->body.data : "";
		resp.body_len = x->body.len;
		if (!resp.headers)
			x->nomem = true;
	}
	if (rc != CURLE_OK || x->too_big || x->nomem || x->stalled) {
		fail_error(x, rc, &e);
		x->done(x->call_ud, NULL, &e);
	} else {
		x->done(x->call_ud, &resp, NULL);
	}
	xfer_put(c, x);
}

static int drain(bh_curl *c)
{
	int done = 0, left;
	CURLMsg *m;
	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		bh_xfer *x = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		finish(c, x, m->data.result);
		done++;
	}
	return done;
}

/* Ends transfers that received nothing for their read timeout. Looked for
 * every scan_ms, not on every wake-up, so a busy loop does not pay for it. */
static int reap_stalled(bh_curl *c, int64_t now)
{
	if (now < c->next_scan)
		return 0;
	c->next_scan = now + c->scan_ms;
	int n = 0;
	bh_xfer *x = c->active;
	while (x) {
		bh_xfer *next = x->next;
		if (now - x->last_ms > x->read_ms) {
			x->stalled = true;
			finish(c, x, CURLE_OPERATION_TIMEDOUT);
			n++;
		}
		x = next;
	}
	return n;
}

/* Runs transfers until one finishes or the time is up; a finished transfer
 * returns at once so the client can act on it (retry timers, callbacks).
 * Waiting comes first: curl_multi_perform walks every transfer, so it runs
 * once per wake-up, and a just-added transfer makes the wait return at once
 * (libcurl arms a zero timeout for it). */
static int curl_poll(void *ud, long timeout_ms)
{
	bh_curl *c = ud;
	int64_t deadline = bh_now_ms() + (timeout_ms < 0 ? 1000 : timeout_ms);
	for (;;) {
		int64_t now = bh_now_ms();
		int64_t wait = (deadline < c->next_scan ? deadline : c->next_scan) - now;
		wait = wait < 0 ? 0 : wait > 1000 ? 1000 : wait;
		int running;
		if (curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL) != CURLM_OK ||
		    curl_multi_perform(c->multi, &running) != CURLM_OK)
			return -1;
		int done = drain(c);
		done += reap_stalled(c, bh_now_ms());
		if (done > 0 || c->inflight == 0 || bh_now_ms() >= deadline)
			break;
	}
	return c->inflight;
}

static void curl_destroy(void *ud)
{
	bh_curl *c = ud;
	if (!c)
		return;
	while (c->active) {
		bh_xfer *x = c->active;
		curl_multi_remove_handle(c->multi, x->easy);
		list_remove(c, x);
		xfer_destroy(x);
	}
	while (c->free_list) {
		bh_xfer *x = c->free_list;
		c->free_list = x->next;
		xfer_destroy(x);
	}
	curl_multi_cleanup(c->multi);
	bh_free(c->ca_file);
	bh_free(c);
	curl_global_cleanup();
}

int bh_http_transport_new(const bh_http_options *opts, bhive_transport *out, bhive_error *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return bh_error_set(err, BHIVE_ERR_NETWORK, "cannot initialise libcurl");
	bh_curl *c = bh_calloc(1, sizeof(*c));
	if (!c || !(c->multi = curl_multi_init())) {
		bh_free(c);
		curl_global_cleanup();
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory creating a transport");
	}
	c->max_body = opts && opts->max_body ? opts->max_body : BH_HTTP_MAX_BODY;
	c->scan_ms = 1000;
	if (opts && opts->ca_file && !(c->ca_file = bh_strdup(opts->ca_file))) {
		curl_destroy(c);
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory creating a transport");
	}
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	/* libcurl keeps 4 idle connections per transfer still added, so when
	 * a round's last transfers finish it closes the connections of the
	 * first ones, and the next round opens them again on its critical
	 * path. Idle connections are kept up to a fixed number instead. */
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, BH_IDLE_CONNECTIONS);
	if (opts && opts->max_host_connections > 0)
		curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
		                  opts->max_host_connections);
	out->ud = c;
	out->send = curl_send;
	out->poll = curl_poll;
	out->destroy = curl_destroy;
	return 0;
}

long bh_http_transport_handles(const bhive_transport *t)
{
	if (!t || t->send != curl_send)
		return -1;
	return ((const bh_curl *)t->ud)->handles;
}
