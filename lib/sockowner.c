/*
 * The local user behind an SMTP connection (see sockowner.h), asked of
 * the kernel's sock_diag netlink interface: one exact lookup of the
 * client's end of the connection, a hash lookup in the kernel, answered
 * before the request's send returns, for a client whose address the
 * routing table says is this host's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"
#include "sockowner.h"
#include "util.h"

struct ip {
	int family;
	unsigned char a[16];	/* 4 bytes for AF_INET */
};

/* A netlink reply, aligned for its headers. */
union nl_reply {
	char buf[8192];
	struct nlmsghdr h;
};

static int ip_parse(const char *s, struct ip *ip);
static int ip_any(const struct ip *ip);
static int diag(const struct ip *a, unsigned aport, const struct ip *p,
    unsigned pport, struct inet_diag_msg *m);
static int ask(const struct ip *c, unsigned cport, const struct ip *s,
    unsigned sport, uid_t *uid);
static int mta_here(const struct ip *s, unsigned sport, const struct ip *c,
    unsigned cport);
static int nl_ask(int proto, const void *req, size_t len, void *rep,
    size_t cap);
static int local_addr(const struct ip *a);

/* An address in fg_client_addr's spelling: a v4-mapped one as IPv4. */
static int
ip_parse(const char *s, struct ip *ip)
{
	char n[INET6_ADDRSTRLEN];

	memset(ip, 0, sizeof(*ip));
	if (s == NULL || !fg_client_addr(s, n, sizeof(n)))
		return -1;
	ip->family = strchr(n, ':') != NULL ? AF_INET6 : AF_INET;
	return inet_pton(ip->family, n, ip->a) == 1 ? 0 : -1;
}

static int
ip_any(const struct ip *ip)
{
	static const unsigned char zero[16];

	return memcmp(ip->a, zero, ip->family == AF_INET ? 4 : 16) == 0;
}

/*
 * One netlink request and its reply (the kernel answers sock_diag and
 * route requests within the send: never wait for it). The reply's
 * length, or -1 with errno.
 */
static int
nl_ask(int proto, const void *req, size_t len, void *rep, size_t cap)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	ssize_t n;
	int fd, e;

	if ((fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, proto)) < 0)
		return -1;
	if (sendto(fd, req, len, 0, (struct sockaddr *)&nl, sizeof(nl)) !=
	    (ssize_t)len) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	n = recv(fd, rep, cap, MSG_DONTWAIT);
	e = errno;
	close(fd);
	errno = e;
	return n < 0 ? -1 : (int)n;
}

/*
 * Whether a is an address of this host, as its routing table says (a
 * bind test would be fooled by ip_nonlocal_bind): 1, 0, or -1.
 */
static int
local_addr(const struct ip *a)
{
	struct {
		struct nlmsghdr nlh;
		struct rtmsg rt;
		struct rtattr dst;
		unsigned char addr[16];
	} req;
	union nl_reply rep;
	const struct nlmsghdr *h;
	size_t alen = a->family == AF_INET ? 4 : 16;
	int n;

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = NLMSG_LENGTH(sizeof(req.rt)) + RTA_LENGTH(alen);
	req.nlh.nlmsg_type = RTM_GETROUTE;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.rt.rtm_family = (unsigned char)a->family;
	req.rt.rtm_dst_len = (unsigned char)(alen * 8);
	req.dst.rta_len = (unsigned short)RTA_LENGTH(alen);
	req.dst.rta_type = RTA_DST;
	memcpy(req.addr, a->a, alen);
	if ((n = nl_ask(NETLINK_ROUTE, &req, req.nlh.nlmsg_len, rep.buf,
	    sizeof(rep.buf))) < 0)
		return -1;
	for (h = &rep.h; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR)
			return 0;	/* no route: not ours */
		if (h->nlmsg_type == RTM_NEWROUTE &&
		    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct rtmsg)))
			return ((const struct rtmsg *)NLMSG_DATA(h))->rtm_type ==
			    RTN_LOCAL;
	}
	return 0;
}

/*
 * One exact lookup of the socket whose own end is a:aport and whose peer
 * is p:pport, or, for want of one, of a listener on a:aport: 1 and *m
 * filled, 0 when there is neither, -1 with errno.
 */
static int
diag(const struct ip *a, unsigned aport, const struct ip *p, unsigned pport,
    struct inet_diag_msg *m)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	union nl_reply rep;
	const struct nlmsghdr *h;
	size_t alen = a->family == AF_INET ? 4 : 16;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = (unsigned char)a->family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	req.r.id.idiag_sport = htons((uint16_t)aport);
	req.r.id.idiag_dport = htons((uint16_t)pport);
	memcpy(req.r.id.idiag_src, a->a, alen);
	memcpy(req.r.id.idiag_dst, p->a, alen);
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

	if ((n = nl_ask(NETLINK_SOCK_DIAG, &req, sizeof(req), rep.buf,
	    sizeof(rep.buf))) < 0)
		return -1;
	for (h = &rep.h; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *err = NLMSG_DATA(h);

			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*err))) {
				errno = EPROTO;
				return -1;
			}
			if (err->error == -ENOENT)
				return 0;
			errno = -err->error;
			return -1;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
		    h->nlmsg_len >= NLMSG_LENGTH(sizeof(*m))) {
			memcpy(m, NLMSG_DATA(h), sizeof(*m));
			return 1;
		}
	}
	return 0;
}

/*
 * The client's end: the socket whose own end is c:cport and whose peer
 * is s:sport. A listener on c:cport would match too when no connection
 * does; only a connected socket answers here. A socket a dual-stack
 * client made (::ffff:127.0.0.1) is found as IPv4: the kernel keys such
 * a connection by its IPv4 addresses.
 */
static int
ask(const struct ip *c, unsigned cport, const struct ip *s, unsigned sport,
    uid_t *uid)
{
	struct inet_diag_msg m;
	int r;

	if ((r = diag(c, cport, s, sport, &m)) <= 0)
		return r < 0 ? -1 : FG_SOCK_NONE;
	if (m.idiag_state == TCP_LISTEN ||
	    m.id.idiag_sport != htons((uint16_t)cport) ||
	    m.id.idiag_dport != htons((uint16_t)sport))
		return FG_SOCK_NONE;
	/* A socket its process closed becomes, once its FIN is
	 * acknowledged, a time-wait remnant that the kernel reports with no
	 * inode and uid 0: not root's. */
	if (m.idiag_inode == 0 && m.idiag_uid == 0)
		return FG_SOCK_CLOSED;
	*uid = (uid_t)m.idiag_uid;
	return FG_SOCK_OWNED;
}

/*
 * Whether the MTA's end is in floodgate's network namespace: its end of
 * the connection, or at least the listener the client reached (s:sport,
 * which a wildcard listener answers for any of the host's addresses).
 * 1, 0, or -1.
 */
static int
mta_here(const struct ip *s, unsigned sport, const struct ip *c,
    unsigned cport)
{
	struct inet_diag_msg m;

	return diag(s, sport, c, cport, &m);
}

int
fg_sockowner(const char *client, unsigned cport, const char *server,
    unsigned sport, uid_t *uid)
{
	struct ip c, s, lo;
	int r, also_lo = 0;

	if (ip_parse(client, &c) < 0 || cport == 0 || cport > 65535 ||
	    sport == 0 || sport > 65535)
		return FG_SOCK_NONE;
	/* Most clients are on other hosts: the routing table tells, one
	 * question; the loopback is this host's without asking. */
	ip_parse(c.family == AF_INET ? "127.0.0.1" : "::1", &lo);
	if (!(c.family == AF_INET ? c.a[0] == 127 :
	    memcmp(&c, &lo, sizeof(c)) == 0) &&
	    (r = local_addr(&c)) != 1)
		return r;
	if (ip_parse(server, &s) == 0 && !ip_any(&s)) {
		/* The connection's own server address (Postfix's, or a
		 * listener bound to one address): the one answer there is. */
		if (s.family != c.family)
			return FG_SOCK_NONE;
		r = ask(&c, cport, &s, sport, uid);
	} else {
		/* A wildcard: a local client connects from the address it
		 * connects to, unless it bound another; to the loopback from
		 * any address of the host. */
		s = c;
		also_lo = memcmp(&lo, &c, sizeof(c)) != 0;
		r = ask(&c, cport, &c, sport, uid);
		if (r == FG_SOCK_NONE && also_lo)
			r = ask(&c, cport, &lo, sport, uid);
	}
	if (r != FG_SOCK_NONE)
		return r;
	/* A client of this host's address, and no socket: it was reset
	 * (closed at once, SO_LINGER 0) before the MTA read its MAIL, and
	 * nothing of it is left; unless the MTA's end is not here either,
	 * when floodgate looks in another network namespace than the
	 * MTA's, where no client's socket can be found. */
	if ((r = mta_here(&s, sport, &c, cport)) == 0 && also_lo)
		r = mta_here(&lo, sport, &c, cport);
	if (r < 0)
		return -1;
	return r ? FG_SOCK_GONE : FG_SOCK_ELSEWHERE;
}

int
fg_sockowner_probe(void)
{
	struct ip lo;
	uid_t uid;

	/* Port 1 to port 1 on the loopback: nobody's, but asked. */
	ip_parse("127.0.0.1", &lo);
	return ask(&lo, 1, &lo, 1, &uid) < 0 ? -1 : 0;
}

int
fg_uid_regular(uid_t uid)
{
	return uid >= FG_USER_UID_MIN && uid <= FG_USER_UID_MAX;
}

/*
 * Names by uid, each kept FG_USER_NAME_TTL seconds. getpwuid_r reads
 * /etc/passwd from its start at every call (0.4 ms for a user near the
 * end of 5,000 on this project's test machines), or asks a directory
 * server; on the native engine's one loop every session waits for it.
 * Four ways to a set, so that uids a multiple of the set count apart
 * (tenants' uids are made in a row) share a set without evicting one
 * another; a set's oldest entry makes way. A missing entry (the number
 * answered) is kept as long; a failed lookup is not kept.
 */
#define NAME_SETS	512
#define NAME_WAYS	4
#define NAME_LEN	64

struct name_slot {
	int64_t at;		/* fg_mono_us() when looked up; 0: empty */
	uid_t uid;
	char name[NAME_LEN];
};

static struct name_slot names[NAME_SETS][NAME_WAYS];
static unsigned names_gen;	/* one more at each forgetting */
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ullong names_hits, names_asked;

/* The slot of a set that holds uid, however old; NULL if none does. */
static struct name_slot *
slot_of(struct name_slot *set, uid_t uid)
{
	size_t i;

	for (i = 0; i < NAME_WAYS; i++)
		if (set[i].at != 0 && set[i].uid == uid)
			return &set[i];
	return NULL;
}

static void
user_name_asked(uid_t uid, char *out, size_t outlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e;

	e = getpwuid_r(uid, &pw, buf, sizeof(buf), &res);
	if (res != NULL)
		fg_strlcpy(out, pw.pw_name, outlen);
	else if (e == 0 || e == ENOENT || e == ESRCH)
		snprintf(out, outlen, "%lu", (unsigned long)uid);
	else {
		errno = e;
		out[0] = '\0';
	}
}

void
fg_user_name_at(uid_t uid, int64_t now_us, char *out, size_t outlen)
{
	struct name_slot *set = names[uid % NAME_SETS], *old;
	const int64_t ttl = (int64_t)FG_USER_NAME_TTL * 1000000;
	char name[256];
	unsigned gen;
	int e;
	size_t i;

	if (outlen == 0)
		return;
	pthread_mutex_lock(&names_lock);
	if ((old = slot_of(set, uid)) != NULL && now_us >= old->at &&
	    now_us - old->at < ttl) {
		fg_strlcpy(out, old->name, outlen);
		pthread_mutex_unlock(&names_lock);
		atomic_fetch_add(&names_hits, 1);
		return;
	}
	gen = names_gen;
	pthread_mutex_unlock(&names_lock);
	/* Asked with the lock released: a slow directory holds up this
	 * lookup only. */
	atomic_fetch_add(&names_asked, 1);
	user_name_asked(uid, name, sizeof(name));
	e = errno;
	fg_strlcpy(out, name, outlen);
	if (name[0] == '\0' || strlen(name) >= NAME_LEN) {
		errno = e;
		return;
	}
	pthread_mutex_lock(&names_lock);
	/* Not when forgotten meanwhile: the answer may be older. */
	if (gen == names_gen) {
		/* Its own slot, else the set's oldest (or an empty one). */
		if ((old = slot_of(set, uid)) == NULL)
			for (old = &set[0], i = 1; i < NAME_WAYS; i++)
				if (set[i].at < old->at)
					old = &set[i];
		old->uid = uid;
		old->at = now_us > 0 ? now_us : 1;
		fg_strlcpy(old->name, name, sizeof(old->name));
	}
	pthread_mutex_unlock(&names_lock);
	errno = e;
}

void
fg_user_name(uid_t uid, char *out, size_t outlen)
{
	fg_user_name_at(uid, fg_mono_us(), out, outlen);
}

void
fg_user_names_forget(void)
{
	pthread_mutex_lock(&names_lock);
	memset(names, 0, sizeof(names));
	names_gen++;
	pthread_mutex_unlock(&names_lock);
}

void
fg_user_name_counts(unsigned long long *hits, unsigned long long *asked)
{
	*hits = atomic_load(&names_hits);
	*asked = atomic_load(&names_asked);
}
