/*
 * What the floodgate daemon's threads share: the current config, the
 * engine (table, limiter, statistics) and the store's health.
 */
#ifndef FG_DAEMON_H
#define FG_DAEMON_H

#include <libmilter/mfapi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

struct event_base;

#include "config.h"
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

extern struct smfiDesc fg_milter;

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
