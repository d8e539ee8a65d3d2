/*
 * The optional Prometheus endpoint (`metrics HOST:PORT`), served by the
 * service thread: GET /metrics in the text format, over HTTP/1.0, one
 * request per connection. Counters are by rule and verdict, never by
 * account, so the page holds no tenant's data; bind it to loopback or a
 * management network. A client has 5 seconds to send its request and
 * at most 16 are served at once (rrserve.c).
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "net.h"
#include "rrserve.h"
#include "sockowner.h"
#include "util.h"

/* Request line and headers; a GET has no body. */
#define MAX_REQUEST	8192

static struct fg_rr *server;

static int request(uid_t uid, struct evbuffer *in, struct evbuffer *out);

static const struct fg_rr_ops ops = {
	.name = "metrics",
	.max_clients = 16,
	.request_deadline = 5,
	.reply_deadline = 10,
	.busy = "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	.request = request,
};

static void
status(struct evbuffer *out, const char *code, const char *text)
{
	evbuffer_add_printf(out, "HTTP/1.0 %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", code,
	    strlen(text), text);
}

/* A label value as the text format wants it. */
static void
label(struct evbuffer *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(b, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
}

/* Delivery feedback: results, trips, pauses and suspensions (by rule
 * and domain; an account is never a label). */
static int
by_rule(const void *a, const void *b)
{
	return strcmp(((const struct fg_suspension *)a)->rule,
	    ((const struct fg_suspension *)b)->rule);
}

static void
feedback(struct evbuffer *b)
{
	static const char *const status[5] = { NULL, "sent", "deferred",
	    "bounced", "expired" };
	struct fg_feedback_counters fc;
	struct fg_trip_counter *tc;
	struct fg_suspension *su;
	struct fg_pause *pa;
	size_t n, i, j, ns, np;
	uint32_t now = (uint32_t)time(NULL);

	fg_feedback_counters(&fc);
	evbuffer_add_printf(b,
	    "# HELP floodgate_delivery_lines_total Lines read from the delivery log.\n"
	    "# TYPE floodgate_delivery_lines_total counter\n"
	    "floodgate_delivery_lines_total %llu\n"
	    "# HELP floodgate_delivery_results_total Delivery results of mail floodgate charged, by status.\n"
	    "# TYPE floodgate_delivery_results_total counter\n",
	    (unsigned long long)fc.lines);
	for (i = 1; i < 5; i++)
		evbuffer_add_printf(b,
		    "floodgate_delivery_results_total{status=\"%s\"} %llu\n",
		    status[i], (unsigned long long)fc.results[i]);
	evbuffer_add_printf(b,
	    "# HELP floodgate_delivery_results_ignored_total Delivery results of mail floodgate did not charge.\n"
	    "# TYPE floodgate_delivery_results_ignored_total counter\n"
	    "floodgate_delivery_results_ignored_total %llu\n"
	    "# HELP floodgate_delivery_results_early_total Delivery results read before floodgate knew their queue ID (logged before a content filter's hop, a forward or a notice named it, or before it was recorded), kept and counted once it was.\n"
	    "# TYPE floodgate_delivery_results_early_total counter\n"
	    "floodgate_delivery_results_early_total %llu\n"
	    "# HELP floodgate_delivery_results_untrusted_total Delivery results in the journal logged by a user not in delivery_log_users, ignored.\n"
	    "# TYPE floodgate_delivery_results_untrusted_total counter\n"
	    "floodgate_delivery_results_untrusted_total %llu\n"
	    "# HELP floodgate_delivery_requeued_total Charged messages a content filter on this host gave back to the MTA under another queue ID, whose results are followed there.\n"
	    "# TYPE floodgate_delivery_requeued_total counter\n"
	    "floodgate_delivery_requeued_total %llu\n"
	    "# HELP floodgate_delivery_forwarded_total Messages Postfix's local delivery forwarded (an alias, a .forward) as a new message from mail floodgate charged, whose results are followed there for the forwarding address's account.\n"
	    "# TYPE floodgate_delivery_forwarded_total counter\n"
	    "floodgate_delivery_forwarded_total %llu\n"
	    "# HELP floodgate_delivery_notices_total The MTA's notices to the sender of mail floodgate charged (bounces, Sendmail's DSNs), whose failures are followed for the message's account.\n"
	    "# TYPE floodgate_delivery_notices_total counter\n"
	    "floodgate_delivery_notices_total %llu\n"
	    "# HELP floodgate_delivery_lost_total Delivery feedback floodgate could not count: charged messages whose queue IDs found no room before they were recorded (queue), log lines whose queue ID could not be looked up in the database (database), results with no memory to count them (memory).\n"
	    "# TYPE floodgate_delivery_lost_total counter\n"
	    "floodgate_delivery_lost_total{why=\"queue\"} %llu\n"
	    "floodgate_delivery_lost_total{why=\"database\"} %llu\n"
	    "floodgate_delivery_lost_total{why=\"memory\"} %llu\n"
	    "# HELP floodgate_map_lookups_total Questions the MTA asked postfix_map or sendmail_map, and those answered paused.\n"
	    "# TYPE floodgate_map_lookups_total counter\n",
	    (unsigned long long)fc.ignored, (unsigned long long)fc.early,
	    (unsigned long long)fc.untrusted,
	    (unsigned long long)fc.requeued, (unsigned long long)fc.forwarded,
	    (unsigned long long)fc.notices,
	    (unsigned long long)fc.qids_dropped,
	    (unsigned long long)fc.lookup_errors,
	    (unsigned long long)fc.add_errors);
	for (i = 0; i < FG_SMAP_N; i++) {
		const char *mta = i == FG_SMAP_POSTFIX ? "postfix" : "sendmail";
		uint64_t asked, said;

		asked = fg_smap_lookups((int)i, &said);
		evbuffer_add_printf(b,
		    "floodgate_map_lookups_total{mta=\"%s\",answer=\"notfound\"} %llu\n"
		    "floodgate_map_lookups_total{mta=\"%s\",answer=\"paused\"} %llu\n",
		    mta, (unsigned long long)(asked - said),
		    mta, (unsigned long long)said);
	}
	evbuffer_add_printf(b,
	    "# HELP floodgate_feedback_trips_total Feedback limits tripped, by rule.\n"
	    "# TYPE floodgate_feedback_trips_total counter\n");
	if ((tc = calloc(FG_TRIP_COUNTERS, sizeof(*tc))) != NULL) {
		n = fg_feedback_trip_counters(tc, FG_TRIP_COUNTERS);
		for (i = 0; i < n; i++)
			evbuffer_add_printf(b,
			    "floodgate_feedback_trips_total{rule=\"%s\"} %llu\n",
			    tc[i].rule, (unsigned long long)tc[i].n);
		free(tc);
	}
	evbuffer_add_printf(b,
	    "# HELP floodgate_pauses_total Destination domains paused by a backoff since start.\n"
	    "# TYPE floodgate_pauses_total counter\n"
	    "floodgate_pauses_total %llu\n"
	    "# HELP floodgate_paused Destination domains paused now, by domain and the backoff (or floodgatectl) that paused them.\n"
	    "# TYPE floodgate_paused gauge\n", (unsigned long long)fc.pauses);
	fg_blocks_rows(fgd.engine.blocks, &su, &ns, &pa, &np);
	for (i = 0; pa != NULL && i < np; i++) {
		if (pa[i].until <= now)
			continue;
		evbuffer_add_printf(b, "floodgate_paused{domain=\"");
		label(b, pa[i].domain);
		evbuffer_add_printf(b, "\",rule=\"%s\"} 1\n", pa[i].rule);
	}
	evbuffer_add_printf(b,
	    "# HELP floodgate_suspended_accounts Accounts suspended now, by the rule that suspended them.\n"
	    "# TYPE floodgate_suspended_accounts gauge\n");
	/* Counted by rule, in runs of the rows sorted by it; one whose end
	 * has passed is over, though the tick drops it only later. */
	if (su != NULL)
		qsort(su, ns, sizeof(*su), by_rule);
	for (i = 0; su != NULL && i < ns; i = j) {
		size_t k = 0;

		for (j = i; j < ns && strcmp(su[j].rule, su[i].rule) == 0; j++)
			k += fg_suspension_on(&su[j], now);
		if (k > 0)
			evbuffer_add_printf(b,
			    "floodgate_suspended_accounts{rule=\"%s\"} %zu\n",
			    su[i].rule, k);
	}
	free(su);
	free(pa);
}

/* The page: every counter floodgate keeps, none per account. */
static int
page(struct evbuffer *b)
{
	struct fg_rule_counter *rc;
	struct fg_service_counters sc;
	unsigned long long uid[FG_UID_N], kept, asked;
	uint64_t tot[FG_ST_N], dropped = 0, held, nf[FG_NOTIFY_FAIL_KINDS];
	uint32_t oldest;
	char err[FG_ERRLEN];
	size_t n, i, run, stuck;
	time_t now = time(NULL);

	if ((rc = calloc(FG_RULE_COUNTERS, sizeof(*rc))) == NULL)
		return -1;
	fg_stats_totals(fgd.engine.stats, tot, &dropped);
	n = fg_stats_rule_counters(fgd.engine.stats, rc, FG_RULE_COUNTERS);
	fg_service_counters(&sc);
	fg_session_uid_counts(uid);
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
	    "# HELP floodgate_store_in_place 1 while the database floodgate writes is at its path (0: removed and not written back yet, or another file put there).\n"
	    "# TYPE floodgate_store_in_place gauge\n"
	    "floodgate_store_in_place %d\n"
	    "# HELP floodgate_store_put_back_total Times the database, removed while floodgate ran, was written back at its path.\n"
	    "# TYPE floodgate_store_put_back_total counter\n"
	    "floodgate_store_put_back_total %lu\n"
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
	    atomic_load(&fgd.store_place) == FG_STORE_IN_PLACE,
	    (unsigned long)atomic_load(&fgd.store_put_backs),
	    (unsigned long long)dropped,
	    (unsigned long)atomic_load(&fgd.reloads),
	    (long)(now - fgd.started));
	if (fgd.store != NULL &&
	    fg_store_on_hold(fgd.store, &held, &oldest, err, sizeof(err)) == 0)
		evbuffer_add_printf(b,
		    "# HELP floodgate_on_hold_messages Messages floodgate holds now (the MTA's hold queue), waiting for floodgatectl release.\n"
		    "# TYPE floodgate_on_hold_messages gauge\n"
		    "floodgate_on_hold_messages %llu\n"
		    "# HELP floodgate_on_hold_oldest_seconds How long the oldest message on hold has waited (0: none).\n"
		    "# TYPE floodgate_on_hold_oldest_seconds gauge\n"
		    "floodgate_on_hold_oldest_seconds %ld\n",
		    (unsigned long long)held, oldest != 0 &&
		    now > (time_t)oldest ? (long)(now - (time_t)oldest) : 0L);
	fg_notify_counts(&run, &stuck);
	evbuffer_add_printf(b,
	    "# HELP floodgate_notify_programs Notify programs running now (at most %d at a time), and those killed and not gone (stuck in the kernel), each holding one of the %d.\n"
	    "# TYPE floodgate_notify_programs gauge\n"
	    "floodgate_notify_programs{state=\"running\"} %zu\n"
	    "floodgate_notify_programs{state=\"not_gone\"} %zu\n",
	    FG_NOTIFY_PROGRAMS, FG_NOTIFY_PROGRAMS, run, stuck);
	fg_notify_failures(nf);
	evbuffer_add_printf(b,
	    "# HELP floodgate_notify_failures_total Notifications that did not reach their target since the start: dropped (no program slot free), not_started (the program could not be run), failed (it ended with a status other than 0, or on a signal), timed_out (ended at its timeout).\n"
	    "# TYPE floodgate_notify_failures_total counter\n");
	for (i = 0; i < FG_NOTIFY_FAIL_KINDS; i++)
		evbuffer_add_printf(b,
		    "floodgate_notify_failures_total{why=\"%s\"} %llu\n",
		    fg_notify_failure_names[i], (unsigned long long)nf[i]);
	evbuffer_add_printf(b,
	    "# HELP floodgate_release_planned Held messages a floodgatectl release run planned and has not confirmed yet (released, failed, or gone); a plan lapses 300 s after its run's last step.\n"
	    "# TYPE floodgate_release_planned gauge\n"
	    "floodgate_release_planned %zu\n", fg_release_planned());
	evbuffer_add_printf(b,
	    "# HELP floodgate_uid_lookups_total What account uid found at each SMTP MAIL, by result.\n"
	    "# TYPE floodgate_uid_lookups_total counter\n");
	for (i = 0; i < FG_UID_N; i++)
		evbuffer_add_printf(b,
		    "floodgate_uid_lookups_total{result=\"%s\"} %llu\n",
		    fg_uid_result_names[i], uid[i]);
	fg_user_name_counts(&kept, &asked);
	evbuffer_add_printf(b,
	    "# HELP floodgate_uid_names_total Names of the local users account uid found: from those floodgate keeps (%d s), or asked of the user database.\n"
	    "# TYPE floodgate_uid_names_total counter\n"
	    "floodgate_uid_names_total{from=\"kept\"} %llu\n"
	    "floodgate_uid_names_total{from=\"asked\"} %llu\n",
	    FG_USER_NAME_TTL, kept, asked);
	evbuffer_add_printf(b,
	    "# HELP floodgate_mta_connections MTA connections open now.\n"
	    "# TYPE floodgate_mta_connections gauge\n"
	    "floodgate_mta_connections %zu\n"
	    "# HELP floodgate_mta_connections_max The max_connections cap.\n"
	    "# TYPE floodgate_mta_connections_max gauge\n"
	    "floodgate_mta_connections_max %u\n",
	    fgd.milter->connections(), fgd.cfg->max_connections);
	feedback(b);
	free(rc);
	return 0;
}

/* Only "GET /metrics" (with or without a query) is served. */
static int
request(uid_t uid, struct evbuffer *in, struct evbuffer *out)
{
	struct evbuffer_ptr end;
	struct evbuffer *body;
	char line[256], *sp, *path;
	size_t len;

	(void)uid;
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0)
		end = evbuffer_search(in, "\n\n", 2, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) <= MAX_REQUEST)
			return 0;
		status(out, "431 Request Header Fields Too Large", "request too large\n");
		return 1;
	}
	len = evbuffer_get_length(in) < sizeof(line) - 1 ?
	    evbuffer_get_length(in) : sizeof(line) - 1;
	evbuffer_copyout(in, line, len);
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "GET ", 4) != 0) {
		status(out, "405 Method Not Allowed", "only GET /metrics here\n");
		return 1;
	}
	path = line + 4;
	if ((sp = strchr(path, ' ')) != NULL)
		*sp = '\0';
	if (strcmp(path, "/metrics") != 0 && strncmp(path, "/metrics?", 9) != 0) {
		status(out, "404 Not Found", "only GET /metrics here\n");
		return 1;
	}
	if ((body = evbuffer_new()) == NULL || page(body) < 0) {
		if (body != NULL)
			evbuffer_free(body);
		status(out, "500 Internal Server Error", "out of memory\n");
		return 1;
	}
	evbuffer_add_printf(out, "HTTP/1.0 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    evbuffer_get_length(body));
	evbuffer_add_buffer(out, body);
	evbuffer_free(body);
	return 1;
}

int
fg_metrics_start(const char *host, unsigned port, char *err, size_t errlen)
{
	char e[FG_ERRLEN];
	int fd;

	if ((fd = fg_net_listen_addr(host, port, e, sizeof(e))) < 0) {
		fg_seterr(err, errlen, "metrics %s", e);
		return -1;
	}
	return (server = fg_rr_start(fd, &ops, err, errlen)) != NULL ? 0 : -1;
}

void
fg_metrics_stop(void)
{
	fg_rr_stop(server);
	server = NULL;
}
