/* Unit tests of lib/htab.c: the one hash table, and the string set on it. */
#include "helpers.h"
#include "htab.h"
#include "util.h"

struct item {
	struct fg_hnode node;
	int key;
};

static int
item_eq(const struct fg_hnode *n, const void *key)
{
	return ((const struct item *)n)->key == *(const int *)key;
}

static int
drop_odd(struct fg_hnode *n, void *arg)
{
	int *freed = arg;

	if (((struct item *)n)->key % 2 == 0)
		return 0;
	free(n);
	(*freed)++;
	return 1;
}

static int
drop_all(struct fg_hnode *n, void *arg)
{
	(void)arg;
	free(n);
	return 1;
}

static void
test_table(void **state)
{
	struct fg_htab h = { 0 };
	struct item *it;
	int i = 0, freed = 0, k;

	(void)state;
	assert_null(fg_htab_find(&h, 1, item_eq, &i));
	for (i = 0; i < 10000; i++) {
		it = malloc(sizeof(*it));
		it->key = i;
		/* Few distinct hashes: chains and growth both exercised. */
		it->node.hash = (uint64_t)(i % 977);
		assert_int_equal(fg_htab_add(&h, &it->node), 0);
	}
	assert_int_equal(h.count, 10000);
	assert_true(h.nbucket >= 10000);
	for (i = 0; i < 10000; i += 37) {
		it = (struct item *)fg_htab_find(&h, (uint64_t)(i % 977), item_eq, &i);
		assert_non_null(it);
		assert_int_equal(it->key, i);
	}
	k = 10000;
	assert_null(fg_htab_find(&h, 10000 % 977, item_eq, &k));
	k = 42;
	it = (struct item *)fg_htab_find(&h, 42, item_eq, &k);
	assert_int_equal(fg_htab_unlink(&h, &it->node), 0);
	assert_int_equal(fg_htab_unlink(&h, &it->node), -1);
	free(it);
	assert_null(fg_htab_find(&h, 42, item_eq, &k));
	fg_htab_walk(&h, drop_odd, &freed);
	assert_int_equal(freed, 5000);
	assert_int_equal(h.count, 4999);
	k = 43;
	assert_null(fg_htab_find(&h, 43, item_eq, &k));
	k = 44;
	assert_non_null(fg_htab_find(&h, 44, item_eq, &k));
	fg_htab_walk(&h, drop_all, NULL);
	assert_int_equal(h.count, 0);
	fg_htab_clear(&h);
	assert_null(h.bucket);
}

static void
test_strset(void **state)
{
	struct fg_strset s = { { NULL, 0, 0 } };
	char buf[32];
	int i;

	(void)state;
	assert_false(fg_strset_has(&s, "a"));
	assert_int_equal(fg_strset_add(&s, "rule\037key"), 1);
	assert_int_equal(fg_strset_add(&s, "rule\037key"), 0);
	assert_true(fg_strset_has(&s, "rule\037key"));
	assert_false(fg_strset_has(&s, "rule\037ke"));
	for (i = 0; i < 30000; i++) {
		snprintf(buf, sizeof(buf), "d%d.example", i);
		assert_int_equal(fg_strset_add(&s, buf), 1);
	}
	assert_int_equal(fg_strset_count(&s), 30001);
	assert_true(fg_strset_has(&s, "d29999.example"));
	fg_strset_free(&s);
	assert_int_equal(fg_strset_count(&s), 0);
	assert_false(fg_strset_has(&s, "d1.example"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_strset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
