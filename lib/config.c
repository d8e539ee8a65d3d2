/*
 * floodgate.conf: one statement per line. Every statement is a row of
 * fg_statements (name, kind, once or repeated); every error names
 * file:line, the offending word and what was expected, and all errors of
 * a file are reported at once, like a compiler does.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "account.h"
#include "address.h"
#include "blocks.h"
#include "confdef.h"
#include "net.h"
#include "rlimit.h"
#include "rules.h"
#include "util.h"

struct fg_parser {
	struct fg_lex lx;
	struct fg_config *c;
	int *seen;		/* per statement: the line it was first on */
	int seen_map;
	/* group references, resolved once the whole file is read: of a
	 * rule, or of a backoff */
	struct pending_ref {
		size_t rule;
		int backoff;
		int line;
	} *refs;
	size_t nrefs;
	/* overrides, resolved once every rule is known */
	struct pending_ov {
		char *rule;
		struct fg_override ov;
	} *ovs;
	size_t novs;
	/* fg_config_load_only: the statements read; the rest skipped */
	const char *const *only;
	size_t nonly;
	/* fg_nomem_count() as the load began: once it has moved, the rest
	 * of the file is not read (a part may be missing) */
	unsigned long nomem;
};

#define perr(p, ...)	fg_lex_error(&(p)->lx, __VA_ARGS__)

static void statement(struct fg_lex *lx, struct fg_tok *t, int nt, void *arg);
static void st_listen(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_account(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_metrics(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_max_keys(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_group(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_limit(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_cap(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_override(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_exempt(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_backoff(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_delivery_log(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_log_users(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_postfix_map(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_sendmail_map(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_notify(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_notify_from(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_store(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_redis_timeout(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_redis_prefix(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_redis_user(struct fg_parser *p, struct fg_tok *t, int nt);
static void st_release_alarm(struct fg_parser *p, struct fg_tok *t, int nt);
static void resolve(struct fg_parser *p);
static void free_dests(struct fg_dests *d);
static void config_free(struct fg_config *c);

const struct fg_name fg_scope_names[] = {
	{ "account", FG_SCOPE_ACCOUNT },
	{ "domain", FG_SCOPE_DOMAIN },
	{ "account+domain", FG_SCOPE_ACCOUNT_DOMAIN },
	{ "client", FG_SCOPE_CLIENT },
	{ "server", FG_SCOPE_SERVER },
	{ NULL, 0 }
};

const struct fg_name fg_action_names[] = {
	{ "defer", FG_ACT_DEFER },
	{ "reject", FG_ACT_REJECT },
	{ "hold", FG_ACT_HOLD },
	{ "tag", FG_ACT_TAG },
	{ "log", FG_ACT_LOG },
	{ "suspend", FG_ACT_SUSPEND },
	{ NULL, 0 }
};

const struct fg_name fg_source_names[] = {
	{ "sasl", FG_SRC_SASL },
	{ "sender", FG_SRC_SENDER },
	{ "client", FG_SRC_CLIENT },
	{ "uid", FG_SRC_UID },
	{ NULL, 0 }
};

const struct fg_name fg_count_names[] = {
	{ "recipients", FG_COUNT_RECIPIENTS },
	{ "messages", FG_COUNT_MESSAGES },
	{ "unknown", FG_COUNT_UNKNOWN },
	{ "bounces", FG_COUNT_BOUNCES },
	{ NULL, 0 }
};

const struct fg_name fg_event_names[] = {
	{ "suspend", FG_EV_SUSPEND },
	{ "bounces", FG_EV_BOUNCES },
	{ "pause", FG_EV_PAUSE },
	{ "store", FG_EV_STORE },
	{ "refused", FG_EV_REFUSED },
	{ "release", FG_EV_RELEASE },
	{ NULL, 0 }
};

static const struct fg_name fail_names[] = {
	{ "4xx", FG_FAIL_4XX },
	{ "connect", FG_FAIL_CONNECT },
	{ "any", FG_FAIL_4XX | FG_FAIL_CONNECT },
	{ NULL, 0 }
};

static const char *const w_mode[] = { "enforce", "monitor", NULL };
static const char *const w_store[] = { "continue", "tempfail", NULL };
static const char *const w_local[] = { "hold", "tempfail", NULL };
static const char *const w_charge[] = { "data", "end", NULL };
static const char *const w_mta[] = { "postfix", "sendmail", NULL };
static const char *const w_engine[] = { "native", "libmilter", NULL };

#define F(field)	offsetof(struct fg_config, field)

/* Sorted by name (bsearch). */
const struct fg_statement fg_statements[] = {
	{ .name = "account", .kind = FG_SK_CUSTOM, .flags = FG_SF_LIST,
	    .parse = st_account, .print = fg_print_account },
	{ .name = "account_map", .kind = FG_SK_PATH, .off = F(account_map),
	    .unset = "(none)", .print = fg_print_account_map },
	{ .name = "backoff", .kind = FG_SK_CUSTOM, .flags = FG_SF_REPEAT,
	    .parse = st_backoff },
	{ .name = "cap", .kind = FG_SK_CUSTOM, .flags = FG_SF_REPEAT,
	    .parse = st_cap },
	{ .name = "charge_at", .kind = FG_SK_CHOICE, .off = F(charge_at_end),
	    .words = w_charge },
	{ .name = "control", .kind = FG_SK_ABSPATH, .off = F(control),
	    .flags = FG_SF_RESTART },
	{ .name = "database", .kind = FG_SK_ABSPATH, .off = F(database),
	    .flags = FG_SF_RESTART },
	{ .name = "delivery_log", .kind = FG_SK_CUSTOM, .off = F(delivery_log),
	    .flags = FG_SF_RESTART, .parse = st_delivery_log,
	    .print = fg_print_delivery_log },
	{ .name = "delivery_log_users", .kind = FG_SK_CUSTOM, .off = F(log_users),
	    .flags = FG_SF_RESTART | FG_SF_LIST, .parse = st_log_users,
	    .print = fg_print_log_users },
	{ .name = "delivery_retention", .kind = FG_SK_DURATION,
	    .off = F(delivery_retention),
	    .hint = "a duration such as 5d (Postfix's maximal_queue_lifetime)" },
	{ .name = "engine", .kind = FG_SK_CHOICE, .off = F(engine_libmilter),
	    .words = w_engine, .flags = FG_SF_RESTART },
	{ .name = "exempt", .kind = FG_SK_CUSTOM, .flags = FG_SF_REPEAT,
	    .parse = st_exempt },
	{ .name = "group", .kind = FG_SK_CUSTOM, .flags = FG_SF_REPEAT,
	    .parse = st_group },
	{ .name = "limit", .kind = FG_SK_CUSTOM, .flags = FG_SF_REPEAT,
	    .parse = st_limit },
	{ .name = "listen", .kind = FG_SK_CUSTOM, .off = F(listen),
	    .flags = FG_SF_RESTART, .parse = st_listen,
	    .print = fg_print_listen },
	{ .name = "local_action", .kind = FG_SK_CHOICE, .off = F(local_tempfail),
	    .words = w_local },
	{ .name = "max_connections", .kind = FG_SK_UINT,
	    .off = F(max_connections), .min = 1, .max = 1000000,
	    .hint = "a number of MTA connections, from 1 to 1000000" },
	{ .name = "max_keys", .kind = FG_SK_CUSTOM, .parse = st_max_keys,
	    .print = fg_print_max_keys },
	{ .name = "metrics", .kind = FG_SK_CUSTOM, .off = F(metrics),
	    .flags = FG_SF_RESTART, .parse = st_metrics,
	    .print = fg_print_metrics },
	{ .name = "mode", .kind = FG_SK_CHOICE, .off = F(monitor),
	    .words = w_mode },
	{ .name = "mta", .kind = FG_SK_CHOICE, .off = F(mta_sendmail),
	    .words = w_mta },
	{ .name = "notify", .kind = FG_SK_CUSTOM, .flags = FG_SF_REPEAT,
	    .parse = st_notify },
	{ .name = "notify_from", .kind = FG_SK_CUSTOM, .off = F(notify_from),
	    .parse = st_notify_from, .print = fg_print_notify_from },
	{ .name = "notify_max", .kind = FG_SK_UINT, .off = F(notify_max),
	    .min = 1, .max = 100000,
	    .hint = "a number of messages an hour, from 1 up" },
	{ .name = "on_store_error", .kind = FG_SK_CHOICE, .off = F(store_tempfail),
	    .words = w_store },
	{ .name = "override", .kind = FG_SK_CUSTOM, .flags = FG_SF_REPEAT,
	    .parse = st_override },
	{ .name = "postfix_config", .kind = FG_SK_ABSPATH,
	    .off = F(postfix_config) },
	{ .name = "postfix_map", .kind = FG_SK_CUSTOM, .off = F(postfix_map),
	    .flags = FG_SF_RESTART, .parse = st_postfix_map,
	    .print = fg_print_postfix_map },
	{ .name = "redis_password_file", .kind = FG_SK_ABSPATH,
	    .off = F(redis_password_file), .flags = FG_SF_RESTART,
	    .unset = "(none)" },
	{ .name = "redis_prefix", .kind = FG_SK_CUSTOM, .off = F(redis_prefix),
	    .flags = FG_SF_RESTART, .parse = st_redis_prefix,
	    .print = fg_print_redis_prefix },
	{ .name = "redis_reservation_ttl", .kind = FG_SK_DURATION,
	    .off = F(redis_ttl), .flags = FG_SF_RESTART,
	    .hint = "a duration such as 10m (longer than an SMTP transaction)" },
	{ .name = "redis_timeout", .kind = FG_SK_CUSTOM, .off = F(redis_timeout),
	    .parse = st_redis_timeout, .print = fg_print_redis_timeout },
	{ .name = "redis_user", .kind = FG_SK_CUSTOM, .off = F(redis_user),
	    .flags = FG_SF_RESTART, .parse = st_redis_user,
	    .print = fg_print_redis_user },
	{ .name = "relays", .kind = FG_SK_UINT, .off = F(relays),
	    .min = 1, .max = 1000,
	    .hint = "the number of relays sharing the store, from 1 to 1000" },
	{ .name = "release_alarm", .kind = FG_SK_CUSTOM, .off = F(release_alarm),
	    .parse = st_release_alarm, .print = fg_print_release_alarm },
	{ .name = "sendmail_config", .kind = FG_SK_ABSPATH,
	    .off = F(sendmail_config) },
	{ .name = "sendmail_map", .kind = FG_SK_CUSTOM, .off = F(sendmail_map),
	    .flags = FG_SF_RESTART, .parse = st_sendmail_map,
	    .print = fg_print_sendmail_map },
	{ .name = "sendmail_path", .kind = FG_SK_ABSPATH,
	    .off = F(sendmail_path) },
	{ .name = "store", .kind = FG_SK_CUSTOM, .off = F(store),
	    .flags = FG_SF_RESTART, .parse = st_store, .print = fg_print_store },
	{ .name = "user", .kind = FG_SK_PATH, .off = F(user),
	    .flags = FG_SF_RESTART, .unset = "(unchanged)" },
};

const size_t fg_nstatements = sizeof(fg_statements) / sizeof(fg_statements[0]);

int
fg_name_value(const struct fg_name *t, const char *word)
{
	for (; t->name != NULL; t++)
		if (strcmp(t->name, word) == 0)
			return t->value;
	return -1;
}

const char *
fg_name_of(const struct fg_name *t, int value)
{
	for (; t->name != NULL; t++)
		if (t->value == value)
			return t->name;
	return "?";
}

/* "a, b or c" from words (a NULL-terminated list). */
static void
words_list(const char *const *w, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; w[i] != NULL && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
		    i == 0 ? "" : w[i + 1] == NULL ? " or " : ", ", w[i]);
}

void
fg_names_list(const struct fg_name *t, char *buf, size_t len)
{
	const char *w[16];
	size_t n = 0;

	for (; t->name != NULL && n + 1 < sizeof(w) / sizeof(w[0]); t++)
		w[n++] = t->name;
	w[n] = NULL;
	words_list(w, buf, len);
}

const char *
fg_scope_name(enum fg_scope s)
{
	return fg_name_of(fg_scope_names, (int)s);
}

const char *
fg_action_name(enum fg_action a)
{
	return fg_name_of(fg_action_names, (int)a);
}

int
fg_rule_feedback(const struct fg_rule *r)
{
	return r->count == FG_COUNT_UNKNOWN || r->count == FG_COUNT_BOUNCES;
}

static int
push_str(char ***arr, size_t *n, const char *s)
{
	char **a = fg_realloc(*arr, (*n + 1) * sizeof(**arr));

	if (a == NULL)
		return -1;
	*arr = a;
	if ((a[*n] = fg_strdup(s)) == NULL)
		return -1;
	(*n)++;
	return 0;
}

/* Sets (*arr)[i], the array grown to i + 1. */
static int
push_line(int **arr, size_t i, int line)
{
	int *a = fg_realloc(*arr, (i + 1) * sizeof(**arr));

	if (a == NULL)
		return -1;
	*arr = a;
	a[i] = line;
	return 0;
}

static int
stcmp(const void *key, const void *row)
{
	return strcmp(key, ((const struct fg_statement *)row)->name);
}

/*
 * How far apart two short words are: insertions, deletions, changes and
 * swaps of two neighbours (optimal string alignment), at most 3 told.
 */
static size_t
word_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t d[33][33];

	if (la > 32 || lb > 32 || la > lb + 2 || lb > la + 2)
		return 3;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
				c = d[i - 2][j - 2] + 1;
			d[i][j] = c;
		}
	return d[la][lb] < 3 ? d[la][lb] : 3;
}

/* An unknown statement: the list, led by the nearest name when a typo
 * (two edits at most, one for a short word) makes the word. */
static void
unknown_statement(struct fg_lex *lx, const char *kw)
{
	char list[1024], near[64] = "";
	size_t i, o = 0, best = strlen(kw) < 5 ? 2 : 3;

	for (i = 0; i < fg_nstatements && o < sizeof(list); i++) {
		size_t dist = word_distance(kw, fg_statements[i].name);

		if (dist < best) {
			best = dist;
			snprintf(near, sizeof(near), " (did you mean %s?)",
			    fg_statements[i].name);
		}
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
		    i == 0 ? "" : i + 1 == fg_nstatements ? " or " : ", ",
		    fg_statements[i].name);
	}
	fg_lex_error(lx, "\"%s\": unknown statement%s; expected %s", kw, near,
	    list);
}

/* One statement: find its row, check "once", parse by its kind. */
static void
statement(struct fg_lex *lx, struct fg_tok *t, int nt, void *arg)
{
	struct fg_parser *p = arg;
	const struct fg_statement *st;
	const char *kw = t[0].s;
	char *base;
	size_t idx;

	if (fg_nomem_count() != p->nomem)
		return;
	if (p->only != NULL) {
		size_t i;

		for (i = 0; i < p->nonly && strcmp(p->only[i], kw) != 0; i++)
			continue;
		if (i == p->nonly)
			return;
	}
	st = bsearch(kw, fg_statements, fg_nstatements, sizeof(*st), stcmp);
	if (st == NULL) {
		unknown_statement(lx, kw);
		return;
	}
	idx = (size_t)(st - fg_statements);
	if (!(st->flags & FG_SF_REPEAT)) {
		if (p->seen[idx]) {
			perr(p, "%s: given twice (first on line %d)", kw,
			    p->seen[idx]);
			return;
		}
		p->seen[idx] = lx->line;
	}
	/* A word too many is named as such, not blamed on the value. */
	if (!(st->flags & (FG_SF_REPEAT | FG_SF_LIST)) && nt > 2) {
		perr(p, "%s: \"%s\": expected the end of the line (%s takes one value)",
		    kw, t[2].s, kw);
		return;
	}
	base = (char *)p->c;
	switch (st->kind) {
	case FG_SK_PATH:
	case FG_SK_ABSPATH: {
		char **dst = (char **)(void *)(base + st->off);

		if (nt != 2) {
			perr(p, "%s: expected one value", kw);
			return;
		}
		if (st->kind == FG_SK_ABSPATH && t[1].s[0] != '/') {
			perr(p, "%s: \"%s\": expected an absolute path", kw, t[1].s);
			return;
		}
		free(*dst);
		*dst = fg_strdup(t[1].s);
		break;
	}
	case FG_SK_CHOICE: {
		char list[256];
		size_t i;

		for (i = 0; nt == 2 && st->words[i] != NULL; i++) {
			if (strcmp(t[1].s, st->words[i]) == 0) {
				*(int *)(void *)(base + st->off) = (int)i;
				return;
			}
		}
		words_list(st->words, list, sizeof(list));
		perr(p, "%s: %s%s%s: expected %s", kw, nt > 1 ? "\"" : "",
		    nt > 1 ? t[1].s : "no value", nt > 1 ? "\"" : "", list);
		break;
	}
	case FG_SK_UINT:
	case FG_SK_DURATION: {
		uint32_t v;
		int bad = nt != 2;

		if (!bad && st->kind == FG_SK_UINT)
			bad = fg_parse_uint(t[1].s, st->max, &v) < 0 || v < st->min;
		else if (!bad)
			bad = fg_parse_duration(t[1].s, &v) < 0;
		if (bad) {
			perr(p, "%s: %s%s%s: expected %s", kw, nt > 1 ? "\"" : "",
			    nt > 1 ? t[1].s : "no value", nt > 1 ? "\"" : "",
			    st->hint);
			return;
		}
		*(uint32_t *)(void *)(base + st->off) = v;
		break;
	}
	case FG_SK_CUSTOM:
		st->parse(p, t, nt);
		break;
	}
}

/* A domain pattern: "example.jp", "*.example.jp" or "@group". */
static int
add_pattern(struct fg_parser *p, struct fg_dests *d, const char *w)
{
	char norm[FG_DOMAIN_MAX + 3];

	if (w[0] == '@') {
		if (!fg_lex_name(w + 1)) {
			perr(p, "\"%s\": expected @GROUP with a group name", w);
			return -1;
		}
		return push_str(&d->pat, &d->n, w);
	}
	if (w[0] == '*' && w[1] == '.') {
		norm[0] = '*';
		norm[1] = '.';
		if (fg_domain_normalize(w + 2, norm + 2, sizeof(norm) - 2) < 0 ||
		    norm[2] == '[')
			goto bad;
	} else if (w[0] == '*' || strchr(w, '@') != NULL ||
	    fg_domain_normalize(w, norm, sizeof(norm)) < 0)
		goto bad;
	return push_str(&d->pat, &d->n, norm);
bad:
	perr(p, "\"%s\": expected a domain, *.domain or @group", w);
	return -1;
}

/* DESTS after "to": words separated by commas, blanks allowed around them. */
static int
parse_dests(struct fg_parser *p, struct fg_tok *t, int nt, int *i,
    struct fg_dests *d)
{
	char text[1024] = "";
	int more = 1, rc = 0;

	while (*i < nt && more) {
		char *s = t[*i].s, *comma;

		more = 0;
		if (strlen(text) + strlen(s) + 2 < sizeof(text)) {
			if (text[0] != '\0' && s[0] != ',')
				strcat(text, text[strlen(text) - 1] == ',' ? "" : ",");
			strcat(text, s);
		}
		for (;;) {
			comma = strchr(s, ',');
			if (comma != NULL)
				*comma = '\0';
			if (*s != '\0' && add_pattern(p, d, s) < 0)
				rc = -1;
			if (comma == NULL)
				break;
			s = comma + 1;
		}
		(*i)++;
		/* text stays empty when a word was too long to keep (fuzzer). */
		if ((text[0] != '\0' && text[strlen(text) - 1] == ',') ||
		    (*i < nt && t[*i].s[0] == ','))
			more = 1;
	}
	if (d->n == 0 && rc == 0) {
		perr(p, "\"to\": expected destinations (@group, domain, *.domain)");
		rc = -1;
	}
	if ((d->text = fg_strdup(text)) == NULL)
		rc = -1;
	return rc;
}

/* An address or ADDRESS/BITS, read as sessions read a client (see
 * fg_client_addr()): an "IPv6:" tag dropped, an IPv4-mapped network
 * taken as the IPv4 one. */
static int
parse_cidr(const char *s, struct fg_cidr *out)
{
	char buf[64], *slash;
	int max;

	if (fg_strlcpy(buf, fg_ip_untag(s), sizeof(buf)) >= sizeof(buf))
		return -1;
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else
		return -1;
	out->bits = max;
	if (slash != NULL) {
		uint32_t b;

		if (fg_parse_uint(slash, (uint32_t)max, &b) < 0)
			return -1;
		out->bits = (int)b;
	}
	if (out->family == AF_INET6 && out->bits >= 96 &&
	    fg_ip_mapped(out->addr)) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = AF_INET;
		out->bits -= 96;
	}
	return 0;
}

static void
st_listen(struct fg_parser *p, struct fg_tok *t, int nt)
{
	const char *v, *path;

	if (nt != 2) {
		perr(p, "listen: expected one value, unix:PATH or inet:PORT@HOST");
		return;
	}
	v = t[1].s;
	if ((path = fg_net_unix_spec(v)) != NULL) {
		if (path[0] != '/') {
			perr(p, "listen: \"%s\": expected an absolute socket path", v);
			return;
		}
		if (strlen(path) > FG_UNIX_PATH_MAX) {
			perr(p, "listen: \"%s\": socket path longer than %zu bytes",
			    v, FG_UNIX_PATH_MAX);
			return;
		}
	} else if (strncmp(v, "inet:", 5) == 0 || strncmp(v, "inet6:", 6) == 0) {
		char port[FG_NET_PORT_LEN], host[FG_NET_HOST_LEN];
		uint32_t n;

		if (fg_net_inet_split(strchr(v, ':') + 1, port, host) < 0 ||
		    fg_parse_uint(port, 65535, &n) < 0 || n == 0) {
			perr(p, "listen: \"%s\": expected inet:PORT@HOST with a port number", v);
			return;
		}
	} else {
		perr(p, "listen: \"%s\": expected unix:PATH or inet:PORT@HOST", v);
		return;
	}
	free(p->c->listen);
	p->c->listen = fg_strdup(v);
}

/* metrics HOST:PORT, or [IPv6]:PORT: where /metrics is served. */
static void
st_metrics(struct fg_parser *p, struct fg_tok *t, int nt)
{
	char host[64];
	const char *v, *colon;
	uint32_t port;
	unsigned char a[16];
	size_t hl;

	if (nt != 2) {
		perr(p, "metrics: expected one value, HOST:PORT such as 127.0.0.1:9465");
		return;
	}
	v = t[1].s;
	colon = strrchr(v, ':');
	if (colon == NULL || fg_parse_uint(colon + 1, 65535, &port) < 0 || port == 0)
		goto bad;
	hl = (size_t)(colon - v);
	if (hl >= 2 && v[0] == '[' && v[hl - 1] == ']') {
		v++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, v, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1)
		goto bad;
	free(p->c->metrics_host);
	free(p->c->metrics);
	p->c->metrics_host = fg_strdup(host);
	p->c->metrics_port = port;
	p->c->metrics = fg_strdup(t[1].s);
	return;
bad:
	perr(p, "metrics: \"%s\": expected HOST:PORT with an IP address, such as 127.0.0.1:9465", t[1].s);
}

static void
st_account(struct fg_parser *p, struct fg_tok *t, int nt)
{
	int i, used[4] = { 0, 0, 0, 0 };
	size_t n = 0;

	if (nt < 2 || nt > 5) {
		perr(p, "account: expected one to four of sasl, uid, sender, client");
		return;
	}
	for (i = 1; i < nt; i++) {
		int s = fg_name_value(fg_source_names, t[i].s);

		if (s < 0) {
			perr(p, "account: \"%s\": expected sasl, uid, sender or client", t[i].s);
			return;
		}
		if (used[s]++) {
			perr(p, "account: \"%s\" given twice", t[i].s);
			return;
		}
		p->c->source[n++] = (enum fg_source)s;
	}
	p->c->nsource = n;
}

/* max_keys N: at most N (rule, key) windows in memory; 0 for no cap. */
static void
st_max_keys(struct fg_parser *p, struct fg_tok *t, int nt)
{
	uint32_t n;

	if (nt != 2 || fg_parse_uint(t[1].s, 1000000000u, &n) < 0 ||
	    (n > 0 && n < 1000)) {
		perr(p, "max_keys: %s%s%s: expected a number of windows, 0 (no cap) or from 1000 up",
		    nt > 1 ? "\"" : "", nt > 1 ? t[1].s : "no value",
		    nt > 1 ? "\"" : "");
		return;
	}
	p->c->max_keys = n;
}

static void
st_group(struct fg_parser *p, struct fg_tok *t, int nt)
{
	struct fg_config *c = p->c;
	struct fg_group *g;
	struct fg_dests d = { 0 };
	size_t i;
	int k;

	if (nt < 3) {
		perr(p, "group: expected a name and at least one domain");
		return;
	}
	if (!fg_lex_name(t[1].s)) {
		perr(p, "group: \"%s\": expected a name of letters, digits, '-', '_', '.'", t[1].s);
		return;
	}
	g = fg_config_group(c, t[1].s);	/* repeated lines append */
	for (k = 2; k < nt; k++) {
		if (t[k].s[0] == '@') {
			perr(p, "group: \"%s\": groups cannot contain groups", t[k].s);
			continue;
		}
		add_pattern(p, &d, t[k].s);
	}
	if (g == NULL) {
		void *a = fg_realloc(c->group, (c->ngroup + 1) * sizeof(*c->group));

		if (a == NULL)
			goto out;
		c->group = a;
		g = &c->group[c->ngroup++];
		memset(g, 0, sizeof(*g));
		g->name = fg_strdup(t[1].s);
		g->line = p->lx.line;
	}
	for (i = 0; i < d.n; i++)
		push_str(&g->dom, &g->n, d.pat[i]);
out:
	free_dests(&d);
}

/*
 * 1 after saying why when name cannot name a new rule or backoff (what
 * is its statement): floodgatectl's own, or taken by another. Rules and
 * backoffs count in the same table of windows, so one name is one of
 * them.
 */
static int
name_taken(struct fg_parser *p, const char *what, const char *name)
{
	struct fg_config *c = p->c;
	size_t i;

	if (strcmp(name, FG_BY_OPERATOR) == 0) {
		perr(p, "%s: \"%s\": the name of suspensions and pauses made by floodgatectl; expected another name",
		    what, name);
		return 1;
	}
	for (i = 0; i < c->nrule; i++) {
		if (strcmp(c->rule[i].name, name) == 0) {
			perr(p, "%s: \"%s\": name already used by the rule on line %d",
			    what, name, c->rule[i].line);
			return 1;
		}
	}
	for (i = 0; i < c->nbackoff; i++) {
		if (strcmp(c->backoff[i].name, name) == 0) {
			perr(p, "%s: \"%s\": name already used by the backoff on line %d",
			    what, name, c->backoff[i].line);
			return 1;
		}
	}
	return 0;
}

static struct fg_rule *
new_rule(struct fg_parser *p, const char *what, const char *name)
{
	struct fg_config *c = p->c;
	struct fg_rule *r;

	if (!fg_lex_name(name)) {
		perr(p, "%s: \"%s\": expected a rule name of letters, digits, '-', '_', '.' (at most %d)",
		    what, name, FG_NAME_MAX);
		return NULL;
	}
	if (name_taken(p, what, name))
		return NULL;
	if ((r = fg_realloc(c->rule, (c->nrule + 1) * sizeof(*r))) == NULL)
		return NULL;
	c->rule = r;
	r = &c->rule[c->nrule];
	memset(r, 0, sizeof(*r));
	r->name = fg_strdup(name);
	r->line = p->lx.line;
	r->action = FG_ACT_DEFER;
	return r;
}

/* The destinations a group reference is in: a rule's or a backoff's. */
static struct fg_dests *
ref_dests(struct fg_parser *p, const struct pending_ref *r)
{
	return r->backoff ? &p->c->backoff[r->rule].dests :
	    &p->c->rule[r->rule].dests;
}

/* Rules move while the array grows: remember the index, not a pointer. */
static void
remember_refs(struct fg_parser *p, size_t index, int backoff)
{
	struct pending_ref ref = { index, backoff, p->lx.line };
	struct fg_dests *d = ref_dests(p, &ref);
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (d->pat[i][0] == '@') {
			void *a = fg_realloc(p->refs, (p->nrefs + 1) * sizeof(*p->refs));

			if (a == NULL)
				return;
			p->refs = a;
			p->refs[p->nrefs++] = ref;
			return;
		}
	}
}

/*
 * The options after a limit's rate, each "WORD VALUE" and each once:
 * one row and one setter per option.
 */
static int
opt_action(struct fg_parser *p, struct fg_rule *r, const char *v)
{
	int a = fg_name_value(fg_action_names, v);
	char list[128];

	if (a < 0) {
		fg_names_list(fg_action_names, list, sizeof(list));
		perr(p, "limit %s: action \"%s\": expected %s", r->name, v, list);
		return -1;
	}
	r->action = (enum fg_action)a;
	return 0;
}

static int
opt_count(struct fg_parser *p, struct fg_rule *r, const char *v)
{
	int n = fg_name_value(fg_count_names, v);
	char list[128];

	if (n < 0) {
		fg_names_list(fg_count_names, list, sizeof(list));
		perr(p, "limit %s: count \"%s\": expected %s", r->name, v, list);
		return -1;
	}
	r->count = (enum fg_count)n;
	r->count_messages = n == FG_COUNT_MESSAGES;
	return 0;
}

/* ratio P%: with a feedback count, trip only while what it counts is
 * at least P% of the recipients with a final result in the window. */
static int
opt_ratio(struct fg_parser *p, struct fg_rule *r, const char *v)
{
	char num[8];
	size_t len = strlen(v);
	uint32_t n;

	if (len < 2 || len > sizeof(num) || v[len - 1] != '%' ||
	    (memcpy(num, v, len - 1), num[len - 1] = '\0',
	    fg_parse_uint(num, 100, &n) < 0) || n == 0) {
		perr(p, "limit %s: ratio \"%s\": expected a percentage from 1%% to 100%%, such as 30%%",
		    r->name, v);
		return -1;
	}
	r->ratio = n;
	return 0;
}

/*
 * The text goes into an SMTP reply: one line, at most 200 characters,
 * and no '%' but the %r that stands for the retry time.
 */
static int
opt_reply(struct fg_parser *p, struct fg_rule *r, const char *v)
{
	const char *q;

	for (q = v; *q != '\0'; q++) {
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			break;
		if (*q == '%') {
			if (q[1] != 'r')
				break;
			q++;
		}
	}
	if (*q != '\0' || strlen(v) > 200 || *v == '\0') {
		perr(p, "limit %s: reply: expected one line of text, at most 200 characters, with no '%%' but %%r (the retry time)",
		    r->name);
		return -1;
	}
	free(r->reply);
	r->reply = fg_strdup(v);
	return 0;
}

static const struct limit_opt {
	const char *name;
	int (*set)(struct fg_parser *p, struct fg_rule *r, const char *v);
} limit_opts[] = {
	{ "action", opt_action },
	{ "count", opt_count },
	{ "ratio", opt_ratio },
	{ "reply", opt_reply },
};

#define NLIMIT_OPTS	(sizeof(limit_opts) / sizeof(limit_opts[0]))

/* limit NAME per SCOPE [to DESTS] N/PERIOD [OPTION VALUE]... */
static void
st_limit(struct fg_parser *p, struct fg_tok *t, int nt)
{
	struct fg_rule r0, *r;
	int i = 4, bad = 0, scope, seen[NLIMIT_OPTS] = { 0 };
	char list[128];

	if (nt < 4 || strcmp(t[2].s, "per") != 0) {
		perr(p, "limit: expected limit NAME per SCOPE [to DESTS] N/PERIOD [action A] [count recipients|messages|unknown|bounces] [ratio P%%] [reply \"TEXT\"]");
		return;
	}
	memset(&r0, 0, sizeof(r0));
	r0.name = t[1].s;
	r0.action = FG_ACT_DEFER;
	if ((scope = fg_name_value(fg_scope_names, t[3].s)) < 0) {
		fg_names_list(fg_scope_names, list, sizeof(list));
		perr(p, "limit %s: \"%s\": expected a scope: %s", t[1].s, t[3].s,
		    list);
		return;
	}
	r0.scope = (enum fg_scope)scope;
	if (i < nt && strcmp(t[i].s, "to") == 0) {
		i++;
		if (parse_dests(p, t, nt, &i, &r0.dests) < 0)
			bad = 1;
	}
	if (i >= nt) {
		perr(p, "limit %s: expected a rate N/PERIOD such as 200/1h", t[1].s);
		free_dests(&r0.dests);
		return;
	}
	if (fg_parse_rate(t[i].s, &r0.limit, &r0.period) < 0) {
		perr(p, "limit %s: \"%s\": expected a rate N/PERIOD such as 200/1h (PERIOD: 30s, 10m, 1h, 1d; at most 366d)",
		    t[1].s, t[i].s);
		bad = 1;
	}
	for (i++; i < nt; i += 2) {
		const char *k = t[i].s, *v = i + 1 < nt ? t[i + 1].s : NULL;
		size_t o;

		for (o = 0; o < NLIMIT_OPTS; o++)
			if (strcmp(k, limit_opts[o].name) == 0)
				break;
		if (o == NLIMIT_OPTS && strcmp(k, "to") == 0) {
			perr(p, "limit %s: \"to\": expected before the rate (limit NAME per SCOPE [to DESTS] N/PERIOD ...)",
			    t[1].s);
			bad = 1;
			break;		/* the rest are its destinations */
		} else if (o == NLIMIT_OPTS) {
			const char *w[NLIMIT_OPTS + 1];

			for (o = 0; o < NLIMIT_OPTS; o++)
				w[o] = limit_opts[o].name;
			w[o] = NULL;
			words_list(w, list, sizeof(list));
			perr(p, "limit %s: \"%s\": expected %s", t[1].s, k, list);
			bad = 1;
		} else if (v == NULL) {
			perr(p, "limit %s: \"%s\": expected a value after it", t[1].s, k);
			bad = 1;
		} else if (seen[o]++) {
			perr(p, "limit %s: \"%s\" given twice", t[1].s, k);
			bad = 1;
		} else if (limit_opts[o].set(p, &r0, v) < 0)
			bad = 1;
	}
	if (!bad && r0.ratio > 0 && !fg_rule_feedback(&r0)) {
		perr(p, "limit %s: ratio: expected with count unknown or count bounces", t[1].s);
		bad = 1;
	}
	if (!bad && fg_rule_feedback(&r0) && r0.limit == 0) {
		perr(p, "limit %s: count %s: expected a rate of at least 1 result, such as 20/1h",
		    t[1].s, fg_name_of(fg_count_names, (int)r0.count));
		bad = 1;
	}
	if (!bad && r0.action == FG_ACT_SUSPEND &&
	    r0.scope != FG_SCOPE_ACCOUNT && r0.scope != FG_SCOPE_ACCOUNT_DOMAIN) {
		perr(p, "limit %s: action suspend per %s: expected a scope of account or account+domain (suspend stops one account)",
		    t[1].s, fg_scope_name(r0.scope));
		bad = 1;
	}
	if (!bad && fg_rule_feedback(&r0) && r0.scope == FG_SCOPE_CLIENT) {
		perr(p, "limit %s: count %s per client: expected a scope of account, account+domain, domain or server (the delivery log knows no client)",
		    t[1].s, fg_name_of(fg_count_names, (int)r0.count));
		bad = 1;
	}
	if (bad || (r = new_rule(p, "limit", t[1].s)) == NULL) {
		free_dests(&r0.dests);
		free(r0.reply);
		return;
	}
	r0.name = r->name;
	r0.line = r->line;
	*r = r0;
	remember_refs(p, p->c->nrule++, 0);
}

/* cap NAME [to DESTS] N */
static void
st_cap(struct fg_parser *p, struct fg_tok *t, int nt)
{
	struct fg_rule *r;
	struct fg_dests d = { 0 };
	uint32_t n;
	int i = 2;

	if (nt < 3) {
		perr(p, "cap: expected cap NAME [to DESTS] N");
		return;
	}
	if (strcmp(t[i].s, "to") == 0) {
		i++;
		if (parse_dests(p, t, nt, &i, &d) < 0) {
			free_dests(&d);
			return;
		}
	}
	if (i >= nt || fg_parse_uint(t[i].s, 1000000, &n) < 0 || n == 0) {
		perr(p, "cap %s: %s%s%s: expected the number of recipients per message, such as 100",
		    t[1].s, i < nt ? "\"" : "", i < nt ? t[nt - 1].s : "nothing",
		    i < nt ? "\"" : "");
		free_dests(&d);
		return;
	}
	if (i != nt - 1) {
		perr(p, "cap %s: \"%s\": expected the end of the line (cap NAME [to DESTS] N: a cap has no options)",
		    t[1].s, t[i + 1].s);
		free_dests(&d);
		return;
	}
	if ((r = new_rule(p, "cap", t[1].s)) == NULL) {
		free_dests(&d);
		return;
	}
	r->is_cap = 1;
	r->dests = d;
	r->limit = n;
	r->action = FG_ACT_DEFER;
	remember_refs(p, p->c->nrule++, 0);
}

/* override RULE ACCOUNT N/PERIOD */
static void
st_override(struct fg_parser *p, struct fg_tok *t, int nt)
{
	struct pending_ov *o;
	void *a;

	if (nt > 4) {
		perr(p, "override %s: \"%s\": expected the end of the line (override RULE ACCOUNT N/PERIOD)",
		    t[1].s, t[4].s);
		return;
	}
	if (nt != 4) {
		perr(p, "override: expected override RULE ACCOUNT N/PERIOD");
		return;
	}
	if ((a = fg_realloc(p->ovs, (p->novs + 1) * sizeof(*p->ovs))) == NULL)
		return;
	p->ovs = a;
	o = &p->ovs[p->novs];
	memset(o, 0, sizeof(*o));
	if (fg_parse_rate(t[3].s, &o->ov.limit, &o->ov.period) < 0) {
		perr(p, "override %s: \"%s\": expected a rate N/PERIOD such as 5000/1d", t[1].s, t[3].s);
		return;
	}
	if ((o->ov.account = fg_account_key(t[2].s)) == NULL) {
		perr(p, "override %s: \"%s\": expected an account (login, address or tenant name)", t[1].s, t[2].s);
		return;
	}
	o->rule = fg_strdup(t[1].s);
	o->ov.line = p->lx.line;
	p->novs++;
	if (p->c->names_line == 0)
		p->c->names_line = p->lx.line;
}

/* exempt account|client|domain VALUE... */
static void
st_exempt(struct fg_parser *p, struct fg_tok *t, int nt)
{
	struct fg_config *c = p->c;
	int i;

	if (nt < 3) {
		perr(p, "exempt: expected exempt account|client|domain VALUE...");
		return;
	}
	for (i = 2; i < nt; i++) {
		if (strcmp(t[1].s, "account") == 0) {
			char *k = fg_account_key(t[i].s);

			if (k == NULL) {
				perr(p, "exempt account: \"%s\": expected a login, address or tenant name", t[i].s);
				continue;
			}
			if (c->names_line == 0)
				c->names_line = p->lx.line;
			if (push_line(&c->ex_account_line, c->nex_account,
			    p->lx.line) == 0)
				push_str(&c->ex_account, &c->nex_account, k);
			free(k);
		} else if (strcmp(t[1].s, "client") == 0) {
			struct fg_cidr cidr;
			void *a;

			if (parse_cidr(t[i].s, &cidr) < 0) {
				perr(p, "exempt client: \"%s\": expected an IP address or ADDRESS/BITS", t[i].s);
				continue;
			}
			a = fg_realloc(c->ex_client, (c->nex_client + 1) * sizeof(cidr));
			if (a == NULL)
				return;
			c->ex_client = a;
			c->ex_client[c->nex_client++] = cidr;
		} else if (strcmp(t[1].s, "domain") == 0) {
			if (t[i].s[0] == '@') {
				perr(p, "exempt domain: \"%s\": expected a domain or *.domain", t[i].s);
				continue;
			}
			add_pattern(p, &c->ex_domain, t[i].s);
		} else {
			perr(p, "exempt: \"%s\": expected account, client or domain", t[1].s);
			return;
		}
	}
}

/* backoff NAME [to DESTS] after N/PERIOD [on 4xx|connect|any] for D [max M] */
static void
st_backoff(struct fg_parser *p, struct fg_tok *t, int nt)
{
	struct fg_config *c = p->c;
	struct fg_backoff b;
	int i = 2, f;
	void *a;
	char list[64];

	memset(&b, 0, sizeof(b));
	b.on = FG_FAIL_4XX | FG_FAIL_CONNECT;
	b.max = FG_DEFAULT_BACKOFF_MAX;
	if (nt < 6 || !fg_lex_name(t[1].s)) {
		perr(p, "backoff: expected backoff NAME [to DESTS] after N/PERIOD [on 4xx|connect|any] for DURATION [max DURATION]");
		return;
	}
	if (name_taken(p, "backoff", t[1].s))
		return;
	if (strcmp(t[i].s, "to") == 0) {
		i++;
		if (parse_dests(p, t, nt, &i, &b.dests) < 0)
			goto bad;
	}
	if (i + 1 >= nt || strcmp(t[i].s, "after") != 0 ||
	    fg_parse_rate(t[i + 1].s, &b.limit, &b.period) < 0 || b.limit == 0) {
		perr(p, "backoff %s: expected after N/PERIOD, the temporary failures that pause a domain, such as after 5/10m",
		    t[1].s);
		goto bad;
	}
	i += 2;
	if (i < nt && strcmp(t[i].s, "on") == 0) {
		if (i + 1 >= nt || (f = fg_name_value(fail_names, t[i + 1].s)) < 0) {
			fg_names_list(fail_names, list, sizeof(list));
			perr(p, "backoff %s: on %s%s%s: expected %s", t[1].s,
			    i + 1 < nt ? "\"" : "", i + 1 < nt ? t[i + 1].s : "nothing",
			    i + 1 < nt ? "\"" : "", list);
			goto bad;
		}
		b.on = (unsigned)f;
		i += 2;
	}
	if (i + 1 >= nt || strcmp(t[i].s, "for") != 0 ||
	    fg_parse_duration(t[i + 1].s, &b.duration) < 0) {
		perr(p, "backoff %s: expected for DURATION, how long a domain is paused, such as for 1h",
		    t[1].s);
		goto bad;
	}
	i += 2;
	if (i < nt && strcmp(t[i].s, "max") == 0) {
		if (i + 1 >= nt || fg_parse_duration(t[i + 1].s, &b.max) < 0) {
			perr(p, "backoff %s: expected max DURATION, the longest pause, such as max 12h",
			    t[1].s);
			goto bad;
		}
		if (b.max < b.duration) {
			perr(p, "backoff %s: max %s: expected the longest pause, at least the first (for %s)",
			    t[1].s, t[i + 1].s, t[i - 1].s);
			goto bad;
		}
		i += 2;
	}
	if (i != nt) {
		perr(p, "backoff %s: \"%s\": expected nothing more (max DURATION is the last)",
		    t[1].s, t[i].s);
		goto bad;
	}
	if (b.max < b.duration)
		b.max = b.duration;
	if ((a = fg_realloc(c->backoff, (c->nbackoff + 1) * sizeof(b))) == NULL)
		goto bad;
	c->backoff = a;
	b.name = fg_strdup(t[1].s);
	b.line = p->lx.line;
	c->backoff[c->nbackoff] = b;
	remember_refs(p, c->nbackoff++, 1);
	return;
bad:
	free_dests(&b.dests);
}

/* delivery_log PATH | journal | journal:DIR */
static void
st_delivery_log(struct fg_parser *p, struct fg_tok *t, int nt)
{
	if (nt != 2 || (t[1].s[0] != '/' && strcmp(t[1].s, "journal") != 0 &&
	    strncmp(t[1].s, "journal:/", 9) != 0)) {
		perr(p, "delivery_log: %s%s%s: expected an absolute path of the log the MTA writes to (mail.log, maillog_file), journal, or journal:DIR",
		    nt > 1 ? "\"" : "", nt > 1 ? t[1].s : "no value", nt > 1 ? "\"" : "");
		return;
	}
	free(p->c->delivery_log);
	p->c->delivery_log = fg_strdup(t[1].s);
}

/* A user name as useradd takes it (a letter or _ first, then letters,
 * digits, _, - and ., at most 32 bytes), or a user ID (digits: the
 * journal of another machine, whose users this one may not have). */
static int
user_name(const char *s)
{
	uint32_t uid;
	size_t i;

	if (isdigit((unsigned char)s[0]))
		return fg_parse_uint(s, FG_UID_MAX, &uid) == 0;
	if (!isalpha((unsigned char)s[0]) && s[0] != '_')
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("_-.", s[i]) == NULL)
			return 0;
	return i <= 32;
}

/* delivery_log_users USER...: whose journal entries are the mail
 * system's (the journal knows who wrote an entry; a file does not). */
static void
st_log_users(struct fg_parser *p, struct fg_tok *t, int nt)
{
	char buf[FG_LOG_USERS_MAX * 33];
	size_t o = 0;
	int i;

	if (nt < 2 || nt > FG_LOG_USERS_MAX + 1) {
		perr(p, "delivery_log_users: expected one to %d user names or IDs (the users the mail system logs as, such as root postfix)",
		    FG_LOG_USERS_MAX);
		return;
	}
	for (i = 1; i < nt; i++) {
		if (!user_name(t[i].s)) {
			perr(p, "delivery_log_users: \"%s\": expected a user name or ID (the users the mail system logs as, such as root postfix)",
			    t[i].s);
			return;
		}
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s",
		    i > 1 ? " " : "", t[i].s);
	}
	free(p->c->log_users);
	p->c->log_users = fg_strdup(buf);
}

/* Whether a redis URL names a user or password (USER[:PASSWORD]@ before
 * the host, or before the socket's path). */
static int
userinfo(const char *v)
{
	const char *a, *end;

	if (strncmp(v, "redis://", 8) == 0)
		a = v + 8;
	else if (strncmp(v, "redis+unix://", 13) == 0)
		a = v + 13;
	else
		return 0;
	end = a + strcspn(a, "/?");
	return memchr(a, '@', (size_t)(end - a)) != NULL;
}

#define REDIS_PORT	6379u

/*
 * store sqlite | redis://HOST[:PORT][/DB] | redis+unix:///PATH[?db=N]:
 * where windows, reservations, feedback counts, suspensions and pauses
 * live. HOST may be a name, an IPv4 address or [IPv6]; PORT defaults to
 * Redis's own (6379), as in redis-cli's URLs.
 */
static void
st_store(struct fg_parser *p, struct fg_tok *t, int nt)
{
	struct fg_config *c = p->c;
	const char *v = nt == 2 ? t[1].s : NULL, *q, *after;
	char host[256], url[sizeof(host) + 32], *end;
	unsigned long port, db = 0;
	size_t hl;

	if (v != NULL && strcmp(v, "sqlite") == 0) {
		free(c->store);
		c->store = NULL;
		return;
	}
	if (v != NULL && userinfo(v)) {
		/* Not echoed: the value may hold a password. */
		perr(p, "store: a user or password in the URL is not read (nor logged): write redis://HOST[:PORT][/DB] or redis+unix:///PATH[?db=N], with redis_user NAME and redis_password_file PATH");
		return;
	}
	if (v != NULL && strncmp(v, "redis://", 8) == 0) {
		q = v + 8;
		if (*q == '[') {
			if ((end = strchr(q, ']')) == NULL)
				goto bad;
			hl = (size_t)(end - q - 1);
			q++;
			end++;
		} else {
			if ((end = strpbrk(q, ":/")) == NULL)
				end = strchr(q, '\0');
			hl = (size_t)(end - q);
		}
		if (hl == 0 || hl >= sizeof(host) ||
		    (*end != ':' && *end != '/' && *end != '\0'))
			goto bad;
		memcpy(host, q, hl);
		host[hl] = '\0';
		after = end;
		port = 0;
		if (*end == ':') {
			q = end + 1;
			if (*q < '0' || *q > '9')
				goto bad;
			port = strtoul(q, &end, 10);
			if (port == 0 || port > 65535)
				goto bad;
		}
		if (*end == '/') {
			q = end + 1;
			if (*q < '0' || *q > '9')
				goto bad;
			db = strtoul(q, &end, 10);
		}
		if (*end != '\0' || db > 1000)
			goto bad;
		if (port == 0) {
			/* Named with the port, as one that gave it: the
			 * same Redis is the same store (its marks and the
			 * charges kept for it are under this name). */
			if ((size_t)snprintf(url, sizeof(url), "%.*s:%u%s",
			    (int)(after - v), v, REDIS_PORT, after) >=
			    sizeof(url))
				goto bad;
			v = url;
			port = REDIS_PORT;
		}
		free(c->redis_host);
		free(c->redis_path);
		c->redis_host = fg_strdup(host);
		c->redis_path = NULL;
		c->redis_port = (unsigned)port;
	} else if (v != NULL && strncmp(v, "redis+unix:///", 14) == 0) {
		q = v + 13;
		end = strchr(q, '?');
		hl = end != NULL ? (size_t)(end - q) : strlen(q);
		if (hl < 2 || hl >= sizeof(host))
			goto bad;
		if (end != NULL) {
			if (strncmp(end, "?db=", 4) != 0 || end[4] < '0' ||
			    end[4] > '9')
				goto bad;
			db = strtoul(end + 4, &end, 10);
			if (*end != '\0' || db > 1000)
				goto bad;
		}
		memcpy(host, q, hl);
		host[hl] = '\0';
		free(c->redis_host);
		free(c->redis_path);
		c->redis_host = NULL;
		c->redis_path = fg_strdup(host);
		c->redis_port = 0;
	} else
		goto bad;
	c->redis_db = (unsigned)db;
	free(c->store);
	c->store = fg_strdup(v);
	return;
bad:
	perr(p, "store: %s%s%s: expected sqlite, redis://HOST[:PORT][/DB] or redis+unix:///PATH[?db=N]",
	    v ? "\"" : "", v ? v : "no value",
	    v ? "\"" : "");
}

/* redis_timeout 50ms | 2s: how long a decision waits for Redis. */
static void
st_redis_timeout(struct fg_parser *p, struct fg_tok *t, int nt)
{
	const char *v = nt == 2 ? t[1].s : NULL;
	unsigned long n = 0;
	char *end = NULL;

	if (v != NULL && *v >= '0' && *v <= '9')
		n = strtoul(v, &end, 10);
	if (end != NULL && strcmp(end, "s") == 0 && n <= 10)
		n *= 1000;
	else if (end == NULL || strcmp(end, "ms") != 0)
		n = 0;
	if (n < 1 || n > 10000) {
		perr(p, "redis_timeout: %s%s%s: expected a duration from 1ms to 10s, such as 50ms",
		    v ? "\"" : "", v ? v : "no value", v ? "\"" : "");
		return;
	}
	p->c->redis_timeout = (uint32_t)n;
}

/*
 * release_alarm 10m | off: how long held mail may wait with no
 * floodgatectl release run before floodgate says so (a `release`
 * incident).
 */
static void
st_release_alarm(struct fg_parser *p, struct fg_tok *t, int nt)
{
	const char *v = nt == 2 ? t[1].s : NULL;
	uint32_t secs;

	if (v != NULL && strcmp(v, "off") == 0)
		secs = 0;
	else if (v == NULL || fg_parse_duration(v, &secs) < 0) {
		perr(p, "release_alarm: %s%s%s: expected a duration such as 10m, or off",
		    v ? "\"" : "", v ? v : "no value", v ? "\"" : "");
		return;
	}
	p->c->release_alarm = secs;
}

/* redis_prefix NAME: the hash tag of this installation's keys. */
static void
st_redis_prefix(struct fg_parser *p, struct fg_tok *t, int nt)
{
	const char *v = nt == 2 ? t[1].s : NULL;

	if (v == NULL || !fg_rlimit_prefix_ok(v)) {
		perr(p, "redis_prefix: %s%s%s: expected 1 to %d letters, digits, '-', '_' or '.'",
		    v ? "\"" : "", v ? v : "no value", v ? "\"" : "",
		    FG_RPREFIX_MAX);
		return;
	}
	free(p->c->redis_prefix);
	p->c->redis_prefix = fg_strdup(v);
}

/*
 * redis_user NAME: the ACL user floodgate logs in as (AUTH NAME
 * PASSWORD), with the password of redis_password_file.
 */
static void
st_redis_user(struct fg_parser *p, struct fg_tok *t, int nt)
{
	const char *v = nt == 2 ? t[1].s : NULL, *s;

	for (s = v; s != NULL && *s > ' ' && *s < 0x7f; s++)
		;
	if (v == NULL || *v == '\0' || *s != '\0' || s - v > FG_RUSER_MAX) {
		perr(p, "redis_user: %s%s%s: expected a Redis ACL user name, 1 to %d printable characters without spaces",
		    v ? "\"" : "", v ? v : "no value",
		    v ? "\"" : "", FG_RUSER_MAX);
		return;
	}
	free(p->c->redis_user);
	p->c->redis_user = fg_strdup(v);
}

/* A socket-map statement's unix:PATH, into *to. */
static void
mta_map(struct fg_parser *p, struct fg_tok *t, int nt, char **to)
{
	const char *path = nt == 2 ? fg_net_unix_spec(t[1].s) : NULL;

	if (path == NULL || path[0] != '/' || strlen(path) > FG_UNIX_PATH_MAX) {
		perr(p, "%s: %s%s%s: expected unix:PATH, an absolute socket path of at most %zu bytes",
		    t[0].s, nt > 1 ? "\"" : "", nt > 1 ? t[1].s : "no value",
		    nt > 1 ? "\"" : "", FG_UNIX_PATH_MAX);
		return;
	}
	free(*to);
	*to = fg_strdup(t[1].s);
}

/* postfix_map unix:PATH (the socketmap server for transport_maps) */
static void
st_postfix_map(struct fg_parser *p, struct fg_tok *t, int nt)
{
	mta_map(p, t, nt, &p->c->postfix_map);
}

/* sendmail_map unix:PATH (the socket map of Sendmail's ruleset 0) */
static void
st_sendmail_map(struct fg_parser *p, struct fg_tok *t, int nt)
{
	mta_map(p, t, nt, &p->c->sendmail_map);
}

/* notify mailto:ADDRESS|exec:PATH [on EVENT,...] */
static void
st_notify(struct fg_parser *p, struct fg_tok *t, int nt)
{
	struct fg_config *c = p->c;
	struct fg_notify n;
	char list[128], *ev, *save = NULL;
	void *a;

	memset(&n, 0, sizeof(n));
	n.events = FG_EV_DEFAULT;
	n.line = p->lx.line;
	if (nt != 2 && !(nt == 4 && strcmp(t[2].s, "on") == 0)) {
		perr(p, "notify: expected notify mailto:ADDRESS|exec:PATH [on EVENT,...]");
		return;
	}
	if (strncmp(t[1].s, "mailto:", 7) == 0) {
		struct fg_addr addr;

		if (fg_addr_parse(t[1].s + 7, &addr, NULL, 0) != FG_ADDR_OK ||
		    addr.domain[0] == '\0') {
			perr(p, "notify: \"%s\": expected mailto:ADDRESS with an address user@domain",
			    t[1].s);
			return;
		}
		n.mailto = 1;
	} else if (strncmp(t[1].s, "exec:", 5) != 0 || t[1].s[5] != '/') {
		perr(p, "notify: \"%s\": expected mailto:ADDRESS or exec:PATH with an absolute path",
		    t[1].s);
		return;
	}
	if (nt == 4) {
		n.events = 0;
		for (ev = strtok_r(t[3].s, ",", &save); ev != NULL;
		    ev = strtok_r(NULL, ",", &save)) {
			int e = fg_name_value(fg_event_names, ev);

			if (e < 0) {
				fg_names_list(fg_event_names, list, sizeof(list));
				perr(p, "notify: event \"%s\": expected %s", ev, list);
				return;
			}
			n.events |= (unsigned)e;
		}
		if (n.events == 0) {
			perr(p, "notify: on: expected at least one event");
			return;
		}
	}
	if ((a = fg_realloc(c->notify, (c->nnotify + 1) * sizeof(n))) == NULL)
		return;
	c->notify = a;
	n.target = fg_strdup(t[1].s);
	n.what = fg_strdup(t[1].s + (n.mailto ? 7 : 5));
	c->notify[c->nnotify++] = n;
}

/* notify_from ADDRESS: user@domain, or a local part the MTA completes. */
static void
st_notify_from(struct fg_parser *p, struct fg_tok *t, int nt)
{
	struct fg_addr addr;

	if (nt != 2 || fg_addr_parse(t[1].s, &addr, NULL, 0) != FG_ADDR_OK ||
	    addr.local[0] == '\0' || strchr(t[1].s, '+') != NULL) {
		perr(p, "notify_from: %s%s%s: expected an envelope sender such as floodgate@example.jp or floodgate, without a +extension (floodgate adds one)",
		    nt > 1 ? "\"" : "", nt > 1 ? t[1].s : "no value",
		    nt > 1 ? "\"" : "");
		return;
	}
	free(p->c->notify_from);
	p->c->notify_from = fg_strdup(t[1].s);
}

/* Expand @group references and attach overrides to their rules. */
static void
resolve(struct fg_parser *p)
{
	struct fg_config *c = p->c;
	size_t i, j, k;

	for (i = 0; i < p->nrefs; i++) {
		struct fg_dests *d = ref_dests(p, &p->refs[i]), nd = { 0 };

		p->lx.line = p->refs[i].line;
		for (j = 0; j < d->n; j++) {
			const struct fg_group *g;

			if (d->pat[j][0] != '@') {
				push_str(&nd.pat, &nd.n, d->pat[j]);
				continue;
			}
			if ((g = fg_config_group(c, d->pat[j] + 1)) == NULL) {
				perr(p, "\"%s\": no such group (define it with: group %s DOMAIN...)",
				    d->pat[j], d->pat[j] + 1);
				continue;
			}
			for (k = 0; k < g->n; k++)
				push_str(&nd.pat, &nd.n, g->dom[k]);
		}
		for (j = 0; j < d->n; j++)
			free(d->pat[j]);
		free(d->pat);
		d->pat = nd.pat;
		d->n = nd.n;
	}
	for (i = 0; i < p->novs; i++) {
		struct pending_ov *o = &p->ovs[i];
		struct fg_rule *r = NULL;

		p->lx.line = o->ov.line;
		for (j = 0; j < c->nrule; j++)
			if (strcmp(c->rule[j].name, o->rule) == 0)
				r = &c->rule[j];
		if (r == NULL || r->is_cap) {
			perr(p, "override: \"%s\": no such limit rule", o->rule);
			continue;
		}
		if (r->scope != FG_SCOPE_ACCOUNT &&
		    r->scope != FG_SCOPE_ACCOUNT_DOMAIN) {
			perr(p, "override: rule \"%s\" counts per %s: expected a rule per account or account+domain",
			    o->rule, fg_scope_name(r->scope));
			continue;
		}
		for (j = 0; j < r->nov; j++) {
			if (strcmp(r->ov[j].account, o->ov.account) == 0) {
				perr(p, "override: %s for %s already given on line %d",
				    o->rule, o->ov.account, r->ov[j].line);
				break;
			}
		}
		if (j < r->nov)
			continue;
		{
			void *a = fg_realloc(r->ov, (r->nov + 1) * sizeof(*r->ov));

			if (a == NULL)
				continue;
			r->ov = a;
			r->ov[r->nov++] = o->ov;
			o->ov.account = NULL;
		}
	}
}

/* The account map, named relative to the config file if not absolute. */
static void
load_map(struct fg_parser *p, const char *cfgpath)
{
	struct fg_config *c = p->c;
	char mpath[4096];

	if (c->account_map[0] != '/' && strchr(cfgpath, '/') != NULL) {
		int dl = (int)(strrchr(cfgpath, '/') - cfgpath);

		snprintf(mpath, sizeof(mpath), "%.*s/%s", dl, cfgpath,
		    c->account_map);
	} else
		fg_strlcpy(mpath, c->account_map, sizeof(mpath));
	p->lx.file = cfgpath;
	p->lx.line = p->seen_map;
	if (fg_account_map_load(&p->lx, mpath, &c->map, &c->nmap) < 0) {
		perr(p, "account_map: cannot open %s: %s", mpath, strerror(errno));
		return;
	}
	{
		struct stat st;

		if (stat(mpath, &st) == 0)
			c->map_mode = (unsigned)(st.st_mode & 07777);
	}
}

/* The line a statement was given on, or 0. */
static int
seen(const int *lines, const char *name)
{
	size_t i;

	for (i = 0; lines != NULL && i < fg_nstatements; i++)
		if (strcmp(fg_statements[i].name, name) == 0)
			return lines[i];
	return 0;
}

int
fg_config_line(const struct fg_config *c, const char *name)
{
	return seen(c->lines, name);
}

const char *
fg_submit_cf(const struct fg_config *c, char *buf, size_t len)
{
	const char *slash = strrchr(c->sendmail_config, '/');

	if (strcmp(c->sendmail_config, FG_DEFAULT_SENDMAIL_CF) == 0 ||
	    slash == NULL)
		return NULL;
	snprintf(buf, len, "%.*s/submit.cf", (int)(slash - c->sendmail_config),
	    c->sendmail_config);
	return buf;
}

static struct fg_config *
load(const char *path, const char *const *only, size_t nonly, char *err,
    size_t errlen)
{
	struct fg_parser p;
	struct fg_config *c;
	unsigned long nomem = fg_nomem_count();
	size_t i;

	if (errlen > 0)
		err[0] = '\0';
	if ((c = fg_calloc(1, sizeof(*c))) == NULL) {
		fg_seterr(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&c->refs, 1);
	c->path = fg_strdup(path);
	c->loaded = time(NULL);
	{
		struct stat st;

		if (stat(path, &st) == 0)
			c->mode = (unsigned)(st.st_mode & 07777);
	}
	c->listen = fg_strdup(FG_DEFAULT_LISTEN);
	c->control = fg_strdup(FG_DEFAULT_CONTROL);
	c->database = fg_strdup(FG_DEFAULT_DATABASE);
	c->postfix_config = fg_strdup(FG_DEFAULT_POSTFIX);
	c->sendmail_path = fg_strdup(FG_DEFAULT_SENDMAIL);
	c->sendmail_config = fg_strdup(FG_DEFAULT_SENDMAIL_CF);
	c->max_keys = FG_DEFAULT_MAX_KEYS;
	c->max_connections = FG_DEFAULT_MAX_CONNECTIONS;
	c->delivery_retention = FG_DEFAULT_RETENTION;
	c->notify_max = FG_DEFAULT_NOTIFY_MAX;
	c->release_alarm = FG_DEFAULT_RELEASE_ALARM;
	c->redis_timeout = FG_DEFAULT_REDIS_TIMEOUT;
	c->relays = 1;
	c->redis_ttl = FG_DEFAULT_REDIS_TTL;
	c->redis_prefix = fg_strdup(FG_DEFAULT_REDIS_PREFIX);
	c->source[0] = FG_SRC_SASL;
	c->source[1] = FG_SRC_SENDER;
	c->source[2] = FG_SRC_CLIENT;
	c->nsource = 3;
	memset(&p, 0, sizeof(p));
	p.lx.file = path;
	p.lx.err = err;
	p.lx.errlen = errlen;
	p.c = c;
	p.only = only;
	p.nonly = nonly;
	p.nomem = nomem;
	if ((p.seen = fg_calloc(fg_nstatements, sizeof(*p.seen))) == NULL) {
		fg_seterr(err, errlen, "out of memory");
		config_free(c);
		return NULL;
	}
	if (fg_lex_file(&p.lx, path, statement, &p) < 0 && p.lx.nerr == 0) {
		fg_seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		free(p.seen);
		config_free(c);
		return NULL;
	}
	p.lx.file = path;
	if (fg_nomem_count() == nomem) {
		resolve(&p);
		for (i = 0; i < c->nrule; i++)
			fg_dests_index(&c->rule[i].dests);
		for (i = 0; i < c->nbackoff; i++)
			fg_dests_index(&c->backoff[i].dests);
		fg_dests_index(&c->ex_domain);
	}
	p.seen_map = seen(p.seen, "account_map");
	if (c->account_map != NULL)
		load_map(&p, path);
	if (c->postfix_map != NULL && c->sendmail_map != NULL &&
	    strcmp(fg_net_unix_spec(c->postfix_map),
	    fg_net_unix_spec(c->sendmail_map)) == 0) {
		p.lx.line = seen(p.seen, "sendmail_map");
		perr(&p, "sendmail_map %s: postfix_map serves that socket already (each needs its own)",
		    c->sendmail_map);
	}
	if (c->redis_user != NULL && c->redis_password_file == NULL) {
		p.lx.line = seen(p.seen, "redis_user");
		perr(&p, "redis_user %s: needs redis_password_file (Redis takes a user's password with its name)",
		    c->redis_user);
	}
	c->lines = p.seen;
	free(p.refs);
	for (i = 0; i < p.novs; i++) {
		free(p.ovs[i].rule);
		free(p.ovs[i].ov.account);
	}
	free(p.ovs);
	/* Whatever a parser did on meeting it, the configuration may lack
	 * a part: none of it is used (a reload keeps the one running). */
	if (fg_nomem_count() != nomem) {
		fg_seterr(err, errlen, "%s: out of memory while reading it (not loaded)",
		    path);
		config_free(c);
		return NULL;
	}
	if (p.lx.nerr > 0) {
		config_free(c);
		return NULL;
	}
	return c;
}

struct fg_config *
fg_config_load(const char *path, char *err, size_t errlen)
{
	return load(path, NULL, 0, err, errlen);
}

struct fg_config *
fg_config_load_only(const char *path, const char *const *only, size_t n,
    char *err, size_t errlen)
{
	return load(path, only, n, err, errlen);
}

static void
free_dests(struct fg_dests *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->pat[i]);
	free(d->pat);
	free(d->text);
	free(d->idx);
	memset(d, 0, sizeof(*d));
}

static void
config_free(struct fg_config *c)
{
	size_t i, j;

	for (i = 0; i < fg_nstatements; i++) {
		const struct fg_statement *st = &fg_statements[i];

		if (st->kind == FG_SK_PATH || st->kind == FG_SK_ABSPATH)
			free(*(char **)(void *)((char *)c + st->off));
	}
	free(c->path);
	free(c->lines);
	free(c->listen);
	free(c->metrics_host);
	free(c->metrics);
	free(c->delivery_log);
	free(c->log_users);
	free(c->postfix_map);
	free(c->sendmail_map);
	free(c->notify_from);
	free(c->store);
	free(c->redis_host);
	free(c->redis_path);
	free(c->redis_user);
	free(c->redis_prefix);
	for (i = 0; i < c->nbackoff; i++) {
		free(c->backoff[i].name);
		free_dests(&c->backoff[i].dests);
	}
	free(c->backoff);
	for (i = 0; i < c->nnotify; i++) {
		free(c->notify[i].target);
		free(c->notify[i].what);
	}
	free(c->notify);
	for (i = 0; i < c->ngroup; i++) {
		for (j = 0; j < c->group[i].n; j++)
			free(c->group[i].dom[j]);
		free(c->group[i].dom);
		free(c->group[i].name);
	}
	free(c->group);
	for (i = 0; i < c->nrule; i++) {
		struct fg_rule *r = &c->rule[i];

		free(r->name);
		free(r->reply);
		free_dests(&r->dests);
		for (j = 0; j < r->nov; j++)
			free(r->ov[j].account);
		free(r->ov);
	}
	free(c->rule);
	for (i = 0; i < c->nex_account; i++)
		free(c->ex_account[i]);
	free(c->ex_account);
	free(c->ex_account_line);
	free(c->ex_client);
	free_dests(&c->ex_domain);
	fg_account_map_free(c->map, c->nmap);
	free(c);
}

struct fg_config *
fg_config_ref(struct fg_config *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void
fg_config_unref(struct fg_config *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
		config_free(c);
}

const struct fg_rule *
fg_config_rule(const struct fg_config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nrule; i++)
		if (strcmp(c->rule[i].name, name) == 0)
			return &c->rule[i];
	return NULL;
}

struct fg_group *
fg_config_group(const struct fg_config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->ngroup; i++)
		if (strcmp(c->group[i].name, name) == 0)
			return &c->group[i];
	return NULL;
}

/* A statement a reload does not apply is a number (an int-sized
 * choice, count or duration) or a string, at its offset. */
static int
restart_number(const struct fg_statement *st)
{
	return st->kind == FG_SK_CHOICE || st->kind == FG_SK_UINT ||
	    st->kind == FG_SK_DURATION;
}

static const char *
restart_string(const struct fg_config *c, const struct fg_statement *st)
{
	return *(char *const *)(const void *)((const char *)c + st->off);
}

void
fg_config_restart_changes(const struct fg_config *old,
    const struct fg_config *new, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < fg_nstatements && o < len; i++) {
		const struct fg_statement *st = &fg_statements[i];
		const char *a, *b;
		int differ;

		if (!(st->flags & FG_SF_RESTART))
			continue;
		if (restart_number(st))
			differ = memcmp((const char *)old + st->off,
			    (const char *)new + st->off, sizeof(int)) != 0;
		else {
			a = restart_string(old, st);
			b = restart_string(new, st);
			differ = (a == NULL) != (b == NULL) ||
			    (a != NULL && strcmp(a, b) != 0);
		}
		if (differ)
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
			    o ? ", " : "", st->name);
	}
}

/* A copy of s, NULL for NULL; -1 when out of memory. */
static int
dup_or_null(char **to, const char *s)
{
	char *d = NULL;

	if (s != NULL && (d = fg_strdup(s)) == NULL)
		return -1;
	free(*to);
	*to = d;
	return 0;
}

int
fg_config_keep_start(struct fg_config *c, const struct fg_config *running)
{
	size_t i;

	for (i = 0; i < fg_nstatements; i++) {
		const struct fg_statement *st = &fg_statements[i];

		if (!(st->flags & FG_SF_RESTART))
			continue;
		if (restart_number(st))
			memcpy((char *)c + st->off,
			    (const char *)running + st->off, sizeof(int));
		else if (dup_or_null((char **)(void *)((char *)c + st->off),
		    restart_string(running, st)) < 0)
			return -1;
	}
	/* What metrics and the store's URL were read into. */
	c->metrics_port = running->metrics_port;
	c->redis_port = running->redis_port;
	c->redis_db = running->redis_db;
	if (dup_or_null(&c->metrics_host, running->metrics_host) < 0 ||
	    dup_or_null(&c->redis_host, running->redis_host) < 0 ||
	    dup_or_null(&c->redis_path, running->redis_path) < 0)
		return -1;
	return 0;
}
