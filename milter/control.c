/*
 * The control socket, served by the service thread: a UNIX socket, mode
 * 0660, whose every peer is checked (SO_PEERCRED: root, floodgate's own
 * user, or a member of its group; the release steps root only). One
 * request per connection, at most FG_CTL_MAXREQ bytes, answered within
 * the service loop. A client has REQUEST_DEADLINE seconds from connecting
 * to send its line and REPLY_DEADLINE more to take the answer, however
 * it trickles, and each user may hold only a few connections, so no
 * client can stall the loop or hold a slot.
 */
#include <event2/buffer.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "account.h"
#include "control.h"
#include "daemon.h"
#include "inspect.h"
#include "log.h"
#include "shared.h"
#include "net.h"
#include "rrserve.h"
#include "rules.h"
#include "util.h"
#include "wkey.h"

typedef void (*handler)(const struct fg_ctl_req *req, struct fg_ctl_out *o);

static struct fg_rr *server;
static char sockpath[FG_UNIX_PATH_MAX + 1];

static int peer_allowed(uid_t uid, gid_t gid);
static int admit(int fd, uid_t *uid);
static int request(uid_t uid, struct evbuffer *in, struct evbuffer *out);
static void dispatch(uid_t uid, const struct fg_ctl_req *req, struct fg_ctl_out *o);

/* Who asked for the command being served (dispatch sets it), named in
 * the log lines of the commands that change something. */
static uid_t asker;
static char asker_name[96];

static const char *
asked_by(void)
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];

	if (asker_name[0] != '\0')
		return asker_name;
	if (getpwuid_r(asker, &pw, buf, sizeof(buf), &pwp) == 0 && pwp != NULL)
		snprintf(asker_name, sizeof(asker_name), "uid=%u (%s)",
		    (unsigned)asker, pw.pw_name);
	else
		snprintf(asker_name, sizeof(asker_name), "uid=%u",
		    (unsigned)asker);
	return asker_name;
}

static const struct fg_rr_ops ops = {
	.name = "control",
	.max_clients = 32,
	.max_per_uid = 4,
	.request_deadline = 5,
	.reply_deadline = 30,
	.busy = "error too many control connections, try again\n.\n",
	.admit = admit,
	.request = request,
};

static int
peer_allowed(uid_t uid, gid_t gid)
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];
	gid_t groups[256];
	int ngroups = 256, i;

	if (uid == 0 || uid == geteuid() || gid == getegid())
		return 1;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) != 0 || pwp == NULL)
		return 0;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &ngroups) < 0)
		return 0;
	for (i = 0; i < ngroups; i++)
		if (groups[i] == getegid())
			return 1;
	return 0;
}

/* SO_PEERCRED: root, floodgate's own user or its group, nobody else. */
static int
admit(int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	static const char denied[] = "error permission denied: the control socket is for root and the floodgate group\n.\n";

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		close(fd);
		return -1;
	}
	if (!peer_allowed(cred.uid, cred.gid)) {
		fg_log_warn("control: refused uid=%u pid=%d: not root, not floodgate's user or group",
		    (unsigned)cred.uid, (int)cred.pid);
		if (write(fd, denied, sizeof(denied) - 1) < 0) {
			/* The peer went away: nothing more to tell it. */
		}
		close(fd);
		return -1;
	}
	*uid = cred.uid;
	return 0;
}

/* The running configuration's warnings (fg_config_warnings): counted,
 * then each a record of status. */
static void
count_warning(void *arg, int line, const char *msg)
{
	(void)line;
	(void)msg;
	++*(size_t *)arg;
}

static void
warning_record(void *arg, int line, const char *msg)
{
	struct fg_ctl_out *o = arg;

	fg_ctl_kv(o, "type", "warning");
	fg_ctl_kv(o, "line", "%d", line);
	fg_ctl_kv(o, "warning", "%s", msg);
	fg_ctl_rec_end(o);
}

/* What the start or the last reload found around floodgate
 * (fg_around_found): counted, or each line a record of status. */
static size_t
found_records(const char *found, struct fg_ctl_out *o)
{
	const char *p, *nl;
	size_t n = 0;

	for (p = found; p != NULL && (nl = strchr(p, '\n')) != NULL;
	    p = nl + 1, n++)
		if (o != NULL) {
			fg_ctl_kv(o, "type", "system_warning");
			fg_ctl_kv(o, "warning", "%.*s", (int)(nl - p), p);
			fg_ctl_rec_end(o);
		}
	return n;
}

/* What the file changes that waits for a restart, or "none". */
static const char *
restart_pending(void)
{
	return fgd.restart_pending[0] != '\0' ? fgd.restart_pending : "none";
}

static void
status_cmd(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	uint64_t tot[FG_ST_N], dropped = 0;
	time_t now = time(NULL);
	size_t warnings = 0;
	int looking;
	char *found = fg_around_found(&looking);

	(void)req;
	fg_stats_totals(fgd.engine.stats, tot, &dropped);
	fg_config_warnings(fgd.cfg, count_warning, &warnings);
	fg_ctl_ok(o);
	fg_ctl_kv(o, "version", "%s", FG_VERSION);
	fg_ctl_kv(o, "pid", "%d", (int)getpid());
	fg_ctl_kv(o, "uptime", "%ld", (long)(now - fgd.started));
	fg_ctl_kv(o, "config", "%s", fgd.cfg->path);
	fg_ctl_kv(o, "config_loaded", "%ld", (long)fgd.cfg->loaded);
	fg_ctl_kv(o, "config_warnings", "%zu", warnings);
	fg_ctl_kv(o, "system_warnings", "%zu", found_records(found, NULL));
	/* running: the lines are the last look's, a new one is coming */
	fg_ctl_kv(o, "system_check", "%s", looking ? "running" : "done");
	fg_ctl_kv(o, "reloads", "%lu", (unsigned long)atomic_load(&fgd.reloads));
	fg_ctl_kv(o, "restart_pending", "%s", restart_pending());
	fg_ctl_kv(o, "mode", "%s", fgd.cfg->monitor ? "monitor" : "enforce");
	fg_ctl_kv(o, "engine", "%s", fgd.milter->name);
	/* systemd's WatchdogSec, in seconds; 0: no watchdog. */
	fg_ctl_kv(o, "watchdog", "%g", (double)fgd.watchdog_us / 1e6);
	fg_ctl_kv(o, "rules", "%zu", fgd.cfg->nrule);
	fg_ctl_kv(o, "database", "%s", fgd.cfg->database);
	fg_ctl_kv(o, "store", "%s", atomic_load(&fgd.store_ok) ? "ok" : "failing");
	switch (atomic_load(&fgd.store_place)) {
	case FG_STORE_GONE:
		fg_ctl_kv(o, "database_in_place", "no (removed, not written back yet)");
		break;
	case FG_STORE_REPLACED:
		fg_ctl_kv(o, "database_in_place", "no (another file is there)");
		break;
	default:
		fg_ctl_kv(o, "database_in_place", "yes");
	}
	if (fgd.cfg->store != NULL) {
		char st[768];

		fg_shared_state(st, sizeof(st));
		fg_ctl_kv(o, "decisions", "%s", st);
	} else
		fg_ctl_kv(o, "decisions", "memory (this server alone)");
	fg_ctl_kv(o, "accepted", "%llu", (unsigned long long)tot[FG_ST_ACCEPTED]);
	fg_ctl_kv(o, "deferred", "%llu", (unsigned long long)tot[FG_ST_DEFERRED]);
	fg_ctl_kv(o, "rejected", "%llu", (unsigned long long)tot[FG_ST_REJECTED]);
	fg_ctl_kv(o, "held", "%llu", (unsigned long long)tot[FG_ST_HELD]);
	fg_inspect_on_hold(fgd.store, o);
	fg_ctl_kv(o, "release_planned", "%zu", fg_release_planned());
	fg_ctl_kv(o, "events_dropped", "%llu", (unsigned long long)dropped);
	fg_ctl_kv(o, "tracked_keys", "%zu", fg_table_count(fgd.table));
	fg_ctl_kv(o, "connections", "%zu", fgd.milter->connections());
	fg_ctl_kv(o, "max_connections", "%u", fgd.cfg->max_connections);
	{
		struct fg_service_counters sc;

		fg_service_counters(&sc);
		fg_ctl_kv(o, "max_keys", "%u", fgd.cfg->max_keys);
		fg_ctl_kv(o, "evictions", "%llu", sc.evictions);
	}
	fg_ctl_kv(o, "memory_kb", "%ld", fg_rss_bytes() / 1024);
	{
		struct fg_feedback_counters fc;
		size_t paused, susp;

		fg_feedback_counters(&fc);
		susp = fg_blocks_count(fgd.engine.blocks, &paused, (uint32_t)now);
		fg_ctl_kv(o, "delivery_log", "%s", fgd.cfg->delivery_log ?
		    fgd.cfg->delivery_log : "(none)");
		fg_ctl_kv(o, "delivery_lines", "%llu", (unsigned long long)fc.lines);
		fg_ctl_kv(o, "delivery_untrusted", "%llu",
		    (unsigned long long)fc.untrusted);
		fg_ctl_kv(o, "delivery_lost", "%llu",
		    (unsigned long long)(fc.qids_dropped + fc.lookup_errors +
		    fc.add_errors));
		fg_ctl_kv(o, "sent", "%llu", (unsigned long long)tot[FG_ST_SENT]);
		fg_ctl_kv(o, "bounced", "%llu", (unsigned long long)tot[FG_ST_BOUNCED]);
		fg_ctl_kv(o, "unknown", "%llu", (unsigned long long)tot[FG_ST_UNKNOWN]);
		fg_ctl_kv(o, "suspended_accounts", "%zu", susp);
		fg_ctl_kv(o, "paused_domains", "%zu", paused);
		for (int m = 0; m < FG_SMAP_N; m++) {
			uint64_t asked, said;

			asked = fg_smap_lookups(m, &said);
			fg_ctl_kv(o, fg_smap_statement(m), "%llu lookups, %llu paused",
			    (unsigned long long)asked, (unsigned long long)said);
		}
		fg_ctl_kv(o, "incidents_open", "%zu", fg_incident_open_count());
	}
	{
		size_t run, stuck;

		fg_notify_counts(&run, &stuck);
		fg_ctl_kv(o, "notify_running", "%zu", run);
		fg_ctl_kv(o, "notify_not_gone", "%zu", stuck);
	}
	fg_ctl_rec_end(o);
	fg_config_warnings(fgd.cfg, warning_record, o);
	(void)found_records(found, o);
	free(found);
	{
		struct fg_inspect in = { .blocks = fgd.engine.blocks,
		    .now = (uint32_t)now };

		fg_inspect_blocks(&in, o, 1);
	}
	fg_ctl_end(o);
}

/* With mode monitor floodgate refuses nothing, and its rules suspend
 * and pause nothing: neither does an operator. 1 when refused so. */
static int
monitor_refuses(struct fg_ctl_out *o, const char *verb, const char *does)
{
	if (!fgd.cfg->monitor)
		return 0;
	fg_ctl_error(o, "%s: mode monitor refuses no mail, so it %s nothing either; set mode enforce first",
	    verb, does);
	return 1;
}

/* suspend ACCOUNT [DURATION]: what a rule with action suspend does, by
 * hand: until resume, or for DURATION. An account suspended already
 * gets that end instead, as a paused domain does. */
static void
suspend_cmd(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	struct fg_account a;
	struct fg_suspension su;
	uint32_t secs = 0, end, now = (uint32_t)time(NULL);
	char dur[32], until[32], how[80] = "until floodgatectl resume";
	char moved[FG_NAME_MAX + 48] = "";
	int was;

	if (req->argc != 1 && req->argc != 2) {
		fg_ctl_error(o, "suspend: expected an account and, for a suspension that ends by itself, a duration, such as suspend tenant42 2h");
		return;
	}
	if (monitor_refuses(o, "suspend", "suspends"))
		return;
	if (req->argc == 2 && fg_parse_duration(req->argv[1], &secs) < 0) {
		fg_ctl_error(o, "suspend: \"%s\": expected a duration from 1s to 366d, such as 2h",
		    req->argv[1]);
		return;
	}
	if (fg_account_named(fgd.cfg, req->argv[0], &a) < 0) {
		fg_ctl_error(o, "suspend: out of memory");
		return;
	}
	if (fg_exempt_account(fgd.cfg, a.identity, a.name)) {
		/* The exemption is checked first: it would not stop. */
		fg_ctl_error(o, "suspend: %s is exempt (floodgate.conf's exempt account): a suspension would not stop it",
		    a.name);
		return;
	}
	end = secs != 0 ? now + secs : 0;
	was = fg_blocks_suspended(fgd.engine.blocks, a.name, now, &su);
	if (was && su.until == 0 && end == 0) {
		fg_ctl_error(o, "suspend: %s is suspended already (by %s) until floodgatectl resume; give a duration for it to end by itself",
		    a.name, su.rule);
		return;
	}
	if (was && fg_blocks_suspend_anew(fgd.engine.blocks, a.name, now, end,
	    &su))
		snprintf(moved, sizeof(moved),
		    " (it was suspended by %s: its end moved)", su.rule);
	else if (!fg_blocks_suspend(fgd.engine.blocks, a.name, FG_BY_OPERATOR,
	    now, end)) {
		fg_ctl_error(o, "suspend: out of memory");
		return;
	} else
		su.since = now;
	if (secs != 0) {
		fg_format_duration(secs, dur, sizeof(dur));
		fg_format_utc(end, until, sizeof(until));
		snprintf(how, sizeof(how), "for %s until %s", dur, until);
	}
	fg_log_notice("control: suspend account=%s %s%s; asked by %s", a.name,
	    how, moved, asked_by());
	fg_ctl_ok(o);
	fg_ctl_kv(o, "account", "%s", a.name);
	fg_ctl_kv(o, "suspended", "yes");
	fg_ctl_kv(o, "since", "%u", su.since);
	fg_ctl_kv(o, "until", "%u", end);
	fg_ctl_end(o);
}

/* resume ACCOUNT: lift a suspension. */
static void
resume_cmd(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	struct fg_account a;

	if (req->argc != 1) {
		fg_ctl_error(o, "resume: expected one account");
		return;
	}
	if (fg_account_named(fgd.cfg, req->argv[0], &a) < 0) {
		fg_ctl_error(o, "resume: out of memory");
		return;
	}
	if (!fg_blocks_resume(fgd.engine.blocks, a.name)) {
		fg_ctl_error(o, "resume: %s is not suspended", a.name);
		return;
	}
	fg_log_notice("control: resume account=%s; asked by %s", a.name,
	    asked_by());
	fg_ctl_ok(o);
	fg_ctl_kv(o, "account", "%s", a.name);
	fg_ctl_kv(o, "suspended", "no");
	fg_ctl_end(o);
}

/* A domain, or a pattern "*.example.jp" (its subdomains), normalized
 * into key as the pause's record names it; -1 when it is neither. */
static int
pause_key(const char *arg, char *key, size_t len)
{
	if (strncmp(arg, "*.", 2) != 0)
		return fg_domain_normalize(arg, key, len);
	if (len < 3 || fg_domain_normalize(arg + 2, key + 2, len - 2) < 0)
		return -1;
	key[0] = '*';
	key[1] = '.';
	return 0;
}

/*
 * What pause and unpause name: one domain or pattern, or @GROUP,
 * floodgate.conf's group, whose domains and patterns are taken one by
 * one. The group, or NULL and the domain in dom; -1 when arg is
 * neither, with usage or the missing group said.
 */
static int
pause_target(const char *verb, const char *arg, const char *usage,
    const struct fg_group **g, char *dom, size_t len, struct fg_ctl_out *o)
{
	*g = NULL;
	if (arg[0] != '@') {
		if (pause_key(arg, dom, len) == 0)
			return 0;
		fg_ctl_error(o, "%s", usage);
		return -1;
	}
	if ((*g = fg_config_group(fgd.cfg, arg + 1)) == NULL) {
		fg_ctl_error(o, "%s: \"%s\": no such group in %s", verb, arg,
		    fgd.cfg->path);
		return -1;
	}
	return 0;
}

/* One domain of a pause: done, logged and its record written. */
static void
pause_one(struct fg_ctl_out *o, const char *dom, uint32_t secs,
    uint32_t now)
{
	char dur[32], until[32];
	struct fg_pause pa;
	int rc;

	fg_ctl_kv(o, "domain", "%s", dom);
	if ((rc = fg_blocks_pause_for(fgd.engine.blocks, dom, secs, now,
	    &pa)) < 0) {
		fg_ctl_kv(o, "paused", "no: out of memory");
		fg_ctl_rec_end(o);
		return;
	}
	fg_format_duration(secs, dur, sizeof(dur));
	fg_format_utc(pa.until, until, sizeof(until));
	fg_log_notice("control: pause domain=%s for %s until %s%s; asked by %s",
	    dom, dur, until, rc == 0 ? " (it was paused: its end moved)" : "",
	    asked_by());
	fg_ctl_kv(o, "paused", "yes");
	fg_ctl_kv(o, "since", "%u", pa.since);
	fg_ctl_kv(o, "until", "%u", pa.until);
	fg_ctl_rec_end(o);
}

/* pause DOMAIN|@GROUP DURATION: what a backoff does, by hand and for as
 * long as the operator says (a pause already running gets that end). */
static void
pause_cmd(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	static const char usage[] =
	    "pause: expected a domain, *.domain (its subdomains) or @GROUP and a duration, such as pause docomo.ne.jp 10h";
	char dom[FG_DOMAIN_MAX + 1];
	uint32_t secs, now = (uint32_t)time(NULL);
	const struct fg_group *g;
	size_t i;

	if (req->argc != 2) {
		fg_ctl_error(o, "%s", usage);
		return;
	}
	if (pause_target("pause", req->argv[0], usage, &g, dom, sizeof(dom),
	    o) < 0 || monitor_refuses(o, "pause", "pauses"))
		return;
	if (fg_parse_duration(req->argv[1], &secs) < 0) {
		fg_ctl_error(o, "pause: \"%s\": expected a duration from 1s to 366d, such as 10h",
		    req->argv[1]);
		return;
	}
	fg_ctl_ok(o);
	if (g == NULL)
		pause_one(o, dom, secs, now);
	for (i = 0; g != NULL && i < g->n; i++)
		if (pause_key(g->dom[i], dom, sizeof(dom)) == 0)
			pause_one(o, dom, secs, now);
	fg_ctl_end(o);
}

/* Whether key has a pause of its own now (not only a pattern's above
 * it, which unpause of key would not end); *by gets the pause's name. */
static int
paused_itself(const char *key, uint32_t now, struct fg_pause *by)
{
	return fg_blocks_paused(fgd.engine.blocks, key, now, by) &&
	    strcmp(by->domain, key) == 0;
}

/* Whether the domain (g NULL), or a domain of the group, is paused now;
 * a group's leaves dom changed. */
static int
target_paused(const struct fg_group *g, char *dom, size_t len, uint32_t now,
    struct fg_pause *by)
{
	size_t i;

	if (g == NULL)
		return paused_itself(dom, now, by);
	for (i = 0; i < g->n; i++)
		if (pause_key(g->dom[i], dom, len) == 0 &&
		    paused_itself(dom, now, by))
			return 1;
	return 0;
}

/* unpause DOMAIN|@GROUP: end a pause now; the next trip starts from the
 * base duration again. A group's domains that are not paused are left
 * out; none paused is an error, as for one domain. */
static void
unpause_cmd(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	static const char usage[] =
	    "unpause: expected one domain, *.domain (its subdomains) or @GROUP";
	char dom[FG_DOMAIN_MAX + 1];
	uint32_t now = (uint32_t)time(NULL);
	const struct fg_group *g;
	struct fg_pause by;
	size_t i;

	if (req->argc != 1) {
		fg_ctl_error(o, "%s", usage);
		return;
	}
	if (pause_target("unpause", req->argv[0], usage, &g, dom, sizeof(dom),
	    o) < 0)
		return;
	memset(&by, 0, sizeof(by));
	if (!target_paused(g, dom, sizeof(dom), now, &by)) {
		if (g != NULL)
			fg_ctl_error(o, "unpause: no domain of %s is paused",
			    req->argv[0]);
		else if (by.domain[0] != '\0')
			fg_ctl_error(o, "unpause: %s is paused by the pause of %s; unpause %s",
			    dom, by.domain, by.domain);
		else
			fg_ctl_error(o, "unpause: %s is not paused", dom);
		return;
	}
	fg_ctl_ok(o);
	for (i = 0; i < (g != NULL ? g->n : 1); i++) {
		if (g != NULL && pause_key(g->dom[i], dom, sizeof(dom)) < 0)
			continue;
		if (!fg_blocks_unpause(fgd.engine.blocks, dom, now))
			continue;	/* not paused (or ended meanwhile) */
		fg_log_notice("control: unpause domain=%s; asked by %s", dom,
		    asked_by());
		fg_ctl_kv(o, "domain", "%s", dom);
		fg_ctl_kv(o, "paused", "no");
		fg_ctl_rec_end(o);
	}
	fg_ctl_end(o);
}

struct keys {
	const char *account;
	size_t alen;
	char **key;
	size_t n;
};

static void
collect_keys(const struct fg_entry *e, void *arg)
{
	struct keys *k = arg;
	const char *key;
	char **a;

	if (fg_wkey_split(e->key, &key) < 0 ||
	    strncmp(key, k->account, k->alen) != 0 ||
	    (key[k->alen] != '\0' && key[k->alen] != '/'))
		return;
	if ((a = realloc(k->key, (k->n + 1) * sizeof(*a))) == NULL)
		return;
	k->key = a;
	if ((a[k->n] = fg_strdup(e->key)) != NULL)
		k->n++;
}

/* The rule a window belongs to: its own, or a feedback limit's
 * companion ("RULE+all", results for ratio and show). */
static const struct fg_rule *
window_rule(const char *wrule)
{
	char base[FG_NAME_MAX + 1];
	const char *plus = strchr(wrule, '+');
	const struct fg_rule *r;

	if (plus == NULL)
		return fg_config_rule(fgd.cfg, wrule);
	if ((size_t)(plus - wrule) >= sizeof(base))
		return NULL;
	memcpy(base, wrule, (size_t)(plus - wrule));
	base[plus - wrule] = '\0';
	r = fg_config_rule(fgd.cfg, base);
	return r != NULL && fg_rule_feedback(r) ? r : NULL;
}

struct shreset {
	char (*key)[FG_WKEY_MAX + 1];
	size_t n;
};

static void
collect_shared(void *arg, const char *wkey)
{
	struct shreset *s = arg;
	void *p = realloc(s->key, (s->n + 1) * sizeof(*s->key));

	if (p == NULL)
		return;
	s->key = p;
	fg_strlcpy(s->key[s->n++], wkey, sizeof(s->key[0]));
}

/* The account's windows in the shared store, for every relay: -1 when
 * it does not answer. */
static long
reset_shared(const struct fg_account *a, const char *only)
{
	struct shreset s = { NULL, 0 };
	long done = 0;
	size_t i;
	int rc;

	for (i = 0; i < fgd.cfg->nrule; i++) {
		const struct fg_rule *r = &fgd.cfg->rule[i];

		if (r->is_cap || fg_rule_feedback(r) ||
		    (only != NULL && strcmp(only, r->name) != 0))
			continue;
		if (r->scope == FG_SCOPE_ACCOUNT) {
			if ((rc = fg_shared_reset_now(r->name, a->name)) < 0)
				return -1;
			done += rc;
		} else if (r->scope == FG_SCOPE_ACCOUNT_DOMAIN &&
		    fg_shared_windows(r->name, a->name, collect_shared, &s) < 0) {
			free(s.key);
			return -1;
		}
	}
	for (i = 0; i < s.n; i++) {
		char rule[FG_WRULE_MAX + 1];
		const char *key;

		if (fg_wkey_rule(s.key[i], rule, &key) < 0)
			continue;
		if ((rc = fg_shared_reset_now(rule, key)) < 0) {
			free(s.key);
			return -1;
		}
		done += rc;
	}
	free(s.key);
	return done;
}

/* reset ACCOUNT [RULE]: forget what it sent, in every rule or in one
 * (a feedback limit's companion windows with it). */
static void
reset_cmd(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	struct fg_account a;
	struct keys k = { 0 };
	size_t i, done = 0;

	if (req->argc < 1 || req->argc > 2) {
		fg_ctl_error(o, "reset: expected ACCOUNT [RULE]");
		return;
	}
	if (req->argc == 2 && fg_config_rule(fgd.cfg, req->argv[1]) == NULL) {
		fg_ctl_error(o, "reset: \"%s\": no such rule", req->argv[1]);
		return;
	}
	if (fg_account_named(fgd.cfg, req->argv[0], &a) < 0) {
		fg_ctl_error(o, "reset: out of memory");
		return;
	}
	k.account = a.name;
	k.alen = strlen(a.name);
	/* Collect first: the walk holds the shard locks reset needs. */
	fg_table_foreach(fgd.table, (uint32_t)time(NULL), collect_keys, &k);
	for (i = 0; i < k.n; i++) {
		char rule[FG_WRULE_MAX + 1];
		const char *key;
		const struct fg_rule *r;

		if (fg_wkey_rule(k.key[i], rule, &key) >= 0 &&
		    (r = window_rule(rule)) != NULL &&
		    (r->scope == FG_SCOPE_ACCOUNT ||
		    r->scope == FG_SCOPE_ACCOUNT_DOMAIN) &&
		    (req->argc < 2 || strcmp(req->argv[1], r->name) == 0) &&
		    fg_limiter_reset(fgd.engine.limiter, rule, key) == 0) {
			done++;
			/* The other relays' copies of a feedback window. */
			if (fgd.cfg->store != NULL && fg_rule_feedback(r))
				fg_shared_fb_publish(rule, key, a.name,
				    r->period, 0);
		}
		free(k.key[i]);
	}
	free(k.key);
	if (fgd.cfg->store != NULL) {
		long n = reset_shared(&a, req->argc == 2 ? req->argv[1] : NULL);

		if (n < 0) {
			fg_log_warn("control: reset account=%s: %s does not answer; its windows are kept; asked by %s",
			    a.name, fgd.cfg->store, asked_by());
			fg_ctl_error(o, "reset: %s does not answer: the shared windows are not reset (%zu of this relay's were)",
			    fgd.cfg->store, done);
			return;
		}
		done += (size_t)n;
	}
	fg_log_notice("control: reset account=%s rule=%s windows=%zu; asked by %s",
	    a.name, req->argc == 2 ? req->argv[1] : "*", done, asked_by());
	fg_ctl_ok(o);
	fg_ctl_kv(o, "account", "%s", a.name);
	fg_ctl_kv(o, "rule", "%s", req->argc == 2 ? req->argv[1] : "*");
	fg_ctl_kv(o, "windows_reset", "%zu", done);
	fg_ctl_end(o);
}

static void
reload_cmd(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	(void)req;
	if (!atomic_load(&fgd.up)) {
		fg_ctl_error(o, "reload: floodgate is still starting; try again in a second");
		return;
	}
	fg_log_notice("control: reload of %s; asked by %s", fgd.cfg->path,
	    asked_by());
	if (fgd_reload() == 0) {
		size_t warnings = 0;

		fg_config_warnings(fgd.cfg, count_warning, &warnings);
		fg_ctl_ok(o);
		fg_ctl_kv(o, "reloaded", "%s", fgd.cfg->path);
		fg_ctl_kv(o, "config_warnings", "%zu", warnings);
		fg_ctl_kv(o, "restart_pending", "%s", restart_pending());
		/* The MTA's settings are looked at again beside serving:
		 * what that finds is in status (system_warnings). */
		fg_ctl_kv(o, "system_check", "%s",
		    fg_around_busy() ? "running" : "done");
		fg_ctl_end(o);
	} else
		fg_ctl_error(o, "reload: %s has errors; the running configuration is kept (see the log)",
		    fgd.cfg->path);
}

/* The daemon's half of the command table, but for the read-only
 * commands (fg_inspect_for); NULL: not the daemon's. */
static const handler handlers[FG_CTL_NVERBS] = {
	[FG_CTL_STATUS] = status_cmd,
	[FG_CTL_RESET] = reset_cmd,
	[FG_CTL_RELOAD] = reload_cmd,
	[FG_CTL_SUSPEND] = suspend_cmd,
	[FG_CTL_RESUME] = resume_cmd,
	[FG_CTL_PAUSE] = pause_cmd,
	[FG_CTL_UNPAUSE] = unpause_cmd,
	[FG_CTL_RELEASE_PLAN] = fg_release_plan,
	[FG_CTL_RELEASE_DONE] = fg_release_done,
};

static void
dispatch(uid_t uid, const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	int v = fg_ctl_lookup(req->verb);
	fg_inspector inspector = v < 0 ? NULL : fg_inspect_for(v);
	char list[256];

	if (v < 0 || (handlers[v] == NULL && inspector == NULL)) {
		fg_ctl_verbs(list, sizeof(list));
		if (v < 0)
			fg_ctl_error(o, "\"%s\": unknown command; expected %s",
			    req->verb, list);
		else
			fg_ctl_error(o, "\"%s\" is run by floodgatectl, not sent to the daemon",
			    req->verb);
		return;
	}
	/* floodgatectl checks too, but the daemon decides: a group member
	 * must not drop held mail from the list or release it. */
	if ((fg_ctl_cmds[v].flags & FG_CTL_ROOT) && uid != 0) {
		fg_log_warn("control: refused %s from uid=%u: root only",
		    req->verb, (unsigned)uid);
		fg_ctl_error(o, "%s: permission denied: root only", req->verb);
		return;
	}
	asker = uid;
	asker_name[0] = '\0';
	if (fg_ctl_cmds[v].flags & FG_CTL_FLUSH)
		fg_service_flush();	/* history up to this second */
	if (inspector != NULL) {
		struct fg_inspect in;
		struct fg_incident *live;

		in.cfg = fgd.cfg;
		in.limiter = fgd.engine.limiter;
		in.store = fgd.store;
		in.blocks = fgd.engine.blocks;
		in.now = (uint32_t)time(NULL);
		in.peek = NULL;
		in.windows = NULL;
		in.top = NULL;
		in.relays_down = fgd.cfg->store != NULL && !fg_shared_up() ?
		    fgd.cfg->relays : 0;
		live = NULL;
		in.nlive = v == FG_CTL_INCIDENTS ? fg_incident_unsaved(&live) : 0;
		in.live = live;
		if (fgd.cfg->store != NULL && fg_shared_up()) {
			in.peek = fg_shared_peek;
			in.windows = fg_shared_windows;
			in.top = fg_shared_top;
		}
		inspector(&in, req, o);
		free(live);
	} else
		handlers[v](req, o);
}

/* One request line; answered by dispatch, or refused as malformed. */
static int
request(uid_t uid, struct evbuffer *in, struct evbuffer *out)
{
	struct fg_ctl_req *req;
	struct fg_ctl_out o = { 0 };
	char err[FG_ERRLEN], *line;
	size_t len;

	line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) <= FG_CTL_MAXREQ)
			return 0;	/* wait for the rest of the line */
		fg_ctl_error(&o, "request longer than %d bytes", FG_CTL_MAXREQ);
	} else if ((req = malloc(sizeof(*req))) == NULL) {
		fg_ctl_error(&o, "out of memory");
	} else {
		if (fg_ctl_parse(line, len, req, err, sizeof(err)) < 0)
			fg_ctl_error(&o, "%s", err);
		else {
			fg_log_info("control: uid=%u %s%s%s", (unsigned)uid,
			    req->verb, req->argc ? " " : "",
			    req->argc ? req->argv[0] : "");
			dispatch(uid, req, &o);
		}
		free(req);
	}
	free(line);
	if (o.oom || o.buf == NULL)
		evbuffer_add(out, "error out of memory\n.\n", 22);
	else
		evbuffer_add(out, o.buf, o.len);
	fg_ctl_out_free(&o);
	return 1;
}

int
fg_control_start(const char *path, char *err, size_t errlen)
{
	char e[FG_ERRLEN];
	int fd;

	if ((fd = fg_net_listen_unix(path, e, sizeof(e))) < 0) {
		fg_seterr(err, errlen, "control %s", e);
		return -1;
	}
	fg_strlcpy(sockpath, path, sizeof(sockpath));
	if ((server = fg_rr_start(fd, &ops, err, errlen)) == NULL) {
		unlink(path);
		return -1;
	}
	return 0;
}

static int
relisten(int fd, void *arg)
{
	(void)arg;
	return fg_rr_relisten(server, fd);
}

/*
 * The control socket removed while floodgate runs: floodgatectl found
 * nothing at the path and said floodgate was not running, and the
 * release timer's runs failed, so held mail stayed held. Made again,
 * the requests in hand served on (fgd_socket_placed).
 */
void
fg_control_check(void)
{
	static struct fgd_placed pl;

	if (server != NULL)
		fgd_socket_placed(sockpath, "control socket",
		    "floodgatectl cannot reach floodgate", &pl, relisten, NULL);
}

void
fg_control_stop(void)
{
	fg_release_stop();
	if (server != NULL) {
		fg_rr_stop(server);
		server = NULL;
		unlink(sockpath);
	}
}
