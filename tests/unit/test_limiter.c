/* Unit tests of lib/limiter.c: reserve, commit, release, all-or-nothing. */
#include <pthread.h>

#include "limiter.h"
#include "helpers.h"
#include "nomem.h"
#include "table.h"
#include "window.h"

#define T0 1800000000u

struct env {
	struct fg_table *t;
	struct fg_limiter *l;
};

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	e->t = fg_table_new();
	e->l = fg_limiter_new(e->t);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	fg_limiter_free(e->l);
	fg_table_free(e->t);
	free(e);
	return 0;
}

static void
test_reserve_commit(void **state)
{
	struct env *e = *state;
	struct fg_resv r = { 0 };
	struct fg_check c;
	int i;

	for (i = 0; i < 3; i++) {
		c = chk("hour", "alice", 3, 3600);
		assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0, &r), FG_RESERVED);
		assert_false(c.over);
	}
	/* Reservations count before they are committed. */
	c = chk("hour", "alice", 3, 3600);
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0, &r), FG_REFUSED);
	assert_true(c.over);
	assert_int_equal(c.used, 3);
	/* Held in flight: the retry assumes they commit now. */
	assert_int_equal(c.retry, 3600 + 60);
	fg_limiter_commit(e->l, &r, T0 + 5);
	assert_int_equal(r.n, 0);
	c = chk("hour", "alice", 3, 3600);
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0 + 100, &r), FG_REFUSED);
	assert_int_equal(c.used, 3);
	assert_int_equal(c.retry, 3660 - 100);
	/* Another key is another budget. */
	c = chk("hour", "bob", 3, 3600);
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0 + 100, &r), FG_RESERVED);
	fg_limiter_release(e->l, &r);
	/* After the window: free again. */
	c = chk("hour", "alice", 3, 3600);
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0 + 3660, &r), FG_RESERVED);
	fg_limiter_release(e->l, &r);
	fg_resv_free(&r);
}

/* Divided among relays, a limit is rounded up (the relays together may
 * overshoot by less than one each), never to 0 from a limit above 0;
 * one relay, or a limit of 0, keeps it. */
static void
test_checks_share(void **state)
{
	static const uint32_t limit[] = { 10, 9, 1, 0, 100, UINT32_MAX };
	static const uint32_t three[] = { 4, 3, 1, 0, 34, 1431655765 };
	struct fg_check c[6];
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++)
		c[i] = chk("hour", "alice", limit[i], 3600);
	fg_checks_share(c, 6, 1);
	for (i = 0; i < 6; i++)
		assert_int_equal(c[i].limit, limit[i]);
	fg_checks_share(c, 6, 3);
	for (i = 0; i < 6; i++)
		assert_int_equal(c[i].limit, three[i]);
}

static void
test_release_costs_nothing(void **state)
{
	struct env *e = *state;
	struct fg_resv r = { 0 };
	struct fg_check c;
	int round, i;

	for (round = 0; round < 5; round++) {
		for (i = 0; i < 2; i++) {
			c = chk("hour", "carol", 2, 3600);
			assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0, &r), FG_RESERVED);
		}
		fg_limiter_release(e->l, &r);
	}
	c = chk("hour", "carol", 2, 3600);
	fg_limiter_peek(e->l, &c, 1, T0);
	assert_int_equal(c.used, 0);
	fg_resv_free(&r);
}

/* One rule refuses: no rule is charged, and refused attempts are free. */
static void
test_all_or_nothing(void **state)
{
	struct env *e = *state;
	struct fg_resv r = { 0 };
	struct fg_check c[3];
	int i;

	for (i = 0; i < 10; i++) {
		c[0] = chk("hour", "dave", 100, 3600);
		c[1] = chk("carrier", "dave", 2, 3600);
		c[2] = chk("server", "docomo.ne.jp", 100, 3600);
		fg_limiter_reserve(e->l, c, 3, T0, &r);
	}
	fg_limiter_commit(e->l, &r, T0);
	c[0] = chk("hour", "dave", 100, 3600);
	c[1] = chk("carrier", "dave", 2, 3600);
	c[2] = chk("server", "docomo.ne.jp", 100, 3600);
	fg_limiter_peek(e->l, c, 3, T0);
	assert_int_equal(c[0].used, 2);
	assert_int_equal(c[1].used, 2);
	assert_int_equal(c[2].used, 2);
	fg_resv_free(&r);
}

/* Soft rules (tag, log) report "over" but never refuse. */
static void
test_soft_and_cost_zero(void **state)
{
	struct env *e = *state;
	struct fg_resv r = { 0 };
	struct fg_check c;
	int i;

	for (i = 0; i < 3; i++) {
		c = chk("tagged", "erin", 1, 60);
		c.hard = false;
		assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0, &r), FG_RESERVED);
		assert_int_equal(c.over, i > 0);
	}
	/* cost 0: already paid by this message, never over. */
	c = chk("msgs", "erin", 0, 60);
	c.cost = 0;
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0, &r), FG_RESERVED);
	assert_false(c.over);
	fg_limiter_commit(e->l, &r, T0);
	c = chk("tagged", "erin", 1, 60);
	fg_limiter_peek(e->l, &c, 1, T0 + 1);
	assert_int_equal(c.used, 3);
	/* A limit of 0 refuses everything and says: a whole period. */
	c = chk("never", "erin", 0, 600);
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0, &r), FG_REFUSED);
	assert_int_equal(c.retry, 600 + 10);
	fg_resv_free(&r);
}

static void
test_reset(void **state)
{
	struct env *e = *state;
	struct fg_resv r = { 0 };
	struct fg_check c = chk("hour", "frank", 1, 3600);

	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0, &r), FG_RESERVED);
	fg_limiter_commit(e->l, &r, T0);
	assert_int_equal(fg_limiter_reset(e->l, "hour", "frank"), 0);
	c = chk("hour", "frank", 1, 3600);
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0, &r), FG_RESERVED);
	fg_limiter_release(e->l, &r);
	assert_int_equal(fg_limiter_reset(e->l, "hour", "nobody"), -1);
	fg_resv_free(&r);
}

/* The used count of a key's rule, as a reservation would see it. */
static uint64_t
used(struct env *e, const char *key, uint32_t now)
{
	struct fg_check c = chk("hour", key, 100, 3600);

	fg_limiter_peek(e->l, &c, 1, now);
	return c.used;
}

/* A commit with no memory at all to be had. */
static void
commit_without_memory(struct env *e, struct fg_resv *r, uint32_t now)
{
	nomem_nth = 1;
	fg_limiter_commit(e->l, r, now);
	nomem_nth = 0;
}

/*
 * Out of memory: a reservation that cannot have what its commit will
 * need fails (the MTA is told to try later) and holds nothing; one that
 * was made is counted at its commit whatever memory there is then,
 * whether the key is new, its window has emptied since, or an operator
 * reset it meanwhile.
 */
static void
test_out_of_memory(void **state)
{
	struct env *e = *state;
	struct fg_resv r = { 0 };
	struct fg_check c;
	char key[32];
	long k, errors = 0;
	int rc;

	for (k = 1; k < 100; k++) {
		snprintf(key, sizeof(key), "new%ld", k);
		c = chk("hour", key, 100, 3600);
		nomem_nth = k;
		rc = fg_limiter_reserve(e->l, &c, 1, T0, &r);
		if (nomem_nth == 0) {
			assert_int_equal(rc, FG_RESERVE_ERROR);
			assert_int_equal(r.n, 0);
			assert_int_equal(used(e, key, T0), 0);
			errors++;
			continue;
		}
		nomem_nth = 0;
		assert_int_equal(rc, FG_RESERVED);
		commit_without_memory(e, &r, T0);
		assert_int_equal(used(e, key, T0), 1);
		break;
	}
	assert_true(errors >= 1);
	assert_true(k < 100);

	/* A window emptied by time between the reservation and the next
	 * commit, then one emptied at the reservation itself. */
	c = chk("hour", "old", 100, 3600);
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0, &r), FG_RESERVED);
	fg_limiter_commit(e->l, &r, T0);
	c = chk("hour", "old", 100, 3600);
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0 + 3000, &r), FG_RESERVED);
	commit_without_memory(e, &r, T0 + 4000);
	assert_int_equal(used(e, "old", T0 + 4000), 1);
	c = chk("hour", "old", 100, 3600);
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0 + 9000, &r), FG_RESERVED);
	assert_int_equal(c.used, 0);
	commit_without_memory(e, &r, T0 + 9000);
	assert_int_equal(used(e, "old", T0 + 9000), 1);

	/* Reset with a reservation in flight. */
	c = chk("hour", "old", 100, 3600);
	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0 + 9000, &r), FG_RESERVED);
	assert_int_equal(fg_limiter_reset(e->l, "hour", "old"), 0);
	assert_int_equal(used(e, "old", T0 + 9000), 1);
	commit_without_memory(e, &r, T0 + 9001);
	assert_int_equal(used(e, "old", T0 + 9001), 1);
	fg_resv_free(&r);
}

/* Many threads, one budget: exactly `limit` pass, never more. */
struct race {
	struct fg_limiter *l;
	int passed;
};

static void *
racer(void *arg)
{
	struct race *ra = arg;
	struct fg_resv r = { 0 };
	int i;

	for (i = 0; i < 500; i++) {
		struct fg_check c[2] = { chk("hour", "shared", 1000, 3600),
		    chk("other", "k", 100000, 3600) };

		if (fg_limiter_reserve(ra->l, c, 2, T0, &r) == FG_RESERVED)
			__atomic_add_fetch(&ra->passed, 1, __ATOMIC_RELAXED);
		if (i % 2)
			fg_limiter_commit(ra->l, &r, T0);
	}
	fg_limiter_commit(ra->l, &r, T0);
	fg_resv_free(&r);
	return NULL;
}

static void
test_threads(void **state)
{
	struct env *e = *state;
	struct race ra = { e->l, 0 };
	pthread_t th[8];
	int i;

	for (i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, racer, &ra);
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(ra.passed, 1000);
}

static void
test_table_drain_sweep(void **state)
{
	struct env *e = *state;
	struct fg_resv r = { 0 };
	struct fg_check c = chk("hour", "gina", 5, 3600);
	struct fg_entry_copy *cp;
	size_t n;

	assert_int_equal(fg_limiter_reserve(e->l, &c, 1, T0, &r), FG_RESERVED);
	fg_limiter_commit(e->l, &r, T0);
	assert_int_equal(fg_table_drain(e->t, T0, &cp, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(cp[0].key, "hour\037gina");
	assert_int_equal(cp[0].nslot, 1);
	assert_int_equal(cp[0].expires, T0 + 60 + 3600);
	fg_table_free_copies(cp, n);
	/* Drained: nothing dirty now. */
	fg_table_drain(e->t, T0, &cp, &n);
	assert_int_equal(n, 0);
	free(cp);
	/* Not idle yet; idle after the window. */
	assert_int_equal(fg_table_sweep(e->t, T0 + 100), 0);
	/* A reservation in flight keeps an entry alive. */
	c = chk("day", "gina", 5, 86400);
	fg_limiter_reserve(e->l, &c, 1, T0, &r);
	assert_int_equal(fg_table_sweep(e->t, T0 + 3660), 1);
	assert_int_equal(fg_table_count(e->t), 1);
	fg_limiter_release(e->l, &r);
	assert_int_equal(fg_table_sweep(e->t, T0 + 3660), 1);
	assert_int_equal(fg_table_count(e->t), 0);
	fg_resv_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reserve_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_costs_nothing, setup, teardown),
		cmocka_unit_test(test_checks_share),
		cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_soft_and_cost_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_drain_sweep, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
