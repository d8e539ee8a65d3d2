/*
 * Short request/reply exchanges on the service thread's loop (see
 * rrserve.h): the slots, the deadlines and the closing, once for the
 * control socket and the metrics listener.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "rrserve.h"
#include "util.h"

struct client {
	struct fg_rr *srv;
	struct bufferevent *bev;
	struct event *deadline;
	uid_t uid;
	int done;		/* the reply is written: reads are over */
};

struct fg_rr {
	const struct fg_rr_ops *ops;
	struct evconnlistener *listener;
	struct client **clients;
};

static void on_accept(struct evconnlistener *, evutil_socket_t,
    struct sockaddr *, int, void *);
static void on_read(struct bufferevent *, void *);
static void on_written(struct bufferevent *, void *);
static void on_event(struct bufferevent *, short, void *);
static void on_deadline(evutil_socket_t, short, void *);
static void client_free(struct client *c);

struct fg_rr *
fg_rr_start(int fd, const struct fg_rr_ops *ops, char *err, size_t errlen)
{
	struct fg_rr *srv = calloc(1, sizeof(*srv));

	if (srv == NULL || (srv->clients = calloc((size_t)ops->max_clients,
	    sizeof(*srv->clients))) == NULL) {
		free(srv);
		close(fd);
		fg_seterr(err, errlen, "%s: out of memory", ops->name);
		return NULL;
	}
	srv->ops = ops;
	srv->listener = evconnlistener_new(fg_service_base(), on_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (srv->listener == NULL) {
		fg_seterr(err, errlen, "%s: cannot listen", ops->name);
		close(fd);
		free(srv->clients);
		free(srv);
		return NULL;
	}
	return srv;
}

void
fg_rr_stop(struct fg_rr *srv)
{
	int i;

	if (srv == NULL)
		return;
	for (i = 0; i < srv->ops->max_clients; i++)
		if (srv->clients[i] != NULL)
			client_free(srv->clients[i]);
	evconnlistener_free(srv->listener);
	free(srv->clients);
	free(srv);
}

int
fg_rr_relisten(struct fg_rr *srv, int fd)
{
	struct evconnlistener *l;

	l = evconnlistener_new(fg_service_base(), on_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l == NULL) {
		close(fd);
		return -1;
	}
	evconnlistener_free(srv->listener);
	srv->listener = l;
	return 0;
}

static void
client_free(struct client *c)
{
	int i;

	for (i = 0; i < c->srv->ops->max_clients; i++)
		if (c->srv->clients[i] == c)
			c->srv->clients[i] = NULL;
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
}

static void
refuse(evutil_socket_t fd, const char *text)
{
	if (write(fd, text, strlen(text)) < 0) {
		/* The peer went away: nothing more to tell it. */
	}
	close(fd);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
	struct fg_rr *srv = arg;
	const struct fg_rr_ops *ops = srv->ops;
	struct timeval tv = { ops->request_deadline, 0 };
	struct client *c;
	uid_t uid = (uid_t)-1;
	int i, slot = -1, mine = 0;

	(void)l;
	(void)sa;
	(void)len;
	if (ops->admit != NULL && ops->admit(fd, &uid) < 0)
		return;
	for (i = 0; i < ops->max_clients; i++) {
		if (srv->clients[i] == NULL && slot < 0)
			slot = i;
		else if (srv->clients[i] != NULL && srv->clients[i]->uid == uid)
			mine++;
	}
	if (slot < 0 || (ops->max_per_uid > 0 && mine >= ops->max_per_uid)) {
		refuse(fd, ops->busy);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->uid = uid;
	c->bev = bufferevent_socket_new(fg_service_base(), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		close(fd);
	c->deadline = evtimer_new(fg_service_base(), on_deadline, c);
	if (c->bev == NULL || c->deadline == NULL ||
	    evtimer_add(c->deadline, &tv) < 0) {
		client_free(c);
		return;
	}
	srv->clients[slot] = c;
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct timeval tv = { c->srv->ops->reply_deadline, 0 };
	struct evbuffer *out;

	if (c->done)
		return;
	if ((out = evbuffer_new()) == NULL) {
		client_free(c);
		return;
	}
	if (c->srv->ops->request(c->uid, bufferevent_get_input(bev), out) == 0) {
		evbuffer_free(out);
		return;		/* wait for the rest */
	}
	c->done = 1;
	evtimer_add(c->deadline, &tv);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, on_written, on_event, c);
	bufferevent_write_buffer(bev, out);
	evbuffer_free(out);
}

static void
on_written(struct bufferevent *bev, void *arg)
{
	(void)bev;
	client_free(arg);	/* the whole reply is out */
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	client_free(arg);	/* EOF or error */
}

/* The client did not finish in time, however it trickled: drop it. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	fg_log_info("%s: a client did not %s in time; dropped",
	    c->srv->ops->name, c->done ? "take its reply" : "send its request");
	client_free(c);
}
