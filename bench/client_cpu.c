/*
 * client_cpu.c - client-side CPU cost of one Converse call.
 *
 * A child process serves a fixed Converse response on a loopback port
 * (libmicrohttpd), so its CPU is not counted. The parent then measures, in
 * one run, getrusage CPU time per call for
 *   (a) bhive_client: serialise, sign (SigV4), send through the curl multi
 *       loop, parse and check the response, with a window of calls in flight;
 *   (b) the floor: a bare libcurl multi + jansson loop that sends the same
 *       body unsigned with fixed headers and parses the response.
 * Each is measured `rounds` times, alternating, and the best round counts.
 *
 *   bench_client_cpu [--calls N] [--inflight K] [--rounds R] [--only bhive|bare]
 *
 * --only runs one side (for profilers such as perf or strace -c).
 */
#include "bhive/client.h"
#include "util/util.h"
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char response_body[] =
    "{\"metrics\":{\"latencyMs\":268},\"output\":{\"message\":{\"content\":[{\"text\":"
    "\"Hello! How can I assist you today? Whether you have questions, need information, "
    "or just want to chat, I'm here to help.\"}],\"role\":\"assistant\"}},\"stopReason\":"
    "\"end_turn\",\"usage\":{\"inputTokens\":7,\"outputTokens\":30,\"totalTokens\":37}}";

#define MODEL "anthropic.claude-3-haiku-20240307-v1:0"
#define PATH "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"

/* ---- the server (child process) ------------------------------------------ */

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	static int marker;
	if (*con_cls != &marker) {
		*con_cls = &marker;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    sizeof(response_body) - 1, (void *)response_body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "x-amzn-RequestId", "00000000-0000-0000-0000-000000000000");
	enum MHD_Result rc = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return rc;
}

static void serve(int fd)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, answer, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)4096, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
	int port = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port : 0;
	if (write(fd, &port, sizeof(port)) != sizeof(port) || !d)
		_exit(1);
	close(fd);
	for (;;)
		pause();
}

static pid_t start_server(int *port)
{
	int p[2];
	if (pipe(p))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		serve(p[1]);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], port, sizeof(*port)) != sizeof(*port) || *port == 0)
		pid = -1;
	close(p[0]);
	return pid;
}

/* ---- measuring ------------------------------------------------------------- */

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

typedef struct result {
	double cpu_us; /* per call */
	double wall_s;
	long failed;
} result;

static json_t *make_request(void)
{
	return json_pack("{s:[{s:s, s:[{s:s}]}], s:[{s:s}], s:{s:i, s:f}}", "messages", "role",
	                 "user", "content", "text",
	                 "What is 17 * 23? Think step by step and state the answer at the end.",
	                 "system", "text", "You are a careful assistant.", "inferenceConfig",
	                 "maxTokens", 512, "temperature", 0.7);
}

/* ---- (a) bhive_client ------------------------------------------------------ */

typedef struct bh_run {
	bhive_client *client;
	json_t *req;
	long started, total, failed;
} bh_run;

static void bh_done(void *ud, json_t *resp, const bhive_error *err, const bhive_call_info *info)
{
	bh_run *r = ud;
	if (!resp) {
		if (r->failed++ == 0)
			fprintf(stderr, "client_cpu: %s\n", err->message);
	}
	if (r->started < r->total) {
		r->started++;
		if (bhive_converse_start(r->client, MODEL, r->req, bh_done, r, NULL))
			r->failed++;
	}
}

static result run_bhive(bhive_client *c, long calls, int inflight)
{
	bh_run r = {c, make_request(), 0, calls, 0};
	double t0 = bh_now_s(), c0 = cpu_seconds();
	for (int i = 0; i < inflight && r.started < calls; i++) {
		r.started++;
		if (bhive_converse_start(c, MODEL, r.req, bh_done, &r, NULL))
			r.failed++;
	}
	bhive_client_run(c, -1);
	result out = {(cpu_seconds() - c0) * 1e6 / (double)calls, bh_now_s() - t0, r.failed};
	json_decref(r.req);
	return out;
}

/* ---- (b) bare libcurl multi + jansson ---------------------------------------- */

typedef struct bare_xfer {
	CURL *easy;
	bh_buf body;
	char *req;
} bare_xfer;

static size_t bare_write(char *p, size_t size, size_t n, void *ud)
{
	bare_xfer *x = ud;
	return bh_buf_append(&x->body, p, size * n) ? 0 : size * n;
}

static void bare_start(CURLM *m, bare_xfer *x, const json_t *req)
{
	free(x->req);
	x->req = json_dumps(req, JSON_COMPACT);
	bh_buf_reset(&x->body);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->req);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->req));
	curl_multi_add_handle(m, x->easy);
}

static bool bare_check(bare_xfer *x)
{
	json_t *v = json_loadb(x->body.data ? x->body.data : "", x->body.len, 0, NULL);
	bool ok = json_is_object(json_object_get(json_object_get(v, "output"), "message"));
	json_decref(v);
	return ok;
}

static long bare_loop(CURLM *m, bare_xfer *xs, long calls, int inflight, const json_t *req)
{
	long started = 0, done = 0, failed = 0;
	for (int i = 0; i < inflight && started < calls; i++, started++)
		bare_start(m, &xs[i], req);
	while (done < calls) {
		int running, left;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		while ((msg = curl_multi_info_read(m, &left))) {
			bare_xfer *x = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			curl_multi_remove_handle(m, x->easy);
			long status = 0;
			curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
			failed += msg->data.result != CURLE_OK || status != 200 || !bare_check(x);
			done++;
			if (started < calls) {
				started++;
				bare_start(m, x, req);
			}
		}
		if (done < calls)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	return failed;
}

static result run_bare(const char *url, long calls, int inflight)
{
	CURLM *m = curl_multi_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	bare_xfer *xs = calloc((size_t)inflight, sizeof(*xs));
	json_t *req = make_request();
	for (int i = 0; i < inflight; i++) {
		xs[i].easy = curl_easy_init();
		bh_buf_init(&xs[i].body, 0);
		curl_easy_setopt(xs[i].easy, CURLOPT_URL, url);
		curl_easy_setopt(xs[i].easy, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(xs[i].easy, CURLOPT_WRITEFUNCTION, bare_write);
		curl_easy_setopt(xs[i].easy, CURLOPT_WRITEDATA, &xs[i]);
		curl_easy_setopt(xs[i].easy, CURLOPT_PRIVATE, &xs[i]);
		curl_easy_setopt(xs[i].easy, CURLOPT_NOSIGNAL, 1L);
	}
	double t0 = bh_now_s(), c0 = cpu_seconds();
	long failed = bare_loop(m, xs, calls, inflight, req);
	result out = {(cpu_seconds() - c0) * 1e6 / (double)calls, bh_now_s() - t0, failed};
	for (int i = 0; i < inflight; i++) {
		curl_easy_cleanup(xs[i].easy);
		bh_buf_release(&xs[i].body);
		free(xs[i].req);
	}
	free(xs);
	json_decref(req);
	curl_slist_free_all(h);
	curl_multi_cleanup(m);
	return out;
}

/* ---- main ------------------------------------------------------------------- */

static long arg_long(int argc, char **argv, const char *name, long def)
{
	long v;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0 && bh_parse_long(argv[i + 1], &v) == 0 && v > 0)
			return v;
	return def;
}

static const char *arg_str(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static bhive_client *make_client(const char *url)
{
	bhive_client_options o;
	bhive_client_options_init(&o);
	o.region = "us-east-1";
	o.endpoint_url = url;
	o.access_key_id = "AKIDEXAMPLE";
	o.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	o.retry_mode = BHIVE_RETRY_STANDARD;
	bhive_error err;
	bhive_client *c = bhive_client_new(&o, &err);
	if (!c)
		fprintf(stderr, "client_cpu: %s\n", err.message);
	return c;
}

static void print_row(const char *name, result r, long calls)
{
	printf("%-28s %8.2f us CPU/call  %9.0f calls/s wall  %ld failed\n", name, r.cpu_us,
	       (double)calls / r.wall_s, r.failed);
}

int main(int argc, char **argv)
{
	long calls = arg_long(argc, argv, "--calls", 20000);
	int inflight = (int)arg_long(argc, argv, "--inflight", 64);
	int rounds = (int)arg_long(argc, argv, "--rounds", 3);
	int port;
	pid_t pid = start_server(&port);
	if (pid < 0) {
		fprintf(stderr, "client_cpu: cannot start the loopback server\n");
		return 1;
	}
	char base[64], url[160];
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	snprintf(url, sizeof(url), "%s%s", base, PATH);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	bhive_client *c = make_client(base);
	if (!c) {
		kill(pid, SIGTERM);
		return 1;
	}
	const char *only = arg_str(argc, argv, "--only");
	bool do_a = !only || strcmp(only, "bhive") == 0, do_b = !only || strcmp(only, "bare") == 0;
	if (do_a)
		run_bhive(c, 1000, inflight); /* warm: connections, credentials, pools */
	if (do_b)
		run_bare(url, 1000, inflight);
	result best_a = {1e300, 0, 0}, best_b = {1e300, 0, 0};
	for (int i = 0; i < rounds; i++) {
		result b = do_b ? run_bare(url, calls, inflight) : best_b;
		result a = do_a ? run_bhive(c, calls, inflight) : best_a;
		if (b.cpu_us < best_b.cpu_us)
			best_b = b;
		if (a.cpu_us < best_a.cpu_us)
			best_a = a;
	}
	printf("client_cpu: %ld calls x %d rounds (best), %d in flight, loopback HTTP/1.1 "
	       "server in a child process\n",
	       calls, rounds, inflight);
	print_row("bare libcurl+jansson", best_b, calls);
	print_row("bhive_client (SigV4)", best_a, calls);
	printf("ratio %.2f (goal <= 1.20)\n", best_a.cpu_us / best_b.cpu_us);
	bhive_client_free(c);
	curl_global_cleanup();
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return best_a.failed || best_b.failed ? 1 : 0;
}
