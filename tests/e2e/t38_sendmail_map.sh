#!/bin/bash
# A pause holds Sendmail's queued mail too: Sendmail asks floodgate's
# sendmail_map of each envelope recipient's domain through the README's
# rules in ruleset 0, at RCPT and at each queue run. The real Sendmail
# 8.17: mail queued for a carrier that answered 421 stays queued during
# the pause with floodgate's text and no connection reaches the carrier;
# a new recipient gets 451 from Sendmail itself; a sender at the paused
# domain is not held; with floodgate stalled or down the queue run keeps
# the mail queued (no connection); after floodgatectl unpause the queue
# run delivers it. floodgatectl pause and suspend, by hand, do the same
# through the map and the milter. Queue runs are `sendmail -q -v`:
# without -v the run goes on in a child after the command returns.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sendmail.sh"
setup
sendmail_fetch || skip "cannot fetch Debian's sendmail packages"
# The carrier takes one recipient a minute; the second starts 8 s of
# 421 at its greeting.
SINK_BURST=1/60 SINK_BLOCK=8 use_feedback_sink
printf 'docomo.test smtp8:[127.0.0.1]\n' > "$T/mailertable"
SM_MC_EXTRA="define(\`SMTP8_MAILER_ARGS', \`TCP \$h $CARRIER_PORT')dnl
FEATURE(\`mailertable', \`text -k0 -v1 $T/mailertable')dnl
"
# The README's rules, as operators copy them, with this test's socket.
SM_MC_TAIL=$(sed -n '/^    dnl floodgate: ask sendmail_map/,/^    dnl floodgate: end/p' "$TOP/README.md" |
    sed -e 's/^    //' -e "s|/run/floodgate/sendmail-map.sock|$T/fg/sendmail-map.sock|")
[ "$(printf '%s\n' "$SM_MC_TAIL" | grep -c '^R')" = 4 ] || fail "the README's rules: $SM_MC_TAIL"
write_conf <<EOT
mta sendmail
delivery_log $T/sm/maillog
sendmail_map unix:$T/fg/sendmail-map.sock
backoff carrier to docomo.test after 2/10m on 4xx for 1h
EOT
start_floodgate
trap sendmail_cleanup EXIT
sendmail_setup || { fail "sendmail set-up"; finish; }
sendmail_start || { fail "sendmail did not start"; finish; }
carrier_conns() { grep -c "^$CARRIER_PORT " "$T/sink/connections" 2>/dev/null || true; }
took() { [ "$(delivered "$1" "$2")" -ge "$3" ] 2>/dev/null; }	# took RCPT-PATTERN PORT N
queue() { sm_run -bp 2>&1; }
queued() { queue | grep -cE "^[[:space:]]*<?$1>?\$"; }

# 1. Two recipients go through, then the carrier answers 421: two
# messages deferred pause the domain.
send "$T/d1" $SM_PORT shop@d.example "a1@docomo.test,a2@docomo.test"
wait_for 20 took 'a[12]@docomo.test' "$CARRIER_PORT" 2 ||
    fail "the carrier took the first two: $(tail -3 "$T/sm/maillog")"
send "$T/d2" $SM_PORT shop@d.example "b1@docomo.test"
send "$T/d3" $SM_PORT shop@d.example "b2@docomo.test"
wait_for 20 sh -c "grep -q 'backoff: domain=docomo.test paused for 1h' '$T/floodgate.log'" ||
    fail "docomo.test paused: $(grep -E 'backoff|Deferred' "$T/floodgate.log" "$T/sm/maillog" | tail -4)"
expect_eq "sendmail_map: the paused domain gets a temporary error mailer" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/sendmail-map.sock" floodgate docomo.test | cut -d' ' -f1-4)" \
    "OK error:4.7.0:\"451 floodgate: docomo.test"
expect_eq "sendmail_map: any other domain is not found" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/sendmail-map.sock" floodgate example.com .test | tr '\n' ' ')" \
    "NOTFOUND  NOTFOUND  "
expect_eq "both deferred messages are queued" "$(queued 'b[12]@docomo.test')" 2
# Queued by root's command line (no milter): its recipient's domain was
# not canonified (no DNS here), so it has no trailing dot.
printf 'Subject: queued\n\nqueued\n' | sm_run -odq -f local@d.example b3@docomo.test > "$T/b3.out" 2>&1 ||
    fail "queueing b3 from the command line"

# 2. A queue run during the pause: no connection, the mail stays queued
# with floodgate's text.
sleep 8.5	# the carrier would take mail again
before=$(carrier_conns)
sm_run -q -v < /dev/null > "$T/qrun1" 2>&1
expect_eq "a queue run during the pause makes no connection to the carrier" "$(carrier_conns)" "$before"
expect_eq "the queued mail stays queued" "$(queued 'b[123]@docomo.test')" 3
queue | grep -q "(floodgate: docomo.test paused until [0-9][0-9]:[0-9][0-9] UTC)" &&
    ok "mailq shows floodgate's reason" || fail "mailq: $(queue)"

# 3. New mail: a recipient at the paused domain is deferred by Sendmail's
# rule; a sender at it is not held; other mail flows.
send "$T/d4" $SM_PORT shop@d.example "c1@docomo.test"
grep -q "^<\*\* *451 4.7.0 floodgate: docomo.test paused until [0-9:]* UTC" "$T/d4" &&
    ok "a new recipient at the paused domain gets 451 4.7.0 with floodgate's text" ||
    fail "$(grep '^<\*\*' "$T/d4")"
send "$T/f1" $SM_PORT fwd@docomo.test "f1@example.com"
expect_eq "a sender at the paused domain is not held" "$(count_replies "$T/f1" 4..)" 0
wait_for 20 took f1@example.com "$SINK_PORT" 1 &&
    ok "and its mail is delivered" || fail "f1@example.com: $(grep f1@ "$T/sm/maillog")"

ctl status | awk '$1 == "sendmail_map" {print $2, $4}' > "$T/asked"
read -r asked said < "$T/asked"
[ "${asked:-0}" -gt "${said:-0}" ] && [ "${said:-0}" -ge 4 ] &&
    ok "floodgatectl status counts Sendmail's questions ($asked, $said answered paused)" ||
    fail "status: $(ctl status | grep _map)"

# 4. floodgate stalled: each question waits at most the rules' 5 s
# (-d5s), and the mail stays queued. One message's run (-qR), 5 s.
kill -STOP "$FG_PID"
t0=$(date +%s)
sm_run -q -v -qRb1@docomo.test < /dev/null > "$T/qrun-stalled" 2>&1
t1=$(date +%s)
kill -CONT "$FG_PID"
expect_eq "with floodgate stalled a queue run makes no connection to the carrier" "$(carrier_conns)" "$before"
expect_eq "and the mail stays queued" "$(queued 'b[123]@docomo.test')" 3
[ $((t1 - t0)) -ge 4 ] && [ $((t1 - t0)) -le 10 ] &&
    grep -q 'socket_map_lookup(floodgate): read timeout' "$T/sm/maillog" &&
    ok "Sendmail gave up on the stalled map ($((t1 - t0)) s for the run)" ||
    fail "stalled map: $((t1 - t0)) s, $(tail -2 "$T/sm/maillog")"

# 5. floodgate down: the queue run keeps the mail queued, no connection.
stop_floodgate
sm_run -q -v < /dev/null > "$T/qrun2" 2>&1
expect_eq "with floodgate down a queue run makes no connection to the carrier" "$(carrier_conns)" "$before"
expect_eq "and the mail stays queued" "$(queued 'b[123]@docomo.test')" 3
grep -q 'SYSERR(root): socket map "floodgate"' "$T/sm/maillog" &&
    ok "Sendmail logs the map it cannot reach" || fail "$(tail -3 "$T/sm/maillog")"

# 6. floodgate back (the pause is kept), then unpaused: the next queue
# run delivers. The log holds the first start's line: wait for the
# second (its sockets are made before it).
start_floodgate
expect_eq "the pause survives the restart" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/sendmail-map.sock" floodgate docomo.test | cut -d' ' -f1)" "OK"
ctl unpause docomo.test >/dev/null || fail "floodgatectl unpause"
sm_run -q -v < /dev/null > "$T/qrun3" 2>&1
wait_for 20 took 'b[123]@docomo.test' "$CARRIER_PORT" 3 &&
    ok "after unpause the queue run delivers the held mail" ||
    fail "b1, b2 after unpause: $(queue) $(cat "$T/qrun3")"

# 7. The operator's own stops, with Sendmail: floodgatectl pause holds
# the queued mail of a domain no backoff names, and floodgatectl suspend
# stops one tenant at Sendmail's RCPT while the others send.
ctl pause example.net 1h > "$T/pause" 2>&1 || fail "floodgatectl pause: $(cat "$T/pause")"
expect_eq "pause by hand: sendmail_map answers the domain paused" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/sendmail-map.sock" floodgate example.net | cut -d' ' -f1-4)" \
    "OK error:4.7.0:\"451 floodgate: example.net"
printf 'Subject: queued\n\nqueued\n' | sm_run -odq -f local@d.example e1@example.net > "$T/e1.out" 2>&1 ||
    fail "queueing e1 from the command line"
sm_run -q -v < /dev/null > "$T/qrun4" 2>&1
expect_eq "pause by hand: a queue run keeps the domain's mail queued" "$(queued e1@example.net)" 1
took e1@example.net "$SINK_PORT" 1 && fail "pause by hand: e1@example.net was delivered during the pause"
send "$T/e2" $SM_PORT shop@d.example "e2@example.net"
grep -q "^<\*\* *451 4.7.0 floodgate: example.net paused until [0-9:]* UTC" "$T/e2" &&
    ok "pause by hand: a new recipient gets 451 4.7.0 from Sendmail's rule" ||
    fail "pause by hand: a new recipient gets 451 4.7.0: $(grep '^<\*\*' "$T/e2")"
ctl unpause example.net > /dev/null || fail "floodgatectl unpause example.net"
sm_run -q -v < /dev/null > "$T/qrun5" 2>&1
wait_for 20 took e1@example.net "$SINK_PORT" 1 &&
    ok "pause by hand: after unpause the queue run delivers" ||
    fail "e1 after unpause: $(queue) $(cat "$T/qrun5")"

ctl suspend shop@d.example > "$T/suspend" 2>&1 || fail "floodgatectl suspend: $(cat "$T/suspend")"
send "$T/s1" $SM_PORT shop@d.example "s1@example.com"
grep -q "^<\*\* *451 4.7.1 floodgate: account suspended" "$T/s1" &&
    ok "suspend by hand: Sendmail defers the tenant's recipient with floodgate's reply" ||
    fail "suspend by hand: $(grep '^<\*\*' "$T/s1")"
send "$T/s2" $SM_PORT other@e.example "s2@example.com"
expect_eq "suspend by hand: another tenant sends" "$(count_replies "$T/s2" 4..)" 0
ctl resume shop@d.example > /dev/null || fail "floodgatectl resume"
send "$T/s3" $SM_PORT shop@d.example "s3@example.com"
expect_eq "resumed: the tenant sends again" "$(count_replies "$T/s3" 4..)" 0
wait_for 20 took 's[23]@example.com' "$SINK_PORT" 2 ||
    fail "s2, s3 delivered: $(grep 's[23]@' "$T/sm/maillog")"
finish
