/*
 * emulator_rps.c - how many Converse requests per second bhive-emulator
 * serves, and its peak memory.
 *
 * Starts the emulator (or uses --url), keeps --connections keep-alive
 * connections busy with libcurl multi until --requests answers came back
 * or --max-seconds passed, and prints requests/s, the status counts and
 * the emulator's peak resident memory (VmHWM from /proc/PID/status).
 *
 *   bench_emulator_rps [--requests N] [--connections C] [--max-seconds S]
 *                      [--latency-ms SPEC] [--record-max N] [--url URL]
 *
 * The models served are simulated; this measures the server, not a model.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

#define BODY                                                                                       \
	"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"What is the result of "        \
	"3+4*5+6-7*8? Make sure to state your answer in <answer> </answer> tags.\"}]}],"           \
	"\"inferenceConfig\":{\"maxTokens\":512,\"temperature\":0.7}}"

typedef struct bench {
	long requests, connections, max_seconds, record_max;
	const char *latency;
	const char *url;
	pid_t pid;
	char base[128];
	long done, ok, errors, status[6];
} bench;

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	return size * n;
}

static int parse_args(bench *b, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		long *num = strcmp(argv[i], "--requests") == 0      ? &b->requests
		            : strcmp(argv[i], "--connections") == 0 ? &b->connections
		            : strcmp(argv[i], "--max-seconds") == 0 ? &b->max_seconds
		            : strcmp(argv[i], "--record-max") == 0  ? &b->record_max
		                                                    : NULL;
		if (!v)
			return -1;
		if (num && (bh_parse_long(v, num) || *num < 1))
			return -1;
		else if (strcmp(argv[i], "--latency-ms") == 0)
			b->latency = v;
		else if (strcmp(argv[i], "--url") == 0)
			b->url = v;
		else if (!num)
			return -1;
		i++;
	}
	return 0;
}

/* Starts the emulator on a free port and reads its listening line. */
static int start_emulator(bench *b)
{
	char record[32];
	snprintf(record, sizeof(record), "%ld", b->record_max);
	const char *argv[16] = {BHIVE_EMULATOR_BIN, "--port", "0", "--time-scale", "0",
	                        "--record-max",     record};
	int n = 7;
	if (b->latency) {
		argv[n++] = "--latency-ms";
		argv[n++] = b->latency;
	}
	argv[n] = NULL;
	int fds[2];
	if (pipe(fds))
		return -1;
	b->pid = fork();
	if (b->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[256] = "";
	if (!f || !fgets(line, sizeof(line), f))
		return -1;
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if (!bh_starts_with(line, "listening "))
		return -1;
	bh_strlcpy(b->base, line + strlen("listening "), sizeof(b->base));
	return 0;
}

static long peak_rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (bh_starts_with(line, "VmHWM:"))
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static CURL *new_handle(const char *url, struct curl_slist *h)
{
	CURL *e = curl_easy_init();
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, BODY);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	return e;
}

/* Counts one finished transfer; re-adds its handle while more are wanted,
 * so each handle keeps reusing its keep-alive connection. */
static void finished(bench *b, CURLM *m, CURLMsg *msg, long *started)
{
	long status = 0;
	curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
	b->done++;
	if (msg->data.result == CURLE_OK && status == 200)
		b->ok++;
	else
		b->errors++;
	if (status >= 100 && status < 600)
		b->status[status / 100]++;
	curl_multi_remove_handle(m, msg->easy_handle);
	if (*started < b->requests) {
		curl_multi_add_handle(m, msg->easy_handle);
		(*started)++;
	}
}

static double run(bench *b)
{
	char url[256];
	snprintf(url, sizeof(url), "%s/model/anthropic.claude-3-sonnet-20240229-v1%%3A0/converse",
	         b->base);
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer bench");
	h = curl_slist_append(h, "Content-Type: application/json");
	CURLM *m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, b->connections);
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, b->connections);
	long n = b->connections < b->requests ? b->connections : b->requests, started = n;
	CURL **all = calloc((size_t)n, sizeof(*all));
	for (long i = 0; i < n; i++)
		curl_multi_add_handle(m, all[i] = new_handle(url, h));
	double t0 = bh_now_s();
	int running = 1;
	while ((running || started < b->requests) && bh_now_s() - t0 < (double)b->max_seconds) {
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE)
				finished(b, m, msg, &started);
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	double t = bh_now_s() - t0;
	for (long i = 0; i < n; i++) {
		curl_multi_remove_handle(m, all[i]);
		curl_easy_cleanup(all[i]);
	}
	free(all);
	curl_multi_cleanup(m);
	curl_slist_free_all(h);
	return t;
}

int main(int argc, char **argv)
{
	bench b = {.requests = 50000, .connections = 256, .max_seconds = 60, .record_max = 100000};
	if (parse_args(&b, argc, argv)) {
		fprintf(stderr,
		        "usage: bench_emulator_rps [--requests N] [--connections C] "
		        "[--max-seconds S] [--latency-ms SPEC] [--record-max N] [--url URL]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (b.url)
		bh_strlcpy(b.base, b.url, sizeof(b.base));
	else if (start_emulator(&b)) {
		fprintf(stderr, "bench_emulator_rps: cannot start %s\n", BHIVE_EMULATOR_BIN);
		return 1;
	}
	double t = run(&b);
	printf("bhive-emulator (simulated models) at %s\n", b.base);
	printf("connections %ld, requests %ld done (%ld ok, %ld errors) in %.2f s\n", b.connections,
	       b.done, b.ok, b.errors, t);
	printf("throughput %.0f requests/s\n", t > 0 ? (double)b.done / t : 0.0);
	printf("status 2xx %ld, 4xx %ld, 5xx %ld\n", b.status[2], b.status[4], b.status[5]);
	if (b.pid > 0) {
		printf("emulator peak RSS (VmHWM) %ld KiB\n", peak_rss_kb(b.pid));
		kill(b.pid, SIGTERM);
		waitpid(b.pid, NULL, 0);
	}
	curl_global_cleanup();
	return b.done == b.requests && b.errors == 0 ? 0 : 1;
}
