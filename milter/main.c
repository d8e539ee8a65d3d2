/*
 * floodgate: the daemon. Reads the config, creates the milter socket,
 * drops privileges, opens the store, starts the service thread and the
 * milter engine, and waits for SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "net.h"
#include "shared.h"
#include "sockowner.h"
#include "util.h"

struct fg_daemon fgd = { .cfg_lock = PTHREAD_MUTEX_INITIALIZER };

/* What the milter session may use of the daemon (session.h). */
static struct fg_config *
env_config(void *arg)
{
	(void)arg;
	return fgd_config();
}

static int
env_store_ok(void *arg)
{
	(void)arg;
	return atomic_load(&fgd.store_ok);
}

static void
env_held(void *arg, const struct fg_held_row *h)
{
	(void)arg;
	fg_service_held(h);
}

static void usage(int status) __attribute__((noreturn));
static void die(const char *fmt, ...) FG_PRINTF(1, 2) __attribute__((noreturn));

static void
env_charged(void *arg, const char *qid, const char *account)
{
	(void)arg;
	fg_feedback_charged(qid, account, (uint32_t)time(NULL));
}

/*
 * SIGHUP reloads, as SIGUSR1 does: it is turned into a SIGUSR1 to the
 * process, which the service thread takes. None of floodgate's threads
 * blocks it (SA_NODEFER: not even while in here), so the kernel hands it
 * to the main thread, the one kill(2) with the process ID names, or to
 * another of floodgate's, rather than to a thread that waits for it:
 * libmilter's signal thread waits for SIGHUP to stop the milter.
 */
static void
on_hup(int sig)
{
	int saved = errno;

	(void)sig;
	(void)kill(getpid(), SIGUSR1);
	errno = saved;
}

/* Suspensions and pauses survive a restart: in force before the first
 * recipient. */
static void
load_blocks(void)
{
	struct fg_suspension *su;
	struct fg_pause *pa;
	size_t ns, np;
	char err[FG_ERRLEN];

	if (fg_store_blocks_load(fgd.store, &su, &ns, &pa, &np, err,
	    sizeof(err)) < 0)
		die("database %s: cannot load suspensions and pauses: %s",
		    fgd.cfg->database, err);
	if (fg_blocks_load(fgd.engine.blocks, su, ns, pa, np) < 0)
		die("database %s: cannot load suspensions and pauses: out of memory",
		    fgd.cfg->database);
	if (ns + np > 0)
		fg_log_notice("loaded %zu suspended accounts and %zu pause records",
		    ns, np);
	free(su);
	free(pa);
}

static void print_errors(const char *errs);
static void daemonize(void);
static void drop_privileges(const struct passwd *pw);
static void raise_fd_limit(void);
static int check_password_file(const struct fg_config *c);

/* Asked for (-h): on stdout, exit 0; a wrong command line: stderr, 2. */
static void
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: floodgate [-f] [-d] [-c FILE]   run the milter\n"
	    "       floodgate -n [-c FILE]          check FILE, print the resolved rules\n"
	    "       floodgate -V|--version          print the version\n"
	    "       floodgate -h|--help             print this\n"
	    "  -c FILE  configuration (default %s)\n"
	    "  -f       stay in the foreground and log to stderr (for systemd)\n"
	    "  -d       also log debug messages\n", FG_DEFAULT_CONFIG);
	exit(status);
}

/*
 * The UNIX sockets this start made (the milter's, the socket maps'). A
 * start that fails after making them removes them: nothing would serve
 * them, and an operator looking for a running floodgate would find them.
 * Each only while its path still holds the socket made here.
 */
static struct {
	char path[FG_UNIX_PATH_MAX + 1];
	dev_t dev;
	ino_t ino;
} made[3];
static size_t nmade;

static void
made_socket(const char *spec)
{
	const char *path = fg_net_unix_spec(spec);
	struct stat st;

	if (path == NULL || nmade == sizeof(made) / sizeof(made[0]) ||
	    strlen(path) >= sizeof(made[0].path) || lstat(path, &st) < 0)
		return;
	fg_strlcpy(made[nmade].path, path, sizeof(made[nmade].path));
	made[nmade].dev = st.st_dev;
	made[nmade].ino = st.st_ino;
	nmade++;
}

static void
remove_made_sockets(void)
{
	struct stat st;
	size_t i;

	for (i = 0; i < nmade; i++)
		if (lstat(made[i].path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    st.st_dev == made[i].dev && st.st_ino == made[i].ino)
			(void)unlink(made[i].path);
	nmade = 0;
}

static void
die(const char *fmt, ...)
{
	char msg[FG_ERRLEN * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	remove_made_sockets();
	fg_log_err("%s", msg);
	fgd_notify("STATUS=not started: %s", msg);
	exit(1);
}

/*
 * One floodgate to a database. A second on the same file (a copy of the
 * configuration for another MTA instance that kept its database line)
 * would load the same windows and each count part of every budget, the
 * last write winning. An advisory lock on the file, held until exit
 * (flock: SQLite's own locks are fcntl's, and apart); a floodgate that
 * is stopping holds it for its last write, which is waited for. Taken
 * again when the file at the path is another (a corrupt one set aside).
 */
#define DB_LOCK_WAIT_MS	5000
static int db_lock = -1;

void
fgd_lock_database(const char *path)
{
	struct stat held, now;
	int fd, waited = 0;

	if (db_lock >= 0) {
		if (fstat(db_lock, &held) == 0 && stat(path, &now) == 0 &&
		    held.st_dev == now.st_dev && held.st_ino == now.st_ino)
			return;
		close(db_lock);
		db_lock = -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;		/* not made yet: once the store has */
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			fg_log_warn("database %s: cannot lock it (%s): a second floodgate on it would not be refused",
			    path, strerror(errno));
			close(fd);
			return;
		}
		if (waited >= DB_LOCK_WAIT_MS)
			die("database %s: another floodgate uses it (it holds the file's lock), and two would each count part of every budget: stop that one, or give this one a database of its own",
			    path);
		if (waited == 0)
			fg_log_notice("database %s: another floodgate holds it; waiting up to %d s for it to stop",
			    path, DB_LOCK_WAIT_MS / 1000);
		usleep(100 * 1000);
		waited += 100;
	}
	db_lock = fd;
}

void
fgd_socket_placed(const char *path, const char *what, const char *lost,
    struct fgd_placed *pl, int (*serve)(int fd, void *arg), void *arg)
{
	char err[FG_ERRLEN];
	struct stat st;
	int fd;

	if (lstat(path, &st) == 0) {
		/* The first look finds the socket made at start. */
		if (!pl->known || (st.st_dev == pl->dev && st.st_ino == pl->ino)) {
			pl->known = 1;
			pl->dev = st.st_dev;
			pl->ino = st.st_ino;
			pl->replaced = 0;
		} else if (!pl->replaced) {
			fg_log_err("%s %s is another file now (replaced while floodgate ran): left alone; %s until that file is removed (floodgate then makes its socket again) or floodgate restarts",
			    what, path, lost);
			pl->replaced = 1;
		}
		return;
	}
	if (errno != ENOENT)
		return;
	if ((fd = fg_net_listen_unix(path, err, sizeof(err))) >= 0 &&
	    serve(fd, arg) < 0) {
		(void)unlink(path);	/* gone again: tried again */
		fg_seterr(err, sizeof(err), "%s: cannot listen (out of memory)",
		    path);
		fd = -1;
	}
	if (fd < 0) {
		if (strcmp(err, pl->said) != 0)
			fg_log_err("%s %s was removed while floodgate ran and cannot be made again: %s; %s (tried again every second)",
			    what, path, err, lost);
		fg_strlcpy(pl->said, err, sizeof(pl->said));
		return;
	}
	pl->said[0] = '\0';
	pl->known = lstat(path, &st) == 0;
	if (pl->known) {
		pl->dev = st.st_dev;
		pl->ino = st.st_ino;
	}
	pl->replaced = 0;
	fg_log_warn("%s %s was removed while floodgate ran: made again", what,
	    path);
}

/*
 * Tell systemd (Type=notify) how floodgate stands: READY=1 once the MTA
 * is served, RELOADING=1 and READY=1 around a reload, STOPPING=1, and a
 * STATUS= line that `systemctl status` shows. Nothing without
 * NOTIFY_SOCKET (not started by systemd; detached, floodgate drops it:
 * systemd listens to the process it started only).
 */
void
fgd_notify(const char *fmt, ...)
{
	char msg[FG_ERRLEN * 2];
	va_list ap;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)sd_notify(0, msg);
}

static void
print_errors(const char *errs)
{
	const char *p = errs, *nl;

	for (; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl == NULL) {
			fg_log_err("%s", p);
			break;
		}
		fg_log_err("%.*s", (int)(nl - p), p);
	}
}

/* A configuration's warnings (fg_config_warnings): to the log, or with
 * floodgate -n to stderr; arg is the file's path. */
static void
warn_log(void *arg, int line, const char *msg)
{
	if (line > 0)
		fg_log_warn("%s:%d: %s", (const char *)arg, line, msg);
	else
		fg_log_warn("%s: %s", (const char *)arg, msg);
}

static void
warn_stderr(void *arg, int line, const char *msg)
{
	if (line > 0)
		fprintf(stderr, "%s:%d: warning: %s\n", (const char *)arg, line,
		    msg);
	else
		fprintf(stderr, "%s: warning: %s\n", (const char *)arg, msg);
}

struct fg_config *
fgd_config(void)
{
	struct fg_config *c;

	pthread_mutex_lock(&fgd.cfg_lock);
	c = fg_config_ref(fgd.cfg);
	pthread_mutex_unlock(&fgd.cfg_lock);
	return c;
}

/* What `systemctl status` says while floodgate serves the MTA. */
static char serving[FG_ERRLEN];

static void
serving_status(const struct fg_config *c)
{
	snprintf(serving, sizeof(serving), "serving %s: %zu rules, mode %s, engine %s",
	    c->listen, c->nrule, c->monitor ? "monitor" : "enforce",
	    fgd.milter->name);
}

/*
 * Build the new config aside and swap it in; transactions in flight keep
 * theirs. Window state is keyed by rule name, so renamed rules start
 * afresh and the others keep their counts.
 */
int
fgd_reload(void)
{
	char *err = malloc(FG_CONFIG_ERRLEN);
	struct fg_config *nc, *old;
	char restart[256];

	if (err == NULL)
		return -1;
	fgd_notify("RELOADING=1");
	nc = fg_config_load(fgd.cfg_path, err, FG_CONFIG_ERRLEN);
	if (nc == NULL) {
		print_errors(err);
		fg_log_err("reload: %s has errors; keeping the running configuration",
		    fgd.cfg_path);
		fgd_notify("READY=1\nSTATUS=%s; the last reload failed: %s has errors (see the log)",
		    serving, fgd.cfg_path);
		free(err);
		return -1;
	}
	free(err);
	/* old has the values the daemon started with of what a reload
	 * does not apply: the file's differ until a restart, and each
	 * reload says so again. */
	old = fgd.cfg;
	fg_config_restart_changes(old, nc, restart, sizeof(restart));
	if (fg_config_keep_start(nc, old) < 0) {
		fg_config_unref(nc);
		fg_log_err("reload: %s: out of memory; keeping the running configuration",
		    fgd.cfg_path);
		fgd_notify("READY=1\nSTATUS=%s; the last reload failed: out of memory",
		    serving);
		return -1;
	}
	fg_strlcpy(fgd.restart_pending, restart, sizeof(fgd.restart_pending));
	if (nc->store != NULL)
		fg_shared_set_timeout(nc->redis_timeout);
	if (restart[0] != '\0')
		fg_log_warn("reload: %s changed: takes effect at the next restart",
		    restart);
	pthread_mutex_lock(&fgd.cfg_lock);
	fgd.cfg = nc;
	pthread_mutex_unlock(&fgd.cfg_lock);
	atomic_fetch_add(&fgd.reloads, 1);
	fg_user_names_forget();	/* a user renamed: seen from now on */
	fg_log_notice("reload: %s loaded: %zu rules, %zu account map entries, mode %s",
	    nc->path, nc->nrule, nc->nmap, nc->monitor ? "monitor" : "enforce");
	fg_config_warnings(nc, warn_log, (void *)fgd.cfg_path);
	fg_around_look(nc);
	serving_status(nc);
	fgd_notify("READY=1\nSTATUS=%s", serving);
	fg_config_unref(old);
	return 0;
}

static void
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	setsid();
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		die("chdir /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static void
drop_privileges(const struct passwd *pw)
{
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 ||
	    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		die("cannot become user %s: %s", pw->pw_name, strerror(errno));
	if (setuid(0) == 0)
		die("dropped to %s but could regain root", pw->pw_name);
}

/*
 * floodgate -n as root looks around as floodgate's user, as a start
 * does once it has dropped to it: a notify program, a sendmail.cf, the
 * file itself or its account map that user cannot run or read is said
 * as the start or a reload would say it, and what the start needs of
 * it (the database, the control socket's directory, the delivery log).
 * In a child, which drops privileges for good (unless floodgate runs
 * as that user already, when the start does not change user either):
 * it becomes the user first and says so (a start that could not would
 * fail, and so does -n, before it prints the file as OK), then waits
 * for the parent's own output to be out before it says its own.
 */
struct around_child {
	pid_t pid;		/* 0: the look is this process's own */
	int fd;			/* the socket to the child */
};

static void
say_around(const struct fg_config *c, const char *path)
{
	fg_around_warnings(c, warn_stderr, (void *)path);
	fg_around_start_needs(c, warn_stderr, (void *)path);
}

static int
around_child_start(const struct fg_config *c, const char *path,
    struct around_child *ch)
{
	struct passwd *pw;
	char b = 0;
	int sv[2], st;

	ch->pid = 0;
	ch->fd = -1;
	if (geteuid() != 0 || c->user == NULL ||
	    (pw = getpwnam(c->user)) == NULL || getuid() == pw->pw_uid)
		return 0;
	fflush(stdout);
	fflush(stderr);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "%s: warning: cannot look around as user %s (socketpair: %s): looking as root\n",
		    path, c->user, strerror(errno));
		return 0;
	}
	if ((ch->pid = fork()) < 0) {
		fprintf(stderr, "%s: warning: cannot look around as user %s (fork: %s): looking as root\n",
		    path, c->user, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		ch->pid = 0;
		return 0;
	}
	if (ch->pid == 0) {
		close(sv[0]);
		drop_privileges(pw);
		if (send(sv[1], "u", 1, MSG_NOSIGNAL) == 1 &&
		    read(sv[1], &b, 1) == 1)
			say_around(c, path);
		fflush(stderr);
		_exit(0);
	}
	close(sv[1]);
	ch->fd = sv[0];
	while (read(ch->fd, &b, 1) < 0 && errno == EINTR)
		;
	if (b == 'u')
		return 0;
	close(ch->fd);
	while (waitpid(ch->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		fprintf(stderr, "%s: warning: the look around floodgate as user %s ended on signal %d before it began: looking as root\n",
		    path, c->user, WTERMSIG(st));
		ch->pid = 0;
		return 0;
	}
	fprintf(stderr, "%s:%d: user %s: floodgate cannot become that user (said above): it would not start\n",
	    path, fg_config_line(c, "user"), c->user);
	return -1;
}

static void
around_child_finish(const struct fg_config *c, const char *path,
    struct around_child *ch)
{
	int st;

	if (ch->pid == 0) {
		say_around(c, path);
		return;
	}
	fflush(stdout);
	fflush(stderr);
	(void)send(ch->fd, "g", 1, MSG_NOSIGNAL);
	while (waitpid(ch->pid, &st, 0) < 0 && errno == EINTR)
		;
	close(ch->fd);
	if (WIFSIGNALED(st))
		fprintf(stderr, "%s: warning: the look around floodgate as user %s ended on signal %d: its warnings may be cut short\n",
		    path, c->user, WTERMSIG(st));
}

/* floodgate -n: the password file must read as the start reads it, and
 * should be root's alone (a warning, as at start). */
static int
check_password_file(const struct fg_config *c)
{
	char msg[512], pass[FG_REDIS_PASSWORD_MAX + 1], err[FG_ERRLEN];
	mode_t mode;

	if (c->store == NULL || c->redis_password_file == NULL)
		return 0;
	if (fg_shared_password_read(c->redis_password_file, pass,
	    sizeof(pass), &mode, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s:%d: %s\n", fgd.cfg_path,
		    fg_config_line(c, "redis_password_file"), err);
		return 1;
	}
	explicit_bzero(pass, sizeof(pass));
	if (fg_shared_password_open(c->redis_password_file, mode, msg,
	    sizeof(msg)))
		warn_stderr((void *)fgd.cfg_path,
		    fg_config_line(c, "redis_password_file"), msg);
	return 0;
}

/* One descriptor per MTA connection: let the hard limit decide. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

int
main(int argc, char **argv)
{
	const char *cfg_path = FG_DEFAULT_CONFIG;
	int ch, foreground = 0, check = 0, debug = 0;
	char *err;
	size_t loaded = 0;
	struct passwd *pw = NULL;
	struct around_child child;
	char uerr[FG_ERRLEN];
	struct sigaction sa;
	sigset_t set;
	int rc, engine_rc, sig = 0;

	while ((ch = getopt_long(argc, argv, "c:dfnVh", long_opts, NULL)) != -1) {
		switch (ch) {
		case 'c': cfg_path = optarg; break;
		case 'd': debug = 1; break;
		case 'f': foreground = 1; break;
		case 'n': check = 1; break;
		case 'V': printf("floodgate %s\n", FG_VERSION); return 0;
		case 'h': usage(0);
		default: usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	fg_log_open("floodgate", 1);
	fg_log_set_debug(debug);
	if ((err = malloc(FG_CONFIG_ERRLEN)) == NULL)
		return 1;
	fgd.cfg_path = cfg_path;
	fgd.cfg = fg_config_load(cfg_path, err, FG_CONFIG_ERRLEN);
	if (fgd.cfg == NULL) {
		if (check)
			fprintf(stderr, "%s\n", err);
		else
			print_errors(err);
		fprintf(stderr, "floodgate: %s: configuration has errors, not starting\n",
		    cfg_path);
		free(err);
		return 1;
	}
	free(err);
	if (check) {
		/* What this host lacks first: a file that names a missing
		 * user or password file is not printed as OK. */
		if (fgd.cfg->user != NULL && getpwnam(fgd.cfg->user) == NULL) {
			fprintf(stderr, "%s:%d: user \"%s\": no such user\n",
			    cfg_path, fg_config_line(fgd.cfg, "user"),
			    fgd.cfg->user);
			return 1;
		}
		if (fg_feedback_users(fgd.cfg->log_users, uerr, sizeof(uerr)) < 0) {
			fprintf(stderr, "%s:%d: %s\n", cfg_path,
			    fg_config_line(fgd.cfg, "delivery_log_users"), uerr);
			return 1;
		}
		if (check_password_file(fgd.cfg) ||
		    around_child_start(fgd.cfg, cfg_path, &child) < 0)
			return 1;
		fg_config_print(fgd.cfg, stdout);
		fg_config_warnings(fgd.cfg, warn_stderr, (void *)cfg_path);
		around_child_finish(fgd.cfg, cfg_path, &child);
		return 0;
	}
	if (fgd.cfg->user != NULL && (pw = getpwnam(fgd.cfg->user)) == NULL)
		die("%s:%d: user \"%s\": no such user", cfg_path,
		    fg_config_line(fgd.cfg, "user"), fgd.cfg->user);
	if (fg_feedback_users(fgd.cfg->log_users, uerr, sizeof(uerr)) < 0)
		die("%s:%d: %s", cfg_path,
		    fg_config_line(fgd.cfg, "delivery_log_users"), uerr);

	{
		char lerr[FG_ERRLEN];

		/* Made with its final mode before privileges are dropped (a
		 * port may be privileged); never changed by path later. */
		fgd.milter = fgd.cfg->engine_libmilter ? &fg_engine_libmilter :
		    &fg_engine_native;
		if (fgd.milter->listen(fgd.cfg->listen, lerr, sizeof(lerr)) < 0)
			die("listen %s", lerr);
		made_socket(fgd.cfg->listen);
		if (fgd.cfg->postfix_map != NULL) {
			if (fg_smap_listen(FG_SMAP_POSTFIX, fgd.cfg->postfix_map,
			    lerr, sizeof(lerr)) < 0)
				die("postfix_map %s", lerr);
			made_socket(fgd.cfg->postfix_map);
		}
		if (fgd.cfg->sendmail_map != NULL) {
			if (fg_smap_listen(FG_SMAP_SENDMAIL, fgd.cfg->sendmail_map,
			    lerr, sizeof(lerr)) < 0)
				die("sendmail_map %s", lerr);
			made_socket(fgd.cfg->sendmail_map);
		}
	}
	raise_fd_limit();
	if (!foreground) {
		fg_log_open("floodgate", 0);
		daemonize();
		unsetenv("NOTIFY_SOCKET");
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
	}
	{
		char rerr[FG_ERRLEN];

		if (fg_shared_prepare(fgd.cfg, rerr, sizeof(rerr)) < 0)
			die("%s:%d: %s", cfg_path,
			    fg_config_line(fgd.cfg, "redis_password_file"), rerr);
	}
	if (pw != NULL && getuid() != pw->pw_uid)
		drop_privileges(pw);
	umask(027);

	fgd.table = fg_table_new();
	fgd.engine.limiter = fg_limiter_new(fgd.table);
	fgd.engine.stats = fg_stats_new();
	fgd.engine.blocks = fg_blocks_new();
	if (fgd.table == NULL || fgd.engine.limiter == NULL ||
	    fgd.engine.stats == NULL || fgd.engine.blocks == NULL)
		die("out of memory");
	{
		char serr[FG_ERRLEN];

		fgd_notify("STATUS=loading %s", fgd.cfg->database);
		fgd_lock_database(fgd.cfg->database);
		/* A corrupt file must not keep mail from flowing: keep it
		 * aside for the operator and start with fresh counts. */
		if (fg_store_probe(fgd.cfg->database, serr, sizeof(serr)) ==
		    FG_STORE_CORRUPT) {
			char aside[4200];

			if (fg_store_set_aside(fgd.cfg->database,
			    (uint32_t)time(NULL), aside, sizeof(aside)) < 0)
				die("database %s is corrupt (%s) and cannot be moved aside: %s",
				    fgd.cfg->database, serr, strerror(errno));
			fg_log_err("database %s is corrupt (%s): kept aside as %s; starting with fresh state, every window empty",
			    fgd.cfg->database, serr, aside);
		}
		fgd.store = fg_store_open(fgd.cfg->database, 0, serr, sizeof(serr));
		if (fgd.store == NULL)
			die("database %s: %s", fgd.cfg->database, serr);
		fgd_lock_database(fgd.cfg->database);
		if (fg_store_load(fgd.store, fgd.table, (uint32_t)time(NULL),
		    &loaded, serr, sizeof(serr)) < 0)
			die("database %s: cannot load state: %s",
			    fgd.cfg->database, serr);
		load_blocks();
	}
	atomic_store(&fgd.store_ok, 1);

	/* Before any thread starts: this thread takes SIGTERM and SIGINT,
	 * the service thread SIGUSR1 (reload); SIGHUP's handler makes it
	 * a SIGUSR1 (on_hup). */
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (fgd.cfg->store != NULL) {
		char rerr[FG_ERRLEN];

		fg_shared_shadow(fgd.engine.limiter);
		if (fgd.store != NULL) {
			char name[512], e[64];

			fg_shared_mark_name(fgd.cfg, "epoch", name, sizeof(name));
			if (fg_store_mark_get(fgd.store, name, e, sizeof(e)) == 1)
				fg_shared_seed_epoch(e);
			fg_shared_mark_name(fgd.cfg, "at", name, sizeof(name));
			if (fg_store_mark_get(fgd.store, name, e, sizeof(e)) == 1)
				fg_shared_seed_tick(e);
			fg_shared_load_pending(fgd.store, fgd.cfg);
		}
		if (fg_shared_start(fgd.cfg, fgd.milter->loop ?
		    fgd.milter->loop() : NULL, rerr, sizeof(rerr)) < 0)
			die("%s", rerr);
		fgd.engine.shared_end = fg_shared_settle;
		fgd.engine.shared_reserve = fg_shared_reserve_now;
		fg_blocks_journal(fgd.engine.blocks, 1);
	}
	if (fgd.store != NULL)
		fg_shared_pending_elsewhere(fgd.store, fgd.cfg,
		    (uint32_t)time(NULL));
	fgd.started = time(NULL);
	fgd.session_env.engine = &fgd.engine;
	fgd.session_env.config = env_config;
	fgd.session_env.store_ok = env_store_ok;
	fgd.session_env.held = env_held;
	if (fgd.cfg->delivery_log != NULL)
		fgd.session_env.charged = env_charged;
	{
		uint64_t us;

		/* With -f under systemd: WATCHDOG_USEC, for this process. */
		if (sd_watchdog_enabled(0, &us) > 0)
			fgd.watchdog_us = us;
	}
	if (fg_service_start() < 0)
		die("cannot start the service thread");
	fg_config_warnings(fgd.cfg, warn_log, (void *)cfg_path);
	if (fg_around_start() < 0)
		fg_log_err("cannot start the thread that looks at the MTA's settings: looking here, before serving");
	fg_around_look(fgd.cfg);
	rc = 0;
	serving_status(fgd.cfg);	/* before a reload may replace fgd.cfg */
	engine_rc = fgd.milter->start(&fgd.session_env, pthread_self());
	if (engine_rc == 0) {
		/* Said once it serves: a start that fails never says it. */
		fg_log_notice("floodgate %s started: listen=%s engine=%s database=%s rules=%zu entries_loaded=%zu mode=%s",
		    FG_VERSION, fgd.cfg->listen, fgd.milter->name,
		    fgd.cfg->database, fgd.cfg->nrule, loaded,
		    fgd.cfg->monitor ? "monitor" : "enforce");
		fgd_notify("READY=1\nSTATUS=%s", serving);
	}
	/* This thread is done with fgd.cfg and serving until the service
	 * thread has stopped: a reload may replace them from now on. */
	atomic_store(&fgd.up, 1);
	if (engine_rc < 0) {
		fg_log_err("cannot start the milter engine");
		fgd_notify("STATUS=not started: cannot start the milter engine");
		rc = 1;
	} else {
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		while (sigwait(&set, &sig) != 0 || (sig != SIGTERM &&
		    sig != SIGINT))
			;
		fg_log_notice("stopping on %s", sig == SIGTERM ? "SIGTERM" :
		    "SIGINT");
		fgd_notify("STOPPING=1\nSTATUS=stopping on %s",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	}
	fg_around_stop();	/* a postconf under way is killed */
	/* The shared store first: reserves in flight are answered, from
	 * memory, while the engine still runs. */
	fg_shared_stop();
	fgd.milter->stop();
	fg_service_stop();
	/* libmilter leaves its socket where it ran as root, or where its
	 * listener failed; the native engine and the maps removed theirs. */
	remove_made_sockets();
	fg_store_close(fgd.store);
	fg_log_notice("floodgate stopped");
	fg_limiter_free(fgd.engine.limiter);
	fg_stats_free(fgd.engine.stats);
	fg_blocks_free(fgd.engine.blocks);
	fg_table_free(fgd.table);
	fg_config_unref(fgd.cfg);
	return rc;
}
