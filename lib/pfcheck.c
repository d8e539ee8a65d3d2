/*
 * Postfix's settings that let mail past floodgate, or have it decide a
 * message twice (see pfcheck.h; Sendmail's are in smcheck.c).
 * What each finding tells is only what is certain from the settings:
 * an empty non_smtpd_milters is no milter for local mail, whatever
 * floodgate's socket is called; a milter list names floodgate's socket
 * only if one of its entries is that socket as Postfix reaches it (a
 * path relative to queue_directory, or an absolute one seen from the
 * chroot or from outside it, or an inet port), and a form not read
 * here (a $name left, a path with ..) is taken as naming it. An SMTP
 * service that takes logins is judged by its own settings, else by
 * main.cf's, as Postfix reads them.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "net.h"
#include "pfcheck.h"
#include "pfcheck_int.h"

#define ACCEPT_WHY "Postfix takes every message without floodgate, unlimited, while floodgate is stopped or does not answer in time; set it to tempfail"
#define NO_MILTERS_LOCAL "Postfix runs no milter on local mail (the sendmail command, PHP's mail(), cron), floodgate's included: it goes out unlimited"
#define SUBMIT_WHY "mail submitted there (SASL logins, webmail) goes out without floodgate, unlimited"
#define NO_MILTERS_HINT "give no_milters only to the listener a content filter gives mail back to (-o on that service in master.cf)"
#define NO_MILTERS_WHY "Postfix runs no milter on the mail it receives (over SMTP and local), floodgate's included: every message goes out unlimited; " NO_MILTERS_HINT
#define NO_MILTERS_SMTP "Postfix runs no milter on the mail its SMTP services receive (those with no receive_override_options of their own), floodgate's included: it goes out unlimited; " NO_MILTERS_HINT

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

/* The next word of a list (blanks and commas between words) from *p
 * to end, in [*b, *t); 0 at the list's end. */
static int
next_word(const char **p, const char *end, const char **b, const char **t)
{
	const char *s = *p;

	while (s < end && (isspace((unsigned char)*s) || *s == ','))
		s++;
	if (s >= end)
		return 0;
	*b = s;
	while (s < end && !isspace((unsigned char)*s) && *s != ',')
		s++;
	*t = *p = s;
	return 1;
}

/* Whether a receive_override_options value (n bytes at s) holds
 * no_milters, which turns every milter off for the mail the service
 * receives. */
static int
no_milters(const char *s, size_t n)
{
	const char *p = s, *b, *t;

	while (next_word(&p, s + n, &b, &t))
		if (t - b == 10 && strncasecmp(b, "no_milters", 10) == 0)
			return 1;
	return 0;
}

/* Whether the n bytes at name are the parameter called want. */
static int
named(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(name, want, n) == 0;
}

int
fg_pf_normalize(const char *in, size_t n, char *out, size_t outlen)
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

int
fg_pf_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return n > 0;
}

void
fg_pf_ours_read(const struct fg_pf_conf *pf, struct fg_pf_ours *o)
{
	const char *l = pf->listen, *p, *at;
	size_t ql, pl;

	memset(o, 0, sizeof(*o));
	if (pf->queue_directory != NULL && pf->queue_directory[0] == '/' &&
	    fg_pf_normalize(pf->queue_directory, strlen(pf->queue_directory),
	    o->qdir, sizeof(o->qdir)) < 0)
		o->qdir[0] = '\0';
	if (l == NULL)
		return;
	if ((p = fg_net_unix_spec(l)) != NULL) {
		if (*p != '/' || fg_pf_normalize(p, strlen(p), o->path,
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
		if (!fg_pf_digits(p, pl) || pl >= sizeof(o->port))
			return;
		memcpy(o->port, p, pl);
		o->port[pl] = '\0';
		snprintf(o->name, sizeof(o->name), "inet:%s:%s",
		    at != NULL && at[1] != '\0' ? at + 1 : "localhost", o->port);
	} else
		return;
	o->known = 1;
}

int
fg_pf_same_socket(const char *a, const struct fg_pf_ours *o)
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
entry_is_ours(const char *e, size_t n, const struct fg_pf_ours *o)
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
		if (!fg_pf_digits(c, (size_t)(e + n - c)))
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
		if (fg_pf_normalize(p, pl, in, sizeof(in)) < 0)
			return -1;
		if (fg_pf_same_socket(in, o))
			return 1;
		if (o->qdir[0] == '\0')
			return 0;
		snprintf(cand, sizeof(cand), "%s%s", o->qdir, in);
	}
	if (fg_pf_normalize(cand, strlen(cand), in, sizeof(in)) < 0)
		return -1;
	return fg_pf_same_socket(in, o);
}

/*
 * The next entry of a milter list, from *p up to end: separated by
 * blanks or commas, "{ name, key = value, ... }" one entry whose name
 * is its first word. Its name in [*b, *t), a group's settings after it
 * up to *set (*t for a bare name); 0 when no entry is left.
 */
static int
next_entry(const char **p, const char *end, const char **b,
    const char **t, const char **set)
{
	const char *q = *p, *close;

	while (q < end && (isspace((unsigned char)*q) || *q == ','))
		q++;
	if (q >= end)
		return 0;
	if (*q == '{') {
		close = memchr(q, '}', (size_t)(end - q));
		if (close == NULL)
			close = end;
		for (*b = q + 1; *b < close &&
		    (isspace((unsigned char)**b) || **b == ','); (*b)++)
			;
		for (*t = *b; *t < close && !isspace((unsigned char)**t) &&
		    **t != ','; (*t)++)
			;
		*set = close;
		*p = close < end ? close + 1 : end;
	} else {
		for (*b = *t = q; *t < end && !isspace((unsigned char)**t) &&
		    **t != ',' && **t != '{'; (*t)++)
			;
		*set = *t;
		*p = *t;
	}
	return 1;
}

/* Whether the n bytes at s hold "default_action = accept" (a
 * "{ ... }" group's settings). */
static int
sets_accept(const char *s, size_t n)
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

/*
 * Whether a milter list gives floodgate's milter "default_action =
 * accept" (Postfix 3.0's "{ unix:..., default_action = accept }"): 1
 * yes, -1 a milter that may be floodgate's (listen not known, or a
 * name not read), 0 no (none does, or only other milters: OpenDKIM's
 * guides give it that). The milter's name, for the finding, in
 * [*nb, *ne).
 */
static int
group_accept(const char *s, size_t n, const struct fg_pf_ours *o,
    const char **nb, const char **ne)
{
	const char *p = s, *end = s + n, *b, *t, *set;
	int r = 0, one;

	while (next_entry(&p, end, &b, &t, &set)) {
		if (!sets_accept(t, (size_t)(set - t)))
			continue;
		one = o->known ? entry_is_ours(b, (size_t)(t - b), o) : -1;
		if (one == 0 || (one < 0 && r < 0))
			continue;
		*nb = b;
		*ne = t;
		if ((r = one) == 1)
			break;
	}
	return r;
}

/* Whether a milter list names floodgate's socket, one of its entries
 * (next_entry()) by name: 1 yes, 0 no, -1 cannot tell. */
static int
list_names_ours(const char *s, size_t n, const struct fg_pf_ours *o)
{
	const char *p = s, *end = s + n, *b, *t, *set;
	int r = 0, one;

	while (next_entry(&p, end, &b, &t, &set)) {
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

void
fg_pf_add(struct fg_pf_found *f, const char *fmt, ...)
{
	va_list ap;

	if (f->n >= f->max) {
		f->more++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(f->out[f->n++], FG_PF_TEXT, fmt, ap);
	va_end(ap);
}

size_t
fg_pf_found_n(struct fg_pf_found *f)
{
	if (f->more > 0 && f->max > 0)
		snprintf(f->out[f->max - 1], FG_PF_TEXT,
		    "%zu more findings not shown: mend those above and run floodgate -n again",
		    f->more + 1);
	return f->n;
}

/* A milter list's own "default_action = accept" for floodgate, said
 * of where (main.cf's parameter, or master.cf's service). */
static void
milter_accept(struct fg_pf_found *f, const char *file, const char *where,
    const char *v, size_t vn, const struct fg_pf_ours *o)
{
	const char *nb = NULL, *ne = NULL;

	switch (group_accept(v, vn, o, &nb, &ne)) {
	case 1:
		fg_pf_add(f, "%s%s gives floodgate's milter (%.*s) default_action = accept: %s",
		    file, where, (int)(ne - nb), nb, ACCEPT_WHY);
		break;
	case -1:
		fg_pf_add(f, "%s%s gives the milter %.*s default_action = accept: if it is floodgate, %s",
		    file, where, (int)(ne - nb > 120 ? 120 : ne - nb), nb,
		    ACCEPT_WHY);
		break;
	}
}

/* Whether a list of milters is there at all, and whether one of them
 * is floodgate (list_names_ours()'s answer), over every place that
 * sets it. */
struct reach {
	int set, ours;
};

static void
reach_add(struct reach *r, const char *v, size_t n, const struct fg_pf_ours *o)
{
	if (n == 0)
		return;
	r->set = 1;
	if (o->known)
		r->ours = either(r->ours, list_names_ours(v, n, o));
}

/* The value master.cf's lines m give service svc's parameter name,
 * blanks dropped, in [*vb, *ve); 0 when they give it none. */
static int
service_value(const char *m, const char *svc, const char *name,
    const char **vb, const char **ve)
{
	char key[320];
	const char *p, *v, *e;
	int k = snprintf(key, sizeof(key), "%s/%s", svc, name);

	if (k <= 0 || (size_t)k >= sizeof(key))
		return 0;
	for (p = m; (p = strstr(p, key)) != NULL; p += k) {
		if (p != m && p[-1] != '\n')
			continue;
		for (v = p + k; *v == ' ' || *v == '\t'; v++)
			;
		if (*v++ != '=')
			continue;
		while (*v == ' ' || *v == '\t')
			v++;
		for (e = v; *e != '\0' && *e != '\n'; e++)
			;
		while (e > v && isspace((unsigned char)e[-1]))
			e--;
		*vb = v;
		*ve = e;
		return 1;
	}
	return 0;
}

/* Whether a master.cf service ("name/type") is a submission service
 * by its name: submission (587), submissions or smtps (465), by port
 * name or number, with a host or without. */
static int
submission_named(const char *svc)
{
	static const char *const ports[] = { "submission", "submissions",
	    "smtps", "587", "465" };
	const char *slash = strchr(svc, '/'), *p = svc, *c;
	size_t n, i;

	if (slash == NULL || strcmp(slash, "/inet") != 0)
		return 0;
	for (c = svc; c < slash; c++)
		if (*c == ':')
			p = c + 1;
	n = (size_t)(slash - p);
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if (strlen(ports[i]) == n && memcmp(ports[i], p, n) == 0)
			return 1;
	return 0;
}

/* Postfix reads a boolean as yes in any case, anything else as no. */
static int
is_yes(const char *s, size_t n)
{
	return n == 3 && strncasecmp(s, "yes", 3) == 0;
}

/* Whether an address (n bytes at s) is the loopback's. */
static int
loopback_word(const char *s, size_t n)
{
	if (n > 1 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	return (n == 9 && strncasecmp(s, "localhost", 9) == 0) ||
	    (n == 3 && memcmp(s, "::1", 3) == 0) ||
	    (n > 4 && memcmp(s, "127.", 4) == 0);
}

/* Whether every address of a list (inet_interfaces) is the loopback's;
 * "all" and an empty list are not. */
static int
loopback_list(const char *s)
{
	const char *p, *e, *b, *t;
	int any = 0;

	trim(s, &p, &e);
	if (e - p == 13 && strncasecmp(p, "loopback-only", 13) == 0)
		return 1;
	while (next_word(&p, e, &b, &t)) {
		if (!loopback_word(b, (size_t)(t - b)))
			return 0;
		any = 1;
	}
	return any;
}

/* Whether service name (n bytes: "host:port", "port") listens on the
 * loopback only: its host, or without one every address Postfix
 * listens on (inet_interfaces, unknown: no). */
static int
loopback_listener(const char *name, size_t n, const char *interfaces)
{
	const char *c = NULL, *p;

	for (p = name; p < name + n; p++)
		if (*p == ':')
			c = p;
	if (c != NULL && c > name)
		return loopback_word(name, (size_t)(c - name));
	return interfaces != NULL && loopback_list(interfaces);
}

/* One of master.cf's settings as postconf -P gives them, a line
 * "service/type/name = value": the service, the name after the last
 * '/' before the '=', the value trimmed. */
struct setting {
	char svc[256];
	const char *name, *v;
	size_t n, vn;
};

/* The next such line from *p (lines that are not one skipped) into s;
 * 0 at the end. */
static int
next_setting(const char **p, struct setting *s)
{
	const char *line, *nl, *eq, *slash, *name, *v, *ve;

	for (line = *p; line != NULL && *line != '\0';
	    line = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		ve = nl != NULL ? nl : line + strlen(line);
		if ((eq = memchr(line, '=', (size_t)(ve - line))) == NULL)
			continue;
		for (slash = NULL, name = line; name < eq; name++)
			if (*name == '/')
				slash = name;
		if (slash == NULL)
			continue;
		s->name = slash + 1;
		s->n = (size_t)(eq - s->name);
		while (s->n > 0 && isspace((unsigned char)s->name[s->n - 1]))
			s->n--;
		snprintf(s->svc, sizeof(s->svc), "%.*s", (int)(slash - line),
		    line);
		for (v = eq + 1; v < ve && isspace((unsigned char)*v); v++)
			;
		while (ve > v && isspace((unsigned char)ve[-1]))
			ve--;
		s->v = v;
		s->vn = (size_t)(ve - v);
		*p = nl != NULL ? nl + 1 : NULL;
		return 1;
	}
	*p = NULL;
	return 0;
}

/* master.cf's settings, each said or counted; cleanup is the service
 * local mail goes through (local_cleanup()). */
static void
master_lines(const char *m, struct fg_pf_found *f, const struct fg_pf_ours *o,
    const char *cleanup, struct reach *local, struct reach *smtpd)
{
	struct setting st;
	const char *p = m, *svc = st.svc, *name, *v;
	size_t n, vn;

	while (next_setting(&p, &st)) {
		name = st.name;
		n = st.n;
		v = st.v;
		vn = st.vn;
		if (named(name, n, "milter_default_action") && is_accept(v, vn))
			fg_pf_add(f, "master.cf: %s sets milter_default_action = accept: %s",
			    svc, ACCEPT_WHY);
		else if (named(name, n, "smtpd_milters") ||
		    named(name, n, "non_smtpd_milters"))
			milter_accept(f, "master.cf: ", svc, v, vn, o);
		/* pickup hands local mail to cleanup; a listener given
		 * no_milters is a content filter's way back, on purpose. */
		if (named(name, n, "receive_override_options") &&
		    strcmp(svc, "pickup/unix") == 0 && no_milters(v, vn))
			fg_pf_add(f, "master.cf: %s sets receive_override_options = %.*s: %s",
			    svc, (int)(vn > 80 ? 80 : vn), v, NO_MILTERS_LOCAL);
		/* Local mail's list: the one its cleanup service reads. */
		if (named(name, n, "non_smtpd_milters")) {
			if (strcmp(svc, cleanup) == 0)
				reach_add(local, v, vn, o);
		} else if (named(name, n, "smtpd_milters"))
			reach_add(smtpd, v, vn, o);
		else if (named(name, n, "smtpd_milter_maps") && vn > 0)
			smtpd->ours = either(smtpd->ours, -1);
	}
}

/* One of main.cf's milter lists, value v: a milter's own accept said,
 * and whether it reaches floodgate; its value trimmed in [*b, *e). */
static void
main_list(struct fg_pf_found *f, const char *name, const char *v,
    const char **b, const char **e, struct reach *r, const struct fg_pf_ours *o)
{
	trim(v, b, e);
	milter_accept(f, "main.cf: ", name, *b, (size_t)(*e - *b), o);
	reach_add(r, *b, (size_t)(*e - *b), o);
}

/* A list a service sets, as said: "empty", or "= LIST, which names no
 * socket of floodgate's (SOCKET)". */
static const char *
list_text(char *buf, size_t len, const char *v, size_t vn,
    const struct fg_pf_ours *o)
{
	if (vn == 0)
		return "empty";
	/* Cut at len, as fg_pf_add() cuts a whole finding. */
	return snprintf(buf, len,
	    "= %.*s%s, which names no socket of floodgate's (%s)",
	    (int)(vn > 80 ? 80 : vn), v, vn > 80 ? "..." : "", o->name) < 0 ?
	    "" : buf;
}

/* Whether main.cf's value v (NULL: not asked) is not empty. */
static int
main_set(const char *v)
{
	const char *b, *e;

	if (v == NULL)
		return 0;
	trim(v, &b, &e);
	return e > b;
}

/* An smtpd of master.cf's (postconf -M): on an inet listener, or the
 * one postscreen hands its clients to ("pass"). */
struct smtpd_svc {
	char svc[256];		/* "name/type", as postconf -P writes it */
	const char *name;	/* the listener, "host:port" or "port"; */
	size_t n;		/* 0 for pass: wherever Postfix listens */
	int inet;
};

/* This service's own value of name in [*v, *ve) (1), else main.cf's,
 * trimmed (0; *v NULL when it was not asked). */
static int
own_else_main(const struct fg_pf_conf *pf, const char *svc,
    const char *name, const char *main_value, const char **v,
    const char **ve)
{
	if (service_value(pf->master != NULL ? pf->master : "", svc, name,
	    v, ve))
		return 1;
	*v = *ve = NULL;
	if (main_value != NULL)
		trim(main_value, v, ve);
	return 0;
}

/* Whether svc's own name is set empty; is yes. */
static int
own_empty(const struct fg_pf_conf *pf, const char *svc, const char *name)
{
	const char *v, *ve;

	return own_else_main(pf, svc, name, NULL, &v, &ve) && ve == v;
}

static int
own_yes(const struct fg_pf_conf *pf, const char *svc, const char *name)
{
	const char *v, *ve;

	return own_else_main(pf, svc, name, NULL, &v, &ve) &&
	    is_yes(v, (size_t)(ve - v));
}

/* Whether no_milters (in svc's own receive_override_options, else
 * main.cf's) turns svc's milters off. */
static int
milters_off(const struct fg_pf_conf *pf, const char *svc)
{
	const char *v, *ve;

	(void)own_else_main(pf, svc, "receive_override_options",
	    pf->receive_override_options, &v, &ve);
	return v != NULL && no_milters(v, (size_t)(ve - v));
}

/* Whether a map (svc's own smtpd_milter_maps, else main.cf's) may name
 * floodgate's socket for some clients. */
static int
has_map(const struct fg_pf_conf *pf, const char *svc)
{
	const char *v, *ve;

	(void)own_else_main(pf, svc, "smtpd_milter_maps",
	    pf->smtpd_milter_maps, &v, &ve);
	return v != NULL && ve > v;
}

/*
 * Where logins submit: a submission service by its name, or a service
 * where SASL is on (its own -o, else main.cf's). Where its milters (its
 * own list, else main.cf's) name no socket of floodgate's, or its own
 * receive_override_options turns them off, and no map (its own, else
 * main.cf's) may name it, its logins' mail goes out unlimited. A
 * listener on the loopback only that has SASL from main.cf alone is
 * not said: a local client may relay there without a login anyway (a
 * content filter's listener; the README's firewall keeps tenants off
 * it). main_said: main.cf's own list was said for all of SMTP already.
 */
#define LOGIN_MAIN "; it takes logins by main.cf's smtpd_sasl_auth_enable = yes: turn SASL off there (-o smtpd_sasl_auth_enable=no) or name floodgate's socket"

static void
login_service(struct fg_pf_found *f, const struct fg_pf_conf *pf,
    const struct fg_pf_ours *o, const struct smtpd_svc *sv, int main_said)
{
	char text[FG_PF_TEXT];
	const char *v, *ve, *why;
	int named_sub = submission_named(sv->svc), own_sasl;

	own_sasl = own_else_main(pf, sv->svc, "smtpd_sasl_auth_enable",
	    pf->smtpd_sasl_auth_enable, &v, &ve);
	if (!named_sub && (v == NULL || !is_yes(v, (size_t)(ve - v))))
		return;
	/* SASL from main.cf alone, on the loopback only. */
	if (!named_sub && !own_sasl &&
	    loopback_listener(sv->name, sv->n, pf->inet_interfaces))
		return;
	if (has_map(pf, sv->svc))
		return;
	why = named_sub || own_sasl ? "" : LOGIN_MAIN;
	if (own_else_main(pf, sv->svc, "smtpd_milters", pf->smtpd_milters, &v,
	    &ve)) {
		if (list_names_ours(v, (size_t)(ve - v), o) == 0)
			fg_pf_add(f, "master.cf: %s sets smtpd_milters %s: "
			    SUBMIT_WHY "%s", sv->svc, list_text(text,
			    sizeof(text), v, (size_t)(ve - v), o), why);
	} else if (!main_said && v != NULL &&
	    list_names_ours(v, (size_t)(ve - v), o) == 0)
		fg_pf_add(f, "master.cf: %s has no smtpd_milters of its own, and main.cf's %s%.*s%s names no socket of floodgate's (%s): "
		    SUBMIT_WHY "%s", sv->svc, ve > v ? "= " : "(empty)",
		    (int)(ve - v > 80 ? 80 : ve - v), v, ve - v > 80 ? "..." : "",
		    o->name, why);
	if (own_else_main(pf, sv->svc, "receive_override_options", NULL, &v,
	    &ve) && no_milters(v, (size_t)(ve - v)))
		fg_pf_add(f, "master.cf: %s sets receive_override_options = %.*s: "
		    SUBMIT_WHY "%s", sv->svc, (int)(ve - v > 80 ? 80 : ve - v), v,
		    why);
}

/*
 * Where a content filter gives mail back (a listener on the loopback
 * only whose own content_filter or smtpd_proxy_filter is set empty, as
 * FILTER_README and the README write it; a submission service or one
 * with SASL of its own that skips the filter is not one): milters that
 * name floodgate's socket there, not turned off by no_milters, decide
 * each message a second time.
 */
static void
filter_return(struct fg_pf_found *f, const struct fg_pf_conf *pf,
    const struct fg_pf_ours *o, const struct smtpd_svc *sv)
{
	const char *v, *ve, *src;

	if (!sv->inet || !loopback_listener(sv->name, sv->n,
	    pf->inet_interfaces) || submission_named(sv->svc) ||
	    own_yes(pf, sv->svc, "smtpd_sasl_auth_enable") ||
	    !(own_empty(pf, sv->svc, "content_filter") ||
	    own_empty(pf, sv->svc, "smtpd_proxy_filter")) ||
	    has_map(pf, sv->svc) || milters_off(pf, sv->svc))
		return;
	src = own_else_main(pf, sv->svc, "smtpd_milters", pf->smtpd_milters,
	    &v, &ve) ? "its own smtpd_milters" : "main.cf's smtpd_milters";
	if (v != NULL && list_names_ours(v, (size_t)(ve - v), o) == 1)
		fg_pf_add(f, "master.cf: %s takes mail back from a content filter, and %s names floodgate's socket (%s): every message is decided and charged a second time there, from the filter without its login (to its envelope sender's account); give it -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters",
		    sv->svc, src, o->name);
}

/* The cleanup service ("name/unix") pickup hands local mail to: its
 * own cleanup_service_name, else main.cf's, else "cleanup". Its
 * non_smtpd_milters are local mail's: cleanup reads them, pickup does
 * not. */
static void
local_cleanup(const struct fg_pf_conf *pf, char *out, size_t len)
{
	const char *v, *ve;

	(void)own_else_main(pf, "pickup/unix", "cleanup_service_name",
	    pf->cleanup_service_name, &v, &ve);
	if (v == NULL || ve == v)
		v = "cleanup", ve = v + 7;
	snprintf(out, len, "%.*s/unix", (int)(ve - v > 200 ? 200 : ve - v),
	    v);
}

/* Whether a content_filter value (n bytes at v: "transport:nexthop")
 * names the transport t. */
static int
filter_is(const char *v, size_t n, const char *t, size_t tn)
{
	const char *c = memchr(v, ':', n);

	if (c != NULL)
		n = (size_t)(c - v);
	return n == tn && memcmp(v, t, tn) == 0;
}

/* Whether main.cf's content_filter or a service's own (postconf -P's
 * "service/type/content_filter = value") names the transport t. */
static int
content_filter_names(const struct fg_pf_conf *pf, const char *t, size_t tn)
{
	struct setting st;
	const char *b, *e, *p = pf->master;

	if (pf->content_filter != NULL) {
		trim(pf->content_filter, &b, &e);
		if (filter_is(b, (size_t)(e - b), t, tn))
			return 1;
	}
	while (next_setting(&p, &st))
		if (named(st.name, st.n, "content_filter") &&
		    filter_is(st.v, st.vn, t, tn))
			return 1;
	return 0;
}

/* Whether a pipe's arguments [p, e) run the sendmail command: a word
 * that ends in "/sendmail" or "=sendmail", or is "sendmail". */
static int
runs_sendmail(const char *p, const char *e)
{
	const char *b, *t;

	while (p < e) {
		while (p < e && isspace((unsigned char)*p))
			p++;
		for (b = p; p < e && !isspace((unsigned char)*p); p++)
			;
		for (t = p; t > b && t[-1] != '/' && t[-1] != '='; t--)
			;
		if (p - t == 8 && memcmp(t, "sendmail", 8) == 0)
			return 1;
	}
	return 0;
}

/*
 * A content filter run by pipe(8) that gives the mail back through the
 * sendmail command (FILTER_README's simple filter, spamc -e sendmail):
 * it comes back as local mail, through pickup and the cleanup service
 * pickup hands it to (pickup's own cleanup_service_name, else
 * main.cf's), whose milters (that service's own non_smtpd_milters, else
 * main.cf's: cleanup reads them, pickup does not) naming floodgate's
 * socket decide each message a second time. pickup's no_milters is
 * said on its own.
 */
static void
pipe_filter(struct fg_pf_found *f, const struct fg_pf_conf *pf,
    const struct fg_pf_ours *o, const char *cleanup, const char *name, size_t n,
    const char *args, const char *end)
{
	const char *v, *ve;

	if (!content_filter_names(pf, name, n) || !runs_sendmail(args, end) ||
	    milters_off(pf, "pickup/unix"))
		return;
	(void)own_else_main(pf, cleanup, "non_smtpd_milters",
	    pf->non_smtpd_milters, &v, &ve);
	if (v != NULL && list_names_ours(v, (size_t)(ve - v), o) == 1)
		fg_pf_add(f, "master.cf: %.*s/unix, a content filter, gives mail back through the sendmail command, and local mail's milters (non_smtpd_milters) name floodgate's socket (%s): every message it filters is decided and charged a second time, as local mail; give the mail back over SMTP to a listener with no_milters (the README's Content filters)",
		    (int)(n > 80 ? 80 : n), name, o->name);
}

/* The next of postconf -M's lines from *p (NULL or at the end: 0): its
 * first eight fields (name type private unpriv chroot wakeup maxproc
 * command) in [fld[k], fe[k]), empty past its end, and the line's end in
 * *le. */
static int
next_service(const char **p, const char *fld[8], const char *fe[8],
    const char **le)
{
	const char *line = *p, *nl, *q;
	int k;

	if (line == NULL || *line == '\0')
		return 0;
	nl = strchr(line, '\n');
	*le = nl != NULL ? nl : line + strlen(line);
	for (q = line, k = 0; k < 8; k++) {
		while (q < *le && isspace((unsigned char)*q))
			q++;
		fld[k] = q;
		while (q < *le && !isspace((unsigned char)*q))
			q++;
		fe[k] = q;
	}
	*p = nl != NULL ? nl + 1 : NULL;
	return 1;
}

/* Whether a service's fields are an SMTP service, an smtpd on an inet
 * listener or postscreen's pass; its "name/type" then in svc. */
static int
smtp_service(const char *fld[8], const char *fe[8], char *svc, size_t len)
{
	return fe[7] - fld[7] == 5 && memcmp(fld[7], "smtpd", 5) == 0 &&
	    fe[1] - fld[1] == 4 && (memcmp(fld[1], "inet", 4) == 0 ||
	    memcmp(fld[1], "pass", 4) == 0) &&
	    snprintf(svc, len, "%.*s/%.*s", (int)(fe[0] - fld[0]), fld[0], 4,
	    fld[1]) < (int)len;
}

/* master.cf's services, from postconf -M's lines: each smtpd and each
 * pipe looked at; cleanup as for master_lines(). */
static void
master_services(struct fg_pf_found *f, const struct fg_pf_conf *pf,
    const struct fg_pf_ours *o, const char *cleanup, int main_said)
{
	const char *p = pf->services, *le, *fld[8], *fe[8];
	struct smtpd_svc sv;

	if (pf->services == NULL || !o->known)
		return;
	while (next_service(&p, fld, fe, &le)) {
		if (fe[1] - fld[1] != 4)
			continue;
		if (fe[7] - fld[7] == 4 && memcmp(fld[7], "pipe", 4) == 0 &&
		    memcmp(fld[1], "unix", 4) == 0) {
			pipe_filter(f, pf, o, cleanup, fld[0],
			    (size_t)(fe[0] - fld[0]), fe[7], le);
			continue;
		}
		if (!smtp_service(fld, fe, sv.svc, sizeof(sv.svc)))
			continue;
		sv.inet = fld[1][0] == 'i';
		sv.name = fld[0];
		sv.n = sv.inet ? (size_t)(fe[0] - fld[0]) : 0;
		login_service(f, pf, o, &sv, main_said);
		filter_return(f, pf, o, &sv);
	}
}

/* Whether master.cf's services (postconf -M's lines; NULL: not asked,
 * the stock ones) have name (n bytes) of type unix run command. */
static int
service_runs(const char *services, const char *name, size_t n,
    const char *command)
{
	const char *p = services, *le, *fld[8], *fe[8];
	size_t cn = strlen(command);

	if (services == NULL)
		return n == cn && memcmp(name, command, n) == 0;
	while (next_service(&p, fld, fe, &le))
		if ((size_t)(fe[0] - fld[0]) == n &&
		    memcmp(fld[0], name, n) == 0 && fe[1] - fld[1] == 4 &&
		    memcmp(fld[1], "unix", 4) == 0 &&
		    (size_t)(fe[7] - fld[7]) == cn &&
		    memcmp(fld[7], command, cn) == 0)
			return 1;
	return 0;
}

/*
 * With account uid, .forward files: the local(8) that local_transport
 * names (main.cf's mydestination not empty) reads them when its
 * forward_path (its own, else main.cf's) is not empty.
 */
static void
forward_files(struct fg_pf_found *f, const struct fg_pf_conf *pf)
{
	char svc[256];
	const char *t, *te, *c, *v, *ve;
	int own;

	if (!pf->uid_accounts || !main_set(pf->mydestination) ||
	    pf->local_transport == NULL)
		return;
	trim(pf->local_transport, &t, &te);
	if ((c = memchr(t, ':', (size_t)(te - t))) != NULL)
		te = c;
	if (!service_runs(pf->services, t, (size_t)(te - t), "local") ||
	    snprintf(svc, sizeof(svc), "%.*s/unix", (int)(te - t), t) >=
	    (int)sizeof(svc))
		return;
	own = own_else_main(pf, svc, "forward_path", pf->forward_path, &v,
	    &ve);
	if (v == NULL || ve == v)
		return;
	/* Not its value: postconf -x -P has made "$home/.forward" of a
	 * service's "/.forward". */
	if (own)
		fg_pf_add(f, "master.cf: %s sets a forward_path of its own: " FG_PF_FORWARD_WHY
		    "; set it empty (-o forward_path=) to turn .forward files off",
		    svc);
	else
		fg_pf_add(f, "main.cf: forward_path = %.*s%s: " FG_PF_FORWARD_WHY
		    "; set forward_path = (empty) to turn .forward files off",
		    (int)(ve - v > 80 ? 80 : ve - v), v,
		    ve - v > 80 ? "..." : "");
}

/* Whether an SMTP service (master.cf's smtpd on inet or pass; the
 * stock smtp when master.cf's were not asked) sets no
 * receive_override_options of its own. */
static int
smtpd_inherits(const struct fg_pf_conf *pf)
{
	const char *p = pf->services, *le, *fld[8], *fe[8], *v, *ve;
	char svc[256];

	if (pf->services == NULL)
		return 1;
	while (next_service(&p, fld, fe, &le))
		if (smtp_service(fld, fe, svc, sizeof(svc)) &&
		    !own_else_main(pf, svc, "receive_override_options", NULL,
		    &v, &ve))
			return 1;
	return 0;
}

/* main.cf's no_milters, said of what takes it: the SMTP services and
 * pickup that set no receive_override_options of their own. */
static void
main_no_milters(struct fg_pf_found *f, const struct fg_pf_conf *pf)
{
	const char *b, *e, *v, *ve, *why;
	int smtp, local;

	trim(pf->receive_override_options, &b, &e);
	if (!no_milters(b, (size_t)(e - b)))
		return;
	smtp = smtpd_inherits(pf);
	local = !own_else_main(pf, "pickup/unix", "receive_override_options",
	    NULL, &v, &ve);
	if (!smtp && !local)
		return;
	why = !smtp ? NO_MILTERS_LOCAL " (every SMTP service sets its own receive_override_options)" :
	    !local ? NO_MILTERS_SMTP : NO_MILTERS_WHY;
	fg_pf_add(f, "main.cf: receive_override_options = %.*s: %s",
	    (int)(e - b > 80 ? 80 : e - b), b, why);
}

#define LOCAL_WHY "local mail (the sendmail command, PHP's mail(), cron) goes out without floodgate, unlimited"
#define SMTPD_WHY "mail over SMTP (SASL logins, webmail) goes out without floodgate, unlimited"

/* The cleanup service local mail goes through, given a list of its own
 * that names no socket of floodgate's, where main.cf's does (else that
 * was said of main.cf); 1 when said. */
static int
cleanup_list(struct fg_pf_found *f, const struct fg_pf_conf *pf,
    const struct fg_pf_ours *o, const char *cleanup, int local_said)
{
	char text[FG_PF_TEXT];
	const char *v, *ve;

	if (local_said || !o->known ||
	    !own_else_main(pf, cleanup, "non_smtpd_milters", NULL, &v, &ve) ||
	    list_names_ours(v, (size_t)(ve - v), o) != 0)
		return 0;
	fg_pf_add(f, "master.cf: %s, the cleanup service local mail goes through, sets non_smtpd_milters %s: "
	    LOCAL_WHY, cleanup, list_text(text, sizeof(text), v,
	    (size_t)(ve - v), o));
	return 1;
}

/* Where local mail misses floodgate, a list on pickup that names it:
 * pickup never reads non_smtpd_milters (the cleanup service does). */
static void
pickup_list(struct fg_pf_found *f, const struct fg_pf_conf *pf,
    const struct fg_pf_ours *o, const char *cleanup)
{
	const char *v, *ve;

	if (!own_else_main(pf, "pickup/unix", "non_smtpd_milters", NULL, &v,
	    &ve) || list_names_ours(v, (size_t)(ve - v), o) != 1)
		return;
	fg_pf_add(f, "master.cf: pickup/unix sets non_smtpd_milters, naming floodgate's socket, where Postfix never reads it: local mail's milters are the ones %s (the cleanup service it goes through) reads, its own or main.cf's; set it there",
	    cleanup);
}

size_t
fg_pf_check(const struct fg_pf_conf *pf, char out[][FG_PF_TEXT], size_t max)
{
	struct fg_pf_found f = { out, 0, max, 0 };
	struct reach local = { 0, 0 }, smtpd = { 0, 0 };
	struct fg_pf_ours o;
	char cleanup[256];
	const char *b, *e, *lb = "", *le = "", *sb = "", *se = "";
	int local_said;

	fg_pf_ours_read(pf, &o);
	local_cleanup(pf, cleanup, sizeof(cleanup));
	if (pf->default_action != NULL) {
		trim(pf->default_action, &b, &e);
		if (is_accept(b, (size_t)(e - b)))
			fg_pf_add(&f, "main.cf: milter_default_action = accept: %s",
			    ACCEPT_WHY);
	}
	if (pf->receive_override_options != NULL)
		main_no_milters(&f, pf);
	if (pf->smtpd_milters != NULL)
		main_list(&f, "smtpd_milters", pf->smtpd_milters, &sb, &se,
		    &smtpd, &o);
	if (main_set(pf->smtpd_milter_maps))
		smtpd.ours = either(smtpd.ours, -1);
	if (pf->non_smtpd_milters != NULL)
		main_list(&f, "non_smtpd_milters", pf->non_smtpd_milters, &lb,
		    &le, &local, &o);
	if (pf->master != NULL)
		master_lines(pf->master, &f, &o, cleanup, &local, &smtpd);
	master_services(&f, pf, &o, cleanup, pf->smtpd_milters != NULL &&
	    o.known && smtpd.ours == 0);
	if (pf->non_smtpd_milters != NULL && !local.set)
		fg_pf_add(&f, "main.cf: non_smtpd_milters is empty: " LOCAL_WHY
		    "; name floodgate's socket there too%s%s%s",
		    o.known ? " (" : "", o.name, o.known ? ")" : "");
	else if (pf->non_smtpd_milters != NULL && o.known && local.ours == 0)
		fg_pf_add(&f, "main.cf: non_smtpd_milters = %.*s%s names no socket of floodgate's (%s), nor does a list of %s's own (the cleanup service local mail goes through): "
		    LOCAL_WHY, (int)(le - lb > 80 ? 80 : le - lb), lb,
		    le - lb > 80 ? "..." : "", o.name, cleanup);
	local_said = pf->non_smtpd_milters != NULL &&
	    (!local.set || (o.known && local.ours == 0));
	if ((cleanup_list(&f, pf, &o, cleanup, local_said) || local_said) &&
	    o.known)
		pickup_list(&f, pf, &o, cleanup);
	if (pf->smtpd_milters != NULL && o.known && smtpd.ours == 0 &&
	    !smtpd.set)
		fg_pf_add(&f, "main.cf: smtpd_milters is empty and no master.cf service sets it: "
		    SMTPD_WHY "; name floodgate's socket there (%s)", o.name);
	else if (pf->smtpd_milters != NULL && o.known && smtpd.ours == 0)
		fg_pf_add(&f, "main.cf: smtpd_milters = %.*s%s names no socket of floodgate's (%s), nor does a master.cf service's or smtpd_milter_maps: "
		    SMTPD_WHY, (int)(se - sb > 80 ? 80 : se - sb), sb,
		    se - sb > 80 ? "..." : "", o.name);
	forward_files(&f, pf);
	return fg_pf_found_n(&f);
}
