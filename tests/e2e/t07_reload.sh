#!/bin/bash
# (h) SIGUSR1 with a broken config keeps the old config running; a good
# one is swapped in and rules that keep their name keep their counts; a
# config deleted and reloaded under an smtp-source burst changes nothing.
# SIGHUP reloads like SIGUSR1 on both engines (with libmilter, whose
# own signal thread waits for SIGHUP to stop the milter, too), also
# several in a row. What cannot work as written is warned about; what a
# reload does not apply (store, delivery_log, control) keeps its
# running value, and floodgatectl finds the socket floodgate listens on.
. "$(dirname "$0")/lib.sh"
setup
write_conf <<EOT
limit tenant-hour per account 5/1h
EOT
start_floodgate
start_postfix
cp "$T/floodgate.conf" "$T/good.conf"

send "$T/h1" $SMTP_PORT app@h.example "$(rcpts a example.com 3)"
expect_eq "3 of 5 used" "$(count_replies "$T/h1" 451)" 0
printf 'limit tenant-hour per account 5/1h\nlimit broken per acount 1/1h\n' >> "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "keeping the running configuration" && ok "broken reload refused" || fail "no refusal logged"
wait_log "floodgate.conf:[0-9]*: .*\"acount\": expected a scope" &&
    ok "the error names file:line and the token" || fail "error line: $(grep error "$T/floodgate.log" | head -2)"
alive "$FG_PID" && ok "still running" || fail "floodgate died on a bad reload"
send "$T/h2" $SMTP_PORT app@h.example "$(rcpts b example.com 3)"
expect_eq "old config still applies: 2 pass, 1 deferred" "$(count_replies "$T/h2" 451)" 1
sed 's|5/1h|8/1h|' "$T/good.conf" > "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded" && ok "good reload logged" || fail "no reload line"
send "$T/h3" $SMTP_PORT app@h.example "$(rcpts c example.com 4)"
expect_eq "new limit 8, the 5 already sent still count: 3 pass, 1 deferred" "$(count_replies "$T/h3" 451)" 1
# Deleted, then reloaded, while smtp-source sends.
burst deleted 200
sleep 0.5
rm "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "cannot open" && ok "deleted config: refused, old one kept" || fail "deleted config not reported"
alive "$FG_PID" && ok "still running after the config was deleted" || fail "died"
burst_accounted deleted 200
expect_eq "the burst's account got the running config's 8" "$(sink_count 'deleted@burst\.example')" 8
expect_eq "sink" "$(sink_count '@example.com')" 8
cp "$T/good.conf" "$T/floodgate.conf"
kill -HUP "$FG_PID"
wait_log "reload: .* loaded" 2 && ok "$ENGINE: SIGHUP reloads like SIGUSR1" || fail "no reload on SIGHUP"
for i in 1 2 3 4 5; do kill -HUP "$FG_PID"; sleep 0.2; done
wait_log "reload: .* loaded" 7 && ok "  ... five more in a row, each a reload" ||
    fail "five SIGHUPs in a row: $(log_count 'reload: .* loaded') reloads in all"
alive "$FG_PID" && ok "  ... and floodgate runs on" || fail "SIGHUP stopped floodgate"
expect_eq "  ... the engine did not stop" "$(log_count 'engine: libmilter stopped')" 0
send "$T/h4" $SMTP_PORT app@h.example "$(rcpts d example.com 1)"
expect_eq "  ... and still decides (the reloaded 5/1h, 8 used): deferred" "$(count_replies "$T/h4" 451)" 1
# What cannot work as written is loaded, with a warning naming file:line.
printf 'limit unk per account 5/1h count unknown\nrelays 2\nexempt account vip@h.example\n' >> "$T/floodgate.conf"
chmod 644 "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded" 8 && ok "a configuration with warnings is loaded" || fail "not reloaded"
line=$(grep -n '^limit unk ' "$T/floodgate.conf" | cut -d: -f1)
expect_eq "the reload warns of a feedback limit without delivery_log, at its line" \
    "$(log_count "warning: $T/floodgate.conf:$line: limit unk counts unknown recipients, which floodgate reads from the MTA's log: without delivery_log it never trips")" 1
rline=$(grep -n '^relays ' "$T/floodgate.conf" | cut -d: -f1)
expect_eq "  ... and of relays without Redis, at its line" \
    "$(log_count "warning: $T/floodgate.conf:$rline: relays 2 does nothing with store sqlite")" 1
xline=$(grep -n '^exempt account ' "$T/floodgate.conf" | cut -d: -f1)
expect_eq "  ... and of a file every user may read that names an exempt account, at its line" \
    "$(log_count "warning: $T/floodgate.conf:$xline: every local user may read this file (mode 0644), which names the accounts it exempts or gives another rate")" 1
ctl --json status > "$T/status.json"
expect_eq "status counts the running configuration's warnings and lists each with its line" \
    "$(python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
w = [r for r in recs if r.get("type") == "warning"]
print(recs[0]["config_warnings"], " ".join("%d:%s" % (r["line"], r["warning"].split()[0]) for r in w))' "$T/status.json")" \
    "3 $line:limit $rline:relays $xline:every"
"$FLOODGATE" -n -c "$T/floodgate.conf" > /dev/null 2> "$T/check.err"
rc=$?
expect_eq "floodgate -n: the same warnings on stderr, and exit 0" \
    "$rc:$(grep -c "^$T/floodgate.conf:[0-9:]* warning: " "$T/check.err")" 0:3
# What a reload does not apply keeps its running value until a restart:
# the shared store and the delivery log stay off, status says what
# waits, and reset still works (it would ask a Redis never connected).
cp "$T/floodgate.conf" "$T/warn.conf"
printf 'store redis://127.0.0.1:1\ndelivery_log journal\n' >> "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded" 9 && ok "a file that changes store and delivery_log is loaded" || fail "not reloaded"
expect_eq "  ... and the reload says they wait for a restart" \
    "$(log_count 'reload: delivery_log, store changed: takes effect at the next restart')" 1
ctl --json status > "$T/status.json"
expect_eq "  ... status: restart_pending, and the decisions, delivery log and warnings of what runs" \
    "$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["records"][0]
print("%s|%s|%s|%d" % (r["restart_pending"], r["decisions"], r["delivery_log"], r["config_warnings"]))' "$T/status.json")" \
    "delivery_log, store|memory (this server alone)|(none)|3"
ctl reset app@h.example > /dev/null && ok "  ... reset answers from this server's windows" ||
    fail "reset after the reload: $(cat "$T/ctl.err")"
expect_eq "  ... floodgatectl reload says what waits, and the warnings" \
    "$(ctl --json reload | python3 -c '
import json, sys
r = json.load(sys.stdin)["records"][0]
print("%s|%d" % (r["restart_pending"], r["config_warnings"]))')" "delivery_log, store|3"
wait_log "reload: .* loaded" 10 && expect_eq "  ... and the log again, at each reload" \
    "$(log_count 'reload: delivery_log, store changed')" 2
cp "$T/warn.conf" "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded" 11 || fail "the file as it runs: not reloaded"
expect_eq "the file back as it runs: nothing waits" \
    "$(log_count 'changed: takes effect at the next restart'):$(ctl --json status | python3 -c 'import json, sys; print(json.load(sys.stdin)["records"][0]["restart_pending"])')" \
    "2:none"
# control too takes effect at start: after a reload of a file that
# moves it, floodgatectl finds floodgate where it started (its database
# says where) and says so; the release timer and scripts keep working.
sed -i "s|^control .*|control  $T/fg/moved.sock|" "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded" 12 || fail "the moved control: not reloaded"
expect_eq "a reload that moves control says it waits for a restart" \
    "$(log_count 'reload: control changed: takes effect at the next restart')" 1
expect_eq "  ... floodgatectl asks floodgate where it listens" \
    "$(ctl --json status | python3 -c 'import json, sys; r = json.load(sys.stdin)["records"][0]; print(r.get("daemon", "running"), r.get("restart_pending"))')" \
    "running control"
grep -q "^floodgatectl: nothing at $T/fg/moved.sock (control in $T/floodgate.conf): floodgate listens on $T/fg/control.sock, where it started, until its restart$" "$T/ctl.err" &&
    ok "  ... and tells the operator where, and why" || fail "floodgatectl's stderr: $(cat "$T/ctl.err")"
ctl pause moved.example 1m > /dev/null && ok "  ... a command that changes something reaches it too" ||
    fail "pause after the move: $(cat "$T/ctl.err")"
cp "$T/warn.conf" "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded" 13 || fail "the file as it runs: not reloaded"
expect_eq "  ... and with the file back, floodgatectl says nothing of it" \
    "$(ctl --json pauses | python3 -c 'import json, sys; print(" ".join(r["domain"] for r in json.load(sys.stdin)["records"] if "domain" in r))'):$(cat "$T/ctl.err")" \
    "moved.example:"
# A binary file named by mistake (floodgate's own database), or one
# that never ends: one error, the file read no further, the running
# configuration kept. Before, /dev/zero as the account map was read as
# one endless line, held in memory (hundreds of MB a second).
kb0=$(kb)
n=$(log_count "keeping the running configuration")
for f in "$T/floodgate.db" /dev/zero; do
	cp "$T/warn.conf" "$T/floodgate.conf"
	echo "account_map $f" >> "$T/floodgate.conf"
	kill -USR1 "$FG_PID"
	n=$((n + 1))
	wait_log "keeping the running configuration" $n ||
	    fail "account_map $f: the reload did not end"
	expect_eq "account_map $f: one error, at its line 1" \
	    "$(log_count "$f:1: a NUL byte: expected text (not read further)")" 1
done
cp "$T/warn.conf" "$T/floodgate.conf"
kb1=$(kb)
[ "$kb1" -lt $((kb0 + 51200)) ] && ok "  ... floodgate's memory as before ($kb0 kB, now $kb1 kB)" ||
    fail "memory: $kb0 kB before, $kb1 kB after"
"$FLOODGATE" -n -c /dev/zero > /dev/null 2> "$T/zero.err"
expect_eq "floodgate -n -c /dev/zero: exit 1, one error" \
    "$?:$(grep -c '^/dev/zero:1: a NUL byte' "$T/zero.err")" 1:1
warned=$(log_count "warning: $T/floodgate.conf:$line: limit unk counts unknown recipients")
stop_floodgate
start_floodgate
expect_eq "a start warns as a reload does" \
    "$(log_count "warning: $T/floodgate.conf:$line: limit unk counts unknown recipients")" $((warned + 1))
finish
