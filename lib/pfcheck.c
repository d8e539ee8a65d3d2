/*
 * Postfix's settings that let mail past floodgate (see pfcheck.h).
 * What each finding tells is only what is certain from the settings:
 * an empty non_smtpd_milters is no milter for local mail, whatever
 * floodgate's socket is called; a milter list that names some socket
 * is not second-guessed.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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

/* master.cf's settings: "service/type/name = value" a line. */
static void
master_lines(const char *m, struct found *f, int *local_milters)
{
	char svc[256];
	const char *line, *nl, *eq, *slash, *name, *v, *ve;
	size_t n;

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
		if (named(name, n, "milter_default_action") &&
		    is_accept(v, (size_t)(ve - v)))
			add(f, "master.cf: %s sets milter_default_action = accept: %s",
			    svc, ACCEPT_WHY);
		else if ((named(name, n, "smtpd_milters") ||
		    named(name, n, "non_smtpd_milters")) &&
		    per_milter_accept(v, (size_t)(ve - v)))
			add(f, "master.cf: %s gives a milter default_action = accept: if it is floodgate, %s",
			    svc, ACCEPT_WHY);
		if (named(name, n, "non_smtpd_milters") && v < ve)
			*local_milters = 1;
	}
}

size_t
fg_pf_check(const struct fg_pf_conf *pf, char out[][FG_PF_TEXT], size_t max)
{
	struct found f = { out, 0, max };
	const char *b, *e;
	int local = 0;

	if (pf->default_action != NULL) {
		trim(pf->default_action, &b, &e);
		if (is_accept(b, (size_t)(e - b)))
			add(&f, "main.cf: milter_default_action = accept: %s",
			    ACCEPT_WHY);
	}
	if (pf->smtpd_milters != NULL &&
	    per_milter_accept(pf->smtpd_milters, strlen(pf->smtpd_milters)))
		add(&f, "main.cf: smtpd_milters gives a milter default_action = accept: if it is floodgate, %s",
		    ACCEPT_WHY);
	if (pf->non_smtpd_milters != NULL) {
		trim(pf->non_smtpd_milters, &b, &e);
		local = e > b;
		if (per_milter_accept(b, (size_t)(e - b)))
			add(&f, "main.cf: non_smtpd_milters gives a milter default_action = accept: if it is floodgate, %s",
			    ACCEPT_WHY);
	}
	if (pf->master != NULL)
		master_lines(pf->master, &f, &local);
	if (pf->non_smtpd_milters != NULL && !local)
		add(&f, "%s", "main.cf: non_smtpd_milters is empty: local mail (the sendmail command, PHP's mail(), cron) goes out without floodgate, unlimited; name floodgate's socket there too");
	return f.n;
}
