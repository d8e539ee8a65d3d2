/*
 * The control socket, served by the service thread: a UNIX socket, mode
 * 0660, whose every peer is checked (SO_PEERCRED: root, floodgate's own
 * user, or a member of its group). One request per connection, at most
 * FG_CTL_MAXREQ bytes, answered within the service loop; a client that
 * does not send its line within 5 s is dropped, and each user may hold
 * only a few connections, so no client can stall the loop.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "account.h"
#include "control.h"
#include "daemon.h"
#include "inspect.h"
#include "log.h"
#include "util.h"

#define MAX_CLIENTS	32
#define MAX_PER_UID	4

struct client {
	struct bufferevent *bev;
	uid_t uid;
	int done;
};

static struct evconnlistener *listener;

/*
 * Held messages reserved for floodgatectl release: charged when it says
 * the MTA has them back, given back when it says it failed, or when it
 * says nothing for two minutes (it died).
 */
#define PLAN_TTL	120

struct pending {
	struct pending *next;
	char qid[32];
	time_t deadline;
	struct fg_msg msg;
};

static struct pending *pending;
static struct client *clients[MAX_CLIENTS];
static char sockpath[108];

static int peer_allowed(uid_t uid, gid_t gid);
static void on_accept(struct evconnlistener *, evutil_socket_t,
    struct sockaddr *, int, void *);
static void on_read(struct bufferevent *, void *);
static void on_write(struct bufferevent *, void *);
static void on_event(struct bufferevent *, short, void *);
static void client_free(struct client *c);
static void dispatch(struct fg_ctl_req *req, struct fg_ctl_out *o);
static void status_cmd(struct fg_ctl_out *o);
static void release_plan(const struct fg_ctl_req *req, struct fg_ctl_out *o);
static void release_done(const struct fg_ctl_req *req, struct fg_ctl_out *o);
static void reset_cmd(const struct fg_ctl_req *req, struct fg_ctl_out *o);

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

static void
client_free(struct client *c)
{
	int i;

	for (i = 0; i < MAX_CLIENTS; i++)
		if (clients[i] == c)
			clients[i] = NULL;
	bufferevent_free(c->bev);
	free(c);
}

static void
refuse(evutil_socket_t fd, const char *why)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "error %s\n.\n", why);

	if (write(fd, line, (size_t)n) < 0) {
		/* The peer went away: nothing more to tell it. */
	}
	close(fd);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct client *c;
	struct timeval tv = { 5, 0 };
	int i, slot = -1, mine = 0;

	(void)l;
	(void)sa;
	(void)len;
	(void)arg;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		close(fd);
		return;
	}
	if (!peer_allowed(cred.uid, cred.gid)) {
		fg_log_warn("control: refused uid=%u pid=%d: not root, not floodgate's user or group",
		    (unsigned)cred.uid, (int)cred.pid);
		refuse(fd, "permission denied: the control socket is for root and the floodgate group");
		return;
	}
	for (i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i] == NULL && slot < 0)
			slot = i;
		else if (clients[i] != NULL && clients[i]->uid == cred.uid)
			mine++;
	}
	if (slot < 0 || mine >= MAX_PER_UID) {
		refuse(fd, "too many control connections, try again");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->uid = cred.uid;
	c->bev = bufferevent_socket_new(fg_service_base(), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		free(c);
		close(fd);
		return;
	}
	clients[slot] = c;
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, FG_CTL_MAXREQ + 2);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
status_cmd(struct fg_ctl_out *o)
{
	uint64_t tot[FG_ST_N], dropped = 0;
	time_t now = time(NULL);

	fg_stats_totals(fgd.engine.stats, tot, &dropped);
	fg_ctl_ok(o);
	fg_ctl_kv(o, "version", "%s", FG_VERSION);
	fg_ctl_kv(o, "pid", "%d", (int)getpid());
	fg_ctl_kv(o, "uptime", "%ld", (long)(now - fgd.started));
	fg_ctl_kv(o, "config", "%s", fgd.cfg->path);
	fg_ctl_kv(o, "config_loaded", "%ld", (long)fgd.cfg->loaded);
	fg_ctl_kv(o, "reloads", "%lu", (unsigned long)atomic_load(&fgd.reloads));
	fg_ctl_kv(o, "mode", "%s", fgd.cfg->monitor ? "monitor" : "enforce");
	fg_ctl_kv(o, "rules", "%zu", fgd.cfg->nrule);
	fg_ctl_kv(o, "database", "%s", fgd.cfg->database);
	fg_ctl_kv(o, "store", "%s", atomic_load(&fgd.store_ok) ? "ok" : "failing");
	fg_ctl_kv(o, "accepted", "%llu", (unsigned long long)tot[FG_ST_ACCEPTED]);
	fg_ctl_kv(o, "deferred", "%llu", (unsigned long long)tot[FG_ST_DEFERRED]);
	fg_ctl_kv(o, "rejected", "%llu", (unsigned long long)tot[FG_ST_REJECTED]);
	fg_ctl_kv(o, "held", "%llu", (unsigned long long)tot[FG_ST_HELD]);
	fg_ctl_kv(o, "events_dropped", "%llu", (unsigned long long)dropped);
	fg_ctl_kv(o, "tracked_keys", "%zu", fg_table_count(fgd.table));
	{
		struct fg_service_counters sc;

		fg_service_counters(&sc);
		fg_ctl_kv(o, "max_keys", "%u", fgd.cfg->max_keys);
		fg_ctl_kv(o, "evictions", "%llu", sc.evictions);
	}
	fg_ctl_kv(o, "memory_kb", "%ld", fg_rss_bytes() / 1024);
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
	const char *sep = strchr(e->key, FG_KEY_SEP);
	char **a;

	if (sep == NULL || strncmp(sep + 1, k->account, k->alen) != 0 ||
	    (sep[1 + k->alen] != '\0' && sep[1 + k->alen] != '/'))
		return;
	if ((a = realloc(k->key, (k->n + 1) * sizeof(*a))) == NULL)
		return;
	k->key = a;
	if ((a[k->n] = fg_strdup(e->key)) != NULL)
		k->n++;
}

/* reset ACCOUNT [RULE]: forget what it sent, in every rule or in one. */
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
	fg_account_named(fgd.cfg, req->argv[0], &a);
	k.account = a.name;
	k.alen = strlen(a.name);
	/* Collect first: the walk holds the shard locks reset needs. */
	fg_table_foreach(fgd.table, (uint32_t)time(NULL), collect_keys, &k);
	for (i = 0; i < k.n; i++) {
		char *sep = strchr(k.key[i], FG_KEY_SEP);
		const struct fg_rule *r;

		*sep = '\0';
		r = fg_config_rule(fgd.cfg, k.key[i]);
		if (r != NULL && (r->scope == FG_SCOPE_ACCOUNT ||
		    r->scope == FG_SCOPE_ACCOUNT_DOMAIN) &&
		    (req->argc < 2 || strcmp(req->argv[1], k.key[i]) == 0) &&
		    fg_limiter_reset(fgd.engine.limiter, k.key[i], sep + 1) == 0)
			done++;
		free(k.key[i]);
	}
	free(k.key);
	fg_log_notice("control: reset account=%s rule=%s windows=%zu", a.name,
	    req->argc == 2 ? req->argv[1] : "*", done);
	fg_ctl_ok(o);
	fg_ctl_kv(o, "account", "%s", a.name);
	fg_ctl_kv(o, "rule", "%s", req->argc == 2 ? req->argv[1] : "*");
	fg_ctl_kv(o, "windows_reset", "%zu", done);
	fg_ctl_end(o);
}

static struct pending *
pending_find(const char *qid, struct pending ***prev)
{
	struct pending **pp, *p;

	for (pp = &pending; (p = *pp) != NULL; pp = &p->next) {
		if (strcmp(p->qid, qid) == 0) {
			if (prev != NULL)
				*prev = pp;
			return p;
		}
	}
	return NULL;
}

/* Give back what releases that were never confirmed had reserved. */
void
fg_control_tick(time_t now)
{
	struct pending **pp = &pending, *p;

	while ((p = *pp) != NULL) {
		if (p->deadline <= now) {
			fg_log_warn("release: qid=%s was not confirmed within %d s; its reservation is given back",
			    p->qid, PLAN_TTL);
			fg_msg_abort(&p->msg, &fgd.engine);
			*pp = p->next;
			free(p);
		} else
			pp = &p->next;
	}
}

/*
 * release-plan [MAX]: the held messages that may go now, oldest first,
 * each account only as far as its budget allows (an account stops at its
 * first message that does not fit, so its mail keeps its order).
 */
static void
release_plan(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	struct fg_held_row *h;
	size_t n, i, k, nblocked = 0;
	char err[FG_ERRLEN], **blocked;
	uint32_t max = 1000, planned = 0, now = (uint32_t)time(NULL);

	if (req->argc > 1 || (req->argc == 1 &&
	    (fg_parse_uint(req->argv[0], 100000, &max) < 0 || max == 0))) {
		fg_ctl_error(o, "release-plan: expected [MAX] from 1 to 100000");
		return;
	}
	fg_service_flush();
	if (fg_store_held(fgd.store, &h, &n, err, sizeof(err)) < 0) {
		fg_ctl_error(o, "release-plan: database: %s", err);
		return;
	}
	blocked = calloc(n ? n : 1, sizeof(*blocked));
	fg_ctl_ok(o);
	for (i = 0; i < n && planned < max && blocked != NULL; i++) {
		struct pending *p;

		if (pending_find(h[i].queue_id, NULL) != NULL)
			continue;
		for (k = 0; k < nblocked; k++)
			if (strcmp(blocked[k], h[i].account) == 0)
				break;
		if (k < nblocked)
			continue;
		if ((p = calloc(1, sizeof(*p))) == NULL)
			break;
		if (fg_msg_release(&p->msg, fgd.cfg, &fgd.engine, h[i].account,
		    h[i].domains, now) < 0) {
			free(p);
			blocked[nblocked++] = h[i].account;
			continue;
		}
		fg_strlcpy(p->qid, h[i].queue_id, sizeof(p->qid));
		p->deadline = (time_t)now + PLAN_TTL;
		p->next = pending;
		pending = p;
		planned++;
		fg_ctl_kv(o, "type", "release");
		fg_ctl_kv(o, "queue_id", "%s", h[i].queue_id);
		fg_ctl_kv(o, "account", "%s", h[i].account);
		fg_ctl_kv(o, "recipients", "%u", h[i].recipients);
		fg_ctl_rec_end(o);
	}
	fg_ctl_end(o);
	free(blocked);
	fg_store_held_free(h, n);
}

/* release-done QID released|failed|gone */
static void
release_done(const struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	struct pending **prev = NULL, *p;
	const char *how;
	char err[FG_ERRLEN];
	uint32_t now = (uint32_t)time(NULL);

	if (req->argc != 2 || (strcmp(req->argv[1], "released") &&
	    strcmp(req->argv[1], "failed") && strcmp(req->argv[1], "gone"))) {
		fg_ctl_error(o, "release-done: expected QUEUE-ID released|failed|gone");
		return;
	}
	how = req->argv[1];
	p = pending_find(req->argv[0], &prev);
	if (strcmp(how, "released") == 0 && p == NULL) {
		fg_ctl_error(o, "release-done: %s was not planned (or its plan expired)",
		    req->argv[0]);
		return;
	}
	if (p != NULL) {
		if (strcmp(how, "released") == 0)
			fg_msg_commit(&p->msg, &fgd.engine, now);
		else
			fg_msg_abort(&p->msg, &fgd.engine);
		*prev = p->next;
		free(p);
	}
	/* failed: still held, tried again next time. */
	if (strcmp(how, "failed") != 0 &&
	    fg_store_held_done(fgd.store, req->argv[0], now, how, err,
	    sizeof(err)) < 0) {
		fg_ctl_error(o, "release-done: database: %s", err);
		return;
	}
	fg_log_notice("release: qid=%s %s", req->argv[0], how);
	fg_ctl_ok(o);
	fg_ctl_kv(o, "queue_id", "%s", req->argv[0]);
	fg_ctl_kv(o, "result", "%s", how);
	fg_ctl_end(o);
}

static void
dispatch(struct fg_ctl_req *req, struct fg_ctl_out *o)
{
	struct fg_inspect in;

	in.cfg = fgd.cfg;
	in.limiter = fgd.engine.limiter;
	in.store = fgd.store;
	in.now = (uint32_t)time(NULL);
	if (strcmp(req->verb, "status") == 0)
		status_cmd(o);
	else if (strcmp(req->verb, "top") == 0) {
		fg_service_flush();	/* history up to this second */
		fg_inspect_top(&in, req, o);
	} else if (strcmp(req->verb, "show") == 0) {
		fg_service_flush();
		fg_inspect_show(&in, req, o);
	} else if (strcmp(req->verb, "explain") == 0)
		fg_inspect_explain(&in, req, o);
	else if (strcmp(req->verb, "held") == 0) {
		fg_service_flush();
		fg_inspect_held(&in, req, o);
	} else if (strcmp(req->verb, "release-plan") == 0)
		release_plan(req, o);
	else if (strcmp(req->verb, "release-done") == 0)
		release_done(req, o);
	else if (strcmp(req->verb, "reset") == 0)
		reset_cmd(req, o);
	else if (strcmp(req->verb, "reload") == 0) {
		if (fgd_reload() == 0) {
			fg_ctl_ok(o);
			fg_ctl_kv(o, "reloaded", "%s", fgd.cfg->path);
			fg_ctl_end(o);
		} else
			fg_ctl_error(o, "reload: %s has errors; the running configuration is kept (see the log)",
			    fgd.cfg->path);
	} else
		fg_ctl_error(o, "\"%s\": unknown command; expected status, top, show, explain, held, reset or reload",
		    req->verb);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct fg_ctl_req *req;
	struct fg_ctl_out o = { 0 };
	char err[FG_ERRLEN], *line;
	size_t len;

	if (c->done)
		return;
	line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > FG_CTL_MAXREQ) {
			fg_ctl_error(&o, "request longer than %d bytes", FG_CTL_MAXREQ);
			goto reply;
		}
		return;		/* wait for the rest of the line */
	}
	if ((req = malloc(sizeof(*req))) == NULL) {
		free(line);
		fg_ctl_error(&o, "out of memory");
		goto reply;
	}
	if (fg_ctl_parse(line, len, req, err, sizeof(err)) < 0)
		fg_ctl_error(&o, "%s", err);
	else {
		fg_log_info("control: uid=%u %s%s%s", (unsigned)c->uid, req->verb,
		    req->argc ? " " : "", req->argc ? req->argv[0] : "");
		dispatch(req, &o);
	}
	free(req);
	free(line);
reply:
	c->done = 1;
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, on_write, on_event, c);
	if (o.oom || o.buf == NULL)
		bufferevent_write(bev, "error out of memory\n.\n", 22);
	else
		bufferevent_write(bev, o.buf, o.len);
	fg_ctl_out_free(&o);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	client_free(arg);	/* the whole reply is out */
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	client_free(arg);	/* EOF, error or timeout */
}

int
fg_control_start(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fg_seterr(err, errlen, "control %s: path too long", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	fg_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	fg_strlcpy(sockpath, path, sizeof(sockpath));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		fg_seterr(err, errlen, "control: socket: %s", strerror(errno));
		return -1;
	}
	unlink(path);
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		fg_seterr(err, errlen, "control %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	chmod(path, 0660);
	listener = evconnlistener_new(fg_service_base(), on_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE, 16, fd);
	if (listener == NULL) {
		fg_seterr(err, errlen, "control %s: cannot listen", path);
		close(fd);
		return -1;
	}
	return 0;
}

void
fg_control_stop(void)
{
	int i;

	while (pending != NULL) {
		struct pending *p = pending;

		pending = p->next;
		fg_msg_abort(&p->msg, &fgd.engine);
		free(p);
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		if (clients[i] != NULL)
			client_free(clients[i]);
	if (listener != NULL) {
		evconnlistener_free(listener);
		listener = NULL;
		unlink(sockpath);
	}
}
