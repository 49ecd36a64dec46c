/*
 * optimise.c - the search over configurations: a grid expanded into job
 * configs, and the choice of the best configuration within a budget plus
 * the Pareto front of accuracy, cost and latency.
 *
 * The runs themselves are the runner's (every configuration at once, an
 * over-budget one stopped early on a prefix of the data); here is only
 * what to run and how to judge it.
 */
#include "bhive/bench.h"
#include "util/util.h"
#include <string.h>

/* ---- grid expansion ---------------------------------------------------- */

typedef struct grid_axes {
	json_t *models; /* array of arrays of ids */
	const json_t *reflections, *aggregators, *verifiers, *augment, *base;
} grid_axes;

/* An axis: the member as an array, or [def] when absent. */
static json_t *axis(const json_t *grid, const char *key, json_t *def)
{
	json_t *v = json_object_get(grid, key);
	if (!v)
		return def;
	json_decref(def);
	return json_is_array(v) && json_array_size(v) ? json_incref(v) : NULL;
}

/* "models": [["a"], ["a","b"]] or ["a", "b"] (one model each). */
static json_t *model_sets(const json_t *models, bhive_error *err)
{
	json_t *out = json_array();
	for (size_t i = 0; i < json_array_size(models); i++) {
		const json_t *m = json_array_get(models, i);
		json_t *set = json_is_string(m) ? json_pack("[O]", m) : json_incref((json_t *)m);
		int ok = json_is_array(set) && json_array_size(set) > 0;
		for (size_t k = 0; ok && k < json_array_size(set); k++)
			ok = json_is_string(json_array_get(set, k));
		if (!ok) {
			json_decref(set);
			json_decref(out);
			bh_error_set(
			    err, BHIVE_ERR_INVALID,
			    "grid \"models\" entry %zu must be a model id or a list of ids", i + 1);
			return NULL;
		}
		json_array_append_new(out, set);
	}
	if (json_array_size(out) == 0) {
		json_decref(out);
		bh_error_set(err, BHIVE_ERR_INVALID, "the grid needs at least one model");
		return NULL;
	}
	return out;
}

static int check_grid_keys(const json_t *grid, bhive_error *err)
{
	static const char *const known[] = {"models",    "reflections", "aggregators",
	                                    "verifiers", "augment",     "base"};
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)grid, key, v)
	{
		int ok = 0;
		for (size_t i = 0; i < BH_ARRAY_LEN(known); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok)
			return bh_error_set(
			    err, BHIVE_ERR_INVALID,
			    "unknown grid member \"%s\" (models, reflections, aggregators, "
			    "verifiers, augment, base)",
			    key);
	}
	return 0;
}

/* A model id as a row label: without the provider, an inference-profile
 * prefix and a "-v1:0" version ("us.anthropic.claude-3-haiku-20240307-v1:0"
 * -> "claude-3-haiku-20240307"); the full id stays in the config. */
static void short_model(bh_buf *b, const char *id)
{
	char base[160];
	bhive_model_base_id(id, base, sizeof(base));
	const char *s = strchr(base, '.') ? strchr(base, '.') + 1 : base;
	const char *v = strrchr(s, '-');
	size_t n = v && v != s && v[1] == 'v' && strchr(v, ':') ? (size_t)(v - s) : strlen(s);
	bh_buf_append(b, s, n);
}

/* A short name: "a+b r=2 agg=c ver=arithmetic aug=lexical". */
static char *config_name(const json_t *set, json_int_t k, const char *agg, const char *ver,
                         const char *aug)
{
	bh_buf b;
	bh_buf_init(&b, 0);
	for (size_t i = 0; i < json_array_size(set); i++) {
		if (i)
			bh_buf_putc(&b, '+');
		short_model(&b, json_string_value(json_array_get(set, i)));
	}
	bh_buf_printf(&b, " r=%" JSON_INTEGER_FORMAT, k);
	if (agg) {
		bh_buf_puts(&b, " agg=");
		short_model(&b, agg);
	}
	if (ver)
		bh_buf_printf(&b, " ver=%s", ver);
	if (aug && strcmp(aug, "none"))
		bh_buf_printf(&b, " aug=%s", aug);
	return bh_buf_steal(&b);
}

/* One grid point, or NULL (skipped) when the combination adds nothing. */
static json_t *grid_point(const grid_axes *g, const json_t *set, const json_t *k, const json_t *agg,
                          const json_t *ver, const json_t *aug)
{
	size_t nm = json_array_size(set);
	const char *aug_s = json_string_value(aug);
	if ((nm == 1 && json_is_string(agg)) || (nm == 1 && aug_s && strcmp(aug_s, "none")) ||
	    (nm == 1 && json_integer_value(k) == 0 && json_is_string(ver)))
		return NULL;
	json_t *cfg = g->base ? json_deep_copy(g->base) : json_object();
	json_object_set(cfg, "models", (json_t *)set);
	json_object_set(cfg, "num_reflections", (json_t *)k);
	if (json_is_string(agg))
		json_object_set(cfg, "aggregator", (json_t *)agg);
	else if (nm > 1 && !json_object_get(cfg, "vote"))
		json_object_set_new(cfg, "vote", json_true());
	if (aug_s)
		json_object_set(cfg, "augment", (json_t *)aug);
	char *name = config_name(set, json_integer_value(k), json_string_value(agg),
	                         json_string_value(ver), aug_s);
	json_t *p = json_pack("{s:s?, s:o, s:O}", "name", name, "config", cfg, "verifier",
	                      json_is_string(ver) ? ver : json_null());
	bh_free(name);
	return p;
}

static int check_axes(const grid_axes *g, bhive_error *err)
{
	for (size_t i = 0; i < json_array_size(g->reflections); i++) {
		const json_t *k = json_array_get(g->reflections, i);
		if (!json_is_integer(k) || json_integer_value(k) < 0)
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "grid \"reflections\" must hold whole numbers >= 0");
	}
	if (!g->reflections || !g->aggregators || !g->verifiers || !g->augment)
		return bh_error_set(err, BHIVE_ERR_INVALID, "grid members must be non-empty lists");
	if (g->base && !json_is_object(g->base))
		return bh_error_set(err, BHIVE_ERR_INVALID, "grid \"base\" must be an object");
	return 0;
}

static void expand(const grid_axes *g, json_t *out)
{
	size_t a, b, c, d, e;
	json_t *set, *k, *agg, *ver, *aug;
	json_array_foreach(g->models, a, set) json_array_foreach(g->reflections, b, k)
	    json_array_foreach(g->aggregators, c, agg) json_array_foreach(g->verifiers, d, ver)
	        json_array_foreach(g->augment, e, aug)
	{
		json_t *p = grid_point(g, set, k, agg, ver, aug);
		if (p)
			json_array_append_new(out, p);
	}
}

json_t *bhive_grid_expand(const json_t *grid, bhive_error *err)
{
	bhive_error_clear(err);
	if (!json_is_object(grid)) {
		bh_error_set(err, BHIVE_ERR_INVALID, "a grid must be a JSON object");
		return NULL;
	}
	if (check_grid_keys(grid, err))
		return NULL;
	grid_axes g = {.base = json_object_get(grid, "base")};
	json_t *refl = axis(grid, "reflections", json_pack("[i]", 0));
	json_t *aggs = axis(grid, "aggregators", json_pack("[n]"));
	json_t *vers = axis(grid, "verifiers", json_pack("[n]"));
	json_t *augs = axis(grid, "augment", json_pack("[s]", "none"));
	g.reflections = refl, g.aggregators = aggs, g.verifiers = vers, g.augment = augs;
	g.models = model_sets(json_object_get(grid, "models"), err);
	json_t *out = NULL;
	if (g.models && !check_axes(&g, err)) {
		out = json_array();
		expand(&g, out);
	}
	json_decref(g.models);
	json_decref(refl);
	json_decref(aggs);
	json_decref(vers);
	json_decref(augs);
	return out;
}

/* ---- choosing ---------------------------------------------------------- */

typedef struct figures {
	double acc, cost, secs;
	int usable; /* finished samples with a score */
} figures;

static figures row_figures(const json_t *row)
{
	figures f = {0};
	const json_t *acc = json_object_get(row, "accuracy");
	f.usable = json_is_number(acc) && bh_json_int(row, "samples", 0) > 0;
	f.acc = f.usable ? json_number_value(acc) : 0;
	f.cost = bh_json_num(row, "mean_cost_usd", 0);
	f.secs = bh_json_num(row, "mean_wall_ms", 0) / 1000.0;
	return f;
}

static int within(const json_t *row, double max_cost, double max_secs)
{
	figures f = row_figures(row);
	return f.usable && !json_is_true(json_object_get(row, "stopped_early")) &&
	       (max_cost <= 0 || f.cost <= max_cost) && (max_secs <= 0 || f.secs <= max_secs);
}

/* Whether a beats b: higher accuracy, then lower cost, then lower latency. */
static int better(figures a, figures b)
{
	if (a.acc != b.acc)
		return a.acc > b.acc;
	if (a.cost != b.cost)
		return a.cost < b.cost;
	return a.secs < b.secs;
}

/* a dominates b: no worse on all three, better on one. */
static int dominates(figures a, figures b)
{
	return a.acc >= b.acc && a.cost <= b.cost && a.secs <= b.secs &&
	       (a.acc > b.acc || a.cost < b.cost || a.secs < b.secs);
}

static json_t *pareto_front(const json_t *rows)
{
	json_t *front = json_array();
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const json_t *row = json_array_get(rows, i);
		figures fi = row_figures(row);
		/* A configuration stopped early has figures of a prefix only. */
		int beaten = !fi.usable || json_is_true(json_object_get(row, "stopped_early"));
		for (size_t k = 0; !beaten && k < json_array_size(rows); k++) {
			figures fk = row_figures(json_array_get(rows, k));
			beaten = k != i && fk.usable && dominates(fk, fi);
		}
		if (!beaten)
			json_array_append_new(front, json_integer((json_int_t)i));
	}
	return front;
}

int bhive_optimise_select(json_t *report, double max_cost_usd, double max_seconds, bhive_error *err)
{
	bhive_error_clear(err);
	json_t *rows = json_object_get(report, "rows");
	if (!json_is_array(rows))
		return bh_error_set(err, BHIVE_ERR_INVALID, "a report needs \"rows\"");
	long best = -1;
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		int ok = within(row, max_cost_usd, max_seconds);
		json_object_set_new(row, "within_budget", json_boolean(ok));
		if (ok && (best < 0 || better(row_figures(row),
		                              row_figures(json_array_get(rows, (size_t)best)))))
			best = (long)i;
	}
	json_object_set_new(report, "budget",
	                    json_pack("{s:o, s:o}", "max_cost_usd",
	                              max_cost_usd > 0 ? json_real(max_cost_usd) : json_null(),
	                              "max_seconds",
	                              max_seconds > 0 ? json_real(max_seconds) : json_null()));
	json_object_set_new(report, "best", best >= 0 ? json_integer(best) : json_null());
	json_object_set_new(report, "pareto", pareto_front(rows));
	return 0;
}
