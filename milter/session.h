/*
 * One MTA connection's milter session, whichever engine drives it (the
 * native loop in engine.c, or libmilter): macros and commands in, one
 * answer out. It decides nothing itself (lib/policy.c does) and reaches
 * nothing of the daemon but what fg_session_env hands it.
 */
#ifndef FG_SESSION_H
#define FG_SESSION_H

#include <stdint.h>

#include "milterproto.h"
#include "policy.h"
#include "shared.h"
#include "store.h"

/* What a session needs from the daemon. */
struct fg_session_env {
	struct fg_engine *engine;
	/* The configuration to pin for a transaction: a reference the
	 * session gives back with fg_config_unref. */
	struct fg_config *(*config)(void *arg);
	/* Whether the store takes writes (on_store_error tempfail). */
	int (*store_ok)(void *arg);
	/* A message went on hold: record it (the row is the callee's to
	 * copy). */
	void (*held)(void *arg, const struct fg_held_row *h);
	/* A message was charged to account under the MTA's queue ID (for
	 * delivery feedback); NULL when nothing follows the delivery log. */
	void (*charged)(void *arg, const char *qid, const char *account);
	void *arg;
};

/* What the engine writes back for one command: code 'c', 'a', 't' or
 * 'r'; with rcode set, as a REPLYCODE; at end of message, first the
 * header and the quarantine if set. */
struct fg_answer {
	char code;
	char rcode[4], xcode[8];
	char text[FG_REPLY_MAX + 1];
	char header[FG_REPLY_MAX + 16];	/* X-Floodgate value */
	char quarantine[FG_NAME_MAX + 32];
};

struct fg_session;

struct fg_session *fg_session_new(const struct fg_session_env *env,
    unsigned long id);
void fg_session_free(struct fg_session *s);
const char *fg_session_id(const struct fg_session *s);
void fg_session_negotiate(struct fg_session *s, const struct fg_mp_optneg *mta,
    struct fg_mp_optneg *reply, const char *lists[FG_MP_NSTAGES]);
int fg_session_noreply(const struct fg_session *s, char cmd);
void fg_session_connect(struct fg_session *s, const char *addr);
void fg_session_mail(struct fg_session *s, const char *sender,
    const struct fg_macros *mac, struct fg_answer *a);
void fg_session_rcpt(struct fg_session *s, const char *rcpt,
    const struct fg_macros *mac, struct fg_answer *a);
/*
 * The same for an engine that does not wait (the native loop): 0 when
 * answered; 1 when *r is to be reserved in the shared store (the engine
 * sets r->base, done and arg), then fg_session_rcpt_finish answers.
 * The session may not be freed in between.
 */
int fg_session_rcpt_start(struct fg_session *s, const char *rcpt,
    const struct fg_macros *mac, struct fg_answer *a,
    struct fg_sreserve **r);
void fg_session_rcpt_finish(struct fg_session *s, struct fg_answer *a);
void fg_session_data(struct fg_session *s, const struct fg_macros *mac,
    struct fg_answer *a);
void fg_session_eom(struct fg_session *s, const struct fg_macros *mac,
    struct fg_answer *a);
void fg_session_abort(struct fg_session *s);

/*
 * What `account ... uid` found at each SMTP MAIL since start: the
 * client's Unix user counted, a system user's socket (the next source
 * counts), a client on another host, one counted as uid:closed, no end
 * of the connection in floodgate's network namespace, or the kernel or
 * the user database could not answer.
 */
enum fg_uid_result {
	FG_UID_USER, FG_UID_SYSTEM, FG_UID_REMOTE, FG_UID_CLOSED,
	FG_UID_ELSEWHERE, FG_UID_FAILED, FG_UID_N
};
extern const char *const fg_uid_result_names[FG_UID_N];
void fg_session_uid_counts(unsigned long long out[FG_UID_N]);

#endif
