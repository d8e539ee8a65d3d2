/* Unit tests of lib/socketmap.c: Postfix's netstring requests, whole,
 * in pieces, one after another, and malformed. */
#include "helpers.h"
#include "socketmap.h"

static void
test_request(void **state)
{
	char name[16], key[64];
	const char *two = "22:transport docomo.ne.jp,27:transport taro@docomo.ne.jp,";
	long n;

	(void)state;
	n = fg_sm_request(two, strlen(two), name, sizeof(name), key, sizeof(key));
	assert_int_equal(n, 26);
	assert_string_equal(name, "transport");
	assert_string_equal(key, "docomo.ne.jp");
	n = fg_sm_request(two + 26, strlen(two) - 26, name, sizeof(name), key,
	    sizeof(key));
	assert_int_equal(n, 31);
	assert_string_equal(key, "taro@docomo.ne.jp");
	/* every prefix of a request is "not yet" */
	for (n = 0; n < 26; n++)
		assert_int_equal(fg_sm_request(two, (size_t)n, name, sizeof(name),
		    key, sizeof(key)), 0);
	/* a key longer than the caller's buffer is cut, not overrun */
	n = fg_sm_request(two + 26, 31, name, 4, key, 5);
	assert_int_equal(n, 31);
	assert_string_equal(name, "tra");
	assert_string_equal(key, "taro");
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		":transport x,",		/* no length */
		"x:transport x,",
		"5:abcde;",			/* not a comma */
		"5:abcde,",			/* no blank: no name and key */
		"2: x,",			/* an empty name */
		"2:x ,",			/* an empty key */
		"9999999:",			/* longer than any request */
		"4097:",
		NULL
	};
	char name[16], key[64];
	const char nul[] = "3:a\0b,";
	int i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++)
		if (fg_sm_request(bad[i], strlen(bad[i]), name, sizeof(name),
		    key, sizeof(key)) != -1)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(fg_sm_request(nul, sizeof(nul) - 1, name, sizeof(name),
	    key, sizeof(key)), -1);
}

static void
test_reply(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(fg_sm_reply(out, sizeof(out), "NOTFOUND "), 12);
	assert_string_equal(out, "9:NOTFOUND ,");
	assert_int_equal(fg_sm_reply(out, sizeof(out),
	    "OK retry:4.7.0 floodgate: a.jp paused until 07:21 UTC"), 57);
	assert_string_equal(out, "53:OK retry:4.7.0 floodgate: a.jp paused until 07:21 UTC,");
	assert_int_equal(fg_sm_reply(out, 8, "NOTFOUND "), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
