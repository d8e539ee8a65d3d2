#!/bin/bash
# The database made read-only (the file and its WAL immutable, as
# chattr +i or a hardening tool would make them) under an smtp-source
# burst: with on_store_error continue floodgate decides from memory and
# mail flows; with tempfail new mail is deferred with 451 4.3.0; each
# recovers by itself once the files are writable again. Also a database
# that is read-only when floodgate starts. Every message smtp-source sent
# ends at the sink or deferred to its client, none lost or doubled.
. "$(dirname "$0")/lib.sh"
setup
command -v smtp-source >/dev/null || skip "smtp-source is not installed"
command -v chattr >/dev/null || skip "chattr is not installed"
write_conf <<EOT
on_store_error continue
limit tenant-hour per account 100000/1h
EOT
start_floodgate
start_postfix
send "$T/w0" $SMTP_PORT warm@ro.example r@example.com
sleep 1.2
chattr +i "$T/floodgate.db" "$T/floodgate.db-wal" 2>/dev/null ||
	skip "this filesystem has no immutable attribute"
trap 'chattr -i "$T"/floodgate.db* 2>/dev/null; cleanup' EXIT

# continue: a burst while the database is read-only.
smtp-source -A -s 4 -m 200 -l 512 -f burst@ro.example -t r@example.com \
    127.0.0.1:$SMTP_PORT > "$T/burst1.out" 2>&1
wait_log "store: write failed" && ok "read-only: the failure is logged" || fail "no store failure logged"
expect_eq "one log line for the incident" "$(log_count 'store: write failed')" 1
chattr -i "$T/floodgate.db" "$T/floodgate.db-wal"
wait_log "store: working again" && ok "writable again: recovered by itself" || fail "no recovery"
sleep 1.2
expect_eq "what was decided meanwhile is in the store" \
    "$(sqlite3 "$T/floodgate.db" "SELECT sum(accepted) FROM stats WHERE kind='account' AND name='burst@ro.example'" 2>/dev/null)" 200
drain
expect_eq "continue: all 200 at the sink, once each" "$(sink_count 'r@example\.com')" 201

# tempfail: new mail deferred while the database is read-only.
sed -i 's/^on_store_error continue/on_store_error tempfail/' "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded" && ok "reloaded with on_store_error tempfail" || fail "no reload"
chattr +i "$T/floodgate.db" "$T/floodgate.db-wal"
send "$T/t1" $SMTP_PORT first@ro2.example r2@example.com
wait_log "store: write failed" 2 && ok "the second incident is logged" || fail "no second incident"
smtp-source -A -s 2 -m 20 -l 512 -f burst@ro2.example -t b2@example.com \
    127.0.0.1:$SMTP_PORT > "$T/burst2.out" 2>&1
# What the client was told (Postfix's log of the last one may still be
# on its way to the maillog file).
deferred=$(grep -c "451 4.3.0" "$T/burst2.out")
[ "$deferred" -ge 1 ] && ok "tempfail: mail deferred with 451 4.3.0 ($deferred)" || fail "nothing deferred with 4.3.0"
chattr -i "$T/floodgate.db" "$T/floodgate.db-wal"
wait_log "store: working again" 2 && ok "recovered by itself again" || fail "no second recovery"
send "$T/t2" $SMTP_PORT after@ro2.example r2@example.com
expect_eq "after recovery mail flows" "$(count_replies "$T/t2" 451)" 0
drain
maillog_settled
accepted=$(grep -c "postfix/qmgr.*from=<burst@ro2.example>" "$T/maillog")
expect_eq "tempfail: every message at the sink or deferred to its client" \
    "$(( $(sink_count 'b2@example\.com') + deferred ))" 20
expect_eq "nothing accepted twice" "$accepted" "$(sink_count 'b2@example\.com')"

# A database read-only when floodgate starts: it runs, and recovers.
stop_floodgate
chattr +i "$T/floodgate.db"
start_floodgate
send "$T/s1" $SMTP_PORT start@ro3.example r3@example.com
expect_eq "started on a read-only database: mail flows (tempfail mode defers only MAIL while it fails)" \
    "$(grep -c '^<\*\* *5' "$T/s1")" 0
wait_log "store: .*failed" 3 && ok "the read-only start is logged" || fail "$(tail -3 "$T/floodgate.log")"
chattr -i "$T/floodgate.db"
# A connection SQLite opened read-only is reopened while writes fail.
for i in 1 2 3; do wait_log "store: working again" 3 && break; done
[ "$(log_count 'store: working again')" -ge 3 ] && ok "writable again: recovered without a restart" ||
	fail "no recovery after a read-only start"
finish
