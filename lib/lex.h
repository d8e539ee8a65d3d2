/*
 * The words of a line, as floodgate's files are written (floodgate.conf
 * and the account map): blanks separate words, "#" starts a comment
 * outside quotes, a quoted value keeps its blanks and knows \" and \\.
 * Errors are collected compiler-style, "file:line: message", all of a
 * file at once.
 */
#ifndef FG_LEX_H
#define FG_LEX_H

#include <stddef.h>

#include "util.h"

#define FG_LEX_MAXTOK	256
#define FG_LEX_MAXLINE	4096

struct fg_lex {
	const char *file;
	int line;
	char *err;		/* the caller's buffer; messages are appended */
	size_t errlen;
	int nerr;
};

struct fg_tok {
	char *s;
	int quoted;
};

void fg_lex_error(struct fg_lex *lx, const char *fmt, ...) FG_PRINTF(2, 3);
/* Splits line in place into at most FG_LEX_MAXTOK words; the number of
 * words, 0 for a blank or comment line, -1 after reporting an error. */
int fg_lex_split(struct fg_lex *lx, char *line, struct fg_tok *t);
/* Reads path line by line; fn gets the words of every line that has
 * some. A UTF-8 byte order mark at its start is skipped; UTF-16 text, a
 * NUL byte (the rest of the file is not read) or a line past
 * FG_LEX_MAXLINE (not held in memory) is reported. -1 when
 * the file cannot be opened or is a directory (not reported, errno
 * kept) or cannot be read (reported). */
int fg_lex_file(struct fg_lex *lx, const char *path,
    void (*fn)(struct fg_lex *lx, struct fg_tok *t, int nt, void *arg),
    void *arg);
/* A rule, group or tenant name: letters, digits, '-', '_', '.'; at
 * most FG_NAME_MAX. */
int fg_lex_name(const char *s);

#endif
