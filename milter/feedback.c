/*
 * Delivery feedback, on the service thread: what became of the mail
 * floodgate charged. Sessions hand over each charged queue ID with its
 * account (fg_feedback_charged, any thread); every tick they go to the
 * store, then the follower reads the delivery log's new lines and each
 * delivery result of a charged message is counted for its account:
 * hourly statistics, the windows of feedback limits (count unknown or
 * bounces, and every final result for ratio), and the temporary
 * failures of each destination domain that backoffs count. A window
 * reaching its limit trips the rule (logged, an incident, a suspension
 * with action suspend); a backoff reaching its limit pauses the domain.
 * The milter loop never waits for any of it: it reads the windows and
 * the blocks at the next recipient.
 */
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "account.h"
#include "daemon.h"
#include "follow.h"
#include "htab.h"
#include "log.h"
#include "shared.h"
#include "maillog.h"
#include "rules.h"
#include "util.h"
#include "wkey.h"

/* Charged queue IDs waiting for the store: bounded, the oldest kept. */
#define QUEUE_MAX	1000000
/* Prune the queue-ID map this often. */
#define PRUNE_EVERY	3600

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static struct fg_qid_row *queue;
static size_t nqueue, qcap;
static atomic_int active;

static struct fg_follow *follow;
static time_t last_prune;
static struct fg_feedback_counters counters;

/*
 * Delivery results floodgate could not count (a tenant's bounces then
 * go unjudged): counted in floodgatectl status and the metrics, and
 * logged at the first of each kind and at most once a minute after.
 */
#define LOST_LOG_EVERY	60

static void
lost(uint64_t *count, time_t *logged, const char *fmt, ...)
{
	time_t now = time(NULL);
	char msg[FG_ERRLEN * 2];
	va_list ap;

	(*count)++;
	if (*logged != 0 && now - *logged < LOST_LOG_EVERY)
		return;
	*logged = now;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fg_log_err("feedback: %s (%llu so far; logged at most once a minute)",
	    msg, (unsigned long long)*count);
}

static time_t lost_queue_logged, lost_lookup_logged, lost_add_logged;

/* The last queue ID looked up: a message's recipients come together. */
static char last_qid[FG_QID_MAX + 1];
static char last_account[FG_ACCOUNT_MAX + 1];
static int last_found, last_notice;

/*
 * Results of queue IDs floodgate does not know, kept a few seconds. Two
 * delivery agents may log in the same instant, and the next hop's
 * result of mail a content filter gave back (or local delivery
 * forwarded, or the MTA's notice) may come before the line that names
 * its queue ID ("queued as ..."): requeued() takes those back for the
 * ID it records. So does flush_qids() for the charged queue IDs it
 * records, when the mail was delivered while the log was read or the
 * database was busy. A ring, the oldest dropped first; what leaves it
 * unclaimed is counted ignored then.
 */
#define EARLY_MAX	512
#define EARLY_KEEP	10	/* seconds */
/* How many hops a claimed result may name in turn (a filter's, then a
 * second instance's): a chain of forged lines ends there. */
#define EARLY_DEPTH	4

struct early {
	struct fg_delivery d;	/* qid "" once claimed */
	uint32_t seen;
};

static struct early *early;
static size_t early_head, early_n;

/* Whose journal entries are the mail system's, and the users whose
 * forged results were told of (each once a run). */
static uid_t users[FG_LOG_USERS_MAX + 1];
static size_t nusers;
#define WARNED_MAX	16
static long warned[WARNED_MAX];
static size_t nwarned;

/* Feedback limits that tripped, until their window falls below. */
struct tripped {
	struct fg_hnode node;
	char wkey[FG_WKEY_MAX + 1];	/* rule and key */
	char account[FG_ACCOUNT_MAX + 1];
	uint32_t since;
};

static struct fg_htab trips;

/* Trips by rule, for the metrics. */
static struct fg_trip_counter trip_counts[FG_TRIP_COUNTERS];
static size_t ntrip_counts;

static void
count_trip(const char *rule)
{
	size_t i;

	for (i = 0; i < ntrip_counts; i++)
		if (strcmp(trip_counts[i].rule, rule) == 0)
			break;
	if (i == ntrip_counts) {
		if (i == FG_TRIP_COUNTERS)
			return;
		fg_strlcpy(trip_counts[i].rule, rule, sizeof(trip_counts[i].rule));
		ntrip_counts++;
	}
	trip_counts[i].n++;
}

size_t
fg_feedback_trip_counters(struct fg_trip_counter *out, size_t max)
{
	size_t n = ntrip_counts < max ? ntrip_counts : max;

	memcpy(out, trip_counts, n * sizeof(*out));
	return n;
}

static int
trip_eq(const struct fg_hnode *n, const void *key)
{
	return strcmp(((const struct tripped *)n)->wkey, key) == 0;
}

/* A queue ID to record at the next tick: a charged message's (notice
 * 0), or one the store could not take at once, as it came. */
static void
enqueue(const char *qid, const char *account, uint32_t now, int notice)
{
	pthread_mutex_lock(&qlock);
	if (nqueue == qcap && qcap < QUEUE_MAX) {
		size_t cap = qcap ? qcap * 2 : 256;
		void *p = realloc(queue, cap * sizeof(*queue));

		if (p != NULL) {
			queue = p;
			qcap = cap;
		}
	}
	if (nqueue < qcap) {
		fg_strlcpy(queue[nqueue].qid, qid, sizeof(queue[0].qid));
		fg_strlcpy(queue[nqueue].account, account,
		    sizeof(queue[0].account));
		queue[nqueue].time = now;
		queue[nqueue].notice = notice;
		nqueue++;
	} else
		lost(&counters.qids_dropped, &lost_queue_logged,
		    "no room to keep queue ID %s (account=%s) until it is recorded (%zu wait): its delivery results will not count",
		    qid, account, nqueue);
	pthread_mutex_unlock(&qlock);
}

void
fg_feedback_charged(const char *qid, const char *account, uint32_t now)
{
	if (!atomic_load(&active) || !fg_qid_valid(qid) || account[0] == '\0')
		return;
	enqueue(qid, account, now, 0);	/* charged: the account's own */
}

/* A write the store keeps refusing is logged at its first failure
 * and at the first success after: since is 0 while it works. */
struct outage {
	time_t since;
};

static struct outage qid_outage, pos_outage;

static void
outage_failed(struct outage *o, const char *what, const char *err)
{
	if (o->since != 0)
		return;
	o->since = time(NULL);
	fg_log_err("feedback: cannot record %s: %s; trying again each second (logged again once it works)",
	    what, err);
}

static void
outage_ended(struct outage *o, const char *what)
{
	if (o->since == 0)
		return;
	fg_log_notice("feedback: %s recorded again after %lds", what,
	    (long)(time(NULL) - o->since));
	o->since = 0;
}

static void early_recorded(struct fg_qid_row *q, size_t n, uint32_t now);

/* The queue IDs charged since the last tick, into the store. */
static void
flush_qids(uint32_t now)
{
	struct fg_qid_row *q;
	size_t n;
	char err[FG_ERRLEN];

	pthread_mutex_lock(&qlock);
	q = queue;
	n = nqueue;
	queue = NULL;
	nqueue = qcap = 0;
	pthread_mutex_unlock(&qlock);
	if (n == 0) {
		free(q);
		return;
	}
	last_qid[0] = '\0';	/* a queue ID looked up in vain may be in now */
	if (fg_store_qids_add(fgd.store, q, n, err, sizeof(err)) < 0) {
		char what[64];
		size_t i;

		snprintf(what, sizeof(what), "%zu queue IDs", n);
		outage_failed(&qid_outage, what, err);
		for (i = 0; i < n; i++)
			enqueue(q[i].qid, q[i].account, q[i].time, q[i].notice);
	} else {
		counters.qids += n;
		outage_ended(&qid_outage, "queue IDs");
		early_recorded(q, n, now);
	}
	free(q);
}

/* Adds rule and key to the tripped set; 1 when it was not in it. */
static int
tripped_add(const char *rule, const char *key, const char *account,
    uint32_t since)
{
	char wkey[FG_WKEY_MAX + 1];
	struct tripped *t;

	if (fg_wkey_join(rule, key, wkey, sizeof(wkey)) < 0 ||
	    fg_htab_find(&trips, fg_hash(wkey), trip_eq, wkey) != NULL ||
	    (t = calloc(1, sizeof(*t))) == NULL)
		return 0;
	fg_strlcpy(t->wkey, wkey, sizeof(t->wkey));
	fg_strlcpy(t->account, account, sizeof(t->account));
	t->since = since;
	t->node.hash = fg_hash(wkey);
	if (fg_htab_add(&trips, &t->node) < 0) {
		free(t);
		return 0;
	}
	return 1;
}

static const char *
count_word(const struct fg_rule *r)
{
	return r->count == FG_COUNT_UNKNOWN ? "unknown" : "bounced";
}

/*
 * A feedback limit reached its limit for key: logged once, until its
 * window falls below again; an incident; and with action suspend, the
 * account that caused it is suspended.
 */
static void
trip(const struct fg_rule *r, const char *key, const char *account,
    const struct fg_check *ck, uint64_t total, uint32_t now)
{
	char period[32], ratio[32], detail[512];
	char subject[FG_KEY_MAX + FG_NAME_MAX + 2];

	if (!tripped_add(r->name, key, account, now))
		return;
	counters.trips++;
	count_trip(r->name);
	fg_format_duration(ck->period, period, sizeof(period));
	ratio[0] = '\0';
	if (r->ratio)
		snprintf(ratio, sizeof(ratio), ", ratio %u%%", r->ratio);
	fg_log_warn("feedback: rule=%s key=%s tripped: %llu %s recipients of %llu final results in %s (limit %u%s) action=%s%s",
	    r->name, key, (unsigned long long)ck->used, count_word(r),
	    (unsigned long long)total, period, ck->limit, ratio,
	    fg_action_name(r->action), fgd.cfg->monitor ? " mode=monitor" : "");
	snprintf(subject, sizeof(subject), "%s %s", r->name, key);
	snprintf(detail, sizeof(detail),
	    "limit %s: %llu %s recipients of %llu with a final result in %s (limit %u%s); action %s",
	    r->name, (unsigned long long)ck->used, count_word(r),
	    (unsigned long long)total, period, ck->limit, ratio,
	    fg_action_name(r->action));
	fg_incident_start(FG_EV_BOUNCES, subject, detail, now);
	if (r->action == FG_ACT_SUSPEND && !fgd.cfg->monitor &&
	    fg_blocks_suspend(fgd.engine.blocks, account, r->name, now, 0))
		fg_log_warn("feedback: account=%s suspended by rule=%s until floodgatectl resume",
		    account, r->name);
}

void
fg_feedback_tripped(const char *subject, uint32_t since)
{
	char rule[FG_NAME_MAX + 1], account[FG_ACCOUNT_MAX + 1];
	const char *sp = strchr(subject, ' '), *key, *slash;

	if (sp == NULL || (size_t)(sp - subject) >= sizeof(rule))
		return;
	memcpy(rule, subject, (size_t)(sp - subject));
	rule[sp - subject] = '\0';
	key = sp + 1;
	/* account+domain keys are "account/domain" */
	slash = strchr(key, '/');
	snprintf(account, sizeof(account), "%.*s",
	    (int)(slash ? slash - key : (long)strlen(key)), key);
	(void)tripped_add(rule, key, account, since);
}

/* Tripped rules whose window fell below (or that a reload removed). */
static int
untrip_visit(struct fg_hnode *n, void *arg)
{
	struct tripped *t = (struct tripped *)n;
	uint32_t now = *(uint32_t *)arg;
	char rule[FG_WRULE_MAX + 1], subject[FG_KEY_MAX + FG_NAME_MAX + 2];
	const struct fg_rule *r;
	struct fg_check ck;
	const char *key;

	if (fg_wkey_rule(t->wkey, rule, &key) < 0)
		return 0;
	r = fg_config_rule(fgd.cfg, rule);
	if (r != NULL && fg_rule_feedback(r) &&
	    fg_feedback_over(fgd.engine.limiter, r, t->account, key, now, &ck,
	    NULL))
		return 0;
	fg_log_notice("feedback: rule=%s key=%s below its limit again after %us",
	    rule, key, now - t->since);
	snprintf(subject, sizeof(subject), "%s %s", rule, key);
	fg_incident_end(FG_EV_BOUNCES, subject, now);
	free(t);
	return 1;
}

/* Windows of feedback limits that results went to this tick. */
struct touched {
	char rule[FG_NAME_MAX + 1];
	char key[FG_KEY_MAX + 1];
	char account[FG_ACCOUNT_MAX + 1];
};

static struct touched *touched;
static size_t ntouched, touchedcap;
static struct fg_strset touched_set;

static void
touch(const struct fg_rule *r, const char *key, const char *account)
{
	char wkey[FG_WKEY_MAX + 1];

	if (fg_wkey_join(r->name, key, wkey, sizeof(wkey)) < 0 ||
	    fg_strset_add(&touched_set, wkey) != 1)
		return;
	if (ntouched == touchedcap) {
		size_t cap = touchedcap ? touchedcap * 2 : 64;
		void *p = realloc(touched, cap * sizeof(*touched));

		if (p == NULL)
			return;
		touched = p;
		touchedcap = cap;
	}
	fg_strlcpy(touched[ntouched].rule, r->name, sizeof(touched[0].rule));
	fg_strlcpy(touched[ntouched].key, key, sizeof(touched[0].key));
	fg_strlcpy(touched[ntouched].account, account,
	    sizeof(touched[0].account));
	ntouched++;
}

/* One result in a feedback rule's window (suffix "") or a companion. */
static void
add(const struct fg_rule *r, const char *suffix, const char *key,
    uint32_t period, uint32_t now)
{
	char name[FG_WRULE_MAX + 1];

	snprintf(name, sizeof(name), "%s%s", r->name, suffix);
	if (fg_limiter_add(fgd.engine.limiter, name, key, period, 1, now) < 0)
		lost(&counters.add_errors, &lost_add_logged,
		    "out of memory for a delivery result in rule=%s key=%s: not counted",
		    name, key);
}

/* With a shared store: the other relays count it too. */
static void
share(const struct fg_rule *r, const char *suffix, const char *key,
    const char *account, uint32_t period)
{
	char name[FG_WRULE_MAX + 1];

	if (fgd.cfg->store == NULL)
		return;
	snprintf(name, sizeof(name), "%s%s", r->name, suffix);
	fg_shared_fb_publish(name, key, account, period, 1);
}

/* What the other relays counted since the last tick, in our windows. */
static void
pull_shared(uint32_t now)
{
	struct fg_fbentry *e;
	size_t n = fg_shared_fb_pull(&e), i;

	for (i = 0; i < n; i++) {
		const struct fg_rule *r = fg_config_rule(fgd.cfg, e[i].rule);

		if (e[i].n == 0) {
			/* floodgatectl reset on another relay */
			(void)fg_limiter_reset(fgd.engine.limiter, e[i].rule,
			    e[i].key);
			continue;
		}
		if (fg_limiter_add(fgd.engine.limiter, e[i].rule, e[i].key,
		    e[i].period, e[i].n, now) < 0)
			lost(&counters.add_errors, &lost_add_logged,
			    "out of memory for %u delivery results of the other relays in rule=%s key=%s: not counted",
			    e[i].n, e[i].rule, e[i].key);
		if (r != NULL && fg_rule_feedback(r))
			touch(r, e[i].key, e[i].account);
	}
	free(e);
}

/* A final result (sent, bounced, expired) in the feedback limits. */
static void
final(const struct fg_delivery *d, const char *account, uint32_t age,
    uint32_t now)
{
	const struct fg_config *c = fgd.cfg;
	size_t i;

	for (i = 0; i < c->nrule; i++) {
		const struct fg_rule *r = &c->rule[i];
		char key[FG_KEY_MAX + 1];
		uint32_t limit, period;
		int counts, bounced;

		if (!fg_rule_feedback(r) || !fg_dests_match(&r->dests, d->domain) ||
		    fg_rule_key(r, account, d->domain, "", key, sizeof(key)) < 0)
			continue;
		fg_rule_rate(r, account, &limit, &period);
		if (age > period)
			continue;	/* older than the window */
		bounced = d->status != FG_DS_SENT;
		counts = bounced && (r->count == FG_COUNT_BOUNCES || d->unknown);
		/* Every final result, and what the rule does not count
		 * itself of bounced and unknown (ratio, show). */
		add(r, FG_WRULE_ALL, key, period, now);
		share(r, FG_WRULE_ALL, key, account, period);
		if (r->count == FG_COUNT_BOUNCES && d->unknown) {
			add(r, FG_WRULE_UNKNOWN, key, period, now);
			share(r, FG_WRULE_UNKNOWN, key, account, period);
		}
		if (r->count == FG_COUNT_UNKNOWN && bounced) {
			add(r, FG_WRULE_BOUNCED, key, period, now);
			share(r, FG_WRULE_BOUNCED, key, account, period);
		}
		if (!counts)
			continue;
		add(r, "", key, period, now);
		share(r, "", key, account, period);
		touch(r, key, account);
		{
			char subject[FG_KEY_MAX + FG_NAME_MAX + 2];

			snprintf(subject, sizeof(subject), "%s %s", r->name, key);
			fg_incident_add(FG_EV_BOUNCES, subject, d->domain, 1, now);
		}
	}
}

/*
 * The windows this tick's results went to, checked once they are all
 * in: Postfix logs a message's refused recipients before its delivered
 * ones, and a ratio looked at between the two would trip on the
 * refusals alone.
 */
static void
check_touched(uint32_t now)
{
	size_t i;

	for (i = 0; i < ntouched; i++) {
		const struct fg_rule *r = fg_config_rule(fgd.cfg, touched[i].rule);
		struct fg_check ck;
		uint64_t total;

		if (r != NULL && fg_rule_feedback(r) &&
		    fg_feedback_over(fgd.engine.limiter, r, touched[i].account,
		    touched[i].key, now, &ck, &total))
			trip(r, touched[i].key, touched[i].account, &ck, total, now);
	}
	ntouched = 0;
	fg_strset_free(&touched_set);
}

/* A temporary failure, for the backoffs of its destination. */
static void
deferred(const struct fg_delivery *d, uint32_t age, uint32_t now)
{
	const struct fg_config *c = fgd.cfg;
	unsigned kind = d->fail == FG_DF_4XX ? FG_FAIL_4XX :
	    d->fail == FG_DF_CONNECT ? FG_FAIL_CONNECT : 0;
	struct fg_pause held;
	size_t i;

	if (d->domain[0] == '\0')
		return;
	if (fg_blocks_paused(fgd.engine.blocks, d->domain, now, &held)) {
		/* Mail deferred by the pause itself (Postfix's retry), or
		 * in flight when it began; counted on the pause, which may
		 * be a pattern's. */
		fg_incident_add(FG_EV_PAUSE, held.domain, NULL, 1, now);
		return;
	}
	if (kind == 0)
		return;
	for (i = 0; i < c->nbackoff; i++) {
		const struct fg_backoff *b = &c->backoff[i];
		struct fg_check ck;
		struct fg_pause p;
		char dur[32], period[32], until[32], detail[512];

		if (!(b->on & kind) || age > b->period ||
		    !fg_dests_match(&b->dests, d->domain))
			continue;
		if (fg_limiter_add(fgd.engine.limiter, b->name, d->domain,
		    b->period, 1, now) < 0)
			lost(&counters.add_errors, &lost_add_logged,
			    "out of memory for a temporary failure in backoff=%s domain=%s: not counted",
			    b->name, d->domain);
		memset(&ck, 0, sizeof(ck));
		ck.rule = b->name;
		ck.key = d->domain;
		ck.limit = b->limit;
		ck.period = b->period;
		ck.cost = 1;
		fg_limiter_peek(fgd.engine.limiter, &ck, 1, now);
		if (!ck.over)
			continue;
		fg_format_duration(b->period, period, sizeof(period));
		if (fgd.cfg->monitor) {
			fg_log_warn("backoff: domain=%s rule=%s would pause: %llu temporary failures in %s mode=monitor",
			    d->domain, b->name, (unsigned long long)ck.used, period);
			(void)fg_limiter_reset(fgd.engine.limiter, b->name,
			    d->domain);
			continue;
		}
		if (!fg_blocks_pause(fgd.engine.blocks, d->domain, b->name,
		    b->duration, b->max, b->period, now, &p))
			continue;
		/* The next pause takes N new failures after this one. */
		(void)fg_limiter_reset(fgd.engine.limiter, b->name, d->domain);
		counters.pauses++;
		fg_format_duration(p.duration, dur, sizeof(dur));
		fg_format_utc(p.until, until, sizeof(until));
		fg_log_warn("backoff: domain=%s paused for %s until %s by rule=%s: %llu temporary failures (%s) in %s, pause %u in a row",
		    d->domain, dur, until, b->name, (unsigned long long)ck.used,
		    b->on == FG_FAIL_4XX ? "4xx" : b->on == FG_FAIL_CONNECT ?
		    "connect" : "4xx or connect", period, p.trips);
		snprintf(detail, sizeof(detail),
		    "backoff %s: %llu temporary failures in %s; paused for %s until %s (pause %u in a row); last: dsn %s",
		    b->name, (unsigned long long)ck.used, period, dur, until,
		    p.trips, d->dsn[0] ? d->dsn : "-");
		fg_incident_start(FG_EV_PAUSE, d->domain, detail, now);
		break;
	}
}

/*
 * Bounces wait SETTLE seconds before they reach the feedback windows.
 * Postfix logs a message's refused recipients as the remote server
 * refuses them at RCPT, and its delivered ones only after DATA: a ratio
 * judged in between, at a recipient or at a tick, would see the
 * refusals alone. Waiting errs towards letting a clean sender through;
 * a list sender is stopped two seconds later.
 */
#define SETTLE		2
#define SETTLE_MAX	20000	/* past it, bounces count at once */

struct settling {
	struct fg_delivery d;
	char account[FG_ACCOUNT_MAX + 1];
	uint32_t age, ready;
};

static struct settling *settle;
static size_t nsettle, settlecap, settle_head;

static int
settle_add(const struct fg_delivery *d, const char *account, uint32_t age,
    uint32_t now)
{
	struct settling *x;

	if (nsettle - settle_head >= SETTLE_MAX)
		return -1;
	if (nsettle == settlecap) {
		size_t cap = settlecap ? settlecap * 2 : 64;
		void *p;

		if (settle_head > 0) {
			/* Reuse the room of what was applied. */
			memmove(settle, settle + settle_head,
			    (nsettle - settle_head) * sizeof(*settle));
			nsettle -= settle_head;
			settle_head = 0;
		}
		if (nsettle == settlecap) {
			if ((p = realloc(settle, cap * sizeof(*settle))) == NULL)
				return -1;
			settle = p;
			settlecap = cap;
		}
	}
	x = &settle[nsettle++];
	x->d = *d;
	fg_strlcpy(x->account, account, sizeof(x->account));
	x->age = age;
	x->ready = now + SETTLE;
	return 0;
}

/* The bounces whose time came (all of them when all is set). */
static void
settle_apply(uint32_t now, int all)
{
	while (settle_head < nsettle &&
	    (all || settle[settle_head].ready <= now)) {
		struct settling *x = &settle[settle_head++];
		uint32_t since = x->ready - SETTLE;

		/* A clock stepped back does not make an age negative. */
		final(&x->d, x->account,
		    x->age + (now > since ? now - since : 0), now);
	}
	if (settle_head == nsettle)
		settle_head = nsettle = 0;
}

/* One delivery result of a message floodgate charged. */
static void
apply(const struct fg_delivery *d, const char *account, uint32_t now)
{
	uint32_t age = d->when > 0 && (uint32_t)d->when < now ?
	    now - (uint32_t)d->when : 0;
	struct fg_stats *st = fgd.engine.stats;

	counters.results[d->status]++;
	switch (d->status) {
	case FG_DS_SENT:
		fg_stats_count(st, now, account, d->domain, FG_ST_SENT, 1);
		break;
	case FG_DS_BOUNCED:
	case FG_DS_EXPIRED:
		fg_stats_count(st, now, account, d->domain, FG_ST_BOUNCED, 1);
		if (d->unknown)
			fg_stats_count(st, now, account, d->domain, FG_ST_UNKNOWN, 1);
		break;
	case FG_DS_DEFERRED:
		deferred(d, age, now);
		return;
	}
	if (d->status != FG_DS_SENT && settle_add(d, account, age, now) == 0)
		return;
	final(d, account, age, now);
}

static void result(const struct fg_delivery *d, int found,
    const char *account, int notice, uint32_t now);

/* The oldest result kept leaves: unclaimed, it was no mail of ours. */
static void
early_drop(void)
{
	if (early[early_head].d.qid[0] != '\0')
		counters.ignored++;
	early_head = (early_head + 1) % EARLY_MAX;
	early_n--;
}

/* A result of a queue ID floodgate does not know (yet). */
static void
early_keep(const struct fg_delivery *d, uint32_t now)
{
	struct early *e;

	if (early == NULL &&
	    (early = calloc(EARLY_MAX, sizeof(*early))) == NULL) {
		counters.ignored++;
		return;
	}
	if (early_n == EARLY_MAX)
		early_drop();
	e = &early[(early_head + early_n++) % EARLY_MAX];
	e->d = *d;
	e->seen = now;
}

/* Those kept their few seconds (all of them when all is set; a clock
 * stepped back ends them too). */
static void
early_expire(uint32_t now, int all)
{
	while (early_n > 0 &&
	    (all || now - early[early_head].seen >= EARLY_KEEP))
		early_drop();
}

/* The results kept for qid, now known as account's (a notice's when
 * notice is set), counted. */
static void
early_claim(const char *qid, const char *account, int notice, uint32_t now)
{
	static int depth;
	size_t i;

	if (depth == EARLY_DEPTH)
		return;
	depth++;
	for (i = 0; i < early_n; i++) {
		struct early *e = &early[(early_head + i) % EARLY_MAX];
		struct fg_delivery d;

		if (strcmp(e->d.qid, qid) != 0)
			continue;
		d = e->d;
		e->d.qid[0] = '\0';
		if (counters.early++ == 0)
			fg_log_notice("feedback: a result of %s was read before floodgate knew that queue ID: counted for account=%s (such results are kept %d seconds)",
			    qid, account, EARLY_KEEP);
		result(&d, 1, account, notice, now);
	}
	depth--;
}

static int
row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fg_qid_row *)a)->qid,
	    ((const struct fg_qid_row *)b)->qid);
}

static int
row_key_cmp(const void *key, const void *row)
{
	return strcmp(key, ((const struct fg_qid_row *)row)->qid);
}

/* The results kept for queue IDs just recorded: charged while the log
 * was read (mail delivered at once), or recorded late (the database
 * busy). Sorts q. */
static void
early_recorded(struct fg_qid_row *q, size_t n, uint32_t now)
{
	size_t i;

	if (early_n == 0)
		return;
	qsort(q, n, sizeof(*q), row_cmp);
	for (i = 0; i < early_n; i++) {
		struct early *e = &early[(early_head + i) % EARLY_MAX];
		const struct fg_qid_row *r;

		if (e->d.qid[0] != '\0' && (r = bsearch(e->d.qid, q, n,
		    sizeof(*q), row_key_cmp)) != NULL)
			early_claim(r->qid, r->account, r->notice, now);
	}
}

/*
 * A message Postfix gave to a content filter on this host (or another
 * Postfix instance there), which gave it back under another queue ID:
 * that ID's results are the same account's. Or local(8) forwarded it
 * (an alias, a .forward) as a new message: that one's results are the
 * forwarder's (account is the forwarder's then). The hop itself is no
 * delivery and counts nothing. Or the MTA sent the message's sender a
 * notice about it (a bounce, a DSN; d->notice): the notice's failures
 * are the same account's, its deliveries nobody's. A queue ID floodgate
 * knows already (the filter's listener runs floodgate too) keeps its
 * own account.
 */
static void
requeued(const struct fg_delivery *d, const char *account, uint32_t now)
{
	static char last[FG_QID_MAX + 1];
	char known[FG_ACCOUNT_MAX + 1], err[FG_ERRLEN];
	struct fg_qid_row r;
	int rc;

	/* A filter's hop is logged once a recipient, under one new ID. */
	if (strcmp(d->requeued, last) == 0)
		return;
	if ((rc = fg_store_qid(fgd.store, d->requeued, known, NULL)) != 0) {
		if (rc < 0)
			lost(&counters.lookup_errors, &lost_lookup_logged,
			    "cannot look up queue ID %s (the MTA's new ID for %s) in the database: its results are not followed",
			    d->requeued, d->qid);
		else
			fg_strlcpy(last, d->requeued, sizeof(last));
		return;
	}
	memset(&r, 0, sizeof(r));
	fg_strlcpy(r.qid, d->requeued, sizeof(r.qid));
	fg_strlcpy(r.account, account, sizeof(r.account));
	r.time = now;
	r.notice = d->notice;
	if (fg_store_qids_add(fgd.store, &r, 1, err, sizeof(err)) < 0) {
		char what[FG_QID_MAX * 2 + 64];

		snprintf(what, sizeof(what), "%s (%s %s)", d->requeued, d->qid,
		    d->forwarded ? "forwarded by local delivery" : d->notice ?
		    "the MTA's notice to its sender" :
		    "given back by a content filter");
		outage_failed(&qid_outage, what, err);
		/* Recorded at the next tick, a notice as a notice. */
		enqueue(d->requeued, account, now, d->notice);
		early_claim(d->requeued, account, d->notice, now);
		return;
	}
	fg_strlcpy(last, d->requeued, sizeof(last));
	if (d->notice) {
		if (counters.notices++ == 0)
			fg_log_notice("feedback: the MTA's notice about %s (a bounce) went to its sender as %s: its failures count for account=%s",
			    d->qid, d->requeued, account);
	} else if (d->forwarded) {
		if (counters.forwarded++ == 0)
			fg_log_notice("feedback: %s was forwarded by local delivery (%s) as %s: its results count for account=%s",
			    d->qid, d->forwarder, d->requeued, account);
	} else if (counters.requeued++ == 0)
		fg_log_notice("feedback: %s came back from a content filter as %s: its results count for account=%s",
		    d->qid, d->requeued, account);
	early_claim(d->requeued, account, d->notice, now);
}

/*
 * Whose a recipient's result is: a copy an alias, a virtual alias or a
 * .forward sent in place of the address the sender wrote is the
 * forwarder's, the account that address is counted as when it sends
 * (the tenant that owns it in the account map, or the address itself):
 * the sender chose the address, not where it forwards. A tenant's
 * forwarding to addresses that bounce never spends its senders'
 * feedback budgets. Anything else is the charged message's account.
 */
static const char *
result_account(const struct fg_delivery *d, const char *charged,
    char *buf, size_t buflen)
{
	struct fg_account a;

	/* A routed address ("user%dest@this.host") that Postfix sent on
	 * has the sender's address as orig_to, no forwarder's. */
	if (d->forwarder[0] == '\0' || fg_addr_plain(d->forwarder) != 1)
		return charged;
	if (fg_account_named(fgd.cfg, d->forwarder, &a) < 0 ||
	    a.name[0] == '\0')
		return charged;
	fg_strlcpy(buf, a.name, buflen);
	return buf;
}

/* The user's ID; -1 when there is no such user. getpwnam_r: the
 * caller may hold getpwnam's answer for the daemon's own user. */
static long
user_id(const char *name)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -1;
	return (long)pw.pw_uid;
}

int
fg_feedback_users(const char *names, char *err, size_t errlen)
{
	char buf[FG_LOG_USERS_MAX * 33], *save = NULL, *w;
	uint32_t id;
	long uid;

	nusers = 0;
	if (names == NULL) {
		users[nusers++] = 0;
		if ((uid = user_id("postfix")) > 0)
			users[nusers++] = (uid_t)uid;
		return 0;
	}
	fg_strlcpy(buf, names, sizeof(buf));
	for (w = strtok_r(buf, " ", &save); w != NULL && nusers < FG_LOG_USERS_MAX;
	    w = strtok_r(NULL, " ", &save)) {
		if (fg_parse_uint(w, FG_UID_MAX, &id) == 0)
			uid = (long)id;		/* an ID, as the parser took it */
		else if ((uid = user_id(w)) < 0) {
			fg_seterr(err, errlen, "delivery_log_users: \"%s\": no such user", w);
			return -1;
		}
		users[nusers++] = (uid_t)uid;
	}
	return 0;
}

/*
 * Whether a delivery result may be believed. A line in a file cannot
 * say who wrote it; a journal entry can: any local user may log as
 * "postfix/smtp", but not as root or postfix. A tenant who forged
 * deferrals of its own queue IDs could pause a carrier for every
 * tenant, or clear its own feedback windows' ratios with forged
 * deliveries.
 */
static int
trusted(const char *ident, const char *qid, long uid)
{
	size_t i;

	if (uid >= 0)
		for (i = 0; i < nusers; i++)
			if ((long)users[i] == uid)
				return 1;
	for (i = 0; i < nwarned; i++)
		if (warned[i] == uid)
			return 0;
	if (nwarned == WARNED_MAX)
		return 0;
	warned[nwarned++] = uid;
	if (uid < 0)
		fg_log_warn("feedback: ignored a delivery result in the journal as %s (queue ID %s) in an entry without _UID, which does not say who logged it; others of the kind are counted, not logged",
		    ident, qid);
	else
		fg_log_warn("feedback: ignored a delivery result in the journal as %s (queue ID %s) logged by uid %ld, not one of delivery_log_users; others from that uid are counted, not logged",
		    ident, qid, uid);
	return 0;
}

/*
 * One recipient's result. found: its queue ID is one floodgate
 * recorded, for account (notice set: the MTA's notice about mail of
 * account's); not found, the result is kept a few seconds for a hop
 * that may name it yet.
 */
static void
result(const struct fg_delivery *d, int found, const char *account,
    int notice, uint32_t now)
{
	char buf[FG_ACCOUNT_MAX + 1];

	if (!found)
		early_keep(d, now);
	else if (d->requeued[0] != '\0' && !d->forwarded) {
		/* What a filter gives back is the whole message; a notice
		 * is about it. Sendmail's DSN of a message that expired
		 * says both. */
		requeued(d, account, now);
		if (d->notice && d->status == FG_DS_EXPIRED)
			apply(d, account, now);
	} else if (d->requeued[0] != '\0')
		requeued(d, result_account(d, account, buf, sizeof(buf)), now);
	else if (notice && d->status == FG_DS_SENT)
		/* A notice delivered is no mail of the account's (its
		 * ratios would thin); what it meets on the way, a 421, a
		 * user unknown, counts. */
		counters.ignored++;
	else
		apply(d, result_account(d, account, buf, sizeof(buf)), now);
}

struct line_ctx {
	uint32_t now;
};

static void
on_line(const char *ident, const char *line, size_t len, time_t when,
    long uid, void *arg)
{
	struct line_ctx *lc = arg;
	struct fg_delivery d;
	int rc;

	rc = ident == NULL ? fg_maillog_line(line, len, (time_t)lc->now, &d) :
	    fg_maillog_message(ident, line, len, &d);
	if (rc <= 0)
		return;
	if (ident != NULL && !trusted(ident, d.qid, uid)) {
		do
			counters.untrusted++;
		while (fg_maillog_next(line, len, &d) > 0);
		return;
	}
	if (ident != NULL)
		d.when = when;
	if (strcmp(d.qid, last_qid) != 0) {
		fg_strlcpy(last_qid, d.qid, sizeof(last_qid));
		last_notice = 0;
		rc = fg_store_qid(fgd.store, d.qid, last_account, &last_notice);
		if (rc < 0) {
			lost(&counters.lookup_errors, &lost_lookup_logged,
			    "cannot look up queue ID %s in the database: the results on its line are not counted",
			    d.qid);
			last_qid[0] = '\0';	/* its next line asks again */
			rc = 0;
		}
		last_found = rc;
	}
	/* Each recipient of the line (Sendmail logs those that went
	 * together on one). */
	do
		result(&d, last_found, last_account, last_notice, lc->now);
	while (fg_maillog_next(line, len, &d) > 0);
}

/* Where the follower is in the log, into the store. */
static void
save_position(struct fg_follow *f)
{
	char what[PATH_MAX + 32], err[FG_ERRLEN];

	snprintf(what, sizeof(what), "the position in %s", fg_follow_source(f));
	if (fg_follow_save(f, fgd.store, err, sizeof(err)) < 0)
		outage_failed(&pos_outage, what, err);
	else
		outage_ended(&pos_outage, what);
}

int
fg_feedback_start(char *err, size_t errlen)
{
	const char *src = fgd.cfg->delivery_log;

	if (src == NULL)
		return 0;
	if ((follow = fg_follow_open(src, fgd.store, err, errlen)) == NULL)
		return -1;
	/* A first start's position is kept at once (each tick tries
	 * again if this fails). */
	if (fg_follow_fresh(follow))
		save_position(follow);
	atomic_store(&active, 1);
	last_prune = time(NULL);
	fg_log_notice("feedback: following %s", src);
	return 0;
}

void
fg_feedback_tick(uint32_t now)
{
	struct line_ctx lc = { now };
	char err[FG_ERRLEN];
	size_t n;

	fg_htab_walk(&trips, untrip_visit, &now);
	if (fgd.cfg->store != NULL)
		pull_shared(now);
	if (follow == NULL) {
		check_touched(now);
		return;
	}
	flush_qids(now);
	n = fg_follow_read(follow, on_line, &lc);
	early_expire(now, 0);
	settle_apply(now, 0);
	check_touched(now);
	counters.lines += n;
	if (n > 0 || fg_follow_fresh(follow))
		save_position(follow);
	if ((time_t)now - last_prune >= PRUNE_EVERY) {
		last_prune = now;
		if (fg_store_qids_prune(fgd.store,
		    now - fgd.cfg->delivery_retention, err, sizeof(err)) < 0)
			fg_log_err("feedback: cannot prune the queue ID map: %s",
			    err);
	}
}

int
fg_feedback_behind(void)
{
	return follow != NULL && fg_follow_behind(follow);
}

void
fg_feedback_stop(void)
{
	if (follow != NULL) {
		uint32_t now = (uint32_t)time(NULL);

		flush_qids(now);
		early_expire(0, 1);
		settle_apply(now, 1);
		fg_follow_close(follow);
		follow = NULL;
	}
	free(early);
	early = NULL;
	early_head = early_n = 0;
	free(settle);
	settle = NULL;
	nsettle = settlecap = settle_head = 0;
	atomic_store(&active, 0);
	fg_htab_walk(&trips, fg_htab_free_node, NULL);
	fg_htab_clear(&trips);
	fg_strset_free(&touched_set);
	free(touched);
	touched = NULL;
	ntouched = touchedcap = 0;
	qid_outage.since = pos_outage.since = 0;
	pthread_mutex_lock(&qlock);
	if (nqueue > 0)
		fg_log_err("feedback: %zu queue IDs could not be recorded at exit: their delivery results will not count",
		    nqueue);
	free(queue);
	queue = NULL;
	nqueue = qcap = 0;
	pthread_mutex_unlock(&qlock);
}

void
fg_feedback_counters(struct fg_feedback_counters *out)
{
	pthread_mutex_lock(&qlock);
	*out = counters;
	pthread_mutex_unlock(&qlock);
	out->tripped = trips.count;
	out->following = follow != NULL;
}
