/*
 * Logging: syslog (facility mail) for the daemon, stderr in the
 * foreground. Decision lines are key=value so that they can be grepped.
 */
#ifndef FG_LOG_H
#define FG_LOG_H

#include <syslog.h>

#include "util.h"

void fg_log_open(const char *ident, int to_stderr);
void fg_log_set_debug(int on);
void fg_log(int prio, const char *fmt, ...) FG_PRINTF(2, 3);
/* in with control bytes and DEL as \xHH: what fg_log writes. */
size_t fg_log_escape(const char *in, char *out, size_t outlen);

#define fg_log_err(...)		fg_log(LOG_ERR, __VA_ARGS__)
#define fg_log_warn(...)	fg_log(LOG_WARNING, __VA_ARGS__)
#define fg_log_notice(...)	fg_log(LOG_NOTICE, __VA_ARGS__)
#define fg_log_info(...)	fg_log(LOG_INFO, __VA_ARGS__)
#define fg_log_debug(...)	fg_log(LOG_DEBUG, __VA_ARGS__)

#endif
