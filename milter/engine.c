/*
 * The milter engine: accepts MTA connections and speaks the milter
 * protocol on one libevent loop in its own thread, instead of a thread
 * per connection. A read takes every packet the MTA
 * has sent (a macro packet and its command arrive together), a decision
 * is made on the spot (the policy never waits on I/O; the service thread
 * writes to SQLite) and the replies go out in one write.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define READ_CHUNK	16384
#define OUT_MAX		(256 * 1024)
/* libmilter's default: an MTA keeps its connection for a whole SMTP
 * session, and Postfix's own timeouts end a stuck one long before. */
#define IDLE_TIMEOUT	7210

struct conn {
	struct loop *loop;
	struct conn *prev, *next;
	int fd;
	struct event *rev, *wev;
	struct fg_session *s;
	struct fg_mp_macros mac;
	char *in;
	size_t inlen, incap;
	char *out;
	size_t outlen, outoff, outcap;
};

struct loop {
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *resume;		/* accepting again after EMFILE */
	const struct timeval *idle;
	struct conn *conns;
};

static struct loop loop;
static int running;		/* the loop's thread was started */
static int listen_fd = -1;
static char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static void on_accept(struct evconnlistener *, evutil_socket_t,
    struct sockaddr *, int, void *);
static void on_accept_error(struct evconnlistener *, void *);
static void on_resume(evutil_socket_t, short, void *);
static void on_read(evutil_socket_t, short, void *);
static void on_write(evutil_socket_t, short, void *);
static void conn_close(struct conn *c);
static int conn_process(struct conn *c);
static int conn_dispatch(struct conn *c, const struct fg_mp_packet *pkt);
static int conn_flush(struct conn *c);
static int room(struct conn *c, size_t need);
static int put(struct conn *c, char cmd, const void *data, size_t len);
static int put_answer(struct conn *c, const struct fg_answer *a);
static int listen_unix(const char *path, uid_t owner, char *err,
    size_t errlen);
static int listen_inet(const char *spec, int family, char *err,
    size_t errlen);

int
fg_engine_listen(const char *spec, uid_t owner, char *err, size_t errlen)
{
	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0)
		return listen_unix(strchr(spec, ':') + 1, owner, err, errlen);
	if (strncmp(spec, "inet:", 5) == 0)
		return listen_inet(spec + 5, AF_INET, err, errlen);
	if (strncmp(spec, "inet6:", 6) == 0)
		return listen_inet(spec + 6, AF_INET6, err, errlen);
	fg_seterr(err, errlen, "listen %s: expected unix:PATH or inet:PORT@HOST",
	    spec);
	return -1;
}

/* Mode 0660; the group comes from a set-group-ID directory (README). */
static int
listen_unix(const char *path, uid_t owner, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fg_seterr(err, errlen, "listen %s: path too long", path);
		return -1;
	}
	fg_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	/* A socket left by an earlier run is ours to replace; anything
	 * else at that path is not. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fg_seterr(err, errlen, "listen %s: exists and is not a socket",
			    path);
			return -1;
		}
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		fg_seterr(err, errlen, "listen %s: socket: %s", path,
		    strerror(errno));
		return -1;
	}
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fg_seterr(err, errlen, "listen %s: %s (does its directory exist?)",
		    path, strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0660) < 0 ||
	    (owner != (uid_t)-1 && chown(path, owner, (gid_t)-1) < 0) ||
	    listen(fd, SOMAXCONN) < 0) {
		fg_seterr(err, errlen, "listen %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	fg_strlcpy(unix_path, path, sizeof(unix_path));
	listen_fd = fd;
	return 0;
}

/* PORT@HOST or PORT (every address); HOST may be [v6]. */
static int
listen_inet(const char *spec, int family, char *err, size_t errlen)
{
	char port[16], host[256];
	const char *at = strchr(spec, '@');
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, one = 1, rc;
	size_t plen = at ? (size_t)(at - spec) : strlen(spec);

	if (plen == 0 || plen >= sizeof(port)) {
		fg_seterr(err, errlen, "listen inet:%s: expected PORT@HOST", spec);
		return -1;
	}
	memcpy(port, spec, plen);
	port[plen] = '\0';
	host[0] = '\0';
	if (at != NULL) {
		fg_strlcpy(host, at + 1, sizeof(host));
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0) {
		fg_seterr(err, errlen, "listen %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		fg_seterr(err, errlen, "listen %s: %s", spec, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	listen_fd = fd;
	return 0;
}

static void *
run(void *arg)
{
	struct loop *l = arg;

	event_base_dispatch(l->base);
	return NULL;
}

int
fg_engine_start(void)
{
	struct timeval idle = { IDLE_TIMEOUT, 0 };
	struct loop *l = &loop;

	evthread_use_pthreads();
	/*
	 * One loop. A decision is a few microseconds, so one core decides
	 * 80,000 recipients a second (make bench), far beyond what an MTA on
	 * the same machine submits; a loop per CPU only added wake-ups
	 * (every loop woke for every new MTA connection) and cost Postfix 5
	 * to 10 % of its throughput with a new session per message.
	 */
	if ((l->base = event_base_new()) == NULL ||
	    (l->listener = evconnlistener_new(l->base, on_accept, l,
	    LEV_OPT_CLOSE_ON_EXEC, 0, listen_fd)) == NULL ||
	    (l->resume = evtimer_new(l->base, on_resume, l)) == NULL ||
	    (l->idle = event_base_init_common_timeout(l->base, &idle)) == NULL)
		return -1;
	evconnlistener_set_error_cb(l->listener, on_accept_error);
	if (pthread_create(&l->thread, NULL, run, l) != 0)
		return -1;
	running = 1;
	return 0;
}

/* Closes every MTA connection: the MTA's milter_default_action covers
 * what was in flight, and no reservation outlives its connection. */
void
fg_engine_stop(void)
{
	struct loop *l = &loop;

	if (running) {
		event_base_loopbreak(l->base);
		pthread_join(l->thread, NULL);
		running = 0;
	}
	while (l->conns != NULL)
		conn_close(l->conns);
	if (l->listener != NULL)
		evconnlistener_free(l->listener);
	if (l->resume != NULL)
		event_free(l->resume);
	if (l->base != NULL)
		event_base_free(l->base);
	memset(l, 0, sizeof(*l));
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
	if (unix_path[0] != '\0')
		unlink(unix_path);
}

static void
on_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct loop *l = arg;
	struct conn *c = calloc(1, sizeof(*c));

	(void)lis;
	(void)sa;
	(void)salen;
	if (c == NULL || (c->s = fg_session_new()) == NULL ||
	    (c->rev = event_new(l->base, fd, EV_READ | EV_PERSIST, on_read,
	    c)) == NULL ||
	    (c->wev = event_new(l->base, fd, EV_WRITE | EV_PERSIST, on_write,
	    c)) == NULL || event_add(c->rev, l->idle) < 0) {
		fg_log_err("engine: out of memory for a new MTA connection");
		if (c != NULL) {
			if (c->rev != NULL)
				event_free(c->rev);
			if (c->wev != NULL)
				event_free(c->wev);
			fg_session_free(c->s);
			free(c);
		}
		close(fd);
		return;
	}
	c->loop = l;
	c->fd = fd;
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
}

/* Out of descriptors: the pending connection would wake us again at
 * once, so stop accepting for a second instead of spinning. */
static void
on_accept_error(struct evconnlistener *lis, void *arg)
{
	struct loop *l = arg;
	struct timeval one = { 1, 0 };
	int e = EVUTIL_SOCKET_ERROR();
	static _Atomic long logged;	/* every loop may get here */
	long now = (long)time(NULL);

	if (atomic_exchange(&logged, now) != now) {
		fg_log_err("engine: accept: %s; pausing new MTA connections for a second",
		    strerror(e));
		logged = now;
	}
	evconnlistener_disable(lis);
	evtimer_add(l->resume, &one);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(l->listener);
}

static void
conn_close(struct conn *c)
{
	struct loop *l = c->loop;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	fg_session_free(c->s);
	fg_mp_macros_free(&c->mac);
	free(c->in);
	free(c->out);
	free(c);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n;
	int rc;

	if (what & EV_TIMEOUT) {
		fg_log_notice("session=%s: the MTA sent nothing for %d s; closing",
		    fg_session_id(c->s), IDLE_TIMEOUT);
		conn_close(c);
		return;
	}
	if (c->incap - c->inlen < READ_CHUNK) {
		size_t cap = c->incap ? c->incap * 2 : READ_CHUNK * 2;
		char *p;

		/* One packet at most, plus what follows it in the read. */
		if (cap > FG_MP_MAXDATA + 5 + READ_CHUNK)
			cap = FG_MP_MAXDATA + 5 + READ_CHUNK;
		if (cap - c->inlen < READ_CHUNK || (p = realloc(c->in,
		    cap)) == NULL) {
			fg_log_err("session=%s: no room for the MTA's input; closing",
			    fg_session_id(c->s));
			conn_close(c);
			return;
		}
		c->in = p;
		c->incap = cap;
	}
	n = read(fd, c->in + c->inlen, c->incap - c->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			fg_log_warn("session=%s: read from the MTA: %s",
			    fg_session_id(c->s), strerror(errno));
		conn_close(c);
		return;
	}
	c->inlen += (size_t)n;
	/* After QUIT (1), what is pending still goes out. */
	if ((rc = conn_process(c)) < 0 || conn_flush(c) < 0 || rc > 0)
		conn_close(c);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	if (what & EV_TIMEOUT) {
		fg_log_notice("session=%s: the MTA read no reply for %d s; closing",
		    fg_session_id(c->s), IDLE_TIMEOUT);
		conn_close(c);
		return;
	}
	if (conn_flush(c) < 0)
		conn_close(c);
}

/* Writes what is pending. While the MTA does not read its replies,
 * floodgate does not read its commands. */
static int
conn_flush(struct conn *c)
{
	int rc;

	while (c->outoff < c->outlen) {
		ssize_t n = write(c->fd, c->out + c->outoff,
		    c->outlen - c->outoff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (event_pending(c->wev, EV_WRITE, NULL))
				return 0;
			event_del(c->rev);
			return event_add(c->wev, c->loop->idle);
		}
		if (n <= 0) {
			fg_log_warn("session=%s: write to the MTA: %s",
			    fg_session_id(c->s), strerror(errno));
			return -1;
		}
		c->outoff += (size_t)n;
	}
	c->outoff = c->outlen = 0;
	if (event_pending(c->wev, EV_WRITE, NULL)) {
		event_del(c->wev);
		/* What arrived meanwhile is handled now. */
		if ((rc = conn_process(c)) != 0 ||
		    event_add(c->rev, c->loop->idle) < 0)
			return -1;
		if (c->outlen > 0)
			return conn_flush(c);
	}
	return 0;
}

static int
conn_process(struct conn *c)
{
	struct fg_mp_packet pkt;
	size_t off = 0;
	long n;
	int rc = 0;

	while (off < c->inlen &&
	    (n = fg_mp_frame(c->in + off, c->inlen - off, &pkt)) != 0) {
		if (n < 0) {
			uint32_t len;

			memcpy(&len, c->in + off, 4);
			fg_log_warn("session=%s: malformed packet from the MTA (length %u); closing",
			    fg_session_id(c->s), ntohl(len));
			return -1;
		}
		if ((rc = conn_dispatch(c, &pkt)) != 0)
			break;
		off += (size_t)n;
		/* A peer that never reads its replies gets cut off. */
		if (c->outlen - c->outoff > OUT_MAX) {
			fg_log_warn("session=%s: the MTA does not read its replies; closing",
			    fg_session_id(c->s));
			return -1;
		}
	}
	if (rc < 0)
		return -1;
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return rc;
}

/* Returns 0 to go on, 1 after QUIT, -1 to close the connection now. */
static int
conn_dispatch(struct conn *c, const struct fg_mp_packet *pkt)
{
	struct fg_answer a;
	const char *argv[2];

	switch (pkt->cmd) {
	case FG_MC_OPTNEG: {
		struct fg_mp_optneg mta, mine;
		const char *lists[FG_MP_NSTAGES];

		if (fg_mp_optneg_parse(pkt, &mta) < 0) {
			fg_log_warn("session=%s: the MTA's negotiation is malformed or older than protocol 2; closing",
			    fg_session_id(c->s));
			return -1;
		}
		fg_session_negotiate(c->s, &mta, &mine, lists);
		if (room(c, FG_MP_MAXREPLY) < 0)
			return -1;
		return fg_mp_optneg_reply(&mine, lists, c->out, c->outcap,
		    &c->outlen);
	}
	case FG_MC_MACRO:
		if (fg_mp_macros_set(&c->mac, pkt) < 0) {
			fg_log_warn("session=%s: malformed macro packet from the MTA; closing",
			    fg_session_id(c->s));
			return -1;
		}
		return 0;
	case FG_MC_CONNECT: {
		char addr[64];

		if (fg_mp_connect_addr(pkt, addr, sizeof(addr)) < 0) {
			fg_log_warn("session=%s: malformed CONNECT from the MTA; closing",
			    fg_session_id(c->s));
			return -1;
		}
		fg_session_connect(c->s, addr);
		break;
	}
	case FG_MC_MAIL:
	case FG_MC_RCPT:
		if (fg_mp_args(pkt, argv, 2) < 1) {
			fg_log_warn("session=%s: malformed %s from the MTA; closing",
			    fg_session_id(c->s), pkt->cmd == FG_MC_MAIL ?
			    "MAIL" : "RCPT");
			return -1;
		}
		if (pkt->cmd == FG_MC_MAIL)
			fg_session_mail(c->s, &c->mac, argv[0], &a);
		else
			fg_session_rcpt(c->s, &c->mac, argv[0], &a);
		if (fg_session_noreply(c->s, pkt->cmd))
			return 0;
		return put_answer(c, &a);
	case FG_MC_DATA:
		fg_session_data(c->s, &a);
		if (fg_session_noreply(c->s, pkt->cmd))
			return 0;
		return put_answer(c, &a);
	case FG_MC_EOM:
		fg_session_eom(c->s, &c->mac, &a);
		return put_answer(c, &a);
	case FG_MC_ABORT:
		fg_session_abort(c->s);
		fg_mp_macros_clear(&c->mac, FG_MC_MAIL);
		return 0;
	case FG_MC_QUIT:
		return 1;
	case FG_MC_QUIT_NC:
		/* The MTA reuses the connection for another SMTP client. */
		fg_session_abort(c->s);
		fg_mp_macros_free(&c->mac);
		return 0;
	case FG_MC_HELO:
	case FG_MC_HEADER:
	case FG_MC_EOH:
	case FG_MC_BODY:
	case FG_MC_UNKNOWN:
		break;
	default:
		fg_log_warn("session=%s: unknown milter command 0x%02x from the MTA; closing",
		    fg_session_id(c->s), (unsigned char)pkt->cmd);
		return -1;
	}
	/* Steps floodgate asked not to see, should the MTA send them. */
	if (fg_session_noreply(c->s, pkt->cmd))
		return 0;
	return put(c, FG_MR_CONTINUE, NULL, 0);
}

/* Makes room for a packet of up to `need` bytes at the end of the output. */
static int
room(struct conn *c, size_t need)
{
	size_t cap = c->outcap ? c->outcap : 4096;
	char *p;

	if (c->outcap - c->outlen >= need)
		return 0;
	while (cap - c->outlen < need)
		cap *= 2;
	if ((p = realloc(c->out, cap)) == NULL)
		return -1;
	c->out = p;
	c->outcap = cap;
	return 0;
}

static int
put(struct conn *c, char cmd, const void *data, size_t len)
{
	if (room(c, len + 5) < 0)
		return -1;
	return fg_mp_put(c->out, c->outcap, &c->outlen, cmd, data, len);
}

static int
put_answer(struct conn *c, const struct fg_answer *a)
{
	char buf[sizeof(a->header) + sizeof("X-Floodgate")];

	if (a->header[0] != '\0') {
		size_t hn = sizeof("X-Floodgate"), vn = strlen(a->header) + 1;

		memcpy(buf, "X-Floodgate", hn);
		memcpy(buf + hn, a->header, vn);
		if (put(c, FG_MR_ADDHEADER, buf, hn + vn) < 0)
			return -1;
	}
	if (a->quarantine[0] != '\0' &&
	    put(c, FG_MR_QUARANTINE, a->quarantine,
	    strlen(a->quarantine) + 1) < 0)
		return -1;
	if (a->rcode[0] == '\0' || a->code == FG_MR_CONTINUE)
		return put(c, a->code, NULL, 0);
	if (room(c, FG_MP_MAXREPLY) < 0)
		return -1;
	return fg_mp_put_reply(c->out, c->outcap, &c->outlen, a->rcode,
	    a->xcode, a->text);
}
