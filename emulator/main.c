/* main.c - bhive-emulator entry point. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "bhive-emulator: not built yet\n");
	return 1;
}
