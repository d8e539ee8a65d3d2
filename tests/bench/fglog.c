/*
 * fglog: what delivery feedback costs. Parses a million Postfix log
 * lines of the usual mix (delivered, deferred, bounced, and the lines
 * of other programs that are not delivery results) on one core and
 * reports lines per second; then keeps the queue-ID map as the daemon
 * does (a batch a second into SQLite, a lookup per delivery result) for
 * N messages and reports the time per message of each, and the file's
 * size per message.
 *
 *   fglog [-n LINES] [-m MESSAGES] [-d DATABASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maillog.h"
#include "store.h"
#include "util.h"
#include "clock.h"

/* One line of a busy server's mail.log, i-th of the mix. */
static int
line(char *out, size_t len, size_t i)
{
	static const char *const fmt[] = {
		"Nov 30 06:21:%02zu mx1 postfix/smtp[%zu]: 4X%08zuA: to=<user%zu@docomo.ne.jp>, relay=mfsmax.docomo.ne.jp[203.138.181.112]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 ok 1701234567 qp 12345)",
		"2026-11-30T06:21:%02zu.123456+09:00 mx1 postfix/smtp[%zu]: 4X%08zuB: to=<user%zu@example.jp>, relay=mx.example.jp[192.0.2.1]:25, delay=0.4, delays=0.1/0/0.2/0.1, dsn=5.1.1, status=bounced (host mx.example.jp[192.0.2.1] said: 550 5.1.1 <nobody@example.jp>: Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command))",
		"Nov 30 06:21:%02zu mx1 postfix/smtpd[%zu]: 4X%08zuC: client=unknown[198.51.100.%zu], sasl_method=PLAIN, sasl_username=tenant@example.jp",
		"Nov 30 06:21:%02zu mx1 postfix/cleanup[%zu]: 4X%08zuD: message-id=<20261130062101.%zu@www.example.jp>",
		"Nov 30 06:21:%02zu mx1 postfix/qmgr[%zu]: 4X%08zuE: from=<www%zu@example.jp>, size=4321, nrcpt=1 (queue active)",
		"Nov 30 06:21:%02zu mx1 postfix/smtp[%zu]: 4X%08zuF: to=<user%zu@ezweb.ne.jp>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to lsean.ezweb.ne.jp[111.86.248.1]:25: Connection timed out)",
		"Nov 30 06:21:%02zu mx1 postfix/qmgr[%zu]: 4X%08zuG: removed %zu",
		"Nov 30 06:21:%02zu mx1 dovecot[%zu]: imap-login: Login: user=<u%zu@example.jp>, method=PLAIN, rip=198.51.100.%zu",
	};
	return snprintf(out, len, fmt[i % 8], i % 60, i % 30000, i, i % 1000);
}

int
main(int argc, char **argv)
{
	size_t nlines = 1000000, nmsg = 200000, i, total = 0, results = 0;
	const char *db = "/tmp/fglog.db";
	char *buf, **lines, err[FG_ERRLEN], acct[FG_ACCOUNT_MAX + 1];
	size_t *lens;
	struct fg_delivery d;
	struct fg_store *s;
	struct fg_qid_row *rows;
	struct stat st;
	double t0, parse_s, add_s, get_s;
	int ch, found = 0;

	while ((ch = getopt(argc, argv, "n:m:d:")) != -1) {
		switch (ch) {
		case 'n': nlines = strtoul(optarg, NULL, 10); break;
		case 'm': nmsg = strtoul(optarg, NULL, 10); break;
		case 'd': db = optarg; break;
		default:
			fprintf(stderr, "usage: fglog [-n LINES] [-m MESSAGES] [-d DATABASE]\n");
			return 2;
		}
	}
	if ((lines = calloc(nlines, sizeof(*lines))) == NULL ||
	    (lens = calloc(nlines, sizeof(*lens))) == NULL ||
	    (buf = malloc(nlines * 320)) == NULL)
		return 1;
	for (i = 0; i < nlines; i++) {
		lines[i] = buf + total;
		lens[i] = (size_t)line(lines[i], 320, i);
		total += lens[i];
	}
	/* The parse, on one core: each line once, as the follower reads. */
	t0 = now_s();
	for (i = 0; i < nlines; i++)
		results += (size_t)fg_maillog_line(lines[i], lens[i], 1796000000, &d);
	parse_s = now_s() - t0;

	/* The queue-ID map: a batch a second, as the service thread writes
	 * it, then a lookup per delivery result. */
	unlink(db);
	if ((s = fg_store_open(db, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fglog: %s\n", err);
		return 1;
	}
	if ((rows = calloc(1000, sizeof(*rows))) == NULL)
		return 1;
	t0 = now_s();
	for (i = 0; i < nmsg; i++) {
		struct fg_qid_row *r = &rows[i % 1000];

		snprintf(r->qid, sizeof(r->qid), "4X%08zuA", i);
		snprintf(r->account, sizeof(r->account), "tenant%zu@example.jp",
		    i % 5000);
		r->time = 1796000000 + (uint32_t)(i / 100);
		if (i % 1000 == 999 && fg_store_qids_add(s, rows, 1000, err,
		    sizeof(err)) < 0) {
			fprintf(stderr, "fglog: %s\n", err);
			return 1;
		}
	}
	add_s = now_s() - t0;
	t0 = now_s();
	for (i = 0; i < nmsg; i++) {
		char q[32];

		snprintf(q, sizeof(q), "4X%08zuA", (i * 7919) % nmsg);
		found += fg_store_qid(s, q, acct, NULL) == 1;
	}
	get_s = now_s() - t0;
	fg_store_close(s);
	stat(db, &st);
	printf("lines=%zu results=%zu parse_s=%.3f lines_per_s=%.0f bytes_per_line=%.0f "
	    "messages=%zu add_us=%.2f lookup_us=%.2f found=%d db_bytes_per_message=%.0f\n",
	    nlines, results, parse_s, nlines / parse_s, (double)total / nlines,
	    nmsg, add_s * 1e6 / nmsg, get_s * 1e6 / nmsg, found,
	    (double)st.st_size / nmsg);
	unlink(db);
	free(rows);
	free(buf);
	free(lines);
	free(lens);
	return 0;
}
