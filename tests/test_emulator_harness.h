/*
 * test_emulator_harness.h - starts the real bhive-emulator binary on
 * 127.0.0.1 with --port 0 and talks to it with libcurl, for the
 * test_emulator*.c programs. Everything is static inline so each program
 * takes what it uses.
 */
#ifndef TEST_EMULATOR_HARNESS_H
#define TEST_EMULATOR_HARNESS_H

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aws/sigv4.h"
#include "util/util.h"

typedef struct emu_proc {
	pid_t pid;
	int port;
	char url[64];
} emu_proc;

/* Reads the first stdout line ("listening http://127.0.0.1:PORT") within
 * ten seconds; the port is 0 when it never came. */
static inline int harness_read_port(int fd)
{
	char line[128];
	size_t n = 0;
	while (n + 1 < sizeof(line)) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, 10000) <= 0 || read(fd, line + n, 1) != 1)
			return 0;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	const char *colon = strrchr(line, ':');
	long port = 0;
	if (!bh_starts_with(line, "listening http://127.0.0.1:") || !colon ||
	    bh_parse_long(colon + 1, &port))
		return 0;
	return (int)port;
}

/* Starts the emulator with extra arguments (NULL-terminated list). Its
 * stderr goes to /dev/null unless BHIVE_TEST_VERBOSE is set. */
static inline bool emu_proc_start(emu_proc *p, const char *const *extra)
{
	const char *argv[64] = {BHIVE_EMULATOR_BIN, "--port", "0"};
	size_t n = 3;
	for (size_t i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	int fds[2];
	if (pipe(fds) != 0)
		return false;
	fflush(NULL);
	p->pid = fork();
	if (p->pid == 0) {
		/* a test that fails before stopping it leaves no orphan behind */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (!getenv("BHIVE_TEST_VERBOSE") && !freopen("/dev/null", "w", stderr))
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	p->port = p->pid > 0 ? harness_read_port(fds[0]) : 0;
	close(fds[0]);
	snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", p->port);
	return p->port > 0;
}

/* Sends sig and waits up to five seconds; the exit status, or -1 when the
 * process had to be killed or died of a signal. */
static inline int emu_proc_signal_wait(emu_proc *p, int sig)
{
	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	for (int i = 0; i < 500; i++) {
		int status;
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == p->pid) {
			p->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		usleep(10000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
	return -1;
}

static inline int emu_proc_stop(emu_proc *p)
{
	return emu_proc_signal_wait(p, SIGTERM);
}

typedef struct http_resp {
	CURLcode rc;
	long status;
	bh_buf body;
	json_t *json; /* parsed body, NULL when not JSON */
	char error_type[128];
	char request_id[128];
	double seconds;
} http_resp;

static inline void http_resp_release(http_resp *r)
{
	bh_buf_release(&r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static inline size_t harness_write(char *p, size_t size, size_t n, void *ud)
{
	bh_buf_append(ud, p, size * n);
	return size * n;
}

static inline void harness_header_value(const char *line, size_t len, const char *name, char *out,
                                        size_t outsz)
{
	size_t nl = strlen(name);
	if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	const char *v = line + nl + 1;
	while (*v == ' ')
		v++;
	size_t vl = len - (size_t)(v - line);
	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
		vl--;
	snprintf(out, outsz, "%.*s", (int)vl, v);
}

static inline size_t harness_header(char *p, size_t size, size_t n, void *ud)
{
	http_resp *r = ud;
	harness_header_value(p, size * n, "x-amzn-ErrorType", r->error_type, sizeof(r->error_type));
	harness_header_value(p, size * n, "x-amzn-RequestId", r->request_id, sizeof(r->request_id));
	return size * n;
}

/* One request; headers is a NULL-terminated list of "Name: value". */
static inline void http_call(const emu_proc *p, const char *method, const char *path,
                             const char *body, const char *const *headers, http_resp *out)
{
	memset(out, 0, sizeof(*out));
	bh_buf_init(&out->body, 0);
	char url[2048];
	snprintf(url, sizeof(url), "%s%s", p->url, path);
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, harness_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, harness_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	out->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &out->seconds);
	if (out->body.data)
		out->json = json_loads(out->body.data, 0, NULL);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
}

/* POST /model/{label}/converse with a bearer token (accepted when the
 * emulator has no keys). label is already URI-encoded. */
static inline void converse_bearer(const emu_proc *p, const char *label, const char *body,
                                   const char *token, http_resp *out)
{
	char path[1024], auth[256];
	snprintf(path, sizeof(path), "/model/%s/converse", label);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	const char *h[] = {"Content-Type: application/json", auth, NULL};
	http_call(p, "POST", path, body, h, out);
}

/* POST with SigV4 made by the library's signer, at time t. */
static inline void converse_sigv4(const emu_proc *p, const char *label, const char *body,
                                  const char *akid, const char *secret, const char *token,
                                  int64_t t, http_resp *out)
{
	char path[1024], host[64], date_h[64], auth_h[1024], tok_h[512];
	snprintf(path, sizeof(path), "/model/%s/converse", label);
	snprintf(host, sizeof(host), "127.0.0.1:%d", p->port);
	bh_sigv4_header hs[] = {{"host", host}, {"content-type", "application/json"}};
	bh_sigv4_request req = {"POST", path, NULL, hs, 2, body, strlen(body), NULL};
	bh_sigv4_params prm = {.access_key_id = akid,
	                       .secret_access_key = secret,
	                       .session_token = token,
	                       .region = "us-east-1",
	                       .service = "bedrock",
	                       .time = t,
	                       .double_encode_path = true,
	                       .normalize_path = true};
	bh_sigv4_result res;
	bh_sigv4_result_init(&res);
	bh_sigv4_sign(&req, &prm, &res, NULL);
	snprintf(date_h, sizeof(date_h), "X-Amz-Date: %s", res.amz_date);
	snprintf(auth_h, sizeof(auth_h), "Authorization: %s",
	         res.authorization.data ? res.authorization.data : "");
	snprintf(tok_h, sizeof(tok_h), "X-Amz-Security-Token: %s", token ? token : "");
	const char *h[] = {"Content-Type: application/json", date_h, auth_h, token ? tok_h : NULL,
	                   NULL};
	http_call(p, "POST", path, body, h, out);
	bh_sigv4_result_release(&res);
}

static inline const char *resp_message(const http_resp *r)
{
	const char *m = bh_json_str(r->json, "message");
	return m ? m : "";
}

/* The assistant's text in a Converse response ("" when absent). */
static inline const char *resp_text(const http_resp *r)
{
	const json_t *content = json_object_get(
	    json_object_get(json_object_get(r->json, "output"), "message"), "content");
	for (size_t i = 0; i < json_array_size(content); i++) {
		const char *t = bh_json_str(json_array_get(content, i), "text");
		if (t)
			return t;
	}
	return "";
}

static inline json_int_t resp_usage(const http_resp *r, const char *key)
{
	return bh_json_int(json_object_get(r->json, "usage"), key, -1);
}

/* Writes text to a fresh file under /tmp; the caller unlinks path. */
static inline bool harness_write_file(char *path, size_t pathsz, const char *text)
{
	snprintf(path, pathsz, "/tmp/bhive-emu-test-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return false;
	size_t len = strlen(text);
	bool ok = write(fd, text, len) == (ssize_t)len;
	close(fd);
	return ok;
}

#define SIMPLE_BODY                                                                                \
	"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"What is 2 + 2?\"}]}]}"
#define SONNET "anthropic.claude-3-sonnet-20240229-v1%3A0"

#endif
