/*
 * Shared by the unit tests: cmocka, and temporary files for the parsers.
 */
#ifndef FG_TEST_HELPERS_H
#define FG_TEST_HELPERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

/*
 * Temporary files of this test: each is removed by tmpfiles_remove, with
 * the -wal and -shm files SQLite may have made beside it. Only these:
 * other tests may run at the same time on the same machine.
 */
#define TMPFILES_MAX	1024
static char tmpfiles[TMPFILES_MAX][64];
static int ntmpfiles;

/* Adds a path of the test's own making to what tmpfiles_remove removes. */
static inline void
tmpfile_track(const char *path)
{
	assert_true(ntmpfiles < TMPFILES_MAX);
	snprintf(tmpfiles[ntmpfiles++], sizeof(tmpfiles[0]), "%s", path);
}

/* Writes `text` to a new temporary file; returns its path (static). */
static inline const char *
tmpfile_with(const char *text)
{
	char *p;
	int fd;

	assert_true(ntmpfiles < TMPFILES_MAX);
	p = tmpfiles[ntmpfiles++];
	snprintf(p, sizeof(tmpfiles[0]), "/tmp/fg-unit-XXXXXX");
	fd = mkstemp(p);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return p;
}

/* Removes what tmpfile_with made and tmpfile_track named. */
static inline void
tmpfiles_remove(void)
{
	static const char *const ext[] = { "", "-wal", "-shm" };
	char p[80];
	int i, j;

	for (i = 0; i < ntmpfiles; i++)
		for (j = 0; j < 3; j++) {
			snprintf(p, sizeof(p), "%.63s%.4s", tmpfiles[i], ext[j]);
			unlink(p);
		}
	ntmpfiles = 0;
}

/*
 * The documents, read from the top of the tree (where make runs the
 * tests). table_each: fn on each row of file's table whose header line
 * is header (the separator row left out), the row writable.
 */
static inline void
table_each(const char *file, const char *header,
    void (*fn)(char *row, void *arg), void *arg)
{
	char line[4096];
	size_t hl = strlen(header);
	int in = 0;
	FILE *fp = fopen(file, "r");

	if (fp == NULL)
		fail_msg("%s: %s", file, strerror(errno));
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (!in) {
			in = strncmp(line, header, hl) == 0 && line[hl] == '\n';
			continue;
		}
		if (line[0] != '|')
			break;
		if (strncmp(line, "| ---", 5) != 0)
			fn(line, arg);
	}
	fclose(fp);
}

/*
 * The cells of a table row, split at each `|` that is not escaped
 * (`\|` inside a code span), trimmed; returns how many.
 */
static inline size_t
row_cells(char *line, char **cell, size_t max)
{
	size_t n = 0;
	char *p = line, *start, *e;

	if (*p++ != '|')
		return 0;
	for (start = p; *p != '\0' && *p != '\n' && n < max; p++) {
		if (*p == '\\' && p[1] == '|') {
			p++;
			continue;
		}
		if (*p != '|')
			continue;
		*p = '\0';
		while (*start == ' ')
			start++;
		for (e = p; e > start && e[-1] == ' '; )
			*--e = '\0';
		cell[n++] = start;
		start = p + 1;
	}
	return n;
}

/* The span-th code span of s (from 0), copied into out; 0 if none. */
static inline int
code_span(const char *s, int span, char *out, size_t len)
{
	const char *end;

	for (;;) {
		if ((s = strchr(s, '`')) == NULL ||
		    (end = strchr(++s, '`')) == NULL)
			return 0;
		if (span-- == 0)
			break;
		s = end + 1;
	}
	snprintf(out, len, "%.*s", (int)(end - s), s);
	return 1;
}

/* file's whole text (freed by the caller); a paragraph's lines joined
 * by blanks if join. */
static inline char *
doc_text(const char *file, int join)
{
	FILE *fp = fopen(file, "r");
	char *buf = calloc(1, 1 << 20), *p;
	size_t n;

	if (fp == NULL || buf == NULL)
		fail_msg("%s: %s", file, strerror(errno));
	n = fread(buf, 1, (1 << 20) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	for (p = buf; join && (p = strchr(p, '\n')) != NULL; p++)
		if (p[1] != '\n')
			*p = ' ';
	return buf;
}

#define DOC_WORD_MAX	64
struct doc_words {
	char (*w)[DOC_WORD_MAX];
	size_t n, max;
};

/* A word for doc_words, unless it is too long for one or full. */
static inline void
doc_word(struct doc_words *d, const char *word, size_t k)
{
	if (k > 0 && k < DOC_WORD_MAX && d->n < d->max) {
		memcpy(d->w[d->n], word, k);
		d->w[d->n++][k] = '\0';
	}
}

static inline void
first_words(char *row, void *arg)
{
	char *cell[2], span[4096];
	int i;

	if (row_cells(row, cell, 2) < 2)
		return;
	for (i = 0; code_span(cell[0], i, span, sizeof(span)); i++)
		doc_word(arg, span, strcspn(span, " "));
}

/* The first word of each code span in the first cell of the rows of
 * file's table headed header; up to max of them, returns how many. */
static inline size_t
table_words(const char *file, const char *header,
    char (*words)[DOC_WORD_MAX], size_t max)
{
	struct doc_words d = { words, 0, max };

	table_each(file, header, first_words, &d);
	return d.n;
}

/* Does a tag line name word, as a whole word (between blanks and
 * quotes)? */
static inline int
tag_names(const char *line, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = line; (p = strstr(p, word)) != NULL; p += n)
		if (p > line && strchr(" \"", p[-1]) != NULL &&
		    p[n] != '\0' && strchr(" \"\n", p[n]) != NULL)
			return 1;
	return 0;
}

/* fn on each .TP entry's tag (the line after .TP) in file, until it
 * returns 1; returns whether it did. */
static inline int
man_each_tag(const char *file, int (*fn)(const char *tag, void *arg),
    void *arg)
{
	char line[4096];
	int tag = 0, done = 0;
	FILE *fp = fopen(file, "r");

	if (fp == NULL)
		fail_msg("%s: %s", file, strerror(errno));
	while (!done && fgets(line, sizeof(line), fp) != NULL) {
		int was_tag = tag;

		tag = strncmp(line, ".TP", 3) == 0;
		done = was_tag && fn(line, arg);
	}
	fclose(fp);
	return done;
}

static inline int
names_word(const char *tag, void *arg)
{
	return tag_names(tag, arg);
}

/* Is word a whole word of a .TP entry's tag in file? */
static inline int
man_tag(const char *file, const char *word)
{
	return man_each_tag(file, names_word, (void *)word);
}

/* The word after the font macro, for doc_words. */
static inline int
tag_word(const char *tag, void *arg)
{
	const char *p = tag;

	if (*p == '.')
		p += strcspn(p, " \n");
	p += strspn(p, " \"");
	doc_word(arg, p, strcspn(p, " \"\n"));
	return 0;
}

/* The first word of each .TP entry's tag in file (the word after the
 * font macro), up to max; returns how many. */
static inline size_t
man_tags(const char *file, char (*words)[DOC_WORD_MAX], size_t max)
{
	struct doc_words d = { words, 0, max };

	man_each_tag(file, tag_word, &d);
	return d.n;
}

/* Is s one of the n strings of list? */
static inline int
listed(const char *const *list, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

/* The README's table headed header has a row for each of the n names
 * and for nothing else (what: "statement", "command"), and each name
 * is in a .TP tag of the man page man, whose tags name nothing else
 * (but options, `\-c`). */
static inline void
documented(const char *const *names, size_t n, const char *header,
    const char *what, const char *man)
{
	char words[128][DOC_WORD_MAX];
	const char *w[128];
	size_t nw = table_words("README.md", header, words, 128), i;

	for (i = 0; i < nw; i++)
		w[i] = words[i];
	for (i = 0; i < nw; i++)
		if (!listed(names, n, w[i]))
			fail_msg("README.md: the %s table has \"%s\", which is no %s",
			    what, w[i], what);
	for (i = 0; i < n; i++) {
		if (!listed(w, nw, names[i]))
			fail_msg("README.md: no row of the %s table names \"%s\"",
			    what, names[i]);
		if (!man_tag(man, names[i]))
			fail_msg("%s: no .TP entry names \"%s\"", man, names[i]);
	}
	nw = man_tags(man, words, 128);
	for (i = 0; i < nw; i++)
		if (words[i][0] != '\\' && !listed(names, n, words[i]))
			fail_msg("%s: a .TP entry names \"%s\", which is no %s",
			    man, words[i], what);
}

#ifdef FG_LIMITER_H
/* A hard check of one unit (the limiter tests, memory and Redis). */
static inline struct fg_check
chk(const char *rule, const char *key, uint32_t limit, uint32_t period)
{
	struct fg_check c = { .rule = rule, .key = key, .limit = limit,
	    .period = period, .cost = 1, .hard = true };
	return c;
}
#endif

/* Real TCP connections on this host's loopback, for the tests that ask
 * the kernel about them. */
/* A listener on the loopback (family's), its port in *port. */
static inline int
listener(int family, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = socket(family, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;	/* no IPv6 loopback here */
	}
	assert_int_equal(listen(fd, 4), 0);
	len = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* A client connected to addr:port; its own port in *cport. */
static inline int
client(int family, const char *addr, unsigned port, unsigned *cport)
{
	struct sockaddr_in6 in6;
	struct sockaddr_in in;
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);
	int fd = socket(family, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	if (family == AF_INET) {
		memset(&in, 0, sizeof(in));
		in.sin_family = AF_INET;
		in.sin_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET, addr, &in.sin_addr), 1);
		assert_int_equal(connect(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	} else {
		memset(&in6, 0, sizeof(in6));
		in6.sin6_family = AF_INET6;
		in6.sin6_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET6, addr, &in6.sin6_addr), 1);
		assert_int_equal(connect(fd, (struct sockaddr *)&in6, sizeof(in6)), 0);
	}
	assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &len), 0);
	*cport = ntohs(me.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&me)->sin_port :
	    ((struct sockaddr_in6 *)&me)->sin6_port);
	return fd;
}

/* A connection made on this host: listener, client and accepted ends. */
struct conn {
	int l, c, a;
	unsigned port, cport;
};

/* Connects a family client to addr on a listener of lfamily; 0 when
 * this host has no such loopback. */
static inline int
conn_open(struct conn *k, int lfamily, int cfamily, const char *addr)
{
	memset(k, 0, sizeof(*k));
	k->c = k->a = -1;
	if ((k->l = listener(lfamily, &k->port)) < 0)
		return 0;
	k->c = client(cfamily, addr, k->port, &k->cport);
	k->a = accept(k->l, NULL, NULL);
	assert_true(k->a >= 0);
	return 1;
}

static inline void
conn_close(struct conn *k)
{
	close(k->a);
	close(k->c);
	close(k->l);
}

#endif
