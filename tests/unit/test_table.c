/* Unit tests of lib/table.c: the sharded table, its dirty list and loads. */
#include "helpers.h"
#include "table.h"
#include "util.h"

#define T0 1800000000u

static void
count_fn(const struct fg_entry *e, void *arg)
{
	(void)e;
	(*(size_t *)arg)++;
}

static void
test_get_create(void **state)
{
	struct fg_table *t = fg_table_new();
	char key[64];
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < 5000; i++) {
		uint64_t h;
		unsigned sh;

		snprintf(key, sizeof(key), "rule\037k%zu", i);
		h = fg_hash(key);
		sh = fg_table_shard(h);
		assert_true(sh < FG_TABLE_SHARDS);
		fg_table_lock(t, sh);
		assert_null(fg_table_get(t, sh, h, key, 0));
		assert_non_null(fg_table_get(t, sh, h, key, 1));
		assert_non_null(fg_table_get(t, sh, h, key, 0));
		fg_table_unlock(t, sh);
	}
	assert_int_equal(fg_table_count(t), 5000);
	fg_table_foreach(t, T0, count_fn, &n);
	assert_int_equal(n, 5000);
	/* Empty, unreserved, clean: all idle. */
	assert_int_equal(fg_table_sweep(t, T0), 5000);
	assert_int_equal(fg_table_count(t), 0);
	fg_table_free(t);
}

static void
test_load_and_drain(void **state)
{
	struct fg_table *t = fg_table_new();
	struct fg_slot s[2] = { { T0, 3 }, { T0 + 60, 4 } };
	struct fg_entry_copy *c;
	size_t n;
	uint64_t h = fg_hash("hour\037alice");
	unsigned sh = fg_table_shard(h);
	struct fg_entry *e;

	(void)state;
	assert_int_equal(fg_table_load(t, "hour\037alice", 3600, s, 2, T0 + 100), 0);
	fg_table_lock(t, sh);
	e = fg_table_get(t, sh, h, "hour\037alice", 0);
	assert_non_null(e);
	assert_int_equal(fg_window_count(&e->win, T0 + 100), 7);
	fg_table_dirty(t, sh, e);
	fg_table_dirty(t, sh, e);	/* once on the list */
	fg_table_unlock(t, sh);
	assert_int_equal(fg_table_drain(t, T0 + 3661, &c, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].nslot, 1);	/* the first slot left the window */
	assert_int_equal(c[0].expires, T0 + 60 + 60 + 3600);
	fg_table_free_copies(c, n);
	assert_int_equal(fg_table_drain(t, T0 + 7200, &c, &n), 0);
	assert_int_equal(n, 0);
	free(c);
	/* Loaded state that has already expired is empty. */
	assert_int_equal(fg_table_load(t, "hour\037bob", 3600, s, 2, T0 + 9999), 0);
	assert_int_equal(fg_table_sweep(t, T0 + 9999), 2);
	fg_table_free(t);
}

static void
test_evict(void **state)
{
	struct fg_table *t = fg_table_new();
	char key[64];
	size_t i;
	struct fg_entry *held = NULL;

	(void)state;
	for (i = 0; i < 3000; i++) {
		uint64_t h;
		unsigned sh;
		struct fg_entry *e;

		snprintf(key, sizeof(key), "r\037k%zu", i);
		h = fg_hash(key);
		sh = fg_table_shard(h);
		fg_table_lock(t, sh);
		e = fg_table_get(t, sh, h, key, 1);
		fg_window_init(&e->win, 3600);
		/* Older keys were used earlier. */
		fg_window_add(&e->win, T0 + (uint32_t)i, 1);
		if (i == 0) {
			e->reserved = 1;	/* in flight: never evicted */
			held = e;
		}
		fg_table_unlock(t, sh);
	}
	assert_int_equal(fg_table_evict(t, 5000, T0), 0);
	assert_int_equal(fg_table_evict(t, 1000, T0 + 3000), 2050);
	assert_int_equal(fg_table_count(t), 950);
	/* The reserved one survived; the newest ones survived. */
	{
		uint64_t h = fg_hash("r\037k0");
		unsigned sh = fg_table_shard(h);

		fg_table_lock(t, sh);
		assert_ptr_equal(fg_table_get(t, sh, h, "r\037k0", 0), held);
		fg_table_unlock(t, sh);
		h = fg_hash("r\037k2999");
		sh = fg_table_shard(h);
		fg_table_lock(t, sh);
		assert_non_null(fg_table_get(t, sh, h, "r\037k2999", 0));
		assert_null(fg_table_get(t, sh, fg_hash("r\037k5"), "r\037k5", 0));
		fg_table_unlock(t, sh);
	}
	held->reserved = 0;
	fg_table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_create),
		cmocka_unit_test(test_load_and_drain),
		cmocka_unit_test(test_evict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
