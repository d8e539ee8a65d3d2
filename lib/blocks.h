/*
 * What delivery feedback blocks until someone or some time lifts it:
 * suspended accounts (until floodgatectl resume) and paused destination
 * domains (until their pause ends, or floodgatectl unpause). Read by the
 * milter loop at every recipient and by the socketmap server, written by
 * the service thread and by a limit with action suspend; locked inside.
 * The store keeps them (fg_blocks_rows), so that they survive a restart.
 */
#ifndef FG_BLOCKS_H
#define FG_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "sizes.h"

struct fg_suspension {
	char account[FG_ACCOUNT_MAX + 1];
	char rule[FG_NAME_MAX + 1];	/* what suspended it */
	uint32_t since;
	uint32_t until;			/* 0: until floodgatectl resume */
};

struct fg_pause {
	char domain[FG_DOMAIN_MAX + 1];
	char rule[FG_NAME_MAX + 1];	/* the backoff that paused it */
	uint32_t since, until;
	uint32_t duration;		/* of this pause: the next doubles it */
	uint32_t trips;			/* pauses in a row */
};

/* The rule of a suspension or pause an operator made (floodgatectl
 * suspend, floodgatectl pause): no rule is named so in floodgate.conf. */
#define FG_BY_OPERATOR	"floodgatectl"

struct fg_blocks;

struct fg_blocks *fg_blocks_new(void);
void fg_blocks_free(struct fg_blocks *b);

/* 1 while the suspension runs at now: until resumed, or before its
 * until. */
int fg_suspension_on(const struct fg_suspension *s, uint32_t now);
/* 1 when the account is suspended at now (*s filled when s is not
 * NULL). */
int fg_blocks_suspended(struct fg_blocks *b, const char *account,
    uint32_t now, struct fg_suspension *s);
/* Suspended from now until resumed, or until until when that is not 0
 * (floodgatectl suspend ACCOUNT DURATION). 1 when newly suspended, 0
 * when it already was. */
int fg_blocks_suspend(struct fg_blocks *b, const char *account,
    const char *rule, uint32_t now, uint32_t until);
/*
 * An operator's suspension of an account suspended already (by a rule or
 * by hand): it becomes the operator's (rule FG_BY_OPERATOR), keeps its
 * start and ends at until (0: at resume). 1 with *was (when not NULL)
 * the suspension as it was; 0 when the account is not suspended.
 */
int fg_blocks_suspend_anew(struct fg_blocks *b, const char *account,
    uint32_t now, uint32_t until, struct fg_suspension *was);
/* 1 when it was suspended. */
int fg_blocks_resume(struct fg_blocks *b, const char *account);

/* 1 when the domain is paused at now, by its own pause or by one of a
 * pattern "*.example.jp" of a domain above it (*p filled with that
 * pause when p is not NULL). */
int fg_blocks_paused(struct fg_blocks *b, const char *domain, uint32_t now,
    struct fg_pause *p);
/*
 * A backoff tripped for domain: paused for base seconds, or twice its
 * last pause (at most max) when that ended less than period ago. 1 and
 * *p when newly paused, 0 when it already was.
 */
int fg_blocks_pause(struct fg_blocks *b, const char *domain,
    const char *rule, uint32_t base, uint32_t max, uint32_t period,
    uint32_t now, struct fg_pause *p);
/*
 * An operator's pause (rule FG_BY_OPERATOR): the domain is paused from
 * now for secs, whatever pause it had (one still running keeps its
 * start). A backoff's trip after it starts from its own base again. 1
 * when newly paused, 0 when it was paused and only its end moved, -1
 * out of memory.
 */
int fg_blocks_pause_for(struct fg_blocks *b, const char *domain,
    uint32_t secs, uint32_t now, struct fg_pause *p);
/* Ends a pause now; 1 when the domain was paused. */
int fg_blocks_unpause(struct fg_blocks *b, const char *domain, uint32_t now);

/* Copies of every suspension and every pause record (expired ones too,
 * as long as they can still double the next pause); free() both. */
void fg_blocks_rows(struct fg_blocks *b, struct fg_suspension **s,
    size_t *ns, struct fg_pause **p, size_t *np);
/* At start: what the store kept. -1 when out of memory for one of them
 * (the rest loaded): a start must not go on without it, as the
 * suspended account or the paused domain would be let through. */
int fg_blocks_load(struct fg_blocks *b, const struct fg_suspension *s,
    size_t ns, const struct fg_pause *p, size_t np);
/* Whether something changed since the last call (for the store). */
int fg_blocks_changed(struct fg_blocks *b);
/* Ends the suspensions whose time has come, and forgets pause records
 * that can no longer double a pause (ended more than keep seconds
 * ago). */
void fg_blocks_expire(struct fg_blocks *b, uint32_t now, uint32_t keep);
size_t fg_blocks_count(struct fg_blocks *b, size_t *paused_now, uint32_t now);

/*
 * Relays sharing a store (store redis) share their blocks: with the
 * journal on, every change is kept until taken and sent there; what the
 * store holds then replaces the local view, the changes not yet taken
 * applied on top.
 */
struct fg_block_op {
	/* 's' suspended, 'u' a suspension's end set anew, 'r' resumed,
	 * 'e' an ended suspension dropped, 'p' pause record set, 'x' an
	 * ended pause record dropped. 'e' and 'x' carry the record as it
	 * ended: the store drops it only while it is still that one (not
	 * one another relay set since). */
	char kind;
	struct fg_suspension s;		/* 's', 'u', 'r', 'e' (account) */
	struct fg_pause p;		/* 'p', 'x' (domain) */
};

void fg_blocks_journal(struct fg_blocks *b, int on);
/* The changes since the last call, oldest first; free() *ops. */
size_t fg_blocks_take(struct fg_blocks *b, struct fg_block_op **ops);
void fg_blocks_untake(struct fg_blocks *b, struct fg_block_op *ops, size_t n);
/* -1, out of memory: the copy before is kept whole. */
int fg_blocks_replace(struct fg_blocks *b, const struct fg_suspension *s,
    size_t ns, const struct fg_pause *p, size_t np);

/*
 * One-time passes for floodgate's own notifications: the envelope
 * sender of a notification carries a random token, and the message that
 * comes back through the milter with it is let through untouched, once.
 * A pass not taken within an hour lapses. 0, or -1 when FG_PASSES wait
 * already.
 */
#define FG_PASSES	64
int fg_blocks_pass_add(struct fg_blocks *b, const char *sender, uint32_t now);
/* 1 when sender holds a pass (which is used up), 0 when not. */
int fg_blocks_pass_take(struct fg_blocks *b, const char *sender, uint32_t now);

#endif
