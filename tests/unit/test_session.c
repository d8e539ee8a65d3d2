/*
 * Unit tests of milter/session.c: whole milter transactions (MAIL, RCPT,
 * DATA, end of message, abort) against a session built with an env of
 * the test's own, each answer checked as the engine would write it.
 */
#include <pwd.h>

#include "helpers.h"
#include "log.h"
#include "nomem.h"
#include "session.h"
#include "table.h"

static struct fg_table *table;
static struct fg_engine eng;
static struct fg_config *cfg;
static int store_up;
static struct fg_held_row held;
static char held_domains[256];
static int nheld;

static struct fg_config *
env_config(void *arg)
{
	(void)arg;
	return fg_config_ref(cfg);
}

static int
env_store_ok(void *arg)
{
	(void)arg;
	return store_up;
}

static void
env_held(void *arg, const struct fg_held_row *h)
{
	(void)arg;
	held = *h;
	snprintf(held_domains, sizeof(held_domains), "%s", h->domains);
	held.domains = held_domains;
	nheld++;
}

static const struct fg_session_env env = {
	.engine = &eng,
	.config = env_config,
	.store_ok = env_store_ok,
	.held = env_held,
};

/* Postfix 3.7's offer: every action, every step. */
static const struct fg_mp_optneg postfix = { 6, 0x1ff, 0x1fffff };

static void
use(const char *text)
{
	char err[FG_CONFIG_ERRLEN];

	fg_config_unref(cfg);
	if ((cfg = fg_config_load(tmpfile_with(text), err, sizeof(err))) == NULL)
		fail_msg("%s", err);
}

static int
setup(void **state)
{
	(void)state;
	table = fg_table_new();
	eng.limiter = fg_limiter_new(table);
	eng.stats = fg_stats_new();
	store_up = 1;
	nheld = 0;
	memset(&held, 0, sizeof(held));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fg_config_unref(cfg);
	cfg = NULL;
	fg_limiter_free(eng.limiter);
	fg_stats_free(eng.stats);
	fg_table_free(table);
	return 0;
}

static struct fg_session *
session(void)
{
	struct fg_session *s = fg_session_new(&env, 0x2a);
	struct fg_mp_optneg mine;
	const char *lists[FG_MP_NSTAGES];

	assert_non_null(s);
	fg_session_negotiate(s, &postfix, &mine, lists);
	return s;
}

/* The macros as the MTA sent them for one step. */
static struct fg_macros
mac(const char *qid, const char *auth, const char *port)
{
	struct fg_macros m = { { NULL } };

	m.v[FG_MAC_QID] = qid;
	m.v[FG_MAC_AUTH] = auth;
	m.v[FG_MAC_CLIENT] = "192.0.2.7";
	m.v[FG_MAC_PORT] = port;
	return m;
}

static void
test_smtp_message(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m = mac(NULL, NULL, "25"), mq = mac("4AB1", NULL, "25");

	(void)state;
	use("limit hour per account 2/1h\n");
	s = session();
	assert_string_equal(fg_session_id(s), "2a");
	/* MAIL gets no reply (negotiated away), RCPT does. */
	assert_true(fg_session_noreply(s, FG_MC_MAIL));
	assert_false(fg_session_noreply(s, FG_MC_RCPT));
	fg_session_mail(s, "<a@x.example>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_rcpt(s, "<r2@example.com>", &mq, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_rcpt(s, "<r3@example.com>", &mq, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.rcode, "451");
	assert_string_equal(a.xcode, "4.7.1");
	assert_string_equal(a.text, "floodgate: hour limit reached (2/1h), retry in 1h01m");
	/* charge_at data: charged at DATA, and the MTA told ACCEPT. */
	fg_session_data(s, &m, &a);
	assert_int_equal(a.code, FG_MR_ACCEPT);
	/* A second message in the session: the budget is spent. */
	fg_session_mail(s, "<a@x.example>", &m, &a);
	fg_session_rcpt(s, "<r4@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	fg_session_free(s);
}

static void
test_abort_and_drop(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m = mac(NULL, "alice", "587");

	(void)state;
	use("limit hour per account 1/1h\n");
	s = session();
	fg_session_mail(s, "<x@y.example>", &m, &a);
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_abort(s);
	/* RCPT without MAIL after the abort: deferred, not charged. */
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.xcode, "4.5.1");
	/* The reservation went back: alice (the SASL login counts, not the
	 * sender) still has her recipient; a dropped connection gives it
	 * back too. */
	fg_session_mail(s, "<other@z.example>", &m, &a);
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_free(s);
	s = session();
	fg_session_mail(s, "<x@y.example>", &m, &a);
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_data(s, &m, &a);
	assert_int_equal(a.code, FG_MR_ACCEPT);
	fg_session_mail(s, "<x@y.example>", &m, &a);
	fg_session_rcpt(s, "<r2@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	fg_session_free(s);
}

/* A client is one key and one match however its MTA spells it: the
 * {client_addr} "IPv6:2001:db8::7" of Postfix and Sendmail, another
 * session's connect address "2001:DB8:0::7", an IPv4-mapped one. */
static void
test_client_forms(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m = mac(NULL, NULL, "25");
	const char *v4 = "::ffff:192.0.2.9";

	(void)state;
	use("limit per-client per client 2/1h\n"
	    "limit hour per account 1/1h\n"
	    "exempt client 2001:db8:1::/48 192.0.2.9\n");
	s = session();
	m.v[FG_MAC_CLIENT] = "IPv6:2001:db8::7";
	fg_session_mail(s, "<a@x.example>", &m, &a);
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_data(s, &m, &a);
	fg_session_free(s);
	s = session();
	fg_session_connect(s, "2001:DB8:0::7");
	m.v[FG_MAC_CLIENT] = NULL;	/* the connect address stands */
	fg_session_mail(s, "<b@y.example>", &m, &a);
	fg_session_rcpt(s, "<r2@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_rcpt(s, "<r3@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.text, "floodgate: per-client limit reached (2/1h), retry in 1h01m");
	fg_session_free(s);
	/* exempt client matches the MTAs' IPv6 form and a mapped IPv4 */
	s = session();
	m.v[FG_MAC_CLIENT] = "IPv6:2001:DB8:1::25";
	fg_session_mail(s, "<c@z.example>", &m, &a);
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	fg_session_rcpt(s, "<r2@example.com>", &m, &a);
	fg_session_rcpt(s, "<r3@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	m.v[FG_MAC_CLIENT] = v4;
	fg_session_mail(s, "<c@z.example>", &m, &a);
	fg_session_rcpt(s, "<r4@example.com>", &m, &a);
	fg_session_rcpt(s, "<r5@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_free(s);
}

/*
 * account uid: a client on this host (a real loopback connection the
 * test makes) counts for the user the test runs as, whatever sender it
 * claims; a client elsewhere for its sender. The user is named in the
 * map, so that a system user (root) counts too.
 */
static void
test_uid_account(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m = mac(NULL, NULL, NULL);
	struct passwd *pw = getpwuid(getuid());
	struct fg_mp_optneg mine;
	const char *lists[FG_MP_NSTAGES];
	char text[256], map[128], cport[8], port[8];
	unsigned long long n0[FG_UID_N], n[FG_UID_N];
	struct conn k;

	(void)state;
	fg_session_uid_counts(n0);
	assert_non_null(pw);
	assert_true(conn_open(&k, AF_INET, AF_INET, "127.0.0.1"));
	snprintf(cport, sizeof(cport), "%u", k.cport);
	snprintf(port, sizeof(port), "%u", k.port);
	snprintf(map, sizeof(map), "%s tenant-me\n", pw->pw_name);
	snprintf(text, sizeof(text), "account sasl uid sender client\n"
	    "account_map %s\nlimit hour per account 1/1h\n",
	    tmpfile_with(map));
	use(text);
	s = fg_session_new(&env, 0x2b);
	fg_session_negotiate(s, &postfix, &mine, lists);
	assert_string_equal(lists[FG_MS_ENVFROM],
	    "i {auth_authen} {client_addr} {daemon_port} {client_port} {daemon_addr}");
	m.v[FG_MAC_CLIENT] = "127.0.0.1";
	m.v[FG_MAC_CPORT] = cport;
	m.v[FG_MAC_DADDR] = "127.0.0.1";
	m.v[FG_MAC_PORT] = port;
	fg_session_mail(s, "<a@x.example>", &m, &a);
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_data(s, &m, &a);
	/* Another sender from the same socket: the same account, spent. */
	fg_session_mail(s, "<b@y.example>", &m, &a);
	fg_session_rcpt(s, "<r2@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	fg_session_free(s);
	/* The same sender from another host: its own account. */
	s = session();
	m.v[FG_MAC_CLIENT] = "192.0.2.7";
	fg_session_mail(s, "<b@y.example>", &m, &a);
	fg_session_rcpt(s, "<r3@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_free(s);
	/* An MTA that sends no {client_port}: the sender counts. */
	s = session();
	m.v[FG_MAC_CPORT] = NULL;
	fg_session_mail(s, "<c@z.example>", &m, &a);
	fg_session_rcpt(s, "<r4@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_free(s);
	/* Each MAIL counted by what was found (the metrics' counters). */
	fg_session_uid_counts(n);
	assert_int_equal(n[FG_UID_USER] - n0[FG_UID_USER], 2);
	assert_int_equal(n[FG_UID_REMOTE] - n0[FG_UID_REMOTE], 1);
	assert_int_equal(n[FG_UID_FAILED] - n0[FG_UID_FAILED], 1);
	assert_int_equal(n[FG_UID_SYSTEM] - n0[FG_UID_SYSTEM], 0);
	assert_int_equal(n[FG_UID_CLOSED] - n0[FG_UID_CLOSED], 0);
	conn_close(&k);
}

/* Local mail: decided at the end of the message, held over a limit. */
static void
test_local_hold(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m = mac("7C2D", NULL, "0");

	(void)state;
	use("limit hour per account 1/1h\n");
	s = session();
	fg_session_mail(s, "www@x.example", &m, &a);
	fg_session_rcpt(s, "r1@example.com", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_rcpt(s, "r2@example.org", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);	/* never refused per recipient */
	fg_session_data(s, &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);	/* local mail waits for the end */
	fg_session_eom(s, &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	assert_string_equal(a.quarantine, "floodgate: over hour");
	assert_int_equal(nheld, 1);
	assert_string_equal(held.queue_id, "7C2D");
	assert_string_equal(held.account, "www@x.example");
	assert_string_equal(held.rule, "hour");
	assert_int_equal(held.recipients, 2);
	assert_string_equal(held.domains, "example.com,example.org");
	fg_session_free(s);
}

/*
 * A message to hold whose queue ID the MTA did not send (or sent unfit
 * for a command line) is deferred, never held under a wrong ID.
 */
static void
test_hold_needs_queue_id(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros none = mac(NULL, NULL, "0"), bad = mac("-qQ", NULL, "0");

	(void)state;
	use("limit hour per account 0/1h\n");
	s = session();
	fg_session_mail(s, "www@x.example", &none, &a);
	fg_session_rcpt(s, "r1@example.com", &none, &a);
	fg_session_eom(s, &none, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.rcode, "451");
	assert_string_equal(a.quarantine, "");
	fg_session_mail(s, "www@x.example", &bad, &a);
	fg_session_rcpt(s, "r1@example.com", &bad, &a);
	fg_session_eom(s, &bad, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.quarantine, "");
	assert_int_equal(nheld, 0);
	fg_session_free(s);
}

static void
test_tag(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m = mac("9E", NULL, "25");

	(void)state;
	use("limit t per account 1/1h action tag\nlimit u per account 1/1h action tag\n");
	s = session();
	fg_session_mail(s, "<a@x.example>", &m, &a);
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	fg_session_rcpt(s, "<r2@example.com>", &m, &a);
	fg_session_rcpt(s, "<r3@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_data(s, &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);	/* the header is due at the end */
	fg_session_eom(s, &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	assert_string_equal(a.header, "over t u");
	fg_session_free(s);
}

/*
 * floodgate's own notification (its one-time token in the sender's
 * extension) passes untouched once: as local mail (Postfix's pickup),
 * and over SMTP from the loopback (Sendmail's submission program relays
 * it so). From another host a token is an ordinary sender's extension.
 */
static void
test_own_notification(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros local = mac("1A", NULL, "0"), lo = mac("2B", NULL, "25");
	struct fg_macros remote = mac("3C", NULL, "25");
	static const char *const who[] = { "local mail", "the loopback",
	    "another host", "a token used" };
	const char *tok[] = { "fgn-00000000000000a1", "fgn-00000000000000b2",
	    "fgn-00000000000000c3", "fgn-00000000000000a1" };
	struct fg_macros *m[] = { &local, &lo, &remote, &lo };
	int passes[] = { 1, 1, 0, 0 };
	size_t i;

	(void)state;
	lo.v[FG_MAC_CLIENT] = "127.0.0.1";
	use("limit none per account to notify.example 0/1h\nlocal_action tempfail\n");
	eng.blocks = fg_blocks_new();
	assert_non_null(eng.blocks);
	for (i = 0; i < 3; i++)
		assert_int_equal(fg_blocks_pass_add(eng.blocks, tok[i],
		    (uint32_t)time(NULL)), 0);
	for (i = 0; i < 4; i++) {
		char from[64];

		snprintf(from, sizeof(from), "<floodgate+%s@x.example>", tok[i]);
		s = session();
		fg_session_mail(s, from, m[i], &a);
		fg_session_rcpt(s, "<admin@notify.example>", m[i], &a);
		if (a.code == FG_MR_CONTINUE)
			fg_session_data(s, m[i], &a);
		if (a.code == FG_MR_CONTINUE)	/* not ACCEPT at DATA */
			fg_session_eom(s, m[i], &a);
		if ((a.code != FG_MR_TEMPFAIL) != passes[i])
			fail_msg("%s: answer %c, want %s", who[i], a.code,
			    passes[i] ? "it passed" : "451");
		fg_session_free(s);
	}
	fg_blocks_free(eng.blocks);
	eng.blocks = NULL;
}

/*
 * Postfix behind a pre-queue filter (smtpd_proxy_filter): SMTP mail has
 * no queue ID at DATA, and no end of message ever reaches a milter. A
 * hold due there is deferred at DATA, a tag left out and the message
 * charged; with a queue ID, both wait for the end as before.
 */
static void
test_no_end(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m = mac(NULL, NULL, "25"), mq = mac("5D", NULL, "25");

	(void)state;
	use("limit hour per account 1/1h action hold\n");
	s = session();
	fg_session_mail(s, "<a@x.example>", &m, &a);
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	fg_session_data(s, &m, &a);
	assert_int_equal(a.code, FG_MR_ACCEPT);		/* nothing due at the end */
	fg_session_mail(s, "<a@x.example>", &m, &a);
	fg_session_rcpt(s, "<r2@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);	/* to be held */
	fg_session_data(s, &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.rcode, "451");
	assert_string_equal(a.quarantine, "");
	assert_int_equal(nheld, 0);
	/* the same with its queue ID: held at the end */
	fg_session_mail(s, "<a@x.example>", &m, &a);
	fg_session_rcpt(s, "<r3@example.com>", &mq, &a);
	fg_session_data(s, &mq, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_eom(s, &mq, &a);
	assert_string_equal(a.quarantine, "floodgate: over hour");
	assert_int_equal(nheld, 1);
	fg_session_free(s);

	use("limit t per account 1/1h action tag\nlimit hour per account 2/1h\n");
	s = session();
	fg_session_mail(s, "<b@x.example>", &m, &a);
	fg_session_rcpt(s, "<r1@example.com>", &m, &a);
	fg_session_rcpt(s, "<r2@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);	/* tagged, not refused */
	fg_session_data(s, &m, &a);
	assert_int_equal(a.code, FG_MR_ACCEPT);
	assert_string_equal(a.header, "");
	/* charged at DATA: the hour's two are spent */
	fg_session_mail(s, "<b@x.example>", &m, &a);
	fg_session_rcpt(s, "<r3@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.text, "floodgate: hour limit reached (2/1h), retry in 1h01m");
	fg_session_free(s);
}

/* on_store_error tempfail with the store down: MAIL defers, and so does
 * RCPT (MAIL may have had no reply). */
static void
test_store_down(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m = mac(NULL, NULL, "25");
	struct fg_mp_optneg mine;
	const char *lists[FG_MP_NSTAGES];

	(void)state;
	use("on_store_error tempfail\nlimit hour per account 5/1h\n");
	store_up = 0;
	s = fg_session_new(&env, 1);
	fg_session_negotiate(s, &postfix, &mine, lists);
	assert_false(fg_session_noreply(s, FG_MC_MAIL));
	fg_session_mail(s, "<a@x.example>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.xcode, "4.3.0");
	fg_session_rcpt(s, "<r@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.text, "floodgate: state store unavailable, try again later");
	fg_session_free(s);
}

/*
 * A routed recipient ("user%dest@host", "dest!user") counts where the
 * MTA resolved it over SMTP ({rcpt_addr}); local mail's {rcpt_addr} is
 * the address as written, and the route decides.
 */
static void
test_routed(void **state)
{
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m = mac("5E1", NULL, "25"), ml = mac("5E2", NULL, "0");

	(void)state;
	use("limit carrier per domain to docomo.ne.jp 1/1h\n");
	s = session();
	fg_session_mail(s, "<a@x.example>", &m, &a);
	m.v[FG_MAC_RADDR] = "a1@docomo.ne.jp";
	fg_session_rcpt(s, "<a1%docomo.ne.jp@mta.example>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	m.v[FG_MAC_RADDR] = "a2@docomo.ne.jp";
	fg_session_rcpt(s, "<docomo.ne.jp!a2>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.text, "floodgate: carrier limit reached (1/1h), retry in 1h01m");
	/* Postfix leaves a route to another host's domain as written. */
	m.v[FG_MAC_RADDR] = "a3%docomo.ne.jp@relay.example";
	fg_session_rcpt(s, "<a3%docomo.ne.jp@relay.example>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	/* A plain address counts as written, whatever the macro says. */
	m.v[FG_MAC_RADDR] = "a5@docomo.ne.jp";
	fg_session_rcpt(s, "<a5@example.com>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	/* Without the macro: the domain a rule names. */
	m.v[FG_MAC_RADDR] = NULL;
	fg_session_rcpt(s, "<a4%gmail.example@docomo.ne.jp>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	fg_session_data(s, &m, &a);	/* docomo.ne.jp's one charged */
	assert_int_equal(a.code, FG_MR_ACCEPT);
	fg_session_free(s);

	/* Local mail: the macro is the address as written. */
	s = session();
	fg_session_mail(s, "www@x.example", &ml, &a);
	ml.v[FG_MAC_RADDR] = "x%docomo.ne.jp@mta.example";
	fg_session_rcpt(s, "x%docomo.ne.jp@mta.example", &ml, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_data(s, &ml, &a);
	fg_session_eom(s, &ml, &a);
	assert_string_equal(a.quarantine, "floodgate: over carrier");
	assert_int_equal(nheld, 1);
	assert_string_equal(held.domains, "docomo.ne.jp");
	fg_session_free(s);
}

/* An answer of floodgate's own fault: 451 4.3.0 and this text. */
static void
deferred(const struct fg_answer *a, const char *text)
{
	assert_int_equal(a->code, FG_MR_TEMPFAIL);
	assert_string_equal(a->rcode, "451");
	assert_string_equal(a->xcode, "4.3.0");
	assert_string_equal(a->text, text);
}

/*
 * Out of memory to read an address, the MTA is told 451 4.3.0 and
 * nothing is counted: not the sender's (whose account it is: the next
 * source would be another's) at MAIL, nor a recipient's (which domain's
 * limits it meets: a carrier's name in UTF-8 kept as its bytes, or none
 * at all, would pass them) at RCPT.
 */
static void
test_nomem(void **state)
{
#define TEMPFAIL "floodgate: temporary failure, try again later"
#define OOM "floodgate: out of memory, try again later"
	/* ｄｏｃｏｍｏ.ne.jp, fullwidth */
#define FW_DOCOMO "\xef\xbd\x84\xef\xbd\x8f\xef\xbd\x83\xef\xbd\x8f" \
	"\xef\xbd\x8d\xef\xbd\x8f.ne.jp"
	struct fg_session *s;
	struct fg_answer a;
	struct fg_macros m = mac("6F1", NULL, "25");
	char user[5001], big[5100];

	(void)state;
	use("account sender client\n"
	    "limit carrier per domain to docomo.ne.jp 1/1h\n");
	s = session();
	nomem_idn = 1;
	fg_session_mail(s, "<a@" FW_DOCOMO ">", &m, &a);
	deferred(&a, OOM);
	/* Postfix asks for no reply to MAIL: RCPT is refused instead. */
	fg_session_rcpt(s, "<r0@example.com>", &m, &a);
	deferred(&a, OOM);

	fg_session_mail(s, "<a@x.example>", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	/* Whether the recipient is routed, then its domain. */
	nomem_idn = 1;
	fg_session_rcpt(s, "<r1@" FW_DOCOMO ">", &m, &a);
	deferred(&a, TEMPFAIL);
	nomem_idn = 2;
	fg_session_rcpt(s, "<r1@" FW_DOCOMO ">", &m, &a);
	deferred(&a, TEMPFAIL);
	/* Where the MTA resolved a routed one, or its route. */
	m.v[FG_MAC_RADDR] = "r2@" FW_DOCOMO;
	nomem_idn = 1;
	fg_session_rcpt(s, "<r2%docomo.ne.jp@mta.example>", &m, &a);
	deferred(&a, TEMPFAIL);
	m.v[FG_MAC_RADDR] = NULL;
	nomem_idn = 1;
	fg_session_rcpt(s, "<r3%" FW_DOCOMO "@mta.example>", &m, &a);
	deferred(&a, TEMPFAIL);
	/* A copy of a long address, past the stack's room. */
	memset(user, 'u', 5000);
	user[5000] = '\0';
	snprintf(big, sizeof(big), "<%s@docomo.ne.jp>", user);
	nomem_from = FG_ADDR_IN_MAX + 4;
	fg_session_rcpt(s, big, &m, &a);
	nomem_from = SIZE_MAX;
	deferred(&a, TEMPFAIL);
	/* None was counted: docomo.ne.jp's one recipient is left. */
	assert_int_equal(nomem_idn, 0);
	fg_session_rcpt(s, "<r4@" FW_DOCOMO ">", &m, &a);
	assert_int_equal(a.code, FG_MR_CONTINUE);
	fg_session_rcpt(s, "<r5@docomo.ne.jp>", &m, &a);
	assert_int_equal(a.code, FG_MR_TEMPFAIL);
	assert_string_equal(a.xcode, "4.7.1");
	fg_session_free(s);
#undef FW_DOCOMO
#undef TEMPFAIL
#undef OOM
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_smtp_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_and_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_account, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_needs_queue_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_notification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nomem, setup, teardown),
	};
	int rc;

	fg_log_open("test", 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tmpfiles_remove();
	return rc;
}
