#!/bin/bash
# Carrier backoff: when a carrier's next hop answers 421 after a burst,
# floodgate reads the deferrals in Postfix's log and pauses that domain
# only. Through the socketmap in transport_maps Postfix stops delivering
# to it (no connection reaches the carrier's port during the pause, the
# queued mail is deferred by Postfix's retry service with floodgate's
# text) and new recipients are deferred; other domains flow. After the
# pause the queued mail goes out; a second trip soon after doubles the
# pause. One notification per pause incident, at its start and end.
. "$(dirname "$0")/lib.sh"
setup
SINK_BURST=3/60 SINK_BLOCK=1.5 MAP=1 use_feedback_sink
printf '#!/bin/sh\ncat >> %s\n' "$T/notify.out" > "$T/notify.sh"
chmod 755 "$T/notify.sh"
MPORT=$(free_port)
# The failures counted in 5 minutes: a trip within 5 minutes of the end
# of a pause doubles the next, and step 2 below may wait up to 150 s for
# Postfix to send the queued mail (once seen: 68 s) before step 3's
# second burst.
write_conf <<EOT
metrics 127.0.0.1:$MPORT
delivery_log $T/maillog
postfix_map unix:$T/fg/map.sock
backoff carrier to docomo.test after 2/5m on 4xx for 5s max 1m
notify exec:$T/notify.sh on pause
EOT
start_floodgate
start_postfix

# mails PREFIX N DOMAIN: N one-recipient messages, one session each.
mails() {
	local i
	for i in $(seq 1 "$2"); do
		send "$T/m-$1$i" $SMTP_PORT "sender@t.example" "$1$i@$3"
	done
}
paused_log() { [ "$(log_count "backoff: domain=docomo.test paused")" -ge "$1" ]; }
# taken PREFIX N: how many of those N messages Postfix queued, in
# TAKEN. One submitted after the pause began is deferred at RCPT with
# the pause's text, as it should be (its client retries later; CI once
# saw the carrier trip on the third of burst c while the fourth was
# still being submitted), and is not waited for; any other answer is a
# failure.
taken() {
	local i n=0
	for i in $(seq 1 "$2"); do
		if grep -q "^<- *250 .*queued as" "$T/m-$1$i"; then
			n=$((n + 1))
		elif ! grep -q "^<\*\* *45[01] .*docomo.test paused until" "$T/m-$1$i"; then
			fail "message $1$i: queued or deferred as paused: $(grep '^<\*\*' "$T/m-$1$i" | head -2)"
		fi
	done
	TAKEN=$n
}

# 1. A burst of six: four get through, then the carrier answers 421.
mails a 6 docomo.test
mails b 3 example.com
wait_for 20 paused_log 1 || fail "docomo.test was paused (log: $(grep backoff "$T/floodgate.log"))"
# A pause counts from the second it starts in, so 5s may run just over
# 4 s: the checks that need it running come first (a run under the
# sanitizer, with a 3s pause, once reached the new recipient only after
# the pause had ended).
send "$T/new" $SMTP_PORT sender@t.example new@docomo.test
grep -q "^<\*\* *45[01] .*docomo.test paused until" "$T/new" ||
    fail "a new recipient for the paused domain is deferred: $(grep '^<\*\*' "$T/new")"
send "$T/other" $SMTP_PORT sender@t.example other@example.com
expect_eq "another domain is not paused" "$(count_replies "$T/other" 4..)" 0
grep -q "backoff: domain=docomo.test paused for 5s .* by rule=carrier: [0-9]* temporary failures (4xx) in 5m, pause 1 in a row" "$T/floodgate.log" ||
    fail "the pause is logged with why: $(grep 'paused for' "$T/floodgate.log")"
ctl --json pauses > "$T/pauses.json"
python3 -c "import json,sys; p=[r for r in json.load(open(sys.argv[1]))['records'] if r['type']=='paused']; print(p[0]['since'], p[0]['until'])" "$T/pauses.json" > "$T/pause1" ||
    fail "floodgatectl pauses lists it: $(cat "$T/pauses.json")"
read -r since until < "$T/pause1"
expect_eq "socketmap: the paused domain gets Postfix's retry transport" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport x@docomo.test | cut -d' ' -f1-4)" \
    "OK retry:4.7.0 floodgate: docomo.test"
expect_eq "socketmap: any other domain is not found" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport example.com x@example.com | tr '\n' ' ')" \
    "NOTFOUND  NOTFOUND  "
expect_eq "metrics: the paused domain, by domain and backoff" \
    "$(http_get /metrics | tr -d '\r' | awk '$1 == "floodgate_paused{domain=\"docomo.test\",rule=\"carrier\"}" {print $2}')" 1
[ "$(http_get /metrics | tr -d '\r' | awk '$1 == "floodgate_map_lookups_total{mta=\"postfix\",answer=\"paused\"}" {print $2}')" -ge 1 ] 2>/dev/null &&
    ok "metrics: the socketmap's paused answers are counted" ||
    fail "metrics: $(http_get /metrics | grep map_lookups)"

# 2. During the pause nothing reaches the carrier; afterwards all goes.
# The pause's start is known to the second, and the burst that caused
# it may fill the rest of that second; a message Postfix resolved just
# before keeps its last answer a moment longer (one-entry resolve cache:
# a retry 0.1 s after the pause's second was seen going out). So the
# quiet stretch checked runs from 1.5 s after that second began.
# Up to 150 s: when Postfix's queue scan (every second here) meets a
# deferred file its smtp client still holds, it logs "skipped, still
# being delivered" and moves the file to the incoming queue dated 60 s
# ahead (qmgr_active.c), scanned again at qmgr's next wakeup (10 s in
# lib.sh's master.cf; with Postfix's usual 300 s this check failed once
# in CI: 3 of 4 after 150 s); a message retried alone keeps hitting the
# resolve client's one-entry cache, which holds the paused answer up to
# 30 s past the pause's end.
MAXWAIT=150
# why_queued PREFIX: what Postfix did with those messages, what the map
# answers now and floodgate's pauses (printed when they stay queued).
why_queued() {
	{ grep -E "$1[0-9]@docomo.test|skipped" "$T/maillog" | tail -12 | cut -c1-200
	  echo "map now: $(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport x@docomo.test)"
	  grep -E "backoff:|incident: (started|ended) kind=pause" "$T/floodgate.log" | cut -c1-160
	  postqueue -c "$T/etc" -p | tail -12; } 2>&1 | sed 's/^/    /'
}
taken a 6
na=$TAKEN
wait_for $MAXWAIT sh -c "[ \$(grep -c '^$CARRIER_PORT a' '$T/sink/delivered' 2>/dev/null) -ge $na ]" ||
    { fail "the queued mail went out after the pause: $(grep -c "^$CARRIER_PORT a" "$T/sink/delivered") of $na"
      why_queued a; }
expect_eq "no connection reached the carrier while it was paused" \
    "$(awk -v p="$CARRIER_PORT" -v s="$since" -v u="$until" '$1 == p && $2 > s + 1.5 && $2 < u - 0.3' "$T/sink/connections" | wc -l)" 0
grep -q "status=deferred (floodgate: docomo.test paused until" "$T/maillog" ||
    fail "Postfix deferred the queued mail with floodgate's text"
expect_eq "the clean domain's mail was delivered" "$(delivered b '[0-9]*')" 3

# 3. Another burst soon after: paused again, twice as long. It starts
# once the first pause's end was told: a trip in the same second the
# pause ends continues the incident (one pause, told once).
wait_for 10 sh -c "grep -q '\"event\":\"end\"' '$T/notify.out'" ||
    fail "the first pause's end was told"
mails c 4 docomo.test
wait_for 20 paused_log 2 || fail "docomo.test was paused a second time"
grep -q "paused for 10s .* pause 2 in a row" "$T/floodgate.log" ||
    fail "the second pause doubles: $(grep 'paused for' "$T/floodgate.log" | tail -1)"
# The second pause's end first: a message retried alone as the pause
# began may still go out during it (the resolve cache, README; seen in
# CI 2 s into it), so its delivery does not say the pause is over.
wait_for 30 sh -c "[ \$(grep -c '\"event\":\"end\"' '$T/notify.out' 2>/dev/null) -ge 2 ]" ||
    fail "the second pause's end was told"
taken c 4
nc=$TAKEN
wait_for $MAXWAIT sh -c "[ \$(grep -c '^$CARRIER_PORT c' '$T/sink/delivered' 2>/dev/null) -ge $nc ]" ||
    { fail "the second burst went out after the second pause: $(grep -c "^$CARRIER_PORT c" "$T/sink/delivered") of $nc queued"
      why_queued c; }
expect_eq "notifications: one start and one end for each pause" \
    "$(grep -o '"event":"[a-z]*","kind":"pause"' "$T/notify.out" | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" "2 2 "
ctl unpause docomo.test > "$T/unpause" 2>&1
grep -q "not paused" "$T/unpause" || fail "unpause of a domain that is not paused says so: $(cat "$T/unpause")"
finish
