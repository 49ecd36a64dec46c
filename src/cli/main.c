/*
 * main.c - the bhive command: a table of subcommands. Each lives in its own
 * cmd_NAME.c file and takes the arguments after the subcommand's name.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "cli_bench.h"

typedef struct cli_command {
	const char *name;
	cli_command_fn run;
	const char *summary;
} cli_command;

static const cli_command commands[] = {
	{ "converse", cmd_converse, "ask models with reflection, verifier feedback and debate" },
	{ "bench", cmd_bench, "measure accuracy, cost and latency of configurations on a dataset" },
	{ "optimise", cmd_optimise, "find the best configuration within a cost and time budget" },
	{ "demo", cmd_demo, "run the arithmetic benchmark on simulated models (no AWS needed)" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: bhive <command> [options]   (bhive <command> --help for more)\n\n"
	             "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nexit codes: 0 success, 1 failure (service, network, verifier), "
	             "2 bad arguments\n");
}

int main(int argc, char **argv)
{
	/* A verifier command that exits early must not kill us while we write to it. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("bhive %s\n", bhive_version());
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "bhive: error: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
