/* Unit tests of lib/lex.c: words, quotes, comments, and errors with file:line. */
#include "helpers.h"
#include "lex.h"
#include "sizes.h"

static void
test_split(void **state)
{
	char err[512] = "", line[] = "limit  a\tper \"x y\\\"z\\\\\" # comment \"q\"";
	char bad[] = "x \"open", bad2[] = "x \"a\"b", empty[] = "   # only";
	struct fg_lex lx = { "f.conf", 7, err, sizeof(err), 0 };
	struct fg_tok t[FG_LEX_MAXTOK];

	(void)state;
	assert_int_equal(fg_lex_split(&lx, line, t), 4);
	assert_string_equal(t[0].s, "limit");
	assert_string_equal(t[2].s, "per");
	assert_string_equal(t[3].s, "x y\"z\\");
	assert_true(t[3].quoted);
	assert_false(t[0].quoted);
	assert_int_equal(fg_lex_split(&lx, empty, t), 0);
	assert_int_equal(fg_lex_split(&lx, bad, t), -1);
	assert_int_equal(fg_lex_split(&lx, bad2, t), -1);
	assert_int_equal(lx.nerr, 2);
	assert_non_null(strstr(err, "f.conf:7: unterminated quoted value"));
	assert_non_null(strstr(err, "\nf.conf:7: expected a blank after the closing quote"));
}

static void
test_too_many_words(void **state)
{
	char err[512] = "", *line = malloc(FG_LEX_MAXTOK * 2 + 10);
	struct fg_lex lx = { "f.conf", 1, err, sizeof(err), 0 };
	struct fg_tok t[FG_LEX_MAXTOK];
	int i;

	(void)state;
	for (i = 0; i < FG_LEX_MAXTOK + 1; i++) {
		line[i * 2] = 'w';
		line[i * 2 + 1] = ' ';
	}
	line[(FG_LEX_MAXTOK + 1) * 2] = '\0';
	assert_int_equal(fg_lex_split(&lx, line, t), -1);
	assert_non_null(strstr(err, "more than 256 words"));
	free(line);
}

struct seen {
	int lines;
	char first[32];
};

static void
each(struct fg_lex *lx, struct fg_tok *t, int nt, void *arg)
{
	struct seen *s = arg;

	(void)nt;
	if (s->lines++ == 0)
		snprintf(s->first, sizeof(s->first), "%d:%s", lx->line, t[0].s);
}

static void
test_file(void **state)
{
	char err[512] = "";
	struct fg_lex lx = { "x", 0, err, sizeof(err), 0 };
	struct seen s = { 0, "" };
	char *text = malloc(2 * FG_LEX_MAXLINE + 100);

	(void)state;
	memset(text, 'a', FG_LEX_MAXLINE + 10);
	strcpy(text + FG_LEX_MAXLINE + 10, "\n\n# c\none two\n");
	assert_int_equal(fg_lex_file(&lx, tmpfile_with(text), each, &s), 0);
	assert_int_equal(s.lines, 1);
	assert_string_equal(s.first, "4:one");
	assert_int_equal(lx.nerr, 1);
	assert_non_null(strstr(err, ":1: line longer than 4096 bytes"));
	/* The longest line read, its '\n' counted, a byte order mark
	 * before it not; one byte more is too long. */
	err[0] = '\0';
	lx.nerr = 0;
	memset(&s, 0, sizeof(s));
	strcpy(text, "\xef\xbb\xbf");
	memset(text + 3, 'b', FG_LEX_MAXLINE - 1);
	strcpy(text + 3 + FG_LEX_MAXLINE - 1, "\n");
	memset(text + 3 + FG_LEX_MAXLINE, 'c', FG_LEX_MAXLINE);
	strcpy(text + 3 + 2 * FG_LEX_MAXLINE, "\n");
	assert_int_equal(fg_lex_file(&lx, tmpfile_with(text), each, &s), 0);
	assert_int_equal(s.lines, 1);
	assert_memory_equal(s.first, "1:bbbb", 6);
	assert_int_equal(lx.nerr, 1);
	assert_non_null(strstr(err, ":2: line longer than 4096 bytes"));
	/* Not opened: not reported, the caller says what it was for. */
	err[0] = '\0';
	assert_int_equal(fg_lex_file(&lx, "/nonexistent/f", each, &s), -1);
	assert_string_equal(err, "");
	/* Nor a directory (it was "read error: Is a directory", not
	 * saying which statement named it). */
	errno = 0;
	assert_int_equal(fg_lex_file(&lx, "/tmp", each, &s), -1);
	assert_int_equal(errno, EISDIR);
	assert_string_equal(err, "");
	free(text);
}

/* A message that quotes a word as long as a line keeps its start and its
 * end (what was expected), its middle cut and said; a shorter one is
 * whole. No UTF-8 character is split. */
static void
test_long_message(void **state)
{
	char err[4096] = "", word[3001];
	struct fg_lex lx = { "x", 7, err, sizeof(err), 0 };
	const char *cut;

	(void)state;
	memset(word, 'w', 3000);
	memcpy(word + 198, "\xe3\x81\x82", 3);	/* a character across the cut */
	word[3000] = '\0';
	fg_lex_error(&lx, "\"%s\": expected a login", word);
	assert_int_equal(lx.nerr, 1);
	assert_int_equal(strncmp(err, "x:7: \"www", 9), 0);
	assert_non_null(cut = strstr(err, "[... "));
	assert_non_null(strstr(cut, " bytes ...]www"));
	assert_int_equal(((unsigned char)cut[-1] & 0xc0) == 0x80, 0);
	assert_int_equal(cut[-1], 'w');
	assert_non_null(strstr(err, "www\": expected a login"));
	assert_true(strlen(err) <= 5 + 1024);
	err[0] = '\0';
	word[700] = '\0';
	fg_lex_error(&lx, "\"%s\": expected a login", word);
	assert_int_equal(strlen(err), 5 + 702 + strlen(": expected a login"));
	assert_null(strstr(err, "[... "));
}

/* A file of n bytes, NULs and all. */
static const char *
tmpfile_bytes(const char *b, size_t n)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/fg-unit-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	tmpfile_track(path);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
	return path;
}

/* What Windows editors write: a UTF-8 file's byte order mark is not part
 * of the first word; UTF-16 and NUL bytes are said, not read as words. */
static void
test_encodings(void **state)
{
	char err[512] = "";
	struct fg_lex lx = { "x", 0, err, sizeof(err), 0 };
	struct seen s = { 0, "" };
	static const char u16[] = "\xff\xfel\0i\0s\0t\0e\0n\0\n\0";
	static const char nul[] = "a\0b c\nd e\n";

	(void)state;
	assert_int_equal(fg_lex_file(&lx,
	    tmpfile_with("\xef\xbb\xbflisten x\n\xef\xbb\xbfy z\n"), each, &s), 0);
	assert_int_equal(lx.nerr, 0);
	assert_string_equal(s.first, "1:listen");
	assert_int_equal(s.lines, 2);	/* only the file's first is a mark */
	memset(&s, 0, sizeof(s));
	assert_int_equal(fg_lex_file(&lx, tmpfile_bytes(u16, sizeof(u16) - 1),
	    each, &s), 0);
	assert_int_equal(s.lines, 0);
	assert_int_equal(lx.nerr, 1);
	assert_non_null(strstr(err, ":1: UTF-16 text (its byte order mark): expected UTF-8 or ASCII"));
	err[0] = '\0';
	lx.nerr = 0;
	assert_int_equal(fg_lex_file(&lx, tmpfile_bytes(nul, sizeof(nul) - 1),
	    each, &s), 0);
	assert_int_equal(lx.nerr, 1);
	assert_non_null(strstr(err, ":1: a NUL byte: expected text (not read further)"));
	assert_int_equal(s.lines, 0);	/* a binary file: no garbage read */
	/* One endless line of them: read up to its first. */
	err[0] = '\0';
	lx.nerr = 0;
	assert_int_equal(fg_lex_file(&lx, "/dev/zero", each, &s), 0);
	assert_int_equal(lx.nerr, 1);
	assert_non_null(strstr(err, "/dev/zero:1: a NUL byte"));
	assert_int_equal(s.lines, 0);
}

static void
test_name(void **state)
{
	char longname[FG_NAME_MAX + 2];

	(void)state;
	assert_true(fg_lex_name("tenant-carrier_2.x"));
	assert_false(fg_lex_name(""));
	assert_false(fg_lex_name("bad/name"));
	memset(longname, 'n', FG_NAME_MAX);
	longname[FG_NAME_MAX] = '\0';
	assert_true(fg_lex_name(longname));
	longname[FG_NAME_MAX] = 'n';
	longname[FG_NAME_MAX + 1] = '\0';
	assert_false(fg_lex_name(longname));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_too_many_words),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_long_message),
		cmocka_unit_test(test_name),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tmpfiles_remove();
	return rc;
}
