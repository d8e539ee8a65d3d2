#!/bin/bash
# Hold and paced release: a tenant's local mail over its budget is held,
# and floodgatectl release lets it go oldest first, only as far as the
# budget allows at each run, charging it then; a held message deleted by
# hand is noticed and dropped. Nothing is lost, nothing arrives twice.
. "$(dirname "$0")/lib.sh"
setup
cat >> "$T/etc/main.cf" <<EOT
non_smtpd_milters = unix:$T/fg/milter.sock
EOT
touch -d '-10 seconds' "$T/etc/main.cf"
write_conf <<EOT
postfix_config $T/etc
limit burst per account 2/10s
EOT
start_floodgate
start_postfix
held_files() { find "$T/spool/hold" -type f 2>/dev/null | wc -l; }
unique_at_sink() { cat "$T"/sink/m.* 2>/dev/null | grep '^X-Rcpt-Args:' | sort -u | wc -l; }

for i in 1 2 3 4 5 6; do
	printf 'Subject: n%s\n\nnewsletter\n' $i | sendmail -C "$T/etc" -f news@list.example "n$i@example.com"
	sleep 0.2	# keep the submission order
done
for i in $(seq 1 50); do [ "$(held_files)" -ge 4 ] && break; sleep 0.1; done
drain
expect_eq "first run: 2 delivered" "$(sink_count)" 2
expect_eq "4 held" "$(held_files)" 4
ctl release > "$T/r0"
expect_eq "release within the same window: nothing" "$(grep -c released "$T/r0")" 0
sleep 11.5	# the window, plus its one-second slot
ctl release > "$T/r1"
expect_eq "release after the window: 2 released" "$(grep -c ' released$' "$T/r1")" 2
drain
expect_eq "sink: 4 now" "$(sink_count)" 4
expect_eq "oldest first" "$(cat "$T"/sink/m.* | grep -c '^X-Rcpt-Args: <n[34]@')" 2
ctl show news@list.example > "$T/show"
expect_eq "the release was charged" "$(awk '$1 == "burst" {print $5}' "$T/show")" 2
# An operator deletes one held message by hand.
victim=$(ctl held | awk 'NR == 2 {print $1}')
postsuper -c "$T/etc" -d "$victim" >/dev/null 2>&1
sleep 11.5	# the window, plus its one-second slot
ctl release > "$T/r2"
grep -q "$victim" "$T/r2" && grep -q "gone from the hold queue" "$T/r2" &&
    ok "a message deleted by hand is dropped from the list" || fail "$(cat "$T/r2")"
expect_eq "the last one released" "$(grep -c ' released$' "$T/r2")" 1
drain
expect_eq "held list empty" "$(ctl held | grep -c '^[0-9A-F]\{6,\} ')" 0
expect_eq "hold queue empty" "$(held_files)" 0
expect_eq "sink: 5 messages, the deleted one is gone" "$(sink_count)" 5
expect_eq "no duplicates" "$(unique_at_sink)" 5
ctl release > "$T/r3"
expect_eq "nothing is released twice" "$(grep -c released "$T/r3")" 0
expect_eq "log: each release" "$(log_count 'release: qid=.* released')" 3
finish
