/*
 * The service thread: a libevent loop that writes state behind to SQLite
 * (one transaction a second at most), expires idle entries, reloads the
 * config on SIGUSR1 (SIGHUP comes as one), and serves the control socket
 * and the metrics listener. The milter loop never waits for it.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "shared.h"
#include "util.h"

#define SWEEP_EVERY	60	/* or the shortest window, if shorter */
#define SWEEP_MIN	5
#define REOPEN_EVERY	5	/* while the store fails */
#define PLACE_EVERY	2	/* a look at the database's path */
/*
 * How long a write waits for another process's lock once writes have
 * failed: the first failure waited FG_STORE_WAIT_MS, and a tick that
 * waited as long again for each of its writes (state, held mail,
 * suspensions) would leave this loop no time for floodgatectl, /metrics
 * and the delivery log while the lock lasts.
 */
#define WAIT_FAILING_MS	100
#define MAINTAIN_EVERY	3600

static struct event_base *base;
static struct event *tick;
static int blocks_retry;	/* the last save of the blocks failed */
static pthread_t thread;
static int failing;		/* store errors since the last success */
static time_t last_sweep, last_maintain, last_reopen, last_place;
static char *db_path;		/* as at start: a reload does not move it */
static struct fg_entry_copy *retry_copy;	/* state the store refused */
static size_t nretry_copy;
static struct fg_service_counters counters;

static void store_failed(const char *what, const char *err);
static void store_reopen(time_t now);
static time_t sweep_every(void);

/* Messages put on hold, from the milter loop, for the next flush. */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fg_held_row *held;
static size_t nheld, heldcap;

void
fg_service_held(const struct fg_held_row *h)
{
	pthread_mutex_lock(&held_lock);
	if (nheld == heldcap) {
		size_t cap = heldcap ? heldcap * 2 : 16;
		void *p = realloc(held, cap * sizeof(*held));

		if (p == NULL) {
			pthread_mutex_unlock(&held_lock);
			fg_log_err("qid=%s: held, but out of memory to record it",
			    h->queue_id);
			return;
		}
		held = p;
		heldcap = cap;
	}
	held[nheld] = *h;
	held[nheld].domains = fg_strdup(h->domains ? h->domains : "");
	nheld++;
	pthread_mutex_unlock(&held_lock);
}

static void
flush_held(void)
{
	struct fg_held_row *h;
	size_t n, i, done = 0;
	char err[FG_ERRLEN];

	pthread_mutex_lock(&held_lock);
	h = held;
	n = nheld;
	held = NULL;
	nheld = heldcap = 0;
	pthread_mutex_unlock(&held_lock);
	for (i = 0; i < n; i++, done++)
		if (fg_store_held_add(fgd.store, &h[i], err, sizeof(err)) < 0)
			break;
	if (done < n) {
		store_failed("held list", err);
		/* Keep the rest for the next try. */
		for (i = done; i < n; i++) {
			fg_service_held(&h[i]);
			free(h[i].domains);
		}
		for (i = 0; i < done; i++)
			free(h[i].domains);
		free(h);
		return;
	}
	fg_store_held_free(h, n);
}
void
fg_service_counters(struct fg_service_counters *out)
{
	*out = counters;
}

static void flush(void);

struct event_base *
fg_service_base(void)
{
	return base;
}

/* For the control socket: history read right after is up to date. */
void
fg_service_flush(void)
{
	flush();
}
static void on_tick(evutil_socket_t, short, void *);
static void on_usr1(evutil_socket_t, short, void *);
/* A reload signalled while the main thread was still starting. */
static int reload_pending;
static void *run(void *);

static void
store_failed(const char *what, const char *err)
{
	counters.errors++;
	if (failing++ == 0)
		fg_log_err("store: %s failed: %s; %s until it works again",
		    what, err, fgd.cfg->store_tempfail ?
		    "new mail is deferred" : "limits are kept in memory");
	fg_store_set_wait(fgd.store, WAIT_FAILING_MS);
	atomic_store(&fgd.store_ok, 0);
}

/*
 * A connection opened while the file could not be written (SQLite then
 * opens it read-only), or one that lost its file, never heals by itself:
 * while writes fail, open the database afresh every REOPEN_EVERY s.
 */
static void
store_reopen(time_t now)
{
	struct fg_store *ns;
	char err[FG_ERRLEN];

	if (failing == 0 || now - last_reopen < REOPEN_EVERY)
		return;
	last_reopen = now;
	if ((ns = fg_store_open(db_path, 0, err, sizeof(err))) == NULL) {
		fg_log_debug("store: reopen %s: %s", db_path, err);
		return;
	}
	fg_store_close(fgd.store);
	fgd.store = ns;
	fg_store_set_wait(fgd.store, WAIT_FAILING_MS);
}

/* An account's refusals past its lines for the minute, written as one
 * row: one line each flush says how many, and the last of them. */
static void
said_folded(const struct fg_event *ev, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ev[i].folded > 0)
			fg_log_notice("account=%s rule=%s action=%s: %u more refusal%s, not logged one by one past %d a minute (the last: dest=%s used=%u limit=%u retry=%us); each is counted (floodgatectl show %s)%s",
			    ev[i].account, ev[i].rule, ev[i].action,
			    ev[i].folded, ev[i].folded == 1 ? "" : "s",
			    FG_EVENTS_PER_MINUTE,
			    ev[i].dest[0] ? ev[i].dest : "(local)", ev[i].used,
			    ev[i].limit, ev[i].retry, ev[i].account,
			    fgd.cfg->monitor ? " mode=monitor" : "");
}

/*
 * The database removed while floodgate runs (a stray rm, a cleanup of
 * its directory): SQLite goes on writing the file with no name, which
 * the next start would not find (it would start with every window
 * empty), and leaves its -wal at the path for a new file to take up.
 * Within PLACE_EVERY s the open file is written there again whole:
 * every window, held message and incident. One replaced by another
 * file is the operator's: said, and left alone.
 */
static void
store_placed(time_t now)
{
	static char said_err[FG_ERRLEN];
	/* What the last look found, as status and the incident read it. */
	enum fg_store_place said = atomic_load(&fgd.store_place), at;
	struct fg_store *ns;
	char err[FG_ERRLEN];

	if (fgd.store == NULL || now - last_place < PLACE_EVERY)
		return;
	last_place = now;
	at = fg_store_placed(fgd.store, db_path);
	if (at == FG_STORE_GONE) {
		ns = fg_store_put_back(fgd.store, db_path, err, sizeof(err));
		if (ns != NULL) {
			fgd.store = ns;
			if (failing > 0)
				fg_store_set_wait(fgd.store, WAIT_FAILING_MS);
			fgd_lock_database(db_path);
			atomic_fetch_add(&fgd.store_put_backs, 1);
			atomic_store(&fgd.store_place, FG_STORE_IN_PLACE);
			fg_log_warn("store: database %s was removed while floodgate ran: written there again from the file it had open (every window, held message and incident in it)",
			    db_path);
			return;
		}
		snprintf(fgd.store_place_why, sizeof(fgd.store_place_why),
		    "database %s was removed while floodgate ran and cannot be written there again: %s; the next start would not find what floodgate counts",
		    db_path, err);
		if (said != FG_STORE_GONE || strcmp(err, said_err) != 0)
			fg_log_err("store: database %s was removed while floodgate ran and cannot be written there again: %s; floodgate goes on with the file it has open, which the next start would not find (tried again every %d s)",
			    db_path, err, PLACE_EVERY);
		fg_strlcpy(said_err, err, sizeof(said_err));
	} else if (at == FG_STORE_REPLACED && said != FG_STORE_REPLACED) {
		snprintf(fgd.store_place_why, sizeof(fgd.store_place_why),
		    "database %s is another file now (replaced while floodgate ran); what floodgate counts goes to the file it opened, which the next start will not find",
		    db_path);
		fg_log_err("store: database %s is another file now (replaced while floodgate ran): floodgate goes on with the file it opened, which has no name now, and leaves the new one alone until it restarts; stop floodgate before replacing its database",
		    db_path);
	}
	atomic_store(&fgd.store_place, at);
}

static void
store_recovered(void)
{
	if (failing > 0) {
		fg_log_notice("store: working again after %d failed flushes",
		    failing);
		fg_store_set_wait(fgd.store, FG_STORE_WAIT_MS);
	}
	failing = 0;
	atomic_store(&fgd.store_ok, 1);
}

/* The shared store's keyspace mark and this relay's own record in it,
 * kept for the next start: a relay restarted while Redis lost its
 * windows, or went back in time, still gives them back. Not worth
 * deferring mail for: a failure is logged once, and tried again at the
 * next tick. */
static void
keep_one(const char *mark, int (*get)(char *, size_t), char *kept,
    size_t len)
{
	static int warned;
	char v[64], name[512], err[FG_ERRLEN];

	if (!get(v, sizeof(v)) || strcmp(v, kept) == 0)
		return;
	fg_shared_mark_name(fgd.cfg, mark, name, sizeof(name));
	if (fg_store_mark_put(fgd.store, name, v, err, sizeof(err)) < 0) {
		if (!warned++)
			fg_log_warn("store: cannot keep the shared store's mark: %s",
			    err);
		return;
	}
	warned = 0;
	fg_strlcpy(kept, v, len);
}

static void
keep_mark(void)
{
	static char epoch[64], tick[64];

	keep_one("epoch", fg_shared_epoch, epoch, sizeof(epoch));
	keep_one("at", fg_shared_tick, tick, sizeof(tick));
}

/*
 * Write what changed. On failure the window state is kept for the next
 * try (a newer copy of the same entry supersedes it) and the statistics
 * go back to the collector; nothing the milter loop does waits for this.
 */
static void
flush(void)
{
	struct fg_entry_copy *c = NULL, *all;
	struct fg_stat_row *rows = NULL;
	struct fg_event *ev = NULL;
	size_t n = 0, nrows = 0, nev = 0;
	char err[FG_ERRLEN];
	uint32_t now = (uint32_t)time(NULL);
	int64_t t0;
	int rc;

	if (fgd.store == NULL)
		return;
	flush_held();
	fg_table_drain(fgd.table, now, &c, &n);
	fg_stats_drain(fgd.engine.stats, &rows, &nrows, &ev, &nev);
	if (nretry_copy > 0) {
		all = realloc(retry_copy, (nretry_copy + n) * sizeof(*all));
		if (all != NULL) {
			if (n > 0)
				memcpy(all + nretry_copy, c, n * sizeof(*c));
			free(c);
			c = all;
			n += nretry_copy;
		} else {
			fg_table_free_copies(retry_copy, nretry_copy);
		}
		retry_copy = NULL;
		nretry_copy = 0;
	}
	store_reopen((time_t)now);
	t0 = fg_mono_us();
	rc = fg_store_flush(fgd.store, c, n, rows, nrows, ev, nev, err,
	    sizeof(err));
	if (n + nrows + nev > 0) {
		double d = (double)(fg_mono_us() - t0) / 1e6;

		counters.flushes++;
		counters.flush_seconds += d;
		if (d > counters.flush_max)
			counters.flush_max = d;
	}
	if (rc < 0) {
		store_failed("write", err);
		/* Bounded: past this, the oldest state is dropped. */
		if (n > 1000000) {
			fg_table_free_copies(c, n);
			c = NULL;
			n = 0;
		}
		retry_copy = c;
		nretry_copy = n;
		fg_stats_restore(fgd.engine.stats, rows, nrows, ev, nev);
		return;
	}
	if (n + nrows + nev > 0)
		store_recovered();
	if (fgd.cfg->store != NULL) {	/* also what waited for Redis */
		fg_shared_stats_publish(rows, nrows, ev, nev);
		keep_mark();
	}
	said_folded(ev, nev);
	fg_incident_events(ev, nev, now);
	fg_table_free_copies(c, n);
	fg_stats_free_rows(rows, nrows);
	free(ev);
}

/*
 * Suspensions and pauses go to the store whenever they change; pause
 * records stay as long as the longest backoff period, for doubling.
 */
static void
save_blocks(uint32_t now)
{
	struct fg_suspension *su;
	struct fg_pause *pa;
	size_t ns, np, i;
	uint32_t keep = 0;
	char err[FG_ERRLEN];

	for (i = 0; i < fgd.cfg->nbackoff; i++)
		if (fgd.cfg->backoff[i].period > keep)
			keep = fgd.cfg->backoff[i].period;
	fg_blocks_expire(fgd.engine.blocks, now, keep);
	if (fgd.cfg->store != NULL)
		fg_shared_sync_blocks(fgd.engine.blocks);
	if (!fg_blocks_changed(fgd.engine.blocks) && !blocks_retry)
		return;
	blocks_retry = 0;
	fg_blocks_rows(fgd.engine.blocks, &su, &ns, &pa, &np);
	if (su == NULL || pa == NULL ||
	    fg_store_blocks_save(fgd.store, su, ns, pa, np, err,
	    sizeof(err)) < 0) {
		store_failed("suspensions and pauses", su == NULL || pa == NULL ?
		    "out of memory" : err);
		blocks_retry = 1;	/* at the next tick */
	}
	free(su);
	free(pa);
}

static void
on_beat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	atomic_store((atomic_llong *)arg, fg_mono_us());
}

struct event *
fgd_beat_start(struct event_base *loop, atomic_llong *at)
{
	struct timeval one = { 1, 0 };
	struct event *ev = event_new(loop, -1, EV_PERSIST, on_beat, at);

	if (ev != NULL && event_add(ev, &one) < 0) {
		event_free(ev);
		ev = NULL;
	}
	if (ev != NULL)
		atomic_store(at, fg_mono_us());
	return ev;
}

/*
 * systemd's watchdog (WatchdogSec): told floodgate is alive at each tick
 * of this thread while the loops the mail waits on, the milter engine's
 * and the socket maps', have run within half the watchdog's time. A loop
 * or this thread that hangs stops the pings, and systemd kills floodgate
 * and starts it again (Restart=on-failure); the stall is logged once, in
 * case floodgate can still say so.
 */
static void
watchdog(void)
{
	static int64_t told;
	static int stalled;
	int64_t now = fg_mono_us(), beat[2];
	const char *what[2] = { "the milter engine's loop", "the socket maps' loop" };
	int i;

	/* Each tick, once a second (a tick the delivery log's backlog
	 * brings early does not ping again). */
	if (fgd.watchdog_us == 0 || now - told < 500000)
		return;
	/* 0: no loop of floodgate's own (libmilter), not started yet, or
	 * no socket map served. */
	beat[0] = fgd.milter->beat != NULL ? fgd.milter->beat() : 0;
	beat[1] = fg_smap_beat();
	for (i = 0; i < 2; i++)
		if (beat[i] != 0 &&
		    (uint64_t)(now - beat[i]) >= fgd.watchdog_us / 2)
			break;
	if (i == 2) {
		if (stalled)
			fg_log_notice("watchdog: every loop runs again; systemd is told floodgate is alive");
		fgd_notify("WATCHDOG=1");
		told = now;
		stalled = 0;
	} else if (!stalled) {
		fg_log_err("watchdog: %s has not run for %lld s; systemd is no longer told floodgate is alive",
		    what[i], (long long)((now - beat[i]) / 1000000));
		stalled = 1;
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	time_t now = time(NULL);
	char err[FG_ERRLEN];

	(void)fd;
	(void)what;
	(void)arg;
	watchdog();
	if (reload_pending && atomic_load(&fgd.up)) {
		reload_pending = 0;
		fgd_reload();
	}
	fg_release_tick(now);
	if (fgd.milter->check != NULL)
		fgd.milter->check();
	fg_control_check();
	store_placed(now);
	flush();
	fg_feedback_tick((uint32_t)now);
	save_blocks((uint32_t)now);
	fg_incident_tick((uint32_t)now);
	if (fg_feedback_behind())
		event_active(tick, EV_TIMEOUT, 0);
	if (fgd.cfg->max_keys > 0) {
		size_t ev = fg_table_evict(fgd.table, fgd.cfg->max_keys,
		    (uint32_t)now);

		if (ev > 0) {
			counters.evictions += ev;
			if (counters.evict_logged + 3600 <= now) {
				fg_log_warn("max_keys %u reached: forgot the %zu least recently used windows (logged once an hour)",
				    fgd.cfg->max_keys, ev);
				counters.evict_logged = now;
			}
			malloc_trim(0);
		}
	}
	if (now - last_sweep >= sweep_every()) {
		size_t freed = fg_table_sweep(fgd.table, (uint32_t)now);

		if (freed > 0) {
			fg_log_debug("sweep: freed %zu idle entries", freed);
			/* Give the memory of idle entries back to the system,
			 * and the pages SQLite cached for them. */
			fg_store_release_memory(fgd.store);
			malloc_trim(0);
		}
		last_sweep = now;
	}
	if (fgd.store != NULL && now - last_maintain >= MAINTAIN_EVERY) {
		if (fg_store_maintain(fgd.store, (uint32_t)now, err,
		    sizeof(err)) < 0)
			store_failed("maintenance", err);
		last_maintain = now;
	}
}

/*
 * Idle windows are freed (and their memory given back) within one
 * shortest window of the configuration, a minute at most. Reloads run
 * in this thread, so fgd.cfg is stable here.
 */
static time_t
sweep_every(void)
{
	const struct fg_config *c = fgd.cfg;
	uint32_t p = SWEEP_EVERY;
	size_t i, j;

	for (i = 0; i < c->nrule; i++) {
		const struct fg_rule *r = &c->rule[i];

		if (!r->is_cap && r->period < p)
			p = r->period;
		for (j = 0; j < r->nov; j++)
			if (r->ov[j].period > 0 && r->ov[j].period < p)
				p = r->ov[j].period;
	}
	return p < SWEEP_MIN ? SWEEP_MIN : (time_t)p;
}

static void
on_usr1(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!atomic_load(&fgd.up)) {
		reload_pending = 1;	/* at the first tick after */
		return;
	}
	fgd_reload();
}

static void *
run(void *arg)
{
	sigset_t set;

	(void)arg;
	/* SIGUSR1 is blocked everywhere else: it lands here (SIGHUP
	 * too, turned into SIGUSR1 by on_hup in main.c), and every
	 * reload runs in this thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	event_base_dispatch(base);
	return NULL;
}

/* What fg_service_start() started beside its own thread. */
static void
stop_servers(void)
{
	fg_control_stop();
	fg_metrics_stop();
	fg_smap_stop();
	fg_feedback_stop();	/* its last results into the windows */
}

int
fg_service_start(void)
{
	struct event *usr1;
	struct timeval one = { 1, 0 };

	evthread_use_pthreads();
	if ((base = event_base_new()) == NULL)
		return -1;
	tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	usr1 = evsignal_new(base, SIGUSR1, on_usr1, NULL);
	if (tick == NULL || usr1 == NULL || event_add(tick, &one) < 0 ||
	    event_add(usr1, NULL) < 0)
		return -1;
	last_sweep = last_maintain = last_reopen = time(NULL);
	db_path = fg_strdup(fgd.cfg->database);
	{
		char err[FG_ERRLEN];

		/* floodgatectl is a convenience; mail flows without it. */
		if (fg_control_start(fgd.cfg->control, err, sizeof(err)) < 0)
			fg_log_err("%s; floodgatectl can only read the database", err);
		else if (fgd.store != NULL && fg_store_mark_put(fgd.store,
		    FG_CTL_MARK, fgd.cfg->control, err, sizeof(err)) < 0)
			fg_log_warn("store: cannot record the control socket for floodgatectl: %s",
			    err);
		if (fgd.cfg->metrics_host != NULL &&
		    fg_metrics_start(fgd.cfg->metrics_host,
		    fgd.cfg->metrics_port, err, sizeof(err)) < 0)
			fg_log_err("%s; no metrics", err);
		fg_smap_start();
		if (fg_incident_load(err, sizeof(err)) < 0)
			fg_log_err("incidents: %s", err);
		/* Mail flows without feedback; the operator is told why. */
		if (fg_feedback_start(err, sizeof(err)) < 0)
			fg_log_err("%s; delivery feedback is off", err);
	}
	if (pthread_create(&thread, NULL, run, NULL) != 0) {
		/* The start fails: nothing is left serving, and the control
		 * socket made above is removed with the others. */
		stop_servers();
		return -1;
	}
	return 0;
}

/* After the engine stopped: write what is left and stop. */
void
fg_service_stop(void)
{
	/* Not loopbreak: a loop that has not started yet (a SIGTERM just
	 * after the start) would clear it when it starts, and run on. */
	event_base_loopexit(base, NULL);
	pthread_join(thread, NULL);
	stop_servers();
	flush();
	if (fgd.cfg->store != NULL)
		fg_shared_save_pending(fgd.store, fgd.cfg);
	save_blocks((uint32_t)time(NULL));
	fg_incident_stop();
	if (nretry_copy > 0)
		fg_log_err("store: %zu entries could not be written at exit",
		    nretry_copy);
	fg_table_free_copies(retry_copy, nretry_copy);
	retry_copy = NULL;
	nretry_copy = 0;
	free(db_path);
	db_path = NULL;
}
