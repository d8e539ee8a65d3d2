/* Unit tests of lib/net.c: listeners made with their mode, never by path. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "helpers.h"
#include "net.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fg-unit-net-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_unix(void **state)
{
	char path[128], err[512], link[160];
	struct stat st;
	int fd, c, fd2;

	(void)state;
	snprintf(path, sizeof(path), "%s/milter.sock", dir);
	fd = fg_net_listen_unix(path, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	c = fg_net_connect_unix(path);
	assert_true(c >= 0);
	close(c);
	/* One a process listens on is not (a floodgate running), and goes
	 * on being served. */
	assert_true(fg_net_unix_live(path));
	assert_int_equal(fg_net_listen_unix(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/milter.sock: a process listens on this socket (is floodgate running already?); not replacing it"));
	c = fg_net_connect_unix(path);
	assert_true(c >= 0);
	close(c);
	/* A socket left by an earlier run is replaced. */
	close(fd);
	assert_false(fg_net_unix_live(path));
	fd2 = fg_net_listen_unix(path, err, sizeof(err));
	assert_true(fd2 >= 0);
	assert_true(fg_net_unix_live(path));
	close(fd2);
	assert_false(fg_net_unix_live("/nonexistent/dir/x.sock"));
	/* Anything else at the path is not: a file, or a link to one. */
	unlink(path);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(fg_net_listen_unix(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exists and is not a socket"));
	snprintf(link, sizeof(link), "%s/link.sock", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(fg_net_listen_unix(link, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exists and is not a socket"));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));	/* untouched */
	/* Errors name the path and why. */
	assert_int_equal(fg_net_listen_unix("/nonexistent/dir/x.sock", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/dir/x.sock: No such file or directory (does its directory exist?)"));
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[FG_UNIX_PATH_MAX + 1] = '\0';
	assert_int_equal(fg_net_listen_unix(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "socket path longer than 107 bytes"));
	assert_int_equal(fg_net_connect_unix(path), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

static void
test_specs(void **state)
{
	char err[512];
	int fd;

	(void)state;
	assert_string_equal(fg_net_unix_spec("unix:/a/b"), "/a/b");
	assert_string_equal(fg_net_unix_spec("local:/a/b"), "/a/b");
	assert_null(fg_net_unix_spec("inet:1@h"));
	fd = fg_net_listen("inet:0@127.0.0.1", err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	fd = fg_net_listen_addr("127.0.0.1", 0, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fg_net_listen("tcp:25", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected unix:PATH"));
	assert_int_equal(fg_net_listen("inet:@h", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected PORT@HOST"));
	assert_int_equal(fg_net_listen("inet:1@no.such.host.invalid", err, sizeof(err)), -1);
}

/* PORT@HOST as the listener, the config's check and its warning read it. */
static void
test_inet_split(void **state)
{
	char port[FG_NET_PORT_LEN], host[FG_NET_HOST_LEN];

	(void)state;
	assert_int_equal(fg_net_inet_split("8890@127.0.0.1", port, host), 0);
	assert_string_equal(port, "8890");
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(fg_net_inet_split("8890@[::1]", port, host), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(fg_net_inet_split("8890", port, host), 0);
	assert_string_equal(port, "8890");
	assert_string_equal(host, "");
	assert_int_equal(fg_net_inet_split("@h", port, host), -1);
	assert_int_equal(fg_net_inet_split("1234567890123456@h", port, host), -1);
	assert_int_equal(fg_net_inet_split("123456789012345@h", port, host), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unix, setup, teardown),
		cmocka_unit_test(test_specs),
		cmocka_unit_test(test_inet_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
