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
#include <sys/stat.h>
#include <sys/types.h>

#include "lex.h"
#include "sizes.h"
#include "util.h"

/*
 * The longest message of one error. A word it quotes may be a whole line
 * (FG_LEX_MAXLINE): past this, the message's middle is cut and the cut
 * said, so that its start (the word's) and its end (what was expected)
 * are kept.
 */
#define MSG_MAX		1024
#define MSG_HEAD	200

/* Of s, n bytes long: its first MSG_HEAD bytes, the cut, and its end, in
 * MSG_MAX bytes at most; no UTF-8 character is split. */
static void
cut_middle(const char *s, size_t n, char *out, size_t outlen)
{
	size_t head = fg_utf8_start(s, MSG_HEAD), tail;
	char mark[48];
	int m;

	tail = n - (MSG_MAX - MSG_HEAD - sizeof(mark));
	while (tail < n && ((unsigned char)s[tail] & 0xc0) == 0x80)
		tail++;
	m = snprintf(mark, sizeof(mark), "[... %zu bytes ...]", tail - head);
	snprintf(out, outlen, "%.*s%.*s%s", (int)head, s, m, mark, s + tail);
}

void
fg_lex_error(struct fg_lex *lx, const char *fmt, ...)
{
	char msg[MSG_MAX + 1], *full;
	size_t used = strlen(lx->err);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&full, fmt, ap);
	va_end(ap);
	if (n < 0)
		fg_strlcpy(msg, "out of memory", sizeof(msg));
	else {
		if ((size_t)n <= MSG_MAX)
			memcpy(msg, full, (size_t)n + 1);
		else
			cut_middle(full, (size_t)n, msg, sizeof(msg));
		free(full);
	}
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

/* Whether a file's first line begins with a UTF-16 byte order mark. */
static int
utf16(const char *line, size_t len)
{
	const unsigned char *u = (const unsigned char *)line;

	return len >= 2 && ((u[0] == 0xff && u[1] == 0xfe) ||
	    (u[0] == 0xfe && u[1] == 0xff));
}

/* Room for a line: FG_LEX_MAXLINE bytes, a byte order mark before them
 * and a NUL after. */
#define LINE_ROOM	(FG_LEX_MAXLINE + 4)

/*
 * One line of fp into buf, its '\n' kept and a NUL after: *len is its
 * whole length, which may be more than buf holds (the rest is read and
 * dropped, never held: a file of one endless line cannot take the
 * daemon's memory at a reload). Reading stops at a NUL byte (*nul set):
 * not text, and /dev/zero would be one endless line. 0 at the end of the
 * file.
 */
static int
read_line(FILE *fp, char *buf, size_t *len, int *nul)
{
	size_t n = 0;
	int c;

	*nul = 0;
	while ((c = getc_unlocked(fp)) != EOF) {
		if (n < LINE_ROOM - 1)
			buf[n] = (char)c;
		n++;
		if (c == '\0') {
			*nul = 1;
			break;
		}
		if (c == '\n')
			break;
	}
	buf[n < LINE_ROOM - 1 ? n : LINE_ROOM - 1] = '\0';
	*len = n;
	return n > 0;
}

int
fg_lex_file(struct fg_lex *lx, const char *path,
    void (*fn)(struct fg_lex *lx, struct fg_tok *t, int nt, void *arg),
    void *arg)
{
	struct fg_tok *t;
	char *line;
	size_t len;
	struct stat st;
	FILE *fp;
	int rc = 0, nul;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;	/* the caller says what the file was for */
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(fp);
		errno = EISDIR;	/* opened, but not a file to read */
		return -1;
	}
	lx->file = path;
	lx->line = 0;
	t = fg_calloc(FG_LEX_MAXTOK, sizeof(*t));
	line = fg_malloc(LINE_ROOM);
	if (t == NULL || line == NULL) {
		free(t);
		free(line);
		fclose(fp);
		fg_lex_error(lx, "out of memory");
		return -1;
	}
	while (read_line(fp, line, &len, &nul)) {
		char *s = line;
		int nt;

		lx->line++;
		if (lx->line == 1 && utf16(line, len)) {
			fg_lex_error(lx, "UTF-16 text (its byte order mark): expected UTF-8 or ASCII; save the file as UTF-8");
			break;
		}
		/* Editors on Windows begin a UTF-8 file with a byte order
		 * mark: not part of the first word (the first key of an
		 * account map would match nobody). */
		if (lx->line == 1 && len >= 3 && memcmp(line, FG_UTF8_BOM, 3) == 0) {
			s += 3;
			len -= 3;
		}
		if (nul) {
			fg_lex_error(lx, "a NUL byte: expected text (not read further)");
			break;
		}
		if (len > FG_LEX_MAXLINE) {
			fg_lex_error(lx, "line longer than %d bytes",
			    FG_LEX_MAXLINE);
			continue;
		}
		if ((nt = fg_lex_split(lx, s, t)) > 0)
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
