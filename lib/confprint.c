/*
 * What `floodgate -n` prints: every setting from the statement table,
 * then the groups, rules and exemptions as floodgate will apply them.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "confdef.h"
#include "util.h"
#include "window.h"

#define KW	"%-15s "

void
fg_print_listen(const struct fg_config *c, FILE *fp)
{
	fprintf(fp, KW "%s\n", "listen", c->listen);
}

void
fg_print_account(const struct fg_config *c, FILE *fp)
{
	size_t i;

	fprintf(fp, KW, "account");
	for (i = 0; i < c->nsource; i++)
		fprintf(fp, "%s%s", i ? " " : "",
		    fg_name_of(fg_source_names, (int)c->source[i]));
	fprintf(fp, "\n");
}

void
fg_print_account_map(const struct fg_config *c, FILE *fp)
{
	fprintf(fp, KW "%s (%zu entries)\n", "account_map",
	    c->account_map ? c->account_map : "(none)", c->nmap);
}

void
fg_print_max_keys(const struct fg_config *c, FILE *fp)
{
	fprintf(fp, KW "%u%s\n", "max_keys", c->max_keys,
	    c->max_keys ? "" : " (no cap)");
}

void
fg_print_metrics(const struct fg_config *c, FILE *fp)
{
	if (c->metrics_host == NULL) {
		fprintf(fp, KW "(off)\n", "metrics");
		return;
	}
	fprintf(fp, KW "%s%s%s:%u\n", "metrics",
	    strchr(c->metrics_host, ':') ? "[" : "", c->metrics_host,
	    strchr(c->metrics_host, ':') ? "]" : "", c->metrics_port);
}

void
fg_print_delivery_log(const struct fg_config *c, FILE *fp)
{
	fprintf(fp, KW "%s\n", "delivery_log",
	    c->delivery_log ? c->delivery_log : "(none: no delivery feedback)");
}

void
fg_print_log_users(const struct fg_config *c, FILE *fp)
{
	fprintf(fp, KW "%s\n", "delivery_log_users",
	    c->log_users ? c->log_users : "root postfix (postfix where that user exists)");
}

void
fg_print_store(const struct fg_config *c, FILE *fp)
{
	fprintf(fp, KW "%s\n", "store",
	    c->store ? c->store : "sqlite (this server alone)");
}

void
fg_print_redis_timeout(const struct fg_config *c, FILE *fp)
{
	fprintf(fp, KW "%ums\n", "redis_timeout", c->redis_timeout);
}

void
fg_print_release_alarm(const struct fg_config *c, FILE *fp)
{
	char d[32];

	if (c->release_alarm == 0)
		fprintf(fp, KW "off\n", "release_alarm");
	else {
		fg_format_duration(c->release_alarm, d, sizeof(d));
		fprintf(fp, KW "%s\n", "release_alarm", d);
	}
}

void
fg_print_redis_prefix(const struct fg_config *c, FILE *fp)
{
	fprintf(fp, KW "%s\n", "redis_prefix", c->redis_prefix);
}

void
fg_print_redis_user(const struct fg_config *c, FILE *fp)
{
	fprintf(fp, KW "%s\n", "redis_user",
	    c->redis_user ? c->redis_user : "(none: Redis's default user)");
}

static void
print_mta_map(const char *name, const char *v, FILE *fp)
{
	fprintf(fp, KW "%s\n", name,
	    v ? v : "(none: pauses only defer new recipients)");
}

void
fg_print_postfix_map(const struct fg_config *c, FILE *fp)
{
	print_mta_map("postfix_map", c->postfix_map, fp);
}

void
fg_print_sendmail_map(const struct fg_config *c, FILE *fp)
{
	print_mta_map("sendmail_map", c->sendmail_map, fp);
}

void
fg_print_notify_from(const struct fg_config *c, FILE *fp)
{
	fprintf(fp, KW "%s\n", "notify_from",
	    c->notify_from ? c->notify_from : "floodgate (the MTA adds its domain)");
}

static void
print_setting(const struct fg_statement *st, const struct fg_config *c,
    FILE *fp)
{
	const char *base = (const char *)c;
	char d[32];

	if (st->print != NULL) {
		st->print(c, fp);
		return;
	}
	switch (st->kind) {
	case FG_SK_PATH:
	case FG_SK_ABSPATH: {
		const char *v = *(char *const *)(const void *)(base + st->off);

		fprintf(fp, KW "%s\n", st->name, v != NULL ? v :
		    st->unset != NULL ? st->unset : "(none)");
		break;
	}
	case FG_SK_CHOICE:
		fprintf(fp, KW "%s\n", st->name,
		    st->words[*(const int *)(const void *)(base + st->off)]);
		break;
	case FG_SK_UINT:
		fprintf(fp, KW "%u\n", st->name,
		    *(const uint32_t *)(const void *)(base + st->off));
		break;
	case FG_SK_DURATION:
		fg_format_duration(*(const uint32_t *)(const void *)(base +
		    st->off), d, sizeof(d));
		fprintf(fp, KW "%s\n", st->name, d);
		break;
	case FG_SK_CUSTOM:
		break;
	}
}

static void
print_rate(FILE *fp, uint32_t n, uint32_t period)
{
	char d[32];

	fg_format_duration(period, d, sizeof(d));
	fprintf(fp, "%u/%s", n, d);
}

static void
print_rule(const struct fg_rule *r, FILE *fp)
{
	char d[32];
	size_t j;

	if (r->is_cap) {
		fprintf(fp, "cap   %-18s to %s (%zu domains): at most %u recipients per message, the rest get 452 4.5.3\n",
		    r->name, r->dests.text ? r->dests.text : "*",
		    r->dests.n, r->limit);
		return;
	}
	fprintf(fp, "limit %-18s per %-14s to %s", r->name,
	    fg_scope_name(r->scope), r->dests.text ? r->dests.text : "*");
	if (r->dests.n > 0)
		fprintf(fp, " (%zu domains)", r->dests.n);
	fprintf(fp, "  ");
	print_rate(fp, r->limit, r->period);
	fg_format_duration(fg_window_width(r->period), d, sizeof(d));
	fprintf(fp, " (slot %s)  action %s  count %s", d,
	    fg_action_name(r->action), fg_name_of(fg_count_names, (int)r->count));
	if (r->ratio > 0)
		fprintf(fp, "  ratio %u%%", r->ratio);
	if (r->reply)
		fprintf(fp, "  reply \"%s\"", r->reply);
	fprintf(fp, "\n");
	for (j = 0; j < r->nov; j++) {
		fprintf(fp, "  override for %-20s ", r->ov[j].account);
		print_rate(fp, r->ov[j].limit, r->ov[j].period);
		fprintf(fp, "\n");
	}
}

void
fg_config_print(const struct fg_config *c, FILE *fp)
{
	size_t i;

	fprintf(fp, "# %s: OK\n", c->path);
	for (i = 0; i < fg_nstatements; i++)
		if (!(fg_statements[i].flags & FG_SF_REPEAT))
			print_setting(&fg_statements[i], c, fp);
	for (i = 0; i < c->ngroup; i++)
		fprintf(fp, "group %-10s %zu domains\n", c->group[i].name,
		    c->group[i].n);
	for (i = 0; i < c->nrule; i++)
		print_rule(&c->rule[i], fp);
	for (i = 0; i < c->nbackoff; i++) {
		const struct fg_backoff *b = &c->backoff[i];
		char per[32], dur[32], max[32];

		fg_format_duration(b->period, per, sizeof(per));
		fg_format_duration(b->duration, dur, sizeof(dur));
		fg_format_duration(b->max, max, sizeof(max));
		fprintf(fp, "backoff %-16s to %s: after %u/%s on %s, pause for %s, doubled on a new trip up to %s\n",
		    b->name, b->dests.text ? b->dests.text : "*", b->limit, per,
		    b->on == FG_FAIL_4XX ? "4xx" : b->on == FG_FAIL_CONNECT ?
		    "connect" : "any", dur, max);
	}
	for (i = 0; i < c->nnotify; i++) {
		size_t k;
		int first = 1;

		fprintf(fp, "notify          %s on ", c->notify[i].target);
		for (k = 0; fg_event_names[k].name != NULL; k++)
			if (c->notify[i].events & (unsigned)fg_event_names[k].value) {
				fprintf(fp, "%s%s", first ? "" : ",",
				    fg_event_names[k].name);
				first = 0;
			}
		fprintf(fp, "\n");
	}
	for (i = 0; i < c->nex_account; i++)
		fprintf(fp, "exempt account  %s\n", c->ex_account[i]);
	for (i = 0; i < c->nex_client; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(c->ex_client[i].family, c->ex_client[i].addr, a, sizeof(a));
		fprintf(fp, "exempt client   %s/%d\n", a, c->ex_client[i].bits);
	}
	for (i = 0; i < c->ex_domain.n; i++)
		fprintf(fp, "exempt domain   %s\n", c->ex_domain.pat[i]);
}
