/*
 * Held mail given back, as floodgatectl release asks: which held messages
 * may go now (release-plan, reserving their recipients), and what became
 * of each (release-done). A planned message is charged when floodgatectl
 * says the MTA has it back (or that it left the hold queue meanwhile),
 * given back when it says it failed, or when no step of its run has
 * come for PLAN_TTL seconds (floodgatectl died): each step is a sign of
 * life that keeps every plan of its run open, however long the MTA's
 * commands take for a large plan. Served by the service thread, to root
 * only.
 *
 * The plans and their reservations live here, in memory; the database
 * marks each planned message too, so that one the MTA has back after a
 * restart of floodgate is still charged (over any limit: it went).
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "htab.h"
#include "log.h"
#include "util.h"

/* Longer than the release of one message can take with floodgatectl's
 * default -t: two of the MTA's commands, 60 s each at most. */
#define PLAN_TTL	300

/* One release-plan's plans. They lapse PLAN_TTL seconds after the plan
 * or the last step confirmed of any of them: a run keeps its own plans
 * open, not those of a run that died, which later runs' steps would
 * otherwise keep reserved (and their mail held) for as long as runs
 * went on. */
struct batch {
	time_t last;
	unsigned refs;		/* its plans still open */
};

/* A planned release, found by its queue ID. */
struct pending {
	struct fg_hnode node;	/* first: the table's link */
	char qid[FG_QID_MAX + 1];
	struct batch *batch;
	struct fg_msg msg;
};

static struct fg_htab pending;
/* The last release-plan: the release timer's sign of life. */
static time_t last_plan;
/* Held messages that can never go within a limit, said once each for
 * as long as they stay held (the last plan's). */
static struct fg_strset never_said;

/* A held message its limit can never take: said once, and left out of
 * the plan without holding back the mail behind it. */
static void
never_fits(const struct fg_held_row *h, const struct fg_oversize *w,
    struct fg_strset *said)
{
	char p[32];

	(void)fg_strset_add(said, h->queue_id);
	if (fg_strset_has(&never_said, h->queue_id))
		return;
	fg_format_duration(w->period, p, sizeof(p));
	fg_log_warn("release: qid=%s account=%s needs %u in rule %s's window for %s, over its whole limit (%u/%s): it can never go within that limit and stays on hold, later held mail no longer waiting behind it; release it by hand, delete it, or raise the limit",
	    h->queue_id, h->account, w->need, w->rule->name, w->key,
	    w->limit, p);
}

time_t
fg_release_last(void)
{
	return last_plan;
}

size_t
fg_release_planned(void)
{
	return pending.count;
}

static int
pending_eq(const struct fg_hnode *n, const void *qid)
{
	return strcmp(((const struct pending *)n)->qid, qid) == 0;
}

static struct pending *
pending_find(const char *qid)
{
	return (struct pending *)fg_htab_find(&pending, fg_hash(qid),
	    pending_eq, qid);
}

/* The database's mark of a planned release, cleared (the release failed,
 * or its plan lapsed). One that cannot be cleared is logged: a restart
 * would then charge the message if a later run found it gone. */
static void
unmark(const char *qid)
{
	struct fg_held_mark m = { qid, 0 };
	char err[FG_ERRLEN];

	if (fg_store_held_mark(fgd.store, &m, 1, err, sizeof(err)) < 0)
		fg_log_warn("release: qid=%s: cannot clear its plan in the database: %s",
		    qid, err);
}

/* A plan done with (out of the table): its batch goes with its last. */
static void
forget(struct pending *p)
{
	if (--p->batch->refs == 0)
		free(p->batch);
	free(p);
}

/* A plan given up: its reservation goes back (the table's walk
 * unlinks it). */
static int
drop(struct fg_hnode *n, void *arg)
{
	struct pending *p = (struct pending *)n;

	(void)arg;
	fg_msg_abort(&p->msg, &fgd.engine);
	forget(p);
	return 1;
}

/* The plans that lapse now: their batch's last sign of life is
 * PLAN_TTL seconds old. */
struct lapsing {
	time_t now;
	/* NULL: gather only counts them; at the lapse, there was no room
	 * to gather them, and each mark is cleared on its own. */
	struct fg_held_mark *marks;
	size_t n;
};

static int
lapsed(const struct pending *p, time_t now)
{
	return p->batch->last + PLAN_TTL <= now;
}

static int
gather(struct fg_hnode *n, void *arg)
{
	struct pending *p = (struct pending *)n;
	struct lapsing *l = arg;

	if (!lapsed(p, l->now))
		return 0;
	if (l->marks != NULL)
		l->marks[l->n] = (struct fg_held_mark){ p->qid, 0 };
	l->n++;
	return 0;
}

/* Give back what releases that were never confirmed had reserved. */
static int
lapse(struct fg_hnode *n, void *arg)
{
	struct pending *p = (struct pending *)n;
	const struct lapsing *l = arg;

	if (!lapsed(p, l->now))
		return 0;
	fg_log_warn("release: qid=%s was not confirmed: no release step for %d s; its reservation is given back",
	    p->qid, PLAN_TTL);
	if (l->marks == NULL)
		unmark(p->qid);
	return drop(n, NULL);
}

/* The lapsed plans' marks are cleared in one transaction (a run killed
 * early leaves up to a thousand), before the plans go. */
void
fg_release_tick(time_t now)
{
	struct lapsing l = { now, NULL, 0 };
	char err[FG_ERRLEN];
	size_t n;

	fg_htab_walk(&pending, gather, &l);
	if ((n = l.n) == 0)
		return;
	l.n = 0;
	if ((l.marks = calloc(n, sizeof(*l.marks))) != NULL) {
		fg_htab_walk(&pending, gather, &l);
		if (fg_store_held_mark(fgd.store, l.marks, l.n, err,
		    sizeof(err)) < 0)
			fg_log_warn("release: cannot clear the plans of %zu lapsed messages in the database: %s",
			    l.n, err);
	}
	fg_htab_walk(&pending, lapse, &l);
	free(l.marks);
}

void
fg_release_stop(void)
{
	fg_htab_walk(&pending, drop, NULL);
	fg_htab_clear(&pending);
	fg_strset_free(&never_said);
}

/*
 * release-plan [MAX]: the held messages that may go now, oldest first.
 * Order is kept per window, not per tenant: a held message that a full
 * window holds back keeps its place there, so later held messages that
 * need that window wait behind it, while the rest go as soon as every
 * rule they need allows them. One that needs more than a window's whole
 * limit keeps no place: it would hold the window's mail for good.
 */
void
fg_release_plan(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	struct fg_strset behind = { { NULL, 0, 0 } };
	struct fg_strset never = { { NULL, 0, 0 } };
	struct fg_held_row *h;
	size_t n, i;
	char err[FG_ERRLEN];
	struct fg_held_mark *marks;
	struct batch *b;
	size_t nmarks = 0;
	uint32_t max = 1000, planned = 0, now = (uint32_t)time(NULL);

	if (req->argc > 1 || (req->argc == 1 &&
	    (fg_parse_uint(req->argv[0], 100000, &max) < 0 || max == 0))) {
		fg_ctl_error(o, "release-plan: expected [MAX] from 1 to 100000");
		return;
	}
	last_plan = (time_t)now;
	fg_service_flush();
	if (fg_store_held(fgd.store, NULL, &h, &n, err, sizeof(err)) < 0) {
		fg_ctl_error(o, "release-plan: database: %s", err);
		return;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		fg_store_held_free(h, n);
		fg_ctl_error(o, "release-plan: out of memory");
		return;
	}
	b->last = (time_t)now;
	b->refs = 1;	/* this function's, until its end */
	/* The plan's marks, written together before floodgatectl sees it. */
	marks = n > 0 ? calloc(n, sizeof(*marks)) : NULL;
	fg_ctl_ok(o);
	for (i = 0; i < n; i++) {
		struct pending *p = NULL;
		struct fg_oversize w;
		int fits;

		/* Only what the MTA could have given floodgate: anything else
		 * must never reach a postsuper or sendmail command line. */
		if (!fg_qid_valid(h[i].queue_id) ||
		    pending_find(h[i].queue_id) != NULL)
			continue;
		/* Before, it kept its place in the window for good, and
		 * every later held message that needed the window waited
		 * behind it. */
		fits = fg_msg_never_fits(fgd.cfg, h[i].account, h[i].domains,
		    &w) != 1;
		if (!fits)
			never_fits(&h[i], &w, &never);
		if (fits && planned < max &&
		    (p = calloc(1, sizeof(*p))) != NULL) {
			fg_strlcpy(p->qid, h[i].queue_id, sizeof(p->qid));
			p->node.hash = fg_hash(p->qid);
			p->batch = b;
			if (fg_msg_release(&p->msg, fgd.cfg, &fgd.engine,
			    h[i].account, h[i].domains, &behind, now) < 0) {
				free(p);
				p = NULL;
			} else if (fg_htab_add(&pending, &p->node) < 0) {
				fg_msg_abort(&p->msg, &fgd.engine);
				free(p);
				p = NULL;
			} else
				b->refs++;
		}
		if (p == NULL) {
			/* Still on hold (floodgatectl dropped what left the
			 * hold queue before it asked): a plan an earlier
			 * floodgate made for it did not release it. */
			if (h[i].planned != 0 && marks != NULL)
				marks[nmarks++] = (struct fg_held_mark){
				    h[i].queue_id, 0 };
			continue;
		}
		if (marks != NULL)
			marks[nmarks++] = (struct fg_held_mark){ h[i].queue_id,
			    now };
		planned++;
		fg_ctl_kv(o, "type", "release");
		fg_ctl_kv(o, "queue_id", "%s", h[i].queue_id);
		fg_ctl_kv(o, "account", "%s", h[i].account);
		fg_ctl_kv(o, "recipients", "%u", h[i].recipients);
		fg_ctl_rec_end(o);
	}
	fg_ctl_end(o);
	/* Not written: the plan stands in memory alone, and a restart before
	 * its releases are confirmed leaves them uncharged. */
	if (marks == NULL && planned > 0)
		fg_log_warn("release: cannot record the plan of %u messages in the database: out of memory",
		    planned);
	else if (marks != NULL && fg_store_held_mark(fgd.store, marks, nmarks,
	    err, sizeof(err)) < 0)
		fg_log_warn("release: cannot record the plan of %u messages in the database: %s",
		    planned, err);
	free(marks);
	if (--b->refs == 0)
		free(b);
	fg_strset_free(&behind);
	fg_strset_free(&never_said);
	never_said = never;
	fg_store_held_free(h, n);
}

/* A release the MTA has: what was reserved for it is spent, and its
 * deliveries come now (the queue-ID map starts afresh). */
static void
charge(const char *qid, struct fg_msg *m, uint32_t now)
{
	fg_feedback_charged(qid, m->acct.name, now);
	fg_msg_commit(m, &fgd.engine, now);
}

/*
 * A message floodgate has no plan for, released or gone: if the database
 * says a plan was made (by floodgate before a restart), the MTA may well
 * have it back, so it is charged now, over any limit. 1 charged, 0
 * nothing to charge (not on hold, or never planned: gone by other
 * hands), -1 it could not be charged (logged).
 */
static int
charge_lost(const char *qid, uint32_t now)
{
	struct fg_held_row h;
	struct fg_msg m;
	char err[FG_ERRLEN];
	int rc;

	if ((rc = fg_store_held_find(fgd.store, qid, &h, err, sizeof(err))) < 0) {
		fg_log_err("release: qid=%s: database: %s", qid, err);
		return -1;
	}
	if (rc == 0)
		return 0;
	if (h.planned == 0)
		rc = 0;
	else if (fg_msg_release_lost(&m, fgd.cfg, &fgd.engine, h.account,
	    h.domains, now) == 0)
		charge(qid, &m, now);
	else {
		fg_log_err("release: qid=%s: its release was planned before a restart, and it cannot be charged now (out of memory, or the shared store failed): account=%s recipients=%u",
		    qid, h.account, h.recipients);
		rc = -1;
	}
	free(h.domains);
	return rc;
}

/* release-done QID released|failed|gone */
void
fg_release_done(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	struct pending *p;
	const char *how, *said;
	char err[FG_ERRLEN];
	uint32_t now = (uint32_t)time(NULL);

	if (req->argc != 2 || !fg_qid_valid(req->argv[0]) ||
	    (strcmp(req->argv[1], "released") && strcmp(req->argv[1], "failed") &&
	    strcmp(req->argv[1], "gone"))) {
		fg_ctl_error(o, "release-done: expected QUEUE-ID (letters and digits) released|failed|gone");
		return;
	}
	how = said = req->argv[1];
	/* The releaser is alive: what it has still to confirm waits. */
	if ((p = pending_find(req->argv[0])) != NULL)
		p->batch->last = (time_t)now;
	if (p == NULL && strcmp(how, "failed") != 0) {
		int lost = charge_lost(req->argv[0], now);

		if (lost < 0) {
			/* Still open: the next run's "gone" tries again. */
			fg_ctl_error(o, "release-done: %s cannot be charged now (see floodgate's log)",
			    req->argv[0]);
			return;
		}
		if (lost == 0 && strcmp(how, "released") == 0) {
			fg_ctl_error(o, "release-done: %s was not planned (or its plan expired)",
			    req->argv[0]);
			return;
		}
		if (lost == 1)
			said = strcmp(how, "gone") == 0 ?
			    "gone while its release was planned, before floodgate restarted; charged" :
			    "released as planned before floodgate restarted; charged";
	}
	if (p != NULL) {
		/* Gone while its release was planned: a run released it and
		 * could not say so (floodgate stopped answering, or the run
		 * was killed), or another run did meanwhile; charged, since
		 * mail that went uncharged would let its tenant past the
		 * limit (a message deleted by hand just then is charged
		 * too: stricter). */
		if (strcmp(how, "failed") != 0) {
			charge(req->argv[0], &p->msg, now);
			if (strcmp(how, "gone") == 0)
				said = "gone while its release was planned; charged";
		} else
			fg_msg_abort(&p->msg, &fgd.engine);
		fg_htab_unlink(&pending, &p->node);
		forget(p);
	}
	/* failed: still held, no longer planned, tried again next time. */
	if (strcmp(how, "failed") == 0)
		unmark(req->argv[0]);
	else if (fg_store_held_done(fgd.store, req->argv[0], now, how, err,
	    sizeof(err)) < 0) {
		fg_ctl_error(o, "release-done: database: %s", err);
		return;
	}
	fg_log_notice("release: qid=%s %s", req->argv[0], said);
	fg_ctl_ok(o);
	fg_ctl_kv(o, "queue_id", "%s", req->argv[0]);
	fg_ctl_kv(o, "result", "%s", said);
	fg_ctl_end(o);
}
