/*
 * Sendmail's settings that let mail past floodgate (see pfcheck.h), read
 * from sendmail.cf, the file Sendmail itself reads.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pfcheck.h"
#include "pfcheck_int.h"

/*
 * Sendmail: sendmail.cf's X lines (a filter: "Xname, S=socket, F=flags,
 * T=timeouts", what INPUT_MAIL_FILTER and MAIL_FILTER write), the
 * filters Sendmail uses ("O InputMailFilters=a, b") and each daemon's
 * own list ("O DaemonPortOptions=..., InputMailFilters=a;b", which
 * takes the place of the other for that daemon). A key of
 * DaemonPortOptions is known by its first letter, as Sendmail reads it.
 */
#define SM_FILTERS	32
#define SM_DAEMONS	16
#define SM_NAME		64

struct sm_filter {
	char name[SM_NAME];
	char flags[16];
	int ours;		/* sm_socket_is_ours()'s answer for its S= */
};

#define SM_LIST		512

struct sm_daemon {
	char label[SM_NAME + 8];
	int has_list;
	char list[SM_LIST];	/* its InputMailFilters */
};

struct sm_conf {
	struct sm_filter f[SM_FILTERS];
	size_t nf;
	struct sm_daemon d[SM_DAEMONS];
	size_t nd;
	int has_global;
	char global[SM_LIST];	/* O InputMailFilters's value */
	int has_forward;
	char forward[SM_LIST];	/* O ForwardPath's value, cut at 80 */
	size_t forward_n;	/* its length */
};

/* Whether a Sendmail socket (libmilter's syntax, as floodgate's listen)
 * is floodgate's: 1 yes, 0 no, -1 cannot tell. */
static int
sm_socket_is_ours(const char *s, size_t n, const struct fg_pf_ours *o)
{
	char in[PATH_MAX];
	const char *p, *at;
	size_t pl;

	if ((n > 5 && strncasecmp(s, "inet:", 5) == 0 && (p = s + 5)) ||
	    (n > 6 && strncasecmp(s, "inet6:", 6) == 0 && (p = s + 6))) {
		if (o->port[0] == '\0')
			return 0;
		at = memchr(p, '@', (size_t)(s + n - p));
		pl = (size_t)((at != NULL ? at : s + n) - p);
		if (!fg_pf_digits(p, pl))
			return -1;
		return strlen(o->port) == pl && memcmp(o->port, p, pl) == 0;
	}
	if (n > 5 && strncasecmp(s, "unix:", 5) == 0)
		p = s + 5;
	else if (n > 6 && strncasecmp(s, "local:", 6) == 0)
		p = s + 6;
	else if (n > 0 && *s == '/')
		p = s;
	else
		return -1;
	if (o->path[0] == '\0')
		return 0;
	if (*p != '/' || fg_pf_normalize(p, (size_t)(s + n - p), in, sizeof(in)) < 0)
		return -1;
	return fg_pf_same_socket(in, o);
}

/* The fields of a comma-separated line, each trimmed, to fn; stops
 * when fn returns non-zero. */
static void
fields(const char *s, size_t n, void (*fn)(const char *f, size_t n,
    void *arg), void *arg)
{
	const char *end = s + n, *b, *e;

	while (s < end) {
		for (e = s; e < end && *e != ','; e++)
			;
		for (b = s; b < e && isspace((unsigned char)*b); b++)
			;
		n = (size_t)(e - b);
		while (n > 0 && isspace((unsigned char)b[n - 1]))
			n--;
		fn(b, n, arg);
		s = e + 1;
	}
}

struct xline {
	struct sm_filter *f;
	const struct fg_pf_ours *o;
	int first;
};

static void
x_field(const char *s, size_t n, void *arg)
{
	struct xline *x = arg;
	const char *v;

	if (x->first) {
		x->first = 0;
		snprintf(x->f->name, sizeof(x->f->name), "%.*s", (int)n, s);
		return;
	}
	if (n < 2 || s[1] != '=')
		return;
	for (v = s + 2; v < s + n && isspace((unsigned char)*v); v++)
		;
	if (*s == 'S')
		x->f->ours = sm_socket_is_ours(v, (size_t)(s + n - v), x->o);
	else if (*s == 'F')
		snprintf(x->f->flags, sizeof(x->f->flags), "%.*s",
		    (int)(s + n - v), v);
}

struct dline {
	struct sm_daemon *d;
	int in_list;
	char name[SM_NAME], port[16];
};

/* Adds n bytes at s to a list of names. */
static void
list_add(char *list, const char *s, size_t n)
{
	size_t l = strlen(list);

	snprintf(list + l, SM_LIST - l, "%s%.*s", l > 0 ? " " : "", (int)n, s);
}

static void
d_field(const char *s, size_t n, void *arg)
{
	struct dline *x = arg;
	const char *v = memchr(s, '=', n);

	if (v == NULL) {
		/* "InputMailFilters=a, b": b is the list's too. */
		if (x->in_list)
			list_add(x->d->list, s, n);
		return;
	}
	x->in_list = 0;
	for (v++; v < s + n && isspace((unsigned char)*v); v++)
		;
	if (*s == 'I') {
		x->d->has_list = x->in_list = 1;
		list_add(x->d->list, v, (size_t)(s + n - v));
	} else if (*s == 'N')
		snprintf(x->name, sizeof(x->name), "%.*s", (int)(s + n - v), v);
	else if (*s == 'P')
		snprintf(x->port, sizeof(x->port), "%.*s", (int)(s + n - v), v);
}

/* Whether l (n bytes) is the option "O NAME=value", blanks allowed
 * around the name and the '=', or "O NAME" (what sendmail.mc's define
 * of an option to nothing writes: empty); its value then in *v, *vn. */
static int
option(const char *l, size_t n, const char *name, const char **v,
    size_t *vn)
{
	const char *p = l + 1, *end = l + n;
	size_t k = strlen(name);

	if (n < 2 || *l != 'O' || !isspace((unsigned char)*p))
		return 0;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if ((size_t)(end - p) < k || strncasecmp(p, name, k) != 0)
		return 0;
	for (p += k; p < end && isspace((unsigned char)*p); p++)
		;
	if (p < end) {
		if (*p != '=')
			return 0;
		p++;
	}
	while (p < end && isspace((unsigned char)*p))
		p++;
	*v = p;
	*vn = (size_t)(end - p);
	return 1;
}

/* One logical line of sendmail.cf (continuations joined by the caller's
 * reading: a line that starts with a blank goes on the one before). */
static void
sm_line(struct sm_conf *c, const char *l, size_t n, const struct fg_pf_ours *o)
{
	const char *v;
	size_t vn;

	if (n > 1 && *l == 'X' && c->nf < SM_FILTERS) {
		struct xline x = { &c->f[c->nf++], o, 1 };

		fields(l + 1, n - 1, x_field, &x);
	} else if (option(l, n, "ForwardPath", &v, &vn)) {
		c->has_forward = 1;
		c->forward_n = vn;
		snprintf(c->forward, sizeof(c->forward), "%.*s",
		    (int)(vn > 80 ? 80 : vn), v);
	} else if (option(l, n, "InputMailFilters", &v, &vn)) {
		c->has_global = 1;
		c->global[0] = '\0';
		list_add(c->global, v, vn);
	} else if (option(l, n, "DaemonPortOptions", &v, &vn) &&
	    c->nd < SM_DAEMONS) {
		struct dline x = { &c->d[c->nd++], 0, "", "" };

		fields(v, vn, d_field, &x);
		if (x.name[0] != '\0')
			snprintf(x.d->label, sizeof(x.d->label), "%s", x.name);
		else
			snprintf(x.d->label, sizeof(x.d->label), "Port=%s",
			    x.port[0] != '\0' ? x.port : "25");
	}
}

/* Whether a list of filter names names one whose socket may be
 * floodgate's. */
static int
sm_list_ours(const struct sm_conf *c, const char *s)
{
	const char *end = s + strlen(s), *b;
	size_t i;

	while (s < end) {
		while (s < end && (isspace((unsigned char)*s) || *s == ',' ||
		    *s == ';'))
			s++;
		for (b = s; s < end && !isspace((unsigned char)*s) &&
		    *s != ',' && *s != ';'; s++)
			;
		for (i = 0; s > b && i < c->nf; i++)
			if (c->f[i].ours != 0 && strlen(c->f[i].name) ==
			    (size_t)(s - b) &&
			    strncasecmp(c->f[i].name, b, (size_t)(s - b)) == 0)
				return 1;
	}
	return 0;
}

#define SM_ACCEPT_WHY "while floodgate is stopped or does not answer in time, Sendmail sends every message without it, unlimited; give it F=T"

size_t
fg_sm_check(const char *cf, const char *listen, int uid_accounts,
    char out[][FG_PF_TEXT], size_t max)
{
	struct sm_conf c;
	struct fg_pf_conf pf = { .listen = listen };
	struct fg_pf_found f = { out, 0, max, 0 };
	struct fg_pf_ours o;
	const char *l, *e, *nl;
	char line[4096];
	size_t n = 0, i, any = 0;

	fg_pf_ours_read(&pf, &o);
	if (!o.known)
		return 0;
	memset(&c, 0, sizeof(c));
	/* Logical lines: a line that starts with a blank continues the
	 * one before; comments and blank lines end one. */
	for (l = cf; l != NULL && *l != '\0'; l = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(l, '\n');
		e = nl != NULL ? nl : l + strlen(l);
		if ((*l == ' ' || *l == '\t') && n > 0) {
			if (n + (size_t)(e - l) < sizeof(line)) {
				memcpy(line + n, l, (size_t)(e - l));
				n += (size_t)(e - l);
			}
			continue;
		}
		if (n > 0)
			sm_line(&c, line, n, &o);
		n = 0;
		if (*l != '#' && e > l && (size_t)(e - l) < sizeof(line)) {
			memcpy(line, l, (size_t)(e - l));
			n = (size_t)(e - l);
		}
	}
	if (n > 0)
		sm_line(&c, line, n, &o);
	for (i = 0; i < c.nf; i++) {
		const char *fl = c.f[i].flags;

		if (c.f[i].ours == 0)
			continue;
		any++;
		if (c.f[i].ours < 0)
			continue;
		if (strpbrk(fl, "T4") == NULL && strchr(fl, 'R') != NULL)
			fg_pf_add(&f, "sendmail.cf: filter %s (floodgate's socket) has F=R: while floodgate is stopped or does not answer in time, Sendmail refuses mail for good (5xx); give it F=T",
			    c.f[i].name);
		else if (strpbrk(fl, "RT4") == NULL)
			fg_pf_add(&f, "sendmail.cf: filter %s (floodgate's socket) has no F=T: %s",
			    c.f[i].name, SM_ACCEPT_WHY);
	}
	if (any == 0) {
		fg_pf_add(&f, "sendmail.cf: no filter on floodgate's socket (%s): Sendmail sends mail without floodgate, unlimited; add INPUT_MAIL_FILTER to sendmail.mc",
		    listen);
		return fg_pf_found_n(&f);
	}
	if (c.nd == 0 && (!c.has_global || !sm_list_ours(&c, c.global)))
		fg_pf_add(&f, "sendmail.cf: InputMailFilters leaves out floodgate's filter: Sendmail does not use it (MAIL_FILTER defines a filter, INPUT_MAIL_FILTER also lists it), mail goes out without floodgate, unlimited");
	for (i = 0; i < c.nd; i++) {
		const struct sm_daemon *d = &c.d[i];

		if (d->has_list ? sm_list_ours(&c, d->list) :
		    c.has_global && sm_list_ours(&c, c.global))
			continue;
		fg_pf_add(&f, "sendmail.cf: daemon %s: %s leaves out floodgate's filter: mail to this daemon goes out without floodgate, unlimited",
		    d->label, d->has_list ? "its InputMailFilters" :
		    "InputMailFilters");
	}
	/* Without the option, Sendmail's own default reads them. */
	if (uid_accounts && (!c.has_forward || c.forward[0] != '\0'))
		fg_pf_add(&f, "sendmail.cf: %s%s%s: " FG_PF_FORWARD_WHY
		    "; define(`confFORWARD_PATH', `') in sendmail.mc turns .forward files off",
		    c.has_forward ? "O ForwardPath=" : "no ForwardPath option (Sendmail's default, $z/.forward.$w:$z/.forward)",
		    c.forward, c.forward_n > 80 ? "..." : "");
	return fg_pf_found_n(&f);
}
