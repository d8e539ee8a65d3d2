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
	struct fg_pf_conf pf = { .default_action = action,
	    .non_smtpd_milters = local, .smtpd_milters = smtpd,
	    .master = master };

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
	    "main.cf: smtpd_milters gives the milter unix:floodgate/milter.sock default_action = accept: if it is floodgate"));
	assert_int_equal(check("tempfail",
	    "{ unix:floodgate/milter.sock, default_action = Accept }", "", ""), 1);
	assert_non_null(strstr(out[0], "main.cf: non_smtpd_milters gives the milter unix:floodgate/milter.sock default_action"));
	assert_int_equal(check("tempfail", "$smtpd_milters", "",
	    "smtp/inet/smtpd_milters = { inet:127.0.0.1:8891, default_action = accept }\n"), 1);
	assert_non_null(strstr(out[0], "master.cf: smtp/inet gives the milter inet:127.0.0.1:8891 default_action = accept: if it is floodgate"));
	/* Outside a group, no milter's own setting. */
	assert_int_equal(check("tempfail", "$smtpd_milters",
	    "unix:fg.sock, default_action=accept", ""), 0);
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
		struct fg_pf_conf pf = { .default_action = "accept",
		    .non_smtpd_milters = "", .smtpd_milters = "",
		    .master = "" };

		memset(out, 0, sizeof(out));
		assert_int_equal(fg_pf_check(&pf, out, 1), 1);
		assert_string_equal(out[0], "2 more findings not shown: mend those above and run floodgate -n again");
		assert_string_equal(out[1], "");
		assert_int_equal(fg_pf_check(&pf, out, 2), 2);
		assert_non_null(strstr(out[1], "non_smtpd_milters is empty"));
	}
	/* Three past a max of two: the first, then how many more. */
	{
		struct fg_pf_conf pf = { .default_action = "accept",
		    .non_smtpd_milters = "", .smtpd_milters = "",
		    .master = "x/y/milter_default_action = accept\n" };

		memset(out, 0, sizeof(out));
		assert_int_equal(fg_pf_check(&pf, out, 2), 2);
		assert_non_null(strstr(out[0], "main.cf: milter_default_action = accept"));
		assert_string_equal(out[1], "2 more findings not shown: mend those above and run floodgate -n again");
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

/* postconf -M's lines for the services master (postconf -P's lines)
 * gives settings, each an smtpd. */
static const char *
services_of(const char *master)
{
	static char m[4096];
	char svc[256], find[260];
	const char *l, *nl, *s1, *s2;

	m[0] = '\0';
	for (l = master; l != NULL && *l != '\0'; l = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(l, '\n');
		if ((s1 = strchr(l, '/')) == NULL || (nl != NULL && s1 > nl) ||
		    (s2 = strchr(s1 + 1, '/')) == NULL || (nl != NULL && s2 > nl))
			continue;
		snprintf(svc, sizeof(svc), "%.*s %.*s", (int)(s1 - l), l,
		    (int)(s2 - s1 - 1), s1 + 1);
		snprintf(find, sizeof(find), "\n%s ", svc);
		if (strstr(m, find) == NULL)
			snprintf(m + strlen(m), sizeof(m) - strlen(m),
			    "\n%s - - y - - smtpd", svc);
	}
	return m;
}

/* Whether the milter lists name floodgate's socket: listen and
 * queue_directory given, as floodgate asks. */
static size_t
reach(const char *local, const char *smtpd, const char *master,
    const char *maps, const char *listen)
{
	struct fg_pf_conf pf = { .default_action = "tempfail",
	    .non_smtpd_milters = local, .smtpd_milters = smtpd,
	    .master = master, .queue_directory = "/var/spool/postfix/",
	    .smtpd_milter_maps = maps, .listen = listen,
	    .services = services_of(master) };

	memset(out, 0, sizeof(out));
	return fg_pf_check(&pf, out, 8);
}

#define FG_SOCK "unix:/var/spool/postfix/floodgate/milter.sock"

static void
test_names_ours(void **state)
{
	(void)state;
	/* Each way Postfix reaches the socket: relative to
	 * queue_directory, absolute from outside a chroot or inside one,
	 * in braces, among others, with "//" and "./". */
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "inet:localhost:8891, unix:floodgate/milter.sock", "", "",
	    FG_SOCK), 0);
	assert_int_equal(reach("unix:/var/spool/postfix/floodgate/milter.sock",
	    "{ unix:/floodgate/milter.sock, default_action = tempfail }",
	    "", "", FG_SOCK), 0);
	assert_int_equal(reach("unix:.//floodgate/./milter.sock",
	    "inet:127.0.0.1:8891,{unix:floodgate/milter.sock}", NULL, NULL,
	    "local:/var/spool/postfix//floodgate/milter.sock"), 0);
	/* An inet listener: its port, whatever the host is called. */
	assert_int_equal(reach("inet:localhost:10030", "inet:[::1]:10030",
	    "", "", "inet:10030@127.0.0.1"), 0);
	/* Forms not read here are taken as floodgate's. */
	assert_int_equal(reach("unix:../postfix/floodgate/milter.sock",
	    "$floodgate", "", "", FG_SOCK), 0);
	/* smtpd_milter_maps may name it, in main.cf or a service. */
	assert_int_equal(reach("unix:floodgate/milter.sock", "", "",
	    "cidr:/etc/postfix/milters", FG_SOCK), 0);
	assert_int_equal(reach("unix:floodgate/milter.sock", "",
	    "smtp/inet/smtpd_milter_maps = cidr:/etc/postfix/milters\n", "",
	    FG_SOCK), 0);
	/* Given to services in master.cf only. */
	assert_int_equal(reach("inet:localhost:8891", "",
	    "submission/inet/smtpd_milters = unix:floodgate/milter.sock\n"
	    "cleanup/unix/non_smtpd_milters = inet:localhost:8891, unix:floodgate/milter.sock\n",
	    "", FG_SOCK), 0);
}

static void
test_names_other(void **state)
{
	(void)state;
	/* Local mail through OpenDKIM only. */
	assert_int_equal(reach("inet:localhost:8891",
	    "unix:floodgate/milter.sock", "", "", FG_SOCK), 1);
	assert_string_equal(out[0], "main.cf: non_smtpd_milters = inet:localhost:8891 names no socket of floodgate's (unix:floodgate/milter.sock), nor does a list of cleanup/unix's own (the cleanup service local mail goes through): local mail (the sendmail command, PHP's mail(), cron) goes out without floodgate, unlimited");
	/* A service's list that names another does not make up for it. */
	assert_int_equal(reach("inet:localhost:8891", "unix:floodgate/milter.sock",
	    "cleanup/unix/non_smtpd_milters = unix:opendkim/opendkim.sock\n",
	    "", FG_SOCK), 1);
	/* SMTP's milters: another socket, a port that is not floodgate's,
	 * an absolute path outside the queue directory. */
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "unix:/run/floodgate/milter.sock, { unix:floodgate/milter.socket }",
	    "", "", FG_SOCK), 1);
	assert_non_null(strstr(out[0], "main.cf: smtpd_milters = unix:/run/floodgate/milter.sock, { unix:floodgate/milter.socket } names no socket of floodgate's (unix:floodgate/milter.sock), nor does a master.cf service's or smtpd_milter_maps: mail over SMTP"));
	assert_int_equal(reach("inet:localhost:10031", "inet:localhost:10031",
	    "", "", "inet:10030@127.0.0.1"), 2);
	assert_non_null(strstr(out[0], "(inet:127.0.0.1:10030)"));
	/* Both empty: each said, with the name to write. */
	assert_int_equal(reach("", "", "", "", FG_SOCK), 2);
	assert_string_equal(out[0], "main.cf: non_smtpd_milters is empty: local mail (the sendmail command, PHP's mail(), cron) goes out without floodgate, unlimited; name floodgate's socket there too (unix:floodgate/milter.sock)");
	assert_string_equal(out[1], "main.cf: smtpd_milters is empty and no master.cf service sets it: mail over SMTP (SASL logins, webmail) goes out without floodgate, unlimited; name floodgate's socket there (unix:floodgate/milter.sock)");
	/* A socket outside the queue directory is named by its path. */
	assert_int_equal(reach("", "unix:/run/fg.sock", "", "",
	    "unix:/run/fg.sock"), 1);
	assert_non_null(strstr(out[0], "there too (unix:/run/fg.sock)"));
	/* A long list is cut in the text. */
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "inet:localhost:8891, inet:localhost:8892, inet:localhost:8893, inet:localhost:8894, inet:localhost:8895",
	    "", "", FG_SOCK), 1);
	assert_non_null(strstr(out[0], "inet:localhost:8893, inet:localhost:88... names no socket"));
	/* A listen that is not read (relative): only emptiness is said. */
	assert_int_equal(reach("inet:localhost:8891", "inet:localhost:8891",
	    "", "", "unix:milter.sock"), 0);
}

/* A milter's own default_action = accept is said when the milter is
 * floodgate's, or may be; another milter's (OpenDKIM's guides give it)
 * is its own affair. */
static void
test_group_accept(void **state)
{
	(void)state;
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "{ inet:localhost:8891, default_action = accept }, unix:floodgate/milter.sock",
	    "", "", FG_SOCK), 0);
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "unix:floodgate/milter.sock", "smtp/inet/smtpd_milters = "
	    "{ inet:localhost:8891, default_action = accept } { unix:floodgate/milter.sock }\n",
	    "", FG_SOCK), 0);
	/* floodgate's own, in main.cf or a service, named. */
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "{ inet:localhost:8891, default_action = accept }, "
	    "{ unix:/var/spool/postfix/floodgate/milter.sock, command_timeout = 30s, default_action = accept }",
	    "", "", FG_SOCK), 1);
	assert_string_equal(out[0], "main.cf: smtpd_milters gives floodgate's milter (unix:/var/spool/postfix/floodgate/milter.sock) default_action = accept: Postfix takes every message without floodgate, unlimited, while floodgate is stopped or does not answer in time; set it to tempfail");
	assert_int_equal(reach("inet:localhost:10030", "inet:localhost:10030",
	    "submission/inet/smtpd_milters = {inet:localhost:10030,default_action=accept}\n",
	    "", "inet:10030@127.0.0.1"), 1);
	assert_non_null(strstr(out[0], "master.cf: submission/inet gives floodgate's milter (inet:localhost:10030) default_action = accept: "));
	/* A name not read may be floodgate's: said so, floodgate's own
	 * first when both are there. */
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "{ $floodgate, default_action = accept }", "", "", FG_SOCK), 1);
	assert_non_null(strstr(out[0], "gives the milter $floodgate default_action = accept: if it is floodgate, "));
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "{ $other, default_action = accept }, { unix:floodgate/milter.sock, default_action = accept }",
	    "", "", FG_SOCK), 1);
	assert_non_null(strstr(out[0], "gives floodgate's milter (unix:floodgate/milter.sock)"));
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "{ unix:floodgate/milter.sock, default_action = accept }, { $other, default_action = accept }",
	    "", "", FG_SOCK), 1);
	assert_non_null(strstr(out[0], "gives floodgate's milter (unix:floodgate/milter.sock)"));
	/* Another's after one not read: the one not read is said. */
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "{ $other, default_action = accept }, { inet:localhost:8891, default_action = accept }",
	    "", "", FG_SOCK), 1);
	assert_non_null(strstr(out[0], "gives the milter $other default_action = accept: if it is floodgate"));
	/* A group left open still has its name read. */
	assert_int_equal(reach("unix:floodgate/milter.sock",
	    "{ unix:floodgate/milter.sock, default_action = accept", "", "",
	    FG_SOCK), 1);
	assert_non_null(strstr(out[0], "gives floodgate's milter (unix:floodgate/milter.sock)"));
}

/* receive_override_options with no_milters: in main.cf every milter
 * is off for what Postfix receives; on pickup, for local mail; on
 * another service (a content filter's way back), on purpose. */
static size_t
overrides(const char *value, const char *master)
{
	char services[4200];
	struct fg_pf_conf pf = { .default_action = "tempfail",
	    .non_smtpd_milters = "$smtpd_milters",
	    .smtpd_milters = "unix:floodgate/milter.sock", .master = master,
	    .queue_directory = "/var/spool/postfix", .smtpd_milter_maps = "",
	    .listen = FG_SOCK, .receive_override_options = value,
	    .services = services };

	/* Port 25's smtp besides those master gives settings. */
	snprintf(services, sizeof(services), "%s%s", services_of(master),
	    strstr(master, "smtp/inet/") == master ||
	    strstr(master, "\nsmtp/inet/") != NULL ? "" :
	    "\nsmtp inet n - y - - smtpd");
	memset(out, 0, sizeof(out));
	return fg_pf_check(&pf, out, 8);
}

static void
test_no_milters(void **state)
{
	(void)state;
	assert_int_equal(overrides("", ""), 0);
	assert_int_equal(overrides("no_address_mappings", ""), 0);
	assert_int_equal(overrides("no_unknown_recipient_checks,no_milters_x", ""), 0);
	assert_int_equal(overrides(" no_header_body_checks, No_Milters ", ""), 1);
	assert_string_equal(out[0], "main.cf: receive_override_options = no_header_body_checks, No_Milters: Postfix runs no milter on the mail it receives (over SMTP and local), floodgate's included: every message goes out unlimited; give no_milters only to the listener a content filter gives mail back to (-o on that service in master.cf)");
	/* Said of what takes main.cf's: a service with its own does not
	 * (the content filter's way back, with its own no_milters, is no
	 * SMTP service that takes main.cf's). */
	assert_int_equal(overrides("no_milters",
	    "smtp/inet/receive_override_options = no_address_mappings\n"), 1);
	assert_string_equal(out[0], "main.cf: receive_override_options = no_milters: Postfix runs no milter on local mail (the sendmail command, PHP's mail(), cron), floodgate's included: it goes out unlimited (every SMTP service sets its own receive_override_options)");
	assert_int_equal(overrides("no_milters",
	    "pickup/unix/receive_override_options = no_address_mappings\n"
	    "127.0.0.1:10025/inet/receive_override_options = no_milters\n"), 1);
	assert_string_equal(out[0], "main.cf: receive_override_options = no_milters: Postfix runs no milter on the mail its SMTP services receive (those with no receive_override_options of their own), floodgate's included: it goes out unlimited; give no_milters only to the listener a content filter gives mail back to (-o on that service in master.cf)");
	assert_int_equal(overrides("no_milters",
	    "pickup/unix/receive_override_options =\n"
	    "smtp/inet/receive_override_options =\n"), 0);
	assert_int_equal(overrides("no_milters",
	    "pickup/unix/receive_override_options =\n"
	    "smtp/inet/receive_override_options =\n"
	    "submission/inet/syslog_name = postfix/submission\n"), 1);
	assert_non_null(strstr(out[0], "on the mail its SMTP services receive"));
	/* Only smtpd: a pipe or a unix smtpd takes no SMTP mail. */
	{
		struct fg_pf_conf pf = { .receive_override_options = "no_milters",
		    .master = "pickup/unix/receive_override_options =\n",
		    .services = "smtp inet n - y - - postscreen\n"
		    "smtpd pass - - y - - smtpd\n"
		    "lmtp unix - - y - - lmtp\n" };

		memset(out, 0, sizeof(out));
		assert_int_equal(fg_pf_check(&pf, out, 8), 1);
		assert_non_null(strstr(out[0], "on the mail its SMTP services receive"));
		pf.services = "smtp inet n - y - - postscreen\n"
		    "tlsproxy unix - - y - 0 tlsproxy\n"
		    "relay unix - - y - - smtpd\n"
		    "filter unix - n n - - pipe argv=/bin/smtpd\n"
		    "628 inet n - - - - qmqpd\n";
		assert_int_equal(fg_pf_check(&pf, out, 8), 0);
		/* master.cf's services not asked: port 25's stock smtpd. */
		pf.services = NULL;
		assert_int_equal(fg_pf_check(&pf, out, 8), 1);
		assert_non_null(strstr(out[0], "on the mail its SMTP services receive"));
	}
	/* The README's content filter listener: on purpose, not said. */
	assert_int_equal(overrides("", "127.0.0.1:10025/inet/receive_override_options = no_unknown_recipient_checks,no_header_body_checks,no_milters\n"), 0);
	/* pickup's: local mail. */
	assert_int_equal(overrides("", "pickup/unix/receive_override_options = no_milters no_address_mappings\n"), 1);
	assert_string_equal(out[0], "master.cf: pickup/unix sets receive_override_options = no_milters no_address_mappings: Postfix runs no milter on local mail (the sendmail command, PHP's mail(), cron), floodgate's included: it goes out unlimited");
	assert_int_equal(overrides("", "pickup/unix/receive_override_options = no_header_body_checks\n"), 0);
	/* On a submission service, by name or port: logins' mail. */
	assert_int_equal(overrides("", "submission/inet/receive_override_options = no_milters\n"
	    "127.0.0.1:smtps/inet/receive_override_options=no_milters\n"), 2);
	assert_string_equal(out[0], "master.cf: submission/inet sets receive_override_options = no_milters: mail submitted there (SASL logins, webmail) goes out without floodgate, unlimited");
	assert_non_null(strstr(out[1], "master.cf: 127.0.0.1:smtps/inet sets receive_override_options = no_milters: mail submitted"));
}

/* A submission service (587, 465, by name or number, or any listener
 * with its own SASL) whose own smtpd_milters leaves floodgate out is
 * said, even where main.cf names it: logins submit there. Port 25's smtp, a content filter's
 * listener, and a service with its own smtpd_milter_maps are not. */
static void
test_submission(void **state)
{
	(void)state;
	assert_int_equal(reach("$smtpd_milters", "unix:floodgate/milter.sock",
	    "submission/inet/smtpd_milters = inet:localhost:8891\n"
	    "[::1]:465/inet/smtpd_milters =\n"
	    "smtps/inet/smtpd_milters = inet:localhost:8891, unix:floodgate/milter.sock\n"
	    "smtp/inet/smtpd_milters =\n"
	    "127.0.0.1:10025/inet/smtpd_milters =\n"
	    "submissions/unix/smtpd_milters =\n", "", FG_SOCK), 2);
	assert_string_equal(out[0], "master.cf: submission/inet sets smtpd_milters = inet:localhost:8891, which names no socket of floodgate's (unix:floodgate/milter.sock): mail submitted there (SASL logins, webmail) goes out without floodgate, unlimited");
	assert_string_equal(out[1], "master.cf: [::1]:465/inet sets smtpd_milters empty: mail submitted there (SASL logins, webmail) goes out without floodgate, unlimited");
	/* Its own map may name floodgate, before or after the list. */
	assert_int_equal(reach("$smtpd_milters", "unix:floodgate/milter.sock",
	    "submission/inet/smtpd_milters =\n"
	    "submission/inet/smtpd_milter_maps = cidr:/etc/postfix/milters\n"
	    "587/inet/smtpd_milter_maps = cidr:/etc/postfix/milters\n"
	    "587/inet/smtpd_milters =\n", "", FG_SOCK), 0);
	/* Another service's map, whose name ends as this one's, is not
	 * this one's. */
	assert_int_equal(reach("$smtpd_milters", "unix:floodgate/milter.sock",
	    "10587/inet/smtpd_milter_maps = cidr:/etc/postfix/milters\n"
	    "587/inet/smtpd_milters =\n", "", FG_SOCK), 1);
	assert_non_null(strstr(out[0], "master.cf: 587/inet sets smtpd_milters empty"));
	/* An empty map is no map. */
	assert_int_equal(reach("$smtpd_milters", "unix:floodgate/milter.sock",
	    "submission/inet/smtpd_milter_maps =\n"
	    "submission/inet/smtpd_milters =\n", "", FG_SOCK), 1);
	/* Any listener whose own -o turns SASL on takes logins: an extra
	 * port (2525), port 25 given SASL; not one that turns it off, nor
	 * main.cf's (not read here), nor a unix service. */
	assert_int_equal(reach("$smtpd_milters", "unix:floodgate/milter.sock",
	    "2525/inet/smtpd_sasl_auth_enable = yes\n"
	    "2525/inet/smtpd_milters = inet:localhost:8891\n"
	    "smtp/inet/smtpd_milters =\n"
	    "smtp/inet/smtpd_sasl_auth_enable = YES \n"
	    "2526/inet/smtpd_sasl_auth_enable = no\n"
	    "2526/inet/smtpd_milters =\n"
	    "2527/inet/smtpd_sasl_auth_enable = yess\n"
	    "2527/inet/smtpd_milters =\n"
	    "12525/inet/smtpd_milters =\n"
	    "relay/unix/smtpd_sasl_auth_enable = yes\n"
	    "relay/unix/smtpd_milters =\n", "", FG_SOCK), 2);
	assert_string_equal(out[0], "master.cf: 2525/inet sets smtpd_milters = inet:localhost:8891, which names no socket of floodgate's (unix:floodgate/milter.sock): mail submitted there (SASL logins, webmail) goes out without floodgate, unlimited");
	assert_string_equal(out[1], "master.cf: smtp/inet sets smtpd_milters empty: mail submitted there (SASL logins, webmail) goes out without floodgate, unlimited");
	assert_int_equal(reach("$smtpd_milters", "unix:floodgate/milter.sock",
	    "2525/inet/smtpd_sasl_auth_enable=yes\n"
	    "2525/inet/receive_override_options = no_milters\n", "", FG_SOCK), 1);
	assert_non_null(strstr(out[0], "master.cf: 2525/inet sets receive_override_options = no_milters: mail submitted"));
	/* A name not read may be floodgate's; listen not read, nothing. */
	assert_int_equal(reach("$smtpd_milters", "unix:floodgate/milter.sock",
	    "submission/inet/smtpd_milters = $floodgate\n", "", FG_SOCK), 0);
	assert_int_equal(reach("$smtpd_milters", "unix:floodgate/milter.sock",
	    "submission/inet/smtpd_milters = inet:localhost:8891\n", "",
	    "unix:milter.sock"), 0);
}

/* The services of postconf -M where logins submit: by name, by their
 * own SASL, or by main.cf's SASL on a listener off the loopback; each
 * judged by its own milter list and map, else main.cf's. */
static size_t
logins(const char *smtpd, const char *maps, const char *master,
    const char *services, const char *sasl, const char *interfaces)
{
	struct fg_pf_conf pf = { .default_action = "tempfail",
	    .non_smtpd_milters = "unix:floodgate/milter.sock",
	    .smtpd_milters = smtpd, .master = master,
	    .queue_directory = "/var/spool/postfix", .smtpd_milter_maps = maps,
	    .listen = FG_SOCK, .receive_override_options = "",
	    .services = services, .smtpd_sasl_auth_enable = sasl,
	    .inet_interfaces = interfaces };

	memset(out, 0, sizeof(out));
	return fg_pf_check(&pf, out, 8);
}

#define SUB_OURS "submission/inet/smtpd_milters = unix:floodgate/milter.sock\n"
#define M_SMTP "smtp      inet  n       -       y       -       -       smtpd\n"
#define M_SUB "submission inet n       -       y       -       -       smtpd -o smtpd_milters=unix:floodgate/milter.sock\n"

static void
test_login_services(void **state)
{
	(void)state;
	/* The README's set-up on the submission service only, SASL on in
	 * main.cf: port 25 takes logins without floodgate. */
	assert_int_equal(logins("", "", SUB_OURS, M_SMTP M_SUB, "yes", "all"), 1);
	assert_string_equal(out[0], "master.cf: smtp/inet has no smtpd_milters of its own, and main.cf's (empty) names no socket of floodgate's (unix:floodgate/milter.sock): mail submitted there (SASL logins, webmail) goes out without floodgate, unlimited; it takes logins by main.cf's smtpd_sasl_auth_enable = yes: turn SASL off there (-o smtpd_sasl_auth_enable=no) or name floodgate's socket");
	assert_int_equal(logins(" inet:localhost:8891 ", "", SUB_OURS,
	    M_SMTP M_SUB, " YES ", NULL), 1);
	assert_non_null(strstr(out[0], "master.cf: smtp/inet has no smtpd_milters of its own, and main.cf's = inet:localhost:8891 names no socket"));
	/* SASL off there, or off in main.cf: not said. */
	assert_int_equal(logins("", "", SUB_OURS
	    "smtp/inet/smtpd_sasl_auth_enable = no\n", M_SMTP M_SUB, "yes",
	    "all"), 0);
	assert_int_equal(logins("", "", SUB_OURS, M_SMTP M_SUB, "no", "all"), 0);
	assert_int_equal(logins("", "", SUB_OURS, M_SMTP M_SUB, NULL, "all"), 0);
	/* Its own list without floodgate, SASL from main.cf: said. */
	assert_int_equal(logins("", "", SUB_OURS
	    "smtp/inet/smtpd_milters = inet:localhost:8891\n", M_SMTP M_SUB,
	    "yes", "all"), 1);
	assert_non_null(strstr(out[0], "master.cf: smtp/inet sets smtpd_milters = inet:localhost:8891, which names no socket of floodgate's (unix:floodgate/milter.sock): mail submitted there (SASL logins, webmail) goes out without floodgate, unlimited; it takes logins by main.cf's"));
	/* A map, its own or main.cf's, may name floodgate. */
	assert_int_equal(logins("", "", SUB_OURS
	    "smtp/inet/smtpd_milter_maps = cidr:/etc/postfix/milters\n",
	    M_SMTP M_SUB, "yes", "all"), 0);
	assert_int_equal(logins("", "cidr:/etc/postfix/milters", SUB_OURS,
	    M_SMTP M_SUB, "yes", "all"), 0);
	/* main.cf's list names floodgate: nothing. */
	assert_int_equal(logins("unix:floodgate/milter.sock", "", "",
	    M_SMTP M_SUB, "yes", "all"), 0);
	/* On the loopback only (its host, or inet_interfaces): a local
	 * client relays there anyway; not said. postscreen's smtpd
	 * listens wherever Postfix does. */
	assert_int_equal(logins("", "", SUB_OURS,
	    "127.0.0.1:10025 inet n - n - - smtpd\n"
	    "[::1]:10025 inet n - n - - smtpd\n"
	    "localhost:10026 inet n - n - - smtpd\n" M_SUB, "yes", "all"), 0);
	assert_int_equal(logins("", "", SUB_OURS, M_SMTP M_SUB
	    "smtpd pass - - y - - smtpd\n", "yes", "loopback-only"), 0);
	assert_int_equal(logins("", "", SUB_OURS, M_SMTP M_SUB, "yes",
	    "127.0.0.1, [::1]"), 0);
	assert_int_equal(logins("", "", SUB_OURS, M_SMTP M_SUB, "yes",
	    "127.0.0.1, 192.0.2.1"), 1);
	assert_int_equal(logins("", "", SUB_OURS, M_SMTP M_SUB, "yes", " "), 1);
	assert_int_equal(logins("", "", SUB_OURS,
	    "smtp inet n - y - 1 postscreen\n"
	    "smtpd pass - - y - - smtpd\n" M_SUB, "yes", "all"), 1);
	assert_non_null(strstr(out[0], "master.cf: smtpd/pass has no smtpd_milters of its own"));
	/* Its own SASL or its name makes a loopback listener one, and
	 * needs no main.cf SASL said. */
	assert_int_equal(logins("", "", SUB_OURS
	    "127.0.0.1:2525/inet/smtpd_sasl_auth_enable = yes\n",
	    "127.0.0.1:2525 inet n - n - - smtpd\n" M_SUB, "no", "all"), 1);
	assert_string_equal(out[0], "master.cf: 127.0.0.1:2525/inet has no smtpd_milters of its own, and main.cf's (empty) names no socket of floodgate's (unix:floodgate/milter.sock): mail submitted there (SASL logins, webmail) goes out without floodgate, unlimited");
	/* A submission service left out when the others name floodgate. */
	assert_int_equal(logins("", "", SUB_OURS,
	    "smtps inet n - y - - smtpd\n" M_SUB, NULL, NULL), 1);
	assert_non_null(strstr(out[0], "master.cf: smtps/inet has no smtpd_milters of its own"));
	/* Where no service names floodgate, main.cf's list is said for
	 * all of SMTP, once. */
	assert_int_equal(logins("", "", "", M_SMTP
	    "submission inet n - y - - smtpd\n", "yes", "all"), 1);
	assert_non_null(strstr(out[0], "main.cf: smtpd_milters is empty and no master.cf service sets it"));
	/* Odd lines: too few fields, another command, a unix smtpd. */
	assert_int_equal(logins("", "", SUB_OURS, "\n \nsmtp inet\n"
	    "smtp inet n - y - - smtpdx\nrelay unix n - y - - smtpd\n"
	    "x inet n - y - -\n" M_SUB, "yes", "all"), 0);
}

/* Where a content filter gives mail back (its own content_filter or
 * smtpd_proxy_filter empty): floodgate's milter there, not turned off
 * by no_milters, decides each message twice. */
static size_t
returns(const char *smtpd, const char *rov, const char *maps,
    const char *master)
{
	struct fg_pf_conf pf = { .default_action = "tempfail",
	    .non_smtpd_milters = "unix:floodgate/milter.sock",
	    .smtpd_milters = smtpd, .master = master,
	    .queue_directory = "/var/spool/postfix", .smtpd_milter_maps = maps,
	    .listen = FG_SOCK, .receive_override_options = rov,
	    .services = "127.0.0.1:10025 inet n - n - - smtpd\n" };

	memset(out, 0, sizeof(out));
	return fg_pf_check(&pf, out, 8);
}

#define RET "127.0.0.1:10025/inet/content_filter =\n"
#define OURS "unix:floodgate/milter.sock"

static void
test_filter_return(void **state)
{
	(void)state;
	/* The README's listener: no_milters, nothing said. */
	assert_int_equal(returns(OURS, "", "", RET
	    "127.0.0.1:10025/inet/receive_override_options = no_unknown_recipient_checks,no_header_body_checks,no_milters\n"), 0);
	/* Without it, main.cf's list decides each message again. */
	assert_int_equal(returns(OURS, "", "", RET
	    "127.0.0.1:10025/inet/receive_override_options = no_unknown_recipient_checks,no_header_body_checks\n"), 1);
	assert_string_equal(out[0], "master.cf: 127.0.0.1:10025/inet takes mail back from a content filter, and main.cf's smtpd_milters names floodgate's socket (unix:floodgate/milter.sock): every message is decided and charged a second time there, from the filter without its login (to its envelope sender's account); give it -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters");
	/* Its own list, or behind a proxy filter. */
	assert_int_equal(returns("", "", "",
	    "127.0.0.1:10025/inet/smtpd_proxy_filter=\n"
	    "127.0.0.1:10025/inet/smtpd_milters = inet:localhost:8891, " OURS "\n"), 1);
	assert_non_null(strstr(out[0], "master.cf: 127.0.0.1:10025/inet takes mail back from a content filter, and its own smtpd_milters names floodgate's socket"));
	/* Its own empty list, main.cf's no_milters (said as such), a map,
	 * a list not read: not said. */
	assert_int_equal(returns(OURS, "", "", RET
	    "127.0.0.1:10025/inet/smtpd_milters =\n"), 0);
	assert_int_equal(returns(OURS, "no_milters", "", RET), 1);
	assert_null(strstr(out[0], "takes mail back"));
	assert_int_equal(returns(OURS, "", "cidr:/etc/postfix/milters", RET), 0);
	assert_int_equal(returns("$floodgate", "", "", RET), 0);
	/* Services that skip the filter: a submission service, one with
	 * SASL of its own, one off the loopback. */
	{
		struct fg_pf_conf pf = { .default_action = "tempfail",
		    .non_smtpd_milters = OURS, .smtpd_milters = OURS,
		    .master = "submission/inet/content_filter =\n"
		    "127.0.0.1:2525/inet/content_filter =\n"
		    "127.0.0.1:2525/inet/smtpd_sasl_auth_enable = yes\n"
		    "2526/inet/content_filter =\n"
		    "192.0.2.1:2527/inet/content_filter =\n"
		    "smtpd/pass/content_filter =\n",
		    .queue_directory = "/var/spool/postfix",
		    .smtpd_milter_maps = "", .listen = FG_SOCK,
		    .receive_override_options = "",
		    .services = "submission inet n - y - - smtpd\n"
		    "127.0.0.1:2525 inet n - y - - smtpd\n"
		    "2526 inet n - y - - smtpd\n"
		    "192.0.2.1:2527 inet n - y - - smtpd\n"
		    "smtpd pass - - y - - smtpd\n",
		    .inet_interfaces = "all" };

		memset(out, 0, sizeof(out));
		assert_int_equal(fg_pf_check(&pf, out, 8), 0);
		/* Listening on the loopback only, the one without a host
		 * is. */
		pf.inet_interfaces = "loopback-only";
		assert_int_equal(fg_pf_check(&pf, out, 8), 1);
		assert_non_null(strstr(out[0], "master.cf: 2526/inet takes mail back from a content filter"));
	}
	/* A service that sends to a filter is not one it gives back to. */
	assert_int_equal(returns(OURS, "", "",
	    "127.0.0.1:10025/inet/content_filter = smtp-amavis:[127.0.0.1]:10024\n"), 0);
	assert_int_equal(returns(OURS, "", "", ""), 0);
}

/* A content filter run by pipe that gives mail back through the
 * sendmail command: local mail's milters decide it a second time. */
static size_t
pipes(const char *local, const char *filter, const char *master,
    const char *services)
{
	struct fg_pf_conf pf = { .default_action = "tempfail",
	    .non_smtpd_milters = local, .smtpd_milters = OURS, .master = master,
	    .queue_directory = "/var/spool/postfix", .smtpd_milter_maps = "",
	    .listen = FG_SOCK, .receive_override_options = "",
	    .services = services, .content_filter = filter,
	    .cleanup_service_name = "cleanup" };

	memset(out, 0, sizeof(out));
	return fg_pf_check(&pf, out, 8);
}

#define SPAMC "spamassassin unix - n n - - pipe user=debian-spamd argv=/usr/bin/spamc -f -e /usr/sbin/sendmail -oi -f ${sender} ${recipient}\n"

static void
test_pipe_filter(void **state)
{
	(void)state;
	/* Debian's spamc guide, by main.cf or by a service's -o. */
	assert_int_equal(pipes(OURS, "spamassassin", "", SPAMC), 1);
	assert_string_equal(out[0], "master.cf: spamassassin/unix, a content filter, gives mail back through the sendmail command, and local mail's milters (non_smtpd_milters) name floodgate's socket (unix:floodgate/milter.sock): every message it filters is decided and charged a second time, as local mail; give the mail back over SMTP to a listener with no_milters (the README's Content filters)");
	assert_int_equal(pipes(OURS, " ",
	    "smtp/inet/content_filter = spamassassin:dummy\n", SPAMC), 1);
	/* FILTER_README's simple filter, its own script; sendmail named
	 * by itself or after argv=. */
	assert_int_equal(pipes(OURS, "filter:dummy", "",
	    "filter unix - n n - 10 pipe flags=Rq user=filter null_sender=\n"
	    "scan unix - n n - - pipe argv=sendmail -G -i\n"), 0);
	assert_int_equal(pipes(OURS, "scan", "",
	    "scan unix - n n - - pipe user=f argv=sendmail -G -i\n"), 1);
	/* Not named by a content filter; no sendmail; another command;
	 * another word ending so. */
	assert_int_equal(pipes(OURS, "", "", SPAMC), 0);
	assert_int_equal(pipes(OURS, "spamassassin", "",
	    "spamassassin unix - n n - - pipe argv=/usr/bin/spamc -e /usr/sbin/sendmailx -oi\n"), 0);
	assert_int_equal(pipes(OURS, "smtp-amavis:[127.0.0.1]:10024", "",
	    "smtp-amavis unix - - n - 2 smtp -o argv=/usr/sbin/sendmail\n"), 0);
	assert_int_equal(pipes(OURS, "spamassassin2", "", SPAMC), 0);
	assert_int_equal(pipes(OURS, "",
	    "smtp/inet/syslog_name = spamassassin\n"
	    "smtp/inet/xcontent_filter = spamassassin\n", SPAMC), 0);
	/* Local mail's milters without floodgate (said as such), or
	 * turned off on pickup (said as such): not this. */
	assert_int_equal(pipes("inet:localhost:8891", "spamassassin", "",
	    SPAMC), 1);
	assert_null(strstr(out[0], "content filter"));
	assert_int_equal(pipes(OURS, "spamassassin",
	    "pickup/unix/receive_override_options = no_milters\n", SPAMC), 1);
	assert_null(strstr(out[0], "content filter"));
	/* The cleanup service's own list is the one local mail meets
	 * (cleanup reads it; on pickup it does nothing), the service
	 * pickup names if it names one. */
	assert_int_equal(pipes("inet:localhost:8891", "spamassassin",
	    "cleanup/unix/non_smtpd_milters = " OURS "\n", SPAMC), 1);
	assert_non_null(strstr(out[0], "master.cf: spamassassin/unix, a content filter"));
	assert_int_equal(pipes("inet:localhost:8891", "spamassassin",
	    "pickup/unix/non_smtpd_milters = " OURS "\n", SPAMC), 2);
	assert_non_null(strstr(out[0], "main.cf: non_smtpd_milters = inet:localhost:8891 names no socket"));
	assert_non_null(strstr(out[1], "master.cf: pickup/unix sets non_smtpd_milters, naming floodgate's socket, where Postfix never reads it"));
	assert_int_equal(pipes(OURS, "spamassassin",
	    "pickup/unix/cleanup_service_name = pre-cleanup\n"
	    "pre-cleanup/unix/non_smtpd_milters =\n", SPAMC), 1);
	assert_null(strstr(out[0], "content filter"));
	assert_int_equal(pipes("", "spamassassin",
	    "pickup/unix/cleanup_service_name = pre-cleanup\n"
	    "pre-cleanup/unix/non_smtpd_milters = " OURS "\n", SPAMC), 1);
	assert_non_null(strstr(out[0], "master.cf: spamassassin/unix, a content filter"));
}

/* The cleanup service local mail goes through (pickup's) reads
 * non_smtpd_milters: its own list without floodgate is local mail
 * unlimited, whatever main.cf says; the same set on pickup does
 * nothing, and is said as such where local mail misses floodgate. */
static void
test_cleanup_list(void **state)
{
	(void)state;
	assert_int_equal(pipes(OURS, "", "cleanup/unix/non_smtpd_milters =\n",
	    ""), 1);
	assert_string_equal(out[0], "master.cf: cleanup/unix, the cleanup service local mail goes through, sets non_smtpd_milters empty: local mail (the sendmail command, PHP's mail(), cron) goes out without floodgate, unlimited");
	assert_int_equal(pipes(OURS, "",
	    "cleanup/unix/non_smtpd_milters = inet:localhost:8891\n", ""), 1);
	assert_non_null(strstr(out[0], "master.cf: cleanup/unix, the cleanup service local mail goes through, sets non_smtpd_milters = inet:localhost:8891, which names no socket of floodgate's (unix:floodgate/milter.sock): local mail"));
	/* Its own naming floodgate; another cleanup service's; none. */
	assert_int_equal(pipes("", "", "cleanup/unix/non_smtpd_milters = "
	    OURS "\n", ""), 0);
	assert_int_equal(pipes(OURS, "",
	    "pre-cleanup/unix/non_smtpd_milters =\n", ""), 0);
	assert_int_equal(pipes(OURS, "", "", ""), 0);
	assert_int_equal(pipes(OURS, "",
	    "cleanup/unix/non_smtpd_milters = $floodgate\n", ""), 0);
	/* The service pickup names. */
	assert_int_equal(pipes(OURS, "",
	    "pickup/unix/cleanup_service_name = pre-cleanup\n"
	    "pre-cleanup/unix/non_smtpd_milters = inet:localhost:8891\n", ""), 1);
	assert_non_null(strstr(out[0], "master.cf: pre-cleanup/unix, the cleanup service local mail goes through"));
	/* Neither main.cf's nor its own: main.cf's said, once. */
	assert_int_equal(pipes("inet:localhost:8891", "",
	    "cleanup/unix/non_smtpd_milters = inet:localhost:8891\n", ""), 1);
	assert_non_null(strstr(out[0], "main.cf: non_smtpd_milters = inet:localhost:8891 names no socket"));
	/* pickup's own list is none of cleanup's: where local mail
	 * misses floodgate, one that names it is said as read by no one. */
	assert_int_equal(pipes("", "", "pickup/unix/non_smtpd_milters = "
	    OURS "\n", ""), 2);
	assert_non_null(strstr(out[0], "main.cf: non_smtpd_milters is empty"));
	assert_string_equal(out[1], "master.cf: pickup/unix sets non_smtpd_milters, naming floodgate's socket, where Postfix never reads it: local mail's milters are the ones cleanup/unix (the cleanup service it goes through) reads, its own or main.cf's; set it there");
	assert_int_equal(pipes(OURS, "", "cleanup/unix/non_smtpd_milters =\n"
	    "pickup/unix/non_smtpd_milters = " OURS "\n", ""), 2);
	assert_non_null(strstr(out[0], "master.cf: cleanup/unix, the cleanup service local mail goes through"));
	assert_non_null(strstr(out[1], "master.cf: pickup/unix sets non_smtpd_milters, naming floodgate's socket, where Postfix never reads it"));
	assert_int_equal(pipes("inet:localhost:8891", "",
	    "pickup/unix/cleanup_service_name = pre-cleanup\n"
	    "pickup/unix/non_smtpd_milters = inet:localhost:8891, " OURS "\n",
	    ""), 2);
	assert_non_null(strstr(out[1], "are the ones pre-cleanup/unix (the cleanup service it goes through) reads"));
	/* Not where local mail reaches floodgate, nor for a list on
	 * pickup without it. */
	assert_int_equal(pipes(OURS, "", "pickup/unix/non_smtpd_milters = "
	    OURS "\n", ""), 0);
	assert_int_equal(pipes("", "", "pickup/unix/non_smtpd_milters = "
	    "inet:localhost:8891\n", ""), 1);
	assert_int_equal(pipes("", "", "pickup/unix/non_smtpd_milters =\n",
	    ""), 1);
	assert_int_equal(pipes("", "", "pickup/unix/non_smtpd_milters = "
	    "$floodgate\n", ""), 1);
	/* main.cf's list is not pickup's own. */
	assert_int_equal(pipes(OURS, "", "cleanup/unix/non_smtpd_milters =\n",
	    ""), 1);
}

/* .forward files, said with account uid only: Postfix's local(8)
 * (the service local_transport names, where mydestination is set)
 * with a forward_path, its own or main.cf's. */
static size_t
forward(const char *fwd, const char *mydest, const char *transport,
    const char *master, const char *services, int uid)
{
	struct fg_pf_conf pf = { .default_action = "tempfail",
	    .non_smtpd_milters = OURS, .smtpd_milters = OURS,
	    .master = master, .queue_directory = "/var/spool/postfix",
	    .listen = FG_SOCK, .services = services, .forward_path = fwd,
	    .mydestination = mydest, .local_transport = transport,
	    .uid_accounts = uid };

	memset(out, 0, sizeof(out));
	return fg_pf_check(&pf, out, 8);
}

#define FWD "$home/.forward${recipient_delimiter}${extension}, $home/.forward"
#define MYDEST "$myhostname, localhost.$mydomain, localhost"
#define LOCAL_SVC "local unix - n n - - local\n"

static void
test_forward(void **state)
{
	(void)state;
	assert_int_equal(forward(FWD, MYDEST, "local:$myhostname", "",
	    LOCAL_SVC, 1), 1);
	assert_string_equal(out[0], "main.cf: forward_path = $home/.forward${recipient_delimiter}${extension}, $home/.forward: a user's .forward sends each message the user gets on to every address in it, copies floodgate never decides (one message to the user's own address, a hundred out); with account uid, users run their own code here; set forward_path = (empty) to turn .forward files off");
	/* Without account uid; forward_path empty; no local domain. */
	assert_int_equal(forward(FWD, MYDEST, "local:$myhostname", "",
	    LOCAL_SVC, 0), 0);
	assert_int_equal(forward(" ", MYDEST, "local:$myhostname", "",
	    LOCAL_SVC, 1), 0);
	assert_int_equal(forward(FWD, "", "local:$myhostname", "",
	    LOCAL_SVC, 1), 0);
	/* Local mail delivered by another agent than local(8); the
	 * stock services when master.cf's were not asked. */
	assert_int_equal(forward(FWD, MYDEST, "virtual", "",
	    LOCAL_SVC "virtual unix - n n - - virtual\n", 1), 0);
	assert_int_equal(forward(FWD, MYDEST, "error:no local mail", "",
	    LOCAL_SVC, 1), 0);
	assert_int_equal(forward(FWD, MYDEST, "local", "", NULL, 1), 1);
	assert_int_equal(forward(FWD, MYDEST, "local2", "", NULL, 1), 0);
	/* Another name for local(8); a service named local running
	 * something else, or of another type. */
	assert_int_equal(forward(FWD, MYDEST, "mylocal", "",
	    "mylocal unix - n n - - local\n", 1), 1);
	assert_int_equal(forward(FWD, MYDEST, "local", "",
	    "local unix - n n - - pipe flags=R argv=/bin/true\n", 1), 0);
	assert_int_equal(forward(FWD, MYDEST, "local", "",
	    "local inet - n n - - local\n", 1), 0);
	/* local(8)'s own forward_path, empty or set, decides. */
	assert_int_equal(forward(FWD, MYDEST, "local", "local/unix/forward_path =\n",
	    LOCAL_SVC, 1), 0);
	assert_int_equal(forward("", MYDEST, "local",
	    "local/unix/forward_path = $home/.forward\n", LOCAL_SVC, 1), 1);
	assert_string_equal(out[0], "master.cf: local/unix sets a forward_path of its own: a user's .forward sends each message the user gets on to every address in it, copies floodgate never decides (one message to the user's own address, a hundred out); with account uid, users run their own code here; set it empty (-o forward_path=) to turn .forward files off");
	/* Not asked: nothing said. */
	assert_int_equal(forward(NULL, MYDEST, "local", "", LOCAL_SVC, 1), 0);
	assert_int_equal(forward(FWD, NULL, "local", "", LOCAL_SVC, 1), 0);
	assert_int_equal(forward(FWD, MYDEST, NULL, "", LOCAL_SVC, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_master_lines),
		cmocka_unit_test(test_names_ours),
		cmocka_unit_test(test_names_other),
		cmocka_unit_test(test_group_accept),
		cmocka_unit_test(test_no_milters),
		cmocka_unit_test(test_submission),
		cmocka_unit_test(test_login_services),
		cmocka_unit_test(test_filter_return),
		cmocka_unit_test(test_pipe_filter),
		cmocka_unit_test(test_cleanup_list),
		cmocka_unit_test(test_forward),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
