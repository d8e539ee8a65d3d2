/*
 * The programs floodgate starts to tell people of incidents (an exec:
 * target, a mailto: target's sendmail), on the service thread: each
 * in a process group of its own with its input in a memory file, its
 * output read as it comes, ended with what it started at its timeout
 * or at floodgate's stop, and how it ended logged. Nothing here waits
 * for a child but the stop, and for one killed REAP_WAIT_MS at most:
 * they are looked at at each tick.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define NOTIFY_TIMEOUT	30	/* seconds a notify program may take */
#define STOP_WAIT_MS	5000	/* and at floodgate's stop, at most */
#define STOP_TERM_MS	1000	/* from SIGTERM to SIGKILL at the stop */
#define REAP_WAIT_MS	100	/* for a killed one to go, then each tick */
#define MAX_CHILDREN	FG_NOTIFY_PROGRAMS

struct child {
	pid_t pid;			/* and its process group */
	time_t started;
	time_t told_to_end;		/* SIGTERM sent, 0 before */
	time_t killed;			/* and not gone yet, 0 else */
	int err;			/* its stderr and stdout, non-blocking */
	struct event *reading;		/* err, read as it comes */
	char said[512];			/* what it wrote first, for the log */
	size_t saidlen;
	char target[FG_ACCOUNT_MAX + 16];
};

static struct child children[MAX_CHILDREN];
static uint64_t failures[FG_NOTIFY_FAIL_KINDS];
const char *const fg_notify_failure_names[FG_NOTIFY_FAIL_KINDS] = {
	[FG_NOTIFY_DROPPED] = "dropped",
	[FG_NOTIFY_NOT_STARTED] = "not_started",
	[FG_NOTIFY_FAILED] = "failed",
	[FG_NOTIFY_TIMED_OUT] = "timed_out",
};

/*
 * A child's output, read as it comes: its first bytes kept for the log,
 * the rest dropped. A program that writes more than a pipe holds (curl
 * printing a webhook's answer) would otherwise block on it, as if hung,
 * until killed at NOTIFY_TIMEOUT.
 */
static void
drain(struct child *c)
{
	char buf[4096];
	ssize_t n;
	int i;

	/* At most 64 kB a call: a program that writes without end must
	 * not hold the service thread; its event fires again. */
	for (i = 0; i < 16 && (n = read(c->err, buf, sizeof(buf))) > 0; i++)
		fg_keep_first(c->said, sizeof(c->said), &c->saidlen, buf,
		    (size_t)n);
	if (n == 0 && c->reading != NULL) {	/* its end: no more events */
		event_free(c->reading);
		c->reading = NULL;
	}
}

static void
on_output(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drain(arg);
}

/*
 * A child's stdin: data in a memory file, read from its start. Not a
 * pipe: a digest of 256 incidents, or its mail, can be more than a pipe
 * holds, and nothing here may wait for a program to read it (a pipe's
 * worth was written and the rest cut off). -1 with errno.
 */
static int
input_of(const char *data, size_t len)
{
	size_t off = 0;
	ssize_t w;
	int fd, e;

	if ((fd = memfd_create("floodgate-notify", MFD_CLOEXEC)) < 0)
		return -1;
	while (off < len) {
		if ((w = write(fd, data + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) == 0)
		return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* A child whose stdin is data and whose output is kept for the log. */
void
fg_notify_run(const char *target, char *const argv[], const char *data,
    size_t len)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int in, err[2], slot;
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct event_base *base;
	pid_t pid;

	for (slot = 0; slot < MAX_CHILDREN && children[slot].pid != 0; slot++)
		;
	if (slot == MAX_CHILDREN) {
		size_t running, not_gone;

		fg_notify_counts(&running, &not_gone);
		fg_log_err("notify: %s: no notify program slot free (%zu running, %zu killed and not gone, of %d); this one is dropped",
		    target, running, not_gone, MAX_CHILDREN);
		failures[FG_NOTIFY_DROPPED]++;
		return;
	}
	if ((in = input_of(data, len)) < 0)
		goto fail;
	/* Non-blocking on floodgate's side only: a program's stdout that
	 * is too would fail its writes (EAGAIN) once the pipe is full. */
	if (pipe2(err, O_CLOEXEC) < 0) {
		close(in);
		goto fail;
	}
	if (fcntl(err[0], F_SETFL, O_NONBLOCK) < 0) {
		close(in);
		close(err[0]);
		close(err[1]);
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, err[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	if ((errno = fg_spawn_close_rest(&fa)) == 0 &&
	    (errno = fg_spawnattr_init(&at, 1)) == 0) {
		errno = posix_spawn(&pid, argv[0], &fa, &at, argv, envp);
		posix_spawnattr_destroy(&at);
	}
	posix_spawn_file_actions_destroy(&fa);
	close(in);
	close(err[1]);
	if (errno != 0) {
		close(err[0]);
		goto fail;
	}
	children[slot].pid = pid;
	children[slot].started = time(NULL);
	children[slot].told_to_end = 0;
	children[slot].killed = 0;
	children[slot].err = err[0];
	children[slot].saidlen = 0;
	children[slot].said[0] = '\0';
	fg_strlcpy(children[slot].target, target, sizeof(children[slot].target));
	/* Without the event (no memory), its output is read at its end:
	 * a pipe's worth. */
	base = fg_service_base();
	children[slot].reading = base == NULL ? NULL : event_new(base, err[0],
	    EV_READ | EV_PERSIST, on_output, &children[slot]);
	if (children[slot].reading != NULL &&
	    event_add(children[slot].reading, NULL) < 0) {
		event_free(children[slot].reading);
		children[slot].reading = NULL;
	}
	return;
fail:
	fg_log_err("notify: %s: cannot run %s: %s", target, argv[0],
	    strerror(errno));
	failures[FG_NOTIFY_NOT_STARTED]++;
}

/* Whether a child still runs: 1, 0 when it has ended, not reaped
 * (WNOWAIT) so that its group's id stays its own until the group is
 * ended; its status in *st. */
static int
running(const struct child *c, int *st)
{
	siginfo_t si;

	*st = 0;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return 0;	/* not ours to wait for any more */
	if (si.si_pid != c->pid)
		return 1;
	*st = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) :
	    si.si_status;
	return 0;
}

/* Whether a child is gone, reaped now if so (its slot free). */
static int
reaped(struct child *c)
{
	pid_t r;
	int st;

	while ((r = waitpid(c->pid, &st, WNOHANG)) < 0 && errno == EINTR)
		;
	if (r == 0)
		return 0;
	c->pid = 0;		/* r < 0: not ours to wait for any more */
	return 1;
}

/*
 * A child done with: its output closed and, once it is gone, its slot
 * free. One killed is given REAP_WAIT_MS to go. One still there after
 * that ends only when what holds it does (a call stuck in the kernel on
 * a dead NFS mount, a tracer that keeps its end): its slot is kept and
 * looked at each tick, and nothing waits for it, the stop neither.
 */
static void
forget(struct child *c)
{
	int ms;

	if (c->reading != NULL)
		event_free(c->reading);
	c->reading = NULL;
	close(c->err);
	c->err = -1;
	for (ms = 0; !reaped(c); ms++) {
		if (ms == REAP_WAIT_MS) {
			c->killed = time(NULL);
			fg_log_err("notify: %s: not gone %d ms after SIGKILL (stuck in the kernel?); its slot is kept until it is",
			    c->target, REAP_WAIT_MS);
			return;
		}
		usleep(1000);
	}
}

/* What a child wrote first, for the log, after a last read of what its
 * pipe holds: the separator ": " before it, or "" when it wrote
 * nothing. */
static const char *
said(struct child *c)
{
	drain(c);
	while (c->saidlen > 0 && c->said[c->saidlen - 1] == '\n')
		c->said[--c->saidlen] = '\0';
	return c->saidlen > 0 ? ": " : "";
}

/* A child that ended on its own: logged when it failed. */
static void
finished(struct child *c, int st)
{
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		const char *sep = said(c);

		fg_log_err("notify: %s: %s %d%s%s", c->target,
		    WIFEXITED(st) ? "exit" : "signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), sep,
		    c->said);
		failures[FG_NOTIFY_FAILED]++;
	}
	forget(c);
}

/* A child told to end (SIGTERM to its group): what is left of its group
 * killed, whether or not the program itself ended (a script's child
 * that ignored SIGTERM), and what it wrote logged (a hung curl's
 * complaint); why is when and why it was told. */
static void
put_down(struct child *c, int still, const char *why)
{
	const char *sep;

	fg_kill_group(c->pid, SIGKILL);
	sep = said(c);
	fg_log_err("notify: %s: %s; %s%s%s", c->target, why, still ?
	    "killed (it ignored SIGTERM)" : "ended on SIGTERM", sep, c->said);
	forget(c);
}

void
fg_notify_reap(time_t now)
{
	char why[64];
	int i, st;

	snprintf(why, sizeof(why), "timed out after %d s", NOTIFY_TIMEOUT);
	for (i = 0; i < MAX_CHILDREN; i++) {
		struct child *c = &children[i];
		int still;

		if (c->pid == 0)
			continue;
		if (c->killed != 0) {
			if (reaped(c))
				fg_log_info("notify: %s: gone at last, %lld s after SIGKILL",
				    c->target, (long long)(now - c->killed));
			continue;
		}
		still = running(c, &st);
		/* Past NOTIFY_TIMEOUT its group (a script's hung curl too) is
		 * told to end, and a tick later killed: what ignored SIGTERM,
		 * and what outlived the program. */
		if (c->told_to_end != 0) {
			if (still && now == c->told_to_end)
				continue;
			put_down(c, still, why);
			failures[FG_NOTIFY_TIMED_OUT]++;
		} else if (still) {
			if (now - c->started < NOTIFY_TIMEOUT)
				continue;
			c->told_to_end = now;
			fg_kill_group(c->pid, SIGTERM);
		} else {
			finished(c, st);
		}
	}
}

/*
 * At floodgate's stop: the notify programs still running are given
 * STOP_WAIT_MS more (a message's submission takes far less), then
 * ended as at their timeout, SIGTERM and, STOP_TERM_MS later, SIGKILL.
 * Nothing of theirs outlives floodgate, whatever supervises it (the
 * systemd unit's KillMode=mixed leaves this to floodgate). Their output
 * is read meanwhile: one that writes on must not block on its pipe.
 * One killed and not gone (forget()) is not waited for: it is said, and
 * left to the system.
 */
void
fg_notify_stop(void)
{
	const char *why = "still running at floodgate's stop";
	int64_t t0 = fg_mono_us(), told = 0;
	size_t run, not_gone;
	int i, st, left;

	fg_notify_counts(&run, &not_gone);
	if (run > 0)
		fg_log_info("notify: %zu program%s running; the stop waits up to %d s for %s",
		    run, run == 1 ? "" : "s", STOP_WAIT_MS / 1000,
		    run == 1 ? "it" : "them");
	for (;;) {
		int64_t now = fg_mono_us();

		left = 0;
		for (i = 0; i < MAX_CHILDREN; i++) {
			struct child *c = &children[i];
			int still;

			if (c->pid == 0 || c->killed != 0)
				continue;
			drain(c);
			still = running(c, &st);
			if (told != 0 && (!still ||
			    now - told >= STOP_TERM_MS * 1000))
				put_down(c, still, why);
			else if (!still)
				finished(c, st);
			else
				left++;
		}
		if (left == 0)
			break;
		if (told == 0 && now - t0 >= STOP_WAIT_MS * 1000) {
			told = now;
			for (i = 0; i < MAX_CHILDREN; i++)
				if (children[i].pid != 0 && children[i].killed == 0)
					fg_kill_group(children[i].pid, SIGTERM);
			continue;
		}
		usleep(20000);
	}
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid != 0 && !reaped(&children[i]))
			fg_log_err("notify: %s: killed, still not gone; left to the system at floodgate's exit",
			    children[i].target);
}

void
fg_notify_counts(size_t *running, size_t *not_gone)
{
	size_t i;

	*running = *not_gone = 0;
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid != 0)
			++*(children[i].killed != 0 ? not_gone : running);
}

void
fg_notify_failures(uint64_t out[FG_NOTIFY_FAIL_KINDS])
{
	memcpy(out, failures, sizeof(failures));
}
