/* Unit tests of lib/account.c: who is responsible for a message. */
#include "helpers.h"
#include "account.h"

static struct fg_config *
load(const char *conf_tail)
{
	char err[FG_CONFIG_ERRLEN], text[512];
	const char *map = tmpfile_with(
	    "example.jp tenant42\nalice tenant7\nbob@other.example tenant8\n"
	    "192.0.2.5 tenant9\ncarol@floodgate.test tenant10\nrealm.example tenant11\n"
	    "2001:DB8:0::7 tenant12\n::ffff:198.51.100.9 tenant13\n"
	    "shop.example 203.0.113.4\n");
	struct fg_config *c;

	snprintf(text, sizeof(text), "account_map %s\n%s", map, conf_tail);
	c = fg_config_load(tmpfile_with(text), err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	return c;
}

static void
expect(struct fg_config *c, const char *login, const char *sender,
    const char *client, const char *name, enum fg_source src)
{
	struct fg_account a;

	fg_account_resolve(c, login, NULL, sender, client, &a);
	assert_string_equal(a.name, name);
	assert_int_equal(a.source, src);
}

static void
expect_user(struct fg_config *c, const char *login, const char *user,
    const char *sender, const char *name, enum fg_source src)
{
	struct fg_account a;

	fg_account_resolve(c, login, user, sender, "127.0.0.1", &a);
	assert_string_equal(a.name, name);
	assert_int_equal(a.source, src);
}

static void
test_order(void **state)
{
	struct fg_config *c = load("");

	(void)state;
	/* SASL wins over any MAIL FROM. */
	expect(c, "alice", "<x@example.jp>", "192.0.2.5", "tenant7", FG_SRC_SASL);
	expect(c, "Alice", "<>", "", "tenant7", FG_SRC_SASL);
	expect(c, "carol@floodgate.test", "<x@y.z>", NULL, "tenant10", FG_SRC_SASL);
	expect(c, "dave@realm.example", NULL, NULL, "tenant11", FG_SRC_SASL);
	expect(c, "unmapped", "<x@example.jp>", NULL, "unmapped", FG_SRC_SASL);
	/* Then the sender, with the domain and parent domains mapped. */
	expect(c, NULL, "<anyone@example.jp>", "192.0.2.5", "tenant42", FG_SRC_SENDER);
	expect(c, "", "<Anyone@Mail.Example.JP.>", NULL, "tenant42", FG_SRC_SENDER);
	expect(c, NULL, "<BOB+list@Other.Example>", NULL, "tenant8", FG_SRC_SENDER);
	expect(c, NULL, "<Eve+1@Free.Example>", NULL, "eve@free.example", FG_SRC_SENDER);
	expect(c, NULL, "eve+2@free.example", NULL, "eve@free.example", FG_SRC_SENDER);
	expect(c, NULL, "<@route.example:eve@free.example>", NULL, "eve@free.example", FG_SRC_SENDER);
	/* Never a whole TLD. */
	expect(c, NULL, "<x@jp>", NULL, "x@jp", FG_SRC_SENDER);
	/* The null sender and garbage fall through to the client. */
	expect(c, NULL, "<>", "192.0.2.5", "tenant9", FG_SRC_CLIENT);
	expect(c, NULL, "<broken@@x>", "192.0.2.6", "192.0.2.6", FG_SRC_CLIENT);
	expect(c, NULL, NULL, NULL, "unknown", FG_SRC_CLIENT);
	/* A client's address in the map, in any spelling: sessions give
	 * it in one (fg_client_addr()). */
	expect(c, NULL, "<>", "2001:db8::7", "tenant12", FG_SRC_CLIENT);
	expect(c, NULL, "<>", "198.51.100.9", "tenant13", FG_SRC_CLIENT);
	fg_config_unref(c);
}

static void
expect_named(struct fg_config *c, const char *name, const char *want,
    int mapped, enum fg_source src)
{
	struct fg_account a;

	fg_account_named(c, name, &a);
	assert_string_equal(a.name, want);
	assert_int_equal(a.mapped, mapped);
	assert_int_equal(a.source, src);
}

/* floodgatectl's names: a client's address in any spelling is the
 * account sessions make of it. */
static void
test_named(void **state)
{
	struct fg_config *c = load("");

	(void)state;
	expect_named(c, "IPv6:2001:DB8::7", "tenant12", 1, FG_SRC_CLIENT);
	expect_named(c, "2001:DB8:0:0::99", "2001:db8::99", 0, FG_SRC_CLIENT);
	expect_named(c, "::ffff:198.51.100.9", "tenant13", 1, FG_SRC_CLIENT);
	expect_named(c, "Alice", "tenant7", 1, FG_SRC_SASL);
	expect_named(c, "tenant42", "tenant42", 1, FG_SRC_SASL);
	/* a tenant named like an address is still a tenant */
	expect_named(c, "203.0.113.4", "203.0.113.4", 1, FG_SRC_CLIENT);
	fg_config_unref(c);
}

/* A domain in UTF-8 in the map is the domain senders' addresses name,
 * in either spelling; listed in both for one tenant it is one entry. */
static void
test_idn_map(void **state)
{
	char err[FG_CONFIG_ERRLEN], text[512];
	struct fg_config *c;

	(void)state;
	snprintf(text, sizeof(text), "account_map %s\n", tmpfile_with(
	    "\xe4\xbe\x8b\xe3\x81\x88.jp tenant1\n"
	    "@\xef\xbd\x93\xef\xbd\x88\xef\xbd\x8f\xef\xbd\x90.example tenant2\n"
	    "xn--r8jz45g.jp tenant1\n"));
	c = fg_config_load(tmpfile_with(text), err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	expect(c, NULL, "<a@\xe4\xbe\x8b\xe3\x81\x88.jp>", NULL, "tenant1", FG_SRC_SENDER);
	expect(c, NULL, "<b@mail.xn--r8jz45g.jp>", NULL, "tenant1", FG_SRC_SENDER);
	expect(c, NULL, "<c@shop.example>", NULL, "tenant2", FG_SRC_SENDER);
	/* as written too: a login may look like a domain */
	expect(c, "\xe4\xbe\x8b\xe3\x81\x88.jp", NULL, NULL, "tenant1", FG_SRC_SASL);
	assert_int_equal(c->nmap, 4);
	fg_config_unref(c);
	/* Two tenants for one domain in two spellings. */
	snprintf(text, sizeof(text), "account_map %s\n", tmpfile_with(
	    "xn--r8jz45g.jp tenant1\n\xe4\xbe\x8b\xe3\x81\x88.jp tenant2\n"));
	assert_null(fg_config_load(tmpfile_with(text), err, sizeof(err)));
	assert_non_null(strstr(err, ":2: \"xn--r8jz45g.jp\" is listed more than once (also on line 1, in UTF-8: the same domain)"));
}

/* A map saved by a Windows editor, with a UTF-8 byte order mark: its
 * first key is the login it names (with the mark, it matched nobody,
 * and that login was an account of its own beside its tenant's). */
static void
test_bom_map(void **state)
{
	char err[FG_CONFIG_ERRLEN], text[512];
	struct fg_config *c;

	(void)state;
	snprintf(text, sizeof(text), "account_map %s\n", tmpfile_with(
	    "\xef\xbb\xbf" "bob@shop.example tenant7\r\nalice tenant7\r\n"));
	c = fg_config_load(tmpfile_with(text), err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	expect(c, "alice", NULL, NULL, "tenant7", FG_SRC_SASL);
	expect(c, NULL, "<bob@shop.example>", NULL, "tenant7", FG_SRC_SENDER);
	assert_int_equal(c->nmap, 2);
	fg_config_unref(c);
}

static void
test_configured_order(void **state)
{
	struct fg_config *c = load("account client sender\n");

	(void)state;
	expect(c, "alice", "<x@example.jp>", "192.0.2.5", "tenant9", FG_SRC_CLIENT);
	expect(c, "alice", "<x@example.jp>", "", "tenant42", FG_SRC_SENDER);
	fg_config_unref(c);
	c = load("account sender\n");
	expect(c, "alice", "<>", "192.0.2.5", "unknown", FG_SRC_CLIENT);
	fg_config_unref(c);
}

/* The local user whose socket the client's end is: keyed as a login,
 * ahead of whatever the sender claims. */
static void
test_uid(void **state)
{
	struct fg_config *c = load("account sasl uid sender client\n");

	(void)state;
	assert_true(fg_account_uses(c, FG_SRC_UID));
	expect_user(c, NULL, "alice", "<bob@other.example>", "tenant7", FG_SRC_UID);
	expect_user(c, NULL, "www-shop", "<bob@other.example>", "www-shop", FG_SRC_UID);
	expect_user(c, NULL, "Alice", "<>", "tenant7", FG_SRC_UID);
	/* A login still wins; no local user falls through to the sender. */
	expect_user(c, "carol@floodgate.test", "alice", "<x@y.z>", "tenant10", FG_SRC_SASL);
	expect_user(c, NULL, NULL, "<bob@other.example>", "tenant8", FG_SRC_SENDER);
	expect_user(c, NULL, "", "<bob@other.example>", "tenant8", FG_SRC_SENDER);
	/* A system user is an account only when the map names it, or
	 * when it is Sendmail's MSP queue runner: one account of its own,
	 * whatever sender its mail claims. */
	assert_true(fg_account_user_counts(c, "www-shop", 1));
	assert_false(fg_account_user_counts(c, "www-data", 0));
	assert_true(fg_account_user_counts(c, "Alice", 0));
	assert_true(fg_account_user_counts(c, "smmsp", 0));
	expect_user(c, NULL, "smmsp", "<bob@other.example>", "smmsp", FG_SRC_UID);
	fg_config_unref(c);
	/* Without uid in the account statement the user is not asked. */
	c = load("");
	assert_false(fg_account_uses(c, FG_SRC_UID));
	expect_user(c, NULL, "alice", "<bob@other.example>", "tenant8", FG_SRC_SENDER);
	fg_config_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_configured_order),
		cmocka_unit_test(test_named),
		cmocka_unit_test(test_idn_map),
		cmocka_unit_test(test_bom_map),
		cmocka_unit_test(test_uid),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tmpfiles_remove();
	return rc;
}
