/* Unit tests of lib/smcheck.c: Sendmail's settings that let mail past
 * floodgate, as sendmail.cf gives them. */
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "pfcheck.h"

static char out[8][FG_PF_TEXT];

/* Sendmail's sendmail.cf, as m4 writes it from sendmail.mc. */
#define SM_SOCK "unix:/run/floodgate/milter.sock"
#define SM_X "Xfloodgate, S=unix:/run/floodgate/milter.sock, F=T, T=S:10s;R:10s;E:30s\n"

static size_t
sm(const char *cf, const char *listen)
{
	memset(out, 0, sizeof(out));
	return fg_sm_check(cf, listen, 0, out, 8);
}

static void
test_sendmail_clean(void **state)
{
	(void)state;
	/* INPUT_MAIL_FILTER's lines, with OpenDKIM's beside. */
	assert_int_equal(sm("# comment\nO InputMailFilters=floodgate, dkim\n"
	    SM_X "Xdkim, S=inet:8891@localhost\n", SM_SOCK), 0);
	/* Another spelling of the path, the socket's local: name, a
	 * daemon's own list, blanks around the option's '='. */
	assert_int_equal(sm("O DaemonPortOptions=Port=smtp, Name=MTA, InputMailFilters=dkim;fg\n"
	    "O DaemonPortOptions=Port=587,Name=MSA, M=E\n"
	    "O  InputMailFilters = fg\n"
	    "Xfg, S=local:/run//floodgate/./milter.sock, F=T\n"
	    "Xdkim, S=inet:8891@localhost\n", SM_SOCK), 0);
	/* An inet listener by its port; F=4 (421) is not an accept. */
	assert_int_equal(sm("O InputMailFilters=fg\n"
	    "Xfg, S=inet:10030@127.0.0.1, F=4\n", "inet:10030@localhost"), 0);
	/* A continued line; a socket not read here counts as floodgate's. */
	assert_int_equal(sm("O InputMailFilters=a,\n b\n"
	    "Xb, S=unix:relative.sock\n", SM_SOCK), 0);
	/* A listen that is not read: nothing said. */
	assert_int_equal(sm("", "unix:milter.sock"), 0);
}

static void
test_sendmail_findings(void **state)
{
	(void)state;
	assert_int_equal(sm("O InputMailFilters=dkim\nXdkim, S=inet:8891@localhost\n",
	    SM_SOCK), 1);
	assert_string_equal(out[0], "sendmail.cf: no filter on floodgate's socket (unix:/run/floodgate/milter.sock): Sendmail sends mail without floodgate, unlimited; add INPUT_MAIL_FILTER to sendmail.mc");
	/* No F=T: Sendmail goes on without it; F=R: it refuses for good. */
	assert_int_equal(sm("O InputMailFilters=floodgate\n"
	    "Xfloodgate, S=unix:/run/floodgate/milter.sock, T=S:10s\n", SM_SOCK), 1);
	assert_string_equal(out[0], "sendmail.cf: filter floodgate (floodgate's socket) has no F=T: while floodgate is stopped or does not answer in time, Sendmail sends every message without it, unlimited; give it F=T");
	assert_int_equal(sm("O InputMailFilters=floodgate\n"
	    "Xfloodgate, S=unix:/run/floodgate/milter.sock, F=R\n", SM_SOCK), 1);
	assert_non_null(strstr(out[0], "has F=R: while floodgate is stopped"));
	assert_non_null(strstr(out[0], "(5xx); give it F=T"));
	/* MAIL_FILTER only: defined, not used. */
	assert_int_equal(sm("O InputMailFilters=dkim\n" SM_X
	    "Xdkim, S=inet:8891@localhost\n", SM_SOCK), 1);
	assert_non_null(strstr(out[0], "sendmail.cf: InputMailFilters leaves out floodgate's filter: Sendmail does not use it"));
	assert_int_equal(sm(SM_X, SM_SOCK), 1);
	/* A daemon whose own list leaves it out, and one with no list
	 * where the global one leaves it out, named; the other passes. */
	assert_int_equal(sm("O DaemonPortOptions=Port=smtp,Addr=127.0.0.1, Name=MTA, InputMailFilters=dkim\n"
	    "O DaemonPortOptions=Port=587, Name=MSA, M=E, I=floodgate\n"
	    "O DaemonPortOptions=Port=2525\n"
	    "O InputMailFilters=dkim\n" SM_X, SM_SOCK), 2);
	assert_string_equal(out[0], "sendmail.cf: daemon MTA: its InputMailFilters leaves out floodgate's filter: mail to this daemon goes out without floodgate, unlimited");
	assert_string_equal(out[1], "sendmail.cf: daemon Port=2525: InputMailFilters leaves out floodgate's filter: mail to this daemon goes out without floodgate, unlimited");
	/* A filter of another port, and another path. */
	assert_int_equal(sm("O InputMailFilters=fg\nXfg, S=inet:10031@127.0.0.1, F=T\n",
	    "inet:10030@127.0.0.1"), 1);
	assert_non_null(strstr(out[0], "no filter on floodgate's socket (inet:10030@127.0.0.1)"));
	assert_int_equal(sm("O InputMailFilters=fg\nXfg, S=unix:/run/floodgate/milter.sock2, F=T\n",
	    SM_SOCK), 1);
	/* A commented-out filter is not one. */
	assert_int_equal(sm("O InputMailFilters=floodgate\n#" SM_X, SM_SOCK), 1);
}

/* Sendmail's ForwardPath: unset (commented out, as sendmail.mc's
 * default writes it) is Sendmail's own default, which reads them. */
static void
test_sendmail_forward(void **state)
{
	const char *cf = "O InputMailFilters=floodgate\n" SM_X;
	char buf[1024];

	(void)state;
	memset(out, 0, sizeof(out));
	snprintf(buf, sizeof(buf), "%s#O ForwardPath=/var/forward/$u:$z/.forward.$w:$z/.forward\n", cf);
	assert_int_equal(fg_sm_check(buf, SM_SOCK, 1, out, 8), 1);
	assert_string_equal(out[0], "sendmail.cf: no ForwardPath option (Sendmail's default, $z/.forward.$w:$z/.forward): a user's .forward sends each message the user gets on to every address in it, copies floodgate never decides (one message to the user's own address, a hundred out); with account uid, users run their own code here; define(`confFORWARD_PATH', `') in sendmail.mc turns .forward files off");
	assert_int_equal(fg_sm_check(buf, SM_SOCK, 0, out, 8), 0);
	snprintf(buf, sizeof(buf), "%sO ForwardPath=$z/.forward\n", cf);
	assert_int_equal(fg_sm_check(buf, SM_SOCK, 1, out, 8), 1);
	assert_non_null(strstr(out[0], "sendmail.cf: O ForwardPath=$z/.forward: a user's .forward"));
	/* confFORWARD_PATH defined empty writes the option bare. */
	snprintf(buf, sizeof(buf), "%sO ForwardPath\n", cf);
	assert_int_equal(fg_sm_check(buf, SM_SOCK, 1, out, 8), 0);
	snprintf(buf, sizeof(buf), "%sO ForwardPath = \n", cf);
	assert_int_equal(fg_sm_check(buf, SM_SOCK, 1, out, 8), 0);
	/* Another option's name that begins the same is not it. */
	snprintf(buf, sizeof(buf), "%sO ForwardPath\nO ForwardPathX=$z/.f\n",
	    cf);
	assert_int_equal(fg_sm_check(buf, SM_SOCK, 1, out, 8), 0);
	snprintf(buf, sizeof(buf), "%sO ForwardPathX\n", cf);
	assert_int_equal(fg_sm_check(buf, SM_SOCK, 1, out, 8), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sendmail_clean),
		cmocka_unit_test(test_sendmail_findings),
		cmocka_unit_test(test_sendmail_forward),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
