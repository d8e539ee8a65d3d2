/* Unit tests of lib/config.c: every statement, and every error path. */
#include "helpers.h"
#include "account.h"
#include "config.h"
#include "confdef.h"
#include "nomem.h"
#include "rules.h"

static struct fg_config *
load(const char *text, char *err, size_t errlen)
{
	return fg_config_load(tmpfile_with(text), err, errlen);
}

static void
test_every_statement(void **state)
{
	char err[FG_CONFIG_ERRLEN], map[256], text[4096];
	struct fg_config *c;
	const struct fg_rule *r;

	(void)state;
	snprintf(map, sizeof(map), "%s", tmpfile_with(
	    "# tenants\nexample.jp tenant42\n@shop.example.net tenant43\n"
	    "Alice tenant7\nBob+x@Example.COM tenant7\n"));
	snprintf(text, sizeof(text),
	    "listen   inet:8891@127.0.0.1   # comment\n"
	    "control  /run/fg/control.sock\n"
	    "database \"/var/lib/fg/state db.sqlite\"\n"
	    "user     floodgate\n"
	    "account  sender sasl\n"
	    "account_map %s\n"
	    "mode     monitor\n"
	    "on_store_error tempfail\n"
	    "metrics [::1]:9465\n"
	    "local_action tempfail\n"
	    "charge_at end\n"
	    "postfix_config /etc/postfix-out\n"
	    "mta sendmail\n"
	    "max_keys 5000\n"
	    "sendmail_path /opt/sm/sendmail\n"
	    "sendmail_config /opt/sm/sendmail.cf\n"
	    "group carriers docomo.ne.jp  *.vodafone.ne.jp\n"
	    "group carriers EZweb.ne.jp.\n"
	    "limit burst per account 30/1m\n"
	    "limit carrier per account+domain to @carriers, example.org 5/1h action hold count messages\n"
	    "limit srv per server to a.example,b.example 100/1d action tag\n"
	    "limit cli per client 10/30s action log\n"
	    "limit dom per domain to @carriers 300/1h action reject reply \"Go \\\"slow\\\", retry in %%r\"\n"
	    "cap fan to @carriers 100\n"
	    "cap all 500\n"
	    "override carrier tenant42 50/2h\n"
	    "exempt account postmaster@Example.JP Admin\n"
	    "exempt client 192.0.2.0/24 2001:db8::/32 198.51.100.7\n"
	    "exempt domain internal.example *.corp.example\n", map);
	c = load(text, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->listen, "inet:8891@127.0.0.1");
	assert_string_equal(c->control, "/run/fg/control.sock");
	assert_string_equal(c->database, "/var/lib/fg/state db.sqlite");
	assert_string_equal(c->user, "floodgate");
	assert_int_equal(c->nsource, 2);
	assert_int_equal(c->source[0], FG_SRC_SENDER);
	assert_int_equal(c->source[1], FG_SRC_SASL);
	assert_true(c->monitor);
	assert_true(c->store_tempfail);
	assert_string_equal(c->metrics_host, "::1");
	assert_true(c->local_tempfail);
	assert_true(c->charge_at_end);
	assert_string_equal(c->postfix_config, "/etc/postfix-out");
	assert_true(c->mta_sendmail);
	assert_int_equal(c->max_keys, 5000);
	assert_string_equal(c->sendmail_path, "/opt/sm/sendmail");
	assert_string_equal(c->sendmail_config, "/opt/sm/sendmail.cf");
	assert_int_equal(c->metrics_port, 9465);
	assert_int_equal(c->ngroup, 1);
	assert_int_equal(c->group[0].n, 3);
	assert_string_equal(c->group[0].dom[2], "ezweb.ne.jp");
	assert_int_equal(c->nrule, 7);

	r = fg_config_rule(c, "burst");
	assert_non_null(r);
	assert_int_equal(r->scope, FG_SCOPE_ACCOUNT);
	assert_int_equal(r->limit, 30);
	assert_int_equal(r->period, 60);
	assert_int_equal(r->action, FG_ACT_DEFER);
	assert_int_equal(r->dests.n, 0);

	r = fg_config_rule(c, "carrier");
	assert_int_equal(r->scope, FG_SCOPE_ACCOUNT_DOMAIN);
	assert_int_equal(r->dests.n, 4);	/* group expanded + example.org */
	assert_string_equal(r->dests.pat[1], "*.vodafone.ne.jp");
	assert_string_equal(r->dests.pat[3], "example.org");
	assert_int_equal(r->action, FG_ACT_HOLD);
	assert_true(r->count_messages);
	assert_int_equal(r->nov, 1);
	assert_string_equal(r->ov[0].account, "tenant42");
	assert_int_equal(r->ov[0].limit, 50);
	assert_int_equal(r->ov[0].period, 7200);

	assert_int_equal(fg_config_rule(c, "srv")->scope, FG_SCOPE_SERVER);
	assert_int_equal(fg_config_rule(c, "srv")->action, FG_ACT_TAG);
	assert_int_equal(fg_config_rule(c, "srv")->dests.n, 2);
	assert_int_equal(fg_config_rule(c, "cli")->scope, FG_SCOPE_CLIENT);
	assert_int_equal(fg_config_rule(c, "cli")->action, FG_ACT_LOG);
	assert_int_equal(fg_config_rule(c, "cli")->period, 30);
	r = fg_config_rule(c, "dom");
	assert_int_equal(r->scope, FG_SCOPE_DOMAIN);
	assert_int_equal(r->action, FG_ACT_REJECT);
	assert_string_equal(r->reply, "Go \"slow\", retry in %r");
	r = fg_config_rule(c, "fan");
	assert_true(r->is_cap);
	assert_int_equal(r->limit, 100);
	assert_int_equal(r->dests.n, 3);
	assert_int_equal(fg_config_rule(c, "all")->dests.n, 0);

	assert_int_equal(c->nex_account, 2);
	assert_string_equal(c->ex_account[0], "postmaster@example.jp");
	assert_string_equal(c->ex_account[1], "admin");
	assert_int_equal(c->nex_client, 3);
	assert_int_equal(c->ex_client[0].bits, 24);
	assert_int_equal(c->ex_client[1].bits, 32);
	assert_int_equal(c->ex_client[2].bits, 32);
	assert_int_equal(c->ex_domain.n, 2);

	assert_int_equal(c->nmap, 4);
	assert_string_equal(fg_map_lookup(c, "example.jp"), "tenant42");
	assert_string_equal(fg_map_lookup(c, "shop.example.net"), "tenant43");
	assert_string_equal(fg_map_lookup(c, "alice"), "tenant7");
	assert_string_equal(fg_map_lookup(c, "bob@example.com"), "tenant7");
	assert_null(fg_map_lookup(c, "carol"));
	fg_config_unref(c);
}

static void
test_defaults_and_refs(void **state)
{
	char err[FG_CONFIG_ERRLEN], text[128];
	struct fg_config *c = load("# nothing but a comment\n\n", err, sizeof(err));

	(void)state;
	assert_non_null(c);
	assert_string_equal(c->listen, FG_DEFAULT_LISTEN);
	assert_string_equal(c->database, FG_DEFAULT_DATABASE);
	assert_string_equal(c->control, FG_DEFAULT_CONTROL);
	assert_null(c->user);
	assert_int_equal(c->nsource, 3);
	assert_int_equal(c->source[0], FG_SRC_SASL);
	assert_false(c->monitor);
	assert_false(c->store_tempfail);
	assert_null(c->metrics_host);
	assert_false(c->local_tempfail);
	assert_false(c->charge_at_end);
	assert_string_equal(c->postfix_config, FG_DEFAULT_POSTFIX);
	assert_false(c->mta_sendmail);
	assert_int_equal(c->max_keys, FG_DEFAULT_MAX_KEYS);
	assert_string_equal(c->sendmail_path, FG_DEFAULT_SENDMAIL);
	fg_config_ref(c);
	fg_config_unref(c);
	assert_int_equal(atomic_load(&c->refs), 1);
	fg_config_unref(c);
	/* An account map with nothing in it yet (the installed example). */
	snprintf(text, sizeof(text), "account_map %s\n",
	    tmpfile_with("# only comments\n\n"));
	c = load(text, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->nmap, 0);
	assert_null(fg_map_lookup(c, "anyone"));
	fg_config_unref(c);
}

/* A domain written in UTF-8 is the name the MTA resolves. */
static void
test_idn_domains(void **state)
{
	char err[FG_CONFIG_ERRLEN];
	struct fg_config *c = load("limit carrier per domain to "
	    "\xef\xbd\x84\xef\xbd\x8f\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d\xef\xbd\x8f.ne.jp, "
	    "*.\xe4\xbe\x8b\xe3\x81\x88.jp 3/1h\n", err, sizeof(err));
	const struct fg_rule *r;

	(void)state;
	assert_non_null(c);
	r = fg_config_rule(c, "carrier");
	assert_non_null(r);
	assert_int_equal(r->dests.n, 2);
	assert_string_equal(r->dests.pat[0], "docomo.ne.jp");
	assert_string_equal(r->dests.pat[1], "*.xn--r8jz45g.jp");
	fg_config_unref(c);
}

static void
test_print(void **state)
{
	char err[FG_CONFIG_ERRLEN], *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	struct fg_config *c = load(
	    "group carriers docomo.ne.jp\n"
	    "limit tenant-carrier per account to @carriers 30/1h\n"
	    "cap fan to @carriers 100\n", err, sizeof(err));

	(void)state;
	assert_non_null(c);
	fg_config_print(c, fp);
	fclose(fp);
	assert_non_null(strstr(buf, "limit tenant-carrier"));
	assert_non_null(strstr(buf, "30/1h (slot 1m)"));
	assert_non_null(strstr(buf, "at most 100 recipients per message"));
	free(buf);
	fg_config_unref(c);
}

/* Each error path: the text that triggers it and what the message says. */
static const struct {
	const char *text;
	const char *msg;
} bad[] = {
	{ "limit a per account \"5/1h\"x\n", ":1: expected a blank after the closing quote" },
	{ "limit a per account \"5/1h\n", ":1: unterminated quoted value" },
	{ "\n\nfrobnicate yes\n", ":3: \"frobnicate\": unknown statement; expected account, account_map, backoff, cap, " },
	/* A typo of a long name: the list whole (it was cut at 512 bytes,
	 * before "store or user"), led by the name meant. */
	{ "max_connection 10\n", ":1: \"max_connection\": unknown statement (did you mean max_connections?); expected account, " },
	{ "max_connection 10\n", ", sendmail_map, sendmail_path, store or user" },
	{ "lmit a per account 5/1h\n", ":1: \"lmit\": unknown statement (did you mean limit?); expected " },
	{ "usr root\n", ":1: \"usr\": unknown statement (did you mean user?); expected " },
	{ "max_connections 0\n", ":1: max_connections: \"0\": expected a number of MTA connections, from 1 to 1000000" },
	{ "max_connections\n", ":1: max_connections: no value: expected a number of MTA connections" },
	{ "max_connections 5\nmax_connections 6\n", ":2: max_connections: given twice (first on line 1)" },
	{ "limit a per account 5/1h reply \"retry %\"\n", ":1: limit a: reply: expected one line of text" },
	{ "limit a per account 5/1h reply \"50%r%\"\n", ":1: limit a: reply: expected one line of text" },
	{ "listen\n", ":1: listen: expected one value, unix:PATH or inet:PORT@HOST" },
	{ "listen unix:relative.sock\n", ":1: listen: \"unix:relative.sock\": expected an absolute socket path" },
	{ "listen unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", "socket path longer than 107 bytes" },
	{ "listen inet:port@host\n", "expected inet:PORT@HOST with a port number" },
	{ "listen tcp:25\n", ":1: listen: \"tcp:25\": expected unix:PATH or inet:PORT@HOST" },
	{ "listen inet:1@h\nlisten inet:2@h\n", ":2: listen: given twice (first on line 1)" },
	{ "control\n", ":1: control: expected one value" },
	{ "database relative.db\n", ":1: database: \"relative.db\": expected an absolute path" },
	{ "database /a\ndatabase /b\n", ":2: database: given twice (first on line 1)" },
	{ "account\n", ":1: account: expected one to four of sasl, uid, sender, client" },
	{ "account sasl ip\n", ":1: account: \"ip\": expected sasl, uid, sender or client" },
	{ "account sasl sasl\n", ":1: account: \"sasl\" given twice" },
	{ "account sasl\naccount client\n", ":2: account: given twice (first on line 1)" },
	{ "mode fast\n", ":1: mode: \"fast\": expected enforce or monitor" },
	{ "mode\n", ":1: mode: no value: expected enforce or monitor" },
	{ "mode monitor\nmode enforce\n", ":2: mode: given twice" },
	{ "on_store_error ignore\n", ":1: on_store_error: \"ignore\": expected continue or tempfail" },
	{ "on_store_error continue\non_store_error tempfail\n", ":2: on_store_error: given twice" },
	{ "postfix_config etc/postfix\n", ":1: postfix_config: \"etc/postfix\": expected an absolute path" },
	{ "max_keys 10\n", ":1: max_keys: \"10\": expected a number of windows, 0 (no cap) or from 1000 up" },
	{ "max_keys many\n", ":1: max_keys: \"many\": expected a number" },
	{ "mta exim\n", ":1: mta: \"exim\": expected postfix or sendmail" },
	{ "mta postfix\nmta sendmail\n", ":2: mta: given twice (first on line 1)" },
	{ "sendmail_config mail/sendmail.cf\n", ":1: sendmail_config: \"mail/sendmail.cf\": expected an absolute path" },
	{ "local_action bounce\n", ":1: local_action: \"bounce\": expected hold or tempfail" },
	{ "local_action hold\nlocal_action hold\n", ":2: local_action: given twice (first on line 1)" },
	{ "charge_at rcpt\n", ":1: charge_at: \"rcpt\": expected data or end" },
	{ "charge_at\n", ":1: charge_at: no value: expected data or end" },
	{ "cap c 10 action reject\n", ":1: cap c: \"action\": expected the end of the line (cap NAME [to DESTS] N: a cap has no options)" },
	{ "cap c to docomo.ne.jp 10 20\n", ":1: cap c: \"20\": expected the end of the line" },
	{ "cap c to docomo.ne.jp ten\n", ":1: cap c: \"ten\": expected the number of recipients per message" },
	{ "limit r per account 5/1h\noverride r a@b.example 9/1h x\n", ":2: override r: \"x\": expected the end of the line (override RULE ACCOUNT N/PERIOD)" },
	{ "backoff b to docomo.ne.jp after 5/10m for 10h max 5h\n", ":1: backoff b: max 5h: expected the longest pause, at least the first (for 10h)" },
	{ "limit b per account 5/1h to docomo.ne.jp action reject\n", ":1: limit b: \"to\": expected before the rate (limit NAME per SCOPE [to DESTS] N/PERIOD ...)" },
	{ "charge_at data end\n", ":1: charge_at: \"end\": expected the end of the line (charge_at takes one value)" },
	{ "charge_at end\ncharge_at data\n", ":2: charge_at: given twice (first on line 1)" },
	{ "metrics\n", ":1: metrics: expected one value, HOST:PORT such as 127.0.0.1:9465" },
	{ "metrics localhost:9465\n", ":1: metrics: \"localhost:9465\": expected HOST:PORT with an IP address" },
	{ "metrics 127.0.0.1:99999\n", ":1: metrics: \"127.0.0.1:99999\": expected HOST:PORT" },
	{ "metrics 127.0.0.1:1\nmetrics 127.0.0.1:2\n", ":2: metrics: given twice (first on line 1)" },
	{ "group carriers\n", ":1: group: expected a name and at least one domain" },
	{ "group car/riers a.jp\n", ":1: group: \"car/riers\": expected a name" },
	{ "group g @other\n", ":1: group: \"@other\": groups cannot contain groups" },
	{ "group g not_a@domain\n", ":1: \"not_a@domain\": expected a domain, *.domain or @group" },
	{ "group g *example.jp\n", ":1: \"*example.jp\": expected a domain, *.domain or @group" },
	{ "limit a per account to @ 5/1h\n", ":1: \"@\": expected @GROUP with a group name" },
	{ "limit a per account to\n", ":1: \"to\": expected destinations" },
	{ "limit a per account to , 5/1h\n", ":1: \"5/1h\": expected a domain, *.domain or @group" },
	{ "limit bad!name per account 5/1h\n", ":1: limit: \"bad!name\": expected a rule name" },
	{ "limit a per account 5/1h\nlimit a per domain 5/1h\n", ":2: limit: \"a\": name already used by the rule on line 1" },
	{ "limit a account 5/1h\n", ":1: limit: expected limit NAME per SCOPE" },
	{ "limit a per acount 5/1h\n", ":1: limit a: \"acount\": expected a scope: account, domain, account+domain, client or server" },
	{ "limit a per account to x.jp\n", ":1: limit a: expected a rate N/PERIOD such as 200/1h" },
	{ "limit a per account 5/1q\n", ":1: limit a: \"5/1q\": expected a rate N/PERIOD such as 200/1h" },
	{ "limit a per account 5/1h action bounce\n", ":1: limit a: action \"bounce\": expected defer, reject, hold, tag, log or suspend" },
	{ "limit a per account 5/1h count bytes\n", ":1: limit a: count \"bytes\": expected recipients, messages, unknown or bounces" },
	{ "limit a per account 5/1h reply \"100% sure\"\n", ":1: limit a: reply: expected one line of text" },
	{ "limit a per account 5/1h action\n", ":1: limit a: \"action\": expected a value after it" },
	{ "limit a per account 5/1h action defer action reject\n", ":1: limit a: \"action\" given twice" },
	{ "limit a per account 5/1h speed fast\n", ":1: limit a: \"speed\": expected action, count, ratio or reply" },
	{ "cap\n", ":1: cap: expected cap NAME [to DESTS] N" },
	{ "cap fan to docomo.ne.jp many\n", ":1: cap fan: \"many\": expected the number of recipients per message" },
	{ "override a\n", ":1: override: expected override RULE ACCOUNT N/PERIOD" },
	{ "limit a per account 5/1h\noverride a t 5/1y\n", ":2: override a: \"5/1y\": expected a rate N/PERIOD" },
	{ "limit a per account 5/1h\noverride a <@x> 5/1h\n", ":2: override a: \"<@x>\": expected an account" },
	{ "override nosuch t 5/1h\n", ":1: override: \"nosuch\": no such limit rule" },
	{ "limit d per domain 5/1h\noverride d t 5/1h\n", ":2: override: rule \"d\" counts per domain: expected a rule per account or account+domain" },
	{ "limit a per account 5/1h\noverride a t 5/1h\noverride a T 6/1h\n", ":3: override: a for t already given on line 2" },
	{ "exempt account\n", ":1: exempt: expected exempt account|client|domain VALUE..." },
	{ "exempt account <@x>\n", ":1: exempt account: \"<@x>\": expected a login, address or tenant name" },
	{ "exempt client 300.1.1.1\n", ":1: exempt client: \"300.1.1.1\": expected an IP address or ADDRESS/BITS" },
	{ "exempt client 10.0.0.0/33\n", ":1: exempt client: \"10.0.0.0/33\": expected an IP address" },
	{ "exempt domain @carriers\n", ":1: exempt domain: \"@carriers\": expected a domain or *.domain" },
	{ "exempt sender x\n", ":1: exempt: \"sender\": expected account, client or domain" },
	{ "limit a per account to @nosuch 5/1h\n", ":1: \"@nosuch\": no such group (define it with: group nosuch DOMAIN...)" },
	{ "account_map /nonexistent/accounts\n", ":1: account_map: cannot open /nonexistent/accounts" },
	/* delivery feedback */
	{ "limit u per account 5/1h ratio 30%\n", ":1: limit u: ratio: expected with count unknown or count bounces" },
	{ "limit u per account 5/1h count unknown ratio 30\n", ":1: limit u: ratio \"30\": expected a percentage from 1% to 100%" },
	{ "limit u per account 5/1h count unknown ratio 101%\n", ":1: limit u: ratio \"101%\": expected a percentage" },
	{ "limit u per account 5/1h count unknown ratio 0%\n", ":1: limit u: ratio \"0%\": expected a percentage" },
	{ "limit u per client 5/1h count bounces\n", ":1: limit u: count bounces per client: expected a scope of account, account+domain, domain or server" },
	{ "limit u per domain 5/1h action suspend\n", ":1: limit u: action suspend per domain: expected a scope of account or account+domain" },
	{ "backoff\n", ":1: backoff: expected backoff NAME [to DESTS] after N/PERIOD" },
	{ "backoff c to docomo.ne.jp after 5 for 1h\n", ":1: backoff c: expected after N/PERIOD" },
	{ "backoff c after 0/10m for 1h\n", ":1: backoff c: expected after N/PERIOD" },
	{ "backoff c after 5/10m on 5xx for 1h\n", ":1: backoff c: on \"5xx\": expected 4xx, connect or any" },
	{ "backoff c after 5/10m for ever\n", ":1: backoff c: expected for DURATION" },
	{ "backoff c after 5/10m for 1h max\n", ":1: backoff c: expected max DURATION" },
	{ "backoff c after 5/10m for 1h max 2h now\n", ":1: backoff c: \"now\": expected nothing more" },
	{ "backoff c after 5/10m for 1h\nbackoff c after 5/10m for 1h\n", ":2: backoff: \"c\": name already used by the backoff on line 1" },
	{ "limit c per account 5/1h\nbackoff c after 5/10m for 1h\n", ":2: backoff: \"c\": name already used by the rule on line 1" },
	{ "backoff c after 5/10m for 1h\nlimit c per account 5/1h\n", ":2: limit: \"c\": name already used by the backoff on line 1" },
	{ "limit floodgatectl per account 5/1h\n", ":1: limit: \"floodgatectl\": the name of suspensions and pauses made by floodgatectl; expected another name" },
	{ "cap floodgatectl 5\n", ":1: cap: \"floodgatectl\": the name of suspensions and pauses made by floodgatectl; expected another name" },
	{ "backoff floodgatectl after 5/10m for 1h\n", ":1: backoff: \"floodgatectl\": the name of suspensions and pauses made by floodgatectl; expected another name" },
	{ "backoff c to @nosuch after 5/10m for 1h\n", ":1: \"@nosuch\": no such group" },
	{ "delivery_log mail.log\n", ":1: delivery_log: \"mail.log\": expected an absolute path" },
	{ "delivery_log journald\n", ":1: delivery_log: \"journald\": expected an absolute path" },
	{ "delivery_log /a\ndelivery_log /b\n", ":2: delivery_log: given twice (first on line 1)" },
	{ "delivery_log_users\n", ":1: delivery_log_users: expected one to 16 user names or IDs" },
	{ "delivery_log_users root 1postfix\n", ":1: delivery_log_users: \"1postfix\": expected a user name or ID" },
	{ "delivery_log_users a;b\n", ":1: delivery_log_users: \"a;b\": expected a user name or ID" },
	{ "delivery_log_users a b c d e f g h i j k l m n o p q\n", ":1: delivery_log_users: expected one to 16 user names or IDs" },
	{ "delivery_log_users aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", ":1: delivery_log_users: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": expected a user name or ID" },
	{ "delivery_log_users 107x\n", ":1: delivery_log_users: \"107x\": expected a user name or ID" },
	{ "delivery_log_users 4294967295\n", ":1: delivery_log_users: \"4294967295\": expected a user name or ID" },
	{ "delivery_log_users root\ndelivery_log_users postfix\n", ":2: delivery_log_users: given twice (first on line 1)" },
	{ "delivery_retention forever\n", ":1: delivery_retention: \"forever\": expected a duration" },
	{ "store redis://localhost:\n", ":1: store: \"redis://localhost:\": expected sqlite, redis://HOST[:PORT][/DB] or redis+unix:///PATH[?db=N]" },
	{ "store redis://localhost/\n", ":1: store: \"redis://localhost/\": expected sqlite" },
	{ "store redis:///0\n", ":1: store: \"redis:///0\": expected sqlite" },
	{ "store redis://[::1]x\n", ":1: store: \"redis://[::1]x\": expected sqlite" },
	{ "store redis://localhost:0\n", ":1: store: \"redis://localhost:0\": expected sqlite" },
	{ "store redis://localhost:6379/x\n", ":1: store: \"redis://localhost:6379/x\": expected sqlite" },
	{ "store redis://[::1:6379\n", ":1: store: \"redis://[::1:6379\": expected sqlite" },
	{ "store redis+unix://run/redis.sock\n", ":1: store: \"redis+unix://run/redis.sock\": expected sqlite" },
	{ "store redis+unix:///run/redis.sock?database=1\n", ":1: store: \"redis+unix:///run/redis.sock?database=1\": expected sqlite" },
	{ "store memcached://localhost:11211\n", ":1: store: \"memcached://localhost:11211\": expected sqlite" },
	{ "store\n", ":1: store: no value: expected sqlite" },
	{ "store redis://a:1\nstore redis://b:1\n", ":2: store: given twice (first on line 1)" },
	{ "release_alarm 0\n", ":1: release_alarm: \"0\": expected a duration such as 10m, or off" },
	{ "release_alarm\n", ":1: release_alarm: no value: expected a duration such as 10m, or off" },
	{ "redis_timeout 50\n", ":1: redis_timeout: \"50\": expected a duration from 1ms to 10s" },
	{ "redis_timeout 0ms\n", ":1: redis_timeout: \"0ms\": expected a duration from 1ms to 10s" },
	{ "redis_timeout 1m\n", ":1: redis_timeout: \"1m\": expected a duration from 1ms to 10s" },
	{ "relays 0\n", ":1: relays: \"0\": expected the number of relays sharing the store, from 1 to 1000" },
	{ "redis_password_file redis.pass\n", ":1: redis_password_file: \"redis.pass\": expected an absolute path" },
	{ "redis_prefix {fg}\n", ":1: redis_prefix: \"{fg}\": expected 1 to 32 letters, digits" },
	{ "store redis://floodgate:s3cret@10.0.0.5:6379/2\n", ":1: store: a user or password in the URL is not read (nor logged): write redis://HOST[:PORT][/DB] or redis+unix:///PATH[?db=N], with redis_user NAME and redis_password_file PATH" },
	{ "store redis://:s3cret@10.0.0.5:6379\n", ":1: store: a user or password in the URL is not read" },
	{ "store redis+unix://floodgate@/run/redis.sock\n", ":1: store: a user or password in the URL is not read" },
	{ "store redis://10.0.0.5:6379\nredis_password_file /p\nredis_user \"a b\"\n", ":3: redis_user: \"a b\": expected a Redis ACL user name, 1 to 128 printable characters without spaces" },
	{ "redis_user\n", ":1: redis_user: no value: expected a Redis ACL user name" },
	{ "store redis://10.0.0.5:6379\n\nredis_user floodgate\n", ":3: redis_user floodgate: needs redis_password_file (Redis takes a user's password with its name)" },
	{ "redis_reservation_ttl soon\n", ":1: redis_reservation_ttl: \"soon\": expected a duration" },
	{ "postfix_map inet:1234@127.0.0.1\n", ":1: postfix_map: \"inet:1234@127.0.0.1\": expected unix:PATH" },
	{ "postfix_map unix:relative/map.sock\n", ":1: postfix_map: \"unix:relative/map.sock\": expected unix:PATH, an absolute socket path" },
	{ "sendmail_map /run/floodgate/sendmail-map.sock\n", ":1: sendmail_map: \"/run/floodgate/sendmail-map.sock\": expected unix:PATH, an absolute socket path" },
	{ "sendmail_map\n", ":1: sendmail_map: no value: expected unix:PATH" },
	{ "postfix_map unix:/run/fg/map.sock\n\nsendmail_map unix:/run/fg/map.sock\n", ":3: sendmail_map unix:/run/fg/map.sock: postfix_map serves that socket already (each needs its own)" },
	{ "notify pager:123\n", ":1: notify: \"pager:123\": expected mailto:ADDRESS or exec:PATH" },
	{ "notify exec:alert.sh\n", ":1: notify: \"exec:alert.sh\": expected mailto:ADDRESS or exec:PATH with an absolute path" },
	{ "notify mailto:postmaster\n", ":1: notify: \"mailto:postmaster\": expected mailto:ADDRESS with an address user@domain" },
	{ "notify mailto:a@b.jp on fire\n", ":1: notify: event \"fire\": expected suspend, bounces, pause, store, refused or release" },
	{ "notify mailto:a@b.jp when pause\n", ":1: notify: expected notify mailto:ADDRESS|exec:PATH [on EVENT,...]" },
	{ "notify_from fg+x@b.jp\n", ":1: notify_from: \"fg+x@b.jp\": expected an envelope sender" },
	{ "notify_max 0\n", ":1: notify_max: \"0\": expected a number of messages an hour" },
};

/* The feedback grammar of issue-level contracts, as operators write it. */
static void
test_feedback(void **state)
{
	char err[FG_CONFIG_ERRLEN];
	struct fg_config *c;
	const struct fg_rule *r;

	(void)state;
	c = load("group carriers docomo.ne.jp ezweb.ne.jp au.com softbank.ne.jp\n"
	    "delivery_log /var/log/mail.log\n"
	    "delivery_retention 7d\n"
	    "postfix_map unix:/var/spool/postfix/floodgate/map.sock\n"
	    "sendmail_map unix:/run/floodgate/sendmail-map.sock\n"
	    "limit unknown per account 20/1h count unknown ratio 30% action suspend\n"
	    "limit bounces per account+domain to @carriers 10/1h count bounces action hold reply \"too many bounces, retry in %r\"\n"
	    "limit dombounce per domain 100/1d count bounces action tag\n"
	    "limit rate per account 200/1h action suspend\n"
	    "backoff carrier to @carriers after 5/10m on 4xx for 1h max 12h\n"
	    "backoff any after 20/5m for 10m\n"
	    "notify mailto:postmaster@example.jp\n"
	    "notify exec:/usr/local/bin/page on suspend,pause,refused\n"
	    "notify_from floodgate@example.jp\n"
	    "notify_max 5\n", err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->delivery_log, "/var/log/mail.log");
	assert_int_equal(c->delivery_retention, 7 * 86400);
	assert_string_equal(c->postfix_map, "unix:/var/spool/postfix/floodgate/map.sock");
	assert_string_equal(c->sendmail_map, "unix:/run/floodgate/sendmail-map.sock");
	r = fg_config_rule(c, "unknown");
	assert_int_equal(r->count, FG_COUNT_UNKNOWN);
	assert_int_equal(r->ratio, 30);
	assert_int_equal(r->action, FG_ACT_SUSPEND);
	assert_true(fg_rule_feedback(r));
	r = fg_config_rule(c, "bounces");
	assert_int_equal(r->count, FG_COUNT_BOUNCES);
	assert_int_equal(r->ratio, 0);
	assert_int_equal(r->action, FG_ACT_HOLD);
	assert_false(fg_rule_feedback(fg_config_rule(c, "rate")));
	assert_int_equal(c->nbackoff, 2);
	assert_string_equal(c->backoff[0].name, "carrier");
	assert_int_equal(c->backoff[0].limit, 5);
	assert_int_equal(c->backoff[0].period, 600);
	assert_int_equal(c->backoff[0].on, FG_FAIL_4XX);
	assert_int_equal(c->backoff[0].duration, 3600);
	assert_int_equal(c->backoff[0].max, 12 * 3600);
	assert_true(fg_dests_match(&c->backoff[0].dests, "docomo.ne.jp"));
	assert_false(fg_dests_match(&c->backoff[0].dests, "example.com"));
	assert_int_equal(c->backoff[1].on, FG_FAIL_4XX | FG_FAIL_CONNECT);
	assert_int_equal(c->backoff[1].max, 12 * 3600);
	assert_int_equal(c->nnotify, 2);
	assert_true(c->notify[0].mailto);
	assert_string_equal(c->notify[0].what, "postmaster@example.jp");
	assert_int_equal(c->notify[0].events, FG_EV_DEFAULT);
	assert_false(c->notify[1].mailto);
	assert_string_equal(c->notify[1].what, "/usr/local/bin/page");
	assert_int_equal(c->notify[1].events, FG_EV_SUSPEND | FG_EV_PAUSE | FG_EV_REFUSED);
	assert_string_equal(c->notify_from, "floodgate@example.jp");
	assert_int_equal(c->notify_max, 5);
	fg_config_unref(c);
	c = load("release_alarm off\n", err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->release_alarm, 0);
	fg_config_unref(c);
	c = load("release_alarm 2h\nnotify exec:/usr/local/bin/page on release\n",
	    err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->release_alarm, 7200);
	assert_int_equal(c->notify[0].events, FG_EV_RELEASE);
	fg_config_unref(c);
	/* defaults, and the journal */
	c = load("delivery_log journal\n", err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->delivery_log, "journal");
	assert_int_equal(c->delivery_retention, 5 * 86400);
	assert_int_equal(c->notify_max, 20);
	assert_int_equal(c->release_alarm, 600);
	assert_null(c->postfix_map);
	assert_null(c->sendmail_map);
	assert_null(c->log_users);
	fg_config_unref(c);
	c = load("delivery_log journal:/var/log/journal/remote\n"
	    "delivery_log_users root  postfix-out _mta.2 107\n", err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->log_users, "root postfix-out _mta.2 107");
	fg_config_unref(c);
}

/* store: where the shared state lives; SQLite when not given. */
static void
test_store(void **state)
{
	char err[FG_CONFIG_ERRLEN];
	struct fg_config *c;

	(void)state;
	c = load("limit hour per account 10/1h\n", err, sizeof(err));
	assert_non_null(c);
	assert_null(c->store);
	assert_int_equal(c->redis_timeout, 50);
	assert_int_equal(c->relays, 1);
	assert_int_equal(c->redis_ttl, 600);
	assert_string_equal(c->redis_prefix, "floodgate");
	fg_config_unref(c);
	c = load("store redis://10.0.0.5:6380/2\nredis_timeout 2s\nrelays 3\n"
	    "redis_password_file /etc/floodgate/redis.pass\n"
	    "redis_reservation_ttl 5m\nredis_prefix relays.example\n", err,
	    sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->store, "redis://10.0.0.5:6380/2");
	assert_string_equal(c->redis_host, "10.0.0.5");
	assert_int_equal(c->redis_port, 6380);
	assert_null(c->redis_path);
	assert_int_equal(c->redis_db, 2);
	assert_int_equal(c->redis_timeout, 2000);
	assert_int_equal(c->relays, 3);
	assert_string_equal(c->redis_password_file, "/etc/floodgate/redis.pass");
	assert_int_equal(c->redis_ttl, 300);
	assert_string_equal(c->redis_prefix, "relays.example");
	assert_null(c->redis_user);
	fg_config_unref(c);
	c = load("store redis+unix:///run/redis/redis-server.sock\n"
	    "redis_user floodgate-relays\n"
	    "redis_password_file /etc/floodgate/redis.pass\n", err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->redis_user, "floodgate-relays");
	fg_config_unref(c);
	c = load("store redis://[::1]:6379\n", err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->redis_host, "::1");
	assert_int_equal(c->redis_db, 0);
	fg_config_unref(c);
	/* Without a port, Redis's own. */
	c = load("store redis://redis.example\n", err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->store, "redis://redis.example:6379");
	assert_string_equal(c->redis_host, "redis.example");
	assert_int_equal(c->redis_port, 6379);
	assert_int_equal(c->redis_db, 0);
	fg_config_unref(c);
	c = load("store redis://[::1]/3\n", err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->store, "redis://[::1]:6379/3");
	assert_string_equal(c->redis_host, "::1");
	assert_int_equal(c->redis_port, 6379);
	assert_int_equal(c->redis_db, 3);
	fg_config_unref(c);
	c = load("store redis+unix:///run/redis/redis-server.sock?db=4\n", err,
	    sizeof(err));
	assert_non_null(c);
	assert_null(c->redis_host);
	assert_string_equal(c->redis_path, "/run/redis/redis-server.sock");
	assert_int_equal(c->redis_db, 4);
	fg_config_unref(c);
	c = load("store sqlite\n", err, sizeof(err));
	assert_non_null(c);
	assert_null(c->store);
	fg_config_unref(c);
}

/*
 * A reload keeps the running values of what it does not apply: a file
 * that sets every such statement differs in each of them (the list is
 * the table's, so a new one must be set here too), and none once
 * fg_config_keep_start() has taken the running ones, while what a
 * reload applies stays the file's; what metrics and the store's URL
 * were read into follow them both ways.
 */
static void
test_keep_start(void **state)
{
	char err[FG_CONFIG_ERRLEN], text[2048], want[512], got[512];
	const char *pw = tmpfile_with("secret\n");
	struct fg_config *running, *file, *back;
	size_t i, o = 0;

	(void)state;
	running = load("limit a per account 10/1h\n", err, sizeof(err));
	assert_non_null(running);
	snprintf(text, sizeof(text),
	    "listen inet:8891@127.0.0.1\n"
	    "control /run/fg2/control.sock\n"
	    "database /var/lib/fg2/floodgate.db\n"
	    "user nobody\n"
	    "engine libmilter\n"
	    "delivery_log journal\n"
	    "delivery_log_users root\n"
	    "postfix_map unix:/run/fg2/postfix.sock\n"
	    "sendmail_map unix:/run/fg2/sendmail.sock\n"
	    "store redis://10.0.0.5:6380/2\n"
	    "redis_password_file %s\n"
	    "redis_user fg\n"
	    "redis_prefix fg2\n"
	    "redis_reservation_ttl 20m\n"
	    "metrics 127.0.0.1:9465\n"
	    "relays 3\n"
	    "mode monitor\n"
	    "limit a per account 20/1h\n", pw);
	file = load(text, err, sizeof(err));
	if (file == NULL)
		fail_msg("%s", err);
	want[0] = '\0';
	for (i = 0; i < fg_nstatements; i++)
		if (fg_statements[i].flags & FG_SF_RESTART)
			o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%s",
			    o ? ", " : "", fg_statements[i].name);
	fg_config_restart_changes(running, file, got, sizeof(got));
	assert_string_equal(got, want);

	assert_int_equal(fg_config_keep_start(file, running), 0);
	fg_config_restart_changes(running, file, got, sizeof(got));
	assert_string_equal(got, "");
	assert_null(file->store);
	assert_null(file->redis_host);
	assert_null(file->delivery_log);
	assert_null(file->metrics_host);
	assert_int_equal(file->engine_libmilter, 0);
	assert_string_equal(file->database, running->database);
	/* What a reload applies is the file's. */
	assert_int_equal(file->relays, 3);
	assert_int_equal(file->monitor, 1);
	assert_int_equal(file->rule[0].limit, 20);

	/* The other way: a daemon that started with Redis. */
	fg_config_unref(file);
	file = load(text, err, sizeof(err));
	assert_non_null(file);
	back = load("limit a per account 10/1h\n", err, sizeof(err));
	assert_non_null(back);
	assert_int_equal(fg_config_keep_start(back, file), 0);
	fg_config_restart_changes(file, back, got, sizeof(got));
	assert_string_equal(got, "");
	assert_string_equal(back->store, "redis://10.0.0.5:6380/2");
	assert_string_equal(back->redis_host, "10.0.0.5");
	assert_int_equal(back->redis_port, 6380);
	assert_int_equal(back->redis_db, 2);
	assert_int_equal(back->redis_ttl, 1200);
	assert_string_equal(back->metrics_host, "127.0.0.1");
	assert_int_equal(back->metrics_port, 9465);
	assert_int_equal(back->relays, 1);
	fg_config_unref(back);
	fg_config_unref(file);
	fg_config_unref(running);
}

/* fg_config_load_only reads the statements named and skips the rest,
 * errors and unknown words included; an error in one it reads, or of
 * the lexer anywhere, still fails the load. */
static void
test_load_only(void **state)
{
	static const char *const only[] = { "control", "mta" };
	char err[FG_CONFIG_ERRLEN];
	struct fg_config *c;

	(void)state;
	c = fg_config_load_only(tmpfile_with(
	    "limit broken per acount 1/1h\n"
	    "no_such_statement 3\n"
	    "control /run/fg3/control.sock\n"
	    "mta sendmail\n"
	    "database relative.db\n"), only, 2, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->control, "/run/fg3/control.sock");
	assert_int_equal(c->mta_sendmail, 1);
	assert_int_equal(c->nrule, 0);
	assert_string_equal(c->database, "/var/lib/floodgate/floodgate.db");
	fg_config_unref(c);

	c = fg_config_load_only(tmpfile_with(
	    "limit broken per acount 1/1h\n"
	    "mta exim\n"), only, 2, err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, ":2: "));
	assert_non_null(strstr(err, "exim"));
	assert_null(strstr(err, "acount"));

	c = fg_config_load_only(tmpfile_with(
	    "limit broken per account 1/1h reply \"open\n"
	    "mta sendmail\n"), only, 2, err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, ":1: "));
}

/* The statement table is searched by bsearch: it must stay sorted. */
static void
test_table_sorted(void **state)
{
	size_t i;

	(void)state;
	for (i = 1; i < fg_nstatements; i++)
		if (strcmp(fg_statements[i - 1].name, fg_statements[i].name) >= 0)
			fail_msg("statement table out of order: %s before %s",
			    fg_statements[i - 1].name, fg_statements[i].name);
}

/* The README's statement table has a row for every statement and for
 * nothing else; floodgate.conf(5) has an entry for every statement, and
 * its entries name nothing else. */
static void
test_statements_documented(void **state)
{
	const char *names[64];
	size_t i;

	(void)state;
	assert_true(fg_nstatements <= 64);
	for (i = 0; i < fg_nstatements; i++)
		names[i] = fg_statements[i].name;
	documented(names, fg_nstatements, "| statement | default | meaning |",
	    "statement", "conf/floodgate.conf.5");
}

/*
 * One line of a man page as it reads: a font macro's arguments (joined
 * without blanks for the alternating ones, .BR and the like), other
 * requests dropped, \fB-like font escapes removed, appended to out.
 */
static void
man_text(const char *line, char *out, size_t len)
{
	size_t n = strlen(out);
	int alternate = 0, quoted = 0;
	const char *p = line;

	if (line[0] == '.') {
		size_t m = strcspn(line + 1, " \n");

		if (m < 1 || m > 2 || strchr("BIR", line[1]) == NULL ||
		    (m == 2 && strchr("BIR", line[2]) == NULL))
			return;
		alternate = m == 2;
		p = line + 1 + m;
		p += strspn(p, " ");
	}
	if (n > 0 && n + 1 < len)
		out[n++] = ' ';
	for (; *p != '\0' && *p != '\n' && n + 1 < len; p++) {
		if (p[0] == '\\' && p[1] == 'f' && p[2] != '\0') {
			p += 2;
			continue;
		}
		if (p[0] == '\\' && p[1] == '-')
			p++;
		if (line[0] == '.' && *p == '"') {
			quoted = !quoted;
			continue;
		}
		if (alternate && *p == ' ' && !quoted)
			continue;
		out[n++] = *p;
	}
	out[n] = '\0';
}

/* The text of the .TP entry of floodgate.conf(5) whose tag names word
 * (tag_names), to the next entry or section; 0 if none. */
static int
man_entry(const char *word, char *out, size_t len)
{
	char line[4096];
	int tag = 0, in = 0;
	FILE *fp = fopen("conf/floodgate.conf.5", "r");

	if (fp == NULL)
		fail_msg("conf/floodgate.conf.5: %s", strerror(errno));
	out[0] = '\0';
	while (fgets(line, sizeof(line), fp) != NULL) {
		int was_tag = tag;

		tag = strncmp(line, ".TP", 3) == 0;
		if (in) {
			if (tag || strncmp(line, ".S", 2) == 0 ||
			    strncmp(line, ".PP", 3) == 0)
				break;
			man_text(line, out, len);
		} else
			in = was_tag && tag_names(line, word);
	}
	fclose(fp);
	return in;
}

/* Is word in text, between blanks or punctuation? */
static int
has_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = text; (p = strstr(p, word)) != NULL; p++)
		if ((p == text || strchr(" (", p[-1]) != NULL) &&
		    (p[n] == '\0' || strchr(" ),;.:", p[n]) != NULL))
			return 1;
	return 0;
}

/*
 * Does a man page entry's text give def as its default? Either in the
 * clause after a "default" (`default 20`, `Default: sasl sender
 * client`, `defaults /usr/sbin/sendmail and ...`, to a parenthesis,
 * comma, semicolon or full stop), or just before one within the same
 * parenthesis (`data (the default)`, `hold (quarantine, the
 * default)`). Any other place would take a number of the entry, `1` in
 * `from 1 to 1000000`, for its default.
 */
static int
gives_default(const char *text, const char *def)
{
	size_t n = strlen(def);
	const char *p, *d;

	for (p = text; (p = strcasestr(p, "default")) != NULL; p++) {
		char clause[256];
		const char *stop;
		size_t len;

		d = p + strlen("default");
		if (d[0] == 's' && (d[1] == ' ' || d[1] == ':'))
			d++;
		d += strspn(d, ": (");
		len = strcspn(d, "),;");
		if ((stop = strstr(d, ". ")) != NULL && (size_t)(stop - d) < len)
			len = (size_t)(stop - d);
		if (len >= sizeof(clause))
			len = sizeof(clause) - 1;
		memcpy(clause, d, len);
		clause[len] = '\0';
		if (has_word(clause, def))
			return 1;
		/* Before it: def, then "(" or "," and a few words, no ")". */
		for (d = text; (d = strstr(d, def)) != NULL && d < p; d++) {
			const char *e = d + n + strspn(d + n, " ");

			if ((d == text || strchr(" (", d[-1]) != NULL) &&
			    (*e == '(' || *e == ',') && p - e <= 24 &&
			    memchr(e, ')', (size_t)(p - e)) == NULL)
				return 1;
		}
	}
	return 0;
}

/*
 * A statement a reload does not apply says "Takes effect at start" in
 * its README row (meaning) and its floodgate.conf(5) entry, and no
 * other says it.
 */
static void
start_documented(const char *name, const char *meaning)
{
	static const char said[] = "Takes effect at start";
	char text[4096];
	size_t i;
	int restart = -1;

	for (i = 0; i < fg_nstatements; i++)
		if (strcmp(fg_statements[i].name, name) == 0)
			restart = (fg_statements[i].flags & FG_SF_RESTART) != 0;
	if (restart < 0)
		fail_msg("README.md: the statement table has \"%s\", which is no statement",
		    name);
	if ((strstr(meaning, said) != NULL) != restart)
		fail_msg("README.md: %s's row %s \"%s\", and a reload %s it",
		    name, restart ? "does not say" : "says", said,
		    restart ? "does not apply" : "applies");
	if (!man_entry(name, text, sizeof(text)))
		fail_msg("conf/floodgate.conf.5: no entry for %s", name);
	if ((strstr(text, said) != NULL) != restart)
		fail_msg("conf/floodgate.conf.5: %s's entry %s \"%s\", and a reload %s it",
		    name, restart ? "does not say" : "says", said,
		    restart ? "does not apply" : "applies");
}

/* What a statement row is checked against: floodgate -n's output for
 * an empty configuration, each line after a newline; the names seen. */
struct defaults {
	const char *printed;
	int names;
};

/*
 * Each default the README's statement table gives is what floodgate
 * applies: what `floodgate -n` prints for a configuration that sets
 * nothing. A default in a code span is the printed value (or its
 * start, before a parenthesis that explains it), and floodgate.conf(5)
 * gives it in the statement's entry; `none` and `off` are a printed
 * "(...)"; a statement with no default (a repeatable one) is not
 * printed. Each row says "Takes effect at start" where it should
 * (start_documented).
 */
static void
default_row(char *row, void *arg)
{
	struct defaults *d = arg;
	char name[64], def[256], want[80], text[4096], *cell[4];
	int i;

	if (row_cells(row, cell, 4) < 3)
		fail_msg("README.md: a statement row without three cells");
	for (i = 0; code_span(cell[0], i, name, sizeof(name)); i++) {
		const char *got;
		int spanned;

		name[strcspn(name, " ")] = '\0';
		d->names++;
		start_documented(name, cell[2]);
		snprintf(want, sizeof(want), "\n%s ", name);
		got = strstr(d->printed, want);
		if (got != NULL)
			got += strspn(got + strlen(want), " ") + strlen(want);
		spanned = code_span(cell[1], i, def, sizeof(def));
		if (!spanned)
			snprintf(def, sizeof(def), "%s", cell[1]);
		if (def[0] == '\0') {
			if (got != NULL)
				fail_msg("README.md: %s's row gives no default, "
				    "floodgate -n prints \"%.*s\"", name,
				    (int)strcspn(got, "\n"), got);
		} else if (got == NULL) {
			fail_msg("README.md: %s's default is %s, floodgate -n "
			    "prints no value for it", name, def);
		} else if (spanned) {
			size_t n = strlen(def);

			if (strncmp(got, def, n) != 0 ||
			    (got[n] != '\n' && strncmp(got + n, " (", 2) != 0))
				fail_msg("README.md: %s's default is `%s`, "
				    "floodgate -n prints \"%.*s\"", name, def,
				    (int)strcspn(got, "\n"), got);
			if (!man_entry(name, text, sizeof(text)))
				fail_msg("conf/floodgate.conf.5: no entry for %s", name);
			if (!gives_default(text, def))
				fail_msg("conf/floodgate.conf.5: %s's entry does not "
				    "give its default, %s: \"%s\"", name, def, text);
		} else if (strcmp(def, "none") != 0 && strcmp(def, "off") != 0) {
			fail_msg("README.md: %s's default \"%s\": expected "
			    "a code span, none, off or nothing", name, def);
		} else if (got[0] != '(') {
			fail_msg("README.md: %s's default is %s, "
			    "floodgate -n prints \"%.*s\"", name, def,
			    (int)strcspn(got, "\n"), got);
		}
	}
}

static void
test_defaults_documented(void **state)
{
	char err[FG_CONFIG_ERRLEN], *buf = NULL;
	size_t len = 0;
	struct fg_config *c = load("", err, sizeof(err));
	FILE *out = open_memstream(&buf, &len);
	struct defaults d = { NULL, 0 };

	(void)state;
	assert_non_null(c);
	fputc('\n', out);	/* each setting's line starts after a newline */
	fg_config_print(c, out);
	fclose(out);
	d.printed = buf;
	table_each("README.md", "| statement | default | meaning |",
	    default_row, &d);
	free(buf);
	fg_config_unref(c);
	assert_int_equal(d.names, (int)fg_nstatements);
}

static void
test_errors(void **state)
{
	char err[FG_CONFIG_ERRLEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fg_config *c = load(bad[i].text, err, sizeof(err));

		if (c != NULL)
			fail_msg("accepted: %s", bad[i].text);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("for %s\nwant: %s\ngot:  %s", bad[i].text, bad[i].msg, err);
		/* Every message starts with file:line. */
		assert_int_equal(strncmp(err, "/tmp/fg-unit-", 13), 0);
	}
}

/* The README's Running section lists the statements that take effect
 * at start: those of the table, and no other. */
static void
test_restart_list(void **state)
{
	char *readme = doc_text("README.md", 1), *a, *e = NULL, list[4096], span[64];
	size_t i, listed = 0, restart = 0;
	int k;

	(void)state;
	if ((a = strstr(readme, "The statements marked \"Takes effect at start\"")) == NULL ||
	    (a = strchr(a, '(')) == NULL || (e = strchr(a, ')')) == NULL)
		fail_msg("README.md: no list of the statements marked \"Takes effect at start\"");
	snprintf(list, sizeof(list), "%.*s", (int)(e - a), a);
	for (k = 0; code_span(list, k, span, sizeof(span)); k++, listed++) {
		for (i = 0; i < fg_nstatements &&
		    strcmp(fg_statements[i].name, span) != 0; i++)
			continue;
		if (i == fg_nstatements || !(fg_statements[i].flags & FG_SF_RESTART))
			fail_msg("README.md: Running lists \"%s\" among the statements that take effect at start, and it is not one",
			    span);
	}
	for (i = 0; i < fg_nstatements; i++)
		restart += (fg_statements[i].flags & FG_SF_RESTART) != 0;
	if (listed != restart)
		fail_msg("README.md: Running lists %zu statements that take effect at start, of %zu",
		    listed, restart);
	free(readme);
}

/* An error of the whole file names no line. */
static void
test_file_error(void **state)
{
	char err[FG_CONFIG_ERRLEN];

	(void)state;
	assert_null(fg_config_load("/tmp", err, sizeof(err)));
	assert_string_equal(err, "/tmp: cannot open: Is a directory");
}

/* A statement that takes one value names a second as the word too
 * many, whatever the first; the lists and the repeated ones take more. */
static void
test_one_value(void **state)
{
	char err[FG_CONFIG_ERRLEN], text[128], want[160];
	struct fg_config *c;
	size_t i;

	(void)state;
	for (i = 0; i < fg_nstatements; i++) {
		const struct fg_statement *st = &fg_statements[i];

		if (st->flags & (FG_SF_REPEAT | FG_SF_LIST))
			continue;
		snprintf(text, sizeof(text), "\n%s a extra\n", st->name);
		snprintf(want, sizeof(want),
		    ":2: %s: \"extra\": expected the end of the line (%s takes one value)",
		    st->name, st->name);
		if ((c = load(text, err, sizeof(err))) != NULL)
			fail_msg("accepted: %s", text);
		if (strstr(err, want) == NULL)
			fail_msg("for %s\nwant: %s\ngot:  %s", text, want, err);
	}
	c = load("account sasl sender\n\ndelivery_log_users root 0\n", err,
	    sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	/* fg_config_line: where each statement is, for errors found after
	 * the parse (a user looked up at start). */
	assert_int_equal(fg_config_line(c, "account"), 1);
	assert_int_equal(fg_config_line(c, "delivery_log_users"), 3);
	assert_int_equal(fg_config_line(c, "user"), 0);
	assert_int_equal(fg_config_line(c, "no_such_statement"), 0);
	fg_config_unref(c);
}

/* Found by the fuzzer: a destination word longer than the text kept for
 * messages read before the start of that buffer. */
static void
test_long_destination(void **state)
{
	char err[FG_CONFIG_ERRLEN], *text = malloc(3000);

	(void)state;
	strcpy(text, "limit a per account to ");
	memset(text + 23, 'x', 1500);
	strcpy(text + 1523, ".jp 5/1h\n");
	assert_null(fg_config_load(tmpfile_with(text), err, sizeof(err)));
	assert_non_null(strstr(err, ":1:"));
	free(text);
}

static void
test_map_errors(void **state)
{
	char err[FG_CONFIG_ERRLEN], text[256];
	const char *map;

	(void)state;
	map = tmpfile_with("a.example t1\nonly-one-word\nb.example bad/tenant\n<@x> t2\nA.EXAMPLE t3\n");
	snprintf(text, sizeof(text), "account_map %s\n", map);
	assert_null(load(text, err, sizeof(err)));
	assert_non_null(strstr(err, ":2: expected KEY TENANT"));
	assert_non_null(strstr(err, ":3: \"bad/tenant\": expected a tenant name"));
	assert_non_null(strstr(err, ":4: \"<@x>\": expected a login, an address, a domain or a client IP address"));
	assert_non_null(strstr(err, ":5: \"a.example\" is listed more than once (also on line 1)"));
	assert_non_null(strstr(err, map));
}

static void
test_several_errors_and_long_line(void **state)
{
	char err[FG_CONFIG_ERRLEN];
	char *text = malloc(6000);

	(void)state;
	memset(text, 'x', 5000);
	memcpy(text, "limit ", 6);
	strcpy(text + 5000, "\nmode x\n");
	assert_null(load(text, err, sizeof(err)));
	assert_non_null(strstr(err, ":1: line longer than 4096 bytes"));
	assert_non_null(strstr(err, ":2: mode:"));
	free(text);
	assert_null(fg_config_load("/nonexistent/floodgate.conf", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/floodgate.conf: cannot open"));
}

/* What a configuration holds, written out whole: fg_config_print()'s
 * lines, and the parts it sums up (each group's and rule's domains, the
 * account map's entries). */
static char *
dump(const struct fg_config *c)
{
	char *buf = NULL;
	size_t len = 0, i, k;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	fg_config_print(c, fp);
	for (i = 0; i < c->ngroup; i++)
		for (k = 0; k < c->group[i].n; k++)
			fprintf(fp, "group %s: %s\n", c->group[i].name,
			    c->group[i].dom[k]);
	for (i = 0; i < c->nrule; i++) {
		for (k = 0; k < c->rule[i].dests.n; k++)
			fprintf(fp, "rule %s: %s\n", c->rule[i].name,
			    c->rule[i].dests.pat[k]);
		for (k = 0; k < c->rule[i].nov; k++)
			fprintf(fp, "rule %s: override %s %u/%u\n",
			    c->rule[i].name, c->rule[i].ov[k].account,
			    c->rule[i].ov[k].limit, c->rule[i].ov[k].period);
		fprintf(fp, "rule %s: reply %s\n", c->rule[i].name,
		    c->rule[i].reply ? c->rule[i].reply : "-");
	}
	for (i = 0; i < c->nbackoff; i++)
		for (k = 0; k < c->backoff[i].dests.n; k++)
			fprintf(fp, "backoff %s: %s\n", c->backoff[i].name,
			    c->backoff[i].dests.pat[k]);
	for (i = 0; i < c->ex_domain.n; i++)
		fprintf(fp, "exempt domain %s\n", c->ex_domain.pat[i]);
	for (i = 0; i < c->nnotify; i++)
		fprintf(fp, "notify %s\n", c->notify[i].what);
	for (i = 0; i < c->nmap; i++)
		fprintf(fp, "map %s %s %d\n", c->map[i].key, c->map[i].tenant,
		    c->map[i].alias);
	fclose(fp);
	return buf;
}

/*
 * Out of memory at any allocation of a load (each one in turn made to
 * fail): the load fails and says so, or gives the whole configuration.
 * Never one with a part left out: a rule, a domain of it or an account
 * map's entry missing would let a tenant's mail past its limit.
 */
static void
test_out_of_memory(void **state)
{
	char err[FG_CONFIG_ERRLEN], map[256], text[4096], *want, *got;
	struct fg_config *c;
	long n, total, idns, failed = 0;

	(void)state;
	snprintf(map, sizeof(map), "%s", tmpfile_with(
	    "example.jp tenant42\n@shop.example.net tenant43\n"
	    "Alice tenant7\n\xef\xbd\x84ocomo.example tenant8\n"));
	snprintf(text, sizeof(text),
	    "listen   unix:/var/spool/postfix/fg/milter.sock\n"
	    "control  /run/fg/control.sock\n"
	    "database /var/lib/fg/fg.db\n"
	    "user     floodgate\n"
	    "account  sasl sender client\n"
	    "account_map %s\n"
	    "mode     enforce\n"
	    "on_store_error tempfail\n"
	    "metrics 127.0.0.1:9465\n"
	    "local_action tempfail\n"
	    "charge_at end\n"
	    "engine libmilter\n"
	    "max_connections 100\n"
	    "postfix_config /etc/postfix-out\n"
	    "mta postfix\n"
	    "max_keys 5000\n"
	    "sendmail_path /opt/sm/sendmail\n"
	    "sendmail_config /opt/sm/sendmail.cf\n"
	    "group carriers docomo.ne.jp *.vodafone.ne.jp \xef\xbd\x85zweb.ne.jp\n"
	    "limit burst per account 30/1m\n"
	    "limit carrier per account+domain to @carriers, example.org 5/1h action hold count messages\n"
	    "limit dom per domain to @carriers 300/1h action reject reply \"Go slow, retry in %%r\"\n"
	    "limit unknown per account 20/1h count unknown ratio 30%% action suspend\n"
	    "cap fan to @carriers 100\n"
	    "override carrier tenant42 50/2h\n"
	    "exempt account postmaster@Example.JP Admin\n"
	    "exempt client 192.0.2.0/24 2001:db8::/32\n"
	    "exempt domain internal.example *.corp.example\n"
	    "delivery_log journal\n"
	    "delivery_log_users root postfix\n"
	    "delivery_retention 7d\n"
	    "postfix_map unix:/var/spool/postfix/fg/map.sock\n"
	    "sendmail_map unix:/run/fg/sendmail-map.sock\n"
	    "backoff pause to @carriers after 5/10m on 4xx for 1h max 12h\n"
	    "notify mailto:postmaster@example.jp\n"
	    "notify exec:/usr/local/bin/page on suspend,pause,refused\n"
	    "notify_from floodgate@example.jp\n"
	    "notify_max 5\n"
	    "release_alarm 2h\n"
	    "store redis://10.0.0.5:6380/2\n"
	    "redis_user relay\n"
	    "redis_password_file /etc/floodgate/redis.pass\n"
	    "redis_timeout 2s\n"
	    "redis_reservation_ttl 5m\n"
	    "redis_prefix relays.example\n"
	    "relays 3\n", map);
	{
		const char *path = tmpfile_with(text);

		nomem_allocs = nomem_idn_calls = 0;
		if ((c = fg_config_load(path, err, sizeof(err))) == NULL)
			fail_msg("%s", err);
		total = nomem_allocs;
		idns = nomem_idn_calls;
		want = dump(c);
		fg_config_unref(c);
		/* Each allocation in turn, then each of libidn2's. */
		for (n = 1; n <= total + idns; n++) {
			if (n <= total)
				nomem_nth = n;
			else
				nomem_idn = (int)(n - total);
			c = fg_config_load(path, err, sizeof(err));
			nomem_nth = nomem_idn = 0;
			if (c == NULL) {
				if (strstr(err, "out of memory") == NULL)
					fail_msg("failure %ld of %ld: %s", n,
					    total + idns, err);
				failed++;
				continue;
			}
			got = dump(c);
			fg_config_unref(c);
			if (strcmp(got, want) != 0) {
				size_t k = 0;

				while (got[k] == want[k])
					k++;
				while (k > 0 && want[k - 1] != '\n')
					k--;
				fail_msg("failure %ld of %ld, and the load went on without it: from \"%.80s\" where the whole has \"%.80s\"",
				    n, total + idns, got + k, want + k);
			}
			free(got);
		}
	}
	free(want);
	print_message("%ld allocations and %ld calls of libidn2 in a load, %ld of them said as out of memory when made to fail\n",
	    total, idns, failed);
	assert_true(total > 50);
	assert_true(idns >= 2);		/* the group's and the map's names */
	assert_true(failed > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_statement),
		cmocka_unit_test(test_defaults_and_refs),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_idn_domains),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_one_value),
		cmocka_unit_test(test_file_error),
		cmocka_unit_test(test_restart_list),
		cmocka_unit_test(test_feedback),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_keep_start),
		cmocka_unit_test(test_load_only),
		cmocka_unit_test(test_table_sorted),
		cmocka_unit_test(test_statements_documented),
		cmocka_unit_test(test_defaults_documented),
		cmocka_unit_test(test_long_destination),
		cmocka_unit_test(test_map_errors),
		cmocka_unit_test(test_several_errors_and_long_line),
		cmocka_unit_test(test_out_of_memory),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tmpfiles_remove();
	return rc;
}
