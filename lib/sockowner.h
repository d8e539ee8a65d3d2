/*
 * Which local user made an SMTP connection: the owner of the client's
 * end of a TCP connection, when that end is a socket on this host. The
 * kernel records the user who created each socket and tells anyone who
 * asks (sock_diag, what ss(8) -e prints), so a tenant's script that talks
 * SMTP to the local MTA is known by its Unix user, whatever it writes
 * in MAIL FROM.
 */
#ifndef FG_SOCKOWNER_H
#define FG_SOCKOWNER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What the kernel says of a client's end, besides -1 (not asked). */
#define FG_SOCK_NONE	0	/* not on this host */
#define FG_SOCK_OWNED	1	/* on this host; *uid made it */
#define FG_SOCK_CLOSED	2	/* on this host, closed by whoever made it:
				 * the kernel keeps its ports for a while,
				 * not its owner */
#define FG_SOCK_GONE	3	/* from an address of this host, and no
				 * socket left: reset by its process */
#define FG_SOCK_ELSEWHERE 4	/* from an address of this host, and
				 * neither its socket nor the MTA's end or
				 * listener here: floodgate is in another
				 * network namespace than the MTA */

/*
 * The user owning the client's end (client:cport, in any spelling
 * fg_client_addr reads) of a connection to the MTA at server:sport (the
 * MTA's {daemon_addr} and {daemon_port}), in floodgate's network
 * namespace: FG_SOCK_OWNED and *uid; FG_SOCK_CLOSED when what is left of
 * it after its process closed it is found (a client that wrote a whole
 * transaction and went before the MTA read its MAIL); FG_SOCK_GONE when
 * the client's address is this host's and no socket is left (reset);
 * FG_SOCK_ELSEWHERE when the MTA's end of the connection and its
 * listener are not found either (floodgate runs in another network
 * namespace than the MTA, and no local client can be told);
 * FG_SOCK_NONE for a client on another host, or values that are no
 * addresses and ports; -1 when the kernel could not be asked, errno
 * kept. One connection lookup when server is the connection's own
 * address (Postfix's); Sendmail gives its listening address, which may
 * be a wildcard (or none may come): then the client's own address and
 * the loopback are tried, where a local client connects from and to.
 */
int fg_sockowner(const char *client, unsigned cport, const char *server,
    unsigned sport, uid_t *uid);
/* Whether the kernel can be asked at all (a netlink socket may be
 * forbidden, e.g. by a unit's RestrictAddressFamilies): 0, or -1 with
 * errno. */
int fg_sockowner_probe(void);
/*
 * Whether uid is a regular user's, as useradd(8) makes them (Debian's
 * login.defs: UID_MIN 1000 to UID_MAX 60000): a tenant. Below are system
 * users (root, www-data, Sendmail's smmsp) whose connections carry other
 * people's mail; above, nobody and ranges kept for containers.
 */
#define FG_USER_UID_MIN	1000
#define FG_USER_UID_MAX	60000
int fg_uid_regular(uid_t uid);
/*
 * The user's name, or its number when it has none; "" when not found
 * for another reason than a missing entry (errno kept). An answer is
 * kept FG_USER_NAME_TTL seconds (a failure is not): a user renamed or
 * removed is seen within that time, or at once after
 * fg_user_names_forget() (a reload). Thread-safe.
 */
#define FG_USER_NAME_TTL	60
void fg_user_name(uid_t uid, char *out, size_t outlen);
/* fg_user_name() at fg_mono_us() now_us (for tests). */
void fg_user_name_at(uid_t uid, int64_t now_us, char *out, size_t outlen);
void fg_user_names_forget(void);
/* Answers from what was kept, and lookups made, since the start. */
void fg_user_name_counts(unsigned long long *hits, unsigned long long *asked);

#endif
