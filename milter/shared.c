/*
 * The shared store: floodgate's one connection to Redis, with hiredis's
 * asynchronous API on libevent: on the native engine's loop (its thread
 * does all of the store's work, so a recipient's reserve never crosses
 * threads), or on a loop and thread of its own (libmilter). Reserves
 * from the milter loop, libmilter's threads and the service thread are
 * gathered per round of the loop into one script call, pipelined; each
 * is answered within redis_timeout or told FG_SHARED_DOWN, and the
 * caller decides from memory with limits divided by relays. A timeout
 * or a lost connection takes the store down: it reconnects with backoff
 * (1 s doubling to 30 s), loads the scripts, checks that the ACL user
 * may run what they run (the probe), learns which calls in flight on a
 * lost connection Redis applied, adds to the shared windows what was
 * charged meanwhile (and what it did not apply), and answers from Redis
 * again.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "blocks.h"
#include "daemon.h"
#include "htab.h"
#include "log.h"
#include "shared.h"
#include "stats.h"
#include "store.h"
#include "table.h"
#include "util.h"
#include "window.h"
#include "wkey.h"

#define BACKOFF_FIRST	1
#define BACKOFF_MAX	30
/* A Redis that goes down again within this many milliseconds of the
 * relay coming back: the backoff goes on doubling, rather than the
 * relay coming back and going down every second with a merge each time
 * (a Redis that takes the connection but, under load, answers the
 * reserves too late). Up longer, the backoff starts over. */
#define BACKOFF_FLAP_MS	2000
/* Charges kept for Redis while it is down, summed per window and slot;
 * past this many windows and slots, new ones are dropped (and said). */
#define REPLAY_MAX	200000
/* Reservations in Redis whose transaction ended while it was down,
 * summed per window and bucket; past this many, the rest lapse by
 * themselves (redis_reservation_ttl). */
#define UNRESERVE_MAX	100000
#define CONNECT_MAX_S	10	/* from connect to deciding from Redis */
#define MERGE_MAX_S	60	/* for Redis to take what is given back */

enum state { ST_DOWN, ST_LOADING, ST_UP };
enum opkind { OP_RESERVE, OP_END, OP_ADD, OP_CALL, OP_RAW };

/* A blocking call's commands (fg_shared_call): the caller waits on it. */
struct call {
	struct fg_rcmd *cmd;
	size_t n, got;
	void (*fn)(void *arg, size_t i, const redisReply *r);
	void *arg;
	int rc;
	int finished;			/* under sh.lock */
	struct event *timer;
	int refs;			/* replies still due, plus the caller */
};

/* Handed from any thread to the store's. */
struct op {
	enum opkind kind;
	struct fg_sreserve *r;		/* OP_RESERVE */
	struct call *call;		/* OP_CALL */
	struct fg_rcmd *raw;		/* OP_RAW: sent, its answer ignored */
	int commit;			/* OP_END */
	int retried;			/* sent again after NOSCRIPT */
	uint32_t now;
	uint32_t gen;			/* sent on connection gen, */
	uint64_t seq;			/* ... its seq'th call (a mark) */
	size_t n;
	struct op *next;
	struct fg_ritem it[];		/* OP_END, OP_ADD (one) */
};

/* A recipient's reserve sent: its checks (a copy the reply fills),
 * and what is needed to give it back if it comes late. */
struct sreq {
	struct fg_sreserve *r;		/* NULL once answered by the timeout */
	struct event *timer;
	uint32_t timeout_ms;		/* what the timer was set to */
	struct fg_check *chk;
	size_t n;
	struct fg_ritem it[];
};

/*
 * Reserves that were waiting together go in one script call: Redis runs
 * the script once for all of them (each decided as if alone, in order),
 * the recipients of one tenant read and write their windows once.
 */
#define BATCH_MAX	64		/* recipients */
#define BATCH_CHECKS	512
struct batch {
	size_t k;
	int retried;
	struct sreq *q[BATCH_MAX];
	struct fg_rreq req[BATCH_MAX];	/* each q's checks, for the script */
};

/*
 * Counts kept while Redis is down, summed per name and two numbers: a
 * window's charges per slot and period (replay), reservations to give
 * back per window and bucket (unres), the pool's statistics per hour and
 * kind (the stash).
 */
struct tally {
	struct fg_hnode node;
	uint32_t a, b;
	uint64_t n;
	char name[];
};

/*
 * This relay's own charges, in memory: every window a commit spends in
 * Redis is charged here too. During an outage the divided limits count
 * what the relay sent before it; when Redis comes back empty (restarted
 * without persistence, flushed) each relay gives it its windows, and the
 * shared windows are the sum of what every relay sent, not nothing.
 */
static struct fg_limiter *shadow;

/*
 * What a relay counts while Redis is down waits here (the service
 * thread's), summed per hash and field, and goes with the first flush
 * after it is back: the pool's top counts the outage too. Bounded: past
 * STASH_MAX fields the rest is dropped, and said.
 */
#define STASH_MAX	100000

static struct fg_htab stash;	/* name: field, a: hour, b: kind */
static uint64_t stash_dropped;

static struct {
	/* set at start, read-only after */
	char *host, *path, *user, *password, prefix[FG_RPREFIX_MAX + 1];
	unsigned port, db;
	uint32_t ttl;
	char url[256];
	char relay[40];			/* this relay in reservation names */
	/* redis_timeout: set at start and by each reload
	 * (fg_shared_set_timeout), read by the store's thread */
	atomic_uint timeout_ms;
	/* the store's thread */
	struct event_base *base;
	struct event *wake, *retry, *stop_timer;
	pthread_t thread;
	int running;
	int own;			/* base and thread are the store's */
	int stopped;			/* adopted loop: stop is done (lock) */
	redisAsyncContext *ac;
	enum state state;
	char sha[FG_RS_COUNT][FG_RSHA_LEN + 1];
	int loaded;
	unsigned backoff;
	int64_t up_at;		/* fg_mono_us(); 0: not up */
	char hello_err[512];		/* AUTH's, SELECT's or the probe's, last logged */
	struct fg_htab replay;
	size_t nreplay, replay_dropped;	/* charges kept, and dropped */
	struct fg_htab unres;		/* reservations to give back */
	size_t unres_dropped;
	/* The keyspace's mark ("{P}:epoch") when this relay last saw it
	 * (kept in its database across restarts): another one, or none,
	 * means Redis lost what it had. Written under lock. */
	char epoch[64];
	unsigned epoch_n;		/* marks this relay has set */
	int epoch_asked;		/* a live check is out */
	int merging;			/* giving charges back: not up yet */
	int up_at_stop;			/* Redis answered when the store stopped */
	int merge_lost;			/* ... to a Redis that lost data */
	/* The outage's charges sent by the merge, told once Redis took
	 * them (a refused add takes the store down again, untold). */
	size_t merge_n, merge_adds, merge_dropped;
	time_t since;			/* connecting, or merging, since */
	int round_empty;		/* this check's mark: none or another */
	int round_saw;			/* a mark was known before it */
	/* This relay's own record in Redis ("{P}:at:ID", ID kept in its
	 * database across restarts): the time of its last check, written
	 * with each one after the commits sent before it. Redis giving
	 * back an older one than this relay last saw acknowledged went
	 * back in time (a snapshot, a lagging replica): what this relay
	 * charged since is missing. Written under lock. The record names
	 * the process that wrote it (its STAMP): another live relay writing
	 * under the same ID (started from a copy of this one's database)
	 * would make each take the other's clock for Redis going back, so
	 * the younger of the two takes a new name (tick_mine: this process
	 * has written the record; foreign: reads in a row that found an
	 * older process's). */
	char id[40];
	uint32_t tick_sent, tick_acked;
	int tick_mine, foreign;
	char markid[40];		/* the ID in the marks' keys */
	struct event *mark;		/* the live check, each second */
	/* Each connection's calls that change windows leave their number
	 * in a key of the connection's own, "{P}:q:ID.STAMP.GEN" (STAMP:
	 * this process's start): those whose answers were lost with it
	 * wait in doubt until the next connection reads the key. */
	char stamp[24];
	uint32_t gen;			/* connections made */
	char markkey[FG_RKEY_MAX + 1];	/* this one's key */
	uint64_t seq;			/* calls marked on this one */
	struct doubt *doubt, *doubt_tail;
	size_t ndoubt;
	int reloading;			/* scripts sent again, not answered */
	/* shared between threads */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct op *head, *tail;
	int accepting;			/* submit() takes ops */
	struct op *late;		/* ends and adds after it stopped */
	int told_down;			/* this outage is logged */
	char why[512];			/* what started it, or a later refusal at connect (status) */
	int stopping;
	atomic_int up;
	atomic_int resync;		/* (re)connected: offer our blocks */
	atomic_long down_since;
} sh = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void connect_now(void);
static void check_epoch(int live);
static void go_down(const char *why);
static void on_stopped(evutil_socket_t fd, short what, void *arg);
static int submit(struct op *o);
static struct op *new_op(enum opkind kind, size_t n);

/* The caller learns its reserve's outcome. */
static void
deliver(evutil_socket_t fd, short what, void *arg)
{
	struct fg_sreserve *r = arg;

	(void)fd;
	(void)what;
	r->done(r);
}

static void
finish(struct fg_sreserve *r, int rc)
{
	struct timeval zero = { 0, 0 };

	r->rc = rc;
	if (r->base != NULL) {
		atomic_store(&r->finished, 1);
		if (event_base_once(r->base, -1, EV_TIMEOUT, deliver, r,
		    &zero) < 0)
			fg_log_err("shared store: cannot hand a decision back to the milter loop");
		return;
	}
	pthread_mutex_lock(&sh.lock);
	atomic_store(&r->finished, 1);
	pthread_cond_broadcast(&sh.cond);
	pthread_mutex_unlock(&sh.lock);
}

struct tally_key {
	const char *name;
	uint32_t a, b;
};

static int
tally_eq(const struct fg_hnode *n, const void *key)
{
	const struct tally *x = (const struct tally *)n;
	const struct tally_key *k = key;

	return x->a == k->a && x->b == k->b && strcmp(x->name, k->name) == 0;
}

/* Adds n to (name, a, b) in t; -1 when it is not kept (t holds max
 * already, or no memory). */
static int
tally_add(struct fg_htab *t, size_t max, const char *name, uint32_t a,
    uint32_t b, uint64_t n)
{
	struct tally_key k = { name, a, b };
	uint64_t h = fg_hash(name) ^ ((uint64_t)a << 20) ^ b;
	size_t len;
	struct tally *x;

	if ((x = (struct tally *)fg_htab_find(t, h, tally_eq, &k)) != NULL) {
		x->n += n;
		return 0;
	}
	len = strlen(name) + 1;
	if (t->count >= max || (x = malloc(sizeof(*x) + len)) == NULL)
		return -1;
	x->node.hash = h;
	x->a = a;
	x->b = b;
	x->n = n;
	memcpy(x->name, name, len);
	if (fg_htab_add(t, &x->node) < 0) {
		free(x);
		return -1;
	}
	return 0;
}

static void
tally_clear(struct fg_htab *t)
{
	fg_htab_walk(t, fg_htab_free_node, NULL);
	fg_htab_clear(t);
}

/* A charge made while Redis is down, added to its window's slot (each
 * add at its slot's start counts as its own time did). */
static void
replay_add(const char *wkey, uint32_t period, uint32_t cost, uint32_t when)
{
	uint32_t slot = period > 0 ? when - when % fg_window_width(period) :
	    when;

	if (tally_add(&sh.replay, REPLAY_MAX, wkey, slot, period, cost) < 0)
		sh.replay_dropped++;
	else
		sh.nreplay++;
}

/* A commit's charges, kept for when Redis takes them. */
static void
replay_op(const struct op *o)
{
	uint32_t when = o->now ? o->now : (uint32_t)time(NULL);
	size_t i;

	for (i = 0; i < o->n; i++)
		replay_add(o->it[i].wkey, o->it[i].period, o->it[i].cost, when);
}

/*
 * A transaction that ended while Redis was down (or that Redis refused
 * to end) still has its reservations there, if Redis kept its data:
 * they would count beside the charges of its commit, added when Redis
 * answers, until they lapse after redis_reservation_ttl. They are
 * given back then too, summed per window and bucket. A Redis that lost
 * its data, or went back in time, is told nothing (unreserve_clear): a
 * bucket it restored may hold other relays' reservations only.
 */
static void
unreserve_items(const struct fg_ritem *it, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *m = it[i].member;
		unsigned long long b;
		char *end;

		if (m[0] != 'r' || it[i].cost == 0)
			continue;
		errno = 0;
		b = strtoull(m + 1, &end, 10);
		if (errno != 0 || end == m + 1 || *end != '\0' || b > UINT32_MAX)
			continue;
		if (tally_add(&sh.unres, UNRESERVE_MAX, it[i].wkey,
		    (uint32_t)b, 0, it[i].cost) < 0)
			sh.unres_dropped++;
	}
}

static void
unreserve_op(const struct op *o)
{
	unreserve_items(o->it, o->n);
}

/* A commit or release Redis did not take: its charges wait with the
 * outage's, its reservations to be given back. */
static void
keep_end(const struct op *o)
{
	if (o->commit)
		replay_op(o);
	unreserve_op(o);
}

/* An end or an add Redis cannot take now (down, or the store stopped):
 * kept for when it answers. */
static void
keep_op(const struct op *o)
{
	if (o->kind == OP_END)
		keep_end(o);
	else if (o->kind == OP_ADD)
		replay_add(o->it[0].wkey, o->it[0].period, o->it[0].cost,
		    o->now);
}

/* The key connection gen's marked calls leave their number in. */
static void
mark_name(uint32_t gen, char *buf, size_t len)
{
	snprintf(buf, len, "{%s}:q:%s.%s.%u", sh.prefix, sh.markid, sh.stamp,
	    gen);
}

/* The mark of the next call on this connection. */
static const struct fg_rmark *
next_mark(struct fg_rmark *m, uint32_t *gen, uint64_t *seq)
{
	m->key = sh.markkey;
	m->seq = ++sh.seq;
	*gen = sh.gen;
	*seq = m->seq;
	return m;
}

/* An added charge until Redis answers: what replay_add needs, in as
 * few bytes as its window's name (a give-back may send a million). */
struct addrec {
	uint32_t when, cost, period, gen;
	uint64_t seq;
	int retried;			/* sent again after NOSCRIPT */
	char wkey[];
};

/* A call whose answer was lost with its connection: an end (o) or an
 * add (a), whichever it was. */
struct doubt {
	struct doubt *next;
	struct op *o;
	struct addrec *a;
};

/* The connection a call in doubt was sent on, and its number there. */
static uint32_t
doubt_gen(const struct doubt *d)
{
	return d->o != NULL ? d->o->gen : d->a->gen;
}

static uint64_t
doubt_seq(const struct doubt *d)
{
	return d->o != NULL ? d->o->seq : d->a->seq;
}

/* An end (o) or an add (a) kept as not applied (keep_op, replay_add),
 * or dropped as applied; freed either way. */
static void
doubt_end(struct op *o, struct addrec *a, int applied)
{
	if (!applied && o != NULL)
		keep_op(o);
	else if (!applied)
		replay_add(a->wkey, a->period, a->cost, a->when);
	free(o);
	free(a);
}

/* An end (o) or an add (a) whose answer was lost with its connection:
 * Redis may have applied it or not; the next connection reads its mark
 * (past REPLAY_MAX of them, or at the stop, one is kept as not
 * applied: counted twice at worst, stricter, never looser). Takes it. */
static void
doubt(struct op *o, struct addrec *a)
{
	struct doubt *d = NULL;

	if (sh.ndoubt >= REPLAY_MAX || (d = calloc(1, sizeof(*d))) == NULL) {
		doubt_end(o, a, 0);
		return;
	}
	d->o = o;
	d->a = a;
	if (sh.doubt_tail != NULL)
		sh.doubt_tail->next = d;
	else
		sh.doubt = d;
	sh.doubt_tail = d;
	sh.ndoubt++;
}

/* Those in doubt from connection gen: up to seq was applied, the rest
 * is kept for when Redis answers. */
static void
settle_doubt(uint32_t gen, uint64_t seq)
{
	struct doubt *d, *next, *keep = NULL, *tail = NULL;
	size_t applied = 0, again = 0;
	int done;

	for (d = sh.doubt; d != NULL; d = next) {
		next = d->next;
		if (doubt_gen(d) != gen) {
			d->next = NULL;
			if (tail != NULL)
				tail->next = d;
			else
				keep = d;
			tail = d;
			continue;
		}
		done = doubt_seq(d) <= seq;
		sh.ndoubt--;
		if (done)
			applied++;
		else
			again++;
		doubt_end(d->o, d->a, done);
		free(d);
	}
	sh.doubt = keep;
	sh.doubt_tail = tail;
	fg_log_notice("shared store: %zu calls to %s had no answer when a connection was lost: %zu were applied, %zu are kept to be sent again",
	    applied + again, sh.url, applied, again);
}

static void
on_doubt(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	uint32_t gen = (uint32_t)(uintptr_t)priv;
	unsigned long long v = 0;
	char *end;

	(void)ac;
	if (r == NULL || sh.state != ST_LOADING)
		return;		/* the next connection asks again */
	if (r->type == REDIS_REPLY_STRING) {
		errno = 0;
		v = strtoull(r->str, &end, 10);
		if (errno != 0 || end == r->str || *end != '\0')
			v = 0;	/* not a mark: as if none had been applied */
	} else if (r->type != REDIS_REPLY_NIL) {
		fg_log_warn("shared store: %s: cannot tell which calls it applied before a connection was lost: %s",
		    sh.url, r->type == REDIS_REPLY_ERROR ? r->str : "odd reply");
		return;
	}
	settle_doubt(gen, v);
}

/* Asks for the marks of the connections with calls in doubt (a few at
 * a time): answered before on_tick, whose merge then sends what was not
 * applied with the outage's charges. */
static void
ask_doubt(void)
{
	uint32_t asked[8];
	size_t na = 0, i;
	char k[FG_RKEY_MAX + 1];
	struct doubt *d;

	for (d = sh.doubt; d != NULL && na < 8; d = d->next) {
		uint32_t gen = doubt_gen(d);

		for (i = 0; i < na && asked[i] != gen; i++)
			;
		if (i < na || gen == sh.gen)
			continue;
		asked[na++] = gen;
		mark_name(gen, k, sizeof(k));
		if (redisAsyncCommand(sh.ac, on_doubt, (void *)(uintptr_t)gen,
		    "GET %s", k) != REDIS_OK)
			return;
	}
}

/* At the stop: whatever is still in doubt counts as not applied. */
static void
doubt_keep_all(void)
{
	struct doubt *d, *next;

	for (d = sh.doubt; d != NULL; d = next) {
		next = d->next;
		doubt_end(d->o, d->a, 0);
		free(d);
	}
	sh.doubt = sh.doubt_tail = NULL;
	sh.ndoubt = 0;
}

/* -1 when the connection is gone (a reply that came after a timeout
 * may still be read while it closes). */
static int
send_cmd(struct fg_rcmd *c, redisCallbackFn *fn, void *priv)
{
	int rc = REDIS_ERR;

	if (sh.ac != NULL && sh.state != ST_DOWN)
		rc = redisAsyncCommandArgv(sh.ac, fn, priv, c->argc, c->argv,
		    c->argvlen);
	fg_rcmd_free(c);
	return rc == REDIS_OK ? 0 : -1;
}

/* An error that says Redis takes no writes at all now, whatever the
 * key: every reserve would fail the same way, so the store is down (one
 * log line, the incident, divided limits) until a reconnect finds it
 * taking writes again. */
static int
refuses_writes(const redisReply *r, char *why, size_t len)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR &&
	    fg_rlimit_refuses_writes(r->str, why, len);
}

/* Replies nobody waits for: errors are logged, once a second at most. */
static void
on_background(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	static time_t logged;
	char why[200];

	(void)ac;
	(void)priv;
	if (refuses_writes(r, why, sizeof(why)))
		go_down(why);
	else if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    time(NULL) != logged) {
		logged = time(NULL);
		fg_log_err("shared store: %s: %s", sh.url, r->str);
	}
}

/* SCRIPT LOAD of each script (priv: its number), the last one's answer
 * to last, the others' to each. */
static void
load_scripts(redisCallbackFn *each, redisCallbackFn *last)
{
	struct fg_rcmd c = { 0 };
	size_t i;

	for (i = 0; i < FG_RS_COUNT; i++)
		if (fg_rlimit_load_cmd(&c, (enum fg_rscript)i) == 0)
			(void)send_cmd(&c, i + 1 < FG_RS_COUNT ? each : last,
			    (void *)(uintptr_t)i);
}

static void
on_reloaded(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)priv;
	if (ac == sh.ac)
		sh.reloading = 0;
	on_background(ac, reply, NULL);
}

/*
 * Redis forgot floodgate's scripts (SCRIPT FLUSH; a restart with
 * persistence comes with a new connection, which loads them): loaded
 * again, then the call that was told so is sent again (the connection
 * keeps the order). The calls sent before the load that are told so
 * too need no load of their own.
 */
static int
noscript(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ERROR ||
	    strncmp(r->str, "NOSCRIPT", 8) != 0 || sh.state == ST_DOWN)
		return 0;
	if (sh.reloading)
		return 1;
	fg_log_notice("shared store: %s lost floodgate's scripts; loading them again",
	    sh.url);
	load_scripts(on_background, on_reloaded);
	sh.reloading = 1;
	return 1;
}

static void do_op(struct op *o);
static void send_add(const char *wkey, uint32_t period, uint32_t cost,
    uint32_t when, int retried);

/* A commit's or a release's answer (priv: its op): one Redis did not
 * take is kept (keep_end) for when it takes writes again. */
static void
on_end(redisAsyncContext *ac, void *reply, void *priv)
{
	struct op *o = priv;
	char why[200];

	if (reply == NULL) {
		doubt(o, NULL);	/* the connection was lost */
		return;
	}
	if (!o->retried && noscript(reply)) {
		o->retried = 1;
		do_op(o);	/* sent again, or kept */
		return;
	}
	if (refuses_writes(reply, why, sizeof(why))) {
		keep_end(o);
		go_down(why);
	} else {
		on_background(ac, reply, NULL);
	}
	free(o);
}

static void
on_add(redisAsyncContext *ac, void *reply, void *priv)
{
	struct addrec *a = priv;
	char why[200];

	if (reply == NULL) {		/* the connection was lost */
		doubt(NULL, a);
		return;
	}
	if (!a->retried && noscript(reply)) {
		send_add(a->wkey, a->period, a->cost, a->when, 1);
	} else if (refuses_writes(reply, why, sizeof(why))) {
		replay_add(a->wkey, a->period, a->cost, a->when);
		go_down(why);
	} else {
		on_background(ac, reply, NULL);
	}
	free(a);
}

/* A charge added now (retried: sent again after NOSCRIPT); one that
 * cannot be sent is kept for when Redis answers. */
static void
send_add(const char *wkey, uint32_t period, uint32_t cost, uint32_t when,
    int retried)
{
	struct fg_rcmd c = { 0 };
	struct fg_rmark m;
	char rule[FG_WRULE_MAX + 1];
	const char *key;
	size_t len = strlen(wkey) + 1;
	struct addrec *a = malloc(sizeof(*a) + len);

	if (a == NULL || fg_wkey_rule(wkey, rule, &key) < 0 ||
	    fg_rlimit_add_cmd(&c, sh.sha[FG_RS_ADD], sh.prefix, rule, key,
	    period, cost, when, next_mark(&m, &a->gen, &a->seq)) < 0) {
		fg_rcmd_free(&c);
		free(a);
		fg_log_err("shared store: cannot send a charge to %s", sh.url);
		return;
	}
	a->when = when;
	a->cost = cost;
	a->period = period;
	a->retried = retried;
	memcpy(a->wkey, wkey, len);
	if (send_cmd(&c, on_add, a) < 0) {
		replay_add(wkey, period, cost, when);
		free(a);
	}
}

static void on_batch(redisAsyncContext *ac, void *reply, void *priv);

static void
on_integer(void *arg, size_t i, const redisReply *r)
{
	(void)i;
	*(long long *)arg = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

static int
send_batch(struct batch *b)
{
	struct fg_rcmd c = { 0 };

	if (fg_rlimit_reserve_cmd(&c, sh.sha[FG_RS_RESERVE], sh.prefix, b->req,
	    b->k, 0, sh.ttl, 0) < 0) {
		fg_rcmd_free(&c);
		return -1;
	}
	return send_cmd(&c, on_batch, b);
}

static void
sreq_free(struct sreq *q)
{
	if (q->timer != NULL)
		event_free(q->timer);
	free(q->chk);
	free(q);
}

/*
 * A reserve answered after redis_timeout gives back what it got: its
 * recipient was decided from memory. The timeout took the store down,
 * so it is kept with the reservations of transactions that ended
 * meanwhile and given back when Redis answers again (never to a Redis
 * that lost its data) rather than left to count in the pool's window
 * until redis_reservation_ttl. Sent at once only if the store is up
 * again by the time the answer comes.
 */
static void
give_back(struct sreq *q)
{
	struct fg_ritem it[64];
	struct fg_rcmd c = { 0 };
	size_t i, k = 0;

	for (i = 0; i < q->n && k < 64; i++)
		if (q->it[i].cost > 0)
			it[k++] = q->it[i];
	if (k == 0)
		return;
	if (sh.state == ST_UP && !sh.merging) {
		if (fg_rlimit_release_cmd(&c, sh.sha[FG_RS_RELEASE], sh.prefix,
		    it, k, NULL) == 0 && send_cmd(&c, on_background, NULL) == 0)
			return;
		fg_rcmd_free(&c);
	}
	unreserve_items(it, k);
}

/* The batch is over for every recipient still waiting: rc for each. */
static void
batch_fail(struct batch *b, int rc)
{
	size_t i;

	for (i = 0; i < b->k; i++) {
		if (b->q[i]->r != NULL)
			finish(b->q[i]->r, rc);
		sreq_free(b->q[i]);
	}
	free(b);
}

static void
on_batch(redisAsyncContext *ac, void *reply, void *priv)
{
	struct batch *b = priv;
	struct fg_rreq *req = b->req;
	redisReply *rep = reply;
	char bk[FG_RMEMBER_MAX + 1], why[200];
	static time_t logged;
	long long *v;
	uint32_t now;
	size_t i, j;

	(void)ac;
	if (rep == NULL) {		/* disconnected */
		batch_fail(b, FG_SHARED_DOWN);
		return;
	}
	if (!b->retried && noscript(rep)) {
		b->retried = 1;
		if (send_batch(b) == 0)
			return;
	}
	if (refuses_writes(rep, why, sizeof(why))) {
		batch_fail(b, FG_SHARED_DOWN);
		go_down(why);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY ||
	    (v = calloc(rep->elements + 1, sizeof(*v))) == NULL) {
		if (time(NULL) != logged) {	/* once a second at most */
			logged = time(NULL);
			fg_log_err("shared store: %s: unexpected answer to a reserve: %s",
			    sh.url, rep->type == REDIS_REPLY_ERROR ? rep->str :
			    "not a list");
		}
		batch_fail(b, FG_SHARED_DOWN);
		return;
	}
	for (i = 0; i < rep->elements; i++)
		v[i] = rep->element[i]->type == REDIS_REPLY_INTEGER ?
		    rep->element[i]->integer : -1;
	if (fg_rlimit_reserve_reply(v, rep->elements, req, b->k, &now) < 0) {
		free(v);
		if (time(NULL) != logged) {
			logged = time(NULL);
			fg_log_err("shared store: %s: a reserve's answer has the wrong shape",
			    sh.url);
		}
		batch_fail(b, FG_SHARED_DOWN);
		return;
	}
	free(v);
	/* The bucket every reservation of the call is counted in. */
	fg_rlimit_bucket(now, sh.ttl, bk, sizeof(bk));
	for (i = 0; i < b->k; i++) {
		struct sreq *q = b->q[i];
		struct fg_sreserve *r = q->r;

		for (j = 0; j < q->n; j++)
			fg_strlcpy(q->it[j].member, bk, sizeof(q->it[j].member));
		if (r == NULL) {
			if (req[i].rc == FG_RESERVED)
				give_back(q);
			continue;
		}
		evtimer_del(q->timer);
		r->now = now;
		r->nitems = 0;
		for (j = 0; j < r->n; j++) {
			r->chk[j].over = q->chk[j].over;
			r->chk[j].used = q->chk[j].used;
			r->chk[j].retry = q->chk[j].retry;
			if (req[i].rc == FG_RESERVED && r->chk[j].cost > 0)
				r->items[r->nitems++] = q->it[j];
		}
		finish(r, req[i].rc);
	}
	for (i = 0; i < b->k; i++)
		sreq_free(b->q[i]);
	free(b);
}

/* How long a reserve or a call waits for Redis: redis_timeout, as it
 * is when the wait starts (a reload may change it meanwhile). */
static struct timeval
timeout_tv(uint32_t ms)
{
	struct timeval tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct sreq *q = arg;
	char why[96];

	(void)fd;
	(void)what;
	if (q->r == NULL)
		return;
	finish(q->r, FG_SHARED_DOWN);
	q->r = NULL;	/* the reply, if it comes, gives back */
	snprintf(why, sizeof(why), "no answer within redis_timeout %ums",
	    (unsigned)q->timeout_ms);
	go_down(why);
}

/* A reserve ready to go in a batch, its timer running; NULL when it
 * was answered at once (down, or no memory). */
static struct sreq *
sreq_new(struct fg_sreserve *r)
{
	uint32_t ms = atomic_load(&sh.timeout_ms);
	struct timeval tv = timeout_tv(ms);
	struct sreq *q;
	size_t i;

	if (sh.state != ST_UP || sh.merging || r->n > 64 || r->n == 0 ||
	    (q = calloc(1, sizeof(*q) + r->n * sizeof(q->it[0]))) == NULL) {
		finish(r, FG_SHARED_DOWN);
		return NULL;
	}
	q->r = r;
	q->n = r->n;
	q->timeout_ms = ms;
	if ((q->chk = malloc(r->n * sizeof(*q->chk))) == NULL) {
		free(q);
		finish(r, FG_SHARED_DOWN);
		return NULL;
	}
	memcpy(q->chk, r->chk, r->n * sizeof(*q->chk));
	for (i = 0; i < r->n; i++) {
		if (fg_wkey_join(r->chk[i].rule, r->chk[i].key, q->it[i].wkey,
		    sizeof(q->it[i].wkey)) < 0) {
			sreq_free(q);
			finish(r, FG_RESERVE_ERROR);
			return NULL;
		}
		q->it[i].cost = r->chk[i].cost;
		q->it[i].period = r->chk[i].period;
	}
	if ((q->timer = evtimer_new(sh.base, on_timeout, q)) == NULL) {
		sreq_free(q);
		finish(r, FG_SHARED_DOWN);
		return NULL;
	}
	evtimer_add(q->timer, &tv);
	return q;
}

/* Sends what was gathered; on failure every recipient in it is down. */
static void
flush_batch(struct batch **bp)
{
	struct batch *b = *bp;

	*bp = NULL;
	if (b == NULL)
		return;
	if (send_batch(b) < 0)
		batch_fail(b, FG_SHARED_DOWN);
}

/* Adds a reserve to the batch being gathered, sending it when full. */
static void
gather(struct batch **bp, size_t *checks, struct fg_sreserve *r)
{
	struct sreq *q = sreq_new(r);

	if (q == NULL)
		return;
	if (*bp != NULL && ((*bp)->k == BATCH_MAX ||
	    *checks + q->n > BATCH_CHECKS))
		flush_batch(bp);
	if (*bp == NULL) {
		if ((*bp = calloc(1, sizeof(**bp))) == NULL) {
			finish(r, FG_SHARED_DOWN);
			sreq_free(q);
			return;
		}
		*checks = 0;
	}
	(*bp)->q[(*bp)->k] = q;
	(*bp)->req[(*bp)->k].chk = q->chk;
	(*bp)->req[(*bp)->k].n = q->n;
	(*bp)->k++;
	*checks += q->n;
}

static void
call_done(struct call *c, int rc)
{
	pthread_mutex_lock(&sh.lock);
	if (!c->finished) {
		c->rc = rc;
		c->finished = 1;
		pthread_cond_broadcast(&sh.cond);
	}
	pthread_mutex_unlock(&sh.lock);
}

/* The store's thread lets go of a call; the last one frees it. */
static void
call_unref(struct call *c)
{
	int last;

	pthread_mutex_lock(&sh.lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&sh.lock);
	if (last) {
		if (c->timer != NULL)
			event_free(c->timer);
		free(c);
	}
}

struct callpart {
	struct call *c;
	size_t i;
};

static void
on_call(redisAsyncContext *ac, void *reply, void *priv)
{
	struct callpart *p = priv;
	struct call *c = p->c;
	int finished;

	(void)ac;
	pthread_mutex_lock(&sh.lock);
	finished = c->finished;
	pthread_mutex_unlock(&sh.lock);
	if (!finished) {
		if (reply == NULL)
			call_done(c, -1);
		else {
			c->fn(c->arg, p->i, reply);
			if (++c->got == c->n) {
				evtimer_del(c->timer);
				call_done(c, 0);
			}
		}
	}
	free(p);
	call_unref(c);
}

static void
on_call_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	call_done(arg, -1);
}

static void
do_call(struct call *c)
{
	struct timeval tv = timeout_tv(atomic_load(&sh.timeout_ms));
	size_t i;

	if (sh.state != ST_UP ||
	    (c->timer = evtimer_new(sh.base, on_call_timeout, c)) == NULL) {
		call_done(c, -1);
		call_unref(c);
		return;
	}
	for (i = 0; i < c->n; i++) {
		struct callpart *p = malloc(sizeof(*p));

		if (p == NULL || sh.ac == NULL || redisAsyncCommandArgv(sh.ac, on_call, p,
		    c->cmd[i].argc, c->cmd[i].argv, c->cmd[i].argvlen) != REDIS_OK) {
			free(p);
			call_done(c, -1);
			break;
		}
		p->c = c;
		p->i = i;
		pthread_mutex_lock(&sh.lock);
		c->refs++;
		pthread_mutex_unlock(&sh.lock);
	}
	evtimer_add(c->timer, &tv);
	call_unref(c);
}

int
fg_shared_call(struct fg_rcmd *cmd, size_t n,
    void (*fn)(void *arg, size_t i, const redisReply *r), void *arg)
{
	struct call *c;
	struct op *o;
	int rc;

	if (!atomic_load(&sh.up) || (c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		free(c);
		return -1;
	}
	c->cmd = cmd;
	c->n = n;
	c->fn = fn;
	c->arg = arg;
	c->refs = 2;		/* the caller, and do_call */
	o->kind = OP_CALL;
	o->call = c;
	if (submit(o) < 0) {
		free(c);
		return -1;
	}
	pthread_mutex_lock(&sh.lock);
	while (!c->finished)
		pthread_cond_wait(&sh.cond, &sh.lock);
	rc = c->rc;
	pthread_mutex_unlock(&sh.lock);
	call_unref(c);
	return rc;
}

static void
do_op(struct op *o)
{
	struct fg_rcmd c = { 0 };
	struct fg_rmark m;

	switch (o->kind) {
	case OP_RESERVE:		/* gathered by on_wake */
		break;
	case OP_CALL:
		do_call(o->call);
		break;
	case OP_RAW:
		if (sh.state == ST_UP)
			(void)send_cmd(o->raw, on_background, NULL);
		fg_rcmd_free(o->raw);
		free(o->raw);
		break;
	case OP_END:
		if (sh.state != ST_UP) {
			keep_op(o);	/* until Redis answers */
			break;
		}
		next_mark(&m, &o->gen, &o->seq);
		if ((o->commit ? fg_rlimit_commit_cmd(&c, sh.sha[FG_RS_COMMIT],
		    sh.prefix, o->it, o->n, o->now, &m) :
		    fg_rlimit_release_cmd(&c, sh.sha[FG_RS_RELEASE], sh.prefix,
		    o->it, o->n, &m)) < 0) {
			fg_rcmd_free(&c);
			fg_log_err("shared store: cannot send a %s to %s",
			    o->commit ? "commit" : "release", sh.url);
		} else if (send_cmd(&c, on_end, o) < 0) {
			keep_end(o);	/* until Redis answers */
		} else {
			return;		/* on_end frees it */
		}
		break;
	case OP_ADD:
		if (sh.state != ST_UP)
			keep_op(o);
		else
			send_add(o->it[0].wkey, o->it[0].period, o->it[0].cost,
			    o->now, 0);
		break;
	}
	free(o);
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct op *o, *next;

	(void)fd;
	(void)what;
	(void)arg;
	struct batch *b = NULL;
	size_t checks = 0;

	pthread_mutex_lock(&sh.lock);
	o = sh.head;
	sh.head = sh.tail = NULL;
	pthread_mutex_unlock(&sh.lock);
	/* Reserves waiting together go in one call; any other op keeps
	 * its place after those before it. */
	for (; o != NULL; o = next) {
		next = o->next;
		if (o->kind == OP_RESERVE) {
			gather(&b, &checks, o->r);
			free(o);
			continue;
		}
		flush_batch(&b);
		do_op(o);
	}
	flush_batch(&b);
}

/* 0 when the store's thread has it; -1 (o freed) when it stops. */
static int
submit(struct op *o)
{
	o->next = NULL;
	pthread_mutex_lock(&sh.lock);
	if (!sh.accepting) {
		/* Stopping: a transaction that ends now still owes Redis its
		 * charges (fg_shared_save_pending keeps them); the rest is
		 * answered from memory. */
		if (sh.url[0] != '\0' &&
		    (o->kind == OP_END || o->kind == OP_ADD)) {
			o->next = sh.late;
			sh.late = o;
		} else
			free(o);
		pthread_mutex_unlock(&sh.lock);
		return -1;
	}
	if (sh.tail != NULL)
		sh.tail->next = o;
	else
		sh.head = o;
	sh.tail = o;
	event_active(sh.wake, EV_READ, 0);
	pthread_mutex_unlock(&sh.lock);
	return 0;
}

/* A Redis that came back empty gets this relay's windows, slot by slot
 * (each added at its slot's time, so it leaves when it would have); one
 * that went back in time, the slots that may hold a charge made since
 * (a slot is given whole: its charges from before count twice, stricter,
 * never looser). */
#define GIVE_MARGIN_S	2	/* a commit settled before a check may be sent after it */

struct giveback {
	struct fg_config *cfg;
	uint32_t now, since;
	size_t windows, slots;
};

static void
give_window(const struct fg_entry *e, void *arg)
{
	struct giveback *g = arg;
	const struct fg_rule *r;
	char rule[FG_WRULE_MAX + 1];
	const char *key;
	uint32_t wd = fg_window_width(e->win.period);
	uint16_t i;
	int any = 0;

	/* Rate windows only: feedback windows are shared another way. */
	if (e->win.period == 0 || fg_wkey_rule(e->key, rule, &key) < 0 ||
	    g->cfg == NULL || (r = fg_config_rule(g->cfg, rule)) == NULL ||
	    fg_rule_feedback(r))
		return;
	for (i = 0; i < e->win.nslot; i++) {
		const struct fg_slot *sl = &e->win.slot[i];

		if (sl->n == 0 || sl->start + wd + e->win.period <= g->now ||
		    (uint64_t)sl->start + wd + GIVE_MARGIN_S <= g->since)
			continue;
		send_add(e->key, e->win.period, sl->n, sl->start, 0);
		g->slots++;
		any = 1;
	}
	g->windows += any;
}

/* This relay's windows, to a Redis that lost them: every slot, or
 * those that may hold a charge made at since or later. */
static size_t
give_windows(const char *what, uint32_t since)
{
	struct giveback g = { NULL, (uint32_t)time(NULL), since, 0, 0 };

	if (shadow == NULL)
		return 0;
	g.cfg = fgd_config();
	fg_table_foreach(fg_limiter_table(shadow), g.now, give_window, &g);
	fg_config_unref(g.cfg);
	if (since == 0)
		fg_log_notice("shared store: %s %s; gave it this relay's windows (%zu windows, %zu slots)",
		    sh.url, what, g.windows, g.slots);
	else
		fg_log_notice("shared store: %s %s; gave it this relay's charges since %us ago (%zu windows, %zu slots)",
		    sh.url, what, g.now > since ? g.now - since : 0,
		    g.windows, g.slots);
	return g.slots;
}

static int
replay_send(struct fg_hnode *n, void *arg)
{
	struct tally *x = (struct tally *)n;

	send_add(x->name, x->b, (uint32_t)x->n, x->a, 0);
	(*(size_t *)arg)++;
	free(x);
	return 1;
}

static void
replay_clear(void)
{
	tally_clear(&sh.replay);
	sh.nreplay = 0;
}

/* The charges made while down, one add per window and slot. */
static size_t
send_replay(void)
{
	size_t k = 0;

	fg_htab_walk(&sh.replay, replay_send, &k);
	replay_clear();
	return k;
}

static void
unreserve_clear(void)
{
	tally_clear(&sh.unres);
	sh.unres_dropped = 0;
}

/* Releases of up to UNRESERVE_BATCH reservations go in one call. */
#define UNRESERVE_BATCH	100

struct unreserve {
	struct fg_ritem *it;
	size_t n;
	uint32_t now;
	size_t sent;			/* reservations given back */
};

static void
unreserve_flush(struct unreserve *u)
{
	struct fg_rcmd c = { 0 };

	if (u->n == 0)
		return;
	if (fg_rlimit_release_cmd(&c, sh.sha[FG_RS_RELEASE], sh.prefix,
	    u->it, u->n, NULL) < 0 || send_cmd(&c, on_background, NULL) < 0) {
		fg_rcmd_free(&c);
		fg_log_err("shared store: cannot send a release to %s", sh.url);
	} else {
		u->sent += u->n;
	}
	u->n = 0;
}

static int
unreserve_send(struct fg_hnode *n, void *arg)
{
	struct tally *x = (struct tally *)n;
	struct unreserve *u = arg;

	/* A bucket whose time has passed has lapsed already. */
	if (x->a > u->now && u->it != NULL) {
		struct fg_ritem *it = &u->it[u->n++];

		fg_strlcpy(it->wkey, x->name, sizeof(it->wkey));
		snprintf(it->member, sizeof(it->member), "r%u", x->a);
		it->cost = x->n > UINT32_MAX ? UINT32_MAX : (uint32_t)x->n;
		it->period = 0;
		if (u->n == UNRESERVE_BATCH)
			unreserve_flush(u);
	}
	free(x);
	return 1;
}

/* The reservations kept by unreserve_op, given back, or forgotten
 * when Redis lost its data (lost); quiet: not logged (a few more, kept
 * while the merge was under way). */
static void
send_unreserved(int lost, int quiet)
{
	struct unreserve u = { NULL, 0, (uint32_t)time(NULL), 0 };
	size_t dropped = sh.unres_dropped;

	if (lost || (sh.unres.count == 0 && dropped == 0)) {
		unreserve_clear();
		return;
	}
	if ((u.it = calloc(UNRESERVE_BATCH, sizeof(*u.it))) == NULL)
		fg_log_err("shared store: out of memory to give reservations back to %s; they lapse by themselves",
		    sh.url);
	fg_htab_walk(&sh.unres, unreserve_send, &u);
	unreserve_flush(&u);
	free(u.it);
	unreserve_clear();
	if (dropped > 0)
		fg_log_warn("shared store: gave %s back %zu reservations left from while it was down (transactions that ended, reserves answered after redis_timeout); %zu more lapse by themselves (more than %d windows and buckets)",
		    sh.url, u.sent, dropped, UNRESERVE_MAX);
	else if (!quiet && u.sent > 0)
		fg_log_notice("shared store: gave %s back %zu reservations left from while it was down (transactions that ended, reserves answered after redis_timeout)",
		    sh.url, u.sent);
}

/* Decisions from Redis again. */
static void
up_now(int quiet)
{
	sh.state = ST_UP;
	if (sh.up_at == 0)
		sh.up_at = fg_mono_us();
	sh.told_down = 0;
	sh.hello_err[0] = '\0';
	pthread_mutex_lock(&sh.lock);
	sh.why[0] = '\0';
	pthread_mutex_unlock(&sh.lock);
	atomic_store(&sh.resync, 1);
	atomic_store(&sh.up, 1);
	atomic_store(&sh.down_since, 0);
	if (!quiet)
		fg_log_notice("shared store: %s answers; deciding from it", sh.url);
}

/* The merge's adds of the outage's charges, once Redis took them. */
static void
tell_added(void)
{
	if (sh.merge_dropped > 0)
		fg_log_warn("shared store: added %zu charges made while %s was down (%zu adds); %zu more were dropped (more than %d windows and slots)",
		    sh.merge_n, sh.url, sh.merge_adds, sh.merge_dropped,
		    REPLAY_MAX);
	else if (sh.merge_adds > 0)
		fg_log_notice("shared store: added %zu charges made while %s was down (%zu adds)",
		    sh.merge_n, sh.url, sh.merge_adds);
	sh.merge_n = sh.merge_adds = sh.merge_dropped = 0;
}

/* Every charge sent before has its answer: what was charged during the
 * merge goes too, and decisions come from Redis. priv: not NULL when
 * the connection was up before (a give-back under it). */
static void
on_merged(redisAsyncContext *ac, void *reply, void *priv)
{
	int live = priv != NULL;

	(void)ac;
	if (reply == NULL || sh.state != (live ? ST_UP : ST_LOADING) ||
	    !sh.merging)
		return;
	sh.merging = 0;
	tell_added();
	(void)send_replay();
	send_unreserved(sh.merge_lost, 1);
	up_now(live);
}

/*
 * Back: what was charged meanwhile first, then decisions from Redis.
 * lost: Redis lost this relay's windows (all of them, or what was
 * charged since). Until Redis has taken them all (a PING after them
 * answers), recipients are still decided from memory with divided
 * limits: a reserve sent behind thousands of adds would wait past
 * redis_timeout. live: the connection was up (a give-back under it).
 */
static void
merge(const char *lost, uint32_t since, int live)
{
	size_t sent = 0;

	sh.merge_n = sh.merge_adds = sh.merge_dropped = 0;
	if (lost != NULL && shadow != NULL) {
		/* The shadow holds the charges made while down too. */
		sent = give_windows(lost, since);
		replay_clear();
	} else if (sh.nreplay > 0 || sh.replay_dropped > 0) {
		sh.merge_n = sh.nreplay;
		sh.merge_adds = sent = send_replay();
		sh.merge_dropped = sh.replay_dropped;
	}
	sh.replay_dropped = 0;
	send_unreserved(lost != NULL, 0);
	if (sent > 0 && sh.ac != NULL && redisAsyncCommand(sh.ac, on_merged,
	    live ? &sh : NULL, "PING") == REDIS_OK) {
		sh.merging = 1;
		sh.merge_lost = lost != NULL;
		sh.since = time(NULL);
	} else {
		tell_added();
		up_now(live);
	}
}

/*
 * The keyspace's mark: set here when there is none (SET NX GET), each
 * time to a value of its own, so that every other relay sees it change.
 * None means Redis holds no relay's windows (new, restarted empty,
 * flushed): this relay gives it its own. Another value than the one
 * this relay last saw means the same, found by another relay first; a
 * relay that never saw one (its first connection) cannot tell, and
 * gives nothing. Asked at connect, and each second while up: a Redis
 * flushed under a live connection loses its windows as surely as one
 * restarted empty. The charges of the second before it is seen are
 * then in Redis and in the windows given back: counted twice, stricter,
 * never looser.
 *
 * With it goes this relay's own record (SET GET): a Redis that kept the
 * mark but gives back an older record than the last one it
 * acknowledged went back in time (restarted from a snapshot, a replica
 * that lagged promoted): this relay's charges since that record are
 * missing, and it gives those. The two replies come in order: on_epoch
 * notes the mark, on_tick decides.
 */
static void
on_epoch(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	int live = priv != NULL;
	char why[200];

	(void)ac;
	if (r == NULL || sh.state != (live ? ST_UP : ST_LOADING))
		return;
	pthread_mutex_lock(&sh.lock);
	sh.round_saw = sh.epoch[0] != '\0';
	sh.round_empty = 0;
	if (r->type == REDIS_REPLY_NIL) {
		sh.round_empty = 1;
		snprintf(sh.epoch, sizeof(sh.epoch), "%s.%u", sh.relay,
		    sh.epoch_n);
	} else if (r->type == REDIS_REPLY_STRING) {
		sh.round_empty = sh.epoch[0] != '\0' &&
		    strcmp(sh.epoch, r->str) != 0;
		fg_strlcpy(sh.epoch, r->str, sizeof(sh.epoch));
	}
	pthread_mutex_unlock(&sh.lock);
	if (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_STRING &&
	    !live && !refuses_writes(r, why, sizeof(why)))	/* on_tick says */
		fg_log_warn("shared store: %s: cannot tell whether it kept its windows: %s",
		    sh.url, r->type == REDIS_REPLY_ERROR ? r->str : "odd reply");
}

/* Whether process stamp a started after b (both decimal µs). */
static int
stamp_after(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la != lb ? la > lb : strcmp(a, b) > 0;
}

static void
on_tick(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	int live = priv != NULL, back = 0;
	uint32_t since = 0, acked;
	char *end, why[200], old[sizeof(sh.id)] = "";

	(void)ac;
	if (live)
		sh.epoch_asked = 0;
	if (r == NULL || sh.state != (live ? ST_UP : ST_LOADING))
		return;
	if (refuses_writes(r, why, sizeof(why))) {
		go_down(why);
		return;
	}
	pthread_mutex_lock(&sh.lock);
	acked = sh.tick_acked;
	if (r->type == REDIS_REPLY_STRING) {
		unsigned long v = strtoul(r->str, &end, 10);
		const char *who = *end == ' ' ? end + 1 : NULL;
		int theirs = who != NULL && strcmp(who, sh.stamp) != 0;
		/* A younger process's record tells its clock, not Redis's
		 * past; it takes a new name when it reads this one's. */
		int younger = theirs && stamp_after(who, sh.stamp);

		if (!younger && (*end == '\0' || who != NULL) && v < acked) {
			back = 1;
			since = v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
		}
		sh.foreign = theirs && !younger && sh.tick_mine ?
		    sh.foreign + 1 : 0;
	} else if (r->type == REDIS_REPLY_NIL && acked > 0) {
		back = 1;	/* this relay's record is gone: all of it */
	}
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL) {
		sh.tick_acked = sh.tick_sent;
		sh.tick_mine = 1;
	}
	if (sh.foreign >= 2) {
		/* Twice in a row: not a restore (the record written after
		 * one is this process's), another relay of this name. */
		fg_strlcpy(old, sh.id, sizeof(old));
		fg_strlcpy(sh.id, sh.relay, sizeof(sh.id));
		sh.tick_acked = sh.tick_sent = 0;
		sh.tick_mine = sh.foreign = 0;
		back = 0;
	}
	pthread_mutex_unlock(&sh.lock);
	if (old[0] != '\0')
		fg_log_err("shared store: another relay writes this relay's record in %s ({%s}:at:%s; started from a copy of this relay's database?): this relay is %s from now on",
		    sh.url, sh.prefix, old, sh.relay);
	if (r->type == REDIS_REPLY_ERROR && !live)
		fg_log_warn("shared store: %s: cannot keep this relay's record: %s",
		    sh.url, r->str);
	if (sh.round_empty || !back) {
		since = 0;
		back = 0;
	}
	if (!live)
		merge(sh.round_empty ? (sh.round_saw ? "came back empty" :
		    "holds no relay's windows yet") : back ?
		    "went back to an older state" : NULL, since, 0);
	else if (sh.round_empty || back)
		merge(sh.round_empty ? "lost its windows (flushed)" :
		    "went back to an older state", since, 1);
}

static void
check_epoch(int live)
{
	char k[FG_RKEY_MAX + 1], v[sizeof(sh.epoch)], t[FG_RKEY_MAX + 1];
	char rec[48];
	uint32_t now = (uint32_t)time(NULL);

	snprintf(k, sizeof(k), "{%s}:epoch", sh.prefix);
	snprintf(v, sizeof(v), "%s.%u", sh.relay, ++sh.epoch_n);
	snprintf(t, sizeof(t), "{%s}:at:%s", sh.prefix, sh.id);
	/* Never backwards, even when the clock is. */
	pthread_mutex_lock(&sh.lock);
	sh.tick_sent = now > sh.tick_acked ? now : sh.tick_acked;
	snprintf(rec, sizeof(rec), "%u %s", sh.tick_sent, sh.stamp);
	pthread_mutex_unlock(&sh.lock);
	sh.round_empty = 0;
	if (redisAsyncCommand(sh.ac, on_epoch, live ? &sh : NULL,
	    "SET %s %s NX GET", k, v) != REDIS_OK ||
	    redisAsyncCommand(sh.ac, on_tick, live ? &sh : NULL,
	    "SET %s %s GET", t, rec) != REDIS_OK) {
		if (!live)
			merge(NULL, 0, 0);
		return;
	}
	if (live)
		sh.epoch_asked = 1;
}

static void
on_mark(evutil_socket_t fd, short what, void *arg)
{
	time_t now = time(NULL);

	(void)fd;
	(void)what;
	(void)arg;
	/* hiredis 0.14 has no timeout of its own for a connect, nor do the
	 * commands of the connect sequence: a Redis that accepts and never
	 * answers (or a SYN lost to a firewall) would keep the relay
	 * deciding from memory for good, without retrying. */
	if (sh.merging && now - sh.since > MERGE_MAX_S) {
		go_down("no answer to the charges given back within 60s");
		return;
	}
	if (sh.state == ST_LOADING && !sh.merging &&
	    now - sh.since > CONNECT_MAX_S) {
		go_down("no answer within 10s of connecting");
		return;
	}
	if (sh.state == ST_UP && sh.ac != NULL && !sh.epoch_asked &&
	    !sh.merging)
		check_epoch(1);
}

/*
 * Redis refused the relay while it connects (AUTH, SELECT, the probe):
 * an outage whose reason is logged as an error once while it stays the
 * same, not at every retry (forgotten once the relay is up). It is what
 * the operator must mend, so status gives it, even in an outage that
 * began otherwise (a lost connection, then a refusal at each retry).
 */
static void
refused_at_connect(const char *why)
{
	if (strcmp(why, sh.hello_err) != 0) {
		fg_log_err("shared store: %s: %s", sh.url, why);
		fg_strlcpy(sh.hello_err, why, sizeof(sh.hello_err));
	}
	go_down(why);
	pthread_mutex_lock(&sh.lock);
	fg_strlcpy(sh.why, why, sizeof(sh.why));
	pthread_mutex_unlock(&sh.lock);
}

/*
 * The probe's answer: the commands of the scripts that the ACL user may
 * not run, and the families of floodgate's keys it may not read or
 * write. Any is an outage at connect, its reason naming them (Redis's
 * refusal, inside a script or of a script's keys, would not, and would
 * come with the first recipient that needs it). A probe that fails
 * otherwise lets the relay go on.
 */
static void
on_probe(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	char why[sizeof(sh.hello_err)], cmds[120] = "", plus[120] = "";
	char keys[200] = "";
	const char *user = sh.user != NULL ? sh.user : "default";
	size_t i, n = 0, nk = 0;

	(void)ac;
	(void)priv;
	if (r == NULL || sh.state != ST_LOADING)
		return;
	if (refuses_writes(r, why, sizeof(why))) {
		go_down(why);
		return;
	}
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const redisReply *e = r->element[i];

		if (e->type != REDIS_REPLY_STRING || e->len > 20)
			continue;
		if (e->str[0] == '~') {
			/* Three named at most: the line stays whole. */
			if (++nk <= 3)
				snprintf(keys + strlen(keys),
				    sizeof(keys) - strlen(keys), "%s{%s}:%s",
				    nk > 1 ? ", " : "", sh.prefix, e->str + 1);
			continue;
		}
		n++;
		snprintf(cmds + strlen(cmds), sizeof(cmds) - strlen(cmds),
		    "%s%s", n > 1 ? ", " : "", e->str);
		snprintf(plus + strlen(plus), sizeof(plus) - strlen(plus),
		    " +%s", e->str);
	}
	if (r->type == REDIS_REPLY_ERROR)
		fg_log_warn("shared store: %s: cannot check the ACL user's commands: %s",
		    sh.url, r->str);
	if (n + nk == 0) {
		ask_doubt();
		check_epoch(0);
		return;
	}
	if (nk > 3)
		snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys),
		    " and %zu more", nk - 3);
	if (nk == 0)
		snprintf(why, sizeof(why),
		    "ACL user %s may not run %s (ACL SETUSER %s%s)", user,
		    cmds, user, plus);
	else
		snprintf(why, sizeof(why),
		    "ACL user %s may not %s%s%suse the keys %s (ACL SETUSER %s%s ~{%s}:*)",
		    user, n > 0 ? "run " : "", cmds, n > 0 ? " nor " : "",
		    keys, user, plus, sh.prefix);
	refused_at_connect(why);
}

/* Sends the probe; -1 when it cannot (the connect goes on without). */
static int
probe(void)
{
	struct fg_rcmd c = { 0 };

	if (fg_rlimit_probe_cmd(&c, sh.sha[FG_RS_PROBE], sh.prefix) < 0) {
		fg_rcmd_free(&c);
		return -1;
	}
	return send_cmd(&c, on_probe, NULL);
}

static void
on_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	size_t i = (size_t)(uintptr_t)priv;

	(void)ac;
	if (r == NULL || sh.state != ST_LOADING)
		return;
	if (r->type != REDIS_REPLY_STRING || r->len != FG_RSHA_LEN) {
		fg_log_err("shared store: %s: cannot load floodgate's scripts: %s",
		    sh.url, r->type == REDIS_REPLY_ERROR ? r->str : "odd reply");
		go_down("scripts not loaded");
		return;
	}
	memcpy(sh.sha[i], r->str, FG_RSHA_LEN);
	if (++sh.loaded == FG_RS_COUNT && probe() < 0) {
		ask_doubt();
		check_epoch(0);
	}
}

static void
on_hello(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	char why[sizeof(sh.hello_err)];

	(void)ac;
	if (r != NULL && r->type == REDIS_REPLY_ERROR && sh.state == ST_LOADING) {
		/* A wrong password is told once, not at every retry. */
		snprintf(why, sizeof(why), "%s refused: %.*s",
		    (const char *)priv, (int)strcspn(r->str, "\r\n"), r->str);
		if (why[0] != '\0' && why[strlen(why) - 1] == '.')
			why[strlen(why) - 1] = '\0';
		refused_at_connect(why);
	}
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	if (status != REDIS_OK) {
		/* hiredis frees the context after this */
		if (ac == sh.ac)
			sh.ac = NULL;
		go_down(ac->errstr);
		return;
	}
	sh.state = ST_LOADING;
	sh.loaded = 0;
	if (sh.user != NULL && sh.password != NULL)
		redisAsyncCommand(sh.ac, on_hello, "AUTH", "AUTH %s %s",
		    sh.user, sh.password);
	else if (sh.password != NULL)
		redisAsyncCommand(sh.ac, on_hello, "AUTH", "AUTH %s",
		    sh.password);
	if (sh.db != 0)
		redisAsyncCommand(sh.ac, on_hello, "SELECT", "SELECT %u", sh.db);
	load_scripts(on_loaded, on_loaded);
}

/*
 * The store's work is over: its own loop ends; on the engine's loop the
 * connection is freed here, on the loop's thread, and fg_shared_stop
 * is told.
 */
static void
stopped(void)
{
	if (sh.own) {
		event_base_loopbreak(sh.base);
		return;
	}
	if (sh.ac != NULL) {
		redisAsyncContext *ac = sh.ac;

		sh.ac = NULL;
		redisAsyncFree(ac);	/* reserves still out: down */
	}
	pthread_mutex_lock(&sh.lock);
	sh.stopped = 1;
	pthread_cond_broadcast(&sh.cond);
	pthread_mutex_unlock(&sh.lock);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	(void)status;
	if (ac != sh.ac) {
		/* One we left already (a timeout): hiredis frees it. */
		if (sh.stopping && sh.ac == NULL)
			stopped();
		return;
	}
	sh.ac = NULL;		/* hiredis frees it */
	if (sh.stopping) {
		stopped();
		return;
	}
	go_down(ac->err ? ac->errstr : "connection closed");
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	connect_now();
}

static void
go_down(const char *why)
{
	struct timeval tv = { 0, 0 };
	int retry = !sh.stopping && !evtimer_pending(sh.retry, NULL);

	sh.state = ST_DOWN;
	sh.merging = 0;
	atomic_store(&sh.up, 0);
	if (sh.up_at != 0) {
		int64_t up = (fg_mono_us() - sh.up_at) / 1000;

		if (up >= BACKOFF_FLAP_MS)
			sh.backoff = 0;
		sh.up_at = 0;
	}
	if (retry) {
		sh.backoff = sh.backoff ? sh.backoff * 2 : BACKOFF_FIRST;
		if (sh.backoff > BACKOFF_MAX)
			sh.backoff = BACKOFF_MAX;
	}
	if (!sh.told_down) {
		/* Once an outage (up again resets it). */
		sh.told_down = 1;
		pthread_mutex_lock(&sh.lock);
		fg_strlcpy(sh.why, why, sizeof(sh.why));
		pthread_mutex_unlock(&sh.lock);
		fg_log_warn("shared store: %s is down (%s); deciding from memory with limits divided by relays, retrying in %us",
		    sh.url, why, sh.backoff);
	}
	if (atomic_load(&sh.down_since) == 0)
		atomic_store(&sh.down_since, (long)time(NULL));
	if (sh.ac != NULL) {
		redisAsyncContext *ac = sh.ac;

		sh.ac = NULL;
		redisAsyncDisconnect(ac);	/* pending replies: NULL */
	}
	if (retry) {
		tv.tv_sec = sh.backoff;
		evtimer_add(sh.retry, &tv);
	}
}

static void
connect_now(void)
{
	redisAsyncContext *ac;

	ac = sh.path != NULL ? redisAsyncConnectUnix(sh.path) :
	    redisAsyncConnect(sh.host, (int)sh.port);
	if (ac == NULL || ac->err) {
		go_down(ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		return;
	}
	sh.ac = ac;
	sh.state = ST_LOADING;
	sh.since = time(NULL);
	sh.gen++;		/* its marks, numbered from 1 */
	mark_name(sh.gen, sh.markkey, sizeof(sh.markkey));
	sh.seq = 0;
	sh.reloading = 0;
	redisLibeventAttach(ac, sh.base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

static void *
run(void *arg)
{
	(void)arg;
	event_base_loop(sh.base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int
read_password(const char *path, char *err, size_t errlen)
{
	char buf[512];
	FILE *fp = fopen(path, "r");
	struct stat st;
	size_t n;

	if (fp == NULL) {
		int e = errno;

		/* The unit starts floodgate as its own user, not as root. */
		fg_seterr(err, errlen, "redis_password_file %s: %s%s", path,
		    strerror(e), e == EACCES ? " (read as floodgate's user: "
		    "chown root:floodgate, chmod 640)" : "");
		return -1;
	}
	if (fstat(fileno(fp), &st) == 0 &&
	    fg_shared_password_open(path, st.st_mode, buf, sizeof(buf)))
		fg_log_warn("%s", buf);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		fg_seterr(err, errlen, "redis_password_file %s: empty", path);
		return -1;
	}
	sh.password = fg_strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return sh.password != NULL ? 0 : -1;
}

int
fg_shared_password_open(const char *path, mode_t mode, char *msg, size_t len)
{
	if ((mode & S_IRWXO) == 0)
		return 0;
	snprintf(msg, len, "redis_password_file %s is open to every local user (mode %04o): a tenant with a shell could read Redis's password and spend or clear any budget; chmod 640 (owner root, group floodgate's)",
	    path, (unsigned)(mode & 07777));
	return 1;
}

/* Before privileges are dropped: the password file may be root's. */
int
fg_shared_prepare(const struct fg_config *c, char *err, size_t errlen)
{
	if (c->store == NULL || c->redis_password_file == NULL)
		return 0;
	return read_password(c->redis_password_file, err, errlen);
}

int
fg_shared_start(const struct fg_config *c, struct event_base *loop,
    char *err, size_t errlen)
{
	struct timeval second = { 1, 0 };
	struct timespec ts;
	char host[20];

	if (c->store == NULL)
		return 0;
	sh.host = c->redis_host ? fg_strdup(c->redis_host) : NULL;
	sh.path = c->redis_path ? fg_strdup(c->redis_path) : NULL;
	sh.user = c->redis_user ? fg_strdup(c->redis_user) : NULL;
	sh.port = c->redis_port;
	sh.db = c->redis_db;
	atomic_store(&sh.timeout_ms, c->redis_timeout);
	sh.ttl = c->redis_ttl;
	fg_strlcpy(sh.prefix, c->redis_prefix, sizeof(sh.prefix));
	fg_strlcpy(sh.url, c->store, sizeof(sh.url));
	if (gethostname(host, sizeof(host)) < 0)
		fg_strlcpy(host, "relay", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, ".|")] = '\0';
	snprintf(sh.relay, sizeof(sh.relay), "%s.%ld.%ld", host,
	    (long)getpid(), (long)time(NULL));
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(sh.stamp, sizeof(sh.stamp), "%lld%06ld", (long long)ts.tv_sec,
	    ts.tv_nsec / 1000);
	pthread_mutex_lock(&sh.lock);
	if (sh.id[0] == '\0')	/* none kept: this one from now on */
		fg_strlcpy(sh.id, sh.relay, sizeof(sh.id));
	fg_strlcpy(sh.markid, sh.id, sizeof(sh.markid));
	pthread_mutex_unlock(&sh.lock);
	atomic_store(&sh.down_since, (long)time(NULL));
	evthread_use_pthreads();
	sh.own = loop == NULL;
	sh.stopped = 0;
	if ((sh.base = sh.own ? event_base_new() : loop) == NULL ||
	    (sh.wake = event_new(sh.base, -1, 0, on_wake, NULL)) == NULL ||
	    (sh.retry = evtimer_new(sh.base, on_retry, NULL)) == NULL ||
	    (sh.stop_timer = evtimer_new(sh.base, on_stopped, NULL)) == NULL ||
	    (sh.mark = event_new(sh.base, -1, EV_PERSIST, on_mark, NULL)) == NULL ||
	    event_add(sh.mark, &second) < 0) {
		fg_seterr(err, errlen, "shared store: out of memory");
		return -1;
	}
	connect_now();
	sh.accepting = 1;
	if (sh.own && pthread_create(&sh.thread, NULL, run, NULL) != 0) {
		fg_seterr(err, errlen, "shared store: cannot start its thread");
		return -1;
	}
	sh.running = 1;
	return 0;
}

static void
on_stopped(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	stopped();
}

/* The last ops, then a clean disconnect: what is sent gets its answer
 * (a second at most). */
static void
stop_op(evutil_socket_t fd, short what, void *arg)
{
	struct timeval one = { 1, 0 };

	(void)fd;
	(void)what;
	(void)arg;
	on_wake(-1, 0, NULL);
	sh.up_at_stop = sh.ac != NULL && atomic_load(&sh.up);
	sh.stopping = 1;
	evtimer_del(sh.retry);
	event_del(sh.mark);
	if (sh.ac == NULL) {
		stopped();
		return;
	}
	sh.state = ST_DOWN;
	sh.merging = 0;
	atomic_store(&sh.up, 0);
	evtimer_add(sh.stop_timer, &one);
	/* Last: with nothing pending it ends here, and fg_shared_stop
	 * goes on. */
	redisAsyncDisconnect(sh.ac);
}

void
fg_shared_stop(void)
{
	struct timeval zero = { 0, 0 };

	if (sh.running) {
		pthread_mutex_lock(&sh.lock);
		sh.accepting = 0;
		pthread_mutex_unlock(&sh.lock);
		event_base_once(sh.base, -1, EV_TIMEOUT, stop_op, NULL, &zero);
		if (sh.own)
			pthread_join(sh.thread, NULL);
		else {
			/* The engine's loop does the stop; one that never
			 * ran (the engine did not start) leaves it here. */
			struct timespec until;
			int rc = 0;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 5;
			pthread_mutex_lock(&sh.lock);
			while (!sh.stopped && rc == 0)
				rc = pthread_cond_timedwait(&sh.cond, &sh.lock,
				    &until);
			pthread_mutex_unlock(&sh.lock);
			if (rc != 0)
				fg_log_warn("shared store: the milter loop did not run its stop; closing the connection here");
		}
		sh.running = 0;
		if (sh.ac != NULL) {
			redisAsyncContext *ac = sh.ac;

			sh.ac = NULL;
			redisAsyncFree(ac);	/* reserves still out: down */
		}
	}
	if (sh.wake != NULL)
		event_free(sh.wake);
	if (sh.retry != NULL)
		event_free(sh.retry);
	if (sh.stop_timer != NULL)
		event_free(sh.stop_timer);
	if (sh.mark != NULL)
		event_free(sh.mark);
	if (sh.base != NULL && sh.own)
		event_base_free(sh.base);
	/* What Redis is still owed stays for fg_shared_save_pending, and
	 * the connection's parameters for its last statistics. */
	sh.wake = sh.retry = sh.stop_timer = sh.mark = NULL;
	sh.epoch_asked = 0;
	sh.base = NULL;
}

static void
forget_params(void)
{
	free(sh.host);
	free(sh.path);
	free(sh.user);
	if (sh.password != NULL)
		explicit_bzero(sh.password, strlen(sh.password));
	free(sh.password);
	sh.host = sh.path = sh.user = sh.password = NULL;
}

void
fg_shared_mark_name(const struct fg_config *c, const char *mark, char *buf,
    size_t len)
{
	snprintf(buf, len, "shared %s {%s}:%s", c->store, c->redis_prefix,
	    mark);
}

void
fg_shared_seed_epoch(const char *e)
{
	pthread_mutex_lock(&sh.lock);
	fg_strlcpy(sh.epoch, e, sizeof(sh.epoch));
	pthread_mutex_unlock(&sh.lock);
}

int
fg_shared_epoch(char *buf, size_t len)
{
	pthread_mutex_lock(&sh.lock);
	fg_strlcpy(buf, sh.epoch, len);
	pthread_mutex_unlock(&sh.lock);
	return buf[0] != '\0';
}

/* "ID TIME": the name of this relay's record, and the last one Redis
 * acknowledged. */
void
fg_shared_seed_tick(const char *v)
{
	char id[sizeof(sh.id)];
	unsigned long t;
	int n = 0;

	if (sscanf(v, "%39s %lu%n", id, &t, &n) != 2 || v[n] != '\0' ||
	    t > UINT32_MAX)
		return;
	pthread_mutex_lock(&sh.lock);
	fg_strlcpy(sh.id, id, sizeof(sh.id));
	sh.tick_acked = (uint32_t)t;
	pthread_mutex_unlock(&sh.lock);
}

int
fg_shared_tick(char *buf, size_t len)
{
	int rc;

	pthread_mutex_lock(&sh.lock);
	rc = sh.id[0] != '\0' && sh.tick_acked > 0;
	if (rc)
		snprintf(buf, len, "%s %u", sh.id, sh.tick_acked);
	pthread_mutex_unlock(&sh.lock);
	return rc;
}

int
fg_shared_up(void)
{
	return atomic_load(&sh.up);
}

int
fg_shared_failing(uint32_t now)
{
	long since = atomic_load(&sh.down_since);

	return sh.url[0] != '\0' && !atomic_load(&sh.up) && since != 0 &&
	    (long)now - since >= 2;
}

int
fg_shared_waiting(void)
{
	return sh.url[0] != '\0' && !atomic_load(&sh.up);
}

void
fg_shared_state(char *buf, size_t len)
{
	long since = atomic_load(&sh.down_since);
	char why[sizeof(sh.why)];

	if (atomic_load(&sh.up)) {
		snprintf(buf, len, "redis %s (up)", sh.url);
		return;
	}
	pthread_mutex_lock(&sh.lock);
	fg_strlcpy(why, sh.why[0] != '\0' ? sh.why : "connecting", sizeof(why));
	pthread_mutex_unlock(&sh.lock);
	snprintf(buf, len, "redis %s (down for %lds: %s; memory, limits divided by relays)",
	    sh.url, since ? (long)time(NULL) - since : 0L, why);
}

void
fg_shared_set_timeout(uint32_t ms)
{
	atomic_store(&sh.timeout_ms, ms);
}

int
fg_shared_reserve(struct fg_sreserve *r)
{
	struct op *o;

	atomic_store(&r->finished, 0);
	r->nitems = 0;
	if (!atomic_load(&sh.up) || (o = calloc(1, sizeof(*o))) == NULL) {
		r->rc = FG_SHARED_DOWN;
		atomic_store(&r->finished, 1);
		return FG_SHARED_DOWN;
	}
	o->kind = OP_RESERVE;
	o->r = r;
	if (submit(o) < 0) {
		r->rc = FG_SHARED_DOWN;
		atomic_store(&r->finished, 1);
		return FG_SHARED_DOWN;
	}
	return 1;
}

int
fg_shared_reserve_wait(struct fg_sreserve *r)
{
	r->base = NULL;
	if (fg_shared_reserve(r) == FG_SHARED_DOWN)
		return FG_SHARED_DOWN;
	pthread_mutex_lock(&sh.lock);
	while (!atomic_load(&r->finished))
		pthread_cond_wait(&sh.cond, &sh.lock);
	pthread_mutex_unlock(&sh.lock);
	return r->rc;
}

static struct op *
new_op(enum opkind kind, size_t n)
{
	struct op *o = calloc(1, sizeof(*o) + n * sizeof(o->it[0]));

	if (o != NULL) {
		o->kind = kind;
		o->n = n;
	} else
		fg_log_err("shared store: out of memory for a request");
	return o;
}

void
fg_shared_end(const struct fg_ritem *it, size_t n, int commit, uint32_t now)
{
	struct op *o;

	if (n == 0 || (o = new_op(OP_END, n)) == NULL)
		return;
	memcpy(o->it, it, n * sizeof(*it));
	o->commit = commit;
	o->now = now;
	(void)submit(o);
}

void
fg_shared_merge(const char *wkey, uint32_t period, uint32_t n, uint32_t when)
{
	struct op *o;

	if ((o = new_op(OP_ADD, 1)) == NULL)
		return;
	fg_strlcpy(o->it[0].wkey, wkey, sizeof(o->it[0].wkey));
	o->it[0].period = period;
	o->it[0].cost = n;
	o->now = when;
	(void)submit(o);
}

static int
ritem_cmp(const void *a, const void *b)
{
	const struct fg_ritem *x = a, *y = b;
	int c = strcmp(x->wkey, y->wkey);

	if (c == 0)
		c = strcmp(x->member, y->member);
	if (c == 0)
		c = (x->period > y->period) - (x->period < y->period);
	return c;
}

/*
 * fg_engine's shared_end: a transaction's shared reservations end; what
 * it reserved in memory while the store was down is, when spent, added
 * to the shared windows once the store answers again.
 */
void
fg_shared_settle(struct fg_resv *r, int commit, uint32_t now)
{
	size_t i;

	if (r->nr > 0) {
		/* A message's recipients reserve the same windows again and
		 * again: one item per window and bucket (sorted, then merged,
		 * so that 10,000 recipients cost no more than their sort). */
		size_t k = 0;

		qsort(r->ritem, r->nr, sizeof(*r->ritem), ritem_cmp);
		for (i = 0; i < r->nr; i++) {
			if (k > 0 && ritem_cmp(&r->ritem[k - 1], &r->ritem[i]) == 0)
				r->ritem[k - 1].cost += r->ritem[i].cost;
			else
				r->ritem[k++] = r->ritem[i];
		}
		fg_shared_end(r->ritem, k, commit, 0);
		for (i = 0; commit && shadow != NULL && i < k; i++) {
			char rule[FG_WRULE_MAX + 1];
			const char *key;

			if (fg_wkey_rule(r->ritem[i].wkey, rule, &key) >= 0)
				(void)fg_limiter_add(shadow, rule, key,
				    r->ritem[i].period, r->ritem[i].cost,
				    now ? now : (uint32_t)time(NULL));
		}
		r->nr = 0;
	}
	if (!commit)
		return;
	for (i = 0; i < r->n; i++) {
		const struct fg_entry *e = r->item[i].entry;

		fg_shared_merge(e->key, e->win.period, r->item[i].cost, now);
	}
}

/*
 * Suspensions and pauses, shared: each service tick sends this relay's
 * changes (HSETNX / HDEL / HSET of "{P}:susp" and "{P}:pause"), then
 * reads both hashes back, and that becomes every relay's view (what is
 * not sent yet on top). Down, the changes wait.
 */
struct pull {
	size_t first;			/* the HGETALL of suspensions */
	struct fg_suspension *s;
	struct fg_pause *p;
	size_t ns, np;
	int bad;
};

static void
on_pull(void *arg, size_t i, const redisReply *r)
{
	struct pull *pl = arg;
	size_t k, n;

	if (i < pl->first) {
		/* A change's answer: only a lost script matters (an ended
		 * record's drop, tried again at the next tick once loaded). */
		(void)noscript(r);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
		pl->bad = 1;
		return;
	}
	n = r->elements / 2;
	if (i == pl->first) {
		if ((pl->s = calloc(n + 1, sizeof(*pl->s))) == NULL) {
			pl->bad = 1;
			return;
		}
		for (k = 0; k < n; k++) {
			struct fg_suspension *x = &pl->s[pl->ns];
			const char *v = r->element[2 * k + 1]->str;
			unsigned long since, until = 0;
			char rule[FG_NAME_MAX + 1];

			/* "rule|since|until"; a relay before suspensions
			 * could end wrote "rule|since". */
			if (v == NULL || r->element[2 * k]->str == NULL ||
			    sscanf(v, "%64[^|]|%lu|%lu", rule, &since,
			    &until) < 2)
				continue;
			fg_strlcpy(x->account, r->element[2 * k]->str,
			    sizeof(x->account));
			fg_strlcpy(x->rule, rule, sizeof(x->rule));
			x->since = (uint32_t)since;
			x->until = (uint32_t)until;
			pl->ns++;
		}
		return;
	}
	if ((pl->p = calloc(n + 1, sizeof(*pl->p))) == NULL) {
		pl->bad = 1;
		return;
	}
	for (k = 0; k < n; k++) {
		struct fg_pause *x = &pl->p[pl->np];
		const char *v = r->element[2 * k + 1]->str;
		unsigned long since, until, dur, trips;
		char rule[FG_NAME_MAX + 1];

		if (v == NULL || r->element[2 * k]->str == NULL ||
		    sscanf(v, "%64[^|]|%lu|%lu|%lu|%lu", rule, &since, &until,
		    &dur, &trips) != 5)
			continue;
		fg_strlcpy(x->domain, r->element[2 * k]->str, sizeof(x->domain));
		fg_strlcpy(x->rule, rule, sizeof(x->rule));
		x->since = (uint32_t)since;
		x->until = (uint32_t)until;
		x->duration = (uint32_t)dur;
		x->trips = (uint32_t)trips;
		pl->np++;
	}
}

/* The values in "{P}:susp" ("rule|since|until") and "{P}:pause"
 * ("rule|since|until|duration|trips"), which on_pull() reads. */
#define BLOCK_VALUE_MAX	(FG_NAME_MAX + 64)

static void
susp_value(char *v, const struct fg_suspension *s)
{
	snprintf(v, BLOCK_VALUE_MAX, "%s|%u|%u", s->rule, s->since, s->until);
}

static void
pause_value(char *v, const struct fg_pause *p)
{
	snprintf(v, BLOCK_VALUE_MAX, "%s|%u|%u|%u|%u", p->rule, p->since,
	    p->until, p->duration, p->trips);
}

static int
susp_cmd(struct fg_rcmd *c, const char *verb, const struct fg_suspension *s)
{
	char v[BLOCK_VALUE_MAX];

	susp_value(v, s);
	return fg_rlimit_hash_cmd(c, verb, sh.prefix, "susp", s->account, v);
}

static int
pause_cmd(struct fg_rcmd *c, const char *verb, const struct fg_pause *p)
{
	char v[BLOCK_VALUE_MAX];

	pause_value(v, p);
	return fg_rlimit_hash_cmd(c, verb, sh.prefix, "pause", p->domain, v);
}

static int
push_cmd(struct fg_rcmd *c, const struct fg_block_op *op)
{
	char v[BLOCK_VALUE_MAX];

	switch (op->kind) {
	case 's':
	case 'u':
		/* A new suspension does not replace another relay's; a
		 * new end, set by hand, does. */
		return susp_cmd(c, op->kind == 's' ? "HSETNX" : "HSET", &op->s);
	case 'r':
		return fg_rlimit_hash_cmd(c, "HDEL", sh.prefix, "susp",
		    op->s.account, NULL);
	case 'e':
		/* Ended here: gone from the store only if no relay has set
		 * it anew since this relay last read it. */
		susp_value(v, &op->s);
		return fg_rlimit_forget_cmd(c, sh.sha[FG_RS_FORGET], sh.prefix,
		    "susp", op->s.account, v);
	case 'p':
		return pause_cmd(c, "HSET", &op->p);
	default:
		pause_value(v, &op->p);
		return fg_rlimit_forget_cmd(c, sh.sha[FG_RS_FORGET], sh.prefix,
		    "pause", op->p.domain, v);
	}
}

void
fg_shared_sync_blocks(struct fg_blocks *b)
{
	struct fg_block_op *ops;
	struct fg_rcmd *cmd;
	struct pull pl;
	size_t n, i, k = 0;

	struct fg_suspension *su = NULL;
	struct fg_pause *pa = NULL;
	size_t ns = 0, np = 0;

	if (!atomic_load(&sh.up))
		return;		/* the changes wait in the journal */
	/* Connected again (Redis may have restarted empty): what this
	 * relay knows goes in where the store has nothing. */
	if (atomic_exchange(&sh.resync, 0))
		fg_blocks_rows(b, &su, &ns, &pa, &np);
	n = fg_blocks_take(b, &ops);
	if ((cmd = calloc(ns + np + n + 2, sizeof(*cmd))) == NULL) {
		fg_blocks_untake(b, ops, n);
		free(su);
		free(pa);
		atomic_store(&sh.resync, 1);
		return;
	}
	for (i = 0; i < ns; i++)
		if (susp_cmd(&cmd[k], "HSETNX", &su[i]) == 0)
			k++;
	for (i = 0; i < np; i++)
		if (pause_cmd(&cmd[k], "HSETNX", &pa[i]) == 0)
			k++;
	free(su);
	free(pa);
	for (i = 0; i < n; i++)
		if (push_cmd(&cmd[k], &ops[i]) == 0)
			k++;
	memset(&pl, 0, sizeof(pl));
	pl.first = k;
	if (fg_rlimit_hash_cmd(&cmd[k], "HGETALL", sh.prefix, "susp", NULL,
	    NULL) == 0 && fg_rlimit_hash_cmd(&cmd[k + 1], "HGETALL", sh.prefix,
	    "pause", NULL, NULL) == 0 &&
	    fg_shared_call(cmd, k + 2, on_pull, &pl) == 0 && !pl.bad) {
		fg_blocks_replace(b, pl.s, pl.ns, pl.p, pl.np);
		free(ops);
	} else
		fg_blocks_untake(b, ops, n);
	for (i = 0; i < k + 2; i++)
		fg_rcmd_free(&cmd[i]);
	free(cmd);
	free(pl.s);
	free(pl.p);
}

/*
 * Delivery feedback, shared: each relay reads only its own delivery log,
 * so every result it counts also goes to the stream "{P}:fb" (capped at
 * about 100,000 entries), and each service tick adds the other relays'
 * entries to this relay's feedback windows: every relay judges a
 * tenant's bounces on all of them.
 */
#define FB_STREAM_MAX	"100000"
#define FB_READ_MAX	"10000"

static char fb_last[64];

/* At the stop, the connection the last statistics go on (final_stats);
 * the commands appended to it, and whether one could not be. */
static redisContext *final_rc;
static size_t final_sent;
static int final_failed;

/* One command for the store's thread, its answer ignored. */
static void
raw(int argc, const char *const *argv)
{
	struct fg_rcmd *c;
	struct op *o;

	if (final_rc != NULL) {
		if (redisAppendCommandArgv(final_rc, argc, (const char **)argv,
		    NULL) == REDIS_OK)
			final_sent++;
		else
			final_failed = 1;
		return;
	}
	if ((o = new_op(OP_RAW, 0)) == NULL)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL || fg_rcmd_build(c, argc,
	    argv) < 0) {
		if (c != NULL)
			fg_rcmd_free(c);
		free(c);
		free(o);
		return;
	}
	o->raw = c;
	(void)submit(o);
}

/* the service thread's */

void
fg_shared_fb_publish(const char *rule, const char *key, const char *account,
    uint32_t period, uint32_t n)
{
	char k[FG_RKEY_MAX + 1], ps[16], ns[16];
	const char *argv[18];

	if (!atomic_load(&sh.up))
		return;
	snprintf(k, sizeof(k), "{%s}:fb", sh.prefix);
	snprintf(ps, sizeof(ps), "%u", period);
	snprintf(ns, sizeof(ns), "%u", n);
	argv[0] = "XADD"; argv[1] = k; argv[2] = "MAXLEN"; argv[3] = "~";
	argv[4] = FB_STREAM_MAX; argv[5] = "*";
	argv[6] = "r"; argv[7] = rule; argv[8] = "k"; argv[9] = key;
	argv[10] = "a"; argv[11] = account; argv[12] = "p"; argv[13] = ps;
	argv[14] = "n"; argv[15] = ns; argv[16] = "o"; argv[17] = sh.relay;
	raw(18, argv);
}

struct fbread {
	struct fg_fbentry *e;
	size_t n, cap;
	char last[64];
	int bad;
};

static const char *
field(const redisReply *kv, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < kv->elements; i += 2)
		if (kv->element[i]->str != NULL &&
		    strcmp(kv->element[i]->str, name) == 0)
			return kv->element[i + 1]->str;
	return NULL;
}

static void
on_fbread(void *arg, size_t i, const redisReply *r)
{
	struct fbread *fr = arg;
	const redisReply *list;
	size_t k;

	(void)i;
	if (r->type == REDIS_REPLY_NIL)
		return;			/* nothing new */
	if (r->type != REDIS_REPLY_ARRAY) {
		fr->bad = 1;
		return;
	}
	if (fr->cap == (size_t)-1) {
		/* XREVRANGE: the newest entry's ID, to start after it. */
		if (r->elements > 0 && r->element[0]->type == REDIS_REPLY_ARRAY &&
		    r->element[0]->elements == 2 && r->element[0]->element[0]->str)
			fg_strlcpy(fr->last, r->element[0]->element[0]->str,
			    sizeof(fr->last));
		else
			fg_strlcpy(fr->last, "0-0", sizeof(fr->last));
		return;
	}
	if (r->elements != 1 || r->element[0]->elements != 2) {
		fr->bad = 1;
		return;
	}
	list = r->element[0]->element[1];
	if ((fr->e = calloc(list->elements + 1, sizeof(*fr->e))) == NULL) {
		fr->bad = 1;
		return;
	}
	for (k = 0; k < list->elements; k++) {
		const redisReply *ent = list->element[k], *kv;
		const char *rule, *key, *acct, *p, *n, *o;
		struct fg_fbentry *x;

		if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2 ||
		    ent->element[0]->str == NULL)
			continue;
		fg_strlcpy(fr->last, ent->element[0]->str, sizeof(fr->last));
		kv = ent->element[1];
		if (kv->type != REDIS_REPLY_ARRAY ||
		    (rule = field(kv, "r")) == NULL || (key = field(kv, "k")) == NULL ||
		    (acct = field(kv, "a")) == NULL || (p = field(kv, "p")) == NULL ||
		    (n = field(kv, "n")) == NULL || (o = field(kv, "o")) == NULL ||
		    strcmp(o, sh.relay) == 0)
			continue;	/* malformed, or ours */
		x = &fr->e[fr->n++];
		fg_strlcpy(x->rule, rule, sizeof(x->rule));
		fg_strlcpy(x->key, key, sizeof(x->key));
		fg_strlcpy(x->account, acct, sizeof(x->account));
		x->period = (uint32_t)strtoul(p, NULL, 10);
		x->n = (uint32_t)strtoul(n, NULL, 10);
	}
}

size_t
fg_shared_fb_pull(struct fg_fbentry **out)
{
	char k[FG_RKEY_MAX + 1];
	const char *argv[7];
	struct fg_rcmd c = { 0 };
	struct fbread fr;
	int rc;

	*out = NULL;
	if (!atomic_load(&sh.up))
		return 0;
	memset(&fr, 0, sizeof(fr));
	snprintf(k, sizeof(k), "{%s}:fb", sh.prefix);
	if (fb_last[0] == '\0') {
		argv[0] = "XREVRANGE"; argv[1] = k; argv[2] = "+"; argv[3] = "-";
		argv[4] = "COUNT"; argv[5] = "1";
		fr.cap = (size_t)-1;
		rc = fg_rcmd_build(&c, 6, argv) == 0 ?
		    fg_shared_call(&c, 1, on_fbread, &fr) : -1;
		fg_rcmd_free(&c);
		if (rc == 0 && !fr.bad)
			fg_strlcpy(fb_last, fr.last, sizeof(fb_last));
		return 0;
	}
	argv[0] = "XREAD"; argv[1] = "COUNT"; argv[2] = FB_READ_MAX;
	argv[3] = "STREAMS"; argv[4] = k; argv[5] = fb_last;
	rc = fg_rcmd_build(&c, 6, argv) == 0 ?
	    fg_shared_call(&c, 1, on_fbread, &fr) : -1;
	fg_rcmd_free(&c);
	if (rc < 0 || fr.bad) {
		free(fr.e);
		return 0;
	}
	if (fr.last[0] != '\0')
		fg_strlcpy(fb_last, fr.last, sizeof(fb_last));
	*out = fr.e;
	return fr.n;
}

/*
 * floodgatectl's view of the shared windows (on the service thread, at
 * most redis_timeout per round trip).
 */
struct peekctx {
	struct fg_rreq q;
	int rc;
};

static void
on_peek(void *arg, size_t i, const redisReply *r)
{
	struct peekctx *p = arg;
	long long v[2 + 3 * 64];
	uint32_t now;
	size_t k;

	(void)i;
	p->rc = -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements > 2 + 3 * 64)
		return;
	for (k = 0; k < r->elements; k++)
		v[k] = r->element[k]->type == REDIS_REPLY_INTEGER ?
		    r->element[k]->integer : -1;
	if (fg_rlimit_reserve_reply(v, r->elements, &p->q, 1, &now) == 0)
		p->rc = 0;
}

int
fg_shared_peek(struct fg_check *chk, size_t n)
{
	struct fg_rcmd c = { 0 };
	struct peekctx p = { { chk, n, 0 }, -1 };
	int rc;

	if (n == 0)
		return 0;
	if (n > 64 || fg_rlimit_reserve_cmd(&c, sh.sha[FG_RS_RESERVE],
	    sh.prefix, &p.q, 1, 0, sh.ttl, 1) < 0) {
		fg_rcmd_free(&c);
		return -1;
	}
	rc = fg_shared_call(&c, 1, on_peek, &p);
	fg_rcmd_free(&c);
	return rc < 0 ? -1 : p.rc;
}

/*
 * SCAN and HSCAN to the end, a thousand a call: page() gets each call's
 * elements (keys; or field, value, ...) and returns -1 to stop. At most
 * max_calls calls (0: no bound); -1 when a call fails, a reply is not a
 * page, or page() stopped.
 */
#define SCAN_COUNT	"1000"

struct scan {
	char cursor[32];
	int (*page)(void *arg, const redisReply *els);
	void *arg;
	int bad;
};

static void
on_scan(void *arg, size_t i, const redisReply *r)
{
	struct scan *s = arg;

	(void)i;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->str == NULL ||
	    r->element[1]->type != REDIS_REPLY_ARRAY ||
	    s->page(s->arg, r->element[1]) < 0) {
		s->bad = 1;
		return;
	}
	fg_strlcpy(s->cursor, r->element[0]->str, sizeof(s->cursor));
}

static int
scan_all(const char *hash, const char *match, int max_calls,
    int (*page)(void *arg, const redisReply *els), void *arg)
{
	struct scan s = { "0", page, arg, 0 };
	int calls = 0;

	do {
		const char *argv[7];
		struct fg_rcmd c = { 0 };
		int argc = 0, rc;

		argv[argc++] = hash != NULL ? "HSCAN" : "SCAN";
		if (hash != NULL)
			argv[argc++] = hash;
		argv[argc++] = s.cursor;
		if (match != NULL) {
			argv[argc++] = "MATCH";
			argv[argc++] = match;
		}
		argv[argc++] = "COUNT";
		argv[argc++] = SCAN_COUNT;
		rc = fg_rcmd_build(&c, argc, argv) == 0 ?
		    fg_shared_call(&c, 1, on_scan, &s) : -1;
		fg_rcmd_free(&c);
		if (rc < 0 || s.bad)
			return -1;
	} while (strcmp(s.cursor, "0") != 0 &&
	    (max_calls == 0 || ++calls < max_calls));
	return 0;
}

/* fg_shared_windows: each summary key found, without "{P}:s:". */
struct winscan {
	void (*fn)(void *arg, const char *wkey);
	void *arg;
	size_t skip;
};

static int
win_page(void *arg, const redisReply *keys)
{
	struct winscan *w = arg;
	size_t k;

	for (k = 0; k < keys->elements; k++) {
		const char *key = keys->element[k]->str;

		if (key != NULL && strlen(key) > w->skip)
			w->fn(w->arg, key + w->skip);
	}
	return 0;
}

/* Glob characters in an account are matched as themselves. */
static void
glob_quote(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in != '\0' && o + 2 < len; in++) {
		if (strchr("*?[]\\", *in) != NULL)
			out[o++] = '\\';
		out[o++] = *in;
	}
	out[o] = '\0';
}

int
fg_shared_windows(const char *rule, const char *account,
    void (*fn)(void *arg, const char *wkey), void *arg)
{
	char pat[FG_RKEY_MAX * 2 + 8], qa[FG_ACCOUNT_MAX * 2 + 1];
	struct winscan w = { fn, arg, strlen(sh.prefix) + 5 };

	glob_quote(account, qa, sizeof(qa));
	snprintf(pat, sizeof(pat), "{%s}:s:%s%c%s/*", sh.prefix,
	    rule != NULL ? rule : "*", FG_WKEY_SEP, qa);
	return scan_all(NULL, pat, 10000, win_page, &w);
}

/* Forgets one shared window now; 1 when it held something. */
int
fg_shared_reset_now(const char *rule, const char *key)
{
	struct fg_rcmd c = { 0 };
	long long n = -1;
	int rc;

	if (fg_rlimit_reset_cmd(&c, sh.sha[FG_RS_RESET], sh.prefix, rule,
	    key) < 0) {
		fg_rcmd_free(&c);
		return -1;
	}
	rc = fg_shared_call(&c, 1, on_integer, &n);
	fg_rcmd_free(&c);
	return rc < 0 || n < 0 ? -1 : n > 0;
}

/* fg_engine's shared_reserve: release planning, on the service thread. */
int
fg_shared_reserve_now(struct fg_limiter *l, struct fg_check *chk, size_t n,
    uint32_t now, struct fg_resv *resv, uint32_t relays)
{
	struct fg_ritem items[64];
	struct fg_sreserve r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.chk = chk;
	r.n = n;
	r.items = items;
	rc = n > 64 ? FG_SHARED_DOWN : fg_shared_reserve_wait(&r);
	if (rc == FG_SHARED_DOWN) {
		fg_checks_share(chk, n, relays);
		return fg_limiter_reserve(l, chk, n, now, resv);
	}
	if (rc == FG_RESERVED && fg_resv_add_ritems(resv, items, r.nitems) < 0)
		return FG_RESERVE_ERROR;
	return rc;
}

/*
 * Statistics for the whole pool: one hash per hour and kind,
 * "{P}:st:HOUR:a" (accounts), ":d" (destination domains) and ":r"
 * (refusals by rule), field "NAME\037C" with C one of STAT_CODES (a
 * rule's: its action), kept as long as a relay keeps its own.
 */
#define STAT_CODES	"adrhsbu"	/* enum fg_stat's order */
#define STATS_KEEP_S	(90u * 86400u)

static void
stats_key(char *k, size_t len, uint32_t hour, char kind)
{
	snprintf(k, len, "{%s}:st:%u:%c", sh.prefix, hour, kind);
}

/* The hashes written this flush get their expiry once. */
static void
stats_expire(char (*seen)[FG_RKEY_MAX + 1], size_t *nseen, const char *k,
    uint32_t hour)
{
	char at[16];
	const char *argv[3] = { "EXPIREAT", k, at };
	size_t i;

	for (i = 0; i < *nseen; i++)
		if (strcmp(seen[i], k) == 0)
			return;
	if (*nseen < 16)
		fg_strlcpy(seen[(*nseen)++], k, FG_RKEY_MAX + 1);
	snprintf(at, sizeof(at), "%u", hour + STATS_KEEP_S);
	raw(3, argv);
}


/* One increment: to Redis when it answers, else to the stash. */
static void
stats_incr(char (*seen)[FG_RKEY_MAX + 1], size_t *nseen, int up,
    uint32_t hour, char kind, const char *field, uint64_t n)
{
	char key[FG_RKEY_MAX + 1], v[24];
	const char *argv[4] = { "HINCRBY", key, field, v };

	if (!up) {
		if (tally_add(&stash, STASH_MAX, field, hour, (uint8_t)kind,
		    n) < 0)
			stash_dropped += n;
		return;
	}
	stats_key(key, sizeof(key), hour, kind);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)n);
	raw(4, argv);
	stats_expire(seen, nseen, key, hour);
}

struct stash_send {
	char (*seen)[FG_RKEY_MAX + 1];
	size_t *nseen;
};

/* One stashed field to Redis (on the store's connection, or at the
 * stop on final_stats's); kept in the stash. */
static int
stash_incr(struct fg_hnode *n, void *arg)
{
	struct stash_send *ss = arg;
	struct tally *x = (struct tally *)n;

	stats_incr(ss->seen, ss->nseen, 1, x->a, (char)x->b, x->name, x->n);
	return 0;
}

/* Sends one stashed field and forgets it. */
static int
stash_send(struct fg_hnode *n, void *arg)
{
	stash_incr(n, arg);
	free(n);
	return 1;
}

void
fg_shared_stats_publish(const struct fg_stat_row *rows, size_t nrows,
    const struct fg_event *ev, size_t nev)
{
	char seen[16][FG_RKEY_MAX + 1];
	size_t nseen = 0, i;
	int k, up = atomic_load(&sh.up);

	if (up && stash.count + stash_dropped > 0) {
		struct stash_send ss = { seen, &nseen };
		size_t was = stash.count;

		fg_htab_walk(&stash, stash_send, &ss);
		fg_htab_clear(&stash);
		if (stash_dropped)
			fg_log_notice("shared store: gave %s the statistics counted while it was down (%zu fields; some were dropped: more than %d)",
			    sh.url, was, STASH_MAX);
		else
			fg_log_notice("shared store: gave %s the statistics counted while it was down (%zu fields)",
			    sh.url, was);
		stash_dropped = 0;
	}
	for (i = 0; i < nrows; i++) {
		char f[FG_ACCOUNT_MAX + 3];

		for (k = 0; k < FG_ST_N; k++) {
			if (rows[i].v[k] == 0)
				continue;
			snprintf(f, sizeof(f), "%s%c%c", rows[i].name,
			    FG_WKEY_SEP, STAT_CODES[k]);
			stats_incr(seen, &nseen, up, rows[i].hour,
			    rows[i].kind == 'd' ? 'd' : 'a', f, rows[i].v[k]);
		}
	}
	for (i = 0; i < nev; i++) {
		char f[FG_NAME_MAX + FG_ACTION_MAX + 2];
		const char *a = ev[i].action;

		if (strcmp(a, "defer") && strcmp(a, "cap") &&
		    strcmp(a, "reject") && strcmp(a, "hold"))
			continue;
		snprintf(f, sizeof(f), "%s%c%s", ev[i].rule, FG_WKEY_SEP, a);
		stats_incr(seen, &nseen, up, ev[i].time - ev[i].time % 3600,
		    'r', f, 1);
	}
}

/*
 * The last statistics, at a clean stop. The service's last flush comes
 * after the store's connection closed (it lives on the engine's loop,
 * which stops after it), so when Redis answered at the stop they go on
 * a connection of their own, a second at most for each step. Taken
 * whole or kept whole: a reply lost midway keeps them all for the next
 * start (a field Redis had taken then counts twice in the pool's
 * statistics, never in a limit).
 */
#define FINAL_TIMEOUT_S	1

static int
final_ok(redisReply *r, char *why, size_t len)
{
	int ok = r != NULL && r->type != REDIS_REPLY_ERROR;

	if (!ok)
		fg_strlcpy(why, r != NULL ? r->str : final_rc->errstr[0] ?
		    final_rc->errstr : "no answer", len);
	if (r != NULL)
		freeReplyObject(r);
	return ok;
}

static void
final_stats(void)
{
	struct timeval tv = { FINAL_TIMEOUT_S, 0 };
	char seen[16][FG_RKEY_MAX + 1], why[256] = "";
	size_t nseen = 0, fields = stash.count;
	struct stash_send ss = { seen, &nseen };
	void *r;
	int ok = 1;

	if (!sh.up_at_stop || fields == 0 || stash_dropped > 0 ||
	    (sh.host == NULL && sh.path == NULL))
		return;
	final_rc = sh.path != NULL ? redisConnectUnixWithTimeout(sh.path, tv) :
	    redisConnectWithTimeout(sh.host, (int)sh.port, tv);
	if (final_rc == NULL || final_rc->err ||
	    redisSetTimeout(final_rc, tv) != REDIS_OK) {
		fg_strlcpy(why, final_rc != NULL ? final_rc->errstr :
		    "out of memory", sizeof(why));
		ok = 0;
	}
	if (ok && sh.password != NULL)	/* as on_connect logs in */
		ok = final_ok(sh.user != NULL ?
		    redisCommand(final_rc, "AUTH %s %s", sh.user, sh.password) :
		    redisCommand(final_rc, "AUTH %s", sh.password), why,
		    sizeof(why));
	if (ok && sh.db != 0)
		ok = final_ok(redisCommand(final_rc, "SELECT %u", sh.db), why,
		    sizeof(why));
	final_sent = 0;
	final_failed = 0;
	if (ok) {
		fg_htab_walk(&stash, stash_incr, &ss);
		if (final_failed) {
			fg_strlcpy(why, "out of memory", sizeof(why));
			ok = 0;
		}
	}
	for (; ok && final_sent > 0; final_sent--) {
		r = NULL;
		ok = redisGetReply(final_rc, &r) == REDIS_OK &&
		    final_ok(r, why, sizeof(why));
		if (!ok && why[0] == '\0')
			fg_strlcpy(why, final_rc->errstr, sizeof(why));
	}
	if (final_rc != NULL)
		redisFree(final_rc);
	final_rc = NULL;
	if (ok) {
		tally_clear(&stash);
		fg_log_notice("shared store: gave %s the statistics of the stop (%zu fields)",
		    sh.url, fields);
	} else {
		fg_log_warn("shared store: cannot give %s the statistics of the stop (%s); kept for the next start",
		    sh.url, why);
	}
}

/*
 * What this relay still owes Redis when it stops (the charges of an
 * outage, reservations to give back, statistics counted while Redis was
 * down, the ends of transactions that came after the store stopped)
 * goes to its database, and back into memory at its next start: added
 * when Redis answers, as if the outage had gone on meanwhile.
 */
static const struct owed {
	char kind;			/* struct fg_pending's */
	struct fg_htab *t;
	size_t max;
} owed[] = {
	{ 'c', &sh.replay, REPLAY_MAX },
	{ 'u', &sh.unres, UNRESERVE_MAX },
	{ 's', &stash, STASH_MAX },
};
#define NOWED	(sizeof(owed) / sizeof(owed[0]))

struct pending {
	struct fg_pending *p;
	size_t n, cap;
	char kind;
};

static int
pending_row(struct fg_hnode *n, void *arg)
{
	struct tally *x = (struct tally *)n;
	struct pending *pl = arg;

	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 256;
		void *a = realloc(pl->p, cap * sizeof(*pl->p));

		if (a == NULL)
			return 0;
		pl->p = a;
		pl->cap = cap;
	}
	pl->p[pl->n].kind = pl->kind;
	pl->p[pl->n].name = x->name;
	pl->p[pl->n].a = x->a;
	pl->p[pl->n].b = x->b;
	pl->p[pl->n].n = x->n;
	pl->n++;
	return 0;
}

void
fg_shared_save_pending(struct fg_store *st, const struct fg_config *c)
{
	struct pending pl = { NULL, 0, 0, 0 };
	struct op *o, *next;
	char name[512], err[FG_ERRLEN];
	size_t n[NOWED], want = 0, i;

	/* Every thread that submits has stopped: no lock needed after. */
	pthread_mutex_lock(&sh.lock);
	o = sh.late;
	sh.late = NULL;
	pthread_mutex_unlock(&sh.lock);
	for (; o != NULL; o = next) {
		next = o->next;
		keep_op(o);
		free(o);
	}
	doubt_keep_all();
	final_stats();
	forget_params();
	for (i = 0; i < NOWED; i++) {
		size_t was = pl.n;

		pl.kind = owed[i].kind;
		want += owed[i].t->count;
		fg_htab_walk(owed[i].t, pending_row, &pl);
		n[i] = pl.n - was;
	}
	fg_shared_mark_name(c, "pending", name, sizeof(name));
	if (pl.n < want)
		fg_log_err("shared store: out of memory to keep what %s is owed; %zu charges, reservations and statistics lost",
		    sh.url, want - pl.n);
	if (st == NULL || fg_store_pending_save(st, name, pl.p, pl.n, err,
	    sizeof(err)) < 0)
		fg_log_err("shared store: cannot keep what %s is owed in the database (charges in %zu windows and slots, reservations in %zu windows and buckets, %zu statistics fields lost): %s",
		    sh.url, n[0], n[1], n[2], st == NULL ? "no database" : err);
	else if (pl.n > 0)
		fg_log_notice("shared store: kept what %s is owed in the database for the next start (charges in %zu windows and slots, reservations in %zu windows and buckets, %zu statistics fields)",
		    sh.url, n[0], n[1], n[2]);
	free(pl.p);
	for (i = 0; i < NOWED; i++)
		tally_clear(owed[i].t);
	sh.nreplay = sh.replay_dropped = sh.unres_dropped = 0;
	stash_dropped = 0;
}

static void
pending_load(void *arg, const struct fg_pending *p)
{
	size_t *n = arg, i;

	for (i = 0; i < NOWED && owed[i].kind != p->kind; i++)
		;
	if (i == NOWED)
		return;		/* a kind this version does not know */
	if (tally_add(owed[i].t, owed[i].max, p->name, p->a, p->b,
	    p->n) < 0) {
		n[1]++;
		return;
	}
	if (owed[i].t == &sh.replay)
		sh.nreplay += (size_t)p->n;
	n[0]++;
}

void
fg_shared_load_pending(struct fg_store *st, const struct fg_config *c)
{
	char name[512], err[FG_ERRLEN];
	size_t n[2] = { 0, 0 };

	fg_shared_mark_name(c, "pending", name, sizeof(name));
	if (fg_store_pending_take(st, name, pending_load, n, err,
	    sizeof(err)) < 0)
		fg_log_err("shared store: cannot read what %s was owed at the last stop: %s",
		    c->store, err);
	else if (n[0] + n[1] > 0)
		fg_log_notice("shared store: %zu rows of charges, reservations and statistics owed to %s since the last stop; given when it answers%s",
		    n[0], c->store, n[1] > 0 ? " (some dropped: too many)" : "");
}

/*
 * Charges kept for another store (the `store` URL or `redis_prefix`
 * changed since, or `store` removed) are never given to this one: a new
 * URL may be another Redis. While their windows last, each start says
 * so, so that an operator who gave the same Redis a new address can
 * move them; once their windows have passed they are dropped.
 */
struct elsewhere {
	const struct fg_config *c;
	uint32_t now;
};

static void
other_pending(void *arg, const char *other, long long rows,
    long long until)
{
	const struct elsewhere *e = arg;
	size_t len = strlen(other), skip = 0;
	char left[32], mine[FG_ERRLEN] = "this configuration has none";

	if (strncmp(other, "shared ", 7) == 0)
		skip = 7;
	if (len - skip > 8 && strcmp(other + len - 8, ":pending") == 0)
		len -= 8;
	fg_format_duration(until > e->now ? (uint32_t)(until - e->now) : 1,
	    left, sizeof(left));
	if (e->c->store != NULL)
		snprintf(mine, sizeof(mine), "not given to %s {%s}",
		    e->c->store, e->c->redis_prefix);
	fg_log_warn("shared store: charges in %lld windows and slots owed to %.*s at an earlier stop wait in the database for a start with that store (the last of their windows passes in %s); %s",
	    rows, (int)(len - skip), other + skip, left, mine);
}

void
fg_shared_pending_elsewhere(struct fg_store *st, const struct fg_config *c,
    uint32_t now)
{
	struct elsewhere e = { c, now };
	char name[512], err[FG_ERRLEN];

	if (c->store != NULL)
		fg_shared_mark_name(c, "pending", name, sizeof(name));
	if (fg_store_pending_others(st, c->store != NULL ? name : NULL, now,
	    other_pending, &e, err, sizeof(err)) < 0)
		fg_log_err("shared store: cannot look through the charges kept for other stores: %s",
		    err);
}

/*
 * floodgatectl top from Redis: the hours' hashes are read with HSCAN, a
 * thousand fields a call, so that a long --since on a large pool never
 * holds Redis (every relay's reserves wait behind a command) or this
 * relay's connection for long; each name is summed as it is read.
 */

struct topsum {
	struct fg_hnode node;
	struct fg_top_row row;
};

struct topread {
	struct fg_htab names;
	int rule;
};

static int
topsum_eq(const struct fg_hnode *n, const void *key)
{
	return strcmp(((const struct topsum *)n)->row.name, key) == 0;
}

/* One HSCAN page: field, value, ... */
static int
top_page(void *arg, const redisReply *kv)
{
	struct topread *t = arg;
	size_t j;

	for (j = 0; j + 1 < kv->elements; j += 2) {
		const redisReply *f = kv->element[j], *v = kv->element[j + 1];
		char name[FG_ACCOUNT_MAX + 1];
		const char *sep, *code;
		struct topsum *x;
		long long n;
		uint64_t h;
		int stat = -1;

		if (f->str == NULL || v->str == NULL ||
		    (sep = strrchr(f->str, FG_WKEY_SEP)) == NULL ||
		    (size_t)(sep - f->str) >= sizeof(name) ||
		    (n = strtoll(v->str, NULL, 10)) <= 0)
			continue;
		code = sep + 1;
		if (t->rule)
			stat = strcmp(code, "reject") == 0 ? FG_ST_REJECTED :
			    strcmp(code, "hold") == 0 ? FG_ST_HELD :
			    FG_ST_DEFERRED;
		else if (code[0] != '\0' && code[1] == '\0' &&
		    strchr(STAT_CODES, code[0]) != NULL)
			stat = (int)(strchr(STAT_CODES, code[0]) - STAT_CODES);
		if (stat < 0)
			continue;
		memcpy(name, f->str, (size_t)(sep - f->str));
		name[sep - f->str] = '\0';
		h = fg_hash(name);
		if ((x = (struct topsum *)fg_htab_find(&t->names, h, topsum_eq,
		    name)) == NULL) {
			if ((x = calloc(1, sizeof(*x))) == NULL)
				return -1;
			x->node.hash = h;
			fg_strlcpy(x->row.name, name, sizeof(x->row.name));
			if (fg_htab_add(&t->names, &x->node) < 0) {
				free(x);
				return -1;
			}
		}
		x->row.v[stat] += (uint64_t)n;
	}
	return 0;
}

struct topcollect {
	struct fg_top_row *rows;
	size_t n;
	const char *by;
};

/* Each name once, kept as the query would (HAVING); the node freed. */
static int
top_collect(struct fg_hnode *n, void *arg)
{
	struct topcollect *c = arg;
	const struct fg_top_row *r = &((struct topsum *)n)->row;

	if (c->rows != NULL &&
	    !(strcmp(c->by, "unknown") == 0 && r->v[FG_ST_UNKNOWN] == 0) &&
	    !(strcmp(c->by, "bounces") == 0 && r->v[FG_ST_BOUNCED] == 0))
		c->rows[c->n++] = *r;
	free(n);
	return 1;
}

static uint64_t
top_sent(const struct fg_top_row *r)
{
	return r->v[FG_ST_ACCEPTED] + r->v[FG_ST_DEFERRED] +
	    r->v[FG_ST_REJECTED] + r->v[FG_ST_HELD];
}

/* The order of fg_store_top's queries. */
static int
toprow_cmp(const void *a, const void *b, void *arg)
{
	const struct fg_top_row *x = a, *y = b;
	const char *top_by = arg;
	uint64_t p, q, p2 = 0, q2 = 0;

	if (strcmp(top_by, "unknown") == 0) {
		p = x->v[FG_ST_UNKNOWN];
		q = y->v[FG_ST_UNKNOWN];
		p2 = x->v[FG_ST_BOUNCED];
		q2 = y->v[FG_ST_BOUNCED];
	} else if (strcmp(top_by, "bounces") == 0) {
		p = x->v[FG_ST_BOUNCED];
		q = y->v[FG_ST_BOUNCED];
		p2 = x->v[FG_ST_UNKNOWN];
		q2 = y->v[FG_ST_UNKNOWN];
	} else {
		p = top_sent(x);
		q = top_sent(y);
	}
	if (p != q)
		return p > q ? -1 : 1;
	if (p2 != q2)
		return p2 > q2 ? -1 : 1;
	return strcmp(x->name, y->name);
}

int
fg_shared_top(const char *by, uint32_t since, int limit,
    struct fg_top_row **out, size_t *nout)
{
	struct topread t;
	struct topcollect c = { NULL, 0, by };
	char kind = strcmp(by, "rule") == 0 ? 'r' :
	    strcmp(by, "domain") == 0 ? 'd' : 'a';
	uint32_t now = (uint32_t)time(NULL), h;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	memset(&t, 0, sizeof(t));
	t.rule = kind == 'r';
	if (now > STATS_KEEP_S && since < now - STATS_KEEP_S)
		since = now - STATS_KEEP_S;
	for (h = since - since % 3600; h <= now && rc == 0; h += 3600) {
		char k[FG_RKEY_MAX + 1];

		stats_key(k, sizeof(k), h, kind);
		rc = scan_all(k, NULL, 0, top_page, &t);
	}
	if (rc == 0 &&
	    (c.rows = malloc((t.names.count + 1) * sizeof(*c.rows))) == NULL)
		rc = -1;
	fg_htab_walk(&t.names, top_collect, &c);
	fg_htab_clear(&t.names);
	if (rc < 0) {
		free(c.rows);
		return -1;
	}
	qsort_r(c.rows, c.n, sizeof(*c.rows), toprow_cmp, (void *)by);
	*out = c.rows;
	*nout = c.n > (size_t)limit ? (size_t)limit : c.n;
	return 0;
}

void
fg_shared_shadow(struct fg_limiter *l)
{
	shadow = l;
}
