/*
 * routes.c - which handler answers a request, and the control endpoints
 * under /_emulator/ that tests and benchmarks use: health, the request
 * record, counters and run-time faults.
 */
#include <stdio.h>
#include <string.h>

#include "server_int.h"

void emu_request_id(emu_server *s, char out[37])
{
	uint64_t a = bh_rng_next(&s->id_rng), b = bh_rng_next(&s->id_rng);
	/* version 4, variant 10xx, as a UUID must have */
	a = (a & ~0xf000ULL) | 0x4000ULL;
	b = (b & ~(3ULL << 62)) | (2ULL << 62);
	snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
	         (unsigned)((a >> 16) & 0xffff), (unsigned)(a & 0xffff), (unsigned)(b >> 48),
	         (unsigned long long)(b & 0xffffffffffffULL));
}

typedef struct header_list {
	emu_http_header *h;
	size_t n;
	bool failed;
} header_list;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
	header_list *l = cls;
	emu_http_header *h = bh_realloc(l->h, (l->n + 1) * sizeof(*h));
	if (!h) {
		l->failed = true;
		return MHD_NO;
	}
	l->h = h;
	l->h[l->n++] = (emu_http_header){key, value ? value : ""};
	return MHD_YES;
}

emu_http_header *emu_req_headers(struct MHD_Connection *conn, size_t *n)
{
	header_list l = {NULL, 0, false};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &l);
	*n = l.n;
	return l.h;
}

static enum MHD_Result send_json(emu_req *q, unsigned status, json_t *body)
{
	struct MHD_Response *r = emu_response_json(body, NULL, NULL);
	json_decref(body);
	return emu_req_reply(q, status, r, 0);
}

static enum MHD_Result send_error(emu_req *q, unsigned status, const char *type,
                                  const char *message)
{
	emu_status st = {0};
	emu_status_set(&st, (int)status, type, "%s", message);
	char id[37];
	emu_request_id(q->s, id);
	return emu_req_reply(q, status, emu_response_error(&st, id), 0);
}

static json_t *faults_json(const emu_server *s)
{
	json_t *models = json_object();
	for (size_t i = 0; i < s->cfg->num_models; i++) {
		const emu_model *m = &s->cfg->models[i];
		if (m->has_faults)
			json_object_set_new(models, m->id, emu_faults_to_json(&m->faults));
	}
	return json_pack("{s:o, s:o}", "global", emu_faults_to_json(&s->cfg->faults), "models",
	                 models);
}

/* A scope's faults are replaced as a whole: what the body leaves out is 0. */
static int set_scope(emu_faults *dst, bool *has, const json_t *spec, bhive_error *err)
{
	if (json_is_null(spec)) {
		emu_faults_default(dst);
		*has = false;
		return 0;
	}
	emu_faults f;
	emu_faults_default(&f);
	if (emu_faults_from_json(spec, &f, err))
		return -1;
	*dst = f;
	*has = true;
	return 0;
}

static int apply_model_faults(emu_server *s, const json_t *models, bhive_error *err)
{
	const char *id;
	json_t *spec;
	json_object_foreach((json_t *)models, id, spec)
	{
		emu_model *m = emu_config_find_model(s->cfg, id);
		if (!m)
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "model \"%s\" is not configured", id);
		if (set_scope(&m->faults, &m->has_faults, spec, err))
			return -1;
	}
	return 0;
}

/* Body: {"global": FAULTS|null, "models": {id: FAULTS|null}}, or FAULTS
 * alone for the global scope; {"reset": true} clears every scope. */
static int apply_faults(emu_server *s, const json_t *body, bhive_error *err)
{
	if (json_is_true(json_object_get(body, "reset"))) {
		set_scope(&s->cfg->faults, &s->cfg->has_faults, json_null(), err);
		for (size_t i = 0; i < s->cfg->num_models; i++)
			set_scope(&s->cfg->models[i].faults, &s->cfg->models[i].has_faults,
			          json_null(), err);
		return 0;
	}
	const json_t *g = json_object_get(body, "global");
	const json_t *m = json_object_get(body, "models");
	if (!g && !m)
		return set_scope(&s->cfg->faults, &s->cfg->has_faults, body, err);
	if (g && set_scope(&s->cfg->faults, &s->cfg->has_faults, g, err))
		return -1;
	if (m && !json_is_object(m))
		return bh_error_set(err, BHIVE_ERR_INVALID, "\"models\" must be an object");
	return m ? apply_model_faults(s, m, err) : 0;
}

static enum MHD_Result post_faults(emu_server *s, emu_req *q)
{
	emu_status st = {0};
	json_t *body = emu_parse_body(q->body.data, q->body.len, &st);
	if (!body)
		return send_error(q, 400, st.type, st.message);
	bhive_error err = {0};
	int rc = apply_faults(s, body, &err);
	json_decref(body);
	if (rc)
		return send_error(q, 400, "ValidationException", err.message);
	return send_json(q, 200, faults_json(s));
}

static enum MHD_Result control(emu_server *s, emu_req *q, const char *what, const char *method)
{
	bool get = strcmp(method, "GET") == 0;
	if (strcmp(what, "health") == 0 && get)
		return send_json(q, 200,
		                 json_pack("{s:s, s:b, s:i, s:i, s:I}", "status", "ok", "simulated", 1,
		                           "models", (int)s->cfg->num_models, "recorded",
		                           (int)emu_record_size(s->rec), "connections",
		                           (json_int_t)s->connections));
	if (strcmp(what, "requests") == 0 && get)
		return send_json(q, 200, emu_record_list(s->rec));
	if (strcmp(what, "requests") == 0 && strcmp(method, "DELETE") == 0) {
		emu_record_clear(s->rec);
		return send_json(q, 200, json_pack("{s:b}", "cleared", 1));
	}
	if (strcmp(what, "stats") == 0 && get)
		return send_json(q, 200, emu_record_stats(s->rec));
	if (strcmp(what, "faults") == 0 && get)
		return send_json(q, 200, faults_json(s));
	if (strcmp(what, "faults") == 0 && strcmp(method, "POST") == 0)
		return post_faults(s, q);
	if (strcmp(what, "cache") == 0 && strcmp(method, "DELETE") == 0) {
		s->cache.len = 0;
		if (s->cache.keys)
			memset(s->cache.keys, 0, s->cache.cap * sizeof(*s->cache.keys));
		return send_json(q, 200, json_pack("{s:b}", "cleared", 1));
	}
	return send_error(q, 404, "ResourceNotFoundException", "unknown emulator control endpoint");
}

/* /model/{modelId}/{operation}: the label is one path segment, its own
 * slashes and colons percent-encoded. */
static enum MHD_Result model_route(emu_server *s, emu_req *q, const char *url, const char *method)
{
	const char *label = url + strlen("/model/");
	const char *slash = strchr(label, '/');
	if (!slash || slash == label || strchr(slash + 1, '/') || strcmp(method, "POST") != 0)
		return send_error(q, 404, "UnknownOperationException", "");
	char lab[1024];
	size_t n = (size_t)(slash - label);
	if (n >= sizeof(lab))
		return send_error(q, 400, "ValidationException",
		                  "The provided model identifier is invalid.");
	memcpy(lab, label, n);
	lab[n] = '\0';
	return emu_converse(s, q, url, lab, slash + 1);
}

enum MHD_Result emu_route(emu_server *s, emu_req *q, const char *url, const char *method)
{
	if (q->too_large)
		return send_error(q, 413, "ValidationException",
		                  "Request body exceeds the emulator's 25 MiB limit.");
	if (bh_starts_with(url, "/_emulator/"))
		return control(s, q, url + strlen("/_emulator/"), method);
	if (bh_starts_with(url, "/model/"))
		return model_route(s, q, url, method);
	return send_error(q, 404, "UnknownOperationException", "");
}
