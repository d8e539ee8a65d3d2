/* Unit tests of lib/blocks.c: suspensions, pauses that double when a
 * domain trips again soon after resuming, and one-time passes. */
#include "blocks.h"
#include "helpers.h"
#include "nomem.h"

#define T0	1800000000u

static void
test_suspend(void **state)
{
	struct fg_blocks *b = fg_blocks_new();
	struct fg_suspension s;

	(void)state;
	assert_false(fg_blocks_suspended(b, "t1", T0, NULL));
	assert_true(fg_blocks_suspend(b, "t1", "unknown", T0, 0));
	assert_false(fg_blocks_suspend(b, "t1", "other", T0 + 5, 0));
	assert_true(fg_blocks_suspended(b, "t1", T0, &s));
	assert_string_equal(s.rule, "unknown");
	assert_int_equal(s.since, T0);
	assert_false(fg_blocks_suspended(b, "t2", T0, NULL));
	assert_true(fg_blocks_changed(b));
	assert_false(fg_blocks_changed(b));
	assert_true(fg_blocks_resume(b, "t1"));
	assert_false(fg_blocks_resume(b, "t1"));
	assert_false(fg_blocks_suspended(b, "t1", T0, NULL));
	assert_true(fg_blocks_changed(b));
	fg_blocks_free(b);
}

/* floodgatectl suspend ACCOUNT DURATION: over at its end, then dropped
 * by the service's expiry (and told to the other relays); a suspension
 * over but not dropped yet gives way to a new one. */
static void
test_suspend_for(void **state)
{
	struct fg_blocks *b = fg_blocks_new();
	struct fg_block_op *ops;
	struct fg_suspension s;
	size_t n, paused;

	(void)state;
	fg_blocks_journal(b, 1);
	assert_true(fg_blocks_suspend(b, "t1", FG_BY_OPERATOR, T0, T0 + 3600));
	assert_true(fg_blocks_suspend(b, "t2", "unknown", T0, 0));
	assert_true(fg_blocks_suspended(b, "t1", T0 + 3599, &s));
	assert_int_equal(s.until, T0 + 3600);
	assert_false(fg_blocks_suspended(b, "t1", T0 + 3600, NULL));
	assert_true(fg_blocks_suspended(b, "t2", T0 + 86400, NULL));
	assert_int_equal(fg_blocks_count(b, &paused, T0 + 3599), 2);
	assert_int_equal(fg_blocks_count(b, &paused, T0 + 3600), 1);
	(void)fg_blocks_changed(b);
	fg_blocks_expire(b, T0 + 3599, 0);
	assert_false(fg_blocks_changed(b));
	fg_blocks_expire(b, T0 + 3600, 0);
	assert_true(fg_blocks_changed(b));
	n = fg_blocks_take(b, &ops);
	assert_int_equal(n, 3);
	assert_int_equal(ops[0].kind, 's');
	assert_int_equal(ops[0].s.until, T0 + 3600);
	assert_int_equal(ops[2].kind, 'e');
	assert_string_equal(ops[2].s.account, "t1");
	free(ops);
	assert_true(fg_blocks_suspended(b, "t2", T0 + 3600, NULL));

	/* Over, not dropped yet: suspended anew in its place. */
	assert_true(fg_blocks_suspend(b, "t3", FG_BY_OPERATOR, T0, T0 + 60));
	assert_true(fg_blocks_suspend(b, "t3", "unknown", T0 + 60, 0));
	assert_true(fg_blocks_suspended(b, "t3", T0 + 86400, &s));
	assert_string_equal(s.rule, "unknown");
	n = fg_blocks_take(b, &ops);
	assert_int_equal(n, 3);
	assert_int_equal(ops[1].kind, 'e');
	assert_int_equal(ops[2].kind, 's');
	free(ops);
	fg_blocks_free(b);
}

/*
 * An operator's suspend of an account suspended already sets its end
 * anew (sooner, later, or at resume), keeps its start and makes it the
 * operator's; journaled as 'u', which a store's older view does not
 * undo while it is not sent.
 */
static void
test_suspend_anew(void **state)
{
	struct fg_blocks *b = fg_blocks_new();
	struct fg_block_op *ops;
	struct fg_suspension s, old;
	size_t n;

	(void)state;
	assert_false(fg_blocks_suspend_anew(b, "t1", T0, T0 + 60, NULL));
	assert_true(fg_blocks_suspend(b, "t1", "spam", T0, 0));
	fg_blocks_journal(b, 1);
	(void)fg_blocks_changed(b);
	assert_true(fg_blocks_suspend_anew(b, "t1", T0 + 10, T0 + 3600, &s));
	assert_string_equal(s.rule, "spam");		/* as it was */
	assert_int_equal(s.until, 0);
	assert_true(fg_blocks_changed(b));
	assert_true(fg_blocks_suspended(b, "t1", T0 + 3599, &s));
	assert_string_equal(s.rule, FG_BY_OPERATOR);
	assert_int_equal(s.since, T0);
	assert_int_equal(s.until, T0 + 3600);
	assert_false(fg_blocks_suspended(b, "t1", T0 + 3600, NULL));
	/* sooner */
	assert_true(fg_blocks_suspend_anew(b, "t1", T0 + 20, T0 + 30, NULL));
	assert_false(fg_blocks_suspended(b, "t1", T0 + 30, NULL));
	/* over: nothing to set anew */
	assert_false(fg_blocks_suspend_anew(b, "t1", T0 + 30, 0, NULL));
	/* until resume */
	assert_true(fg_blocks_suspend_anew(b, "t1", T0 + 29, 0, NULL));
	assert_true(fg_blocks_suspended(b, "t1", T0 + 86400, NULL));
	n = fg_blocks_take(b, &ops);
	assert_int_equal(n, 3);
	assert_int_equal(ops[0].kind, 'u');
	assert_int_equal(ops[0].s.until, T0 + 3600);
	assert_int_equal(ops[2].kind, 'u');
	assert_int_equal(ops[2].s.until, 0);
	fg_blocks_untake(b, ops, n);

	/* The store still has the rule's suspension: ours stands. */
	memset(&old, 0, sizeof(old));
	snprintf(old.account, sizeof(old.account), "t1");
	snprintf(old.rule, sizeof(old.rule), "spam");
	old.since = T0;
	old.until = T0 + 5;
	fg_blocks_replace(b, &old, 1, NULL, 0);
	assert_true(fg_blocks_suspended(b, "t1", T0 + 86400, &s));
	assert_string_equal(s.rule, FG_BY_OPERATOR);
	fg_blocks_free(b);
}

/* A pause of "*.example.jp" holds the subdomains, not the domain; a
 * domain's own pause is found first. */
static void
test_pause_pattern(void **state)
{
	struct fg_blocks *b = fg_blocks_new();
	struct fg_pause p;

	(void)state;
	assert_int_equal(fg_blocks_pause_for(b, "*.vodafone.ne.jp", 3600, T0,
	    NULL), 1);
	assert_true(fg_blocks_paused(b, "t.vodafone.ne.jp", T0 + 1, &p));
	assert_string_equal(p.domain, "*.vodafone.ne.jp");
	assert_true(fg_blocks_paused(b, "x.t.vodafone.ne.jp", T0 + 1, NULL));
	assert_true(fg_blocks_paused(b, "*.vodafone.ne.jp", T0 + 1, NULL));
	assert_false(fg_blocks_paused(b, "vodafone.ne.jp", T0 + 1, NULL));
	assert_false(fg_blocks_paused(b, "tvodafone.ne.jp", T0 + 1, NULL));
	assert_false(fg_blocks_paused(b, ".vodafone.ne.jp", T0 + 1, NULL));
	assert_false(fg_blocks_paused(b, "t.vodafone.ne.jp", T0 + 3600, NULL));
	/* the nearest first: a subdomain's own pattern, then its domain's */
	assert_int_equal(fg_blocks_pause_for(b, "*.vodafone.ne.jp", 3600,
	    T0 + 10, NULL), 0);	/* paused: its end moved */
	assert_int_equal(fg_blocks_pause_for(b, "*.t.vodafone.ne.jp", 60,
	    T0 + 10, NULL), 1);
	assert_true(fg_blocks_paused(b, "x.t.vodafone.ne.jp", T0 + 20, &p));
	assert_string_equal(p.domain, "*.t.vodafone.ne.jp");
	assert_true(fg_blocks_paused(b, "x.t.vodafone.ne.jp", T0 + 100, &p));
	assert_string_equal(p.domain, "*.vodafone.ne.jp");
	assert_true(fg_blocks_pause(b, "t.vodafone.ne.jp", "carrier", 60, 600,
	    600, T0 + 100, NULL));
	assert_true(fg_blocks_paused(b, "t.vodafone.ne.jp", T0 + 101, &p));
	assert_string_equal(p.domain, "t.vodafone.ne.jp");
	assert_true(fg_blocks_unpause(b, "*.vodafone.ne.jp", T0 + 200));
	assert_false(fg_blocks_paused(b, "c.vodafone.ne.jp", T0 + 200, NULL));
	fg_blocks_free(b);
}

static void
test_pause_doubles(void **state)
{
	struct fg_blocks *b = fg_blocks_new();
	struct fg_pause p;
	uint32_t t;

	(void)state;
	/* 1h, 10m period, max 3h */
	assert_true(fg_blocks_pause(b, "docomo.ne.jp", "carrier", 3600, 10800,
	    600, T0, &p));
	assert_int_equal(p.until, T0 + 3600);
	assert_int_equal(p.trips, 1);
	assert_true(fg_blocks_paused(b, "docomo.ne.jp", T0 + 3599, NULL));
	assert_false(fg_blocks_paused(b, "docomo.ne.jp", T0 + 3600, NULL));
	assert_false(fg_blocks_paused(b, "ezweb.ne.jp", T0, NULL));
	/* while paused, another trip changes nothing */
	assert_false(fg_blocks_pause(b, "docomo.ne.jp", "carrier", 3600, 10800,
	    600, T0 + 10, NULL));
	/* trips again within the period after resuming: twice as long */
	t = T0 + 3600 + 300;
	assert_true(fg_blocks_pause(b, "docomo.ne.jp", "carrier", 3600, 10800,
	    600, t, &p));
	assert_int_equal(p.until, t + 7200);
	assert_int_equal(p.trips, 2);
	/* and again: capped at max */
	t = p.until + 1;
	assert_true(fg_blocks_pause(b, "docomo.ne.jp", "carrier", 3600, 10800,
	    600, t, &p));
	assert_int_equal(p.duration, 10800);
	assert_int_equal(p.trips, 3);
	/* a trip long after the last pause ended starts over */
	t = p.until + 601;
	assert_true(fg_blocks_pause(b, "docomo.ne.jp", "carrier", 3600, 10800,
	    600, t, &p));
	assert_int_equal(p.duration, 3600);
	assert_int_equal(p.trips, 1);
	/* an operator's unpause ends it, and the next trip is the base */
	assert_true(fg_blocks_unpause(b, "docomo.ne.jp", t + 5));
	assert_false(fg_blocks_paused(b, "docomo.ne.jp", t + 5, NULL));
	assert_false(fg_blocks_unpause(b, "docomo.ne.jp", t + 6));
	assert_true(fg_blocks_pause(b, "docomo.ne.jp", "carrier", 3600, 10800,
	    600, t + 10, &p));
	assert_int_equal(p.duration, 3600);
	fg_blocks_free(b);
}

/* An operator's pause: as long as said, over a running pause too, and
 * no doubling of the next trip from it. */
static void
test_pause_for(void **state)
{
	struct fg_blocks *b = fg_blocks_new();
	struct fg_block_op *ops;
	struct fg_pause p;
	uint32_t t;

	(void)state;
	fg_blocks_journal(b, 1);
	assert_int_equal(fg_blocks_pause_for(b, "docomo.ne.jp", 36000, T0, &p), 1);
	assert_string_equal(p.rule, FG_BY_OPERATOR);
	assert_int_equal(p.since, T0);
	assert_int_equal(p.until, T0 + 36000);
	assert_true(fg_blocks_paused(b, "docomo.ne.jp", T0 + 35999, NULL));
	assert_false(fg_blocks_paused(b, "docomo.ne.jp", T0 + 36000, NULL));
	assert_true(fg_blocks_changed(b));
	assert_int_equal(fg_blocks_take(b, &ops), 1);
	assert_int_equal(ops[0].kind, 'p');
	assert_string_equal(ops[0].p.rule, FG_BY_OPERATOR);
	free(ops);
	/* a backoff's trip meanwhile changes nothing */
	assert_false(fg_blocks_pause(b, "docomo.ne.jp", "carrier", 60, 3600,
	    600, T0 + 10, NULL));
	/* said again: a shorter end, the same start */
	assert_int_equal(fg_blocks_pause_for(b, "docomo.ne.jp", 60, T0 + 20, &p), 0);
	assert_int_equal(p.since, T0);
	assert_int_equal(p.until, T0 + 80);
	/* a backoff's trip soon after starts from the backoff's base */
	t = T0 + 100;
	assert_true(fg_blocks_pause(b, "docomo.ne.jp", "carrier", 600, 3600,
	    600, t, &p));
	assert_int_equal(p.duration, 600);
	assert_int_equal(p.trips, 1);
	assert_string_equal(p.rule, "carrier");
	/* over a backoff's pause: the operator's end, then unpause ends it */
	assert_int_equal(fg_blocks_pause_for(b, "docomo.ne.jp", 7200, t + 5, &p), 0);
	assert_int_equal(p.since, t);
	assert_int_equal(p.until, t + 5 + 7200);
	assert_string_equal(p.rule, FG_BY_OPERATOR);
	assert_true(fg_blocks_unpause(b, "docomo.ne.jp", t + 6));
	assert_false(fg_blocks_paused(b, "docomo.ne.jp", t + 6, NULL));
	/* after its end: a new pause, its own start */
	assert_int_equal(fg_blocks_pause_for(b, "docomo.ne.jp", 30, t + 9, &p), 1);
	assert_int_equal(p.since, t + 9);
	assert_int_equal(p.trips, 1);
	fg_blocks_free(b);
}

static void
test_rows_and_expire(void **state)
{
	struct fg_blocks *b = fg_blocks_new(), *c = fg_blocks_new();
	struct fg_suspension *s;
	struct fg_pause *p;
	size_t ns, np, paused;

	(void)state;
	fg_blocks_suspend(b, "t1", "r", T0, 0);
	fg_blocks_pause(b, "a.jp", "bo", 60, 600, 300, T0, NULL);
	fg_blocks_pause(b, "b.jp", "bo", 600, 600, 300, T0, NULL);
	assert_int_equal(fg_blocks_count(b, &paused, T0 + 100), 1);
	assert_int_equal(paused, 1);
	fg_blocks_rows(b, &s, &ns, &p, &np);
	assert_int_equal(ns, 1);
	assert_int_equal(np, 2);
	/* what the store kept, loaded at start */
	assert_int_equal(fg_blocks_load(c, s, ns, p, np), 0);
	assert_true(fg_blocks_suspended(c, "t1", T0, NULL));
	assert_true(fg_blocks_paused(c, "b.jp", T0 + 100, NULL));
	assert_false(fg_blocks_changed(c));
	free(s);
	free(p);
	/* a.jp ended at T0+60; kept 300 s for doubling, then forgotten */
	fg_blocks_expire(c, T0 + 300, 300);
	assert_false(fg_blocks_changed(c));
	fg_blocks_expire(c, T0 + 361, 300);
	assert_true(fg_blocks_changed(c));
	fg_blocks_rows(c, &s, &ns, &p, &np);
	assert_int_equal(np, 1);
	assert_string_equal(p[0].domain, "b.jp");
	free(s);
	free(p);
	fg_blocks_free(b);
	fg_blocks_free(c);
}

/* tenant0 to tenant39 suspended, d0.jp to d39.jp paused, from T0. */
static void
forty_records(struct fg_suspension *s, struct fg_pause *p)
{
	int i;

	memset(s, 0, 40 * sizeof(*s));
	memset(p, 0, 40 * sizeof(*p));
	for (i = 0; i < 40; i++) {
		snprintf(s[i].account, sizeof(s[i].account), "tenant%d", i);
		snprintf(s[i].rule, sizeof(s[i].rule), "bulk");
		s[i].since = T0;
		snprintf(p[i].domain, sizeof(p[i].domain), "d%d.jp", i);
		snprintf(p[i].rule, sizeof(p[i].rule), "carrier");
		p[i].since = T0;
		p[i].until = p[i].duration = T0 + 3600;
	}
}

/*
 * Out of memory at any allocation while loading what the store kept: the
 * load says so (-1), and a start stops on it. Before, the suspension or
 * the pause that found no room was dropped without a word: the account
 * or the domain let through after the restart.
 */
static void
test_load_out_of_memory(void **state)
{
	struct fg_suspension s[40], *rs;
	struct fg_pause p[40], *rp;
	struct fg_blocks *b;
	size_t ns, np;
	long n, total, said = 0;
	int rc;

	(void)state;
	forty_records(s, p);
	b = fg_blocks_new();
	nomem_allocs = 0;
	assert_int_equal(fg_blocks_load(b, s, 40, p, 40), 0);
	total = nomem_allocs;
	fg_blocks_free(b);
	assert_true(total >= 80);
	for (n = 1; n <= total; n++) {
		b = fg_blocks_new();
		nomem_nth = n;
		rc = fg_blocks_load(b, s, 40, p, 40);
		nomem_nth = 0;
		fg_blocks_rows(b, &rs, &ns, &rp, &np);
		/* A table that could not grow still takes them all. */
		if (rc == 0 && (ns != 40 || np != 40))
			fail_msg("allocation %ld of %ld failed: %zu suspensions and %zu pauses loaded, and not said",
			    n, total, ns, np);
		said += rc < 0;
		free(rs);
		free(rp);
		fg_blocks_free(b);
	}
	assert_true(said >= 80);	/* each record's own */
}

/*
 * Out of memory while a relay takes up the shared store's suspensions
 * and pauses (each allocation of the copy made to fail in turn): it
 * says so (-1) and keeps the copy it had, whole, with its own changes
 * not yet sent. Before, the records that found no room were dropped
 * until the next read: a suspended account let through meanwhile.
 */
static void
test_replace_out_of_memory(void **state)
{
	struct fg_suspension s[40], *rs;
	struct fg_pause p[40], *rp;
	struct fg_block_op *ops;
	struct fg_blocks *b;
	size_t ns, np;
	long n, total = 0, kept = 0;
	int rc;

	(void)state;
	forty_records(s, p);
	for (n = 0; n <= total; n++) {
		b = fg_blocks_new();
		fg_blocks_journal(b, 1);
		assert_int_equal(fg_blocks_replace(b, s, 20, p, 20), 0);
		assert_true(fg_blocks_suspend(b, "mine@t", "spam", T0, 0));
		nomem_allocs = 0;
		nomem_nth = n;
		/* The store's view now: tenant10 to 39, d10 to 39. */
		rc = fg_blocks_replace(b, s + 10, 30, p + 10, 30);
		nomem_nth = 0;
		if (n == 0)
			total = nomem_allocs;
		fg_blocks_rows(b, &rs, &ns, &rp, &np);
		if (rc < 0) {
			kept++;
			assert_int_equal(ns, 21);
			assert_int_equal(np, 20);
			assert_true(fg_blocks_suspended(b, "tenant0", T0, NULL));
			assert_false(fg_blocks_suspended(b, "tenant39", T0, NULL));
		} else {
			assert_int_equal(ns, 31);
			assert_int_equal(np, 30);
			assert_false(fg_blocks_suspended(b, "tenant0", T0, NULL));
			assert_true(fg_blocks_suspended(b, "tenant39", T0, NULL));
		}
		assert_true(fg_blocks_suspended(b, "mine@t", T0, NULL));
		assert_int_equal(fg_blocks_take(b, &ops), 1);
		free(ops);
		free(rs);
		free(rp);
		fg_blocks_free(b);
	}
	assert_true(total >= 61);
	assert_true(kept >= 61);	/* each record's own */
}

static void
test_passes(void **state)
{
	struct fg_blocks *b = fg_blocks_new();
	char tok[32];
	int i;

	(void)state;
	assert_int_equal(fg_blocks_pass_add(b, "fgn-00112233", T0), 0);
	assert_false(fg_blocks_pass_take(b, "fgn-99", T0));
	assert_true(fg_blocks_pass_take(b, "fgn-00112233", T0 + 1));
	/* once */
	assert_false(fg_blocks_pass_take(b, "fgn-00112233", T0 + 2));
	/* a pass lapses after an hour */
	fg_blocks_pass_add(b, "fgn-late", T0);
	assert_false(fg_blocks_pass_take(b, "fgn-late", T0 + 3600));
	/* bounded: the table refuses more than it holds */
	for (i = 0; i < FG_PASSES; i++) {
		snprintf(tok, sizeof(tok), "fgn-%d", i);
		assert_int_equal(fg_blocks_pass_add(b, tok, T0 + 4000), 0);
	}
	assert_int_equal(fg_blocks_pass_add(b, "fgn-more", T0 + 4000), -1);
	fg_blocks_free(b);
}

/* Relays sharing a store: every change journaled, in order; what the
 * store holds replaces the local view, the changes not yet sent on top. */
static void
test_journal_replace(void **state)
{
	struct fg_blocks *b = fg_blocks_new();
	struct fg_block_op *ops;
	struct fg_suspension s[2];
	struct fg_pause p[1], got;
	size_t n;

	(void)state;
	assert_true(fg_blocks_suspend(b, "before@journal", "r", 100, 0));
	fg_blocks_journal(b, 1);
	assert_int_equal(fg_blocks_take(b, &ops), 0);
	free(ops);
	assert_true(fg_blocks_suspend(b, "a@t", "spam", 1000, 0));
	assert_false(fg_blocks_suspend(b, "a@t", "spam", 1001, 0));	/* no change */
	assert_true(fg_blocks_resume(b, "before@journal"));
	assert_true(fg_blocks_pause(b, "docomo.ne.jp", "carrier", 60, 3600, 600,
	    1000, NULL));
	assert_true(fg_blocks_unpause(b, "docomo.ne.jp", 1010));
	fg_blocks_expire(b, 1010 + 700, 600);
	n = fg_blocks_take(b, &ops);
	assert_int_equal(n, 5);
	assert_int_equal(ops[0].kind, 's');
	assert_string_equal(ops[0].s.account, "a@t");
	assert_string_equal(ops[0].s.rule, "spam");
	assert_int_equal(ops[1].kind, 'r');
	assert_string_equal(ops[1].s.account, "before@journal");
	assert_int_equal(ops[2].kind, 'p');
	assert_int_equal(ops[2].p.until, 1060);
	assert_int_equal(ops[3].kind, 'p');
	assert_int_equal(ops[3].p.until, 1010);
	assert_int_equal(ops[4].kind, 'x');
	assert_string_equal(ops[4].p.domain, "docomo.ne.jp");
	/* Not sent (the store was down): back, before what came since. */
	fg_blocks_untake(b, ops, n);
	assert_true(fg_blocks_suspend(b, "c@t", "spam", 1020, 0));
	n = fg_blocks_take(b, &ops);
	assert_int_equal(n, 6);
	assert_string_equal(ops[5].s.account, "c@t");
	free(ops);

	/* The store's view: another relay's suspension and pause. */
	memset(s, 0, sizeof(s));
	memset(p, 0, sizeof(p));
	snprintf(s[0].account, sizeof(s[0].account), "other@t");
	snprintf(s[0].rule, sizeof(s[0].rule), "unknown");
	snprintf(p[0].domain, sizeof(p[0].domain), "ezweb.ne.jp");
	p[0].since = 2000;
	p[0].until = 2600;
	p[0].duration = 600;
	p[0].trips = 1;
	assert_true(fg_blocks_suspend(b, "mine@t", "spam", 2000, 0));	/* not sent yet */
	(void)fg_blocks_changed(b);
	fg_blocks_replace(b, s, 1, p, 1);
	assert_true(fg_blocks_suspended(b, "other@t", T0, NULL));
	assert_true(fg_blocks_suspended(b, "mine@t", T0, NULL));
	assert_false(fg_blocks_suspended(b, "a@t", T0, NULL));	/* resumed elsewhere */
	assert_true(fg_blocks_paused(b, "ezweb.ne.jp", 2100, &got));
	assert_int_equal(got.until, 2600);
	assert_false(fg_blocks_changed(b));	/* the store's, not ours to save */
	n = fg_blocks_take(b, &ops);
	assert_int_equal(n, 1);
	free(ops);
	fg_blocks_free(b);
}

/*
 * What the store has not been sent yet stands over its view: a change
 * made while taken changes were out (the send failed) comes after
 * them; a resume, a pause and an unpause not yet sent hold over the
 * store's suspension, absence of a pause, and pause.
 */
static void
test_journal_pending(void **state)
{
	struct fg_blocks *b = fg_blocks_new();
	struct fg_block_op *ops;
	struct fg_suspension s[1], *su;
	struct fg_pause p[1], *pa;
	size_t n, ns, np;

	(void)state;
	assert_true(fg_blocks_suspend(b, "gone@t", "spam", 1000, 0));
	assert_true(fg_blocks_pause(b, "au.com", "carrier", 600, 3600, 600,
	    1000, NULL));
	fg_blocks_journal(b, 1);
	assert_true(fg_blocks_resume(b, "gone@t"));
	n = fg_blocks_take(b, &ops);
	assert_int_equal(n, 1);
	/* while those were out */
	assert_true(fg_blocks_pause(b, "docomo.ne.jp", "carrier", 600, 3600,
	    600, 1010, NULL));
	assert_true(fg_blocks_unpause(b, "au.com", 1010));
	fg_blocks_untake(b, ops, n);
	n = fg_blocks_take(b, &ops);
	assert_int_equal(n, 3);
	assert_int_equal(ops[0].kind, 'r');
	assert_string_equal(ops[0].s.account, "gone@t");
	assert_int_equal(ops[1].kind, 'p');
	assert_string_equal(ops[1].p.domain, "docomo.ne.jp");
	assert_int_equal(ops[2].kind, 'p');	/* an unpause ends it now */
	assert_string_equal(ops[2].p.domain, "au.com");
	assert_int_equal(ops[2].p.until, 1010);
	fg_blocks_untake(b, ops, n);

	/* The store still has gone@t suspended and au.com paused, and has
	 * no docomo pause: ours stand until sent. */
	memset(s, 0, sizeof(s));
	memset(p, 0, sizeof(p));
	snprintf(s[0].account, sizeof(s[0].account), "gone@t");
	snprintf(s[0].rule, sizeof(s[0].rule), "spam");
	s[0].since = 1000;
	snprintf(p[0].domain, sizeof(p[0].domain), "au.com");
	p[0].since = 1000;
	p[0].until = 1600;
	p[0].duration = 600;
	p[0].trips = 1;
	fg_blocks_replace(b, s, 1, p, 1);
	assert_false(fg_blocks_suspended(b, "gone@t", 1020, NULL));
	assert_false(fg_blocks_paused(b, "au.com", 1020, NULL));
	assert_true(fg_blocks_paused(b, "docomo.ne.jp", 1020, NULL));
	/* sent: the store's view is the whole truth again */
	n = fg_blocks_take(b, &ops);
	free(ops);
	fg_blocks_replace(b, s, 1, p, 1);
	assert_true(fg_blocks_suspended(b, "gone@t", 1020, NULL));
	assert_true(fg_blocks_paused(b, "au.com", 1020, NULL));
	assert_false(fg_blocks_paused(b, "docomo.ne.jp", 1020, NULL));
	/* au.com's record past its trip memory: dropped, also from a view
	 * of the store that has not heard of it yet */
	fg_blocks_expire(b, 1600 + 601, 600);
	fg_blocks_replace(b, s, 1, p, 1);
	fg_blocks_rows(b, &su, &ns, &pa, &np);
	assert_int_equal(ns, 1);
	assert_int_equal(np, 0);
	free(su);
	free(pa);

	/* An ended suspension not yet dropped from the store: the store's
	 * copy of it goes, one set anew there (another relay's) stays. */
	assert_true(fg_blocks_resume(b, "gone@t"));
	assert_true(fg_blocks_suspend(b, "t@t", FG_BY_OPERATOR, 3000, 3060));
	n = fg_blocks_take(b, &ops);
	free(ops);
	fg_blocks_expire(b, 3060, 0);
	n = fg_blocks_take(b, &ops);
	assert_int_equal(n, 1);
	assert_int_equal(ops[0].kind, 'e');
	s[0] = ops[0].s;	/* as the store has it */
	fg_blocks_untake(b, ops, n);
	fg_blocks_replace(b, s, 1, NULL, 0);
	fg_blocks_rows(b, &su, &ns, &pa, &np);
	assert_int_equal(ns, 0);
	free(su);
	free(pa);
	snprintf(s[0].rule, sizeof(s[0].rule), "spam");
	s[0].since = 3060;
	s[0].until = 0;
	fg_blocks_replace(b, s, 1, NULL, 0);
	assert_true(fg_blocks_suspended(b, "t@t", 3100, NULL));
	fg_blocks_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suspend),
		cmocka_unit_test(test_suspend_for),
		cmocka_unit_test(test_suspend_anew),
		cmocka_unit_test(test_pause_pattern),
		cmocka_unit_test(test_pause_doubles),
		cmocka_unit_test(test_pause_for),
		cmocka_unit_test(test_rows_and_expire),
		cmocka_unit_test(test_load_out_of_memory),
		cmocka_unit_test(test_replace_out_of_memory),
		cmocka_unit_test(test_passes),
		cmocka_unit_test(test_journal_replace),
		cmocka_unit_test(test_journal_pending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
