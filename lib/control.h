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

/* The commands, one row each in fg_ctl_cmds: the daemon's dispatch,
 * floodgatectl's usage and every "unknown command" error read it. */
enum fg_ctl_verb {
	FG_CTL_STATUS,
	FG_CTL_TOP,
	FG_CTL_SHOW,
	FG_CTL_EXPLAIN,
	FG_CTL_HELD,
	FG_CTL_RELEASE,
	FG_CTL_RESET,
	FG_CTL_RELOAD,
	FG_CTL_SUSPEND,
	FG_CTL_RESUME,
	FG_CTL_PAUSES,
	FG_CTL_PAUSE,
	FG_CTL_UNPAUSE,
	FG_CTL_INCIDENTS,
	FG_CTL_RELEASE_PLAN,
	FG_CTL_RELEASE_DONE,
	FG_CTL_NVERBS
};

#define FG_CTL_ROOT	0x1	/* the daemon serves it to uid 0 only */
#define FG_CTL_OFFLINE	0x2	/* answered from the database when the daemon is down */
#define FG_CTL_CLIENT	0x4	/* floodgatectl does it, talking to the daemon */
#define FG_CTL_STEP	0x8	/* a step of another command: not in the usage */
#define FG_CTL_FLUSH	0x10	/* the daemon writes its state first */

/* The database's mark of the socket the daemon listens on (its control
 * at start; a reload does not move it): floodgatectl asks there when
 * nothing listens where the file now says. */
#define FG_CTL_MARK	"control"

struct fg_ctl_cmd {
	const char *verb;
	const char *args;	/* as floodgatectl takes them */
	const char *help;
	unsigned flags;
};

extern const struct fg_ctl_cmd fg_ctl_cmds[FG_CTL_NVERBS];

/* The command's index, or -1. */
int fg_ctl_lookup(const char *verb);
/* "status, top, ... or reload": the commands a user may type. */
void fg_ctl_verbs(char *buf, size_t len);
/* Whether a record field holds a number (whatever a value looks like,
 * an account "12345" is text). */
int fg_ctl_numeric(const char *key);

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
