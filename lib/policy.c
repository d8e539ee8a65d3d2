/*
 * One message's decisions: who sends it, which recipients pass, what is
 * reserved, and what the MTA is told. A recipient is decided against every
 * rule that applies to it at once; refused recipients are charged nothing;
 * what passes is reserved until the message ends.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "log.h"
#include "policy.h"
#include "rules.h"
#include "table.h"
#include "util.h"

#define MAX_RULES	64

static void reply(struct fg_verdict *v, enum fg_smtp smtp, const char *rcode,
    const char *xcode, const char *fmt, ...) FG_PRINTF(5, 6);
static void record(struct fg_msg *m, struct fg_engine *e, uint32_t now,
    const char *rule, const char *dest, const char *action, uint64_t used,
    uint32_t limit, uint32_t retry);
static int paid(const struct fg_msg *m, const char *rule, const char *key);
static void remember_paid(struct fg_msg *m, const char *rule, const char *key);
static void custom_text(char *out, size_t len, const char *tmpl,
    const char *retry);
static size_t collect(const struct fg_config *c, const char *account,
    const char *dom, const char *client, struct fg_check *chk,
    const struct fg_rule **rr, char (*keys)[FG_KEYLEN], size_t max);

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
    const char *client, const char *login, const char *sender, int local)
{
	memset(m, 0, sizeof(*m));
	m->local = local;
	m->cfg = fg_config_ref(cfg);
	fg_strlcpy(m->session, session, sizeof(m->session));
	fg_strlcpy(m->client, client ? client : "", sizeof(m->client));
	fg_account_resolve(cfg, login, sender, client, &m->acct);
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

static int
paid(const struct fg_msg *m, const char *rule, const char *key)
{
	size_t i, rl = strlen(rule);

	for (i = 0; i < m->npaid; i++)
		if (strncmp(m->paid[i], rule, rl) == 0 &&
		    m->paid[i][rl] == FG_KEY_SEP &&
		    strcmp(m->paid[i] + rl + 1, key) == 0)
			return 1;
	return 0;
}

static void
remember_paid(struct fg_msg *m, const char *rule, const char *key)
{
	size_t len = strlen(rule) + strlen(key) + 2;
	char *s = malloc(len);
	void *a;

	if (s == NULL)
		return;
	snprintf(s, len, "%s%c%s", rule, FG_KEY_SEP, key);
	if ((a = realloc(m->paid, (m->npaid + 1) * sizeof(*m->paid))) == NULL) {
		free(s);
		return;
	}
	m->paid = a;
	m->paid[m->npaid++] = s;
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
	fg_stats_event(e->stats, &ev);
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
 * by the rule's scope, at this account's rate.
 */
static size_t
collect(const struct fg_config *c, const char *account, const char *dom,
    const char *client, struct fg_check *chk, const struct fg_rule **rr,
    char (*keys)[FG_KEYLEN], size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < c->nrule && n < max; i++) {
		const struct fg_rule *r = &c->rule[i];
		struct fg_check *k = &chk[n];

		if (r->is_cap || !fg_dests_match(&r->dests, dom))
			continue;
		if (fg_rule_key(r, account, dom, client, keys[n], FG_KEYLEN) < 0)
			continue;
		memset(k, 0, sizeof(*k));
		k->rule = r->name;
		k->key = keys[n];
		fg_rule_rate(r, account, &k->limit, &k->period);
		k->cost = 1;
		k->hard = r->action >= FG_ACT_HOLD;
		rr[n++] = r;
	}
	return n;
}

/* Would a recipient pass now? What every rule says; nothing is charged. */
size_t
fg_policy_explain(const struct fg_config *c, struct fg_limiter *l,
    const struct fg_account *acct, const char *client, const char *rcpt,
    uint32_t now, struct fg_explain *out, size_t max, int *exempt)
{
	struct fg_check chk[MAX_RULES];
	const struct fg_rule *rr[MAX_RULES];
	char (*keys)[FG_KEYLEN] = malloc(MAX_RULES * FG_KEYLEN);
	struct fg_addr a;
	size_t i, n;

	if (keys == NULL)
		return 0;
	if (fg_addr_parse(rcpt, &a, NULL, 0) != FG_ADDR_OK)
		a.domain[0] = '\0';
	*exempt = fg_exempt_account(c, acct->identity, acct->name) ||
	    fg_exempt_client(c, client) ||
	    (c->ex_domain.n > 0 && fg_dests_match(&c->ex_domain, a.domain));
	n = collect(c, acct->name, a.domain, client ? client : "", chk, rr,
	    keys, max < MAX_RULES ? max : MAX_RULES);
	fg_limiter_peek(l, chk, n, now);
	for (i = 0; i < n; i++) {
		out[i].rule = rr[i];
		out[i].check = chk[i];
		fg_strlcpy(out[i].key, keys[i], sizeof(out[i].key));
		out[i].check.key = out[i].key;
	}
	free(keys);
	return n;
}

void
fg_msg_rcpt(struct fg_msg *m, struct fg_engine *e, const char *rcpt,
    uint32_t now, struct fg_verdict *v)
{
	const struct fg_config *c = m->cfg;
	struct fg_check chk[MAX_RULES];
	const struct fg_rule *rr[MAX_RULES];
	char keys[MAX_RULES][FG_KEYLEN];
	struct fg_addr a;
	const char *dom;
	size_t i, n = 0;
	int rc, worst = -1;

	memset(v, 0, sizeof(*v));
	v->smtp = FG_CONTINUE;
	if (fg_addr_parse(rcpt, &a, NULL, 0) != FG_ADDR_OK)
		a.domain[0] = '\0';	/* counted, but no "to" rule matches */
	dom = a.domain;

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
			return;
		}
	}
	if (m->exempt || (c->ex_domain.n > 0 &&
	    fg_dests_match(&c->ex_domain, dom)))
		goto accepted;

	n = collect(c, m->acct.name, dom, m->client, chk, rr, keys, MAX_RULES);
	for (i = 0; i < n; i++)
		if (rr[i]->count_messages && paid(m, rr[i]->name, keys[i]))
			chk[i].cost = 0;
	rc = fg_limiter_reserve(e->limiter, chk, n, now, &m->resv);
	if (rc == FG_RESERVE_ERROR) {
		fg_log_err("session=%s account=%s dest=%s: cannot reserve (out of memory)",
		    m->session, m->acct.name, dom);
		reply(v, FG_TEMPFAIL, "451", "4.3.0",
		    "floodgate: temporary failure, try again later");
		return;
	}
	for (i = 0; i < n; i++) {
		if (!chk[i].over)
			continue;
		if (rc == FG_RESERVED)	/* tag and log rules only */
			record(m, e, now, rr[i]->name, dom,
			    fg_action_name(rr[i]->action), chk[i].used,
			    chk[i].limit, chk[i].retry);
		if (rr[i]->action == FG_ACT_TAG &&
		    strstr(m->tag, rr[i]->name) == NULL &&
		    strlen(m->tag) + strlen(rr[i]->name) + 2 < sizeof(m->tag)) {
			if (m->tag[0] != '\0')
				strcat(m->tag, " ");
			strcat(m->tag, rr[i]->name);
		}
		if (chk[i].hard && (worst < 0 ||
		    rr[i]->action > rr[worst]->action))
			worst = (int)i;
	}
	if (rc == FG_REFUSED) {
		const struct fg_rule *r = rr[worst];
		const struct fg_check *k = &chk[worst];
		char rate[32], retry[32], text[sizeof(v->text)];
		enum fg_stat st = r->action == FG_ACT_REJECT ? FG_ST_REJECTED :
		    r->action == FG_ACT_HOLD ? FG_ST_HELD : FG_ST_DEFERRED;

		fg_format_duration(k->period, rate, sizeof(rate));
		fg_format_duration(k->retry, retry, sizeof(retry));
		if (c->monitor) {
			/* Said and logged as enforce would, never done. */
			record(m, e, now, r->name, dom, fg_action_name(r->action),
			    k->used, k->limit, k->retry);
			goto accepted;
		}
		if (m->local && r->action != FG_ACT_HOLD && c->local_tempfail) {
			/* Decided for the whole message at its end. */
			record(m, e, now, r->name, dom, "defer-local", k->used,
			    k->limit, k->retry);
			if (!m->tempfail) {
				m->tempfail = 1;
				fg_strlcpy(m->hold_rule, r->name,
				    sizeof(m->hold_rule));
			}
			goto accepted;
		}
		if (r->action == FG_ACT_HOLD || m->local) {
			/* Local mail over a limit is held, never bounced or
			 * deferred into pickup's endless retries. */
			record(m, e, now, r->name, dom, "hold", k->used,
			    k->limit, k->retry);
			if (!m->hold) {
				m->hold = 1;
				fg_strlcpy(m->hold_rule, r->name,
				    sizeof(m->hold_rule));
			}
			goto accepted;
		}
		fg_stats_count(e->stats, now, m->acct.name, dom, st, 1);
		record(m, e, now, r->name, dom, fg_action_name(r->action),
		    k->used, k->limit, k->retry);
		if (r->reply)
			custom_text(text, sizeof(text), r->reply, retry);
		else if (r->action == FG_ACT_REJECT)
			snprintf(text, sizeof(text),
			    "floodgate: %s limit reached (%u/%s)",
			    r->name, k->limit, rate);
		else
			snprintf(text, sizeof(text),
			    "floodgate: %s limit reached (%u/%s), retry in %s",
			    r->name, k->limit, rate, retry);
		if (r->action == FG_ACT_REJECT)
			reply(v, FG_REJECT, "550", "5.7.1", "%s", text);
		else
			reply(v, FG_TEMPFAIL, "451", "4.7.1", "%s", text);
		return;
	}
	for (i = 0; i < n; i++)
		if (rr[i]->count_messages && chk[i].cost > 0)
			remember_paid(m, rr[i]->name, keys[i]);
	goto accepted;

accepted:
	for (i = 0; i < c->nrule; i++)
		if (c->rule[i].is_cap && fg_dests_match(&c->rule[i].dests, dom))
			m->capcount[i]++;
	remember_domain(m, dom);
}

/* End of message: what was reserved is now spent. */
void
fg_msg_commit(struct fg_msg *m, struct fg_engine *e, uint32_t now)
{
	enum fg_stat st = FG_ST_ACCEPTED;
	size_t i;

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
	fg_stats_event(e->stats, &ev);
}

/*
 * A held message, to be released now if its account's budget allows all
 * of its recipients (one domain each in `domains`). On 0 the message is
 * reserved: commit once the MTA has it back, abort otherwise.
 */
int
fg_msg_release(struct fg_msg *m, struct fg_config *cfg, struct fg_engine *e,
    const char *account, const char *domains, uint32_t now)
{
	struct fg_verdict v;
	char rcpt[FG_DOMAIN_MAX + 16];
	const char *p = domains, *comma;

	fg_msg_begin(m, cfg, "release", "", NULL, NULL, 1);
	if (m->capcount == NULL) {
		fg_msg_abort(m, e);
		return -1;
	}
	m->quiet = 1;
	fg_strlcpy(m->acct.name, account, sizeof(m->acct.name));
	fg_strlcpy(m->acct.identity, account, sizeof(m->acct.identity));
	m->exempt = 0;
	do {
		size_t len;

		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len > FG_DOMAIN_MAX)
			len = FG_DOMAIN_MAX;
		snprintf(rcpt, sizeof(rcpt), len ? "r@%.*s" : "r", (int)len, p);
		fg_msg_rcpt(m, e, rcpt, now, &v);
		if (m->hold || m->tempfail || v.smtp != FG_CONTINUE) {
			fg_msg_abort(m, e);
			return -1;
		}
		p = comma ? comma + 1 : NULL;
	} while (p != NULL);
	return 0;
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
	fg_limiter_release(e->limiter, &m->resv);
	fg_resv_free(&m->resv);
	for (i = 0; i < m->npaid; i++)
		free(m->paid[i]);
	free(m->paid);
	for (i = 0; i < m->ndom; i++)
		free(m->dom[i]);
	free(m->dom);
	free(m->capcount);
	fg_config_unref(m->cfg);
	memset(m, 0, sizeof(*m));
}
