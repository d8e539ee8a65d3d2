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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_output),
		cmocka_unit_test(test_commands_documented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
