/* Unit tests of lib/rules.c: matching, keys, overrides, exemptions. */
#include "helpers.h"
#include "config.h"
#include "rules.h"

static struct fg_config *cfg;

static int
setup(void **state)
{
	char err[FG_CONFIG_ERRLEN];

	(void)state;
	cfg = fg_config_load(tmpfile_with(
	    "group carriers docomo.ne.jp *.vodafone.ne.jp\n"
	    "limit all per account 10/1h\n"
	    "limit car per account+domain to @carriers,example.org 5/1h\n"
	    "limit dom per domain to @carriers 100/1h\n"
	    "limit cli per client 50/1h\n"
	    "limit srv per server 1000/1h\n"
	    "override all Tenant42 99/1d\n"
	    "exempt account postmaster@example.jp ops\n"
	    "exempt client 192.0.2.0/24 2001:db8::/33 198.51.100.7 10.0.0.0/8\n"
	    "exempt client IPv6:2001:db8:1:2::9 ::ffff:203.0.113.0/120\n"
	    "exempt domain internal.example\n"), err, sizeof(err));
	return cfg == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	fg_config_unref(cfg);
	return 0;
}

static void
test_dests(void **state)
{
	const struct fg_rule *all = fg_config_rule(cfg, "all"),
	    *car = fg_config_rule(cfg, "car");

	(void)state;
	assert_true(fg_dests_match(&all->dests, "anything.example"));
	assert_true(fg_dests_match(&all->dests, ""));
	assert_true(fg_dests_match(&car->dests, "docomo.ne.jp"));
	assert_true(fg_dests_match(&car->dests, "x.vodafone.ne.jp"));
	assert_true(fg_dests_match(&car->dests, "example.org"));
	assert_false(fg_dests_match(&car->dests, "vodafone.ne.jp"));
	assert_false(fg_dests_match(&car->dests, "example.com"));
	assert_false(fg_dests_match(&car->dests, ""));
}

static int
push(struct fg_dests *d, const char *pat)
{
	char **v = realloc(d->pat, (d->n + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	d->pat = v;
	return (d->pat[d->n++] = strdup(pat)) == NULL ? -1 : 0;
}

/*
 * The sorted index must answer as the plain scan of the patterns does:
 * a long group of exact domains and wildcards, probed with near misses.
 */
static void
test_dests_index(void **state)
{
	static const char *probe[] = {
	    "d17.example.jp", "d999.example.jp", "d1000.example.jp",
	    "x.w5.example", "a.b.w5.example", "w5.example", "xw5.example",
	    "w5.example.evil", "sub.d17.example.jp", "example.jp", "jp",
	    "d0.example.jp", ".w5.example", "a..w5.example", "w49.example",
	    "q.w49.example", "w50.example.x", "zzz", "a",
	};
	struct fg_dests d = { 0 };
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "d%zu.example.jp", i);
		assert_int_equal(push(&d, buf), 0);
	}
	for (i = 0; i < 50; i++) {
		snprintf(buf, sizeof(buf), "*.w%zu.example", i);
		assert_int_equal(push(&d, buf), 0);
	}
	for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		int scan;

		assert_null(d.idx);
		scan = fg_dests_match(&d, probe[i]);
		fg_dests_index(&d);
		assert_non_null(d.idx);
		assert_int_equal(d.nexact, 1000);
		assert_int_equal(fg_dests_match(&d, probe[i]), scan);
		free(d.idx);
		d.idx = NULL;
	}
	/* And the answers themselves. */
	fg_dests_index(&d);
	assert_true(fg_dests_match(&d, "d999.example.jp"));
	assert_true(fg_dests_match(&d, "a.b.w5.example"));
	assert_false(fg_dests_match(&d, "w5.example"));
	assert_false(fg_dests_match(&d, "xw5.example"));
	assert_false(fg_dests_match(&d, "d1000.example.jp"));
	assert_false(fg_dests_match(&d, "sub.d17.example.jp"));
	free(d.idx);
	for (i = 0; i < d.n; i++)
		free(d.pat[i]);
	free(d.pat);
}

static void
test_keys(void **state)
{
	char k[128];

	(void)state;
	assert_int_equal(fg_rule_key(fg_config_rule(cfg, "all"), "t1", "docomo.ne.jp", "192.0.2.9", k, sizeof(k)), 0);
	assert_string_equal(k, "t1");
	fg_rule_key(fg_config_rule(cfg, "car"), "t1", "docomo.ne.jp", "192.0.2.9", k, sizeof(k));
	assert_string_equal(k, "t1/docomo.ne.jp");
	fg_rule_key(fg_config_rule(cfg, "dom"), "t1", "docomo.ne.jp", "192.0.2.9", k, sizeof(k));
	assert_string_equal(k, "docomo.ne.jp");
	fg_rule_key(fg_config_rule(cfg, "cli"), "t1", "docomo.ne.jp", "192.0.2.9", k, sizeof(k));
	assert_string_equal(k, "192.0.2.9");
	fg_rule_key(fg_config_rule(cfg, "srv"), "t1", "docomo.ne.jp", "192.0.2.9", k, sizeof(k));
	assert_string_equal(k, "*");
	assert_int_equal(fg_rule_key(fg_config_rule(cfg, "car"), "t1", "docomo.ne.jp", "", k, 8), -1);
}

static void
test_override(void **state)
{
	uint32_t n, p;

	(void)state;
	fg_rule_rate(fg_config_rule(cfg, "all"), "tenant42", &n, &p);
	assert_int_equal(n, 99);
	assert_int_equal(p, 86400);
	fg_rule_rate(fg_config_rule(cfg, "all"), "tenant43", &n, &p);
	assert_int_equal(n, 10);
	assert_int_equal(p, 3600);
	fg_rule_rate(fg_config_rule(cfg, "car"), "tenant42", &n, &p);
	assert_int_equal(n, 5);
}

static void
test_exempt(void **state)
{
	(void)state;
	assert_true(fg_exempt_account(cfg, "postmaster@example.jp", "x"));
	assert_true(fg_exempt_account(cfg, "alice", "OPS"));
	assert_false(fg_exempt_account(cfg, "alice", "tenant7"));
	assert_true(fg_exempt_client(cfg, "192.0.2.200"));
	assert_false(fg_exempt_client(cfg, "192.0.3.1"));
	assert_true(fg_exempt_client(cfg, "198.51.100.7"));
	assert_false(fg_exempt_client(cfg, "198.51.100.8"));
	assert_true(fg_exempt_client(cfg, "2001:db8:7fff::1"));
	assert_false(fg_exempt_client(cfg, "2001:db8:8000::1"));
	assert_true(fg_exempt_client(cfg, "10.255.1.1"));
	assert_false(fg_exempt_client(cfg, "11.0.0.1"));
	/* written as the MTAs write a client: the tag, a mapped network */
	assert_true(fg_exempt_client(cfg, "2001:db8:1:2::9"));
	assert_true(fg_exempt_client(cfg, "203.0.113.77"));
	assert_false(fg_exempt_client(cfg, "203.0.114.1"));
	assert_false(fg_exempt_client(cfg, "not-an-ip"));
	assert_false(fg_exempt_client(cfg, ""));
	assert_false(fg_exempt_client(cfg, NULL));
	assert_true(fg_dests_match(&cfg->ex_domain, "internal.example"));
	assert_false(fg_dests_match(&cfg->ex_domain, "external.example"));
}

/* Where a routed recipient counts when the MTA has not said. */
static void
route_is(const struct fg_config *c, const char *rcpt, int found,
    const char *domain)
{
	struct fg_addr a;

	assert_int_equal(fg_route_domain(c, rcpt, &a),
	    found ? FG_ADDR_OK : FG_ADDR_BAD);
	if (found)
		assert_string_equal(a.domain, domain);
}

static void
test_route_domain(void **state)
{
	char err[FG_CONFIG_ERRLEN];
	struct fg_config *b;

	(void)state;
	/* The domain a rule names, whichever way the route goes. */
	route_is(cfg, "<bob%docomo.ne.jp@mta.example>", 1, "docomo.ne.jp");
	route_is(cfg, "<bob%gmail.example@docomo.ne.jp>", 1, "docomo.ne.jp");
	route_is(cfg, "<docomo.ne.jp!bob>", 1, "docomo.ne.jp");
	/* Both named, or neither: the route's. */
	route_is(cfg, "<bob%docomo.ne.jp@example.org>", 1, "docomo.ne.jp");
	route_is(cfg, "<bob%gmail.example@mta.example>", 1, "gmail.example");
	/* A route to no domain: the one written. */
	route_is(cfg, "<bob%@docomo.ne.jp>", 1, "docomo.ne.jp");
	route_is(cfg, "<bob%>", 0, NULL);
	route_is(cfg, "<bob@exa mple.jp>", 0, NULL);
	/* A backoff's destinations count as named too. */
	b = fg_config_load(tmpfile_with(
	    "limit all per account 10/1h\n"
	    "backoff carrier to ezweb.ne.jp after 2/10m for 1h\n"), err,
	    sizeof(err));
	assert_non_null(b);
	route_is(b, "<bob%x.example@ezweb.ne.jp>", 1, "ezweb.ne.jp");
	route_is(b, "<bob%x.example@y.example>", 1, "x.example");
	fg_config_unref(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dests),
		cmocka_unit_test(test_dests_index),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_exempt),
		cmocka_unit_test(test_route_domain),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);

	tmpfiles_remove();
	return rc;
}
