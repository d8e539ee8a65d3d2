/* Unit tests of lib/util.c: durations, rates, bounded copies, the clock,
 * JSON strings, a child's signals. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "util.h"

static void
test_duration(void **state)
{
	uint32_t s;

	(void)state;
	assert_int_equal(fg_parse_duration("30s", &s), 0); assert_int_equal(s, 30);
	assert_int_equal(fg_parse_duration("10m", &s), 0); assert_int_equal(s, 600);
	assert_int_equal(fg_parse_duration("1h", &s), 0); assert_int_equal(s, 3600);
	assert_int_equal(fg_parse_duration("1d", &s), 0); assert_int_equal(s, 86400);
	assert_int_equal(fg_parse_duration("2w", &s), 0); assert_int_equal(s, 14 * 86400);
	assert_int_equal(fg_parse_duration("45", &s), 0); assert_int_equal(s, 45);
	assert_int_equal(fg_parse_duration("0m", &s), -1);
	assert_int_equal(fg_parse_duration("1x", &s), -1);
	assert_int_equal(fg_parse_duration("", &s), -1);
	assert_int_equal(fg_parse_duration("h", &s), -1);
	assert_int_equal(fg_parse_duration("-1h", &s), -1);
	assert_int_equal(fg_parse_duration("367d", &s), -1);
	assert_int_equal(fg_parse_duration("99999999999999h", &s), -1);
}

static void
test_rate(void **state)
{
	uint32_t n, p;

	(void)state;
	assert_int_equal(fg_parse_rate("200/1h", &n, &p), 0);
	assert_int_equal(n, 200);
	assert_int_equal(p, 3600);
	assert_int_equal(fg_parse_rate("0/1m", &n, &p), 0);
	assert_int_equal(n, 0);
	assert_int_equal(fg_parse_rate("200", &n, &p), -1);
	assert_int_equal(fg_parse_rate("/1h", &n, &p), -1);
	assert_int_equal(fg_parse_rate("a/1h", &n, &p), -1);
	assert_int_equal(fg_parse_rate("5/", &n, &p), -1);
}

static void
test_format(void **state)
{
	char b[32];

	(void)state;
	fg_format_duration(45, b, sizeof(b)); assert_string_equal(b, "45s");
	fg_format_duration(60, b, sizeof(b)); assert_string_equal(b, "1m");
	fg_format_duration(61, b, sizeof(b)); assert_string_equal(b, "2m");	/* never early */
	fg_format_duration(420, b, sizeof(b)); assert_string_equal(b, "7m");
	fg_format_duration(3600, b, sizeof(b)); assert_string_equal(b, "1h");
	fg_format_duration(3660, b, sizeof(b)); assert_string_equal(b, "1h01m");
	fg_format_duration(7199, b, sizeof(b)); assert_string_equal(b, "2h");
	fg_format_duration(86400, b, sizeof(b)); assert_string_equal(b, "1d");
	fg_format_duration(90000, b, sizeof(b)); assert_string_equal(b, "1d01h");

	/* 1796288400 is 2026-12-03 09:00:00 UTC. */
	fg_format_until(1796288400u + 3600, 1796288400u, b, sizeof(b));
	assert_string_equal(b, "10:00 UTC");
	fg_format_until(1796288400u + 3601, 1796288400u, b, sizeof(b));
	assert_string_equal(b, "10:01 UTC");		/* never early */
	fg_format_until(1796288400u + 86400 - 120, 1796288400u, b, sizeof(b));
	assert_string_equal(b, "08:58 UTC");		/* tomorrow, said by the clock */
	fg_format_until(1796288400u + 86400 - 30, 1796288400u + 10, b, sizeof(b));
	assert_string_equal(b, "2026-12-04 09:00 UTC");	/* now's own clock time */
	fg_format_until(1796288400u + 2 * 86400, 1796288400u, b, sizeof(b));
	assert_string_equal(b, "2026-12-05 09:00 UTC");
	fg_format_until(1796288400u + 3600, 1796288400u, b, 6);
	assert_string_equal(b, "");			/* too short: nothing */
}

static void
test_strlcpy(void **state)
{
	char b[4];

	(void)state;
	assert_int_equal(fg_strlcpy(b, "abcdef", sizeof(b)), 6);
	assert_string_equal(b, "abc");
	assert_int_equal(fg_strlcpy(b, "ab", sizeof(b)), 2);
	assert_string_equal(b, "ab");
	assert_int_not_equal(fg_hash("a"), fg_hash("b"));
}

static int64_t
clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Microseconds of CLOCK_MONOTONIC (not milliseconds, not the wall clock),
 * never 0, and a sleep shows in full. */
static void
test_mono(void **state)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	int64_t lo, a, hi, b;

	(void)state;
	lo = clock_us();
	a = fg_mono_us();
	hi = clock_us();
	assert_true(a != 0);
	assert_true(a >= lo && a <= hi + 1);
	nanosleep(&nap, NULL);
	b = fg_mono_us();
	assert_true(b - a >= 20000);
	assert_true(b <= clock_us() + 1);
}

/* fg_json_string: quotes, backslashes and control characters escaped;
 * valid UTF-8 kept as it is; every byte of an invalid sequence
 * (truncated, overlong, a surrogate, past U+10FFFF) one U+FFFD. */
static void
test_json_string(void **state)
{
	static const char *const cases[][2] = {
		{ "a\"b\\c\x01\x7f/", "\"a\\\"b\\\\c\\u0001\\u007f/\"" },
		{ "\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
		    "\"\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"" },
		{ "x\xc3", "\"x\\ufffd\"" },
		{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
		{ "\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
		{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
		{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
		{ "\xe6\x97!", "\"\\ufffd\\ufffd!\"" },
	};
	char buf[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *fp = fmemopen(buf, sizeof(buf), "w");

		assert_non_null(fp);
		fg_json_string(fp, cases[i][0]);
		fclose(fp);
		assert_string_equal(buf, cases[i][1]);
	}
}

/* What grep, spawned with attr, reads of its own signals in
 * /proc/self/status: signals 1 to 31 blocked and ignored (glibc's
 * posix_spawn ignores its own, 32 and 33). */
static void
child_signals(const posix_spawnattr_t *attr, unsigned long *blk,
    unsigned long *ign)
{
	char *argv[] = { "grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status",
	    NULL };
	extern char **environ;
	posix_spawn_file_actions_t fa;
	char buf[256], *p;
	ssize_t n;
	size_t len = 0;
	int fd[2], st;
	pid_t pid;

	assert_int_equal(pipe(fd), 0);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, fd[1], 1), 0);
	assert_int_equal(posix_spawnp(&pid, argv[0], &fa, attr, argv, environ),
	    0);
	posix_spawn_file_actions_destroy(&fa);
	close(fd[1]);
	while ((n = read(fd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd[0]);
	buf[len] = '\0';
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_non_null(p = strstr(buf, "SigBlk:"));
	*blk = strtoul(p + 7, NULL, 16) & 0x7fffffffUL;
	assert_non_null(p = strstr(buf, "SigIgn:"));
	*ign = strtoul(p + 7, NULL, 16) & 0x7fffffffUL;
}

/* fg_spawnattr_init: a child of a process that blocks SIGTERM and
 * ignores SIGPIPE (as floodgate's threads do) starts with neither,
 * where one spawned without it keeps both. */
static void
test_spawnattr(void **state)
{
	unsigned long blk, ign;
	posix_spawnattr_t at;
	sigset_t term, old;
	void (*was)(int);

	(void)state;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	assert_int_equal(sigprocmask(SIG_BLOCK, &term, &old), 0);
	was = signal(SIGPIPE, SIG_IGN);
	child_signals(NULL, &blk, &ign);
	assert_true(blk & (1UL << (SIGTERM - 1)));
	assert_true(ign & (1UL << (SIGPIPE - 1)));
	assert_int_equal(fg_spawnattr_init(&at, 0), 0);
	child_signals(&at, &blk, &ign);
	posix_spawnattr_destroy(&at);
	assert_int_equal(blk, 0);
	assert_int_equal(ign, 0);
	signal(SIGPIPE, was);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Whether a shell spawned with (or without) fg_spawn_close_rest() has
 * fd open. */
static int
child_has_fd(int close_rest, int fd)
{
	char cmd[64], *argv[] = { "sh", "-c", cmd, NULL };
	extern char **environ;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	snprintf(cmd, sizeof(cmd), "test -e /proc/self/fd/%d", fd);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	if (close_rest)
		assert_int_equal(fg_spawn_close_rest(&fa), 0);
	assert_int_equal(posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ),
	    0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st) == 0;
}

/* fg_spawn_close_rest: a descriptor open without close-on-exec (as
 * libmilter's sockets are) reaches a child spawned without it, not one
 * spawned with it; 0 to 2 stay. */
static void
test_spawn_close_rest(void **state)
{
	int fd = open("/dev/null", O_RDONLY);

	(void)state;
	assert_true(fd > 2);
	assert_true(child_has_fd(0, fd));
	assert_false(child_has_fd(1, fd));
	assert_true(child_has_fd(1, 2));
	close(fd);
}

/* fg_keep_first: what fits is kept, NUL-terminated; the rest dropped. */
static void
test_keep_first(void **state)
{
	char buf[8] = "";
	size_t len = 0;

	(void)state;
	fg_keep_first(buf, sizeof(buf), &len, "abc", 3);
	assert_int_equal(len, 3);
	assert_string_equal(buf, "abc");
	fg_keep_first(buf, sizeof(buf), &len, "defghij", 7);
	assert_int_equal(len, 7);
	assert_string_equal(buf, "abcdefg");
	fg_keep_first(buf, sizeof(buf), &len, "k", 1);
	assert_int_equal(len, 7);
	assert_string_equal(buf, "abcdefg");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_strlcpy),
		cmocka_unit_test(test_mono),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_spawnattr),
		cmocka_unit_test(test_keep_first),
		cmocka_unit_test(test_spawn_close_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
