/* Unit tests of lib/stats.c: hourly counters and the refusal log. */
#include "helpers.h"
#include "stats.h"

#define T0 1800000000u	/* an hour boundary */

static void
test_count_and_drain(void **state)
{
	struct fg_stats *s = fg_stats_new();
	struct fg_stat_row *rows;
	struct fg_event *ev, e = { .time = T0, .used = 5, .limit = 5 };
	size_t nrows, nev, i;
	uint64_t tot[FG_ST_N], dropped;
	int seen = 0;

	(void)state;
	fg_stats_count(s, T0 + 10, "t1", NULL, FG_ST_ACCEPTED, 3);
	fg_stats_count(s, T0 + 20, NULL, "example.com", FG_ST_ACCEPTED, 3);
	fg_stats_count(s, T0 + 30, "t1", "example.com", FG_ST_DEFERRED, 1);
	fg_stats_count(s, T0 + 3600, "t1", "", FG_ST_REJECTED, 1);
	strcpy(e.rule, "hour");
	fg_stats_event(s, &e);
	assert_int_equal(fg_stats_drain(s, &rows, &nrows, &ev, &nev), 0);
	assert_int_equal(nrows, 4);	/* t1@h0, example.com@h0, t1@h1, (local)@h1 */
	assert_int_equal(nev, 1);
	assert_string_equal(ev[0].rule, "hour");
	for (i = 0; i < nrows; i++) {
		if (rows[i].kind == 'a' && rows[i].hour == T0) {
			assert_string_equal(rows[i].name, "t1");
			assert_int_equal(rows[i].v[FG_ST_ACCEPTED], 3);
			assert_int_equal(rows[i].v[FG_ST_DEFERRED], 1);
			seen++;
		}
		if (rows[i].kind == 'd' && rows[i].hour == T0 + 3600) {
			assert_string_equal(rows[i].name, "(local)");
			seen++;
		}
	}
	assert_int_equal(seen, 2);
	/* The store failed: everything comes back for the next try. */
	fg_stats_restore(s, rows, nrows, ev, nev);
	assert_int_equal(fg_stats_drain(s, &rows, &nrows, &ev, &nev), 0);
	assert_int_equal(nrows, 4);
	assert_int_equal(nev, 1);
	fg_stats_free_rows(rows, nrows);
	free(ev);
	fg_stats_totals(s, tot, &dropped);
	assert_int_equal(tot[FG_ST_ACCEPTED], 3);	/* counted once, by account */
	assert_int_equal(tot[FG_ST_DEFERRED], 1);
	assert_int_equal(dropped, 0);
	fg_stats_free(s);
}

static void
test_events_bounded(void **state)
{
	struct fg_stats *s = fg_stats_new();
	struct fg_stat_row *rows;
	struct fg_event *ev, e = { .time = T0 };
	size_t nrows, nev, i;
	uint64_t tot[FG_ST_N], dropped;

	(void)state;
	/* each of its own account, none folded */
	for (i = 0; i < FG_EVENTS_MAX + 10; i++) {
		snprintf(e.account, sizeof(e.account), "a%zu", i);
		assert_int_equal(fg_stats_event(s, &e), 1);
	}
	fg_stats_totals(s, tot, &dropped);
	assert_int_equal(dropped, 10);
	fg_stats_drain(s, &rows, &nrows, &ev, &nev);
	assert_int_equal(nev, FG_EVENTS_MAX);
	free(ev);
	free(rows);
	fg_stats_free(s);
}

/*
 * One account past FG_EVENTS_PER_MINUTE refusals in a minute: the rest
 * are folded into one event a drain, which keeps the last one's fields
 * and their count; another account keeps its own; the next minute is
 * kept one by one again.
 */
static void
test_events_folded(void **state)
{
	struct fg_stats *s = fg_stats_new();
	struct fg_stat_row *rows;
	struct fg_event *ev, e = { .time = T0 - T0 % 60 };
	size_t nrows, nev, i, kept = 0;

	(void)state;
	strcpy(e.account, "spam@x.example");
	strcpy(e.rule, "hour");
	strcpy(e.action, "defer");
	for (i = 0; i < FG_EVENTS_PER_MINUTE + 150; i++) {
		e.used = (uint32_t)i;
		kept += (size_t)fg_stats_event(s, &e);
	}
	assert_int_equal(kept, FG_EVENTS_PER_MINUTE);
	strcpy(e.account, "other@x.example");
	assert_int_equal(fg_stats_event(s, &e), 1);
	fg_stats_drain(s, &rows, &nrows, &ev, &nev);
	assert_int_equal(nev, FG_EVENTS_PER_MINUTE + 2);
	for (i = 0; i < FG_EVENTS_PER_MINUTE; i++)
		assert_int_equal(fg_event_count(&ev[i]), 1);
	assert_string_equal(ev[FG_EVENTS_PER_MINUTE].account, "other@x.example");
	assert_string_equal(ev[nev - 1].account, "spam@x.example");
	assert_int_equal(ev[nev - 1].folded, 150);
	assert_int_equal(ev[nev - 1].used, FG_EVENTS_PER_MINUTE + 149);
	free(ev);
	free(rows);
	/* still past it this minute: one more folds, and is handed alone */
	strcpy(e.account, "spam@x.example");
	assert_int_equal(fg_stats_event(s, &e), 0);
	fg_stats_drain(s, &rows, &nrows, &ev, &nev);
	assert_int_equal(nev, 1);
	assert_int_equal(ev[0].folded, 1);
	assert_int_equal(fg_event_count(&ev[0]), 1);
	free(ev);
	free(rows);
	/* the next minute: one by one again */
	e.time += 60;
	assert_int_equal(fg_stats_event(s, &e), 1);
	fg_stats_drain(s, &rows, &nrows, &ev, &nev);
	assert_int_equal(nev, 1);
	assert_int_equal(ev[0].folded, 0);
	free(ev);
	free(rows);
	fg_stats_free(s);
}

/* An event keeps the whole of a long account, as the held list does. */
static void
test_event_long_account(void **state)
{
	struct fg_stats *s = fg_stats_new();
	struct fg_stat_row *rows;
	struct fg_event *ev, e = { .time = T0 };
	size_t nrows, nev;

	(void)state;
	memset(e.account, 'a', FG_ACCOUNT_MAX - 10);
	strcpy(e.account + FG_ACCOUNT_MAX - 10, "@x.example");
	strcpy(e.rule, "hour");
	fg_stats_event(s, &e);
	fg_stats_drain(s, &rows, &nrows, &ev, &nev);
	assert_int_equal(nev, 1);
	assert_int_equal(strlen(ev[0].account), FG_ACCOUNT_MAX);
	assert_string_equal(ev[0].account + FG_ACCOUNT_MAX - 10, "@x.example");
	free(ev);
	free(rows);
	fg_stats_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count_and_drain),
		cmocka_unit_test(test_events_bounded),
		cmocka_unit_test(test_events_folded),
		cmocka_unit_test(test_event_long_account),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
