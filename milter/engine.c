/*
 * The native milter engine: accepts MTA connections and speaks the milter
 * protocol on one libevent loop in its own thread, instead of a thread
 * per connection. A read takes every packet the MTA has sent (a macro
 * packet and its command arrive together), a decision is made on the
 * spot (the policy never waits on I/O; the service thread writes to
 * SQLite) and the replies go out in one write.
 *
 * One peer cannot hold the loop: packets are at most FG_MP_MAXDATA, a
 * macro packet is read once for the few macros floodgate keeps, a packet
 * that has started must be complete within PACKET_TIMEOUT, and
 * max_connections bounds how many MTA connections are served at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "net.h"
#include "util.h"

/* What a connection's input buffer starts with: every packet Postfix
 * sends floodgate but a rare long macro packet fits. */
#define IN_FIRST	4096
#define READ_CHUNK	16384
#define OUT_MAX		(256 * 1024)
/* libmilter's default: an MTA keeps its connection for a whole SMTP
 * session, and Postfix's own timeouts end a stuck one long before. */
#define IDLE_TIMEOUT	7210
/* An MTA writes a packet at once; one still incomplete this long after
 * its first byte is a stalled or hostile peer. */
#define PACKET_TIMEOUT	10

struct conn {
	struct loop *loop;
	struct conn *prev, *next;
	int fd;
	struct event *rev, *wev;
	struct fg_session *s;
	struct fg_mp_macros mac;
	time_t partial;		/* when the unfinished packet began, or 0 */
	char *in;
	size_t inlen, incap;
	char *out;
	size_t outlen, outoff, outcap;
	/* A RCPT waits for the shared store: the rest of the input waits
	 * too; a connection closed meanwhile is freed when it is answered. */
	int waiting, closing;
};

struct loop {
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *resume;		/* accepting again after EMFILE */
	struct event *place;		/* a look for the socket each second */
	struct event *beat;		/* the watchdog's sign of life */
	const struct timeval *idle;
	struct conn *conns;
	atomic_size_t nconns;		/* also read by the service thread */
	/* max_connections reached: accepting stopped until one ends. The
	 * incident is logged once, and its end once, when the count is
	 * back under nine tenths of the cap. */
	int capped;
	unsigned long waited;
	const struct fg_session_env *env;
	unsigned long next_id;
};

static struct loop loop;
static int running;		/* the loop's thread was started */
static atomic_llong beat_us;	/* the loop's last beat: fg_mono_us() */
static int listen_fd = -1;
static char unix_path[FG_UNIX_PATH_MAX + 1];

static void on_accept(struct evconnlistener *, evutil_socket_t,
    struct sockaddr *, int, void *);
static void on_accept_error(struct evconnlistener *, void *);
static void on_resume(evutil_socket_t, short, void *);
static void on_place(evutil_socket_t, short, void *);
static void on_read(evutil_socket_t, short, void *);
static void on_write(evutil_socket_t, short, void *);
static void conn_close(struct conn *c);
static void conn_free(struct conn *c);
static void on_decided(struct fg_sreserve *r);
static int conn_process(struct conn *c);
static int conn_dispatch(struct conn *c, const struct fg_mp_packet *pkt);
static int conn_flush(struct conn *c);
static int room(struct conn *c, size_t need);
static int put(struct conn *c, char cmd, const void *data, size_t len);
static int put_answer(struct conn *c, const struct fg_answer *a);
static int native_listen(const char *spec, char *err, size_t errlen);
static int native_start(const struct fg_session_env *env,
    pthread_t main_thread);
static void native_stop(void);
static size_t native_connections(void);
static void arm_read(struct conn *c);
static uint32_t max_connections(struct loop *l);

/*
 * The socket is made before floodgate drops privileges (an inet port may
 * be privileged), mode 0660 from its creation: its group comes from a
 * set-group-ID directory (README), and nothing is changed by path
 * afterwards.
 */
static int
native_listen(const char *spec, char *err, size_t errlen)
{
	const char *path = fg_net_unix_spec(spec);

	if ((listen_fd = fg_net_listen(spec, err, errlen)) < 0)
		return -1;
	if (path != NULL)
		fg_strlcpy(unix_path, path, sizeof(unix_path));
	return 0;
}

static void *
run(void *arg)
{
	struct loop *l = arg;

	event_base_dispatch(l->base);
	return NULL;
}

/* The loop's base, made early when the shared store runs on it. */
static struct event_base *
native_loop(void)
{
	struct loop *l = &loop;

	evthread_use_pthreads();
	if (l->base == NULL)
		l->base = event_base_new();
	return l->base;
}

static int64_t
native_beat(void)
{
	return atomic_load(&beat_us);
}

static int
native_start(const struct fg_session_env *env, pthread_t main_thread)
{
	struct timeval idle = { IDLE_TIMEOUT, 0 };
	struct loop *l = &loop;

	(void)main_thread;	/* the loop only stops when told to */
	l->env = env;
	/*
	 * One loop. A decision is a few microseconds, so one core decides
	 * 80,000 recipients a second (make bench), far beyond what an MTA on
	 * the same machine submits; a loop per CPU only added wake-ups
	 * (every loop woke for every new MTA connection) and cost Postfix 5
	 * to 10 % of its throughput with a new session per message.
	 */
	if (native_loop() == NULL ||
	    (l->listener = evconnlistener_new(l->base, on_accept, l,
	    LEV_OPT_CLOSE_ON_EXEC, 0, listen_fd)) == NULL ||
	    (l->resume = evtimer_new(l->base, on_resume, l)) == NULL ||
	    (l->beat = fgd_beat_start(l->base, &beat_us)) == NULL ||
	    (l->idle = event_base_init_common_timeout(l->base, &idle)) == NULL)
		return -1;
	if (unix_path[0] != '\0') {
		struct timeval one = { 1, 0 };

		if ((l->place = event_new(l->base, -1, EV_PERSIST, on_place,
		    l)) == NULL || event_add(l->place, &one) < 0)
			return -1;
	}
	evconnlistener_set_error_cb(l->listener, on_accept_error);
	if (pthread_create(&l->thread, NULL, run, l) != 0)
		return -1;
	running = 1;
	return 0;
}

/* Closes every MTA connection: the MTA's milter_default_action covers
 * what was in flight, and no reservation outlives its connection. */
static void
native_stop(void)
{
	struct loop *l = &loop;

	if (running) {
		/* As the service thread's: the loop may not have started. */
		event_base_loopexit(l->base, NULL);
		pthread_join(l->thread, NULL);
		running = 0;
	}
	/* Decisions the shared store handed back (it is stopped first). */
	if (l->base != NULL)
		event_base_loop(l->base, EVLOOP_NONBLOCK);
	while (l->conns != NULL)
		conn_close(l->conns);
	l->capped = 0;
	if (l->listener != NULL)
		evconnlistener_free(l->listener);
	if (l->resume != NULL)
		event_free(l->resume);
	if (l->place != NULL)
		event_free(l->place);
	if (l->beat != NULL)
		event_free(l->beat);
	if (l->base != NULL)
		event_base_free(l->base);
	memset(l, 0, sizeof(*l));
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
	/* Where the socket's directory is not writable by floodgate's user,
	 * the socket stays; the next start replaces it. */
	if (unix_path[0] != '\0')
		(void)unlink(unix_path);
}

static size_t
native_connections(void)
{
	return atomic_load(&loop.nconns);
}

const struct fg_milter_engine fg_engine_native = {
	.name = "native",
	.listen = native_listen,
	.start = native_start,
	.stop = native_stop,
	.connections = native_connections,
	.loop = native_loop,
	.beat = native_beat,
};

/* Read at each accept: a reload changes the cap for what follows. */
static uint32_t
max_connections(struct loop *l)
{
	struct fg_config *cfg = l->env->config(l->env->arg);
	uint32_t n = cfg->max_connections;

	fg_config_unref(cfg);
	return n;
}

static void
on_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct loop *l = arg;
	struct conn *c = calloc(1, sizeof(*c));

	(void)sa;
	(void)salen;
	if (c == NULL || (c->s = fg_session_new(l->env, ++l->next_id)) == NULL ||
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
	/* At the cap, further MTA connections wait in the listen queue
	 * (Postfix waits milter_connect_timeout, then applies
	 * milter_default_action) instead of costing memory here. */
	if (++l->nconns >= max_connections(l)) {
		evconnlistener_disable(lis);
		if (!l->capped)
			fg_log_warn("engine: max_connections %zu reached; new MTA connections wait until one ends (logged once until the count is back under 90%%)",
			    (size_t)l->nconns);
		l->capped = 1;
		l->waited++;
	}
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
	if (l->nconns < max_connections(l))
		evconnlistener_enable(l->listener);
}

/* Serves the MTA's socket made again on fd instead of the old one. */
static int
relisten(int fd, void *arg)
{
	struct loop *l = arg;
	struct evconnlistener *nl;

	if ((nl = evconnlistener_new(l->base, on_accept, l,
	    LEV_OPT_CLOSE_ON_EXEC, 0, fd)) == NULL) {
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(nl, on_accept_error);
	evconnlistener_free(l->listener);
	close(listen_fd);
	listen_fd = fd;
	l->listener = nl;
	if (l->capped || evtimer_pending(l->resume, NULL))
		evconnlistener_disable(nl);
	return 0;
}

/*
 * The MTA's socket removed while floodgate runs: the MTA could no
 * longer connect, and its milter_default_action decided every message,
 * while floodgate waited on a socket no one could reach. Made again
 * (as floodgate's user: the directory is its own), the connections in
 * hand served on (fgd_socket_placed).
 */
static void
on_place(evutil_socket_t fd, short what, void *arg)
{
	static struct fgd_placed pl;

	(void)fd;
	(void)what;
	fgd_socket_placed(unix_path, "engine: the MTA's socket",
	    "the MTA cannot reach floodgate, its milter_default_action decides every message",
	    &pl, relisten, arg);
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
	l->nconns--;
	if (l->capped) {
		uint32_t max = max_connections(l);

		if (l->nconns < max && l->listener != NULL)
			evconnlistener_enable(l->listener);
		if (l->nconns <= max - max / 10 - 1) {
			fg_log_notice("engine: under max_connections again (%zu MTA connections; the cap was reached %lu times)",
			    (size_t)l->nconns, l->waited);
			l->capped = 0;
			l->waited = 0;
		}
	}
	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	if (c->waiting) {
		c->closing = 1;		/* on_decided frees it */
		return;
	}
	conn_free(c);
}

static void
conn_free(struct conn *c)
{
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
		if (c->partial)
			fg_log_warn("session=%s: the MTA left a packet unfinished for %d s; closing",
			    fg_session_id(c->s), PACKET_TIMEOUT);
		else
			fg_log_notice("session=%s: the MTA sent nothing for %d s; closing",
			    fg_session_id(c->s), IDLE_TIMEOUT);
		conn_close(c);
		return;
	}
	if (c->inlen == c->incap) {
		size_t cap = c->incap ? c->incap * 2 : IN_FIRST;
		char *p;

		/* One packet at most, plus what follows it in the read. */
		if (cap > FG_MP_MAXDATA + 5 + READ_CHUNK)
			cap = FG_MP_MAXDATA + 5 + READ_CHUNK;
		if (cap == c->inlen || (p = realloc(c->in, cap)) == NULL) {
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
	if ((rc = conn_process(c)) < 0 || conn_flush(c) < 0 || rc > 0) {
		conn_close(c);
		return;
	}
	arm_read(c);
}

/* The shared store answered a RCPT (or could not): the answer goes
 * out, then what the MTA sent meanwhile is taken. */
static void
on_decided(struct fg_sreserve *r)
{
	struct conn *c = r->arg;
	struct fg_answer a;
	int rc;

	c->waiting = 0;
	fg_session_rcpt_finish(c->s, &a);
	if (c->closing) {
		conn_free(c);
		return;
	}
	if ((!fg_session_noreply(c->s, FG_MC_RCPT) && put_answer(c, &a) < 0) ||
	    (rc = conn_process(c)) < 0 || conn_flush(c) < 0 || rc > 0) {
		conn_close(c);
		return;
	}
	arm_read(c);
}

/*
 * The read timeout: the idle one between packets, and while a packet is
 * unfinished what is left of PACKET_TIMEOUT since its first byte, so that
 * a byte now and then cannot keep a connection (and its buffer) alive.
 */
static void
arm_read(struct conn *c)
{
	struct timeval tv = { 0, 0 };
	time_t now;

	if (c->inlen == 0) {
		if (c->partial) {
			c->partial = 0;
			if (event_pending(c->rev, EV_READ, NULL))
				event_add(c->rev, c->loop->idle);
		}
		return;
	}
	now = (time_t)(fg_mono_us() / 1000000);
	if (c->partial == 0)
		c->partial = now;
	tv.tv_sec = c->partial + PACKET_TIMEOUT - now;
	if (tv.tv_sec < 0)
		tv.tv_sec = 0;
	if (event_pending(c->rev, EV_READ, NULL))
		event_add(c->rev, &tv);
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
	else
		arm_read(c);
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

	if (c->waiting)
		return 0;
	while (off < c->inlen &&
	    (n = fg_mp_frame(c->in + off, c->inlen - off, &pkt)) != 0) {
		if (n < 0) {
			uint32_t len;

			memcpy(&len, c->in + off, 4);
			fg_log_warn("session=%s: malformed packet from the MTA (length %u); closing",
			    fg_session_id(c->s), ntohl(len));
			return -1;
		}
		if ((rc = conn_dispatch(c, &pkt)) == 2) {
			/* Answered when the shared store is. */
			off += (size_t)n;
			rc = 0;
			break;
		}
		if (rc != 0)
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
	struct fg_macros mac;
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
		char addr[FG_CLIENT_MAX + 1];

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
		fg_mp_macros_at(&c->mac, pkt->cmd, &mac);
		if (pkt->cmd == FG_MC_MAIL)
			fg_session_mail(c->s, argv[0], &mac, &a);
		else if (c->loop->env->engine->shared_reserve != NULL) {
			struct fg_sreserve *r;

			if (fg_session_rcpt_start(c->s, argv[0], &mac, &a,
			    &r) == 1) {
				r->base = c->loop->base;
				r->done = on_decided;
				r->arg = c;
				c->waiting = 1;
				if (fg_shared_reserve(r) != FG_SHARED_DOWN)
					return 2;
				c->waiting = 0;
				fg_session_rcpt_finish(c->s, &a);
			}
		} else
			fg_session_rcpt(c->s, argv[0], &mac, &a);
		if (fg_session_noreply(c->s, pkt->cmd))
			return 0;
		return put_answer(c, &a);
	case FG_MC_DATA:
		fg_mp_macros_at(&c->mac, pkt->cmd, &mac);
		fg_session_data(c->s, &mac, &a);
		if (fg_session_noreply(c->s, pkt->cmd))
			return 0;
		return put_answer(c, &a);
	case FG_MC_EOM:
		fg_mp_macros_at(&c->mac, pkt->cmd, &mac);
		fg_session_eom(c->s, &mac, &a);
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
