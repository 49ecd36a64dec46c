/* main.c - the bhive command. */
#include <stdio.h>
#include <string.h>
#include "bhive.h"

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("bhive %s\n", bhive_version());
		return 0;
	}
	fprintf(stderr, "usage: bhive <converse|bench|optimise|demo> ...\n");
	return 2;
}
