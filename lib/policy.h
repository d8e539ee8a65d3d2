/*
 * One message's decisions: who sends it, which recipients pass, what is
 * reserved, and what the MTA is told. The milter callbacks only carry
 * macros in and verdicts out; everything else is here.
 */
#ifndef FG_POLICY_H
#define FG_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "blocks.h"
#include "config.h"
#include "htab.h"
#include "limiter.h"
#include "stats.h"

enum fg_smtp {
	FG_CONTINUE,
	FG_TEMPFAIL,
	FG_REJECT
};

struct fg_verdict {
	enum fg_smtp smtp;
	char rcode[4];		/* "451" */
	char xcode[8];		/* "4.7.1" */
	char text[FG_REPLY_MAX + 1];
};

/* What one rule says about a recipient (floodgatectl explain). */
struct fg_explain {
	const struct fg_rule *rule;
	struct fg_check check;		/* over, used, limit, period, retry */
	char key[FG_KEY_MAX + 1];
};

struct fg_engine {
	struct fg_limiter *limiter;
	struct fg_stats *stats;
	struct fg_blocks *blocks;	/* suspensions and pauses; NULL: none */
	/* With a shared store: a transaction ends (commit: spent at now,
	 * else given back). Called before the in-memory limiter settles
	 * r, which holds what was reserved in memory while the store was
	 * down. NULL: no shared store. */
	void (*shared_end)(struct fg_resv *r, int commit, uint32_t now);
	/* With a shared store, fg_msg_rcpt's reservation (a thread that may
	 * wait: release planning): as fg_limiter_reserve, the store's, or
	 * memory's with limits divided by relays when it is down. */
	int (*shared_reserve)(struct fg_limiter *l, struct fg_check *chk,
	    size_t n, uint32_t now, struct fg_resv *r, uint32_t relays);
};

struct fg_msg {
	struct fg_config *cfg;		/* pinned for this transaction */
	struct fg_account acct;
	char client[FG_CLIENT_MAX + 1];
	char session[FG_SESSION_MAX + 1];
	char queue_id[FG_QID_MAX + 1];
	int exempt;
	int own;			/* floodgate's own notification: untouched */
	struct fg_resv resv;
	uint32_t *capcount;		/* per rule (caps only) */
	struct fg_strset paid;		/* windows of messages-count rules */
	/* A release being planned: windows where an earlier held message
	 * waits. A recipient that needs one waits too; a refused one adds
	 * the windows that refused it. */
	struct fg_strset *behind;
	char **dom;			/* accepted recipients' domains */
	size_t ndom, domcap;
	int local;			/* submitted on this host (sendmail, pickup) */
	int quiet;			/* a release being planned: no log, no events */
	int force;			/* mail that went already: charged over any limit */
	int hold;
	int tempfail;			/* local mail over a limit, local_action tempfail */
	char hold_rule[FG_NAME_MAX + 1];
	char tag[FG_REPLY_MAX + 1];	/* rules to name in X-Floodgate */
};

/* user: the local user behind the client's connection (account uid),
 * NULL when not known. Out of memory (the sender not read, no room to
 * count), m->capcount is NULL: the caller defers the message. */
void fg_msg_begin(struct fg_msg *m, struct fg_config *cfg, const char *session,
    const char *client, const char *login, const char *user,
    const char *sender, int local);
void fg_msg_rcpt(struct fg_msg *m, struct fg_engine *e, const char *rcpt,
    uint32_t now, struct fg_verdict *v);
/*
 * The same in two halves, for a limiter that answers later (a shared
 * store): begin decides what needs no reservation (0, v set; -1 out of
 * memory, v set) or hands back the checks to reserve (1, *pp);
 * fg_pending_checks says which; end takes the reservation's outcome
 * (the checks filled in as fg_limiter_reserve fills them) and frees *pp.
 */
struct fg_pending;
/* A recipient not read for want of memory: v is 451 4.3.0, and it is
 * logged. */
void fg_msg_rcpt_nomem(const struct fg_msg *m, struct fg_verdict *v);
int fg_msg_rcpt_begin(struct fg_msg *m, struct fg_engine *e, const char *rcpt,
    uint32_t now, struct fg_verdict *v, struct fg_pending **pp);
void fg_pending_checks(struct fg_pending *p, struct fg_check **chk,
    size_t *n);
void fg_pending_free(struct fg_pending *p);
/* Between the two: the reservation made at once (fg_limiter_reserve's
 * results), by the in-memory limiter or the engine's shared_reserve. */
int fg_msg_reserve(struct fg_msg *m, struct fg_engine *e,
    struct fg_check *chk, size_t n, uint32_t now);
void fg_msg_rcpt_end(struct fg_msg *m, struct fg_engine *e,
    struct fg_pending *p, int rc, uint32_t now, struct fg_verdict *v);
void fg_msg_commit(struct fg_msg *m, struct fg_engine *e, uint32_t now);
void fg_msg_refuse(struct fg_msg *m, struct fg_engine *e, uint32_t now);
void fg_msg_held(struct fg_msg *m, struct fg_engine *e, uint32_t now);
int fg_msg_release(struct fg_msg *m, struct fg_config *cfg,
    struct fg_engine *e, const char *account, const char *domains,
    struct fg_strset *behind, uint32_t now);
/*
 * A held message whose recipients alone need more of one window than
 * its whole limit (5 recipients under 3/10s): no wait lets it go, and
 * later held mail that needs the window would wait behind it for good.
 * 1 with what it needs of which rule in *why; 0 when it fits an empty
 * window; -1 out of memory. A limit of 0 (a block lifted by raising it)
 * is not counted here.
 */
struct fg_oversize {
	const struct fg_rule *rule;
	char key[FG_KEY_MAX + 1];
	uint32_t need, limit, period;
};
int fg_msg_never_fits(const struct fg_config *cfg, const char *account,
    const char *domains, struct fg_oversize *why);
/* A held message the MTA has back with no reservation floodgate still
 * knows of (its plan was lost to a restart): reserved over any limit,
 * pause or suspension, to be committed, as mail that went is spent. */
int fg_msg_release_lost(struct fg_msg *m, struct fg_config *cfg,
    struct fg_engine *e, const char *account, const char *domains,
    uint32_t now);
void fg_msg_abort(struct fg_msg *m, struct fg_engine *e);
int fg_msg_active(const struct fg_msg *m);
int fg_msg_data_charge(const struct fg_msg *m);
/*
 * Whether a feedback limit (count unknown|bounces) is over for key: its
 * window holds N or more, and, with ratio, that is at least P% of the
 * recipients with a final result in the window. *ck is what the window
 * says (used, limit, period, retry; ck->key is key); *total, when not
 * NULL, the final results.
 */
int fg_feedback_over(struct fg_limiter *l, const struct fg_rule *r,
    const char *account, const char *key, uint32_t now, struct fg_check *ck,
    uint64_t *total);
/* What a feedback limit's windows hold for key: recipients with a
 * final result, of which bounced (or expired), of which unknown. */
void fg_feedback_counts(struct fg_limiter *l, const struct fg_rule *r,
    const char *account, const char *key, uint32_t now, uint64_t *final,
    uint64_t *bounced, uint64_t *unknown);
/* What exempts a recipient (fg_policy_explain's *exempt): the sender
 * (exempt account or client; a suspension does not stop it either) or
 * the destination (exempt domain). A pause stops both. */
#define FG_EXEMPT_SENDER	1
#define FG_EXEMPT_DEST		2
/* What every limit rule that applies says of a recipient, nothing
 * charged: *out is allocated (free it), one fg_explain per rule; the
 * recipient's domain into dom (FG_DOMAIN_MAX + 1 bytes; empty when it
 * has none); returns how many, or -1 without memory. */
long fg_policy_explain(const struct fg_config *c, struct fg_limiter *l,
    const struct fg_account *acct, const char *client, const char *rcpt,
    uint32_t now, struct fg_explain **out, int *exempt, char *dom);

#endif
