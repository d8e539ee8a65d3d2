#!/bin/bash
# The delivery-log follower: it starts at the end of the file the first
# time (older lines are not counted), follows it across rotation by
# rename (the rest of the old file first) and by copytruncate, and after
# a restart goes on from where it was, the file rotated meanwhile too:
# no result counted twice, none missed. Lines of mail floodgate did not
# charge are ignored. The same through the systemd journal (a journal
# directory, as systemd-journal-remote writes it), cursor kept across a
# restart. A ratio limit is judged on a message's refusals together
# with its deliveries, read a tick later. A result read before floodgate
# knows its queue ID (a content filter's hop logged after it, a queue
# ID recorded late) counts once it does. A backoff does not count
# Postfix's "delivery temporarily suspended" echoes. The results are the
# test's own lines, for queue IDs of real messages floodgate charged.
. "$(dirname "$0")/lib.sh"
setup
L=$T/fake.log
echo "Nov 30 00:00:00 mta postfix/smtp[1]: 0AAA: to=<x@example.com>, relay=x, dsn=5.1.1, status=bounced (old)" > "$L"
MPORT=$(free_port)
write_conf <<EOT
delivery_log $L
metrics 127.0.0.1:$MPORT
limit unk per account 1000/1h count unknown
limit rat per account to ratio.example 3/1h count unknown ratio 50% action defer
backoff echo to suspended.example after 3/5m on 4xx for 1m
EOT
start_floodgate
start_postfix

# A real message floodgate charges; its queue ID from Postfix's log.
send "$T/m1" $SMTP_PORT follow@t.example r@example.com
drain
QID=$(smtp_qid r@example.com sent)
[ -n "$QID" ] || { fail "a queue ID in Postfix's log"; finish; }
sleep 1.5	# the queue ID reaches floodgate's map at its next tick

n=0
# bounce FILE K: K unknown-recipient results for the charged message.
bounce() {
	local i
	for i in $(seq 1 "$2"); do
		n=$((n + 1))
		echo "${STAMP:-$(date '+%b %e %H:%M:%S')} mta postfix/smtp[2]: $QID: to=<nx$n@example.com>, relay=x[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host x said: 550 5.1.1 User unknown)" >> "$1"
	done
}
# unknown_now: unknown recipients counted since the start (status).
unknown_now() { ctl status | awk '$1 == "unknown" {print $2}'; }
counted() { [ "$(unknown_now)" = "$1" ]; }
stored() { ctl top --by unknown | awk '$1 == "unknown" {print $2}'; }

bounce "$L" 3
echo "$(date '+%b %e %H:%M:%S') mta postfix/smtp[2]: 9FFFFF: to=<nx@example.com>, relay=x, dsn=5.1.1, status=bounced (not ours)" >> "$L"
wait_for 5 counted 3 || fail "3 results counted, the old line and the uncharged one not (got $(unknown_now))"
# A line longer than the follower's 1 MiB chunk is no log line, nor is
# its tail, written here as a result of the charged message would be
# (before, the tail was read as a line and counted); the next is.
# long RCPT: one result line, for RCPT, of the charged message.
long() {
	echo "$(date '+%b %e %H:%M:%S') mta postfix/smtp[2]: $QID: to=<$1@example.com>, relay=x[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host x said: 550 5.1.1 User unknown)"
}
{ head -c 1048576 /dev/zero | tr '\0' x; long tail; long next; } >> "$L"
wait_for 5 counted 4 || fail "the long line's tail counted: $(unknown_now) results, want 4"
sleep 1
counted 4 && ok "a line past 1 MiB: its tail not read as a result, the next line counted" ||
    fail "after the long line: $(unknown_now) results, want 4"

# The queue ID map out of reach (its table renamed away, as a damaged
# database would answer): the results of the charged message cannot be
# looked up. Not counted, said in the log (the first, then at most once
# a minute), and counted in status's delivery_lost; each line asks
# again (before, a failed lookup was kept for the message's next lines,
# and none of it was said). The map back, results count again (the
# rotation's below).
lost_now() { ctl status | awk '$1 == "delivery_lost" {print $2}'; }
expect_eq "delivery_lost: none yet" "$(lost_now)" 0
sqlite3 -cmd ".timeout 5000" "$T/floodgate.db" "ALTER TABLE qidmap RENAME TO qidmap_away" ||
    fail "the queue ID map could not be renamed"
{
	echo "$(date '+%b %e %H:%M:%S') mta postfix/smtp[2]: 9FFFFF: to=<nx@example.com>, relay=x, dsn=5.1.1, status=bounced (not ours)"
	for i in 1 2; do
		echo "$(date '+%b %e %H:%M:%S') mta postfix/smtp[2]: $QID: to=<lost$i@example.com>, relay=x[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host x said: 550 5.1.1 User unknown)"
	done
} >> "$L"
wait_for 5 eval '[ "$(lost_now)" = 3 ]' &&
    ok "the map out of reach: each of the 3 lines' lookups failed, counted in delivery_lost" ||
    fail "delivery_lost $(lost_now), want 3"
expect_eq "  ... logged once, the first" \
    "$(log_count "feedback: cannot look up queue ID").$(log_count "feedback: cannot look up queue ID 9FFFFF in the database: the results on its line are not counted (1 so far; logged at most once a minute)")" 1.1
counted 4 && ok "  ... and nothing counted" ||
    fail "  ... counted: $(unknown_now) results, want 4"
sqlite3 -cmd ".timeout 5000" "$T/floodgate.db" "ALTER TABLE qidmap_away RENAME TO qidmap" ||
    fail "the queue ID map could not be renamed back"

# Rotation by rename: the old file gets two more lines after the move
# (syslog still writing to it), the new one two.
mv "$L" "$L.1"
bounce "$L.1" 2
bounce "$L" 2
wait_for 5 counted 8 || fail "rename: 8 counted (got $(unknown_now))"

# copytruncate, the new lines written before floodgate looks again: the
# file is as long as it was, and begins the same way as far as syslog's
# header goes (time, host, program); its first line is another.
cp "$L" "$L.2"
STAMP=$(head -c 15 "$L") bounce "$T/new" 2
cat "$T/new" > "$L"
[ "$(stat -c %s "$L")" = "$(stat -c %s "$L.2")" ] || fail "copytruncate: the file is as long as before"
wait_for 5 counted 10 || fail "copytruncate: 10 counted (got $(unknown_now))"

# Down: three more lines, then the file is rotated by rename and the
# new one gets one. After the restart all four are counted, once. The
# stop comes inside a line too long, the position kept there (a result
# and the line's first 1 MiB read at one tick, in one write): the rest
# of it, a result, is dropped after the restart too.
{ long before; head -c 1048576 /dev/zero | tr '\0' x; } > "$T/long"
python3 -c 'import os, sys; d = open(sys.argv[1], "rb").read(); fd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND); assert os.write(fd, d) == len(d)' "$T/long" "$L"
size=$(stat -c %s "$L")
sleep 1.5
stop_floodgate
expect_eq "stopped inside the long line: the position kept there" \
    "$(sqlite3 "$T/floodgate.db" "SELECT offset FROM follow WHERE source = '$L'")" "$size"
long tail2 >> "$L"
bounce "$L" 3
mv "$L" "$L.3"
bounce "$L" 1
start_floodgate
wait_for 5 sh -c "grep -q 'rotated while floodgate was down' '$T/floodgate.log'" ||
    fail "the follower found the rotated file after the restart"
sleep 2
expect_eq "after rename, copytruncate and a restart: every result counted once" "$(stored)" 15
# Two moves to a new file (the live rename, and after the restart's
# rest of the rotated one), one truncation.
expect_eq "the follower logged each rotation" \
    "$(log_count 'follow: .* was rotated; following the new file') $(log_count 'was truncated; reading it from its start')" "2 1"

# ratio: Postfix logs a message's refused recipients (at RCPT) before
# its delivered ones (after DATA). Three refusals read at one tick and
# seven deliveries at the next are 30 %, not 100 %: no trip. Five more
# refusals make 8 of 15: it trips.
# Each batch of lines is appended in one write: written line by line
# (a date process each), a batch can straddle the follower's read, and
# a trip then fires on the part read (once seen: 7 of 14, not 8 of 15).
# sent FILE K: K delivered results for the charged message.
sent() {
	local i lines=
	for i in $(seq 1 "$2"); do
		lines+="$(date '+%b %e %H:%M:%S') mta postfix/smtp[2]: $QID: to=<u$i@ratio.example>, relay=x[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)"$'\n'
	done
	printf '%s' "$lines" >> "$1"
}
# refused FILE K: K more unknown recipients of the charged message.
refused() {
	local i lines=
	for i in $(seq 1 "$2"); do
		n=$((n + 1))
		lines+="$(date '+%b %e %H:%M:%S') mta postfix/smtp[2]: $QID: to=<nx$n@ratio.example>, relay=x[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host x said: 550 5.1.1 User unknown)"$'\n'
	done
	printf '%s' "$lines" >> "$1"
}
before=$(unknown_now)
refused "$L" 3
wait_for 5 counted $((before + 3)) || fail "ratio: the three refusals were read"
sent "$L" 7
sleep 3.5
expect_eq "ratio: refusals read a tick before the same message's deliveries do not trip it" \
    "$(log_count 'rule=rat key=follow@t.example tripped')" 0
refused "$L" 5
wait_for 6 sh -c "grep -q 'rule=rat key=follow@t.example tripped: 8 unknown recipients of 15 final results' '$T/floodgate.log'" ||
    fail "ratio: 8 of 15 trips it: $(grep 'rule=rat' "$T/floodgate.log")"

# A content filter's hop logged after the next hop's result of the mail
# it gave back (two smtp processes logging in the same instant; seen in
# t06): that result's queue ID is unknown when read, and the result is
# kept a few seconds and counted once the hop names the ID, in the same
# read or at a later tick (before, it was ignored as mail floodgate did
# not charge). One no hop names is counted ignored once its 10 seconds
# are over, and a hop naming it then does not count it.
# early RCPT QID: the next hop refuses RCPT of QID; hop RCPT QID: the
# charged message's hop to a filter that took it as QID.
early() {
	echo "$(date '+%b %e %H:%M:%S') mta postfix/smtp[4]: $2: to=<$1@example.com>, relay=x[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host x said: 550 5.1.1 User unknown)"
}
hop() {
	echo "$(date '+%b %e %H:%M:%S') mta postfix/smtp[3]: $QID: to=<$1@example.com>, relay=127.0.0.1[127.0.0.1]:10025, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as $2)"
}
metric() { http_get /metrics | tr -d '\r' | awk -v m="$1" '$1 == m {print $2}'; }
before=$(unknown_now)
ignored=$(metric floodgate_delivery_results_ignored_total)
printf '%s\n%s\n' "$(early e1 7EEE01)" "$(hop e1 7EEE01)" >> "$L"
wait_for 5 counted $((before + 1)) &&
    ok "a result read before the hop that names its queue ID, in one read: counted" ||
    fail "early, one read: $(unknown_now) results, want $((before + 1))"
early e2 7EEE02 >> "$L"
sleep 2.5
hop e2 7EEE02 >> "$L"
wait_for 5 counted $((before + 2)) &&
    ok "  ... and with the hop two ticks later" ||
    fail "early, two ticks apart: $(unknown_now) results, want $((before + 2))"
expect_eq "  ... logged once, counted in floodgate_delivery_results_early_total" \
    "$(log_count "feedback: a result of 7EEE01 was read before floodgate knew that queue ID: counted for account=follow@t.example (such results are kept 10 seconds)").$(log_count 'feedback: a result of .* was read before').$(metric floodgate_delivery_results_early_total)" 1.1.2
expect_eq "  ... neither counted ignored" "$(metric floodgate_delivery_results_ignored_total)" "$ignored"
early e3 7EEE03 >> "$L"
wait_for 15 eval '[ "$(metric floodgate_delivery_results_ignored_total)" = $((ignored + 1)) ]' &&
    ok "a result no hop names: counted ignored once its seconds are over" ||
    fail "ignored $(metric floodgate_delivery_results_ignored_total), want $((ignored + 1))"
hop e3 7EEE03 >> "$L"
sleep 2
expect_eq "  ... a hop naming it after that does not count it" \
    "$(unknown_now).$(metric floodgate_delivery_results_early_total)" $((before + 2)).2
# The same for a charged message's own queue ID, recorded late: the
# database locked, its result read while the ID waits in memory, then
# counted once the ID is recorded (before, ignored).
lock_db 12
send "$T/m2" $SMTP_PORT follow@t.example r2@example.com
drain
QID2=$(smtp_qid r2@example.com sent)
QID=$QID2 early e4 "$QID2" >> "$L"
wait_log "feedback: cannot record 1 queue IDs: .*; trying again" 1 10 ||
    fail "the queue ID's write did not fail: $(grep -E 'feedback:' "$T/floodgate.log" | tail -3)"
expect_eq "  ... a result of mail charged while the database is locked: not counted while its ID waits" \
    "$(unknown_now)" $((before + 2))
unlock_db
wait_for 8 counted $((before + 3)) &&
    ok "  ... counted once the ID is recorded" ||
    fail "recorded late: $(unknown_now) results, want $((before + 3))"

# Postfix's echo of one attempt's failure for the rest of a
# destination's mail ("delivery temporarily suspended: ...", relay=none,
# postfix/error's line for each recipient queued there, at once; seen
# with Postfix 3.7: 125 of them in 8 s behind about ten refused
# connections) asks no server: a backoff does not count it (before, the
# echoes tripped it). Ten echoes: no pause; three refusals: the pause.
# deferred421 PROGRAM RELAY TEXT K: K deferrals of the charged message.
deferred421() {
	local i lines=
	for i in $(seq 1 "$4"); do
		lines+="$(date '+%b %e %H:%M:%S') mta postfix/$1[5]: $QID: to=<s$i@suspended.example>, relay=$2, delay=6, delays=6/0/0/0, dsn=4.7.0, status=deferred ($3host mx.suspended.example[192.0.2.1] refused to talk to me: 421 4.7.0 Service unavailable, try again later)"$'\n'
	done
	printf '%s' "$lines" >> "$L"
}
paused() { ctl status | awk '$1 == "paused_domains" {print $2}'; }
deferred421 error none "delivery temporarily suspended: " 10
sleep 2.5
expect_eq "ten of Postfix's 'delivery temporarily suspended' echoes: no pause" "$(paused)" 0
deferred421 smtp "mx.suspended.example[192.0.2.1]:25" "" 3
wait_for 5 eval '[ "$(paused)" = 1 ]' &&
    ok "  ... three refusals: suspended.example paused" ||
    fail "three refusals: paused_domains $(paused), want 1"
expect_eq "  ... counted three failures, not the echoes" \
    "$(log_count 'backoff: domain=suspended.example paused for 1m until .* by rule=echo: 3 temporary failures (4xx) in 5m, pause 1 in a row')" 1

# The journal, when systemd-journal-remote can write one here.
JR=/lib/systemd/systemd-journal-remote
if [ -x "$JR" ]; then
	stop_floodgate
	mkdir -p "$T/journal"
	# jbounce K [UID]: K results as journal entries (export format),
	# logged by UID (default 0, root; "none": no _UID field).
	jbounce() {
		local i uid="_UID=${2:-0}\n"
		[ "${2:-}" = none ] && uid=
		for i in $(seq 1 "$1"); do
			n=$((n + 1))
			printf "__REALTIME_TIMESTAMP=%s\\n__MONOTONIC_TIMESTAMP=%s\\n_BOOT_ID=0123456789abcdef0123456789abcdef\\n${uid}SYSLOG_IDENTIFIER=postfix/smtp\\nSYSLOG_FACILITY=2\\nMESSAGE=%s: to=<nx%s@example.com>, relay=x, dsn=5.1.1, status=bounced (User unknown)\\n\\n" \
			    "$(date +%s%6N)" "$n" "$QID" "$n"
		done | "$JR" --output="$T/journal/remote.journal" - 2>>"$T/jr.log"
	}
	jbounce 2	# before floodgate follows the journal: not counted
	sed -i "s|^delivery_log .*|delivery_log journal:$T/journal|" "$T/floodgate.conf"
	start_floodgate
	sleep 1.2
	jbounce 2
	sleep 1.5
	stop_floodgate
	jbounce 1
	start_floodgate
	sleep 1.5
	expect_eq "journal: entries after the start and while down counted once" "$(stored)" 29
	# Entries of a user not in delivery_log_users (a tenant's logger
	# -t postfix/smtp), or without _UID: not counted, told once each.
	# jsendmail UID: Sendmail's form (sm-mta), two unknown recipients on
	# one line.
	jsendmail() {
		n=$((n + 2))
		printf '__REALTIME_TIMESTAMP=%s\n__MONOTONIC_TIMESTAMP=%s\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_UID=%s\nSYSLOG_IDENTIFIER=sm-mta\nSYSLOG_FACILITY=2\nMESSAGE=%s: to=<nx%s@example.com>,<nx%s@example.com>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120403, relay=x. [192.0.2.1], dsn=5.1.1, stat=User unknown\n\n' \
		    "$(date +%s%6N)" "$n" "$1" "$QID" "$n" "$((n - 1))" |
		    "$JR" --output="$T/journal/remote.journal" - 2>>"$T/jr.log"
	}
	jbounce 3 1000
	jbounce 2 none
	jsendmail 1000
	jbounce 1
	sleep 1.5
	expect_eq "journal: only root's entry counted, not uid 1000's nor those without _UID (each recipient of a line)" \
	    "$(stored) $(ctl status | awk '$1 == "delivery_untrusted" {print $2}')" "30 7"
	expect_eq "journal: each untrusted writer told of once" \
	    "$(grep -c 'logged by uid 1000, not one of delivery_log_users' "$T/floodgate.log") $(grep -c 'in an entry without _UID' "$T/floodgate.log")" "1 1"
	# Another machine's users, by number.
	stop_floodgate
	echo "delivery_log_users 0 1000" >> "$T/floodgate.conf"
	start_floodgate
	jbounce 2 1000
	jsendmail 1000
	sleep 1.5
	expect_eq "journal: uid 1000's entries counted once delivery_log_users names it, Sendmail's two recipients each" \
	    "$(stored) $(ctl status | awk '$1 == "delivery_untrusted" {print $2}')" "34 0"
else
	say "no systemd-journal-remote: the journal is not tested here"
fi
finish
