/* Unit tests of lib/milterproto.c: framing, negotiation, macros, replies,
 * and what a broken or hostile MTA could send. */
#include <arpa/inet.h>

#include "helpers.h"
#include "milterproto.h"

/* Builds a packet: length, command, data. */
static size_t
pkt(char *buf, char cmd, const void *data, size_t len)
{
	uint32_t n = htonl((uint32_t)len + 1);

	memcpy(buf, &n, 4);
	buf[4] = cmd;
	memcpy(buf + 5, data, len);
	return len + 5;
}

static void
test_frame(void **state)
{
	char buf[64];
	struct fg_mp_packet p;
	size_t n = pkt(buf, 'R', "<a@b.jp>", 9);

	(void)state;
	assert_int_equal(fg_mp_frame(buf, n, &p), (long)n);
	assert_int_equal(p.cmd, 'R');
	assert_int_equal(p.len, 9);
	assert_string_equal(p.data, "<a@b.jp>");
	/* Every shorter prefix is "more to come", never a packet. */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(fg_mp_frame(buf, i, &p), 0);
	/* Two packets in one read: the first, then the second. */
	n += pkt(buf + n, 'A', "", 0);
	assert_int_equal(fg_mp_frame(buf, n, &p), 14);
	assert_int_equal(fg_mp_frame(buf + 14, n - 14, &p), 5);
	assert_int_equal(p.cmd, 'A');
	assert_int_equal(p.len, 0);
}

static void
test_frame_hostile(void **state)
{
	char buf[8] = { 0 };
	struct fg_mp_packet p;
	uint32_t n;

	(void)state;
	/* Length 0 has no command byte. */
	assert_int_equal(fg_mp_frame(buf, sizeof(buf), &p), -1);
	/* Past the largest packet floodgate takes: refused before any
	 * allocation, whatever follows. */
	n = htonl(FG_MP_MAXDATA + 2);
	memcpy(buf, &n, 4);
	assert_int_equal(fg_mp_frame(buf, sizeof(buf), &p), -1);
	n = htonl(0xffffffffu);
	memcpy(buf, &n, 4);
	assert_int_equal(fg_mp_frame(buf, sizeof(buf), &p), -1);
	/* Exactly the largest is a packet still being read. */
	n = htonl(FG_MP_MAXDATA + 1);
	memcpy(buf, &n, 4);
	assert_int_equal(fg_mp_frame(buf, sizeof(buf), &p), 0);
}

/* What floodgate asks for, from Postfix's full offer and from less. */
static void
test_negotiate(void **state)
{
	const uint32_t steps = FG_MP_NOCONNECT | FG_MP_NOHELO | FG_MP_NOHDRS |
	    FG_MP_NOEOH | FG_MP_NOBODY | FG_MP_NOUNKNOWN | FG_MP_NODATA;
	struct fg_mp_optneg postfix = { 6, 0x1ff, 0x1fffff }, r;
	struct fg_mp_optneg old = { 2, FG_MA_ADDHDRS, 0x7f };
	const char *lists[FG_MP_NSTAGES];
	int i;

	(void)state;
	fg_mp_negotiate(&postfix, 0, 0, 0, &r, lists);
	assert_int_equal(r.version, 6);
	assert_int_equal(r.actions,
	    FG_MA_ADDHDRS | FG_MA_QUARANTINE | FG_MA_SETSYMLIST);
	assert_int_equal(r.protocol, steps | FG_MP_NR_MAIL);
	assert_string_equal(lists[FG_MS_ENVFROM],
	    "i {auth_authen} {client_addr} {daemon_port}");
	assert_string_equal(lists[FG_MS_ENVRCPT], "i {rcpt_addr}");
	assert_string_equal(lists[FG_MS_EOM], "i");
	assert_null(lists[FG_MS_CONNECT]);

	/* A store that may defer MAIL needs MAIL's reply. */
	fg_mp_negotiate(&postfix, 1, 0, 0, &r, lists);
	assert_int_equal(r.protocol, steps);

	/* Charging at DATA: DATA comes, and needs a reply. */
	fg_mp_negotiate(&postfix, 0, 1, 0, &r, lists);
	assert_int_equal(r.protocol, (steps & ~FG_MP_NODATA) | FG_MP_NR_MAIL);
	assert_string_equal(lists[FG_MS_ENVFROM],
	    "i {auth_authen} {client_addr} {daemon_port}");

	/* The uid account: both ends of the connection at MAIL. */
	fg_mp_negotiate(&postfix, 0, 0, 1, &r, lists);
	assert_string_equal(lists[FG_MS_ENVFROM],
	    "i {auth_authen} {client_addr} {daemon_port} {client_port} {daemon_addr}");

	/* No macro lists: CONNECT must come, for the client's address. */
	fg_mp_negotiate(&old, 0, 0, 0, &r, lists);
	assert_int_equal(r.version, 2);
	assert_int_equal(r.actions, FG_MA_ADDHDRS);
	assert_int_equal(r.protocol, 0x7f & steps & ~FG_MP_NOCONNECT);
	for (i = 0; i < FG_MP_NSTAGES; i++)
		assert_null(lists[i]);
}

static void
test_optneg(void **state)
{
	uint32_t v[3] = { htonl(6), htonl(0x1ff), htonl(0x1fffff) };
	struct fg_mp_packet p = { 'O', (const char *)v, 12 };
	struct fg_mp_optneg o;
	const char *lists[FG_MP_NSTAGES] = { 0 };
	char out[256];
	size_t len = 0;
	struct fg_mp_packet r;
	uint32_t w;

	(void)state;
	assert_int_equal(fg_mp_optneg_parse(&p, &o), 0);
	assert_int_equal(o.version, 6);
	assert_int_equal(o.actions, 0x1ff);
	assert_int_equal(o.protocol, 0x1fffff);
	p.len = 11;
	assert_int_equal(fg_mp_optneg_parse(&p, &o), -1);
	v[0] = htonl(1);
	p.len = 12;
	assert_int_equal(fg_mp_optneg_parse(&p, &o), -1);

	o.version = 6;
	o.actions = FG_MA_QUARANTINE;
	o.protocol = FG_MP_NOCONNECT | FG_MP_NR_MAIL;
	lists[FG_MS_ENVFROM] = "i {auth_authen}";
	lists[FG_MS_EOM] = "i";
	assert_int_equal(fg_mp_optneg_reply(&o, lists, out, sizeof(out), &len), 0);
	assert_int_equal(fg_mp_frame(out, len, &r), (long)len);
	assert_int_equal(r.cmd, 'O');
	/* 12 bytes, then (stage, list) pairs in stage order. */
	assert_int_equal(r.len, 12 + 4 + 16 + 4 + 2);
	memcpy(&w, r.data + 8, 4);
	assert_int_equal(ntohl(w), FG_MP_NOCONNECT | FG_MP_NR_MAIL);
	memcpy(&w, r.data + 12, 4);
	assert_int_equal(ntohl(w), FG_MS_ENVFROM);
	assert_string_equal(r.data + 16, "i {auth_authen}");
	memcpy(&w, r.data + 32, 4);
	assert_int_equal(ntohl(w), FG_MS_EOM);
	assert_string_equal(r.data + 36, "i");
}

static void
test_args(void **state)
{
	const char *argv[2];
	struct fg_mp_packet p = { 'M', "<a@b.jp>\0SIZE=100\0", 18 };

	(void)state;
	assert_int_equal(fg_mp_args(&p, argv, 2), 2);
	assert_string_equal(argv[0], "<a@b.jp>");
	/* The first is all floodgate reads; more are counted. */
	assert_int_equal(fg_mp_args(&p, argv, 1), 2);
	assert_string_equal(argv[0], "<a@b.jp>");
	/* Without its closing NUL, or empty: malformed. */
	p.len = 17;
	assert_int_equal(fg_mp_args(&p, argv, 2), -1);
	p.len = 0;
	assert_int_equal(fg_mp_args(&p, argv, 2), -1);
	/* An empty address (the null sender's "<>" may come as ""). */
	p.data = "";
	p.len = 1;
	assert_int_equal(fg_mp_args(&p, argv, 2), 1);
	assert_string_equal(argv[0], "");
}

static void
test_connect(void **state)
{
	char addr[64];
	struct fg_mp_packet p = { 'C', "mx.example\0" "4\x01\x02" "192.0.2.7", 24 };

	(void)state;
	assert_int_equal(fg_mp_connect_addr(&p, addr, sizeof(addr)), 0);
	assert_string_equal(addr, "192.0.2.7");
	p.data = "h\0" "6\0\0" "IPv6:2001:db8::1";
	p.len = 22;
	assert_int_equal(fg_mp_connect_addr(&p, addr, sizeof(addr)), 0);
	assert_string_equal(addr, "IPv6:2001:db8::1");	/* the session's to normalize */
	/* Local and unknown clients have no address. */
	p.data = "localhost\0L";
	p.len = 11;
	assert_int_equal(fg_mp_connect_addr(&p, addr, sizeof(addr)), 0);
	assert_string_equal(addr, "");
	/* Cut short anywhere: malformed, never read past. */
	p.data = "mx.example\0" "4\x01";
	p.len = 13;
	assert_int_equal(fg_mp_connect_addr(&p, addr, sizeof(addr)), -1);
	p.data = "no-nul-here";
	p.len = 11;
	assert_int_equal(fg_mp_connect_addr(&p, addr, sizeof(addr)), -1);
	p.data = "mx\0" "4\x01\x02" "1.2.3.4";	/* no closing NUL */
	p.len = 13;
	assert_int_equal(fg_mp_connect_addr(&p, addr, sizeof(addr)), -1);
}

static void
test_macros(void **state)
{
	struct fg_mp_macros m = { 0 };
	struct fg_mp_packet conn = { 'D', "Cj\0mx.example\0{client_addr}\0" "192.0.2.1\0", 38 };
	struct fg_mp_packet mail = { 'D', "Mi\0" "4AB\0{auth_authen}\0alice\0", 27 };
	struct fg_mp_packet rcpt = { 'D', "Ri\0" "4AB\0", 7 };
	struct fg_mp_packet mail2 = { 'D', "Mi\0" "5CD\0", 7 };
	struct fg_mp_packet rcpt2 = { 'D',
	    "Ri\0" "4AB\0{rcpt_addr}\0bob@docomo.ne.jp\0", 36 };
	struct fg_macros at;

	(void)state;
	assert_int_equal(fg_mp_macros_set(&m, &conn), 0);
	assert_int_equal(fg_mp_macros_set(&m, &mail), 0);
	assert_int_equal(fg_mp_macros_set(&m, &rcpt), 0);
	/* Braces optional on either side, as in libmilter. */
	assert_string_equal(fg_mp_macro(&m, 'M', "{auth_authen}"), "alice");
	assert_string_equal(fg_mp_macro(&m, 'M', "auth_authen"), "alice");
	assert_string_equal(fg_mp_macro(&m, 'M', "{i}"), "4AB");
	/* Earlier steps are seen from later ones, not the other way. */
	assert_string_equal(fg_mp_macro(&m, 'R', "client_addr"), "192.0.2.1");
	assert_string_equal(fg_mp_macro(&m, 'E', "auth_authen"), "alice");
	assert_null(fg_mp_macro(&m, 'C', "auth_authen"));
	assert_null(fg_mp_macro(&m, 'R', "nosuch"));
	/* Only the macros floodgate reads are kept. */
	assert_null(fg_mp_macro(&m, 'R', "j"));
	fg_mp_macros_at(&m, 'R', &at);
	assert_string_equal(at.v[FG_MAC_QID], "4AB");
	assert_string_equal(at.v[FG_MAC_AUTH], "alice");
	assert_string_equal(at.v[FG_MAC_CLIENT], "192.0.2.1");
	assert_null(at.v[FG_MAC_PORT]);
	assert_null(at.v[FG_MAC_RADDR]);
	/* Each RCPT's own {rcpt_addr}: a packet without it forgets it. */
	assert_int_equal(fg_mp_macros_set(&m, &rcpt2), 0);
	assert_string_equal(fg_mp_macro(&m, 'R', "rcpt_addr"), "bob@docomo.ne.jp");
	assert_int_equal(fg_mp_macros_set(&m, &rcpt), 0);
	assert_null(fg_mp_macro(&m, 'R', "rcpt_addr"));
	assert_string_equal(fg_mp_macro_name(FG_MAC_PORT), "{daemon_port}");
	assert_string_equal(fg_mp_macro_name(FG_MAC_CPORT), "{client_port}");
	assert_string_equal(fg_mp_macro_name(FG_MAC_DADDR), "{daemon_addr}");
	assert_string_equal(fg_mp_macro_name(FG_MAC_RADDR), "{rcpt_addr}");
	/* A new MAIL forgets the last message's macros, not the client's. */
	assert_int_equal(fg_mp_macros_set(&m, &mail2), 0);
	assert_string_equal(fg_mp_macro(&m, 'R', "i"), "5CD");
	assert_null(fg_mp_macro(&m, 'R', "auth_authen"));
	assert_string_equal(fg_mp_macro(&m, 'R', "{client_addr}"), "192.0.2.1");
	fg_mp_macros_clear(&m, 'M');
	assert_null(fg_mp_macro(&m, 'R', "i"));
	assert_string_equal(fg_mp_macro(&m, 'M', "client_addr"), "192.0.2.1");
	fg_mp_macros_free(&m);
	assert_null(fg_mp_macro(&m, 'M', "client_addr"));
}

/*
 * A macro packet is read once: what is kept is bounded by the values
 * floodgate uses, whatever the packet held, and a later lookup does not
 * scan the packet again (a 60 KB packet then 5,000 RCPTs stalled the
 * loop for seconds when every lookup scanned it).
 */
static void
test_macros_kept(void **state)
{
	struct fg_mp_macros m = { 0 };
	size_t len = 60000, o = 1, i, kept = 0;
	char *big = malloc(len);
	struct fg_mp_packet p = { 'D', big, 0 };
	size_t vlen = 5000, n;
	char *longval = malloc(vlen + 32);
	struct fg_mp_packet lp = { 'D', longval, 0 };
	struct fg_mp_packet next = { 'D', "Ri\0" "9XY\0{rcpt_addr}\0b@x\0", 23 };
	const char *v;

	(void)state;
	big[0] = 'M';
	while (o + 40 < len) {
		o += (size_t)sprintf(big + o, "{junk%zu}", o) + 1;
		o += (size_t)sprintf(big + o, "value") + 1;
	}
	o += (size_t)sprintf(big + o, "i") + 1;
	o += (size_t)sprintf(big + o, "9XY") + 1;
	p.len = o;
	assert_int_equal(fg_mp_macros_set(&m, &p), 0);
	for (i = 0; i < FG_MP_NSTAGES; i++) {
		int k;

		for (k = 0; k < FG_MAC_N; k++)
			kept += m.val[i][k] != NULL;
	}
	assert_int_equal(kept, 1);
	assert_string_equal(fg_mp_macro(&m, 'R', "i"), "9XY");
	/* A recipient as long as the MTA took it (Postfix with a raised
	 * line_length_limit): kept whole, as libmilter hands it, until the
	 * next RCPT's macros replace it. */
	n = (size_t)sprintf(longval, "R{rcpt_addr}") + 1;
	memset(longval + n, 'a', vlen);
	memcpy(longval + n + vlen, "@docomo.ne.jp", 14);
	lp.len = n + vlen + 14;
	assert_int_equal(fg_mp_macros_set(&m, &lp), 0);
	v = fg_mp_macro(&m, 'R', "rcpt_addr");
	assert_non_null(v);
	assert_int_equal(strlen(v), vlen + 13);
	assert_string_equal(v + vlen, "@docomo.ne.jp");
	assert_int_equal(fg_mp_macros_set(&m, &next), 0);
	assert_string_equal(fg_mp_macro(&m, 'R', "rcpt_addr"), "b@x");
	/* Any other value, and {rcpt_addr} sent at another step, is cut
	 * to FG_MP_MACRO_MAX: a connection keeps one packet's worth and
	 * the cut values at most. */
	longval[0] = 'M';
	assert_int_equal(fg_mp_macros_set(&m, &lp), 0);
	v = fg_mp_macro(&m, 'M', "rcpt_addr");
	assert_non_null(v);
	assert_int_equal(strlen(v), FG_MP_MACRO_MAX);
	n = (size_t)sprintf(longval, "M{auth_authen}") + 1;
	memset(longval + n, 'L', vlen);
	longval[n + vlen] = '\0';
	lp.len = n + vlen + 1;
	assert_int_equal(fg_mp_macros_set(&m, &lp), 0);
	v = fg_mp_macro(&m, 'M', "auth_authen");
	assert_non_null(v);
	assert_int_equal(strlen(v), FG_MP_MACRO_MAX);
	assert_int_equal(strspn(v, "L"), FG_MP_MACRO_MAX);
	fg_mp_macros_free(&m);
	free(big);
	free(longval);
}

static void
test_macros_hostile(void **state)
{
	struct fg_mp_macros m = { 0 };
	/* A name with no value, and no closing NUL: never read past. */
	struct fg_mp_packet unterminated = { 'D', "Mi\0abc", 6 };
	struct fg_mp_packet novalue = { 'D', "Mi\0" "4AB\0x\0", 9 };
	struct fg_mp_packet badstage = { 'D', "Zi\0x\0", 5 };
	struct fg_mp_packet empty = { 'D', "", 0 };
	struct fg_mp_packet none = { 'D', "R", 1 };

	(void)state;
	assert_int_equal(fg_mp_macros_set(&m, &unterminated), -1);
	assert_int_equal(fg_mp_macros_set(&m, &badstage), -1);
	assert_int_equal(fg_mp_macros_set(&m, &empty), -1);
	assert_int_equal(fg_mp_macros_set(&m, &none), 0);
	assert_null(fg_mp_macro(&m, 'R', "i"));
	assert_int_equal(fg_mp_macros_set(&m, &novalue), 0);
	assert_string_equal(fg_mp_macro(&m, 'M', "i"), "4AB");
	fg_mp_macros_free(&m);
}

static void
test_reply(void **state)
{
	char out[2048];
	size_t len = 0;
	struct fg_mp_packet r;
	char longtext[1500];

	(void)state;
	assert_int_equal(fg_mp_put_reply(out, sizeof(out), &len, "451", "4.7.1",
	    "over 100% of\r\nhourly"), 0);
	assert_int_equal(fg_mp_frame(out, len, &r), (long)len);
	assert_int_equal(r.cmd, 'y');
	/* '%' doubled (the MTA reads a format), line breaks flattened. */
	assert_string_equal(r.data, "451 4.7.1 over 100%% of  hourly");
	assert_int_equal(r.len, strlen(r.data) + 1);
	/* A text too long is cut, still terminated. */
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	len = 0;
	assert_int_equal(fg_mp_put_reply(out, sizeof(out), &len, "451", "4.7.1",
	    longtext), 0);
	assert_int_equal(fg_mp_frame(out, len, &r), (long)len);
	assert_true(r.len <= 1024);
	assert_int_equal(r.data[r.len - 1], '\0');
	/* No room: refused, the buffer untouched. */
	len = sizeof(out) - 3;
	assert_int_equal(fg_mp_put(out, sizeof(out), &len, 'c', NULL, 0), -1);
	assert_int_equal(len, sizeof(out) - 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_frame_hostile),
		cmocka_unit_test(test_optneg),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_macros_kept),
		cmocka_unit_test(test_macros_hostile),
		cmocka_unit_test(test_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
