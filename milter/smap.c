/*
 * The socketmap servers, on a loop and thread of their own: one for Postfix's
 * transport_maps (postfix_map unix:PATH), one for a Sendmail socket map
 * that ruleset 0 asks of each envelope recipient's domain (sendmail_map
 * unix:PATH). Postfix asks "transport user@domain" or "transport
 * domain", Sendmail "NAME domain". For a domain a backoff paused,
 * floodgate answers Postfix "OK retry:4.7.0 floodgate: DOMAIN paused
 * until HH:MM UTC" (Postfix's retry service then defers the mail without
 * connecting) and Sendmail "OK error:4.7.0:\"451 floodgate: ...\"" (the
 * rule turns it into Sendmail's error mailer with a temporary status: a
 * recipient at RCPT gets 451, a queued one stays queued); "TEMP" for a
 * name it had no memory to read; for anything else "NOTFOUND ". Both
 * keep their connections open and ask one question at a time on each; a
 * client that sends what is not a request is answered PERM and closed,
 * one that says nothing for IDLE seconds is closed.
 *
 * Not on the service thread: Postfix asks transport_maps for every
 * recipient it resolves (trivial-rewrite, one process for all of
 * Postfix's smtpd), so an answer that waited for a flush to a busy or
 * locked database, the hourly maintenance, a reload or a floodgatectl
 * query would hold up every RCPT on the server. An answer needs only the
 * pauses in memory (struct fg_blocks has its own lock).
 */
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "daemon.h"
#include "log.h"
#include "net.h"
#include "socketmap.h"
#include "util.h"

#define MAX_CLIENTS	128
#define IDLE		300	/* seconds; Postfix reconnects */
#define OUT_MAX		65536	/* replies a client has not read yet */

struct client {
	struct bufferevent *bev;
	struct client *prev, *next;
	int mta;		/* FG_SMAP_POSTFIX or FG_SMAP_SENDMAIL */
	int closing;		/* the last reply is on its way */
};

static const char *const stmt[FG_SMAP_N] = { "postfix_map", "sendmail_map" };
static const char *const mta_name[FG_SMAP_N] = { "Postfix", "Sendmail" };
static int listen_fd[FG_SMAP_N] = { -1, -1 };
static char sock_path[FG_SMAP_N][FG_UNIX_PATH_MAX + 1];
/* The map thread's; fg_smap_stop frees them once it has ended. */
static struct event_base *base;
static pthread_t thread;
static int running;
static struct evconnlistener *lev[FG_SMAP_N];
static struct event *beat;	/* the watchdog's sign of life */
static struct event *place;	/* a look for the sockets each second */
static atomic_llong beat_us;	/* its last: fg_mono_us(); 0: not serving */
static struct client *clients;
static int nclients;
static time_t full_logged;
/* Read by status and /metrics on the service thread. */
static atomic_uint_least64_t lookups[FG_SMAP_N], paused_answers[FG_SMAP_N];

int
fg_smap_listen(int mta, const char *spec, char *err, size_t errlen)
{
	const char *path = fg_net_unix_spec(spec);

	if (path == NULL) {
		fg_seterr(err, errlen, "%s %s: expected unix:PATH", stmt[mta],
		    spec);
		return -1;
	}
	if ((listen_fd[mta] = fg_net_listen_unix(path, err, errlen)) < 0)
		return -1;
	fg_strlcpy(sock_path[mta], path, sizeof(sock_path[mta]));
	return 0;
}

static void
client_free(struct client *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	free(c);
	nclients--;
}

/* A domain Sendmail's rules can carry inside a quoted string. */
static int
plain_domain(const char *d)
{
	for (; *d != '\0'; d++)
		if (!isalnum((unsigned char)*d) && *d != '.' && *d != '-' &&
		    *d != '_')
			return 0;
	return 1;
}

/* mode monitor holds no mail: a pause kept from before (a reload from
 * enforce, or the database at start) lets the MTA deliver. Asked for
 * paused domains only. */
static int
monitor(void)
{
	struct fg_config *c = fgd_config();
	int on = c->monitor;

	fg_config_unref(c);
	return on;
}

/* What floodgate says of one key to MTA. */
static void
answer(int mta, const char *key, char *text, size_t len)
{
	char dom[FG_DOMAIN_MAX + 1], until[32];
	const char *at = strrchr(key, '@');
	uint32_t now = (uint32_t)time(NULL);
	struct fg_pause p;
	int plain, rc;

	atomic_fetch_add_explicit(&lookups[mta], 1, memory_order_relaxed);
	/* As recipients' domains are counted: case, a trailing dot, UTF-8
	 * (the MTA's SMTPUTF8 lookups) as its ASCII form. Not read for
	 * want of memory, a paused carrier's name in UTF-8 could go out:
	 * TEMP, a failed lookup to the MTA (Postfix defers the recipient). */
	if ((rc = fg_domain_normalize(at != NULL ? at + 1 : key, dom,
	    sizeof(dom))) == FG_ADDR_NOMEM) {
		fg_strlcpy(text, "TEMP floodgate: out of memory", len);
		return;
	}
	if (rc < 0 || !fg_blocks_paused(fgd.engine.blocks, dom, now, &p) ||
	    monitor()) {
		fg_strlcpy(text, "NOTFOUND ", len);
		return;
	}
	atomic_fetch_add_explicit(&paused_answers[mta], 1, memory_order_relaxed);
	fg_format_until(p.until, now, until, sizeof(until));
	plain = plain_domain(dom);
	if (mta == FG_SMAP_POSTFIX)
		snprintf(text, len, "OK retry:4.7.0 floodgate: %s paused until %s",
		    dom, until);
	else
		/* The quotes keep the text one token: Sendmail would drop
		 * the space after "floodgate:". */
		snprintf(text, len,
		    "OK error:4.7.0:\"451 floodgate: %s%spaused until %s\"",
		    plain ? dom : "", plain ? " " : "", until);
}

static void on_read(struct bufferevent *bev, void *arg);

static void
on_written(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->closing) {
		client_free(c);
		return;
	}
	/* A client that asks faster than it reads waited for this. */
	bufferevent_enable(bev, EV_READ);
	on_read(bev, c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char name[64], key[FG_SM_MAXREQ + 1], text[FG_DOMAIN_MAX + 128];
	char out[sizeof(text) + 16];
	long used, n;

	while (!c->closing && evbuffer_get_length(in) > 0) {
		size_t len = evbuffer_get_length(in);
		const char *buf;

		if (evbuffer_get_length(bufferevent_get_output(bev)) > OUT_MAX) {
			bufferevent_disable(bev, EV_READ);
			return;
		}
		if (len > FG_SM_MAXREQ + 8)
			len = FG_SM_MAXREQ + 8;
		if ((buf = (const char *)evbuffer_pullup(in, (ssize_t)len)) == NULL)
			break;
		used = fg_sm_request(buf, len, name, sizeof(name), key,
		    sizeof(key));
		if (used == 0)
			return;		/* the rest is on its way */
		if (used < 0) {
			fg_log_warn("%s: a client sent what is not a socketmap request; closing it",
			    stmt[c->mta]);
			fg_strlcpy(text, "PERM floodgate: malformed request", sizeof(text));
			c->closing = 1;
		} else {
			evbuffer_drain(in, (size_t)used);
			answer(c->mta, key, text, sizeof(text));
		}
		if ((n = fg_sm_reply(out, sizeof(out), text)) > 0)
			bufferevent_write(bev, out, (size_t)n);
	}
	if (c->closing) {
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			client_free(c);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	client_free(arg);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct event_base *base = evconnlistener_get_base(l);
	struct timeval idle = { IDLE, 0 };
	struct client *c;

	(void)sa;
	(void)salen;
	if (nclients >= MAX_CLIENTS) {
		if (full_logged + 3600 <= time(NULL)) {
			fg_log_warn("%s: %d clients connected; refusing more (logged once an hour)",
			    stmt[(intptr_t)arg], MAX_CLIENTS);
			full_logged = time(NULL);
		}
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->bev = bufferevent_socket_new(base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(c);
		close(fd);
		return;
	}
	c->mta = (int)(intptr_t)arg;
	bufferevent_setcb(c->bev, on_read, on_written, on_event, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_enable(c->bev, EV_READ);
	c->next = clients;
	if (clients != NULL)
		clients->prev = c;
	clients = c;
	nclients++;
}

static void *
run(void *arg)
{
	(void)arg;
	event_base_dispatch(base);
	return NULL;
}

/* Serves map m's socket made again on fd instead of the old one. */
static int
relisten(int fd, void *arg)
{
	int m = (int)(intptr_t)arg;
	struct evconnlistener *nl;

	if ((nl = evconnlistener_new(base, on_accept, arg,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd)) == NULL) {
		close(fd);
		return -1;
	}
	evconnlistener_free(lev[m]);	/* closes the old one */
	lev[m] = nl;
	return 0;
}

/*
 * A map's socket removed while floodgate runs: the MTA's lookups
 * failed, and it deferred all the mail it routes through the map,
 * every tenant's, until a restart. Made again (as floodgate's user:
 * the directory is its own), the clients in hand served on
 * (fgd_socket_placed).
 */
static void
on_place(evutil_socket_t fd, short what, void *arg)
{
	static struct fgd_placed pl[FG_SMAP_N];
	char what_s[64], lost[96];
	int m;

	(void)fd;
	(void)what;
	(void)arg;
	for (m = 0; m < FG_SMAP_N; m++) {
		if (lev[m] == NULL)
			continue;
		snprintf(what_s, sizeof(what_s), "%s: its socket", stmt[m]);
		snprintf(lost, sizeof(lost),
		    "%s defers the mail it routes through it", mta_name[m]);
		fgd_socket_placed(sock_path[m], what_s, lost, &pl[m],
		    relisten, (void *)(intptr_t)m);
	}
}

int64_t
fg_smap_beat(void)
{
	return atomic_load(&beat_us);
}

void
fg_smap_start(void)
{
	int m, serving = 0;

	if (listen_fd[FG_SMAP_POSTFIX] < 0 && listen_fd[FG_SMAP_SENDMAIL] < 0)
		return;
	base = event_base_new();
	for (m = 0; m < FG_SMAP_N; m++) {
		if (listen_fd[m] < 0)
			continue;
		if (base != NULL)
			lev[m] = evconnlistener_new(base, on_accept,
			    (void *)(intptr_t)m, LEV_OPT_CLOSE_ON_FREE |
			    LEV_OPT_CLOSE_ON_EXEC, -1, listen_fd[m]);
		if (lev[m] == NULL) {
			fg_log_err("%s: cannot serve %s; %s defers the mail it routes through it",
			    stmt[m], sock_path[m], mta_name[m]);
			close(listen_fd[m]);	/* refused, not left waiting */
			listen_fd[m] = -1;
			continue;
		}
		listen_fd[m] = -1;
		serving++;
	}
	if (serving > 0 && pthread_create(&thread, NULL, run, NULL) != 0) {
		for (m = 0; m < FG_SMAP_N; m++) {
			if (lev[m] == NULL)
				continue;
			fg_log_err("%s: cannot start its thread; %s defers the mail it routes through it",
			    stmt[m], mta_name[m]);
			evconnlistener_free(lev[m]);	/* closes it */
			lev[m] = NULL;
		}
		return;
	}
	running = serving > 0;
	if (running) {
		struct timeval one = { 1, 0 };

		beat = fgd_beat_start(base, &beat_us);
		if ((place = event_new(base, -1, EV_PERSIST, on_place,
		    NULL)) == NULL || event_add(place, &one) < 0)
			fg_log_warn("socket maps: out of memory: a map's socket removed would not be made again");
	}
}

void
fg_smap_stop(void)
{
	int m;

	if (running) {
		/* Not loopbreak: the loop may not have started yet. */
		event_base_loopexit(base, NULL);
		pthread_join(thread, NULL);
		running = 0;
	}
	for (m = 0; m < FG_SMAP_N; m++) {
		if (lev[m] != NULL)
			evconnlistener_free(lev[m]);
		lev[m] = NULL;
		if (listen_fd[m] >= 0)
			close(listen_fd[m]);
		listen_fd[m] = -1;
		/* As the milter socket: gone with floodgate (the MTA
		 * defers what it routes through the map meanwhile). */
		if (sock_path[m][0] != '\0')
			(void)unlink(sock_path[m]);
		sock_path[m][0] = '\0';
	}
	while (clients != NULL)
		client_free(clients);
	atomic_store(&beat_us, 0);
	if (beat != NULL)
		event_free(beat);
	beat = NULL;
	if (place != NULL)
		event_free(place);
	place = NULL;
	if (base != NULL)
		event_base_free(base);
	base = NULL;
}

const char *
fg_smap_statement(int mta)
{
	return stmt[mta];
}

uint64_t
fg_smap_lookups(int mta, uint64_t *paused)
{
	if (paused != NULL)
		*paused = atomic_load_explicit(&paused_answers[mta],
		    memory_order_relaxed);
	return atomic_load_explicit(&lookups[mta], memory_order_relaxed);
}
