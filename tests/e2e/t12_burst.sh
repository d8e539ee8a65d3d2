#!/bin/bash
# A concurrent burst: the bulk tenant sends 60 one-recipient messages over
# six sessions at once, while smtp-source sends the quiet tenant's mail
# (10 messages of 2 recipients, three sessions) in the same seconds. The
# bulk tenant gets exactly its limit through, however the sessions
# interleave; the quiet tenant gets everything through. A tenant's
# script that goes on far past its limit (5,000 recipients) is logged
# and kept one by one for its first 100 refusals of a minute, the rest
# folded into a line and a row each second, every one counted (before,
# a line and a row each: such a script, at thousands a second, filled
# the disk with the database and the log).
. "$(dirname "$0")/lib.sh"
setup
command -v smtp-source >/dev/null || skip "smtp-source is not installed"
cat > "$T/accounts" <<EOT
bulk.example  bulk
quiet.example quiet
spam.example  spam
EOT
write_conf <<EOT
account_map $T/accounts
limit tenant-hour per account 25/1h
EOT
start_floodgate
start_postfix

smtp-source -s 3 -m 10 -r 2 -l 1024 -f sender@quiet.example -t other@example.net \
    127.0.0.1:$SMTP_PORT > "$T/quiet.out" 2>&1 &
pq=$!
pids=
for s in 1 2 3 4 5 6; do
	( for i in $(seq 1 10); do
		send "$T/bulk.$s.$i" $SMTP_PORT "s$s@bulk.example" "r$s.$i@example.com"
	done ) &
	pids="$pids $!"
done
wait $pq
expect_eq "smtp-source (quiet tenant) finished without error" $? 0
wait $pids
drain
deferred=$(cat "$T"/bulk.* | grep -c '^<\*\* *451 4.7.1 floodgate: tenant-hour')
expect_eq "bulk: 35 of 60 deferred" "$deferred" 35
expect_eq "sink: bulk got exactly its limit through" "$(sink_count '@example\.com')" 25
expect_eq "sink: quiet got all 10 x 2 recipients through" "$(sink_count '@example\.net')" 20
expect_eq "log: one line per deferral" "$(log_count 'account=bulk source=sender rule=tenant-hour .*action=defer')" 35
expect_eq "log: nothing refused for the quiet tenant" "$(log_count 'account=quiet ')" 0

smtp-source -A -s 10 -m 100 -r 50 -l 256 -f x@spam.example -t y@example.org \
    127.0.0.1:$SMTP_PORT > "$T/spam.out" 2>&1
drain
sleep 1.5	# the last flush
one=$(log_count 'account=spam source=sender rule=tenant-hour .*action=defer used=')
folded=$(grep -o 'account=spam rule=tenant-hour action=defer: [0-9]* more refusals\?, not logged one by one past 100 a minute' "$T/floodgate.log" |
    awk '{s += $4} END {print s + 0}')
[ "$one" -ge 100 ] && [ "$one" -le 200 ] &&
    ok "spam: 100 refusals a minute logged one by one ($one)" ||
    fail "spam: refusals logged one by one: $one"
expect_eq "  ... the rest folded, every refusal counted: in the log, the events, top" \
    "$((one + folded)) $(sqlite3 "$T/floodgate.db" "SELECT sum(count) FROM events WHERE account = 'spam'") $(ctl --json top | python3 -c '
import json, sys
print(sum(r["deferred"] for r in json.load(sys.stdin)["records"] if r.get("account") == "spam"))')" \
    "4975 4975 4975"
rows=$(sqlite3 "$T/floodgate.db" "SELECT count(*) FROM events WHERE account = 'spam'")
lines=$(log_count 'account=spam rule=tenant-hour action=defer: [0-9]* more refusal')
[ "$rows" -eq $((one + lines)) ] && [ "$rows" -lt 500 ] &&
    ok "  ... in $rows rows, a row a line (before, 4975)" ||
    fail "  ... in $rows rows, for $one lines one by one and $lines folded"
expect_eq "sink: spam got exactly its limit through" "$(sink_count '@example\.org')" 25
finish
