#!/bin/bash
# Forwarding: the copies an alias (local delivery's forwarding, as a
# new message) and a virtual alias send in place of the address a sender
# wrote are followed in the delivery log, and their results count for
# the account that address belongs to (the tenant whose forwarding it
# is), never for the sender (a routed address, user%dest@host, is no
# forwarding): a tenant's forwarding to addresses that do
# not exist spends no other tenant's feedback budget. A carrier's 421s
# to forwarded copies count for its backoff, whose pause then holds
# them in Postfix's queue through postfix_map. Postfix's bounce to a
# sender a login forged is followed for the login, also when the
# database is locked as its line is read; and a queue ID still unrecorded
# at a stop is logged as lost.
. "$(dirname "$0")/lib.sh"
setup
# The carrier takes one connection a minute and refuses the next for
# 30 seconds after the last refusal.
SINK_BURST=1/60 SINK_BLOCK=30 MAP=1 use_feedback_sink
echo "team: a1@docomo.test, a2@docomo.test, nx3@example.com" > "$T/etc/aliases"
postalias -c "$T/etc" "hash:$T/etc/aliases" || fail "postalias"
echo "info@virt.test v1@example.com, nx2@example.com" > "$T/etc/virtual"
postconf -c "$T/etc" -e "mydestination = hosted.test" \
    "alias_maps = hash:$T/etc/aliases" "virtual_alias_maps = texthash:$T/etc/virtual"
touch -d '-10 seconds' "$T/etc/main.cf"
cat > "$T/accounts" <<EOT
hosted.test  tenant-b
virt.test    tenant-v
EOT
write_conf <<EOT
account_map $T/accounts
delivery_log $T/maillog
postfix_map unix:$T/fg/map.sock
backoff carrier to docomo.test after 2/5m on 4xx for 1m
limit unknowns per account 1/1h count unknown action defer
override unknowns forger@floodgate.test 100/1h
limit notices per account to example.net 1/1h count unknown action defer
EOT
add_sasl_user forger 'F0rged!'

start_floodgate
start_postfix

# d5%example.com@hosted.test: routed on to example.com (hosted.test is
# Postfix's own), logged with orig_to as a forwarded copy is: the sender's.
send "$T/s1" $SMTP_PORT x@sender.example 'team@hosted.test,info@virt.test,d1@example.com,d5%example.com@hosted.test'
expect_eq "the sender's four recipients accepted" "$(count_replies "$T/s1" 451)" 0
drain
maillog_settled
grep -Eq "postfix/local\[[0-9]+\]: [0-9A-F]+: to=<team@hosted\.test>, relay=local, .*status=sent \(forwarded as [0-9A-F]+\)" "$T/maillog" &&
    ok "local delivery forwarded the alias as a new message" ||
    fail "no 'forwarded as' line: $(grep 'postfix/local' "$T/maillog" | tail -2)"
wait_for 10 results_are tenant-b "2 1 1" &&
    ok "tenant-b: the alias's copies, two sent and nx3 unknown" ||
    fail "tenant-b: sent, bounced, unknown: got '$(results tenant-b)', want '2 1 1'"
wait_for 10 results_are tenant-v "1 1 1" &&
    ok "tenant-v: the virtual alias's copies, v1 sent and nx2 unknown" ||
    fail "tenant-v: got '$(results tenant-v)', want '1 1 1'"
# Before floodgate followed forwarding: "3 1 1" (the hop to the alias
# counted as sent, the virtual alias's copies as the sender's).
# With the routed one as tenant-b's (hosted.test's): "1 0 0" and "3 1 1".
wait_for 5 results_are x@sender.example "2 0 0" &&
    ok "the sender: its two recipients outside (one routed there), sent" ||
    fail "the sender: got '$(results x@sender.example)', want '2 0 0'"
wait_for 5 grep -q "feedback: rule=unknowns key=tenant-v tripped" "$T/floodgate.log" &&
    ok "the virtual alias's unknown recipient tripped tenant-v's feedback limit" ||
    fail "tenant-v's limit: $(grep 'rule=unknowns' "$T/floodgate.log")"
expect_eq "the sender's feedback limit never tripped" "$(log_count 'rule=unknowns key=x@sender.example')" 0
send "$T/s3" $SMTP_PORT x@sender.example d2@example.com
expect_eq "the sender's next recipient accepted" "$(count_replies "$T/s3" 451)" 0
[ "$(log_count 'feedback: [0-9A-F]* was forwarded by local delivery (team@hosted.test) as [0-9A-F]*: its results count for account=tenant-b')" -eq 1 ] &&
    ok "the log says whose the forwarded message is" ||
    fail "no 'forwarded by local delivery' line: $(grep 'feedback:' "$T/floodgate.log")"
expect_eq "nothing paused yet" "$(log_count 'backoff: domain=docomo.test paused')" 0

# A second message to the alias, past Postfix's connection cache: the
# carrier refuses its copies (421), which pause it.
sleep 3
send "$T/s2" $SMTP_PORT x@sender.example team@hosted.test
paused() { [ "$(log_count 'backoff: domain=docomo.test paused for 1m .* by rule=carrier: 2 temporary failures (4xx)')" -ge 1 ]; }
wait_for 20 paused && ok "the carrier's 421s to forwarded copies paused docomo.test" ||
    fail "docomo.test was not paused: $(grep -E 'backoff|docomo' "$T/floodgate.log" | tail -3)"
held() {
	grep -Eq "to=<a[12]@docomo\.test>, orig_to=<team@hosted\.test>, .*status=deferred \(floodgate: docomo\.test paused until" "$T/maillog"
}
wait_for 20 held && ok "the pause holds the forwarded copies in Postfix's queue" ||
    fail "no forwarded copy deferred by the pause: $(grep 'docomo' "$T/maillog" | tail -2)"

# The MTA's own notices: a login that forges its sender makes Postfix
# bounce to that address for each of its messages that fails. The
# bounce is followed for the login: its failure (a sender that does not
# exist) counts, its delivery does not (the login's ratios would thin).
auth="--auth PLAIN --auth-user forger@floodgate.test --auth-password F0rged!"
send "$T/f1" $SUB_PORT nxv1@example.net nx5@example.com $auth
send "$T/f2" $SUB_PORT ok1@example.net nx6@example.com $auth
wait_for 20 grep -q "feedback: rule=notices key=forger@floodgate.test tripped" "$T/floodgate.log" &&
    ok "the bounce to a forged sender that does not exist tripped the login's limit" ||
    fail "notices: $(grep -E 'feedback:|forger' "$T/floodgate.log" | tail -3)"
wait_for 10 results_are forger@floodgate.test "0 3 3" &&
    ok "the login: its two messages and the one bounce that failed, not the one delivered" ||
    fail "forger: sent, bounced, unknown: got '$(results forger@floodgate.test)', want '0 3 3'"
# (The first notice was the alias's or the virtual alias's bounce.)
expect_eq "the log names the first notice, once" \
    "$(log_count 'feedback: the MTA.s notice about [0-9A-F]* (a bounce) went to its sender as [0-9A-F]*: its failures count for account=')" 1
# A notice whose queue ID the database cannot take at once (another
# process holds it locked) is recorded once the lock goes, still as a
# notice: its delivery counts for nobody, its failure for the account.
# The lock is held until floodgate has said that the notices' write and
# the log position's failed (unlock_db), not for a fixed time: each
# write waits floodgate's 2 s for the lock, a tick under way first (a
# 7 s lock once ended before the notices' write under the sanitizers).
send "$T/n1" $SMTP_PORT late@sender.example d3@example.com
wait_for 10 results_are late@sender.example "1 0 0" ||
    fail "late@sender.example: got '$(results late@sender.example)', want '1 0 0'"
qid=$(grep -Eo "postfix/smtp\[[0-9]+\]: [0-9A-F]+: to=<d3@example\.com>" "$T/maillog" | grep -Eo "[0-9A-F]{6,}" | tail -1)
[ -n "$qid" ] || fail "no queue ID for late@sender.example's message"
stamp() { date '+%b %e %T'; }
lock_db 60
{
	echo "$(stamp) mta postfix/bounce[9001]: $qid: sender non-delivery notification: 7A1B2C3D4E1"
	echo "$(stamp) mta postfix/bounce[9002]: $qid: sender non-delivery notification: 7A1B2C3D4E2"
} >> "$T/maillog"
# The log goes on meanwhile: each second's read has a position to keep.
for i in $(seq 1 10); do
	sleep 0.5
	echo "$(stamp) mta postfix/qmgr[9004]: 7A1B2C3D4F$i: removed" >> "$T/maillog"
done &
busy=$!
wait_log "feedback: cannot record 7A1B2C3D4E1 ($qid the MTA's notice to its sender): .*; trying again" 1 30 &&
    ok "a notice the locked database cannot take is retried" ||
    fail "no retry: $(grep -E 'feedback:|store:' "$T/floodgate.log" | tail -3)"
wait_log "feedback: cannot record the position in $T/maillog: .*; trying again" 1 30 ||
    fail "the position's write did not fail: $(grep -E 'feedback:|store:' "$T/floodgate.log" | tail -3)"
wait $busy
unlock_db
notices() {
	sqlite3 "$T/floodgate.db" "SELECT group_concat(queue_id || ':' || notice, ' ') FROM (SELECT queue_id, notice FROM qidmap WHERE queue_id LIKE '7A1B2C3D4E_' ORDER BY queue_id)" 2>/dev/null
}
recorded() { [ "$(notices)" = "7A1B2C3D4E1:1 7A1B2C3D4E2:1" ]; }
wait_for 15 recorded && ok "both recorded after the lock, as notices" ||
    fail "the queue-ID map after the lock: '$(notices)', want '7A1B2C3D4E1:1 7A1B2C3D4E2:1'"
wait_log "feedback: queue IDs recorded again after [0-9]*s" 1 5 ||
    fail "no line when the queue IDs were recorded again"
wait_log "feedback: the position in $T/maillog recorded again after [0-9]*s" 1 5 &&
    ok "the position in the log, read on meanwhile, said to be recorded again" ||
    fail "no line when the log's position was recorded again"
expect_eq "the queue IDs' failure logged once for the lock's seconds of retries" \
    "$(log_count 'feedback: cannot record \(7A1B2C3D4E\|[0-9]* queue IDs\)')" 1
{
	echo "$(stamp) mta postfix/smtp[9003]: 7A1B2C3D4E1: to=<late@sender.example>, relay=127.0.0.1[127.0.0.1]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
	echo "$(stamp) mta postfix/smtp[9003]: 7A1B2C3D4E2: to=<late@sender.example>, relay=127.0.0.1[127.0.0.1]:25, delay=0.1, delays=0/0/0/0.1, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <late@sender.example>: User unknown (in reply to RCPT TO command))"
} >> "$T/maillog"
# The failure is read after the delivery: once it counts, both were read.
wait_for 10 results_are late@sender.example "1 1 1" &&
    ok "the notices' results: the failure counts, the delivery does not" ||
    fail "late@sender.example: got '$(results late@sender.example)', want '1 1 1'"
# Stopped while the database is locked: a charged message's queue ID
# that could not be recorded is said to be lost, not left unsaid.
lock_db 8
send "$T/n3" $SMTP_PORT late@sender.example d5@example.com
kill -TERM "$FG_PID"
for i in $(seq 1 300); do alive "$FG_PID" || break; sleep 0.05; done
alive "$FG_PID" && fail "floodgate did not stop within 15 s with the database locked"
FG_PID=
wait $LOCK_PID
expect_eq "stopped with the database locked: the queue ID not recorded is logged" \
    "$(log_count 'feedback: 1 queue IDs could not be recorded at exit: their delivery results will not count')" 1
finish
