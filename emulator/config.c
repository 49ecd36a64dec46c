/*
 * config.c - the emulator's configuration: models, keys and global faults,
 * from a JSON file, the command line and the built-in model table.
 */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"
#include "reasoner.h"

emu_config *emu_config_new(void)
{
	emu_config *c = bh_calloc(1, sizeof(*c));
	if (c)
		emu_faults_default(&c->faults);
	return c;
}

static void model_release(emu_model *m)
{
	bh_free(m->id);
	emu_script_free(m->script);
}

void emu_config_free(emu_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->num_models; i++)
		model_release(&c->models[i]);
	bh_free(c->models);
	for (size_t i = 0; i < c->num_keys; i++) {
		bh_free(c->keys[i].access_key_id);
		bh_free(c->keys[i].secret_access_key);
		bh_free(c->keys[i].session_token);
	}
	bh_free(c->keys);
	for (size_t i = 0; i < c->num_api_keys; i++)
		bh_free(c->api_keys[i]);
	bh_free(c->api_keys);
	bh_free(c);
}

/* Grows an array by one zeroed element; NULL when out of memory. */
static void *push(void **arr, size_t *n, size_t size)
{
	char *p = bh_realloc(*arr, (*n + 1) * size);
	if (!p)
		return NULL;
	*arr = p;
	memset(p + *n * size, 0, size);
	return p + (*n)++ * size;
}

static const char *const geo_prefixes[] = {"us.", "eu.", "apac.", "global.", "us-gov.",
                                           "jp.", "au.", "ca.",   NULL};

void emu_model_base_id(const char *model_id, char *out, size_t outsz)
{
	const char *id = model_id ? model_id : "";
	if (bh_starts_with(id, "arn:")) {
		const char *slash = strrchr(id, '/');
		id = slash ? slash + 1 : id;
	}
	for (size_t i = 0; geo_prefixes[i]; i++) {
		if (bh_starts_with(id, geo_prefixes[i])) {
			id += strlen(geo_prefixes[i]);
			break;
		}
	}
	bh_strlcpy(out, id, outsz);
}

/* Exact ids win (a configuration may name an ARN); otherwise the profile
 * and ARN forms resolve to the base model id. */
emu_model *emu_config_find_model(emu_config *c, const char *model_id)
{
	char base[256], mbase[256];
	for (size_t i = 0; i < c->num_models; i++)
		if (bh_streq(c->models[i].id, model_id))
			return &c->models[i];
	emu_model_base_id(model_id, base, sizeof(base));
	if (!base[0])
		return NULL;
	for (size_t i = 0; i < c->num_models; i++) {
		emu_model_base_id(c->models[i].id, mbase, sizeof(mbase));
		if (strcmp(mbase, base) == 0)
			return &c->models[i];
	}
	return NULL;
}

static emu_model *add_model(emu_config *c, const char *id, bhive_error *err)
{
	emu_model *m = push((void **)&c->models, &c->num_models, sizeof(*m));
	if (m)
		m->id = bh_strdup(id);
	if (!m || !m->id) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	m->skill = 0.8;
	m->base_latency_ms = 300;
	m->ms_per_token = 10;
	return m;
}

int emu_config_add_defaults(emu_config *c, bhive_error *err)
{
	size_t n = 0;
	const emu_default_model *d = emu_default_models(&n);
	for (size_t i = 0; i < n; i++) {
		if (emu_config_find_model(c, d[i].id))
			continue;
		emu_model *m = add_model(c, d[i].id, err);
		if (!m)
			return BHIVE_ERR_NOMEM;
		m->skill = d[i].skill;
		m->reflection = d[i].reflection;
		m->base_latency_ms = d[i].base_latency_ms;
		m->ms_per_token = d[i].ms_per_token;
		m->native_json_schema = d[i].native_json_schema;
	}
	return 0;
}

static int model_from_json(emu_config *c, const char *id, const json_t *j, const char *base_dir,
                           bhive_error *err)
{
	if (!json_is_object(j))
		return bh_error_set(err, BHIVE_ERR_CONFIG, "model \"%s\" is not an object", id);
	emu_model *m = add_model(c, id, err);
	if (!m)
		return BHIVE_ERR_NOMEM;
	const char *kind = bh_json_str(j, "kind");
	if (kind && strcmp(kind, "scripted") != 0 && strcmp(kind, "reasoner") != 0)
		return bh_error_set(err, BHIVE_ERR_CONFIG, "model \"%s\" has unknown kind \"%s\"",
		                    id, kind);
	m->kind = bh_streq(kind, "scripted") ? EMU_MODEL_SCRIPTED : EMU_MODEL_REASONER;
	m->skill = bh_json_num(j, "skill", m->skill);
	m->reflection = bh_json_num(j, "reflection", m->reflection);
	m->base_latency_ms = bh_json_num(j, "base_latency_ms", m->base_latency_ms);
	m->ms_per_token = bh_json_num(j, "ms_per_token", m->ms_per_token);
	m->native_json_schema = json_is_true(json_object_get(j, "native_json_schema"));
	if (m->kind == EMU_MODEL_SCRIPTED) {
		m->script = emu_script_new(json_object_get(j, "script"), base_dir, err);
		if (!m->script) {
			bh_error_prefix(err, "model \"%s\"", id);
			return BHIVE_ERR_CONFIG;
		}
	}
	const json_t *f = json_object_get(j, "faults");
	if (!f)
		return 0;
	emu_faults_default(&m->faults);
	m->has_faults = true;
	return emu_faults_from_json(f, &m->faults, err);
}

static int keys_from_json(emu_config *c, const json_t *keys, bhive_error *err)
{
	size_t i;
	const json_t *k;
	json_array_foreach(keys, i, k)
	{
		const char *id = bh_json_str(k, "access_key_id");
		const char *secret = bh_json_str(k, "secret_access_key");
		if (!id || !secret)
			return bh_error_set(err, BHIVE_ERR_CONFIG,
			                    "key %zu needs access_key_id and "
			                    "secret_access_key",
			                    i + 1);
		emu_key *e = push((void **)&c->keys, &c->num_keys, sizeof(*e));
		if (!e)
			return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		e->access_key_id = bh_strdup(id);
		e->secret_access_key = bh_strdup(secret);
		e->session_token = bh_strdup(bh_json_str(k, "session_token"));
	}
	return 0;
}

static int api_keys_from_json(emu_config *c, const json_t *keys, bhive_error *err)
{
	size_t i;
	const json_t *k;
	json_array_foreach(keys, i, k)
	{
		if (!json_is_string(k))
			return bh_error_set(err, BHIVE_ERR_CONFIG, "api_keys must be strings");
		if (emu_config_add_api_key(c, json_string_value(k), err))
			return BHIVE_ERR_NOMEM;
	}
	return 0;
}

int emu_config_load_json(emu_config *c, const json_t *root, const char *base_dir, bhive_error *err)
{
	if (!json_is_object(root))
		return bh_error_set(err, BHIVE_ERR_CONFIG, "configuration is not a JSON object");
	if (keys_from_json(c, json_object_get(root, "keys"), err) ||
	    api_keys_from_json(c, json_object_get(root, "api_keys"), err))
		return BHIVE_ERR_CONFIG;
	const json_t *f = json_object_get(root, "faults");
	if (f && emu_faults_from_json(f, &c->faults, err))
		return BHIVE_ERR_CONFIG;
	c->has_faults = c->has_faults || f;
	const char *id;
	const json_t *m;
	json_object_foreach((json_t *)json_object_get(root, "models"), id, m)
	{
		if (model_from_json(c, id, m, base_dir, err))
			return BHIVE_ERR_CONFIG;
	}
	c->no_default_models = json_is_false(json_object_get(root, "default_models"));
	return 0;
}

int emu_config_load(emu_config *c, const char *path, bhive_error *err)
{
	size_t len = 0;
	char *text = bh_read_file(path, 0, &len, err);
	if (!text)
		return BHIVE_ERR_CONFIG;
	json_t *root = bh_json_parse(text, len, path, err);
	bh_free(text);
	if (!root)
		return BHIVE_ERR_CONFIG;
	char *copy = bh_strdup(path);
	int rc = copy ? emu_config_load_json(c, root, dirname(copy), err)
	              : bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	bh_free(copy);
	json_decref(root);
	if (rc)
		bh_error_prefix(err, "configuration \"%s\"", path);
	return rc;
}

/* "AKID:SECRET" or "AKID:SECRET:SESSION_TOKEN" from the command line. */
int emu_config_add_key(emu_config *c, const char *spec, bhive_error *err)
{
	const char *c1 = strchr(spec, ':');
	if (!c1 || c1 == spec || !c1[1])
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "key must be ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]");
	const char *c2 = strchr(c1 + 1, ':');
	emu_key *e = push((void **)&c->keys, &c->num_keys, sizeof(*e));
	if (!e)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	e->access_key_id = bh_strndup(spec, (size_t)(c1 - spec));
	e->secret_access_key = c2 ? bh_strndup(c1 + 1, (size_t)(c2 - c1 - 1)) : bh_strdup(c1 + 1);
	e->session_token = c2 ? bh_strdup(c2 + 1) : NULL;
	if (!e->access_key_id || !e->secret_access_key)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	return 0;
}

int emu_config_add_api_key(emu_config *c, const char *token, bhive_error *err)
{
	char **slot = push((void **)&c->api_keys, &c->num_api_keys, sizeof(*slot));
	if (!slot || !(*slot = bh_strdup(token)))
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	return 0;
}
