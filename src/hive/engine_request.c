/*
 * engine_request.c - the Converse body of one call: the caller's
 * pass-through members, the slot's history, structured output and prompt
 * caching checkpoints.
 *
 * Caching: Bedrock takes at most 4 cachePoint blocks per request. The system
 * prompt's checkpoint is worth most (it prefixes everything), then the newest
 * user turns (the longest cached prefix); so when the budget runs short the
 * oldest message checkpoints are the ones left out. Checkpoints the caller
 * already placed count against the budget and are kept.
 */
#include "hive/hive_int.h"
#include <string.h>

#define BH_MAX_CACHE_POINTS 4

static int content_cache_points(const json_t *content)
{
	size_t i;
	json_t *b;
	int n = 0;
	json_array_foreach(content, i, b) n += json_object_get(b, "cachePoint") != NULL;
	return n;
}

int bh_request_cache_points(const json_t *request)
{
	size_t i;
	json_t *m;
	int n = content_cache_points(json_object_get(request, "system"));
	json_array_foreach(json_object_get(request, "messages"), i, m) n +=
	    content_cache_points(json_object_get(m, "content"));
	return n;
}

static json_t *cache_point(void)
{
	return json_pack("{s:{s:s}}", "cachePoint", "type", "default");
}

/* Whether a content array already ends with a checkpoint. */
static int ends_with_cache_point(const json_t *content)
{
	size_t n = json_array_size(content);
	return n && json_object_get(json_array_get(content, n - 1), "cachePoint");
}

/* Adds checkpoints to user turns, newest first, while budget lasts. */
static void cache_messages(json_t *messages, int budget)
{
	for (size_t i = json_array_size(messages); i-- > 0 && budget > 0;) {
		json_t *m = json_array_get(messages, i);
		json_t *content = json_object_get(m, "content");
		if (!bh_streq(bh_json_str(m, "role"), "user") || !json_is_array(content) ||
		    ends_with_cache_point(content))
			continue;
		json_array_append_new(content, cache_point());
		budget--;
	}
}

/* Places checkpoints on the system prompt and user turns of req. */
static void add_cache_points(json_t *req)
{
	int budget = BH_MAX_CACHE_POINTS - bh_request_cache_points(req);
	json_t *system = json_object_get(req, "system");
	if (budget > 0 && json_is_array(system) && json_array_size(system) &&
	    !ends_with_cache_point(system)) {
		json_t *copy = json_deep_copy(system);
		json_array_append_new(copy, cache_point());
		json_object_set_new(req, "system", copy);
		budget--;
	}
	cache_messages(json_object_get(req, "messages"), budget);
}

json_t *bh_request_build(const json_t *base, const json_t *messages, int caching,
                         const json_t *output_config)
{
	json_t *req = base ? json_copy((json_t *)base) : json_object();
	if (!req)
		return NULL;
	json_object_del(req, "modelId");
	if (caching)
		json_object_set_new(req, "messages", json_deep_copy(messages));
	else
		json_object_set(req, "messages", (json_t *)messages);
	if (output_config)
		json_object_set(req, "outputConfig", (json_t *)output_config);
	if (caching)
		add_cache_points(req);
	return req;
}
