/*
 * The words of a line of floodgate.conf or of the account map, and
 * compiler-style error collection (see lex.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lex.h"
#include "sizes.h"

void
fg_lex_error(struct fg_lex *lx, const char *fmt, ...)
{
	char msg[FG_ERRLEN];
	size_t used = strlen(lx->err);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lx->nerr++;
	if (used + 1 < lx->errlen && lx->line == 0)	/* of the whole file */
		snprintf(lx->err + used, lx->errlen - used, "%s%s: %s",
		    used ? "\n" : "", lx->file, msg);
	else if (used + 1 < lx->errlen)
		snprintf(lx->err + used, lx->errlen - used, "%s%s:%d: %s",
		    used ? "\n" : "", lx->file, lx->line, msg);
}

int
fg_lex_split(struct fg_lex *lx, char *line, struct fg_tok *t)
{
	char *r = line, *w;
	int n = 0;

	for (;;) {
		while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
			r++;
		if (*r == '\0' || *r == '#')
			return n;
		if (n == FG_LEX_MAXTOK) {
			fg_lex_error(lx, "more than %d words on one line",
			    FG_LEX_MAXTOK);
			return -1;
		}
		t[n].quoted = *r == '"';
		if (t[n].quoted) {
			t[n].s = w = ++r;
			while (*r != '"') {
				if (*r == '\0' || *r == '\n') {
					fg_lex_error(lx, "unterminated quoted value");
					return -1;
				}
				if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
					r++;
				*w++ = *r++;
			}
			r++;
			if (*r != '\0' && !isspace((unsigned char)*r) && *r != '#') {
				fg_lex_error(lx, "expected a blank after the closing quote");
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

int
fg_lex_file(struct fg_lex *lx, const char *path,
    void (*fn)(struct fg_lex *lx, struct fg_tok *t, int nt, void *arg),
    void *arg)
{
	struct fg_tok *t;
	char *line = NULL;
	size_t cap = 0;
	FILE *fp;
	int rc = 0;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;	/* the caller says what the file was for */
	if ((t = calloc(FG_LEX_MAXTOK, sizeof(*t))) == NULL) {
		fclose(fp);
		fg_lex_error(lx, "out of memory");
		return -1;
	}
	lx->file = path;
	lx->line = 0;
	while (getline(&line, &cap, fp) > 0) {
		int nt;

		lx->line++;
		if (strlen(line) > FG_LEX_MAXLINE) {
			fg_lex_error(lx, "line longer than %d bytes",
			    FG_LEX_MAXLINE);
			continue;
		}
		if ((nt = fg_lex_split(lx, line, t)) > 0)
			fn(lx, t, nt, arg);
	}
	if (ferror(fp)) {
		fg_lex_error(lx, "read error: %s", strerror(errno));
		rc = -1;
	}
	free(line);
	free(t);
	fclose(fp);
	return rc;
}

int
fg_lex_name(const char *s)
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
