/* Unit tests of lib/wkey.c: a window's name, built and taken apart. */
#include "helpers.h"
#include "wkey.h"

static void
test_join_split(void **state)
{
	char w[FG_WKEY_MAX + 1], rule[FG_WRULE_MAX + 1], small[8], longrule[80];
	const char *key;

	(void)state;
	assert_int_equal(fg_wkey_join("hour", "tenant42/docomo.ne.jp", w, sizeof(w)), 0);
	assert_string_equal(w, "hour\037tenant42/docomo.ne.jp");
	assert_int_equal(fg_wkey_split(w, &key), 4);
	assert_string_equal(key, "tenant42/docomo.ne.jp");
	assert_int_equal(fg_wkey_rule(w, rule, &key), 4);
	assert_string_equal(rule, "hour");
	/* Exactly fits, one byte short. */
	assert_int_equal(fg_wkey_join("ab", "cdef", small, 8), 0);
	assert_int_equal(fg_wkey_join("ab", "cdefg", small, 8), -1);
	/* Not a window name: no separator, an empty rule, a rule longer
	 * than any rule name. */
	assert_int_equal(fg_wkey_split("hour", &key), -1);
	assert_int_equal(fg_wkey_split("\037key", &key), -1);
	memset(longrule, 'r', FG_WRULE_MAX + 1);
	longrule[FG_WRULE_MAX + 1] = '\037';
	strcpy(longrule + FG_WRULE_MAX + 2, "k");
	assert_int_equal(fg_wkey_rule(longrule, rule, &key), -1);
	longrule[FG_WRULE_MAX] = '\037';
	assert_int_equal(fg_wkey_rule(longrule, rule, &key), FG_WRULE_MAX);
	/* A feedback rule's count of final results. */
	assert_int_equal(fg_wkey_join("bad-list" FG_WRULE_ALL, "t", w, sizeof(w)), 0);
	assert_int_equal(fg_wkey_rule(w, rule, &key), 12);
	assert_string_equal(rule, "bad-list+all");
	/* The key may itself be empty ("*" is the server's, "" a domain
	 * floodgate could not read). */
	assert_int_equal(fg_wkey_split("srv\037", &key), 3);
	assert_string_equal(key, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
