/*
 * debate_wall.c - how close the hive engine gets to the ideal wall-clock
 * time of a debate, and what it costs in CPU and memory.
 *
 * Against bhive-emulator with a fixed simulated latency of 100 ms per call:
 *   1. a debate of 32 slots x 4 rounds (3 reflections) plus the aggregator:
 *      the ideal is 4 x 100 ms + 100 ms = 500 ms (goal: within 5%);
 *   2. CPU per call and per conversation (getrusage of this process only;
 *      the emulator runs in its own) for many one-call conversations through
 *      the engine, next to the same calls made with the bare client, so the
 *      engine's own share is the difference;
 *   3. heap in use per conversation in flight (mallinfo2 at the peak).
 *
 *   bench_debate_wall [--runs N] [--conversations N] [--in-flight N]
 *
 * The models are simulated: the figures measure bhive, not Bedrock.
 */
#include "bhive.h"
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MODEL "anthropic.claude-3-haiku-20240307-v1:0"
#define LATENCY_MS 100
#define SLOTS 32
#define REFLECTIONS 3

static pid_t emu_pid;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* CPU ms the emulator process has used so far (from /proc), -1 if unknown. */
static double emulator_cpu_ms(void)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)emu_pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
	                 &st) != 2)
		return -1;
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static long max_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Starts the emulator on port 0 and returns its URL in url. */
static int start_emulator(char *url, size_t n)
{
	int out[2];
	char lat[16];
	snprintf(lat, sizeof(lat), "%d", LATENCY_MS);
	if (pipe(out))
		return -1;
	emu_pid = fork();
	if (emu_pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execl(BHIVE_EMULATOR_BIN, BHIVE_EMULATOR_BIN, "--port", "0", "--latency-ms", lat,
		      "--record-max", "16", "--log-level", "error", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	FILE *f = fdopen(out[0], "r");
	char line[256] = "";
	if (!f || !fgets(line, sizeof(line), f))
		return -1;
	fclose(f);
	char *u = strstr(line, "http://");
	if (!u)
		return -1;
	u[strcspn(u, " \r\n")] = '\0';
	snprintf(url, n, "%s", u);
	return 0;
}

static void stop_emulator(void)
{
	if (emu_pid > 0) {
		kill(emu_pid, SIGTERM);
		waitpid(emu_pid, NULL, 0);
	}
}

static bhive_client *make_client(const char *url)
{
	bhive_client_options o;
	bhive_error err;
	bhive_client_options_init(&o);
	o.region = "us-east-1";
	o.endpoint_url = url;
	o.access_key_id = "AKIDEXAMPLE";
	o.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	o.max_attempts = 1;
	bhive_client *c = bhive_client_new(&o, &err);
	if (!c)
		fprintf(stderr, "debate_wall: %s\n", err.message);
	return c;
}

static json_t *question(void)
{
	return json_pack("{s:[{s:s,s:[{s:s}]}]}", "messages", "role", "user", "content", "text",
	                 "What is the result of 12+34*5+6-7*8? Make sure to state your answer "
	                 "in <answer> </answer> tags.");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * From the result's trace: per round, when the round began, when its last
 * call was handed to the client, and its first and last answers. The
 * engine's share of the critical path is the time from a round's start to
 * its last send; the rest is the server (simulated latency plus its own
 * processing) and the loopback network.
 */
static double print_rounds(const bhive_result *res)
{
	const json_t *trace = bhive_result_trace(res), *ev;
	double start[8] = {0}, last_sent[8] = {0}, first_ans[8], last_ans[8] = {0};
	double engine = 0, agg_start = 0, agg_ans = 0;
	size_t i;
	for (int r = 0; r < 8; r++)
		first_ans[r] = 1e18;
	json_array_foreach(trace, i, ev)
	{
		int r = (int)json_integer_value(json_object_get(ev, "round"));
		const char *what = json_string_value(json_object_get(ev, "event"));
		double t = json_number_value(json_object_get(ev, "t_ms"));
		if (r < 0 || r >= 8 || !what)
			continue;
		if (json_integer_value(json_object_get(ev, "slot")) == -1 &&
		    strcmp(what, "round")) {
			if (!strcmp(what, "aggregate"))
				agg_start = t;
			else if (!strcmp(what, "answered"))
				agg_ans = t;
			continue;
		}
		if (!strcmp(what, "round"))
			start[r] = t;
		else if (!strcmp(what, "sent") && t > last_sent[r])
			last_sent[r] = t;
		else if (!strcmp(what, "answered")) {
			first_ans[r] = t < first_ans[r] ? t : first_ans[r];
			last_ans[r] = t > last_ans[r] ? t : last_ans[r];
		}
	}
	printf("    rounds (ms: start, last send, first answer, last answer):");
	for (int r = 0; r <= REFLECTIONS; r++) {
		printf(" [%.0f %.0f %.0f %.0f]", start[r], last_sent[r], first_ans[r], last_ans[r]);
		engine += last_sent[r] - start[r];
	}
	printf(" aggregator [%.0f %.0f]\n", agg_start, agg_ans);
	return engine;
}

/* 1. The 32-slot debate, runs times; prints each wall time and the median. */
static int bench_debate(bhive_client *c, int runs)
{
	bhive_config *cfg = bhive_config_new();
	for (int i = 0; i < SLOTS; i++)
		bhive_config_add_model(cfg, MODEL);
	bhive_config_set_reflections(cfg, REFLECTIONS);
	bhive_config_set_aggregator(cfg, MODEL);
	json_t *req = question();
	double ideal = (REFLECTIONS + 2) * LATENCY_MS, walls[64];
	int ok = 0;
	printf("debate: %d slots x %d rounds + aggregator, %d ms per call (simulated), "
	       "ideal %.0f ms\n",
	       SLOTS, REFLECTIONS + 1, LATENCY_MS, ideal);
	for (int r = 0; r < runs && r < 64; r++) {
		bhive_error err;
		double e0 = emulator_cpu_ms(), c0 = cpu_us(), t0 = now_ms();
		bhive_result *res = bhive_hive_converse(c, cfg, req, NULL, &err);
		walls[ok] = now_ms() - t0;
		double emu_ms = emulator_cpu_ms() - e0, own_ms = (cpu_us() - c0) / 1000;
		if (!res) {
			fprintf(stderr, "debate_wall: %s\n", err.message);
			continue;
		}
		printf("  run %d: %.1f ms wall, %d calls, %.1f%% over ideal\n", r + 1, walls[ok],
		       bhive_result_calls(res), 100.0 * (walls[ok] - ideal) / ideal);
		double eng = print_rounds(res);
		printf("    engine's own time on the critical path (round start to last send, "
		       "rounds 0-%d): %.0f ms; CPU: this process %.0f ms, emulator %.0f ms\n",
		       REFLECTIONS, eng, own_ms, emu_ms);
		bhive_result_free(res);
		ok++;
	}
	if (ok) {
		qsort(walls, (size_t)ok, sizeof(double), cmp_double);
		double med = walls[ok / 2];
		printf("  median %.1f ms = %.1f%% over the ideal %.0f ms (goal <= 5%%): %s\n", med,
		       100.0 * (med - ideal) / ideal, ideal,
		       med <= ideal * 1.05 ? "met" : "missed");
	}
	json_decref(req);
	bhive_config_free(cfg);
	return ok ? 0 : 1;
}

/* ---- 2. CPU per call ----------------------------------------------------- */

typedef struct bare_state {
	bhive_client *c;
	const json_t *req;
	int left, done, failed;
} bare_state;

static void bare_done(void *ud, json_t *resp, const bhive_error *err, const bhive_call_info *info)
{
	bare_state *s = ud;
	s->done++;
	s->failed += resp == NULL;
	if (s->left > 0) {
		s->left--;
		bhive_converse_start(s->c, MODEL, s->req, bare_done, s, NULL);
	}
}

/* The bare client: n calls, in_flight at a time. Returns CPU us per call. */
static double bench_bare(bhive_client *c, int n, int in_flight)
{
	json_t *req = question();
	bare_state s = {c, req, n - in_flight, 0, 0};
	double t0 = cpu_us(), w0 = now_ms();
	for (int i = 0; i < in_flight && i < n; i++)
		bhive_converse_start(c, MODEL, req, bare_done, &s, NULL);
	while (bhive_client_run(c, -1) > 0)
		;
	double per = (cpu_us() - t0) / n;
	printf("  bare client:  %d calls, %d in flight: %.1f us CPU per call, %.0f ms wall%s\n", n,
	       in_flight, per, now_ms() - w0, s.failed ? " (some failed)" : "");
	json_decref(req);
	return per;
}

typedef struct heap_peak {
	size_t base, peak;
} heap_peak;

static void sample_heap(void *ud, const bhive_progress *p)
{
	heap_peak *h = ud;
	struct mallinfo2 mi = mallinfo2();
	if (mi.uordblks > h->peak)
		h->peak = mi.uordblks;
}

/* The engine: n one-call conversations, in_flight at a time. */
static double bench_engine(bhive_client *c, int n, int in_flight, heap_peak *heap)
{
	bhive_hive *h = bhive_hive_new(c, NULL);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, MODEL);
	json_t *req = question();
	bhive_hive_set_max_running(h, in_flight);
	bhive_hive_set_progress(h, sample_heap, heap);
	heap->base = heap->peak = mallinfo2().uordblks;
	double t0 = cpu_us(), w0 = now_ms();
	int failed = 0;
	for (int i = 0; i < n; i++)
		bhive_hive_add(h, cfg, req, NULL, NULL);
	/* Results are read as they finish, as a benchmark driver would. */
	for (;;) {
		bhive_result *r;
		while ((r = bhive_hive_next_done(h, NULL, NULL)) != NULL) {
			failed += bhive_result_code(r) != 0;
			bhive_result_free(r);
		}
		if (bhive_hive_pending(h) == 0 || bhive_hive_perform(h, 50) < 0)
			break;
	}
	double per = (cpu_us() - t0) / n;
	printf("  hive engine:  %d conversations of 1 call, %d in flight: %.1f us CPU per "
	       "conversation, %.0f ms wall%s\n",
	       n, in_flight, per, now_ms() - w0, failed ? " (some failed)" : "");
	json_decref(req);
	bhive_config_free(cfg);
	bhive_hive_free(h);
	return per;
}

/* CPU of a whole debate conversation (129 calls), per call. */
static void bench_debate_cpu(bhive_client *c, int runs)
{
	bhive_config *cfg = bhive_config_new();
	for (int i = 0; i < SLOTS; i++)
		bhive_config_add_model(cfg, MODEL);
	bhive_config_set_reflections(cfg, REFLECTIONS);
	bhive_config_set_aggregator(cfg, MODEL);
	json_t *req = question();
	int calls = 0;
	double t0 = cpu_us();
	for (int r = 0; r < runs; r++) {
		bhive_result *res = bhive_hive_converse(c, cfg, req, NULL, NULL);
		calls += bhive_result_calls(res);
		bhive_result_free(res);
	}
	double total = cpu_us() - t0;
	printf("  debate:       %.0f us CPU per 32x4+1 conversation, %.1f us per call (%d calls; "
	       "prompts grow with 31 other answers each round)\n",
	       total / runs, calls ? total / calls : 0, calls);
	json_decref(req);
	bhive_config_free(cfg);
}

/* The engine's own state per conversation: many added, one running. */
static double bench_queued_heap(bhive_client *c, int n)
{
	bhive_hive *h = bhive_hive_new(c, NULL);
	bhive_config *cfg = bhive_config_new();
	bhive_config_add_model(cfg, MODEL);
	bhive_config_set_reflections(cfg, 2);
	json_t *req = question();
	bhive_hive_set_max_running(h, 1);
	size_t base = mallinfo2().uordblks;
	for (int i = 0; i < n; i++)
		bhive_hive_add(h, cfg, req, NULL, NULL);
	double per = (double)(mallinfo2().uordblks - base) / n;
	/* Freeing cancels the one running call and drops the queue: running
	 * them all one at a time would take n x 3 x 100 ms. */
	json_decref(req);
	bhive_config_free(cfg);
	bhive_hive_free(h);
	return per;
}

static int arg_int(int argc, char **argv, const char *name, int def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return (int)strtol(argv[i + 1], NULL, 10);
	return def;
}

int main(int argc, char **argv)
{
	int runs = arg_int(argc, argv, "--runs", 5);
	int convs = arg_int(argc, argv, "--conversations", 4000);
	int inflight = arg_int(argc, argv, "--in-flight", 256);
	char url[128];
	if (start_emulator(url, sizeof(url))) {
		fprintf(stderr, "debate_wall: cannot start %s\n", BHIVE_EMULATOR_BIN);
		return 1;
	}
	bhive_client *c = make_client(url);
	if (!c) {
		stop_emulator();
		return 1;
	}
	printf("bench_debate_wall: bhive %s against bhive-emulator (SIMULATED models) at %s\n",
	       bhive_version(), url);
	int rc = bench_debate(c, runs);
	printf("cpu (this process only; the emulator is another process):\n");
	double bare = bench_bare(c, convs, inflight);
	heap_peak heap = {0};
	double engine = bench_engine(c, convs, inflight, &heap);
	printf("  engine share: %.1f us CPU per conversation over the bare call\n", engine - bare);
	bench_debate_cpu(c, runs);
	printf("memory:\n  heap in use at the peak: %.1f KiB over the start for %d conversations "
	       "in flight = %.2f KiB per conversation (1 call each)\n  max RSS %ld KiB\n",
	       (double)(heap.peak - heap.base) / 1024, inflight,
	       (double)(heap.peak - heap.base) / 1024 / inflight, max_rss_kb());
	printf("  engine state of a waiting conversation (config, request, slots): %.0f bytes\n",
	       bench_queued_heap(c, 1000));
	bhive_client_free(c);
	stop_emulator();
	return rc;
}
