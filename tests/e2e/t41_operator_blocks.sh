#!/bin/bash
# An operator's own stop, before any rule trips: floodgatectl suspend
# ACCOUNT defers that tenant's new recipients and holds its local mail
# until floodgatectl resume, while every other tenant's mail flows; it
# survives a restart, is an incident told like a rule's, and the held
# mail goes at the first release after the resume; suspend ACCOUNT
# DURATION ends by itself (said again, at a new end). floodgatectl pause
# DOMAIN DURATION defers new recipients for the domain and answers the
# socketmap paused, for as long as said (said again: a new end; a pause
# of days says its end's date), then mail to it goes again; a pattern
# *.DOMAIN pauses the subdomains. With mode
# monitor both are refused, and a pause kept from enforce mode holds
# nothing, socketmap included.
. "$(dirname "$0")/lib.sh"
setup
MAP=1 use_feedback_sink
postconf -c "$T/etc" -e "non_smtpd_milters = unix:$T/fg/milter.sock"
touch -d '-10 seconds' "$T/etc/main.cf"
printf '#!/bin/sh\ncat >> %s\n' "$T/notify.out" > "$T/notify.sh"
chmod 755 "$T/notify.sh"
MPORT=$(free_port)
write_conf <<EOT
metrics 127.0.0.1:$MPORT
postfix_config $T/etc
postfix_map unix:$T/fg/map.sock
notify exec:$T/notify.sh on suspend,pause
limit tenant-hour per account 100/1h
exempt account monitor@good.tenant
group kddi ezweb.test au.test *.ezweb.test
EOT
start_floodgate
start_postfix
told() {	# told EVENT KIND SUBJECT: notifications of that kind
	grep -c "\"event\":\"$1\",\"kind\":\"$2\",\"subject\":\"$3\"" "$T/notify.out" 2>/dev/null || true
}

# 1. suspend: the tenant stops at once, the other goes on.
ctl suspend bad@bad.tenant > "$T/suspend" 2>&1 ||
    fail "floodgatectl suspend: $(cat "$T/suspend")"
grep -q "^suspended *yes" "$T/suspend" || fail "suspend says so: $(cat "$T/suspend")"
grep -q "control: suspend account=bad@bad.tenant until floodgatectl resume; asked by uid=0 (root)" "$T/floodgate.log" ||
    fail "the suspension is logged: $(grep control: "$T/floodgate.log")"
ctl suspend bad@bad.tenant > "$T/suspend2" 2>&1 &&
    fail "a second suspend of the same account fails"
grep -q "bad@bad.tenant is suspended already (by floodgatectl) until floodgatectl resume; give a duration" "$T/suspend2" ||
    fail "a second suspend says why: $(cat "$T/suspend2")"
send "$T/bad1" $SMTP_PORT bad@bad.tenant u1@example.com
expect_eq "suspended: the tenant's recipient is deferred" "$(count_replies "$T/bad1" 451)" 1
grep -q "451 4.7.1 floodgate: account suspended" "$T/bad1" ||
    fail "suspended: the reply says so: $(grep '^<\*\*' "$T/bad1")"
ctl explain bad@bad.tenant u1@example.com > "$T/explain1"
expect_eq "explain: the suspension decides" \
    "$(awk 'NF == 0 {exit} $1 ~ /^(verdict|rule|retry|reason)$/ {print $2}' "$T/explain1" | tr '\n' ' ')" "defer floodgatectl - suspended "
send "$T/good1" $SMTP_PORT good@good.tenant u2@example.com
expect_eq "another tenant is not held back" "$(count_replies "$T/good1" 4..)" 0
printf 'Subject: local\n\nfrom a script\n' | submit bad@bad.tenant u3@example.com
wait_for 5 sh -c "[ \$(find '$T/spool/hold' -type f | wc -l) -ge 1 ]" ||
    fail "suspended: the tenant's local mail is held"
ctl held > "$T/held"
grep -q "^account *bad@bad.tenant" "$T/held" && grep -q "^rule *floodgatectl" "$T/held" ||
    fail "held lists it, held by floodgatectl: $(cat "$T/held")"
expect_eq "held ACCOUNT: the tenant's held mail, and none of another's" \
    "$(ctl held bad@bad.tenant | awk '$1 == "account" {print $2}') $(ctl held good@good.tenant)" "bad@bad.tenant (nothing)"
ctl show bad@bad.tenant > "$T/show"
grep -q "^suspended *yes" "$T/show" && grep -q "^suspended_by *floodgatectl" "$T/show" ||
    fail "show: suspended by floodgatectl: $(head -5 "$T/show")"
wait_for 10 sh -c "grep -q '\"event\":\"start\",\"kind\":\"suspend\"' '$T/notify.out'" ||
    fail "the suspension is told"
grep -q '"detail":"suspended by floodgatectl suspend; ' "$T/notify.out" ||
    fail "the notification says who suspended: $(cat "$T/notify.out")"
expect_eq "metrics: the suspension, by floodgatectl" \
    "$(http_get /metrics | tr -d '\r' | awk '$1 == "floodgate_suspended_accounts{rule=\"floodgatectl\"}" {print $2}')" 1
ctl suspend other@bad.tenant > /dev/null || fail "suspend a second account"
# The README's way to drop what a suspended tenant's script queued.
printf 'Subject: spam\n\nfrom a script\n' | submit other@bad.tenant u9@example.com
wait_for 5 sh -c "[ \$(find '$T/spool/hold' -type f | wc -l) -ge 2 ]" ||
    fail "the second tenant's local mail is held"
ctl --json held other@bad.tenant |
    python3 -c 'import json,sys; [print(r["queue_id"]) for r in json.load(sys.stdin)["records"]]' |
    postsuper -c "$T/etc" -d - 2> "$T/postsuper.err"
grep -q "postsuper: Deleted: 1 message" "$T/postsuper.err" ||
    fail "postsuper -d of the tenant's held mail: $(cat "$T/postsuper.err")"
brief_end=$(ctl --json suspend brief@bad.tenant 3s | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["until"])') ||
    fail "suspend a third account for 3s"
expect_eq "metrics: the suspensions by floodgatectl, counted once each" \
    "$(http_get /metrics | tr -d '\r' | grep -c '^floodgate_suspended_accounts{') $(http_get /metrics | tr -d '\r' | awk '$1 == "floodgate_suspended_accounts{rule=\"floodgatectl\"}" {print $2}')" "1 3"
# At its end, before the next service tick drops it.
python3 -c 'import sys,time; time.sleep(max(0, int(sys.argv[1]) - time.time() + 0.02))' "$brief_end"
expect_eq "metrics: one whose end passed is not counted" \
    "$(http_get /metrics | tr -d '\r' | awk '$1 == "floodgate_suspended_accounts{rule=\"floodgatectl\"}" {print $2}')" 2
ctl resume other@bad.tenant > /dev/null || fail "resume the second account"

# 2. A restart keeps it; resume lifts it and the held mail goes.
stop_floodgate
start_floodgate
send "$T/bad2" $SMTP_PORT bad@bad.tenant u4@example.com
expect_eq "after a restart: still suspended" "$(count_replies "$T/bad2" 451)" 1
ctl resume bad@bad.tenant > /dev/null || fail "floodgatectl resume"
send "$T/bad3" $SMTP_PORT bad@bad.tenant u5@example.com
expect_eq "resumed: the tenant sends again" "$(count_replies "$T/bad3" 4..)" 0
ctl release > "$T/release" 2>&1 || fail "floodgatectl release: $(cat "$T/release")"
wait_for 20 sh -c "[ \$(grep -c ' u3@example.com' '$T/sink/delivered' 2>/dev/null) -ge 1 ]" ||
    fail "the held local mail went at the release after the resume: $(cat "$T/release")"
expect_eq "the held mail deleted by hand: gone from the list at the release, never sent" \
    "$(grep -c 'gone from the hold queue' "$T/release") $(ctl held other@bad.tenant) $(grep -c ' u9@example.com' "$T/sink/delivered")" "1 (nothing) 0"
resume_told() { [ "$(told end suspend bad@bad.tenant)" -ge 1 ]; }
wait_for 10 resume_told || fail "the resume is told"
expect_eq "suspend told once at its start and once at its end, across the restart" \
    "$(told start suspend bad@bad.tenant) $(told end suspend bad@bad.tenant)" "1 1"

# A suspension for a while: said again, a new end; over by itself at
# that end, told as one incident ended.
ctl suspend timed@bad.tenant 1h > "$T/tsuspend" 2>&1 || fail "suspend for 1h: $(cat "$T/tsuspend")"
grep -q "control: suspend account=timed@bad.tenant for 1h until .* UTC; asked by uid=0 (root)" "$T/floodgate.log" ||
    fail "the suspension for 1h is logged: $(grep 'control: suspend' "$T/floodgate.log")"
ctl suspend timed@bad.tenant 3s > "$T/tsuspend" 2>&1 || fail "suspend again for 3s: $(cat "$T/tsuspend")"
grep -q "control: suspend account=timed@bad.tenant for 3s until .* UTC (it was suspended by floodgatectl: its end moved); asked by uid=0 (root)" "$T/floodgate.log" ||
    fail "the new end is logged: $(grep 'control: suspend' "$T/floodgate.log")"
ctl --json show timed@bad.tenant > "$T/tshow"
python3 -c 'import json,sys,time; r=json.load(open(sys.argv[1]))["records"][0]; sys.exit(0 if r["suspended"] == "yes" and 0 < r["until"] - time.time() <= 3 else 1)' "$T/tshow" &&
    ok "show: suspended, until its end" || fail "show: $(cat "$T/tshow")"
send "$T/t1" $SMTP_PORT timed@bad.tenant u6@example.com
expect_eq "suspended for 3s: the tenant's recipient is deferred" "$(count_replies "$T/t1" 451)" 1
grep -q "^<\*\* *451 4.7.1 floodgate: account suspended until [0-9][0-9]:[0-9][0-9] UTC" "$T/t1" ||
    fail "suspended for 3s: the reply says until when: $(grep '^<\*\*' "$T/t1")"
sleep 3.5
send "$T/t2" $SMTP_PORT timed@bad.tenant u7@example.com
expect_eq "after its end: the tenant sends again, no resume needed" "$(count_replies "$T/t2" 4..)" 0
wait_for 10 sh -c "[ \$(grep -c '\"event\":\"end\",\"kind\":\"suspend\",\"subject\":\"timed@bad.tenant\"' '$T/notify.out' 2>/dev/null) -ge 1 ]" ||
    fail "the end of the suspension for 3s is told"
grep -q '"detail":"suspended by floodgatectl suspend until [0-9-]* [0-9:]* UTC; ' "$T/notify.out" ||
    fail "the notification says until when: $(grep timed@ "$T/notify.out")"
expect_eq "the suspension whose end moved is told once at its start and once at its end" \
    "$(told start suspend timed@bad.tenant) $(told end suspend timed@bad.tenant)" "1 1"
ctl status > "$T/tstatus"
grep -q "timed@bad.tenant" "$T/tstatus" && fail "status still lists the ended suspension: $(cat "$T/tstatus")"

# 3. pause: the carrier asked for a stop; nothing new is taken for it.
ctl pause docomo.test 1h > "$T/pause" 2>&1 || fail "floodgatectl pause: $(cat "$T/pause")"
grep -q "^paused *yes" "$T/pause" || fail "pause says so: $(cat "$T/pause")"
grep -q "control: pause domain=docomo.test for 1h until .*; asked by uid=0 (root)" "$T/floodgate.log" ||
    fail "the pause is logged: $(grep control: "$T/floodgate.log")"
send "$T/p1" $SMTP_PORT good@good.tenant a1@docomo.test
grep -q "^<\*\* *45[01] .*floodgate: docomo.test paused until" "$T/p1" ||
    fail "paused: a new recipient is deferred: $(grep '^<\*\*' "$T/p1")"
ctl explain monitor@good.tenant a1@docomo.test > "$T/explain2"
expect_eq "explain: the pause decides, for an exempt sender too" \
    "$(awk 'NF == 0 {exit} $1 ~ /^(verdict|rule|reason)$/ {$1 = ""; print substr($0, 2)}' "$T/explain2" | tr '\n' ' ')" "defer floodgatectl paused docomo.test "
send "$T/p2" $SMTP_PORT good@good.tenant a2@example.com
expect_eq "paused: another domain is not" "$(count_replies "$T/p2" 4..)" 0
expect_eq "paused: the socketmap holds the queued mail" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport x@docomo.test | cut -d' ' -f1-4)" \
    "OK retry:4.7.0 floodgate: docomo.test"
expect_eq "paused: in fullwidth letters (an SMTPUTF8 lookup) and capitals too" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport x@ｄｏｃｏｍｏ.test DOCOMO.TEST. | cut -d' ' -f1-4 | tr '\n' ' ')" \
    "OK retry:4.7.0 floodgate: docomo.test OK retry:4.7.0 floodgate: docomo.test "
ctl pauses > "$T/pauses"
grep -q "^domain *docomo.test" "$T/pauses" && grep -q "^rule *floodgatectl" "$T/pauses" ||
    fail "pauses lists it, by floodgatectl: $(cat "$T/pauses")"
http_get /metrics | tr -d '\r' > "$T/metrics.pause"
expect_eq "metrics: the pause is in floodgate_paused, by floodgatectl, not counted as a backoff's" \
    "$(awk '$1 == "floodgate_paused{domain=\"docomo.test\",rule=\"floodgatectl\"}" || $1 == "floodgate_pauses_total" {print $2}' "$T/metrics.pause" | tr '\n' ' ')" "0 1 "
wait_for 10 sh -c "grep -q '\"event\":\"start\",\"kind\":\"pause\"' '$T/notify.out'" ||
    fail "the pause is told"
grep -q '"detail":"paused by floodgatectl pause until ' "$T/notify.out" ||
    fail "the notification says who paused: $(grep pause "$T/notify.out")"
# Said again, a shorter end; then mail to the domain goes again.
ctl pause docomo.test 2s > "$T/pause2" 2>&1 || fail "pause again: $(cat "$T/pause2")"
grep -q "it was paused: its end moved" "$T/floodgate.log" || fail "the new end is logged"
sleep 3
send "$T/p3" $SMTP_PORT good@good.tenant a3@docomo.test
expect_eq "after the pause's end: the domain takes mail again" "$(count_replies "$T/p3" 4..)" 0
wait_for 20 sh -c "[ \$(grep -c ' a3@docomo.test' '$T/sink/delivered' 2>/dev/null) -ge 1 ]" ||
    fail "the message for the domain was delivered after the pause"
wait_for 10 sh -c "[ \$(grep -c '\"event\":\"end\",\"kind\":\"pause\"' '$T/notify.out' 2>/dev/null) -ge 1 ]" ||
    fail "the pause's end is told"
expect_eq "pause told once at its start and once at its end" \
    "$(told start pause docomo.test) $(told end pause docomo.test)" "1 1"

# A group's domains and patterns at once.
ctl pause @kddi 1h > "$T/gpause" 2>&1 || fail "pause @kddi: $(cat "$T/gpause")"
expect_eq "pause @GROUP: each of its domains and patterns paused" \
    "$(awk 'NR > 1 {print $1, $2}' "$T/gpause" | tr '\n' ',')" \
    "ezweb.test yes,au.test yes,*.ezweb.test yes,"
expect_eq "pauses: in the order of their names" \
    "$(ctl pauses | awk 'NR > 1 {print $1}' | tr '\n' ',')" \
    "*.ezweb.test,au.test,ezweb.test,"
send "$T/g1" $SMTP_PORT good@good.tenant a5@au.test
grep -q "^<\*\* *45[01] .*floodgate: au.test paused until" "$T/g1" ||
    fail "pause @GROUP: a recipient for one of its domains is deferred: $(grep '^<\*\*' "$T/g1")"
send "$T/g3" $SMTP_PORT good@good.tenant a7@x.ezweb.test
grep -q "^<\*\* *45[01] .*floodgate: x.ezweb.test paused until" "$T/g3" &&
    ok "pause @GROUP: a recipient at a subdomain its pattern names is deferred" ||
    fail "pause @GROUP, pattern: $(grep '^<\*\*' "$T/g3")"
ctl unpause @kddi > "$T/gunpause" 2>&1 || fail "unpause @kddi: $(cat "$T/gunpause")"
expect_eq "unpause @GROUP: each paused domain ended" \
    "$(awk 'NR > 1 {print $1, $2}' "$T/gunpause" | tr '\n' ',')" "ezweb.test no,au.test no,*.ezweb.test no,"

# A pattern typed: its subdomains, not the domain itself.
ctl pause '*.pdx.test' 1h > "$T/ppause" 2>&1 || fail "pause *.pdx.test: $(cat "$T/ppause")"
send "$T/q1" $SMTP_PORT good@good.tenant a8@b.pdx.test
send "$T/q2" $SMTP_PORT good@good.tenant a9@pdx.test
expect_eq "pause *.pdx.test: b.pdx.test deferred, pdx.test not" \
    "$(grep -c '^<\*\* *45[01] .*floodgate: b.pdx.test paused until' "$T/q1") $(count_replies "$T/q2" 4..)" "1 0"
expect_eq "pause *.pdx.test: the socketmap holds a subdomain's queued mail" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport x@c.pdx.test | cut -d' ' -f1-4)" \
    "OK retry:4.7.0 floodgate: c.pdx.test"
wait_for 10 grep -q 'incident: started kind=pause subject="\*.pdx.test"' "$T/floodgate.log" ||
    fail "the pattern's pause is one incident: $(grep 'incident:' "$T/floodgate.log" | tail -2)"
ctl unpause b.pdx.test > "$T/punpause" 2>&1 && fail "unpause of a subdomain held by a pattern is refused"
grep -q "b.pdx.test is paused by the pause of \*.pdx.test; unpause \*.pdx.test" "$T/punpause" ||
    fail "unpause of a subdomain says whose pause holds it: $(cat "$T/punpause")"
ctl unpause '*.pdx.test' > /dev/null || fail "unpause *.pdx.test"
wait_for 10 sh -c "grep -q '\"event\":\"end\",\"kind\":\"pause\",\"subject\":\"\\*.pdx.test\"' '$T/notify.out'" ||
    fail "the pattern's pause is told as ended: $(grep pdx "$T/notify.out")"
ctl unpause @kddi > "$T/gunpause2" 2>&1 && fail "unpause @GROUP with none paused fails"
grep -q "no domain of @kddi is paused" "$T/gunpause2" || fail "unpause @GROUP says none is: $(cat "$T/gunpause2")"
# A pause of days: the replies say the end's date as well.
ctl pause au.test 2d > /dev/null || fail "pause au.test 2d"
send "$T/g2" $SMTP_PORT good@good.tenant a6@au.test
# (rounded up to the minute: a pause begun in the last minute of a day
# ends on the next)
end="($(date -u -d '+2 days' +%Y-%m-%d)|$(date -u -d '+2 days 2 minutes' +%Y-%m-%d))"
grep -qE "^<\*\* *45[01] .*floodgate: au.test paused until $end [0-9]{2}:[0-9]{2} UTC" "$T/g2" &&
    ok "a pause of 2d: the reply says its end's date ($end)" ||
    fail "a pause of 2d: $(grep '^<\*\*' "$T/g2")"
expect_eq "a pause of 2d: so does the socketmap" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport x@au.test |
    grep -cE "^OK retry:4.7.0 floodgate: au.test paused until $end [0-9]{2}:[0-9]{2} UTC\$")" 1
ctl unpause au.test > /dev/null || fail "unpause au.test"

# A client that sends what is not a socketmap request is answered PERM
# and closed; the map goes on answering others.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b"x1:transport a@b.test,")
got = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
print(got.decode())' "$T/fg/map.sock" > "$T/smap-bad" 2>&1
expect_eq "socketmap: a malformed request gets PERM, then the connection is closed" \
    "$(cat "$T/smap-bad")" "33:PERM floodgate: malformed request,"
expect_eq "socketmap: and the map still answers" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport x@example.com | cut -d" " -f1)" NOTFOUND
grep -q "postfix_map: a client sent what is not a socketmap request; closing it" "$T/floodgate.log" ||
    fail "socketmap: the malformed request is logged: $(grep -i socketmap "$T/floodgate.log" | tail -2)"

# 4. What floodgatectl refuses.
ctl suspend monitor@good.tenant > "$T/bad" 2>&1 && fail "suspend of an exempt account is refused"
grep -q "monitor@good.tenant is exempt (floodgate.conf's exempt account): a suspension would not stop it" "$T/bad" ||
    fail "suspend of an exempt account says why: $(cat "$T/bad")"
for bad in "pause docomo.test" "pause docomo.test 0s" "pause docomo.test 400d" "pause docomo.test soon" "pause @@ 1h" "pause @nosuchgroup 1h" "suspend" "suspend bad@bad.tenant soon" "suspend bad@bad.tenant 0s" "suspend bad@bad.tenant 1h extra"; do
	ctl $bad > "$T/bad" 2>&1 && fail "floodgatectl $bad is refused"
	grep -q "expected\|no such group in" "$T/bad" || fail "floodgatectl $bad: says what it expected: $(cat "$T/bad")"
done
# Lifting what is not there: an error (exit 1) that says so.
ctl resume never@bad.tenant > /dev/null 2> "$T/bad"
expect_eq "resume of an account not suspended: exit 1, says so" \
    "$? $(grep -c 'resume: never@bad.tenant is not suspended' "$T/bad")" "1 1"
ctl unpause never.test > /dev/null 2> "$T/bad"
expect_eq "unpause of a domain not paused: exit 1, says so" \
    "$? $(grep -c 'unpause: never.test is not paused' "$T/bad")" "1 1"
# 5. With mode monitor floodgate refuses no mail: neither command is
# taken, and a pause made before the reload holds nothing, at RCPT or in
# the socketmap (Postfix's queue).
ctl pause docomo.test 1h > /dev/null || fail "pause before mode monitor"
echo "mode monitor" >> "$T/floodgate.conf"
ctl reload > /dev/null || fail "reload to mode monitor"
for c in "suspend bad@bad.tenant" "pause docomo.test 1h"; do
	ctl $c > "$T/bad" 2>&1 && fail "floodgatectl $c is refused in mode monitor"
	grep -q "mode monitor refuses no mail, so it [a-z]* nothing either; set mode enforce first" "$T/bad" ||
	    fail "floodgatectl $c in mode monitor says why: $(cat "$T/bad")"
done
expect_eq "mode monitor: the socketmap lets the paused domain through" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport x@docomo.test | cut -d' ' -f1)" NOTFOUND
send "$T/m1" $SMTP_PORT good@good.tenant a4@docomo.test
expect_eq "mode monitor: a recipient for the paused domain is accepted" "$(count_replies "$T/m1" 4..)" 0
grep -q "account=good@good.tenant .*rule=floodgatectl dest=docomo.test action=paused .*mode=monitor" "$T/floodgate.log" ||
    fail "mode monitor: logged as the pause would have refused it: $(grep 'a4\|dest=docomo.test' "$T/floodgate.log" | tail -2)"
finish
