/*
 * One MTA connection's milter session: what it negotiated, the client,
 * the message in progress. Reads the macros, calls the policy, maps its
 * verdict to an answer the engine writes. Nothing is decided here.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "address.h"
#include "log.h"
#include "rules.h"
#include "session.h"
#include "sockowner.h"
#include "util.h"

struct fg_session {
	const struct fg_session_env *env;
	char id[FG_SESSION_MAX + 1];
	char client[FG_CLIENT_MAX + 1];
	uint32_t actions;	/* negotiated */
	uint32_t protocol;
	const char *mail_error;	/* MAIL failed without a reply: for RCPT */
	struct fg_msg msg;
	/* A recipient waiting for the shared store. */
	struct fg_pending *pend;
	struct fg_sreserve sr;
	struct fg_ritem items[64];
	uint32_t when;
	unsigned unreadable;	/* recipients not read, this session */
};

const char *const fg_uid_result_names[FG_UID_N] = {
	"user", "system", "remote", "closed", "elsewhere", "failed",
};
static atomic_ullong uid_counts[FG_UID_N];

static void queue_id(struct fg_session *s, const struct fg_macros *mac);
static void defer_hold(struct fg_session *s, struct fg_answer *a,
    const char *why);
static void answer(struct fg_answer *a, char code, const char *rcode,
    const char *xcode, const char *text);
static void held_record(struct fg_session *s);
static void charged(struct fg_session *s);
static const char *local_user(struct fg_session *s,
    const struct fg_config *c, const struct fg_macros *mac, char *buf,
    size_t len);

struct fg_session *
fg_session_new(const struct fg_session_env *env, unsigned long id)
{
	struct fg_session *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		fg_log_err("session: out of memory");
		return NULL;
	}
	s->env = env;
	snprintf(s->id, sizeof(s->id), "%lx", id);
	return s;
}

/* Also reached when the MTA drops the connection mid-transaction. */
void
fg_session_free(struct fg_session *s)
{
	if (s == NULL)
		return;
	fg_pending_free(s->pend);
	fg_msg_abort(&s->msg, s->env->engine);
	free(s);
}

const char *
fg_session_id(const struct fg_session *s)
{
	return s->id;
}

static void
answer(struct fg_answer *a, char code, const char *rcode, const char *xcode,
    const char *text)
{
	a->code = code;
	a->header[0] = a->quarantine[0] = '\0';
	fg_strlcpy(a->rcode, rcode != NULL ? rcode : "", sizeof(a->rcode));
	fg_strlcpy(a->xcode, xcode != NULL ? xcode : "", sizeof(a->xcode));
	fg_strlcpy(a->text, text != NULL ? text : "", sizeof(a->text));
}

/*
 * Ask only for what floodgate uses: every protocol step costs the MTA and
 * floodgate a round trip (fg_mp_negotiate says which).
 */
void
fg_session_negotiate(struct fg_session *s, const struct fg_mp_optneg *mta,
    struct fg_mp_optneg *reply, const char *lists[FG_MP_NSTAGES])
{
	struct fg_config *cfg = s->env->config(s->env->arg);

	fg_mp_negotiate(mta, cfg->store_tempfail, !cfg->charge_at_end,
	    fg_account_uses(cfg, FG_SRC_UID), reply, lists);
	fg_config_unref(cfg);
	if (!(mta->actions & FG_MA_QUARANTINE))
		fg_log_warn("session=%s: the MTA does not offer quarantine: rules with action hold will defer instead",
		    s->id);
	s->actions = reply->actions;
	s->protocol = reply->protocol;
}

/* Whether the negotiation said this command gets no reply. */
int
fg_session_noreply(const struct fg_session *s, char cmd)
{
	uint32_t flag;

	switch (cmd) {
	case FG_MC_CONNECT: flag = FG_MP_NR_CONN; break;
	case FG_MC_HELO: flag = FG_MP_NR_HELO; break;
	case FG_MC_MAIL: flag = FG_MP_NR_MAIL; break;
	case FG_MC_RCPT: flag = FG_MP_NR_RCPT; break;
	case FG_MC_DATA: flag = FG_MP_NR_DATA; break;
	case FG_MC_HEADER: flag = FG_MP_NR_HDR; break;
	case FG_MC_EOH: flag = FG_MP_NR_EOH; break;
	case FG_MC_BODY: flag = FG_MP_NR_BODY; break;
	case FG_MC_UNKNOWN: flag = FG_MP_NR_UNKN; break;
	default: return 0;
	}
	return (s->protocol & flag) != 0;
}

void
fg_session_connect(struct fg_session *s, const char *addr)
{
	fg_client_addr(addr, s->client, sizeof(s->client));
}

/* The queue ID, once the MTA has one (Postfix: after the first accepted
 * recipient of SMTP mail). */
static void
queue_id(struct fg_session *s, const struct fg_macros *mac)
{
	const char *q = mac->v[FG_MAC_QID];

	if (q != NULL && q[0] != '\0')
		fg_strlcpy(s->msg.queue_id, q, sizeof(s->msg.queue_id));
}

/*
 * floodgate's own notifications come back through the milter as local
 * mail (Postfix's pickup), or over SMTP from the loopback (Sendmail's
 * submission program relays them so), their envelope sender extended
 * with a one-time token ("floodgate+fgn-0123456789abcdef@..."): such a
 * message is let through untouched, once. A token nobody issued, or
 * one already used, is an ordinary sender, and so is one from another
 * host.
 */
static void
own_notification(struct fg_session *s, const char *sender)
{
	struct fg_blocks *b = s->env->engine->blocks;
	const char *t = sender != NULL ? strstr(sender, "+fgn-") : NULL;
	char token[32];
	size_t n;

	if (b == NULL || t == NULL)
		return;
	t++;
	for (n = 0; t[n] != '\0' && t[n] != '@' && t[n] != '>' &&
	    n + 1 < sizeof(token); n++)
		token[n] = t[n];
	token[n] = '\0';
	if (fg_blocks_pass_take(b, token, (uint32_t)time(NULL))) {
		s->msg.own = 1;
		fg_log_info("session=%s sender=%s: floodgate's own notification, not limited",
		    s->id, sender);
	}
}

/*
 * The local user whose socket the client's end of the connection is,
 * for the uid account; NULL for a client on another host, and for a
 * user that is no account (fg_account_user_counts); FG_ACCOUNT_CLOSED
 * for a socket closed before floodgate asked. A kernel that
 * cannot be asked is logged once until it answers again, and the
 * account falls through to the next source.
 */
static const char *
local_user(struct fg_session *s, const struct fg_config *c,
    const struct fg_macros *mac, char *buf, size_t len)
{
	static atomic_int failing, elsewhere, unsent;
	const char *port = mac->v[FG_MAC_PORT];
	unsigned cport, sport;
	uid_t uid;
	int r;

	if (s->client[0] == '\0' || mac->v[FG_MAC_CPORT] == NULL || port == NULL) {
		/* Asked for at the negotiation; an MTA too old to honour
		 * the request sends the defaults only. */
		atomic_fetch_add(&uid_counts[FG_UID_FAILED], 1);
		if (!atomic_exchange(&unsent, 1))
			fg_log_warn("session=%s: account uid: the MTA sent no %s at MAIL: the next source of the account statement counts (logged once)",
			    s->id, s->client[0] == '\0' ? "{client_addr}" :
			    port == NULL ? "{daemon_port}" : "{client_port}");
		return NULL;
	}
	/* Logged as the number it was read as: the macro is the MTA's. */
	cport = (unsigned)strtoul(mac->v[FG_MAC_CPORT], NULL, 10);
	sport = (unsigned)strtoul(port, NULL, 10);
	r = fg_sockowner(s->client, cport, mac->v[FG_MAC_DADDR], sport, &uid);
	if (r < 0) {
		atomic_fetch_add(&uid_counts[FG_UID_FAILED], 1);
		if (!atomic_exchange(&failing, 1))
			fg_log_warn("session=%s: account uid: cannot ask the kernel whose connection %s:%u is: %s (the next source of the account statement counts; logged once until it works again)",
			    s->id, s->client, cport, strerror(errno));
		return NULL;
	}
	if (atomic_exchange(&failing, 0))
		fg_log_info("session=%s: account uid: the kernel answers again",
		    s->id);
	if (r == FG_SOCK_ELSEWHERE) {
		char daddr[FG_CLIENT_MAX + 1];

		atomic_fetch_add(&uid_counts[FG_UID_ELSEWHERE], 1);
		/* Neither the client's end nor the MTA's is here: a setup
		 * that loses every local client, not a client that hides.
		 * The MTA's address logged as read, as the ports are. */
		if (mac->v[FG_MAC_DADDR] == NULL ||
		    !fg_client_addr(mac->v[FG_MAC_DADDR], daddr, sizeof(daddr)))
			fg_strlcpy(daddr, "?", sizeof(daddr));
		if (!atomic_exchange(&elsewhere, 1))
			fg_log_warn("session=%s: account uid: neither the client's socket %s:%u nor the MTA's listener at %s:%u is in floodgate's network namespace: floodgate runs in another one than the MTA (a container of its own, systemd's PrivateNetwork=) and cannot tell whose a local client's socket is; the next source of the account statement counts (logged once until a client is found again)",
			    s->id, s->client, cport, daddr, sport);
		return NULL;
	}
	if (r != FG_SOCK_NONE && atomic_exchange(&elsewhere, 0))
		fg_log_info("session=%s: account uid: a local client's socket is found again",
		    s->id);
	if (r == FG_SOCK_NONE) {
		atomic_fetch_add(&uid_counts[FG_UID_REMOTE], 1);
		return NULL;
	}
	if (r == FG_SOCK_CLOSED || r == FG_SOCK_GONE) {
		atomic_fetch_add(&uid_counts[FG_UID_CLOSED], 1);
		/* Written whole and closed (or reset) before the MTA read
		 * MAIL: no MTA client does that, a script that hides can. */
		fg_log_notice("session=%s: account uid: the client's socket %s:%u %s, its user unknown: counted as account %s",
		    s->id, s->client, cport, r == FG_SOCK_CLOSED ?
		    "was closed before its MAIL was read" :
		    "is gone (reset before its MAIL was read)",
		    FG_ACCOUNT_CLOSED);
		fg_strlcpy(buf, FG_ACCOUNT_CLOSED, len);
		return buf;
	}
	fg_user_name(uid, buf, len);
	if (buf[0] == '\0') {
		atomic_fetch_add(&uid_counts[FG_UID_FAILED], 1);
		fg_log_warn("session=%s: account uid: no name for uid %lu: %s",
		    s->id, (unsigned long)uid, strerror(errno));
		return NULL;
	}
	if (!fg_account_user_counts(c, buf, fg_uid_regular(uid))) {
		atomic_fetch_add(&uid_counts[FG_UID_SYSTEM], 1);
		return NULL;
	}
	atomic_fetch_add(&uid_counts[FG_UID_USER], 1);
	return buf;
}

void
fg_session_uid_counts(unsigned long long out[FG_UID_N])
{
	size_t i;

	for (i = 0; i < FG_UID_N; i++)
		out[i] = atomic_load(&uid_counts[i]);
}

void
fg_session_mail(struct fg_session *s, const char *sender,
    const struct fg_macros *mac, struct fg_answer *a)
{
	const struct fg_session_env *env = s->env;
	struct fg_config *cfg;
	const char *port = mac->v[FG_MAC_PORT], *user = NULL;
	char ubuf[FG_ACCOUNT_MAX + 1];
	int local = port != NULL && strcmp(port, "0") == 0;

	answer(a, FG_MR_CONTINUE, NULL, NULL, NULL);
	s->mail_error = NULL;
	fg_msg_abort(&s->msg, env->engine);	/* a missed abort */
	if (mac->v[FG_MAC_CLIENT] != NULL)
		fg_client_addr(mac->v[FG_MAC_CLIENT], s->client,
		    sizeof(s->client));
	cfg = env->config(env->arg);
	if (cfg->store_tempfail && !env->store_ok(env->arg)) {
		fg_config_unref(cfg);
		/* Without a reply to MAIL, RCPT defers instead. */
		s->mail_error = "floodgate: state store unavailable, try again later";
		answer(a, FG_MR_TEMPFAIL, "451", "4.3.0", s->mail_error);
		return;
	}
	/*
	 * Local submission (sendmail(1), pickup) reaches non_smtpd_milters
	 * with {daemon_port} 0; smtpd always has its listening port. A MAIL
	 * without an address is the null sender to floodgate.
	 */
	if (!local && fg_account_uses(cfg, FG_SRC_UID))
		user = local_user(s, cfg, mac, ubuf, sizeof(ubuf));
	fg_msg_begin(&s->msg, cfg, s->id, s->client, mac->v[FG_MAC_AUTH], user,
	    sender != NULL ? sender : "", local);
	fg_config_unref(cfg);
	if (s->msg.local || fg_ip_loopback(s->client))
		own_notification(s, sender);
	if (s->msg.capcount == NULL) {
		fg_msg_abort(&s->msg, env->engine);
		s->mail_error = "floodgate: out of memory, try again later";
		answer(a, FG_MR_TEMPFAIL, "451", "4.3.0", s->mail_error);
		return;
	}
	queue_id(s, mac);
}

/* A recipient as a log line shows it: whole up to RCPT_SHOWN bytes, else
 * its first ones (no UTF-8 character cut) and its length, so that the
 * line's end, what was decided, is not cut off with the log line. */
#define RCPT_SHOWN	256
static const char *
shown(const char *rcpt, char *buf, size_t len)
{
	size_t n = strlen(rcpt), k;

	if (n <= RCPT_SHOWN)
		return rcpt;
	k = fg_utf8_start(rcpt, RCPT_SHOWN);
	snprintf(buf, len, "%.*s... (%zu bytes)", (int)k, rcpt, n);
	return buf;
}

/*
 * The address a recipient is counted by: as written, unless its local
 * part routes it on ("user%docomo.ne.jp@this.host", "docomo.ne.jp!user",
 * "\"user@docomo.ne.jp\"@this.host"), which the MTA sends to the domain
 * inside when the one written is its own. Then where the MTA resolved it
 * over SMTP ({rcpt_addr}: Postfix's smtpd resolves it, as its queue
 * manager will; Sendmail its ruleset 0), and otherwise (Postfix's local
 * submission hands the address as written) fg_route_domain's choice.
 * Each is logged: no mail client writes such an address today. An
 * address read neither way matches no "to" rule: the first of a
 * session is logged. NULL when out of memory to read it.
 */
static const char *
destination(struct fg_session *s, const char *rcpt,
    const struct fg_macros *mac, char *buf, size_t len)
{
	const char *ra = mac->v[FG_MAC_RADDR], *how;
	char show[RCPT_SHOWN + 32];
	struct fg_addr a;
	int rc;

	if ((rc = fg_addr_plain(rcpt)) == 1)
		return rcpt;
	if (rc == 0 && !s->msg.local && ra != NULL &&
	    (rc = fg_addr_parse(ra, &a, NULL, 0)) == FG_ADDR_OK &&
	    a.domain[0] != '\0')
		how = "where the MTA resolved it";
	else if (rc != FG_ADDR_NOMEM &&
	    (rc = fg_route_domain(s->msg.cfg, rcpt, &a)) == FG_ADDR_OK)
		how = "the MTA did not say where it goes";
	else if (rc == FG_ADDR_NOMEM)
		return NULL;
	else {
		if (s->unreadable++ == 0)
			fg_log_notice("session=%s qid=%s account=%s: recipient %s cannot be read: counted by the rules without destinations only (logged once a session)",
			    s->id, s->msg.queue_id[0] ? s->msg.queue_id : "-",
			    s->msg.acct.name, shown(rcpt, show, sizeof(show)));
		return rcpt;
	}
	snprintf(buf, len, "r@%s", a.domain);
	fg_log_notice("session=%s qid=%s account=%s: recipient %s is routed on: counted for domain %s (%s)",
	    s->id, s->msg.queue_id[0] ? s->msg.queue_id : "-",
	    s->msg.acct.name, shown(rcpt, show, sizeof(show)), a.domain, how);
	return buf;
}

static void
verdict(struct fg_answer *a, const struct fg_verdict *v)
{
	if (v->smtp == FG_CONTINUE)
		answer(a, FG_MR_CONTINUE, NULL, NULL, NULL);
	else
		answer(a, v->smtp == FG_REJECT ? FG_MR_REJECT : FG_MR_TEMPFAIL,
		    v->rcode, v->xcode, v->text);
}

int
fg_session_rcpt_start(struct fg_session *s, const char *rcpt,
    const struct fg_macros *mac, struct fg_answer *a, struct fg_sreserve **r)
{
	struct fg_verdict v;
	char dest[FG_ADDR_MAX + 1];

	*r = NULL;
	if (!fg_msg_active(&s->msg) || rcpt == NULL) {
		answer(a, FG_MR_TEMPFAIL, "451", s->mail_error ? "4.3.0" :
		    "4.5.1", s->mail_error ? s->mail_error :
		    "floodgate: recipient without a sender, try again later");
		return 0;
	}
	queue_id(s, mac);
	s->when = (uint32_t)time(NULL);
	if ((rcpt = destination(s, rcpt, mac, dest, sizeof(dest))) == NULL) {
		fg_msg_rcpt_nomem(&s->msg, &v);
		verdict(a, &v);
		return 0;
	}
	if (fg_msg_rcpt_begin(&s->msg, s->env->engine, rcpt, s->when, &v,
	    &s->pend) != 1) {
		verdict(a, &v);
		return 0;
	}
	memset(&s->sr, 0, sizeof(s->sr));
	fg_pending_checks(s->pend, &s->sr.chk, &s->sr.n);
	s->sr.items = s->items;
	*r = &s->sr;
	return 1;
}

void
fg_session_rcpt_finish(struct fg_session *s, struct fg_answer *a)
{
	struct fg_verdict v;
	int rc = s->sr.rc;

	if (rc == FG_SHARED_DOWN) {
		/* Redis down or slow: memory decides, the limits divided by
		 * the relays sharing them. */
		fg_checks_share(s->sr.chk, s->sr.n, s->msg.cfg->relays);
		rc = fg_limiter_reserve(s->env->engine->limiter, s->sr.chk,
		    s->sr.n, s->when, &s->msg.resv);
	} else if (rc == FG_RESERVED && fg_resv_add_ritems(&s->msg.resv,
	    s->sr.items, s->sr.nitems) < 0) {
		/* They expire by themselves. */
		rc = FG_RESERVE_ERROR;
	}
	fg_msg_rcpt_end(&s->msg, s->env->engine, s->pend, rc, s->when, &v);
	s->pend = NULL;
	verdict(a, &v);
}

/* Decided before the call returns: the in-memory limiter, or with a
 * shared store (libmilter's threads) the engine's shared_reserve. */
void
fg_session_rcpt(struct fg_session *s, const char *rcpt,
    const struct fg_macros *mac, struct fg_answer *a)
{
	struct fg_sreserve *r;

	if (fg_session_rcpt_start(s, rcpt, mac, a, &r) != 1)
		return;
	r->rc = fg_msg_reserve(&s->msg, s->env->engine, r->chk, r->n, s->when);
	fg_session_rcpt_finish(s, a);
}

/* What the release will charge: one domain per recipient. */
static void
held_record(struct fg_session *s)
{
	struct fg_held_row h;
	size_t i, len = 1, off = 0;
	char *d;

	memset(&h, 0, sizeof(h));
	for (i = 0; i < s->msg.ndom; i++)
		len += strlen(s->msg.dom[i]) + 1;
	if ((d = malloc(len)) == NULL) {
		fg_log_err("session=%s qid=%s: held, but out of memory to record it",
		    s->id, s->msg.queue_id);
		return;
	}
	d[0] = '\0';
	for (i = 0; i < s->msg.ndom; i++) {
		size_t dl = strlen(s->msg.dom[i]);

		if (i > 0)
			d[off++] = ',';
		memcpy(d + off, s->msg.dom[i], dl + 1);
		off += dl;
	}
	fg_strlcpy(h.queue_id, s->msg.queue_id, sizeof(h.queue_id));
	fg_strlcpy(h.account, s->msg.acct.name, sizeof(h.account));
	fg_strlcpy(h.rule, s->msg.hold_rule, sizeof(h.rule));
	h.time = (uint32_t)time(NULL);
	h.recipients = (uint32_t)s->msg.ndom;
	h.domains = d;
	s->env->held(s->env->arg, &h);
	free(d);
}

/* Delivery feedback learns whose the message is. */
static void
charged(struct fg_session *s)
{
	if (s->env->charged != NULL && s->msg.ndom > 0 && !s->msg.own)
		s->env->charged(s->env->arg, s->msg.queue_id, s->msg.acct.name);
}

/*
 * With charge_at data, a message that needs nothing at its end is charged
 * now and the MTA told ACCEPT: Postfix then leaves floodgate out of the
 * rest of the message, which spares it most of a milter's cost.
 */
void
fg_session_data(struct fg_session *s, const struct fg_macros *mac,
    struct fg_answer *a)
{
	answer(a, FG_MR_CONTINUE, NULL, NULL, NULL);
	if (!fg_msg_active(&s->msg))
		return;
	queue_id(s, mac);
	if (!fg_msg_data_charge(&s->msg)) {
		/* Due at the end of the message, which comes with its queue
		 * ID. SMTP mail without one at DATA is Postfix's behind a
		 * pre-queue filter (smtpd_proxy_filter), which tells a
		 * milter no end of message: what was due there is decided
		 * now, a hold deferred (it could not be held), a tag left
		 * out (the message is charged as tag charges). */
#define NO_END	"no queue ID at DATA: behind a pre-queue filter (smtpd_proxy_filter) a milter is told no end of message, and the message"
		if (s->msg.local || s->msg.queue_id[0] != '\0' ||
		    s->msg.cfg->charge_at_end)
			return;
		if (s->msg.hold) {
			defer_hold(s, a, NO_END " cannot be held");
			return;
		}
		fg_log_warn("session=%s account=%s: " NO_END " is charged untagged (over %s)",
		    s->id, s->msg.acct.name, s->msg.tag);
#undef NO_END
	}
	charged(s);
	fg_msg_commit(&s->msg, s->env->engine, (uint32_t)time(NULL));
	answer(a, FG_MR_ACCEPT, NULL, NULL, NULL);
}

/* A message to hold that cannot be held: deferred, charged nothing. */
static void
defer_hold(struct fg_session *s, struct fg_answer *a, const char *why)
{
	fg_log_err("session=%s qid=%s account=%s rule=%s action=defer: %s",
	    s->id, s->msg.queue_id[0] ? s->msg.queue_id : "-",
	    s->msg.acct.name, s->msg.hold_rule, why);
	fg_msg_abort(&s->msg, s->env->engine);
	answer(a, FG_MR_TEMPFAIL, "451", "4.7.1",
	    "floodgate: over limit, try again later");
}

void
fg_session_eom(struct fg_session *s, const struct fg_macros *mac,
    struct fg_answer *a)
{
	struct fg_engine *e = s->env->engine;

	answer(a, FG_MR_CONTINUE, NULL, NULL, NULL);
	if (!fg_msg_active(&s->msg))
		return;
	queue_id(s, mac);
	if (s->msg.tag[0] != '\0' && (s->actions & FG_MA_ADDHDRS))
		snprintf(a->header, sizeof(a->header), "over %s", s->msg.tag);
	if (s->msg.tempfail) {
		char text[FG_NAME_MAX + 48];

		fg_log_notice("session=%s qid=%s account=%s rule=%s action=defer-local recipients=%zu",
		    s->id, s->msg.queue_id, s->msg.acct.name, s->msg.hold_rule,
		    s->msg.ndom);
		snprintf(text, sizeof(text), "floodgate: over %s, try again later",
		    s->msg.hold_rule);
		fg_msg_refuse(&s->msg, e, (uint32_t)time(NULL));
		answer(a, FG_MR_TEMPFAIL, "451", "4.7.1", text);
		return;
	}
	if (s->msg.hold) {
		/* The release finds a held message by its queue ID, and a
		 * wrong one would release another's: without a proper one,
		 * defer rather than hold. */
		if (!(s->actions & FG_MA_QUARANTINE)) {
			defer_hold(s, a, "the MTA cannot quarantine");
			return;
		}
		if (!fg_qid_valid(s->msg.queue_id)) {
			defer_hold(s, a, "the MTA sent no usable queue ID (macro i) at end of message");
			return;
		}
		snprintf(a->quarantine, sizeof(a->quarantine),
		    "floodgate: over %s", s->msg.hold_rule);
		fg_log_notice("session=%s qid=%s account=%s rule=%s action=held recipients=%zu",
		    s->id, s->msg.queue_id, s->msg.acct.name,
		    s->msg.hold_rule, s->msg.ndom);
		fg_msg_held(&s->msg, e, (uint32_t)time(NULL));
		held_record(s);
	}
	charged(s);
	fg_msg_commit(&s->msg, e, (uint32_t)time(NULL));
}

void
fg_session_abort(struct fg_session *s)
{
	fg_msg_abort(&s->msg, s->env->engine);
	s->mail_error = NULL;
}
