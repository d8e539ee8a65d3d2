/* Unit tests of lib/pfcheck.c: Postfix's settings that let mail past
 * floodgate, as postconf gives them. */
#include <string.h>

#include "helpers.h"
#include "pfcheck.h"

static char out[8][FG_PF_TEXT];

static size_t
check(const char *action, const char *local, const char *smtpd,
    const char *master)
{
	struct fg_pf_conf pf = { action, local, smtpd, master };

	memset(out, 0, sizeof(out));
	return fg_pf_check(&pf, out, 8);
}

/* The README's set-up, and the ways of writing it: nothing to say. */
static void
test_clean(void **state)
{
	(void)state;
	assert_int_equal(check("tempfail", "unix:floodgate/milter.sock",
	    "unix:floodgate/milter.sock", ""), 0);
	assert_int_equal(check("tempfail", "$smtpd_milters",
	    "unix:opendkim/opendkim.sock, unix:floodgate/milter.sock", ""), 0);
	/* Postfix 3.0's per-milter settings that keep tempfail. */
	assert_int_equal(check("tempfail", "$smtpd_milters",
	    "{ unix:floodgate/milter.sock, default_action = tempfail }", ""), 0);
	/* Local mail's milters given to a service in master.cf only. */
	assert_int_equal(check("tempfail", "", "",
	    "cleanup/unix/non_smtpd_milters = unix:floodgate/milter.sock\n"), 0);
	/* A service's smtpd_milter_maps is not a default action. */
	assert_int_equal(check("tempfail", "$smtpd_milters", "",
	    "smtp/inet/smtpd_milter_maps = cidr:/etc/postfix/floodgate_clients\n"
	    "smtp/inet/smtpd_sasl_auth_enable = no\n"), 0);
}

static void
test_accept(void **state)
{
	(void)state;
	assert_int_equal(check(" accept ", "$smtpd_milters", "unix:fg.sock", ""), 1);
	assert_non_null(strstr(out[0], "main.cf: milter_default_action = accept:"));
	assert_non_null(strstr(out[0], "set it to tempfail"));
	assert_int_equal(check("ACCEPT", "$smtpd_milters", "unix:fg.sock", ""), 1);
	/* A word that only starts so is not accept. */
	assert_int_equal(check("accepted", "$smtpd_milters", "unix:fg.sock", ""), 0);
	assert_int_equal(check("quarantine", "$smtpd_milters", "unix:fg.sock", ""), 0);
	/* One service of master.cf, named. */
	assert_int_equal(check("tempfail", "$smtpd_milters", "unix:fg.sock",
	    "submission/inet/syslog_name = postfix/submission\n"
	    "submission/inet/milter_default_action = accept\n"), 1);
	assert_non_null(strstr(out[0],
	    "master.cf: submission/inet sets milter_default_action = accept:"));
	/* A milter's own default_action, in main.cf or a service's list. */
	assert_int_equal(check("tempfail", "$smtpd_milters",
	    "{ unix:floodgate/milter.sock, connect_timeout = 10s, default_action=accept }", ""), 1);
	assert_non_null(strstr(out[0],
	    "main.cf: smtpd_milters gives a milter default_action = accept: if it is floodgate"));
	assert_int_equal(check("tempfail",
	    "{ unix:floodgate/milter.sock, default_action = Accept }", "", ""), 1);
	assert_non_null(strstr(out[0], "main.cf: non_smtpd_milters gives a milter"));
	assert_int_equal(check("tempfail", "$smtpd_milters", "",
	    "smtp/inet/smtpd_milters = { inet:127.0.0.1:8891, default_action = accept }\n"), 1);
	assert_non_null(strstr(out[0], "master.cf: smtp/inet gives a milter default_action = accept"));
	/* milter_default_action itself is not a milter's default_action. */
	assert_int_equal(check("tempfail", "$smtpd_milters",
	    "unix:fg.sock, milter_default_action=accept", ""), 0);
}

static void
test_local(void **state)
{
	(void)state;
	assert_int_equal(check("tempfail", "", "unix:fg.sock", ""), 1);
	assert_non_null(strstr(out[0], "non_smtpd_milters is empty: local mail"));
	assert_int_equal(check("tempfail", "  \t ", "unix:fg.sock", NULL), 1);
	/* An empty one in master.cf does not make up for it. */
	assert_int_equal(check("tempfail", "", "unix:fg.sock",
	    "pickup/unix/non_smtpd_milters =\n"), 1);
	/* Both at once, the default action first; max is kept. */
	assert_int_equal(check("accept", "", "unix:fg.sock", ""), 2);
	assert_non_null(strstr(out[0], "milter_default_action = accept"));
	assert_non_null(strstr(out[1], "non_smtpd_milters is empty"));
	{
		struct fg_pf_conf pf = { "accept", "", "", "" };

		memset(out, 0, sizeof(out));
		assert_int_equal(fg_pf_check(&pf, out, 1), 1);
		assert_string_equal(out[1], "");
	}
	/* Not asked (NULL): nothing said of it. */
	assert_int_equal(check(NULL, NULL, NULL, NULL), 0);
}

/* master.cf's lines as postconf -P may give them, odd ones included. */
static void
test_master_lines(void **state)
{
	(void)state;
	assert_int_equal(check("tempfail", "$smtpd_milters", "",
	    "no equals sign here\n=\n/=\n"
	    "127.0.0.1:10025/inet/milter_default_action   =   accept   \n"
	    "x/y/milter_default_action = accept"), 2);
	assert_non_null(strstr(out[0], "master.cf: 127.0.0.1:10025/inet sets"));
	assert_non_null(strstr(out[1], "master.cf: x/y sets"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_master_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
