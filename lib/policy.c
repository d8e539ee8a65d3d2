/*
 * One message's decisions: who sends it, which recipients pass, what is
 * reserved, and what the MTA is told. A recipient is decided against every
 * rule that applies to it at once; refused recipients are charged nothing;
 * what passes is reserved until the message ends.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "log.h"
#include "policy.h"
#include "rules.h"
#include "util.h"
#include "wkey.h"

/*
 * The checks of one recipient: one per limit rule that applies, so at
 * most as many as the configuration has rules. Up to STACK_RULES live on
 * the stack; a configuration with more takes them from the heap.
 */
#define STACK_RULES	16

struct checks {
	struct fg_check *chk;
	const struct fg_rule **rr;
	char (*keys)[FG_KEY_MAX + 1];
	size_t n;
	void *heap;
	struct fg_check schk[STACK_RULES];
	const struct fg_rule *srr[STACK_RULES];
	char skeys[STACK_RULES][FG_KEY_MAX + 1];
};

static void reply(struct fg_verdict *v, enum fg_smtp smtp, const char *rcode,
    const char *xcode, const char *fmt, ...) FG_PRINTF(5, 6);
static void record(struct fg_msg *m, struct fg_engine *e, uint32_t now,
    const char *rule, const char *dest, const char *action, uint64_t used,
    uint32_t limit, uint32_t retry);
static void custom_text(char *out, size_t len, const char *tmpl,
    const char *retry);
static int collect(const struct fg_config *c, const char *account,
    const char *dom, const char *client, struct checks *k);
static void checks_free(struct checks *k);
static int behind(const struct fg_msg *m, const struct checks *k);
static void wait_behind(struct fg_msg *m, const struct checks *k);

static void
reply(struct fg_verdict *v, enum fg_smtp smtp, const char *rcode,
    const char *xcode, const char *fmt, ...)
{
	va_list ap;

	v->smtp = smtp;
	fg_strlcpy(v->rcode, rcode, sizeof(v->rcode));
	fg_strlcpy(v->xcode, xcode, sizeof(v->xcode));
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
}

void
fg_msg_begin(struct fg_msg *m, struct fg_config *cfg, const char *session,
    const char *client, const char *login, const char *user,
    const char *sender, int local)
{
	memset(m, 0, sizeof(*m));
	m->local = local;
	m->cfg = fg_config_ref(cfg);
	fg_strlcpy(m->session, session, sizeof(m->session));
	fg_strlcpy(m->client, client ? client : "", sizeof(m->client));
	if (fg_account_resolve(cfg, login, user, sender, client,
	    &m->acct) < 0) {
		fg_log_err("session=%s: cannot read the sender (out of memory)",
		    session);
		return;	/* no capcount: out of memory */
	}
	m->exempt = fg_exempt_account(cfg, m->acct.identity, m->acct.name) ||
	    fg_exempt_client(cfg, client);
	m->capcount = calloc(cfg->nrule ? cfg->nrule : 1, sizeof(*m->capcount));
}

int
fg_msg_active(const struct fg_msg *m)
{
	return m->cfg != NULL;
}

/*
 * Whether the message may be charged at DATA: charge_at data, and nothing
 * is left for the end of the message (a hold, a header, a local deferral).
 * Local mail always waits for the end: a later failure leaves it in
 * maildrop, and pickup would present it again every minute, charged anew.
 */
int
fg_msg_data_charge(const struct fg_msg *m)
{
	return m->cfg != NULL && !m->cfg->charge_at_end && !m->local &&
	    !m->hold && !m->tempfail && m->tag[0] == '\0';
}

/*
 * Whether a message has paid a messages-count rule's window already
 * (one lookup per rule and recipient, however many windows it paid), or
 * a release waits behind a window.
 */
static int
in_set(const struct fg_strset *set, const struct fg_check *chk)
{
	char w[FG_WKEY_MAX + 1];

	return fg_wkey_join(chk->rule, chk->key, w, sizeof(w)) == 0 &&
	    fg_strset_has(set, w);
}

static void
add_set(struct fg_strset *set, const struct fg_check *chk)
{
	char w[FG_WKEY_MAX + 1];

	if (fg_wkey_join(chk->rule, chk->key, w, sizeof(w)) == 0)
		(void)fg_strset_add(set, w);
}

static int
behind(const struct fg_msg *m, const struct checks *k)
{
	size_t i;

	for (i = 0; m->behind != NULL && i < k->n; i++)
		if (in_set(m->behind, &k->chk[i]))
			return 1;
	return 0;
}

/* A release that does not fit: later held mail that needs the windows
 * that refused it waits behind it, keeping its order there. */
static void
wait_behind(struct fg_msg *m, const struct checks *k)
{
	size_t i;

	for (i = 0; m->behind != NULL && i < k->n; i++)
		if (k->chk[i].over && k->chk[i].hard)
			add_set(m->behind, &k->chk[i]);
}

static void
remember_domain(struct fg_msg *m, const char *dom)
{
	if (m->ndom == m->domcap) {
		size_t cap = m->domcap ? m->domcap * 2 : 8;
		void *a = realloc(m->dom, cap * sizeof(*m->dom));

		if (a == NULL)
			return;
		m->dom = a;
		m->domcap = cap;
	}
	if ((m->dom[m->ndom] = fg_strdup(dom)) != NULL)
		m->ndom++;
}

/* The part of an event row that comes from the message itself. */
static void
message_event(const struct fg_msg *m, struct fg_event *ev, uint32_t now,
    const char *rule, const char *action)
{
	memset(ev, 0, sizeof(*ev));
	ev->time = now;
	fg_strlcpy(ev->session, m->session, sizeof(ev->session));
	fg_strlcpy(ev->queue_id, m->queue_id, sizeof(ev->queue_id));
	fg_strlcpy(ev->account, m->acct.name, sizeof(ev->account));
	fg_strlcpy(ev->rule, rule, sizeof(ev->rule));
	fg_strlcpy(ev->action, action, sizeof(ev->action));
}

static void
record(struct fg_msg *m, struct fg_engine *e, uint32_t now, const char *rule,
    const char *dest, const char *action, uint64_t used, uint32_t limit,
    uint32_t retry)
{
	struct fg_event ev;

	if (m->quiet)
		return;
	message_event(m, &ev, now, rule, action);
	ev.used = used > UINT32_MAX ? UINT32_MAX : (uint32_t)used;
	ev.limit = limit;
	ev.retry = retry;
	fg_strlcpy(ev.dest, dest, sizeof(ev.dest));
	/* Past the account's lines for this minute: folded, and said
	 * with its count when the service writes it. */
	if (!fg_stats_event(e->stats, &ev))
		return;
	fg_log_notice("session=%s qid=%s account=%s source=%s rule=%s dest=%s action=%s used=%llu limit=%u retry=%us%s",
	    m->session, m->queue_id[0] ? m->queue_id : "-", m->acct.name,
	    fg_source_name(m->acct.source), rule, dest[0] ? dest : "(local)",
	    action, (unsigned long long)used, limit, retry,
	    m->cfg->monitor ? " mode=monitor" : "");
}

/* The operator's reply text, with %r standing for the retry time. */
static void
custom_text(char *out, size_t len, const char *tmpl, const char *retry)
{
	size_t o = 0;

	for (; *tmpl != '\0' && o + 1 < len; tmpl++) {
		if (tmpl[0] == '%' && tmpl[1] == 'r') {
			o += fg_strlcpy(out + o, retry, len - o);
			if (o >= len)
				o = len - 1;
			tmpl++;
		} else
			out[o++] = *tmpl;
	}
	out[o] = '\0';
}

/*
 * The checks of every limit rule that applies to this destination, keyed
 * by the rule's scope, at this account's rate. -1 without memory.
 */
static int
collect(const struct fg_config *c, const char *account, const char *dom,
    const char *client, struct checks *k)
{
	size_t i;

	k->heap = NULL;
	k->n = 0;
	if (c->nrule <= STACK_RULES) {
		k->chk = k->schk;
		k->rr = k->srr;
		k->keys = k->skeys;
	} else {
		size_t one = sizeof(*k->chk) + sizeof(*k->rr) + sizeof(*k->keys);
		char *p = malloc(c->nrule * one);

		if ((k->heap = p) == NULL)
			return -1;
		k->chk = (struct fg_check *)(void *)p;
		k->keys = (char (*)[FG_KEY_MAX + 1])(p + c->nrule *
		    sizeof(*k->chk));
		k->rr = (const struct fg_rule **)(void *)(p + c->nrule *
		    (sizeof(*k->chk) + sizeof(*k->keys)));
	}
	for (i = 0; i < c->nrule; i++) {
		const struct fg_rule *r = &c->rule[i];
		struct fg_check *chk = &k->chk[k->n];

		if (r->is_cap || fg_rule_feedback(r) ||
		    !fg_dests_match(&r->dests, dom))
			continue;
		if (fg_rule_key(r, account, dom, client, k->keys[k->n],
		    sizeof(k->keys[0])) < 0)
			continue;
		memset(chk, 0, sizeof(*chk));
		chk->rule = r->name;
		chk->key = k->keys[k->n];
		fg_rule_rate(r, account, &chk->limit, &chk->period);
		chk->cost = 1;
		chk->hard = r->action >= FG_ACT_HOLD;
		k->rr[k->n++] = r;
	}
	return 0;
}

static void
checks_free(struct checks *k)
{
	free(k->heap);
	k->heap = NULL;
}

/* Would a recipient pass now? What every rule says; nothing is charged. */
long
fg_policy_explain(const struct fg_config *c, struct fg_limiter *l,
    const struct fg_account *acct, const char *client, const char *rcpt,
    uint32_t now, struct fg_explain **out, int *exempt, char *dom)
{
	struct checks k;
	struct fg_addr a;
	size_t i;
	int rc;

	*out = NULL;
	/* A routed recipient, as the milter counts one the MTA has not
	 * resolved. */
	if ((rc = fg_addr_plain(rcpt)) == 1)
		rc = fg_addr_parse(rcpt, &a, NULL, 0);
	else if (rc == 0)
		rc = fg_route_domain(c, rcpt, &a);
	if (rc == FG_ADDR_NOMEM)
		return -1;
	if (rc != FG_ADDR_OK)
		a.domain[0] = '\0';
	fg_strlcpy(dom, a.domain, FG_DOMAIN_MAX + 1);
	*exempt = 0;
	if (fg_exempt_account(c, acct->identity, acct->name) ||
	    fg_exempt_client(c, client))
		*exempt |= FG_EXEMPT_SENDER;
	if (c->ex_domain.n > 0 && fg_dests_match(&c->ex_domain, a.domain))
		*exempt |= FG_EXEMPT_DEST;
	if (collect(c, acct->name, a.domain, client ? client : "", &k) < 0)
		return -1;
	if ((*out = calloc(k.n ? k.n : 1, sizeof(**out))) == NULL) {
		checks_free(&k);
		return -1;
	}
	fg_limiter_peek(l, k.chk, k.n, now);
	for (i = 0; i < k.n; i++) {
		(*out)[i].rule = k.rr[i];
		(*out)[i].check = k.chk[i];
		fg_strlcpy((*out)[i].key, k.keys[i], sizeof((*out)[i].key));
		(*out)[i].check.key = (*out)[i].key;
	}
	checks_free(&k);
	return (long)k.n;
}

/* Whether name is one of the blank-separated words of list. */
static int
has_word(const char *list, const char *name)
{
	size_t nl = strlen(name);
	const char *p;

	for (p = list; (p = strstr(p, name)) != NULL; p += nl)
		if ((p == list || p[-1] == ' ') && (p[nl] == ' ' || p[nl] == '\0'))
			return 1;
	return 0;
}

/* A recipient over a tag rule: the header names the rule once. */
static void
add_tag(struct fg_msg *m, const char *rule)
{
	size_t used = strlen(m->tag);

	if (has_word(m->tag, rule) ||
	    used + strlen(rule) + 2 > sizeof(m->tag))
		return;
	if (used > 0)
		m->tag[used++] = ' ';
	fg_strlcpy(m->tag + used, rule, sizeof(m->tag) - used);
}

/*
 * A recipient over a rule that refuses (hold, defer, suspend, reject):
 * what it gets. 1 when the recipient is accepted all the same (monitor
 * mode; local mail, held or deferred at the end of the message; a hold),
 * 0 when v holds the refusal.
 */
static int
over(struct fg_msg *m, struct fg_engine *e, struct fg_verdict *v,
    const struct fg_rule *r, const struct fg_check *ck, const char *dom,
    uint32_t now)
{
	const struct fg_config *c = m->cfg;
	char rate[32], retry[32], text[sizeof(v->text)];
	enum fg_stat st = r->action == FG_ACT_REJECT ? FG_ST_REJECTED :
	    r->action == FG_ACT_HOLD ? FG_ST_HELD : FG_ST_DEFERRED;

	fg_format_duration(ck->period, rate, sizeof(rate));
	fg_format_duration(ck->retry, retry, sizeof(retry));
	if (c->monitor) {
		/* Said and logged as enforce would, never done. */
		record(m, e, now, r->name, dom, fg_action_name(r->action),
		    ck->used, ck->limit, ck->retry);
		return 1;
	}
	/* Logged below as action=suspend; the account's later recipients
	 * meet the suspension first (action=suspended). */
	if (r->action == FG_ACT_SUSPEND && e->blocks != NULL)
		(void)fg_blocks_suspend(e->blocks, m->acct.name, r->name, now, 0);
	if (m->local && r->action != FG_ACT_HOLD && c->local_tempfail) {
		/* Decided for the whole message at its end. */
		record(m, e, now, r->name, dom, "defer-local", ck->used,
		    ck->limit, ck->retry);
		if (!m->tempfail) {
			m->tempfail = 1;
			fg_strlcpy(m->hold_rule, r->name, sizeof(m->hold_rule));
		}
		return 1;
	}
	if (r->action == FG_ACT_HOLD || m->local) {
		/* Local mail over a limit is held, never bounced or deferred
		 * into pickup's endless retries. */
		record(m, e, now, r->name, dom, "hold", ck->used, ck->limit,
		    ck->retry);
		if (!m->hold) {
			m->hold = 1;
			fg_strlcpy(m->hold_rule, r->name, sizeof(m->hold_rule));
		}
		return 1;
	}
	fg_stats_count(e->stats, now, m->acct.name, dom, st, 1);
	record(m, e, now, r->name, dom, fg_action_name(r->action),
	    ck->used, ck->limit, ck->retry);
	if (r->reply)
		custom_text(text, sizeof(text), r->reply, retry);
	else if (r->action == FG_ACT_SUSPEND)
		snprintf(text, sizeof(text), "floodgate: account suspended (%s)",
		    r->name);
	else if (fg_rule_feedback(r))
		snprintf(text, sizeof(text),
		    "floodgate: %s: too many %s recipients (%u/%s)%s%s",
		    r->name, r->count == FG_COUNT_UNKNOWN ? "unknown" : "bounced",
		    ck->limit, rate, r->action == FG_ACT_REJECT ? "" :
		    ", retry in ", r->action == FG_ACT_REJECT ? "" : retry);
	else if (r->action == FG_ACT_REJECT)
		snprintf(text, sizeof(text),
		    "floodgate: %s limit reached (%u/%s)",
		    r->name, ck->limit, rate);
	else
		snprintf(text, sizeof(text),
		    "floodgate: %s limit reached (%u/%s), retry in %s",
		    r->name, ck->limit, rate, retry);
	if (r->action == FG_ACT_REJECT)
		reply(v, FG_REJECT, "550", "5.7.1", "%s", text);
	else
		reply(v, FG_TEMPFAIL, "451", "4.7.1", "%s", text);
	return 0;
}

/*
 * What delivery feedback blocks: a suspended account, a paused
 * destination. 1 with v set when the recipient is refused; local mail
 * is held instead.
 */
static int
blocked(struct fg_msg *m, struct fg_engine *e, struct fg_verdict *v,
    const char *dom, uint32_t now)
{
	struct fg_suspension s;
	struct fg_pause p;
	const char *rule;
	char until[32];

	if (e->blocks == NULL)
		return 0;
	if (dom[0] != '\0' && fg_blocks_paused(e->blocks, dom, now, &p)) {
		fg_format_until(p.until, now, until, sizeof(until));
		rule = p.rule;
		reply(v, FG_TEMPFAIL, "451", "4.7.1",
		    "floodgate: %s paused until %s", dom, until);
		record(m, e, now, rule, dom, "paused", 0, 0, p.until - now);
	} else if (!m->exempt &&
	    fg_blocks_suspended(e->blocks, m->acct.name, now, &s)) {
		/* A suspension that ends by itself says when, as a pause
		 * does; one until resume says nothing more. */
		rule = s.rule;
		if (s.until != 0) {
			fg_format_until(s.until, now, until, sizeof(until));
			reply(v, FG_TEMPFAIL, "451", "4.7.1",
			    "floodgate: account suspended until %s", until);
		} else
			reply(v, FG_TEMPFAIL, "451", "4.7.1",
			    "floodgate: account suspended");
		record(m, e, now, rule, dom, "suspended", 0, 0,
		    s.until != 0 ? s.until - now : 0);
	} else
		return 0;
	if (m->cfg->monitor) {
		memset(v, 0, sizeof(*v));
		v->smtp = FG_CONTINUE;
		return 0;
	}
	if (m->local) {
		memset(v, 0, sizeof(*v));
		v->smtp = FG_CONTINUE;
		if (!m->hold) {
			m->hold = 1;
			fg_strlcpy(m->hold_rule, rule, sizeof(m->hold_rule));
		}
		return 0;
	}
	fg_stats_count(e->stats, now, m->acct.name, dom, FG_ST_DEFERRED, 1);
	return 1;
}

int
fg_feedback_over(struct fg_limiter *l, const struct fg_rule *r,
    const char *account, const char *key, uint32_t now, struct fg_check *ck,
    uint64_t *total)
{
	char all[FG_WRULE_MAX + 1];
	struct fg_check tot;

	memset(ck, 0, sizeof(*ck));
	ck->rule = r->name;
	ck->key = key;
	ck->cost = 1;
	fg_rule_rate(r, account, &ck->limit, &ck->period);
	fg_limiter_peek(l, ck, 1, now);
	if (total != NULL)
		*total = 0;
	if (r->ratio == 0 && total == NULL)
		return ck->over;
	tot = *ck;
	snprintf(all, sizeof(all), "%s%s", r->name, FG_WRULE_ALL);
	tot.rule = all;
	fg_limiter_peek(l, &tot, 1, now);
	if (total != NULL)
		*total = tot.used;
	return ck->over && (r->ratio == 0 ||
	    ck->used * 100 >= (uint64_t)r->ratio * tot.used);
}

void
fg_feedback_counts(struct fg_limiter *l, const struct fg_rule *r,
    const char *account, const char *key, uint32_t now, uint64_t *final,
    uint64_t *bounced, uint64_t *unknown)
{
	static const char *const sfx[3] = { FG_WRULE_ALL, FG_WRULE_BOUNCED,
	    FG_WRULE_UNKNOWN };
	uint64_t *out[3] = { final, bounced, unknown };
	char name[FG_WRULE_MAX + 1];
	struct fg_check ck;
	int i;

	for (i = 0; i < 3; i++) {
		memset(&ck, 0, sizeof(ck));
		/* The rule's own window counts one of the three. */
		if ((i == 1 && r->count == FG_COUNT_BOUNCES) ||
		    (i == 2 && r->count == FG_COUNT_UNKNOWN))
			fg_strlcpy(name, r->name, sizeof(name));
		else
			snprintf(name, sizeof(name), "%s%s", r->name, sfx[i]);
		ck.rule = name;
		ck.key = key;
		ck.cost = 1;
		fg_rule_rate(r, account, &ck.limit, &ck.period);
		fg_limiter_peek(l, &ck, 1, now);
		*out[i] = ck.used;
	}
}

/*
 * The feedback limits that apply: tripped while their window of unknown
 * or bounced recipients holds N or more (and, with ratio, they are at
 * least P% of the results in the window). Nothing is charged here: the
 * delivery log charges them. The worst tripped rule refusing, or -1;
 * tag and log rules are recorded on the way.
 */
static int
feedback(struct fg_msg *m, struct fg_engine *e, const char *dom,
    uint32_t now, struct fg_check *worst_ck, char *key, size_t keylen)
{
	const struct fg_config *c = m->cfg;
	int worst = -1;
	size_t i;

	for (i = 0; i < c->nrule; i++) {
		const struct fg_rule *r = &c->rule[i];
		char k[FG_KEY_MAX + 1];
		struct fg_check ck;

		if (!fg_rule_feedback(r) || !fg_dests_match(&r->dests, dom) ||
		    fg_rule_key(r, m->acct.name, dom, m->client, k, sizeof(k)) < 0 ||
		    !fg_feedback_over(e->limiter, r, m->acct.name, k, now, &ck, NULL))
			continue;
		if (r->action < FG_ACT_HOLD) {
			record(m, e, now, r->name, dom, fg_action_name(r->action),
			    ck.used, ck.limit, ck.retry);
			if (r->action == FG_ACT_TAG)
				add_tag(m, r->name);
			continue;
		}
		if (worst < 0 || r->action > c->rule[worst].action) {
			worst = (int)i;
			*worst_ck = ck;
			fg_strlcpy(key, k, keylen);
			worst_ck->key = key;
		}
	}
	return worst;
}

/*
 * A recipient between its checks and their reservation: the in-memory
 * limiter answers at once, a shared store later. The checks stay where
 * collect put them, so the struct is not moved.
 */
struct fg_pending {
	struct checks k;
	char dom[FG_DOMAIN_MAX + 1];
};

void
fg_msg_rcpt_nomem(const struct fg_msg *m, struct fg_verdict *v)
{
	fg_log_err("session=%s qid=%s account=%s: cannot read a recipient (out of memory)",
	    m->session, m->queue_id[0] ? m->queue_id : "-", m->acct.name);
	reply(v, FG_TEMPFAIL, "451", "4.3.0",
	    "floodgate: temporary failure, try again later");
}

/* Caps, blocks, exemptions, feedback limits: what needs no
 * reservation. 0 when that decided (v), 1 when the checks in *pp are to
 * be reserved; -1 out of memory (v says so). */
int
fg_msg_rcpt_begin(struct fg_msg *m, struct fg_engine *e, const char *rcpt,
    uint32_t now, struct fg_verdict *v, struct fg_pending **pp)
{
	const struct fg_config *c = m->cfg;
	struct fg_pending *p;
	struct fg_check fck;
	char fkey[FG_KEY_MAX + 1];
	struct fg_addr a;
	const char *dom;
	size_t i;
	int fb;

	*pp = NULL;
	memset(v, 0, sizeof(*v));
	v->smtp = FG_CONTINUE;
	switch (fg_addr_parse(rcpt, &a, NULL, 0)) {
	case FG_ADDR_OK:
		break;
	case FG_ADDR_NOMEM:
		fg_msg_rcpt_nomem(m, v);
		return -1;
	default:
		a.domain[0] = '\0';	/* counted, but no "to" rule matches */
	}
	dom = a.domain;
	if (m->own)
		goto accepted;	/* floodgate's own notification */

	for (i = 0; i < c->nrule; i++) {
		const struct fg_rule *r = &c->rule[i];

		/* Local mail cannot be refused per recipient, and pickup
		 * hands Postfix the whole message: caps are for SMTP. */
		if (!r->is_cap || m->local || !fg_dests_match(&r->dests, dom))
			continue;
		if (m->capcount[i] >= r->limit) {
			fg_stats_count(e->stats, now, m->acct.name, dom,
			    FG_ST_DEFERRED, 1);
			record(m, e, now, r->name, dom, "cap", m->capcount[i],
			    r->limit, 0);
			reply(v, FG_TEMPFAIL, "452", "4.5.3",
			    "floodgate: too many recipients for %s in one message (cap %s: %u), send the rest in a new message",
			    dom[0] ? dom : "this destination", r->name, r->limit);
			return 0;
		}
	}
	/* A paused carrier is paused for everyone, exempt senders too. */
	if (!m->force && blocked(m, e, v, dom, now))
		return 0;
	if (m->exempt || (c->ex_domain.n > 0 &&
	    fg_dests_match(&c->ex_domain, dom)))
		goto accepted;
	if (!m->force &&
	    (fb = feedback(m, e, dom, now, &fck, fkey, sizeof(fkey))) >= 0) {
		if (over(m, e, v, &c->rule[fb], &fck, dom, now))
			goto accepted;
		return 0;
	}
	if ((p = malloc(sizeof(*p))) == NULL ||
	    collect(c, m->acct.name, dom, m->client, &p->k) < 0) {
		free(p);
		fg_log_err("session=%s account=%s dest=%s: cannot reserve (out of memory)",
		    m->session, m->acct.name, dom);
		reply(v, FG_TEMPFAIL, "451", "4.3.0",
		    "floodgate: temporary failure, try again later");
		return -1;
	}
	fg_strlcpy(p->dom, dom, sizeof(p->dom));
	if (behind(m, &p->k)) {
		/* Only a release sets m->behind: it is told "not now". */
		reply(v, FG_TEMPFAIL, "451", "4.7.1",
		    "floodgate: waits behind earlier held mail");
		checks_free(&p->k);
		free(p);
		return 0;
	}
	for (i = 0; i < p->k.n; i++) {
		if (p->k.rr[i]->count_messages && in_set(&m->paid, &p->k.chk[i]))
			p->k.chk[i].cost = 0;
		if (m->force)
			p->k.chk[i].hard = false;	/* reserved, never refused */
	}
	*pp = p;
	return 1;

accepted:
	for (i = 0; i < c->nrule; i++)
		if (c->rule[i].is_cap && fg_dests_match(&c->rule[i].dests, dom))
			m->capcount[i]++;
	remember_domain(m, dom);
	return 0;
}

/* A recipient that will not be decided (its connection is gone). */
void
fg_pending_free(struct fg_pending *p)
{
	if (p == NULL)
		return;
	checks_free(&p->k);
	free(p);
}

void
fg_pending_checks(struct fg_pending *p, struct fg_check **chk, size_t *n)
{
	*chk = p->k.chk;
	*n = p->k.n;
}

/* The reservation's outcome (rc of fg_limiter_reserve, with the checks
 * filled in) into the verdict. Frees p. */
void
fg_msg_rcpt_end(struct fg_msg *m, struct fg_engine *e, struct fg_pending *p,
    int rc, uint32_t now, struct fg_verdict *v)
{
	const struct fg_config *c = m->cfg;
	struct checks *k = &p->k;
	const char *dom = p->dom;
	size_t i;
	int worst = -1;

	memset(v, 0, sizeof(*v));
	v->smtp = FG_CONTINUE;
	if (rc == FG_RESERVE_ERROR) {
		fg_log_err("session=%s account=%s dest=%s: cannot reserve (out of memory)",
		    m->session, m->acct.name, dom);
		reply(v, FG_TEMPFAIL, "451", "4.3.0",
		    "floodgate: temporary failure, try again later");
		goto out;
	}
	for (i = 0; i < k->n; i++) {
		const struct fg_rule *r = k->rr[i];

		if (!k->chk[i].over)
			continue;
		if (rc == FG_RESERVED)	/* tag and log rules only */
			record(m, e, now, r->name, dom, fg_action_name(r->action),
			    k->chk[i].used, k->chk[i].limit, k->chk[i].retry);
		if (r->action == FG_ACT_TAG)
			add_tag(m, r->name);
		if (k->chk[i].hard && (worst < 0 ||
		    r->action > k->rr[worst]->action))
			worst = (int)i;
	}
	if (rc == FG_REFUSED) {
		wait_behind(m, k);
		if (over(m, e, v, k->rr[worst], &k->chk[worst], dom, now))
			goto accepted;
		goto out;
	}
	for (i = 0; i < k->n; i++)
		if (k->rr[i]->count_messages && k->chk[i].cost > 0)
			add_set(&m->paid, &k->chk[i]);
accepted:
	for (i = 0; i < c->nrule; i++)
		if (c->rule[i].is_cap && fg_dests_match(&c->rule[i].dests, dom))
			m->capcount[i]++;
	remember_domain(m, dom);
out:
	checks_free(k);
	free(p);
}

/* The reservation of a recipient decided at once: the in-memory
 * limiter's, or a shared store's for a thread that may wait. */
int
fg_msg_reserve(struct fg_msg *m, struct fg_engine *e, struct fg_check *chk,
    size_t n, uint32_t now)
{
	if (e->shared_reserve != NULL)
		return e->shared_reserve(e->limiter, chk, n, now, &m->resv,
		    m->cfg->relays);
	return fg_limiter_reserve(e->limiter, chk, n, now, &m->resv);
}

/* A recipient decided at once. */
void
fg_msg_rcpt(struct fg_msg *m, struct fg_engine *e, const char *rcpt,
    uint32_t now, struct fg_verdict *v)
{
	struct fg_pending *p;
	struct fg_check *chk;
	size_t n;
	int rc;

	if (fg_msg_rcpt_begin(m, e, rcpt, now, v, &p) != 1)
		return;
	fg_pending_checks(p, &chk, &n);
	rc = fg_msg_reserve(m, e, chk, n, now);
	fg_msg_rcpt_end(m, e, p, rc, now, v);
}

/* End of message: what was reserved is now spent. */
void
fg_msg_commit(struct fg_msg *m, struct fg_engine *e, uint32_t now)
{
	enum fg_stat st = FG_ST_ACCEPTED;
	size_t i;

	if (e->shared_end != NULL)
		e->shared_end(&m->resv, !m->hold, now);
	if (m->hold) {
		/* Nothing leaves now: it is charged when it is released. */
		fg_limiter_release(e->limiter, &m->resv);
		st = FG_ST_HELD;
	} else
		fg_limiter_commit(e->limiter, &m->resv, now);
	if (m->ndom > 0)
		fg_stats_count(e->stats, now, m->acct.name, NULL, st,
		    (uint32_t)m->ndom);
	for (i = 0; i < m->ndom; i++)
		fg_stats_count(e->stats, now, NULL, m->dom[i], st, 1);
	fg_msg_abort(m, e);
}

/* The message is now in the MTA's hold queue: list it, with why. */
void
fg_msg_held(struct fg_msg *m, struct fg_engine *e, uint32_t now)
{
	struct fg_event ev;

	message_event(m, &ev, now, m->hold_rule, "held");
	ev.used = (uint32_t)m->ndom;
	(void)fg_stats_event(e->stats, &ev);
}

/* A held row's next recipient's domain (its `domains`, one for each,
 * by commas; "" for one without), cut to FG_DOMAIN_MAX; the rest of
 * the list, NULL after the last. */
static const char *
held_domain(const char *p, char dom[FG_DOMAIN_MAX + 1])
{
	const char *comma = strchr(p, ',');
	size_t len = comma ? (size_t)(comma - p) : strlen(p);

	snprintf(dom, FG_DOMAIN_MAX + 1, "%.*s",
	    (int)(len > FG_DOMAIN_MAX ? FG_DOMAIN_MAX : len), p);
	return comma ? comma + 1 : NULL;
}

int
fg_msg_never_fits(const struct fg_config *c, const char *account,
    const char *domains, struct fg_oversize *why)
{
	struct fg_oversize *w = NULL;
	const char *p = domains;
	size_t nw = 0, cap = 0, i, j;
	int rc = 0;

	do {
		char dom[FG_DOMAIN_MAX + 1];
		struct checks k;

		p = held_domain(p, dom);
		/* As a release reads it: exempt destinations count nowhere. */
		if (c->ex_domain.n > 0 && fg_dests_match(&c->ex_domain, dom))
			continue;
		if (collect(c, account, dom, "", &k) < 0) {
			rc = -1;
			break;
		}
		for (i = 0; i < k.n; i++) {
			if (!k.chk[i].hard || k.chk[i].limit == 0)
				continue;
			for (j = 0; j < nw; j++)
				if (w[j].rule == k.rr[i] &&
				    strcmp(w[j].key, k.keys[i]) == 0)
					break;
			if (j < nw) {
				/* a rule counting messages: paid once */
				if (!k.rr[i]->count_messages)
					w[j].need++;
				continue;
			}
			if (nw == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				void *a = realloc(w, ncap * sizeof(*w));

				if (a == NULL) {
					rc = -1;
					break;
				}
				w = a;
				cap = ncap;
			}
			w[nw].rule = k.rr[i];
			fg_strlcpy(w[nw].key, k.keys[i], sizeof(w[nw].key));
			w[nw].need = 1;
			w[nw].limit = k.chk[i].limit;
			w[nw].period = k.chk[i].period;
			nw++;
		}
		checks_free(&k);
	} while (p != NULL && rc == 0);
	for (j = 0; rc == 0 && j < nw; j++)
		if (w[j].need > w[j].limit) {
			*why = w[j];
			rc = 1;
		}
	free(w);
	return rc;
}

/* A held message's recipients (one domain each in `domains`) reserved
 * for its release, or over any limit with `force`. */
static int
release(struct fg_msg *m, struct fg_config *cfg, struct fg_engine *e,
    const char *account, const char *domains, struct fg_strset *behind,
    int force, uint32_t now)
{
	struct fg_verdict v;
	char rcpt[FG_DOMAIN_MAX + 16], dom[FG_DOMAIN_MAX + 1];
	const char *p = domains;

	fg_msg_begin(m, cfg, "release", "", NULL, NULL, NULL, 1);
	if (m->capcount == NULL) {
		fg_msg_abort(m, e);
		return -1;
	}
	m->quiet = 1;
	m->force = force;
	m->behind = behind;
	fg_strlcpy(m->acct.name, account, sizeof(m->acct.name));
	fg_strlcpy(m->acct.identity, account, sizeof(m->acct.identity));
	m->exempt = 0;
	do {
		p = held_domain(p, dom);
		snprintf(rcpt, sizeof(rcpt), dom[0] ? "r@%s" : "r", dom);
		fg_msg_rcpt(m, e, rcpt, now, &v);
		if (m->hold || m->tempfail || v.smtp != FG_CONTINUE) {
			fg_msg_abort(m, e);
			return -1;
		}
	} while (p != NULL);
	return 0;
}

/*
 * A held message, to be released now if its account's budget allows all
 * of its recipients (one domain each in `domains`). On 0 the message is
 * reserved: commit once the MTA has it back, abort otherwise.
 */
int
fg_msg_release(struct fg_msg *m, struct fg_config *cfg, struct fg_engine *e,
    const char *account, const char *domains, struct fg_strset *behind,
    uint32_t now)
{
	return release(m, cfg, e, account, domains, behind, 0, now);
}

int
fg_msg_release_lost(struct fg_msg *m, struct fg_config *cfg,
    struct fg_engine *e, const char *account, const char *domains,
    uint32_t now)
{
	return release(m, cfg, e, account, domains, NULL, 1, now);
}

/* Local mail over a limit with local_action tempfail: nothing is charged
 * (pickup presents the same message again and again). */
void
fg_msg_refuse(struct fg_msg *m, struct fg_engine *e, uint32_t now)
{
	if (m->ndom > 0)
		fg_stats_count(e->stats, now, m->acct.name, NULL, FG_ST_DEFERRED,
		    (uint32_t)m->ndom);
	fg_msg_abort(m, e);
}

/* Abort, RSET, QUIT, a lost connection: reservations go back. */
void
fg_msg_abort(struct fg_msg *m, struct fg_engine *e)
{
	size_t i;

	if (m->cfg == NULL)
		return;
	if (e->shared_end != NULL)
		e->shared_end(&m->resv, 0, 0);
	fg_limiter_release(e->limiter, &m->resv);
	fg_resv_free(&m->resv);
	fg_strset_free(&m->paid);
	for (i = 0; i < m->ndom; i++)
		free(m->dom[i]);
	free(m->dom);
	free(m->capcount);
	fg_config_unref(m->cfg);
	memset(m, 0, sizeof(*m));
}
