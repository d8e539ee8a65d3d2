#!/bin/bash
# Delivery feedback with the real Sendmail 8.17: floodgate reads
# Sendmail's own log lines (its to= lines carry several recipients that
# went together, stat= says what became of them). There is no syslog
# daemon here: the test's preload writes what Sendmail logs through
# syslog(3) to a file as rsyslog would, the message text Sendmail's own.
# A tenant mailing a list with unknown recipients trips a feedback limit
# and is deferred at its next recipient, a clean tenant is not; the
# delivered recipients of a grouped line count one each; a carrier's
# 421 at the greeting and a host that refuses connections each pause
# their domain (backoff on 4xx, on connect), and the paused domain's
# new recipients are deferred at RCPT; Sendmail's DSN to the sender is
# followed for the message's account (its failure counts, its delivery
# does not).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sendmail.sh"
setup
sendmail_fetch || skip "cannot fetch Debian's sendmail packages"
# The carrier's port answers 421 for a minute once more than 3
# recipients came within a minute; nothing listens on CLOSED.
SINK_BURST=3/60 SINK_BLOCK=60 use_feedback_sink
CLOSED=$(free_port)
printf 'docomo.test smtp8:[127.0.0.1]\nrefused.test relay:[127.0.0.1]\n' > "$T/mailertable"
SM_MC_EXTRA="define(\`SMTP8_MAILER_ARGS', \`TCP \$h $CARRIER_PORT')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $CLOSED')dnl
FEATURE(\`mailertable', \`text -k0 -v1 $T/mailertable')dnl
"
write_conf <<EOT
mta sendmail
delivery_log $T/sm/maillog
limit list per account 5/1h count unknown action defer
backoff carrier to docomo.test after 2/10m on 4xx for 1h
backoff dead to refused.test after 2/10m on connect for 1h
EOT
start_floodgate
trap sendmail_cleanup EXIT
sendmail_setup || { fail "sendmail set-up"; finish; }
sendmail_start || { fail "sendmail did not start"; finish; }
st() { ctl status | awk -v k="$1" '$1 == k {print $2}'; }
st_at_least() { [ "$(st "$1")" -ge "$2" ]; }
logged() { grep -c -- "$1" "$T/sm/maillog" 2>/dev/null || true; }

# 1. A list of 10, 6 of them unknown; and a clean tenant.
send "$T/l1" $SM_PORT news@list.example "$(list 10 6 example.com)"
send "$T/c1" $SM_PORT info@clean.example "$(rcpts c example.net 3)"
wait_for 20 st_at_least sent 7 || fail "floodgate read the deliveries (status: $(ctl status | grep -E '^(sent|bounced|unknown|delivery_lines) ' | tr '\n' ' '))"
sleep 1.2
expect_eq "Sendmail logged the delivered ones on grouped lines" "$(logged ', \[more\]\|>,<')" 2
expect_eq "every recipient counted once: sent, bounced, unknown" "$(st sent) $(st bounced) $(st unknown)" "7 6 6"
wait_for 10 sh -c "grep -q 'rule=list key=news@list.example tripped' '$T/floodgate.log'" ||
    fail "the feedback limit tripped: $(grep feedback: "$T/floodgate.log")"
send "$T/l2" $SM_PORT news@list.example "u1@example.org"
expect_eq "the list's sender is deferred at its next recipient" "$(count_replies "$T/l2" 451)" 1
send "$T/c2" $SM_PORT info@clean.example "c9@example.org"
expect_eq "the clean tenant is not" "$(count_replies "$T/c2" 4..)" 0

# 2. The carrier: 4 recipients in one message pass, then it answers 421
# at the greeting; two messages more get it (two 4xx failures).
send "$T/d1" $SM_PORT shop@d.example "$(rcpts a docomo.test 4)"
carrier_took() { [ "$(delivered . "$CARRIER_PORT")" -ge 4 ]; }
wait_for 20 carrier_took || fail "the carrier took the first 4: $(delivered . "$CARRIER_PORT")"
send "$T/d2" $SM_PORT shop@d.example "b1@docomo.test"
send "$T/d3" $SM_PORT shop@d.example "b2@docomo.test"
wait_for 20 sh -c "grep -q 'backoff: domain=docomo.test paused for 1h .* by rule=carrier: 2 temporary failures (4xx)' '$T/floodgate.log'" ||
    fail "docomo.test paused by Sendmail's 421 deferrals: $(grep -E 'backoff|Deferred' "$T/floodgate.log" "$T/sm/maillog" | tail -4)"
expect_eq "Sendmail logged the 421s" "$(logged 'stat=Deferred: 421 ')" 2
send "$T/d4" $SM_PORT shop@d.example "c1@docomo.test"
grep -q "^<\*\* *451 4.7.1 floodgate: docomo.test paused until" "$T/d4" &&
    ok "a new recipient of the paused carrier is deferred at RCPT" ||
    fail "$(grep '^<\*\*' "$T/d4")"
ctl pauses | grep -q "docomo.test" && ok "floodgatectl pauses lists it" || fail "$(ctl pauses)"

# 3. A host that refuses connections: one message of two recipients is
# one line, two failures.
send "$T/r1" $SM_PORT shop@d.example "x1@refused.test,x2@refused.test"
wait_for 20 sh -c "grep -q 'backoff: domain=refused.test paused for 1h .* by rule=dead: 2 temporary failures (connect)' '$T/floodgate.log'" ||
    fail "refused.test paused by one line of two refused recipients: $(grep -E 'refused.test' "$T/sm/maillog" "$T/floodgate.log" | tail -3)"
expect_eq "Sendmail logged both on one line" "$(logged 'to=<x[12]@refused.test>,<x[12]@refused.test>, .*stat=Deferred: Connection refused')" 1
expect_eq "two domains paused, no other" "$(st paused_domains)" 2
send "$T/o1" $SM_PORT shop@d.example "o1@example.com"
expect_eq "the same sender's mail to other domains flows" "$(count_replies "$T/o1" 4..)" 0

# 4. Sendmail's DSN to a sender that does not exist ("ID: NEWID: DSN:"):
# followed for the message's account, its failure counted; the DSNs
# delivered above (to news@list.example) counted nothing.
send "$T/n1" $SM_PORT nxsender@n.example "nx9@example.com"
wait_for 20 results_are nxsender@n.example "0 2 2" &&
    ok "Sendmail's DSN that failed counts for the message's account" ||
    fail "nxsender: sent, bounced, unknown: got '$(results nxsender@n.example)', want '0 2 2' ($(grep 'DSN' "$T/sm/maillog" | tail -2))"
expect_eq "the list's sender: its DSN delivered counted nothing" "$(results news@list.example)" "4 6 6"
finish
