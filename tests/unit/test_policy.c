/* Unit tests of lib/policy.c: one message's decisions, end to end in memory. */
#include "helpers.h"
#include "account.h"
#include "log.h"
#include "policy.h"
#include "table.h"
#include "wkey.h"

#define T0 1800000000u

static struct fg_table *table;
static struct fg_engine eng;

static struct fg_config *
load(const char *text)
{
	char err[FG_CONFIG_ERRLEN];
	struct fg_config *c = fg_config_load(tmpfile_with(text), err, sizeof(err));

	if (c == NULL)
		fail_msg("%s", err);
	return c;
}

static int
setup(void **state)
{
	(void)state;
	table = fg_table_new();
	eng.limiter = fg_limiter_new(table);
	eng.stats = fg_stats_new();
	eng.blocks = fg_blocks_new();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fg_limiter_free(eng.limiter);
	fg_stats_free(eng.stats);
	fg_blocks_free(eng.blocks);
	fg_table_free(table);
	return 0;
}

/* Sends one message of n recipients; returns how many were refused. */
static int
message(struct fg_config *c, const char *sender, const char *dom, int n,
    uint32_t now, struct fg_verdict *last_refusal)
{
	struct fg_msg m;
	struct fg_verdict v;
	char rcpt[128];
	int i, refused = 0;

	fg_msg_begin(&m, c, "s1", "192.0.2.1", NULL, NULL, sender, 0);
	for (i = 0; i < n; i++) {
		snprintf(rcpt, sizeof(rcpt), "<u%d@%s>", i, dom);
		fg_msg_rcpt(&m, &eng, rcpt, now, &v);
		if (v.smtp != FG_CONTINUE) {
			refused++;
			if (last_refusal)
				*last_refusal = v;
		}
	}
	fg_msg_commit(&m, &eng, now);
	return refused;
}

static void
test_defer_reply(void **state)
{
	struct fg_config *c = load("limit hour per account 3/1h\n");
	struct fg_verdict v;

	(void)state;
	assert_int_equal(message(c, "<a@x.example>", "example.com", 5, T0, &v), 2);
	assert_int_equal(v.smtp, FG_TEMPFAIL);
	assert_string_equal(v.rcode, "451");
	assert_string_equal(v.xcode, "4.7.1");
	assert_string_equal(v.text, "floodgate: hour limit reached (3/1h), retry in 1h01m");
	/* Later in the hour: told how long is left. */
	assert_int_equal(message(c, "<a@x.example>", "example.com", 1, T0 + 1800, &v), 1);
	assert_string_equal(v.text, "floodgate: hour limit reached (3/1h), retry in 31m");
	assert_int_equal(message(c, "<a@x.example>", "example.com", 3, T0 + 3660, NULL), 0);
	fg_config_unref(c);
}

/* A limit of 0 is a block: every recipient it matches is refused, at
 * once and a day later, told to retry after the period; what it does
 * not match passes. */
static void
test_zero_limit(void **state)
{
	struct fg_config *c = load("limit blocked per account to docomo.ne.jp 0/1h\n"
	    "limit hour per account 100/1h\n");
	struct fg_verdict v;

	(void)state;
	assert_int_equal(message(c, "<a@x.example>", "docomo.ne.jp", 3, T0, &v), 3);
	assert_int_equal(v.smtp, FG_TEMPFAIL);
	assert_string_equal(v.text, "floodgate: blocked limit reached (0/1h), retry in 1h01m");
	assert_int_equal(message(c, "<a@x.example>", "docomo.ne.jp", 1, T0 + 86400, NULL), 1);
	assert_int_equal(message(c, "<a@x.example>", "example.com", 3, T0, NULL), 0);
	fg_config_unref(c);
}

static void
test_reject_and_custom_reply(void **state)
{
	struct fg_config *c = load(
	    "limit r per account 1/1h action reject\n"
	    "limit p per account to polite.example 1/10m reply \"Please wait %r, thanks\"\n");
	struct fg_verdict v;

	(void)state;
	assert_int_equal(message(c, "<a@x.example>", "example.com", 2, T0, &v), 1);
	assert_int_equal(v.smtp, FG_REJECT);
	assert_string_equal(v.rcode, "550");
	assert_string_equal(v.xcode, "5.7.1");
	assert_string_equal(v.text, "floodgate: r limit reached (1/1h)");
	assert_int_equal(message(c, "<b@x.example>", "polite.example", 2, T0, &v), 1);
	/* The worst action wins: reject (r) over defer (p). */
	assert_int_equal(v.smtp, FG_REJECT);
	assert_int_equal(message(c, "<c@x.example>", "polite.example", 1, T0, NULL), 0);
	fg_config_unref(c);
	c = load("limit p per account 1/10m reply \"Please wait %r, thanks\"\n");
	assert_int_equal(message(c, "<d@x.example>", "polite.example", 2, T0, &v), 1);
	assert_string_equal(v.text, "Please wait 11m, thanks");
	fg_config_unref(c);
}

static void
test_cap(void **state)
{
	struct fg_config *c = load("group carriers docomo.ne.jp\ncap fan to @carriers 100\n");
	struct fg_verdict v;

	(void)state;
	assert_int_equal(message(c, "<a@x.example>", "docomo.ne.jp", 150, T0, &v), 50);
	assert_string_equal(v.rcode, "452");
	assert_string_equal(v.xcode, "4.5.3");
	assert_int_equal(message(c, "<a@x.example>", "docomo.ne.jp", 50, T0, NULL), 0);
	assert_int_equal(message(c, "<a@x.example>", "example.com", 150, T0, NULL), 0);
	fg_config_unref(c);
}

static void
test_count_messages(void **state)
{
	struct fg_config *c = load("limit m per account 2/1h count messages\n");

	(void)state;
	assert_int_equal(message(c, "<a@x.example>", "example.com", 10, T0, NULL), 0);
	assert_int_equal(message(c, "<a@x.example>", "example.com", 10, T0, NULL), 0);
	assert_int_equal(message(c, "<a@x.example>", "example.com", 10, T0, NULL), 10);
	fg_config_unref(c);
}

static void
test_exempt_and_monitor(void **state)
{
	struct fg_config *c = load("limit h per account 1/1h\nexempt account vip@x.example\n"
	    "exempt domain internal.example\n");

	(void)state;
	assert_int_equal(message(c, "<VIP+a@X.example>", "example.com", 5, T0, NULL), 0);
	assert_int_equal(message(c, "<b@x.example>", "internal.example", 5, T0, NULL), 0);
	assert_int_equal(message(c, "<b@x.example>", "example.com", 2, T0, NULL), 1);
	fg_config_unref(c);
	c = load("mode monitor\nlimit mon per account 1/1h\n");
	assert_int_equal(message(c, "<m@x.example>", "example.com", 5, T0, NULL), 0);
	fg_config_unref(c);
}

static void
test_abort_releases(void **state)
{
	struct fg_config *c = load("limit h per account 3/1h\n");
	struct fg_msg m;
	struct fg_verdict v;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		fg_msg_begin(&m, c, "s", "", NULL, NULL, "<a@x.example>", 0);
		fg_msg_rcpt(&m, &eng, "<r1@example.com>", T0, &v);
		fg_msg_rcpt(&m, &eng, "<r2@example.com>", T0, &v);
		fg_msg_rcpt(&m, &eng, "<r3@example.com>", T0, &v);
		assert_int_equal(v.smtp, FG_CONTINUE);
		fg_msg_abort(&m, &eng);
		assert_false(fg_msg_active(&m));
	}
	assert_int_equal(message(c, "<a@x.example>", "example.com", 4, T0, NULL), 1);
	fg_config_unref(c);
}

static void
test_hold_and_tag(void **state)
{
	struct fg_config *c = load("limit h per account 1/1h action hold\n"
	    "limit t per account 1/1h action tag\n");
	struct fg_msg m;
	struct fg_verdict v;
	uint64_t tot[FG_ST_N];

	(void)state;
	fg_msg_begin(&m, c, "s", "", NULL, NULL, "<a@x.example>", 0);
	fg_msg_rcpt(&m, &eng, "<r1@example.com>", T0, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);
	assert_false(m.hold);
	fg_msg_rcpt(&m, &eng, "<r2@example.com>", T0, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);	/* accepted, but the message is held */
	assert_true(m.hold);
	assert_string_equal(m.hold_rule, "h");
	fg_msg_commit(&m, &eng, T0);
	fg_stats_totals(eng.stats, tot, NULL);
	assert_int_equal(tot[FG_ST_HELD], 2);
	/* Held mail is charged when released, not now: the budget is intact. */
	fg_msg_begin(&m, c, "s", "", NULL, NULL, "<a@x.example>", 0);
	fg_msg_rcpt(&m, &eng, "<r3@example.com>", T0, &v);
	assert_false(m.hold);
	fg_msg_rcpt(&m, &eng, "<r4@example.com>", T0, &v);
	assert_true(m.hold);
	fg_msg_abort(&m, &eng);
	fg_config_unref(c);

	c = load("limit t per account 1/1h action tag\n");
	fg_msg_begin(&m, c, "s", "", NULL, NULL, "<b@x.example>", 0);
	fg_msg_rcpt(&m, &eng, "<r1@example.com>", T0, &v);
	assert_string_equal(m.tag, "");
	fg_msg_rcpt(&m, &eng, "<r2@example.com>", T0, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);
	assert_string_equal(m.tag, "t");
	fg_msg_commit(&m, &eng, T0);
	fg_config_unref(c);
}

/*
 * charge_at data: a message is charged at DATA only when nothing waits for
 * its end (hold, tag, local mail, local deferral); charge_at end never.
 */
static void
test_data_charge(void **state)
{
	struct fg_config *c = load(
	    "limit h per account to hold.example 1/1h action hold\n"
	    "limit t per account to tag.example 1/1h action tag\n"
	    "limit d per account to defer.example 1/1h\n");
	struct fg_msg m;
	struct fg_verdict v;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_false(fg_msg_data_charge(&m));	/* no message */
	fg_msg_begin(&m, c, "s", "", NULL, NULL, "<a@x.example>", 0);
	fg_msg_rcpt(&m, &eng, "<r1@defer.example>", T0, &v);
	fg_msg_rcpt(&m, &eng, "<r2@defer.example>", T0, &v);
	assert_int_equal(v.smtp, FG_TEMPFAIL);	/* refused: nothing to wait for */
	assert_true(fg_msg_data_charge(&m));
	fg_msg_rcpt(&m, &eng, "<r3@tag.example>", T0, &v);
	fg_msg_rcpt(&m, &eng, "<r4@tag.example>", T0, &v);
	assert_string_equal(m.tag, "t");
	assert_false(fg_msg_data_charge(&m));	/* the header is added at the end */
	fg_msg_abort(&m, &eng);

	fg_msg_begin(&m, c, "s", "", NULL, NULL, "<b@x.example>", 0);
	fg_msg_rcpt(&m, &eng, "<r1@hold.example>", T0, &v);
	assert_true(fg_msg_data_charge(&m));
	fg_msg_rcpt(&m, &eng, "<r2@hold.example>", T0, &v);
	assert_true(m.hold);
	assert_false(fg_msg_data_charge(&m));	/* quarantined at the end */
	fg_msg_abort(&m, &eng);

	fg_msg_begin(&m, c, "s", "127.0.0.1", NULL, NULL, "<c@x.example>", 1);
	fg_msg_rcpt(&m, &eng, "<r1@example.com>", T0, &v);
	assert_false(fg_msg_data_charge(&m));	/* local mail: at the end */
	fg_msg_abort(&m, &eng);
	fg_config_unref(c);

	c = load("charge_at end\nlimit h per account 1/1h\n");
	fg_msg_begin(&m, c, "s", "", NULL, NULL, "<d@x.example>", 0);
	fg_msg_rcpt(&m, &eng, "<r1@example.com>", T0, &v);
	assert_false(fg_msg_data_charge(&m));
	fg_msg_abort(&m, &eng);
	fg_config_unref(c);
}

static void
test_hostile_recipients(void **state)
{
	struct fg_config *c = load("group carriers docomo.ne.jp\n"
	    "limit car per account to @carriers 2/1h\nlimit h per account 100/1h\n");
	struct fg_msg m;
	struct fg_verdict v;
	char big[2000];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fg_msg_begin(&m, c, "s", "", NULL, NULL, "<a@x.example>", 0);
	fg_msg_rcpt(&m, &eng, big, T0, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);
	fg_msg_rcpt(&m, &eng, "<\"unterminated@docomo.ne.jp>", T0, &v);
	fg_msg_rcpt(&m, &eng, "<>", T0, &v);
	fg_msg_rcpt(&m, &eng, "<x@DOCOMO.NE.JP.>", T0, &v);
	fg_msg_rcpt(&m, &eng, "<y@docomo.ne.jp>", T0, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);
	fg_msg_rcpt(&m, &eng, "<z@DoCoMo.ne.jp>", T0, &v);
	assert_int_equal(v.smtp, FG_TEMPFAIL);	/* case variants count as one domain */
	fg_msg_commit(&m, &eng, T0);
	fg_config_unref(c);
}

static void
test_local_mail(void **state)
{
	struct fg_config *c = load("group carriers docomo.ne.jp\n"
	    "limit h per account 2/1h\ncap fan to @carriers 1\n");
	struct fg_msg m;
	struct fg_verdict v;
	uint64_t tot[FG_ST_N], before;
	int i;

	(void)state;
	fg_stats_totals(eng.stats, tot, NULL);
	before = tot[FG_ST_HELD];
	/* Never refused per recipient; over the limit, the message is held. */
	fg_msg_begin(&m, c, "s", "127.0.0.1", NULL, NULL, "www@x.example", 1);
	for (i = 0; i < 3; i++) {
		fg_msg_rcpt(&m, &eng, "r@docomo.ne.jp", T0, &v);
		assert_int_equal(v.smtp, FG_CONTINUE);	/* no cap either */
	}
	assert_true(m.hold);
	assert_false(m.tempfail);
	assert_string_equal(m.hold_rule, "h");
	fg_msg_commit(&m, &eng, T0);
	fg_stats_totals(eng.stats, tot, NULL);
	assert_int_equal(tot[FG_ST_HELD] - before, 3);
	/* Held: nothing charged, the budget is whole. */
	assert_int_equal(message(c, "<www@x.example>", "example.com", 2, T0, NULL), 0);
	fg_config_unref(c);

	/* local_action tempfail: decided at the end, charged nothing, however
	 * often pickup presents it again. */
	c = load("local_action tempfail\nlimit h per account 1/1h\n");
	for (i = 0; i < 5; i++) {
		fg_msg_begin(&m, c, "s", "127.0.0.1", NULL, NULL, "cron@y.example", 1);
		fg_msg_rcpt(&m, &eng, "a@example.com", T0, &v);
		fg_msg_rcpt(&m, &eng, "b@example.com", T0, &v);
		assert_int_equal(v.smtp, FG_CONTINUE);
		assert_true(m.tempfail);
		assert_false(m.hold);
		fg_msg_refuse(&m, &eng, T0);
	}
	assert_int_equal(message(c, "<cron@y.example>", "example.com", 1, T0, NULL), 0);
	fg_config_unref(c);
}


/* Delivery results of an account, as the delivery log's follower counts
 * them into a feedback rule's windows: n of them, `bad` bounced. */
static void
results(const struct fg_rule *r, const char *key, int n, int bad, uint32_t now)
{
	char all[FG_WRULE_MAX + 1];

	snprintf(all, sizeof(all), "%s%s", r->name, FG_WRULE_ALL);
	assert_int_equal(fg_limiter_add(eng.limiter, all, key, r->period,
	    (uint32_t)n, now), 0);
	if (bad > 0)
		assert_int_equal(fg_limiter_add(eng.limiter, r->name, key,
		    r->period, (uint32_t)bad, now), 0);
}

/*
 * A feedback limit refuses while its window holds N or more, and with
 * ratio only while that is P% of the final results; nothing at RCPT
 * charges it.
 */
static void
test_feedback(void **state)
{
	struct fg_config *c = load(
	    "limit unk per account 5/1h count unknown action defer\n"
	    "limit rat per account 5/1h count bounces ratio 30% action reject\n"
	    "limit lots per account 100/1h\n");
	const struct fg_rule *unk = fg_config_rule(c, "unk"), *rat = fg_config_rule(c, "rat");
	struct fg_verdict v;
	struct fg_check ck;
	uint64_t fin, bnc, un;

	(void)state;
	/* 4 unknown: under the limit, and RCPT counts nothing */
	results(unk, "a@x.example", 10, 4, T0);
	assert_int_equal(message(c, "<a@x.example>", "example.com", 20, T0, NULL), 0);
	assert_false(fg_feedback_over(eng.limiter, unk, "a@x.example",
	    "a@x.example", T0, &ck, NULL));
	assert_int_equal(ck.used, 4);
	/* the 5th: refused, with what it is about */
	results(unk, "a@x.example", 1, 1, T0 + 10);
	assert_int_equal(message(c, "<a@x.example>", "example.com", 1, T0 + 10, &v), 1);
	assert_string_equal(v.rcode, "451");
	assert_non_null(strstr(v.text, "floodgate: unk: too many unknown recipients (5/1h), retry in"));
	/* another tenant is not touched */
	assert_int_equal(message(c, "<b@y.example>", "example.com", 3, T0 + 10, NULL), 0);
	/* the window falls below: mail flows again */
	assert_int_equal(message(c, "<a@x.example>", "example.com", 1, T0 + 3700, NULL), 0);

	/* ratio: 10 bounces of 200 results (5%) leaves a big sender alone */
	results(rat, "big@x.example", 200, 10, T0);
	assert_int_equal(message(c, "<big@x.example>", "example.com", 1, T0, NULL), 0);
	assert_true(fg_feedback_over(eng.limiter, rat, "big@x.example",
	    "big@x.example", T0, &ck, NULL) == 0);
	/* 10 of 20 (50%) refuses */
	results(rat, "list@x.example", 20, 10, T0);
	assert_int_equal(message(c, "<list@x.example>", "example.com", 1, T0, &v), 1);
	assert_string_equal(v.rcode, "550");
	fg_feedback_counts(eng.limiter, rat, "list@x.example", "list@x.example",
	    T0, &fin, &bnc, &un);
	assert_int_equal(fin, 20);
	assert_int_equal(bnc, 10);
	assert_int_equal(un, 0);
	fg_config_unref(c);
}

/*
 * A tripped feedback limit with action tag or log refuses nothing: tag
 * marks the message (X-Floodgate names the rule), log only records;
 * beside a tripped defer one, the defer decides.
 */
static void
test_feedback_tag_log(void **state)
{
	struct fg_config *c = load(
	    "limit unkt per account 5/1h count unknown action tag\n"
	    "limit unkl per account 5/1h count unknown action log\n"
	    "limit bnc per account 20/1h count bounces action defer\n");
	const struct fg_rule *unkt = fg_config_rule(c, "unkt"),
	    *unkl = fg_config_rule(c, "unkl"), *bnc = fg_config_rule(c, "bnc");
	struct fg_verdict v;
	struct fg_msg m;

	(void)state;
	results(unkt, "a@x.example", 10, 6, T0);
	results(unkl, "a@x.example", 10, 6, T0);
	fg_msg_begin(&m, c, "s", "", NULL, NULL, "<a@x.example>", 0);
	fg_msg_rcpt(&m, &eng, "<r1@example.com>", T0 + 10, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);
	assert_string_equal(m.tag, "unkt");
	fg_msg_rcpt(&m, &eng, "<r2@example.com>", T0 + 10, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);
	assert_string_equal(m.tag, "unkt");	/* named once */
	fg_msg_commit(&m, &eng, T0 + 10);
	/* another tenant: no tag */
	fg_msg_begin(&m, c, "s", "", NULL, NULL, "<b@x.example>", 0);
	fg_msg_rcpt(&m, &eng, "<r1@example.com>", T0 + 10, &v);
	assert_string_equal(m.tag, "");
	fg_msg_abort(&m, &eng);
	/* a tripped defer limit beside them refuses */
	results(bnc, "a@x.example", 40, 20, T0);
	assert_int_equal(message(c, "<a@x.example>", "example.com", 1, T0 + 20, &v), 1);
	assert_string_equal(v.rcode, "451");
	assert_non_null(strstr(v.text, "floodgate: bnc: too many bounced recipients (20/1h)"));
	fg_config_unref(c);
}

/*
 * mode monitor decides and refuses nothing: a suspended account's
 * mail and mail to a paused domain pass, as a limit's over-limit
 * recipients do, and local mail is not held.
 */
static void
test_monitor_blocks(void **state)
{
	struct fg_config *c = load("mode monitor\nlimit h per account 1/1h\n");
	struct fg_verdict v;
	struct fg_msg m;

	(void)state;
	assert_int_equal(fg_blocks_suspend(eng.blocks, "t@x.example",
	    FG_BY_OPERATOR, T0, 0), 1);
	assert_int_equal(message(c, "<t@x.example>", "example.com", 3, T0, NULL), 0);
	fg_msg_begin(&m, c, "s", "127.0.0.1", NULL, NULL, "t@x.example", 1);
	fg_msg_rcpt(&m, &eng, "r@example.com", T0, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);
	assert_false(m.hold);
	fg_msg_abort(&m, &eng);
	assert_int_equal(fg_blocks_pause_for(eng.blocks, "docomo.ne.jp", 3600, T0, NULL), 1);
	assert_int_equal(message(c, "<u@x.example>", "docomo.ne.jp", 2, T0 + 60, NULL), 0);
	fg_config_unref(c);
	/* the same blocks in enforce mode refuse */
	c = load("limit h per account 1/1h\n");
	assert_int_equal(message(c, "<t@x.example>", "example.com", 1, T0 + 60, &v), 1);
	assert_string_equal(v.text, "floodgate: account suspended");
	assert_int_equal(message(c, "<u@x.example>", "docomo.ne.jp", 1, T0 + 60, &v), 1);
	fg_config_unref(c);
}

/*
 * Suspensions and pauses: a limit with action suspend suspends the
 * account when it trips; a suspended account's recipients are deferred
 * and its local mail held; a paused domain is deferred for everyone,
 * exempt senders too, until the pause ends.
 */
static void
test_suspend_and_pause(void **state)
{
	struct fg_config *c = load("limit burst per account 2/1h action suspend\n"
	    "exempt account vip@x.example\n");
	struct fg_verdict v;
	struct fg_msg m;

	(void)state;
	assert_int_equal(message(c, "<t@x.example>", "example.com", 3, T0, &v), 1);
	assert_string_equal(v.text, "floodgate: account suspended (burst)");
	assert_true(fg_blocks_suspended(eng.blocks, "t@x.example", T0, NULL));
	/* long after the window emptied: still suspended */
	assert_int_equal(message(c, "<t@x.example>", "example.com", 1, T0 + 86400, &v), 1);
	assert_string_equal(v.rcode, "451");
	assert_string_equal(v.xcode, "4.7.1");
	assert_string_equal(v.text, "floodgate: account suspended");
	/* its local mail is held */
	fg_msg_begin(&m, c, "s", "127.0.0.1", NULL, NULL, "t@x.example", 1);
	fg_msg_rcpt(&m, &eng, "r@example.com", T0 + 86400, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);
	assert_true(m.hold);
	fg_msg_abort(&m, &eng);
	/* resumed: mail flows */
	assert_true(fg_blocks_resume(eng.blocks, "t@x.example"));
	assert_int_equal(message(c, "<t@x.example>", "example.com", 1, T0 + 86400, NULL), 0);
	/* suspended for two hours by hand: the reply says until when, and
	 * after it mail flows without a resume */
	assert_int_equal(fg_blocks_suspend(eng.blocks, "t@x.example",
	    FG_BY_OPERATOR, T0 + 86400, T0 + 86400 + 7200), 1);
	assert_int_equal(message(c, "<t@x.example>", "example.com", 1, T0 + 86460, &v), 1);
	assert_string_equal(v.rcode, "451");
	assert_string_equal(v.text, "floodgate: account suspended until 10:00 UTC");
	assert_int_equal(message(c, "<t@x.example>", "example.com", 1, T0 + 86400 + 7200, NULL), 0);

	/* a pause: everyone to that domain, nobody elsewhere */
	assert_true(fg_blocks_pause(eng.blocks, "docomo.ne.jp", "carrier", 3600,
	    43200, 600, T0, NULL));
	assert_int_equal(message(c, "<vip@x.example>", "docomo.ne.jp", 1, T0 + 60, &v), 1);
	assert_string_equal(v.text, "floodgate: docomo.ne.jp paused until 09:00 UTC");
	assert_int_equal(message(c, "<vip@x.example>", "example.com", 1, T0 + 60, NULL), 0);
	assert_int_equal(message(c, "<u@x.example>", "docomo.ne.jp", 1, T0 + 3600, NULL), 0);
	/* a pause of days says its date */
	assert_int_equal(fg_blocks_pause_for(eng.blocks, "au.example", 2 * 86400, T0, NULL), 1);
	assert_int_equal(message(c, "<u@x.example>", "au.example", 1, T0 + 60, &v), 1);
	assert_string_equal(v.text, "floodgate: au.example paused until 2027-01-17 08:00 UTC");
	assert_true(fg_blocks_unpause(eng.blocks, "au.example", T0 + 60));
	/* floodgate's own notification is never touched */
	fg_blocks_pause(eng.blocks, "docomo.ne.jp", "carrier", 3600, 43200, 600,
	    T0 + 7200, NULL);
	fg_msg_begin(&m, c, "s", "127.0.0.1", NULL, NULL, "floodgate+fgn-1@x.example", 1);
	m.own = 1;
	fg_msg_rcpt(&m, &eng, "admin@docomo.ne.jp", T0 + 7200, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);
	assert_false(m.hold);
	fg_msg_abort(&m, &eng);
	fg_config_unref(c);
}

/*
 * Every rule applies, however many: 64 loose rules and a 65th that lets
 * nothing through refuse (rules past the 64th were once ignored), and a
 * count-messages rule pays once per window across many domains.
 */
static void
test_many_rules(void **state)
{
	char *text = malloc(200 * 64 + 64), rcpt[64], dom[FG_DOMAIN_MAX + 1];
	size_t o = 0;
	struct fg_config *c;
	struct fg_verdict v;
	struct fg_explain *ex;
	struct fg_account a;
	struct fg_msg m;
	int i, exempt;

	(void)state;
	for (i = 0; i < 64; i++)
		o += (size_t)sprintf(text + o, "limit loose%d per account 1000/1h\n", i);
	strcpy(text + o, "limit block per account 0/1h\n");
	c = load(text);
	assert_int_equal(c->nrule, 65);
	assert_int_equal(message(c, "<a@x.example>", "example.com", 1, T0, &v), 1);
	assert_string_equal(v.text, "floodgate: block limit reached (0/1h), retry in 1h01m");
	fg_account_named(c, "a@x.example", &a);
	assert_int_equal(fg_policy_explain(c, eng.limiter, &a, "", "r@example.com",
	    T0, &ex, &exempt, dom), 65);
	assert_string_equal(dom, "example.com");
	assert_int_equal(exempt, 0);
	assert_string_equal(ex[64].rule->name, "block");
	assert_true(ex[64].check.over);
	free(ex);
	fg_config_unref(c);
	free(text);

	c = load("limit m per account+domain 1/1h count messages\n");
	fg_msg_begin(&m, c, "s", "", NULL, NULL, "<b@x.example>", 0);
	for (i = 0; i < 3000; i++) {
		snprintf(rcpt, sizeof(rcpt), "<r@d%d.example>", i % 1500);
		fg_msg_rcpt(&m, &eng, rcpt, T0, &v);
		assert_int_equal(v.smtp, FG_CONTINUE);
	}
	assert_int_equal(fg_strset_count(&m.paid), 1500);
	fg_msg_commit(&m, &eng, T0);
	fg_config_unref(c);
}

/*
 * Release order is kept per window, not per tenant: a held message that a
 * full window keeps back does not block the tenant's held mail that needs
 * other windows; it blocks later held mail that needs the full one.
 */
static void
test_release_per_window(void **state)
{
	struct fg_config *c = load("limit org per account to example.org 1/1h\n"
	    "limit hour per account 10/1h\n");
	struct fg_strset behind = { { NULL, 0, 0 } };
	struct fg_msg m, m2;

	(void)state;
	assert_int_equal(message(c, "<t@x.example>", "example.org", 1, T0, NULL), 0);
	/* The oldest held message needs example.org: it waits. */
	assert_int_equal(fg_msg_release(&m, c, &eng, "t@x.example",
	    "example.org", &behind, T0), -1);
	assert_false(fg_msg_active(&m));
	assert_true(fg_strset_has(&behind, "org\037t@x.example"));
	/* The next one only needs the hourly window: it goes. */
	assert_int_equal(fg_msg_release(&m, c, &eng, "t@x.example",
	    "example.com,example.net", &behind, T0), 0);
	fg_msg_commit(&m, &eng, T0);
	/* One that needs example.org too waits behind the first. */
	assert_int_equal(fg_msg_release(&m2, c, &eng, "t@x.example",
	    "example.com,example.org", &behind, T0), -1);
	/* Another tenant's mail to example.org has its own window. */
	assert_int_equal(fg_msg_release(&m2, c, &eng, "u@x.example",
	    "example.org", &behind, T0), 0);
	fg_msg_abort(&m2, &eng);
	/* What a release waits behind is its own: SMTP mail is decided as
	 * ever (the window is full for it anyway). */
	assert_int_equal(message(c, "<t@x.example>", "example.com", 1, T0, NULL), 0);
	fg_strset_free(&behind);
	fg_config_unref(c);
}

/*
 * A held message that needs more of one window than its whole limit
 * never fits: counted per window as the rules key it (a domain rule per
 * destination, a rule that counts messages once), an override's limit
 * read, exempt destinations, tag rules and a block (limit 0) left out.
 */
static void
test_never_fits(void **state)
{
	struct fg_config *c = load("limit burst per account 3/10s\n"
	    "limit carrier per account+domain to docomo.test,au.test 2/1h\n"
	    "limit msgs per account 1/1h count messages\n"
	    "limit tagged per account 1/1h action tag\n"
	    "limit parked per account to park.test 0/1h action hold\n"
	    "override burst big@x.example 5/10s\n"
	    "exempt domain free.test\n");
	struct fg_oversize w;

	(void)state;
	/* 3 recipients under 3/10s, one a domain each: fits */
	assert_int_equal(fg_msg_never_fits(c, "t@x.example",
	    "a.test,b.test,c.test", &w), 0);
	/* 4: never, whatever waits */
	memset(&w, 0, sizeof(w));
	assert_int_equal(fg_msg_never_fits(c, "t@x.example",
	    "a.test,a.test,b.test,c.test", &w), 1);
	assert_string_equal(w.rule->name, "burst");
	assert_string_equal(w.key, "t@x.example");
	assert_int_equal(w.need, 4);
	assert_int_equal(w.limit, 3);
	assert_int_equal(w.period, 10);
	/* the override's 5/10s */
	assert_int_equal(fg_msg_never_fits(c, "big@x.example",
	    "a.test,a.test,b.test,c.test,d.test", &w), 0);
	/* exempt destinations count nowhere */
	assert_int_equal(fg_msg_never_fits(c, "t@x.example",
	    "a.test,b.test,c.test,free.test,free.test", &w), 0);
	/* account+domain: a window per destination */
	assert_int_equal(fg_msg_never_fits(c, "t@x.example",
	    "docomo.test,docomo.test,au.test", &w), 0);
	assert_int_equal(fg_msg_never_fits(c, "t@x.example",
	    "au.test,au.test,au.test", &w), 1);
	assert_string_equal(w.rule->name, "carrier");
	assert_string_equal(w.key, "t@x.example/au.test");
	assert_int_equal(w.need, 3);
	/* a block is lifted by raising it: not "never" */
	assert_int_equal(fg_msg_never_fits(c, "t@x.example", "park.test",
	    &w), 0);
	fg_config_unref(c);
}

/*
 * A held message the MTA has back after floodgate lost its plan (a
 * restart) is charged over any limit, a pause or a suspension: it went.
 * An exempt account is not charged, as ever.
 */
static void
test_release_lost(void **state)
{
	struct fg_config *c = load("limit hour per account 10/1h\n"
	    "limit org per account to example.org 1/1h\n"
	    "exempt account vip@x.example\n");
	struct fg_msg m;

	(void)state;
	/* example.org's window full (hour: 1 of 10), the account
	 * suspended, example.net paused. */
	assert_int_equal(message(c, "<t@x.example>", "example.org", 1, T0, NULL), 0);
	assert_int_equal(fg_blocks_suspend(eng.blocks, "t@x.example", "hour", T0, 0), 1);
	assert_true(fg_blocks_pause(eng.blocks, "example.net", "carrier", 3600,
	    43200, 600, T0, NULL));
	/* A planned release would wait; one that went is charged. */
	assert_int_equal(fg_msg_release(&m, c, &eng, "t@x.example",
	    "example.org", NULL, T0 + 1), -1);
	assert_int_equal(fg_msg_release_lost(&m, c, &eng, "t@x.example",
	    "example.org,example.net,example.com", T0 + 1), 0);
	assert_false(m.hold);
	fg_msg_commit(&m, &eng, T0 + 1);
	/* All three recipients are in the hour's window: 4 of 10, so 6 of
	 * the next 10 go. */
	assert_true(fg_blocks_resume(eng.blocks, "t@x.example"));
	assert_int_equal(message(c, "<t@x.example>", "example.com", 10, T0 + 2, NULL), 4);
	/* Exempt: nothing charged, nothing refused. */
	assert_int_equal(fg_msg_release_lost(&m, c, &eng, "vip@x.example",
	    "example.org,example.org", T0 + 2), 0);
	fg_msg_commit(&m, &eng, T0 + 2);
	assert_int_equal(message(c, "<vip@x.example>", "example.org", 1, T0 + 2, NULL), 0);
	fg_config_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defer_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_fits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feedback_tag_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monitor_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_and_custom_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exempt_and_monitor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_releases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_and_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_charge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_mail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_per_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feedback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_and_pause, setup, teardown),
	};
	int rc;

	fg_log_open("test", 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tmpfiles_remove();
	return rc;
}
