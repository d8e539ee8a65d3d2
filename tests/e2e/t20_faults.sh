#!/bin/bash
# Faults under load: floodgate killed with SIGKILL in the middle of an
# smtp-source burst and restarted (Postfix defers meanwhile; counts resume
# from the store; every message Postfix accepted reaches the sink exactly
# once); a corrupt database at start (kept aside, fresh state, loud)
# with an smtp-source burst on the fresh state; a SIGUSR1 storm.
. "$(dirname "$0")/lib.sh"
setup
command -v smtp-source >/dev/null || skip "smtp-source is not installed"
write_conf <<EOT
limit tenant-hour per account 100000/1h
EOT
start_floodgate
start_postfix

smtp-source -A -s 2 -m 800 -l 512 -f burst@k.example -t r@example.com \
    127.0.0.1:$SMTP_PORT > "$T/burst.out" 2>&1 &
src=$!
# Kill once the store holds 200 counted messages (it is written once a
# second): the last second's, which the kill may lose, are then not most
# of them, however fast or slow this machine is.
for i in $(seq 1 300); do
	[ "$(sqlite3 "$T/floodgate.db" "SELECT coalesce(sum(accepted), 0) FROM stats WHERE kind = 'account'" 2>/dev/null || echo 0)" -ge 200 ] && break
	sleep 0.05
done
kill_hard "$FG_PID"
ok "floodgate killed with SIGKILL after $(sink_count) deliveries"
sleep 1
start_floodgate
wait $src
drain
grep -q "entries_loaded=1" "$T/floodgate.log" && ok "counts resumed from the store" || fail "no state loaded"
# Queued by Postfix (past every milter check) = handed to qmgr.
maillog_settled
accepted=$(queued_messages)
sent_ids=$(sent_messages)
expect_eq "every message Postfix accepted was delivered" "$sent_ids" "$accepted"
expect_eq "the sink got each exactly once" "$(ls "$T"/sink/m.* | wc -l)" "$accepted"
refused=$(grep -c 'milter-reject\|Service unavailable\|4.7.1\|4.3' "$T/maillog" || true)
[ "$accepted" -gt 0 ] && [ "$accepted" -le 800 ] && ok "accepted $accepted of 800; the rest was deferred to the client ($refused refusals logged)" || fail "accepted $accepted"
ctl show burst@k.example > "$T/show"
used=$(awk '$1 == "tenant-hour" {print $5}' "$T/show")
# At most the last second before the kill is lost from the counts.
[ "$used" -le "$accepted" ] && [ "$used" -ge $((accepted / 2)) ] &&
    ok "counted $used of $accepted after the restart" || fail "counted $used of $accepted"

# A corrupt database at start.
stop_floodgate
printf 'this is not an SQLite database, whatever its name says.........' > "$T/floodgate.db"
rm -f "$T/floodgate.db-wal" "$T/floodgate.db-shm"
start_floodgate
burst corrupt 300
wait_log "is corrupt .* kept aside as $T/floodgate.db.corrupt-[0-9]*; starting with fresh state" &&
    ok "corrupt database: said loudly" || fail "$(grep -i corrupt "$T/floodgate.log")"
ls "$T"/floodgate.db.corrupt-* >/dev/null 2>&1 && ok "the bad file is kept aside" || fail "no .corrupt file"
send "$T/after" $SMTP_PORT x@k.example "$(rcpts z example.net 2)"
expect_eq "mail flows on fresh state" "$(count_replies "$T/after" 4..)" 0
burst_accounted corrupt 300
expect_eq "the burst on fresh state: all 300 at the sink" "$(sink_count 'corrupt@burst\.example')" 300

# SIGUSR1 storm during a burst: every reload is taken, no message lost.
maillog_settled
before=$(grep -c 'postfix/qmgr.*: from=' "$T/maillog")
smtp-source -A -s 4 -m 300 -l 512 -f storm@k.example -t s@example.org \
    127.0.0.1:$SMTP_PORT > "$T/storm.out" 2>&1 &
src=$!
for i in $(seq 1 60); do kill -USR1 "$FG_PID" 2>/dev/null; sleep 0.02; done
wait $src
drain
alive "$FG_PID" && ok "SIGUSR1 storm: still running" || fail "died in the storm"
[ "$(log_count 'reload: .* loaded')" -ge 5 ] && ok "reloads taken: $(log_count 'reload: .* loaded')" || fail "reloads: $(log_count 'reload: .* loaded')"
maillog_settled
queued=$(( $(grep -c 'postfix/qmgr.*: from=' "$T/maillog") - before ))
expect_eq "SIGUSR1 storm: every message accepted (300)" "$queued" 300
expect_eq "SIGUSR1 storm: all at the sink" "$(sink_count '@example\.org')" 300
stop_floodgate
expect_eq "the new database is a good one" "$(sqlite3 "$T/floodgate.db" 'PRAGMA quick_check')" ok
finish
