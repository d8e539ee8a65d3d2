#!/bin/bash
# What Postfix never sends, sent straight to floodgate's socket by a small
# client of our own (milterclient.py): commands out of order, missing
# macros, NUL and control bytes, broken and oversized packets, a client
# stalled mid-packet, 1,000 idle connections, garbage. None may crash or
# stall the daemon or charge the wrong account.
# engine: native (the native engine's own handling of the wire protocol: with
# libmilter, packets, deadlines and connections are libmilter's)
. "$(dirname "$0")/lib.sh"
need_root
command -v python3 >/dev/null || skip "python3 is not installed"
setup
write_conf <<EOT
limit tenant-hour per account 2/1h
limit dom-msgs per account+domain 100/1h count messages
override tenant-hour bulk 1000000/1h
EOT
start_floodgate
python3 "$(dirname "$0")/milterclient.py" "$T/fg/milter.sock" > "$T/client.out" 2>&1
rc=$?
expect_eq "the client ran to the end" "$rc" 0
[ "$rc" -eq 0 ] || cat "$T/client.out"
while IFS=$'\t' read -r name got want; do
	expect_eq "${name#RESULT }" "$got" "$want"
done < <(grep '^RESULT ' "$T/client.out")
expect_eq "every scenario reported" "$(grep -c '^RESULT ' "$T/client.out")" 35
alive "$FG_PID" && ok "floodgate still running" || fail "floodgate died"
grep -q "account=mallory@evil.example" "$T/floodgate.log" && ok "the refusal names the sender's account" ||
	fail "$(grep 'account=' "$T/floodgate.log" | head -3)"
n=$(grep -c 'malformed\|unknown milter command' "$T/floodgate.log")
[ "$n" -ge 10 ] && ok "each broken packet logged ($n lines)" || fail "broken packets logged: $n, want at least 10"
expect_eq "the trickled packet is logged" "$(log_count 'left a packet unfinished for 10 s')" 1

# A value from the MTA never forges a log line of its own.
expect_eq "no forged log line" "$(grep -ci '^2026-11-30T00:00:00 floodgate notice: control: reset' "$T/floodgate.log")" 0
grep -q 'account=x\\x0a2026-11-30t00:00:00 floodgate notice: control: reset account=victim source=sasl' "$T/floodgate.log" &&
    ok "the login is logged escaped, on its own line" || fail "$(grep -a 'victim' "$T/floodgate.log" | head -3)"
expect_eq "the hold without a queue ID is logged" "$(log_count 'action=defer: the MTA sent no usable queue ID')" 1
expect_eq "a recipient that cannot be read is logged, once a session" \
    "$(log_count 'recipient <a cannot be read: counted by the rules without destinations only')" 1
expect_eq "and nothing was recorded as held" "$(ctl held | grep -c hold.example)" 0

# What floodgatectl prints of such accounts: JSON that parses, a string
# for an account of digits, no raw control or non-UTF-8 byte in a table.
ctl --json top > "$T/top.json"
python3 -c '
import json, sys
recs = json.load(open(sys.argv[1], encoding="utf-8"))["records"]
names = {r["account"]: r for r in recs}
print("digits:", type(names["12345"]["account"]).__name__)
print("bad utf-8:", "\ufffd\ufffd-bad" in names)
' "$T/top.json" > "$T/top.check" 2>&1
grep -q "^digits: str$" "$T/top.check" && ok "--json: the account 12345 is a string" || fail "$(cat "$T/top.check")"
grep -q "^bad utf-8: True$" "$T/top.check" && ok "--json: valid UTF-8, bad bytes as U+FFFD" || fail "$(cat "$T/top.check")"
ctl top > "$T/top.txt"
[ "$(LC_ALL=C grep -c $'[\x01-\x08\x0b-\x1f\x7f\x80-\xff]' "$T/top.txt")" = 0 ] &&
    grep -q '\\xff\\xfe-bad' "$T/top.txt" && ok "table: bad bytes shown as \\xHH" || fail "$(cat -v "$T/top.txt")"

# max_connections: the cap applies at once after a reload; the next
# connection waits and is served when one ends; logged once.
echo "max_connections 20" >> "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded"
python3 "$(dirname "$0")/milterclient.py" "$T/fg/milter.sock" cap 20 > "$T/cap.out" 2>&1
while IFS=$'\t' read -r name got want; do
	expect_eq "${name#RESULT }" "$got" "$want"
done < <(grep '^RESULT ' "$T/cap.out")
expect_eq "every cap scenario reported" "$(grep -c '^RESULT ' "$T/cap.out")" 3
wait_log "under max_connections again" && ok "the end of the incident is logged" || fail "no end line"
expect_eq "the cap is logged once" "$(log_count 'max_connections 20 reached')" 1
finish
