/*
 * fgrscript: prints one of floodgate's Lua scripts for the shared store
 * (reserve, commit, release, add, reset), so that make bench can load it
 * into a redis-server and time it alone with redis-benchmark.
 *
 *   fgrscript reserve | commit | release | add | reset
 */
#include <stdio.h>
#include <string.h>

#include "rlimit.h"

int
main(int argc, char **argv)
{
	static const char *const names[FG_RS_COUNT] = {
		[FG_RS_RESERVE] = "reserve", [FG_RS_COMMIT] = "commit",
		[FG_RS_RELEASE] = "release", [FG_RS_ADD] = "add",
		[FG_RS_RESET] = "reset",
	};
	int i;

	for (i = 0; argc == 2 && i < FG_RS_COUNT; i++)
		if (strcmp(argv[1], names[i]) == 0) {
			fputs(fg_rscript_source((enum fg_rscript)i), stdout);
			return 0;
		}
	fprintf(stderr, "usage: fgrscript reserve|commit|release|add|reset\n");
	return 2;
}
