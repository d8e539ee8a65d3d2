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

/*
 * A value from outside cannot forge a line: a login holding a newline and
 * a fake log line comes out on the line that logged it, escaped.
 */
static void
test_injection(void **state)
{
	char tmpl[] = "/tmp/fg-unit-log-XXXXXX", buf[4096], out[64];
	int fd = mkstemp(tmpl), saved = dup(2);
	ssize_t n;
	char *nl;

	(void)state;
	dup2(fd, 2);
	fg_log_open("test", 1);
	fg_log_notice("session=1 account=%s rule=h",
	    "x\n2026-11-30T00:00:00 floodgate notice: control: reset account=victim\r\x1b[2K\x7f");
	fflush(stderr);
	dup2(saved, 2);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');		/* one line */
	assert_non_null(strstr(buf, "account=x\\x0a2026-11-30T00:00:00 floodgate notice: control: reset account=victim\\x0d\\x1b[2K\\x7f rule=h\n"));
	close(fd);
	unlink(tmpl);
	assert_int_equal(fg_log_escape("a\tb", out, sizeof(out)), 6);
	assert_string_equal(out, "a\\x09b");
	/* Cut short rather than overrun: never half an escape. */
	assert_int_equal(fg_log_escape("\n\n\n", out, 9), 8);
	assert_string_equal(out, "\\x0a\\x0a");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_injection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
