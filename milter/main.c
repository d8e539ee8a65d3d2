/*
 * floodgate: the daemon. Reads the config, creates the milter socket,
 * drops privileges, opens the store, starts the service thread and the
 * milter engine, and waits for SIGTERM.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "pfcheck.h"
#include "shared.h"
#include "sockowner.h"
#include "util.h"

struct fg_daemon fgd = { .cfg_lock = PTHREAD_MUTEX_INITIALIZER,
    .found_lock = PTHREAD_MUTEX_INITIALIZER };

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
	fg_blocks_load(fgd.engine.blocks, su, ns, pa, np);
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
static void found_update(const struct fg_config *c);

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

static void
die(const char *fmt, ...)
{
	char msg[FG_ERRLEN * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fg_log_err("%s", msg);
	fgd_notify("STATUS=not started: %s", msg);
	exit(1);
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

/*
 * What only the running system can tell of a configuration: a notify
 * whose program is not there, and account uid, which needs the
 * kernel's answer, said at once when it cannot be had, not at the
 * first SMTP client.
 */
static void
system_warnings(const struct fg_config *c,
    void (*say)(void *, int, const char *), void *arg)
{
	char msg[PATH_MAX + 256];
	struct stat st;
	size_t i;

	/* A notify whose program is not there: its incidents would be
	 * lost unseen, each logged only when it comes. */
	for (i = 0; i < c->nnotify; i++) {
		const struct fg_notify *n = &c->notify[i];
		const char *prog = n->mailto ? c->sendmail_path : n->what;
		int gone = stat(prog, &st) < 0;

		if (!gone && S_ISREG(st.st_mode) && (st.st_mode & 0111))
			continue;
		snprintf(msg, sizeof(msg), "notify %s: %s %s: %s; the incidents told to it would be lost",
		    n->target, n->mailto ? "sendmail_path" : "program", prog,
		    gone ? strerror(errno) : "not an executable file");
		say(arg, n->line, msg);
	}
	if (!fg_account_uses(c, FG_SRC_UID) || fg_sockowner_probe() == 0)
		return;
	snprintf(msg, sizeof(msg), "account uid: cannot ask the kernel whose a client's socket is (netlink sock_diag: %s): the next source counts every SMTP client",
	    strerror(errno));
	say(arg, fg_config_line(c, "account"), msg);
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
	found_update(nc);
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

/* floodgate -n: the password file must be there, and should be root's
 * alone (a warning, as at start). */
static int
check_password_file(const struct fg_config *c)
{
	char msg[512];
	struct stat st;

	if (c->store == NULL || c->redis_password_file == NULL)
		return 0;
	if (stat(c->redis_password_file, &st) < 0) {
		fprintf(stderr, "%s:%d: redis_password_file %s: %s\n",
		    fgd.cfg_path, fg_config_line(c, "redis_password_file"),
		    c->redis_password_file, strerror(errno));
		return 1;
	}
	if (fg_shared_password_open(c->redis_password_file, st.st_mode, msg,
	    sizeof(msg)))
		warn_stderr((void *)fgd.cfg_path,
		    fg_config_line(c, "redis_password_file"), msg);
	return 0;
}

/* What a command writes on its standard output (its stderr to
 * /dev/null), NUL-terminated, in a buffer to free; NULL, with why,
 * when it cannot be run or fails. */
static char *
output_of(char *const argv[], char *why, size_t whylen)
{
	posix_spawn_file_actions_t fa;
	char *out = NULL;
	size_t len = 0, cap = 0;
	int p[2], rc, st = -1, full = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return NULL;
	}
	if ((rc = posix_spawn_file_actions_init(&fa)) == 0) {
		if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
		    O_RDONLY, 0)) == 0 &&
		    (rc = posix_spawn_file_actions_adddup2(&fa, p[1], 1)) == 0 &&
		    (rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
		    O_WRONLY, 0)) == 0)
			rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv,
			    environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		snprintf(why, whylen, "cannot run it: %s", strerror(rc));
		return NULL;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *o = realloc(out, cap = cap ? cap * 2 : 4096);

			if (o == NULL) {
				full = 1;
				break;
			}
			out = o;
		}
		if ((n = read(p[0], out + len, cap - len - 1)) > 0)
			len += (size_t)n;
		else if (n == 0 || errno != EINTR)
			break;
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (full || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (full)
			snprintf(why, whylen, "it wrote more than floodgate could hold");
		else if (WIFEXITED(st))
			snprintf(why, whylen, "exit %d (run it to see why)",
			    WEXITSTATUS(st));
		else
			snprintf(why, whylen, "it did not exit (status %d)", st);
		free(out);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

/*
 * With mta postfix, what Postfix's own settings let past floodgate
 * (pfcheck.h), as warnings (warn_stderr for floodgate -n, warn_log at
 * start). postconf answers for the postfix_config directory; a Postfix
 * that is not on this host (no main.cf there) is not asked.
 */
static void
check_postfix(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	char main_cf[PATH_MAX], why[256], found[16][FG_PF_TEXT];
	char msg[FG_PF_TEXT + PATH_MAX + 64];
	char *vals, *master = NULL, *services = NULL, *line[13] = { NULL }, *p;
	char *ask[] = { "postconf", "-c", c->postfix_config, "-x", "-h",
	    "milter_default_action", "non_smtpd_milters", "smtpd_milters",
	    "queue_directory", "smtpd_milter_maps", "receive_override_options",
	    "smtpd_sasl_auth_enable", "inet_interfaces", "content_filter",
	    "cleanup_service_name", "forward_path", "mydestination",
	    "local_transport", NULL };
	char *askp[] = { "postconf", "-c", c->postfix_config, "-x", "-P",
	    NULL };
	char *askm[] = { "postconf", "-c", c->postfix_config, "-x", "-M",
	    NULL };
	struct fg_pf_conf pf;
	size_t i, n;

	snprintf(main_cf, sizeof(main_cf), "%s/main.cf", c->postfix_config);
	if (access(main_cf, F_OK) < 0)
		return;
	if ((vals = output_of(ask, why, sizeof(why))) == NULL ||
	    (master = output_of(askp, why, sizeof(why))) == NULL ||
	    (services = output_of(askm, why, sizeof(why))) == NULL) {
		snprintf(msg, sizeof(msg), "Postfix's settings not checked: postconf -c %s: %s",
		    c->postfix_config, why);
		say(arg, 0, msg);
		free(vals);
		free(master);
		return;
	}
	/* One value a line, as asked. */
	for (p = vals, i = 0; i < sizeof(line) / sizeof(line[0]) && p != NULL;
	    i++) {
		line[i] = p;
		if ((p = strchr(p, '\n')) != NULL)
			*p++ = '\0';
	}
	pf = (struct fg_pf_conf){ line[0], line[1], line[2], master, line[3],
	    line[4], c->listen, line[5], services, line[6], line[7],
	    line[8], line[9], line[10], line[11], line[12],
	    fg_account_uses(c, FG_SRC_UID) };
	n = fg_pf_check(&pf, found, sizeof(found) / sizeof(found[0]));
	for (i = 0; i < n; i++) {
		snprintf(msg, sizeof(msg), "Postfix (%s): %s",
		    c->postfix_config, found[i]);
		say(arg, 0, msg);
	}
	free(vals);
	free(master);
	free(services);
}

#define SM_CF_MAX	(8u << 20)	/* more is not a sendmail.cf */

/*
 * With mta sendmail, the same of Sendmail's settings, read from
 * sendmail_config (the sendmail.cf Sendmail reads); none there, no
 * Sendmail on this host to ask.
 */
static void
check_sendmail(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	char found[16][FG_PF_TEXT], msg[FG_PF_TEXT + PATH_MAX + 64], *cf = NULL;
	struct stat st = { 0 };
	size_t i, n, len = 0;
	FILE *fp;

	if ((fp = fopen(c->sendmail_config, "re")) == NULL) {
		if (errno != ENOENT) {
			snprintf(msg, sizeof(msg), "Sendmail's settings not checked: %s: %s",
			    c->sendmail_config, strerror(errno));
			say(arg, 0, msg);
		}
		return;
	}
	if (fstat(fileno(fp), &st) < 0 || st.st_size > (off_t)SM_CF_MAX ||
	    (cf = malloc((size_t)st.st_size + 1)) == NULL ||
	    (len = fread(cf, 1, (size_t)st.st_size, fp)) != (size_t)st.st_size) {
		snprintf(msg, sizeof(msg), "Sendmail's settings not checked: %s: %s",
		    c->sendmail_config, st.st_size > (off_t)SM_CF_MAX ?
		    "larger than 8 MiB" : "cannot read it");
		say(arg, 0, msg);
		fclose(fp);
		free(cf);
		return;
	}
	fclose(fp);
	cf[len] = '\0';
	n = fg_sm_check(cf, c->listen, fg_account_uses(c, FG_SRC_UID), found,
	    sizeof(found) / sizeof(found[0]));
	for (i = 0; i < n; i++) {
		snprintf(msg, sizeof(msg), "Sendmail (%s): %s",
		    c->sendmail_config, found[i]);
		say(arg, 0, msg);
	}
	free(cf);
}

/* What the MTA's own settings let past floodgate, Postfix's or
 * Sendmail's as mta says. */
static void
check_mta(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	if (c->mta_sendmail)
		check_sendmail(c, say, arg);
	else
		check_postfix(c, say, arg);
}

/* What floodgate -n, the start and each reload say of what lies around
 * a configuration: the system's warnings, then the MTA's settings. */
static void
around_warnings(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	system_warnings(c, say, arg);
	check_mta(c, say, arg);
}

/* What found_update() gathers: each line logged, and kept. */
struct found_lines {
	const char *path;
	FILE *fp;
};

static void
found_keep(void *arg, int line, const char *msg)
{
	struct found_lines *k = arg;

	warn_log((void *)k->path, line, msg);
	if (k->fp == NULL)
		return;
	if (line > 0)
		fprintf(k->fp, "%s:%d: %s\n", k->path, line, msg);
	else
		fprintf(k->fp, "%s\n", msg);
}

/*
 * At start and at each reload: the system's warnings and the MTA's
 * settings looked at again, logged, and kept for status in place of the
 * last ones (the MTA's settings may have changed since).
 */
static void
found_update(const struct fg_config *c)
{
	struct found_lines k = { fgd.cfg_path, NULL };
	char *buf = NULL, *old;
	size_t len = 0;

	k.fp = open_memstream(&buf, &len);
	around_warnings(c, found_keep, &k);
	if (k.fp == NULL || fclose(k.fp) != 0 || len == 0) {
		free(buf);
		buf = NULL;
	}
	pthread_mutex_lock(&fgd.found_lock);
	old = fgd.found;
	fgd.found = buf;
	pthread_mutex_unlock(&fgd.found_lock);
	free(old);
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
		if (check_password_file(fgd.cfg))
			return 1;
		fg_config_print(fgd.cfg, stdout);
		fg_config_warnings(fgd.cfg, warn_stderr, (void *)cfg_path);
		around_warnings(fgd.cfg, warn_stderr, (void *)cfg_path);
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
		if (fgd.cfg->postfix_map != NULL &&
		    fg_smap_listen(FG_SMAP_POSTFIX, fgd.cfg->postfix_map, lerr,
		    sizeof(lerr)) < 0)
			die("postfix_map %s", lerr);
		if (fgd.cfg->sendmail_map != NULL &&
		    fg_smap_listen(FG_SMAP_SENDMAIL, fgd.cfg->sendmail_map,
		    lerr, sizeof(lerr)) < 0)
			die("sendmail_map %s", lerr);
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
	fg_log_notice("floodgate %s started: listen=%s engine=%s database=%s rules=%zu entries_loaded=%zu mode=%s",
	    FG_VERSION, fgd.cfg->listen, fgd.milter->name, fgd.cfg->database,
	    fgd.cfg->nrule, loaded, fgd.cfg->monitor ? "monitor" : "enforce");
	fg_config_warnings(fgd.cfg, warn_log, (void *)cfg_path);
	found_update(fgd.cfg);
	rc = 0;
	serving_status(fgd.cfg);	/* before a reload may replace fgd.cfg */
	engine_rc = fgd.milter->start(&fgd.session_env, pthread_self());
	if (engine_rc == 0)
		fgd_notify("READY=1\nSTATUS=%s", serving);
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
	/* The shared store first: reserves in flight are answered, from
	 * memory, while the engine still runs. */
	fg_shared_stop();
	fgd.milter->stop();
	fg_service_stop();
	fg_store_close(fgd.store);
	fg_log_notice("floodgate stopped");
	fg_limiter_free(fgd.engine.limiter);
	fg_stats_free(fgd.engine.stats);
	fg_blocks_free(fgd.engine.blocks);
	fg_table_free(fgd.table);
	fg_config_unref(fgd.cfg);
	return rc;
}
