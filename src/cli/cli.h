/*
 * cli.h - what the bhive command's files share: the subcommand entry points
 * and small helpers. The command uses only the public API (include/).
 */
#ifndef BHIVE_CLI_H
#define BHIVE_CLI_H

#include "bhive.h"
#include <jansson.h>
#include <stddef.h>

/* Exit codes of every subcommand. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILURE = 1, /* the service, the network, a verifier or the output failed */
	CLI_EXIT_USAGE = 2    /* bad arguments or unreadable input files */
};

/* A subcommand: argv[0] is its name. Returns the process exit code. */
typedef int (*cli_command_fn)(int argc, char **argv);

int cmd_converse(int argc, char **argv);

/* ---- helpers (cli_util.c) ---------------------------------------------- */

/* The longest time any seconds option takes: one day. */
#define CLI_MAX_SECONDS 86400

/* Prints "bhive: error: MESSAGE" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An option's value after getopt_long (idx its index in opts, -1 for a
 * short option): an empty value is an error naming the option. 0 ok, -1
 * with the message printed. */
struct option;
int cli_check_value(const struct option *opts, int idx, const char *value);
/* Strict whole-string numbers: 0 ok, -1 bad. */
int cli_parse_long(const char *s, long *out);
int cli_parse_double(const char *s, double *out);
/* Reads a whole file ("-" is stdin) into a malloc'd string, NULL on error
 * (errno says why). */
char *cli_read_file(const char *path, size_t *len);
/* A JSON value from an argument that is either inline JSON or a file name
 * (an optional "file://" prefix is dropped). NULL with a message printed. */
json_t *cli_load_json_arg(const char *arg, const char *what);
/* Splits a command line into argv like a shell would for words and quotes
 * ('single', "double", backslash), without running one. NULL-terminated,
 * free with cli_free_argv. NULL on an unterminated quote or empty command. */
char **cli_split_argv(const char *cmd);
void cli_free_argv(char **argv);
/* Sets the library's log level from a name; 0 ok, -1 unknown name. */
int cli_set_log_level(const char *name);

/* ---- the external verifier command (cli_verifier.c) -------------------- */

typedef struct cli_verifier {
	char **argv;
	char *cmdline;
	double timeout_s;
} cli_verifier;

/* A bhive_verifier_fn: ud is a cli_verifier. */
char *cli_verifier_run(void *ud, const char *question, const char *answer, double *score,
                       bhive_error *err);

#endif
