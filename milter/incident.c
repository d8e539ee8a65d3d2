/*
 * Incidents and the people told of them, on the service thread. An
 * incident is one thing going wrong for one subject: an account
 * suspended, a feedback limit tripped, a domain paused, the store
 * failing, an account refused by rate limits. It starts once and ends
 * once, with a summary (counts, top destinations, how long); both are
 * kept in the store, with how far people were told, so that a restart
 * tells nothing twice. Each `notify` target is told of the kinds it
 * asked for: exec:PATH runs the program (no shell, the incident as JSON
 * on stdin), mailto:ADDRESS submits a message through the MTA's
 * sendmail, both run by notify_run.c. At most notify_max messages an
 * hour; what is left waits for the next hour and goes in digests.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "htab.h"
#include "log.h"
#include "shared.h"
#include "util.h"

#define DIGEST_MAX	256	/* incidents in one digest */
/* The hour's budget spent, "HOUR SENT" in the store's marks: a restart
 * within the hour (a crash loop's every two seconds) must not send
 * notify_max more. */
#define BUDGET_MARK	"notify_budget"
#define REFUSED_QUIET	600	/* a refused incident ends after this */
#define RELEASE_CHECK	30	/* seconds between looks at the held mail */
#define TOP		5
#define TOP_TRACK	32

struct tally {
	char *name;			/* its own copy: most are short */
	uint64_t n;
};

struct inc {
	struct fg_hnode node;		/* in the index of open incidents */
	struct fg_incident i;		/* as stored */
	unsigned kind;			/* FG_EV_* */
	uint32_t last;			/* last activity */
	struct tally top[TOP_TRACK];	/* destinations (accounts, for a pause) */
	int dirty;
	struct inc *next;
};

static struct inc *incs;		/* open, or not told to the end yet */
/* The open ones by kind and subject: every refusal looks one up. */
static struct fg_htab open_index;

struct inc_key {
	unsigned kind;
	const char *subject;
};

static uint64_t
inc_hash(unsigned kind, const char *subject)
{
	return fg_hash(subject) ^ ((uint64_t)kind * 0x9e3779b97f4a7c15ull);
}

static int
inc_eq(const struct fg_hnode *n, const void *key)
{
	const struct inc *x = (const struct inc *)n;
	const struct inc_key *k = key;

	return x->kind == k->kind && strcmp(x->i.subject, k->subject) == 0;
}

/* Puts an open incident in the index. */
static void
index_open(struct inc *x)
{
	x->node.hash = inc_hash(x->kind, x->i.subject);
	if (fg_htab_add(&open_index, &x->node) < 0)
		fg_log_err("incident: out of memory to index %s %s",
		    x->i.kind, x->i.subject);
}

static uint32_t hour;			/* of the budget */
static unsigned sent_this_hour;
static int have_digest;			/* something waits for the next hour */
static int digest_due;			/* the hour turned: digests to send */
static unsigned digests_this_hour;	/* numbers them in their subject */
static int budget_dirty;		/* sent_this_hour not in the store yet */
static char host[256];

static const char *
kind_name(unsigned kind)
{
	return fg_name_of(fg_event_names, (int)kind);
}

/* The open incident of a kind and subject, or NULL. */
static struct inc *
find(unsigned kind, const char *subject)
{
	struct inc_key k = { kind, subject };

	return (struct inc *)fg_htab_find(&open_index, inc_hash(kind, subject),
	    inc_eq, &k);
}

static void
free_inc(struct inc *x)
{
	size_t i;

	for (i = 0; i < TOP_TRACK; i++)
		free(x->top[i].name);
	free(x);
}

void
fg_incident_start(unsigned kind, const char *subject, const char *detail,
    uint32_t now)
{
	struct inc *x = find(kind, subject);

	if (x != NULL) {
		x->last = now;
		return;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		fg_log_err("incident: out of memory for %s %s", kind_name(kind),
		    subject);
		return;
	}
	x->kind = kind;
	fg_strlcpy(x->i.kind, kind_name(kind), sizeof(x->i.kind));
	fg_strlcpy(x->i.subject, subject, sizeof(x->i.subject));
	fg_strlcpy(x->i.detail, detail != NULL ? detail : "",
	    sizeof(x->i.detail));
	x->i.started = x->last = now;
	x->dirty = 1;
	x->next = incs;
	incs = x;
	index_open(x);
	fg_log_notice("incident: started kind=%s subject=\"%s\": %s",
	    x->i.kind, subject, x->i.detail);
}

void
fg_incident_add(unsigned kind, const char *subject, const char *name,
    uint64_t n, uint32_t now)
{
	struct inc *x = find(kind, subject);
	size_t i, low = 0;

	if (x == NULL)
		return;
	x->i.count += n;
	x->last = now;
	x->dirty = 1;
	if (name == NULL || name[0] == '\0')
		return;
	for (i = 0; i < TOP_TRACK; i++) {
		if (x->top[i].n == 0 || strcmp(x->top[i].name, name) == 0)
			break;
		if (x->top[i].n < x->top[low].n)
			low = i;
	}
	if (i == TOP_TRACK) {
		/* Full: the least counted gives its place (an estimate,
		 * as every bounded top is). */
		i = low;
		x->top[i].n = 0;
	}
	if (x->top[i].n == 0) {
		char *s = fg_strdup(name);

		if (s == NULL)
			return;		/* counted, not named */
		free(x->top[i].name);
		x->top[i].name = s;
	}
	x->top[i].n += n;
}

void
fg_incident_end(unsigned kind, const char *subject, uint32_t now)
{
	struct inc *x = find(kind, subject);

	if (x == NULL)
		return;
	x->i.ended = now > x->i.started ? now : x->i.started;
	x->dirty = 1;
	(void)fg_htab_unlink(&open_index, &x->node);
	fg_log_notice("incident: ended kind=%s subject=\"%s\" after %us count=%llu",
	    x->i.kind, subject, x->i.ended - x->i.started,
	    (unsigned long long)x->i.count);
}

void
fg_incident_events(const struct fg_event *ev, size_t n, uint32_t now)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct fg_event *e = &ev[i];
		const struct fg_rule *r;

		if (strcmp(e->action, "suspended") == 0) {
			fg_incident_add(FG_EV_SUSPEND, e->account, e->dest,
			    fg_event_count(e), now);
			continue;
		}
		if (strcmp(e->action, "paused") == 0) {
			struct fg_pause p;

			/* Counted on the pause, which may be a pattern's
			 * ("*.example.jp" for a.example.jp). */
			fg_incident_add(FG_EV_PAUSE,
			    fg_blocks_paused(fgd.engine.blocks, e->dest, now,
			    &p) ? p.domain : e->dest, e->account,
			    fg_event_count(e), now);
			continue;
		}
		if (strcmp(e->action, "defer") != 0 &&
		    strcmp(e->action, "reject") != 0 &&
		    strcmp(e->action, "hold") != 0 &&
		    strcmp(e->action, "defer-local") != 0 &&
		    strcmp(e->action, "suspend") != 0)
			continue;
		/* Rate limits only: feedback limits have their own. */
		r = fg_config_rule(fgd.cfg, e->rule);
		if (r != NULL && fg_rule_feedback(r))
			continue;
		if (find(FG_EV_REFUSED, e->account) == NULL) {
			/* Room for the longest rule name, action and domain. */
			char detail[sizeof("limit : (4294967295 of 4294967295), first to ")
			    + FG_NAME_MAX + FG_ACTION_MAX + FG_DOMAIN_MAX];

			snprintf(detail, sizeof(detail),
			    "limit %s: %s (%u of %u), first to %s", e->rule,
			    e->action, e->used, e->limit,
			    e->dest[0] ? e->dest : "(local)");
			fg_incident_start(FG_EV_REFUSED, e->account, detail, now);
		}
		fg_incident_add(FG_EV_REFUSED, e->account, e->dest,
		    fg_event_count(e), now);
	}
}

/* For suspensions by account and pauses by domain, each their row's
 * first member (a key, or a row). */
static int
by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Suspensions and pauses as the blocks have them now, whoever made or
 * lifted them (a rule, floodgatectl, the clock). Each open incident of
 * theirs is looked up in them, sorted: thousands of each must not cost
 * millions of comparisons a second. */
static void
sync_blocks(uint32_t now)
{
	struct fg_suspension *s;
	struct fg_pause *p;
	size_t ns, np, i;
	struct inc *x;
	char detail[FG_ACCOUNT_MAX * 2 + 256], by[FG_NAME_MAX + 16];
	char until[32], end[40];

	fg_blocks_rows(fgd.engine.blocks, &s, &ns, &p, &np);
	for (i = 0; s != NULL && i < ns; i++) {
		if (!fg_suspension_on(&s[i], now) ||
		    find(FG_EV_SUSPEND, s[i].account) != NULL)
			continue;
		if (strcmp(s[i].rule, FG_BY_OPERATOR) == 0)
			fg_strlcpy(by, "floodgatectl suspend", sizeof(by));
		else
			snprintf(by, sizeof(by), "limit %s", s[i].rule);
		end[0] = '\0';
		if (s[i].until != 0) {
			fg_format_utc(s[i].until, until, sizeof(until));
			snprintf(end, sizeof(end), " until %s", until);
		}
		snprintf(detail, sizeof(detail),
		    "suspended by %s%s; new recipients are deferred, local mail is held, until %sfloodgatectl resume %s",
		    by, end, s[i].until != 0 ? "then or " : "", s[i].account);
		fg_incident_start(FG_EV_SUSPEND, s[i].account, detail,
		    s[i].since ? s[i].since : now);
	}
	for (i = 0; p != NULL && i < np; i++) {
		if (p[i].until <= now || find(FG_EV_PAUSE, p[i].domain))
			continue;
		if (strcmp(p[i].rule, FG_BY_OPERATOR) == 0) {
			fg_format_utc(p[i].until, until, sizeof(until));
			snprintf(detail, sizeof(detail),
			    "paused by floodgatectl pause until %s; new recipients are deferred, queued mail waits, until then or floodgatectl unpause %s",
			    until, p[i].domain);
		} else
			snprintf(detail, sizeof(detail), "paused by backoff %s",
			    p[i].rule);
		fg_incident_start(FG_EV_PAUSE, p[i].domain, detail, p[i].since);
	}
	if (s != NULL)
		qsort(s, ns, sizeof(*s), by_name);
	if (p != NULL)
		qsort(p, np, sizeof(*p), by_name);
	for (x = incs; x != NULL; x = x->next) {
		int still = 0;

		if (x->i.ended != 0)
			continue;
		if (x->kind == FG_EV_SUSPEND) {
			const struct fg_suspension *f = s == NULL ? NULL :
			    bsearch(x->i.subject, s, ns, sizeof(*s), by_name);

			still = f != NULL && fg_suspension_on(f, now);
		} else if (x->kind == FG_EV_PAUSE) {
			const struct fg_pause *f = p == NULL ? NULL :
			    bsearch(x->i.subject, p, np, sizeof(*p), by_name);

			still = f != NULL && f->until > now;
		} else if (x->kind == FG_EV_REFUSED)
			still = now - x->last < REFUSED_QUIET;
		else
			continue;
		if (!still)
			fg_incident_end(x->kind, x->i.subject, now);
	}
	free(s);
	free(p);
}

/* A store incident of subject: started while ok is 0 (with detail),
 * counted each tick it stays so, ended once ok. */
static void
sync_store_one(const char *subject, int ok, const char *detail,
    uint32_t now)
{
	struct inc *x = find(FG_EV_STORE, subject);

	if (!ok && x == NULL)
		fg_incident_start(FG_EV_STORE, subject, detail, now);
	else if (!ok)
		fg_incident_add(FG_EV_STORE, subject, NULL, 1, now);
	else if (x != NULL)
		fg_incident_end(FG_EV_STORE, subject, now);
}

/* The store failing is an incident like the others (service.c), and
 * so is its database not at its path: removed and not written back, or
 * replaced (the next start would begin without what was counted). */
static void
sync_store(uint32_t now)
{
	struct inc *x;
	int ok;

	sync_store_one("database",
	    atomic_load(&fgd.store_place) == FG_STORE_IN_PLACE,
	    fgd.store_place_why, now);
	sync_store_one("store", atomic_load(&fgd.store_ok),
	    "the state store cannot be written", now);
	/* The shared store down: decisions from memory, divided limits.
	 * One left open by the last run ends when Redis answers, not while
	 * this run still connects (a restart during an outage continues
	 * it, told once). */
	ok = !fg_shared_failing(now);
	x = find(FG_EV_STORE, "shared");
	if (!ok && x == NULL) {
		char detail[768];

		fg_shared_state(detail, sizeof(detail));
		fg_incident_start(FG_EV_STORE, "shared", detail, now);
	} else if (!ok)
		fg_incident_add(FG_EV_STORE, "shared", NULL, 1, now);
	else if (x != NULL && !fg_shared_waiting())
		fg_incident_end(FG_EV_STORE, "shared", now);
}

/* "1h 2m", "40s" */
static void
span(uint32_t secs, char *out, size_t len)
{
	if (secs >= 3600)
		snprintf(out, len, "%uh %um", secs / 3600, secs % 3600 / 60);
	else if (secs >= 60)
		snprintf(out, len, "%um %us", secs / 60, secs % 60);
	else
		snprintf(out, len, "%us", secs);
}

/*
 * Held mail that no release run comes for: floodgatectl release (its
 * timer) stopped, or was never enabled. It starts once the oldest held
 * message and the last release-plan are both release_alarm old, and
 * ends at the next release-plan or when nothing is on hold; a restart
 * continues it rather than starting the wait afresh.
 */
static void
sync_release(uint32_t now)
{
	static uint32_t next;
	struct inc *x = find(FG_EV_RELEASE, "release");
	uint32_t alarm = fgd.cfg->release_alarm, oldest, last, check;
	uint64_t n;
	char err[FG_ERRLEN], detail[256], waited[32], quiet[32];

	check = alarm != 0 && alarm < RELEASE_CHECK ? alarm : RELEASE_CHECK;
	if (now < next || (x == NULL && alarm == 0))
		return;
	next = now + check;
	if (fg_store_on_hold(fgd.store, &n, &oldest, err, sizeof(err)) < 0)
		return;		/* the store incident says why */
	last = (uint32_t)fg_release_last();
	if (x != NULL) {
		/* A run since it started; not the start of this process,
		 * which continues one left open. */
		if (n == 0 || (last != 0 && last >= x->i.started))
			fg_incident_end(FG_EV_RELEASE, "release", now);
		return;
	}
	if (last == 0)
		last = (uint32_t)fgd.started;	/* the wait starts afresh */
	if (n == 0 || now < oldest + alarm || now < last + alarm)
		return;
	span(now - oldest, waited, sizeof(waited));
	span(now - last, quiet, sizeof(quiet));
	snprintf(detail, sizeof(detail),
	    "%llu messages on hold, the oldest for %s, and no floodgatectl release for %s: is floodgate-release.timer running?",
	    (unsigned long long)n, waited, quiet);
	fg_log_warn("release: %s", detail);
	fg_incident_start(FG_EV_RELEASE, "release", detail, now);
	fg_incident_add(FG_EV_RELEASE, "release", NULL, n, now);
}

static void
utc(uint32_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The top destinations (or senders) by count, most first. */
static size_t
top(const struct inc *x, const struct tally **out)
{
	size_t n = 0, i, j;

	for (i = 0; i < TOP_TRACK; i++) {
		if (x->top[i].n == 0)
			continue;
		for (j = n; j > 0 && out[j - 1]->n < x->top[i].n; j--)
			if (j < TOP)
				out[j] = out[j - 1];
		if (j < TOP) {
			out[j] = &x->top[i];
			if (n < TOP)
				n++;
		}
	}
	return n;
}

/* What a person reads first: one line. */
static void
title(const struct inc *x, char *out, size_t len)
{
	int end = x->i.ended != 0;
	const char *s = x->i.subject;

	switch (x->kind) {
	case FG_EV_SUSPEND:
		snprintf(out, len, end ? "account %s resumed" :
		    "account %s suspended", s);
		break;
	case FG_EV_BOUNCES:
		snprintf(out, len, end ? "%s below its limit again" :
		    "%s: too many bounced recipients", s);
		break;
	case FG_EV_PAUSE:
		snprintf(out, len, end ? "%s resumed" : "%s paused", s);
		break;
	case FG_EV_STORE:
		if (strcmp(s, "database") == 0)
			snprintf(out, len, end ?
			    "the database is at its path again" :
			    "the database is not at its path");
		else
			snprintf(out, len, end ? "the state store works again" :
			    "the state store fails");
		break;
	case FG_EV_RELEASE:
		snprintf(out, len, end ? "held mail is released again" :
		    "held mail waits: floodgatectl release does not run");
		break;
	default:
		snprintf(out, len, end ? "account %s no longer refused" :
		    "account %s refused by rate limits", s);
		break;
	}
}

/* What each count means, for people. */
static const char *
count_means(unsigned kind)
{
	switch (kind) {
	case FG_EV_SUSPEND: return "recipients deferred while suspended";
	case FG_EV_BOUNCES: return "bounced recipients counted";
	case FG_EV_PAUSE: return "deliveries and recipients deferred while paused";
	case FG_EV_STORE: return "failed writes";
	case FG_EV_RELEASE: return "messages on hold when it started";
	default: return "recipients refused";
	}
}

static void
json_incident(FILE *fp, const struct inc *x)
{
	const struct tally *t[TOP];
	char a[32], b[32];
	size_t n = top(x, t), i;

	utc(x->i.started, a, sizeof(a));
	fprintf(fp, "{\"event\":\"%s\",\"kind\":\"%s\",\"subject\":",
	    x->i.ended ? "end" : "start", x->i.kind);
	fg_json_string(fp, x->i.subject);
	fprintf(fp, ",\"started\":\"%s\"", a);
	if (x->i.ended) {
		utc(x->i.ended, b, sizeof(b));
		fprintf(fp, ",\"ended\":\"%s\",\"seconds\":%u", b,
		    x->i.ended - x->i.started);
	}
	fprintf(fp, ",\"count\":%llu,\"detail\":", (unsigned long long)x->i.count);
	fg_json_string(fp, x->i.detail);
	fputs(",\"top\":[", fp);
	for (i = 0; i < n; i++) {
		fputs(i ? ",{\"name\":" : "{\"name\":", fp);
		fg_json_string(fp, t[i]->name);
		fprintf(fp, ",\"count\":%llu}", (unsigned long long)t[i]->n);
	}
	fputs("]}", fp);
}

/* A header line's text: printable ASCII only (tenants' names are in
 * it; no line breaks can get through). */
static void
header_text(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++)
		putc(*s >= 0x20 && *s < 0x7f ? *s : '?', fp);
}

static void
text_incident(FILE *fp, const struct inc *x)
{
	const struct tally *t[TOP];
	char a[32], b[32], d[32], ttl[FG_ACCOUNT_MAX + FG_NAME_MAX + 64];
	size_t n = top(x, t), i;

	title(x, ttl, sizeof(ttl));
	utc(x->i.started, a, sizeof(a));
	fprintf(fp, "%s\n\n", ttl);
	fprintf(fp, "  kind:     %s\n  subject:  %s\n  started:  %s\n",
	    x->i.kind, x->i.subject, a);
	if (x->i.ended) {
		utc(x->i.ended, b, sizeof(b));
		span(x->i.ended - x->i.started, d, sizeof(d));
		fprintf(fp, "  ended:    %s (after %s)\n", b, d);
	} else
		fprintf(fp, "  ended:    (open)\n");
	fprintf(fp, "  count:    %llu %s\n  detail:   %s\n",
	    (unsigned long long)x->i.count, count_means(x->kind), x->i.detail);
	if (n > 0) {
		fprintf(fp, "  top %s:\n", x->kind == FG_EV_PAUSE ?
		    "accounts" : "destinations");
		for (i = 0; i < n; i++)
			fprintf(fp, "    %-40s %llu\n", t[i]->name,
			    (unsigned long long)t[i]->n);
	}
	fputc('\n', fp);
}

/*
 * The envelope sender of a notification: notify_from with a one-time
 * token as its extension, which the milter recognizes (fg_blocks_pass)
 * so that floodgate never limits, holds or defers its own mail.
 */
static int
envelope_sender(char *out, size_t len, char *token, size_t toklen)
{
	const char *from = fgd.cfg->notify_from ? fgd.cfg->notify_from :
	    "floodgate";
	const char *at = strchr(from, '@');
	unsigned char r[8];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	fg_strlcpy(token, "fgn-", toklen);
	for (i = 0; i < sizeof(r) && 4 + i * 2 + 2 < toklen; i++)
		snprintf(token + 4 + i * 2, 3, "%02x", r[i]);
	snprintf(out, len, "%.*s+%s%s", (int)(at ? at - from : (long)strlen(from)),
	    from, token, at ? at : "");
	return fg_blocks_pass_add(fgd.engine.blocks, token, (uint32_t)time(NULL));
}

static void
send_mail(const struct fg_notify *t, const char *subject, const char *body)
{
	const struct fg_config *c = fgd.cfg;
	char sender[FG_ADDR_MAX + 32], token[32], date[64], submit[PATH_MAX];
	char *argv[9], *msg = NULL;
	size_t a = 0, len = 0;
	time_t now = time(NULL);
	struct tm tm;
	FILE *fp;

	if (envelope_sender(sender, sizeof(sender), token, sizeof(token)) < 0) {
		fg_log_err("notify: %s: cannot make a one-time sender token; not sent",
		    t->target);
		return;
	}
	if ((fp = open_memstream(&msg, &len)) == NULL)
		return;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	fprintf(fp, "From: floodgate <%s>\nTo: <%s>\nSubject: floodgate on ",
	    c->notify_from ? c->notify_from : "floodgate", t->what);
	header_text(fp, host);
	fputs(": ", fp);
	header_text(fp, subject);
	fprintf(fp, "\nDate: %s\nAuto-Submitted: auto-generated\n"
	    "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\n%s", date, body);
	fclose(fp);
	/* Postfix's sendmail with postfix_config; Sendmail's submission
	 * program (fg_submit_cf): without -C for the default
	 * configuration, -C DIR/submit.cf beside another one. */
	argv[a++] = c->sendmail_path;
	if (!c->mta_sendmail || fg_submit_cf(c, submit, sizeof(submit)) != NULL) {
		argv[a++] = "-C";
		argv[a++] = c->mta_sendmail ? submit : c->postfix_config;
	}
	argv[a++] = "-f";
	argv[a++] = sender;
	argv[a++] = "-i";
	argv[a++] = "--";
	argv[a++] = t->what;
	argv[a] = NULL;
	fg_notify_run(t->target, argv, msg, len);
	free(msg);
}

static void
run_exec(const struct fg_notify *t, const char *json)
{
	char *argv[] = { t->what, NULL };

	fg_notify_run(t->target, argv, json, strlen(json));
}

/* Tells every target that wants them of n incidents: one of them, or a
 * digest of several, numbered within the hour (digest). */
static void
tell(struct inc **x, size_t n, unsigned digest)
{
	const struct fg_config *c = fgd.cfg;
	size_t t, i;

	for (t = 0; t < c->nnotify; t++) {
		const struct fg_notify *nt = &c->notify[t];
		char *buf = NULL, subject[FG_ACCOUNT_MAX + FG_NAME_MAX + 64];
		size_t len = 0, k = 0;
		FILE *fp;

		for (i = 0; i < n; i++)
			k += (nt->events & x[i]->kind) != 0;
		if (k == 0 || (fp = open_memstream(&buf, &len)) == NULL)
			continue;
		if (nt->mailto) {
			if (k == 1) {
				for (i = 0; !(nt->events & x[i]->kind); i++)
					;
				title(x[i], subject, sizeof(subject));
			} else {
				snprintf(subject, sizeof(subject),
				    "%zu incidents (digest %u this hour: more than notify_max %u in an hour)",
				    k, digest, c->notify_max);
				fprintf(fp, "%s\n\n", subject);
			}
			for (i = 0; i < n; i++)
				if (nt->events & x[i]->kind)
					text_incident(fp, x[i]);
			fclose(fp);
			send_mail(nt, subject, buf);
		} else {
			int first = 1;

			if (k > 1)
				fprintf(fp, "{\"event\":\"digest\",\"number\":%u,\"incidents\":[",
				    digest);
			for (i = 0; i < n; i++) {
				if (!(nt->events & x[i]->kind))
					continue;
				if (!first)
					putc(',', fp);
				first = 0;
				json_incident(fp, x[i]);
			}
			fputs(k > 1 ? "]}\n" : "\n", fp);
			fclose(fp);
			run_exec(nt, buf);
		}
		free(buf);
	}
}

/* How far people must be told: 1 the start, 2 the end too. */
static int
due(const struct inc *x)
{
	return x->i.ended ? 2 : 1;
}

static int
wanted(unsigned kind)
{
	size_t i;

	for (i = 0; i < fgd.cfg->nnotify; i++)
		if (fgd.cfg->notify[i].events & kind)
			return 1;
	return 0;
}

/*
 * Whether the child slots free now can take a notification of these n
 * incidents: one program for each target that wants any of them. When
 * they cannot, the incidents wait for a later tick, still owed: a burst
 * of incidents in one second (accounts suspended together) would
 * otherwise have had its notifications past FG_NOTIFY_PROGRAMS dropped. A
 * batch that needs more than can be free goes when no program runs: as
 * many targets told as slots are free, the others dropped, said. Slots
 * held by programs killed and not gone (stuck in the kernel, for as long
 * as they are) do not count: waiting for those would hold every
 * notification after it.
 */
static int
room_for(struct inc **x, size_t n)
{
	size_t t, i, need = 0, free_slots, running, not_gone;

	for (t = 0; t < fgd.cfg->nnotify; t++)
		for (i = 0; i < n; i++)
			if (fgd.cfg->notify[t].events & x[i]->kind) {
				need++;
				break;
			}
	fg_notify_counts(&running, &not_gone);
	free_slots = FG_NOTIFY_PROGRAMS - running - not_gone;
	return need <= free_slots || (running == 0 && free_slots > 0);
}

static void
told(struct inc **x, size_t n)
{
	tell(x, n, n > 1 ? ++digests_this_hour : 0);
	sent_this_hour++;
	budget_dirty = 1;
	while (n > 0) {
		struct fg_incident *i = &x[--n]->i;

		i->told = fg_incident_told(i);
		if (i->notified < 1)
			i->told |= FG_TOLD_START;
		if (due(x[n]) == 2)
			i->told |= FG_TOLD_END;
		i->notified = due(x[n]);
		x[n]->dirty = 1;
	}
}

/*
 * After the hour's turn, everything that waited goes in digests of at
 * most DIGEST_MAX incidents, each one of the hour's notify_max
 * messages; what those cannot hold waits for the next hour. Before,
 * the incidents past one digest's went one message each, through the
 * new hour's budget. 1 while digests are still to go (no child slot).
 */
static int
send_digests(void)
{
	struct inc *x, *batch[DIGEST_MAX];
	size_t n;

	for (;;) {
		n = 0;
		for (x = incs; x != NULL && n < DIGEST_MAX; x = x->next)
			if (x->i.notified < due(x) && wanted(x->kind))
				batch[n++] = x;
		if (n == 0)
			return 0;
		if (sent_this_hour >= fgd.cfg->notify_max) {
			have_digest = 1;
			return 0;
		}
		if (!room_for(batch, n))
			return 1;
		told(batch, n);
	}
}

static void
notify(uint32_t now)
{
	struct inc *x;

	if (now / 3600 != hour) {
		hour = now / 3600;
		sent_this_hour = 0;
		digests_this_hour = 0;
		digest_due = have_digest;
		have_digest = 0;
	}
	/* What waited goes first, in digests, before any message of its own. */
	if (digest_due && (digest_due = send_digests()) != 0)
		return;
	for (x = incs; x != NULL; x = x->next) {
		if (x->i.notified >= due(x))
			continue;
		if (!wanted(x->kind)) {
			x->i.notified = due(x);
			x->dirty = 1;
			continue;
		}
		if (sent_this_hour >= fgd.cfg->notify_max) {
			have_digest = 1;
			continue;
		}
		if (!room_for(&x, 1))
			return;
		told(&x, 1);
	}
}

/* Writes what changed; ended incidents that people were told of in
 * full leave memory (the store keeps them). */
static void
save(void)
{
	struct inc **pp = &incs, *x;
	char err[FG_ERRLEN], v[32];

	snprintf(v, sizeof(v), "%u %u", hour, sent_this_hour);
	if (budget_dirty && fg_store_mark_put(fgd.store, BUDGET_MARK, v, err,
	    sizeof(err)) == 0)
		budget_dirty = 0;
	while ((x = *pp) != NULL) {
		if (x->dirty && fg_store_incident_save(fgd.store, &x->i, err,
		    sizeof(err)) == 0)
			x->dirty = 0;
		if (!x->dirty && x->i.ended != 0 && x->i.notified >= 2) {
			*pp = x->next;
			free_inc(x);
			continue;
		}
		pp = &x->next;
	}
}

/*
 * More incidents still owed (open, or not told to their end) than a
 * start takes up: the newest FG_INCIDENTS_OWED_MAX are, the older ones
 * are ended in the database now, told to nobody. Left open they would
 * stay open for good, and a suspension or pause still on would get a
 * second one. Those still on start again at the next tick, and are
 * told.
 */
static void
untrack(void)
{
	char why[128], err[FG_ERRLEN];
	int n;

	snprintf(why, sizeof(why),
	    "; ended untold at a start of floodgate, past the newest %d it takes up",
	    FG_INCIDENTS_OWED_MAX);
	n = fg_store_incidents_untrack(fgd.store, FG_INCIDENTS_OWED_MAX,
	    (uint32_t)time(NULL), why, err, sizeof(err));
	if (n < 0)
		fg_log_err("incidents: more than %d open or not told to their end; cannot end the older ones: %s",
		    FG_INCIDENTS_OWED_MAX, err);
	else
		fg_log_warn("incidents: more than %d open or not told to their end: the older %d ended untold (floodgatectl incidents lists them)",
		    FG_INCIDENTS_OWED_MAX, n);
}

int
fg_incident_load(char *err, size_t errlen)
{
	struct fg_incident *rows;
	size_t n, i, lost = 0;
	unsigned h, sent;
	char v[32], serr[FG_ERRLEN];

	if (gethostname(host, sizeof(host)) < 0)
		fg_strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	hour = (uint32_t)time(NULL) / 3600;
	if (fg_store_mark_get(fgd.store, BUDGET_MARK, v, sizeof(v)) == 1 &&
	    sscanf(v, "%u %u", &h, &sent) == 2 && h == hour)
		sent_this_hour = sent;
	if (fg_store_incidents(fgd.store, 2, 0, FG_INCIDENTS_OWED_MAX + 1,
	    &rows, &n, serr, sizeof(serr)) < 0) {
		fg_seterr(err, errlen, "cannot read them from the store: %s",
		    serr);
		return -1;
	}
	if (n > FG_INCIDENTS_OWED_MAX) {
		untrack();
		n = FG_INCIDENTS_OWED_MAX;
	}
	/* Newest first from the store; the list has the newest first too. */
	for (i = n; i-- > 0; ) {
		struct inc *x;
		int k = fg_name_value(fg_event_names, rows[i].kind);

		if (k < 0)
			continue;	/* a kind this version does not know */
		if ((x = calloc(1, sizeof(*x))) == NULL) {
			lost++;
			continue;
		}
		x->i = rows[i];
		x->kind = (unsigned)k;
		if (x->kind == FG_EV_BOUNCES && x->i.ended == 0)
			fg_feedback_tripped(x->i.subject, x->i.started);
		x->last = (uint32_t)time(NULL);
		x->next = incs;
		incs = x;
		if (x->i.ended == 0)
			index_open(x);
	}
	free(rows);
	if (lost > 0) {
		fg_seterr(err, errlen, "out of memory for %zu of the %zu open or untold in the store: what is owed of them will not be told",
		    lost, n);
		return -1;
	}
	return 0;
}

void
fg_incident_tick(uint32_t now)
{
	fg_notify_reap((time_t)now);
	sync_blocks(now);
	sync_store(now);
	sync_release(now);
	notify(now);
	save();
}

void
fg_incident_stop(void)
{
	struct inc *x;

	save();
	fg_htab_clear(&open_index);
	while ((x = incs) != NULL) {
		incs = x->next;
		free_inc(x);
	}
	fg_notify_stop();
}

size_t
fg_incident_unsaved(struct fg_incident **out)
{
	struct inc *x;
	size_t n = 0, i = 0;

	*out = NULL;
	for (x = incs; x != NULL; x = x->next)
		n += x->dirty;
	if (n == 0 || (*out = calloc(n, sizeof(**out))) == NULL)
		return 0;
	for (x = incs; x != NULL && i < n; x = x->next)
		if (x->dirty)
			(*out)[i++] = x->i;
	return i;
}

size_t
fg_incident_open_count(void)
{
	struct inc *x;
	size_t n = 0;

	for (x = incs; x != NULL; x = x->next)
		n += x->i.ended == 0;
	return n;
}
