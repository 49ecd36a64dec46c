/*
 * client.c - bhive_client: settings resolved once, then every call goes
 * start -> [adaptive wait] -> sign -> send -> classify -> [retry timer] ->
 * callback, on one loop that polls the transport up to the next timer.
 */
#include "aws/config.h"
#include "aws/creds.h"
#include "aws/endpoint.h"
#include "aws/retry.h"
#include "aws/sigv4.h"
#include "bedrock/timers.h"
#include "bedrock/wire.h"
#include "bhive/version.h"
#include "net/http.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BH_USER_AGENT "User-Agent: bhive/" BHIVE_VERSION_STRING
/* Credentials are refreshed this long before they expire. */
#define BH_CREDS_MARGIN_S 300
/* Headers of one attempt: host, content-type, accept, user-agent,
 * x-amz-date, x-amz-security-token, authorization, NULL. */
#define BH_MAX_HEADERS 8

typedef struct bh_call bh_call;

typedef struct bh_headers {
	bh_buf buf; /* "Name: value" strings, NUL-separated */
	size_t off[BH_MAX_HEADERS];
	size_t n;
	const char *list[BH_MAX_HEADERS];
} bh_headers;

struct bhive_client {
	bhive_transport tp;
	bh_aws_config *cfg;
	bh_cred_chain *chain; /* NULL with a bearer token */
	bh_credentials creds; /* cached; refreshed near expiry */
	bool have_creds;
	char *bearer;
	char *region;
	char *endpoint; /* as resolved */
	char *base_url; /* endpoint without a trailing '/' */
	char *host;     /* Host header value */
	bh_retry *retry;
	bh_sigv4_result sig; /* reused: signing then allocates nothing */
	bh_headers hdrs;     /* reused: transports copy what they keep */
	bool hdrs_busy;      /* a send is under way (re-entry guard) */
	long connect_ms, read_ms;
	bh_timers timers;
	bh_call *calls;     /* started, not completed */
	bh_call *cancelled; /* cancelled while the transport holds an attempt */
	int pending;
	int in_transport; /* attempts handed to the transport */
};

struct bh_call {
	bhive_client *cl;
	bh_call *next, *prev;
	char *model_id;
	char *url;
	size_t path_off; /* where the path starts in url */
	char *body;      /* jansson-allocated */
	size_t body_len;
	char payload_hash[65]; /* the body does not change across retries */
	bhive_converse_fn cb;
	void *ud;
	int attempt;         /* attempts sent so far */
	bool in_transport;   /* an attempt is with the transport */
	bool cancel_mark;    /* chosen by a cancel under way */
	bool cancelled;      /* completed by a cancel, the transport still holds it */
	bh_retry_call retry; /* the quota this call holds, for exact refunds */
	int64_t start_ms, attempt_ms;
	unsigned long timer;
	bhive_call_info info;
};

void bhive_client_options_init(bhive_client_options *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->use_fips = -1;
	opts->use_dualstack = -1;
}

/* ---- calls ------------------------------------------------------------ */

static void call_free(bh_call *c)
{
	if (!c)
		return;
	bh_free(c->model_id);
	bh_free(c->url);
	free(c->body);
	bh_free(c);
}

static void call_link(bhive_client *cl, bh_call *c)
{
	c->prev = NULL;
	c->next = cl->calls;
	if (cl->calls)
		cl->calls->prev = c;
	cl->calls = c;
	cl->pending++;
}

static void call_unlink(bhive_client *cl, bh_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		cl->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	cl->pending--;
	if (c->timer)
		bh_timers_cancel(&cl->timers, c->timer);
	c->timer = 0;
}

/* A cancelled call the transport still holds waits here, its callback
 * already run, until the transport hands it back or is destroyed. */
static void cancelled_link(bhive_client *cl, bh_call *c)
{
	c->prev = NULL;
	c->next = cl->cancelled;
	if (cl->cancelled)
		cl->cancelled->prev = c;
	cl->cancelled = c;
}

static void cancelled_unlink(bhive_client *cl, bh_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		cl->cancelled = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

/* Drops a call without its callback: its start failed, or the loop or the
 * client went away under it. */
static void call_drop(bhive_client *cl, bh_call *c)
{
	call_unlink(cl, c);
	call_free(c);
}

static bh_call *call_new(bhive_client *cl, const char *model_id, const json_t *request,
                         bhive_error *err)
{
	bh_call *c = bh_calloc(1, sizeof(*c));
	if (!c) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory starting a call");
		return NULL;
	}
	c->cl = cl;
	c->model_id = bh_strdup(model_id);
	bh_buf url;
	bh_buf_init(&url, 0);
	int rc = bh_buf_puts(&url, cl->base_url);
	c->path_off = url.len;
	if (rc || bh_converse_path(&url, model_id) || !c->model_id) {
		bh_buf_release(&url);
		call_free(c);
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory starting a call");
		return NULL;
	}
	c->url = bh_buf_steal(&url);
	c->body = bh_converse_body(request, &c->body_len, err);
	if (!c->body) {
		call_free(c);
		return NULL;
	}
	bh_sha256_hex(c->body, c->body_len, c->payload_hash);
	return c;
}

/* ---- credentials and headers -------------------------------------------- */

/* The chain caches too, but asking it copies three strings per call; the
 * client keeps its own copy until it is about to expire. */
static int current_creds(bhive_client *cl, bhive_error *err)
{
	int64_t now = bh_wall_time();
	if (cl->have_creds &&
	    (cl->creds.expiration == 0 || cl->creds.expiration - now > BH_CREDS_MARGIN_S))
		return 0;
	bh_credentials fresh;
	memset(&fresh, 0, sizeof(fresh));
	int rc = bh_cred_chain_get(cl->chain, &fresh, err);
	if (rc)
		return rc;
	bh_credentials_release(&cl->creds);
	cl->creds = fresh;
	cl->have_creds = true;
	return 0;
}

/* name and value are joined by plain appends: a printf per header was a
 * visible share of the per-call CPU. */
static int header_add(bh_headers *h, const char *name, const char *value)
{
	h->off[h->n++] = h->buf.len;
	if (bh_buf_puts(&h->buf, name) || bh_buf_puts(&h->buf, value) || bh_buf_putc(&h->buf, '\0'))
		return BHIVE_ERR_NOMEM;
	return 0;
}

/* Pointers are taken only once the buffer stops growing. */
static const char *const *header_list(bh_headers *h)
{
	for (size_t i = 0; i < h->n; i++)
		h->list[i] = h->buf.data + h->off[i];
	h->list[h->n] = NULL;
	return h->list;
}

static int sign(bh_call *c, bh_headers *h, bhive_error *err)
{
	bhive_client *cl = c->cl;
	/* The signer adds x-amz-date and x-amz-security-token itself; the
	 * headers sent then carry the same date and token. */
	bh_sigv4_header sh[2] = {
	    {"host", cl->host},
	    {"content-type", "application/json"},
	};
	bh_sigv4_request req = {.method = "POST",
	                        .path = c->url + c->path_off,
	                        .headers = sh,
	                        .num_headers = 2,
	                        .body = c->body,
	                        .body_len = c->body_len,
	                        .payload_hash = c->payload_hash};
	bh_sigv4_params p = {.access_key_id = cl->creds.access_key_id,
	                     .secret_access_key = cl->creds.secret_access_key,
	                     .session_token = cl->creds.session_token,
	                     .region = cl->region,
	                     .service = "bedrock",
	                     .time = bh_wall_time(),
	                     .double_encode_path = true,
	                     .normalize_path = true};
	int rc = bh_sigv4_sign(&req, &p, &cl->sig, err);
	if (rc == 0)
		rc = header_add(h, "X-Amz-Date: ", cl->sig.amz_date);
	if (rc == 0 && cl->creds.session_token && *cl->creds.session_token)
		rc = header_add(h, "X-Amz-Security-Token: ", cl->creds.session_token);
	if (rc == 0)
		rc = header_add(h, "Authorization: ", cl->sig.authorization.data);
	return rc;
}

static int build_headers(bh_call *c, bh_headers *h, bhive_error *err)
{
	bhive_client *cl = c->cl;
	int rc = header_add(h, "Host: ", cl->host);
	rc = rc ? rc : header_add(h, "Content-Type: ", "application/json");
	rc = rc ? rc : header_add(h, "Accept: ", "application/json");
	rc = rc ? rc : header_add(h, BH_USER_AGENT, "");
	if (rc)
		return bh_error_set(err, rc, "out of memory building request headers");
	if (cl->bearer)
		rc = header_add(h, "Authorization: Bearer ", cl->bearer);
	else if ((rc = current_creds(cl, err)) == 0)
		rc = sign(c, h, err);
	if (rc)
		return bh_error_set(err, rc, "cannot sign a request to model \"%s\"", c->model_id);
	return 0;
}

/* ---- attempts ----------------------------------------------------------- */

static void on_http_done(void *ud, const bhive_http_response *resp, const bhive_error *terr);

static int send_attempt(bh_call *c, bhive_error *err)
{
	bhive_client *cl = c->cl;
	bh_headers local, *h = &cl->hdrs;
	if (cl->hdrs_busy) {
		h = &local;
		bh_buf_init(&local.buf, 0);
	}
	bh_buf_reset(&h->buf);
	h->n = 0;
	bool busy = cl->hdrs_busy;
	cl->hdrs_busy = true;
	int rc = build_headers(c, h, err);
	if (rc == 0) {
		bhive_http_request req = {.method = "POST",
		                          .url = c->url,
		                          .headers = header_list(h),
		                          .body = c->body,
		                          .body_len = c->body_len,
		                          .connect_timeout_ms = cl->connect_ms,
		                          .read_timeout_ms = cl->read_ms};
		/* Counted before sending: a transport may finish (and free the
		 * call) from inside send. */
		c->attempt_ms = bh_now_ms();
		c->attempt++;
		cl->in_transport++;
		c->in_transport = true;
		rc = cl->tp.send(cl->tp.ud, &req, on_http_done, c, err);
		if (rc) {
			c->attempt--;
			cl->in_transport--;
			c->in_transport = false;
		}
	}
	cl->hdrs_busy = busy;
	if (h == &local)
		bh_buf_release(&local.buf);
	return rc;
}

static void complete(bh_call *c, json_t *resp, bhive_error *err)
{
	bhive_client *cl = c->cl;
	call_unlink(cl, c);
	c->info.attempts = c->attempt;
	c->info.wall_ms = (double)(bh_now_ms() - c->start_ms);
	if (err && !err->request_id[0])
		bh_strlcpy(err->request_id, c->info.request_id, sizeof(err->request_id));
	if (err && !err->source[0])
		bh_strlcpy(err->source, c->model_id, sizeof(err->source));
	c->cb(c->ud, resp, resp ? NULL : err, &c->info);
	json_decref(resp);
	call_free(c);
}

static void arm(bh_call *c, long delay_ms);

/* A retry (or an adaptive-mode wait) is due: adaptive mode may still ask
 * for more time, since its rate limiter is shared by every call. */
static void attempt_due(void *ud)
{
	bh_call *c = ud;
	c->timer = 0;
	double wait = bh_retry_before_send(c->cl->retry, bh_now_s());
	if (wait > 0) {
		arm(c, (long)(wait + 0.999));
		return;
	}
	bhive_error e;
	bhive_error_clear(&e);
	if (send_attempt(c, &e))
		complete(c, NULL, &e);
}

static void arm(bh_call *c, long delay_ms)
{
	c->timer = bh_timers_add(&c->cl->timers, bh_now_ms() + delay_ms, attempt_due, c);
	if (!c->timer) {
		bhive_error e;
		bhive_error_clear(&e);
		bh_error_set(&e, BHIVE_ERR_NOMEM, "out of memory scheduling a retry");
		complete(c, NULL, &e);
	}
}

static void note_response(bh_call *c, const bhive_http_response *resp)
{
	size_t n = 0;
	const char *id = bh_http_header(resp->headers, "x-amzn-RequestId", &n);
	c->info.http_status = resp->status;
	if (n >= sizeof(c->info.request_id))
		n = sizeof(c->info.request_id) - 1;
	memcpy(c->info.request_id, id ? id : "", id ? n : 0);
	c->info.request_id[id ? n : 0] = '\0';
}

/* What the retry strategy needs to know about an attempt that failed. */
static bh_attempt_outcome outcome_of(const bhive_http_response *resp, const bhive_error *e)
{
	bh_attempt_outcome o = {0};
	if (resp) {
		o.http_status = resp->status;
		o.error_type = e->error_type[0] ? e->error_type : NULL;
	} else {
		o.transport_error = e->code == BHIVE_ERR_NETWORK;
		o.timeout = e->code == BHIVE_ERR_TIMEOUT;
	}
	return o;
}

static void on_http_done(void *ud, const bhive_http_response *resp, const bhive_error *terr)
{
	bh_call *c = ud;
	bhive_client *cl = c->cl;
	cl->in_transport--;
	c->in_transport = false;
	if (c->cancelled) { /* its callback has run: nothing is left to tell */
		cancelled_unlink(cl, c);
		call_free(c);
		return;
	}
	bhive_error e;
	bhive_error_clear(&e);
	json_t *out = NULL;
	if (resp) {
		note_response(c, resp);
		out = bh_converse_parse(c->model_id, resp, &e);
	} else {
		bh_error_copy(&e, terr);
	}
	BH_DEBUG("converse model \"%s\" attempt %d status %ld in %lld ms request id \"%s\"%s%s",
	         c->model_id, c->attempt, resp ? resp->status : 0L,
	         (long long)(bh_now_ms() - c->attempt_ms), c->info.request_id, e.code ? ": " : "",
	         e.message);
	/* A 2xx is a success for the retry quota even when its body is not a
	 * Converse response (which no retry would fix). */
	if (out || (resp && resp->status >= 200 && resp->status <= 299)) {
		bh_retry_call_success(cl->retry, &c->retry, bh_now_s());
		complete(c, out, out ? NULL : &e);
		return;
	}
	bh_attempt_outcome o = outcome_of(resp, &e);
	long delay = bh_retry_call_failed(cl->retry, &c->retry, &o, bh_now_s());
	int fam = bhive_code_family(e.code);
	if (fam == BHIVE_ERR_PARSE || fam == BHIVE_ERR_NOMEM)
		delay = -1; /* an oversized body or no memory: retrying would not help */
	if (delay < 0) {
		complete(c, NULL, &e);
		return;
	}
	BH_DEBUG("converse model \"%s\" retry in %ld ms", c->model_id, delay);
	arm(c, delay);
}

/* ---- starting calls ---------------------------------------------------- */

static bh_call *start_call(bhive_client *cl, const char *model_id, const json_t *request,
                           bhive_converse_fn cb, void *ud, bhive_error *err)
{
	if (!cl || !model_id || !*model_id || !cb) {
		bh_error_set(err, BHIVE_ERR_INVALID,
		             "converse needs a client, a model id and a callback");
		return NULL;
	}
	bh_call *c = call_new(cl, model_id, request, err);
	if (!c)
		return NULL;
	c->cb = cb;
	c->ud = ud;
	c->start_ms = bh_now_ms();
	call_link(cl, c);
	double wait = bh_retry_before_send(cl->retry, bh_now_s());
	int rc = 0;
	if (wait > 0) {
		c->timer =
		    bh_timers_add(&cl->timers, c->start_ms + (long)(wait + 0.999), attempt_due, c);
		if (!c->timer)
			rc = bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory starting a call");
	} else {
		rc = send_attempt(c, err);
	}
	if (rc) {
		call_drop(cl, c);
		return NULL;
	}
	return c;
}

int bhive_converse_start(bhive_client *client, const char *model_id, const json_t *request,
                         bhive_converse_fn cb, void *ud, bhive_error *err)
{
	bhive_error_clear(err);
	if (start_call(client, model_id, request, cb, ud, err))
		return 0;
	return err && err->code ? err->code : BHIVE_ERR_INVALID;
}

/* ---- the loop ------------------------------------------------------------ */

static void fire_timers(bhive_client *cl)
{
	bh_timer t;
	while (bh_timers_pop_due(&cl->timers, bh_now_ms(), &t))
		t.fn(t.ud);
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits for whichever comes first: a transfer finishing, the next timer,
 * the deadline. Returns -1 on a fatal transport error. */
static int wait_once(bhive_client *cl, int64_t deadline)
{
	int64_t now = bh_now_ms();
	int64_t wait = deadline > now ? deadline - now : 0;
	int64_t next = bh_timers_next(&cl->timers);
	if (next >= 0 && next - now < wait)
		wait = next - now > 0 ? next - now : 0;
	if (cl->in_transport > 0)
		return cl->tp.poll(cl->tp.ud, (long)wait) < 0 ? -1 : 0;
	if (next >= 0) {
		sleep_ms(wait);
		return 0;
	}
	return 1;
}

static int run_until(bhive_client *cl, const bool *done, long timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX / 2 : bh_now_ms() + timeout_ms;
	/* The transport is polled at least once, so a zero timeout still makes
	 * progress for a caller driving the client from its own loop. */
	for (;;) {
		fire_timers(cl);
		if (done ? *done : (cl->pending == 0 && cl->timers.len == 0))
			break;
		int rc = wait_once(cl, deadline);
		if (rc < 0)
			return -1;
		if (rc > 0)
			break;
		if (bh_now_ms() >= deadline) {
			fire_timers(cl);
			break;
		}
	}
	return cl->pending;
}

int bhive_client_run(bhive_client *client, long timeout_ms)
{
	if (!client)
		return -1;
	return run_until(client, NULL, timeout_ms);
}

int bhive_client_pending(const bhive_client *client)
{
	return client ? client->pending : 0;
}

unsigned long bhive_client_add_timer(bhive_client *client, long delay_ms, bhive_timer_fn cb,
                                     void *ud)
{
	if (!client || !cb)
		return 0;
	return bh_timers_add(&client->timers, bh_now_ms() + (delay_ms > 0 ? delay_ms : 0), cb, ud);
}

void bhive_client_cancel_timer(bhive_client *client, unsigned long id)
{
	if (client)
		bh_timers_cancel(&client->timers, id);
}

/* ---- cancelling ------------------------------------------------------------ */

/* Completes c with BHIVE_ERR_CANCELLED. The transport cannot take an
 * attempt back, so a call it holds is kept (without its callback) until
 * the transport answers or goes away. */
static void call_cancel(bhive_client *cl, bh_call *c)
{
	bhive_error e;
	bhive_error_clear(&e);
	bh_error_set(&e, BHIVE_ERR_CANCELLED, "call to model \"%s\" cancelled", c->model_id);
	bh_strlcpy(e.source, c->model_id, sizeof(e.source));
	call_unlink(cl, c);
	c->info.attempts = c->attempt;
	c->info.wall_ms = (double)(bh_now_ms() - c->start_ms);
	bhive_call_info info = c->info;
	bhive_converse_fn cb = c->cb;
	void *ud = c->ud;
	if (c->in_transport) {
		c->cancelled = true;
		cancelled_link(cl, c);
	} else
		call_free(c);
	cb(ud, NULL, &e, &info);
}

/* Marks the calls to cancel first: calls their callbacks start are new
 * and stay. Then cancels the marked ones one at a time, from the head
 * again each time, as a callback may complete or start others. */
static int cancel_marked(bhive_client *cl, bhive_converse_fn cb, void *ud, bool all)
{
	int n = 0;
	for (bh_call *c = cl->calls; c; c = c->next)
		c->cancel_mark = all || (c->cb == cb && c->ud == ud);
	for (;;) {
		bh_call *c = cl->calls;
		while (c && !c->cancel_mark)
			c = c->next;
		if (!c)
			return n;
		call_cancel(cl, c);
		n++;
	}
}

int bhive_client_cancel(bhive_client *client, bhive_converse_fn cb, void *ud)
{
	if (!client || !cb)
		return 0;
	return cancel_marked(client, cb, ud, false);
}

int bhive_client_cancel_all(bhive_client *client)
{
	return client ? cancel_marked(client, NULL, NULL, true) : 0;
}

/* ---- the blocking call ---------------------------------------------------- */

typedef struct bh_sync {
	bool done;
	json_t *resp;
	bhive_error err;
	bhive_call_info info;
} bh_sync;

static void sync_done(void *ud, json_t *resp, const bhive_error *err, const bhive_call_info *info)
{
	bh_sync *s = ud;
	s->done = true;
	s->resp = json_incref(resp);
	if (err)
		s->err = *err;
	s->info = *info;
}

json_t *bhive_converse(bhive_client *client, const char *model_id, const json_t *request,
                       bhive_call_info *info, bhive_error *err)
{
	bhive_error_clear(err);
	bh_sync s;
	memset(&s, 0, sizeof(s));
	if (info)
		memset(info, 0, sizeof(*info));
	bh_call *c = start_call(client, model_id, request, sync_done, &s, err);
	if (!c)
		return NULL;
	if (run_until(client, &s.done, -1) < 0 && !s.done) {
		call_drop(client, c);
		bh_error_set(err, BHIVE_ERR_NETWORK, "transport failed while calling model \"%s\"",
		             model_id);
		return NULL;
	}
	if (info)
		*info = s.info;
	if (!s.resp)
		bh_error_copy(err, &s.err);
	return s.resp;
}

/* ---- creating and freeing ------------------------------------------------ */

const char *bhive_client_region(const bhive_client *client)
{
	return client ? client->region : NULL;
}

const char *bhive_client_endpoint(const bhive_client *client)
{
	return client ? client->endpoint : NULL;
}

void bhive_client_free(bhive_client *client)
{
	if (!client)
		return;
	if (client->tp.destroy)
		client->tp.destroy(client->tp.ud);
	while (client->calls)
		call_drop(client, client->calls);
	while (client->cancelled) {
		bh_call *c = client->cancelled;
		cancelled_unlink(client, c);
		call_free(c);
	}
	bh_timers_release(&client->timers);
	bh_sigv4_result_release(&client->sig);
	bh_buf_release(&client->hdrs.buf);
	bh_retry_free(client->retry);
	bh_cred_chain_free(client->chain);
	bh_credentials_release(&client->creds);
	bh_aws_config_free(client->cfg);
	bh_free(client->bearer);
	bh_free(client->region);
	bh_free(client->endpoint);
	bh_free(client->base_url);
	bh_free(client->host);
	bh_free(client);
}

/* With no region, a configured endpoint still lets the client sign: for
 * us-east-1, as a local endpoint does not care. Otherwise the region error
 * stands, as botocore's NoRegionError. */
static int resolve_region(bhive_client *cl, const bhive_client_options *o, bhive_error *err)
{
	bhive_error e;
	bhive_error_clear(&e);
	cl->region = bh_resolve_region(o->region, cl->cfg, &e);
	if (cl->region)
		return 0;
	if (e.code != BHIVE_ERR_REGION) { /* a malformed region is never ignored */
		bh_error_copy(err, &e);
		return e.code;
	}
	bhive_error e2;
	bhive_error_clear(&e2);
	char *url =
	    bh_resolve_endpoint(o->endpoint_url, NULL, o->use_fips, o->use_dualstack, cl->cfg, &e2);
	if (!url) {
		bh_error_copy(err, &e);
		return e.code ? e.code : BHIVE_ERR_REGION;
	}
	bh_free(url);
	BH_DEBUG("no region configured; signing for us-east-1 with a configured endpoint");
	cl->region = bh_strdup("us-east-1");
	return cl->region ? 0 : bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
}

/* The Host header is the URL's authority without user info and without the
 * scheme's default port, as the SDKs send it (and sign it). */
static int split_endpoint(bhive_client *cl, bhive_error *err)
{
	const char *ep = cl->endpoint;
	const char *p = strstr(ep, "://");
	if (!p || !p[3])
		return bh_error_set(err, BHIVE_ERR_INVALID, "endpoint \"%s\" is not a URL", ep);
	bool https = strncasecmp(ep, "https", 5) == 0;
	p += 3;
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	cl->host = bh_strndup(p, n);
	size_t el = strlen(ep);
	while (el && ep[el - 1] == '/')
		el--;
	cl->base_url = bh_strndup(ep, el);
	if (!cl->host || !cl->base_url)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	const char *def = https ? ":443" : ":80";
	if (bh_ends_with(cl->host, def))
		cl->host[strlen(cl->host) - strlen(def)] = '\0';
	return 0;
}

static int setup_auth(bhive_client *cl, const bhive_client_options *o, bhive_error *err)
{
	const char *bearer =
	    o->bearer_token ? o->bearer_token : bh_getenv("AWS_BEARER_TOKEN_BEDROCK");
	if (bearer) {
		BH_DEBUG(
		    "using a Bedrock API key (bearer token); the credential chain is not used");
		cl->bearer = bh_strdup(bearer);
		return cl->bearer ? 0 : bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	}
	bh_cred_options co = {.access_key_id = o->access_key_id,
	                      .secret_access_key = o->secret_access_key,
	                      .session_token = o->session_token,
	                      .ca_file = o->ca_file};
	cl->chain = bh_cred_chain_new(cl->cfg, &co, err);
	return cl->chain ? 0 : (err && err->code ? err->code : BHIVE_ERR_CREDENTIALS);
}

static int setup_retry(bhive_client *cl, const bhive_client_options *o, bhive_error *err)
{
	bhive_retry_mode mode;
	int attempts;
	int rc = bh_retry_settings(o->retry_mode, o->max_attempts, cl->cfg, &mode, &attempts, err);
	if (rc)
		return rc;
	uint64_t seed = (uint64_t)bh_now_ms() ^ (uint64_t)(uintptr_t)cl;
	cl->retry = bh_retry_new(mode, attempts, seed);
	return cl->retry ? 0 : bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
}

static int setup_transport(bhive_client *cl, const bhive_client_options *o, bhive_error *err)
{
	if (o->transport) {
		if (!o->transport->send || !o->transport->poll)
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "transport without send or poll function");
		cl->tp = *o->transport;
		return 0;
	}
	bh_http_options ho = {.ca_file = o->ca_file, .max_host_connections = o->max_connections};
	return bh_http_transport_new(&ho, &cl->tp, err);
}

static int setup(bhive_client *cl, const bhive_client_options *o, bhive_error *err)
{
	if (!(cl->cfg = bh_aws_config_load(o->profile, err)))
		return err && err->code ? err->code : BHIVE_ERR_CONFIG;
	int rc = resolve_region(cl, o, err);
	if (rc)
		return rc;
	cl->endpoint = bh_resolve_endpoint(o->endpoint_url, cl->region, o->use_fips,
	                                   o->use_dualstack, cl->cfg, err);
	if (!cl->endpoint)
		return err && err->code ? err->code : BHIVE_ERR_INVALID;
	if ((rc = split_endpoint(cl, err)) || (rc = setup_auth(cl, o, err)) ||
	    (rc = setup_retry(cl, o, err)))
		return rc;
	return setup_transport(cl, o, err);
}

bhive_client *bhive_client_new(const bhive_client_options *opts, bhive_error *err)
{
	bhive_error_clear(err);
	bhive_client_options defaults;
	if (!opts) {
		bhive_client_options_init(&defaults);
		opts = &defaults;
	}
	bhive_client *cl = bh_calloc(1, sizeof(*cl));
	if (!cl) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory creating a client");
		return NULL;
	}
	bh_timers_init(&cl->timers);
	bh_sigv4_result_init(&cl->sig);
	bh_buf_init(&cl->hdrs.buf, 0);
	cl->connect_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 60000;
	cl->read_ms = opts->read_timeout_ms > 0 ? opts->read_timeout_ms : 300000;
	if (setup(cl, opts, err)) {
		bhive_client_free(cl);
		return NULL;
	}
	BH_DEBUG("client region \"%s\" endpoint \"%s\"", cl->region, cl->endpoint);
	return cl;
}
