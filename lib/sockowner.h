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
#include <sys/types.h>

/* What the kernel says of a client's end, besides -1 (not asked). */
#define FG_SOCK_NONE	0	/* not on this host */
#define FG_SOCK_OWNED	1	/* on this host; *uid made it */
#define FG_SOCK_CLOSED	2	/* on this host, closed by whoever made it:
				 * the kernel keeps its ports for a while,
				 * not its owner */
#define FG_SOCK_GONE	3	/* from an address of this host, and no
				 * socket left: reset by its process */

/*
 * The user owning the socket at client:cport connected to server:sport
 * (addresses in any spelling fg_client_addr reads): FG_SOCK_OWNED and
 * *uid when this host (floodgate's network namespace) holds that socket;
 * FG_SOCK_CLOSED when it holds what is left of it after its process
 * closed it (a client that wrote a whole transaction and went, before
 * the MTA read its MAIL); FG_SOCK_NONE when it does not (a client on
 * another host) or an address is not an IP address; -1 when the kernel
 * could not be asked, errno kept.
 */
int fg_sockowner(const char *client, unsigned cport, const char *server,
    unsigned sport, uid_t *uid);
/*
 * The same, for a connection to the MTA whose server end is server (the
 * MTA's {daemon_addr}): one lookup. Sendmail gives its listening
 * address, which may be a wildcard (or none may come): then the
 * client's own address and the loopback address are tried, where a
 * local client connects from and to. No socket found for a client
 * whose address is this host's: FG_SOCK_GONE.
 */
int fg_sockowner_smtp(const char *client, unsigned cport, const char *server,
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
/* The user's name, or its number when it has none; "" when not found
 * for another reason than a missing entry (errno kept). */
void fg_user_name(uid_t uid, char *out, size_t outlen);

#endif
