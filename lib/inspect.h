/*
 * What floodgate knows, as control-protocol records: who sent most (top),
 * one account's budgets (show), and whether a recipient would pass now
 * (explain). Shared by the daemon and by floodgatectl's offline mode.
 */
#ifndef FG_INSPECT_H
#define FG_INSPECT_H

#include <stdint.h>

#include "config.h"
#include "control.h"
#include "limiter.h"
#include "store.h"

struct fg_inspect {
	struct fg_config *cfg;
	struct fg_limiter *limiter;
	struct fg_store *store;		/* NULL: no history */
	uint32_t now;
};

void fg_inspect_top(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o);
void fg_inspect_show(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o);
void fg_inspect_explain(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o);
void fg_inspect_held(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o);
int fg_parse_since(const char *s, uint32_t *secs);

typedef void (*fg_inspector)(struct fg_inspect *in,
    const struct fg_ctl_req *req, struct fg_ctl_out *o);
/* The read-only command for a verb (enum fg_ctl_verb), or NULL: the
 * daemon and floodgatectl's offline mode answer them alike. */
fg_inspector fg_inspect_for(int verb);

#endif
