/*
 * What floodgate knows, as control-protocol records: who sent most (top),
 * one account's budgets (show), and whether a recipient would pass now
 * (explain). Shared by the daemon and by floodgatectl's offline mode.
 */
#ifndef FG_INSPECT_H
#define FG_INSPECT_H

#include <stdint.h>

#include "blocks.h"
#include "config.h"
#include "control.h"
#include "limiter.h"
#include "store.h"

struct fg_inspect {
	struct fg_config *cfg;
	struct fg_limiter *limiter;
	struct fg_store *store;		/* NULL: no history */
	struct fg_blocks *blocks;	/* suspensions and pauses; NULL: none */
	uint32_t now;
	/* A shared store (store redis): its windows instead of the
	 * in-memory limiter's; -1 when it cannot answer (memory then).
	 * NULL: none. */
	int (*peek)(struct fg_check *c, size_t n);
	int (*windows)(const char *rule, const char *account,
	    void (*fn)(void *arg, const char *wkey), void *arg);
	/* Every relay's statistics (store redis): top for the pool, as
	 * fg_store_top; -1 when it cannot answer (this relay's then). */
	int (*top)(const char *by, uint32_t since, int limit,
	    struct fg_top_row **out, size_t *nout);
	/* The shared store is down: this relay decides from memory with
	 * every limit divided by relays; 0 otherwise. */
	uint32_t relays_down;
	/* The daemon's incidents its database does not hold as they are
	 * (not written yet: the database failing, or the next second's
	 * save); NULL: none. */
	const struct fg_incident *live;
	size_t nlive;
};

void fg_inspect_top(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o);
void fg_inspect_show(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o);
void fg_inspect_explain(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o);
void fg_inspect_held(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o);
void fg_inspect_pauses(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o);
void fg_inspect_incidents(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o);
/* Records of the suspended accounts and of the domains paused now
 * (status, pauses), each in the order of their names. */
void fg_inspect_blocks(struct fg_inspect *in, struct fg_ctl_out *o,
    int suspensions);
/* on_hold and on_hold_since (status): the messages on hold now and the
 * oldest one's time; nothing when the database cannot say. */
void fg_inspect_on_hold(struct fg_store *st, struct fg_ctl_out *o);
int fg_parse_since(const char *s, uint32_t *secs);

typedef void (*fg_inspector)(struct fg_inspect *in,
    const struct fg_ctl_req *req, struct fg_ctl_out *o);
/* The read-only command for a verb (enum fg_ctl_verb), or NULL: the
 * daemon and floodgatectl's offline mode answer them alike. */
fg_inspector fg_inspect_for(int verb);

#endif
