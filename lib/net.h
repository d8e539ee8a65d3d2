/*
 * Sockets, one way for every listener and client floodgate has: the
 * milter socket, the control socket, the metrics listener and
 * floodgatectl's connection. Descriptors are non-blocking (listeners)
 * and close-on-exec; errors are written into the caller's buffer.
 */
#ifndef FG_NET_H
#define FG_NET_H

#include <stddef.h>
#include <sys/un.h>

/* The longest path a UNIX socket can be bound to. */
#define FG_UNIX_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/*
 * A UNIX socket at path, mode 0660 from the moment it exists (made by
 * umask at bind, never changed by path afterwards: the directory may
 * belong to someone else). A socket left at path by an earlier run is
 * replaced; one a process listens on (fg_net_unix_live()), or anything
 * else there, is an error.
 */
int fg_net_listen_unix(const char *path, char *err, size_t errlen);
/* Whether a process listens on the UNIX socket at path: a connection to
 * it is taken (and closed at once). */
int fg_net_unix_live(const char *path);
#define FG_NET_LIVE	"a process listens on this socket (is floodgate running already?); not replacing it"
/* An inet: or inet6: listener's PORT@HOST, PORT (every address) or
 * PORT@[v6], without its prefix: PORT, and HOST without brackets ("" for
 * none); -1 when PORT is empty or longer than a port. */
#define FG_NET_PORT_LEN	16
#define FG_NET_HOST_LEN	256
int fg_net_inet_split(const char *spec, char port[FG_NET_PORT_LEN],
    char host[FG_NET_HOST_LEN]);
/* port@host, port, or [v6]@... in libmilter's syntax, on family. */
int fg_net_listen_inet(const char *spec, int family, char *err,
    size_t errlen);
/* host (an IP address) and port, either family. */
int fg_net_listen_addr(const char *host, unsigned port, char *err,
    size_t errlen);
/* unix:PATH (local:PATH), inet:PORT@HOST or inet6:PORT@HOST. */
int fg_net_listen(const char *spec, char *err, size_t errlen);
/* Whether spec names a UNIX socket; its path then. */
const char *fg_net_unix_spec(const char *spec);
/* A blocking client connection; -1 with errno kept. */
int fg_net_connect_unix(const char *path);

#endif
