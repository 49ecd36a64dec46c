/*
 * faults.c - injected failures, latency distributions and per-minute quotas.
 *
 * One uniform draw per request picks the fault, so a given --seed and
 * request sequence always yields the same faults. Messages are the ones
 * Bedrock Runtime sends for each error shape.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

void emu_faults_default(emu_faults *f)
{
	memset(f, 0, sizeof(*f));
	f->drip_bytes = 16;
	f->drip_interval_ms = 50;
}

/* Rates are probabilities; anything outside 0..1 is a configuration error. */
static int read_rate(const json_t *j, const char *key, double *out, bhive_error *err)
{
	const json_t *v = json_object_get(j, key);
	if (!v)
		return 0;
	double d = json_is_number(v) ? json_number_value(v) : -1;
	if (d < 0 || d > 1)
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "fault rate \"%s\" must be a number from 0 to 1", key);
	*out = d;
	return 0;
}

static int read_count(const json_t *j, const char *key, long *out, bhive_error *err)
{
	const json_t *v = json_object_get(j, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "fault setting \"%s\" must be a non-negative integer", key);
	*out = (long)json_integer_value(v);
	return 0;
}

static const struct dist_name {
	const char *name;
	int dist;
	const char *a, *b;
} dist_names[] = {
    {"fixed", EMU_DIST_FIXED, "ms", NULL},
    {"uniform", EMU_DIST_UNIFORM, "min_ms", "max_ms"},
    {"normal", EMU_DIST_NORMAL, "mean_ms", "sd_ms"},
    {"lognormal", EMU_DIST_LOGNORMAL, "median_ms", "sigma"},
};

static int latency_from_json(const json_t *j, emu_latency *l, bhive_error *err)
{
	const char *d = bh_json_str(j, "dist");
	for (size_t i = 0; d && i < BH_ARRAY_LEN(dist_names); i++) {
		const struct dist_name *n = &dist_names[i];
		if (strcmp(d, n->name) != 0)
			continue;
		l->dist = n->dist;
		l->a = bh_json_num(j, n->a, 0);
		l->b = n->b ? bh_json_num(j, n->b, 0) : 0;
		if (l->a < 0 || l->b < 0)
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "latency \"%s\" needs non-negative values", d);
		return 0;
	}
	if (bh_streq(d, "none")) {
		l->dist = EMU_DIST_NONE;
		return 0;
	}
	return bh_error_set(err, BHIVE_ERR_INVALID,
	                    "latency distribution \"%s\" is unknown "
	                    "(fixed, uniform, normal, lognormal, none)",
	                    d ? d : "");
}

static const struct rate_field {
	const char *key;
	size_t off;
} rate_fields[] = {
    {"throttle", offsetof(emu_faults, throttle)},  {"not_ready", offsetof(emu_faults, not_ready)},
    {"error_500", offsetof(emu_faults, error500)}, {"error_503", offsetof(emu_faults, error503)},
    {"timeout", offsetof(emu_faults, timeout)},    {"reset", offsetof(emu_faults, reset)},
    {"cutoff", offsetof(emu_faults, cutoff)},      {"malformed", offsetof(emu_faults, malformed)},
    {"slow_body", offsetof(emu_faults, slow)},
};

int emu_faults_from_json(const json_t *j, emu_faults *f, bhive_error *err)
{
	if (!json_is_object(j))
		return bh_error_set(err, BHIVE_ERR_INVALID, "faults must be a JSON object");
	for (size_t i = 0; i < BH_ARRAY_LEN(rate_fields); i++)
		if (read_rate(j, rate_fields[i].key, (double *)((char *)f + rate_fields[i].off),
		              err))
			return BHIVE_ERR_INVALID;
	if (read_count(j, "drip_bytes", &f->drip_bytes, err) ||
	    read_count(j, "drip_interval_ms", &f->drip_interval_ms, err) ||
	    read_count(j, "rpm", &f->rpm, err) || read_count(j, "tpm", &f->tpm, err))
		return BHIVE_ERR_INVALID;
	if (f->drip_bytes < 1)
		f->drip_bytes = 1;
	const json_t *lat = json_object_get(j, "latency");
	if (lat && latency_from_json(lat, &f->latency, err))
		return BHIVE_ERR_INVALID;
	return 0;
}

static json_t *latency_to_json(const emu_latency *l)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(dist_names); i++) {
		const struct dist_name *n = &dist_names[i];
		if (n->dist != l->dist)
			continue;
		json_t *j = json_pack("{s:s, s:f}", "dist", n->name, n->a, l->a);
		if (n->b)
			json_object_set_new(j, n->b, json_real(l->b));
		return j;
	}
	return json_pack("{s:s}", "dist", "none");
}

json_t *emu_faults_to_json(const emu_faults *f)
{
	json_t *j = json_object();
	for (size_t i = 0; i < BH_ARRAY_LEN(rate_fields); i++)
		json_object_set_new(
		    j, rate_fields[i].key,
		    json_real(*(const double *)((const char *)f + rate_fields[i].off)));
	json_object_set_new(j, "drip_bytes", json_integer(f->drip_bytes));
	json_object_set_new(j, "drip_interval_ms", json_integer(f->drip_interval_ms));
	json_object_set_new(j, "rpm", json_integer(f->rpm));
	json_object_set_new(j, "tpm", json_integer(f->tpm));
	json_object_set_new(j, "latency", latency_to_json(&f->latency));
	return j;
}

/* Splits "name:a:b" in place; a bare number means a fixed latency. */
int emu_latency_parse(const char *spec, emu_latency *out, bhive_error *err)
{
	char buf[128];
	bh_strlcpy(buf, spec ? spec : "", sizeof(buf));
	char *parts[3] = {buf, NULL, NULL};
	for (int i = 1; i < 3; i++) {
		char *c = parts[i - 1] ? strchr(parts[i - 1], ':') : NULL;
		if (c) {
			*c = '\0';
			parts[i] = c + 1;
		}
	}
	double a = 0, b = 0;
	if (!parts[1] && bh_parse_double(parts[0], &a) == 0 && a >= 0) {
		*out = (emu_latency){EMU_DIST_FIXED, a, 0};
		return 0;
	}
	for (size_t i = 0; parts[1] && i < BH_ARRAY_LEN(dist_names); i++) {
		if (strcmp(parts[0], dist_names[i].name) != 0)
			continue;
		bool two = dist_names[i].b != NULL;
		if (bh_parse_double(parts[1], &a) || a < 0 || (two && !parts[2]) ||
		    (two && (bh_parse_double(parts[2], &b) || b < 0)) || (!two && parts[2]))
			break;
		*out = (emu_latency){dist_names[i].dist, a, b};
		return 0;
	}
	return bh_error_set(err, BHIVE_ERR_INVALID,
	                    "latency \"%s\" is not valid (use MS, "
	                    "fixed:MS, uniform:MIN:MAX, normal:MEAN:SD or lognormal:MEDIAN:SIGMA)",
	                    spec ? spec : "");
}

/* Box-Muller: one standard normal value from two uniform draws. */
static double std_normal(bh_rng *rng)
{
	double u1 = bh_rng_double(rng);
	double u2 = bh_rng_double(rng);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double emu_latency_draw(const emu_latency *l, bh_rng *rng)
{
	double v = 0;
	switch (l->dist) {
	case EMU_DIST_FIXED:
		v = l->a;
		break;
	case EMU_DIST_UNIFORM:
		v = l->a + (l->b - l->a) * bh_rng_double(rng);
		break;
	case EMU_DIST_NORMAL:
		v = l->a + l->b * std_normal(rng);
		break;
	case EMU_DIST_LOGNORMAL:
		v = l->a * exp(l->b * std_normal(rng));
		break;
	default:
		break;
	}
	return v < 0 ? 0 : v;
}

int emu_fault_draw(const emu_faults *f, bh_rng *rng)
{
	const double rates[] = {f->throttle, f->not_ready, f->error500,  f->error503, f->timeout,
	                        f->reset,    f->cutoff,    f->malformed, f->slow};
	const int kinds[] = {EMU_FAULT_THROTTLE, EMU_FAULT_NOT_READY, EMU_FAULT_500,
	                     EMU_FAULT_503,      EMU_FAULT_TIMEOUT,   EMU_FAULT_RESET,
	                     EMU_FAULT_CUTOFF,   EMU_FAULT_MALFORMED, EMU_FAULT_SLOW};
	double u = bh_rng_double(rng), sum = 0;
	for (size_t i = 0; i < BH_ARRAY_LEN(rates); i++) {
		sum += rates[i];
		if (u < sum)
			return kinds[i];
	}
	return EMU_FAULT_NONE;
}

void emu_fault_status(int kind, emu_status *st)
{
	switch (kind) {
	case EMU_FAULT_THROTTLE:
		emu_status_set(st, 429, "ThrottlingException",
		               "Too many requests, please wait before trying again.");
		break;
	case EMU_FAULT_NOT_READY:
		emu_status_set(st, 429, "ModelNotReadyException",
		               "Model is not ready to serve inference requests. The model is "
		               "being loaded; try your request again later.");
		break;
	case EMU_FAULT_500:
		emu_status_set(st, 500, "InternalServerException",
		               "The system encountered an unexpected error during processing. "
		               "Try your request again.");
		break;
	case EMU_FAULT_503:
		emu_status_set(st, 503, "ServiceUnavailableException",
		               "Bedrock is unable to process your request.");
		break;
	case EMU_FAULT_TIMEOUT:
		emu_status_set(st, 408, "ModelTimeoutException",
		               "Model has timed out in processing the request. Try your request "
		               "again.");
		break;
	default:
		break;
	}
}

/* A fixed window that restarts a minute after it opened: simple, and
 * exact enough to make a client's rate limiter visible. */
bool emu_quota_admit(emu_quota *q, const emu_faults *f, int64_t now_ms, long input_tokens,
                     emu_status *st)
{
	if (!f->rpm && !f->tpm)
		return true;
	if (now_ms - q->window_start_ms >= 60000 || q->window_start_ms == 0) {
		q->window_start_ms = now_ms;
		q->requests = q->tokens = 0;
	}
	if (f->rpm && q->requests >= f->rpm) {
		emu_status_set(st, 429, "ThrottlingException",
		               "Too many requests, please wait before trying again.");
		return false;
	}
	if (f->tpm && q->tokens + input_tokens > f->tpm) {
		emu_status_set(st, 429, "ThrottlingException",
		               "Too many tokens, please wait before trying again.");
		return false;
	}
	q->requests++;
	q->tokens += input_tokens;
	return true;
}

void emu_quota_add_tokens(emu_quota *q, long tokens)
{
	q->tokens += tokens;
}
