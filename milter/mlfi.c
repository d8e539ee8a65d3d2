/*
 * The libmilter engine (`engine libmilter`): the same sessions as the
 * native engine, behind Sendmail's reference implementation of the
 * milter protocol. Each callback reads what libmilter has, calls one
 * session function and turns its answer into libmilter's; nothing is
 * decided here. libmilter runs a thread per MTA connection (or a pool)
 * and its own signal thread, which stops it on SIGHUP, SIGTERM and SIGINT
 * (floodgate's own threads take all three first: see main.c, on_hup).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmilter/mfapi.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon.h"
#include "log.h"
#include "net.h"
#include "util.h"

/* libmilter's default too: an MTA keeps its connection for a session. */
#define IDLE_TIMEOUT	7210

/* Callbacks run in libmilter's threads; stop waits for those in flight
 * and turns the later ones away, so that nothing touches the engine
 * once the daemon frees it. */
static pthread_rwlock_t gate = PTHREAD_RWLOCK_INITIALIZER;
static int closed;

/*
 * libmilter's listener looks for a stop request only between select()s
 * of 5 s. Whoever stops it (floodgate's main thread with smfi_stop, or
 * libmilter's own signal thread on SIGHUP, SIGTERM or SIGINT), a watcher
 * then interrupts that select with SIGUSR2 so that the stop takes
 * milliseconds. mi_stop() is libmilter's, exported but not in mfapi.h:
 * without it only floodgate's own stop is seen.
 */
#define WATCH_MS	50
extern int mi_stop(void) __attribute__((weak));

static const struct fg_session_env *env;
static pthread_t thread, watcher, main_thread;
static int running;
static atomic_int finished;
static atomic_int stopping;
static atomic_size_t nconns;
static atomic_ulong next_id;
static atomic_int capped;
/* The MTA's socket as configured: made at the listen, read by the
 * service thread's check each second, freed at the stop (under the
 * lock: the check still runs while the engine stops). */
static char *spec;
static pthread_mutex_t spec_lock = PTHREAD_MUTEX_INITIALIZER;

static sfsistat on_negotiate(SMFICTX *, unsigned long, unsigned long,
    unsigned long, unsigned long, unsigned long *, unsigned long *,
    unsigned long *, unsigned long *);
static sfsistat on_connect(SMFICTX *, char *, _SOCK_ADDR *);
static sfsistat on_envfrom(SMFICTX *, char **);
static sfsistat on_envrcpt(SMFICTX *, char **);
static sfsistat on_data(SMFICTX *);
static sfsistat on_eom(SMFICTX *);
static sfsistat on_abort(SMFICTX *);
static sfsistat on_close(SMFICTX *);
static sfsistat step(SMFICTX *ctx, char cmd, const char *arg);
static void connection_ended(void);

static struct smfiDesc desc = {
	.xxfi_name = "floodgate",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST,
	.xxfi_connect = on_connect,
	.xxfi_envfrom = on_envfrom,
	.xxfi_envrcpt = on_envrcpt,
	.xxfi_eom = on_eom,
	.xxfi_abort = on_abort,
	.xxfi_close = on_close,
	.xxfi_data = on_data,
	.xxfi_negotiate = on_negotiate,
};

/* Enter a callback: 0 with the gate held and *s the connection's
 * session (NULL before negotiation), -1 once the engine is stopped. */
static int
enter(SMFICTX *ctx, struct fg_session **s)
{
	pthread_rwlock_rdlock(&gate);
	if (closed) {
		pthread_rwlock_unlock(&gate);
		return -1;
	}
	*s = smfi_getpriv(ctx);
	return 0;
}

static void
leave(void)
{
	pthread_rwlock_unlock(&gate);
}

/* The macros a step sees, from libmilter's copy of them. */
static void
macros(SMFICTX *ctx, struct fg_macros *m)
{
	int i;

	for (i = 0; i < FG_MAC_N; i++)
		m->v[i] = smfi_getsymval(ctx, (char *)fg_mp_macro_name(i));
}

/* The session's answer in libmilter's terms. */
static sfsistat
reply(SMFICTX *ctx, const struct fg_session *s, char cmd,
    const struct fg_answer *a)
{
	char text[FG_REPLY_MAX * 2 + 1];

	if (fg_session_noreply(s, cmd))
		return SMFIS_NOREPLY;
	switch (a->code) {
	case FG_MR_ACCEPT:
		return SMFIS_ACCEPT;
	case FG_MR_TEMPFAIL:
	case FG_MR_REJECT:
		if (a->rcode[0] != '\0') {
			fg_mp_reply_text(a->text, text, sizeof(text));
			if (smfi_setreply(ctx, (char *)a->rcode,
			    (char *)a->xcode, text) != MI_SUCCESS)
				fg_log_warn("session=%s: libmilter refused the reply \"%s %s %s\"",
				    fg_session_id(s), a->rcode, a->xcode, text);
		}
		return a->code == FG_MR_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
	default:
		return SMFIS_CONTINUE;
	}
}

/*
 * The first callback of a connection: its session is made here, and
 * asks for what the native engine asks for (fg_session_negotiate).
 * Over max_connections the connection is refused: libmilter closes it
 * and the MTA applies milter_default_action.
 */
static sfsistat
on_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct fg_mp_optneg mta = { FG_MP_VERSION, (uint32_t)f0, (uint32_t)f1 };
	struct fg_mp_optneg mine;
	const char *lists[FG_MP_NSTAGES];
	struct fg_config *cfg;
	struct fg_session *s;
	uint32_t max;
	int i;

	(void)f2;
	(void)f3;
	if (enter(ctx, &s) < 0)
		return SMFIS_REJECT;
	if (s != NULL) {
		/* Negotiated again on a connection the MTA reuses. */
		smfi_setpriv(ctx, NULL);
		fg_session_free(s);
		atomic_fetch_sub(&nconns, 1);
	}
	cfg = env->config(env->arg);
	max = cfg->max_connections;
	fg_config_unref(cfg);
	if (atomic_load(&nconns) >= max) {
		if (!atomic_exchange(&capped, 1))
			fg_log_warn("engine: max_connections %u reached; libmilter closes new MTA connections (the MTA applies milter_default_action) (logged once until the count is back under 90%%)",
			    max);
		leave();
		return SMFIS_REJECT;
	}
	if ((s = fg_session_new(env, atomic_fetch_add(&next_id, 1) + 1)) == NULL) {
		leave();
		return SMFIS_REJECT;
	}
	atomic_fetch_add(&nconns, 1);
	smfi_setpriv(ctx, s);
	fg_session_negotiate(s, &mta, &mine, lists);
	*pf0 = mine.actions;
	*pf1 = mine.protocol;
	*pf2 = *pf3 = 0;
	for (i = 0; i < FG_MP_NSTAGES; i++)
		if (lists[i] != NULL &&
		    smfi_setsymlist(ctx, i, (char *)lists[i]) != MI_SUCCESS)
			fg_log_warn("session=%s: libmilter refused the macro list for stage %d",
			    fg_session_id(s), i);
	leave();
	return SMFIS_CONTINUE;
}

/*
 * Every command after the negotiation: enter the gate, get the session
 * (tempfail when there is none: the MTA did not negotiate), call the one
 * session function for the command, write its answer. arg is the
 * address of MAIL and RCPT, the client's address text of CONNECT.
 */
static sfsistat
step(SMFICTX *ctx, char cmd, const char *arg)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m;
	sfsistat r;

	if (enter(ctx, &s) < 0)
		return cmd == FG_MC_ABORT || cmd == FG_MC_QUIT ? SMFIS_CONTINUE :
		    SMFIS_TEMPFAIL;
	if (s == NULL) {
		leave();
		return SMFIS_TEMPFAIL;
	}
	memset(&a, 0, sizeof(a));
	a.code = FG_MR_CONTINUE;
	if (cmd == FG_MC_MAIL || cmd == FG_MC_RCPT || cmd == FG_MC_DATA ||
	    cmd == FG_MC_EOM)
		macros(ctx, &m);
	switch (cmd) {
	case FG_MC_CONNECT:
		fg_session_connect(s, arg);
		break;
	case FG_MC_MAIL:
		fg_session_mail(s, arg, &m, &a);
		break;
	case FG_MC_RCPT:
		fg_session_rcpt(s, arg, &m, &a);
		break;
	case FG_MC_DATA:
		fg_session_data(s, &m, &a);
		break;
	case FG_MC_EOM:
		fg_session_eom(s, &m, &a);
		if (a.header[0] != '\0' &&
		    smfi_addheader(ctx, "X-Floodgate", a.header) != MI_SUCCESS)
			fg_log_warn("session=%s: libmilter could not add the X-Floodgate header",
			    fg_session_id(s));
		if (a.quarantine[0] != '\0' &&
		    smfi_quarantine(ctx, a.quarantine) != MI_SUCCESS) {
			fg_log_err("session=%s: libmilter could not quarantine the message; deferring it",
			    fg_session_id(s));
			a.code = FG_MR_TEMPFAIL;
			fg_strlcpy(a.rcode, "451", sizeof(a.rcode));
			fg_strlcpy(a.xcode, "4.7.1", sizeof(a.xcode));
			fg_strlcpy(a.text, "floodgate: over limit, try again later",
			    sizeof(a.text));
		}
		break;
	case FG_MC_ABORT:
		fg_session_abort(s);
		leave();
		return SMFIS_CONTINUE;
	case FG_MC_QUIT:
		/* The connection is gone: what its transaction reserved goes
		 * back. */
		smfi_setpriv(ctx, NULL);
		fg_session_free(s);
		connection_ended();
		leave();
		return SMFIS_CONTINUE;
	}
	r = reply(ctx, s, cmd, &a);
	leave();
	return r;
}

/* Only when the MTA cannot send {client_addr} at MAIL. */
static sfsistat
on_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	char addr[FG_CLIENT_MAX + 1] = "";

	(void)host;
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr,
		    addr, sizeof(addr));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)sa)->sin6_addr,
		    addr, sizeof(addr));
	return step(ctx, FG_MC_CONNECT, addr);
}

static sfsistat
on_envfrom(SMFICTX *ctx, char **argv)
{
	return step(ctx, FG_MC_MAIL, argv != NULL ? argv[0] : NULL);
}

static sfsistat
on_envrcpt(SMFICTX *ctx, char **argv)
{
	return step(ctx, FG_MC_RCPT, argv != NULL ? argv[0] : NULL);
}

static sfsistat
on_data(SMFICTX *ctx)
{
	return step(ctx, FG_MC_DATA, NULL);
}

static sfsistat
on_eom(SMFICTX *ctx)
{
	return step(ctx, FG_MC_EOM, NULL);
}

static sfsistat
on_abort(SMFICTX *ctx)
{
	return step(ctx, FG_MC_ABORT, NULL);
}

static sfsistat
on_close(SMFICTX *ctx)
{
	return step(ctx, FG_MC_QUIT, NULL);
}

/* A connection ended: the end of a max_connections incident, once the
 * count is back under nine tenths of the cap. */
static void
connection_ended(void)
{
	struct fg_config *cfg;
	uint32_t max;

	atomic_fetch_sub(&nconns, 1);
	if (!atomic_load(&capped))
		return;
	cfg = env->config(env->arg);
	max = cfg->max_connections;
	fg_config_unref(cfg);
	if (atomic_load(&nconns) <= max - max / 10 - 1 &&
	    atomic_exchange(&capped, 0))
		fg_log_notice("engine: under max_connections again (%zu MTA connections)",
		    (size_t)atomic_load(&nconns));
}

static int
libmilter_listen(const char *where, char *err, size_t errlen)
{
	const char *path;
	mode_t old;
	int rc;

	if ((spec = fg_strdup(where)) == NULL) {
		fg_seterr(err, errlen, "%s: out of memory", where);
		return -1;
	}
	if (smfi_register(desc) != MI_SUCCESS ||
	    smfi_setconn(spec) != MI_SUCCESS ||
	    smfi_settimeout(IDLE_TIMEOUT) != MI_SUCCESS ||
	    smfi_setbacklog(SOMAXCONN) != MI_SUCCESS) {
		fg_seterr(err, errlen, "%s: libmilter refused the settings", where);
		return -1;
	}
	/* libmilter replaces an old socket, and only a socket, even one a
	 * floodgate running listens on: not that one. */
	if ((path = fg_net_unix_spec(where)) != NULL && fg_net_unix_live(path)) {
		fg_seterr(err, errlen, "%s: " FG_NET_LIVE, path);
		return -1;
	}
	/* The socket's mode comes from the umask as libmilter makes it
	 * (0660, the group from a set-group-ID directory). */
	old = umask(0117);
	rc = smfi_opensocket(true);
	umask(old);
	if (rc != MI_SUCCESS) {
		fg_seterr(err, errlen, "%s: libmilter could not make the socket (its reason is in syslog, facility mail)",
		    where);
		return -1;
	}
	return 0;
}

static void
on_kick(int sig)
{
	(void)sig;	/* only to interrupt the listener's select() */
}

static void *
watch(void *arg)
{
	struct timespec ts = { 0, WATCH_MS * 1000000L };

	(void)arg;
	while (!atomic_load(&finished)) {
		if (atomic_load(&stopping) || (mi_stop != NULL && mi_stop() != 0))
			pthread_kill(thread, SIGUSR2);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void *
run(void *arg)
{
	sigset_t set;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	(void)smfi_main();
	atomic_store(&finished, 1);
	/* libmilter stopped by itself (its signal thread took a signal
	 * before floodgate's main thread): the daemon stops too. */
	if (!atomic_load(&stopping)) {
		fg_log_notice("engine: libmilter stopped; stopping floodgate");
		pthread_kill(main_thread, SIGTERM);
	}
	return NULL;
}

static int
libmilter_start(const struct fg_session_env *e, pthread_t main_tid)
{
	struct sigaction sa;
	sigset_t set;

	env = e;
	main_thread = main_tid;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	/* Blocked here and in every thread but the listener. */
	if (sigaction(SIGUSR2, &sa, NULL) < 0 ||
	    pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
	    pthread_create(&thread, NULL, run, NULL) != 0)
		return -1;
	if (pthread_create(&watcher, NULL, watch, NULL) != 0) {
		smfi_stop();
		atomic_store(&stopping, 1);
		pthread_kill(thread, SIGUSR2);
		pthread_join(thread, NULL);
		return -1;
	}
	running = 1;
	return 0;
}

/*
 * smfi_stop; the watcher wakes the listener. Callbacks still running
 * finish first; later ones turn away (tempfail), and sessions still open
 * are left to the process's end.
 */
static void
libmilter_stop(void)
{
	atomic_store(&stopping, 1);
	pthread_rwlock_wrlock(&gate);
	closed = 1;
	pthread_rwlock_unlock(&gate);
	if (running) {
		smfi_stop();
		pthread_join(thread, NULL);
		pthread_join(watcher, NULL);
		running = 0;
	}
	pthread_mutex_lock(&spec_lock);
	free(spec);
	spec = NULL;
	pthread_mutex_unlock(&spec_lock);
}

static size_t
libmilter_connections(void)
{
	return atomic_load(&nconns);
}

/*
 * The MTA's socket removed while floodgate runs: libmilter listens on
 * it unseen, and cannot be given another; the MTA's milter_default_action
 * decides every message until a restart. Said once (the native engine
 * makes it again).
 */
static void
libmilter_check(void)
{
	static int said;
	char path[PATH_MAX] = "";
	const char *p;
	struct stat st;

	pthread_mutex_lock(&spec_lock);
	if (spec != NULL && (p = fg_net_unix_spec(spec)) != NULL)
		fg_strlcpy(path, p, sizeof(path));
	pthread_mutex_unlock(&spec_lock);
	if (path[0] == '\0' || lstat(path, &st) == 0 || errno != ENOENT) {
		said = 0;
		return;
	}
	if (!said++)
		fg_log_err("engine: the MTA's socket %s was removed while floodgate ran: the MTA cannot reach floodgate, its milter_default_action decides every message; engine libmilter cannot make it again: restart floodgate",
		    path);
}

const struct fg_milter_engine fg_engine_libmilter = {
	.name = "libmilter",
	.listen = libmilter_listen,
	.start = libmilter_start,
	.stop = libmilter_stop,
	.connections = libmilter_connections,
	.check = libmilter_check,
};
