/*
 * What lies around floodgate: what only the running system can tell of
 * a configuration (a notify program that is not there, the kernel's
 * answer for account uid) and what the MTA's own settings let past
 * floodgate (Postfix's through postconf, Sendmail's sendmail.cf). Said
 * at once by floodgate -n. At a start and at each reload a thread of
 * its own looks, logs and keeps what it found for floodgatectl status:
 * neither the milter's start nor the service thread (flushes, the
 * control socket, the watchdog's beat) waits for postconf.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "follow.h"
#include "log.h"
#include "pfcheck.h"
#include "run.h"
#include "sockowner.h"
#include "util.h"

#define OUTPUT_SECONDS	5	/* a postconf may take, then is killed */
#define SM_CF_MAX	(8u << 20)	/* more is not a sendmail.cf */

/*
 * The looking thread's state, under lock: the newest configuration to
 * look around with (a reload during a look asks for one more, not one
 * a reload), and what the last look found, a line each as logged.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	int started;
	struct fg_config *want;
	int busy;		/* a look asked for or under way */
	char *found;		/* NULL: nothing */
	atomic_int stop;
} look = { .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER, .busy = 1 /* the start's */ };

/* "user NAME" (or "uid N"): the user this process runs as, floodgate's
 * at a start and in floodgate -n's look. */
static void
whoami(char *buf, size_t len)
{
	struct passwd pw, *found = NULL;
	char pwbuf[1024];

	if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &found) == 0 &&
	    found != NULL)
		snprintf(buf, len, "user %s", pw.pw_name);
	else
		snprintf(buf, len, "uid %u", (unsigned)geteuid());
}

/*
 * What floodgate's user must be allowed to do with path (access(2)'s
 * mode): when it may not, says at line "WHAT: user NAME cannot VERB
 * (why): THEN". Only a refusal is said: a path that is not there yet
 * may be made by systemd (StateDirectory=, RuntimeDirectory=) at the
 * start, and the start says what it lacks then.
 */
static void
need(const char *path, int mode, const char *what, const char *verb,
    const char *then, int line,
    void (*say)(void *, int, const char *), void *arg)
{
	char msg[2 * PATH_MAX + 256], who[96];
	int e;

	if (access(path, mode) == 0 ||
	    ((e = errno) != EACCES && e != EPERM && e != EROFS))
		return;
	whoami(who, sizeof(who));
	snprintf(msg, sizeof(msg), "%s%s%s cannot %s (%s): %s",
	    what != NULL ? what : "", what != NULL ? ": " : "", who, verb,
	    strerror(e), then);
	say(arg, line, msg);
}

/* The directory of path ("." for a bare name), in buf. */
static const char *
dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ".";
	if (slash == path)
		return "/";
	snprintf(buf, len, "%.*s", (int)(slash - path), path);
	return buf;
}

/*
 * floodgate -n's look as floodgate's user at what a start needs of it
 * and does not find until then: the database and its directory written
 * (or floodgate does not start), the control socket made in its
 * directory, the delivery log read.
 */
void
fg_around_start_needs(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	char buf[PATH_MAX], what[PATH_MAX + 32], verb[PATH_MAX + 64];
	const char *dir = dir_of(c->database, buf, sizeof(buf));

	snprintf(what, sizeof(what), "database %s", c->database);
	snprintf(verb, sizeof(verb), "write its directory %s", dir);
	need(dir, W_OK | X_OK, what, verb, "floodgate would not start",
	    fg_config_line(c, "database"), say, arg);
	need(c->database, R_OK | W_OK, what, "write it",
	    "floodgate would not start", fg_config_line(c, "database"), say,
	    arg);
	if (c->control != NULL) {
		dir = dir_of(c->control, buf, sizeof(buf));
		snprintf(what, sizeof(what), "control %s", c->control);
		snprintf(verb, sizeof(verb), "make the socket in %s", dir);
		need(dir, W_OK | X_OK, what, verb,
		    "floodgatectl would reach the database only",
		    fg_config_line(c, "control"), say, arg);
	}
	if (c->delivery_log != NULL && strcmp(c->delivery_log, "journal") != 0) {
		snprintf(what, sizeof(what), "delivery_log %s", c->delivery_log);
		need(c->delivery_log, R_OK, what, "read it",
		    "no delivery feedback until it can",
		    fg_config_line(c, "delivery_log"), say, arg);
	}
}

/*
 * The journal files (NAME.journal) in dir and, depth levels down, its
 * directories: *found set if there is one, and the first this process
 * may not read (or dir itself) in unread.
 */
static void
journal_files(const char *dir, int depth, char *unread, size_t len,
    int *found)
{
	char path[PATH_MAX];
	struct dirent *e;
	struct stat st;
	size_t n;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		if (errno == EACCES && unread[0] == '\0') {
			*found = 1;
			fg_strlcpy(unread, dir, len);
		}
		return;
	}
	while ((e = readdir(d)) != NULL && unread[0] == '\0') {
		if (e->d_name[0] == '.' || (size_t)snprintf(path, sizeof(path),
		    "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		n = strlen(e->d_name);
		if (n > 8 && strcmp(e->d_name + n - 8, ".journal") == 0) {
			*found = 1;
			if (access(path, R_OK) < 0 &&
			    (errno == EACCES || errno == EPERM))
				fg_strlcpy(unread, path, len);
		} else if (depth > 0 && stat(path, &st) == 0 &&
		    S_ISDIR(st.st_mode))
			journal_files(path, depth - 1, unread, len, found);
	}
	closedir(d);
}

/*
 * delivery_log journal: sd_journal_open() run by a user outside groups
 * systemd-journal and adm opens only the files that user may read,
 * and none is no error: the system journal's are root's and those
 * groups' (0640), so floodgate would follow an empty journal and get
 * no delivery feedback, unsaid. No journal file at all (no journald
 * here) is said too.
 */
static void
journal_check(const struct fg_config *c,
    void (*say)(void *, int, const char *), void *arg)
{
	const char *src = c->delivery_log, *dir;
	char msg[2 * PATH_MAX + 256], what[PATH_MAX + 32],
	    verb[PATH_MAX + 16], unread[PATH_MAX] = "";
	uint64_t bytes;
	int rc, found = 0, line = fg_config_line(c, "delivery_log");

	if (src == NULL || strncmp(src, "journal", 7) != 0)
		return;
	if ((rc = fg_follow_journal_usage(src, &bytes)) < 0) {
		snprintf(msg, sizeof(msg), "delivery_log %s: cannot open the journal (%s): no delivery feedback until it can",
		    src, strerror(-rc));
		say(arg, line, msg);
		return;
	}
	if (bytes > 0)
		return;
	dir = src[7] == ':' ? src + 8 : NULL;
	if (dir != NULL)
		journal_files(dir, 1, unread, sizeof(unread), &found);
	else {
		journal_files("/run/log/journal", 1, unread, sizeof(unread),
		    &found);
		journal_files("/var/log/journal", 1, unread, sizeof(unread),
		    &found);
	}
	if (unread[0] != '\0') {
		snprintf(what, sizeof(what), "delivery_log %s", src);
		snprintf(verb, sizeof(verb), "read %s", unread);
		need(unread, R_OK, what, verb,
		    "no delivery feedback until it can; add the user to group systemd-journal (or adm)",
		    line, say, arg);
	} else if (!found) {
		snprintf(msg, sizeof(msg), "delivery_log %s: no journal file in %s: no delivery feedback until there is one%s",
		    src, dir != NULL ? dir : "/run/log/journal or /var/log/journal",
		    dir != NULL ? "" : " (is systemd-journald running?)");
		say(arg, line, msg);
	}
}

/*
 * What only the running system can tell of a configuration: a notify
 * whose program is not there, a journal floodgate's user cannot read,
 * and account uid, which needs the kernel's answer, said at once when
 * it cannot be had, not at the first SMTP client.
 */
static void
system_warnings(const struct fg_config *c,
    void (*say)(void *, int, const char *), void *arg)
{
	char msg[3 * PATH_MAX + 256];
	struct stat st;
	size_t i;

	/* A notify whose program is not there: its incidents would be
	 * lost unseen, each logged only when it comes. */
	for (i = 0; i < c->nnotify; i++) {
		const struct fg_notify *n = &c->notify[i];
		const char *prog = n->mailto ? c->sendmail_path : n->what;
		char why[PATH_MAX + 128], submit[PATH_MAX];

		if (stat(prog, &st) < 0)
			fg_strlcpy(why, strerror(errno), sizeof(why));
		else if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
			fg_strlcpy(why, "not an executable file", sizeof(why));
		else if (access(prog, X_OK) < 0) {
			char who[96];
			int e = errno;

			whoami(who, sizeof(who));
			snprintf(why, sizeof(why), "%s cannot run it (%s)", who,
			    strerror(e));
		} else if (n->mailto && c->mta_sendmail &&
		    fg_submit_cf(c, submit, sizeof(submit)) != NULL &&
		    access(submit, R_OK) < 0)
			/* Sendmail's submission program reads the submit.cf
			 * beside another sendmail_config. */
			snprintf(why, sizeof(why), "its submission program's configuration %s: %s",
			    submit, strerror(errno));
		else
			continue;
		snprintf(msg, sizeof(msg), "notify %s: %s %s: %s; the incidents told to it would be lost",
		    n->target, n->mailto ? "sendmail_path" : "program", prog,
		    why);
		say(arg, n->line, msg);
	}
	/* A daemon that reads what any client sends keeps root only when
	 * told to (user root). Without a user statement the look runs as
	 * this process: root here is a start or reload as root, or -n as
	 * root. */
	if (c->user == NULL && geteuid() == 0)
		say(arg, 0, "no user statement, and floodgate runs as root: it keeps root while it reads what every SMTP client sends; name an unprivileged user (user floodgate, as the sample configuration does; the systemd unit starts floodgate as that user)");
	/* Read as root at a start (but under systemd's User=), as
	 * floodgate's user at each reload. */
	need(c->path, R_OK, NULL, "read it",
	    "every reload (SIGUSR1, floodgatectl reload) would fail and keep the running configuration",
	    0, say, arg);
	if (c->account_map != NULL) {
		char what[PATH_MAX + 32];

		snprintf(what, sizeof(what), "account_map %s", c->account_map);
		need(c->account_map, R_OK, what, "read it",
		    "every reload would fail and keep the running configuration",
		    fg_config_line(c, "account_map"), say, arg);
	}
	journal_check(c, say, arg);
	if (!fg_account_uses(c, FG_SRC_UID) || fg_sockowner_probe() == 0)
		return;
	snprintf(msg, sizeof(msg), "account uid: cannot ask the kernel whose a client's socket is (netlink sock_diag: %s): the next source counts every SMTP client",
	    strerror(errno));
	say(arg, fg_config_line(c, "account"), msg);
}

/* A look cut short by floodgate's stop. */
static int
look_stopping(void)
{
	return atomic_load(&look.stop);
}

/* What a command writes on its standard output (its stderr to
 * /dev/null), NUL-terminated, in a buffer to free; NULL, with why,
 * when it cannot be run, fails, or takes more than OUTPUT_SECONDS (a
 * postconf stuck on a hung file system: killed, said). */
static char *
output_of(char *const argv[], char *why, size_t whylen)
{
	struct fg_run r;

	if (fg_run(argv, FG_RUN_OUT, fg_mono_us() + OUTPUT_SECONDS *
	    1000000LL, look_stopping, &r) < 0)
		snprintf(why, whylen, "%s", r.how);
	else if (r.late == 2)
		snprintf(why, whylen, "stopped with floodgate");
	else if (r.late)
		snprintf(why, whylen, "it did not answer in %d s (killed)",
		    OUTPUT_SECONDS);
	else if (r.full)
		snprintf(why, whylen, "it wrote more than floodgate could hold");
	else if (r.status > 0)
		snprintf(why, whylen, "exit %d (run it to see why)", r.status);
	else if (r.status < 0)
		snprintf(why, whylen, "it did not exit (%s)", r.how);
	else if (r.out != NULL || (r.out = fg_strdup("")) != NULL)
		return r.out;
	else
		snprintf(why, whylen, "out of memory");
	free(r.out);
	return NULL;
}

/* The first mailto: target (NULL when there is none). */
static const struct fg_notify *
first_mailto(const struct fg_config *c)
{
	size_t i;

	for (i = 0; i < c->nnotify; i++)
		if (c->notify[i].mailto)
			return &c->notify[i];
	return NULL;
}

/* Whether this process runs with no_new_privs (systemd's
 * NoNewPrivileges=, which a unit's sandboxing with User= implies): a
 * set-group-ID program it starts keeps floodgate's group. */
static int
no_new_privs(void)
{
	return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
}

/* Whether sendmail_path is the MTA's own command, whose ways the two
 * checks below know (another program queues its own way). */
static int
default_sendmail(const struct fg_config *c)
{
	return strcmp(c->sendmail_path, FG_DEFAULT_SENDMAIL) == 0;
}

/*
 * Whether Postfix's sendmail can queue floodgate's notifications: its
 * postdrop writes queue_directory's maildrop, as group postdrop by its
 * set-group-ID, which no_new_privs ignores; a read-only mount of it (a
 * unit's ProtectSystem=strict) stops even root. Seen: "postdrop:
 * warning: mail_queue_enter: create file maildrop/...: Read-only file
 * system", retried every 10 s until the notify program's 30 s ran out.
 */
static void
check_maildrop(const struct fg_config *c, const char *queue_dir,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	const struct fg_notify *n = first_mailto(c);
	char dir[PATH_MAX], who[96], msg[3 * PATH_MAX + 512];
	int e;

	if (n == NULL || queue_dir == NULL || queue_dir[0] != '/' ||
	    !default_sendmail(c))
		return;
	snprintf(dir, sizeof(dir), "%s/maildrop", queue_dir);
	if (access(dir, W_OK | X_OK) == 0)
		return;
	if ((e = errno) == EROFS)
		snprintf(msg, sizeof(msg), "notify %s: Postfix's maildrop %s is read-only here (systemd's ProtectSystem=strict without ReadWritePaths=%s): postdrop cannot queue the notifications, which would be lost",
		    n->target, dir, dir);
	else if ((e == EACCES || e == EPERM) && no_new_privs()) {
		whoami(who, sizeof(who));
		snprintf(msg, sizeof(msg), "notify %s: %s cannot write Postfix's maildrop %s (%s), and postdrop's set-group-ID is ignored under no_new_privs (systemd's NoNewPrivileges=, implied by the unit's sandboxing): the notifications would be lost; give floodgate the group postdrop (SupplementaryGroups=postdrop)",
		    n->target, who, dir, strerror(e));
	} else
		return;
	say(arg, n->line, msg);
}

/*
 * Whether Sendmail's submission program can queue floodgate's
 * notifications: with the default sendmail_config it runs as group
 * smmsp by its set-group-ID, which no_new_privs ignores, and refuses to
 * run without that group ID (seen: "can not write to queue directory
 * ... (RunAsGid=..., required=...)"; as a supplementary group too).
 */
static void
check_msp(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	const struct fg_notify *n = first_mailto(c);
	struct group gr, *found = NULL;
	char buf[4096], submit[PATH_MAX], msg[512];

	if (n == NULL || geteuid() == 0 || !no_new_privs() ||
	    !default_sendmail(c) ||
	    fg_submit_cf(c, submit, sizeof(submit)) != NULL ||
	    getgrnam_r("smmsp", &gr, buf, sizeof(buf), &found) != 0 ||
	    found == NULL || getegid() == gr.gr_gid)
		return;
	snprintf(msg, sizeof(msg), "notify %s: Sendmail's submission program runs only with group smmsp as its group ID, which its set-group-ID cannot give it under no_new_privs (systemd's NoNewPrivileges=, implied by the unit's sandboxing): the notifications would be lost; run floodgate with Group=smmsp, or use an exec: target",
	    n->target);
	say(arg, n->line, msg);
}

/*
 * With mta postfix, what Postfix's own settings let past floodgate
 * (pfcheck.h), as warnings. postconf answers for the postfix_config
 * directory; a Postfix that is not on this host (no main.cf there) is
 * not asked.
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
	if (access(main_cf, F_OK) < 0) {
		/* None at the default: no Postfix on this host to ask. One
		 * named is meant to be there (a typo, an instance not made
		 * yet): release and mailto: would each fail on it. */
		if (fg_config_line(c, "postfix_config") > 0) {
			snprintf(msg, sizeof(msg), "postfix_config %s: no main.cf there (%s): floodgatectl release cannot give held mail back (postsuper -c), nor a mailto: notification be queued (sendmail -C); Postfix's settings not checked",
			    c->postfix_config, strerror(errno));
			say(arg, fg_config_line(c, "postfix_config"), msg);
		}
		return;
	}
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
	check_maildrop(c, line[3], say, arg);
	free(vals);
	free(master);
	free(services);
}

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
		} else if (fg_config_line(c, "sendmail_config") > 0) {
			/* As postfix_config's: one named is meant to be. */
			snprintf(msg, sizeof(msg), "sendmail_config %s: no such file: floodgatectl release cannot give held mail back (sendmail -C); Sendmail's settings not checked",
			    c->sendmail_config);
			say(arg, fg_config_line(c, "sendmail_config"), msg);
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
	if (c->mta_sendmail) {
		check_sendmail(c, say, arg);
		check_msp(c, say, arg);
	} else
		check_postfix(c, say, arg);
}

/* What floodgate -n, the start and each reload say of what lies around
 * a configuration: the system's warnings, then the MTA's settings. */
void
fg_around_warnings(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	system_warnings(c, say, arg);
	check_mta(c, say, arg);
}

/* What a look gathers: each line logged, and kept. */
struct found_lines {
	const char *path;
	FILE *fp;
};

static void
found_keep(void *arg, int line, const char *msg)
{
	struct found_lines *k = arg;

	if (atomic_load(&look.stop))
		return;		/* a look cut short by a stop: not said */
	if (line > 0)
		fg_log_warn("%s:%d: %s", k->path, line, msg);
	else
		fg_log_warn("%s: %s", k->path, msg);
	if (k->fp == NULL)
		return;
	if (line > 0)
		fprintf(k->fp, "%s:%d: %s\n", k->path, line, msg);
	else
		fprintf(k->fp, "%s\n", msg);
}

/* One look with c: logged, and kept in place of the last one's (the
 * MTA's settings may have changed since). */
static void
look_once(const struct fg_config *c)
{
	struct found_lines k = { c->path, NULL };
	char *buf = NULL, *old;
	size_t len = 0;

	k.fp = open_memstream(&buf, &len);
	fg_around_warnings(c, found_keep, &k);
	if (k.fp == NULL || fclose(k.fp) != 0 || len == 0) {
		free(buf);
		buf = NULL;
	}
	pthread_mutex_lock(&look.lock);
	if (atomic_load(&look.stop)) {	/* after fg_around_stop(): dropped */
		old = buf;
	} else {
		old = look.found;
		look.found = buf;
	}
	look.busy = look.want != NULL;
	pthread_mutex_unlock(&look.lock);
	free(old);
}

static void *
run(void *arg)
{
	struct fg_config *c;

	(void)arg;
	pthread_mutex_lock(&look.lock);
	for (;;) {
		while (look.want == NULL && !atomic_load(&look.stop))
			pthread_cond_wait(&look.wake, &look.lock);
		if (atomic_load(&look.stop))
			break;
		c = look.want;
		look.want = NULL;
		pthread_mutex_unlock(&look.lock);
		look_once(c);
		fg_config_unref(c);
		pthread_mutex_lock(&look.lock);
	}
	pthread_mutex_unlock(&look.lock);
	return NULL;
}

int
fg_around_start(void)
{
	if (pthread_create(&look.thread, NULL, run, NULL) != 0)
		return -1;
	look.started = 1;
	return 0;
}

void
fg_around_look(struct fg_config *c)
{
	struct fg_config *older;

	if (atomic_load(&look.stop))
		return;		/* stopping: no more looks */
	if (!look.started) {	/* no thread: here, and waited for */
		look_once(c);
		return;
	}
	pthread_mutex_lock(&look.lock);
	if (atomic_load(&look.stop)) {
		pthread_mutex_unlock(&look.lock);
		return;
	}
	older = look.want;
	look.want = fg_config_ref(c);
	look.busy = 1;
	pthread_cond_signal(&look.wake);
	pthread_mutex_unlock(&look.lock);
	fg_config_unref(older);
}

/* At a stop, before the service thread's: a reload meanwhile asks for
 * no look. */
void
fg_around_stop(void)
{
	struct fg_config *c;
	char *found;

	pthread_mutex_lock(&look.lock);
	atomic_store(&look.stop, 1);
	pthread_cond_signal(&look.wake);
	pthread_mutex_unlock(&look.lock);
	if (look.started)
		pthread_join(look.thread, NULL);
	pthread_mutex_lock(&look.lock);
	c = look.want;
	look.want = NULL;
	found = look.found;
	look.found = NULL;
	pthread_mutex_unlock(&look.lock);
	fg_config_unref(c);
	free(found);
}

int
fg_around_busy(void)
{
	int busy;

	pthread_mutex_lock(&look.lock);
	busy = look.busy;
	pthread_mutex_unlock(&look.lock);
	return busy;
}

char *
fg_around_found(int *busy)
{
	char *copy = NULL;

	pthread_mutex_lock(&look.lock);
	if (look.found != NULL)
		copy = strdup(look.found);
	*busy = look.busy;
	pthread_mutex_unlock(&look.lock);
	return copy;
}
