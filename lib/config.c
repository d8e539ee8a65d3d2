/*
 * floodgate.conf: one statement per line (DESIGN.md §3). Every error
 * names file:line, the offending token and what was expected; all errors
 * of a file are reported at once, like a compiler does.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "config.h"
#include "rules.h"
#include "util.h"
#include "window.h"

#define MAX_TOKENS	256

struct tok {
	char *s;
	int quoted;
};

struct parser {
	const char *file;
	int line;
	char *err;
	size_t errlen;
	int nerr;
	struct fg_config *c;
	int seen_listen, seen_control, seen_database, seen_user, seen_account,
	    seen_map, seen_mode, seen_store, seen_metrics, seen_local, seen_charge,
	    seen_postfix, seen_mta, seen_smpath, seen_smcf, seen_maxkeys;
	/* group references, resolved once the whole file is read */
	struct pending_ref {
		size_t rule;
		int line;
	} *refs;
	size_t nrefs;
	/* overrides, resolved once every rule is known */
	struct pending_ov {
		char *rule;
		struct fg_override ov;
	} *ovs;
	size_t novs;
};

static void perr(struct parser *p, const char *fmt, ...) FG_PRINTF(2, 3);
static int tokenize(struct parser *p, char *line, struct tok *t);
static int valid_name(const char *s);
static int push_str(char ***arr, size_t *n, const char *s);
static int parse_dests(struct parser *p, struct tok *t, int nt, int *i,
    struct fg_dests *d);
static int parse_cidr(const char *s, struct fg_cidr *out);
static void st_listen(struct parser *p, struct tok *t, int nt);
static void st_path(struct parser *p, struct tok *t, int nt, char **dst,
    int *seen, int absolute);
static void st_account(struct parser *p, struct tok *t, int nt);
static void st_metrics(struct parser *p, struct tok *t, int nt);
static void st_choice(struct parser *p, struct tok *t, int nt,
    const char *first, const char *second, int *seen, int *out);
static void st_max_keys(struct parser *p, struct tok *t, int nt);
static void st_group(struct parser *p, struct tok *t, int nt);
static void st_limit(struct parser *p, struct tok *t, int nt);
static void st_cap(struct parser *p, struct tok *t, int nt);
static void st_override(struct parser *p, struct tok *t, int nt);
static void st_exempt(struct parser *p, struct tok *t, int nt);
static void resolve(struct parser *p);
static void load_map(struct parser *p, const char *path);
static void free_dests(struct fg_dests *d);
static void config_free(struct fg_config *c);
static int mapcmp(const void *a, const void *b);
static char *account_key(const char *in);

static void
perr(struct parser *p, const char *fmt, ...)
{
	char msg[FG_ERRLEN];
	size_t used = strlen(p->err);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->nerr++;
	if (used + 1 < p->errlen)
		snprintf(p->err + used, p->errlen - used, "%s%s:%d: %s",
		    used ? "\n" : "", p->file, p->line, msg);
}

/*
 * Split a line into words. "#" starts a comment outside quotes; a quoted
 * value keeps its blanks and knows \" and \\.
 */
static int
tokenize(struct parser *p, char *line, struct tok *t)
{
	char *r = line, *w;
	int n = 0;

	for (;;) {
		while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
			r++;
		if (*r == '\0' || *r == '#')
			return n;
		if (n == MAX_TOKENS) {
			perr(p, "more than %d words on one line", MAX_TOKENS);
			return -1;
		}
		t[n].quoted = *r == '"';
		if (t[n].quoted) {
			t[n].s = w = ++r;
			while (*r != '"') {
				if (*r == '\0' || *r == '\n') {
					perr(p, "unterminated quoted value");
					return -1;
				}
				if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
					r++;
				*w++ = *r++;
			}
			r++;
			if (*r != '\0' && !isspace((unsigned char)*r) && *r != '#') {
				perr(p, "expected a blank after the closing quote");
				return -1;
			}
		} else {
			t[n].s = w = r;
			while (*r != '\0' && !isspace((unsigned char)*r) &&
			    *r != '#')
				*w++ = *r++;
		}
		if (*r != '\0' && *r != '#')
			r++;
		else if (*r == '#') {
			*w = '\0';
			n++;
			return n;
		}
		*w = '\0';
		n++;
	}
}

static int
valid_name(const char *s)
{
	size_t i;

	if (*s == '\0' || strlen(s) > FG_NAME_MAX)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

static int
push_str(char ***arr, size_t *n, const char *s)
{
	char **a = realloc(*arr, (*n + 1) * sizeof(**arr));

	if (a == NULL)
		return -1;
	*arr = a;
	if ((a[*n] = fg_strdup(s)) == NULL)
		return -1;
	(*n)++;
	return 0;
}

/* A domain pattern: "example.jp", "*.example.jp" or "@group". */
static int
add_pattern(struct parser *p, struct fg_dests *d, const char *w)
{
	char norm[FG_DOMAIN_MAX + 3];

	if (w[0] == '@') {
		if (!valid_name(w + 1)) {
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
parse_dests(struct parser *p, struct tok *t, int nt, int *i,
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

static int
parse_cidr(const char *s, struct fg_cidr *out)
{
	char buf[64], *slash;
	int max;

	if (fg_strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
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
	return 0;
}

static void
st_listen(struct parser *p, struct tok *t, int nt)
{
	const char *v;

	if (nt != 2) {
		perr(p, "listen: expected one value, unix:PATH or inet:PORT@HOST");
		return;
	}
	v = t[1].s;
	if (strncmp(v, "unix:", 5) == 0 || strncmp(v, "local:", 6) == 0) {
		const char *path = strchr(v, ':') + 1;

		if (path[0] != '/') {
			perr(p, "listen: \"%s\": expected an absolute socket path", v);
			return;
		}
		if (strlen(path) >= 108) {
			perr(p, "listen: \"%s\": socket path longer than 107 bytes", v);
			return;
		}
	} else if (strncmp(v, "inet:", 5) == 0 || strncmp(v, "inet6:", 6) == 0) {
		const char *port = strchr(v, ':') + 1;
		uint32_t n;
		char buf[16];
		size_t len = strcspn(port, "@");

		if (len == 0 || len >= sizeof(buf) ||
		    (memcpy(buf, port, len), buf[len] = '\0',
		    fg_parse_uint(buf, 65535, &n) < 0) || n == 0) {
			perr(p, "listen: \"%s\": expected inet:PORT@HOST with a port number", v);
			return;
		}
	} else {
		perr(p, "listen: \"%s\": expected unix:PATH or inet:PORT@HOST", v);
		return;
	}
	if (p->seen_listen) {
		perr(p, "listen: given twice (first on line %d)", p->seen_listen);
		return;
	}
	p->seen_listen = p->line;
	free(p->c->listen);
	p->c->listen = fg_strdup(v);
}

static void
st_path(struct parser *p, struct tok *t, int nt, char **dst, int *seen,
    int absolute)
{
	if (nt != 2) {
		perr(p, "%s: expected one value", t[0].s);
		return;
	}
	if (absolute && t[1].s[0] != '/') {
		perr(p, "%s: \"%s\": expected an absolute path", t[0].s, t[1].s);
		return;
	}
	if (*seen) {
		perr(p, "%s: given twice (first on line %d)", t[0].s, *seen);
		return;
	}
	*seen = p->line;
	free(*dst);
	*dst = fg_strdup(t[1].s);
}

/* metrics HOST:PORT, or [IPv6]:PORT: where /metrics is served. */
static void
st_metrics(struct parser *p, struct tok *t, int nt)
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
	if (p->seen_metrics) {
		perr(p, "metrics: given twice (first on line %d)", p->seen_metrics);
		return;
	}
	p->seen_metrics = p->line;
	free(p->c->metrics_host);
	p->c->metrics_host = fg_strdup(host);
	p->c->metrics_port = port;
	return;
bad:
	perr(p, "metrics: \"%s\": expected HOST:PORT with an IP address, such as 127.0.0.1:9465", t[1].s);
}

static void
st_account(struct parser *p, struct tok *t, int nt)
{
	int i, used[3] = { 0, 0, 0 };
	size_t n = 0;

	if (nt < 2 || nt > 4) {
		perr(p, "account: expected one to three of sasl, sender, client");
		return;
	}
	for (i = 1; i < nt; i++) {
		enum fg_source s;

		if (strcmp(t[i].s, "sasl") == 0)
			s = FG_SRC_SASL;
		else if (strcmp(t[i].s, "sender") == 0)
			s = FG_SRC_SENDER;
		else if (strcmp(t[i].s, "client") == 0)
			s = FG_SRC_CLIENT;
		else {
			perr(p, "account: \"%s\": expected sasl, sender or client", t[i].s);
			return;
		}
		if (used[s]++) {
			perr(p, "account: \"%s\" given twice", t[i].s);
			return;
		}
		p->c->source[n++] = s;
	}
	if (p->seen_account) {
		perr(p, "account: given twice (first on line %d)", p->seen_account);
		return;
	}
	p->seen_account = p->line;
	p->c->nsource = n;
}

/*
 * A statement that takes one of two words (mode, on_store_error,
 * local_action, mta, charge_at): *out becomes 1 for the second.
 */
static void
st_choice(struct parser *p, struct tok *t, int nt, const char *first,
    const char *second, int *seen, int *out)
{
	const char *kw = t[0].s;

	if (nt != 2 || (strcmp(t[1].s, first) && strcmp(t[1].s, second))) {
		perr(p, "%s: %s%s%s: expected %s or %s", kw,
		    nt > 1 ? "\"" : "", nt > 1 ? t[1].s : "no value",
		    nt > 1 ? "\"" : "", first, second);
		return;
	}
	if (*seen) {
		perr(p, "%s: given twice (first on line %d)", kw, *seen);
		return;
	}
	*seen = p->line;
	*out = strcmp(t[1].s, second) == 0;
}

/* max_keys N: at most N (rule, key) windows in memory; 0 for no cap. */
static void
st_max_keys(struct parser *p, struct tok *t, int nt)
{
	uint32_t n;

	if (nt != 2 || fg_parse_uint(t[1].s, 1000000000u, &n) < 0 ||
	    (n > 0 && n < 1000)) {
		perr(p, "max_keys: %s%s%s: expected a number of windows, 0 (no cap) or from 1000 up",
		    nt > 1 ? "\"" : "", nt > 1 ? t[1].s : "no value",
		    nt > 1 ? "\"" : "");
		return;
	}
	if (p->seen_maxkeys) {
		perr(p, "max_keys: given twice (first on line %d)", p->seen_maxkeys);
		return;
	}
	p->seen_maxkeys = p->line;
	p->c->max_keys = n;
}

static void
st_group(struct parser *p, struct tok *t, int nt)
{
	struct fg_config *c = p->c;
	struct fg_group *g = NULL;
	struct fg_dests d = { 0 };
	size_t i;
	int k;

	if (nt < 3) {
		perr(p, "group: expected a name and at least one domain");
		return;
	}
	if (!valid_name(t[1].s)) {
		perr(p, "group: \"%s\": expected a name of letters, digits, '-', '_', '.'", t[1].s);
		return;
	}
	for (i = 0; i < c->ngroup; i++)
		if (strcmp(c->group[i].name, t[1].s) == 0)
			g = &c->group[i];
	for (k = 2; k < nt; k++) {
		if (t[k].s[0] == '@') {
			perr(p, "group: \"%s\": groups cannot contain groups", t[k].s);
			continue;
		}
		add_pattern(p, &d, t[k].s);
	}
	if (g == NULL) {
		void *a = realloc(c->group, (c->ngroup + 1) * sizeof(*c->group));

		if (a == NULL)
			goto out;
		c->group = a;
		g = &c->group[c->ngroup++];
		memset(g, 0, sizeof(*g));
		g->name = fg_strdup(t[1].s);
		g->line = p->line;
	}
	for (i = 0; i < d.n; i++)
		push_str(&g->dom, &g->n, d.pat[i]);
out:
	free_dests(&d);
}

static struct fg_rule *
new_rule(struct parser *p, const char *what, const char *name)
{
	struct fg_config *c = p->c;
	struct fg_rule *r;
	size_t i;

	if (!valid_name(name)) {
		perr(p, "%s: \"%s\": expected a rule name of letters, digits, '-', '_', '.' (at most %d)",
		    what, name, FG_NAME_MAX);
		return NULL;
	}
	for (i = 0; i < c->nrule; i++) {
		if (strcmp(c->rule[i].name, name) == 0) {
			perr(p, "%s: \"%s\": rule name already used on line %d",
			    what, name, c->rule[i].line);
			return NULL;
		}
	}
	if ((r = realloc(c->rule, (c->nrule + 1) * sizeof(*r))) == NULL)
		return NULL;
	c->rule = r;
	r = &c->rule[c->nrule];
	memset(r, 0, sizeof(*r));
	r->name = fg_strdup(name);
	r->line = p->line;
	r->action = FG_ACT_DEFER;
	return r;
}

/* Rules move while the array grows: remember the index, not a pointer. */
static void
remember_refs(struct parser *p, size_t rule)
{
	struct fg_dests *d = &p->c->rule[rule].dests;
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (d->pat[i][0] == '@') {
			void *a = realloc(p->refs, (p->nrefs + 1) * sizeof(*p->refs));

			if (a == NULL)
				return;
			p->refs = a;
			p->refs[p->nrefs].rule = rule;
			p->refs[p->nrefs].line = p->line;
			p->nrefs++;
			return;
		}
	}
}

/* limit NAME per SCOPE [to DESTS] N/PERIOD [action A] [count C] [reply "T"] */
static void
st_limit(struct parser *p, struct tok *t, int nt)
{
	struct fg_rule r0, *r;
	int i = 4, bad = 0, seen_action = 0, seen_count = 0, seen_reply = 0;

	if (nt < 4 || strcmp(t[2].s, "per") != 0) {
		perr(p, "limit: expected limit NAME per SCOPE [to DESTS] N/PERIOD [action A] [count recipients|messages] [reply \"TEXT\"]");
		return;
	}
	memset(&r0, 0, sizeof(r0));
	r0.action = FG_ACT_DEFER;
	if (strcmp(t[3].s, "account") == 0)
		r0.scope = FG_SCOPE_ACCOUNT;
	else if (strcmp(t[3].s, "domain") == 0)
		r0.scope = FG_SCOPE_DOMAIN;
	else if (strcmp(t[3].s, "account+domain") == 0)
		r0.scope = FG_SCOPE_ACCOUNT_DOMAIN;
	else if (strcmp(t[3].s, "client") == 0)
		r0.scope = FG_SCOPE_CLIENT;
	else if (strcmp(t[3].s, "server") == 0)
		r0.scope = FG_SCOPE_SERVER;
	else {
		perr(p, "limit %s: \"%s\": expected a scope: account, domain, account+domain, client or server",
		    t[1].s, t[3].s);
		return;
	}
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

		if (strcmp(k, "action") == 0 && v != NULL && !seen_action++) {
			if (strcmp(v, "defer") == 0)
				r0.action = FG_ACT_DEFER;
			else if (strcmp(v, "reject") == 0)
				r0.action = FG_ACT_REJECT;
			else if (strcmp(v, "hold") == 0)
				r0.action = FG_ACT_HOLD;
			else if (strcmp(v, "tag") == 0)
				r0.action = FG_ACT_TAG;
			else if (strcmp(v, "log") == 0)
				r0.action = FG_ACT_LOG;
			else {
				perr(p, "limit %s: action \"%s\": expected defer, reject, hold, tag or log", t[1].s, v);
				bad = 1;
			}
		} else if (strcmp(k, "count") == 0 && v != NULL && !seen_count++) {
			if (strcmp(v, "recipients") == 0)
				r0.count_messages = 0;
			else if (strcmp(v, "messages") == 0)
				r0.count_messages = 1;
			else {
				perr(p, "limit %s: count \"%s\": expected recipients or messages", t[1].s, v);
				bad = 1;
			}
		} else if (strcmp(k, "reply") == 0 && v != NULL && !seen_reply++) {
			const char *q;

			/* The text goes into an SMTP reply: one line, and no
			 * '%' but the %r that stands for the retry time. */
			for (q = v; *q != '\0'; q++)
				if ((unsigned char)*q < 0x20 || *q == 0x7f ||
				    (*q == '%' && *++q != 'r'))
					break;
			if (*q != '\0' || strlen(v) > 200 || *v == '\0') {
				perr(p, "limit %s: reply: expected one line of text, at most 200 characters, with no '%%' but %%r (the retry time)", t[1].s);
				bad = 1;
			} else {
				free(r0.reply);
				r0.reply = fg_strdup(v);
			}
		} else if (v == NULL && (strcmp(k, "action") == 0 ||
		    strcmp(k, "count") == 0 || strcmp(k, "reply") == 0)) {
			perr(p, "limit %s: \"%s\": expected a value after it", t[1].s, k);
			bad = 1;
		} else if (strcmp(k, "action") == 0 || strcmp(k, "count") == 0 ||
		    strcmp(k, "reply") == 0) {
			perr(p, "limit %s: \"%s\" given twice", t[1].s, k);
			bad = 1;
		} else {
			perr(p, "limit %s: \"%s\": expected action, count or reply", t[1].s, k);
			bad = 1;
		}
	}
	if (bad || (r = new_rule(p, "limit", t[1].s)) == NULL) {
		free_dests(&r0.dests);
		free(r0.reply);
		return;
	}
	r0.name = r->name;
	r0.line = r->line;
	*r = r0;
	remember_refs(p, p->c->nrule++);
}

/* cap NAME [to DESTS] N */
static void
st_cap(struct parser *p, struct tok *t, int nt)
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
	if (i != nt - 1 || fg_parse_uint(t[i].s, 1000000, &n) < 0 || n == 0) {
		perr(p, "cap %s: %s%s%s: expected the number of recipients per message, such as 100",
		    t[1].s, i < nt ? "\"" : "", i < nt ? t[nt - 1].s : "nothing",
		    i < nt ? "\"" : "");
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
	remember_refs(p, p->c->nrule++);
}

/*
 * An account as floodgate counts it: addresses folded like senders are
 * (case, +extension), anything else lowercased.
 */
static char *
account_key(const char *in)
{
	char buf[FG_ADDR_MAX + 1];

	if (strchr(in, '@') != NULL && in[0] != '@') {
		struct fg_addr a;

		if (fg_addr_parse(in, &a, NULL, 0) != FG_ADDR_OK)
			return NULL;
		fg_addr_key(&a, buf, sizeof(buf));
	} else {
		size_t i;

		if (strlen(in) >= sizeof(buf))
			return NULL;
		for (i = 0; in[i] != '\0'; i++)
			buf[i] = (char)tolower((unsigned char)in[i]);
		buf[i] = '\0';
	}
	return fg_strdup(buf);
}

/* override RULE ACCOUNT N/PERIOD */
static void
st_override(struct parser *p, struct tok *t, int nt)
{
	struct pending_ov *o;
	void *a;

	if (nt != 4) {
		perr(p, "override: expected override RULE ACCOUNT N/PERIOD");
		return;
	}
	if ((a = realloc(p->ovs, (p->novs + 1) * sizeof(*p->ovs))) == NULL)
		return;
	p->ovs = a;
	o = &p->ovs[p->novs];
	memset(o, 0, sizeof(*o));
	if (fg_parse_rate(t[3].s, &o->ov.limit, &o->ov.period) < 0) {
		perr(p, "override %s: \"%s\": expected a rate N/PERIOD such as 5000/1d", t[1].s, t[3].s);
		return;
	}
	if ((o->ov.account = account_key(t[2].s)) == NULL) {
		perr(p, "override %s: \"%s\": expected an account (login, address or tenant name)", t[1].s, t[2].s);
		return;
	}
	o->rule = fg_strdup(t[1].s);
	o->ov.line = p->line;
	p->novs++;
}

/* exempt account|client|domain VALUE... */
static void
st_exempt(struct parser *p, struct tok *t, int nt)
{
	struct fg_config *c = p->c;
	int i;

	if (nt < 3) {
		perr(p, "exempt: expected exempt account|client|domain VALUE...");
		return;
	}
	for (i = 2; i < nt; i++) {
		if (strcmp(t[1].s, "account") == 0) {
			char *k = account_key(t[i].s);

			if (k == NULL) {
				perr(p, "exempt account: \"%s\": expected a login, address or tenant name", t[i].s);
				continue;
			}
			push_str(&c->ex_account, &c->nex_account, k);
			free(k);
		} else if (strcmp(t[1].s, "client") == 0) {
			struct fg_cidr cidr;
			void *a;

			if (parse_cidr(t[i].s, &cidr) < 0) {
				perr(p, "exempt client: \"%s\": expected an IP address or ADDRESS/BITS", t[i].s);
				continue;
			}
			a = realloc(c->ex_client, (c->nex_client + 1) * sizeof(cidr));
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

/* Expand @group references and attach overrides to their rules. */
static void
resolve(struct parser *p)
{
	struct fg_config *c = p->c;
	size_t i, j, k;

	for (i = 0; i < p->nrefs; i++) {
		struct fg_dests *d = &c->rule[p->refs[i].rule].dests, nd = { 0 };

		p->line = p->refs[i].line;
		for (j = 0; j < d->n; j++) {
			struct fg_group *g = NULL;

			if (d->pat[j][0] != '@') {
				push_str(&nd.pat, &nd.n, d->pat[j]);
				continue;
			}
			for (k = 0; k < c->ngroup; k++)
				if (strcmp(c->group[k].name, d->pat[j] + 1) == 0)
					g = &c->group[k];
			if (g == NULL) {
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

		p->line = o->ov.line;
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
			void *a = realloc(r->ov, (r->nov + 1) * sizeof(*r->ov));

			if (a == NULL)
				continue;
			r->ov = a;
			r->ov[r->nov++] = o->ov;
			o->ov.account = NULL;
		}
	}
}

static int
mapcmp(const void *a, const void *b)
{
	return strcmp(((const struct fg_mapent *)a)->key,
	    ((const struct fg_mapent *)b)->key);
}

/*
 * The account map: "KEY TENANT" per line. KEY is a login, an address
 * (folded as senders are), or a domain (also written @domain).
 */
static void
load_map(struct parser *p, const char *path)
{
	struct fg_config *c = p->c;
	struct parser mp = *p;
	struct tok t[MAX_TOKENS];
	char *line = NULL;
	size_t cap = 0, i;
	FILE *fp;

	mp.file = path;
	mp.line = 0;
	if ((fp = fopen(path, "r")) == NULL) {
		perr(p, "account_map: cannot open %s: %s", path, strerror(errno));
		return;
	}
	while (getline(&line, &cap, fp) > 0) {
		int nt;
		char *key;
		void *a;

		mp.line++;
		if ((nt = tokenize(&mp, line, t)) <= 0)
			continue;
		if (nt != 2) {
			perr(&mp, "expected KEY TENANT (a login, address or domain, then a tenant name)");
			continue;
		}
		if (!valid_name(t[1].s) && strchr(t[1].s, '@') == NULL) {
			perr(&mp, "\"%s\": expected a tenant name of letters, digits, '-', '_', '.'", t[1].s);
			continue;
		}
		key = account_key(t[0].s[0] == '@' ? t[0].s + 1 : t[0].s);
		if (key == NULL || key[0] == '\0') {
			perr(&mp, "\"%s\": expected a login, an address or a domain", t[0].s);
			free(key);
			continue;
		}
		a = realloc(c->map, (c->nmap + 1) * sizeof(*c->map));
		if (a == NULL) {
			free(key);
			break;
		}
		c->map = a;
		c->map[c->nmap].key = key;
		c->map[c->nmap].tenant = fg_strdup(t[1].s);
		c->map[c->nmap].line = mp.line;
		c->nmap++;
	}
	free(line);
	fclose(fp);
	p->nerr = mp.nerr;
	if (c->nmap > 1)
		qsort(c->map, c->nmap, sizeof(*c->map), mapcmp);
	for (i = 1; i < c->nmap; i++) {
		if (strcmp(c->map[i].key, c->map[i - 1].key) == 0) {
			int a = c->map[i].line, b = c->map[i - 1].line;

			mp.line = a > b ? a : b;
			perr(&mp, "\"%s\" is listed more than once (also on line %d)",
			    c->map[i].key, a > b ? b : a);
			p->nerr = mp.nerr;
		}
	}
}

const char *
fg_map_lookup(const struct fg_config *c, const char *key)
{
	struct fg_mapent k = { .key = (char *)key }, *e;

	if (c->nmap == 0)
		return NULL;
	e = bsearch(&k, c->map, c->nmap, sizeof(*c->map), mapcmp);
	return e != NULL ? e->tenant : NULL;
}

struct fg_config *
fg_config_load(const char *path, char *err, size_t errlen)
{
	struct parser p;
	struct tok t[MAX_TOKENS];
	char *line = NULL;
	size_t cap = 0, i;
	FILE *fp;
	struct fg_config *c;

	if (errlen > 0)
		err[0] = '\0';
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		fg_seterr(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&c->refs, 1);
	c->path = fg_strdup(path);
	c->loaded = time(NULL);
	c->listen = fg_strdup(FG_DEFAULT_LISTEN);
	c->control = fg_strdup(FG_DEFAULT_CONTROL);
	c->database = fg_strdup(FG_DEFAULT_DATABASE);
	c->postfix_config = fg_strdup(FG_DEFAULT_POSTFIX);
	c->sendmail_path = fg_strdup(FG_DEFAULT_SENDMAIL);
	c->max_keys = FG_DEFAULT_MAX_KEYS;
	c->sendmail_config = fg_strdup(FG_DEFAULT_SENDMAIL_CF);
	c->source[0] = FG_SRC_SASL;
	c->source[1] = FG_SRC_SENDER;
	c->source[2] = FG_SRC_CLIENT;
	c->nsource = 3;
	memset(&p, 0, sizeof(p));
	p.file = path;
	p.err = err;
	p.errlen = errlen;
	p.c = c;
	if ((fp = fopen(path, "r")) == NULL) {
		fg_seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		config_free(c);
		return NULL;
	}
	while (getline(&line, &cap, fp) > 0) {
		int nt;
		const char *kw;

		p.line++;
		if (strlen(line) > 4096) {
			perr(&p, "line longer than 4096 bytes");
			continue;
		}
		if ((nt = tokenize(&p, line, t)) <= 0)
			continue;
		kw = t[0].s;
		if (strcmp(kw, "listen") == 0)
			st_listen(&p, t, nt);
		else if (strcmp(kw, "control") == 0)
			st_path(&p, t, nt, &c->control, &p.seen_control, 1);
		else if (strcmp(kw, "database") == 0)
			st_path(&p, t, nt, &c->database, &p.seen_database, 1);
		else if (strcmp(kw, "user") == 0)
			st_path(&p, t, nt, &c->user, &p.seen_user, 0);
		else if (strcmp(kw, "account") == 0)
			st_account(&p, t, nt);
		else if (strcmp(kw, "metrics") == 0)
			st_metrics(&p, t, nt);
		else if (strcmp(kw, "account_map") == 0)
			st_path(&p, t, nt, &c->account_map, &p.seen_map, 0);
		else if (strcmp(kw, "mode") == 0)
			st_choice(&p, t, nt, "enforce", "monitor",
			    &p.seen_mode, &c->monitor);
		else if (strcmp(kw, "on_store_error") == 0)
			st_choice(&p, t, nt, "continue", "tempfail",
			    &p.seen_store, &c->store_tempfail);
		else if (strcmp(kw, "local_action") == 0)
			st_choice(&p, t, nt, "hold", "tempfail",
			    &p.seen_local, &c->local_tempfail);
		else if (strcmp(kw, "charge_at") == 0)
			st_choice(&p, t, nt, "data", "end",
			    &p.seen_charge, &c->charge_at_end);
		else if (strcmp(kw, "postfix_config") == 0)
			st_path(&p, t, nt, &c->postfix_config, &p.seen_postfix, 1);
		else if (strcmp(kw, "sendmail_path") == 0)
			st_path(&p, t, nt, &c->sendmail_path, &p.seen_smpath, 1);
		else if (strcmp(kw, "sendmail_config") == 0)
			st_path(&p, t, nt, &c->sendmail_config, &p.seen_smcf, 1);
		else if (strcmp(kw, "mta") == 0)
			st_choice(&p, t, nt, "postfix", "sendmail",
			    &p.seen_mta, &c->mta_sendmail);
		else if (strcmp(kw, "max_keys") == 0)
			st_max_keys(&p, t, nt);
		else if (strcmp(kw, "group") == 0)
			st_group(&p, t, nt);
		else if (strcmp(kw, "limit") == 0)
			st_limit(&p, t, nt);
		else if (strcmp(kw, "cap") == 0)
			st_cap(&p, t, nt);
		else if (strcmp(kw, "override") == 0)
			st_override(&p, t, nt);
		else if (strcmp(kw, "exempt") == 0)
			st_exempt(&p, t, nt);
		else
			perr(&p, "\"%s\": unknown statement; expected listen, control, database, user, account, account_map, mode, on_store_error, local_action, charge_at, max_keys, mta, postfix_config, sendmail_path, sendmail_config, metrics, group, limit, cap, override or exempt",
			    kw);
	}
	if (ferror(fp)) {
		perr(&p, "read error: %s", strerror(errno));
	}
	free(line);
	fclose(fp);
	resolve(&p);
	for (i = 0; i < c->nrule; i++)
		fg_dests_index(&c->rule[i].dests);
	fg_dests_index(&c->ex_domain);
	if (c->account_map != NULL) {
		char mpath[4096];

		/* A relative map is next to the config file. */
		if (c->account_map[0] != '/' && strchr(path, '/') != NULL) {
			int dl = (int)(strrchr(path, '/') - path);

			snprintf(mpath, sizeof(mpath), "%.*s/%s", dl, path,
			    c->account_map);
		} else
			fg_strlcpy(mpath, c->account_map, sizeof(mpath));
		p.line = p.seen_map;
		load_map(&p, mpath);
	}
	free(p.refs);
	for (i = 0; i < p.novs; i++) {
		free(p.ovs[i].rule);
		free(p.ovs[i].ov.account);
	}
	free(p.ovs);
	if (p.nerr > 0) {
		config_free(c);
		return NULL;
	}
	return c;
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

	free(c->path);
	free(c->listen);
	free(c->control);
	free(c->database);
	free(c->user);
	free(c->account_map);
	free(c->metrics_host);
	free(c->postfix_config);
	free(c->sendmail_path);
	free(c->sendmail_config);
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
	free(c->ex_client);
	free_dests(&c->ex_domain);
	for (i = 0; i < c->nmap; i++) {
		free(c->map[i].key);
		free(c->map[i].tenant);
	}
	free(c->map);
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

const char *
fg_scope_name(enum fg_scope s)
{
	switch (s) {
	case FG_SCOPE_ACCOUNT: return "account";
	case FG_SCOPE_DOMAIN: return "domain";
	case FG_SCOPE_ACCOUNT_DOMAIN: return "account+domain";
	case FG_SCOPE_CLIENT: return "client";
	case FG_SCOPE_SERVER: return "server";
	}
	return "?";
}

const char *
fg_action_name(enum fg_action a)
{
	switch (a) {
	case FG_ACT_LOG: return "log";
	case FG_ACT_TAG: return "tag";
	case FG_ACT_HOLD: return "hold";
	case FG_ACT_DEFER: return "defer";
	case FG_ACT_REJECT: return "reject";
	}
	return "?";
}

static void
print_rate(FILE *fp, uint32_t n, uint32_t period)
{
	char d[32];

	fg_format_duration(period, d, sizeof(d));
	fprintf(fp, "%u/%s", n, d);
}

/* What floodgate -n prints: the rules as floodgate will apply them. */
void
fg_config_print(const struct fg_config *c, FILE *fp)
{
	static const char *src[] = { "sasl", "sender", "client" };
	size_t i, j;
	char d[32];

	fprintf(fp, "# %s: OK\n", c->path);
	fprintf(fp, "listen          %s\n", c->listen);
	fprintf(fp, "control         %s\n", c->control);
	fprintf(fp, "database        %s\n", c->database);
	fprintf(fp, "user            %s\n", c->user ? c->user : "(unchanged)");
	fprintf(fp, "account        ");
	for (i = 0; i < c->nsource; i++)
		fprintf(fp, " %s", src[c->source[i]]);
	fprintf(fp, "\naccount_map     %s (%zu entries)\n",
	    c->account_map ? c->account_map : "(none)", c->nmap);
	fprintf(fp, "mode            %s\n", c->monitor ? "monitor" : "enforce");
	fprintf(fp, "on_store_error  %s\n", c->store_tempfail ? "tempfail" : "continue");
	fprintf(fp, "local_action    %s\n", c->local_tempfail ? "tempfail" : "hold");
	fprintf(fp, "charge_at       %s\n", c->charge_at_end ? "end" : "data");
	fprintf(fp, "max_keys        %u%s\n", c->max_keys, c->max_keys ? "" : " (no cap)");
	fprintf(fp, "mta             %s\n", c->mta_sendmail ? "sendmail" : "postfix");
	if (c->mta_sendmail)
		fprintf(fp, "sendmail        %s -C %s\n", c->sendmail_path, c->sendmail_config);
	else
		fprintf(fp, "postfix_config  %s\n", c->postfix_config);
	if (c->metrics_host != NULL)
		fprintf(fp, "metrics         %s%s%s:%u\n", strchr(c->metrics_host, ':') ? "[" : "",
		    c->metrics_host, strchr(c->metrics_host, ':') ? "]" : "", c->metrics_port);
	else
		fprintf(fp, "metrics         (off)\n");
	for (i = 0; i < c->ngroup; i++)
		fprintf(fp, "group %-10s %zu domains\n", c->group[i].name,
		    c->group[i].n);
	for (i = 0; i < c->nrule; i++) {
		const struct fg_rule *r = &c->rule[i];

		if (r->is_cap) {
			fprintf(fp, "cap   %-18s to %s (%zu domains): at most %u recipients per message, the rest get 452 4.5.3\n",
			    r->name, r->dests.text ? r->dests.text : "*",
			    r->dests.n, r->limit);
			continue;
		}
		fprintf(fp, "limit %-18s per %-14s to %s", r->name,
		    fg_scope_name(r->scope),
		    r->dests.text ? r->dests.text : "*");
		if (r->dests.n > 0)
			fprintf(fp, " (%zu domains)", r->dests.n);
		fprintf(fp, "  ");
		print_rate(fp, r->limit, r->period);
		fg_format_duration(fg_window_width(r->period), d, sizeof(d));
		fprintf(fp, " (slot %s)  action %s  count %s", d,
		    fg_action_name(r->action),
		    r->count_messages ? "messages" : "recipients");
		if (r->reply)
			fprintf(fp, "  reply \"%s\"", r->reply);
		fprintf(fp, "\n");
		for (j = 0; j < r->nov; j++) {
			fprintf(fp, "  override for %-20s ", r->ov[j].account);
			print_rate(fp, r->ov[j].limit, r->ov[j].period);
			fprintf(fp, "\n");
		}
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
