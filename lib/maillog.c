/*
 * Postfix's and Sendmail's delivery results in their logs (see
 * maillog.h). Every read is bounded by the line's length: a log line is
 * outside input like any other (a recipient's address and a remote
 * server's reply are in it).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "maillog.h"
#include "util.h"

/* The programs of Postfix that log a recipient's delivery result,
 * qmgr, which logs a message that expired, and bounce, which logs the
 * notice it sent the sender. */
static const char *const agents[] = {
	"smtp", "lmtp", "local", "virtual", "pipe", "error", "retry",
	"discard", "qmgr", "bounce", NULL
};

enum { AG_DELIVERY, AG_QMGR, AG_BOUNCE };

/* bounce(8)'s notices to a message's sender, each followed by the new
 * message's queue ID (those to the postmaster are not the sender's). */
static const char *const notices[] = {
	"sender non-delivery notification: ", "sender delay notification: ",
	"sender delivery status notification: ", NULL
};

/* Remote texts that mean "this user does not exist" under the generic
 * 5.0.0 that some servers and Postfix's own bounces use. */
static const char *const unknown_texts[] = {
	"user unknown", "unknown user", "recipient unknown",
	"unknown recipient", "no such user", "mailbox unavailable",
	"does not exist", "address rejected", NULL
};

/* DSN codes of a recipient that does not exist (RFC 3463). */
static const char *const unknown_dsn[] = {
	"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", NULL
};

static const char *
find(const char *p, const char *end, const char *what)
{
	size_t n = strlen(what);

	for (; p + n <= end; p++)
		if (*p == *what && memcmp(p, what, n) == 0)
			return p;
	return NULL;
}

/* Where "<address>, " ends: its '>', past quoted strings and their
 * backslash escapes; NULL when it does not. */
static const char *
address_end(const char *p, const char *end)
{
	int quoted = 0;

	for (; p < end; p++) {
		if (quoted && *p == '\\' && p + 1 < end)
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '>' && end - p >= 3 && p[1] == ',' &&
		    p[2] == ' ')
			return p;
	}
	return NULL;
}

static int
icontains(const char *p, const char *end, const char *what)
{
	size_t n = strlen(what);

	for (; p + n <= end; p++)
		if (strncasecmp(p, what, n) == 0)
			return 1;
	return 0;
}

/* Whether ident ("postfix/smtp", "postfix-out/local") is a delivery
 * agent of any Postfix instance. */
static int
agent(const char *ident, size_t len, int *kind)
{
	const char *slash = NULL, *p;
	size_t i, n;

	for (p = ident; p < ident + len; p++)
		if (*p == '/')
			slash = p;
	if (slash == NULL)
		return 0;
	n = (size_t)(ident + len - slash - 1);
	for (i = 0; agents[i] != NULL; i++) {
		if (strlen(agents[i]) == n && memcmp(slash + 1, agents[i], n) == 0) {
			*kind = strcmp(agents[i], "qmgr") == 0 ? AG_QMGR :
			    strcmp(agents[i], "bounce") == 0 ? AG_BOUNCE :
			    AG_DELIVERY;
			return 1;
		}
	}
	return 0;
}

static int
number(const char *p, int digits, int *out)
{
	int i, v = 0;

	for (i = 0; i < digits; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * "2026-11-30T06:21:44.123+09:00" or "Nov 30 06:21:44" (RFC 3164: no
 * year, the most recent one that is not in the future). Returns the
 * length read, 0 when it is neither.
 */
static size_t
timestamp(const char *p, const char *end, time_t now, time_t *when)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;
	const char *q = p;
	int v, off = 0, sign;

	memset(&tm, 0, sizeof(tm));
	if (end - p >= 19 && p[4] == '-' && p[7] == '-' && p[10] == 'T' &&
	    p[13] == ':' && p[16] == ':') {
		if (number(p, 4, &v) < 0) return 0;
		tm.tm_year = v - 1900;
		if (number(p + 5, 2, &tm.tm_mon) < 0 ||
		    number(p + 8, 2, &tm.tm_mday) < 0 ||
		    number(p + 11, 2, &tm.tm_hour) < 0 ||
		    number(p + 14, 2, &tm.tm_min) < 0 ||
		    number(p + 17, 2, &tm.tm_sec) < 0)
			return 0;
		tm.tm_mon--;
		q = p + 19;
		if (q < end && *q == '.')
			for (q++; q < end && isdigit((unsigned char)*q); q++)
				;
		if (q < end && (*q == 'Z' || *q == 'z'))
			q++;
		else if (end - q >= 6 && (*q == '+' || *q == '-') && q[3] == ':') {
			int h, m;

			sign = *q == '-' ? -1 : 1;
			if (number(q + 1, 2, &h) < 0 || number(q + 4, 2, &m) < 0)
				return 0;
			off = sign * (h * 3600 + m * 60);
			q += 6;
		}
		*when = timegm(&tm) - off;
		return (size_t)(q - p);
	}
	if (end - p >= 15 && p[3] == ' ' && p[6] == ' ' && p[9] == ':' &&
	    p[12] == ':') {
		const char *m;
		struct tm nt;
		time_t t;

		for (m = months; *m != '\0'; m += 3)
			if (memcmp(m, p, 3) == 0)
				break;
		if (*m == '\0')
			return 0;
		tm.tm_mon = (int)((m - months) / 3);
		if (number(p + 4 + (p[4] == ' '), p[4] == ' ' ? 1 : 2,
		    &tm.tm_mday) < 0 ||
		    number(p + 7, 2, &tm.tm_hour) < 0 ||
		    number(p + 10, 2, &tm.tm_min) < 0 ||
		    number(p + 13, 2, &tm.tm_sec) < 0)
			return 0;
		gmtime_r(&now, &nt);
		tm.tm_year = nt.tm_year;
		tm.tm_isdst = -1;
		/* Syslog writes local time. */
		t = mktime(&tm);
		if (t > now + 86400) {
			tm.tm_year--;
			tm.tm_isdst = -1;
			t = mktime(&tm);
		}
		*when = t;
		return 15;
	}
	return 0;
}

static const char *
word(const char *p, const char *end)
{
	while (p < end && *p != ' ')
		p++;
	return p;
}

/* ident as far as ie, then the message: what both header forms end in.
 * The other recipients' places are made the line's. */
static int
result(const char *line, const char *ident, const char *ie, const char *msg,
    const char *end, time_t when, struct fg_delivery *d)
{
	char id[128];
	int r;

	if (ie <= ident || (size_t)(ie - ident) >= sizeof(id))
		return 0;
	memcpy(id, ident, (size_t)(ie - ident));
	id[ie - ident] = '\0';
	if ((r = fg_maillog_message(id, msg, (size_t)(end - msg), d)) > 0) {
		d->when = when;
		if (d->next != 0) {
			d->next += (size_t)(msg - line);
			d->end += (size_t)(msg - line);
		}
	}
	return r;
}

int
fg_maillog_line(const char *line, size_t len, time_t now,
    struct fg_delivery *d)
{
	const char *p = line, *end = line + len, *ident, *ie, *msg;
	time_t when = 0;
	size_t n;

	/* <PRI>, and the version of RFC 5424 as it is on the wire:
	 * VERSION TIMESTAMP HOST APP PROCID MSGID SD MSG. */
	if (p < end && *p == '<') {
		const char *gt = memchr(p, '>', (size_t)(end - p) < 6 ?
		    (size_t)(end - p) : 6);

		if (gt == NULL)
			return 0;
		p = gt + 1;
		if (end - p >= 2 && p[0] == '1' && p[1] == ' ') {
			p += 2;
			(void)timestamp(p, end, now, &when);
			p = word(p, end);		/* timestamp */
			if (p++ >= end) return 0;
			p = word(p, end);		/* host */
			if (p++ >= end) return 0;
			ident = p;
			ie = p = word(p, end);		/* app */
			if (p++ >= end) return 0;
			p = word(p, end);		/* procid */
			if (p++ >= end) return 0;
			p = word(p, end);		/* msgid */
			if (p++ >= end) return 0;
			if (p < end && *p == '[') {	/* structured data */
				if ((msg = find(p, end, "] ")) == NULL)
					return 0;
				p = msg + 1;
			} else
				p = word(p, end);
			if (p++ >= end) return 0;
			if (end - p >= 3 && memcmp(p, FG_UTF8_BOM, 3) == 0)
				p += 3;			/* RFC 5424's BOM */
			return result(line, ident, ie, p, end, when, d);
		}
	}
	/* TIMESTAMP HOST TAG[PID]: MSG, the timestamp of RFC 3164 or ISO. */
	if ((n = timestamp(p, end, now, &when)) == 0)
		return 0;
	p += n;
	if (p >= end || *p++ != ' ')
		return 0;
	p = word(p, end);			/* host */
	if (p++ >= end)
		return 0;
	ident = p;
	if ((msg = find(p, end, ": ")) == NULL)
		return 0;
	if ((ie = memchr(ident, '[', (size_t)(msg - ident))) == NULL)
		ie = msg;
	return result(line, ident, ie, msg + 2, end, when, d);
}

/* The domain of the address in [p, e) (after its last '@'), "" when it
 * has none or it is not a domain. */
static void
set_domain(struct fg_delivery *d, const char *p, const char *e)
{
	const char *at = NULL, *s;

	d->domain[0] = '\0';
	for (s = p; s < e; s++)
		if (*s == '@')
			at = s;
	if (at != NULL && fg_domain_normalize_n(at + 1, (size_t)(e - at - 1),
	    d->domain, sizeof(d->domain)) < 0)
		d->domain[0] = '\0';
}

/* The DSN code of ", dsn=X.Y.Z" after p, "" when there is none. */
static void
take_dsn(struct fg_delivery *d, const char *p, const char *end)
{
	const char *q = find(p, end, ", dsn=");
	size_t n = 0;

	if (q != NULL)
		for (q += 6; q + n < end && n + 1 < sizeof(d->dsn) &&
		    (isdigit((unsigned char)q[n]) || q[n] == '.'); n++)
			d->dsn[n] = q[n];
	d->dsn[n] = '\0';
}

/* Whether a bounce with this DSN code and reply text [t, te) is a
 * recipient that does not exist. */
static int
unknown(const char *dsn, const char *t, const char *te)
{
	int i;

	for (i = 0; unknown_dsn[i] != NULL; i++)
		if (strcmp(dsn, unknown_dsn[i]) == 0)
			return 1;
	if (strcmp(dsn, "5.0.0") == 0)
		for (i = 0; unknown_texts[i] != NULL; i++)
			if (icontains(t, te, unknown_texts[i]))
				return 1;
	return 0;
}

/* Where the recipient at p ends in Sendmail's list: at the ',' after
 * it outside quotes and angle brackets (an address's quoted local part
 * may hold both), or at end. */
static const char *
item_end(const char *p, const char *end)
{
	int quoted = 0, angle = 0;

	for (; p < end; p++) {
		if (quoted) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = 0;
		} else if (*p == '"')
			quoted = 1;
		else if (*p == '<')
			angle = 1;
		else if (*p == '>')
			angle = 0;
		else if (*p == ',' && !angle)
			return p;
	}
	return end;
}

/* The ',' of the ", " that ends Sendmail's list of recipients; NULL
 * when it does not end. */
static const char *
list_end(const char *p, const char *end)
{
	for (;;) {
		const char *e = item_end(p, end);

		if (e >= end)
			return NULL;
		if (e + 1 < end && e[1] == ' ')
			return e;
		p = e + 1;
	}
}

/* The address of a recipient in the list: inside its angle brackets,
 * or the whole item. */
static void
item_domain(struct fg_delivery *d, const char *p, const char *e)
{
	const char *lt = memchr(p, '<', (size_t)(e - p)), *gt;

	if (lt != NULL) {
		for (gt = e; gt > lt + 1 && gt[-1] != '>'; gt--)
			;
		if (gt > lt + 1)
			set_domain(d, lt + 1, gt - 1);
		else
			d->domain[0] = '\0';
	} else
		set_domain(d, p, e);
}

static int
starts(const char *p, const char *end, const char *what)
{
	size_t n = strlen(what);

	return (size_t)(end - p) >= n && memcmp(p, what, n) == 0;
}

/* Sendmail's texts of a deferral that had no SMTP conversation. */
static const char *const sm_connect[] = {
	"Deferred: Connection refused", "Deferred: Connection timed out",
	"Deferred: Connection reset", "Deferred: Network is unreachable",
	"Deferred: No route to host", "Deferred: Host is down", NULL
};

/*
 * Whether Sendmail's line [p, end) tells of a connection it tried:
 * relay= names the host and the address it connected to ("relay=mx.
 * [192.0.2.1]"). A queue run that met a host down earlier in the run
 * defers the rest of its mail from that cached status, relay= naming
 * the host alone. 1 when there is no relay= to tell.
 */
static int
sm_attempted(const char *p, const char *end)
{
	const char *v = find(p, end, ", relay="), *ve;

	if (v == NULL)
		return 1;
	v += 8;
	if ((ve = find(v, end, ", ")) == NULL)
		ve = end;
	return find(v, ve, " [") != NULL;
}

/*
 * Sendmail's result, after "QID: ": "to=RCPT[,RCPT...][, [more]],
 * ctladdr=..., delay=..., xdelay=..., mailer=..., pri=..., relay=...,
 * dsn=X.Y.Z, reply=..., stat=Sent (...)|Deferred: ...|TEXT" (one line
 * for the recipients that went together), or the end of a message it
 * gave up on: "NEWQID: DSN: Cannot send message for 5 days". The
 * status is the DSN's class; without one, stat's first word (Sent,
 * Deferred), and no result for anything else (stat=queued).
 */
static int
sendmail_message(const char *msg, const char *p, const char *end,
    struct fg_delivery *d)
{
	const char *le, *e, *q, *t;
	size_t n;
	int i;

	if (!starts(p, end, "to=")) {
		for (n = 0; p + n < end && isalnum((unsigned char)p[n]); n++)
			;
		if (n == 0 || !starts(p + n, end, ": "))
			return 0;
		q = p + n + 2;
		/* "ID: NEWID: DSN: ...": the sender's notice, a new message;
		 * "Cannot send message for" also says this one expired. */
		if (!starts(q, end, "DSN: ") &&
		    !starts(q, end, "return to sender: "))
			return 0;
		if (n <= FG_QID_MAX) {
			memcpy(d->requeued, p, n);
			d->requeued[n] = '\0';
			d->notice = 1;
		}
		if (starts(q, end, "DSN: Cannot send message for ") ||
		    starts(q, end, "return to sender: Cannot send message for "))
			d->status = FG_DS_EXPIRED;
		else if (d->notice)
			d->status = FG_DS_SENT;	/* the hop counts nothing */
		else
			return 0;
		return 1;
	}
	p += 3;
	if ((le = list_end(p, end)) == NULL || (e = item_end(p, le)) == p)
		return 0;
	item_domain(d, p, e);
	if (e + 1 < le) {
		d->next = (size_t)(e + 1 - msg);
		d->end = (size_t)(le - msg);
	}
	/* What comes before dsn= is the relay's own (delay, mailer, the
	 * host's name); reply= and stat= hold the remote server's text. */
	take_dsn(d, le, end);
	if ((t = find(le, end, ", stat=")) == NULL)
		return 0;
	t += 7;
	if (d->dsn[0] == '2' || (d->dsn[0] == '\0' && starts(t, end, "Sent")))
		d->status = FG_DS_SENT;
	else if (d->dsn[0] == '4' ||
	    (d->dsn[0] == '\0' && starts(t, end, "Deferred")))
		d->status = FG_DS_DEFERRED;
	else if (d->dsn[0] == '5')
		d->status = FG_DS_BOUNCED;
	else
		return 0;
	if (d->status == FG_DS_BOUNCED)
		d->unknown = unknown(d->dsn, le, end);
	else if (d->status == FG_DS_DEFERRED) {
		/* "Deferred: 421 4.7.0 ...": the remote server's reply, at
		 * any stage */
		if (starts(t, end, "Deferred: 4") && end - t >= 14 &&
		    isdigit((unsigned char)t[11]) &&
		    isdigit((unsigned char)t[12]) && t[13] == ' ')
			d->fail = FG_DF_4XX;
		else
			for (i = 0; sm_connect[i] != NULL; i++)
				if (starts(t, end, sm_connect[i]))
					d->fail = FG_DF_CONNECT;
		/* A backoff counts attempts, not a queue run's echoes of
		 * one. */
		if (!sm_attempted(le, t))
			d->fail = FG_DF_OTHER;
	}
	return 1;
}

int
fg_maillog_next(const char *buf, size_t len, struct fg_delivery *d)
{
	while (d->next != 0 && d->next < d->end && d->end <= len) {
		const char *p = buf + d->next, *le = buf + d->end;
		const char *e = item_end(p, le);

		d->next = e + 1 < le ? (size_t)(e + 1 - buf) : 0;
		if (e > p) {
			item_domain(d, p, e);
			return 1;
		}
	}
	d->next = 0;
	return 0;
}

/* The text in parentheses after the status word, "" when none. */
static void
reply_text(const char *p, const char *end, const char **t, const char **te)
{
	const char *open = find(p, end, "(");

	*t = *te = end;
	if (open == NULL)
		return;
	*t = open + 1;
	for (*te = end; *te > *t && (*te)[-1] != ')'; (*te)--)
		;
	if (*te > *t)
		(*te)--;
	else
		*te = end;
}

/* Whether the host in "NAME[ADDR]..." at p (before end) is on this
 * host's loopback. */
static int
loopback_at(const char *p, const char *end)
{
	const char *open, *close;
	char addr[64];

	if ((open = memchr(p, '[', (size_t)(end - p))) == NULL ||
	    (close = memchr(open, ']', (size_t)(end - open))) == NULL ||
	    (size_t)(close - open - 1) >= sizeof(addr))
		return 0;
	memcpy(addr, open + 1, (size_t)(close - open - 1));
	addr[close - open - 1] = '\0';
	return fg_ip_loopback(addr);
}

/* The length of the queue ID at p: its letters and digits; 0 when there
 * are none, or more than a queue ID has. */
static size_t
qid_len(const char *p, const char *end)
{
	size_t n;

	for (n = 0; p + n < end && isalnum((unsigned char)p[n]); n++)
		;
	return n <= FG_QID_MAX ? n : 0;
}

/*
 * A message Postfix handed to a content filter on this host (amavisd-new,
 * or any after-queue filter reached over SMTP on the loopback; another
 * Postfix instance there too), which took it and gave it back to the
 * MTA: the relay is on the loopback ("relay=127.0.0.1[127.0.0.1]:10024")
 * and its reply ends in the queue ID the mail came back under,
 * Postfix's "250 2.0.0 Ok: queued as ID", also behind amavisd-new's
 * "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): ". p is just past the
 * recipient's address (and the one it was before, orig_to).
 */
static void
requeued(struct fg_delivery *d, const char *p, const char *end,
    const char *t, const char *te)
{
	const char *r, *re, *q, *last = NULL;
	size_t n;

	if (!starts(p, end, ", relay="))
		return;
	r = p + 8;
	if ((re = find(r, end, ", ")) == NULL || !loopback_at(r, re))
		return;
	for (q = t; (q = find(q, te, "queued as ")) != NULL; q += 10)
		last = q + 10;
	if (last == NULL)
		return;
	if ((n = qid_len(last, te)) > 0) {
		memcpy(d->requeued, last, n);
		d->requeued[n] = '\0';
	}
}

/* The address [p, e) into d's forwarder, when it fits, has an '@' and
 * no NUL (a line is not a C string). */
static void
take_forwarder(struct fg_delivery *d, const char *p, const char *e)
{
	size_t n = (size_t)(e - p);

	if (n < sizeof(d->forwarder) && memchr(p, '\0', n) == NULL &&
	    memchr(p, '@', n) != NULL) {
		memcpy(d->forwarder, p, n);
		d->forwarder[n] = '\0';
	}
}

/*
 * Local(8)'s forwarding of a message (an alias or a .forward naming
 * other addresses): "status=sent (forwarded as ID)", the copies sent as a
 * new message under that queue ID. No SMTP reply reads so: a server's
 * starts with its code. The message went on from the recipient
 * [rcpt, rcpt_end) unless orig_to named another; without an address to
 * count it for, it is not followed.
 */
static void
forwarded(struct fg_delivery *d, const char *t, const char *te,
    const char *rcpt, const char *rcpt_end)
{
	size_t n;

	if (!starts(t, te, "forwarded as "))
		return;
	t += 13;
	if ((n = qid_len(t, te)) == 0 || t + n != te)
		return;
	if (d->forwarder[0] == '\0')
		take_forwarder(d, rcpt, rcpt_end);
	if (d->forwarder[0] == '\0')
		return;
	memcpy(d->requeued, t, n);
	d->requeued[n] = '\0';
	d->forwarded = 1;
}

/* "TEXT ID" (the whole rest of the line) into d as the queue ID of the
 * MTA's notice about d's message; 1 when it is one. */
static int
notice(struct fg_delivery *d, const char *p, const char *end,
    const char *text)
{
	size_t n;

	if (!starts(p, end, text))
		return 0;
	p += strlen(text);
	if ((n = qid_len(p, end)) == 0 || p + n != end)
		return 0;
	memcpy(d->requeued, p, n);
	d->requeued[n] = '\0';
	d->notice = 1;
	d->status = FG_DS_SENT;		/* the hop counts nothing */
	return 1;
}

int
fg_maillog_message(const char *ident, const char *msg, size_t len,
    struct fg_delivery *d)
{
	const char *p = msg, *end = msg + len, *q, *rcpt, *rcpt_end, *t, *te;
	size_t n;
	int kind = AG_DELIVERY, sendmail, i;

	memset(d, 0, sizeof(d[0]));
	sendmail = strchr(ident, '/') == NULL;
	if (!sendmail && !agent(ident, strlen(ident), &kind))
		return 0;
	n = qid_len(p, end);
	if (n == 0 || end - p < (long)n + 2 ||
	    p[n] != ':' || p[n + 1] != ' ')
		return 0;
	memcpy(d->qid, p, n);
	d->qid[n] = '\0';
	p += n + 2;
	if (sendmail)
		return sendmail_message(msg, p, end, d);
	if (kind == AG_BOUNCE) {
		for (i = 0; notices[i] != NULL; i++)
			if (notice(d, p, end, notices[i]))
				return 1;
		return 0;
	}
	if (kind == AG_QMGR) {
		/* "from=<s>, status=expired, returned to sender" */
		if (!starts(p, end, "from=<") ||
		    find(p, end, ", status=expired") == NULL)
			return 0;
		d->status = FG_DS_EXPIRED;
		return 1;
	}
	if (!starts(p, end, "to=<"))
		return 0;
	p += 4;
	/* The address ends at ">, " outside a quoted local part (which
	 * may hold both). */
	if ((q = address_end(p, end)) == NULL)
		return 0;
	set_domain(d, p, q);
	rcpt = p;
	rcpt_end = q;
	p = q + 1;
	/* The address the recipient was before the MTA rewrote it: past
	 * it, as past the recipient's, whatever its quoted local part
	 * holds (it is a client's). */
	if (starts(p, end, ", orig_to=<") &&
	    (q = address_end(p + 11, end)) != NULL) {
		take_forwarder(d, p + 11, q);
		p = q + 1;
	}
	take_dsn(d, p, end);
	if ((q = find(p, end, ", status=")) == NULL)
		return 0;
	q += 9;
	if (starts(q, end, "sent"))
		d->status = FG_DS_SENT;
	else if (starts(q, end, "deferred"))
		d->status = FG_DS_DEFERRED;
	else if (starts(q, end, "bounced"))
		d->status = FG_DS_BOUNCED;
	else if (starts(q, end, "expired"))
		d->status = FG_DS_EXPIRED;
	else
		return 0;
	reply_text(q, end, &t, &te);
	if (d->status == FG_DS_SENT) {
		requeued(d, p, end, t, te);
		if (d->requeued[0] == '\0')
			forwarded(d, t, te, rcpt, rcpt_end);
	} else if (d->status == FG_DS_BOUNCED)
		d->unknown = unknown(d->dsn, t, te);
	else if (d->status == FG_DS_DEFERRED) {
		/* "delivery temporarily suspended: REASON" (relay=none): the
		 * queue manager gives an attempt's failure to the rest of
		 * the destination's mail at once, without asking a server;
		 * a backoff counts the attempts, not the queue behind them.
		 * Else "host mx[1.2.3.4] said: 421 4.7.0 ..." at any stage,
		 * or "refused to talk to me: 421 ..." at the greeting. */
		if (starts(t, te, "delivery temporarily suspended: "))
			d->fail = FG_DF_OTHER;
		else if (find(t, te, " said: 4") != NULL ||
		    find(t, te, " refused to talk to me: 4") != NULL)
			d->fail = FG_DF_4XX;
		else if ((find(t, te, "connect to ") != NULL ||
		    find(t, te, "while receiving the initial server greeting") != NULL ||
		    find(t, te, "while performing the EHLO handshake") != NULL ||
		    find(t, te, "while performing the HELO handshake") != NULL) &&
		    !loopback_at(t, te))
			/* A server on this host's loopback out of reach is a
			 * content filter that is down, never a destination. */
			d->fail = FG_DF_CONNECT;
	}
	return 1;
}
