/*
 * The libmilter callbacks: fetch the session, read the macros, call the
 * policy, map its verdict to a reply. Nothing is decided here.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

struct session {
	char id[24];
	char client[64];
	int nr_mail;		/* SMFIP_NR_MAIL negotiated: MAIL gets no reply */
	struct fg_msg msg;
};

static sfsistat fg_negotiate(SMFICTX *, unsigned long, unsigned long,
    unsigned long, unsigned long, unsigned long *, unsigned long *,
    unsigned long *, unsigned long *);
static sfsistat fg_connect(SMFICTX *, char *, _SOCK_ADDR *);
static sfsistat fg_envfrom(SMFICTX *, char **);
static sfsistat fg_envrcpt(SMFICTX *, char **);
static sfsistat fg_eom(SMFICTX *);
static sfsistat fg_abort(SMFICTX *);
static sfsistat fg_close(SMFICTX *);
static void queue_id(SMFICTX *ctx, struct session *s);
static struct session *session_get(SMFICTX *ctx);

struct smfiDesc fg_milter = {
	.xxfi_name = "floodgate",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_QUARANTINE,
	.xxfi_connect = fg_connect,
	.xxfi_envfrom = fg_envfrom,
	.xxfi_envrcpt = fg_envrcpt,
	.xxfi_eom = fg_eom,
	.xxfi_abort = fg_abort,
	.xxfi_close = fg_close,
	.xxfi_negotiate = fg_negotiate,
};

/* The session is made at negotiation, or at MAIL for an MTA that does not
 * negotiate (milter protocol 2). */
static struct session *
session_get(SMFICTX *ctx)
{
	struct session *s = smfi_getpriv(ctx);

	if (s != NULL)
		return s;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		fg_log_err("session: out of memory");
		return NULL;
	}
	snprintf(s->id, sizeof(s->id), "%lx",
	    (unsigned long)atomic_fetch_add(&fgd.sessions, 1) + 1);
	smfi_setpriv(ctx, s);
	return s;
}

/*
 * Ask only for what floodgate uses. Every protocol step costs the MTA and
 * floodgate a round trip, so no CONNECT (the client address comes as the
 * {client_addr} macro at MAIL), no HELO, headers, body or DATA, and no
 * reply to MAIL unless a failing store must be able to defer it.
 */
static sfsistat
fg_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long skip = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOHDRS |
	    SMFIP_NOEOH | SMFIP_NOBODY | SMFIP_NOUNKNOWN | SMFIP_NODATA;
	struct fg_config *cfg = fgd_config();
	struct session *s;

	(void)f2;
	(void)f3;
	if (!cfg->store_tempfail)
		skip |= SMFIP_NR_MAIL;
	fg_config_unref(cfg);
	if ((s = session_get(ctx)) == NULL)
		return SMFIS_TEMPFAIL;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST);
	*pf1 = f1 & skip;
	*pf2 = *pf3 = 0;
	s->nr_mail = (*pf1 & SMFIP_NR_MAIL) != 0;
	if (!(f0 & SMFIF_QUARANTINE))
		fg_log_warn("the MTA does not offer quarantine: rules with action hold will not hold");
	if (!(f0 & SMFIF_SETSYMLIST) || !(f1 & SMFIP_NOCONNECT)) {
		/* Without either, CONNECT brings the client's address. */
		*pf1 &= ~SMFIP_NOCONNECT;
		return SMFIS_CONTINUE;
	}
	/* {auth_authen} is the SASL login, i the queue ID. */
	smfi_setsymlist(ctx, SMFIM_ENVFROM,
	    "i {auth_authen} {client_addr} {daemon_port}");
	smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i");
	smfi_setsymlist(ctx, SMFIM_EOM, "i");
	return SMFIS_CONTINUE;
}

static sfsistat
fg_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	struct session *s = session_get(ctx);

	(void)host;
	if (s == NULL)
		return SMFIS_TEMPFAIL;
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr,
		    s->client, sizeof(s->client));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)sa)->sin6_addr,
		    s->client, sizeof(s->client));
	return SMFIS_CONTINUE;
}

static void
queue_id(SMFICTX *ctx, struct session *s)
{
	const char *q = smfi_getsymval(ctx, "i");

	if (q != NULL && q[0] != '\0')
		fg_strlcpy(s->msg.queue_id, q, sizeof(s->msg.queue_id));
}

static sfsistat
fg_envfrom(SMFICTX *ctx, char **argv)
{
	struct session *s = session_get(ctx);
	struct fg_config *cfg;
	const char *addr, *port;

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	fg_msg_abort(&s->msg, &fgd.engine);	/* a missed abort */
	if ((addr = smfi_getsymval(ctx, "{client_addr}")) != NULL)
		fg_strlcpy(s->client, addr, sizeof(s->client));
	cfg = fgd_config();
	if (cfg->store_tempfail && !atomic_load(&fgd.store_ok)) {
		fg_config_unref(cfg);
		smfi_setreply(ctx, "451", "4.3.0",
		    "floodgate: state store unavailable, try again later");
		return SMFIS_TEMPFAIL;
	}
	/*
	 * Local submission (sendmail(1), pickup) reaches non_smtpd_milters
	 * with {daemon_port} 0; smtpd always has its listening port. A MAIL
	 * without an address is the null sender to floodgate.
	 */
	port = smfi_getsymval(ctx, "{daemon_port}");
	fg_msg_begin(&s->msg, cfg, s->id, s->client,
	    smfi_getsymval(ctx, "{auth_authen}"),
	    argv != NULL && argv[0] != NULL ? argv[0] : "",
	    port != NULL && strcmp(port, "0") == 0);
	fg_config_unref(cfg);
	if (s->msg.capcount == NULL) {
		fg_msg_abort(&s->msg, &fgd.engine);
		/* Without a reply to MAIL, RCPT will defer instead. */
		return s->nr_mail ? SMFIS_NOREPLY : SMFIS_TEMPFAIL;
	}
	queue_id(ctx, s);
	return s->nr_mail ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
fg_envrcpt(SMFICTX *ctx, char **argv)
{
	struct session *s = smfi_getpriv(ctx);
	struct fg_verdict v;

	if (s == NULL || !fg_msg_active(&s->msg) || argv == NULL ||
	    argv[0] == NULL)
		return SMFIS_TEMPFAIL;
	queue_id(ctx, s);
	fg_msg_rcpt(&s->msg, &fgd.engine, argv[0], (uint32_t)time(NULL), &v);
	if (v.smtp == FG_CONTINUE)
		return SMFIS_CONTINUE;
	smfi_setreply(ctx, v.rcode, v.xcode, v.text);
	return v.smtp == FG_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

/* What the release will charge: one domain per recipient. */
static void
held_record(struct session *s)
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

static sfsistat
fg_eom(SMFICTX *ctx)
{
	struct session *s = smfi_getpriv(ctx);

	if (s == NULL || !fg_msg_active(&s->msg))
		return SMFIS_CONTINUE;
	queue_id(ctx, s);
	if (s->msg.tag[0] != '\0') {
		char val[300];

		snprintf(val, sizeof(val), "over %s", s->msg.tag);
		smfi_addheader(ctx, "X-Floodgate", val);
	}
	if (s->msg.tempfail) {
		char text[160];

		fg_log_notice("session=%s qid=%s account=%s rule=%s action=defer-local recipients=%zu",
		    s->id, s->msg.queue_id, s->msg.acct.name, s->msg.hold_rule,
		    s->msg.ndom);
		snprintf(text, sizeof(text), "floodgate: over %s, try again later",
		    s->msg.hold_rule);
		fg_msg_refuse(&s->msg, &fgd.engine, (uint32_t)time(NULL));
		smfi_setreply(ctx, "451", "4.7.1", text);
		return SMFIS_TEMPFAIL;
	}
	if (s->msg.hold) {
		char why[128];

		snprintf(why, sizeof(why), "floodgate: over %s",
		    s->msg.hold_rule);
		if (smfi_quarantine(ctx, why) != MI_SUCCESS) {
			fg_log_err("session=%s qid=%s: quarantine failed; deferring the message",
			    s->id, s->msg.queue_id);
			fg_msg_abort(&s->msg, &fgd.engine);
			smfi_setreply(ctx, "451", "4.7.1",
			    "floodgate: over limit, try again later");
			return SMFIS_TEMPFAIL;
		}
		fg_log_notice("session=%s qid=%s account=%s rule=%s action=held recipients=%zu",
		    s->id, s->msg.queue_id, s->msg.acct.name,
		    s->msg.hold_rule, s->msg.ndom);
		fg_msg_held(&s->msg, &fgd.engine, (uint32_t)time(NULL));
		held_record(s);
	}
	fg_msg_commit(&s->msg, &fgd.engine, (uint32_t)time(NULL));
	return SMFIS_CONTINUE;
}

static sfsistat
fg_abort(SMFICTX *ctx)
{
	struct session *s = smfi_getpriv(ctx);

	if (s != NULL)
		fg_msg_abort(&s->msg, &fgd.engine);
	return SMFIS_CONTINUE;
}

/* Also reached when the MTA drops the connection mid-transaction. */
static sfsistat
fg_close(SMFICTX *ctx)
{
	struct session *s = smfi_getpriv(ctx);

	if (s == NULL)
		return SMFIS_CONTINUE;
	fg_msg_abort(&s->msg, &fgd.engine);
	smfi_setpriv(ctx, NULL);
	free(s);
	return SMFIS_CONTINUE;
}
