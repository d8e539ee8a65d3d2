/*
 * The socketmap server for Postfix's transport_maps (postfix_map
 * unix:PATH), on the service thread's loop. Postfix asks it "transport
 * user@domain" or "transport domain"; for a domain a backoff paused,
 * floodgate answers "OK retry:4.7.0 floodgate: DOMAIN paused until
 * HH:MM UTC" (Postfix's retry service then defers the mail without
 * connecting), for anything else "NOTFOUND ". Postfix keeps its
 * connections open and asks one question at a time on each; a client
 * that sends what is not a request is answered PERM and closed, one that
 * says nothing for IDLE seconds is closed.
 */
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	int closing;		/* the last reply is on its way */
};

static int listen_fd = -1;
static struct evconnlistener *lev;
static struct client *clients;
static int nclients;
static uint64_t lookups, paused_answers;
static time_t full_logged;

int
fg_smap_listen(const char *spec, char *err, size_t errlen)
{
	const char *path = fg_net_unix_spec(spec);

	if (path == NULL) {
		fg_seterr(err, errlen, "postfix_map %s: expected unix:PATH", spec);
		return -1;
	}
	if ((listen_fd = fg_net_listen_unix(path, err, errlen)) < 0)
		return -1;
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

/* What floodgate says of one key. */
static void
answer(const char *key, char *text, size_t len)
{
	char dom[FG_DOMAIN_MAX + 1], until[32];
	const char *at = strrchr(key, '@');
	struct fg_pause p;
	struct tm tm;
	time_t t;
	size_t i;

	lookups++;
	fg_strlcpy(dom, at != NULL ? at + 1 : key, sizeof(dom));
	for (i = 0; dom[i] != '\0'; i++)
		dom[i] = (char)tolower((unsigned char)dom[i]);
	if (dom[0] == '\0' || !fg_blocks_paused(fgd.engine.blocks, dom,
	    (uint32_t)time(NULL), &p)) {
		fg_strlcpy(text, "NOTFOUND ", len);
		return;
	}
	paused_answers++;
	t = (time_t)p.until;
	gmtime_r(&t, &tm);
	strftime(until, sizeof(until), "%H:%M UTC", &tm);
	snprintf(text, len, "OK retry:4.7.0 floodgate: %s paused until %s",
	    dom, until);
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
			fg_log_warn("postfix_map: a client sent what is not a socketmap request; closing it");
			fg_strlcpy(text, "PERM floodgate: malformed request", sizeof(text));
			c->closing = 1;
		} else {
			evbuffer_drain(in, (size_t)used);
			answer(key, text, sizeof(text));
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
	(void)arg;
	if (nclients >= MAX_CLIENTS) {
		if (full_logged + 3600 <= time(NULL)) {
			fg_log_warn("postfix_map: %d clients connected; refusing more (logged once an hour)",
			    MAX_CLIENTS);
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
	bufferevent_setcb(c->bev, on_read, on_written, on_event, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_enable(c->bev, EV_READ);
	c->next = clients;
	if (clients != NULL)
		clients->prev = c;
	clients = c;
	nclients++;
}

int
fg_smap_start(void)
{
	if (listen_fd < 0)
		return 0;
	lev = evconnlistener_new(fg_service_base(), on_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE, -1, listen_fd);
	if (lev == NULL)
		return -1;
	listen_fd = -1;
	return 0;
}

void
fg_smap_stop(void)
{
	if (lev != NULL)
		evconnlistener_free(lev);
	lev = NULL;
	while (clients != NULL)
		client_free(clients);
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
}

uint64_t
fg_smap_lookups(uint64_t *paused)
{
	if (paused != NULL)
		*paused = paused_answers;
	return lookups;
}
