/*
 * bench_scale.c - how close the benchmark runner comes to the ideal wall
 * time with many conversations in flight, and what each one costs in
 * memory.
 *
 * Starts bhive-emulator with a fixed latency per call, then runs N
 * arithmetic samples with R rounds of reflection (R + 1 calls each) at
 * concurrency C through the runner, every sample committed to a SQLite
 * store as in `bhive bench`. Prints the wall time beside the ideal
 * ceil(N / C) x (R + 1) x latency, and the peak resident memory growth of
 * this process divided by C (memory per conversation in flight).
 *
 *   bench_scale [--samples 1000] [--concurrency 256] [--reflections 3]
 *               [--latency-ms 200] [--emulator PATH]
 *
 * The models are SIMULATED: this measures bhive, not a model.
 */
#include "bhive/bench.h"
#include "util/util.h"
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct scale {
	long samples, concurrency, reflections, latency_ms;
	const char *emulator;
	pid_t pid;
	char url[64];
	char store[64];
} scale;

static int parse_args(scale *s, int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		long *num = !strcmp(argv[i], "--samples")       ? &s->samples
		            : !strcmp(argv[i], "--concurrency") ? &s->concurrency
		            : !strcmp(argv[i], "--reflections") ? &s->reflections
		            : !strcmp(argv[i], "--latency-ms")  ? &s->latency_ms
		                                                : NULL;
		if (!strcmp(argv[i], "--emulator"))
			s->emulator = argv[i + 1];
		else if (!num || bh_parse_long(argv[i + 1], num) || *num < 0)
			return -1;
	}
	return argc % 2 == 1 && s->samples > 0 && s->concurrency > 0 ? 0 : -1;
}

/* kB of a line of /proc/self/status ("VmRSS:", "VmHWM:"). */
static long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (bh_starts_with(line, key))
			kb = strtol(line + strlen(key), NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static int read_url(int fd, char *url, size_t n)
{
	char line[128];
	size_t len = 0;
	while (len + 1 < sizeof(line)) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 10000) <= 0 || read(fd, line + len, 1) != 1)
			return -1;
		if (line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	const char *u = strstr(line, "http://");
	if (!u)
		return -1;
	bh_strlcpy(url, u, n);
	return 0;
}

static int start_emulator(scale *s)
{
	char lat[32];
	int fds[2];
	snprintf(lat, sizeof(lat), "%ld", s->latency_ms);
	if (pipe(fds))
		return -1;
	fflush(NULL);
	s->pid = fork();
	if (s->pid == 0) {
		dup2(fds[1], 1);
		if (!freopen("/dev/null", "w", stderr))
			_exit(126);
		execl(s->emulator, s->emulator, "--port", "0", "--latency-ms", lat, "--record-max",
		      "1", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	int rc = s->pid > 0 ? read_url(fds[0], s->url, sizeof(s->url)) : -1;
	close(fds[0]);
	return rc;
}

static void stop_emulator(scale *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
	}
}

static bhive_client *make_client(const scale *s)
{
	bhive_client_options o;
	bhive_error err;
	bhive_client_options_init(&o);
	o.endpoint_url = s->url;
	o.region = "us-east-1";
	o.access_key_id = "AKIDBENCHSCALE";
	o.secret_access_key = "bench-scale-emulator-accepts-any-key";
	o.max_attempts = 1;
	bhive_client *c = bhive_client_new(&o, &err);
	if (!c)
		fprintf(stderr, "bench_scale: %s\n", err.message);
	return c;
}

typedef struct figures {
	double wall_s;
	double conv_ms; /* mean wall time of one conversation */
	long rss_before_kb, hwm_after_kb;
	size_t done, failed;
} figures;

static void on_progress(void *ud, const bhive_runner_progress *p)
{
	figures *f = ud;
	f->done = p->done;
	f->failed = p->failed;
}

/* The measured part: the runner over the dataset. */
static int run(const scale *s, bhive_client *cl, bhive_store *st, figures *f)
{
	bhive_error err;
	bhive_dataset *ds = bhive_dataset_arithmetic("medium", (size_t)s->samples, 1, &err);
	bhive_evaluator *ev = bhive_evaluator_new("in-tags", &err);
	bhive_config *cfg = bhive_config_new();
	bhive_runner *r = bhive_runner_new(cl, st, "simulated models (bhive-emulator)", &err);
	int rc = -1;
	if (ds && ev && cfg && r &&
	    !bhive_config_add_model(cfg, "anthropic.claude-3-sonnet-20240229-v1:0") &&
	    !bhive_config_set_reflections(cfg, (int)s->reflections)) {
		bhive_job_spec spec = {
		    .name = "scale", .config = cfg, .dataset = ds, .evaluator = ev};
		bhive_runner_set_concurrency(r, (int)s->concurrency);
		bhive_runner_set_progress(r, on_progress, f);
		if (bhive_runner_add(r, &spec, &err) >= 0) {
			f->rss_before_kb = status_kb("VmRSS:");
			double t0 = bh_now_s();
			rc = bhive_runner_run(r, &err);
			f->wall_s = bh_now_s() - t0;
			f->hwm_after_kb = status_kb("VmHWM:");
			bhive_run_summary sum;
			json_t *rep = bhive_runner_report(r, &err);
			if (rep && !bhive_store_summary(
			               st,
			               bh_json_int(json_array_get(json_object_get(rep, "rows"), 0),
			                           "run", 0),
			               &sum, &err))
				f->conv_ms = sum.mean_wall_ms;
			json_decref(rep);
		}
	}
	if (rc)
		fprintf(stderr, "bench_scale: %s\n", err.message);
	bhive_runner_free(r);
	bhive_config_free(cfg);
	bhive_evaluator_free(ev);
	bhive_dataset_free(ds);
	return rc;
}

static void print_figures(const scale *s, const figures *f)
{
	long calls = s->reflections + 1;
	double ideal = ceil((double)s->samples / (double)s->concurrency) * (double)calls *
	               (double)s->latency_ms / 1000.0;
	double delta_kb = (double)(f->hwm_after_kb - f->rss_before_kb);
	printf("bench_scale: %ld samples x %ld calls, concurrency %ld, emulator at %ld ms per call "
	       "(SIMULATED models)\n",
	       s->samples, calls, s->concurrency, s->latency_ms);
	printf("  finished      %zu samples (%zu failed)\n", f->done, f->failed);
	printf("  wall time     %.3f s\n", f->wall_s);
	printf("  ideal         %.3f s = ceil(%ld/%ld) x %ld x %ld ms\n", ideal, s->samples,
	       s->concurrency, calls, s->latency_ms);
	printf("  over ideal    %+.1f%% (goal: within 10%%)\n", 100.0 * (f->wall_s / ideal - 1.0));
	printf("  conversation  %.1f ms mean wall (%ld calls x %ld ms = %ld ms)\n", f->conv_ms,
	       calls, s->latency_ms, calls * s->latency_ms);
	printf("  peak RSS      %ld kB before, %ld kB peak: +%.0f kB\n", f->rss_before_kb,
	       f->hwm_after_kb, delta_kb);
	printf("  per conversation in flight: %.1f kB (peak growth / %ld)\n",
	       delta_kb / (double)s->concurrency, s->concurrency);
}

int main(int argc, char **argv)
{
	scale s = {.samples = 1000,
	           .concurrency = 256,
	           .reflections = 3,
	           .latency_ms = 200,
	           .emulator = BHIVE_EMULATOR_BIN};
	figures f = {0};
	if (parse_args(&s, argc, argv)) {
		fprintf(stderr,
		        "usage: bench_scale [--samples N] [--concurrency C] [--reflections R] "
		        "[--latency-ms MS] [--emulator PATH]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (start_emulator(&s)) {
		fprintf(stderr, "bench_scale: the emulator \"%s\" did not start\n", s.emulator);
		stop_emulator(&s);
		return 1;
	}
	bh_strlcpy(s.store, "/tmp/bhive-scale-XXXXXX", sizeof(s.store));
	int fd = mkstemp(s.store);
	bhive_error err;
	bhive_client *cl = fd >= 0 ? make_client(&s) : NULL;
	bhive_store *st = cl ? bhive_store_open(s.store, &err) : NULL;
	int rc = st ? run(&s, cl, st, &f) : 1;
	if (!rc)
		print_figures(&s, &f);
	bhive_client_free(cl);
	bhive_store_close(st);
	stop_emulator(&s);
	if (fd >= 0) {
		close(fd);
		char path[96];
		unlink(s.store);
		snprintf(path, sizeof(path), "%s-wal", s.store);
		unlink(path);
		snprintf(path, sizeof(path), "%s-shm", s.store);
		unlink(path);
	}
	return rc ? 1 : 0;
}
