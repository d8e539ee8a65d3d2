/*
 * Another program's command, run without a shell and started as from
 * one: stdin on /dev/null, no signal blocked or ignored (floodgate's
 * threads block some, floodgatectl ignores SIGPIPE), none of the
 * caller's descriptors. Its output is read as it comes, so that a full
 * pipe never stalls it, and it never outlives its deadline: a command
 * that hangs on a dead file system, or closes its output and goes on,
 * is killed, not waited for.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"
#include "util.h"

extern char **environ;

/* How often stop() is asked, at most this many milliseconds apart. */
#define STOP_SLICE_MS	100

static int
spawn(char *const argv[], int flags, int out, int err, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int rc;

	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		return rc;
	if ((rc = fg_spawnattr_init(&at, flags & FG_RUN_PGROUP)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDONLY, 0)) == 0 &&
	    (rc = posix_spawn_file_actions_adddup2(&fa, out, 1)) == 0 &&
	    (rc = err >= 0 ? posix_spawn_file_actions_adddup2(&fa, err, 2) :
	    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY,
	    0)) == 0 &&
	    (rc = fg_spawn_close_rest(&fa)) == 0)
		rc = posix_spawnp(pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

/* How long a command told to end (SIGTERM) has before SIGKILL. */
#define TERM_GRACE_MS	1000

/*
 * Ends the command and, in a process group of its own, whatever it
 * started there (a queue run forked by the MTA's command, a child that
 * holds its output open), as systemd ends a unit: SIGTERM, so that one
 * that handles it ends cleanly (a local mailer its mailbox), then
 * SIGKILL once the command has ended or TERM_GRACE_MS has passed, for
 * what ignored it. The command is not reaped before the SIGKILL, so the
 * group's id is still its own.
 */
static void
end_it(pid_t pid)
{
	int64_t until = fg_mono_us() + (int64_t)TERM_GRACE_MS * 1000;
	siginfo_t si;

	fg_kill_group(pid, SIGTERM);
	while (fg_mono_us() < until) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG |
		    WNOWAIT) == 0 && si.si_pid == pid)
			break;
		usleep(10000);
	}
	fg_kill_group(pid, SIGKILL);
}

/* Whether it is time to kill it: 1 the deadline, 2 stop(). */
static int
due(int64_t deadline, int (*stop)(void))
{
	if (stop != NULL && stop())
		return 2;
	return fg_mono_us() >= deadline;
}

/* Milliseconds to wait before asking due() again. */
static int
slice(int64_t deadline, int (*stop)(void))
{
	int64_t left = (deadline - fg_mono_us() + 999) / 1000;

	if (left < 1)
		left = 1;
	if (stop != NULL && left > STOP_SLICE_MS)
		left = STOP_SLICE_MS;
	return left > 1000000 ? 1000000 : (int)left;
}

/* One read of fd into r; -1 at its end (or an error). */
static int
take(int fd, int out, int keep, struct fg_run *r)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	if (out && keep && !r->full) {
		char *p = realloc(r->out, r->outlen + (size_t)n + 1);

		if (p == NULL) {
			r->full = 1;
			return 0;
		}
		memcpy(p + r->outlen, buf, (size_t)n);
		r->outlen += (size_t)n;
		p[r->outlen] = '\0';
		r->out = p;
	} else if (!out)
		fg_keep_first(r->err, sizeof(r->err), &r->errlen, buf,
		    (size_t)n);
	return 0;
}

int
fg_run(char *const argv[], int flags, int64_t deadline, int (*stop)(void),
    struct fg_run *r)
{
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, st = 0, rc, i;
	struct pollfd pfd[2];
	useconds_t nap;
	pid_t pid, w;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (pipe2(po, O_CLOEXEC) < 0 ||
	    ((flags & FG_RUN_ERR) && pipe2(pe, O_CLOEXEC) < 0)) {
		snprintf(r->how, sizeof(r->how), "pipe: %s", strerror(errno));
		for (i = 0; i < 2; i++) {
			if (po[i] >= 0)
				close(po[i]);
		}
		return -1;
	}
	rc = spawn(argv, flags, po[1], pe[1], &pid);
	close(po[1]);
	if (pe[1] >= 0)
		close(pe[1]);
	pfd[0].fd = po[0];
	pfd[1].fd = pe[0];
	pfd[0].events = pfd[1].events = POLLIN;
	if (rc != 0) {
		snprintf(r->how, sizeof(r->how), "cannot run it: %s",
		    strerror(rc));
		for (i = 0; i < 2; i++)
			if (pfd[i].fd >= 0)
				close(pfd[i].fd);
		return -1;
	}
	/* Its output, to its end (or the deadline, or stop()). */
	while (!r->late && !r->full && (pfd[0].fd >= 0 || pfd[1].fd >= 0)) {
		int n = poll(pfd, 2, slice(deadline, stop));

		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; n > 0 && i < 2; i++) {
			if (pfd[i].fd < 0 ||
			    !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (take(pfd[i].fd, i == 0, flags & FG_RUN_OUT, r) < 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
		}
		r->late = due(deadline, stop);
	}
	for (i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	/* Then its end: a command that closed its output by exiting is a
	 * zombie within microseconds; look again after 100 us, then twice
	 * as long each time, up to the slice. */
	for (nap = 100; !r->late && !r->full; nap = nap < 50000 ? nap * 2 :
	    (useconds_t)STOP_SLICE_MS * 1000) {
		if ((w = waitpid(pid, &st, WNOHANG)) == pid)
			break;
		if (w < 0 && errno != EINTR) {
			/* ECHILD: reaped elsewhere (SIGCHLD ignored), so its
			 * pid may be another process's by now: not killed. */
			snprintf(r->how, sizeof(r->how), "waitpid: %s",
			    strerror(errno));
			return -1;
		}
		if ((r->late = due(deadline, stop)) == 0)
			usleep(nap);
	}
	if (r->late || r->full) {
		end_it(pid);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		snprintf(r->how, sizeof(r->how), "%s, killed",
		    r->full ? "more output than memory for it" :
		    r->late == 2 ? "stopped" : "past its deadline");
		return 0;
	}
	if (WIFEXITED(st)) {
		r->status = WEXITSTATUS(st);
		snprintf(r->how, sizeof(r->how), "exit %d", r->status);
	} else
		snprintf(r->how, sizeof(r->how), "killed by signal %d",
		    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return 0;
}
