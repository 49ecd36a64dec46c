/*
 * emu.h - internals of bhive-emulator shared by its source files: the
 * request validator, the model table, scripted models, faults and quotas,
 * SigV4 verification, the request record and the HTTP server.
 *
 * Everything runs on the server's one event thread, so nothing here locks.
 */
#ifndef EMU_EMU_H
#define EMU_EMU_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* ---- errors sent to the client ----------------------------------------- */
/* One restJson1 error: status, x-amzn-ErrorType and {"message"}. */
typedef struct emu_status {
	int http_status; /* 0 = no error */
	char type[64];
	char message[512];
} emu_status;
void emu_status_set(emu_status *st, int http_status, const char *type, const char *fmt, ...)
    BH_PRINTF(4, 5);

/* ---- request validation (validate.c) ---------------------------------- */
/* Parses a Converse body; on failure fills st with SerializationException. */
json_t *emu_parse_body(const char *body, size_t len, emu_status *st);
/* Checks a parsed Converse request against the service model's rules;
 * 0 when valid, else -1 with a ValidationException in st. */
int emu_validate_converse(const json_t *req, emu_status *st);

/* What the model "sees": characters of every text (system, messages, tools),
 * and for each cachePoint the characters and hash of everything before it. */
#define EMU_MAX_CACHE_POINTS 4
typedef struct emu_prompt_size {
	size_t chars;
	size_t num_cache_points;
	size_t cache_chars[EMU_MAX_CACHE_POINTS];
	uint64_t cache_hash[EMU_MAX_CACHE_POINTS];
} emu_prompt_size;
void emu_prompt_measure(const json_t *req, uint64_t seed, emu_prompt_size *out);
/* Tokens for a number of characters: ceil(chars / 4), at least min. */
long emu_tokens(size_t chars, long min);
/* Text of the last user message's text blocks, joined (bh_malloc'd). */
char *emu_last_user_text(const json_t *req);

/* ---- faults, latency and quotas (faults.c) ---------------------------- */
enum emu_dist {
	EMU_DIST_NONE = 0,
	EMU_DIST_FIXED,
	EMU_DIST_UNIFORM,
	EMU_DIST_NORMAL,
	EMU_DIST_LOGNORMAL
};
typedef struct emu_latency {
	int dist;    /* enum emu_dist */
	double a, b; /* fixed a; uniform [a,b]; normal mean a sd b; lognormal median a sigma b */
} emu_latency;

typedef struct emu_faults {
	double throttle, not_ready, error500, error503, timeout, reset, cutoff, malformed, slow;
	long drip_bytes;       /* slow bodies: bytes per step */
	long drip_interval_ms; /* slow bodies: pause between steps */
	emu_latency latency;   /* forced latency (replaces the model's) */
	long rpm, tpm;         /* quotas per model and minute; 0 = none */
} emu_faults;

/* The outcome chosen for one request before the model runs. */
enum emu_fault_kind {
	EMU_FAULT_NONE = 0,
	EMU_FAULT_THROTTLE,
	EMU_FAULT_NOT_READY,
	EMU_FAULT_500,
	EMU_FAULT_503,
	EMU_FAULT_TIMEOUT,
	EMU_FAULT_RESET,
	EMU_FAULT_CUTOFF,
	EMU_FAULT_MALFORMED,
	EMU_FAULT_SLOW
};

void emu_faults_default(emu_faults *f);
/* Reads a faults object ({"throttle": 0.1, "latency": {...}, ...}). */
int emu_faults_from_json(const json_t *j, emu_faults *f, bhive_error *err);
json_t *emu_faults_to_json(const emu_faults *f);
/* Parses "100", "fixed:100", "uniform:50:150", "normal:100:20", "lognormal:100:0.5". */
int emu_latency_parse(const char *spec, emu_latency *out, bhive_error *err);
double emu_latency_draw(const emu_latency *l, bh_rng *rng);
/* Draws one fault kind (or EMU_FAULT_NONE) from the rates in f. */
int emu_fault_draw(const emu_faults *f, bh_rng *rng);
void emu_fault_status(int kind, emu_status *st);

/* A fixed one-minute window of requests and tokens. */
typedef struct emu_quota {
	int64_t window_start_ms;
	long requests;
	long tokens;
} emu_quota;
/* Admits a request of input_tokens or fills st with a 429; counts it. */
bool emu_quota_admit(emu_quota *q, const emu_faults *f, int64_t now_ms, long input_tokens,
                     emu_status *st);
void emu_quota_add_tokens(emu_quota *q, long tokens);

/* ---- scripted models (script.c) --------------------------------------- */
typedef struct emu_script emu_script;
typedef struct emu_script_reply {
	const char *text; /* borrowed from the script */
	const char *reasoning;
	const char *stop_reason; /* NULL = computed */
	long delay_ms;           /* -1 = the model's own latency */
	emu_status error;        /* http_status != 0 = answer with this error */
} emu_script_reply;
/* From a JSON value: an object with "replies"/"rules", or a string naming a
 * file holding one (relative to base_dir). */
emu_script *emu_script_new(const json_t *spec, const char *base_dir, bhive_error *err);
void emu_script_free(emu_script *s);
/* Picks the reply for last_user_text; false when the script is exhausted. */
bool emu_script_next(emu_script *s, const char *last_user_text, emu_script_reply *out);

/* ---- models (models.c) ------------------------------------------------ */
enum emu_model_kind { EMU_MODEL_REASONER = 0, EMU_MODEL_SCRIPTED };
typedef struct emu_model {
	char *id;
	int kind;
	double skill;
	double reflection; /* 0 = derived from skill (see reasoner.h) */
	double base_latency_ms;
	double ms_per_token;
	bool native_json_schema;
	emu_script *script; /* scripted models */
	emu_faults faults;  /* used when has_faults */
	bool has_faults;
	emu_quota quota;
} emu_model;

typedef struct emu_key {
	char *access_key_id;
	char *secret_access_key;
	char *session_token; /* NULL = none required */
} emu_key;

typedef struct emu_config {
	emu_model *models;
	size_t num_models;
	emu_key *keys;
	size_t num_keys;
	char **api_keys;
	size_t num_api_keys;
	emu_faults faults; /* global */
	bool has_faults;
	bool no_default_models; /* "default_models": false in the file */
} emu_config;

emu_config *emu_config_new(void);
void emu_config_free(emu_config *c);
/* Loads a JSON configuration file (format in docs/EMULATOR.md). The
 * built-in models are added separately (emu_config_add_defaults). */
int emu_config_load(emu_config *c, const char *path, bhive_error *err);
int emu_config_load_json(emu_config *c, const json_t *root, const char *base_dir, bhive_error *err);
/* Adds the built-in default models that the configuration does not name. */
int emu_config_add_defaults(emu_config *c, bhive_error *err);
int emu_config_add_key(emu_config *c, const char *spec, bhive_error *err);
int emu_config_add_api_key(emu_config *c, const char *token, bhive_error *err);
/* Finds a model by id, inference-profile id (us./eu./apac./global.) or ARN. */
emu_model *emu_config_find_model(emu_config *c, const char *model_id);
/* Strips an ARN and a geography prefix: the id the table is keyed by. */
void emu_model_base_id(const char *model_id, char *out, size_t outsz);

/* ---- authentication (auth.c) ------------------------------------------ */
typedef struct emu_http_header {
	const char *name;
	const char *value;
} emu_http_header;
typedef struct emu_auth_request {
	const char *method;
	const char *raw_path; /* as on the wire */
	const char *query;    /* may be NULL */
	const emu_http_header *headers;
	size_t num_headers;
	const void *body;
	size_t body_len;
	int64_t now; /* wall clock seconds */
} emu_auth_request;
/* 0 when the request may proceed, else -1 with a 403 in st. */
int emu_auth_check(const emu_config *c, const emu_auth_request *r, emu_status *st);

/* ---- the record of requests and counters (record.c) ------------------- */
typedef struct emu_record emu_record;
emu_record *emu_record_new(size_t max_entries);
void emu_record_free(emu_record *r);
/* Takes ownership of entry (a JSON object) and of body (bh_malloc'd bytes,
 * NULL when empty), which the listing shows as "body". */
void emu_record_add(emu_record *r, json_t *entry, char *body, size_t body_len);
void emu_record_count(emu_record *r, const char *model, const char *outcome);
json_t *emu_record_list(const emu_record *r);  /* new reference */
json_t *emu_record_stats(const emu_record *r); /* new reference */
void emu_record_clear(emu_record *r);
size_t emu_record_size(const emu_record *r);

/* ---- the server (server.c) -------------------------------------------- */
typedef struct emu_options {
	const char *bind; /* default 127.0.0.1 */
	int port;         /* 0 = pick one */
	uint64_t seed;
	double time_scale;          /* default 1 */
	emu_latency forced_latency; /* --latency-ms */
	size_t record_max;          /* default 100000 */
	unsigned connection_limit;  /* default 4096 */
} emu_options;

typedef struct emu_server emu_server;
/* Takes ownership of config. Binds and listens; the port is then known. */
emu_server *emu_server_new(const emu_options *o, emu_config *config, bhive_error *err);
void emu_server_free(emu_server *s);
int emu_server_port(const emu_server *s);
/* Runs the event loop until *stop becomes non-zero or a SIGINT/SIGTERM
 * arrives (when handle_signals). */
int emu_server_run(emu_server *s, volatile int *stop, bool handle_signals);

#endif
