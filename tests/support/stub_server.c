/*
 * stub_server.c - the scriptable test HTTP server (see stub_server.h).
 *
 * libmicrohttpd with a thread per connection: the access handler is called
 * first with the headers, then with each piece of the body, then once more
 * with nothing left to upload; at that point the request is recorded and
 * the matching route answers. Recording happens before the answer is
 * queued, so once a client has its response the request is visible.
 */
#include "stub_server.h"
#include "util/util.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct stub_route {
	char *method;
	char *path;
	bh_stub_reply r; /* body and headers point at owned copies */
	int used;
} stub_route;

struct bh_stub_server {
	struct MHD_Daemon *d;
	int port;
	char url[64];
	pthread_mutex_t lock;
	stub_route *routes;
	size_t nroutes;
	bh_stub_request **reqs;
	size_t nreqs;
};

/* Per-connection state while a body arrives. */
typedef struct stub_conn {
	bh_buf body;
} stub_conn;

static void request_free(bh_stub_request *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->num_headers; i++) {
		bh_free(q->headers[i].name);
		bh_free(q->headers[i].value);
	}
	bh_free(q->headers);
	bh_free(q->method);
	bh_free(q->path);
	bh_free(q->body);
	bh_free(q);
}

static void route_release(stub_route *r)
{
	bh_free(r->method);
	bh_free(r->path);
	bh_free((char *)r->r.body);
	bh_free((char *)r->r.headers);
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
	bh_stub_request *q = cls;
	bh_stub_header *nh = bh_realloc(q->headers, (q->num_headers + 1) * sizeof(*nh));
	if (!nh)
		return MHD_NO;
	q->headers = nh;
	nh[q->num_headers].name = bh_strdup(key);
	nh[q->num_headers].value = bh_strdup(value ? value : "");
	q->num_headers++;
	return MHD_YES;
}

/* Copies what MHD knows about the request into a record. */
static bh_stub_request *record_new(struct MHD_Connection *c, const char *method, const char *url,
                                   stub_conn *sc)
{
	bh_stub_request *q = bh_calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->method = bh_strdup(method);
	q->path = bh_strdup(url);
	q->body_len = sc->body.len;
	q->body = sc->body.data ? bh_buf_steal(&sc->body) : bh_strdup("");
	MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, q);
	return q;
}

static void record_add(bh_stub_server *s, bh_stub_request *q)
{
	if (!q)
		return;
	bh_stub_request **nr = bh_realloc(s->reqs, (s->nreqs + 1) * sizeof(*nr));
	if (!nr) {
		request_free(q);
		return;
	}
	s->reqs = nr;
	s->reqs[s->nreqs++] = q;
}

/* First route for (method, path) with uses left; takes one use. Returns a
 * copy of the reply so the lock can be dropped while answering. */
static bool route_take(bh_stub_server *s, const char *method, const char *path, bh_stub_reply *out,
                       char **body, char **headers)
{
	for (size_t i = 0; i < s->nroutes; i++) {
		stub_route *r = &s->routes[i];
		if (r->method && strcmp(r->method, method) != 0)
			continue;
		if (strcmp(r->path, path) != 0 || (r->r.times && r->used >= r->r.times))
			continue;
		r->used++;
		*out = r->r;
		*body = bh_strndup(r->r.body ? r->r.body : "", r->r.body_len);
		*headers = bh_strdup(r->r.headers);
		return true;
	}
	return false;
}

/* Adds "Name: value\n" lines to the response. */
static void add_headers(struct MHD_Response *resp, char *headers)
{
	char *save = NULL;
	for (char *line = headers ? strtok_r(headers, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		MHD_add_response_header(resp, bh_trim(line), bh_trim(colon + 1));
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static enum MHD_Result answer(struct MHD_Connection *c, const bh_stub_reply *r, char *body,
                              char *headers)
{
	if (r->delay_ms > 0)
		sleep_ms(r->delay_ms);
	if (r->hang_up) {
		bh_free(body);
		bh_free(headers);
		return MHD_NO;
	}
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(r->body_len, body, MHD_RESPMEM_MUST_COPY);
	add_headers(resp, headers);
	enum MHD_Result rc = MHD_queue_response(c, r->status ? (unsigned)r->status : 200, resp);
	MHD_destroy_response(resp);
	bh_free(body);
	bh_free(headers);
	return rc;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_size, void **con_cls)
{
	bh_stub_server *s = cls;
	stub_conn *sc = *con_cls;
	if (!sc) {
		if (!(sc = bh_calloc(1, sizeof(*sc))))
			return MHD_NO;
		bh_buf_init(&sc->body, 0);
		*con_cls = sc;
		return MHD_YES;
	}
	if (*upload_size) {
		bh_buf_append(&sc->body, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	static const char unrouted[] = "no stub route";
	bh_stub_reply r = {.status = 404, .body_len = sizeof(unrouted) - 1};
	char *body = NULL, *headers = NULL;
	pthread_mutex_lock(&s->lock);
	record_add(s, record_new(c, method, url, sc));
	if (!route_take(s, method, url, &r, &body, &headers))
		body = bh_strdup(unrouted);
	pthread_mutex_unlock(&s->lock);
	return answer(c, &r, body, headers);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	stub_conn *sc = *con_cls;
	if (sc) {
		bh_buf_release(&sc->body);
		bh_free(sc);
		*con_cls = NULL;
	}
}

bh_stub_server *bh_stub_start(void)
{
	bh_stub_server *s = bh_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
	                        NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &addr,
	                        MHD_OPTION_NOTIFY_COMPLETED, completed, s,
	                        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
	    s->d ? MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (!info) {
		bh_stub_free(s);
		return NULL;
	}
	s->port = info->port;
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
	return s;
}

void bh_stub_reset(bh_stub_server *s)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nroutes; i++)
		route_release(&s->routes[i]);
	bh_free(s->routes);
	s->routes = NULL;
	s->nroutes = 0;
	for (size_t i = 0; i < s->nreqs; i++)
		request_free(s->reqs[i]);
	bh_free(s->reqs);
	s->reqs = NULL;
	s->nreqs = 0;
	pthread_mutex_unlock(&s->lock);
}

void bh_stub_free(bh_stub_server *s)
{
	if (!s)
		return;
	if (s->d)
		MHD_stop_daemon(s->d);
	bh_stub_reset(s);
	pthread_mutex_destroy(&s->lock);
	bh_free(s);
}

int bh_stub_port(const bh_stub_server *s)
{
	return s->port;
}

const char *bh_stub_url(const bh_stub_server *s)
{
	return s->url;
}

/* Copies the reply's strings so callers may pass literals or temporaries. */
static int route_init(stub_route *rt, const char *method, const char *path, const bh_stub_reply *r)
{
	memset(rt, 0, sizeof(*rt));
	rt->r = *r;
	rt->r.body_len = r->body_len ? r->body_len : (r->body ? strlen(r->body) : 0);
	rt->method = bh_strdup(method);
	rt->path = bh_strdup(path);
	rt->r.body = bh_strndup(r->body ? r->body : "", rt->r.body_len);
	rt->r.headers = bh_strdup(r->headers);
	if ((method && !rt->method) || !rt->path || !rt->r.body || (r->headers && !rt->r.headers)) {
		route_release(rt);
		return -1;
	}
	return 0;
}

int bh_stub_add(bh_stub_server *s, const char *method, const char *path, const bh_stub_reply *r)
{
	stub_route rt;
	if (route_init(&rt, method, path, r))
		return -1;
	pthread_mutex_lock(&s->lock);
	stub_route *nr = bh_realloc(s->routes, (s->nroutes + 1) * sizeof(*nr));
	if (nr) {
		s->routes = nr;
		s->routes[s->nroutes++] = rt;
	}
	pthread_mutex_unlock(&s->lock);
	if (!nr)
		route_release(&rt);
	return nr ? 0 : -1;
}

int bh_stub_add_simple(bh_stub_server *s, const char *method, const char *path, int status,
                       const char *body)
{
	bh_stub_reply r = {.status = status, .body = body};
	return bh_stub_add(s, method, path, &r);
}

size_t bh_stub_request_count(bh_stub_server *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->nreqs;
	pthread_mutex_unlock(&s->lock);
	return n;
}

const bh_stub_request *bh_stub_request_at(bh_stub_server *s, size_t i)
{
	pthread_mutex_lock(&s->lock);
	const bh_stub_request *q = i < s->nreqs ? s->reqs[i] : NULL;
	pthread_mutex_unlock(&s->lock);
	return q;
}

const char *bh_stub_request_header(const bh_stub_request *r, const char *name)
{
	for (size_t i = 0; r && i < r->num_headers; i++)
		if (r->headers[i].name && strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}
