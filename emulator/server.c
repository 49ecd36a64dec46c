/*
 * server.c - the HTTP side of bhive-emulator, on libmicrohttpd.
 *
 * One thread runs everything: libmicrohttpd in "external" epoll mode, a
 * signalfd and a timer heap share one epoll loop (emu_server_run). A
 * request whose simulated model is slow suspends its connection and leaves
 * a timer behind; when the timer fires the connection resumes and the
 * prepared response goes out. Slow bodies work the same way from inside the
 * content reader. So thousands of delayed requests hold no thread and no
 * lock, and two cores serve them.
 *
 * Request life: the handler is called once with the headers, then with the
 * body in pieces, then once more with nothing left (*upload_data_size == 0).
 * That moment is the request's arrival: it is noted, the connection is
 * suspended and the request goes on a work list that the loop handles
 * after libmicrohttpd's turn. So every body that came in with the same
 * wake-up is stamped before any model runs, and the simulated latency of
 * one request does not include the model work done for the others. The
 * handler then routes the request and parks the response on a timer due
 * at arrival + latency (or resumes at once). After the resume the handler
 * is called again and sends what was parked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"
#include "server_int.h"

#define MAX_BODY (25u << 20)

/* ---- timers: a binary min-heap of connections to resume ---------------- */

int64_t emu_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int timer_add(emu_server *s, int64_t due_us, struct MHD_Connection *conn)
{
	if (s->num_timers == s->cap_timers) {
		size_t cap = s->cap_timers ? s->cap_timers * 2 : 256;
		emu_timer *t = bh_realloc(s->timers, cap * sizeof(*t));
		if (!t)
			return BHIVE_ERR_NOMEM;
		s->timers = t;
		s->cap_timers = cap;
	}
	size_t i = s->num_timers++;
	while (i > 0 && s->timers[(i - 1) / 2].due_us > due_us) {
		s->timers[i] = s->timers[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->timers[i] = (emu_timer){due_us, conn};
	return 0;
}

static emu_timer timer_pop(emu_server *s)
{
	emu_timer top = s->timers[0], last = s->timers[--s->num_timers];
	size_t i = 0, n = s->num_timers;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && s->timers[c + 1].due_us < s->timers[c].due_us)
			c++;
		if (s->timers[c].due_us >= last.due_us)
			break;
		s->timers[i] = s->timers[c];
		i = c;
	}
	if (n)
		s->timers[i] = last;
	return top;
}

/* Resumes every connection whose time has come (all of them when stopping). */
static void timers_fire(emu_server *s, int64_t now_us)
{
	while (s->num_timers && (s->stopping || s->timers[0].due_us <= now_us)) {
		emu_timer t = timer_pop(s);
		MHD_resume_connection(t.conn);
	}
}

/* Suspends conn until due_ms; false (and no suspension) when stopping or
 * out of memory for the timer, so the caller answers at once. */
bool emu_server_park(emu_server *s, struct MHD_Connection *conn, int64_t due_ms)
{
	if (s->stopping || timer_add(s, due_ms * 1000, conn) != 0)
		return false;
	MHD_suspend_connection(conn);
	return true;
}

/* ---- responses --------------------------------------------------------- */

static void free_cb(void *p)
{
	bh_free(p);
}

struct MHD_Response *emu_response_json(const json_t *body, const char *error_type,
                                       const char *request_id)
{
	char *text = json_dumps(body, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0;
	char *copy = bh_strndup(text ? text : "", len);
	free(text);
	if (!copy)
		return NULL;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer_with_free_callback(len, copy, free_cb);
	if (!r) {
		bh_free(copy);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (request_id)
		MHD_add_response_header(r, "x-amzn-RequestId", request_id);
	if (error_type)
		MHD_add_response_header(r, "x-amzn-ErrorType", error_type);
	return r;
}

struct MHD_Response *emu_response_error(const emu_status *st, const char *request_id)
{
	json_t *body = json_pack("{s:s}", "message", st->message);
	struct MHD_Response *r = emu_response_json(body, st->type, request_id);
	json_decref(body);
	return r;
}

/* A request from the work list (its connection suspended) keeps its
 * response until delay_ms after its arrival, or resumes at once when that
 * time has passed already. */
static enum MHD_Result reply_deferred(emu_req *q, unsigned status, struct MHD_Response *r,
                                      double delay_ms)
{
	q->resp = r;
	q->status = status;
	q->state = EMU_REQ_PARKED;
	int64_t due = q->arrived_us + (int64_t)(delay_ms * 1000.0);
	if (delay_ms >= 1 && !q->s->stopping && due > emu_now_us() &&
	    timer_add(q->s, due, q->conn) == 0)
		return MHD_YES;
	MHD_resume_connection(q->conn);
	return MHD_YES;
}

/* Sends r now, or parks the request and sends it when delay_ms is over. */
enum MHD_Result emu_req_reply(emu_req *q, unsigned status, struct MHD_Response *r, double delay_ms)
{
	if (!r)
		return MHD_NO;
	if (q->deferred)
		return reply_deferred(q, status, r, delay_ms);
	if (delay_ms >= 1 && !q->s->stopping) {
		q->resp = r;
		q->status = status;
		q->state = EMU_REQ_PARKED;
		if (emu_server_park(q->s, q->conn, bh_now_ms() + (int64_t)delay_ms))
			return MHD_YES;
		return emu_req_send_parked(q);
	}
	enum MHD_Result ok = MHD_queue_response(q->conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

enum MHD_Result emu_req_send_parked(emu_req *q)
{
	struct MHD_Response *r = q->resp;
	q->resp = NULL;
	q->state = EMU_REQ_SENT;
	if (!r)
		return MHD_NO;
	enum MHD_Result ok = MHD_queue_response(q->conn, q->status, r);
	MHD_destroy_response(r);
	return ok;
}

/* ---- slow and cut-off bodies ------------------------------------------- */

typedef struct drip {
	emu_server *s;
	struct MHD_Connection *conn;
	char *data;
	size_t len; /* bytes that will really be sent */
	size_t step;
	long interval_ms;
	int64_t next_ms;
	bool cut; /* fail the transfer after len bytes */
} drip;

static void drip_free(void *cls)
{
	drip *d = cls;
	bh_free(d->data);
	bh_free(d);
}

/* Hands out step bytes per interval; between steps the connection sleeps
 * on a timer instead of making libmicrohttpd spin. */
static ssize_t drip_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	drip *d = cls;
	if (pos >= d->len)
		return d->cut ? MHD_CONTENT_READER_END_WITH_ERROR
		              : MHD_CONTENT_READER_END_OF_STREAM;
	if (d->interval_ms > 0 && !d->s->stopping) {
		int64_t now = bh_now_ms();
		if (now < d->next_ms && emu_server_park(d->s, d->conn, d->next_ms))
			return 0;
		d->next_ms = now + d->interval_ms;
	}
	size_t n = d->len - (size_t)pos;
	if (n > d->step)
		n = d->step;
	if (n > max)
		n = max;
	memcpy(buf, d->data + pos, n);
	return (ssize_t)n;
}

/* A body of text sent slowly (cut = false) or cut off: the header promises
 * declared bytes, and the connection closes after text's first half. */
struct MHD_Response *emu_response_drip(emu_server *s, struct MHD_Connection *conn, const char *text,
                                       bool cut, long step, long interval_ms)
{
	drip *d = bh_calloc(1, sizeof(*d));
	size_t len = strlen(text);
	if (!d || !(d->data = bh_strndup(text, len))) {
		bh_free(d);
		return NULL;
	}
	*d = (drip){s,
	            conn,
	            d->data,
	            cut ? len / 2 : len,
	            step > 0 ? (size_t)step : len,
	            cut ? 0 : interval_ms,
	            0,
	            cut};
	if (d->step == 0)
		d->step = 1;
	struct MHD_Response *r =
	    MHD_create_response_from_callback(len, 1024, drip_read, d, drip_free);
	if (!r)
		drip_free(d);
	else
		MHD_add_response_header(r, "Content-Type", "application/json");
	return r;
}

/* ---- request objects --------------------------------------------------- */

static emu_req *req_new(emu_server *s, struct MHD_Connection *conn)
{
	emu_req *q = bh_calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->s = s;
	q->conn = conn;
	bh_buf_init(&q->body, MAX_BODY);
	return q;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	emu_req *q = *con_cls;
	if (!q)
		return;
	if (q->resp)
		MHD_destroy_response(q->resp);
	bh_buf_release(&q->body);
	bh_free(q);
	*con_cls = NULL;
}

/* The body is complete: note the time and leave the work to the loop. */
static enum MHD_Result enqueue(emu_server *s, emu_req *q, const char *url, const char *method)
{
	q->arrived_us = emu_now_us();
	q->url = url;
	q->method = method;
	q->state = EMU_REQ_QUEUED;
	q->next = NULL;
	if (s->work_tail)
		s->work_tail->next = q;
	else
		s->work_head = q;
	s->work_tail = q;
	MHD_suspend_connection(q->conn);
	return MHD_YES;
}

/* Handles the oldest complete request; false when there is none. A request
 * that routing could not answer has its connection closed. */
static bool work_one(emu_server *s)
{
	emu_req *q = s->work_head;
	if (!q)
		return false;
	s->work_head = q->next;
	if (!s->work_head)
		s->work_tail = NULL;
	q->next = NULL;
	q->deferred = true;
	q->state = EMU_REQ_SENT;
	emu_route(s, q, q->url, q->method);
	q->deferred = false;
	/* Not parked: routing failed (MHD_NO) and the connection closes. */
	if (q->state != EMU_REQ_PARKED) {
		q->state = EMU_REQ_CLOSE;
		MHD_resume_connection(q->conn);
	}
	return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	emu_server *s = cls;
	emu_req *q = *con_cls;
	if (!q) {
		q = req_new(s, conn);
		*con_cls = q;
		return q ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size) {
		if (bh_buf_append(&q->body, upload_data, *upload_data_size))
			q->too_large = true;
		s->bytes_in += *upload_data_size;
		s->last_input_us = emu_now_us();
		*upload_data_size = 0;
		return MHD_YES;
	}
	switch (q->state) {
	case EMU_REQ_PARKED:
		return emu_req_send_parked(q);
	case EMU_REQ_CLOSE:
		return MHD_NO;
	case EMU_REQ_READING:
		if (!s->stopping)
			return enqueue(s, q, url, method);
		q->state = EMU_REQ_SENT;
		return emu_route(s, q, url, method);
	default:
		return MHD_YES;
	}
}

/* Counts connections accepted, so tests can see whether a client reuses
 * its connections. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	emu_server *s = cls;
	BH_UNUSED(conn);
	BH_UNUSED(socket_context);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		s->connections++;
}

/* Keeps the path exactly as sent: SigV4 is computed over the encoded form,
 * and an ARN's "%2F" must not become a path separator. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *uri)
{
	return strlen(uri);
}

/* ---- server lifetime --------------------------------------------------- */

static struct MHD_Daemon *start_daemon(emu_server *s, bhive_error *err)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)s->opt.port);
	if (inet_pton(AF_INET, s->opt.bind, &sa.sin_addr) != 1) {
		bh_error_set(err, BHIVE_ERR_INVALID, "bind address \"%s\" is not an IPv4 address",
		             s->opt.bind);
		return NULL;
	}
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
	struct MHD_Daemon *d = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_CONNECTION_LIMIT, s->opt.connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)120, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
	    on_connection, s, MHD_OPTION_UNESCAPE_CALLBACK,
	    keep_escaped, s, MHD_OPTION_END);
	if (!d)
		bh_error_set(err, BHIVE_ERR_NETWORK, "cannot listen on \"%s:%d\": %s", s->opt.bind,
		             s->opt.port, strerror(errno));
	return d;
}

emu_server *emu_server_new(const emu_options *o, emu_config *config, bhive_error *err)
{
	emu_server *s = bh_calloc(1, sizeof(*s));
	if (!s) {
		emu_config_free(config);
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->opt = *o;
	s->opt.bind = o->bind ? o->bind : "127.0.0.1";
	s->opt.time_scale = o->time_scale >= 0 ? o->time_scale : 1.0;
	s->opt.connection_limit = o->connection_limit ? o->connection_limit : 4096;
	s->cfg = config;
	s->rec = emu_record_new(o->record_max ? o->record_max : 100000);
	bh_rng_seed(&s->fault_rng, o->seed);
	bh_rng_seed(&s->latency_rng, o->seed ^ 0x6c6174656e6379ULL);
	bh_rng_seed(&s->id_rng, o->seed ^ 0x7265717565737469ULL);
	if (!s->rec || !(s->d = start_daemon(s, err))) {
		if (!s->rec)
			bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		emu_server_free(s);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : o->port;
	return s;
}

void emu_server_free(emu_server *s)
{
	if (!s)
		return;
	if (s->d) {
		s->stopping = true;
		while (work_one(s))
			;
		timers_fire(s, 0);
		MHD_run(s->d);
		MHD_stop_daemon(s->d);
	}
	emu_record_free(s->rec);
	emu_config_free(s->cfg);
	bh_free(s->timers);
	bh_free(s->cache.keys);
	bh_free(s);
}

int emu_server_port(const emu_server *s)
{
	return s->port;
}

/* How long epoll may sleep, in microseconds: until libmicrohttpd's next
 * timeout or our next timer, and at most 200 ms so that *stop is seen. */
static int64_t loop_timeout_us(emu_server *s)
{
	MHD_UNSIGNED_LONG_LONG mt = 0;
	int64_t t = 200000;
	if (MHD_get_timeout(s->d, &mt) == MHD_YES && (int64_t)mt * 1000 < t)
		t = (int64_t)mt * 1000;
	if (s->num_timers) {
		int64_t until = s->timers[0].due_us - emu_now_us();
		if (until < t)
			t = until < 0 ? 0 : until;
	}
	return t;
}

/* epoll_wait to the microsecond (epoll_pwait2), so that a response is not
 * held up to a millisecond past its time; plain epoll_wait, rounded up,
 * where the kernel lacks it. */
static int loop_wait(int epfd, struct epoll_event *evs, int n, int64_t us)
{
	static bool no_pwait2;
	if (!no_pwait2) {
		struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
		int rc = epoll_pwait2(epfd, evs, n, &ts, NULL);
		if (rc >= 0 || errno != ENOSYS)
			return rc;
		no_pwait2 = true;
	}
	return epoll_wait(epfd, evs, n, (int)((us + 999) / 1000));
}

static int loop_setup(emu_server *s, bool handle_signals, int *sigfd)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0 || !info)
		return -1;
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
	epoll_ctl(epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev);
	*sigfd = -1;
	if (!handle_signals)
		return epfd;
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	*sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	ev.data.u32 = 1;
	if (*sigfd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_ADD, *sigfd, &ev);
	return epfd;
}

/* Lets libmicrohttpd read until no more body bytes come in. One turn reads
 * each connection once, and a debate round brings tens of bodies of tens of
 * kilobytes at once: every body already here is stamped before the next
 * request's model work. */
static void read_all(emu_server *s)
{
	uint64_t before;
	int turns = 0;
	do {
		before = s->bytes_in;
		timers_fire(s, emu_now_us());
		MHD_run(s->d);
	} while (s->bytes_in != before && ++turns < 64);
}

/* How long a complete request's model work may wait while more input is
 * coming in: a quarter of the least latency --latency-ms can give (fixed,
 * or the low end of uniform); none otherwise, as the latency is only drawn
 * with the work. */
static int64_t work_slack_us(const emu_server *s)
{
	const emu_latency *l = &s->opt.forced_latency;
	if (l->dist != EMU_DIST_FIXED && l->dist != EMU_DIST_UNIFORM)
		return 0;
	return (int64_t)(l->a * 250.0);
}

/* A burst of requests (a debate round) arrives as a stream of bodies some
 * tens of microseconds apart, and the model work for one body takes up to
 * a millisecond. While bodies keep coming (input within the last QUIET_US)
 * and the oldest waiting request has slack left, this waits for input
 * instead of running a model, so that every body of the burst is stamped
 * when it lands, not after the work queued ahead of it. True when it
 * waited. */
#define QUIET_US 300
static bool hold_work(emu_server *s, int epfd)
{
	int64_t now = emu_now_us();
	int64_t hold = s->work_head->arrived_us + work_slack_us(s) - now;
	if (s->stopping || hold <= 0 || now - s->last_input_us >= QUIET_US)
		return false;
	int64_t wait = loop_timeout_us(s);
	wait = wait < hold ? wait : hold;
	struct epoll_event ev[4];
	loop_wait(epfd, ev, 4, wait < QUIET_US ? wait : QUIET_US);
	return true;
}

int emu_server_run(emu_server *s, volatile int *stop, bool handle_signals)
{
	int sigfd;
	int epfd = loop_setup(s, handle_signals, &sigfd);
	if (epfd < 0)
		return BHIVE_ERR_IO;
	bool signalled = false;
	while (!(stop && *stop) && !signalled) {
		read_all(s);
		/* One request at a time, with a look at the sockets in between:
		 * bodies that arrive meanwhile are stamped on time. */
		while (s->work_head && !(stop && *stop)) {
			if (!hold_work(s, epfd))
				work_one(s);
			read_all(s);
		}
		struct epoll_event evs[4];
		int n = loop_wait(epfd, evs, 4, loop_timeout_us(s));
		for (int i = 0; i < n; i++)
			signalled = signalled || evs[i].data.u32 == 1;
	}
	if (signalled)
		BH_INFO("bhive-emulator: signal received, shutting down");
	close(epfd);
	if (sigfd >= 0)
		close(sigfd);
	return 0;
}
