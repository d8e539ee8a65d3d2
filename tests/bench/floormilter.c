/*
 * The floor for `make bench`: a milter with floodgate's protocol shape
 * under charge_at end (the same negotiation and macro lists, a reply to
 * every RCPT and to the end of the message) that does no work at all, on
 * one epoll loop. What Postfix loses with it attached is what any milter
 * of that shape costs this Postfix on this machine, whatever it does.
 *
 * With -d it takes floodgate's shape under charge_at data, the default:
 * it answers ACCEPT at DATA, so Postfix leaves it out of the rest of the
 * message and does not hand it to cleanup.
 *
 * usage: floormilter [-d] unix:PATH
 */
#include "milterproto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct conn {
	int fd;
	uint32_t protocol;	/* as negotiated */
	char *in;
	size_t len, cap;
};

static int at_data;

static int
noreply(const struct conn *c, char cmd)
{
	switch (cmd) {
	case FG_MC_CONNECT: return (c->protocol & FG_MP_NR_CONN) != 0;
	case FG_MC_HELO: return (c->protocol & FG_MP_NR_HELO) != 0;
	case FG_MC_MAIL: return (c->protocol & FG_MP_NR_MAIL) != 0;
	case FG_MC_RCPT: return (c->protocol & FG_MP_NR_RCPT) != 0;
	case FG_MC_DATA: return (c->protocol & FG_MP_NR_DATA) != 0;
	case FG_MC_HEADER: return (c->protocol & FG_MP_NR_HDR) != 0;
	case FG_MC_EOH: return (c->protocol & FG_MP_NR_EOH) != 0;
	case FG_MC_BODY: return (c->protocol & FG_MP_NR_BODY) != 0;
	case FG_MC_UNKNOWN: return (c->protocol & FG_MP_NR_UNKN) != 0;
	default: return 0;
	}
}

/* Answers every whole packet in c->in; 1 after QUIT, -1 on error. */
static int
serve(struct conn *c)
{
	char out[4096];
	size_t olen = 0, off = 0;
	struct fg_mp_packet pkt;
	long n;
	int rc = 0;

	while ((n = fg_mp_frame(c->in + off, c->len - off, &pkt)) > 0) {
		off += (size_t)n;
		switch (pkt.cmd) {
		case FG_MC_OPTNEG: {
			struct fg_mp_optneg mta, mine;
			const char *lists[FG_MP_NSTAGES];

			if (fg_mp_optneg_parse(&pkt, &mta) < 0)
				return -1;
			/* Exactly what floodgate asks for. */
			fg_mp_negotiate(&mta, 0, at_data, 0, &mine, lists);
			c->protocol = mine.protocol;
			rc = fg_mp_optneg_reply(&mine, lists, out, sizeof(out),
			    &olen);
			break;
		}
		case FG_MC_DATA:
			if (at_data) {
				rc = fg_mp_put(out, sizeof(out), &olen,
				    FG_MR_ACCEPT, NULL, 0);
				break;
			}
			/* FALLTHROUGH */
		case FG_MC_CONNECT:
		case FG_MC_HELO:
		case FG_MC_MAIL:
		case FG_MC_RCPT:
		case FG_MC_HEADER:
		case FG_MC_EOH:
		case FG_MC_BODY:
		case FG_MC_UNKNOWN:
		case FG_MC_EOM:
			if (!noreply(c, pkt.cmd))
				rc = fg_mp_put(out, sizeof(out), &olen,
				    FG_MR_CONTINUE, NULL, 0);
			break;
		case FG_MC_QUIT:
			rc = 1;
			break;
		default:
			/* MACRO, ABORT, QUIT_NC: no reply. */
			break;
		}
		if (rc != 0)
			break;
	}
	if (n < 0)
		return -1;
	memmove(c->in, c->in + off, c->len - off);
	c->len -= off;
	if (olen > 0 && write(c->fd, out, olen) != (ssize_t)olen)
		return -1;
	return rc;
}

static int
listen_unix(const char *spec)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strncmp(spec, "unix:", 5) != 0 ||
	    strlen(spec + 5) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "floormilter: expected unix:PATH, got %s\n", spec);
		exit(2);
	}
	strcpy(sun.sun_path, spec + 5);
	unlink(sun.sun_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(sun.sun_path, 0666) < 0 || listen(fd, 1024) < 0) {
		perror("floormilter: listen");
		exit(1);
	}
	return fd;
}

static void
drop(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c);
}

int
main(int argc, char **argv)
{
	struct epoll_event ev, evs[64];
	int lfd, ep, n, i;

	if (argc == 3 && strcmp(argv[1], "-d") == 0) {
		at_data = 1;
		argv++;
	} else if (argc != 2) {
		fprintf(stderr, "usage: floormilter [-d] unix:PATH\n");
		return 2;
	}
	lfd = listen_unix(argv[1]);
	if ((ep = epoll_create1(0)) < 0)
		return 1;
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		if ((n = epoll_wait(ep, evs, 64, -1)) < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r;

			if (c == NULL) {
				int fd;

				while ((fd = accept(lfd, NULL, NULL)) >= 0) {
					if ((c = calloc(1, sizeof(*c))) == NULL)
						return 1;
					c->fd = fd;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (c->cap - c->len < 65536) {
				char *p = realloc(c->in, c->cap + 65536);

				if (p == NULL)
					return 1;
				c->in = p;
				c->cap += 65536;
			}
			r = read(c->fd, c->in + c->len, c->cap - c->len);
			if (r > 0) {
				c->len += (size_t)r;
				if (serve(c) == 0)
					continue;
			} else if (r < 0 && errno == EINTR) {
				continue;
			}
			drop(ep, c);
		}
	}
}
