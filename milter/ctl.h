/*
 * floodgatectl's parts, one job each: talking to the daemon and reading
 * the database when it is down (ctl_client.c), rendering replies as
 * tables or JSON (ctl_render.c), the MTA's hold queue (ctl_mta.c), and
 * the commands (floodgatectl.c).
 */
#ifndef FG_CTL_H
#define FG_CTL_H

#include <poll.h>
#include <stdint.h>

#include "config.h"
#include "control.h"
#include "htab.h"

/* ctl_client.c */
/* The longest floodgatectl waits for the daemon's whole reply (-t). */
#define CTL_TIMEOUT_DEFAULT	60
#define CTL_TIMEOUT_MAX		3600
extern int ctl_timeout;
/* ctl_timeout seconds from now, on fg_mono_us's clock. */
int64_t ctl_deadline(void);
/* poll(2) until deadline; 0 once it has passed. */
int ctl_poll(struct pollfd *pfd, nfds_t n, int64_t deadline);
/* The daemon's whole reply to request (a line ending in \n); -1 with
 * errno when it cannot be reached, ETIMEDOUT when it did not answer
 * within ctl_timeout seconds. */
int ctl_talk(const char *sock, const char *request, char **reply);
/* errno after ctl_talk, as a message ("no answer within 60 s"). */
const char *ctl_why(void);
/* The same, for a command floodgatectl builds itself: on "ok" the reply,
 * else NULL after saying why on stderr (that floodgate runs, where it
 * holds database's lock). */
char *ctl_ask(const char *sock, const char *database, const char *fmt,
    ...) FG_PRINTF(3, 4);
/* Why a ctl_ask found the daemon unreachable or silent ("no answer
 * within 60 s"); NULL while it never did. */
const char *ctl_daemon_lost(void);
/* Whether a floodgate holds the database's lock: it runs, whatever its
 * control socket says. */
int ctl_db_held(const char *database);
/* The daemon cannot be reached at sock (why: strerror's), down or
 * (running) with its control socket gone: the reply from the database,
 * opened read-only. */
int ctl_offline(struct fg_config *cfg, struct fg_ctl_req *req,
    const char *sock, const char *why, int running, char **reply);

/* ctl_render.c */
/* Prints a reply for people (aligned tables) or as JSON, every field of
 * every record; 0, or 1 after saying why on stderr when the reply is an
 * error or memory runs out. */
int ctl_render(const char *cmd, const char *source, char *reply, int json);
/* The queue ID and account of a record line (split in place). */
void ctl_held_fields(char *line, const char **qid, const char **acct);

/* floodgatectl.c */
/* The signal stopping a release run (it ends after the message in
 * hand), or 0. */
int ctl_stopping(void);

/* ctl_mta.c */
/* The IDs in the MTA's hold queue; NULL after saying on stderr which
 * command failed, how, and what it printed. */
struct fg_strset *ctl_hold_queue(const struct fg_config *cfg);
void ctl_hold_queue_free(struct fg_strset *ids);
/* Gives a held message back to its MTA and has it delivered now; -1
 * after saying on stderr which command failed. Once a command of the
 * MTA's has been killed for not ending within ctl_timeout (the MTA does
 * not answer; not Sendmail's delivery in the foreground, which waits on
 * the next hop), -1 at once: the rest wait for the next run. */
int ctl_release_one(const struct fg_config *cfg, const char *qid);
/* Whether a command of the MTA's had to be killed in this run. */
int ctl_mta_stalled(void);
/* Whether qid is in a list from ctl_hold_queue. */
int ctl_in_list(const struct fg_strset *ids, const char *qid);

#endif
