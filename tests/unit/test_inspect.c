/* Unit tests of lib/inspect.c: top, show and explain as records. */
#include <time.h>

#include "helpers.h"
#include "blocks.h"
#include "inspect.h"
#include "log.h"
#include "nomem.h"
#include "policy.h"

static struct fg_inspect in;
static struct fg_table *table;
static struct fg_stats *stats;
static char dbpath[64];

static int
setup(void **state)
{
	char err[FG_CONFIG_ERRLEN];
	int fd;

	(void)state;
	fg_log_open("test", 1);
	in.cfg = fg_config_load(tmpfile_with(
	    "group carriers docomo.ne.jp\n"
	    "limit hour per account 3/1h\n"
	    "limit car per account+domain to @carriers 1/1h action reject\n"
	    "exempt account vip\n"), err, sizeof(err));
	if (in.cfg == NULL)
		return -1;
	table = fg_table_new();
	in.limiter = fg_limiter_new(table);
	stats = fg_stats_new();
	in.now = (uint32_t)time(NULL);
	snprintf(dbpath, sizeof(dbpath), "/tmp/fg-unit-inspect-XXXXXX");
	fd = mkstemp(dbpath);
	close(fd);
	unlink(dbpath);
	tmpfile_track(dbpath);
	in.store = fg_store_open(dbpath, 0, err, sizeof(err));
	return in.store == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	fg_store_close(in.store);
	fg_limiter_free(in.limiter);
	fg_table_free(table);
	fg_stats_free(stats);
	fg_config_unref(in.cfg);
	tmpfiles_remove();
	return 0;
}

static char *
run(void (*fn)(struct fg_inspect *, const struct fg_ctl_req *,
    struct fg_ctl_out *), const char *line)
{
	struct fg_ctl_req req;
	struct fg_ctl_out o = { 0 };
	char err[FG_ERRLEN];

	assert_int_equal(fg_ctl_parse(line, strlen(line), &req, err, sizeof(err)), 0);
	fn(&in, &req, &o);
	return o.buf;
}

static void
test_explain_and_show(void **state)
{
	struct fg_engine eng = { .limiter = in.limiter, .stats = stats };
	struct fg_msg m;
	struct fg_verdict v;
	struct fg_entry_copy *c;
	struct fg_stat_row *rows;
	struct fg_event *ev;
	size_t n, nrows, nev;
	char *out, err[FG_ERRLEN];
	int i;

	(void)state;
	out = run(fg_inspect_explain, "floodgate/1 explain t1 x@docomo.ne.jp");
	assert_non_null(strstr(out, "verdict=pass"));
	free(out);
	fg_msg_begin(&m, in.cfg, "s", "", "t1", NULL, "<a@b.example>", 0);
	for (i = 0; i < 5; i++)
		fg_msg_rcpt(&m, &eng, "<r@docomo.ne.jp>", in.now, &v);
	fg_msg_commit(&m, &eng, in.now);
	fg_table_drain(table, in.now, &c, &n);
	fg_stats_drain(stats, &rows, &nrows, &ev, &nev);
	assert_int_equal(fg_store_flush(in.store, c, n, rows, nrows, ev, nev, err, sizeof(err)), 0);
	fg_table_free_copies(c, n);
	fg_stats_free_rows(rows, nrows);
	free(ev);

	out = run(fg_inspect_explain, "floodgate/1 explain t1 x@docomo.ne.jp");
	assert_non_null(strstr(out, "verdict=reject\trule=car"));
	/* local mail over a rejecting rule is held (local_action hold) */
	assert_non_null(strstr(out, "\treason=limit\tlocal=hold\n"));
	assert_non_null(strstr(out, "rule=hour\tscope=account\tto=*\tkey=t1\tused=1\tlimit=3"));
	assert_non_null(strstr(out, "rule=car\tscope=account+domain\tto=@carriers\tkey=t1/docomo.ne.jp\tused=1\tlimit=1"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t1 x@example.com");
	assert_non_null(strstr(out, "verdict=pass\tlocal=pass\n"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain vip x@docomo.ne.jp");
	assert_non_null(strstr(out, "verdict=pass (exempt)\tlocal=pass (exempt)\n"));
	free(out);
	/* a routed recipient: the domain the milter would count it for */
	out = run(fg_inspect_explain, "floodgate/1 explain t1 x%docomo.ne.jp@mta.example");
	assert_non_null(strstr(out, "\trecipient=x%docomo.ne.jp@mta.example\trouted_to=docomo.ne.jp\t"));
	assert_non_null(strstr(out, "key=t1/docomo.ne.jp\tused=1\tlimit=1"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t1 docomo.ne.jp!x");
	assert_non_null(strstr(out, "\trouted_to=docomo.ne.jp\t"));
	free(out);
	/* a domain typed for a recipient is refused, not passed */
	out = run(fg_inspect_explain, "floodgate/1 explain t1 docomo.ne.jp");
	assert_non_null(strstr(out, "error explain: \"docomo.ne.jp\": expected a recipient address, such as someone@docomo.ne.jp"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t1 @ezweb.ne.jp");
	assert_non_null(strstr(out, "error explain: \"@ezweb.ne.jp\": expected a recipient address, such as someone@ezweb.ne.jp"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t1 x@");
	assert_non_null(strstr(out, "error explain: \"x@\": expected a recipient address, such as someone@docomo.ne.jp"));
	free(out);
	/* the client's address: an address, in any of its spellings */
	out = run(fg_inspect_explain, "floodgate/1 explain t1 x@example.com banana");
	assert_string_equal(out, "error explain: \"banana\": expected the client's IP address, such as 192.0.2.1 or 2001:db8::1\n.\n");
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t1 x@example.com 300.1.1.1");
	assert_non_null(strstr(out, "error explain: \"300.1.1.1\": expected the client's IP address"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t1 x@example.com IPv6:2001:DB8::7");
	assert_non_null(strstr(out, "verdict=pass\tlocal=pass\n"));
	free(out);
	/* explain charged nothing */
	out = run(fg_inspect_show, "floodgate/1 show t1");
	assert_non_null(strstr(out, "type=account\taccount=t1"));
	assert_non_null(strstr(out, "rule=hour\tscope=account\tto=*\tkey=t1\tused=1"));
	assert_non_null(strstr(out, "key=t1/docomo.ne.jp\tused=1\tlimit=1"));
	assert_non_null(strstr(out, "type=refusal"));
	free(out);
	out = run(fg_inspect_show, "floodgate/1 show");
	assert_string_equal(out, "error show: expected one account\n.\n");
	free(out);
}

static void
test_top(void **state)
{
	char *out;

	(void)state;
	out = run(fg_inspect_top, "floodgate/1 top account 1h 5");
	assert_non_null(strstr(out, "ok\naccount=t1\taccepted=1\tdeferred=0\trejected=4\theld=0\tsent=0\tbounced=0\tunknown=0\n.\n"));
	free(out);
	out = run(fg_inspect_top, "floodgate/1 top rule 1d 5");
	assert_non_null(strstr(out, "rule=car\tdeferred=0\trejected=4"));
	free(out);
	out = run(fg_inspect_top, "floodgate/1 top sender");
	assert_non_null(strstr(out, "error top: \"sender\": expected account, domain, rule, unknown or bounces"));
	free(out);
	out = run(fg_inspect_top, "floodgate/1 top account 1x");
	assert_non_null(strstr(out, "error top: \"1x\": expected a duration"));
	free(out);
	out = run(fg_inspect_top, "floodgate/1 top account 1h 0");
	assert_non_null(strstr(out, "expected a count from 1 to 10000"));
	free(out);
}

/* incidents: the database's, with the daemon's own not written yet
 * first and its newer copy of a stored one instead of the row. */
static void
test_incidents(void **state)
{
	struct fg_incident st = { .kind = "suspend", .subject = "t1",
	    .count = 1 }, live[3];
	char *out, err[FG_ERRLEN], want[128];
	const char *a, *b;

	(void)state;
	st.started = in.now - 60;
	assert_int_equal(fg_store_incident_save(in.store, &st, err, sizeof(err)), 0);
	assert_true(st.id > 0);
	memset(live, 0, sizeof(live));
	live[0] = st;
	live[0].count = 5;			/* grown since it was written */
	fg_strlcpy(live[1].kind, "store", sizeof(live[1].kind));
	fg_strlcpy(live[1].subject, "store", sizeof(live[1].subject));
	live[1].started = in.now - 10;
	live[1].count = 2;
	live[2] = live[1];			/* ended before --since */
	live[2].started = in.now - 7200;
	live[2].ended = in.now - 3600;
	in.live = live;
	in.nlive = 3;
	out = run(fg_inspect_incidents, "floodgate/1 incidents 1800");
	in.live = NULL;
	in.nlive = 0;
	a = strstr(out, "id=0\tkind=store\tsubject=store\tstate=open\t");
	snprintf(want, sizeof(want), "id=%lld\tkind=suspend\tsubject=t1\tstate=open\t",
	    (long long)st.id);
	b = strstr(out, want);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	assert_non_null(strstr(b, "count=5\t"));
	assert_null(strstr(out, "count=1\t"));
	assert_null(strstr(a + 1, "id=0\t"));	/* the old one left out */
	free(out);
}

static size_t
count_of(const char *s, const char *what)
{
	size_t n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s++;
	}
	return n;
}

/* incidents lists the newest 1000 and says when there are more: never
 * cut off unsaid; past the 1000, the older ones still open are listed
 * too, last. test_incidents left one in the database (open). */
static void
test_incidents_more(void **state)
{
	struct fg_incident x = { .kind = "refused", .count = 1 }, live[3];
	char *out, err[FG_ERRLEN], want[sizeof(x.subject) + 128];
	const char *a1, *rec;
	int i;

	(void)state;
	for (i = 0; i < 999; i++) {
		x.id = 0;
		snprintf(x.subject, sizeof(x.subject), "a%d", i);
		x.started = in.now - 3600 + (uint32_t)i;
		x.ended = i == 1 ? 0 : x.started + 1;	/* a1 is still open */
		assert_int_equal(fg_store_incident_save(in.store, &x, err,
		    sizeof(err)), 0);
		if (i == 1)
			live[1] = x;
	}
	out = run(fg_inspect_incidents, "floodgate/1 incidents");
	assert_int_equal(count_of(out, "type=incident\t"), 1000);
	assert_null(strstr(out, "type=more"));
	free(out);
	x.ended = 0;
	for (i = 0; i < 2; i++) {
		x.id = 0;
		snprintf(x.subject, sizeof(x.subject), "newest%d", i);
		x.started = in.now;
		assert_int_equal(fg_store_incident_save(in.store, &x, err,
		    sizeof(err)), 0);
		live[i == 0 ? 2 : 0] = x;
	}
	out = run(fg_inspect_incidents, "floodgate/1 incidents");
	assert_int_equal(count_of(out, "type=incident\t"), 1001);
	assert_non_null(strstr(out, "subject=newest0\t"));
	assert_non_null(strstr(out, "subject=newest1\t"));
	assert_null(strstr(out, "subject=a0\t"));	/* the oldest, ended: cut */
	/* a1, open, past the newest 1000: listed, and last */
	assert_non_null(a1 = strstr(out, "subject=a1\tstate=open\t"));
	assert_non_null(strstr(out, "subject=a2\t"));
	assert_true(strstr(out, "subject=a2\t") < a1);
	for (rec = a1; (rec = strstr(rec + 1, "type=incident\t")) != NULL; )
		fail_msg("an incident listed after the older open one");
	assert_non_null(strstr(out, "type=more\tlisted=1001\tnote=older incidents that ended are not listed (every open one is)"));
	free(out);
	/* The daemon's newer copies of three of them, not in the order of
	 * their ids (newest1, a1, newest0): each listed instead of its row,
	 * the past-1000 one too. */
	for (i = 0; i < 3; i++)
		live[i].count = 6 + (uint64_t)i;
	in.live = live;
	in.nlive = 3;
	out = run(fg_inspect_incidents, "floodgate/1 incidents");
	in.live = NULL;
	in.nlive = 0;
	assert_int_equal(count_of(out, "type=incident\t"), 1001);
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "id=%lld\tkind=refused\tsubject=%s\tstate=open\tstarted=%u\tended=0\tcount=%d\t",
		    (long long)live[i].id, live[i].subject, live[i].started, 6 + i);
		assert_non_null(strstr(out, want));
	}
	assert_int_equal(count_of(out, "\tcount=1\t"), 1001 - 3);
	free(out);
}

/* The inspector's own configuration and limiter, set aside while a
 * test runs explain under another (with blocks of its own). */
struct aside {
	struct fg_config *cfg;
	struct fg_limiter *limiter;
	struct fg_table *table;
};

static void
swap_in(struct aside *a, const char *conf)
{
	char err[FG_CONFIG_ERRLEN];

	a->cfg = in.cfg;
	a->limiter = in.limiter;
	a->table = fg_table_new();
	in.cfg = fg_config_load(tmpfile_with(conf), err, sizeof(err));
	if (in.cfg == NULL)
		fail_msg("%s", err);
	in.limiter = fg_limiter_new(a->table);
	in.blocks = fg_blocks_new();
}

static void
swap_back(struct aside *a)
{
	fg_blocks_free(in.blocks);
	in.blocks = NULL;
	fg_limiter_free(in.limiter);
	fg_table_free(a->table);
	fg_config_unref(in.cfg);
	in.cfg = a->cfg;
	in.limiter = a->limiter;
}

/*
 * explain weighs what the RCPT path weighs before any limit, in its
 * order: a pause (for everyone, exempt senders too), a suspension (not
 * of an exempt sender; an exempt domain does not lift it), a tripped
 * feedback limit; each says so as the reason.
 */
/* incidents says whom each was told to: "no one" where it was passed
 * with no notify target for it (before: "start", as if told), "not
 * yet" while a notification is owed; a row from before told was kept
 * reads as those floodgates showed it. */
static void
test_incidents_told(void **state)
{
	static const struct {
		int notified, told, ended;
		const char *want;
	} c[] = {
		{ 0, 0, 0, "not yet" },
		{ 1, 0, 0, "no one" },
		{ 1, 0, 1, "not yet" },		/* its end owed */
		{ 2, 0, 1, "no one" },
		{ 1, FG_TOLD_START, 0, "start" },
		{ 1, FG_TOLD_START, 1, "start" },
		{ 2, FG_TOLD_START, 1, "start" },	/* the end to no one */
		{ 2, FG_TOLD_END, 1, "end" },
		{ 2, FG_TOLD_START | FG_TOLD_END, 1, "start, end" },
		{ 1, -1, 0, "start" },
		{ 2, -1, 1, "start, end" },
		{ 0, -1, 0, "not yet" },
	};
	struct fg_incident live[sizeof(c) / sizeof(c[0])];
	char *out, want[96];
	size_t i;

	(void)state;
	memset(live, 0, sizeof(live));
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		fg_strlcpy(live[i].kind, "refused", sizeof(live[i].kind));
		snprintf(live[i].subject, sizeof(live[i].subject), "told%zu", i);
		live[i].started = in.now - 60;
		live[i].ended = c[i].ended ? in.now - 30 : 0;
		live[i].count = 1;
		live[i].notified = c[i].notified;
		live[i].told = c[i].told;
	}
	in.live = live;
	in.nlive = sizeof(c) / sizeof(c[0]);
	out = run(fg_inspect_incidents, "floodgate/1 incidents");
	in.live = NULL;
	in.nlive = 0;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const char *rec, *got;

		snprintf(want, sizeof(want), "subject=told%zu\t", i);
		rec = strstr(out, want);
		assert_non_null(rec);
		got = strstr(rec, "notified=");
		assert_non_null(got);
		snprintf(want, sizeof(want), "notified=%s\t", c[i].want);
		if (strncmp(got, want, strlen(want)) != 0)
			fail_msg("case %zu: %.30s, want %s", i, got, want);
	}
	free(out);
}

static void
test_explain_blocks(void **state)
{
	struct aside a;
	char *out;
	uint32_t now = in.now;

	(void)state;
	swap_in(&a, "limit hour per account 100/1h\n"
	    "limit unk per account 3/1h count unknown action hold\n"
	    "exempt account vip\n"
	    "exempt domain free.example\n");

	/* three unknown recipients of four results trip unk for t2 */
	assert_int_equal(fg_limiter_add(in.limiter, "unk" FG_WRULE_ALL, "t2",
	    3600, 4, now), 0);
	assert_int_equal(fg_limiter_add(in.limiter, "unk", "t2", 3600, 3, now), 0);
	out = run(fg_inspect_explain, "floodgate/1 explain t2 x@example.com");
	assert_non_null(strstr(out, "verdict=hold\trule=unk\tretry="));
	assert_non_null(strstr(out, "\treason=feedback\tlocal=hold\n"));
	assert_non_null(strstr(out, "type=feedback\trule=unk\t"));
	assert_non_null(strstr(out, "\tunknown=3\tlimit=3\t"));
	assert_non_null(strstr(out, "\tstatus=tripped\t"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t3 x@example.com");
	assert_non_null(strstr(out, "verdict=pass\tlocal=pass\n"));
	assert_non_null(strstr(out, "type=feedback\trule=unk\t"));
	assert_non_null(strstr(out, "\tstatus=ok\t"));
	free(out);

	/* t3 suspended for an hour; vip too, but exempt */
	assert_int_equal(fg_blocks_suspend(in.blocks, "t3", FG_BY_OPERATOR,
	    now, now + 3600), 1);
	assert_int_equal(fg_blocks_suspend(in.blocks, "vip", "unk", now, 0), 1);
	out = run(fg_inspect_explain, "floodgate/1 explain t3 x@example.com");
	assert_non_null(strstr(out, "verdict=defer\trule=floodgatectl\tretry=3600\treason=suspended\tlocal=hold\n"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t3 x@free.example");
	assert_non_null(strstr(out, "verdict=defer\trule=floodgatectl\tretry=3600\treason=suspended\tlocal=hold\n"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain vip x@example.com");
	assert_non_null(strstr(out, "verdict=pass (exempt)\tlocal=pass (exempt)\n"));
	free(out);

	/* a pattern's pause stops everyone, before a suspension */
	assert_int_equal(fg_blocks_pause_for(in.blocks, "*.pdx.test", 600, now,
	    NULL), 1);
	out = run(fg_inspect_explain, "floodgate/1 explain vip x@a.pdx.test");
	assert_non_null(strstr(out, "verdict=defer\trule=floodgatectl\tretry=600\treason=paused *.pdx.test\tlocal=hold\n"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t3 x@a.pdx.test");
	assert_non_null(strstr(out, "reason=paused *.pdx.test\tlocal=hold\n"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t3 x@pdx.test");
	assert_non_null(strstr(out, "reason=suspended\tlocal=hold\n"));
	free(out);
	/* a suspension's end passed: the limits decide again */
	in.now = now + 3600;
	out = run(fg_inspect_explain, "floodgate/1 explain t3 x@example.com");
	assert_non_null(strstr(out, "verdict=pass\tlocal=pass\n"));
	free(out);

	in.now = now;
	swap_back(&a);
}

/*
 * explain's local: what local mail would get. With local_action
 * tempfail a refusing limit leaves the message in maildrop, but a hold
 * rule, a suspension and a pause hold it; tag and log pass it as SMTP
 * mail.
 */
static void
test_explain_local(void **state)
{
	struct aside a;
	struct fg_engine eng;
	struct fg_msg m;
	struct fg_verdict v;
	char *out;
	uint32_t now = in.now;

	(void)state;
	swap_in(&a, "local_action tempfail\n"
	    "limit hour per account 1/1h\n"
	    "limit big per account to big.example 0/1h action hold\n"
	    "limit watch per account to watch.example 0/1h action tag\n");
	eng = (struct fg_engine){ .limiter = in.limiter, .stats = stats };
	fg_msg_begin(&m, in.cfg, "s", "", "t4", NULL, "<a@b.example>", 0);
	fg_msg_rcpt(&m, &eng, "<r@example.org>", now, &v);
	assert_int_equal(v.smtp, FG_CONTINUE);
	fg_msg_commit(&m, &eng, now);

	out = run(fg_inspect_explain, "floodgate/1 explain t4 x@example.org");
	assert_non_null(strstr(out, "verdict=defer\trule=hour\t"));
	assert_non_null(strstr(out, "\treason=limit\tlocal=tempfail\n"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t5 x@big.example");
	assert_non_null(strstr(out, "verdict=hold\trule=big\t"));
	assert_non_null(strstr(out, "\tlocal=hold\n"));
	free(out);
	out = run(fg_inspect_explain, "floodgate/1 explain t5 x@watch.example");
	assert_non_null(strstr(out, "verdict=tag\trule=watch\t"));
	assert_non_null(strstr(out, "\tlocal=tag\n"));
	free(out);
	assert_int_equal(fg_blocks_pause_for(in.blocks, "paused.example", 600,
	    now, NULL), 1);
	out = run(fg_inspect_explain, "floodgate/1 explain t5 x@paused.example");
	assert_non_null(strstr(out, "\treason=paused paused.example\tlocal=hold\n"));
	free(out);
	assert_int_equal(fg_blocks_suspend(in.blocks, "t5", FG_BY_OPERATOR,
	    now, 0), 1);
	out = run(fg_inspect_explain, "floodgate/1 explain t5 x@example.org");
	assert_non_null(strstr(out, "\treason=suspended\tlocal=hold\n"));
	free(out);
	swap_back(&a);
}

/* pauses and status list the paused domains and the suspended accounts
 * in the order of their names (before: the hash table's, a group
 * paused together scattered through the list); one over is left out. */
static void
test_blocks_order(void **state)
{
	static const char *const names[] = { "softbank.ne.jp", "au.com",
	    "*.pdx.ne.jp", "docomo.ne.jp", "ezweb.ne.jp", "i.softbank.jp",
	    "pdx.ne.jp", "mopera.net", "willcom.com", "ymobile.ne.jp" };
	static const char *const sorted = "*.pdx.ne.jp au.com docomo.ne.jp "
	    "ezweb.ne.jp i.softbank.jp mopera.net pdx.ne.jp softbank.ne.jp "
	    "willcom.com ymobile.ne.jp ";
	struct aside a;
	struct fg_ctl_out o = { 0 };
	char got[512], *p, acct[16];
	size_t i, len = 0;
	uint32_t now = in.now;

	(void)state;
	swap_in(&a, "limit hour per account 100/1h\n");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(fg_blocks_pause_for(in.blocks, names[i], 600,
		    now, NULL), 1);
		snprintf(acct, sizeof(acct), "t%zu", 9 - i);
		assert_int_equal(fg_blocks_suspend(in.blocks, acct,
		    FG_BY_OPERATOR, now, 0), 1);
	}
	/* over a second ago: not listed */
	assert_int_equal(fg_blocks_pause_for(in.blocks, "gone.example", 1,
	    now - 2, NULL), 1);
	fg_inspect_blocks(&in, &o, 1);
	got[0] = '\0';
	for (p = o.buf; (p = strstr(p, "domain=")) != NULL; p++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%.*s ",
		    (int)strcspn(p + 7, "\t"), p + 7);
	assert_string_equal(got, sorted);
	len = 0;
	got[0] = '\0';
	for (p = o.buf; (p = strstr(p, "account=")) != NULL; p++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%.*s ",
		    (int)strcspn(p + 8, "\t"), p + 8);
	assert_string_equal(got, "t0 t1 t2 t3 t4 t5 t6 t7 t8 t9 ");
	free(o.buf);
	swap_back(&a);
}

/* Out of memory to read the recipient, explain says so: not "expected a
 * recipient address", nor a verdict for no domain or the wrong one. */
static void
test_explain_nomem(void **state)
{
	/* ｄｏｃｏｍｏ.ne.jp, fullwidth */
	const char *line = "floodgate/1 explain t1 x@\xef\xbd\x84\xef\xbd\x8f"
	    "\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d\xef\xbd\x8f.ne.jp";
	char *out;
	int i;

	(void)state;
	/* Read as a route, as an address, then by the policy twice. */
	for (i = 1; i <= 4; i++) {
		nomem_idn = i;
		out = run(fg_inspect_explain, line);
		assert_string_equal(out, "error explain: out of memory\n.\n");
		free(out);
		assert_int_equal(nomem_idn, 0);
	}
	out = run(fg_inspect_explain, line);
	assert_non_null(strstr(out, "\tkey=t1/docomo.ne.jp\t"));
	free(out);
}

/* Out of memory to read an account named by its address in UTF-8:
 * show, explain and held say so. Before, the name was taken for a
 * login, and the answer was another account's (suspend, resume and
 * reset in the daemon name theirs the same way). */
static void
test_account_nomem(void **state)
{
	static const char *const ask[][2] = {
		{ "floodgate/1 show x@\xef\xbd\x84ocomo.ne.jp", "show" },
		{ "floodgate/1 explain x@\xef\xbd\x84ocomo.ne.jp y@example.org", "explain" },
		{ "floodgate/1 held x@\xef\xbd\x84ocomo.ne.jp", "held" },
	};
	void (*fn[])(struct fg_inspect *, const struct fg_ctl_req *,
	    struct fg_ctl_out *) = { fg_inspect_show, fg_inspect_explain,
	    fg_inspect_held };
	char want[64], *out;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		nomem_idn = 1;
		out = run(fn[i], ask[i][0]);
		assert_int_equal(nomem_idn, 0);
		snprintf(want, sizeof(want), "error %s: out of memory\n.\n",
		    ask[i][1]);
		assert_string_equal(out, want);
		free(out);
		out = run(fn[i], ask[i][0]);
		assert_null(strstr(out, "out of memory"));
		assert_null(strstr(out, "\xef\xbd\x84"));
		free(out);
	}
	out = run(fg_inspect_show, ask[0][0]);
	assert_non_null(strstr(out, "type=account\taccount=x@docomo.ne.jp\t"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_explain_and_show),
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_incidents),
		cmocka_unit_test(test_incidents_more),
		cmocka_unit_test(test_incidents_told),
		cmocka_unit_test(test_explain_blocks),
		cmocka_unit_test(test_blocks_order),
		cmocka_unit_test(test_explain_local),
		cmocka_unit_test(test_explain_nomem),
		cmocka_unit_test(test_account_nomem),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
