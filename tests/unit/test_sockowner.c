/* Unit tests of lib/sockowner.c: the kernel's answer for real loopback
 * connections made by the test itself. */
#include <dlfcn.h>
#include <ifaddrs.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "helpers.h"
#include "sockowner.h"

/* Closes fd at once with a reset (SO_LINGER 0): nothing of its socket
 * is left. */
static void
reset_close(int fd)
{
	struct linger lg = { 1, 0 };

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
	    sizeof(lg)), 0);
	close(fd);
}

static void
test_ipv4(void **state)
{
	struct conn k;
	unsigned port, cport;
	uid_t uid = (uid_t)-1;

	(void)state;
	assert_int_equal(fg_sockowner_probe(), 0);
	assert_true(conn_open(&k, AF_INET, AF_INET, "127.0.0.1"));
	port = k.port;
	cport = k.cport;
	assert_int_equal(fg_sockowner("127.0.0.1", cport, "127.0.0.1", port, &uid), FG_SOCK_OWNED);
	assert_int_equal(uid, getuid());
	/* In the spellings MTAs give. */
	uid = (uid_t)-1;
	assert_int_equal(fg_sockowner("::ffff:127.0.0.1", cport, "IPv6:::ffff:127.0.0.1", port, &uid), FG_SOCK_OWNED);
	assert_int_equal(uid, getuid());
	/* Sendmail's listening address, a wildcard: the client's own
	 * address answers. */
	uid = (uid_t)-1;
	assert_int_equal(fg_sockowner("127.0.0.1", cport, "0.0.0.0", port, &uid), FG_SOCK_OWNED);
	assert_int_equal(uid, getuid());
	uid = (uid_t)-1;
	assert_int_equal(fg_sockowner("127.0.0.1", cport, NULL, port, &uid), FG_SOCK_OWNED);
	assert_int_equal(uid, getuid());
	/* A loopback port with no socket, the listener here: reset and
	 * gone. Nothing at the server's port either: not this namespace's
	 * MTA. */
	assert_int_equal(fg_sockowner("127.0.0.1", cport + 1 > 65535 ? 1 : cport + 1, "127.0.0.1", port, &uid), FG_SOCK_GONE);
	assert_int_equal(fg_sockowner("127.0.0.1", cport + 1 > 65535 ? 1 : cport + 1, "0.0.0.0", port, &uid), FG_SOCK_GONE);
	assert_int_equal(fg_sockowner("127.0.0.1", cport, "127.0.0.1", port + 1 > 65535 ? 1 : port + 1, &uid), FG_SOCK_ELSEWHERE);
	/* A client on another host: no socket here. */
	assert_int_equal(fg_sockowner("192.0.2.1", cport, "127.0.0.1", port, &uid), FG_SOCK_NONE);
	/* Not addresses, or no ports: nobody's, the kernel not asked. */
	assert_int_equal(fg_sockowner("localhost", cport, "127.0.0.1", port, &uid), FG_SOCK_NONE);
	assert_int_equal(fg_sockowner("127.0.0.1", 0, "127.0.0.1", port, &uid), FG_SOCK_NONE);
	assert_int_equal(fg_sockowner("127.0.0.1", cport, "::1", port, &uid), FG_SOCK_NONE);
	assert_int_equal(fg_sockowner("127.0.0.1", 70000, "127.0.0.1", port, &uid), FG_SOCK_NONE);
	close(k.a);
	close(k.c);
	/* The listener itself is nobody's client (the kernel would find
	 * it for want of a connection): the loopback's, so gone. */
	assert_int_equal(fg_sockowner("127.0.0.1", port, "127.0.0.1", port, &uid), FG_SOCK_GONE);
	close(k.l);
}

/* A client that closes its socket while the server still reads (a
 * transaction written whole, then gone): once its FIN is acknowledged
 * the kernel keeps a remnant with the ports and no owner. */
static void
test_closed(void **state)
{
	struct conn k;
	uid_t uid = (uid_t)-1;
	int r = -1, i;

	(void)state;
	assert_true(conn_open(&k, AF_INET, AF_INET, "127.0.0.1"));
	close(k.c);
	for (i = 0; i < 100; i++) {
		r = fg_sockowner("127.0.0.1", k.cport, "127.0.0.1", k.port, &uid);
		if (r != FG_SOCK_OWNED)
			break;
		usleep(10000);
	}
	assert_int_equal(r, FG_SOCK_CLOSED);
	close(k.a);
	close(k.l);

	/* Reset instead (SO_LINGER 0): nothing is left of the client's
	 * socket, and its address is this host's. */
	assert_true(conn_open(&k, AF_INET, AF_INET, "127.0.0.1"));
	reset_close(k.c);
	assert_int_equal(fg_sockowner("127.0.0.1", k.cport, "127.0.0.1", k.port, &uid),
	    FG_SOCK_GONE);
	/* The same for a client on another host: not ours, nobody's. */
	assert_int_equal(fg_sockowner("192.0.2.1", k.cport, "127.0.0.1", k.port, &uid),
	    FG_SOCK_NONE);
	close(k.a);
	close(k.l);

	/* Reset on a dual-stack wildcard listener ([::], as Sendmail's
	 * Family=inet6 gives it): that listener answers for the IPv4
	 * loopback too, so the client is gone, not elsewhere. */
	{
		struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
		socklen_t len = sizeof(in6);
		int off = 0;

		k.l = socket(AF_INET6, SOCK_STREAM, 0);
		assert_true(k.l >= 0);
		assert_int_equal(setsockopt(k.l, IPPROTO_IPV6, IPV6_V6ONLY, &off,
		    sizeof(off)), 0);
		if (bind(k.l, (struct sockaddr *)&in6, sizeof(in6)) < 0) {
			print_message("no IPv6: dual-stack case skipped\n");
			close(k.l);
			return;
		}
		assert_int_equal(listen(k.l, 4), 0);
		assert_int_equal(getsockname(k.l, (struct sockaddr *)&in6, &len), 0);
		k.port = ntohs(in6.sin6_port);
		k.c = client(AF_INET, "127.0.0.1", k.port, &k.cport);
		k.a = accept(k.l, NULL, NULL);
		assert_true(k.a >= 0);
		assert_int_equal(fg_sockowner("127.0.0.1", k.cport, "::", k.port, &uid),
		    FG_SOCK_OWNED);
		reset_close(k.c);
		assert_int_equal(fg_sockowner("127.0.0.1", k.cport, "::", k.port, &uid),
		    FG_SOCK_GONE);
		assert_int_equal(fg_sockowner("IPv6:::ffff:127.0.0.1", k.cport, "IPv6:::", k.port, &uid),
		    FG_SOCK_GONE);
		close(k.a);
		close(k.l);
	}
}

/* A client of another of the host's addresses (the routing table says
 * it is this host's), when the host has one. */
static void
test_host_address(void **state)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof(in);
	struct ifaddrs *ifs, *i;
	char addr[INET_ADDRSTRLEN] = "";
	unsigned port, cport;
	uid_t uid = (uid_t)-1;
	int l, c, a;

	(void)state;
	assert_int_equal(getifaddrs(&ifs), 0);
	for (i = ifs; i != NULL && addr[0] == '\0'; i = i->ifa_next)
		if (i->ifa_addr != NULL && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr !=
		    htonl(INADDR_LOOPBACK))
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr,
			    addr, sizeof(addr));
	freeifaddrs(ifs);
	if (addr[0] == '\0') {
		print_message("no address but the loopback: skipped\n");
		return;
	}
	l = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&in, &len), 0);
	port = ntohs(in.sin_port);
	c = client(AF_INET, addr, port, &cport);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	/* Sendmail's wildcard and Postfix's own address alike. */
	assert_int_equal(fg_sockowner(addr, cport, "0.0.0.0", port, &uid), FG_SOCK_OWNED);
	assert_int_equal(uid, getuid());
	assert_int_equal(fg_sockowner(addr, cport, addr, port, &uid), FG_SOCK_OWNED);
	/* This host's address, a port with no socket: gone. */
	assert_int_equal(fg_sockowner(addr, cport + 1 > 65535 ? 1 : cport + 1, addr, port, &uid),
	    FG_SOCK_GONE);
	close(a);
	close(c);
	close(l);
}

/* A dual-stack client connecting to an IPv4 server through a mapped
 * address: the kernel keys it by its IPv4 addresses, as the MTA names
 * it. And a connection over the IPv6 loopback. */
static void
test_ipv6(void **state)
{
	struct conn k;
	uid_t uid = (uid_t)-1;

	(void)state;
	assert_true(conn_open(&k, AF_INET, AF_INET6, "::ffff:127.0.0.1"));
	assert_int_equal(fg_sockowner("127.0.0.1", k.cport, "127.0.0.1", k.port, &uid), FG_SOCK_OWNED);
	assert_int_equal(uid, getuid());
	conn_close(&k);

	if (!conn_open(&k, AF_INET6, AF_INET6, "::1")) {
		print_message("no IPv6 loopback: skipped\n");
		return;
	}
	uid = (uid_t)-1;
	assert_int_equal(fg_sockowner("IPv6:::1", k.cport, "::", k.port, &uid), FG_SOCK_OWNED);
	assert_int_equal(uid, getuid());
	assert_int_equal(fg_sockowner("2001:db8::1", k.cport, "::1", k.port, &uid), FG_SOCK_NONE);
	conn_close(&k);
}

/*
 * floodgate in a network namespace of its own (systemd's PrivateNetwork=)
 * asked of a connection made in the host's: neither end is found there,
 * which is told apart from a client that reset; a client of the host's
 * other addresses is not this namespace's at all. Asked from a child
 * that made the namespace (root only: skipped otherwise).
 */
static void
test_elsewhere(void **state)
{
	struct conn k, k6;
	uid_t uid;
	pid_t pid;
	int st, six;

	(void)state;
	assert_true(conn_open(&k, AF_INET, AF_INET, "127.0.0.1"));
	six = conn_open(&k6, AF_INET6, AF_INET6, "::1");
	if ((pid = fork()) == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(77);
		if (fg_sockowner("127.0.0.1", k.cport, "127.0.0.1", k.port, &uid) != FG_SOCK_ELSEWHERE)
			_exit(1);
		/* Sendmail's wildcard: the loopback's listener is not here
		 * either. */
		if (fg_sockowner("127.0.0.1", k.cport, "0.0.0.0", k.port, &uid) != FG_SOCK_ELSEWHERE)
			_exit(2);
		if (six && fg_sockowner("::1", k6.cport, "::1", k6.port, &uid) != FG_SOCK_ELSEWHERE)
			_exit(3);
		if (fg_sockowner("192.0.2.1", k.cport, "127.0.0.1", k.port, &uid) != FG_SOCK_NONE)
			_exit(4);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		print_message("no network namespace of its own (not root?): skipped\n");
	else
		assert_int_equal(WEXITSTATUS(st), 0);
	/* Back in the host's: the same connection is found. */
	assert_int_equal(fg_sockowner("127.0.0.1", k.cport, "127.0.0.1", k.port, &uid), FG_SOCK_OWNED);
	conn_close(&k);
	if (six)
		conn_close(&k6);
}

static void
test_user_name(void **state)
{
	char name[64];

	(void)state;
	assert_false(fg_uid_regular(0));
	assert_false(fg_uid_regular(33));	/* www-data */
	assert_false(fg_uid_regular(999));
	assert_true(fg_uid_regular(1000));
	assert_true(fg_uid_regular(60000));
	assert_false(fg_uid_regular(65534));	/* nobody */
	fg_user_name(0, name, sizeof(name));
	assert_string_equal(name, "root");
	/* No passwd entry: the number, as ps(1) shows it. */
	fg_user_name(3999999, name, sizeof(name));
	assert_string_equal(name, "3999999");
}

/*
 * Names are kept FG_USER_NAME_TTL seconds, a number for a uid without
 * a name too, four uids to a set; forgetting (a reload) asks again.
 * The user database is an /etc/passwd of the test's, bound over the
 * real one in a mount namespace of a child's (root only: skipped
 * otherwise).
 */
static int
passwd_as(const char *dir, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/passwd", dir);
	unlink(path);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "root:x:0:0:root:/root:/bin/sh\n%s", text);
	if (fclose(f) != 0)
		return -1;
	umount2("/etc/passwd", MNT_DETACH);
	return mount(path, "/etc/passwd", NULL, MS_BIND, NULL);
}

/* The C library's getpwuid_r, with a reload that lands while it
 * answers when reload_in_lookup is set (this program's definition is
 * the one lib/sockowner.c calls). */
static int reload_in_lookup;

int
getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
    struct passwd **res)
{
	static int (*libc)(uid_t, struct passwd *, char *, size_t,
	    struct passwd **);
	int e;

	if (libc == NULL && (libc = (int (*)(uid_t, struct passwd *, char *,
	    size_t, struct passwd **))dlsym(RTLD_NEXT, "getpwuid_r")) == NULL)
		abort();
	e = libc(uid, pw, buf, len, res);
	if (reload_in_lookup) {
		reload_in_lookup = 0;
		fg_user_names_forget();
	}
	return e;
}

/* The name at now_us, and whether it was kept (1) or asked (0). */
static int
name_is(uid_t uid, int64_t now_us, const char *want, int kept)
{
	unsigned long long h0, a0, h1, a1;
	char name[64];

	fg_user_name_counts(&h0, &a0);
	fg_user_name_at(uid, now_us, name, sizeof(name));
	fg_user_name_counts(&h1, &a1);
	return strcmp(name, want) == 0 && h1 - h0 == (unsigned long long)kept &&
	    a1 - a0 == (unsigned long long)!kept;
}

static void
test_user_name_kept(void **state)
{
	const int64_t s = 1000000, t0 = 5000 * s,
	    ttl = (int64_t)FG_USER_NAME_TTL * s;
	const uid_t u = 3999000;	/* a multiple of the 512 sets */
	char dir[] = "/tmp/fg-passwd-XXXXXX", line[512];
	pid_t pid;
	int st;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	if ((pid = fork()) == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(77);
		fg_user_names_forget();
		if (passwd_as(dir, "alice:x:3999000:3999000::/:/bin/false\n") < 0)
			_exit(77);
		if (!name_is(u, t0, "alice", 0) || !name_is(u, t0 + s, "alice", 1))
			_exit(1);
		/* Renamed: the old name until it is FG_USER_NAME_TTL old. */
		if (passwd_as(dir, "carol:x:3999000:3999000::/:/bin/false\n") < 0)
			_exit(10);
		if (!name_is(u, t0 + ttl - 1, "alice", 1) ||
		    !name_is(u, t0 + ttl, "carol", 0) ||
		    !name_is(u, t0 + ttl + s, "carol", 1))
			_exit(2);
		/* A reload forgets at once. */
		if (passwd_as(dir, "dave:x:3999000:3999000::/:/bin/false\n") < 0)
			_exit(10);
		fg_user_names_forget();
		if (!name_is(u, t0 + ttl + 2 * s, "dave", 0))
			_exit(3);
		/* A reload while the directory answers: the answer is given
		 * but not kept (it may be older than the reload). */
		fg_user_names_forget();
		reload_in_lookup = 1;
		if (!name_is(u, t0 + ttl + 3 * s, "dave", 0) ||
		    !name_is(u, t0 + ttl + 4 * s, "dave", 0) ||
		    !name_is(u, t0 + ttl + 5 * s, "dave", 1))
			_exit(8);
		/* No name: the number, kept as long. */
		if (!name_is(u + 1, t0, "3999001", 0) ||
		    !name_is(u + 1, t0 + s, "3999001", 1))
			_exit(4);
		/* Five uids of one set: the oldest makes way for the fifth,
		 * the four others are kept. */
		fg_user_names_forget();
		line[0] = '\0';
		for (i = 0; i < 5; i++)
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
			    "u%zu:x:%lu:100::/:/bin/false\n", i,
			    (unsigned long)(u + 512 * i));
		if (passwd_as(dir, line) < 0)
			_exit(10);
		for (i = 0; i < 5; i++) {
			char want[16];

			snprintf(want, sizeof(want), "u%zu", i);
			if (!name_is(u + 512 * (uid_t)i, t0 + (int64_t)i * s, want, 0))
				_exit(5);
		}
		for (i = 1; i < 5; i++) {
			char want[16];

			snprintf(want, sizeof(want), "u%zu", i);
			if (!name_is(u + 512 * (uid_t)i, t0 + 6 * s, want, 1))
				_exit(6);
		}
		if (!name_is(u, t0 + 6 * s, "u0", 0))
			_exit(7);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	snprintf(line, sizeof(line), "%s/passwd", dir);
	unlink(line);
	rmdir(dir);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		print_message("no mount namespace of its own (not root?): skipped\n");
	else
		assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_closed),
		cmocka_unit_test(test_host_address),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_elsewhere),
		cmocka_unit_test(test_user_name),
		cmocka_unit_test(test_user_name_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
