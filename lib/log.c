/*
 * Logging: syslog (facility mail) for the daemon, stderr in the
 * foreground. Decision lines are key=value so that they can be grepped.
 * A line is one line: logins, senders and queue IDs come from outside,
 * and a control byte in one (a newline first) is written as \xHH, so no
 * value can forge a line of its own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static int log_stderr = 1;
static int log_debug;

void
fg_log_open(const char *ident, int to_stderr)
{
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
fg_log_set_debug(int on)
{
	log_debug = on;
}

static const char *
prio_name(int prio)
{
	switch (prio) {
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_DEBUG: return "debug";
	default: return "info";
	}
}

size_t
fg_log_escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in != '\0' && o + 5 <= outlen; in++) {
		unsigned char c = (unsigned char)*in;

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (outlen > 0)
		out[o < outlen ? o : outlen - 1] = '\0';
	return o;
}

void
fg_log(int prio, const char *fmt, ...)
{
	char raw[2048], line[2048 * 4];
	va_list ap;

	if (prio == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	fg_log_escape(raw, line, sizeof(line));
	if (log_stderr) {
		char stamp[32];
		struct tm tm;
		time_t now = time(NULL);

		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		/* One write per line so that threads do not interleave. */
		fprintf(stderr, "%s floodgate %s: %s\n", stamp,
		    prio_name(prio), line);
	} else
		syslog(prio, "%s: %s", prio_name(prio), line);
}
