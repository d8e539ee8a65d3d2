/* Fuzz target: Postfix's and Sendmail's delivery log lines, with and
 * without a syslog header, as the delivery-log follower reads them. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maillog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_one(const struct fg_delivery *d)
{
	/* What a result holds is always a bounded C string and a known
	 * status; only bounces can be unknown, only deferrals have a kind. */
	if (strlen(d->qid) == 0 || strlen(d->qid) > FG_QID_MAX ||
	    strlen(d->domain) > FG_DOMAIN_MAX || strlen(d->dsn) >= sizeof(d->dsn))
		abort();
	if (d->status < FG_DS_SENT || d->status > FG_DS_EXPIRED)
		abort();
	if (d->unknown && d->status != FG_DS_BOUNCED)
		abort();
	if (d->fail != FG_DF_OTHER && d->status != FG_DS_DEFERRED)
		abort();
	/* Only a sent message comes back from a filter, under a queue ID:
	 * letters and digits; the MTA's notice (a bounce) names one too,
	 * and Sendmail's DSN of a message that expired says both. */
	if (strlen(d->requeued) > FG_QID_MAX ||
	    (d->requeued[0] != '\0' && d->status != FG_DS_SENT &&
	    !(d->notice && d->status == FG_DS_EXPIRED)))
		abort();
	if (d->notice && (d->requeued[0] == '\0' || d->forwarded))
		abort();
	for (const char *p = d->requeued; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p))
			abort();
	/* Local delivery's forwarding names a new queue ID and who
	 * forwarded; a forwarder is a bounded address. */
	if (d->forwarded && (d->requeued[0] == '\0' || d->forwarder[0] == '\0'))
		abort();
	if (strlen(d->forwarder) > FG_ADDR_MAX ||
	    (d->forwarder[0] != '\0' && strchr(d->forwarder, '@') == NULL))
		abort();
}

/* The result, then every other recipient of its line, each within it. */
static void
check(const char *buf, size_t len, struct fg_delivery *d)
{
	size_t n = 0;

	check_one(d);
	if (d->next != 0 && (d->next >= d->end || d->end > len))
		abort();
	while (fg_maillog_next(buf, len, d) > 0) {
		check_one(d);
		if (++n > len)
			abort();
	}
	if (d->next != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Lines are not C strings: no NUL at the end, and NULs inside. */
	char *line = malloc(size ? size : 1);
	struct fg_delivery d;
	size_t nl;

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	if (fg_maillog_line(line, size, 1796000000, &d) > 0)
		check(line, size, &d);
	/* The journal's form: the ident up to the first newline. */
	for (nl = 0; nl < size && line[nl] != '\n'; nl++)
		;
	if (nl < size && nl < 64) {
		char ident[64];

		memcpy(ident, line, nl);
		ident[nl] = '\0';
		if (memchr(ident, '\0', nl) == NULL &&
		    fg_maillog_message(ident, line + nl + 1, size - nl - 1, &d) > 0)
			check(line + nl + 1, size - nl - 1, &d);
	}
	free(line);
	return 0;
}
