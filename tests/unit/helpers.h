/*
 * Shared by the unit tests: cmocka, and temporary files for the parsers.
 */
#ifndef FG_TEST_HELPERS_H
#define FG_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* Writes `text` to a new temporary file; returns its path (static). */
static inline const char *
tmpfile_with(const char *text)
{
	static char path[8][64];
	static int next;
	char *p = path[next++ % 8];
	int fd;

	snprintf(p, 64, "/tmp/fg-unit-XXXXXX");
	fd = mkstemp(p);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return p;
}

/* Removes what tmpfile_with made. */
static inline void
tmpfiles_remove(void)
{
	if (system("rm -f /tmp/fg-unit-*") != 0)
		print_message("could not remove /tmp/fg-unit-*\n");
}

#ifdef FG_LIMITER_H
/* A hard check of one unit (the limiter tests, memory and Redis). */
static inline struct fg_check
chk(const char *rule, const char *key, uint32_t limit, uint32_t period)
{
	struct fg_check c = { .rule = rule, .key = key, .limit = limit,
	    .period = period, .cost = 1, .hard = true };
	return c;
}
#endif

#endif
