/*
 * What the floodgate daemon's threads share: the current config, the
 * engine (table, limiter, statistics) and the store's health.
 */
#ifndef FG_DAEMON_H
#define FG_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

struct event_base;

#include "config.h"
#include "milterproto.h"
#include "policy.h"
#include "store.h"
#include "table.h"

#define FG_VERSION "0.1.0"

struct fg_daemon {
	pthread_mutex_t cfg_lock;
	struct fg_config *cfg;
	const char *cfg_path;
	struct fg_table *table;
	struct fg_engine engine;
	struct fg_store *store;
	atomic_int store_ok;
	atomic_ulong sessions;
	atomic_ulong reloads;
	time_t started;
};

extern struct fg_daemon fgd;

struct fg_config *fgd_config(void);
int fgd_reload(void);

/* What the engine writes back for one command: code 'c', 't' or 'r';
 * with rcode set, as a REPLYCODE; at end of message, first the header
 * and the quarantine if set. */
struct fg_answer {
	char code;
	char rcode[4], xcode[8];
	char text[256];
	char header[300];	/* X-Floodgate value */
	char quarantine[128];
};

struct fg_session;
struct fg_session *fg_session_new(void);
void fg_session_free(struct fg_session *s);
const char *fg_session_id(const struct fg_session *s);
void fg_session_negotiate(struct fg_session *s, const struct fg_mp_optneg *mta,
    struct fg_mp_optneg *reply, const char *lists[FG_MP_NSTAGES]);
int fg_session_noreply(const struct fg_session *s, char cmd);
void fg_session_connect(struct fg_session *s, const char *addr);
void fg_session_mail(struct fg_session *s, const struct fg_mp_macros *m,
    const char *sender, struct fg_answer *a);
void fg_session_rcpt(struct fg_session *s, const struct fg_mp_macros *m,
    const char *rcpt, struct fg_answer *a);
void fg_session_data(struct fg_session *s, struct fg_answer *a);
void fg_session_eom(struct fg_session *s, const struct fg_mp_macros *m,
    struct fg_answer *a);
void fg_session_abort(struct fg_session *s);

/* The milter engine: MTA connections on a few libevent loops. */
int fg_engine_listen(const char *spec, uid_t owner, char *err, size_t errlen);
int fg_engine_start(void);
void fg_engine_stop(void);

int fg_service_start(void);
void fg_service_stop(void);
void fg_service_flush(void);
void fg_service_held(const struct fg_held_row *h);
struct event_base *fg_service_base(void);

int fg_control_start(const char *path, char *err, size_t errlen);
void fg_control_stop(void);
void fg_control_tick(time_t now);

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
