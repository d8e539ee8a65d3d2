/*
 * The optional Prometheus endpoint (`metrics HOST:PORT`), an evhttp
 * listener on the service thread: GET /metrics in the text format.
 * Counters are by rule and verdict, never by account, so the page holds
 * no tenant's data; bind it to loopback or a management network.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

static struct evhttp *http;

static void on_request(struct evhttp_request *req, void *arg);

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b;
	struct fg_rule_counter *rc;
	struct fg_service_counters sc;
	uint64_t tot[FG_ST_N], dropped = 0;
	const char *path = evhttp_request_get_uri(req);
	size_t n, i;

	(void)arg;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET ||
	    path == NULL || (strcmp(path, "/metrics") != 0 &&
	    strncmp(path, "/metrics?", 9) != 0)) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only GET /metrics here");
		return;
	}
	if ((b = evbuffer_new()) == NULL ||
	    (rc = calloc(FG_RULE_COUNTERS, sizeof(*rc))) == NULL) {
		if (b != NULL)
			evbuffer_free(b);
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	fg_stats_totals(fgd.engine.stats, tot, &dropped);
	n = fg_stats_rule_counters(fgd.engine.stats, rc, FG_RULE_COUNTERS);
	fg_service_counters(&sc);
	evbuffer_add_printf(b,
	    "# HELP floodgate_recipients_total Recipients decided since start, by outcome.\n"
	    "# TYPE floodgate_recipients_total counter\n"
	    "floodgate_recipients_total{outcome=\"accepted\"} %llu\n"
	    "floodgate_recipients_total{outcome=\"deferred\"} %llu\n"
	    "floodgate_recipients_total{outcome=\"rejected\"} %llu\n"
	    "floodgate_recipients_total{outcome=\"held\"} %llu\n",
	    (unsigned long long)tot[FG_ST_ACCEPTED],
	    (unsigned long long)tot[FG_ST_DEFERRED],
	    (unsigned long long)tot[FG_ST_REJECTED],
	    (unsigned long long)tot[FG_ST_HELD]);
	evbuffer_add_printf(b,
	    "# HELP floodgate_decisions_total Decisions other than a plain accept, by rule and action.\n"
	    "# TYPE floodgate_decisions_total counter\n");
	for (i = 0; i < n; i++)
		evbuffer_add_printf(b,
		    "floodgate_decisions_total{rule=\"%s\",action=\"%s\"} %llu\n",
		    rc[i].rule, rc[i].action, (unsigned long long)rc[i].n);
	evbuffer_add_printf(b,
	    "# HELP floodgate_tracked_keys (rule, key) windows held in memory.\n"
	    "# TYPE floodgate_tracked_keys gauge\n"
	    "floodgate_tracked_keys %zu\n"
	    "# HELP floodgate_evictions_total Windows forgotten because max_keys was reached.\n"
	    "# TYPE floodgate_evictions_total counter\n"
	    "floodgate_evictions_total %llu\n"
	    "# HELP floodgate_store_flush_seconds Time spent writing state to SQLite.\n"
	    "# TYPE floodgate_store_flush_seconds summary\n"
	    "floodgate_store_flush_seconds_sum %.6f\n"
	    "floodgate_store_flush_seconds_count %llu\n"
	    "# HELP floodgate_store_flush_max_seconds The longest flush since start.\n"
	    "# TYPE floodgate_store_flush_max_seconds gauge\n"
	    "floodgate_store_flush_max_seconds %.6f\n"
	    "# HELP floodgate_store_errors_total Flushes and maintenance runs that failed.\n"
	    "# TYPE floodgate_store_errors_total counter\n"
	    "floodgate_store_errors_total %llu\n"
	    "# HELP floodgate_store_up 1 while the store can be written.\n"
	    "# TYPE floodgate_store_up gauge\n"
	    "floodgate_store_up %d\n"
	    "# HELP floodgate_events_dropped_total Refusal events not kept while the store was failing.\n"
	    "# TYPE floodgate_events_dropped_total counter\n"
	    "floodgate_events_dropped_total %llu\n"
	    "# HELP floodgate_reloads_total Configuration reloads accepted.\n"
	    "# TYPE floodgate_reloads_total counter\n"
	    "floodgate_reloads_total %lu\n"
	    "# HELP floodgate_uptime_seconds Seconds since floodgate started.\n"
	    "# TYPE floodgate_uptime_seconds gauge\n"
	    "floodgate_uptime_seconds %ld\n",
	    fg_table_count(fgd.table), (unsigned long long)sc.evictions,
	    sc.flush_seconds,
	    (unsigned long long)sc.flushes, sc.flush_max,
	    (unsigned long long)sc.errors, atomic_load(&fgd.store_ok) ? 1 : 0,
	    (unsigned long long)dropped,
	    (unsigned long)atomic_load(&fgd.reloads),
	    (long)(time(NULL) - fgd.started));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
	free(rc);
}

int
fg_metrics_start(const char *host, unsigned port, char *err, size_t errlen)
{
	if ((http = evhttp_new(fg_service_base())) == NULL) {
		fg_seterr(err, errlen, "metrics: out of memory");
		return -1;
	}
	/* Small requests only; a slow client is dropped. */
	evhttp_set_timeout(http, 5);
	evhttp_set_max_headers_size(http, 8192);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET);
	evhttp_set_gencb(http, on_request, NULL);
	if (evhttp_bind_socket(http, host, (ev_uint16_t)port) != 0) {
		fg_seterr(err, errlen, "metrics %s:%u: cannot listen", host, port);
		evhttp_free(http);
		http = NULL;
		return -1;
	}
	return 0;
}

void
fg_metrics_stop(void)
{
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
}
