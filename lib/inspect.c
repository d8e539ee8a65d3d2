/*
 * What floodgate knows, as control-protocol records: who sent most (top),
 * one account's budgets (show), and whether a recipient would pass now
 * (explain). Read-only: nothing here charges or changes a window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "address.h"
#include "inspect.h"
#include "policy.h"
#include "rules.h"
#include "table.h"
#include "wkey.h"

struct scan {
	struct fg_inspect *in;
	struct fg_ctl_out *o;
	const char *account;
	size_t alen;
	int feedback_only;		/* the rate windows are shared */
};

/*
 * What a window says: the shared store's when there is one. Returns
 * where the answer came from, for the record's "from": "pool" (Redis,
 * every relay), "relay" (a shared store is configured but this relay's
 * memory answered), NULL (no shared store).
 */
static const char *
from_memory(const struct fg_inspect *in)
{
	return in->cfg->store != NULL ? "relay" : NULL;
}

static const char *
peek(struct fg_inspect *in, struct fg_check *c, size_t n)
{
	if (in->peek != NULL && in->peek(c, n) == 0)
		return "pool";
	if (in->relays_down > 1)
		fg_checks_share(c, n, in->relays_down);
	fg_limiter_peek(in->limiter, c, n, in->now);
	return from_memory(in);
}

static void scan_entry(const struct fg_entry *e, void *arg);

int
fg_parse_since(const char *s, uint32_t *secs)
{
	return fg_parse_duration(s, secs);
}

/* top [account|domain|rule] [SINCE] [N] */
void
fg_inspect_top(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o)
{
	const char *by = req->argc > 0 ? req->argv[0] : "account";
	uint32_t since = 3600, n = 10;
	struct fg_top_row *rows;
	size_t nrows, i;
	char err[FG_ERRLEN];
	const char *scope = NULL;

	if (strcmp(by, "account") && strcmp(by, "domain") && strcmp(by, "rule") &&
	    strcmp(by, "unknown") && strcmp(by, "bounces")) {
		fg_ctl_error(o, "top: \"%s\": expected account, domain, rule, unknown or bounces", by);
		return;
	}
	if (req->argc > 1 && fg_parse_since(req->argv[1], &since) < 0) {
		fg_ctl_error(o, "top: \"%s\": expected a duration such as 1h or 1d", req->argv[1]);
		return;
	}
	if (req->argc > 2 && (fg_parse_uint(req->argv[2], 10000, &n) < 0 || n == 0)) {
		fg_ctl_error(o, "top: \"%s\": expected a count from 1 to 10000", req->argv[2]);
		return;
	}
	/* With a shared store, the pool's; this relay's when Redis cannot
	 * answer, and each row says which. */
	if (in->top != NULL && in->top(by, in->now > since ? in->now - since :
	    0, (int)n, &rows, &nrows) == 0)
		scope = "pool";
	else {
		if (in->store == NULL) {
			fg_ctl_error(o, "top: no database to read history from");
			return;
		}
		if (fg_store_top(in->store, by, in->now > since ? in->now - since : 0,
		    (int)n, &rows, &nrows, err, sizeof(err)) < 0) {
			fg_ctl_error(o, "top: database: %s", err);
			return;
		}
		scope = from_memory(in);
	}
	fg_ctl_ok(o);
	for (i = 0; i < nrows; i++) {
		int rule = strcmp(by, "rule") == 0;

		/* unknown and bounces rank accounts */
		fg_ctl_kv(o, rule || strcmp(by, "domain") == 0 ? by : "account",
		    "%s", rows[i].name);
		if (!rule)
			fg_ctl_kv(o, "accepted", "%llu", (unsigned long long)rows[i].v[FG_ST_ACCEPTED]);
		fg_ctl_kv(o, "deferred", "%llu", (unsigned long long)rows[i].v[FG_ST_DEFERRED]);
		fg_ctl_kv(o, "rejected", "%llu", (unsigned long long)rows[i].v[FG_ST_REJECTED]);
		fg_ctl_kv(o, "held", "%llu", (unsigned long long)rows[i].v[FG_ST_HELD]);
		if (!rule) {
			/* delivery results, from the delivery log */
			fg_ctl_kv(o, "sent", "%llu", (unsigned long long)rows[i].v[FG_ST_SENT]);
			fg_ctl_kv(o, "bounced", "%llu", (unsigned long long)rows[i].v[FG_ST_BOUNCED]);
			fg_ctl_kv(o, "unknown", "%llu", (unsigned long long)rows[i].v[FG_ST_UNKNOWN]);
		}
		if (scope != NULL)
			fg_ctl_kv(o, "from", "%s", scope);
		fg_ctl_rec_end(o);
	}
	fg_ctl_end(o);
	free(rows);
}

static void
rule_record(struct fg_ctl_out *o, const struct fg_rule *r, const char *key,
    uint64_t used, uint32_t limit, uint32_t period, int over, uint32_t retry,
    const char *from)
{
	char p[32];

	fg_format_duration(period, p, sizeof(p));
	fg_ctl_kv(o, "type", "rule");
	fg_ctl_kv(o, "rule", "%s", r->name);
	fg_ctl_kv(o, "scope", "%s", fg_scope_name(r->scope));
	fg_ctl_kv(o, "to", "%s", r->dests.text ? r->dests.text : "*");
	fg_ctl_kv(o, "key", "%s", key);
	fg_ctl_kv(o, "used", "%llu", (unsigned long long)used);
	fg_ctl_kv(o, "limit", "%u", limit);
	fg_ctl_kv(o, "period", "%s", p);
	fg_ctl_kv(o, "action", "%s", fg_action_name(r->action));
	fg_ctl_kv(o, "status", "%s", over ? "over" : used >= limit ? "full" : "ok");
	fg_ctl_kv(o, "retry", "%u", retry);
	if (from != NULL)
		fg_ctl_kv(o, "from", "%s", from);
	fg_ctl_rec_end(o);
}

/* A feedback limit for key: what its windows hold, and whether it is
 * tripped. */
static void
feedback_record(struct fg_inspect *in, struct fg_ctl_out *o,
    const struct fg_rule *r, const char *account, const char *key)
{
	uint64_t final, bounced, unknown;
	struct fg_check ck;
	char p[32];
	int over;

	fg_feedback_counts(in->limiter, r, account, key, in->now, &final,
	    &bounced, &unknown);
	over = fg_feedback_over(in->limiter, r, account, key, in->now, &ck, NULL);
	fg_format_duration(ck.period, p, sizeof(p));
	fg_ctl_kv(o, "type", "feedback");
	fg_ctl_kv(o, "rule", "%s", r->name);
	fg_ctl_kv(o, "scope", "%s", fg_scope_name(r->scope));
	fg_ctl_kv(o, "to", "%s", r->dests.text ? r->dests.text : "*");
	fg_ctl_kv(o, "key", "%s", key);
	fg_ctl_kv(o, "counts", "%s", fg_name_of(fg_count_names, (int)r->count));
	fg_ctl_kv(o, "results", "%llu", (unsigned long long)final);
	fg_ctl_kv(o, "sent", "%llu", (unsigned long long)(final > bounced ?
	    final - bounced : 0));
	fg_ctl_kv(o, "bounced", "%llu", (unsigned long long)bounced);
	fg_ctl_kv(o, "unknown", "%llu", (unsigned long long)unknown);
	fg_ctl_kv(o, "limit", "%u", ck.limit);
	fg_ctl_kv(o, "period", "%s", p);
	if (r->ratio > 0)
		fg_ctl_kv(o, "ratio", "%u%%", r->ratio);
	else
		fg_ctl_kv(o, "ratio", "-");
	fg_ctl_kv(o, "action", "%s", fg_action_name(r->action));
	fg_ctl_kv(o, "status", "%s", over ? "tripped" : "ok");
	fg_ctl_kv(o, "retry", "%u", over ? ck.retry : 0);
	fg_ctl_rec_end(o);
}

/* account+domain entries of this account, found by a walk of the table;
 * a feedback limit's by the window of its final results. */
static void
scan_entry(const struct fg_entry *e, void *arg)
{
	struct scan *sc = arg;
	const char *key;
	char rule[FG_WRULE_MAX + 1];
	const struct fg_rule *r;
	uint64_t used;
	uint32_t limit, period, width, retry = 0;
	size_t rl;

	if (fg_wkey_rule(e->key, rule, &key) < 0 ||
	    strncmp(key, sc->account, sc->alen) != 0 || key[sc->alen] != '/')
		return;
	rl = strlen(rule);
	if (rl > 4 && strcmp(rule + rl - 4, FG_WRULE_ALL) == 0) {
		rule[rl - 4] = '\0';
		r = fg_config_rule(sc->in->cfg, rule);
		if (r != NULL && fg_rule_feedback(r) &&
		    r->scope == FG_SCOPE_ACCOUNT_DOMAIN)
			feedback_record(sc->in, sc->o, r, sc->account, key);
		return;
	}
	r = fg_config_rule(sc->in->cfg, rule);
	if (r == NULL || r->scope != FG_SCOPE_ACCOUNT_DOMAIN ||
	    fg_rule_feedback(r) || sc->feedback_only)
		return;
	fg_rule_rate(r, sc->account, &limit, &period);
	used = fg_window_count(&e->win, sc->in->now) + e->reserved;
	width = fg_window_width(period);
	if (used >= limit) {
		retry = used - limit + 1 <= fg_window_count(&e->win, sc->in->now) ?
		    fg_window_retry(&e->win, sc->in->now, used - limit + 1) : 0;
		if (retry == 0)
			retry = width + period;
	}
	rule_record(sc->o, r, key, used, limit, period, 0, retry,
	    from_memory(sc->in));
}

/* One of the account's shared per-destination windows. */
static void
shared_window(void *arg, const char *wkey)
{
	struct scan *sc = arg;
	char rule[FG_WRULE_MAX + 1];
	const struct fg_rule *r;
	struct fg_check k;
	const char *key;

	if (fg_wkey_rule(wkey, rule, &key) < 0 ||
	    (r = fg_config_rule(sc->in->cfg, rule)) == NULL ||
	    r->scope != FG_SCOPE_ACCOUNT_DOMAIN || fg_rule_feedback(r))
		return;
	memset(&k, 0, sizeof(k));
	k.rule = r->name;
	k.key = key;
	k.cost = 1;
	fg_rule_rate(r, sc->account, &k.limit, &k.period);
	if (sc->in->peek(&k, 1) < 0)
		return;
	rule_record(sc->o, r, key, k.used, k.limit, k.period, 0,
	    k.used >= k.limit ? k.retry : 0, "pool");
}

/* show ACCOUNT */
void
fg_inspect_show(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o)
{
	const struct fg_config *c = in->cfg;
	struct fg_account a;
	struct scan sc;
	const char *from;
	size_t i;

	if (req->argc != 1) {
		fg_ctl_error(o, "show: expected one account");
		return;
	}
	if (fg_account_named(c, req->argv[0], &a) < 0) {
		fg_ctl_error(o, "show: out of memory");
		return;
	}
	fg_ctl_ok(o);
	fg_ctl_kv(o, "type", "account");
	fg_ctl_kv(o, "account", "%s", a.name);
	fg_ctl_kv(o, "mapped", "%s", a.mapped ? "yes" : "no");
	fg_ctl_kv(o, "exempt", "%s", fg_exempt_account(c, a.identity, a.name) ? "yes" : "no");
	{
		struct fg_suspension su;

		if (in->blocks != NULL &&
		    fg_blocks_suspended(in->blocks, a.name, in->now, &su)) {
			fg_ctl_kv(o, "suspended", "yes");
			fg_ctl_kv(o, "suspended_by", "%s", su.rule);
			fg_ctl_kv(o, "since", "%u", su.since);
			fg_ctl_kv(o, "until", "%u", su.until);
		} else
			fg_ctl_kv(o, "suspended", "no");
	}
	fg_ctl_rec_end(o);
	for (i = 0; i < c->nrule; i++) {
		const struct fg_rule *r = &c->rule[i];
		struct fg_check k = { .rule = r->name, .key = a.name, .cost = 1 };

		if (r->is_cap || r->scope != FG_SCOPE_ACCOUNT)
			continue;
		if (fg_rule_feedback(r)) {
			feedback_record(in, o, r, a.name, a.name);
			continue;
		}
		fg_rule_rate(r, a.name, &k.limit, &k.period);
		from = peek(in, &k, 1);
		rule_record(o, r, a.name, k.used, k.limit, k.period, k.over,
		    k.over ? k.retry : 0, from);
	}
	sc.in = in;
	sc.o = o;
	sc.account = a.name;
	sc.alen = strlen(a.name);
	sc.feedback_only = in->windows != NULL && in->peek != NULL &&
	    in->windows(NULL, a.name, shared_window, &sc) == 0;
	fg_table_foreach(fg_limiter_table(in->limiter), in->now, scan_entry, &sc);
	if (in->store != NULL) {
		struct fg_event *ev;
		size_t nev;
		char err[FG_ERRLEN];

		if (fg_store_events(in->store, a.name, 10, &ev, &nev, err,
		    sizeof(err)) == 0) {
			for (i = 0; i < nev; i++) {
				fg_ctl_kv(o, "type", "refusal");
				fg_ctl_kv(o, "time", "%u", ev[i].time);
				fg_ctl_kv(o, "rule", "%s", ev[i].rule);
				fg_ctl_kv(o, "dest", "%s", ev[i].dest);
				fg_ctl_kv(o, "action", "%s", ev[i].action);
				fg_ctl_kv(o, "used", "%u", ev[i].used);
				fg_ctl_kv(o, "limit", "%u", ev[i].limit);
				fg_ctl_kv(o, "qid", "%s", ev[i].queue_id[0] ? ev[i].queue_id : "-");
				/* more than one: refusals folded, the
				 * last one's fields */
				fg_ctl_kv(o, "count", "%u", fg_event_count(&ev[i]));
				fg_ctl_rec_end(o);
			}
			free(ev);
		}
	}
	fg_ctl_end(o);
}

/* What explain says first: the rule that decides, or none. */
struct decides {
	const char *verdict;	/* NULL: nothing refuses */
	char rule[FG_NAME_MAX + 1];
	uint32_t retry;
	char reason[FG_DOMAIN_MAX + 16];
};

/* The feedback limits that apply to the recipient: each as a record
 * into o, or (o NULL) the tripped one that refuses most into d, as the
 * RCPT path would decide. */
static void
explain_feedback(struct fg_inspect *in, struct fg_ctl_out *o,
    const char *account, const char *dom, const char *client,
    struct decides *d)
{
	const struct fg_rule *worst = NULL;
	struct fg_check ck;
	char key[FG_KEY_MAX + 1];
	size_t i;

	for (i = 0; i < in->cfg->nrule; i++) {
		const struct fg_rule *r = &in->cfg->rule[i];

		if (!fg_rule_feedback(r) || !fg_dests_match(&r->dests, dom) ||
		    fg_rule_key(r, account, dom, client, key, sizeof(key)) < 0)
			continue;
		if (o != NULL) {
			feedback_record(in, o, r, account, key);
			continue;
		}
		if (!fg_feedback_over(in->limiter, r, account,
		    key, in->now, &ck, NULL) || r->action < FG_ACT_HOLD ||
		    (worst != NULL && r->action <= worst->action))
			continue;
		worst = r;
		d->verdict = fg_action_name(r->action);
		fg_strlcpy(d->rule, r->name, sizeof(d->rule));
		d->retry = ck.retry;
		fg_strlcpy(d->reason, "feedback", sizeof(d->reason));
	}
}

/*
 * What decides before any limit, in the RCPT path's order: a pause of
 * the recipient's domain (for everyone), a suspension of the account
 * (but of an exempt sender). 1 with d set when one does.
 */
static int
explain_blocks(struct fg_inspect *in, const char *account, const char *dom,
    int exempt, struct decides *d)
{
	struct fg_suspension su;
	struct fg_pause p;

	if (in->blocks == NULL)
		return 0;
	if (dom[0] != '\0' && fg_blocks_paused(in->blocks, dom, in->now, &p)) {
		fg_strlcpy(d->rule, p.rule, sizeof(d->rule));
		d->retry = p.until - in->now;
		snprintf(d->reason, sizeof(d->reason), "paused %s", p.domain);
	} else if (!(exempt & FG_EXEMPT_SENDER) &&
	    fg_blocks_suspended(in->blocks, account, in->now, &su)) {
		fg_strlcpy(d->rule, su.rule, sizeof(d->rule));
		d->retry = su.until != 0 ? su.until - in->now : 0;
		fg_strlcpy(d->reason, "suspended", sizeof(d->reason));
	} else
		return 0;
	d->verdict = fg_action_name(FG_ACT_DEFER);
	return 1;
}

/*
 * What local mail (non_smtpd_milters) from the account to the recipient
 * would get now, where the SMTP verdict is d's: a message cannot be
 * refused per recipient, so what stops a recipient holds the message,
 * or with local_action tempfail leaves it in maildrop, as the policy's
 * end of message does (a pause, a suspension and a hold rule hold it
 * either way).
 */
static const char *
explain_local(const struct fg_config *c, const struct decides *d, int exempt)
{
	if (d->verdict == NULL)
		return exempt ? "pass (exempt)" : "pass";
	if (strcmp(d->verdict, fg_action_name(FG_ACT_TAG)) == 0 ||
	    strcmp(d->verdict, fg_action_name(FG_ACT_LOG)) == 0)
		return d->verdict;
	if (c->local_tempfail &&
	    strcmp(d->verdict, fg_action_name(FG_ACT_HOLD)) != 0 &&
	    strcmp(d->reason, "suspended") != 0 &&
	    strncmp(d->reason, "paused ", 7) != 0)
		return "tempfail";
	return "hold";
}

/* explain ACCOUNT RECIPIENT [CLIENT] */
void
fg_inspect_explain(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o)
{
	struct fg_explain *ex;
	struct fg_account a;
	struct fg_addr ra, rr;
	struct decides d = { 0 };
	const char *from;
	char client[FG_CLIENT_MAX + 1] = "";
	char dom[FG_DOMAIN_MAX + 1];
	int exempt = 0, worst = -1, blocked, rc;
	long nl;
	size_t n, i;

	if (req->argc < 2 || req->argc > 3) {
		fg_ctl_error(o, "explain: expected ACCOUNT RECIPIENT [CLIENT-IP]");
		return;
	}
	/* A domain typed for an address (or an address without one) would
	 * be a recipient no domain's rule matches: a pass that says
	 * nothing of that domain. */
	if ((rc = fg_addr_route(req->argv[1], &ra, &rr)) != FG_ADDR_OK &&
	    rc != FG_ADDR_NOMEM &&
	    (rc = fg_addr_parse(req->argv[1], &ra, NULL, 0)) == FG_ADDR_OK &&
	    (ra.local[0] == '\0' || ra.domain[0] == '\0'))
		rc = FG_ADDR_BAD;
	if (rc == FG_ADDR_NOMEM) {
		fg_ctl_error(o, "explain: out of memory");
		return;
	}
	if (rc != FG_ADDR_OK) {
		const char *at = strrchr(req->argv[1], '@');
		const char *d = at != NULL ? at + 1 : req->argv[1];

		fg_ctl_error(o, "explain: \"%s\": expected a recipient address, such as someone@%s",
		    req->argv[1], strchr(d, '.') != NULL ? d : "docomo.ne.jp");
		return;
	}
	/* Keyed as the session keys the MTA's {client_addr}. */
	if (req->argc > 2 && fg_client_addr(req->argv[2], client,
	    sizeof(client)) == 0) {
		fg_ctl_error(o, "explain: \"%s\": expected the client's IP address, such as 192.0.2.1 or 2001:db8::1",
		    req->argv[2]);
		return;
	}
	if (fg_account_named(in->cfg, req->argv[0], &a) < 0) {
		fg_ctl_error(o, "explain: out of memory");
		return;
	}
	nl = fg_policy_explain(in->cfg, in->limiter, &a, client, req->argv[1],
	    in->now, &ex, &exempt, dom);
	if (nl < 0) {
		fg_ctl_error(o, "explain: out of memory");
		return;
	}
	n = (size_t)nl;
	from = from_memory(in);
	if ((in->peek != NULL || in->relays_down > 1) && n > 0) {
		struct fg_check *c = calloc(n, sizeof(*c));

		for (i = 0; c != NULL && i < n; i++)
			c[i] = ex[i].check;
		if (c != NULL && (from = peek(in, c, n)) != NULL)
			for (i = 0; i < n; i++)
				ex[i].check = c[i];
		free(c);
	}
	blocked = explain_blocks(in, a.name, dom, exempt, &d);
	for (i = 0; i < n && !exempt; i++)
		if (ex[i].check.over && (worst < 0 ||
		    ex[i].rule->action > ex[worst].rule->action))
			worst = (int)i;
	fg_ctl_ok(o);
	fg_ctl_kv(o, "type", "verdict");
	fg_ctl_kv(o, "account", "%s", a.name);
	fg_ctl_kv(o, "recipient", "%s", req->argv[1]);
	/* "user%dest@host", "dest!user": the domain it counts for. */
	if (fg_addr_plain(req->argv[1]) == 0)
		fg_ctl_kv(o, "routed_to", "%s", dom);
	/* A tripped feedback limit decides before any limit. */
	if (!blocked && !exempt)
		explain_feedback(in, NULL, a.name, dom, client, &d);
	if (d.verdict == NULL && worst >= 0) {
		d.verdict = fg_action_name(ex[worst].rule->action);
		fg_strlcpy(d.rule, ex[worst].rule->name, sizeof(d.rule));
		d.retry = ex[worst].check.retry;
		fg_strlcpy(d.reason, "limit", sizeof(d.reason));
	}
	if (d.verdict != NULL) {
		fg_ctl_kv(o, "verdict", "%s", d.verdict);
		fg_ctl_kv(o, "rule", "%s", d.rule);
		fg_ctl_kv(o, "retry", "%u", d.retry);
		fg_ctl_kv(o, "reason", "%s", d.reason);
	} else if (exempt)
		fg_ctl_kv(o, "verdict", "pass (exempt)");
	else
		fg_ctl_kv(o, "verdict", "pass");
	fg_ctl_kv(o, "local", "%s", explain_local(in->cfg, &d, exempt));
	if (in->cfg->monitor)
		fg_ctl_kv(o, "mode", "monitor");
	fg_ctl_rec_end(o);
	for (i = 0; i < n; i++)
		rule_record(o, ex[i].rule, ex[i].key, ex[i].check.used,
		    ex[i].check.limit, ex[i].check.period, ex[i].check.over,
		    ex[i].check.over ? ex[i].check.retry : 0, from);
	explain_feedback(in, o, a.name, dom, client, NULL);
	fg_ctl_end(o);
	free(ex);
}

/* held: messages on hold, oldest first, with why and for how long. */
void
fg_inspect_held(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o)
{
	struct fg_held_row *h;
	struct fg_account a;
	size_t n, i;
	char err[FG_ERRLEN];

	if (req->argc > 1) {
		fg_ctl_error(o, "held: expected nothing, or one account");
		return;
	}
	if (req->argc == 1 && fg_account_named(in->cfg, req->argv[0], &a) < 0) {
		fg_ctl_error(o, "held: out of memory");
		return;
	}
	if (in->store == NULL || fg_store_held(in->store, req->argc == 1 ?
	    a.name : NULL, &h, &n, err, sizeof(err)) < 0) {
		fg_ctl_error(o, "held: database: %s", in->store ? err : "none");
		return;
	}
	fg_ctl_ok(o);
	for (i = 0; i < n; i++) {
		fg_ctl_kv(o, "type", "held");
		fg_ctl_kv(o, "queue_id", "%s", h[i].queue_id);
		fg_ctl_kv(o, "account", "%s", h[i].account);
		fg_ctl_kv(o, "rule", "%s", h[i].rule);
		fg_ctl_kv(o, "recipients", "%u", h[i].recipients);
		fg_ctl_kv(o, "time", "%u", h[i].time);
		fg_ctl_kv(o, "age", "%u", in->now > h[i].time ? in->now - h[i].time : 0);
		fg_ctl_rec_end(o);
	}
	fg_ctl_end(o);
	fg_store_held_free(h, n);
}

void
fg_inspect_on_hold(struct fg_store *st, struct fg_ctl_out *o)
{
	char err[FG_ERRLEN];
	uint64_t n;
	uint32_t oldest;

	if (st == NULL || fg_store_on_hold(st, &n, &oldest, err,
	    sizeof(err)) < 0)
		return;
	fg_ctl_kv(o, "on_hold", "%llu", (unsigned long long)n);
	fg_ctl_kv(o, "on_hold_since", "%lu", (unsigned long)oldest);
}

static int
by_account(const void *a, const void *b)
{
	return strcmp(((const struct fg_suspension *)a)->account,
	    ((const struct fg_suspension *)b)->account);
}

static int
by_domain(const void *a, const void *b)
{
	return strcmp(((const struct fg_pause *)a)->domain,
	    ((const struct fg_pause *)b)->domain);
}

/* In the order of their names: the table's own is its hash's, which
 * scattered a group's domains paused together. */
void
fg_inspect_blocks(struct fg_inspect *in, struct fg_ctl_out *o,
    int suspensions)
{
	struct fg_suspension *su;
	struct fg_pause *pa;
	size_t ns, np, i;

	if (in->blocks == NULL)
		return;
	fg_blocks_rows(in->blocks, &su, &ns, &pa, &np);
	if (su != NULL && ns > 1)
		qsort(su, ns, sizeof(*su), by_account);
	if (pa != NULL && np > 1)
		qsort(pa, np, sizeof(*pa), by_domain);
	for (i = 0; suspensions && su != NULL && i < ns; i++) {
		if (!fg_suspension_on(&su[i], in->now))
			continue;	/* over */
		fg_ctl_kv(o, "type", "suspended");
		fg_ctl_kv(o, "account", "%s", su[i].account);
		fg_ctl_kv(o, "rule", "%s", su[i].rule);
		fg_ctl_kv(o, "since", "%u", su[i].since);
		fg_ctl_kv(o, "until", "%u", su[i].until);
		fg_ctl_rec_end(o);
	}
	for (i = 0; pa != NULL && i < np; i++) {
		char d[32];

		if (pa[i].until <= in->now)
			continue;
		fg_format_duration(pa[i].duration, d, sizeof(d));
		fg_ctl_kv(o, "type", "paused");
		fg_ctl_kv(o, "domain", "%s", pa[i].domain);
		fg_ctl_kv(o, "rule", "%s", pa[i].rule);
		fg_ctl_kv(o, "since", "%u", pa[i].since);
		fg_ctl_kv(o, "until", "%u", pa[i].until);
		fg_ctl_kv(o, "remaining", "%u", pa[i].until - in->now);
		fg_ctl_kv(o, "trips", "%u", pa[i].trips);
		fg_ctl_rec_end(o);
	}
	free(su);
	free(pa);
}

/* pauses: the destination domains paused now. */
void
fg_inspect_pauses(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o)
{
	if (req->argc != 0) {
		fg_ctl_error(o, "pauses: takes no arguments");
		return;
	}
	fg_ctl_ok(o);
	fg_inspect_blocks(in, o, 0);
	fg_ctl_end(o);
}

/* Whom an incident was told to: its start, its end, both; "not yet"
 * while a notification is owed; "no one" when it was passed with no
 * notify target that wants its kind, or ended untold. */
static const char *
notified(const struct fg_incident *x)
{
	int told = fg_incident_told(x);

	if (told == (FG_TOLD_START | FG_TOLD_END))
		return "start, end";
	if (told == FG_TOLD_START)
		return "start";
	if (told == FG_TOLD_END)
		return "end";
	return x->notified < (x->ended ? 2 : 1) ? "not yet" : "no one";
}

static void
incident_rec(struct fg_ctl_out *o, const struct fg_incident *x)
{
	fg_ctl_kv(o, "type", "incident");
	fg_ctl_kv(o, "id", "%lld", (long long)x->id);	/* 0: not stored */
	fg_ctl_kv(o, "kind", "%s", x->kind);
	fg_ctl_kv(o, "subject", "%s", x->subject);
	fg_ctl_kv(o, "state", "%s", x->ended ? "ended" : "open");
	fg_ctl_kv(o, "started", "%u", x->started);
	fg_ctl_kv(o, "ended", "%u", x->ended);
	fg_ctl_kv(o, "count", "%llu", (unsigned long long)x->count);
	fg_ctl_kv(o, "notified", "%s", notified(x));
	fg_ctl_kv(o, "detail", "%s", x->detail);
	fg_ctl_rec_end(o);
}

static int
by_id(const void *a, const void *b)
{
	int64_t x = (*(const struct fg_incident *const *)a)->id;
	int64_t y = (*(const struct fg_incident *const *)b)->id;

	return (x > y) - (x < y);
}

/* A stored incident as the daemon has it now, when it holds a change
 * the database has not yet: looked up in ids, the daemon's stored ones
 * sorted by id (a database that fails can leave thousands of them
 * unsaved, and a listing looks up as many as 11,000 records). */
static void
stored_rec(struct fg_ctl_out *o, const struct fg_incident *const *ids,
    size_t nids, const struct fg_incident *x)
{
	const struct fg_incident *const *now;

	if (nids > 0 && (now = bsearch(&x, ids, nids, sizeof(*ids),
	    by_id)) != NULL)
		x = *now;
	incident_rec(o, x);
}

/*
 * incidents [SINCE]: open ones, and those that started or ended since
 * (default 7d), newest first: the newest INCIDENTS_MAX of them, then
 * every older one still open (up to FG_INCIDENTS_OWED_MAX): an account
 * suspended for weeks must not drop out of the list under a burst of
 * newer incidents. What is cut is said in a last record.
 */
#define INCIDENTS_MAX	1000
void
fg_inspect_incidents(struct fg_inspect *in, const struct fg_ctl_req *req,
    struct fg_ctl_out *o)
{
	struct fg_incident *inc, *old = NULL;
	const struct fg_incident **ids = NULL;
	uint32_t since = 7 * 86400, from;
	size_t n, nold = 0, nids = 0, i, listed = 0;
	char err[FG_ERRLEN];

	if (req->argc > 1 || (req->argc == 1 &&
	    fg_parse_since(req->argv[0], &since) < 0)) {
		fg_ctl_error(o, "incidents: expected [--since DURATION], such as --since 7d");
		return;
	}
	from = in->now > since ? in->now - since : 0;
	if (in->store == NULL || fg_store_incidents(in->store, 0, from,
	    INCIDENTS_MAX + 1, &inc, &n, err, sizeof(err)) < 0) {
		fg_ctl_error(o, "incidents: database: %s", in->store ? err : "none");
		return;
	}
	if (n > INCIDENTS_MAX && fg_store_incidents_open_before(in->store,
	    inc[INCIDENTS_MAX - 1].started, inc[INCIDENTS_MAX - 1].id,
	    FG_INCIDENTS_OWED_MAX + 1, &old, &nold, err, sizeof(err)) < 0) {
		fg_ctl_error(o, "incidents: database: %s", err);
		free(inc);
		return;
	}
	if (in->nlive > 0 && (ids = calloc(in->nlive, sizeof(*ids))) == NULL) {
		fg_ctl_error(o, "incidents: out of memory");
		free(inc);
		free(old);
		return;
	}
	for (i = 0; i < in->nlive; i++)
		if (in->live[i].id != 0)
			ids[nids++] = &in->live[i];
	if (nids > 1)
		qsort(ids, nids, sizeof(*ids), by_id);
	fg_ctl_ok(o);
	/* Not in the database yet (id 0): the newest. */
	for (i = 0; i < in->nlive; i++)
		if (in->live[i].id == 0 && (in->live[i].ended == 0 ||
		    in->live[i].ended >= from)) {
			incident_rec(o, &in->live[i]);
			listed++;
		}
	for (i = 0; i < n && i < INCIDENTS_MAX; i++, listed++)
		stored_rec(o, ids, nids, &inc[i]);
	for (i = 0; i < nold && i < FG_INCIDENTS_OWED_MAX; i++, listed++)
		stored_rec(o, ids, nids, &old[i]);
	if (n > INCIDENTS_MAX) {	/* never cut off unsaid */
		fg_ctl_kv(o, "type", "more");
		fg_ctl_kv(o, "listed", "%zu", listed);
		if (nold > FG_INCIDENTS_OWED_MAX)
			fg_ctl_kv(o, "note", "older incidents are not listed, and of those still open only the newest %d; a shorter --since lists fewer",
			    FG_INCIDENTS_OWED_MAX);
		else
			fg_ctl_kv(o, "note", "older incidents that ended are not listed (every open one is); a shorter --since lists fewer");
		fg_ctl_rec_end(o);
	}
	fg_ctl_end(o);
	free(ids);
	free(inc);
	free(old);
}

fg_inspector
fg_inspect_for(int verb)
{
	switch (verb) {
	case FG_CTL_PAUSES: return fg_inspect_pauses;
	case FG_CTL_INCIDENTS: return fg_inspect_incidents;
	case FG_CTL_TOP: return fg_inspect_top;
	case FG_CTL_SHOW: return fg_inspect_show;
	case FG_CTL_EXPLAIN: return fg_inspect_explain;
	case FG_CTL_HELD: return fg_inspect_held;
	default: return NULL;
	}
}
