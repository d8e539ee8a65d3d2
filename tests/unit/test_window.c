/* Unit tests of lib/window.c: sliding windows in slots. */
#include "helpers.h"
#include "window.h"

#define T0 1800000000u	/* a multiple of 60 and 3600 */

static void
test_width(void **state)
{
	(void)state;
	assert_int_equal(fg_window_width(30), 1);
	assert_int_equal(fg_window_width(60), 1);
	assert_int_equal(fg_window_width(3600), 60);
	assert_int_equal(fg_window_width(86400), 1440);
	/* Never coarser than PERIOD/60. */
	for (uint32_t p = 1; p < 200000; p += 37)
		assert_true(fg_window_width(p) == 1 || fg_window_width(p) * 60 <= p);
}

/* Never more than N in any sliding window of PERIOD, whatever the timing. */
static void
test_sliding_never_exceeds(void **state)
{
	struct fg_window w;
	uint32_t period = 600, limit = 10, t;
	uint32_t accepted_at[5000];
	size_t nacc = 0, i;

	(void)state;
	fg_window_init(&w, period);
	for (t = T0; t < T0 + 3 * 3600; t += 7) {
		if (fg_window_count(&w, t) + 1 <= limit) {
			assert_int_equal(fg_window_add(&w, t, 1), 0);
			accepted_at[nacc++] = t;
		}
	}
	/* Check every window (t - period, t] over the accepted times. */
	for (i = 0; i < nacc; i++) {
		size_t j, in = 0;

		for (j = 0; j < nacc; j++)
			if (accepted_at[j] <= accepted_at[i] &&
			    accepted_at[j] + period > accepted_at[i])
				in++;
		assert_true(in <= limit);
	}
	/* And it is not much stricter: about limit per (period + width). */
	assert_true(nacc >= 3 * 3600 / (period + fg_window_width(period)) * limit - limit);
	fg_window_free(&w);
}

static void
test_expiry_and_retry(void **state)
{
	struct fg_window w;

	(void)state;
	fg_window_init(&w, 3600);
	fg_window_add(&w, T0 + 10, 3);		/* slot T0 */
	fg_window_add(&w, T0 + 70, 2);		/* slot T0+60 */
	fg_window_add(&w, T0 + 100, 1);		/* same slot */
	assert_int_equal(w.nslot, 2);
	assert_int_equal(fg_window_count(&w, T0 + 100), 6);
	/* The first slot holds events up to T0+59: it counts until T0+3660. */
	assert_int_equal(fg_window_count(&w, T0 + 3659), 6);
	assert_int_equal(fg_window_count(&w, T0 + 3660), 3);
	/* Retry: time until enough units leave. */
	assert_int_equal(fg_window_retry(&w, T0 + 200, 1), 3660 - 200);
	assert_int_equal(fg_window_retry(&w, T0 + 200, 3), 3660 - 200);
	assert_int_equal(fg_window_retry(&w, T0 + 200, 4), 3720 - 200);
	assert_int_equal(fg_window_retry(&w, T0 + 200, 7), 0);
	assert_int_equal(fg_window_expires(&w), T0 + 3720);
	fg_window_expire(&w, T0 + 3720);
	assert_int_equal(w.nslot, 0);
	assert_int_equal(fg_window_count(&w, T0 + 3720), 0);
	fg_window_free(&w);
}

static void
test_granularity(void **state)
{
	struct fg_window w;
	uint32_t t;

	(void)state;
	/* One slot per minute for an hour: at most 61 live slots. */
	fg_window_init(&w, 3600);
	for (t = T0; t < T0 + 7200; t += 17)
		assert_int_equal(fg_window_add(&w, t, 1), 0);
	assert_true(w.nslot <= 62);
	assert_true(w.slot[0].start % 60 == 0);
	fg_window_free(&w);
}

static void
test_clock_back_and_period_change(void **state)
{
	struct fg_window w;

	(void)state;
	fg_window_init(&w, 3600);
	fg_window_add(&w, T0 + 600, 2);
	fg_window_add(&w, T0 + 30, 1);		/* the clock stepped back */
	assert_int_equal(w.nslot, 1);
	assert_int_equal(fg_window_count(&w, T0 + 600), 3);
	fg_window_add(&w, T0 + 1200, 4);
	/* 1h -> 1d: slots move to the 24-minute slot of their newest event. */
	assert_int_equal(fg_window_set_period(&w, 86400), 0);
	assert_int_equal(w.period, 86400);
	assert_int_equal(fg_window_count(&w, T0 + 1300), 7);
	for (uint16_t i = 0; i < w.nslot; i++)
		assert_int_equal(w.slot[i].start % 1440, 0);
	/* Back to 1m: nothing is forgotten early. */
	fg_window_set_period(&w, 60);
	assert_int_equal(fg_window_count(&w, T0 + 1300), 7);
	assert_int_equal(fg_window_count(&w, T0 + 1380 + 60 + 60), 0);
	fg_window_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_width),
		cmocka_unit_test(test_sliding_never_exceeds),
		cmocka_unit_test(test_expiry_and_retry),
		cmocka_unit_test(test_granularity),
		cmocka_unit_test(test_clock_back_and_period_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
