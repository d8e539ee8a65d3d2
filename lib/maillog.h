/*
 * Delivery results as the MTA's log writes them, behind a syslog header
 * (RFC 3164, RFC 5424 or its ISO timestamp, or Postfix's own
 * maillog_file): Postfix's "QUEUEID: to=<rcpt>, relay=..., dsn=X.Y.Z,
 * status=sent|deferred|bounced|expired (text)" from its delivery agents
 * ("postfix/smtp", whatever syslog_name Postfix has), and Sendmail's
 * "QUEUEID: to=<rcpt>,<rcpt>, delay=..., mailer=..., relay=...,
 * dsn=X.Y.Z, stat=..." from a program named without a slash (sm-mta,
 * sendmail). Pure: no I/O, no state; fuzzed.
 */
#ifndef FG_MAILLOG_H
#define FG_MAILLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sizes.h"

enum fg_dstatus {
	FG_DS_SENT = 1,
	FG_DS_DEFERRED,
	FG_DS_BOUNCED,
	FG_DS_EXPIRED
};

/* Why a delivery was deferred, for carrier backoff. */
enum fg_dfail {
	FG_DF_OTHER = 0,
	FG_DF_4XX,		/* the remote server answered 4xx */
	FG_DF_CONNECT		/* no SMTP conversation: refused, timed out, lost at the greeting */
};

struct fg_delivery {
	char qid[FG_QID_MAX + 1];
	char domain[FG_DOMAIN_MAX + 1];	/* the recipient's; "" for an expired message */
	char dsn[16];
	enum fg_dstatus status;
	int unknown;			/* bounced as a recipient that does not exist */
	enum fg_dfail fail;
	/* Sent to a content filter on this host's loopback, which gave
	 * the mail back to the MTA under this queue ID, or forwarded by
	 * Postfix's local(8) (an alias, a .forward) as a new message under
	 * it (forwarded set); "" otherwise. */
	char requeued[FG_QID_MAX + 1];
	int forwarded;
	/* The MTA's own notice to the message's sender went out under
	 * requeued: Postfix's bounce(8) ("sender non-delivery
	 * notification: ID", a delay or a delivery notice), Sendmail's
	 * DSN ("ID: DSN: ..."). Its results are the message's account's;
	 * what it delivers is no mail of the account's. */
	int notice;
	/* Who forwarded this recipient (Postfix): the address the sender
	 * wrote, when the MTA sent to another in its place (orig_to=: an
	 * alias, a virtual alias, a .forward); on local(8)'s line that
	 * forwarded the message, that address or else the recipient's.
	 * "" when there is none or it has no '@'. */
	char forwarder[FG_ADDR_MAX + 1];
	time_t when;			/* from the header; 0 when it has none */
	/* Sendmail logs the recipients that went together on one line:
	 * where the next one is in what was parsed, and where the list
	 * ends (fg_maillog_next); next is 0 when there is none. */
	size_t next, end;
};

/*
 * One log line (without its newline): 1 and *d filled when it is a
 * delivery result of Postfix, 0 for any other line. now gives the year
 * an RFC 3164 timestamp lacks.
 */
int fg_maillog_line(const char *line, size_t len, time_t now,
    struct fg_delivery *d);
/* The same for a message without a syslog header (the journal's
 * MESSAGE field), ident the program (SYSLOG_IDENTIFIER, "postfix/smtp"). */
int fg_maillog_message(const char *ident, const char *msg, size_t len,
    struct fg_delivery *d);
/* The next recipient of the same result, in the same line or message
 * (buf and len as given to the call that filled d): 1 and d's domain
 * set, 0 when there is none. */
int fg_maillog_next(const char *buf, size_t len, struct fg_delivery *d);

#endif
