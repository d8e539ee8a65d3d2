/* Unit tests of lib/maillog.c: Postfix's and Sendmail's delivery results
 * in every log format floodgate follows, and every line it must leave
 * alone. */
#include <stdio.h>
#include <time.h>

#include "helpers.h"
#include "maillog.h"

/* 2026-11-30 00:00:00 UTC */
#define NOW	1795996800

static int
parse(const char *line, struct fg_delivery *d)
{
	return fg_maillog_line(line, strlen(line), NOW, d);
}

static void
test_formats(void **state)
{
	struct fg_delivery d;

	(void)state;
	/* syslog's RFC 3164, as Postfix's maillog_file writes it too */
	assert_int_equal(parse("Nov 29 07:05:46 mta postfix/smtp[18944]: 8A980A72713: to=<r@Dest.Example>, relay=127.0.0.1[127.0.0.1]:24381, delay=0.04, delays=0.01/0.02/0.01/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)", &d), 1);
	assert_string_equal(d.qid, "8A980A72713");
	assert_string_equal(d.domain, "dest.example");
	assert_string_equal(d.dsn, "2.0.0");
	assert_int_equal(d.status, FG_DS_SENT);
	assert_int_equal(d.unknown, 0);
	assert_true(d.when > NOW - 86400 - 2 * 86400 && d.when <= NOW);
	/* rsyslog's ISO timestamp (Debian 12's default) */
	assert_int_equal(parse("2026-11-30T06:21:44.123456+09:00 mx1 postfix/smtp[1]: 4XyZ1a2B3cD: to=<nobody@example.jp>, relay=mx.example.jp[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.jp[192.0.2.1] said: 550 5.1.1 <nobody@example.jp>: User unknown (in reply to RCPT TO command))", &d), 1);
	assert_int_equal(d.when, NOW + 6 * 3600 + 21 * 60 + 44 - 9 * 3600);
	assert_int_equal(d.status, FG_DS_BOUNCED);
	assert_int_equal(d.unknown, 1);
	/* RFC 5424 on the wire, another syslog_name */
	assert_int_equal(parse("<22>1 2026-11-30T06:21:44Z mx1 postfix-out/smtp 1234 - - 4XyZ: to=<a@ezweb.ne.jp>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to lsean.ezweb.ne.jp[111.86.248.1]:25: Connection timed out)", &d), 1);
	assert_string_equal(d.qid, "4XyZ");
	assert_int_equal(d.status, FG_DS_DEFERRED);
	assert_int_equal(d.fail, FG_DF_CONNECT);
	assert_int_equal(d.when, NOW + 6 * 3600 + 21 * 60 + 44);
	/* structured data before the message, and a BOM */
	assert_int_equal(parse("<22>1 2026-11-30T06:21:44Z mx1 postfix/lmtp 1 - [x@1 a=\"b\"] \xef\xbb\xbf" "AB12: to=<u@h.example>, relay=h, dsn=2.0.0, status=sent (ok)", &d), 1);
	assert_string_equal(d.qid, "AB12");
	/* the journal: the message alone, with its identifier */
	{
		const char *m = "4XyZ: to=<b@au.com>, relay=mx.au.com[5.6.7.8]:25, delay=2, delays=0/0/1/1, dsn=4.2.0, status=deferred (host mx.au.com[5.6.7.8] said: 450 4.2.0 try later (in reply to end of DATA command))";

		assert_int_equal(fg_maillog_message("postfix/smtp", m, strlen(m), &d), 1);
		assert_string_equal(d.domain, "au.com");
		assert_int_equal(d.fail, FG_DF_4XX);
		assert_int_equal(fg_maillog_message("postfix/smtpd", m, strlen(m), &d), 0);
	}
}

static void
test_results(void **state)
{
	struct fg_delivery d;

	(void)state;
	/* a 421 at the greeting is the remote server answering 4xx */
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<a@docomo.ne.jp>, relay=mfsmax.docomo.ne.jp[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=4.7.0, status=deferred (host mfsmax.docomo.ne.jp[1.2.3.4] refused to talk to me: 421 4.7.0 too many connections)", &d), 1);
	assert_int_equal(d.fail, FG_DF_4XX);
	/* lost during the greeting: no SMTP conversation */
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<a@docomo.ne.jp>, relay=x[1.2.3.4]:25, dsn=4.4.2, status=deferred (lost connection with x[1.2.3.4] while receiving the initial server greeting)", &d), 1);
	assert_int_equal(d.fail, FG_DF_CONNECT);
	/* a content filter on this host that is down is no destination
	 * refusing connections; a remote one that does is */
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<a@docomo.ne.jp>, relay=none, delay=0.1, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:10024: Connection refused)", &d), 1);
	assert_int_equal(d.fail, FG_DF_OTHER);
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<a@docomo.ne.jp>, relay=localhost[::1]:10024, dsn=4.4.2, status=deferred (lost connection with localhost[::1] while receiving the initial server greeting)", &d), 1);
	assert_int_equal(d.fail, FG_DF_OTHER);
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<a@docomo.ne.jp>, relay=none, delay=0.1, dsn=4.4.1, status=deferred (connect to mfsmax.docomo.ne.jp[203.0.113.5]:25: Connection refused)", &d), 1);
	assert_int_equal(d.fail, FG_DF_CONNECT);
	/* the queue manager's echo of an attempt's failure for the rest
	 * of the destination's mail (Postfix 3.7's own lines): no server
	 * asked, whatever the reason it repeats */
	assert_int_equal(parse("Dec 07 22:04:57 mta postfix/error[18527]: 6D4EEA740F4: to=<a1@docomo.test>, relay=none, delay=6.2, delays=6.2/0.03/0/0, dsn=4.7.0, status=deferred (delivery temporarily suspended: host 127.0.0.1[127.0.0.1] refused to talk to me: 421 4.7.0 sink.carrier.test Service unavailable, too many messages, try again later)", &d), 1);
	assert_int_equal(d.status, FG_DS_DEFERRED);
	assert_int_equal(d.fail, FG_DF_OTHER);
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/error[1]: 4A: to=<a@docomo.ne.jp>, relay=none, delay=9, delays=9/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mfsmax.docomo.ne.jp[203.0.113.5]:25: Connection timed out)", &d), 1);
	assert_int_equal(d.fail, FG_DF_OTHER);
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/error[1]: 4A: to=<a@docomo.ne.jp>, relay=none, delay=9, delays=9/0/0/0, dsn=4.7.0, status=deferred (delivery temporarily suspended: host mfsmax.docomo.ne.jp[1.2.3.4] said: 421 4.7.0 try again later (in reply to MAIL FROM command))", &d), 1);
	assert_int_equal(d.fail, FG_DF_OTHER);
	/* floodgate's own pause: Postfix's retry service, not the carrier */
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/retry[1]: 4A: to=<a@docomo.ne.jp>, relay=none, delay=1, delays=1/0/0/0, dsn=4.7.0, status=deferred (floodgate: docomo.ne.jp paused until 07:21 UTC)", &d), 1);
	assert_int_equal(d.fail, FG_DF_OTHER);
	/* a 5.0.0 bounce that says the user does not exist */
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/local[1]: 4A: to=<x@here.example>, relay=local, dsn=5.0.0, status=bounced (unknown user: \"x\")", &d), 1);
	assert_int_equal(d.unknown, 1);
	/* one that does not: a bounce, not an unknown recipient */
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<x@h.example>, relay=h, dsn=5.0.0, status=bounced (host h said: 554 message looks like spam)", &d), 1);
	assert_int_equal(d.unknown, 0);
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<x@h.example>, relay=h, dsn=5.7.1, status=bounced (host h said: 550 5.7.1 relaying denied)", &d), 1);
	assert_int_equal(d.unknown, 0);
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<x@h.example>, relay=h, dsn=5.1.10, status=bounced (null MX)", &d), 1);
	assert_int_equal(d.unknown, 1);
	/* a message that expired in the queue */
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/qmgr[1]: 4A: from=<s@x.example>, status=expired, returned to sender", &d), 1);
	assert_int_equal(d.status, FG_DS_EXPIRED);
	assert_string_equal(d.domain, "");
	/* an address with '>' and ", " in its quoted local part */
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<\"a>, b\"@q.example>, relay=q, dsn=2.0.0, status=sent (ok)", &d), 1);
	assert_string_equal(d.domain, "q.example");
	/* a carrier's domain in fullwidth letters (SMTPUTF8 mail, logged
	 * as written): its 421 is the carrier's */
	assert_int_equal(parse("Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<x@\xef\xbd\x84\xef\xbd\x8f\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d\xef\xbd\x8f.ne.jp>, relay=mx, dsn=4.0.0, status=deferred (host mx said: 421 try later)", &d), 1);
	assert_string_equal(d.domain, "docomo.ne.jp");
}

/* Sendmail 8.17's lines, as it logged them here (t38). */
static void
test_sendmail(void **state)
{
	static const char more[] = "Dec  2 15:58:35 mta.floodgate.test sendmail[23192]: 6B2FwZ1T023190: to=<long-recipient-14@example.com>,<long-recipient-13@example.com>, [more], delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=1801981, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (2.0.0 Ok: queued)";
	struct fg_delivery d;
	const char *l;

	(void)state;
	/* three recipients that went together: one line */
	l = "Dec  2 15:55:24 mta.floodgate.test sendmail[22516]: 6B2FtOTw022514: to=<u3@Example.NET>,<u2@example.com>,<u9@example.com>, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=120252, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (2.0.0 Ok: queued)";
	assert_int_equal(parse(l, &d), 1);
	assert_string_equal(d.qid, "6B2FtOTw022514");
	assert_string_equal(d.domain, "example.net");
	assert_int_equal(d.status, FG_DS_SENT);
	assert_int_equal(fg_maillog_next(l, strlen(l), &d), 1);
	assert_string_equal(d.domain, "example.com");
	assert_int_equal(d.status, FG_DS_SENT);
	assert_string_equal(d.qid, "6B2FtOTw022514");
	assert_int_equal(fg_maillog_next(l, strlen(l), &d), 1);
	assert_int_equal(fg_maillog_next(l, strlen(l), &d), 0);
	assert_int_equal(fg_maillog_next(l, strlen(l), &d), 0);
	/* a list too long for one line: each part has its result */
	assert_int_equal(parse(more, &d), 1);
	assert_int_equal(fg_maillog_next(more, strlen(more), &d), 1);
	assert_string_equal(d.domain, "example.com");
	assert_int_equal(fg_maillog_next(more, strlen(more), &d), 0);
	/* refused at RCPT as unknown, with the remote's reply */
	assert_int_equal(parse("Dec  2 15:55:24 mta.floodgate.test sendmail[22516]: 6B2FtOTw022514: to=<nx4@example.net>, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=120252, relay=[127.0.0.1] [127.0.0.1], dsn=5.1.1, reply=550 5.1.1 <nx4@example.net>: Recipient address rejected: User unknown in local recipient table, stat=User unknown", &d), 1);
	assert_int_equal(d.status, FG_DS_BOUNCED);
	assert_int_equal(d.unknown, 1);
	assert_int_equal(d.next, 0);
	/* 421 at the greeting (Sendmail says dsn=4.5.0) */
	assert_int_equal(parse("Dec  2 15:58:32 mta.floodgate.test sendmail[23180]: 6B2FwWf0023178: to=<b1@docomo.test>, delay=00:00:00, xdelay=00:00:00, mailer=smtp8, pri=60221, relay=[127.0.0.1] [127.0.0.1], dsn=4.5.0, reply=421 4.7.0 sink.carrier.test Service unavailable, too many messages, try again later, stat=Deferred: 421 4.7.0 sink.carrier.test Service unavailable, too many messages, try again later", &d), 1);
	assert_int_equal(d.status, FG_DS_DEFERRED);
	assert_int_equal(d.fail, FG_DF_4XX);
	assert_string_equal(d.domain, "docomo.test");
	/* no SMTP conversation */
	assert_int_equal(parse("Dec  2 15:58:32 mta.floodgate.test sendmail[23180]: 6B2FwWf0023178: to=<b2@refused.test>, delay=00:00:00, xdelay=00:00:00, mailer=relay, pri=60221, relay=[127.0.0.1] [127.0.0.1], dsn=4.4.1, stat=Deferred: Connection refused by [127.0.0.1]", &d), 1);
	assert_int_equal(d.fail, FG_DF_CONNECT);
	/* the rest of a queue run after those, from Sendmail 8.17's cached
	 * host status: relay= names no address, no connection was tried */
	assert_int_equal(parse("Dec  7 22:16:31 mta.floodgate.test sendmail[9213]: 6B7MGUG0009211: to=<x5@refused.test>, delay=00:00:01, xdelay=00:00:00, mailer=relay, pri=120206, relay=[127.0.0.1], dsn=4.4.1, stat=Deferred: Connection refused by [127.0.0.1]", &d), 1);
	assert_int_equal(d.status, FG_DS_DEFERRED);
	assert_int_equal(d.fail, FG_DF_OTHER);
	assert_int_equal(parse("Dec  7 22:16:52 mta.floodgate.test sendmail[9476]: 6B7MGput009464: to=<b5@docomo.test>, delay=00:00:01, xdelay=00:00:00, mailer=smtp8, pri=120205, relay=[127.0.0.1], dsn=4.5.0, stat=Deferred", &d), 1);
	assert_int_equal(d.fail, FG_DF_OTHER);
	assert_int_equal(parse("Dec  7 22:16:52 mx sm-mta[1]: 6B7MGput009464: to=<b5@docomo.ne.jp>, delay=00:00:01, mailer=esmtp, pri=120205, relay=mfsmax.docomo.ne.jp., dsn=4.0.0, stat=Deferred: 421 4.7.0 try again later", &d), 1);
	assert_int_equal(d.fail, FG_DF_OTHER);
	assert_int_equal(parse("Dec  7 22:16:52 mx sm-mta[1]: 6B7MGput009464: to=<b5@docomo.ne.jp>, delay=00:00:01, mailer=esmtp, pri=120205, relay=mfsmax.docomo.ne.jp. [203.0.113.5], dsn=4.0.0, stat=Deferred: 421 4.7.0 try again later", &d), 1);
	assert_int_equal(d.fail, FG_DF_4XX);
	/* a deferral of its own: neither */
	assert_int_equal(parse("Dec  2 15:58:32 mta.floodgate.test sm-mta[1]: 6B2FwWf0023178: to=<b2@x.test>, delay=00:00:00, mailer=esmtp, pri=60221, relay=x.test, dsn=4.0.0, stat=Deferred: Name server: x.test.: host name lookup failure", &d), 1);
	assert_int_equal(d.fail, FG_DF_OTHER);
	/* a message it gave up on, and the journal's form (Debian: sm-mta) */
	assert_int_equal(parse("Dec  2 15:58:08 mta.floodgate.test sendmail[22974]: 6B2FvBNS022972: 6B2Fw8NT022974: DSN: Cannot send message for 20 seconds", &d), 1);
	assert_int_equal(d.status, FG_DS_EXPIRED);
	assert_string_equal(d.qid, "6B2FvBNS022972");
	assert_string_equal(d.domain, "");
	assert_string_equal(d.requeued, "6B2Fw8NT022974");	/* its DSN */
	assert_int_equal(d.notice, 1);
	{
		const char *m = "6B2FvBNS022972: to=<\"a,b>, c\"@q.example>,x@bare.example, delay=5+00:00:00, mailer=esmtp, pri=1, relay=q, dsn=5.0.0, stat=Service unavailable: no such user";

		assert_int_equal(fg_maillog_message("sm-mta", m, strlen(m), &d), 1);
		assert_string_equal(d.domain, "q.example");
		assert_int_equal(d.unknown, 1);
		assert_int_equal(fg_maillog_next(m, strlen(m), &d), 1);
		assert_string_equal(d.domain, "bare.example");
		assert_int_equal(fg_maillog_next(m, strlen(m), &d), 0);
	}
}

static void
test_ignored(void **state)
{
	static const char *const lines[] = {
		"",
		"garbage",
		"Nov 30 06:21:44 mx1 postfix/smtpd[1]: connect from x[1.2.3.4]",
		"Nov 30 06:21:44 mx1 postfix/cleanup[1]: 4A: message-id=<x@y>",
		"Nov 30 06:21:44 mx1 postfix/qmgr[1]: 4A: from=<s@x>, size=300, nrcpt=1 (queue active)",
		"Nov 30 06:21:44 mx1 postfix/qmgr[1]: 4A: removed",
		"Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<a@b>, relay=x, status=queued (x)",
		"Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<a@b>, relay=x, dsn=2.0.0",
		"Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<a@b",
		"Nov 30 06:21:44 mx1 postfix/smtp[1]: : to=<a@b>, status=sent (x)",
		"Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A-B: to=<a@b>, status=sent (x)",
		"Nov 30 06:21:44 mx1 sshd[1]: 4A: to=<a@b>, status=sent (x)",
		"Nov 30 06:21:44 mx1 smtp[1]: 4A: to=<a@b>, status=sent (x)",
		"Foo 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<a@b>, status=sent (x)",
		"<22>1 2026-11-30T06:21:44Z mx1 postfix/smtp 1 - [unterminated 4A: to=<a@b>, status=sent (x)",
		"<22",
		/* Sendmail: what is not a result */
		"Dec  2 15:55:24 mta sendmail[22514]: 6B2FtOTw022514: from=<news@a.example>, size=252, class=0, nrcpts=4, msgid=<x@vm>, proto=ESMTP, daemon=MTA, relay=localhost [127.0.0.1]",
		"Dec  2 15:57:08 mta sendmail[22965]: 6B2Fv84g022965: to=<a1@docomo.test>, delay=00:00:00, mailer=dsmtp, pri=90235, stat=queued",
		"Dec  2 15:55:24 mta sendmail[1]: 6B2F: to=<a@b>, delay=0, mailer=esmtp, dsn=2.0.0",
		"Dec  2 15:55:24 mta sendmail[1]: 6B2F: to=<a@b, delay=0, dsn=2.0.0, stat=Sent",
		"Dec  2 15:55:24 mta sendmail[1]: 6B2F: to=, delay=0, dsn=2.0.0, stat=Sent",
		"Dec  2 15:55:24 mta sendmail[1]: 6B2F: to=<a@b>, delay=0, dsn=3.0.0, stat=Sent",
		"Dec  2 15:55:24 mta sendmail[1]: starting daemon (8.17.1.9): SMTP+queueing@00:01:00",
		NULL
	};
	struct fg_delivery d;
	int i;

	(void)state;
	for (i = 0; lines[i] != NULL; i++)
		if (parse(lines[i], &d) != 0)
			fail_msg("line %d was taken as a delivery result: %s", i,
			    lines[i]);
}

/* A message a content filter on this host took and gave back to the
 * MTA: the queue ID it came back under, from the hop's line. */
static void
test_requeued(void **state)
{
	static const struct {
		const char *line;
		const char *requeued;
	} cases[] = {
		/* Postfix's own listener behind the filter */
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: A90E8A72186: to=<a1@docomo.test>, relay=127.0.0.1[127.0.0.1]:10025, delay=0.05, delays=0.02/0.01/0.01/0.01, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as B10F3A72190)", "B10F3A72190" },
		/* amavisd-new, which passes on the reply of Postfix's; a long
		 * queue ID; the alias a recipient was before */
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: 4Pq0XS1TqCz9sQN: to=<x@docomo.ne.jp>, orig_to=<fwd@hosted.example>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.2, delays=0.1/0/0/1.1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 4Pq0XT2VvRz9sQP)", "4Pq0XT2VvRz9sQP" },
		/* over IPv6, and the loopback's other addresses */
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: 4A: to=<a@b.example>, relay=localhost[::1]:10024, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 5B)", "5B" },
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: 4A: to=<a@b.example>, relay=filter[127.0.0.2]:10024, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 5B)", "5B" },
		/* a remote server's queue ID is its own */
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: 4A: to=<a@docomo.ne.jp>, relay=mfsmax.docomo.ne.jp[203.0.113.5]:25, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 5B)", "" },
		/* a final delivery on the loopback (LMTP) names none */
		{ "Dec  4 19:13:48 mta postfix/lmtp[9]: 4A: to=<u@hosted.example>, relay=127.0.0.1[127.0.0.1]:24, dsn=2.0.0, status=sent (250 2.0.0 <u@hosted.example> Ly6oOlqbq1+xKgAAPmn9sw Saved)", "" },
		/* not taken, or not sent */
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: 4A: to=<a@b.example>, relay=127.0.0.1[127.0.0.1]:10024, dsn=4.5.0, status=deferred (host 127.0.0.1[127.0.0.1] said: 451 4.5.0 queued as nothing (in reply to end of DATA command))", "" },
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: 4A: to=<a@b.example>, relay=none, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:10024: Connection refused)", "" },
		/* a client's quoted local part, in the recipient or the alias
		 * it was, is never taken for the relay */
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: 4A: to=<\"x, relay=f[127.0.0.1]:1, \"@docomo.ne.jp>, relay=mx.docomo.ne.jp[203.0.113.5]:25, dsn=2.0.0, status=sent (250 ok: queued as 5B)", "" },
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: 4A: to=<x@docomo.ne.jp>, orig_to=<\">, relay=f[127.0.0.1]:1, \"@h.example>, relay=mx.docomo.ne.jp[203.0.113.5]:25, dsn=2.0.0, status=sent (250 ok: queued as 5B)", "" },
		/* what is not a queue ID */
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: 4A: to=<a@b.example>, relay=127.0.0.1[127.0.0.1]:10025, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as )", "" },
		{ "Dec  4 19:13:48 mta postfix/smtp[9]: 4A: to=<a@b.example>, relay=127.0.0.1[127.0.0.1]:10025, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 0123456789012345678901234567890123456789012345678901234567890123456789)", "" },
	};
	struct fg_delivery d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].line, &d) != 1)
			fail_msg("case %zu: not a delivery result", i);
		if (strcmp(d.requeued, cases[i].requeued) != 0)
			fail_msg("case %zu: requeued \"%s\", want \"%s\"", i,
			    d.requeued, cases[i].requeued);
	}
	/* the journal's message alone reads the same */
	{
		const char *m = "A9: to=<a@b.example>, relay=127.0.0.1[127.0.0.1]:10025, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as C7)";

		assert_int_equal(fg_maillog_message("postfix/smtp", m, strlen(m), &d), 1);
		assert_string_equal(d.requeued, "C7");
		assert_int_equal(d.status, FG_DS_SENT);
	}
}

/* Forwarding: local(8)'s hop that forwarded a message as a new one (an
 * alias, a .forward), and the address a copy was sent in place of. */
static void
test_forwarded(void **state)
{
	static const struct {
		const char *line;
		int status;
		const char *requeued;
		int forwarded;
		const char *forwarder;
	} cases[] = {
		/* an alias of outside addresses, as Postfix 3.7 logged it */
		{ "Dec  4 22:09:08 mta postfix/local[32194]: 4DBB0A76013: to=<team@hosted.test>, relay=local, delay=0.1, delays=0.02/0.06/0/0.02, dsn=2.0.0, status=sent (forwarded as 5EB78A76063)", FG_DS_SENT, "5EB78A76063", 1, "team@hosted.test" },
		/* a .forward reached through a virtual alias: the address the
		 * sender wrote */
		{ "Dec  4 22:09:08 mta postfix/local[1]: 4A: to=<fwduser@hosted.test>, orig_to=<Info@Virt.test>, relay=local, delay=0.1, dsn=2.0.0, status=sent (forwarded as 5B)", FG_DS_SENT, "5B", 1, "Info@Virt.test" },
		/* the copies, under the new ID */
		{ "Dec  4 22:09:08 mta postfix/smtp[1]: 5B: to=<u1@docomo.test>, orig_to=<fwduser@hosted.test>, relay=127.0.0.1[127.0.0.1]:10732, delay=0.06, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)", FG_DS_SENT, "", 0, "fwduser@hosted.test" },
		{ "Dec  4 22:09:08 mta postfix/smtp[1]: 5B: to=<nx3@example.com>, orig_to=<team@hosted.test>, relay=mx[192.0.2.1]:25, dsn=5.1.1, status=bounced (host mx[192.0.2.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command))", FG_DS_BOUNCED, "", 0, "team@hosted.test" },
		/* a quoted local part that holds what ends an address */
		{ "Dec  4 22:09:08 mta postfix/smtp[1]: 5B: to=<a@b.example>, orig_to=<\"x>, y\"@h.example>, relay=mx[192.0.2.1]:25, dsn=2.0.0, status=sent (250 ok)", FG_DS_SENT, "", 0, "\"x>, y\"@h.example" },
		/* nor one that holds a result of its own */
		{ "Dec  4 22:09:08 mta postfix/smtp[1]: 5B: to=<a@b.example>, orig_to=<\"x, dsn=5.1.1, status=bounced (y\"@h.example>, relay=mx[192.0.2.1]:25, dsn=2.0.0, status=sent (250 ok)", FG_DS_SENT, "", 0, "\"x, dsn=5.1.1, status=bounced (y\"@h.example" },
		/* an address without a domain names no forwarder */
		{ "Dec  4 22:09:08 mta postfix/smtp[1]: 5B: to=<bob@h.example>, orig_to=<bob>, relay=mx[192.0.2.1]:25, dsn=2.0.0, status=sent (250 ok)", FG_DS_SENT, "", 0, "" },
		/* local delivery that forwards nothing */
		{ "Dec  4 22:09:08 mta postfix/local[1]: 4A: to=<u@hosted.test>, relay=local, delay=0.1, dsn=2.0.0, status=sent (delivered to mailbox)", FG_DS_SENT, "", 0, "" },
		{ "Dec  4 22:09:08 mta postfix/local[1]: 4A: to=<u@hosted.test>, orig_to=<v@hosted.test>, relay=local, dsn=2.0.0, status=sent (delivered to command: procmail)", FG_DS_SENT, "", 0, "v@hosted.test" },
		/* a server's reply that says so is no forwarding */
		{ "Dec  4 22:09:08 mta postfix/smtp[1]: 4A: to=<a@b.example>, relay=mx[192.0.2.1]:25, dsn=2.0.0, status=sent (250 2.0.0 forwarded as 5B)", FG_DS_SENT, "", 0, "" },
		/* not a queue ID, or more after it */
		{ "Dec  4 22:09:08 mta postfix/local[1]: 4A: to=<t@hosted.test>, relay=local, dsn=2.0.0, status=sent (forwarded as )", FG_DS_SENT, "", 0, "" },
		{ "Dec  4 22:09:08 mta postfix/local[1]: 4A: to=<t@hosted.test>, relay=local, dsn=2.0.0, status=sent (forwarded as 5B and more)", FG_DS_SENT, "", 0, "" },
		{ "Dec  4 22:09:08 mta postfix/local[1]: 4A: to=<t@hosted.test>, relay=local, dsn=2.0.0, status=sent (forwarded as 0123456789012345678901234567890123456789)", FG_DS_SENT, "", 0, "" },
		/* a recipient without a domain names no one to count for:
		 * not followed */
		{ "Dec  4 22:09:08 mta postfix/local[1]: 4A: to=<team>, relay=local, dsn=2.0.0, status=sent (forwarded as 5B)", FG_DS_SENT, "", 0, "" },
		/* a forwarding that failed forwards nothing */
		{ "Dec  4 22:09:08 mta postfix/local[1]: 4A: to=<t@hosted.test>, relay=local, dsn=4.3.0, status=deferred (forwarded as 5B)", FG_DS_DEFERRED, "", 0, "" },
	};
	struct fg_delivery d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].line, &d) != 1)
			fail_msg("case %zu: not a delivery result", i);
		if ((int)d.status != cases[i].status ||
		    strcmp(d.requeued, cases[i].requeued) != 0 ||
		    d.forwarded != cases[i].forwarded ||
		    strcmp(d.forwarder, cases[i].forwarder) != 0)
			fail_msg("case %zu: status %d, requeued \"%s\", forwarded %d, forwarder \"%s\"",
			    i, (int)d.status, d.requeued, d.forwarded, d.forwarder);
	}
	/* an address longer than any is none */
	{
		char line[1024];

		snprintf(line, sizeof(line), "Dec  4 22:09:08 mta postfix/local[1]: 4A: to=<t@hosted.test>, orig_to=<%0600d@h.example>, relay=local, dsn=2.0.0, status=sent (forwarded as 5B)", 0);
		assert_int_equal(parse(line, &d), 1);
		assert_string_equal(d.requeued, "5B");
		assert_string_equal(d.forwarder, "t@hosted.test");
	}
	/* the journal's message alone reads the same; Sendmail names none */
	{
		const char *m = "4A: to=<team@hosted.test>, relay=local, dsn=2.0.0, status=sent (forwarded as 5B)";
		const char *sm = "Dec  2 15:55:24 mta sm-mta[1]: 6B2F: to=<a@b.example>, ctladdr=<team@hosted.test> (1/1), delay=0, mailer=esmtp, dsn=2.0.0, stat=Sent (ok)";

		assert_int_equal(fg_maillog_message("postfix/local", m, strlen(m), &d), 1);
		assert_string_equal(d.requeued, "5B");
		assert_int_equal(d.forwarded, 1);
		assert_string_equal(d.forwarder, "team@hosted.test");
		assert_int_equal(parse(sm, &d), 1);
		assert_string_equal(d.forwarder, "");
		assert_int_equal(d.forwarded, 0);
	}
}

/* The MTA's notices to a message's sender: a new message to follow. */
static void
test_notices(void **state)
{
	struct fg_delivery d;
	static const struct {
		const char *line;
		int rc;
		const char *qid, *requeued;
	} cases[] = {
		{ "Dec  5 07:11:47 mta postfix/bounce[6003]: 6E347A723F1: sender non-delivery notification: 7DCF4A72334", 1, "6E347A723F1", "7DCF4A72334" },
		{ "Dec  5 07:11:47 mta postfix/bounce[1]: 4A: sender delay notification: 5B", 1, "4A", "5B" },
		{ "Dec  5 07:11:47 mta postfix/bounce[1]: 4A: sender delivery status notification: 5B", 1, "4A", "5B" },
		{ "Dec  5 07:11:47 mta postfix-out/bounce[1]: 4A: sender non-delivery notification: 5B", 1, "4A", "5B" },
		{ "Dec  5 07:15:13 mta.floodgate.test sendmail[11962]: 6B57FDRn011960: 6B57FDRn011962: DSN: User unknown", 1, "6B57FDRn011960", "6B57FDRn011962" },
		{ "Dec  5 07:15:13 mta sm-mta[1]: 6B57FDRn011960: 6B57FDRn011962: return to sender: User unknown", 1, "6B57FDRn011960", "6B57FDRn011962" },
		{ "Dec  2 15:55:24 mta sendmail[22516]: 6B2FtOTw022514: 6B2FtOTw022516: DSN: Warning: could not send message for past 4 hours", 1, "6B2FtOTw022514", "6B2FtOTw022516" },
		/* to the postmaster: no sender's */
		{ "Dec  5 07:11:47 mta postfix/bounce[1]: 4A: postmaster non-delivery notification: 5B", 0, NULL, NULL },
		/* anything else bounce logs, or a queue ID that is none */
		{ "Dec  5 07:11:47 mta postfix/bounce[1]: 4A: sender non-delivery notification: ", 0, NULL, NULL },
		{ "Dec  5 07:11:47 mta postfix/bounce[1]: 4A: sender non-delivery notification: 5B and more", 0, NULL, NULL },
		{ "Dec  5 07:11:47 mta postfix/bounce[1]: 4A: sender non-delivery notification: 0123456789012345678901234567890123456789", 0, NULL, NULL },
		{ "Dec  5 07:11:47 mta postfix/bounce[1]: warning: 4A: cannot create notice", 0, NULL, NULL },
		{ "Dec  5 07:11:47 mta postfix/bounce[1]: 4A: to=<a@b.example>, relay=none, status=bounced (x)", 0, NULL, NULL },
		{ "Dec  5 07:15:13 mta sendmail[1]: 6B57FDRn011960: 6B57FDRn011962: postmaster notify: User unknown", 0, NULL, NULL },
		{ "Dec  5 07:15:13 mta sendmail[1]: 6B57FDRn011960: : DSN: User unknown", 0, NULL, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse(cases[i].line, &d);

		if (rc != cases[i].rc)
			fail_msg("case %zu: %d, want %d", i, rc, cases[i].rc);
		if (rc == 1 && (strcmp(d.qid, cases[i].qid) != 0 ||
		    strcmp(d.requeued, cases[i].requeued) != 0 || !d.notice ||
		    d.forwarded || d.status != FG_DS_SENT))
			fail_msg("case %zu: qid \"%s\", requeued \"%s\", notice %d, status %d",
			    i, d.qid, d.requeued, d.notice, (int)d.status);
	}
	/* the journal's message alone reads the same */
	{
		const char *m = "6E347A723F1: sender non-delivery notification: 7DCF4A72334";

		assert_int_equal(fg_maillog_message("postfix/bounce", m, strlen(m), &d), 1);
		assert_string_equal(d.requeued, "7DCF4A72334");
		assert_int_equal(d.notice, 1);
	}
	/* what is no notice says so */
	assert_int_equal(parse("Dec  4 22:09:08 mta postfix/local[1]: 4A: to=<team@hosted.test>, relay=local, dsn=2.0.0, status=sent (forwarded as 5B)", &d), 1);
	assert_int_equal(d.notice, 0);
}

/* A line is read up to its length, never to a NUL past it. */
static void
test_bounded(void **state)
{
	static const char *const full[] = {
		"Nov 30 06:21:44 mx1 postfix/smtp[1]: 4A: to=<a@b.example>, relay=x, dsn=2.0.0, status=sent (ok)",
		"Dec  2 15:55:24 mta sm-mta[1]: 6B2F: to=<a@b.example>,<c@d.example>, delay=0, mailer=esmtp, dsn=2.0.0, stat=Sent (ok)",
	};
	/* cut short before these, never a result */
	static const char *const word[] = { ", status=sent", ", stat=" };
	struct fg_delivery d;
	size_t k, i;

	(void)state;
	for (k = 0; k < 2; k++) {
		size_t n = strlen(full[k]);
		size_t at = (size_t)(strstr(full[k], word[k]) - full[k]) + strlen(word[k]);

		for (i = 0; i < n; i++) {
			char *cut = malloc(i ? i : 1);

			memcpy(cut, full[k], i);
			if (i < at)
				assert_int_equal(fg_maillog_line(cut, i, NOW, &d), 0);
			else if (fg_maillog_line(cut, i, NOW, &d) > 0)
				while (fg_maillog_next(cut, i, &d) > 0)
					assert_true(d.next == 0 || d.next < i);
			free(cut);
		}
	}
}

/* RFC 3164 has no year: a December line read in January is last year's. */
static void
test_year(void **state)
{
	struct fg_delivery d;
	/* 2027-01-01 00:30 UTC */
	time_t jan = 1798763400;
	const char *l = "Dec 31 23:59:00 mx1 postfix/smtp[1]: 4A: to=<a@b.example>, relay=x, dsn=2.0.0, status=sent (ok)";
	struct tm tm;

	(void)state;
	assert_int_equal(fg_maillog_line(l, strlen(l), jan, &d), 1);
	localtime_r(&d.when, &tm);
	assert_int_equal(tm.tm_year + 1900, 2026);
	assert_int_equal(tm.tm_mon, 11);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_sendmail),
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_requeued),
		cmocka_unit_test(test_forwarded),
		cmocka_unit_test(test_notices),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_year),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
