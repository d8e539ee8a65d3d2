/* Unit tests of lib/address.c: what MTAs hand to milters, normalised. */
#include "helpers.h"
#include "address.h"
#include "nomem.h"

static void
expect(const char *in, int rc, const char *local, const char *domain)
{
	struct fg_addr a;
	char err[128] = "";

	assert_int_equal(fg_addr_parse(in, &a, err, sizeof(err)), rc);
	if (rc == FG_ADDR_OK && local != NULL) {
		assert_string_equal(a.local, local);
		assert_string_equal(a.domain, domain);
	} else if (rc == FG_ADDR_BAD)
		assert_true(err[0] != '\0');
}

static void
test_forms(void **state)
{
	(void)state;
	expect("<bob@Example.JP>", FG_ADDR_OK, "bob", "example.jp");
	expect("bob@example.jp", FG_ADDR_OK, "bob", "example.jp");	/* local mail */
	expect("<bob@example.jp.>", FG_ADDR_OK, "bob", "example.jp");
	expect("  <bob@example.jp>  ", FG_ADDR_OK, "bob", "example.jp");
	expect("<Bob@EXAMPLE.jp>", FG_ADDR_OK, "Bob", "example.jp");
	expect("<@relay.example,@b.example:bob@example.jp>", FG_ADDR_OK, "bob", "example.jp");
	expect("<\"john doe\"@example.jp>", FG_ADDR_OK, "john doe", "example.jp");
	expect("<\"a\\\"b\"@example.jp>", FG_ADDR_OK, "a\"b", "example.jp");
	expect("<\"a@b\"@example.jp>", FG_ADDR_OK, "a@b", "example.jp");
	expect("postmaster", FG_ADDR_OK, "postmaster", "");
	expect("<user@[192.0.2.1]>", FG_ADDR_OK, "user", "[192.0.2.1]");
	expect("<user@xn--r8jz45g.jp>", FG_ADDR_OK, "user", "xn--r8jz45g.jp");
	/* A UTF-8 domain counts as the MTA resolves it (UTS #46). */
	expect("<user@\xe4\xbe\x8b\xe3\x81\x88.jp>", FG_ADDR_OK, "user", "xn--r8jz45g.jp");
}

/*
 * Spellings of a carrier's domain a tenant could write in SMTPUTF8 mail,
 * each of which Postfix looks up as docomo.ne.jp: one domain to count.
 */
static void
test_idn(void **state)
{
	static const char *const same[] = {
		"\xef\xbd\x84\xef\xbd\x8f\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d\xef\xbd\x8f.ne.jp",	/* fullwidth */
		"\xef\xbc\xa4\xef\xbc\xaf\xef\xbc\xa3\xef\xbc\xaf\xef\xbc\xad\xef\xbc\xaf.NE.JP",	/* fullwidth capitals */
		"docomo\xe3\x80\x82ne\xef\xbc\x8ejp",	/* ideographic, fullwidth full stops */
		"docomo\xef\xbd\xa1ne.jp\xe3\x80\x82",	/* halfwidth; a trailing one */
		"doc\xc2\xadomo.ne.jp",	/* a soft hyphen (ignored) */
		"d\xe2\x80\x8bocomo.ne.jp",	/* a zero width space (ignored) */
		"\xe2\x93\x93ocomo.ne.jp",	/* a circled letter */
		"\xf0\x9d\x90\x9docomo.ne.jp",	/* mathematical bold: 4 bytes */
	};
	char d[FG_DOMAIN_MAX + 1], pad[FG_ADDR_IN_MAX + 1];
	struct fg_addr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(fg_domain_normalize(same[i], d, sizeof(d)), 0);
		assert_string_equal(d, "docomo.ne.jp");
	}
	/* Longer than a domain as written, not once mapped: 1,000 soft
	 * hyphens, 2,012 bytes. */
	pad[0] = '\0';
	for (i = 0; i < 1000; i++)
		strcat(pad, "\xc2\xad");
	strcat(pad, "docomo.ne.jp");
	assert_int_equal(fg_domain_normalize(pad, d, sizeof(d)), 0);
	assert_string_equal(d, "docomo.ne.jp");
	/* ... in an address too. */
	memmove(pad + 3, pad, strlen(pad) + 1);
	memcpy(pad, "<x@", 3);
	strcat(pad, ">");
	expect(pad, FG_ADDR_OK, "x", "docomo.ne.jp");
	/* Not mapped to anything else: a name of its own, or as written
	 * when UTS #46 refuses it (the MTA cannot resolve it either). */
	assert_int_equal(fg_domain_normalize("\xc3\x9f.de", d, sizeof(d)), 0);
	assert_string_equal(d, "xn--zca.de");	/* non-transitional */
	assert_int_equal(fg_domain_normalize("d\xff.jp", d, sizeof(d)), 0);
	assert_string_equal(d, "d\xff.jp");	/* not UTF-8 */
	assert_int_equal(fg_domain_normalize("\xef\xbd\x81\xef\xbc\x8f\xef\xbd\x82.jp", d, sizeof(d)), -1);	/* a/b.jp */
	assert_int_equal(fg_domain_normalize("\xef\xbd\x84..jp", d, sizeof(d)), -1);
	/* ASCII names are taken as written, xn-- labels too. */
	assert_int_equal(fg_domain_normalize("XN--R8JZ45G.JP", d, sizeof(d)), 0);
	assert_string_equal(d, "xn--r8jz45g.jp");
	assert_int_equal(fg_addr_parse("<u@\xef\xbd\x84.ne.jp>", &a, NULL, 0), FG_ADDR_OK);
	assert_string_equal(a.domain, "d.ne.jp");
	/* The address literal is not a name. */
	assert_int_equal(fg_domain_normalize("[\xef\xbc\x91.2.3.4]", d, sizeof(d)), 0);
	assert_string_equal(d, "[\xef\xbc\x91.2.3.4]");
}

static void
test_null_and_bad(void **state)
{
	char big[1200], *huge;
	struct fg_addr a;

	(void)state;
	expect("<>", FG_ADDR_NULL, NULL, NULL);
	expect("", FG_ADDR_NULL, NULL, NULL);
	expect("<bob@example.jp", FG_ADDR_BAD, NULL, NULL);
	expect("<@relay.example>", FG_ADDR_BAD, NULL, NULL);
	expect("<\"unterminated@example.jp>", FG_ADDR_BAD, NULL, NULL);
	expect("<\"q\"x@example.jp>", FG_ADDR_BAD, NULL, NULL);
	expect("<bob@exa mple.jp>", FG_ADDR_BAD, NULL, NULL);
	expect("<bob@example..jp>", FG_ADDR_BAD, NULL, NULL);
	expect("<bob@example.jp..>", FG_ADDR_BAD, NULL, NULL);	/* fuzzer */
	expect("<bob@.example.jp>", FG_ADDR_BAD, NULL, NULL);
	expect("<bob@>", FG_ADDR_BAD, NULL, NULL);
	expect("<@example.jp>", FG_ADDR_BAD, NULL, NULL);
	expect("<bo\x01" "b@example.jp>", FG_ADDR_BAD, NULL, NULL);
	expect("<bob@exa\x7fmple.jp>", FG_ADDR_BAD, NULL, NULL);
	expect("<bob@a@b.jp>", FG_ADDR_BAD, NULL, NULL);
	/* Over RFC 5321's limits, as Postfix takes them: a local part is
	 * cut to FG_LOCAL_MAX, the domain read whatever it follows. */
	memset(big, 'a', sizeof(big));
	big[0] = '<';
	big[1000] = '@';
	strcpy(big + 1001, "Docomo.NE.jp>");
	assert_int_equal(fg_addr_parse(big, &a, NULL, 0), FG_ADDR_OK);
	assert_int_equal(strlen(a.local), FG_LOCAL_MAX);
	assert_string_equal(a.domain, "docomo.ne.jp");
	big[1] = '"';
	big[999] = '"';
	assert_int_equal(fg_addr_parse(big, &a, NULL, 0), FG_ADDR_OK);
	assert_string_equal(a.domain, "docomo.ne.jp");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect(big, FG_ADDR_OK, NULL, NULL);	/* a local recipient */
	big[0] = 'x';
	big[1] = '@';
	big[300] = '\0';	/* a 298-byte domain */
	expect(big, FG_ADDR_BAD, NULL, NULL);
	/* Past what floodgate copies on the stack, and at it: read all
	 * the same (Postfix takes either once its line_length_limit is
	 * raised). */
	huge = malloc(FG_ADDR_IN_MAX + 20);
	assert_non_null(huge);
	memset(huge, 'a', FG_ADDR_IN_MAX + 20);
	strcpy(huge + FG_ADDR_IN_MAX, "@docomo.jp");
	assert_int_equal(fg_addr_parse(huge, &a, NULL, 0), FG_ADDR_OK);
	assert_string_equal(a.domain, "docomo.jp");
	assert_int_equal(strlen(a.local), FG_LOCAL_MAX);
	assert_true(fg_addr_plain(huge));
	huge[FG_ADDR_IN_MAX - 10] = '\0';
	strcat(huge, "@docomo.jp");	/* 4,096 bytes */
	assert_int_equal(fg_addr_parse(huge, &a, NULL, 0), FG_ADDR_OK);
	assert_string_equal(a.domain, "docomo.jp");
	free(huge);
}

static void
test_key_folding(void **state)
{
	struct fg_addr a;
	char k[FG_ADDR_MAX + 1];

	(void)state;
	assert_int_equal(fg_addr_parse("<Bob+News@Example.JP.>", &a, NULL, 0), FG_ADDR_OK);
	fg_addr_key(&a, k, sizeof(k));
	assert_string_equal(k, "bob@example.jp");
	assert_int_equal(fg_addr_parse("bob+x+y@example.jp", &a, NULL, 0), FG_ADDR_OK);
	fg_addr_key(&a, k, sizeof(k));
	assert_string_equal(k, "bob@example.jp");
	assert_int_equal(fg_addr_parse("+only@example.jp", &a, NULL, 0), FG_ADDR_OK);
	fg_addr_key(&a, k, sizeof(k));
	assert_string_equal(k, "+only@example.jp");
	assert_int_equal(fg_addr_parse("postmaster", &a, NULL, 0), FG_ADDR_OK);
	fg_addr_key(&a, k, sizeof(k));
	assert_string_equal(k, "postmaster");
	fg_addr_key(&a, k, 4);
	assert_string_equal(k, "pos");
}

static void
test_domain_match(void **state)
{
	char d[64];

	(void)state;
	assert_true(fg_domain_match("docomo.ne.jp", "docomo.ne.jp"));
	assert_false(fg_domain_match("xdocomo.ne.jp", "docomo.ne.jp"));
	assert_true(fg_domain_match("a.vodafone.ne.jp", "*.vodafone.ne.jp"));
	assert_true(fg_domain_match("b.a.vodafone.ne.jp", "*.vodafone.ne.jp"));
	assert_false(fg_domain_match("vodafone.ne.jp", "*.vodafone.ne.jp"));
	assert_false(fg_domain_match("xvodafone.ne.jp", "*.vodafone.ne.jp"));
	assert_int_equal(fg_domain_normalize("DoCoMo.NE.JP.", d, sizeof(d)), 0);
	assert_string_equal(d, "docomo.ne.jp");
	assert_int_equal(fg_domain_normalize(".", d, sizeof(d)), -1);
	assert_int_equal(fg_domain_normalize("a..b", d, sizeof(d)), -1);
	assert_int_equal(fg_domain_normalize("a/b", d, sizeof(d)), -1);
	assert_int_equal(fg_domain_normalize("[1.2.3.4", d, sizeof(d)), -1);
	assert_int_equal(fg_domain_normalize("example.jp", d, 5), -1);
}

/* One client, one key: the MTAs' "IPv6:" tag, case and spelling of an
 * IPv6 address, an IPv4-mapped one. */
static void
test_client_addr(void **state)
{
	static const struct {
		const char *in;
		int addr;
		const char *out;
	} cases[] = {
		{ "192.0.2.7", 1, "192.0.2.7" },
		{ "IPv6:2001:DB8:0:0::1", 1, "2001:db8::1" },
		{ "ipv6:::1", 1, "::1" },
		{ "2001:db8:0:0:1:0:0:1", 1, "2001:db8::1:0:0:1" },
		{ "::ffff:192.0.2.7", 1, "192.0.2.7" },
		{ "IPv6:::FFFF:c000:207", 1, "192.0.2.7" },
		/* Not an address: kept as given, said so. */
		{ "", 0, "" },
		{ "unknown", 0, "unknown" },
		{ "IPv6:banana", 0, "IPv6:banana" },
		{ "192.0.2.7.", 0, "192.0.2.7." },
		{ "fe80::1%eth0", 0, "fe80::1%eth0" },
	};
	char c[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(fg_client_addr(cases[i].in, c, sizeof(c)),
		    cases[i].addr);
		assert_string_equal(c, cases[i].out);
	}
	assert_int_equal(fg_client_addr("IPv6:2001:db8::1", c, 6), 1);
	assert_string_equal(c, "2001:");
	/* This host's loopback, in any spelling, and what is not. */
	assert_true(fg_ip_loopback("127.0.0.1"));
	assert_true(fg_ip_loopback("127.1.2.3"));
	assert_true(fg_ip_loopback("::1"));
	assert_true(fg_ip_loopback("IPv6:0:0::1"));
	assert_true(fg_ip_loopback("::ffff:127.0.0.1"));
	assert_false(fg_ip_loopback("128.0.0.1"));
	assert_false(fg_ip_loopback("::2"));
	assert_false(fg_ip_loopback("192.0.2.7"));
	assert_false(fg_ip_loopback("localhost"));
	assert_false(fg_ip_loopback(""));
}

/* The old routing operators: where the MTA may send the address on. */
static void
route(const char *in, int rc, const char *wdomain, const char *local,
    const char *domain)
{
	struct fg_addr w, r;

	assert_int_equal(fg_addr_route(in, &w, &r), rc);
	assert_string_equal(w.domain, wdomain);
	if (rc == FG_ADDR_OK) {
		assert_string_equal(r.local, local);
		assert_string_equal(r.domain, domain);
	}
}

static void
test_routed(void **state)
{
	(void)state;
	assert_true(fg_addr_plain("<bob@docomo.ne.jp>"));
	assert_true(fg_addr_plain("<\"john doe\"@docomo.ne.jp>"));
	assert_true(fg_addr_plain("<@relay.example:bob@docomo.ne.jp>"));
	assert_true(fg_addr_plain("<>"));
	assert_true(fg_addr_plain("postmaster"));
	assert_false(fg_addr_plain("<bob%docomo.ne.jp@mta.example>"));
	assert_false(fg_addr_plain("<docomo.ne.jp!bob>"));
	assert_false(fg_addr_plain("<bob%docomo.ne.jp>"));
	assert_false(fg_addr_plain("<\"bob@docomo.ne.jp\"@[127.0.0.1]>"));
	assert_false(fg_addr_plain("<bob@docomo.ne.jp@[127.0.0.1]>"));
	assert_false(fg_addr_plain("<bob@exa mple.jp>"));	/* unreadable */

	/* One step, as Postfix takes it when the domain written is its own. */
	route("<bob%docomo.ne.jp@mta.example>", FG_ADDR_OK, "mta.example",
	    "bob", "docomo.ne.jp");
	route("<a%b.example%DoCoMo.NE.JP.@mta.example>", FG_ADDR_OK,
	    "mta.example", "a%b.example", "docomo.ne.jp");	/* the rightmost '%' */
	route("<bob%docomo.ne.jp>", FG_ADDR_OK, "", "bob", "docomo.ne.jp");
	route("<docomo.ne.jp!bob>", FG_ADDR_OK, "", "bob", "docomo.ne.jp");
	route("<docomo.ne.jp!bob%x.example>", FG_ADDR_OK, "", "bob%x.example",
	    "docomo.ne.jp");	/* '!' before '%' */
	route("<\"bob@docomo.ne.jp\"@[127.0.0.1]>", FG_ADDR_OK, "[127.0.0.1]",
	    "bob", "docomo.ne.jp");
	route("<\"a!b%c@docomo.ne.jp\"@[127.0.0.1]>", FG_ADDR_OK,
	    "[127.0.0.1]", "a!b%c", "docomo.ne.jp");	/* '@' first */
	route("<bob@docomo.ne.jp@[127.0.0.1]>", FG_ADDR_OK, "[127.0.0.1]",
	    "bob", "docomo.ne.jp");
	route("  <bob@docomo.ne.jp@[127.0.0.1]> ", FG_ADDR_OK, "[127.0.0.1]",
	    "bob", "docomo.ne.jp");
	route("bob@docomo.ne.jp@mta.example", FG_ADDR_OK, "mta.example",
	    "bob", "docomo.ne.jp");	/* local mail: no brackets */
	/* No route, or none to a domain. */
	route("<bob@docomo.ne.jp>", FG_ADDR_BAD, "docomo.ne.jp", NULL, NULL);
	route("<bob%@mta.example>", FG_ADDR_BAD, "mta.example", NULL, NULL);
	route("<%docomo.ne.jp@mta.example>", FG_ADDR_BAD, "mta.example", NULL, NULL);
	route("<bob%docomo..jp@mta.example>", FG_ADDR_BAD, "mta.example", NULL, NULL);
	route("<!bob>", FG_ADDR_BAD, "", NULL, NULL);
	route("<bob@exa mple.jp>", FG_ADDR_BAD, "", NULL, NULL);
	route("<b\x01ob@x.jp@docomo.ne.jp>", FG_ADDR_BAD, "docomo.ne.jp", NULL, NULL);
	/* The null domain: Postfix strips a trailing '@' as its own domain
	 * (the sendmail command writes x@docomo.ne.jp@ so, quoted). */
	assert_false(fg_addr_plain("\"x@docomo.ne.jp\"@"));
	route("\"x@docomo.ne.jp\"@", FG_ADDR_OK, "", "x", "docomo.ne.jp");
	route("<\"x@docomo.ne.jp\"@@> ", FG_ADDR_OK, "", "x", "docomo.ne.jp");
	route("x@docomo.ne.jp@", FG_ADDR_BAD, "docomo.ne.jp", NULL, NULL);
	route("x%docomo.ne.jp@", FG_ADDR_OK, "", "x", "docomo.ne.jp");
	route("@", FG_ADDR_BAD, "", NULL, NULL);
	route("<@>", FG_ADDR_BAD, "", NULL, NULL);
	route("x@>@", FG_ADDR_BAD, "", NULL, NULL);	/* stripped once */
}

/* A routing operator past the FG_LOCAL_MAX bytes kept of a local part
 * still routes. */
static void
test_routed_long(void **state)
{
	char in[700], user[301];
	struct fg_addr w, r;

	(void)state;
	memset(user, 'u', 300);
	user[300] = '\0';
	snprintf(in, sizeof(in), "<%s%%docomo.ne.jp@mta.example>", user);
	assert_false(fg_addr_plain(in));
	assert_int_equal(fg_addr_route(in, &w, &r), FG_ADDR_OK);
	assert_string_equal(w.domain, "mta.example");
	assert_string_equal(r.domain, "docomo.ne.jp");
	assert_int_equal(strlen(r.local), FG_LOCAL_MAX);
	snprintf(in, sizeof(in), "<\"%s@docomo.ne.jp\"@[127.0.0.1]>", user);
	assert_false(fg_addr_plain(in));
	assert_int_equal(fg_addr_route(in, &w, &r), FG_ADDR_OK);
	assert_string_equal(r.domain, "docomo.ne.jp");
	snprintf(in, sizeof(in), "<%s@docomo.ne.jp@[127.0.0.1]>", user);
	assert_int_equal(fg_addr_route(in, &w, &r), FG_ADDR_OK);
	assert_string_equal(r.domain, "docomo.ne.jp");
	snprintf(in, sizeof(in), "<%s@docomo.ne.jp>", user);
	assert_true(fg_addr_plain(in));
}

/* Past the FG_ADDR_IN_MAX bytes copied on the stack: a local part of
 * 5,000 bytes, plain and in each routed form, and a domain spelled with
 * 3,000 soft hyphens (6,000 bytes, which UTS #46 ignores). Each goes
 * where the MTA sends it. */
static void
test_over_stack(void **state)
{
	static const char *forms[] = {
		"<%s@docomo.ne.jp>", "<%s%%docomo.ne.jp@mta.example>",
		"<\"%s@docomo.ne.jp\"@[127.0.0.1]>",
		"<%s@docomo.ne.jp@[127.0.0.1]>", "<docomo.ne.jp!%s>",
		"\"%s@docomo.ne.jp\"@",
	};
	char *user = malloc(5001), *in = malloc(5100), *dom = malloc(6100);
	struct fg_addr a, w, r;
	size_t i;

	(void)state;
	assert_non_null(user);
	assert_non_null(in);
	assert_non_null(dom);
	memset(user, 'u', 5000);
	user[5000] = '\0';
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		snprintf(in, 5100, forms[i], user);
		if (i == 0) {
			assert_true(fg_addr_plain(in));
			assert_int_equal(fg_addr_parse(in, &a, NULL, 0),
			    FG_ADDR_OK);
			assert_string_equal(a.domain, "docomo.ne.jp");
			continue;
		}
		assert_false(fg_addr_plain(in));
		assert_int_equal(fg_addr_route(in, &w, &r), FG_ADDR_OK);
		assert_string_equal(r.domain, "docomo.ne.jp");
		assert_int_equal(strlen(r.local), FG_LOCAL_MAX);
	}
	dom[0] = '\0';
	for (i = 0; i < 3000; i++)
		strcat(dom, "\xc2\xad");
	strcat(dom, "docomo.ne.jp");
	free(in);
	in = malloc(6100);
	assert_non_null(in);
	snprintf(in, 6100, "<x@%s>", dom);
	assert_true(fg_addr_plain(in));
	assert_int_equal(fg_addr_parse(in, &a, NULL, 0), FG_ADDR_OK);
	assert_string_equal(a.domain, "docomo.ne.jp");
	free(user);
	free(in);
	free(dom);
}

/*
 * Out of memory, an address is not read: FG_ADDR_NOMEM, never taken for
 * one that is no address (counted by the rules without destinations) or
 * for a plain one, nor a carrier's name in UTF-8 kept as its bytes.
 */
static void
test_nomem(void **state)
{
	/* ｄｏｃｏｍｏ.ne.jp, fullwidth */
#define FW_DOCOMO "\xef\xbd\x84\xef\xbd\x8f\xef\xbd\x83\xef\xbd\x8f" \
	"\xef\xbd\x8d\xef\xbd\x8f.ne.jp"
	static const char *routed[] = {
		"<%s%%docomo.ne.jp@mta.example>",
		"<\"%s@docomo.ne.jp\"@[127.0.0.1]>",
		"<%s@docomo.ne.jp@[127.0.0.1]>", "<docomo.ne.jp!%s>",
		"\"%s@docomo.ne.jp\"@",
	};
	char user[5001], in[5100], dom[FG_DOMAIN_MAX + 1];
	struct fg_addr a, w, r;
	size_t i;

	(void)state;
	memset(user, 'u', 5000);
	user[5000] = '\0';
	/* No heap for a copy past the stack's. */
	nomem_from = FG_ADDR_IN_MAX + 4;
	snprintf(in, sizeof(in), "<%s@docomo.ne.jp>", user);
	assert_int_equal(fg_addr_plain(in), FG_ADDR_NOMEM);
	for (i = 0; i < sizeof(routed) / sizeof(routed[0]); i++) {
		snprintf(in, sizeof(in), routed[i], user);
		assert_int_equal(fg_addr_plain(in), FG_ADDR_NOMEM);
		assert_int_equal(fg_addr_route(in, &w, &r), FG_ADDR_NOMEM);
	}
	/* A copy made once the route's own was: the address split at its
	 * last '@'. */
	snprintf(in, sizeof(in), "<%s@docomo.ne.jp@[127.0.0.1]>", user);
	nomem_pass = 1;
	assert_int_equal(fg_addr_route(in, &w, &r), FG_ADDR_NOMEM);
	nomem_pass = 0;
	/* A name in UTF-8 past the stack's room: 2,100 soft hyphens, which
	 * UTS #46 ignores. */
	in[0] = '\0';
	strcat(in, "<x@");
	for (i = 0; i < 2100; i++)
		strcat(in, "\xc2\xad");
	strcat(in, "docomo.ne.jp>");
	assert_int_equal(fg_addr_parse(in, &a, NULL, 0), FG_ADDR_NOMEM);
	/* The stack's room is enough for an address that fits it. */
	assert_int_equal(fg_addr_plain("<u%docomo.ne.jp@mta.example>"), 0);
	assert_int_equal(fg_addr_route("<u%docomo.ne.jp@mta.example>", &w,
	    &r), FG_ADDR_OK);
	nomem_from = SIZE_MAX;

	/* libidn2 out of memory, at its first call or, for an address read
	 * twice over (split at its last '@'), at its second. */
	nomem_idn = 1;
	assert_int_equal(fg_addr_parse("<x@" FW_DOCOMO ">", &a, NULL, 0),
	    FG_ADDR_NOMEM);
	nomem_idn = 1;
	assert_int_equal(fg_domain_normalize(FW_DOCOMO, dom, sizeof(dom)),
	    FG_ADDR_NOMEM);
	nomem_idn = 1;
	assert_int_equal(fg_addr_plain("<x@" FW_DOCOMO ">"), FG_ADDR_NOMEM);
	nomem_idn = 1;
	assert_int_equal(fg_addr_route("<x%" FW_DOCOMO "@mta.example>", &w, &r),
	    FG_ADDR_NOMEM);
	nomem_idn = 2;
	assert_int_equal(fg_addr_route("<x@" FW_DOCOMO "@[127.0.0.1]>", &w,
	    &r), FG_ADDR_NOMEM);
	nomem_idn = 1;
	assert_int_equal(fg_addr_route("<x@docomo.ne.jp@" FW_DOCOMO ">", &w,
	    &r), FG_ADDR_NOMEM);
	nomem_idn = 2;
	assert_int_equal(fg_addr_route("<x@docomo.ne.jp@" FW_DOCOMO ">", &w,
	    &r), FG_ADDR_NOMEM);
	/* With memory, each reads. */
	assert_int_equal(nomem_idn, 0);
	assert_int_equal(fg_addr_parse("<x@" FW_DOCOMO ">", &a, NULL, 0),
	    FG_ADDR_OK);
	assert_string_equal(a.domain, "docomo.ne.jp");
	assert_int_equal(fg_addr_route("<x@" FW_DOCOMO "@[127.0.0.1]>", &w,
	    &r), FG_ADDR_OK);
	assert_string_equal(r.domain, "docomo.ne.jp");
	assert_int_equal(fg_addr_route("<x@docomo.ne.jp@" FW_DOCOMO ">", &w,
	    &r), FG_ADDR_OK);
	assert_string_equal(r.domain, "docomo.ne.jp");
	assert_string_equal(w.domain, "docomo.ne.jp");
#undef FW_DOCOMO
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_routed),
		cmocka_unit_test(test_routed_long),
		cmocka_unit_test(test_over_stack),
		cmocka_unit_test(test_null_and_bad),
		cmocka_unit_test(test_key_folding),
		cmocka_unit_test(test_domain_match),
		cmocka_unit_test(test_client_addr),
		cmocka_unit_test(test_nomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
