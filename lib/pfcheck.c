/*
 * Postfix's settings that let mail past floodgate (see pfcheck.h).
 * What each finding tells is only what is certain from the settings:
 * an empty non_smtpd_milters is no milter for local mail, whatever
 * floodgate's socket is called; a milter list names floodgate's socket
 * only if one of its entries is that socket as Postfix reaches it (a
 * path relative to queue_directory, or an absolute one seen from the
 * chroot or from outside it, or an inet port), and a form not read
 * here (a $name left, a path with ..) is taken as naming it.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "pfcheck.h"

#define ACCEPT_WHY "Postfix takes every message without floodgate, unlimited, while floodgate is stopped or does not answer in time; set it to tempfail"

/* A value with its blanks around it dropped: [*b, *e). */
static void
trim(const char *s, const char **b, const char **e)
{
	*e = s + strlen(s);
	while (isspace((unsigned char)*s))
		s++;
	while (*e > s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
	*b = s;
}

static int
is_accept(const char *s, size_t n)
{
	return n == 6 && strncasecmp(s, "accept", 6) == 0;
}

/* Whether a milter list gives one of its milters "default_action =
 * accept" (Postfix 3.0's "{ unix:..., default_action = accept }"). */
static int
per_milter_accept(const char *s, size_t n)
{
	static const char key[] = "default_action";
	const char *p = s, *end = s + n, *v;
	size_t k = sizeof(key) - 1;

	for (; p + k <= end; p++) {
		if (strncasecmp(p, key, k) != 0 ||
		    (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_')))
			continue;
		v = p + k;
		while (v < end && isspace((unsigned char)*v))
			v++;
		if (v >= end || *v != '=')
			continue;
		for (v++; v < end && isspace((unsigned char)*v); v++)
			;
		if (end - v >= 6 && strncasecmp(v, "accept", 6) == 0 &&
		    (end - v == 6 || !isalnum((unsigned char)v[6])))
			return 1;
	}
	return 0;
}

/* Whether the n bytes at name are the parameter called want. */
static int
named(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(name, want, n) == 0;
}

/* A path with its "//", "/./" and trailing "/" dropped, into out; -1
 * when it cannot be compared by its letters (a "..", too long). */
static int
normalize(const char *in, size_t n, char *out, size_t outlen)
{
	size_t o = 0, i = 0, k;

	while (i < n) {
		if (in[i] == '/') {
			i++;
			continue;
		}
		for (k = i; k < n && in[k] != '/'; k++)
			;
		if (k - i == 2 && in[i] == '.' && in[i + 1] == '.')
			return -1;
		if (!(k - i == 1 && in[i] == '.')) {
			if (o + 1 + (k - i) + 1 > outlen)
				return -1;
			out[o++] = '/';
			memcpy(out + o, in + i, k - i);
			o += k - i;
		}
		i = k;
	}
	if (o == 0) {
		if (outlen < 2)
			return -1;
		out[o++] = '/';
	}
	out[o] = '\0';
	return 0;
}

/* floodgate's socket as Postfix would name it. */
struct ours {
	int known;		/* 0: listen not given or not read */
	char path[PATH_MAX];	/* a UNIX socket, normalized; or "" */
	char port[16];		/* an inet listener's port; or "" */
	char qdir[PATH_MAX];	/* queue_directory, normalized; or "" */
	char name[PATH_MAX + 64];	/* how main.cf would write it */
};

static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return n > 0;
}

static void
read_ours(const struct fg_pf_conf *pf, struct ours *o)
{
	const char *l = pf->listen, *p, *at;
	size_t ql, pl;

	memset(o, 0, sizeof(*o));
	if (pf->queue_directory != NULL && pf->queue_directory[0] == '/' &&
	    normalize(pf->queue_directory, strlen(pf->queue_directory),
	    o->qdir, sizeof(o->qdir)) < 0)
		o->qdir[0] = '\0';
	if (l == NULL)
		return;
	if ((strncmp(l, "unix:", 5) == 0 && (p = l + 5)) ||
	    (strncmp(l, "local:", 6) == 0 && (p = l + 6))) {
		if (*p != '/' || normalize(p, strlen(p), o->path,
		    sizeof(o->path)) < 0)
			return;
		ql = strlen(o->qdir);
		if (ql > 1 && strncmp(o->path, o->qdir, ql) == 0 &&
		    o->path[ql] == '/')
			snprintf(o->name, sizeof(o->name), "unix:%s",
			    o->path + ql + 1);
		else
			snprintf(o->name, sizeof(o->name), "unix:%s", o->path);
	} else if ((strncmp(l, "inet:", 5) == 0 && (p = l + 5)) ||
	    (strncmp(l, "inet6:", 6) == 0 && (p = l + 6))) {
		at = strchr(p, '@');
		pl = at != NULL ? (size_t)(at - p) : strlen(p);
		if (!digits(p, pl) || pl >= sizeof(o->port))
			return;
		memcpy(o->port, p, pl);
		o->port[pl] = '\0';
		snprintf(o->name, sizeof(o->name), "inet:%s:%s",
		    at != NULL && at[1] != '\0' ? at + 1 : "localhost", o->port);
	} else
		return;
	o->known = 1;
}

/* Whether the normalized path a is floodgate's socket: by its letters,
 * or as the same file when both are there. */
static int
same_socket(const char *a, const struct ours *o)
{
	struct stat sa, so;

	if (strcmp(a, o->path) == 0)
		return 1;
	return stat(a, &sa) == 0 && stat(o->path, &so) == 0 &&
	    sa.st_dev == so.st_dev && sa.st_ino == so.st_ino;
}

/* Whether one entry of a milter list (n bytes at e) is floodgate's
 * socket: 1 yes, 0 no, -1 cannot tell. */
static int
entry_is_ours(const char *e, size_t n, const struct ours *o)
{
	char in[PATH_MAX], cand[2 * PATH_MAX + 2];
	const char *p, *c;
	size_t pl;

	if (memchr(e, '$', n) != NULL)
		return -1;
	if (n > 5 && strncasecmp(e, "unix:", 5) == 0)
		p = e + 5;
	else if (n > 6 && strncasecmp(e, "local:", 6) == 0)
		p = e + 6;
	else if (n > 5 && strncasecmp(e, "inet:", 5) == 0) {
		if (o->port[0] == '\0')
			return 0;
		for (c = e + n; c > e + 5 && c[-1] != ':'; c--)
			;
		if (!digits(c, (size_t)(e + n - c)))
			return -1;
		return strlen(o->port) == (size_t)(e + n - c) &&
		    memcmp(o->port, c, (size_t)(e + n - c)) == 0;
	} else
		return -1;
	if (o->path[0] == '\0')
		return 0;
	pl = (size_t)(e + n - p);
	/* Postfix's daemons work in queue_directory, chrooted there or
	 * not: a relative path is under it, an absolute one is itself
	 * outside a chroot and under it inside one. */
	if (*p != '/') {
		if (o->qdir[0] == '\0')
			return -1;
		snprintf(cand, sizeof(cand), "%s/%.*s", o->qdir, (int)pl, p);
	} else {
		if (normalize(p, pl, in, sizeof(in)) < 0)
			return -1;
		if (same_socket(in, o))
			return 1;
		if (o->qdir[0] == '\0')
			return 0;
		snprintf(cand, sizeof(cand), "%s%s", o->qdir, in);
	}
	if (normalize(cand, strlen(cand), in, sizeof(in)) < 0)
		return -1;
	return same_socket(in, o);
}

/* Whether a milter list names floodgate's socket: 1 yes, 0 no, -1
 * cannot tell. Entries are separated by blanks or commas; "{ name,
 * key = value, ... }" is one, its name the first word. */
static int
list_names_ours(const char *s, size_t n, const struct ours *o)
{
	const char *p = s, *end = s + n, *b, *t, *close;
	int r = 0, one;

	while (p < end) {
		if (isspace((unsigned char)*p) || *p == ',') {
			p++;
			continue;
		}
		if (*p == '{') {
			close = memchr(p, '}', (size_t)(end - p));
			for (b = p + 1; b < (close ? close : end) &&
			    (isspace((unsigned char)*b) || *b == ','); b++)
				;
			for (t = b; t < (close ? close : end) &&
			    !isspace((unsigned char)*t) && *t != ','; t++)
				;
			p = close != NULL ? close + 1 : end;
		} else {
			for (b = t = p; t < end && !isspace((unsigned char)*t) &&
			    *t != ',' && *t != '{'; t++)
				;
			p = t;
		}
		if ((one = entry_is_ours(b, (size_t)(t - b), o)) == 1)
			return 1;
		if (one < 0)
			r = -1;
	}
	return r;
}

/* Of two answers, the one that warns least: yes, then cannot tell. */
static int
either(int a, int b)
{
	return a == 1 || b == 1 ? 1 : a < 0 || b < 0 ? -1 : 0;
}

struct found {
	char (*out)[FG_PF_TEXT];
	size_t n, max;
};

static void __attribute__((format(printf, 2, 3)))
add(struct found *f, const char *fmt, ...)
{
	va_list ap;

	if (f->n >= f->max)
		return;
	va_start(ap, fmt);
	vsnprintf(f->out[f->n++], FG_PF_TEXT, fmt, ap);
	va_end(ap);
}

/* Whether a list of milters is there at all, and whether one of them
 * is floodgate (list_names_ours()'s answer), over every place that
 * sets it. */
struct reach {
	int set, ours;
};

static void
reach_add(struct reach *r, const char *v, size_t n, const struct ours *o)
{
	if (n == 0)
		return;
	r->set = 1;
	if (o->known)
		r->ours = either(r->ours, list_names_ours(v, n, o));
}

/* master.cf's settings: "service/type/name = value" a line. */
static void
master_lines(const char *m, struct found *f, const struct ours *o,
    struct reach *local, struct reach *smtpd)
{
	char svc[256];
	const char *line, *nl, *eq, *slash, *name, *v, *ve;
	size_t n, vn;

	for (line = m; line != NULL && *line != '\0';
	    line = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		ve = nl != NULL ? nl : line + strlen(line);
		if ((eq = memchr(line, '=', (size_t)(ve - line))) == NULL)
			continue;
		/* The name: what follows the last '/' before the '='. */
		for (slash = NULL, name = line; name < eq; name++)
			if (*name == '/')
				slash = name;
		if (slash == NULL)
			continue;
		name = slash + 1;
		n = (size_t)(eq - name);
		while (n > 0 && isspace((unsigned char)name[n - 1]))
			n--;
		snprintf(svc, sizeof(svc), "%.*s", (int)(slash - line), line);
		for (v = eq + 1; v < ve && isspace((unsigned char)*v); v++)
			;
		while (ve > v && isspace((unsigned char)ve[-1]))
			ve--;
		vn = (size_t)(ve - v);
		if (named(name, n, "milter_default_action") && is_accept(v, vn))
			add(f, "master.cf: %s sets milter_default_action = accept: %s",
			    svc, ACCEPT_WHY);
		else if ((named(name, n, "smtpd_milters") ||
		    named(name, n, "non_smtpd_milters")) &&
		    per_milter_accept(v, vn))
			add(f, "master.cf: %s gives a milter default_action = accept: if it is floodgate, %s",
			    svc, ACCEPT_WHY);
		if (named(name, n, "non_smtpd_milters"))
			reach_add(local, v, vn, o);
		else if (named(name, n, "smtpd_milters"))
			reach_add(smtpd, v, vn, o);
		else if (named(name, n, "smtpd_milter_maps") && vn > 0)
			smtpd->ours = either(smtpd->ours, -1);
	}
}

/* One of main.cf's milter lists, value v: a milter's own accept said,
 * and whether it reaches floodgate; its value trimmed in [*b, *e). */
static void
main_list(struct found *f, const char *name, const char *v,
    const char **b, const char **e, struct reach *r, const struct ours *o)
{
	trim(v, b, e);
	if (per_milter_accept(*b, (size_t)(*e - *b)))
		add(f, "main.cf: %s gives a milter default_action = accept: if it is floodgate, %s",
		    name, ACCEPT_WHY);
	reach_add(r, *b, (size_t)(*e - *b), o);
}

#define LOCAL_WHY "local mail (the sendmail command, PHP's mail(), cron) goes out without floodgate, unlimited"
#define SMTPD_WHY "mail over SMTP (SASL logins, webmail) goes out without floodgate, unlimited"

size_t
fg_pf_check(const struct fg_pf_conf *pf, char out[][FG_PF_TEXT], size_t max)
{
	struct found f = { out, 0, max };
	struct reach local = { 0, 0 }, smtpd = { 0, 0 };
	struct ours o;
	const char *b, *e, *lb = "", *le = "", *sb = "", *se = "";

	read_ours(pf, &o);
	if (pf->default_action != NULL) {
		trim(pf->default_action, &b, &e);
		if (is_accept(b, (size_t)(e - b)))
			add(&f, "main.cf: milter_default_action = accept: %s",
			    ACCEPT_WHY);
	}
	if (pf->smtpd_milters != NULL)
		main_list(&f, "smtpd_milters", pf->smtpd_milters, &sb, &se,
		    &smtpd, &o);
	if (pf->smtpd_milter_maps != NULL) {
		trim(pf->smtpd_milter_maps, &b, &e);
		if (e > b)
			smtpd.ours = either(smtpd.ours, -1);
	}
	if (pf->non_smtpd_milters != NULL)
		main_list(&f, "non_smtpd_milters", pf->non_smtpd_milters, &lb,
		    &le, &local, &o);
	if (pf->master != NULL)
		master_lines(pf->master, &f, &o, &local, &smtpd);
	if (pf->non_smtpd_milters != NULL && !local.set)
		add(&f, "main.cf: non_smtpd_milters is empty: " LOCAL_WHY
		    "; name floodgate's socket there too%s%s%s",
		    o.known ? " (" : "", o.name, o.known ? ")" : "");
	else if (pf->non_smtpd_milters != NULL && o.known && local.ours == 0)
		add(&f, "main.cf: non_smtpd_milters = %.*s%s names no socket of floodgate's (%s), nor does a master.cf service's: "
		    LOCAL_WHY, (int)(le - lb > 80 ? 80 : le - lb), lb,
		    le - lb > 80 ? "..." : "", o.name);
	if (pf->smtpd_milters != NULL && o.known && smtpd.ours == 0 &&
	    !smtpd.set)
		add(&f, "main.cf: smtpd_milters is empty and no master.cf service sets it: "
		    SMTPD_WHY "; name floodgate's socket there (%s)", o.name);
	else if (pf->smtpd_milters != NULL && o.known && smtpd.ours == 0)
		add(&f, "main.cf: smtpd_milters = %.*s%s names no socket of floodgate's (%s), nor does a master.cf service's or smtpd_milter_maps: "
		    SMTPD_WHY, (int)(se - sb > 80 ? 80 : se - sb), sb,
		    se - sb > 80 ? "..." : "", o.name);
	return f.n;
}
