/*
 * cost.c - the price table: built-in defaults (data/prices.json compiled in),
 * user files merged over them, and lookups that understand inference-profile
 * ids and ARNs.
 *
 * Design: a table is a flat array of entries searched linearly; it holds a
 * few dozen models and a lookup costs far less than the call it prices.
 * Each price is stored with a "given" bit so that a user file can change
 * one member of a model and keep the rest, and so that missing cache prices
 * can fall back to the input price at lookup time.
 */
#include "bhive/cost.h"
#include "prices_json.h"
#include "util/util.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { P_INPUT, P_OUTPUT, P_CACHE_READ, P_CACHE_WRITE, P_COUNT };

static const char *const price_names[P_COUNT] = {"input", "output", "cache_read", "cache_write"};

/* Prefixes of cross-region and global inference profiles. */
static const char *const profile_prefixes[] = {"us.", "eu.", "apac.",   "jp.",
                                               "au.", "ca.", "us-gov.", "global."};

typedef struct price_set {
	double v[P_COUNT];
	unsigned given; /* bit i: v[i] was given */
} price_set;

typedef struct region_price {
	char *region;
	price_set p;
} region_price;

typedef struct model_entry {
	char *id;
	price_set p;
	int structured_output; /* -1: not given */
	region_price *regions;
	size_t nregions;
} model_entry;

struct bhive_prices {
	model_entry *models;
	size_t n;
	size_t cap;
	int strict;
};

void bhive_usage_add(bhive_usage *a, const bhive_usage *b)
{
	a->input_tokens += b->input_tokens;
	a->output_tokens += b->output_tokens;
	a->cache_read_tokens += b->cache_read_tokens;
	a->cache_write_tokens += b->cache_write_tokens;
}

static void entry_release(model_entry *e)
{
	for (size_t i = 0; i < e->nregions; i++)
		bh_free(e->regions[i].region);
	bh_free(e->regions);
	bh_free(e->id);
}

void bhive_prices_free(bhive_prices *prices)
{
	if (!prices)
		return;
	for (size_t i = 0; i < prices->n; i++)
		entry_release(&prices->models[i]);
	bh_free(prices->models);
	bh_free(prices);
}

bhive_prices *bhive_prices_new(bhive_error *err)
{
	bhive_error_clear(err);
	bhive_prices *p = bh_calloc(1, sizeof(*p));
	if (!p) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory creating the price table");
		return NULL;
	}
	if (bhive_prices_load_string(p, bh_prices_json, sizeof(bh_prices_json) - 1,
	                             "built-in prices", err) != 0) {
		bhive_prices_free(p);
		return NULL;
	}
	return p;
}

static bhive_prices *default_table;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
	default_table = bhive_prices_new(NULL);
}

const bhive_prices *bhive_prices_default(void)
{
	pthread_once(&default_once, default_init);
	return default_table;
}

void bhive_prices_set_strict(bhive_prices *prices, int strict)
{
	if (prices)
		prices->strict = strict ? 1 : 0;
}

/* ---- loading ----------------------------------------------------------- */

static model_entry *find_entry(const bhive_prices *p, const char *id)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->models[i].id, id) == 0)
			return &p->models[i];
	return NULL;
}

/* Reads the four price members of obj into ps (only those present),
 * scaled by unit; model and where name the place in messages. */
static int read_price_set(const json_t *obj, double unit, price_set *ps, const char *model,
                          const char *where, bhive_error *err)
{
	for (int i = 0; i < P_COUNT; i++) {
		const json_t *v = json_object_get(obj, price_names[i]);
		if (!v)
			continue;
		if (!json_is_number(v) || json_number_value(v) < 0)
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "price \"%s\" of model \"%s\"%s is not a number >= 0",
			                    price_names[i], model, where);
		ps->v[i] = json_number_value(v) * unit;
		ps->given |= 1u << i;
	}
	return 0;
}

static bool is_price_name(const char *key)
{
	for (int i = 0; i < P_COUNT; i++)
		if (strcmp(key, price_names[i]) == 0)
			return true;
	return false;
}

/* Checks the regions member: an object of objects holding only prices. */
static int check_regions(const json_t *regions, const char *model, bhive_error *err)
{
	const char *region;
	const json_t *rv;
	if (!json_is_object(regions))
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "\"regions\" of model \"%s\" is not an object", model);
	json_object_foreach((json_t *)regions, region, rv)
	{
		const char *key;
		const json_t *v;
		if (!json_is_object(rv))
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "region \"%s\" of model \"%s\" is not an object",
			                    region, model);
		json_object_foreach(
		    (json_t *)rv, key,
		    v) if (!is_price_name(key)) return bh_error_set(err, BHIVE_ERR_INVALID,
		                                                    "unknown member \"%s\" in "
		                                                    "region \"%s\" of model \"%s\"",
		                                                    key, region, model);
	}
	return 0;
}

/* Validates one model object without changing anything, so that a bad file
 * leaves the table as it was. */
static int check_model(const bhive_prices *p, const char *id, const json_t *m, double unit,
                       bhive_error *err)
{
	const char *key;
	const json_t *v;
	price_set ps = {{0}, 0};
	if (!json_is_object(m))
		return bh_error_set(err, BHIVE_ERR_INVALID, "model \"%s\" is not an object", id);
	json_object_foreach((json_t *)m, key, v)
	{
		if (is_price_name(key) || strcmp(key, "note") == 0)
			continue;
		if (strcmp(key, "structured_output") == 0 && json_is_boolean(v))
			continue;
		if (strcmp(key, "regions") == 0) {
			int rc = check_regions(v, id, err);
			if (rc)
				return rc;
			continue;
		}
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "unknown or wrong member \"%s\" of model \"%s\"", key, id);
	}
	if (read_price_set(m, unit, &ps, id, "", err))
		return BHIVE_ERR_INVALID;
	if (!find_entry(p, id) && (ps.given & 3u) != 3u)
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "model \"%s\" needs both \"input\" and \"output\" prices", id);
	return 0;
}

/* Copies the given members of src over dst. */
static void merge_set(price_set *dst, const price_set *src)
{
	for (int i = 0; i < P_COUNT; i++)
		if (src->given & (1u << i))
			dst->v[i] = src->v[i];
	dst->given |= src->given;
}

static model_entry *add_entry(bhive_prices *p, const char *id)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		model_entry *m = bh_realloc(p->models, cap * sizeof(*m));
		if (!m)
			return NULL;
		p->models = m;
		p->cap = cap;
	}
	model_entry *e = &p->models[p->n];
	memset(e, 0, sizeof(*e));
	e->structured_output = -1;
	e->id = bh_strdup(id);
	if (!e->id)
		return NULL;
	p->n++;
	return e;
}

static region_price *find_or_add_region(model_entry *e, const char *region)
{
	for (size_t i = 0; i < e->nregions; i++)
		if (strcmp(e->regions[i].region, region) == 0)
			return &e->regions[i];
	region_price *r = bh_realloc(e->regions, (e->nregions + 1) * sizeof(*r));
	if (!r)
		return NULL;
	e->regions = r;
	r = &e->regions[e->nregions];
	memset(r, 0, sizeof(*r));
	r->region = bh_strdup(region);
	if (!r->region)
		return NULL;
	e->nregions++;
	return r;
}

static int apply_regions(model_entry *e, const json_t *regions, double unit, bhive_error *err)
{
	const char *region;
	const json_t *rv;
	json_object_foreach((json_t *)regions, region, rv)
	{
		price_set ps = {{0}, 0};
		region_price *r = find_or_add_region(e, region);
		if (!r)
			return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory loading prices");
		if (read_price_set(rv, unit, &ps, e->id, " in a region", err))
			return BHIVE_ERR_INVALID;
		merge_set(&r->p, &ps);
	}
	return 0;
}

/* Merges one (already checked) model object into the table. */
static int apply_model(bhive_prices *p, const char *id, const json_t *m, double unit,
                       bhive_error *err)
{
	price_set ps = {{0}, 0};
	model_entry *e = find_entry(p, id);
	if (!e && !(e = add_entry(p, id)))
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory loading prices");
	read_price_set(m, unit, &ps, id, "", NULL);
	merge_set(&e->p, &ps);
	const json_t *so = json_object_get(m, "structured_output");
	if (json_is_boolean(so))
		e->structured_output = json_is_true(so) ? 1 : 0;
	const json_t *regions = json_object_get(m, "regions");
	return regions ? apply_regions(e, regions, unit, err) : 0;
}

/* The multiplier that turns the file's unit into USD per 1,000 tokens. */
static int read_unit(const json_t *root, double *unit, bhive_error *err)
{
	const json_t *u = json_object_get(root, "unit");
	*unit = 1.0;
	if (!u || bh_streq(json_string_value(u), "usd_per_1k_tokens"))
		return 0;
	if (bh_streq(json_string_value(u), "usd_per_1m_tokens")) {
		*unit = 0.001;
		return 0;
	}
	return bh_error_set(err, BHIVE_ERR_INVALID,
	                    "\"unit\" must be \"usd_per_1k_tokens\" or \"usd_per_1m_tokens\"");
}

static int load_root(bhive_prices *p, const json_t *root, bhive_error *err)
{
	double unit;
	const char *id;
	const json_t *m;
	const json_t *models = json_object_get(root, "models");
	if (!json_is_object(root) || !json_is_object(models))
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "no \"models\" object at the top level");
	if (read_unit(root, &unit, err))
		return BHIVE_ERR_INVALID;
	int rc = 0;
	json_object_foreach((json_t *)models, id,
	                    m) if ((rc = check_model(p, id, m, unit, err)) != 0) return rc;
	json_object_foreach((json_t *)models, id,
	                    m) if ((rc = apply_model(p, id, m, unit, err)) != 0) return rc;
	return 0;
}

int bhive_prices_load_string(bhive_prices *prices, const char *text, size_t len, const char *what,
                             bhive_error *err)
{
	bhive_error_clear(err);
	if (!prices || !text)
		return bh_error_set(err, BHIVE_ERR_INVALID, "no price table or text given");
	json_t *root = bh_json_parse(text, len, what ? what : "price file", err);
	if (!root)
		return BHIVE_ERR_PARSE;
	int rc = load_root(prices, root, err);
	json_decref(root);
	if (rc)
		bh_error_prefix(err, "%s", what ? what : "price file");
	return rc;
}

int bhive_prices_load_file(bhive_prices *prices, const char *path, bhive_error *err)
{
	size_t len;
	bhive_error_clear(err);
	char *text = bh_read_file(path, 16u << 20, &len, err);
	if (!text)
		return err ? err->code : BHIVE_ERR_IO;
	int rc = bhive_prices_load_string(prices, text, len, path, err);
	bh_free(text);
	if (rc && err)
		bh_strlcpy(err->source, path, sizeof(err->source));
	return rc;
}

/* ---- lookups ----------------------------------------------------------- */

/* The part of an ARN after its last '/', or id itself. */
static const char *strip_arn(const char *id)
{
	if (!bh_starts_with(id, "arn:"))
		return id;
	const char *slash = strrchr(id, '/');
	return slash ? slash + 1 : id;
}

/* id without an inference-profile prefix ("us." ...), or id itself. Only a
 * prefix followed by "provider.model" counts. */
static const char *strip_profile(const char *id)
{
	for (size_t i = 0; i < BH_ARRAY_LEN(profile_prefixes); i++) {
		const char *pre = profile_prefixes[i];
		if (bh_starts_with(id, pre) && strchr(id + strlen(pre), '.'))
			return id + strlen(pre);
	}
	return id;
}

char *bhive_model_base_id(const char *model_id, char *buf, size_t n)
{
	if (n == 0)
		return buf;
	bh_strlcpy(buf, model_id ? strip_profile(strip_arn(model_id)) : "", n);
	return buf;
}

/* The entry for any form of a model id: the exact id (a table may price a
 * "global." profile on its own), then the id without its profile prefix. */
static const model_entry *resolve(const bhive_prices *p, const char *model_id)
{
	if (!model_id)
		return NULL;
	const char *id = strip_arn(model_id);
	const model_entry *e = find_entry(p, id);
	if (e)
		return e;
	const char *base = strip_profile(id);
	return base != id ? find_entry(p, base) : NULL;
}

static void fill_price(const model_entry *e, const char *region, bhive_price *out)
{
	price_set ps = e->p;
	for (size_t i = 0; region && i < e->nregions; i++)
		if (strcmp(e->regions[i].region, region) == 0)
			merge_set(&ps, &e->regions[i].p);
	out->input = ps.v[P_INPUT];
	out->output = ps.v[P_OUTPUT];
	out->cache_read = (ps.given & (1u << P_CACHE_READ)) ? ps.v[P_CACHE_READ] : out->input;
	out->cache_write = (ps.given & (1u << P_CACHE_WRITE)) ? ps.v[P_CACHE_WRITE] : out->input;
	out->structured_output = e->structured_output > 0;
}

int bhive_prices_lookup(const bhive_prices *prices, const char *model_id, const char *region,
                        bhive_price *out)
{
	const model_entry *e = prices ? resolve(prices, model_id) : NULL;
	if (!e)
		return BHIVE_ERR_UNKNOWN_MODEL;
	fill_price(e, region, out);
	return 0;
}

double bhive_cost_of(const bhive_price *price, const bhive_usage *usage)
{
	return ((double)usage->input_tokens * price->input +
	        (double)usage->output_tokens * price->output +
	        (double)usage->cache_read_tokens * price->cache_read +
	        (double)usage->cache_write_tokens * price->cache_write) /
	       1000.0;
}

static void split_cost(const bhive_price *pr, const bhive_usage *u, bhive_cost *out)
{
	out->input_usd = (double)u->input_tokens * pr->input / 1000.0;
	out->output_usd = (double)u->output_tokens * pr->output / 1000.0;
	out->cache_read_usd = (double)u->cache_read_tokens * pr->cache_read / 1000.0;
	out->cache_write_usd = (double)u->cache_write_tokens * pr->cache_write / 1000.0;
	out->usd = out->input_usd + out->output_usd + out->cache_read_usd + out->cache_write_usd;
}

int bhive_prices_cost(const bhive_prices *prices, const char *model_id, const char *region,
                      const bhive_usage *usage, bhive_cost *out, bhive_error *err)
{
	bhive_price pr;
	bhive_error_clear(err);
	if (!prices && !(prices = bhive_prices_default()))
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory loading the price table");
	memset(out, 0, sizeof(*out));
	bh_strlcpy(out->model_id, model_id ? model_id : "", sizeof(out->model_id));
	if (bhive_prices_lookup(prices, model_id, region, &pr) != 0) {
		out->unknown = 1;
		if (!prices->strict)
			return 0;
		bh_error_set(err, BHIVE_ERR_UNKNOWN_MODEL, "no price known for model \"%s\"",
		             out->model_id);
		if (err)
			bh_strlcpy(err->source, out->model_id, sizeof(err->source));
		return BHIVE_ERR_UNKNOWN_MODEL;
	}
	if (usage)
		split_cost(&pr, usage, out);
	return 0;
}

int bhive_prices_structured_output(const bhive_prices *prices, const char *model_id)
{
	bhive_price pr;
	if (!prices && !(prices = bhive_prices_default()))
		return 0;
	return bhive_prices_lookup(prices, model_id, NULL, &pr) == 0 && pr.structured_output;
}
