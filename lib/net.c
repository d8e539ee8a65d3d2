/*
 * Sockets for every listener and client floodgate has (see net.h), in
 * one place so that each gets the same care: close-on-exec, a mode set
 * at creation, no chmod or chown by path.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

#define BACKLOG	SOMAXCONN

const char *
fg_net_unix_spec(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (strncmp(spec, "local:", 6) == 0)
		return spec + 6;
	return NULL;
}

/* path as a UNIX socket's address; -1 (ENAMETOOLONG) when too long. */
static int
unix_addr(const char *path, struct sockaddr_un *sun)
{
	size_t n = strlen(path);

	if (n > FG_UNIX_PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n + 1);
	return 0;
}

/* A client connection to path, close-on-exec, with flags (SOCK_NONBLOCK)
 * beside; -1 with errno kept. */
static int
unix_connect(const char *path, int flags)
{
	struct sockaddr_un sun;
	int fd, e;

	if (unix_addr(path, &sun) < 0 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
fg_net_unix_live(const char *path)
{
	int fd = unix_connect(path, SOCK_NONBLOCK);

	/* A listener takes the connection, or its backlog is full
	 * (EAGAIN); a socket nobody listens on refuses it. */
	if (fd < 0)
		return errno == EAGAIN;
	close(fd);
	return 1;
}

static pthread_mutex_t umask_lock = PTHREAD_MUTEX_INITIALIZER;

int
fg_net_listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	if (unix_addr(path, &sun) < 0) {
		fg_seterr(err, errlen, "%s: socket path longer than %zu bytes",
		    path, FG_UNIX_PATH_MAX);
		return -1;
	}
	/* A socket left by an earlier run is ours to replace; anything
	 * else at that path is not, nor a socket a process listens on
	 * (a floodgate running: two would split every budget between
	 * them). lstat: a link is not a socket. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fg_seterr(err, errlen, "%s: exists and is not a socket",
			    path);
			return -1;
		}
		if (fg_net_unix_live(path)) {
			fg_seterr(err, errlen, "%s: " FG_NET_LIVE, path);
			return -1;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			fg_seterr(err, errlen, "%s: cannot remove the old socket: %s",
			    path, strerror(errno));
			return -1;
		}
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0) {
		fg_seterr(err, errlen, "%s: socket: %s", path, strerror(errno));
		return -1;
	}
	/* 0660 as it is created: nothing is changed by path afterwards.
	 * The umask is the process's: two threads making a socket again
	 * at once (the MTA's and the control socket, removed together)
	 * would each restore the other's, one socket made 0640 and the
	 * process left with 0117; one at a time. */
	pthread_mutex_lock(&umask_lock);
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		umask(old);
		pthread_mutex_unlock(&umask_lock);
		fg_seterr(err, errlen, "%s: %s%s", path, strerror(e),
		    e == ENOENT ? " (does its directory exist?)" : "");
		close(fd);
		return -1;
	}
	umask(old);
	pthread_mutex_unlock(&umask_lock);
	if (listen(fd, BACKLOG) < 0) {
		fg_seterr(err, errlen, "%s: listen: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

static int
listen_ai(const char *host, const char *port, int family, const char *what,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		fg_seterr(err, errlen, "%s: %s", what, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, BACKLOG) == 0)
			break;
		fg_seterr(err, errlen, "%s: %s", what, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int
fg_net_inet_split(const char *spec, char port[FG_NET_PORT_LEN],
    char host[FG_NET_HOST_LEN])
{
	const char *at = strchr(spec, '@');
	size_t plen = at ? (size_t)(at - spec) : strlen(spec);

	if (plen == 0 || plen >= FG_NET_PORT_LEN)
		return -1;
	memcpy(port, spec, plen);
	port[plen] = '\0';
	host[0] = '\0';
	if (at != NULL) {
		size_t hl;

		fg_strlcpy(host, at + 1, FG_NET_HOST_LEN);
		hl = strlen(host);
		if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
			memmove(host, host + 1, hl - 2);
			host[hl - 2] = '\0';
		}
	}
	return 0;
}

/* PORT@HOST or PORT (every address); HOST may be [v6]. */
int
fg_net_listen_inet(const char *spec, int family, char *err, size_t errlen)
{
	char port[FG_NET_PORT_LEN], host[FG_NET_HOST_LEN];

	if (fg_net_inet_split(spec, port, host) < 0) {
		fg_seterr(err, errlen, "%s: expected PORT@HOST", spec);
		return -1;
	}
	return listen_ai(host[0] ? host : NULL, port, family, spec, err,
	    errlen);
}

int
fg_net_listen_addr(const char *host, unsigned port, char *err, size_t errlen)
{
	char p[16], what[300];

	snprintf(p, sizeof(p), "%u", port);
	snprintf(what, sizeof(what), "%s:%u", host, port);
	return listen_ai(host, p, AF_UNSPEC, what, err, errlen);
}

int
fg_net_listen(const char *spec, char *err, size_t errlen)
{
	const char *path = fg_net_unix_spec(spec);

	if (path != NULL)
		return fg_net_listen_unix(path, err, errlen);
	if (strncmp(spec, "inet:", 5) == 0)
		return fg_net_listen_inet(spec + 5, AF_INET, err, errlen);
	if (strncmp(spec, "inet6:", 6) == 0)
		return fg_net_listen_inet(spec + 6, AF_INET6, err, errlen);
	fg_seterr(err, errlen, "%s: expected unix:PATH, inet:PORT@HOST or inet6:PORT@HOST",
	    spec);
	return -1;
}

int
fg_net_connect_unix(const char *path)
{
	return unix_connect(path, 0);
}
