/* Unit tests of lib/control.c: the control protocol, hostile input included. */
#include "helpers.h"
#include "control.h"

static void
test_parse(void **state)
{
	struct fg_ctl_req r;
	char err[FG_ERRLEN];

	(void)state;
	assert_int_equal(fg_ctl_parse("floodgate/1 show tenant42\n", 26, &r, err, sizeof(err)), 0);
	assert_int_equal(r.version, 1);
	assert_string_equal(r.verb, "show");
	assert_int_equal(r.argc, 1);
	assert_string_equal(r.argv[0], "tenant42");
	assert_int_equal(fg_ctl_parse("floodgate/1  explain\ta@b.jp   x@docomo.ne.jp\r\n", 46, &r, err, sizeof(err)), 0);
	assert_int_equal(r.argc, 2);
	assert_string_equal(r.argv[1], "x@docomo.ne.jp");
	/* A line without its newline is still one request. */
	assert_int_equal(fg_ctl_parse("floodgate/1 status", 18, &r, err, sizeof(err)), 0);
	assert_string_equal(r.verb, "status");
}

static void
test_malformed(void **state)
{
	struct fg_ctl_req r;
	char err[FG_ERRLEN], big[FG_CTL_MAXREQ + 100];
	static const struct {
		const char *line;
		const char *msg;
	} bad[] = {
		{ "", "expected \"floodgate/1 VERB ...\"" },
		{ "status\n", "expected \"floodgate/1 VERB ...\"" },
		{ "floodgate/2 status\n", "protocol version \"2\" not supported" },
		{ "floodgate/ status\n", "protocol version \"\" not supported" },
		{ "floodgate/1\n", "expected a command after the version" },
		{ "floodgate/1 a 1 2 3 4 5 6 7 8 9\n", "more than 8 arguments" },
		{ "floodgate/1 show a\001b\n", "control character in request" },
		{ "floodgate/1 show a\0b\n", "control character in request" },
		/* what takes nothing refuses a word after it */
		{ "floodgate/1 status tenant42\n", "status: \"tenant42\": expected no argument" },
		{ "floodgate/1 release now\n", "release: \"now\": expected no argument" },
		{ "floodgate/1 reload x\n", "reload: \"x\": expected no argument" },
		{ "floodgate/1 pauses x\n", "pauses: \"x\": expected no argument" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i].line);

		if (i == 7)
			len = 21;	/* with the NUL byte inside */
		assert_int_equal(fg_ctl_parse(bad[i].line, len, &r, err, sizeof(err)), -1);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("%zu: want %s, got %s", i, bad[i].msg, err);
	}
	memset(big, 'a', sizeof(big));
	memcpy(big, "floodgate/1 show ", 17);
	assert_int_equal(fg_ctl_parse(big, sizeof(big), &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "request longer than 1024 bytes"));
	/* Exactly at the limit is fine. */
	big[FG_CTL_MAXREQ] = '\n';
	assert_int_equal(fg_ctl_parse(big, FG_CTL_MAXREQ + 1, &r, err, sizeof(err)), 0);
}

static void
test_output(void **state)
{
	struct fg_ctl_out o = { 0 };
	char *key[8], *val[8], *line, *save = NULL;
	int n;

	(void)state;
	fg_ctl_ok(&o);
	fg_ctl_kv(&o, "account", "%s", "tenant\t42\nx");	/* hostile value */
	fg_ctl_kv(&o, "used", "%d", 5);
	fg_ctl_kv(&o, "url", "%s", "a=b");
	fg_ctl_rec_end(&o);
	fg_ctl_end(&o);
	assert_string_equal(o.buf, "ok\naccount=tenant 42 x\tused=5\turl=a=b\n.\n");
	line = strtok_r(o.buf + 3, "\n", &save);
	n = fg_ctl_split(line, key, val, 8);
	assert_int_equal(n, 3);
	assert_string_equal(key[0], "account");
	assert_string_equal(val[0], "tenant 42 x");
	assert_string_equal(val[2], "a=b");
	fg_ctl_out_free(&o);
	fg_ctl_error(&o, "no such rule \"%s\"", "x\ny");
	assert_string_equal(o.buf, "error no such rule \"x y\"\n.\n");
	fg_ctl_out_free(&o);
}

/* The README's command table has a row for every command floodgatectl
 * takes (not the release's own steps) and for nothing else;
 * floodgatectl(8) has an entry for each, and its entries name nothing
 * else (its options aside). */
static void
test_commands_documented(void **state)
{
	const char *names[FG_CTL_NVERBS];
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < FG_CTL_NVERBS; i++)
		if (!(fg_ctl_cmds[i].flags & FG_CTL_STEP))
			names[n++] = fg_ctl_cmds[i].verb;
	documented(names, n, "| command | answers |", "command",
	    "milter/floodgatectl.8");
}

/* Is verb a code span of the text from s to end? */
static int
spans_name(const char *s, const char *end, const char *verb)
{
	char text[4096], span[64];
	int i;

	snprintf(text, sizeof(text), "%.*s", (int)(end - s), s);
	for (i = 0; code_span(text, i, span, sizeof(span)); i++)
		if (strcmp(span, verb) == 0)
			return 1;
	return 0;
}

/* The README's and floodgatectl(8)'s lists of the commands answered
 * from the database while floodgate is down, and the README's of those
 * that need the daemon, say what the command table says. */
static void
test_offline_documented(void **state)
{
	static const char para[] = "When floodgate is not running, `";
	char *readme = doc_text("README.md", 1);
	char *man = doc_text("milter/floodgatectl.8", 0);
	char *a = NULL, *b = NULL, *e = NULL, *m, *p, word[32];
	size_t i, k;
	int quoted = 0, nman = 0, v;

	(void)state;
	if ((a = strstr(readme, para)) == NULL ||
	    (b = strstr(a, "read the database directly")) == NULL ||
	    (e = strstr(b, "need the daemon")) == NULL)
		fail_msg("README.md: no paragraph \"%s... read the database directly ... need the daemon\"",
		    para);
	for (i = 0; i < FG_CTL_NVERBS; i++) {
		const struct fg_ctl_cmd *c = &fg_ctl_cmds[i];
		int offline = spans_name(a, b, c->verb),
		    daemon = spans_name(b, e, c->verb);

		if (c->flags & FG_CTL_STEP)
			continue;
		if (offline != !!(c->flags & FG_CTL_OFFLINE))
			fail_msg("README.md: \"%s\" should %sbe among the commands that read the database while floodgate is down",
			    c->verb, offline ? "not " : "");
		if (offline == daemon)
			fail_msg("README.md: \"%s\" is %s among the commands that need the daemon",
			    c->verb, daemon ? "also" : "not");
	}
	/* The man page: the bold words of the line after its sentence. */
	if ((m = strstr(man, "When floodgate is not running, the read-only commands\n.RB ")) == NULL)
		fail_msg("milter/floodgatectl.8: no list of the read-only commands");
	m = strchr(m, '\n') + 5;
	for (p = m; *p != '\n' && *p != '\0'; p++) {
		if (*p == '"')
			quoted = !quoted;
		if (quoted || strchr("abcdefghijklmnopqrstuvwxyz-", *p) == NULL)
			continue;
		k = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
		snprintf(word, sizeof(word), "%.*s", (int)k, p);
		p += k - 1;
		nman++;
		if ((v = fg_ctl_lookup(word)) < 0 ||
		    !(fg_ctl_cmds[v].flags & FG_CTL_OFFLINE))
			fail_msg("milter/floodgatectl.8: \"%s\" is listed as read from the database, and is not",
			    word);
	}
	for (i = 0, k = 0; i < FG_CTL_NVERBS; i++)
		k += (fg_ctl_cmds[i].flags & FG_CTL_OFFLINE) != 0;
	if ((size_t)nman != k)
		fail_msg("milter/floodgatectl.8: %d read-only commands listed, the table has %zu",
		    nman, k);
	free(readme);
	free(man);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_output),
		cmocka_unit_test(test_commands_documented),
		cmocka_unit_test(test_offline_documented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
