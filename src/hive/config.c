/*
 * config.c - bhive_config: the knobs of one conversation, their checks,
 * and their JSON form (so benchmark and optimiser configurations are data).
 */
#include "hive/hive_int.h"
#include "hive/schema.h"
#include <math.h>
#include <string.h>

static const char *const prompt_names[BHIVE_PROMPT_COUNT] = {"reflect", "debate", "careful",
                                                             "aggregate"};

static const char *const augment_names[] = {"none", "lexical", "semantic"};

bhive_config *bhive_config_new(void)
{
	return bh_calloc(1, sizeof(bhive_config));
}

void bhive_config_free(bhive_config *cfg)
{
	if (!cfg)
		return;
	bhive_config_clear_models(cfg);
	bh_free(cfg->aggregator);
	json_decref(cfg->schema);
	for (int i = 0; i < BHIVE_PROMPT_COUNT; i++)
		bh_free(cfg->prompts[i]);
	bh_free(cfg);
}

/* Copies the owned members of src into dst (already a shallow copy). */
static int config_dup_owned(bhive_config *dst, const bhive_config *src)
{
	dst->models = NULL;
	dst->nmodels = 0;
	dst->aggregator = NULL;
	dst->schema = NULL;
	memset(dst->prompts, 0, sizeof(dst->prompts));
	for (size_t i = 0; i < src->nmodels; i++)
		if (bhive_config_add_model(dst, src->models[i]))
			return BHIVE_ERR_NOMEM;
	if (bhive_config_set_aggregator(dst, src->aggregator) ||
	    bhive_config_set_schema(dst, src->schema))
		return BHIVE_ERR_NOMEM;
	for (int i = 0; i < BHIVE_PROMPT_COUNT; i++)
		if (bhive_config_set_prompt(dst, (bhive_prompt_kind)i, src->prompts[i]))
			return BHIVE_ERR_NOMEM;
	return 0;
}

bhive_config *bhive_config_dup(const bhive_config *cfg)
{
	if (!cfg)
		return NULL;
	bhive_config *d = bh_malloc(sizeof(*d));
	if (!d)
		return NULL;
	*d = *cfg;
	if (config_dup_owned(d, cfg)) {
		bhive_config_free(d);
		return NULL;
	}
	return d;
}

int bhive_config_add_model(bhive_config *cfg, const char *model_id)
{
	if (!cfg || !model_id || !*model_id)
		return BHIVE_ERR_INVALID;
	char *id = bh_strdup(model_id);
	char **m = bh_realloc(cfg->models, (cfg->nmodels + 1) * sizeof(*m));
	if (!id || !m) {
		bh_free(id);
		if (m)
			cfg->models = m;
		return BHIVE_ERR_NOMEM;
	}
	m[cfg->nmodels++] = id;
	cfg->models = m;
	return 0;
}

void bhive_config_clear_models(bhive_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nmodels; i++)
		bh_free(cfg->models[i]);
	bh_free(cfg->models);
	cfg->models = NULL;
	cfg->nmodels = 0;
}

int bhive_config_set_reflections(bhive_config *cfg, int num_reflections)
{
	if (!cfg || num_reflections < 0)
		return BHIVE_ERR_INVALID;
	cfg->reflections = num_reflections;
	return 0;
}

/* Replaces *slot with a copy of s (NULL clears it). */
static int replace_string(char **slot, const char *s)
{
	char *copy = NULL;
	if (s && !(copy = bh_strdup(s)))
		return BHIVE_ERR_NOMEM;
	bh_free(*slot);
	*slot = copy;
	return 0;
}

int bhive_config_set_aggregator(bhive_config *cfg, const char *model_id)
{
	if (!cfg)
		return BHIVE_ERR_INVALID;
	return replace_string(&cfg->aggregator, model_id && *model_id ? model_id : NULL);
}

void bhive_config_set_verifier(bhive_config *cfg, bhive_verifier_fn fn, void *ud)
{
	if (!cfg)
		return;
	cfg->verifier = fn;
	cfg->verifier_ud = fn ? ud : NULL;
}

void bhive_config_set_verifier_fatal(bhive_config *cfg, int fatal)
{
	if (cfg)
		cfg->verifier_fatal = fatal != 0;
}

int bhive_config_set_max_reasoning_seconds(bhive_config *cfg, double seconds)
{
	if (!cfg || isnan(seconds))
		return BHIVE_ERR_INVALID;
	cfg->max_seconds = seconds > 0 ? seconds : 0;
	return 0;
}

void bhive_config_set_prompt_caching(bhive_config *cfg, int on)
{
	if (cfg)
		cfg->caching = on != 0;
}

int bhive_config_set_schema(bhive_config *cfg, const json_t *schema)
{
	if (!cfg || (schema && !json_is_object(schema)))
		return BHIVE_ERR_INVALID;
	json_t *copy = NULL;
	if (schema && !(copy = json_deep_copy(schema)))
		return BHIVE_ERR_NOMEM;
	json_decref(cfg->schema);
	cfg->schema = copy;
	return 0;
}

int bhive_config_set_augment(bhive_config *cfg, bhive_augment mode, uint64_t seed)
{
	if (!cfg || mode < BHIVE_AUGMENT_NONE || mode > BHIVE_AUGMENT_SEMANTIC)
		return BHIVE_ERR_INVALID;
	cfg->augment = mode;
	cfg->augment_seed = seed;
	return 0;
}

int bhive_config_set_prompt(bhive_config *cfg, bhive_prompt_kind kind, const char *text)
{
	if (!cfg || (int)kind < 0 || kind >= BHIVE_PROMPT_COUNT)
		return BHIVE_ERR_INVALID;
	return replace_string(&cfg->prompts[kind], text);
}

int bhive_config_set_early_stop(bhive_config *cfg, int unchanged_rounds)
{
	if (!cfg || unchanged_rounds < 0)
		return BHIVE_ERR_INVALID;
	cfg->early_stop = unchanged_rounds;
	return 0;
}

void bhive_config_set_vote(bhive_config *cfg, int on)
{
	if (cfg)
		cfg->vote = on != 0;
}

void bhive_config_set_best_of_n(bhive_config *cfg, int on)
{
	if (cfg)
		cfg->best_of_n = on != 0;
}

void bhive_config_set_continue_on_failure(bhive_config *cfg, int on)
{
	if (cfg)
		cfg->continue_on_failure = on != 0;
}

void bhive_config_set_prices(bhive_config *cfg, const bhive_prices *prices)
{
	if (cfg)
		cfg->prices = prices;
}

size_t bhive_config_model_count(const bhive_config *cfg)
{
	return cfg ? cfg->nmodels : 0;
}

const char *bhive_config_model(const bhive_config *cfg, size_t i)
{
	return cfg && i < cfg->nmodels ? cfg->models[i] : NULL;
}

int bhive_config_reflections(const bhive_config *cfg)
{
	return cfg ? cfg->reflections : 0;
}

const char *bhive_config_aggregator(const bhive_config *cfg)
{
	return cfg ? cfg->aggregator : NULL;
}

const char *bhive_config_prompt(const bhive_config *cfg, bhive_prompt_kind kind)
{
	return bh_config_prompt(cfg, kind);
}

const char *bh_config_prompt(const bhive_config *cfg, bhive_prompt_kind kind)
{
	if ((int)kind < 0 || kind >= BHIVE_PROMPT_COUNT)
		return NULL;
	if (cfg && cfg->prompts[kind])
		return cfg->prompts[kind];
	return bhive_prompt_default(kind);
}

/* ---- validation -------------------------------------------------------- */

/* Reports one finding; errors also fill err (first wins). */
static void diag(bhive_diag_fn fn, void *ud, bhive_severity sev, bhive_error *err, const char *msg)
{
	if (fn)
		fn(ud, sev, msg);
	if (sev == BHIVE_SEVERITY_ERROR)
		bh_error_set(err, BHIVE_ERR_INVALID, "%s", msg);
}

/* A schema the engine could not compile fails every conversation before
 * its first call: say so while it is still a configuration problem. */
static void validate_schema(const bhive_config *cfg, bhive_diag_fn fn, void *ud, bhive_error *err)
{
	bhive_error e = {0};
	bh_schema *sc;
	if (!cfg->schema)
		return;
	if ((sc = bh_schema_new(cfg->schema, &e)) != NULL) {
		bh_schema_free(sc);
		return;
	}
	diag(fn, ud, BHIVE_SEVERITY_ERROR, err, e.message);
}

int bhive_config_validate(const bhive_config *cfg, bhive_diag_fn fn, void *ud, bhive_error *err)
{
	bhive_error_clear(err);
	bhive_error local = {0};
	if (!cfg)
		return bh_error_set(err, BHIVE_ERR_INVALID, "no configuration given");
	if (cfg->nmodels == 0)
		diag(fn, ud, BHIVE_SEVERITY_ERROR, &local, "no models configured");
	if (cfg->reflections < 0)
		diag(fn, ud, BHIVE_SEVERITY_ERROR, &local, "num_reflections must be 0 or more");
	if (cfg->verifier && cfg->nmodels == 1 && cfg->reflections == 0 && !cfg->aggregator &&
	    !cfg->best_of_n)
		diag(fn, ud, BHIVE_SEVERITY_ERROR, &local,
		     "a verifier needs reflections or several models: with one model and no "
		     "reflections its feedback would never be used");
	if (cfg->best_of_n && !cfg->verifier)
		diag(fn, ud, BHIVE_SEVERITY_ERROR, &local,
		     "best-of-n needs a verifier to score answers");
	if (cfg->nmodels > 1 && !cfg->aggregator && !cfg->vote && !cfg->best_of_n)
		diag(
		    fn, ud, BHIVE_SEVERITY_WARNING, &local,
		    "several models without an aggregator or vote: each slot's answer is returned");
	if (cfg->aggregator && cfg->nmodels == 1)
		diag(fn, ud, BHIVE_SEVERITY_WARNING, &local,
		     "an aggregator with one model adds a call that has nothing to combine");
	validate_schema(cfg, fn, ud, &local);
	bh_error_copy(err, &local);
	return local.code;
}

/* ---- JSON form --------------------------------------------------------- */

json_t *bhive_config_to_json(const bhive_config *cfg)
{
	if (!cfg)
		return NULL;
	json_t *models = json_array(), *prompts = json_object();
	for (size_t i = 0; i < cfg->nmodels; i++)
		json_array_append_new(models, json_string(cfg->models[i]));
	for (int i = 0; i < BHIVE_PROMPT_COUNT; i++)
		if (cfg->prompts[i])
			json_object_set_new(prompts, prompt_names[i], json_string(cfg->prompts[i]));
	return json_pack("{s:o,s:i,s:s?,s:f,s:b,s:O?,s:s,s:I,s:o,s:i,s:b,s:b,s:b,s:b}", "models",
	                 models, "num_reflections", cfg->reflections, "aggregator", cfg->aggregator,
	                 "max_reasoning_seconds", cfg->max_seconds, "prompt_caching", cfg->caching,
	                 "schema", cfg->schema, "augment", augment_names[cfg->augment],
	                 "augment_seed", (json_int_t)cfg->augment_seed, "prompts", prompts,
	                 "early_stop", cfg->early_stop, "vote", cfg->vote, "best_of_n",
	                 cfg->best_of_n, "continue_on_failure", cfg->continue_on_failure,
	                 "verifier_fatal", cfg->verifier_fatal);
}

/* Reads a boolean member (absent: untouched). */
static int json_flag(const json_t *v, const char *key, int *out, bhive_error *err)
{
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "config member \"%s\" must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

/* Reads a non-negative integer member. */
static int json_count(const json_t *v, const char *key, int *out, bhive_error *err)
{
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "config member \"%s\" must be a whole number of 0 or more",
		                    key);
	*out = (int)json_integer_value(v);
	return 0;
}

static int config_models_from_json(bhive_config *cfg, const json_t *v, bhive_error *err)
{
	size_t i;
	json_t *m;
	if (!json_is_array(v))
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "config member \"models\" must be an array");
	json_array_foreach(v, i, m)
	{
		if (!json_is_string(m) || !*json_string_value(m))
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "config member \"models\" holds a non-string at %zu",
			                    i);
		if (bhive_config_add_model(cfg, json_string_value(m)))
			return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	}
	return 0;
}

static int config_prompts_from_json(bhive_config *cfg, const json_t *v, bhive_error *err)
{
	const char *key;
	json_t *t;
	if (!json_is_object(v))
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "config member \"prompts\" must be an object");
	json_object_foreach((json_t *)v, key, t)
	{
		int k = -1;
		for (int i = 0; i < BHIVE_PROMPT_COUNT; i++)
			if (strcmp(key, prompt_names[i]) == 0)
				k = i;
		if (k < 0 || !json_is_string(t))
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "unknown or non-text prompt \"%s\"", key);
		bhive_config_set_prompt(cfg, (bhive_prompt_kind)k, json_string_value(t));
	}
	return 0;
}

static int config_augment_from_json(bhive_config *cfg, const json_t *mode, const json_t *seed,
                                    bhive_error *err)
{
	int m = -1;
	for (size_t i = 0; mode && i < BH_ARRAY_LEN(augment_names); i++)
		if (bh_streq(json_string_value(mode), augment_names[i]))
			m = (int)i;
	if (mode && m < 0)
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "config member \"augment\" must be none, lexical or semantic");
	if (seed && !json_is_integer(seed))
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "config member \"augment_seed\" must be an integer");
	bhive_config_set_augment(cfg, mode ? (bhive_augment)m : cfg->augment,
	                         seed ? (uint64_t)json_integer_value(seed) : cfg->augment_seed);
	return 0;
}

/* Everything but the members with structure of their own. */
static int config_scalars_from_json(bhive_config *cfg, const json_t *j, bhive_error *err)
{
	const json_t *agg = json_object_get(j, "aggregator"), *secs;
	if (agg && !json_is_null(agg) && !json_is_string(agg))
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "config member \"aggregator\" must be text");
	bhive_config_set_aggregator(cfg, json_string_value(agg));
	secs = json_object_get(j, "max_reasoning_seconds");
	if (secs && !json_is_number(secs))
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "config member \"max_reasoning_seconds\" must be a number");
	bhive_config_set_max_reasoning_seconds(cfg, json_number_value(secs));
	if (json_count(json_object_get(j, "num_reflections"), "num_reflections", &cfg->reflections,
	               err) ||
	    json_count(json_object_get(j, "early_stop"), "early_stop", &cfg->early_stop, err) ||
	    json_flag(json_object_get(j, "prompt_caching"), "prompt_caching", &cfg->caching, err) ||
	    json_flag(json_object_get(j, "vote"), "vote", &cfg->vote, err) ||
	    json_flag(json_object_get(j, "best_of_n"), "best_of_n", &cfg->best_of_n, err) ||
	    json_flag(json_object_get(j, "continue_on_failure"), "continue_on_failure",
	              &cfg->continue_on_failure, err) ||
	    json_flag(json_object_get(j, "verifier_fatal"), "verifier_fatal", &cfg->verifier_fatal,
	              err))
		return err ? err->code : BHIVE_ERR_INVALID;
	return 0;
}

static int config_check_members(const json_t *j, bhive_error *err)
{
	static const char *const known[] = {"models",
	                                    "num_reflections",
	                                    "aggregator",
	                                    "max_reasoning_seconds",
	                                    "prompt_caching",
	                                    "schema",
	                                    "augment",
	                                    "augment_seed",
	                                    "prompts",
	                                    "early_stop",
	                                    "vote",
	                                    "best_of_n",
	                                    "continue_on_failure",
	                                    "verifier_fatal"};
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)j, key, v)
	{
		size_t i = 0;
		while (i < BH_ARRAY_LEN(known) && strcmp(key, known[i]) != 0)
			i++;
		if (i == BH_ARRAY_LEN(known))
			return bh_error_set(err, BHIVE_ERR_INVALID, "unknown config member \"%s\"",
			                    key);
	}
	return 0;
}

bhive_config *bhive_config_from_json(const json_t *j, bhive_error *err)
{
	bhive_error local = {0};
	bhive_error_clear(err);
	if (!json_is_object(j)) {
		bh_error_set(err, BHIVE_ERR_INVALID, "a config must be a JSON object");
		return NULL;
	}
	bhive_config *cfg = bhive_config_new();
	const json_t *v;
	if (!cfg) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (!config_check_members(j, &local) && !config_scalars_from_json(cfg, j, &local) &&
	    (!(v = json_object_get(j, "models")) || !config_models_from_json(cfg, v, &local)) &&
	    (!(v = json_object_get(j, "prompts")) || !config_prompts_from_json(cfg, v, &local)) &&
	    !config_augment_from_json(cfg, json_object_get(j, "augment"),
	                              json_object_get(j, "augment_seed"), &local)) {
		v = json_object_get(j, "schema");
		if (!v || json_is_null(v) || !bhive_config_set_schema(cfg, v))
			return cfg;
		bh_error_set(&local, BHIVE_ERR_INVALID,
		             "config member \"schema\" must be an object");
	}
	bh_error_copy(err, &local);
	bhive_config_free(cfg);
	return NULL;
}
