/*
 * One MTA connection's milter session: what it negotiated, the client,
 * the message in progress. Reads the macros, calls the policy, maps its
 * verdict to an answer the engine writes. Nothing is decided here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

struct fg_session {
	char id[24];
	char client[64];
	uint32_t actions;	/* negotiated */
	uint32_t protocol;
	const char *mail_error;	/* MAIL failed without a reply: for RCPT */
	struct fg_msg msg;
};

static void queue_id(struct fg_session *s, const struct fg_mp_macros *m,
    char cmd);
static void answer(struct fg_answer *a, char code, const char *rcode,
    const char *xcode, const char *text);

struct fg_session *
fg_session_new(void)
{
	struct fg_session *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		fg_log_err("session: out of memory");
		return NULL;
	}
	snprintf(s->id, sizeof(s->id), "%lx",
	    (unsigned long)atomic_fetch_add(&fgd.sessions, 1) + 1);
	return s;
}

/* Also reached when the MTA drops the connection mid-transaction. */
void
fg_session_free(struct fg_session *s)
{
	if (s == NULL)
		return;
	fg_msg_abort(&s->msg, &fgd.engine);
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
	if (text != NULL)
		fg_strlcpy(a->text, text, sizeof(a->text));
	else
		a->text[0] = '\0';
}

/*
 * Ask only for what floodgate uses: every protocol step costs the MTA and
 * floodgate a round trip (fg_mp_negotiate says which).
 */
void
fg_session_negotiate(struct fg_session *s, const struct fg_mp_optneg *mta,
    struct fg_mp_optneg *reply, const char *lists[FG_MP_NSTAGES])
{
	struct fg_config *cfg = fgd_config();

	fg_mp_negotiate(mta, cfg->store_tempfail, !cfg->charge_at_end, reply,
	    lists);
	fg_config_unref(cfg);
	if (!(mta->actions & FG_MA_QUARANTINE))
		fg_log_warn("the MTA does not offer quarantine: rules with action hold will not hold");
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
	fg_strlcpy(s->client, addr, sizeof(s->client));
}

static void
queue_id(struct fg_session *s, const struct fg_mp_macros *m, char cmd)
{
	const char *q = fg_mp_macro(m, cmd, "i");

	if (q != NULL && q[0] != '\0')
		fg_strlcpy(s->msg.queue_id, q, sizeof(s->msg.queue_id));
}

void
fg_session_mail(struct fg_session *s, const struct fg_mp_macros *m,
    const char *sender, struct fg_answer *a)
{
	struct fg_config *cfg;
	const char *addr, *port;

	answer(a, FG_MR_CONTINUE, NULL, NULL, NULL);
	s->mail_error = NULL;
	fg_msg_abort(&s->msg, &fgd.engine);	/* a missed abort */
	if ((addr = fg_mp_macro(m, FG_MC_MAIL, "{client_addr}")) != NULL)
		fg_strlcpy(s->client, addr, sizeof(s->client));
	cfg = fgd_config();
	if (cfg->store_tempfail && !atomic_load(&fgd.store_ok)) {
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
	port = fg_mp_macro(m, FG_MC_MAIL, "{daemon_port}");
	fg_msg_begin(&s->msg, cfg, s->id, s->client,
	    fg_mp_macro(m, FG_MC_MAIL, "{auth_authen}"),
	    sender != NULL ? sender : "",
	    port != NULL && strcmp(port, "0") == 0);
	fg_config_unref(cfg);
	if (s->msg.capcount == NULL) {
		fg_msg_abort(&s->msg, &fgd.engine);
		s->mail_error = "floodgate: out of memory, try again later";
		answer(a, FG_MR_TEMPFAIL, "451", "4.3.0", s->mail_error);
		return;
	}
	queue_id(s, m, FG_MC_MAIL);
}

void
fg_session_rcpt(struct fg_session *s, const struct fg_mp_macros *m,
    const char *rcpt, struct fg_answer *a)
{
	struct fg_verdict v;

	if (!fg_msg_active(&s->msg) || rcpt == NULL) {
		answer(a, FG_MR_TEMPFAIL, "451", s->mail_error ? "4.3.0" :
		    "4.5.1", s->mail_error ? s->mail_error :
		    "floodgate: recipient without a sender, try again later");
		return;
	}
	queue_id(s, m, FG_MC_RCPT);
	fg_msg_rcpt(&s->msg, &fgd.engine, rcpt, (uint32_t)time(NULL), &v);
	if (v.smtp == FG_CONTINUE)
		answer(a, FG_MR_CONTINUE, NULL, NULL, NULL);
	else
		answer(a, v.smtp == FG_REJECT ? FG_MR_REJECT : FG_MR_TEMPFAIL,
		    v.rcode, v.xcode, v.text);
}

/* What the release will charge: one domain per recipient. */
static void
held_record(struct fg_session *s)
{
	struct fg_held_row h;
	size_t i, len = 1;
	char *d;

	memset(&h, 0, sizeof(h));
	for (i = 0; i < s->msg.ndom; i++)
		len += strlen(s->msg.dom[i]) + 1;
	if ((d = malloc(len)) == NULL)
		return;
	d[0] = '\0';
	for (i = 0; i < s->msg.ndom; i++) {
		if (i > 0)
			strcat(d, ",");
		strcat(d, s->msg.dom[i]);
	}
	fg_strlcpy(h.queue_id, s->msg.queue_id, sizeof(h.queue_id));
	fg_strlcpy(h.account, s->msg.acct.name, sizeof(h.account));
	fg_strlcpy(h.rule, s->msg.hold_rule, sizeof(h.rule));
	h.time = (uint32_t)time(NULL);
	h.recipients = (uint32_t)s->msg.ndom;
	h.domains = d;
	fg_service_held(&h);
	free(d);
}

/*
 * With charge_at data, a message that needs nothing at its end is charged
 * now and the MTA told ACCEPT: Postfix then leaves floodgate out of the
 * rest of the message, which spares it most of a milter's cost.
 */
void
fg_session_data(struct fg_session *s, struct fg_answer *a)
{
	answer(a, FG_MR_CONTINUE, NULL, NULL, NULL);
	if (!fg_msg_data_charge(&s->msg))	/* also: no message */
		return;
	fg_msg_commit(&s->msg, &fgd.engine, (uint32_t)time(NULL));
	answer(a, FG_MR_ACCEPT, NULL, NULL, NULL);
}

void
fg_session_eom(struct fg_session *s, const struct fg_mp_macros *m,
    struct fg_answer *a)
{
	answer(a, FG_MR_CONTINUE, NULL, NULL, NULL);
	if (!fg_msg_active(&s->msg))
		return;
	queue_id(s, m, FG_MC_EOM);
	if (s->msg.tag[0] != '\0' && (s->actions & FG_MA_ADDHDRS))
		snprintf(a->header, sizeof(a->header), "over %s", s->msg.tag);
	if (s->msg.tempfail) {
		char text[160];

		fg_log_notice("session=%s qid=%s account=%s rule=%s action=defer-local recipients=%zu",
		    s->id, s->msg.queue_id, s->msg.acct.name, s->msg.hold_rule,
		    s->msg.ndom);
		snprintf(text, sizeof(text), "floodgate: over %s, try again later",
		    s->msg.hold_rule);
		fg_msg_refuse(&s->msg, &fgd.engine, (uint32_t)time(NULL));
		answer(a, FG_MR_TEMPFAIL, "451", "4.7.1", text);
		return;
	}
	if (s->msg.hold) {
		if (!(s->actions & FG_MA_QUARANTINE)) {
			fg_log_err("session=%s qid=%s: the MTA cannot quarantine; deferring the message",
			    s->id, s->msg.queue_id);
			fg_msg_abort(&s->msg, &fgd.engine);
				answer(a, FG_MR_TEMPFAIL, "451", "4.7.1",
			    "floodgate: over limit, try again later");
			return;
		}
		snprintf(a->quarantine, sizeof(a->quarantine),
		    "floodgate: over %s", s->msg.hold_rule);
		fg_log_notice("session=%s qid=%s account=%s rule=%s action=held recipients=%zu",
		    s->id, s->msg.queue_id, s->msg.acct.name,
		    s->msg.hold_rule, s->msg.ndom);
		fg_msg_held(&s->msg, &fgd.engine, (uint32_t)time(NULL));
		held_record(s);
	}
	fg_msg_commit(&s->msg, &fgd.engine, (uint32_t)time(NULL));
}

void
fg_session_abort(struct fg_session *s)
{
	fg_msg_abort(&s->msg, &fgd.engine);
	s->mail_error = NULL;
}
