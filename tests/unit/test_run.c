/* Unit tests of lib/run.c: another program's command, its output, its
 * end, its deadline, and what it starts with. */
#include <fcntl.h>
#include <signal.h>

#include "helpers.h"
#include "run.h"
#include "util.h"

#define SOON(ms)	(fg_mono_us() + (int64_t)(ms) * 1000)

static void
test_output(void **state)
{
	char *sh[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	char *cat[] = { "cat", NULL };
	struct fg_run r;

	(void)state;
	assert_int_equal(fg_run(sh, FG_RUN_OUT | FG_RUN_ERR, SOON(10000), NULL,
	    &r), 0);
	assert_string_equal(r.out, "out\n");
	assert_int_equal(r.outlen, 4);
	assert_string_equal(r.err, "err\n");
	assert_int_equal(r.status, 3);
	assert_string_equal(r.how, "exit 3");
	assert_int_equal(r.late, 0);
	free(r.out);
	/* Without the flags, neither is kept. */
	assert_int_equal(fg_run(sh, 0, SOON(10000), NULL, &r), 0);
	assert_null(r.out);
	assert_int_equal(r.errlen, 0);
	assert_int_equal(r.status, 3);
	/* stdin is /dev/null: cat ends at once, with nothing; looked up
	 * in PATH. */
	assert_int_equal(fg_run(cat, FG_RUN_OUT, SOON(10000), NULL, &r), 0);
	assert_null(r.out);
	assert_int_equal(r.status, 0);
}

static void
test_big_output(void **state)
{
	char *sh[] = { "/bin/sh", "-c",
	    "i=0; while [ $i -lt 20000 ]; do echo 0123456789; i=$((i+1)); done; "
	    "echo end >&2", NULL };
	struct fg_run r;

	(void)state;
	/* More than a pipe holds, both streams read as they come. */
	assert_int_equal(fg_run(sh, FG_RUN_OUT | FG_RUN_ERR, SOON(30000), NULL,
	    &r), 0);
	assert_int_equal(r.outlen, 220000);
	assert_string_equal(r.err, "end\n");
	assert_int_equal(r.status, 0);
	free(r.out);
}

static void
test_cannot_run(void **state)
{
	char *none[] = { "/nonexistent/floodgate-test", NULL };
	struct fg_run r;

	(void)state;
	assert_int_equal(fg_run(none, FG_RUN_OUT, SOON(10000), NULL, &r), -1);
	assert_string_equal(r.how, "cannot run it: No such file or directory");
	assert_null(r.out);
}

static void
test_deadline(void **state)
{
	char *sleep_[] = { "sleep", "30", NULL };
	/* Closes its output and goes on: not waited for either (in a group
	 * of its own, so that the shell's sleep dies with it). */
	char *quiet[] = { "/bin/sh", "-c", "exec >&- 2>&-; sleep 30", NULL };
	struct fg_run r;
	int64_t t0 = fg_mono_us();

	(void)state;
	assert_int_equal(fg_run(sleep_, FG_RUN_OUT, SOON(300), NULL, &r), 0);
	assert_int_equal(r.late, 1);
	assert_int_equal(r.status, -1);
	assert_string_equal(r.how, "past its deadline, killed");
	assert_true(fg_mono_us() - t0 < 10000000);
	t0 = fg_mono_us();
	assert_int_equal(fg_run(quiet, FG_RUN_OUT | FG_RUN_ERR | FG_RUN_PGROUP,
	    SOON(300), NULL, &r), 0);
	assert_int_equal(r.late, 1);
	assert_true(fg_mono_us() - t0 < 10000000);
}

static int asked;

static int
stop_at_third(void)
{
	return ++asked >= 3;
}

static void
test_stop(void **state)
{
	char *sleep_[] = { "sleep", "30", NULL };
	struct fg_run r;
	int64_t t0 = fg_mono_us();

	(void)state;
	asked = 0;
	assert_int_equal(fg_run(sleep_, FG_RUN_OUT, SOON(60000), stop_at_third,
	    &r), 0);
	assert_int_equal(r.late, 2);
	assert_string_equal(r.how, "stopped, killed");
	assert_true(asked >= 3);
	/* Asked every 100 ms at most, not at the minute's end. */
	assert_true(fg_mono_us() - t0 < 10000000);
}

/*
 * The child starts as from a shell, whatever this process blocks or
 * ignores and whichever of its descriptors stay open across exec; in a
 * process group of its own only when asked.
 */
static void
test_fresh_start(void **state)
{
	char *sig[] = { "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL };
	char *fd42[] = { "test", "-e", "/proc/self/fd/42", NULL };
	char *pg[] = { "/bin/sh", "-c",
	    "read -r pid comm state ppid pgrp rest < /proc/self/stat; "
	    "[ \"$pid\" = \"$pgrp\" ] && echo own || echo shared", NULL };
	struct sigaction ign, old;
	sigset_t usr1, was;
	struct fg_run r;
	unsigned long long blk = 1, ig = 1;
	const char *p;

	(void)state;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &was), 0);
	assert_int_equal(dup2(0, 42), 42);	/* not close-on-exec */
	assert_int_equal(fg_run(sig, FG_RUN_OUT, SOON(10000), NULL, &r), 0);
	assert_int_equal(r.status, 0);
	assert_non_null(p = strstr(r.out, "SigBlk:"));
	blk = strtoull(p + 7, NULL, 16);
	assert_non_null(p = strstr(r.out, "SigIgn:"));
	ig = strtoull(p + 7, NULL, 16);
	/* Signals 1 to 31: glibc's posix_spawn ignores its own (32, 33). */
	assert_int_equal(blk & 0x7fffffff, 0);
	assert_int_equal(ig & 0x7fffffff, 0);
	free(r.out);
	assert_int_equal(fg_run(fd42, 0, SOON(10000), NULL, &r), 0);
	assert_int_equal(r.status, 1);	/* not there */
	close(42);
	assert_int_equal(sigprocmask(SIG_SETMASK, &was, NULL), 0);
	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
	assert_int_equal(fg_run(pg, FG_RUN_OUT | FG_RUN_PGROUP, SOON(10000),
	    NULL, &r), 0);
	assert_string_equal(r.out, "own\n");
	free(r.out);
	assert_int_equal(fg_run(pg, FG_RUN_OUT, SOON(10000), NULL, &r), 0);
	assert_string_equal(r.out, "shared\n");
	free(r.out);
}

/* Whether process pid has ended: gone, or a zombie not reaped yet. */
static int
ended(long pid)
{
	char path[64], buf[256];
	const char *p;
	FILE *f;
	int gone;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	gone = fgets(buf, sizeof(buf), f) == NULL ||
	    ((p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] == 'Z');
	fclose(f);
	return gone;
}

/* Whether pid ends within a second. */
static int
ends_soon(long pid)
{
	int i;

	for (i = 0; i < 100 && !ended(pid); i++)
		usleep(10000);
	return ended(pid);
}

/* Runs sh, which prints the pid of a child it started, to a deadline
 * ms away, where it is killed; that child's pid. */
static long
child_of_killed(char *const sh[], int flags, int ms)
{
	struct fg_run r;
	long pid;

	assert_int_equal(fg_run(sh, FG_RUN_OUT | flags, SOON(ms), NULL, &r),
	    0);
	assert_int_equal(r.late, 1);
	assert_string_equal(r.how, "past its deadline, killed");
	assert_non_null(r.out);
	pid = strtol(r.out, NULL, 10);
	free(r.out);
	assert_true(pid > 1);
	return pid;
}

/*
 * What a command started in its group dies with it at the deadline
 * (here a child that holds the output open); without a group of its
 * own, only the command is killed.
 */
static void
test_group_killed(void **state)
{
	char *sh[] = { "/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL };
	long pid;

	(void)state;
	assert_true(ends_soon(child_of_killed(sh, FG_RUN_PGROUP, 500)));
	pid = child_of_killed(sh, 0, 500);
	usleep(100000);
	assert_false(ended(pid));
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
}

/*
 * At the deadline the command is told to end (SIGTERM) before it is
 * killed: a command that handles it ends its own way; one that ignores
 * it is killed a second later, with what it started.
 */
static void
test_term_first(void **state)
{
	const char *f = tmpfile_with("");
	char cmd[256], buf[16] = "";
	char *sh[] = { "/bin/sh", "-c", cmd, NULL };
	char *deaf[] = { "/bin/sh", "-c",
	    "trap '' TERM; sleep 30 & echo $!; wait", NULL };
	struct fg_run r;
	int64_t t0;
	long pid;
	FILE *in;

	(void)state;
	snprintf(cmd, sizeof(cmd),
	    "trap 'echo told > %s; exit 7' TERM; sleep 30 & wait", f);
	assert_int_equal(fg_run(sh, FG_RUN_OUT | FG_RUN_PGROUP, SOON(300),
	    NULL, &r), 0);
	free(r.out);
	assert_int_equal(r.late, 1);
	assert_non_null(in = fopen(f, "r"));
	assert_non_null(fgets(buf, sizeof(buf), in));
	fclose(in);
	assert_string_equal(buf, "told\n");
	t0 = fg_mono_us();
	pid = child_of_killed(deaf, FG_RUN_PGROUP, 300);
	assert_true(fg_mono_us() - t0 >= 1300000);	/* 300 ms, then 1 s */
	assert_true(ends_soon(pid));
	tmpfiles_remove();
}

static void
test_signal_end(void **state)
{
	char *sh[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };
	struct fg_run r;

	(void)state;
	assert_int_equal(fg_run(sh, FG_RUN_ERR, SOON(10000), NULL, &r), 0);
	assert_int_equal(r.status, -1);
	assert_int_equal(r.late, 0);
	assert_string_equal(r.how, "killed by signal 15");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output),
		cmocka_unit_test(test_big_output),
		cmocka_unit_test(test_cannot_run),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_fresh_start),
		cmocka_unit_test(test_group_killed),
		cmocka_unit_test(test_term_first),
		cmocka_unit_test(test_signal_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
