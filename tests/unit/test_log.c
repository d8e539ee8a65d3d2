/* Unit tests of lib/log.c: one key=value line per call, debug filtered. */
#include "helpers.h"
#include "log.h"

static void
test_lines(void **state)
{
	char tmpl[] = "/tmp/fg-unit-log-XXXXXX", buf[4096];
	int fd = mkstemp(tmpl), saved = dup(2);
	ssize_t n;

	(void)state;
	dup2(fd, 2);
	fg_log_open("test", 1);
	fg_log_notice("session=%s account=%s action=defer", "s1", "tenant42");
	fg_log_debug("hidden");
	fg_log_set_debug(1);
	fg_log_debug("shown");
	fflush(stderr);
	dup2(saved, 2);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "floodgate notice: session=s1 account=tenant42 action=defer\n"));
	assert_null(strstr(buf, "hidden"));
	assert_non_null(strstr(buf, "floodgate debug: shown\n"));
	close(fd);
	unlink(tmpl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
