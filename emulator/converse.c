/*
 * converse.c - POST /model/{modelId}/converse: authenticate, find the model,
 * validate, draw a fault, check quotas, let the simulated or scripted model
 * answer, then shape the answer as Bedrock does (stop sequences, maxTokens,
 * usage with prompt-cache tokens, metrics) and send it after the simulated
 * latency. Every request is recorded with its outcome.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "aws/sigv4.h"
#include "reasoner.h"
#include "server_int.h"

typedef struct converse {
	emu_server *s;
	emu_req *q;
	const char *raw_path;
	char model_id[1024];
	emu_model *model;
	const emu_faults *faults;
	json_t *req; /* parsed body */
	emu_prompt_size prompt; /* what the model reads, measured once */
	emu_http_header *headers;
	size_t num_headers;
	char request_id[37];
	emu_status st;
	json_t *entry; /* the record of this request */
} converse;

/* What the model said, before Bedrock-side shaping. */
typedef struct answer {
	char *text;
	char *reasoning;
	const char *stop_reason;
	double delay_ms; /* < 0: the model's own latency */
} answer;

static const char invalid_model[] = "The provided model identifier is invalid.";

/* Decodes a percent-encoded path label; -1 on a bad escape. */
static int decode_label(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	for (size_t i = 0; in[i]; i++) {
		char c = in[i];
		if (c == '%') {
			unsigned v;
			if (!in[i + 1] || !in[i + 2] || sscanf(in + i + 1, "%2x", &v) != 1)
				return -1;
			c = (char)v;
			i += 2;
		}
		if (o + 1 >= outsz || c == '\0')
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* ---- the record -------------------------------------------------------- */

static void redact_authorization(const char *value, char *out, size_t outsz)
{
	bh_sigv4_auth a;
	char key[64];
	if (bh_starts_with(value, "AWS4-HMAC-SHA256 ") &&
	    bh_sigv4_parse_authorization(value, &a, NULL) == 0) {
		bh_redact(a.access_key_id, key, sizeof(key));
		snprintf(out, outsz,
		         "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
		         "SignedHeaders=%s, Signature=[redacted]",
		         key, a.date, a.region, a.service, a.signed_headers);
		return;
	}
	const char *sp = strchr(value, ' ');
	snprintf(out, outsz, "%.*s [redacted]", sp ? (int)(sp - value) : 0, value);
}

static json_t *record_headers(const converse *c)
{
	json_t *h = json_object();
	for (size_t i = 0; i < c->num_headers; i++) {
		char name[128], red[1400];
		bh_strlcpy(name, c->headers[i].name, sizeof(name));
		for (char *p = name; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		const char *v = c->headers[i].value;
		if (strcmp(name, "authorization") == 0) {
			redact_authorization(v, red, sizeof(red));
			v = red;
		} else if (strcmp(name, "x-amz-security-token") == 0) {
			v = "[redacted]";
		}
		json_object_set_new(h, name, json_string(v));
	}
	return h;
}

static json_t *record_entry(const converse *c, const char *op)
{
	char when[32];
	time_t t = (time_t)bh_wall_time();
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *e =
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "model", c->model_id, "path", c->raw_path,
	              "operation", op, "time", when, "request_id", c->request_id);
	json_object_set_new(e, "headers", record_headers(c));
	return e;
}

/* The record takes the body's bytes from the request: nothing reads them
 * once the outcome is filed. */
static void record_file(converse *c)
{
	size_t len = c->q->body.len;
	char *body = bh_buf_steal(&c->q->body);
	emu_record_add(c->s->rec, c->entry, body, body ? len : 0);
	c->entry = NULL;
}

/* Files the request under its outcome and sends (or parks) the response. */
static enum MHD_Result finish(converse *c, unsigned status, const char *outcome,
                              struct MHD_Response *r, double delay_ms)
{
	json_object_set_new(c->entry, "status", json_integer(status));
	json_object_set_new(c->entry, "error_type",
	                    c->st.http_status ? json_string(c->st.type) : json_null());
	json_object_set_new(c->entry, "outcome", json_string(outcome));
	emu_record_count(c->s->rec, c->model ? c->model->id : c->model_id, outcome);
	record_file(c);
	return emu_req_reply(c->q, status, r, delay_ms);
}

static enum MHD_Result fail(converse *c, double delay_ms)
{
	return finish(c, (unsigned)c->st.http_status, c->st.type,
	              emu_response_error(&c->st, c->request_id), delay_ms);
}

/* ---- checks before the model runs -------------------------------------- */

static int authenticate(converse *c)
{
	emu_auth_request ar = {"POST",         c->raw_path,     NULL,           c->headers,
	                       c->num_headers, c->q->body.data, c->q->body.len, bh_wall_time()};
	return emu_auth_check(c->s->cfg, &ar, &c->st);
}

static int parse_and_validate(converse *c, const char *op)
{
	c->req = emu_parse_body(c->q->body.data, c->q->body.len, &c->st);
	if (!c->req)
		return -1;
	if (emu_validate_converse(c->req, &c->st))
		return -1;
	if (strcmp(op, "converse-stream") == 0) {
		emu_status_set(&c->st, 400, "ValidationException",
		               "ConverseStream is not supported by bhive-emulator (simulated "
		               "models); call Converse instead.");
		return -1;
	}
	return 0;
}

/* ---- the model's answer ------------------------------------------------ */

/* The run's seed per model, the same for every request: the reasoner hashes
 * the request's texts itself and keys per-question state (which slips a
 * model is blind to, kept from round to round) on this seed, so a
 * per-request seed would break the calibrated reflection curves. */
static uint64_t request_seed(const converse *c)
{
	uint64_t seed = bh_hash64(c->model->id, strlen(c->model->id), c->s->opt.seed);
	/* A repeated model id in a debate is another sample of that model. Real
	 * models differ from sample to sample; deterministic simulated ones
	 * need to be told which sample they are, and bhive says so in
	 * requestMetadata (which real Bedrock keeps for invocation logs). */
	const char *sample = bh_json_str(json_object_get(c->req, "requestMetadata"), "bhive_sample");
	if (sample && strcmp(sample, "0") != 0)
		seed = bh_hash64(sample, strlen(sample), seed);
	return seed;
}

static int ask_reasoner(converse *c, answer *a)
{
	emu_reasoner_params p = {c->model->skill, c->model->native_json_schema,
	                         c->model->reflection, c->model->id};
	emu_reply r = {0};
	bhive_error err = {0};
	if (emu_reasoner_reply(&p, c->req, request_seed(c), &r, &err) != 0) {
		emu_status_set(&c->st, 500, "InternalServerException",
		               "simulated model \"%s\" failed: %s", c->model->id, err.message);
		emu_reply_release(&r);
		return -1;
	}
	a->text = r.text;
	a->reasoning = r.reasoning;
	r.text = r.reasoning = NULL;
	emu_reply_release(&r);
	return a->text ? 0 : -1;
}

static int ask_script(converse *c, answer *a)
{
	emu_script_reply sr;
	char *last = emu_last_user_text(c->req);
	bool ok = emu_script_next(c->model->script, last, &sr);
	bh_free(last);
	if (!ok) {
		emu_status_set(&c->st, 500, "InternalServerException",
		               "scripted model \"%s\" has no replies left", c->model->id);
		return -1;
	}
	a->delay_ms = sr.delay_ms >= 0 ? (double)sr.delay_ms : -1;
	if (sr.error.http_status) {
		c->st = sr.error;
		return -1;
	}
	a->text = bh_strdup(sr.text);
	a->reasoning = bh_strdup(sr.reasoning);
	a->stop_reason = sr.stop_reason;
	return a->text ? 0 : -1;
}

/* ---- Bedrock-side shaping ---------------------------------------------- */

/* Length of s cut to at most n bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n)
{
	size_t len = strlen(s);
	if (len <= n)
		return len;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

static void apply_stop_sequences(const json_t *ic, answer *a)
{
	const json_t *ss = json_object_get(ic, "stopSequences");
	char *cut = NULL;
	for (size_t i = 0; i < json_array_size(ss); i++) {
		const char *seq = json_string_value(json_array_get(ss, i));
		char *hit = seq && seq[0] ? strstr(a->text, seq) : NULL;
		if (hit && (!cut || hit < cut))
			cut = hit;
	}
	if (cut) {
		*cut = '\0';
		a->stop_reason = "stop_sequence";
	}
}

/* maxTokens bounds reasoning plus text, at four characters a token. */
static long apply_max_tokens(const json_t *ic, answer *a)
{
	size_t rlen = a->reasoning ? strlen(a->reasoning) : 0;
	long out = emu_tokens(rlen + strlen(a->text), 1);
	json_int_t max = bh_json_int(ic, "maxTokens", 0);
	if (max <= 0 || out <= max)
		return out;
	size_t limit = (size_t)max * 4;
	if (a->reasoning)
		a->reasoning[utf8_cut(a->reasoning, limit)] = '\0';
	size_t used = a->reasoning ? strlen(a->reasoning) : 0;
	a->text[utf8_cut(a->text, limit > used ? limit - used : 0)] = '\0';
	a->stop_reason = "max_tokens";
	return (long)max;
}

/* ---- prompt cache ------------------------------------------------------ */

static bool cache_has(const emu_prefix_cache *pc, uint64_t key)
{
	if (!pc->cap)
		return false;
	for (size_t i = key & (pc->cap - 1);; i = (i + 1) & (pc->cap - 1)) {
		if (pc->keys[i] == key)
			return true;
		if (pc->keys[i] == 0)
			return false;
	}
}

/* Inserts key; the set restarts empty past a million prefixes, like a
 * cache whose entries expired. */
static void cache_put(emu_prefix_cache *pc, uint64_t key)
{
	if (cache_has(pc, key))
		return;
	if (pc->len * 2 >= pc->cap) {
		size_t cap = pc->cap ? pc->cap * 2 : 1024;
		if (cap > (1u << 21))
			cap = pc->cap;
		uint64_t *old = pc->keys;
		size_t oldcap = pc->cap;
		uint64_t *keys = bh_calloc(cap, sizeof(*keys));
		if (!keys)
			return;
		pc->keys = keys;
		pc->cap = cap;
		pc->len = 0;
		for (size_t i = 0; cap != oldcap && i < oldcap; i++)
			if (old[i])
				cache_put(pc, old[i]);
		bh_free(old);
	}
	size_t i = key & (pc->cap - 1);
	while (pc->keys[i])
		i = (i + 1) & (pc->cap - 1);
	pc->keys[i] = key;
	pc->len++;
}

typedef struct usage {
	long input, output, cache_read, cache_write;
	bool has_cache;
} usage;

/* The longest prefix seen before is read from the cache; the rest up to
 * the last cachePoint is written to it; what follows is ordinary input. */
static void count_input(converse *c, usage *u)
{
	const emu_prompt_size *ps = &c->prompt;
	/* Claude models report both cache counters on every answer, zeros
	 * included (recorded traffic); others only when a cachePoint was sent. */
	u->has_cache = ps->num_cache_points > 0 || strstr(c->model->id, "anthropic.") != NULL;
	if (ps->num_cache_points == 0) {
		u->input = emu_tokens(ps->chars, 1);
		return;
	}
	uint64_t mh = bh_hash64(c->model->id, strlen(c->model->id), 0);
	size_t read = 0, last = ps->cache_chars[ps->num_cache_points - 1];
	for (size_t i = 0; i < ps->num_cache_points; i++) {
		uint64_t key = bh_hash64(&ps->cache_hash[i], sizeof(uint64_t), mh) | 1;
		if (cache_has(&c->s->cache, key))
			read = ps->cache_chars[i];
		cache_put(&c->s->cache, key);
	}
	u->cache_read = emu_tokens(read, 0);
	u->cache_write = emu_tokens(last - read, 0);
	u->input = emu_tokens(ps->chars - last, 0);
}

static json_t *usage_json(const usage *u)
{
	json_t *j = json_pack("{s:I, s:I, s:I}", "inputTokens", (json_int_t)u->input,
	                      "outputTokens", (json_int_t)u->output, "totalTokens",
	                      (json_int_t)(u->input + u->output + u->cache_read + u->cache_write));
	if (u->has_cache) {
		json_object_set_new(j, "cacheReadInputTokens", json_integer(u->cache_read));
		json_object_set_new(j, "cacheWriteInputTokens", json_integer(u->cache_write));
	}
	return j;
}

static json_t *content_json(const answer *a)
{
	json_t *content = json_array();
	if (a->reasoning)
		json_array_append_new(content,
		                      json_pack("{s:{s:{s:s, s:s}}}", "reasoningContent",
		                                "reasoningText", "text", a->reasoning, "signature",
		                                "c2ltdWxhdGVkIGJ5IGJoaXZlLWVtdWxhdG9y"));
	json_array_append_new(content, json_pack("{s:s}", "text", a->text));
	return content;
}

static double model_latency(converse *c, long output_tokens)
{
	const emu_latency *forced = &c->s->opt.forced_latency;
	if (forced->dist)
		return emu_latency_draw(forced, &c->s->latency_rng);
	if (c->faults->latency.dist)
		return emu_latency_draw(&c->faults->latency, &c->s->latency_rng);
	const emu_model *m = c->model;
	return (m->base_latency_ms + m->ms_per_token * (double)output_tokens) *
	       c->s->opt.time_scale;
}

/* ---- sending, with body faults ------------------------------------------ */

static enum MHD_Result reset_connection(converse *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c->q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct linger lg = {1, 0};
	if (ci)
		setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	json_object_set_new(c->entry, "status", json_integer(0));
	json_object_set_new(c->entry, "error_type", json_null());
	json_object_set_new(c->entry, "outcome", json_string("reset"));
	emu_record_count(c->s->rec, c->model->id, "reset");
	record_file(c);
	return MHD_NO;
}

static struct MHD_Response *malformed_response(const char *text, const char *request_id)
{
	size_t len = strlen(text) / 2;
	char *copy = bh_strndup(text, len);
	struct MHD_Response *r =
	    copy ? MHD_create_response_from_buffer_with_free_callback(len, copy, bh_free) : NULL;
	if (r) {
		MHD_add_response_header(r, "Content-Type", "application/json");
		MHD_add_response_header(r, "x-amzn-RequestId", request_id);
	} else {
		bh_free(copy);
	}
	return r;
}

static enum MHD_Result send_answer(converse *c, int fault, json_t *body, double delay_ms)
{
	if (fault == EMU_FAULT_RESET)
		return reset_connection(c);
	char *text = json_dumps(body, JSON_COMPACT);
	struct MHD_Response *r = NULL;
	const char *outcome = "ok";
	if (!text)
		r = NULL;
	else if (fault == EMU_FAULT_CUTOFF || fault == EMU_FAULT_SLOW)
		r = emu_response_drip(c->s, c->q->conn, text, fault == EMU_FAULT_CUTOFF,
		                      c->faults->drip_bytes, c->faults->drip_interval_ms);
	else if (fault == EMU_FAULT_MALFORMED)
		r = malformed_response(text, c->request_id);
	else
		r = emu_response_json(body, NULL, c->request_id);
	if (r && (fault == EMU_FAULT_CUTOFF || fault == EMU_FAULT_SLOW))
		MHD_add_response_header(r, "x-amzn-RequestId", c->request_id);
	if (fault == EMU_FAULT_CUTOFF)
		outcome = "cutoff";
	else if (fault == EMU_FAULT_SLOW)
		outcome = "slow_body";
	else if (fault == EMU_FAULT_MALFORMED)
		outcome = "malformed_body";
	free(text);
	return finish(c, 200, outcome, r, delay_ms);
}

/* Runs the model and builds the Converse response. */
static enum MHD_Result respond(converse *c, int fault)
{
	answer a = {NULL, NULL, NULL, -1};
	int rc = c->model->kind == EMU_MODEL_SCRIPTED ? ask_script(c, &a) : ask_reasoner(c, &a);
	if (rc) {
		bh_free(a.text);
		bh_free(a.reasoning);
		if (!c->st.http_status)
			emu_status_set(&c->st, 500, "InternalServerException", "out of memory");
		return fail(c, a.delay_ms > 0 ? a.delay_ms : 0);
	}
	const json_t *ic = json_object_get(c->req, "inferenceConfig");
	usage u = {0};
	count_input(c, &u);
	apply_stop_sequences(ic, &a);
	u.output = apply_max_tokens(ic, &a);
	emu_quota_add_tokens(&c->model->quota, u.output);
	double delay = a.delay_ms >= 0 ? a.delay_ms : model_latency(c, u.output);
	json_t *body = json_pack("{s:{s:{s:s, s:o}}, s:s, s:o, s:{s:I}}", "output", "message",
	                         "role", "assistant", "content", content_json(&a), "stopReason",
	                         a.stop_reason ? a.stop_reason : "end_turn", "usage",
	                         usage_json(&u), "metrics", "latencyMs", (json_int_t)(delay + 0.5));
	bh_free(a.text);
	bh_free(a.reasoning);
	enum MHD_Result res = send_answer(c, fault, body, delay);
	json_decref(body);
	return res;
}

static enum MHD_Result run_model(converse *c)
{
	c->faults = c->model->has_faults ? &c->model->faults : &c->s->cfg->faults;
	int fault = emu_fault_draw(c->faults, &c->s->fault_rng);
	emu_fault_status(fault, &c->st);
	if (c->st.http_status)
		return fail(c, 0);
	emu_prompt_measure(c->req, 0, &c->prompt);
	long input = emu_tokens(c->prompt.chars, 1);
	if (!emu_quota_admit(&c->model->quota, c->faults, bh_now_ms(), input, &c->st))
		return fail(c, 0);
	return respond(c, fault);
}

enum MHD_Result emu_converse(emu_server *s, emu_req *q, const char *raw_path, const char *label,
                             const char *op)
{
	converse c = {.s = s, .q = q, .raw_path = raw_path};
	emu_request_id(s, c.request_id);
	if (decode_label(label, c.model_id, sizeof(c.model_id)))
		bh_strlcpy(c.model_id, label, sizeof(c.model_id));
	c.headers = emu_req_headers(q->conn, &c.num_headers);
	c.entry = record_entry(&c, op);
	enum MHD_Result res;
	if (strcmp(op, "converse") != 0 && strcmp(op, "converse-stream") != 0) {
		emu_status_set(&c.st, 404, "UnknownOperationException", "Unknown operation %s", op);
		res = fail(&c, 0);
	} else if (authenticate(&c)) {
		res = fail(&c, 0);
	} else if (!(c.model = emu_config_find_model(s->cfg, c.model_id))) {
		emu_status_set(&c.st, 400, "ValidationException", "%s", invalid_model);
		res = fail(&c, 0);
	} else if (parse_and_validate(&c, op)) {
		res = fail(&c, 0);
	} else {
		res = run_model(&c);
	}
	json_decref(c.entry);
	json_decref(c.req);
	bh_free(c.headers);
	return res;
}
