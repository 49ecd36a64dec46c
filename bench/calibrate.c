/*
 * calibrate.c - the simulated reasoners against the Python original's
 * published arithmetic curves.
 *
 *   bench_calibrate [--n N] [--seed S] [--model ID]
 *       single-model self-reflection, rounds 0-5, N questions per difficulty
 *       (default 1000); prints simulated next to published accuracy and the
 *       largest deviation; exit status 1 when it is beyond +-0.05. The
 *       questions, requests, seeds and scoring are those of `bhive demo
 *       --samples N --seed S` (emulator/calibration.c), so rounds 0, 1, 2,
 *       3 and 5 print the demo's figures exactly.
 *   bench_calibrate --model A --model B [--n N] [--seed S]
 *       medium arithmetic, 3 reflections, both models side by side: accuracy,
 *       tokens and simulated latency (the original's Haiku-vs-Sonnet finding).
 *   bench_calibrate --all [--n N] [--seed S]
 *       the same for every model of the built-in table.
 *
 * Everything here is simulated: no model is called.
 */
#include "bhive/cost.h"
#include "calibration.h"
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define TOLERANCE 0.05

typedef struct options {
	long n;
	long seed;
	const char *models[2];
	int nmodels;
	bool all;
} options;

static int usage(void)
{
	fprintf(stderr, "usage: bench_calibrate [--n N] [--seed S] [--model ID [--model ID] | "
	                "--all]\n");
	return 2;
}

static int parse_args(int argc, char **argv, options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--all") == 0) {
			o->all = true;
			continue;
		}
		if (!v)
			return -1;
		if (strcmp(argv[i], "--n") == 0 && bh_parse_long(v, &o->n) == 0 && o->n > 0)
			i++;
		else if (strcmp(argv[i], "--seed") == 0 && bh_parse_long(v, &o->seed) == 0)
			i++;
		else if (strcmp(argv[i], "--model") == 0 && o->nmodels < 2)
			o->models[o->nmodels++] = argv[++i];
		else
			return -1;
	}
	return 0;
}

static const emu_default_model *model_or_complain(const char *id)
{
	const emu_default_model *m = emu_default_model_find(id);
	if (!m)
		fprintf(stderr, "bench_calibrate: unknown model \"%s\"\n", id);
	return m;
}

/* One difficulty's row; returns its largest deviation from the published. */
static double print_row(int d, const emu_calib_result *r)
{
	double worst = 0;
	printf("%-7s", emu_difficulty_name(d));
	for (int k = 0; k <= 5; k++) {
		double pub = emu_published_accuracy(d, k);
		if (pub < 0) {
			printf(" | %.2f (  -  )", r->accuracy[k]);
			continue;
		}
		printf(" | %.2f (%.2f)", r->accuracy[k], pub);
		worst = fmax(worst, fabs(r->accuracy[k] - pub));
	}
	printf(" | %.3f\n", worst);
	return worst;
}

static int calibration_table(const options *o)
{
	const emu_default_model *m = model_or_complain(
	    o->nmodels ? o->models[0] : "anthropic.claude-3-sonnet-20240229-v1:0");
	if (!m)
		return 2;
	emu_reasoner_params p = emu_default_model_params(m);
	printf("simulated %s (skill %.2f), self-reflection, %ld questions per difficulty, "
	       "seed %ld\n",
	       m->id, m->skill, o->n, o->seed);
	printf("accuracy by reflection round: simulated (published)\n");
	printf("%-7s | %-11s | %-11s | %-11s | %-11s | %-11s | %-11s | max dev\n", "", "0", "1",
	       "2", "3", "4", "5");
	double worst = 0, out0 = 0, out5 = 0;
	for (int d = 0; d < EMU_DIFFICULTIES; d++) {
		emu_calib_result r;
		bhive_error err = {0};
		if (emu_calibrate(&p, d, (int)o->n, 5, (uint64_t)o->seed, &r, &err)) {
			fprintf(stderr, "bench_calibrate: %s\n", err.message);
			return 2;
		}
		worst = fmax(worst, print_row(d, &r));
		out0 += r.output_tokens[0] / 3, out5 += r.output_tokens[5] / 3;
	}
	printf("max deviation %.3f (tolerance %.2f): %s\n", worst, TOLERANCE,
	       worst <= TOLERANCE ? "within" : "OUT OF TOLERANCE");
	printf("mean output tokens per call: round 0 %.1f, round 5 %.1f\n", out0, out5);
	return worst <= TOLERANCE ? 0 : 1;
}

/* Simulated latency of one question's calls: base + per-token time per round. */
static double latency_ms(const emu_default_model *m, const emu_calib_result *r)
{
	double ms = 0;
	for (int k = 0; k <= r->rounds; k++)
		ms += m->base_latency_ms + m->ms_per_token * r->output_tokens[k];
	return ms;
}

/* One model's row of the comparison: medium, 3 reflections. */
static int compare_row(const options *o, const emu_default_model *m)
{
	emu_calib_result r;
	bhive_error err = {0};
	emu_reasoner_params p = emu_default_model_params(m);
	if (emu_calibrate(&p, EMU_MEDIUM, (int)o->n, 3, (uint64_t)o->seed, &r, &err)) {
		fprintf(stderr, "bench_calibrate: %s\n", err.message);
		return 2;
	}
	bhive_usage u = {0};
	bhive_cost cost = {0};
	for (int k = 0; k <= 3; k++) {
		u.input_tokens += (long long)(r.input_tokens[k] + 0.5);
		u.output_tokens += (long long)(r.output_tokens[k] + 0.5);
	}
	bhive_prices_cost(NULL, m->id, NULL, &u, &cost, NULL);
	printf("%-44s | %6.2f | %6.2f | %6lld | %7lld | %10.0f | %.6f\n", m->id, r.accuracy[0],
	       r.accuracy[3], u.input_tokens, u.output_tokens, latency_ms(m, &r), cost.usd);
	return 0;
}

static int compare_models(const options *o)
{
	size_t n = 2;
	const emu_default_model *all = o->all ? emu_default_models(&n) : NULL;
	printf("medium arithmetic, 3 reflections, %ld questions, seed %ld (simulated)\n", o->n,
	       o->seed);
	printf("per question (4 calls); tokens = characters / 4, latency = base + per-token "
	       "time, cost from the built-in price table\n");
	printf("%-44s | acc r0 | acc r3 | in tok | out tok | latency ms | cost USD\n", "model");
	for (size_t i = 0; i < n; i++) {
		const emu_default_model *m = all ? &all[i] : model_or_complain(o->models[i]);
		if (!m || compare_row(o, m))
			return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	options o = {.n = 1000, .seed = 1};
	if (parse_args(argc, argv, &o))
		return usage();
	return o.nmodels == 2 || o.all ? compare_models(&o) : calibration_table(&o);
}
