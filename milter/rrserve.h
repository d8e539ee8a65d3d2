/*
 * Short request/reply exchanges on the service thread's loop: the
 * control socket and the /metrics listener. A server takes at most
 * max_clients at once (max_per_uid for one user); each client has
 * request_deadline seconds from connecting to send its whole request and
 * reply_deadline more to take the reply, however it trickles, so that
 * no client can hold a slot or stall the loop.
 */
#ifndef FG_RRSERVE_H
#define FG_RRSERVE_H

#include <stddef.h>
#include <sys/types.h>

struct evbuffer;
struct fg_rr;

struct fg_rr_ops {
	const char *name;		/* for the log: "control", "metrics" */
	int max_clients;
	int max_per_uid;		/* 0: no limit per user */
	int request_deadline, reply_deadline;	/* seconds */
	const char *busy;		/* written to a client over the limits */
	/* A new client: 0 to serve it, -1 refused (after writing why to
	 * fd). *uid is the peer's (UNIX sockets), or (uid_t)-1. */
	int (*admit)(int fd, uid_t *uid);
	/* What has arrived: 0 to wait for more, 1 when the reply is in
	 * out (the client then gets no more reads). */
	int (*request)(uid_t uid, struct evbuffer *in, struct evbuffer *out);
};

struct fg_rr *fg_rr_start(int fd, const struct fg_rr_ops *ops, char *err,
    size_t errlen);
void fg_rr_stop(struct fg_rr *srv);
/* Listens on fd instead of the socket it listened on (closed); the
 * clients in hand are served on. -1 (fd closed) when it cannot. */
int fg_rr_relisten(struct fg_rr *srv, int fd);

#endif
