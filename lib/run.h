/*
 * Another program's command, run to its end or to a deadline: postconf
 * for floodgate's look around it, the MTA's queue commands for
 * floodgatectl release. See run.c.
 */
#ifndef FG_RUN_H
#define FG_RUN_H

#include <stddef.h>
#include <stdint.h>

#define FG_RUN_OUT	1	/* keep its stdout (else read and dropped) */
#define FG_RUN_ERR	2	/* keep its stderr's start (else /dev/null) */
#define FG_RUN_PGROUP	4	/* in a process group of its own */

#define FG_RUN_ERRKEEP	2048

struct fg_run {
	char *out;		/* stdout, NUL-terminated, to free (FG_RUN_OUT) */
	size_t outlen;
	char err[FG_RUN_ERRKEEP];	/* stderr's first bytes (FG_RUN_ERR) */
	size_t errlen;
	int status;		/* its exit status; -1 when it did not exit */
	int late;		/* killed: 1 at the deadline, 2 when stop() said */
	int full;		/* no memory for its output: killed */
	char how[96];		/* "exit 1", "killed by signal 9", ... */
};

/*
 * Runs argv (looked up in PATH) with stdin on /dev/null, no signal
 * blocked or ignored and none of this process's descriptors but its
 * pipes, and waits for its end. It is ended (SIGTERM, then SIGKILL
 * once it has ended or a second later; with FG_RUN_PGROUP, its whole
 * group) at deadline (fg_mono_us()'s clock) or once stop() returns
 * non-zero (asked at least every 100 ms; NULL: never). 0 when it ran,
 * to its end or killed (r says which); -1, with r->how, when it could
 * not be started or waited for. r->out is the caller's to free either
 * way.
 */
int fg_run(char *const argv[], int flags, int64_t deadline,
    int (*stop)(void), struct fg_run *r);

#endif
