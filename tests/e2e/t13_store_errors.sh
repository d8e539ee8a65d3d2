#!/bin/bash
# on_store_error: while another process holds the SQLite file locked,
# `continue` keeps limiting from memory and `tempfail` defers new mail
# with 451 4.3.0; both log once and recover by themselves when the lock
# goes, and nothing decided meanwhile is lost from the store; an
# smtp-source burst during each lock loses nothing. The socket map
# (postfix_map, which Postfix asks for every recipient it resolves)
# answers at once while the store waits on the lock, and floodgatectl
# within a few seconds.
. "$(dirname "$0")/lib.sh"
setup
command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"

write_conf <<EOT
on_store_error continue
limit tenant-hour per account 3/1h
postfix_map unix:$T/fg/map.sock
EOT
start_floodgate
start_postfix
send "$T/c0" $SMTP_PORT a@cont.example "$(rcpts a example.com 1)"
lock_db 60
sleep 0.5
burst cont 150
send "$T/c1" $SMTP_PORT a@cont.example "$(rcpts b example.com 1)"
wait_log "store: write failed" && ok "continue: the failure is logged" || fail "no store failure logged"
start=$(date +%s%N)
send "$T/c2" $SMTP_PORT a@cont.example "$(rcpts c example.com 3)"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "continue: limits still apply from memory (3 of 3 used: 2 deferred)" "$(count_replies "$T/c2" 451)" 2
[ "$ms" -lt 1500 ] && ok "continue: the milter loop does not wait on the locked store (${ms} ms)" || fail "message took ${ms} ms"
unlock_db 6
wait_log "store: working again" && ok "continue: recovered by itself" || fail "no recovery logged"
burst_accounted cont 150
expect_eq "continue: the burst's account got exactly its 3" "$(sink_count 'cont@burst\.example')" 3
expect_eq "continue: one failure line per incident" "$(log_count 'store: write failed')" 1
# Locked again with a decision to write: the flush waits on the lock
# each second, and the map must not wait with it (timed by smapq.py
# from its connect: Python's own start takes up to a second here when
# the machine is busy).
lock_db 60
sleep 0.5
send "$T/c3" $SMTP_PORT m@map.example "$(rcpts g map.example 1)"
wait_log "store: write failed" 2 || fail "the second lock's failure is logged"
answer=$(python3 "$TOP/tests/e2e/smapq.py" -t "$T/map.ms" "$T/fg/map.sock" transport x@docomo.test 2>&1)
ms=$(cat "$T/map.ms" 2>/dev/null)
expect_eq "continue: the socket map answers while the store waits on the lock" "$answer" "NOTFOUND "
[ "${ms:-9999}" -lt 500 ] &&
    ok "continue: the map answered at once (${ms} ms), the lock still held" ||
    fail "the map's answer took ${ms} ms"
# floodgatectl is answered too: after the first failure a write waits
# for the lock briefly, not its full 2 s at each try.
start=$(date +%s%N)
ctl status > "$T/status.locked"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "continue: status says the store is failing" \
    "$(awk '$1 == "store" {print $2}' "$T/status.locked")" failing
[ "$ms" -lt 3000 ] &&
    ok "continue: floodgatectl status answered in ${ms} ms, the lock still held" ||
    fail "floodgatectl status took ${ms} ms"
unlock_db 8
wait_log "store: working again" 2 || fail "recovered from the second lock"
stop_floodgate
expect_eq "continue: state written after recovery" \
    "$(sqlite3 "$T/floodgate.db" "SELECT count(*) FROM windows WHERE key='a@cont.example'")" 1
expect_eq "continue: every refusal is in the events table" \
    "$(sqlite3 "$T/floodgate.db" "SELECT count(*) FROM events WHERE account='a@cont.example'")" 2

sed -i 's/^on_store_error continue/on_store_error tempfail/' "$T/floodgate.conf"
start_floodgate
lock_db 60
sleep 0.5
send "$T/t1" $SMTP_PORT b@temp.example "$(rcpts d example.com 1)"
burst temp 150
wait_log "store: write failed.*new mail is deferred" && ok "tempfail: the failure is logged" || fail "no tempfail log"
send "$T/t2" $SMTP_PORT b@temp.example "$(rcpts e example.com 1)"
grep -q "^<\*\* *451 4.3.0 floodgate: state store unavailable" "$T/t2" &&
    ok "tempfail: new mail deferred with 451 4.3.0" || fail "reply: $(grep '<\*\*' "$T/t2" | head -1)"
unlock_db 6
wait_log "store: working again" 3 && ok "tempfail: recovered by itself" || fail "no recovery"
burst_accounted temp 150
send "$T/t3" $SMTP_PORT b@temp.example "$(rcpts f example.com 1)"
expect_eq "tempfail: mail flows again" "$(grep -c '^<\*\*' "$T/t3")" 0
drain
expect_eq "sink: what was accepted (3 + 2), and nothing else" "$(sink_count '@example\.com')" 5
finish
