/*
 * Logging: syslog (facility mail) for the daemon, stderr in the
 * foreground. Decision lines are key=value so that they can be grepped.
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

void
fg_log(int prio, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (prio == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
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
