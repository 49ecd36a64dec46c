/*
 * main.c - bhive-emulator: a local Bedrock Runtime endpoint with simulated
 * models. Parses flags, loads the configuration, listens, prints
 * "listening http://HOST:PORT" as the first line on stdout and serves until
 * SIGINT or SIGTERM. See docs/EMULATOR.md.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "emu.h"

#define DEFAULT_PORT 8787

static void usage(FILE *f)
{
	fputs("usage: bhive-emulator [options]\n"
	      "A local Amazon Bedrock Runtime endpoint whose models are SIMULATED.\n\n"
	      "  --port N               port (default 8787; 0 picks a free one)\n"
	      "  --bind ADDR            IPv4 address to listen on (default 127.0.0.1)\n"
	      "  --config FILE          models, keys and faults (JSON, docs/EMULATOR.md)\n"
	      "  --no-default-models    serve only the models the configuration names\n"
	      "  --key ID:SECRET[:TOKEN] accept this SigV4 key (repeatable)\n"
	      "  --api-key TOKEN        accept this Bedrock API key as a bearer token\n"
	      "  --seed N               seed for answers, faults and latencies (default 1)\n"
	      "  --time-scale X         multiply simulated model latency (default 1)\n"
	      "  --latency-ms SPEC      force latency: MS, uniform:MIN:MAX, normal:MEAN:SD,\n"
	      "                         lognormal:MEDIAN:SIGMA\n"
	      "  --throttle-rate P      fraction answered 429 ThrottlingException\n"
	      "  --not-ready-rate P     fraction answered 429 ModelNotReadyException\n"
	      "  --error-500-rate P     fraction answered 500 InternalServerException\n"
	      "  --error-503-rate P     fraction answered 503 ServiceUnavailableException\n"
	      "  --timeout-rate P       fraction answered 408 ModelTimeoutException\n"
	      "  --reset-rate P         fraction whose connection is reset\n"
	      "  --cutoff-rate P        fraction whose body is cut off\n"
	      "  --malformed-rate P     fraction whose body is malformed JSON\n"
	      "  --slow-body-rate P     fraction whose body drips out slowly\n"
	      "  --drip-bytes N         slow bodies: bytes per step (default 16)\n"
	      "  --drip-interval-ms N   slow bodies: pause per step (default 50)\n"
	      "  --rpm N / --tpm N      per-model requests / tokens per minute quota\n"
	      "  --record-max N         requests kept for /_emulator/requests (default 100000)\n"
	      "  --connection-limit N   concurrent connections (default 4096)\n"
	      "  --log-level LEVEL      error, warn, info, debug, trace\n"
	      "  --fixed-time EPOCH     tests only: the wall clock stands still at EPOCH\n",
	      f);
}

enum {
	OPT_PORT = 256,
	OPT_BIND,
	OPT_CONFIG,
	OPT_NO_DEFAULTS,
	OPT_KEY,
	OPT_API_KEY,
	OPT_SEED,
	OPT_TIME_SCALE,
	OPT_LATENCY,
	OPT_RATE,
	OPT_DRIP_BYTES = OPT_RATE + 16,
	OPT_DRIP_MS,
	OPT_RPM,
	OPT_TPM,
	OPT_RECORD_MAX,
	OPT_CONN_LIMIT,
	OPT_LOG_LEVEL,
	OPT_HELP,
	OPT_FIXED_TIME
};

/* The rate flags, in the order of their option codes. */
static const char *const rate_names[] = {"throttle",  "not_ready", "error_500",
                                         "error_503", "timeout",   "reset",
                                         "cutoff",    "malformed", "slow_body"};

static const struct option long_opts[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"bind", required_argument, NULL, OPT_BIND},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"no-default-models", no_argument, NULL, OPT_NO_DEFAULTS},
    {"key", required_argument, NULL, OPT_KEY},
    {"api-key", required_argument, NULL, OPT_API_KEY},
    {"seed", required_argument, NULL, OPT_SEED},
    {"time-scale", required_argument, NULL, OPT_TIME_SCALE},
    {"latency-ms", required_argument, NULL, OPT_LATENCY},
    {"throttle-rate", required_argument, NULL, OPT_RATE + 0},
    {"not-ready-rate", required_argument, NULL, OPT_RATE + 1},
    {"error-500-rate", required_argument, NULL, OPT_RATE + 2},
    {"error-503-rate", required_argument, NULL, OPT_RATE + 3},
    {"timeout-rate", required_argument, NULL, OPT_RATE + 4},
    {"reset-rate", required_argument, NULL, OPT_RATE + 5},
    {"cutoff-rate", required_argument, NULL, OPT_RATE + 6},
    {"malformed-rate", required_argument, NULL, OPT_RATE + 7},
    {"slow-body-rate", required_argument, NULL, OPT_RATE + 8},
    {"drip-bytes", required_argument, NULL, OPT_DRIP_BYTES},
    {"drip-interval-ms", required_argument, NULL, OPT_DRIP_MS},
    {"rpm", required_argument, NULL, OPT_RPM},
    {"tpm", required_argument, NULL, OPT_TPM},
    {"record-max", required_argument, NULL, OPT_RECORD_MAX},
    {"connection-limit", required_argument, NULL, OPT_CONN_LIMIT},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, OPT_HELP},
    {"fixed-time", required_argument, NULL, OPT_FIXED_TIME},
    {NULL, 0, NULL, 0},
};

typedef struct cli {
	emu_options opt;
	const char *config_path;
	bool no_defaults;
	json_t *faults; /* fault flags, applied over the configuration's */
	const char **keys, **api_keys;
	size_t num_keys, num_api_keys;
} cli;

static const char *flag_name(int code)
{
	for (size_t i = 0; long_opts[i].name; i++)
		if (long_opts[i].val == code)
			return long_opts[i].name;
	return "?";
}

static int bad_value(const char *flag, const char *value)
{
	fprintf(stderr, "bhive-emulator: invalid value \"%s\" for --%s\n", value, flag);
	return 2;
}

static int number_flag(cli *c, int code, const char *arg)
{
	long v;
	if (bh_parse_long(arg, &v) || v < 0)
		return bad_value(flag_name(code), arg);
	switch (code) {
	case OPT_PORT:
		if (v > 65535)
			return bad_value("port", arg);
		c->opt.port = (int)v;
		return 0;
	case OPT_SEED:
		c->opt.seed = (uint64_t)v;
		return 0;
	case OPT_RECORD_MAX:
		c->opt.record_max = (size_t)(v ? v : 1);
		return 0;
	case OPT_CONN_LIMIT:
		c->opt.connection_limit = (unsigned)v;
		return 0;
	case OPT_FIXED_TIME:
		/* tests: replay requests signed at a known time (SigV4 vectors) */
		bh_set_wall_time((int64_t)v);
		return 0;
	case OPT_DRIP_BYTES:
		json_object_set_new(c->faults, "drip_bytes", json_integer(v));
		return 0;
	case OPT_DRIP_MS:
		json_object_set_new(c->faults, "drip_interval_ms", json_integer(v));
		return 0;
	default:
		json_object_set_new(c->faults, code == OPT_RPM ? "rpm" : "tpm", json_integer(v));
		return 0;
	}
}

static int push_arg(const char ***arr, size_t *n, const char *v)
{
	const char **a = bh_realloc(*arr, (*n + 1) * sizeof(*a));
	if (!a)
		return 1;
	a[(*n)++] = v;
	*arr = a;
	return 0;
}

static int one_flag(cli *c, int code, const char *arg)
{
	double d;
	bhive_error err = {0};
	if (code >= OPT_RATE && code < OPT_RATE + (int)BH_ARRAY_LEN(rate_names)) {
		if (bh_parse_double(arg, &d) || d < 0 || d > 1)
			return bad_value(flag_name(code), arg);
		json_object_set_new(c->faults, rate_names[code - OPT_RATE], json_real(d));
		return 0;
	}
	switch (code) {
	case OPT_BIND:
		c->opt.bind = arg;
		return 0;
	case OPT_CONFIG:
		c->config_path = arg;
		return 0;
	case OPT_NO_DEFAULTS:
		c->no_defaults = true;
		return 0;
	case OPT_KEY:
		return push_arg(&c->keys, &c->num_keys, arg);
	case OPT_API_KEY:
		return push_arg(&c->api_keys, &c->num_api_keys, arg);
	case OPT_TIME_SCALE:
		if (bh_parse_double(arg, &d) || d < 0)
			return bad_value("time-scale", arg);
		c->opt.time_scale = d;
		return 0;
	case OPT_LATENCY:
		if (emu_latency_parse(arg, &c->opt.forced_latency, &err) == 0)
			return 0;
		fprintf(stderr, "bhive-emulator: %s\n", err.message);
		return 2;
	case OPT_LOG_LEVEL:
		if (bh_log_parse_level(arg) < 0)
			return bad_value("log-level", arg);
		bh_log_set_level(bh_log_parse_level(arg));
		return 0;
	default:
		return number_flag(c, code, arg);
	}
}

static int parse_args(cli *c, int argc, char **argv)
{
	int code;
	while ((code = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (code == OPT_HELP || code == 'h') {
			usage(stdout);
			exit(0);
		}
		if (code == '?') {
			usage(stderr);
			return 2;
		}
		int rc = one_flag(c, code, optarg);
		if (rc)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "bhive-emulator: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	return 0;
}

/* Configuration file first, then the flags, then the built-in models. */
static emu_config *build_config(const cli *c, bhive_error *err)
{
	emu_config *cfg = emu_config_new();
	if (!cfg) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	int rc = c->config_path ? emu_config_load(cfg, c->config_path, err) : 0;
	for (size_t i = 0; rc == 0 && i < c->num_keys; i++)
		rc = emu_config_add_key(cfg, c->keys[i], err);
	for (size_t i = 0; rc == 0 && i < c->num_api_keys; i++)
		rc = emu_config_add_api_key(cfg, c->api_keys[i], err);
	if (rc == 0 && json_object_size(c->faults)) {
		rc = emu_faults_from_json(c->faults, &cfg->faults, err);
		cfg->has_faults = true;
	}
	if (rc == 0 && !c->no_defaults && !cfg->no_default_models)
		rc = emu_config_add_defaults(cfg, err);
	if (rc) {
		emu_config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Thousands of keep-alive connections need as many descriptors. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Written before the server takes the configuration, printed after the
 * listening line: people read stderr, scripts read stdout. */
static void banner(const emu_config *cfg, const cli *c, char *out, size_t outsz)
{
	snprintf(out, outsz,
	         "bhive-emulator: the models served here are SIMULATED, not Amazon Bedrock.\n"
	         "bhive-emulator: %zu models, %s auth, seed %llu, time scale %g\n",
	         cfg->num_models,
	         cfg->num_keys || cfg->num_api_keys ? "key-checked" : "permissive (no keys)",
	         (unsigned long long)c->opt.seed, c->opt.time_scale);
}

int main(int argc, char **argv)
{
	cli c = {.opt = {.bind = "127.0.0.1",
	                 .port = DEFAULT_PORT,
	                 .seed = 1,
	                 .time_scale = 1.0,
	                 .record_max = 100000,
	                 .connection_limit = 4096}};
	c.faults = json_object();
	int rc = parse_args(&c, argc, argv);
	bhive_error err = {0};
	emu_config *cfg = rc ? NULL : build_config(&c, &err);
	if (!rc && !cfg) {
		fprintf(stderr, "bhive-emulator: %s\n", err.message);
		rc = 1;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	char text[512] = "";
	if (cfg)
		banner(cfg, &c, text, sizeof(text));
	emu_server *s = cfg ? emu_server_new(&c.opt, cfg, &err) : NULL;
	if (cfg && !s) {
		fprintf(stderr, "bhive-emulator: %s\n", err.message);
		rc = 1;
	}
	if (s) {
		printf("listening http://%s:%d\n", c.opt.bind, emu_server_port(s));
		fflush(stdout);
		fputs(text, stderr);
		rc = emu_server_run(s, NULL, true);
		emu_server_free(s);
	}
	json_decref(c.faults);
	bh_free(c.keys);
	bh_free(c.api_keys);
	return rc;
}
