#!/bin/bash
# The same binary as a Sendmail filter (INPUT_MAIL_FILTER), against the
# real Sendmail 8.17 from Debian's packages: per-recipient deferral over
# SMTP, a second tenant unaffected, routed recipients counted where
# Sendmail sends them, a SASL login counted as one account
# whatever its MAIL FROM; a tenant's mail through the message
# submission program (the sendmail command) counted by its Unix user
# (account uid) whatever sender it claims, and what the MSP's queue
# runner sends counted for smmsp; then hold (Sendmail's quarantined
# queue files) and floodgatectl release the Sendmail way, and what
# Sendmail's sendmail.cf lets past floodgate (floodgate -n).
# alone: puts its own /etc/sasl2/Sendmail.conf in place, makes system users
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sendmail.sh"
setup
sendmail_fetch || skip "cannot fetch Debian's sendmail packages"
U1=fgtest-msp
made_smmsp=
command -v useradd >/dev/null && {
	id $U1 >/dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin $U1
	# The MSP's queue runner, as Debian's sendmail packages make it.
	id smmsp >/dev/null 2>&1 || { useradd -r -M -d /nonexistent -s /usr/sbin/nologin smmsp && made_smmsp=1; }
}
echo "$U1  tenant-msp" > "$T/accounts"
write_conf <<EOT
account sasl uid sender client
account_map $T/accounts
limit tenant-hour per account 3/1h
limit carrier per domain to docomo.test 1/1h
exempt client ::1
EOT
start_floodgate
# Set before the daemon starts: a daemon that did start but too late
# must not outlive the test (cleanup waits for its children).
trap 'sendmail_cleanup; userdel $U1 2>/dev/null; [ -z "$made_smmsp" ] || userdel smmsp' EXIT
# Sendmail hands an IPv6 client over as {client_addr} "IPv6:::1".
V6_PORT=
if grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null; then
	V6_PORT=$(free_port)
	SM_MC_EXTRA="DAEMON_OPTIONS(\`Family=inet6, Addr=::1, Port=$V6_PORT, Name=MTA6')"
fi
sendmail_setup || { fail "sendmail set-up"; finish; }
sasl=1
sendmail_sasl carol 'S3cret!' || sasl=0
sendmail_start || { fail "sendmail did not start"; finish; }

send "$T/a" $SM_PORT news@a.example "$(rcpts a example.com 5)"
expect_eq "Sendmail: the excess recipients get 451" "$(count_replies "$T/a" 451)" 2
grep -q "451 4.7.1 floodgate: tenant-hour limit reached (3/1h), retry in" "$T/a" &&
    ok "Sendmail passes floodgate's reply" || fail "$(grep '<\*\*' "$T/a" | head -2)"
send "$T/b" $SM_PORT info@b.example "$(rcpts b example.net 3)"
expect_eq "Sendmail: another tenant is unaffected" "$(count_replies "$T/b" 4..)" 0
for i in $(seq 1 100); do [ "$(sink_count)" -ge 6 ] && break; sleep 0.1; done
expect_eq "sink: 3 + 3" "$(sink_count)" 6
grep -q "account=news@a.example source=sender rule=tenant-hour .*action=defer" "$T/floodgate.log" &&
    ok "the refusal is logged with its account" || fail "$(tail -3 "$T/floodgate.log")"

# Routed recipients: Sendmail's ruleset 0 sends "user%dest@host" (host
# its own) and "dest!user" on to dest, a route to another host's domain
# to that host; floodgate counts each where Sendmail resolved it
# ({rcpt_addr}).
send "$T/r" $SM_PORT route@r.example 'x1%docomo.test@mta.floodgate.test,docomo.test!x2,x3%other.test@docomo.test'
expect_eq "Sendmail: routed to docomo.test, 2 of 3 deferred (carrier 1/1h)" "$(count_replies "$T/r" 451)" 2
for i in $(seq 1 100); do [ "$(sink_count '<x1@docomo\.test>')" -ge 1 ] && break; sleep 0.1; done
expect_eq "  ... the 1st sent on to docomo.test" "$(sink_count '<x1@docomo\.test>')" 1
expect_eq "  ... each counted where Sendmail resolved it" "$(log_count 'account=route@r.example: recipient <.*> is routed on: counted for domain docomo.test (where the MTA resolved it)')" 3

if [ "$sasl" = 1 ]; then
	auth="--auth PLAIN --auth-user carol --auth-password S3cret!"
	send "$T/s1" $SM_PORT one@x.example "$(rcpts s example.com 2)" $auth
	send "$T/s2" $SM_PORT two@y.example "$(rcpts t example.com 2)" $auth
	grep -q "^<- *235" "$T/s1" && ok "Sendmail: AUTH PLAIN" || fail "AUTH: $(grep -i auth "$T/s1" | tail -2)"
	expect_eq "Sendmail SASL: the login's 4th recipient deferred" "$(cat "$T/s1" "$T/s2" | grep -c '^<\*\* *451')" 1
	grep -q "account=carol.* source=sasl rule=tenant-hour" "$T/floodgate.log" &&
	    ok "Sendmail SASL: counted by login" || fail "$(grep source= "$T/floodgate.log" | tail -2)"
else
	say "an /etc/sasl2/Sendmail.conf exists already: Sendmail SASL not tested"
fi

if [ -n "$V6_PORT" ]; then
	SMTP_HOST=::1 smtp_session $V6_PORT "EHLO v6.example" "MAIL FROM:<v6@a.example>" \
	    "RCPT TO:<v1@example.net>" "RCPT TO:<v2@example.net>" "RCPT TO:<v3@example.net>" \
	    "RCPT TO:<v4@example.net>" DATA QUIT > "$T/v6"
	expect_eq "Sendmail over IPv6: exempt client ::1 matches its IPv6:::1, none deferred" \
	    "$(grep -c '^250 2.1.5 ' "$T/v6").$(grep -c '^4' "$T/v6")" 4.0
	for i in $(seq 1 100); do [ "$(sink_count '<v[1-4]@example\.net>')" -ge 4 ] && break; sleep 0.1; done
	expect_eq "  ... delivered" "$(sink_count '<v[1-4]@example\.net>')" 4
else
	say "no IPv6 loopback: Sendmail's IPv6 client not tested"
fi

# The sendmail command submits over SMTP to the MTA as the user who ran
# it: counted for that user's tenant, not for the sender it claims
# (news@a.example, whose 3/1h is spent already).
if id $U1 >/dev/null 2>&1 && sendmail_msp; then
	for i in 1 2 3 4; do
		printf 'Subject: msp %s\n\nhello\n' $i | sm_submit $U1 -f news@a.example m$i@example.com > "$T/msp$i" 2>&1 ||
		    fail "the sendmail command failed: $(cat "$T/msp$i")"
	done
	for i in $(seq 1 100); do [ "$(sink_count '<m[1-4]@example\.com>')" -ge 3 ] && break; sleep 0.1; done
	expect_eq "MSP: the tenant's first 3 delivered under the spent sender" "$(sink_count '<m[1-4]@example\.com>')" 3
	expect_eq "  ... the 4th deferred, counted for the Unix user's tenant" \
	    "$(log_count 'account=tenant-msp source=uid rule=tenant-hour .*action=defer')" 1
	expect_eq "  ... and kept in the MSP's queue" "$(ls "$T/smcq" | grep -c '^qf')" 1
	# Queued without a try (-odq) under the same spent sender: it meets
	# floodgate only with the MSP's queue runner, as the deferred 4th
	# does. Both count for the runner's own account, not for the
	# sender they claim (whose limit would have deferred them).
	printf 'Subject: msp queued\n\nhello\n' | sm_submit $U1 -odq -f news@a.example m5@example.com > "$T/msp5" 2>&1 ||
	    fail "sendmail -odq failed: $(cat "$T/msp5")"
	expect_eq "-odq: queued, not sent" "$(ls "$T/smcq" | grep -c '^qf')" 2
	msp_queue_run > "$T/mspq" 2>&1 || fail "the MSP's queue run: $(tail -3 "$T/mspq")"
	for i in $(seq 1 100); do [ "$(sink_count '<m[1-5]@example\.com>')" -ge 5 ] && break; sleep 0.1; done
	expect_eq "MSP queue run: the 4th and the queued one delivered" "$(sink_count '<m[1-5]@example\.com>')" 5
	expect_eq "  ... counted for smmsp's own account" "$(ctl show smmsp | awk '$1 == "tenant-hour" {print $5}')" 2
	expect_eq "  ... the sender they claim not charged" "$(ctl show news@a.example | awk '$1 == "tenant-hour" {print $5}')" 3
	expect_eq "  ... the MSP's queue empty" "$(ls "$T/smcq" | grep -c '^qf')" 0
else
	fail "no MSP set-up (useradd, m4)"
fi

# Hold and release.
stop_floodgate
# The first delivery floodgatectl asks for (-qf) never ends: a next hop
# that hangs. Once armed, the next unquarantine (-Q) sends the run
# SIGTERM.
cat > "$T/sm/sendmail-wrap" <<EOW
#!/bin/sh
case "\$*" in *-qf*)
	[ -e "$T/sm/slow.done" ] || { touch "$T/sm/slow.done"; exec sleep 30.7; } ;;
*" -Q "*)
	rm "$T/sm/stop.armed" 2>/dev/null && kill -TERM \$PPID ;;
esac
LD_PRELOAD="$T/sm/host.so" LD_LIBRARY_PATH="$SMROOT/usr/lib/x86_64-linux-gnu:$SMROOT/lib/x86_64-linux-gnu" exec "$T/sm/sendmail" "\$@"
EOW
chmod 755 "$T/sm/sendmail-wrap"
write_conf <<EOT
mta sendmail
sendmail_path $T/sm/sendmail-wrap
sendmail_config $T/sm/sendmail.cf
limit burst per account 2/10s action hold
EOT
start_floodgate
# What Sendmail's settings let past floodgate, read from sendmail.cf
# by floodgate -n (and at each start, the same code as t10's Postfix
# check): nothing in this one (INPUT_MAIL_FILTER with F=T); a filter
# without F=T, and InputMailFilters that leaves floodgate out, each
# said.
sm_check() {	# sm_check SED: floodgate -n on sendmail.cf edited by SED
	sed "$1" "$T/sm/sendmail.cf" > "$T/sm/check.cf"
	sed "s|^sendmail_config .*|sendmail_config $T/sm/check.cf|" "$T/floodgate.conf" > "$T/check.conf"
	"$FLOODGATE" -n -c "$T/check.conf" 2>&1 >/dev/null | grep "warning: Sendmail ($T/sm/check.cf): "
}
expect_eq "Sendmail's settings: nothing said of this sendmail.cf" "$(sm_check 's/^X/X/' | wc -l)" 0
sm_check 's/^\(Xfloodgate, .*\), F=T,/\1,/' > "$T/smc.out"
expect_eq "  ... a filter without F=T said" \
    "$(grep -c "sendmail.cf: filter floodgate (floodgate's socket) has no F=T: while floodgate is stopped or does not answer in time, Sendmail sends every message without it, unlimited" "$T/smc.out").$(wc -l < "$T/smc.out")" 1.1
sm_check 's/^O InputMailFilters=.*/O InputMailFilters=other/' > "$T/smc.out"
expect_eq "  ... InputMailFilters without floodgate said, for the daemon" \
    "$(grep -c "sendmail.cf: daemon MTA: InputMailFilters leaves out floodgate's filter" "$T/smc.out")" 1
# With account uid, .forward files: this sendmail.cf's ForwardPath
# reads them, and so does Sendmail's default where the line is
# commented out (sendmail.mc without confFORWARD_PATH); defined empty,
# it writes "O ForwardPath": nothing said.
sm_uid() {	# sm_uid SED: sm_check's, with account uid
	sed "$1" "$T/sm/sendmail.cf" > "$T/sm/check.cf"
	{ sed "s|^sendmail_config .*|sendmail_config $T/sm/check.cf|" "$T/floodgate.conf"
	  echo "account sasl uid sender client"; } > "$T/check.conf"
	"$FLOODGATE" -n -c "$T/check.conf" 2>&1 >/dev/null | grep "warning: Sendmail ($T/sm/check.cf): "
}
sm_uid 's/^X/X/' > "$T/smc.out"
expect_eq "  ... account uid: ForwardPath said" \
    "$(grep -c "sendmail.cf: O ForwardPath=\$z/.forward.\$w:\$z/.forward: a user's .forward sends each message the user gets on to every address in it" "$T/smc.out").$(wc -l < "$T/smc.out")" 1.1
sm_uid 's/^O ForwardPath=/#O ForwardPath=/' > "$T/smc.out"
expect_eq "  ... Sendmail's default too" \
    "$(grep -c "sendmail.cf: no ForwardPath option (Sendmail's default, \$z/.forward.\$w:\$z/.forward): a user's .forward" "$T/smc.out").$(wc -l < "$T/smc.out")" 1.1
expect_eq "  ... not once defined empty" "$(sm_uid 's/^O ForwardPath=.*/O ForwardPath/' | wc -l)" 0
expect_eq "  ... nor without account uid" "$(sm_check 's/^X/X/' | wc -l)" 0
for i in 1 2 3 4; do
	send "$T/h$i" $SM_PORT list@c.example "h$i@example.org"
done
expect_eq "hold: every recipient accepted" "$(cat "$T"/h[1-4] | grep -c '^<\*\*')" 0
for i in $(seq 1 100); do [ "$(sink_count '@example\.org')" -ge 2 ] && break; sleep 0.1; done
expect_eq "the first 2 delivered" "$(sink_count '@example\.org')" 2
expect_eq "2 quarantined by Sendmail (hf files)" "$(ls "$T/smq" | grep -c '^hf')" 2
ctl held > "$T/held"
expect_eq "floodgatectl held: 2" "$(grep -c ' list@c.example ' "$T/held")" 2
for q in $(awk 'NR > 1 {print $1}' "$T/held"); do
	[ -f "$T/smq/hf$q" ] && ok "held $q is Sendmail's quarantined hf$q" || fail "no hf$q"
done
ctl reset list@c.example > /dev/null || fail "reset: $(cat "$T/ctl.err")"	# the window free again
ctl -t 2 release > "$T/rel"
expect_eq "release: both go" "$(grep -c ' released$' "$T/rel")" 2
grep -q "released, but not delivered now: $T/sm/sendmail-wrap -C $T/sm/sendmail.cf -qf -qI[0-9A-Za-z]*: no end within 2 s, killed" "$T/ctl.err" &&
    ok "  ... the delivery that hung killed after -t, the other delivered still" || fail "$(cat "$T/ctl.err")"
for i in $(seq 1 100); do [ "$(sink_count '@example\.org')" -ge 3 ] && break; sleep 0.1; done
expect_eq "  ... delivered at once: one" "$(sink_count '@example\.org')" 3
sm_run -q < /dev/null > /dev/null 2>&1	# the next queue run
for i in $(seq 1 100); do [ "$(sink_count '@example\.org')" -ge 4 ] && break; sleep 0.1; done
expect_eq "sink: all 4, once each" "$(cat "$T"/sink/m.* | grep '^X-Rcpt-Args: <h[1-4]@' | sort -u | wc -l).$(sink_count '@example\.org')" 4.4
expect_eq "no quarantined file left" "$(ls "$T/smq" | grep -c '^hf')" 0
# A run stopped by SIGTERM during its first -Q: that message is given
# back to Sendmail but not delivered now (its next queue run does), the
# other planned one is not tried. The window is full: all four held.
for i in 5 6 7 8; do
	send "$T/h$i" $SM_PORT list@c.example "h$i@example.org"
done
expect_eq "four more held" "$(ls "$T/smq" | grep -c '^hf')" 4
ctl reset list@c.example > /dev/null || fail "reset: $(cat "$T/ctl.err")"
touch "$T/sm/stop.armed"
{ ctl -t 2 release > "$T/rel2" 2> "$T/rel2.err"; } 2>/dev/null	# bash's "Terminated"
expect_eq "release stopped by SIGTERM: ends by it" $? 143
grep -q "^floodgatectl: stopped by SIGTERM; the rest of this run's releases are left for the next run$" "$T/rel2.err" &&
    ok "  ... said so" || fail "$(cat "$T/rel2.err")"
expect_eq "  ... one released" "$(grep -c ' released$' "$T/rel2")" 1
expect_eq "  ... one not tried" "$(grep -c 'not tried, still held$' "$T/rel2")" 1
expect_eq "  ... three still quarantined" "$(ls "$T/smq" | grep -c '^hf')" 3
sleep 1
expect_eq "  ... not delivered now" "$(sink_count '@example\.org')" 4
sm_run -q < /dev/null > /dev/null 2>&1	# the next queue run
for i in $(seq 1 100); do [ "$(sink_count '@example\.org')" -ge 5 ] && break; sleep 0.1; done
expect_eq "  ... delivered at the next queue run" "$(sink_count '@example\.org')" 5
finish
