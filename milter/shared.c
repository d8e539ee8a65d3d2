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
 * again. The service thread's other calls on this connection are in
 * shared_ctl.c, the pool's statistics in shared_stats.c.
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

#include "daemon.h"
#include "htab.h"
#include "log.h"
#include "shared.h"
#include "shared_int.h"
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
 * This relay's own charges, in memory: every window a commit spends in
 * Redis is charged here too. During an outage the divided limits count
 * what the relay sent before it; when Redis comes back empty (restarted
 * without persistence, flushed) each relay gives it its windows, and the
 * shared windows are the sum of what every relay sent, not nothing.
 */
static struct fg_limiter *shadow;

struct shared_conf shc;

static struct {
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
	char hello_err[1024];		/* AUTH's, SELECT's or the probe's, last logged */
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
	char why[1024];			/* what started it, or a later refusal at connect (status) */
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
	const struct shared_tally *x = (const struct shared_tally *)n;
	const struct tally_key *k = key;

	return x->a == k->a && x->b == k->b && strcmp(x->name, k->name) == 0;
}

int
shared_tally_add(struct fg_htab *t, size_t max, const char *name, uint32_t a,
    uint32_t b, uint64_t n)
{
	struct tally_key k = { name, a, b };
	uint64_t h = fg_hash(name) ^ ((uint64_t)a << 20) ^ b;
	size_t len;
	struct shared_tally *x;

	if ((x = (struct shared_tally *)fg_htab_find(t, h, tally_eq, &k)) != NULL) {
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

void
shared_tally_clear(struct fg_htab *t)
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

	if (shared_tally_add(&sh.replay, REPLAY_MAX, wkey, slot, period, cost) < 0)
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
		if (shared_tally_add(&sh.unres, UNRESERVE_MAX, it[i].wkey,
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
	snprintf(buf, len, "{%s}:q:%s.%s.%u", shc.prefix, sh.markid, sh.stamp,
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
	    applied + again, shc.url, applied, again);
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
		    shc.url, r->type == REDIS_REPLY_ERROR ? r->str : "odd reply");
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
		fg_log_err("shared store: %s: %s", shc.url, r->str);
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
int
shared_noscript(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ERROR ||
	    strncmp(r->str, "NOSCRIPT", 8) != 0 || sh.state == ST_DOWN)
		return 0;
	if (sh.reloading)
		return 1;
	fg_log_notice("shared store: %s lost floodgate's scripts; loading them again",
	    shc.url);
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
	if (!o->retried && shared_noscript(reply)) {
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
	if (!a->retried && shared_noscript(reply)) {
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
	    fg_rlimit_add_cmd(&c, shared_sha(FG_RS_ADD), shc.prefix, rule, key,
	    period, cost, when, next_mark(&m, &a->gen, &a->seq)) < 0) {
		fg_rcmd_free(&c);
		free(a);
		fg_log_err("shared store: cannot send a charge to %s", shc.url);
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

void
shared_on_integer(void *arg, size_t i, const redisReply *r)
{
	(void)i;
	*(long long *)arg = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

static int
send_batch(struct batch *b)
{
	struct fg_rcmd c = { 0 };

	if (fg_rlimit_reserve_cmd(&c, shared_sha(FG_RS_RESERVE), shc.prefix, b->req,
	    b->k, 0, shc.ttl, 0) < 0) {
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
		if (fg_rlimit_release_cmd(&c, shared_sha(FG_RS_RELEASE), shc.prefix,
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
	if (!b->retried && shared_noscript(rep)) {
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
			    shc.url, rep->type == REDIS_REPLY_ERROR ? rep->str :
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
			    shc.url);
		}
		batch_fail(b, FG_SHARED_DOWN);
		return;
	}
	free(v);
	/* The bucket every reservation of the call is counted in. */
	fg_rlimit_bucket(now, shc.ttl, bk, sizeof(bk));
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
		if ((o->commit ? fg_rlimit_commit_cmd(&c, shared_sha(FG_RS_COMMIT),
		    shc.prefix, o->it, o->n, o->now, &m) :
		    fg_rlimit_release_cmd(&c, shared_sha(FG_RS_RELEASE), shc.prefix,
		    o->it, o->n, &m)) < 0) {
			fg_rcmd_free(&c);
			fg_log_err("shared store: cannot send a %s to %s",
			    o->commit ? "commit" : "release", shc.url);
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
		if (shc.url[0] != '\0' &&
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
		    shc.url, what, g.windows, g.slots);
	else
		fg_log_notice("shared store: %s %s; gave it this relay's charges since %us ago (%zu windows, %zu slots)",
		    shc.url, what, g.now > since ? g.now - since : 0,
		    g.windows, g.slots);
	return g.slots;
}

static int
replay_send(struct fg_hnode *n, void *arg)
{
	struct shared_tally *x = (struct shared_tally *)n;

	send_add(x->name, x->b, (uint32_t)x->n, x->a, 0);
	(*(size_t *)arg)++;
	free(x);
	return 1;
}

static void
replay_clear(void)
{
	shared_tally_clear(&sh.replay);
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
	shared_tally_clear(&sh.unres);
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
	if (fg_rlimit_release_cmd(&c, shared_sha(FG_RS_RELEASE), shc.prefix,
	    u->it, u->n, NULL) < 0 || send_cmd(&c, on_background, NULL) < 0) {
		fg_rcmd_free(&c);
		fg_log_err("shared store: cannot send a release to %s", shc.url);
	} else {
		u->sent += u->n;
	}
	u->n = 0;
}

static int
unreserve_send(struct fg_hnode *n, void *arg)
{
	struct shared_tally *x = (struct shared_tally *)n;
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
		    shc.url);
	fg_htab_walk(&sh.unres, unreserve_send, &u);
	unreserve_flush(&u);
	free(u.it);
	unreserve_clear();
	if (dropped > 0)
		fg_log_warn("shared store: gave %s back %zu reservations left from while it was down (transactions that ended, reserves answered after redis_timeout); %zu more lapse by themselves (more than %d windows and buckets)",
		    shc.url, u.sent, dropped, UNRESERVE_MAX);
	else if (!quiet && u.sent > 0)
		fg_log_notice("shared store: gave %s back %zu reservations left from while it was down (transactions that ended, reserves answered after redis_timeout)",
		    shc.url, u.sent);
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
		fg_log_notice("shared store: %s answers; deciding from it", shc.url);
}

/* The merge's adds of the outage's charges, once Redis took them. */
static void
tell_added(void)
{
	if (sh.merge_dropped > 0)
		fg_log_warn("shared store: added %zu charges made while %s was down (%zu adds); %zu more were dropped (more than %d windows and slots)",
		    sh.merge_n, shc.url, sh.merge_adds, sh.merge_dropped,
		    REPLAY_MAX);
	else if (sh.merge_adds > 0)
		fg_log_notice("shared store: added %zu charges made while %s was down (%zu adds)",
		    sh.merge_n, shc.url, sh.merge_adds);
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
		snprintf(sh.epoch, sizeof(sh.epoch), "%s.%u", shc.relay,
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
		    shc.url, r->type == REDIS_REPLY_ERROR ? r->str : "odd reply");
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
		fg_strlcpy(sh.id, shc.relay, sizeof(sh.id));
		sh.tick_acked = sh.tick_sent = 0;
		sh.tick_mine = sh.foreign = 0;
		back = 0;
	}
	pthread_mutex_unlock(&sh.lock);
	if (old[0] != '\0')
		fg_log_err("shared store: another relay writes this relay's record in %s ({%s}:at:%s; started from a copy of this relay's database?): this relay is %s from now on",
		    shc.url, shc.prefix, old, shc.relay);
	if (r->type == REDIS_REPLY_ERROR && !live)
		fg_log_warn("shared store: %s: cannot keep this relay's record: %s",
		    shc.url, r->str);
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

	snprintf(k, sizeof(k), "{%s}:epoch", shc.prefix);
	snprintf(v, sizeof(v), "%s.%u", shc.relay, ++sh.epoch_n);
	snprintf(t, sizeof(t), "{%s}:at:%s", shc.prefix, sh.id);
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
		fg_log_err("shared store: %s: %s", shc.url, why);
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
	const char *user = shc.user != NULL ? shc.user : "default";
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
				    nk > 1 ? ", " : "", shc.prefix, e->str + 1);
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
		    shc.url, r->str);
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
		    keys, user, plus, shc.prefix);
	refused_at_connect(why);
}

/* Sends the probe; -1 when it cannot (the connect goes on without). */
static int
probe(void)
{
	struct fg_rcmd c = { 0 };

	if (fg_rlimit_probe_cmd(&c, shared_sha(FG_RS_PROBE), shc.prefix) < 0) {
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
		    shc.url, r->type == REDIS_REPLY_ERROR ? r->str : "odd reply");
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
	if (shc.user != NULL && shc.password != NULL)
		redisAsyncCommand(sh.ac, on_hello, "AUTH", "AUTH %s %s",
		    shc.user, shc.password);
	else if (shc.password != NULL)
		redisAsyncCommand(sh.ac, on_hello, "AUTH", "AUTH %s",
		    shc.password);
	if (shc.db != 0)
		redisAsyncCommand(sh.ac, on_hello, "SELECT", "SELECT %u", shc.db);
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
		    shc.url, why, sh.backoff);
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

	ac = shc.path != NULL ? redisAsyncConnectUnix(shc.path) :
	    redisAsyncConnect(shc.host, (int)shc.port);
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

/*
 * The password: the first line of redis_password_file, into buf, and the
 * file's mode. A line longer than buf is an error: sent cut, Redis would
 * refuse it as a wrong password.
 */
int
fg_shared_password_read(const char *path, char *buf, size_t len,
    mode_t *mode, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	struct stat st;
	size_t n;
	int c;

	if (fp == NULL) {
		int e = errno;

		/* The unit starts floodgate as its own user, not as root. */
		fg_seterr(err, errlen, "redis_password_file %s: %s%s", path,
		    strerror(e), e == EACCES ? " (read as floodgate's user: "
		    "chown root:floodgate, chmod 640)" : "");
		return -1;
	}
	*mode = fstat(fileno(fp), &st) == 0 ? st.st_mode : 0;
	n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	c = strcspn(buf, "\r\n") == n && n == len - 1 ? fgetc(fp) : EOF;
	fclose(fp);
	if (c != EOF && c != '\r' && c != '\n') {
		explicit_bzero(buf, len);
		fg_seterr(err, errlen, "redis_password_file %s: the password (its first line) is longer than %zu bytes",
		    path, len - 1);
		return -1;
	}
	/* A Windows editor's UTF-8 byte order mark is no part of it. */
	if (n >= 3 && memcmp(buf, FG_UTF8_BOM, 3) == 0)
		memmove(buf, buf + 3, n - 2);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		fg_seterr(err, errlen, "redis_password_file %s: empty", path);
		return -1;
	}
	return 0;
}

static int
read_password(const char *path, char *err, size_t errlen)
{
	char buf[FG_REDIS_PASSWORD_MAX + 1], msg[512];
	mode_t mode;

	if (fg_shared_password_read(path, buf, sizeof(buf), &mode, err,
	    errlen) < 0)
		return -1;
	if (fg_shared_password_open(path, mode, msg, sizeof(msg)))
		fg_log_warn("%s", msg);
	shc.password = fg_strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return shc.password != NULL ? 0 : -1;
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
	shc.host = c->redis_host ? fg_strdup(c->redis_host) : NULL;
	shc.path = c->redis_path ? fg_strdup(c->redis_path) : NULL;
	shc.user = c->redis_user ? fg_strdup(c->redis_user) : NULL;
	shc.port = c->redis_port;
	shc.db = c->redis_db;
	atomic_store(&sh.timeout_ms, c->redis_timeout);
	shc.ttl = c->redis_ttl;
	fg_strlcpy(shc.prefix, c->redis_prefix, sizeof(shc.prefix));
	fg_strlcpy(shc.url, c->store, sizeof(shc.url));
	if (gethostname(host, sizeof(host)) < 0)
		fg_strlcpy(host, "relay", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, ".|")] = '\0';
	snprintf(shc.relay, sizeof(shc.relay), "%s.%ld.%ld", host,
	    (long)getpid(), (long)time(NULL));
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(sh.stamp, sizeof(sh.stamp), "%lld%06ld", (long long)ts.tv_sec,
	    ts.tv_nsec / 1000);
	pthread_mutex_lock(&sh.lock);
	if (sh.id[0] == '\0')	/* none kept: this one from now on */
		fg_strlcpy(sh.id, shc.relay, sizeof(sh.id));
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
	free(shc.host);
	free(shc.path);
	free(shc.user);
	if (shc.password != NULL)
		explicit_bzero(shc.password, strlen(shc.password));
	free(shc.password);
	shc.host = shc.path = shc.user = shc.password = NULL;
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

	return shc.url[0] != '\0' && !atomic_load(&sh.up) && since != 0 &&
	    (long)now - since >= 2;
}

int
fg_shared_waiting(void)
{
	return shc.url[0] != '\0' && !atomic_load(&sh.up);
}

void
fg_shared_state(char *buf, size_t len)
{
	long since = atomic_load(&sh.down_since);
	char why[sizeof(sh.why)];

	if (atomic_load(&sh.up)) {
		snprintf(buf, len, "redis %s (up)", shc.url);
		return;
	}
	pthread_mutex_lock(&sh.lock);
	fg_strlcpy(why, sh.why[0] != '\0' ? sh.why : "connecting", sizeof(why));
	pthread_mutex_unlock(&sh.lock);
	snprintf(buf, len, "redis %s (down for %lds: %s; memory, limits divided by relays)",
	    shc.url, since ? (long)time(NULL) - since : 0L, why);
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
	{ 's', &shared_stash, SHARED_STASH_MAX },
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
	struct shared_tally *x = (struct shared_tally *)n;
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
	shared_final_stats(sh.up_at_stop);
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
		    shc.url, want - pl.n);
	if (st == NULL || fg_store_pending_save(st, name, pl.p, pl.n, err,
	    sizeof(err)) < 0)
		fg_log_err("shared store: cannot keep what %s is owed in the database (charges in %zu windows and slots, reservations in %zu windows and buckets, %zu statistics fields lost): %s",
		    shc.url, n[0], n[1], n[2], st == NULL ? "no database" : err);
	else if (pl.n > 0)
		fg_log_notice("shared store: kept what %s is owed in the database for the next start (charges in %zu windows and slots, reservations in %zu windows and buckets, %zu statistics fields)",
		    shc.url, n[0], n[1], n[2]);
	free(pl.p);
	for (i = 0; i < NOWED; i++)
		shared_tally_clear(owed[i].t);
	sh.nreplay = sh.replay_dropped = sh.unres_dropped = 0;
	shared_stash_dropped = 0;
}

static void
pending_load(void *arg, const struct fg_pending *p)
{
	size_t *n = arg, i;

	for (i = 0; i < NOWED && owed[i].kind != p->kind; i++)
		;
	if (i == NOWED)
		return;		/* a kind this version does not know */
	if (shared_tally_add(owed[i].t, owed[i].max, p->name, p->a, p->b,
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

/* shared_int.h's, for the service thread's calls and statistics */

void
shared_raw(int argc, const char *const *argv)
{
	struct fg_rcmd *c;
	struct op *o;

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

const char *
shared_sha(enum fg_rscript s)
{
	return sh.sha[s];
}

int
shared_resync_take(void)
{
	return atomic_exchange(&sh.resync, 0);
}

void
shared_resync_again(void)
{
	atomic_store(&sh.resync, 1);
}

void
fg_shared_shadow(struct fg_limiter *l)
{
	shadow = l;
}
