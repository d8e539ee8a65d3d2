#!/bin/bash
# Delivery feedback: a tenant mailing a list where 40 % of the addresses
# do not exist is stopped once its unknown recipients reach the limit
# (defer, hold and suspend, each), while a clean tenant sending the same
# volume to the same destinations is not; with ratio, a big sender with a
# few bounces is left alone and a small one with many is not. Every
# result comes from Postfix's own log (maillog_file) of deliveries to a
# next hop that refuses nx* with 550 5.1.1. floodgatectl shows it, one
# notification per incident reaches the exec target and the mailto one
# (through the milter, as local mail, never limited), and none is sent
# again after a restart.
. "$(dirname "$0")/lib.sh"
setup
use_feedback_sink
postconf -c "$T/etc" -e "non_smtpd_milters = unix:$T/fg/milter.sock"
touch -d '-10 seconds' "$T/etc/main.cf"
cat > "$T/notify.sh" <<EOT
#!/bin/sh
cat >> "$T/notify-\$1.out"
EOT
chmod 755 "$T/notify.sh"
# An exec target takes no arguments: one wrapper per kind of event.
printf '#!/bin/sh\nexec %s suspend\n' "$T/notify.sh" > "$T/notify-suspend.sh"
printf '#!/bin/sh\nexec %s bounces\n' "$T/notify.sh" > "$T/notify-bounces.sh"
chmod 755 "$T/notify-suspend.sh" "$T/notify-bounces.sh"
MPORT=$(free_port)
write_conf <<EOT
metrics 127.0.0.1:$MPORT
delivery_log $T/maillog
postfix_config $T/etc
notify exec:$T/notify-suspend.sh on suspend
notify exec:$T/notify-bounces.sh on bounces
notify mailto:admin@notify.example on suspend
notify_from floodgate@floodgate.test
limit fbdefer per account+domain to defer.example 5/1h count unknown action defer
limit fbhold per account+domain to hold.example 5/1h count unknown action hold
limit fbsusp per account to susp.example 5/1h count unknown action suspend
limit ratio per account to ratio.example 8/1h count unknown ratio 30% action defer
# Local mail to notify.example past one message an hour would be held:
# floodgate's own notifications never are.
limit tight per account to notify.example 1/1h
limit tiny per account to tiny.example 1/1h
EOT
start_floodgate
start_postfix

# 1. Three lists of 15 with 6 unknown, and a clean tenant of the same volume.
for d in defer hold susp; do
	send "$T/l-$d" $SMTP_PORT "list@$d.tenant" "$(list 15 6 $d.example)"
	send "$T/c-$d" $SMTP_PORT clean@c.tenant "$(list 15 0 $d.example)"
done
wait_for 30 results_read 90 || fail "floodgate read 90 delivery results (status: $(ctl status | grep -E '^(sent|bounced|unknown|delivery_lines) ' | tr '\n' ' '))"
expect_eq "unknown recipients counted from the log" "$(ctl status | awk '$1 == "unknown" {print $2}')" 18
# Bounces reach the windows two seconds after they are read (they wait
# for the same message's delivered recipients, logged after DATA).
for k in fbdefer:list@defer.tenant/defer.example fbhold:list@hold.tenant/hold.example fbsusp:list@susp.tenant; do
	wait_for 8 grep -q "rule=${k%%:*} key=${k#*:} tripped" "$T/floodgate.log" ||
	    fail "the ${k%%:*} rule tripped for ${k#*:}"
done

send "$T/l-defer2" $SMTP_PORT list@defer.tenant u100@defer.example
expect_eq "defer: the list sender's next recipient is deferred" "$(count_replies "$T/l-defer2" 451)" 1
grep -q "too many unknown recipients (5/1h)" "$T/l-defer2" ||
    fail "defer: the reply says why: $(grep '451' "$T/l-defer2")"
send "$T/c-defer2" $SMTP_PORT clean@c.tenant u100@defer.example
expect_eq "defer: the clean sender's is not" "$(count_replies "$T/c-defer2" 4..)" 0
ctl explain list@defer.tenant u101@defer.example > "$T/explain-defer"
expect_eq "explain: the tripped feedback limit decides, and says so" \
    "$(awk 'NF == 0 {exit} $1 ~ /^(verdict|rule|reason)$/ {print $2}' "$T/explain-defer" | tr '\n' ' ')" "defer fbdefer feedback "
expect_eq "explain shows the feedback limit's window" \
    "$(sed '1,/^$/d' "$T/explain-defer" | awk '$1 ~ /^(rule|key|unknown|limit|status)$/ {print $2}' | tr '\n' ' ')" \
    "fbdefer list@defer.tenant/defer.example 6 5 tripped "
ctl explain clean@c.tenant u101@defer.example > "$T/explain-clean"
grep -q "^verdict *pass$" "$T/explain-clean" || fail "explain: the clean sender passes: $(cat "$T/explain-clean")"

send "$T/l-hold2" $SMTP_PORT list@hold.tenant u100@hold.example
expect_eq "hold: the list sender's next message is accepted" "$(count_replies "$T/l-hold2" 4..)" 0
wait_for 5 sh -c "postqueue -c '$T/etc' -j | grep -q '\"hold\"'" ||
    fail "hold: the message is in Postfix's hold queue"
ctl held > "$T/held"
grep -q "^account *list@hold.tenant" "$T/held" && grep -q "^rule *fbhold" "$T/held" ||
    fail "hold: floodgatectl held lists it with its rule: $(cat "$T/held")"

send "$T/l-susp2" $SMTP_PORT list@susp.tenant u100@other.example
expect_eq "suspend: the list sender is deferred to any destination" "$(count_replies "$T/l-susp2" 451)" 1
grep -q "floodgate: account suspended" "$T/l-susp2" || fail "suspend: 451 4.7.1 floodgate: account suspended"
# What a suspension defers is tallied by destination for its incident:
# 40 domains more than the incident's 32 places (its end is told below).
send "$T/l-susp-many" $SMTP_PORT list@susp.tenant "$(seq -f 'u1@d%g.example' 1 40 | paste -sd,)"
expect_eq "suspend: 40 recipients on 40 domains deferred" "$(count_replies "$T/l-susp-many" 451)" 40
expect_eq "explain: the suspension decides, by its rule" \
    "$(ctl explain list@susp.tenant u101@other.example | awk 'NF == 0 {exit} $1 ~ /^(verdict|rule|reason)$/ {print $2}' | tr '\n' ' ')" "defer fbsusp suspended "
send "$T/c-susp2" $SMTP_PORT clean@c.tenant u100@susp.example
expect_eq "suspend: the clean sender is not" "$(count_replies "$T/c-susp2" 4..)" 0
ctl status > "$T/status"
grep -q "^account *list@susp.tenant" "$T/status" && grep -q "^rule *fbsusp" "$T/status" ||
    fail "status lists the suspension: $(cat "$T/status")"
ctl show list@susp.tenant > "$T/show"
grep -q "^suspended *yes" "$T/show" || fail "show: suspended yes"
grep -q "fbsusp .*15 .*9 .*6 .*6 .*5" "$T/show" ||
    fail "show: fbsusp's window with results, sent, bounced, unknown, limit: $(grep fbsusp "$T/show")"
ctl top --by unknown > "$T/top"
expect_eq "top --by unknown: the three lists, 6 unknown each" \
    "$(awk '/^list@/ {print $NF}' "$T/top" | sort -u | tr '\n' ' ')" "6 "
grep -q "^clean@" "$T/top" && fail "top --by unknown: the clean sender is not listed"

# 2. ratio: 9 unknown of 40 (22 %) passes, 9 of 20 (45 %) does not.
send "$T/big" $SMTP_PORT big@r.tenant "$(list 40 9 ratio.example)"
send "$T/small" $SMTP_PORT small@r.tenant "$(list 20 9 ratio.example)"
wait_for 30 results_read 150 || fail "floodgate read the ratio senders' 60 results"
wait_for 8 grep -q "rule=ratio key=small@r.tenant tripped" "$T/floodgate.log" ||
    fail "the ratio rule tripped for the small sender"
expect_eq "  ... its log line names the ratio, a rule without one none" \
    "$(grep -c "rule=ratio key=small@r.tenant tripped: 9 unknown recipients of 20 final results in 1h (limit 8, ratio 30%) action=defer$" "$T/floodgate.log").$(grep -c "rule=fbdefer key=.* tripped: .* (limit 5) action=defer$" "$T/floodgate.log")" 1.1
sleep 1	# the big sender's bounces have settled too
send "$T/big2" $SMTP_PORT big@r.tenant u100@ratio.example
expect_eq "ratio: the big sender with 22 % unknown goes on" "$(count_replies "$T/big2" 4..)" 0
send "$T/small2" $SMTP_PORT small@r.tenant u100@ratio.example
expect_eq "ratio: the small one with 45 % unknown is deferred" "$(count_replies "$T/small2" 451)" 1

# Metrics: results by status, trips by rule, suspensions by rule; no account.
# Delivery results may still be arriving (the clean and big senders'
# last messages): read both until they agree, then compare.
metric() { awk -v m="$1" '$1 == m {print $2}' "$T/metrics"; }
sent_agree() {
	http_get /metrics | tr -d '\r' > "$T/metrics"
	ctl status | awk '$1 == "sent" {print $2}' > "$T/status-sent"
	[ -s "$T/status-sent" ] &&
	    [ "$(metric 'floodgate_delivery_results_total{status="sent"}')" = "$(cat "$T/status-sent")" ]
}
wait_for 10 sent_agree ||
    fail "metrics: sent results as in status: got $(metric 'floodgate_delivery_results_total{status="sent"}'), status $(cat "$T/status-sent")"
[ "$(cat "$T/status-sent")" -ge 114 ] && ok "metrics: sent results as in status ($(cat "$T/status-sent"))" ||
    fail "metrics: at least the 114 sent results of the lists: $(cat "$T/status-sent")"
expect_eq "metrics: bounced results" "$(metric 'floodgate_delivery_results_total{status="bounced"}')" 36
expect_eq "metrics: trips by rule" "$(metric 'floodgate_feedback_trips_total{rule="fbhold"}') $(metric 'floodgate_feedback_trips_total{rule="ratio"}')" "1 1"
expect_eq "metrics: suspended accounts by rule" "$(metric 'floodgate_suspended_accounts{rule="fbsusp"}')" 1
grep -q "tenant" "$T/metrics" && fail "an account appears in /metrics" || ok "no account appears in /metrics"

# A rate limit refusing an account is an incident too (not notified
# by default).
send "$T/tiny" $SMTP_PORT x@t.example "$(list 2 0 tiny.example)"
wait_for 5 sh -c "'$FLOODGATECTL' -c '$T/floodgate.conf' incidents 2>/dev/null | grep -q ' refused .*x@t.example'" ||
    fail "a refused incident for x@t.example: $(ctl incidents)"

# 3. The operator gives the rule's suspension an end (floodgatectl
# suspend ACCOUNT DURATION, no resume): it is the operator's then, and
# over at that end; mail flows again, and the suspension's end is told
# once.
susp_end=$(ctl --json suspend list@susp.tenant 4s | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["until"])') ||
    fail "suspend for 4s"
grep -q "control: suspend account=list@susp.tenant for 4s until .* UTC (it was suspended by fbsusp: its end moved); asked by" "$T/floodgate.log" ||
    fail "the new end is logged: $(grep 'control: suspend' "$T/floodgate.log")"
expect_eq "suspended, now by floodgatectl with an end" \
    "$(ctl show list@susp.tenant | awk 'NF == 0 {exit} $1 == "suspended_by" {print $2} $1 == "until" {print ($2 != "-")}' | tr '\n' ' ')" "floodgatectl 1 "
send "$T/l-susp3a" $SMTP_PORT list@susp.tenant u102@other.example
grep -q "^<\*\* *451 4.7.1 floodgate: account suspended until " "$T/l-susp3a" ||
    fail "until its end, deferred with the end said: $(grep '^<\*\*' "$T/l-susp3a")"
python3 -c 'import sys,time; time.sleep(max(0, int(sys.argv[1]) - time.time() + 0.2))' "$susp_end"
send "$T/l-susp3" $SMTP_PORT list@susp.tenant u101@other.example
expect_eq "after the end set by hand: the account sends again" "$(count_replies "$T/l-susp3" 4..)" 0
wait_for 10 sh -c "[ \$(grep -c '\"event\":\"end\"' '$T/notify-suspend.out' 2>/dev/null) -ge 1 ]" ||
    fail "the end of the suspension was told"
expect_eq "exec on suspend: one start, one end" \
    "$(grep -o '"event":"[a-z]*","kind":"suspend","subject":"list@susp.tenant"' "$T/notify-suspend.out" | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" "1 1 "
expect_eq "the suspension's end: its count, and its top five destinations of 41" "$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "end" and e["kind"] == "suspend":
        names = [t["name"] for t in e["top"]]
        ok = all(n == "other.example" or n.endswith(".example") and n[0] == "d" for n in names)
        print(e["count"], len(names), len(set(names)), ok, sum(t["count"] for t in e["top"]) <= e["count"])
' "$T/notify-suspend.out")" "42 5 5 True True"
expect_eq "exec on bounces: one start for each of the four tripped rules" \
    "$(grep -c '"event":"start","kind":"bounces"' "$T/notify-bounces.out")" 4
wait_for 20 sh -c "[ \$(grep -c 'admin@notify.example' '$T/sink/delivered') -ge 2 ]"
expect_eq "mailto: both reached the admin, through the milter" "$(delivered admin@notify.example)" 2
expect_eq "mailto: floodgate let its own notifications through untouched" \
    "$(log_count "floodgate's own notification, not limited")" 2

# 4. A restart tells nothing again.
stop_floodgate
start_floodgate
sleep 3
expect_eq "after a restart: still four bounces notifications" \
    "$(grep -c '"kind":"bounces"' "$T/notify-bounces.out")" 4
expect_eq "after a restart: still two suspend notifications" \
    "$(grep -c '"kind":"suspend"' "$T/notify-suspend.out")" 2
ctl incidents > "$T/incidents"
expect_eq "incidents: four bounces open, the suspension ended, the refusal open" \
    "$(grep -c ' bounces .* open ' "$T/incidents") $(grep -c ' suspend .* ended ' "$T/incidents") $(grep -c ' refused .* open ' "$T/incidents")" "4 1 1"
# Whom each was told to, as the database kept it over the restart: the
# refusal, which no notify target takes, to no one (before, "start", as
# if it had gone out).
expect_eq "incidents: told of the suspension's start and end, the bounces' start, the refusal to no one" \
    "$(ctl --json incidents | python3 -c 'import json,sys
r = json.load(sys.stdin)["records"]
print(" ".join(sorted(set("%s=%s" % (x["kind"], x["notified"]) for x in r))))')" \
    "bounces=start refused=no one suspend=start, end"
send "$T/l-defer3" $SMTP_PORT list@defer.tenant u102@defer.example
expect_eq "after a restart: the window still holds (deferred)" "$(count_replies "$T/l-defer3" 451)" 1
ctl reset list@defer.tenant > /dev/null || fail "floodgatectl reset"
send "$T/l-defer4" $SMTP_PORT list@defer.tenant u103@defer.example
expect_eq "reset clears a feedback window too" "$(count_replies "$T/l-defer4" 4..)" 0
finish
