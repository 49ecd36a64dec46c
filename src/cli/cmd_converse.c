/*
 * cmd_converse.c - `bhive converse`: one conversation through the hive
 * engine, from the command line.
 *
 * The request is built from --cli-input-json (the AWS CLI's Converse
 * shape) and the prompt (argument, --file or stdin); the hive config from
 * --config and the flags. Text output is the final answer alone on stdout
 * (each slot's answer labelled when nothing combines them); JSON output is
 * the whole result. Progress goes to stderr: a live line per answer on a
 * terminal, log lines otherwise.
 */
#include "cli.h"
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct converse_args {
	const char *prompt, *file, *cli_input, *config_file, *aggregator;
	const char **models;
	size_t nmodels;
	const char *verifier_cmd, *verifier, *schema_file, *augment, *output, *system;
	const char *endpoint, *region, *profile, *retry_mode, *prices_file;
	long reflections, early_stop, max_attempts, max_tokens, augment_seed;
	double verifier_timeout, max_seconds, connect_timeout, read_timeout, temperature;
	int verifier_fatal, caching, vote, best_of_n, continue_on_failure, strict_prices;
	int live;    /* -1 auto, 0 off, 1 on */
	int verbose; /* log level info or more: progress lines off a terminal */
} converse_args;

/* Everything a run holds, released in one place. */
typedef struct converse_run {
	converse_args a;
	json_t *request;
	bhive_config *cfg;
	bhive_client *client;
	bhive_prices *prices;
	cli_verifier verifier;
	bhive_sql_verifier *sql;
	bhive_result *result;
} converse_run;

static const char usage_text[] =
    "usage: bhive converse [options] [PROMPT | -]\n"
    "\n"
    "Asks one or more Bedrock models through the hive engine: rounds of self-reflection\n"
    "or debate, verifier feedback, an aggregator, with usage, latency and cost counted.\n"
    "\n"
    "Input:\n"
    "  PROMPT                    the user message; \"-\" reads it from stdin\n"
    "  --file F                  read the prompt from file F\n"
    "  --cli-input-json J        a Converse request in the AWS CLI's shape, inline JSON or\n"
    "                            a file (file://req.json): modelId, messages, system,\n"
    "                            inferenceConfig, toolConfig, ... (passed through)\n"
    "  --system TEXT             a system prompt\n"
    "  --max-tokens N            inferenceConfig.maxTokens\n"
    "  --temperature T           inferenceConfig.temperature\n"
    "\n"
    "Hive:\n"
    "  --model ID                a model slot; repeat for a debate, repeat an id for samples\n"
    "  --reflections N           rounds after the first answer (default 0)\n"
    "  --aggregator ID           a model that writes the final answer from the last round\n"
    "  --vote                    majority vote over the slots instead of an aggregator\n"
    "  --best-of-n               the answer the verifier scores highest is final\n"
    "  --early-stop K            stop once answers are unchanged for K rounds or verified\n"
    "  --max-reasoning-seconds S no new round starts after S seconds (round 0 always runs)\n"
    "  --prompt-caching          cachePoint blocks on the system prompt and user turns\n"
    "  --schema FILE             structured output: a JSON Schema the answer must match\n"
    "  --augment lexical|semantic  vary the prompt for every slot after the first\n"
    "  --augment-seed N          seed for lexical augmentation (default 0)\n"
    "  --continue-on-failure     a slot that fails leaves the debate instead of failing it\n"
    "  --config FILE             a hive config as JSON (flags given here override it)\n"
    "\n"
    "Verifier:\n"
    "  --verifier arithmetic     check the arithmetic in the question against the answer\n"
    "  --verifier sql:DBFILE     run the answer's SQL read-only against a SQLite file\n"
    "  --verifier-cmd CMD        run CMD (no shell; quotes split words): the answer on its\n"
    "                            stdin, the question in $BHIVE_QUESTION, its stdout is the\n"
    "                            feedback (a first line \"score: X\" gives a 0..1 score)\n"
    "  --verifier-timeout S      time limit for each verifier run, above 0 (default 30)\n"
    "  --verifier-fatal          a failing verifier fails the run (default: reported,\n"
    "                            and the model is told the verifier failed)\n"
    "\n"
    "Output:\n"
    "  --output text|json|aws    text: the final answer alone (default); json: the whole\n"
    "                            result; aws: the last Converse response as the AWS CLI\n"
    "                            prints it\n"
    "  --live / --no-live        the live view of each round on stderr (default: on a\n"
    "                            terminal)\n"
    "  --log-level L             off, error, warn, info, debug, trace (or BHIVE_LOG_LEVEL)\n"
    "\n"
    "AWS:\n"
    "  --endpoint-url URL        e.g. a local bhive-emulator\n"
    "  --region R, --profile P   as the AWS CLI takes them\n"
    "  --retry-mode M            legacy, standard or adaptive\n"
    "  --max-attempts N          attempts per call, retries included\n"
    "  --connect-timeout S       seconds, above 0 (default 60)\n"
    "  --read-timeout S          seconds, above 0 (default 300)\n"
    "  --prices FILE             a price table merged over the built-in one\n"
    "  --strict-prices           a model without a price is an error\n"
    "\n"
    "Examples:\n"
    "  bhive converse --model anthropic.claude-3-haiku-20240307-v1:0 \"What is 2 + 2?\"\n"
    "  bhive converse --model A --model B --reflections 2 --aggregator A --output json \\\n"
    "      --file question.txt\n"
    "  echo \"What is 17*23?\" | bhive converse --model A --reflections 3 \\\n"
    "      --verifier arithmetic -\n"
    "  bhive converse --model A --reflections 1 --verifier-cmd \"python3 check.py --strict\" \\\n"
    "      \"Write a SQL query for ...\"\n"
    "  bhive converse --cli-input-json file://request.json --endpoint-url "
    "http://127.0.0.1:8080\n"
    "\n"
    "Every option that takes seconds takes at most 86400; no option takes an empty value.\n"
    "\n"
    "Exit status: 0 success; 1 the service, network, verifier or structured output failed,\n"
    "or the AWS setup (profile, credentials, environment) is wrong; 2 bad arguments,\n"
    "unreadable or invalid input files (prompt, --cli-input-json, --config, --schema,\n"
    "--prices), found before any call is made.\n";

enum {
	OPT_FILE = 256,
	OPT_CLI_INPUT,
	OPT_SYSTEM,
	OPT_MAX_TOKENS,
	OPT_TEMPERATURE,
	OPT_MODEL,
	OPT_REFLECTIONS,
	OPT_AGGREGATOR,
	OPT_VOTE,
	OPT_BEST_OF_N,
	OPT_EARLY_STOP,
	OPT_MAX_SECONDS,
	OPT_CACHING,
	OPT_SCHEMA,
	OPT_AUGMENT,
	OPT_AUGMENT_SEED,
	OPT_CONTINUE,
	OPT_CONFIG,
	OPT_VERIFIER,
	OPT_VERIFIER_CMD,
	OPT_VERIFIER_TIMEOUT,
	OPT_VERIFIER_FATAL,
	OPT_OUTPUT,
	OPT_LIVE,
	OPT_NO_LIVE,
	OPT_LOG_LEVEL,
	OPT_ENDPOINT,
	OPT_REGION,
	OPT_PROFILE,
	OPT_RETRY_MODE,
	OPT_MAX_ATTEMPTS,
	OPT_CONNECT_TIMEOUT,
	OPT_READ_TIMEOUT,
	OPT_PRICES,
	OPT_STRICT_PRICES,
	OPT_HELP
};

static const struct option long_options[] = {
    {"file", required_argument, NULL, OPT_FILE},
    {"cli-input-json", required_argument, NULL, OPT_CLI_INPUT},
    {"system", required_argument, NULL, OPT_SYSTEM},
    {"max-tokens", required_argument, NULL, OPT_MAX_TOKENS},
    {"temperature", required_argument, NULL, OPT_TEMPERATURE},
    {"model", required_argument, NULL, OPT_MODEL},
    {"model-id", required_argument, NULL, OPT_MODEL},
    {"reflections", required_argument, NULL, OPT_REFLECTIONS},
    {"aggregator", required_argument, NULL, OPT_AGGREGATOR},
    {"vote", no_argument, NULL, OPT_VOTE},
    {"best-of-n", no_argument, NULL, OPT_BEST_OF_N},
    {"early-stop", required_argument, NULL, OPT_EARLY_STOP},
    {"max-reasoning-seconds", required_argument, NULL, OPT_MAX_SECONDS},
    {"prompt-caching", no_argument, NULL, OPT_CACHING},
    {"schema", required_argument, NULL, OPT_SCHEMA},
    {"augment", required_argument, NULL, OPT_AUGMENT},
    {"augment-seed", required_argument, NULL, OPT_AUGMENT_SEED},
    {"continue-on-failure", no_argument, NULL, OPT_CONTINUE},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"verifier", required_argument, NULL, OPT_VERIFIER},
    {"verifier-cmd", required_argument, NULL, OPT_VERIFIER_CMD},
    {"verifier-timeout", required_argument, NULL, OPT_VERIFIER_TIMEOUT},
    {"verifier-fatal", no_argument, NULL, OPT_VERIFIER_FATAL},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"live", no_argument, NULL, OPT_LIVE},
    {"no-live", no_argument, NULL, OPT_NO_LIVE},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"endpoint-url", required_argument, NULL, OPT_ENDPOINT},
    {"region", required_argument, NULL, OPT_REGION},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"retry-mode", required_argument, NULL, OPT_RETRY_MODE},
    {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"read-timeout", required_argument, NULL, OPT_READ_TIMEOUT},
    {"prices", required_argument, NULL, OPT_PRICES},
    {"strict-prices", no_argument, NULL, OPT_STRICT_PRICES},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0}};

/* ---- arguments --------------------------------------------------------- */

static int bad_number(const char *opt, const char *value)
{
	cli_error("%s needs a number, got \"%s\"", opt, value);
	return -1;
}

/* A whole number within [lo, hi]. */
static int arg_long(const char *opt, const char *v, long lo, long hi, long *out)
{
	if (cli_parse_long(v, out) || *out < lo || *out > hi) {
		cli_error("%s needs a whole number from %ld to %ld, got \"%s\"", opt, lo, hi, v);
		return -1;
	}
	return 0;
}

/* Seconds up to a day: the bound keeps every conversion to milliseconds
 * defined. A zero is refused where it would silently mean "the default". */
static int arg_seconds(const char *opt, const char *v, int zero_ok, double *out)
{
	if (cli_parse_double(v, out) || *out < 0 || (!zero_ok && *out == 0) ||
	    *out > CLI_MAX_SECONDS) {
		cli_error("%s needs a number of seconds %s %d, got \"%s\"", opt,
		          zero_ok ? "from 0 to" : "above 0 and at most", CLI_MAX_SECONDS, v);
		return -1;
	}
	return 0;
}

static int add_model(converse_args *a, const char *id)
{
	const char **m = realloc(a->models, (a->nmodels + 1) * sizeof(*m));
	if (!m)
		return -1;
	a->models = m;
	m[a->nmodels++] = id;
	return 0;
}

/* Options that take numbers. Returns 1 when opt is not one of them. */
static int parse_numeric(converse_args *a, int opt, const char *v)
{
	switch (opt) {
	case OPT_MAX_TOKENS:
		return arg_long("--max-tokens", v, 1, 10000000, &a->max_tokens);
	case OPT_TEMPERATURE:
		return cli_parse_double(v, &a->temperature) || a->temperature < 0
		           ? bad_number("--temperature", v)
		           : 0;
	case OPT_REFLECTIONS:
		return arg_long("--reflections", v, 0, 1000, &a->reflections);
	case OPT_EARLY_STOP:
		return arg_long("--early-stop", v, 0, 1000, &a->early_stop);
	case OPT_AUGMENT_SEED:
		return arg_long("--augment-seed", v, 0, 0x7fffffffL, &a->augment_seed);
	case OPT_MAX_ATTEMPTS:
		return arg_long("--max-attempts", v, 1, 100, &a->max_attempts);
	case OPT_MAX_SECONDS:
		return arg_seconds("--max-reasoning-seconds", v, 1, &a->max_seconds);
	case OPT_VERIFIER_TIMEOUT:
		return arg_seconds("--verifier-timeout", v, 0, &a->verifier_timeout);
	case OPT_CONNECT_TIMEOUT:
		return arg_seconds("--connect-timeout", v, 0, &a->connect_timeout);
	case OPT_READ_TIMEOUT:
		return arg_seconds("--read-timeout", v, 0, &a->read_timeout);
	default:
		return 1;
	}
}

/* Flags and options whose value is kept as given. */
static int parse_simple(converse_args *a, int opt, const char *v)
{
	switch (opt) {
	case OPT_FILE:
		a->file = v;
		break;
	case OPT_CLI_INPUT:
		a->cli_input = v;
		break;
	case OPT_SYSTEM:
		a->system = v;
		break;
	case OPT_MODEL:
		return add_model(a, v);
	case OPT_AGGREGATOR:
		a->aggregator = v;
		break;
	case OPT_VOTE:
		a->vote = 1;
		break;
	case OPT_BEST_OF_N:
		a->best_of_n = 1;
		break;
	case OPT_CACHING:
		a->caching = 1;
		break;
	case OPT_SCHEMA:
		a->schema_file = v;
		break;
	case OPT_AUGMENT:
		a->augment = v;
		break;
	case OPT_CONTINUE:
		a->continue_on_failure = 1;
		break;
	case OPT_CONFIG:
		a->config_file = v;
		break;
	case OPT_VERIFIER:
		a->verifier = v;
		break;
	case OPT_VERIFIER_CMD:
		a->verifier_cmd = v;
		break;
	case OPT_VERIFIER_FATAL:
		a->verifier_fatal = 1;
		break;
	case OPT_OUTPUT:
		a->output = v;
		break;
	case OPT_LIVE:
		a->live = 1;
		break;
	case OPT_NO_LIVE:
		a->live = 0;
		break;
	case OPT_ENDPOINT:
		a->endpoint = v;
		break;
	case OPT_REGION:
		a->region = v;
		break;
	case OPT_PROFILE:
		a->profile = v;
		break;
	case OPT_RETRY_MODE:
		a->retry_mode = v;
		break;
	case OPT_PRICES:
		a->prices_file = v;
		break;
	case OPT_STRICT_PRICES:
		a->strict_prices = 1;
		break;
	case OPT_LOG_LEVEL:
		if (cli_set_log_level(v)) {
			cli_error("unknown log level \"%s\" (off, error, warn, info, debug, trace)",
			          v);
			return -1;
		}
		break;
	default:
		return parse_numeric(a, opt, v);
	}
	return 0;
}

/* Checks values that must be one of a few words. */
static int check_choices(const converse_args *a)
{
	if (strcmp(a->output, "text") && strcmp(a->output, "json") && strcmp(a->output, "aws")) {
		cli_error("--output must be text, json or aws, got \"%s\"", a->output);
		return -1;
	}
	if (a->augment && strcmp(a->augment, "lexical") && strcmp(a->augment, "semantic") &&
	    strcmp(a->augment, "none")) {
		cli_error("--augment must be lexical, semantic or none, got \"%s\"", a->augment);
		return -1;
	}
	if (a->verifier && a->verifier_cmd) {
		cli_error("give --verifier or --verifier-cmd, not both");
		return -1;
	}
	if (a->prompt && a->file) {
		cli_error("give the prompt as an argument or with --file, not both");
		return -1;
	}
	return 0;
}

/* Parses argv into a; 0, 1 for --help, -1 on a bad argument. */
static int parse_args(converse_args *a, int argc, char **argv)
{
	int opt, idx = -1;
	a->output = "text";
	a->live = -1;
	a->reflections = -1;
	a->early_stop = -1;
	a->max_seconds = -1;
	a->temperature = -1;
	a->verifier_timeout = 30;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+h", long_options, &idx)) != -1) {
		if (opt == OPT_HELP || opt == 'h')
			return 1;
		if (opt == '?' || opt == ':') {
			cli_error("unknown option or missing value: \"%s\"", argv[optind - 1]);
			return -1;
		}
		if (cli_check_value(long_options, idx, optarg) || parse_simple(a, opt, optarg))
			return -1;
		idx = -1;
	}
	if (optind < argc)
		a->prompt = argv[optind++];
	if (optind < argc) {
		cli_error("one prompt only: quote it (extra argument \"%s\")", argv[optind]);
		return -1;
	}
	return check_choices(a);
}

/* ---- the request ------------------------------------------------------- */

/* The prompt text from the argument, --file or stdin; NULL when none given. */
static char *read_prompt(const converse_args *a, int *bad)
{
	const char *path = a->file ? a->file : (a->prompt && !strcmp(a->prompt, "-") ? "-" : NULL);
	if (!path)
		return a->prompt ? strdup(a->prompt) : NULL;
	size_t len = 0;
	char *t = cli_read_file(path, &len);
	if (!t) {
		cli_error("cannot read the prompt from \"%s\": %s", path, strerror(errno));
		*bad = 1;
		return NULL;
	}
	if (strlen(t) != len) {
		cli_error("the prompt from \"%s\" holds a NUL byte", path);
		*bad = 1;
		free(t);
		return NULL;
	}
	/* The newline that ends a file or an echo is not part of the question. */
	while (len && (t[len - 1] == '\n' || t[len - 1] == '\r'))
		t[--len] = '\0';
	return t;
}

/* Bedrock refuses a blank text block; saying so here costs no call. */
static int prompt_blank(const char *p)
{
	return strspn(p, " \t\r\n\f\v") == strlen(p);
}

/* Adds --system, --max-tokens and --temperature to the request. */
static void request_add_settings(json_t *req, const converse_args *a)
{
	if (a->system)
		json_object_set_new(req, "system", json_pack("[{s:s}]", "text", a->system));
	if (a->max_tokens > 0 || a->temperature >= 0) {
		json_t *ic = json_object_get(req, "inferenceConfig");
		if (!json_is_object(ic)) {
			ic = json_object();
			json_object_set_new(req, "inferenceConfig", ic);
		}
		if (a->max_tokens > 0)
			json_object_set_new(ic, "maxTokens", json_integer(a->max_tokens));
		if (a->temperature >= 0)
			json_object_set_new(ic, "temperature", json_real(a->temperature));
	}
}

/* The JSON type of v in words, for messages about the wrong one. */
static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* One Converse message: an object with a role and an array of content blocks. */
static int check_message(const json_t *m, size_t i)
{
	const char *role = json_string_value(json_object_get(m, "role"));
	if (!json_is_object(m)) {
		cli_error("--cli-input-json: messages[%zu] must be an object, got %s", i,
		          json_kind(m));
		return -1;
	}
	if (!role || (strcmp(role, "user") && strcmp(role, "assistant"))) {
		cli_error(
		    "--cli-input-json: messages[%zu] needs \"role\" \"user\" or \"assistant\"", i);
		return -1;
	}
	if (!json_is_array(json_object_get(m, "content"))) {
		cli_error("--cli-input-json: messages[%zu] needs \"content\", an array of content "
		          "blocks",
		          i);
		return -1;
	}
	return 0;
}

/* The members this command reads or adds to must have Converse's shapes,
 * so a typo is named here rather than turned into "no prompt" or sent. */
static int check_cli_input(const json_t *req)
{
	const json_t *msgs = json_object_get(req, "messages");
	const json_t *sys = json_object_get(req, "system");
	const json_t *ic = json_object_get(req, "inferenceConfig");
	size_t i;
	json_t *m;
	if (msgs && !json_is_array(msgs)) {
		cli_error(
		    "--cli-input-json: \"messages\" must be an array of Converse messages, got %s",
		    json_kind(msgs));
		return -1;
	}
	json_array_foreach(msgs, i, m)
	{
		if (check_message(m, i))
			return -1;
	}
	if (sys && !json_is_array(sys)) {
		cli_error("--cli-input-json: \"system\" must be an array of content blocks, got %s",
		          json_kind(sys));
		return -1;
	}
	if (ic && !json_is_object(ic)) {
		cli_error("--cli-input-json: \"inferenceConfig\" must be an object, got %s",
		          json_kind(ic));
		return -1;
	}
	return 0;
}

static json_t *build_request(const converse_args *a)
{
	int bad = 0;
	json_t *req =
	    a->cli_input ? cli_load_json_arg(a->cli_input, "--cli-input-json") : json_object();
	if (!req || !json_is_object(req) || check_cli_input(req)) {
		if (req && !json_is_object(req))
			cli_error("--cli-input-json must be a JSON object");
		json_decref(req);
		return NULL;
	}
	char *prompt = read_prompt(a, &bad);
	json_t *msgs = json_object_get(req, "messages");
	if (!bad && prompt && prompt_blank(prompt)) {
		cli_error("the prompt is empty");
		bad = 1;
	} else if (!bad && prompt && json_array_size(msgs)) {
		cli_error("the prompt is given twice: as text and as --cli-input-json messages");
		bad = 1;
	} else if (!bad && prompt) {
		json_object_set_new(
		    req, "messages",
		    json_pack("[{s:s,s:[{s:s}]}]", "role", "user", "content", "text", prompt));
	} else if (!bad && !json_array_size(msgs)) {
		cli_error("no prompt: give it as an argument, with --file, as \"-\" for stdin, or "
		          "as messages in --cli-input-json");
		bad = 1;
	}
	free(prompt);
	if (bad) {
		json_decref(req);
		return NULL;
	}
	request_add_settings(req, a);
	return req;
}

/* ---- the config -------------------------------------------------------- */

static void print_diag(void *ud, bhive_severity sev, const char *msg)
{
	(void)ud;
	if (sev == BHIVE_SEVERITY_WARNING)
		fprintf(stderr, "bhive: warning: %s\n", msg);
}

/* The verifier: built-in or external command. */
static int config_verifier(converse_run *run)
{
	const converse_args *a = &run->a;
	bhive_error err = {0};
	if (a->verifier_cmd) {
		run->verifier.argv = cli_split_argv(a->verifier_cmd);
		run->verifier.cmdline = (char *)a->verifier_cmd;
		run->verifier.timeout_s = a->verifier_timeout;
		if (!run->verifier.argv) {
			cli_error("--verifier-cmd \"%s\" is empty or has an unclosed quote",
			          a->verifier_cmd);
			return -1;
		}
		bhive_config_set_verifier(run->cfg, cli_verifier_run, &run->verifier);
	} else if (a->verifier && !strcmp(a->verifier, "arithmetic")) {
		bhive_config_set_verifier(run->cfg, bhive_verifier_arithmetic, NULL);
	} else if (a->verifier && !strncmp(a->verifier, "sql:", 4)) {
		if (!(run->sql = bhive_verifier_sql_new(a->verifier + 4, &err))) {
			cli_error("%s", err.message);
			return -1;
		}
		bhive_config_set_verifier(run->cfg, bhive_verifier_sql, run->sql);
	} else if (a->verifier) {
		cli_error("--verifier must be arithmetic or sql:DBFILE, got \"%s\"", a->verifier);
		return -1;
	}
	bhive_config_set_verifier_fatal(run->cfg, a->verifier_fatal);
	return 0;
}

static int config_schema(converse_run *run)
{
	json_t *schema = cli_load_json_arg(run->a.schema_file, "--schema");
	if (!schema)
		return -1;
	int rc = bhive_config_set_schema(run->cfg, schema);
	json_decref(schema);
	if (rc)
		cli_error("--schema \"%s\" must hold a JSON object", run->a.schema_file);
	return rc ? -1 : 0;
}

/* The models: --model flags, else the config file's, else the request's modelId. */
static int config_models(converse_run *run)
{
	const converse_args *a = &run->a;
	const char *model_id = json_string_value(json_object_get(run->request, "modelId"));
	if (a->nmodels)
		bhive_config_clear_models(run->cfg);
	for (size_t i = 0; i < a->nmodels; i++)
		bhive_config_add_model(run->cfg, a->models[i]);
	if (bhive_config_model_count(run->cfg) == 0 && model_id)
		bhive_config_add_model(run->cfg, model_id);
	if (bhive_config_model_count(run->cfg) == 0) {
		cli_error("no model: give --model ID (or modelId in --cli-input-json)");
		return -1;
	}
	return 0;
}

/* Flags over the --config file's values. */
static void config_flags(converse_run *run)
{
	const converse_args *a = &run->a;
	bhive_config *cfg = run->cfg;
	if (a->reflections >= 0)
		bhive_config_set_reflections(cfg, (int)a->reflections);
	if (a->aggregator)
		bhive_config_set_aggregator(cfg, a->aggregator);
	if (a->max_seconds >= 0)
		bhive_config_set_max_reasoning_seconds(cfg, a->max_seconds);
	if (a->early_stop >= 0)
		bhive_config_set_early_stop(cfg, (int)a->early_stop);
	if (a->caching)
		bhive_config_set_prompt_caching(cfg, 1);
	if (a->vote)
		bhive_config_set_vote(cfg, 1);
	if (a->best_of_n)
		bhive_config_set_best_of_n(cfg, 1);
	if (a->continue_on_failure)
		bhive_config_set_continue_on_failure(cfg, 1);
	if (a->augment)
		bhive_config_set_augment(cfg,
		                         !strcmp(a->augment, "lexical")    ? BHIVE_AUGMENT_LEXICAL
		                         : !strcmp(a->augment, "semantic") ? BHIVE_AUGMENT_SEMANTIC
		                                                           : BHIVE_AUGMENT_NONE,
		                         (uint64_t)(a->augment_seed > 0 ? a->augment_seed : 0));
}

static int build_config(converse_run *run)
{
	bhive_error err = {0};
	if (run->a.config_file) {
		json_t *j = cli_load_json_arg(run->a.config_file, "--config");
		run->cfg = j ? bhive_config_from_json(j, &err) : NULL;
		json_decref(j);
		if (!run->cfg && j)
			cli_error("--config \"%s\": %s", run->a.config_file, err.message);
	} else {
		run->cfg = bhive_config_new();
	}
	if (!run->cfg || config_models(run) || config_verifier(run) ||
	    (run->a.schema_file && config_schema(run)))
		return -1;
	config_flags(run);
	if (bhive_config_validate(run->cfg, print_diag, NULL, &err)) {
		cli_error("%s", err.message);
		return -1;
	}
	return 0;
}

/* ---- client and prices ------------------------------------------------- */

static int parse_retry_mode(const char *s, bhive_retry_mode *out)
{
	static const struct {
		const char *name;
		bhive_retry_mode mode;
	} modes[] = {
	    {"legacy", BHIVE_RETRY_LEGACY},
	    {"standard", BHIVE_RETRY_STANDARD},
	    {"adaptive", BHIVE_RETRY_ADAPTIVE},
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(s, modes[i].name)) {
			*out = modes[i].mode;
			return 0;
		}
	cli_error("--retry-mode must be legacy, standard or adaptive, got \"%s\"", s);
	return -1;
}

/* Client options from the flags; -1 on a bad value (a usage error). */
static int client_options(const converse_args *a, bhive_client_options *o)
{
	bhive_client_options_init(o);
	o->profile = a->profile;
	o->region = a->region;
	o->endpoint_url = a->endpoint;
	if (a->retry_mode && parse_retry_mode(a->retry_mode, &o->retry_mode))
		return -1;
	if (a->max_attempts > 0)
		o->max_attempts = (int)a->max_attempts;
	if (a->connect_timeout > 0)
		o->connect_timeout_ms = (long)(a->connect_timeout * 1000);
	if (a->read_timeout > 0)
		o->read_timeout_ms = (long)(a->read_timeout * 1000);
	return 0;
}

static int load_prices(converse_run *run)
{
	bhive_error err = {0};
	if (!run->a.prices_file && !run->a.strict_prices)
		return 0;
	if (!(run->prices = bhive_prices_new(&err)) ||
	    (run->a.prices_file && bhive_prices_load_file(run->prices, run->a.prices_file, &err))) {
		cli_error("%s", err.message);
		return -1;
	}
	bhive_prices_set_strict(run->prices, run->a.strict_prices);
	bhive_config_set_prices(run->cfg, run->prices);
	return 0;
}

/* ---- progress ---------------------------------------------------------- */

/* The first line of an answer, cut to fit a terminal line. */
static void short_answer(const char *answer, char *out, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; answer && answer[i] && j + 4 < n; i++)
		out[j++] = (answer[i] == '\n' || answer[i] == '\t') ? ' ' : answer[i];
	if (answer && strlen(answer) > j && j + 4 >= n) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j] = '\0';
}

static void show_progress(void *ud, const bhive_progress *p)
{
	const converse_args *a = ud;
	char who[32], text[64];
	if (p->slot == -1)
		snprintf(who, sizeof(who), "aggregator");
	else if (p->slot == -2)
		snprintf(who, sizeof(who), "rephrase");
	else
		snprintf(who, sizeof(who), "slot %d", p->slot);
	short_answer(p->answer, text, sizeof(text));
	if (a->live == 1)
		fprintf(stderr,
		        "\033[2m[%7.0f ms]\033[0m round %d  %-10s %-40.40s %5lld+%-5lld tok "
		        "%6.0f ms  %s%s\n",
		        p->wall_ms, p->round, who, p->model_id, p->input_tokens, p->output_tokens,
		        p->latency_ms, p->err ? "failed: " : "", p->err ? p->err->message : text);
	else
		fprintf(stderr,
		        "bhive: info: round %d %s model=%s in=%lld out=%lld latency_ms=%.0f "
		        "%s\"%s\"\n",
		        p->round, who, p->model_id, p->input_tokens, p->output_tokens,
		        p->latency_ms,
		        p->err ? "error=" : "answer=", p->err ? p->err->message : text);
}

/* ---- output ------------------------------------------------------------ */

static void print_text(const bhive_result *r)
{
	const char *answer = bhive_result_answer(r);
	size_t n = bhive_result_slot_count(r);
	if (answer) {
		printf("%s\n", answer);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = bhive_result_slot_answer(r, i);
		printf("%s[slot %zu: %s]\n%s\n", i ? "\n" : "", i, bhive_result_slot_model(r, i),
		       s ? s
		         : (bhive_result_slot_error(r, i) ? bhive_result_slot_error(r, i)->message
		                                          : "(no answer)"));
	}
}

static int print_result(const converse_run *run, const bhive_result *r)
{
	const char *mode = run->a.output;
	if (!strcmp(mode, "text")) {
		if (!bhive_result_code(r))
			print_text(r);
		return 0;
	}
	json_t *j = !strcmp(mode, "json") ? bhive_result_to_json(r)
	                                  : json_incref((json_t *)bhive_result_response(r));
	if (!j)
		return 0;
	int rc =
	    json_dumpf(j, stdout, JSON_INDENT(!strcmp(mode, "json") ? 2 : 4) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(j);
	return rc;
}

/*
 * One conversation on the engine: the blocking call's path, with the live
 * view attached. Returns the result, or NULL with err (and the failed
 * result in *failed).
 */
static bhive_result *run_hive(converse_run *run, bhive_result **failed, bhive_error *err)
{
	bhive_hive *h = bhive_hive_new(run->client, err);
	bhive_result *r = NULL;
	if (!h)
		return NULL;
	if (run->a.live == 1 || run->a.verbose)
		bhive_hive_set_progress(h, show_progress, &run->a);
	if (bhive_hive_add(h, run->cfg, run->request, NULL, err)) {
		if (bhive_hive_perform(h, -1) < 0 && !err->code) {
			err->code = BHIVE_ERR_NETWORK;
			snprintf(err->message, sizeof(err->message), "the client loop failed");
		}
		r = bhive_hive_next_done(h, NULL, NULL);
	}
	bhive_hive_free(h);
	if (r && bhive_result_code(r)) {
		if (!err->code)
			*err = *bhive_result_error(r);
		*failed = r;
		return NULL;
	}
	return r;
}

static void run_release(converse_run *run)
{
	bhive_result_free(run->result);
	bhive_client_free(run->client);
	bhive_config_free(run->cfg);
	bhive_prices_free(run->prices);
	bhive_verifier_sql_free(run->sql);
	cli_free_argv(run->verifier.argv);
	json_decref(run->request);
	free(run->a.models);
}

/* Everything after the arguments parsed: returns the exit code. */
static int converse_main(converse_run *run)
{
	bhive_client_options o;
	bhive_error err = {0};
	bhive_result *failed = NULL;
	if (!(run->request = build_request(&run->a)) || build_config(run) ||
	    client_options(&run->a, &o) || load_prices(run))
		return CLI_EXIT_USAGE;
	if (!(run->client = bhive_client_new(&o, &err))) {
		cli_error("%s", err.message);
		/* A malformed --endpoint-url is a bad argument; a bad profile or
		 * environment is the setup's failure. */
		return strstr(err.message, "from the endpoint URL option") ? CLI_EXIT_USAGE
		                                                           : CLI_EXIT_FAILURE;
	}
	run->result = run_hive(run, &failed, &err);
	if (!run->result) {
		cli_error("%s", err.message);
		if (failed && strcmp(run->a.output, "text"))
			print_result(run, failed);
		else if (failed && bhive_result_code(failed) == BHIVE_ERR_SCHEMA)
			print_text(failed);
		bhive_result_free(failed);
		return CLI_EXIT_FAILURE;
	}
	return print_result(run, run->result) ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_converse(int argc, char **argv)
{
	converse_run run = {0};
	int rc = parse_args(&run.a, argc, argv);
	if (rc) {
		if (rc > 0)
			fputs(usage_text, stdout);
		else
			fprintf(stderr, "(see bhive converse --help)\n");
		free(run.a.models);
		return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	const char *lvl = getenv("BHIVE_LOG_LEVEL");
	run.a.verbose = lvl && (!strcasecmp(lvl, "info") || !strcasecmp(lvl, "debug") ||
	                        !strcasecmp(lvl, "trace"));
	if (run.a.live < 0)
		run.a.live = isatty(2) ? 1 : 0;
	rc = converse_main(&run);
	run_release(&run);
	return rc;
}
