/*
 * floodgate.conf's warnings: what loads but cannot work as written (a
 * feedback limit with no log to count from, a reply with a code of its
 * own, a pattern where an account is matched whole, a file every local
 * user may read), each said with its statement's line at every start
 * and reload.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "address.h"
#include "confdef.h"
#include "net.h"
#include "rules.h"

/* Two notify lines that reach the same people (an address's case
 * aside). */
static int
same_target(const struct fg_notify *a, const struct fg_notify *b)
{
	if (a->mailto != b->mailto)
		return 0;
	return (a->mailto ? strcasecmp(a->what, b->what) :
	    strcmp(a->what, b->what)) == 0;
}

/* The length of an enhanced status code ("5.7.1") at s, else 0. */
static size_t
status_code_len(const char *s)
{
	size_t n = 1;
	int part;

	if (*s != '4' && *s != '5')
		return 0;
	for (part = 0; part < 2; part++) {
		size_t d = 0;

		if (s[n++] != '.')
			return 0;
		while (d < 3 && isdigit((unsigned char)s[n]))
			d++, n++;
		if (d == 0)
			return 0;
	}
	return s[n] == '\0' || s[n] == ' ' ? n : 0;
}

/*
 * The length of the code a reply's text begins with, else 0: an
 * enhanced status code ("5.7.1 ..."), or a reply code alone, before
 * '-' or before one ("550", "550 5.7.1 ..."); "500 an hour" is text.
 */
static size_t
reply_code_len(const char *s)
{
	size_t n;

	if ((n = status_code_len(s)) > 0)
		return n;
	if ((*s != '4' && *s != '5') || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]))
		return 0;
	if (s[3] == '\0' || s[3] == '-')
		return 3;
	return s[3] == ' ' && (n = status_code_len(s + 4)) > 0 ? 4 + n : 0;
}

/* A rule's reply that cannot read as its writer meant: one that never
 * goes out (the action refuses nothing), or one that begins with a
 * code of its own after the code floodgate writes for the action. */
static void
reply_warnings(const struct fg_rule *r,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	char msg[512];
	size_t n;

	if (r->reply == NULL)
		return;
	if (r->action == FG_ACT_LOG || r->action == FG_ACT_TAG ||
	    r->action == FG_ACT_HOLD) {
		snprintf(msg, sizeof(msg), "limit %s: reply is never sent: action %s refuses no recipient",
		    r->name, fg_action_name(r->action));
		say(arg, r->line, msg);
	} else if ((n = reply_code_len(r->reply)) > 0) {
		snprintf(msg, sizeof(msg), "limit %s: reply begins with a code (%.*s): floodgate writes action %s's own before the text (\"%s %.*s ...\"); leave the code out",
		    r->name, (int)n, r->reply, fg_action_name(r->action),
		    r->action == FG_ACT_REJECT ? "550 5.7.1" : "451 4.7.1",
		    (int)n, r->reply);
		say(arg, r->line, msg);
	}
}

/*
 * An account written as a pattern: exempt account and override match a
 * tenant, login or address whole, so "*", "*@example.jp" or
 * "@example.jp" match no sender; a domain's senders are one account
 * when the account map gives the domain a tenant.
 */
static void
account_pattern(const char *acct, const char *what, int line,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	char msg[512];

	if (acct[0] != '@' && strchr(acct, '*') == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s %s matches no sender: an account is matched whole (a tenant, login or address), with no patterns; for a domain's senders, map the domain to a tenant in account_map and name the tenant",
	    what, acct);
	say(arg, line, msg);
}

/* The names of the events in mask, comma-separated, after msg's first
 * o bytes (which end with a space); where msg ends now. */
static size_t
put_events(char *msg, size_t size, size_t o, unsigned mask)
{
	size_t j;

	for (j = 0; fg_event_names[j].name != NULL && o < size; j++)
		if (mask & (unsigned)fg_event_names[j].value)
			o += (size_t)snprintf(msg + o, size - o, "%s%s",
			    msg[o - 1] == ' ' ? "" : ",", fg_event_names[j].name);
	return o;
}

#define EVENTS_MAX	8	/* room for fg_event_names' */

/*
 * More targets told of one event than floodgate runs notify programs
 * at a time: an incident of it is told to the first FG_NOTIFY_PROGRAMS
 * and never to the others. Said at the first line past them, for the
 * events it is the first past them of.
 */
static void
too_many_targets(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	char msg[512];
	size_t i, j, o, count[EVENTS_MAX] = { 0 };

	for (i = 0; i < c->nnotify; i++) {
		const struct fg_notify *n = &c->notify[i];
		unsigned past = 0;

		for (j = 0; fg_event_names[j].name != NULL && j < EVENTS_MAX; j++)
			if ((n->events & (unsigned)fg_event_names[j].value) &&
			    ++count[j] == FG_NOTIFY_PROGRAMS + 1)
				past |= (unsigned)fg_event_names[j].value;
		if (past == 0)
			continue;
		o = (size_t)snprintf(msg, sizeof(msg), "notify %s: the %dth target told of ",
		    n->target, FG_NOTIFY_PROGRAMS + 1);
		o = put_events(msg, sizeof(msg), o, past);
		if (o < sizeof(msg))
			snprintf(msg + o, sizeof(msg) - o, " incidents, and floodgate runs at most %d notify programs at a time (a mailto: target's sendmail is one): it and those after it are never told of them; one program of yours can tell several people",
			    FG_NOTIFY_PROGRAMS);
		say(arg, n->line, msg);
	}
}

/*
 * A milter listener over TCP. The milter protocol has no password:
 * whoever connects is the MTA to floodgate, and may spend any tenant's
 * budget with mail it makes up (a unix: socket is the MTA's group's).
 */
static void
listen_warning(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	const char *v = c->listen;
	char port[FG_NET_PORT_LEN], host[FG_NET_HOST_LEN], msg[768];

	if (v == NULL ||
	    (strncmp(v, "inet:", 5) != 0 && strncmp(v, "inet6:", 6) != 0) ||
	    fg_net_inet_split(strchr(v, ':') + 1, port, host) < 0)
		return;
	if (strcasecmp(host, "localhost") == 0 || fg_ip_loopback(host))
		snprintf(msg, sizeof(msg), "listen %s: every local user (a tenant's script too) can connect to the milter over the loopback as if it were the MTA, and spend any tenant's budget with mail it makes up (the milter protocol has no password); listen on unix:PATH, as the sample configuration does, or let only the MTA's users connect (a firewall rule by socket owner, README)",
		    v);
	else
		snprintf(msg, sizeof(msg), "listen %s: every host that reaches %s, and every local user, can connect to the milter as if it were the MTA, and spend any tenant's budget with mail it makes up (the milter protocol has no password); listen on unix:PATH, as the sample configuration does, or let only the MTA connect (a firewall rule, README)",
		    v, host[0] != '\0' && strcmp(host, "0.0.0.0") != 0 &&
		    strcmp(host, "::") != 0 ? host : "any address of this host");
	say(arg, fg_config_line(c, "listen"), msg);
}

void
fg_config_warnings(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg)
{
	char msg[512];
	size_t i;

	for (i = 0; c->delivery_log == NULL && i < c->nrule; i++) {
		const struct fg_rule *r = &c->rule[i];

		if (!fg_rule_feedback(r))
			continue;
		snprintf(msg, sizeof(msg), "limit %s counts %s recipients, which floodgate reads from the MTA's log: without delivery_log it never trips",
		    r->name, r->count == FG_COUNT_UNKNOWN ? "unknown" : "bounced");
		say(arg, r->line, msg);
	}
	for (i = 0; i < c->nrule; i++)
		reply_warnings(&c->rule[i], say, arg);
	for (i = 0; c->delivery_log == NULL && i < c->nbackoff; i++) {
		snprintf(msg, sizeof(msg), "backoff %s counts temporary failures, which floodgate reads from the MTA's log: without delivery_log it never pauses",
		    c->backoff[i].name);
		say(arg, c->backoff[i].line, msg);
	}
	/* A notify that names bounces without a feedback limit: no
	 * bounces incident ever comes (without delivery_log the limits
	 * are warned about above; a line that leaves its events to the
	 * default asked for none by name). */
	for (i = 0; i < c->nnotify; i++) {
		const struct fg_notify *n = &c->notify[i];
		size_t j;

		if (n->events == FG_EV_DEFAULT ||
		    !(n->events & FG_EV_BOUNCES))
			continue;
		for (j = 0; j < c->nrule && !fg_rule_feedback(&c->rule[j]); j++)
			;
		if (j < c->nrule)
			continue;
		snprintf(msg, sizeof(msg), "notify %s on bounces: no limit counts unknown or bounced recipients, so no bounces incident ever comes",
		    n->target);
		say(arg, n->line, msg);
	}
	/* Once, at the first backoff: it holds for every one. */
	if (c->delivery_log != NULL && c->nbackoff > 0 &&
	    c->postfix_map == NULL && c->sendmail_map == NULL) {
		snprintf(msg, sizeof(msg), "backoff %s: without postfix_map (or sendmail_map) a pause defers only new recipients, and the MTA keeps retrying its queued mail to the paused domain",
		    c->backoff[0].name);
		say(arg, c->backoff[0].line, msg);
	}
	if (c->store == NULL && c->relays > 1) {
		snprintf(msg, sizeof(msg), "relays %u does nothing with store sqlite: it divides the limits while a shared Redis store is down",
		    (unsigned)c->relays);
		say(arg, fg_config_line(c, "relays"), msg);
	}
	/* Written, and read by nothing this file has: a statement meant
	 * for a setup the file does not make (the redis_* ones with
	 * SQLite, notify_from and notify_max without a notify). */
	for (i = 0; i < fg_nstatements; i++) {
		const char *name = fg_statements[i].name;
		int line = c->lines != NULL ? c->lines[i] : 0;

		if (line == 0)
			continue;
		if (strncmp(name, "redis_", 6) == 0 && c->store == NULL)
			snprintf(msg, sizeof(msg), "%s does nothing with store sqlite: only a shared Redis store reads it",
			    name);
		else if (strncmp(name, "notify_", 7) == 0 && c->nnotify == 0)
			snprintf(msg, sizeof(msg), "%s does nothing without a notify statement: it is read only to send notices",
			    name);
		else
			continue;
		say(arg, line, msg);
	}
	/* The same target twice with an event in common: its people would
	 * be told of each such incident twice. */
	for (i = 0; i < c->nnotify; i++) {
		const struct fg_notify *n = &c->notify[i], *m = NULL;
		unsigned both = 0;
		size_t j, o;

		for (j = 0; j < i && m == NULL; j++)
			if ((both = n->events & c->notify[j].events) != 0 &&
			    same_target(n, &c->notify[j]))
				m = &c->notify[j];
		if (m == NULL)
			continue;
		o = (size_t)snprintf(msg, sizeof(msg), "notify %s: also at line %d, so each incident of ",
		    n->target, m->line);
		o = put_events(msg, sizeof(msg), o, both);
		if (o < sizeof(msg))
			snprintf(msg + o, sizeof(msg) - o, " is told to it twice");
		say(arg, n->line, msg);
	}
	too_many_targets(c, say, arg);
	for (i = 0; i < c->nex_account; i++)
		account_pattern(c->ex_account[i], "exempt account",
		    c->ex_account_line[i], say, arg);
	for (i = 0; i < c->nrule; i++) {
		const struct fg_rule *r = &c->rule[i];
		size_t j;

		for (j = 0; j < r->nov; j++)
			account_pattern(r->ov[j].account, "override",
			    r->ov[j].line, say, arg);
	}
	if (c->nmap > 0 && (c->map_mode & S_IROTH)) {
		snprintf(msg, sizeof(msg), "account_map %s: every local user may read it (mode %04o), and it names every tenant's logins and addresses; chmod 640 (owner root, group floodgate's)",
		    c->account_map, c->map_mode);
		say(arg, fg_config_line(c, "account_map"), msg);
	}
	listen_warning(c, say, arg);
	if (c->names_line > 0 && (c->mode & S_IROTH)) {
		snprintf(msg, sizeof(msg), "every local user may read this file (mode %04o), which names the accounts it exempts or gives another rate: a tenant could send as one; chmod 640 (owner root, group floodgate's)",
		    c->mode);
		say(arg, c->names_line, msg);
	}
}
