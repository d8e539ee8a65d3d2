/* Unit tests of lib/config_warn.c: what loads but cannot work as
 * written is warned about, with its statement's line. */
#include <sys/stat.h>

#include "helpers.h"
#include "config.h"

static struct fg_config *
load(const char *text, char *err, size_t errlen)
{
	return fg_config_load(tmpfile_with(text), err, errlen);
}

/* fg_config_warnings' lines, "LINE: MESSAGE\n" each, into a buffer. */
static void
collect_warning(void *arg, int line, const char *msg)
{
	char *buf = arg;
	size_t n = strlen(buf);

	snprintf(buf + n, 4096 - n, "%d: %s\n", line, msg);
}

static void
warnings_of(const char *text, char *buf)
{
	char err[FG_CONFIG_ERRLEN];
	struct fg_config *c = load(text, err, sizeof(err));

	if (c == NULL)
		fail_msg("%s", err);
	buf[0] = '\0';
	fg_config_warnings(c, collect_warning, buf);
	fg_config_unref(c);
}

/* What cannot work as written is warned about, with the statement's
 * line: feedback limits and backoffs without the log they count from,
 * a backoff without a map (once), relays and the redis_* statements
 * without Redis, notify_from and notify_max without a notify. */
static void
test_warnings(void **state)
{
	char buf[4096];

	(void)state;
	warnings_of("relays 3\n"
	    "limit a per account 10/1h\n"
	    "limit u per account 5/1h count unknown action suspend\n"
	    "limit b per account 5/1d count bounces ratio 10%\n"
	    "backoff car after 5/10m for 1h\n", buf);
	assert_string_equal(buf,
	    "3: limit u counts unknown recipients, which floodgate reads from the MTA's log: without delivery_log it never trips\n"
	    "4: limit b counts bounced recipients, which floodgate reads from the MTA's log: without delivery_log it never trips\n"
	    "5: backoff car counts temporary failures, which floodgate reads from the MTA's log: without delivery_log it never pauses\n"
	    "1: relays 3 does nothing with store sqlite: it divides the limits while a shared Redis store is down\n");
	warnings_of("delivery_log journal\n"
	    "limit u per account 5/1h count unknown\n"
	    "backoff car after 5/10m for 1h\n"
	    "backoff unr after 20/10m on connect for 10m\n", buf);
	assert_string_equal(buf,
	    "3: backoff car: without postfix_map (or sendmail_map) a pause defers only new recipients, and the MTA keeps retrying its queued mail to the paused domain\n");
	warnings_of("delivery_log journal\n"
	    "sendmail_map unix:/run/floodgate/map.sock\n"
	    "limit u per account 5/1h count unknown\n"
	    "backoff car after 5/10m for 1h\n", buf);
	assert_string_equal(buf, "");
	warnings_of("store redis://10.0.0.5\nrelays 3\n"
	    "limit a per account 10/1h\n", buf);
	assert_string_equal(buf, "");
	/* What only Redis or a notify reads, written without either; its
	 * defaults are no warning. */
	warnings_of("redis_timeout 100ms\nnotify_max 5\nredis_prefix x\n"
	    "notify_from fg\n", buf);
	assert_string_equal(buf,
	    "4: notify_from does nothing without a notify statement: it is read only to send notices\n"
	    "2: notify_max does nothing without a notify statement: it is read only to send notices\n"
	    "3: redis_prefix does nothing with store sqlite: only a shared Redis store reads it\n"
	    "1: redis_timeout does nothing with store sqlite: only a shared Redis store reads it\n");
	warnings_of("store redis://10.0.0.5\nredis_timeout 100ms\n"
	    "notify mailto:ops@example.com\nnotify_max 5\n", buf);
	assert_string_equal(buf, "");
	/* A target named twice with an event in common is told twice;
	 * the same target for other events, or another target, is not. */
	warnings_of("notify mailto:ops@example.com\n"
	    "notify exec:/usr/local/bin/page on suspend\n"
	    "notify mailto:OPS@example.com on pause,refused,store\n"
	    "notify exec:/usr/local/bin/page on pause\n"
	    "notify exec:/usr/local/bin/other on suspend\n"
	    "notify mailto:ops@example.com on refused\n", buf);
	assert_string_equal(buf,
	    "3: notify mailto:OPS@example.com: also at line 1, so each incident of pause,store is told to it twice\n"
	    "6: notify mailto:ops@example.com: also at line 3, so each incident of refused is told to it twice\n");
	/* bounces named without a feedback limit; by default, or with
	 * one (whose own line says when the log is missing), no such
	 * warning. */
	warnings_of("notify mailto:ops@example.com on suspend,bounces\n"
	    "limit a per account 10/1h\n"
	    "notify exec:/usr/local/bin/page\n", buf);
	assert_string_equal(buf,
	    "1: notify mailto:ops@example.com on bounces: no limit counts unknown or bounced recipients, so no bounces incident ever comes\n");
	warnings_of("notify exec:/usr/local/bin/page on bounces\n"
	    "limit u per account 5/1h count unknown\n", buf);
	assert_string_equal(buf,
	    "2: limit u counts unknown recipients, which floodgate reads from the MTA's log: without delivery_log it never trips\n");
	warnings_of("delivery_log journal\n"
	    "notify exec:/usr/local/bin/page on bounces\n"
	    "limit u per account 5/1h count unknown\n", buf);
	assert_string_equal(buf, "");
}

/* More targets told of one event than the notify programs floodgate
 * runs at a time: said once, at the first line past them, naming the
 * events it is the first past them of; 16 for an event are no warning,
 * nor 17 lines of which no 17 share one. */
static void
test_warn_many_targets(void **state)
{
	char text[4096], buf[4096];
	size_t o = 0;
	int i;

	(void)state;
	/* 1 to 15: suspend,pause; 16: suspend; 17: suspend,pause (the
	 * 17th of suspend, the 16th of pause); 18: pause (its 17th); 19:
	 * suspend,refused (past them for suspend already: not said). */
	for (i = 1; i <= 19; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "notify exec:/usr/local/bin/page%d on %s\n", i,
		    i <= 15 || i == 17 ? "suspend,pause" : i == 16 ? "suspend" :
		    i == 18 ? "pause" : "suspend,refused");
	warnings_of(text, buf);
	assert_string_equal(buf,
	    "17: notify exec:/usr/local/bin/page17: the 17th target told of suspend incidents, and floodgate runs at most 16 notify programs at a time (a mailto: target's sendmail is one): it and those after it are never told of them; one program of yours can tell several people\n"
	    "18: notify exec:/usr/local/bin/page18: the 17th target told of pause incidents, and floodgate runs at most 16 notify programs at a time (a mailto: target's sendmail is one): it and those after it are never told of them; one program of yours can tell several people\n");
	/* The 17th of both at once. */
	for (i = 1, o = 0; i <= 17; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "notify %s%d%s on pause,store\n",
		    i % 2 ? "exec:/usr/local/bin/page" : "mailto:ops", i,
		    i % 2 ? "" : "@example.com");
	warnings_of(text, buf);
	assert_string_equal(buf,
	    "17: notify exec:/usr/local/bin/page17: the 17th target told of pause,store incidents, and floodgate runs at most 16 notify programs at a time (a mailto: target's sendmail is one): it and those after it are never told of them; one program of yours can tell several people\n");
	for (i = 1, o = 0; i <= 17; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "notify exec:/usr/local/bin/page%d on %s\n", i,
		    i <= 16 ? "suspend" : "pause");
	warnings_of(text, buf);
	assert_string_equal(buf, "");
}

/* A reply that never goes out, or that begins with a code after the
 * one floodgate writes; text that only looks like one is no warning. */
static void
test_warn_reply(void **state)
{
	char buf[4096];

	(void)state;
	warnings_of("limit a per account 1/1h action tag reply \"x\"\n"
	    "limit b per account 1/1h action log reply \"x\"\n"
	    "limit c per account 1/1h action hold reply \"x\"\n"
	    "limit d per account 1/1h reply \"550 5.7.1 no more\"\n"
	    "limit e per account 1/1h action reject reply \"5.7.1 no more\"\n"
	    "limit f per account 1/1h action suspend reply \"421\"\n"
	    "limit g per account 1/1h reply \"451-4.7.1 slow\"\n", buf);
	assert_string_equal(buf,
	    "1: limit a: reply is never sent: action tag refuses no recipient\n"
	    "2: limit b: reply is never sent: action log refuses no recipient\n"
	    "3: limit c: reply is never sent: action hold refuses no recipient\n"
	    "4: limit d: reply begins with a code (550 5.7.1): floodgate writes action defer's own before the text (\"451 4.7.1 550 5.7.1 ...\"); leave the code out\n"
	    "5: limit e: reply begins with a code (5.7.1): floodgate writes action reject's own before the text (\"550 5.7.1 5.7.1 ...\"); leave the code out\n"
	    "6: limit f: reply begins with a code (421): floodgate writes action suspend's own before the text (\"451 4.7.1 421 ...\"); leave the code out\n"
	    "7: limit g: reply begins with a code (451): floodgate writes action defer's own before the text (\"451 4.7.1 451 ...\"); leave the code out\n");
	warnings_of("limit a per account 1/1h reply \"1000 per hour at most\"\n"
	    "limit b per account 1/1h reply \"55 5 per hour\"\n"
	    "limit c per account 1/1h reply \"5.7 per cent\"\n"
	    "limit d per account 1/1h reply \"4.7.1x\"\n"
	    "limit e per account 1/1h reply \"600 per day\"\n"
	    "limit f per account 1/1h action reject reply \"Try in %r\"\n"
	    "limit g per account 1/1h reply \"500 an hour at most\"\n"
	    "limit h per account 1/1h reply \"250 5.7 per cent\"\n"
	    "limit i per account 1/1h reply \"3.7.1 x\"\n", buf);
	assert_string_equal(buf, "");
}

/* An account written as a pattern matches no sender: said at its
 * line, for exempt account and override; a plain one is not. */
static void
test_warn_account_pattern(void **state)
{
	char buf[4096];

	(void)state;
	warnings_of("limit day per account 10/1d\n"
	    "exempt account postmaster@example.jp *@example.jp\n"
	    "override day @example.jp 50/1d\n"
	    "exempt account tenant42 *\n"
	    "override day tenant7 50/1d\n", buf);
	assert_string_equal(buf,
	    "2: exempt account *@example.jp matches no sender: an account is matched whole (a tenant, login or address), with no patterns; for a domain's senders, map the domain to a tenant in account_map and name the tenant\n"
	    "4: exempt account * matches no sender: an account is matched whole (a tenant, login or address), with no patterns; for a domain's senders, map the domain to a tenant in account_map and name the tenant\n"
	    "3: override @example.jp matches no sender: an account is matched whole (a tenant, login or address), with no patterns; for a domain's senders, map the domain to a tenant in account_map and name the tenant\n");
}

/* A file that names accounts (exempt account, override) and that
 * every local user may read is warned about at the first such line;
 * not at mode 0640, nor when it names none. */
static void
test_warn_readable(void **state)
{
	static const char *const text[] = {
		("limit a per account 10/1h\nexempt client 10.0.0.1\n"
		"override a bulk@example.com 100/1h\nexempt account vip\n"),
		"limit a per account 10/1h\nexempt account vip@example.com\n",
		"limit a per account 10/1h\nexempt client 10.0.0.1\n",
	};
	static const char *const want[][2] = {
		{ "3: every local user may read this file (mode 0644), which names the accounts it exempts or gives another rate: a tenant could send as one; chmod 640 (owner root, group floodgate's)\n", "" },
		{ "2: every local user may read this file (mode 0644), which names the accounts it exempts or gives another rate: a tenant could send as one; chmod 640 (owner root, group floodgate's)\n", "" },
		{ "", "" },
	};
	char err[FG_CONFIG_ERRLEN], buf[4096];
	size_t i, m;

	(void)state;
	for (i = 0; i < 3; i++)
		for (m = 0; m < 2; m++) {
			const char *path = tmpfile_with(text[i]);
			struct fg_config *c;

			assert_int_equal(chmod(path, m == 0 ? 0644 : 0640), 0);
			c = fg_config_load(path, err, sizeof(err));
			if (c == NULL)
				fail_msg("%s", err);
			buf[0] = '\0';
			fg_config_warnings(c, collect_warning, buf);
			assert_string_equal(buf, want[i][m]);
			fg_config_unref(c);
		}
}

/* An account map every local user may read names every tenant's
 * logins and addresses: said at its statement's line; not at 0640,
 * nor for an empty map. */
static void
test_warn_readable_map(void **state)
{
	char err[FG_CONFIG_ERRLEN], buf[4096], text[256];
	const char *map = tmpfile_with("bob@example.jp tenant7\n");
	const char *empty = tmpfile_with("# none yet\n");
	struct fg_config *c;
	int m;

	(void)state;
	for (m = 0; m < 3; m++) {
		snprintf(text, sizeof(text), "limit a per account 10/1h\n"
		    "account_map %s\n", m == 2 ? empty : map);
		assert_int_equal(chmod(m == 2 ? empty : map,
		    m == 1 ? 0640 : 0644), 0);
		c = fg_config_load(tmpfile_with(text), err, sizeof(err));
		if (c == NULL)
			fail_msg("%s", err);
		buf[0] = '\0';
		fg_config_warnings(c, collect_warning, buf);
		if (m == 0) {
			snprintf(text, sizeof(text), "2: account_map %s: every local user may read it (mode 0644), and it names every tenant's logins and addresses; chmod 640 (owner root, group floodgate's)\n",
			    map);
			assert_string_equal(buf, text);
		} else
			assert_string_equal(buf, "");
		fg_config_unref(c);
	}
}

/* A milter listener over TCP: whoever connects is the MTA to floodgate.
 * Said for the loopback in each spelling, for another address and for
 * every address; a unix: socket (the MTA's group's) is not. */
static void
test_warn_listen_tcp(void **state)
{
	static const char *const loop[] = { "inet:8890@127.0.0.1",
	    "inet:8890@localhost", "inet6:8890@[::1]", "inet6:8890@::1" };
	char buf[4096], text[256], want[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
		snprintf(text, sizeof(text), "user root\nlisten %s\n", loop[i]);
		warnings_of(text, buf);
		snprintf(want, sizeof(want), "2: listen %s: every local user (a tenant's script too) can connect to the milter over the loopback as if it were the MTA, and spend any tenant's budget with mail it makes up (the milter protocol has no password); listen on unix:PATH, as the sample configuration does, or let only the MTA's users connect (a firewall rule by socket owner, README)\n",
		    loop[i]);
		assert_string_equal(buf, want);
	}
	warnings_of("listen inet:8890@192.0.2.7\n", buf);
	assert_string_equal(buf, "1: listen inet:8890@192.0.2.7: every host that reaches 192.0.2.7, and every local user, can connect to the milter as if it were the MTA, and spend any tenant's budget with mail it makes up (the milter protocol has no password); listen on unix:PATH, as the sample configuration does, or let only the MTA connect (a firewall rule, README)\n");
	warnings_of("listen inet:8890\n", buf);
	assert_non_null(strstr(buf, "1: listen inet:8890: every host that reaches any address of this host, and every local user,"));
	warnings_of("listen inet6:8890@[::]\n", buf);
	assert_non_null(strstr(buf, "every host that reaches any address of this host,"));
	warnings_of("listen unix:/run/x/milter.sock\n", buf);
	assert_string_equal(buf, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_warn_many_targets),
		cmocka_unit_test(test_warn_reply),
		cmocka_unit_test(test_warn_account_pattern),
		cmocka_unit_test(test_warn_readable),
		cmocka_unit_test(test_warn_readable_map),
		cmocka_unit_test(test_warn_listen_tcp),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tmpfiles_remove();
	return rc;
}
