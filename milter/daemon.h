/*
 * What the floodgate daemon's threads share: the current config, the
 * engine (table, limiter, statistics) and the store's health. main.c
 * fills it; the service thread's modules (service, control, release,
 * metrics) read it. The milter session gets what it needs as arguments
 * (session.h).
 */
#ifndef FG_DAEMON_H
#define FG_DAEMON_H

#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

struct event;
struct event_base;

#include "config.h"
#include "control.h"
#include "policy.h"
#include "session.h"
#include "store.h"
#include "table.h"

struct fg_daemon {
	pthread_mutex_t cfg_lock;
	struct fg_config *cfg;
	const char *cfg_path;
	struct fg_table *table;
	struct fg_engine engine;
	struct fg_session_env session_env;
	const struct fg_milter_engine *milter;	/* as at start */
	struct fg_store *store;
	atomic_int store_ok;
	/* The database at its path (FG_STORE_IN_PLACE), removed and not
	 * written back yet (FG_STORE_GONE), or another file there
	 * (FG_STORE_REPLACED); what the incident says of it (both kept by
	 * the service thread); how often it was written back. */
	atomic_int store_place;
	char store_place_why[FG_ERRLEN + 512];
	atomic_ulong store_put_backs;
	atomic_ulong reloads;
	/* What the file changes that waits for a restart, "store, listen"
	 * ("" when nothing): written by a reload, read by status, both on
	 * the service thread. */
	char restart_pending[256];
	time_t started;
	/* The main thread is done starting and reads fgd.cfg no more:
	 * reloads may replace it (one asked for earlier waits for it). */
	atomic_int up;
	/* systemd's WatchdogSec in microseconds (WATCHDOG_USEC); 0: off. */
	uint64_t watchdog_us;
};

extern struct fg_daemon fgd;

struct fg_config *fgd_config(void);
int fgd_reload(void);
void fgd_notify(const char *fmt, ...) FG_PRINTF(1, 2);
/* The database file's lock (one floodgate to a file), taken again when
 * the file at path is another than the one locked. */
void fgd_lock_database(const char *path);
/*
 * A listening UNIX socket's path, looked at each second by the thread
 * that serves it. Removed while floodgate runs (its directory emptied
 * by hand or by a cleanup), it is made again there as it was made, and
 * serve() given the new descriptor to serve instead of the old (it
 * owns it from then on; -1 when it cannot, fd closed); logged as "WHAT
 * PATH was removed while floodgate ran: made again". Where it cannot
 * be, an error that ends with LOST, once for each reason. Another file
 * put there (a socket of someone else's, renamed over it) is left
 * alone, and said once, with LOST: floodgate serves no one there until
 * that file goes (then its own is made again) or floodgate restarts.
 */
struct fgd_placed {		/* one socket's, kept by its caller */
	char said[FG_ERRLEN];	/* the error said last; "" none */
	int known;		/* dev and ino are floodgate's socket's */
	dev_t dev;
	ino_t ino;
	int replaced;		/* another file there, said */
};
void fgd_socket_placed(const char *path, const char *what, const char *lost,
    struct fgd_placed *pl, int (*serve)(int fd, void *arg), void *arg);
/* A loop's beat for the watchdog (service.c): an event that sets *at to
 * fg_mono_us() each second while the loop runs, set now too; NULL when
 * it cannot be made. event_free() it before the loop. */
struct event *fgd_beat_start(struct event_base *loop, atomic_llong *at);

/*
 * A milter engine: what takes MTA connections and drives a session for
 * each. engine.c is floodgate's own (one libevent loop), mlfi.c runs
 * the same sessions behind Sendmail's libmilter. Chosen at start by
 * `engine`.
 */
struct fg_milter_engine {
	const char *name;
	/* Before privileges are dropped: the socket, with its mode. */
	int (*listen)(const char *spec, char *err, size_t errlen);
	/* Serves MTA connections until stop; when the engine stops by
	 * itself (libmilter's signal thread), it sends SIGTERM to
	 * main_thread. */
	int (*start)(const struct fg_session_env *env, pthread_t main_thread);
	void (*stop)(void);
	/* MTA connections open now (status, metrics). */
	size_t (*connections)(void);
	/* The engine's event loop, made before start, for the shared
	 * store to run on (no hop between threads per recipient); NULL
	 * when the engine has none (libmilter's threads). */
	struct event_base *(*loop)(void);
	/* When the engine's own loop last ran (fg_mono_us), for the
	 * watchdog; NULL when it has none. */
	int64_t (*beat)(void);
	/* Each second on the service thread: a look at the MTA's socket;
	 * NULL when the engine looks itself (the native one, which makes
	 * a removed socket again). */
	void (*check)(void);
};

extern const struct fg_milter_engine fg_engine_native;
extern const struct fg_milter_engine fg_engine_libmilter;

int fg_service_start(void);
void fg_service_stop(void);
void fg_service_flush(void);
void fg_service_held(const struct fg_held_row *h);
struct event_base *fg_service_base(void);

/*
 * What lies around floodgate (around.c): notify programs, the kernel's
 * answer for account uid, the MTA's own settings. fg_around_warnings()
 * says it at once (floodgate -n); at a start and each reload,
 * fg_around_look() asks the looking thread to, which logs it and keeps
 * it for status: fg_around_found() gives a copy of what it kept, a line
 * each (NULL: nothing, or no memory), and whether a look is asked for
 * or under way (*busy; fg_around_busy() alone).
 */
void fg_around_warnings(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg);
/* floodgate -n: what a start needs of floodgate's user that it finds
 * only then (the database written, the control socket made, the
 * delivery log read), refused to the user this process runs as. */
void fg_around_start_needs(const struct fg_config *c,
    void (*say)(void *arg, int line, const char *msg), void *arg);
int fg_around_start(void);
void fg_around_look(struct fg_config *c);
void fg_around_stop(void);
char *fg_around_found(int *busy);
int fg_around_busy(void);

int fg_control_start(const char *path, char *err, size_t errlen);
void fg_control_stop(void);
/* The control socket removed while floodgate runs: made again. */
void fg_control_check(void);

/* Held mail given back by floodgatectl release (release.c). */
void fg_release_plan(const struct fg_ctl_req *req, struct fg_ctl_out *o);
void fg_release_done(const struct fg_ctl_req *req, struct fg_ctl_out *o);
void fg_release_tick(time_t now);
void fg_release_stop(void);
/* When floodgatectl release last asked for a plan; 0: not since this
 * start. */
time_t fg_release_last(void);
/* Held messages planned for release whose release is not yet confirmed
 * (nor lapsed). */
size_t fg_release_planned(void);

/* Delivery feedback (feedback.c), on the service thread. */
struct fg_feedback_counters {
	uint64_t lines;			/* read from the delivery log */
	uint64_t results[5];		/* delivery results of charged mail, by
					 * enum fg_dstatus */
	uint64_t ignored;		/* results of mail floodgate did not charge */
	uint64_t early;			/* results read before floodgate knew
					 * their queue ID, counted once it did */
	uint64_t untrusted;		/* results in the journal from a user not
					 * in delivery_log_users */
	uint64_t lookup_errors, add_errors;
	uint64_t qids, qids_dropped;	/* queue IDs recorded, lost */
	uint64_t requeued;		/* queue IDs mail came back under from a
					 * content filter, recorded */
	uint64_t forwarded;		/* queue IDs local delivery forwarded
					 * charged mail as, recorded */
	uint64_t notices;		/* queue IDs of the MTA's notices
					 * (bounces) about charged mail,
					 * recorded */
	uint64_t trips, pauses;
	size_t tripped;			/* feedback limits tripped now */
	int following;
};

#define FG_TRIP_COUNTERS	256

struct fg_trip_counter {
	char rule[FG_NAME_MAX + 1];
	uint64_t n;
};

int fg_feedback_start(char *err, size_t errlen);
/* Resolves delivery_log_users (names joined by spaces; NULL: root, and
 * postfix where that user exists), before privileges are dropped. */
int fg_feedback_users(const char *names, char *err, size_t errlen);
/* A message floodgate charged (any thread): qid → account. */
void fg_feedback_charged(const char *qid, const char *account, uint32_t now);
void fg_feedback_tick(uint32_t now);
/* At start: a feedback limit an open incident says is tripped
 * (subject "RULE KEY"), so that its end is noticed. */
void fg_feedback_tripped(const char *subject, uint32_t since);
/* Whether the follower left lines for the next tick. */
int fg_feedback_behind(void);
void fg_feedback_stop(void);
void fg_feedback_counters(struct fg_feedback_counters *out);
size_t fg_feedback_trip_counters(struct fg_trip_counter *out, size_t max);

/*
 * Incidents (incident.c), on the service thread: kind is one of FG_EV_*.
 * An incident of a kind and subject starts once and ends once; people
 * are told of both (notify), at most notify_max messages an hour.
 */
void fg_incident_start(unsigned kind, const char *subject,
    const char *detail, uint32_t now);
/* Counts n against the open incident (and its destination domain, when
 * not NULL); nothing when none is open. */
void fg_incident_add(unsigned kind, const char *subject, const char *domain,
    uint64_t n, uint32_t now);
void fg_incident_end(unsigned kind, const char *subject, uint32_t now);
/* Refusals by rate limits (the events the store just took). */
void fg_incident_events(const struct fg_event *ev, size_t n, uint32_t now);
int fg_incident_load(char *err, size_t errlen);
void fg_incident_tick(uint32_t now);
void fg_incident_stop(void);
size_t fg_incident_open_count(void);
/* Copies of the incidents the database does not hold as they are now
 * (*out: malloc'd, NULL when none); how many. */
size_t fg_incident_unsaved(struct fg_incident **out);

/*
 * The programs that tell people of incidents (notify_run.c), on the
 * service thread: at most FG_NOTIFY_PROGRAMS at a time; one started
 * when none is free is dropped and logged. target names it in the log.
 */
void fg_notify_run(const char *target, char *const argv[], const char *data,
    size_t len);
/* Those running, and those killed and not gone (stuck in the kernel):
 * FG_NOTIFY_PROGRAMS less both may start now. */
void fg_notify_counts(size_t *running, size_t *not_gone);
/* Notifications that did not reach their target since the start, by how:
 * dropped (no program slot free), not started (the program could not be
 * run), failed (it ended with a status other than 0, or on a signal of
 * its own), timed out (ended by floodgate at its timeout). */
enum { FG_NOTIFY_DROPPED, FG_NOTIFY_NOT_STARTED, FG_NOTIFY_FAILED,
    FG_NOTIFY_TIMED_OUT, FG_NOTIFY_FAIL_KINDS };
void fg_notify_failures(uint64_t out[FG_NOTIFY_FAIL_KINDS]);
extern const char *const fg_notify_failure_names[FG_NOTIFY_FAIL_KINDS];
/* At each tick: what ended is logged when it failed; what outlived its
 * timeout is ended with its process group; one killed and not gone
 * then (stuck in the kernel) is looked at again, nothing waiting. */
void fg_notify_reap(time_t now);
/* At floodgate's stop: the programs still running get a few seconds,
 * then are ended with their groups. */
void fg_notify_stop(void);

/* The socketmap servers for Postfix's transport_maps and Sendmail's
 * ruleset 0 (smap.c): listen before privileges are dropped, serve from a
 * thread of their own once started (a listener that cannot is logged). */
#define FG_SMAP_POSTFIX		0
#define FG_SMAP_SENDMAIL	1
#define FG_SMAP_N		2
int fg_smap_listen(int mta, const char *spec, char *err, size_t errlen);
void fg_smap_start(void);
void fg_smap_stop(void);
/* When the socket maps' loop last ran (fg_mono_us); 0: not serving. */
int64_t fg_smap_beat(void);
/* Questions MTA asked and how many were answered "paused" (any thread). */
uint64_t fg_smap_lookups(int mta, uint64_t *paused);
/* "postfix_map" or "sendmail_map". */
const char *fg_smap_statement(int mta);

struct fg_service_counters {
	double flush_seconds, flush_max;
	unsigned long long flushes, errors, evictions;
	time_t evict_logged;
};

void fg_service_counters(struct fg_service_counters *out);
int fg_metrics_start(const char *host, unsigned port, char *err,
    size_t errlen);
void fg_metrics_stop(void);

#endif
