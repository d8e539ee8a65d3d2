/*
 * The control protocol between floodgatectl and the daemon: one request
 * line per connection, "floodgate/1 VERB ARG...", answered by "ok" or
 * "error TEXT", then records of tab-separated key=value pairs, then ".".
 */
#ifndef FG_CONTROL_H
#define FG_CONTROL_H

#include <stddef.h>

#include "util.h"

#define FG_CTL_VERSION	1
#define FG_CTL_MAXREQ	1024
#define FG_CTL_MAXARGS	8

struct fg_ctl_req {
	int version;
	char *verb;
	int argc;
	char *argv[FG_CTL_MAXARGS];
	char buf[FG_CTL_MAXREQ + 1];
};

struct fg_ctl_out {
	char *buf;
	size_t len, cap;
	int inrec;
	int oom;
};

int fg_ctl_parse(const char *line, size_t len, struct fg_ctl_req *req,
    char *err, size_t errlen);
void fg_ctl_ok(struct fg_ctl_out *o);
void fg_ctl_error(struct fg_ctl_out *o, const char *fmt, ...) FG_PRINTF(2, 3);
void fg_ctl_kv(struct fg_ctl_out *o, const char *key, const char *fmt, ...)
    FG_PRINTF(3, 4);
void fg_ctl_rec_end(struct fg_ctl_out *o);
void fg_ctl_end(struct fg_ctl_out *o);
void fg_ctl_out_free(struct fg_ctl_out *o);
int fg_ctl_split(char *line, char **key, char **val, int max);

#endif
