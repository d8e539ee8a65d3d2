#!/bin/bash
# Hold and paced release: a tenant's local mail over its budget is held,
# and floodgatectl release lets it go oldest first, only as far as the
# budget allows at each run, charging it then; a held message deleted by
# hand is noticed and dropped. Nothing is lost, nothing arrives twice.
# Order is kept per window: a tenant's message held by an hourly window
# to one domain does not hold back its mail held by another window.
# Only queue IDs of letters and digits reach postsuper, and a failing
# MTA command is named with its status and what it said; a hung one is
# killed after floodgatectl's -t, and the rest of the run waits for the
# next one, as it does when floodgate stops answering mid-run or the
# run is sent a signal (after the message in hand); a release the run
# could not confirm is charged when the next run finds it gone, also
# after a restart of floodgate (the plan is marked in its database), and
# a release that failed is no longer planned. A held message that needs
# more than a window's whole limit is said once and holds no later
# held mail back.
. "$(dirname "$0")/lib.sh"
setup
cat >> "$T/etc/main.cf" <<EOT
non_smtpd_milters = unix:$T/fg/milter.sock
EOT
touch -d '-10 seconds' "$T/etc/main.cf"
MPORT=$(free_port)
cat > "$T/notify.sh" <<EOT
#!/bin/sh
cat >> "$T/notify.out"
echo >> "$T/notify.out"
EOT
chmod 755 "$T/notify.sh"
write_conf <<EOT
metrics 127.0.0.1:$MPORT
release_alarm 3s
notify exec:$T/notify.sh on release
postfix_config $T/etc
limit burst per account 2/10s
limit org   per account to example.org 1/1h
EOT
start_floodgate
start_postfix
# postsuper as floodgatectl runs it, every call written down.
mkdir "$T/bin"
# And what it starts with: its signals, read with builtins before it
# forks anything (dash blocks every signal around a fork of its own).
cat > "$T/bin/postsuper" <<EOT
#!/bin/sh
while read -r k v; do
	case \$k in SigBlk:|SigIgn:) echo "\$k \$v" ;; esac
done < /proc/self/status >> "$T/postsuper.sig"
echo "\$*" >> "$T/postsuper.calls"
exec /usr/sbin/postsuper "\$@"
EOT
chmod 755 "$T/bin/postsuper"
release() { PATH="$T/bin:$PATH" ctl release; }
unique_at_sink() { cat "$T"/sink/m.* 2>/dev/null | grep '^X-Rcpt-Args:' | sort -u | wc -l; }

for i in 1 2 3 4 5 6; do
	printf 'Subject: n%s\n\nnewsletter\n' $i | submit news@list.example "n$i@example.com"
done
# Another tenant: one message to example.org passes, the next is held
# for the hour; one to example.net passes, the next is held by burst.
for r in a@example.org b@example.org c@example.net d@example.net; do
	printf 'Subject: %s\n\nshop\n' $r | submit shop@store.example "$r"
done
for i in $(seq 1 50); do [ "$(held_files)" -ge 6 ] && break; sleep 0.1; done
drain
expect_eq "first run: 2 delivered" "$(sink_count '@example.com')" 2
expect_eq "6 held" "$(held_files)" 6
# On hold now, in status and /metrics (as of the last flush, each second).
sleep 1.2
ctl status > "$T/status"
expect_eq "status: 6 on hold" "$(awk '$1 == "on_hold" {print $2}' "$T/status")" 6
oldest=$(sqlite3 "$T/floodgate.db" "SELECT min(time) FROM held WHERE released IS NULL")
expect_eq "  ... since the oldest" "$(awk '$1 == "on_hold_since" {print $2 " " $3}' "$T/status")" \
    "$(date -d "@$oldest" '+%Y-%m-%d %H:%M:%S')"
http_get /metrics | tr -d '\r' > "$T/metrics"
expect_eq "metrics: 6 on hold" "$(awk '$1 == "floodgate_on_hold_messages" {print $2}' "$T/metrics")" 6
expect_eq "  ... none planned for release" "$(awk '$1 == "floodgate_release_planned" {print $2}' "$T/metrics")" 0
age=$(awk '$1 == "floodgate_on_hold_oldest_seconds" {print $2}' "$T/metrics")
[ -n "$age" ] && [ "$age" -ge 0 ] && [ "$age" -le $(( $(date +%s) - oldest )) ] &&
    ok "  ... the oldest's age ($age s)" || fail "  ... the oldest's age: '$age'"
# show's last refusals: the message held as a whole reads no window's
# used and limit (before, "1 0", as if its limit were 0).
expect_eq "show: a held message's refusal has no used or limit" \
    "$(ctl show shop@store.example | awk '$5 == "held" {print $4, $6, $7; exit}')" "- - -"
expect_eq "  ... the recipient's hold has its window's" \
    "$(ctl show shop@store.example | awk '$5 == "hold" && $3 == "org" {print $4, $6, $7; exit}')" "example.org 1 1"
# Held rows floodgate could never have made: no queue ID, or one that
# is not letters and digits. They must never reach postsuper.
sqlite3 "$T/floodgate.db" "INSERT INTO held (queue_id, time, account, rule, recipients, domains)
    VALUES ('', 1, 'news@list.example', 'burst', 1, 'example.com'),
           ('-d ALL', 1, 'news@list.example', 'burst', 1, 'example.com')"
release > "$T/r0" 2> "$T/r0.err"
expect_eq "release within the same window: nothing" "$(grep -c released "$T/r0")" 0
expect_eq "  ... and it says how many wait (before, \"(nothing)\" alone)" \
    "$(cat "$T/r0") $(cat "$T/r0.err")" "(nothing) floodgatectl: nothing to release: 6 messages held, none may go yet (floodgatectl held lists them, with the rule that holds each)"
sleep 11.5	# the window, plus its one-second slot
release > "$T/r1"
expect_eq "release after the window: 2 of news' released" "$(grep -c 'news@list.example *released$' "$T/r1")" 2
expect_eq "shop's mail held by burst goes, though its older one waits for the hour" \
    "$(grep -c 'shop@store.example *released$' "$T/r1")" 1
# Mail waited on hold through the 11.5 s above with no release run,
# longer than release_alarm (3s): floodgate said so, and the run ended
# it (every release incident started is ended by a run).
for i in $(seq 1 80); do
	[ "$(log_count 'incident: ended kind=release')" -ge 1 ] &&
	    [ "$(log_count 'incident: ended kind=release')" = "$(log_count 'incident: started kind=release')" ] &&
	    grep -q '"event":"end","kind":"release"' "$T/notify.out" 2>/dev/null && break
	sleep 0.1
done
[ "$(log_count 'release: [0-9]* messages on hold, the oldest for [0-9hms ]*, and no floodgatectl release for [0-9hms ]*: is floodgate-release.timer running?')" -ge 1 ] &&
    ok "release alarm: held mail waited, no release run: said so" || fail "$(grep 'release' "$T/floodgate.log" | tail -5)"
expect_eq "  ... each release incident ended by a release run" \
    "$(log_count 'incident: ended kind=release')" "$(log_count 'incident: started kind=release')"
grep -q '"event":"start","kind":"release","subject":"release"' "$T/notify.out" &&
    grep -q '"event":"end","kind":"release","subject":"release"' "$T/notify.out" &&
    ok "  ... notify told of its start and end" || fail "$(cat "$T/notify.out" 2>&1)"
ctl incidents > "$T/incidents"
grep -q "release .*held mail\|release  *release" "$T/incidents" &&
    ok "  ... listed by floodgatectl incidents" || fail "$(cat "$T/incidents")"
drain
expect_eq "sink: 4 now" "$(sink_count '@example.com')" 4
expect_eq "oldest first" "$(cat "$T"/sink/m.* | grep -c '^X-Rcpt-Args: <n[34]@')" 2
expect_eq "shop: d@example.net delivered" "$(sink_count '<d@example.net>')" 1
expect_eq "shop: b@example.org still held" "$(sink_count '<b@example.org>')" 0
expect_eq "postsuper saw only queue IDs of letters and digits" \
    "$(grep -cv '^-c [^ ]* -H [0-9A-Za-z][0-9A-Za-z]*$' "$T/postsuper.calls")" 0
# Signals 1 to 31: glibc's posix_spawn ignores its own (32 and 33).
expect_eq "the MTA's commands start with no signal blocked or ignored (floodgatectl ignores SIGPIPE)" \
    "$(sort -u "$T/postsuper.sig" | while read -r k v; do printf '%s%x ' "$k" $((0x$v & 0x7fffffff)); done)" "SigBlk:0 SigIgn:0 "
ctl show news@list.example > "$T/show"
expect_eq "the release was charged" "$(awk '$1 == "burst" {print $5}' "$T/show")" 2
# An operator deletes one held message by hand.
victim=$(ctl held | awk '$1 ~ /^[0-9A-F]+$/ && $2 == "news@list.example" {print $1; exit}')
postsuper -c "$T/etc" -d "$victim" >/dev/null 2>&1
ctl reset news@list.example > /dev/null || fail "reset: $(cat "$T/ctl.err")"	# the window free again
release > "$T/r2"
grep -q "$victim" "$T/r2" && grep -q "gone from the hold queue" "$T/r2" &&
    ok "a message deleted by hand is dropped from the list" || fail "$(cat "$T/r2")"
expect_eq "the last one released" "$(grep -c ' released$' "$T/r2")" 1
drain
expect_eq "held list: only shop's message for the hour" "$(ctl held | grep -c '^[0-9A-Z]\{6,\} ')" 1
expect_eq "hold queue: that one" "$(held_files)" 1
ctl --json status > "$T/status.json"
expect_eq "status: 1 on hold (and the two odd rows)" \
    "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["on_hold"])' < "$T/status.json")" 3
expect_eq "sink: 5 of news, the deleted one is gone" "$(sink_count '@example.com')" 5
expect_eq "no duplicates" "$(unique_at_sink)" 8
release > "$T/r3"
expect_eq "nothing is released twice" "$(grep -c released "$T/r3")" 0
expect_eq "log: each release" "$(log_count 'release: qid=.* released')" 4
# A failing MTA command is named, with its exit status and its words.
sed "s|^postfix_config .*|postfix_config $T/nonexistent|" "$T/floodgate.conf" > "$T/bad.conf"
"$FLOODGATECTL" -c "$T/bad.conf" release > /dev/null 2> "$T/bad.err"
expect_eq "release with a broken postfix_config: exit 1" $? 1
grep -q "cannot list the hold queue: postqueue -c $T/nonexistent -j: exit [1-9][0-9]*: .*postqueue: fatal: " "$T/bad.err" &&
    ok "the error names the command, its status and its stderr" || fail "$(cat "$T/bad.err")"
# A hung MTA command is killed after -t seconds, with what it started
# (here a child that holds its output open): it never holds the release
# timer's unit.
mkdir "$T/hang"
printf '#!/bin/sh\nsleep 61.6 &\nexec sleep 61.5\n' > "$T/hang/postqueue"
chmod 755 "$T/hang/postqueue"
t0=$(date +%s%N)
PATH="$T/hang:$PATH" "$FLOODGATECTL" -c "$T/floodgate.conf" -t 2 release > /dev/null 2> "$T/hang.err"
expect_eq "release with a hung postqueue, -t 2: exit 1" $? 1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -ge 1900 ] && [ "$ms" -lt 5000 ] && ok "  ... after 2 s ($ms ms)" || fail "  ... after $ms ms"
grep -q "cannot list the hold queue: postqueue -c $T/etc -j: no end within 2 s, killed$" "$T/hang.err" &&
    ok "  ... the error names the command and the limit" || fail "$(cat "$T/hang.err")"
expect_eq "  ... the hung command was killed" "$(pgrep -fc '^sleep 61\.5$')" 0
expect_eq "  ... and the child it started" "$(pgrep -fc '^sleep 61\.6$')" 0
release > "$T/r4"
expect_eq "the next release runs" $? 0
# hold_two_more N HELD: news sends n<N> to n<N+3>, two pass and two are
# held (HELD in the hold queue then), then news' budget is free again
# for their release.
hold_two_more() {
	local i
	ctl reset news@list.example > /dev/null
	for i in $1 $(($1 + 1)) $(($1 + 2)) $(($1 + 3)); do
		printf 'Subject: n%s\n\nnewsletter\n' "$i" | submit news@list.example "n$i@example.com"
	done
	for i in $(seq 1 50); do [ "$(held_files)" -ge "$2" ] && break; sleep 0.1; done
	expect_eq "two more of news' held" "$(held_files)" "$2"
	ctl reset news@list.example > /dev/null
}
# A postsuper that hangs mid-plan: killed after -t, and the rest of the
# plan is not tried (each would hang as long); all of it stays held,
# and the next run releases it.
hold_two_more 7 3
printf '#!/bin/sh\nexec sleep 61.6\n' > "$T/hang/postsuper"
chmod 755 "$T/hang/postsuper"
rm "$T/hang/postqueue"
t0=$(date +%s%N)
PATH="$T/hang:$PATH" "$FLOODGATECTL" -c "$T/floodgate.conf" -t 2 release > "$T/r5" 2> "$T/r5.err"
expect_eq "release with a hung postsuper: exit 1" $? 1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -ge 1900 ] && [ "$ms" -lt 3500 ] && ok "  ... after one -t, not one a message ($ms ms)" || fail "  ... after $ms ms"
expect_eq "  ... the first failed" "$(grep -c 'news@list.example *failed, still held$' "$T/r5")" 1
expect_eq "  ... the second not tried" "$(grep -c 'news@list.example *not tried, still held$' "$T/r5")" 1
grep -q "release: postsuper -c $T/etc -H [0-9A-Z]*: no end within 2 s, killed$" "$T/r5.err" &&
    grep -q "the MTA did not answer within 2 s; the rest of this run's releases are left for the next run" "$T/r5.err" &&
    ok "  ... said so" || fail "$(cat "$T/r5.err")"
expect_eq "  ... still held" "$(held_files)" 3
release > "$T/r6"
expect_eq "the next run releases both" "$(grep -c 'news@list.example *released$' "$T/r6")" 2
drain
expect_eq "sink: 9 of news, once each" "$(sink_count '@example.com')" 9
expect_eq "no duplicates" "$(unique_at_sink)" 12
# A run stopped by a signal (systemd stopping the unit, ^C) finishes the
# message in hand, tells floodgate, gives the rest back to it still
# held, and ends by that signal. The first postsuper signals the run.
hold_two_more 11 3
printf '#!/bin/sh\nif mkdir %s 2>/dev/null; then kill -TERM $PPID; sleep 1; fi\nexec /usr/sbin/postsuper "$@"\n' \
    "$T/signalled" > "$T/hang/postsuper"
{ PATH="$T/hang:$PATH" "$FLOODGATECTL" -c "$T/floodgate.conf" release > "$T/r9" 2> "$T/r9.err"; } 2>/dev/null
expect_eq "release stopped by SIGTERM: ends by it" $? 143
expect_eq "  ... the message in hand released" "$(grep -c 'news@list.example *released$' "$T/r9")" 1
expect_eq "  ... the next not tried" "$(grep -c 'news@list.example *not tried, still held$' "$T/r9")" 1
grep -q "^floodgatectl: stopped by SIGTERM; the rest of this run's releases are left for the next run$" "$T/r9.err" &&
    ok "  ... said so" || fail "$(cat "$T/r9.err")"
ctl show news@list.example > "$T/show2"
expect_eq "  ... the released one charged, the other given back" "$(awk '$1 == "burst" {print $5}' "$T/show2")" 1
release > "$T/r10"
expect_eq "  ... the next run releases the other at once" "$(grep -c ' released$' "$T/r10")" 1
# A run killed (SIGKILL) just after the MTA had a message back, before
# floodgate was told: the next run finds it gone from the hold queue
# while its release was planned, and charges it then.
hold_two_more 15 3
cat > "$T/hang/postsuper" <<EOT
#!/bin/sh
echo "\$*" >> "$T/killed.calls"
/usr/sbin/postsuper "\$@"; rc=\$?
[ "\$(wc -l < "$T/killed.calls")" -eq 2 ] && kill -KILL \$PPID
exit \$rc
EOT
# (The braces keep bash's "Killed" line for it out of the output.)
{ PATH="$T/hang:$PATH" "$FLOODGATECTL" -c "$T/floodgate.conf" release > /dev/null 2>&1; } 2>/dev/null
expect_eq "release killed after the second postsuper" $? 137
q=$(sed -n '2s/.* //p' "$T/killed.calls")
release > "$T/r11"
grep -q "^queue_id  *$q$" "$T/r11" && grep -q "^result  *gone from the hold queue$" "$T/r11" &&
    ok "  ... the next run: gone from the hold queue" || fail "$(cat "$T/r11")"
expect_eq "  ... charged then" "$(log_count "release: qid=$q gone while its release was planned; charged")" 1
ctl show news@list.example > "$T/show3"
expect_eq "  ... both in news' window" "$(awk '$1 == "burst" {print $5}' "$T/show3")" 2
# Out of the hold queue but not flushed (the run died first): Postfix
# would send it at its next deferred queue run.
postqueue -c "$T/etc" -i "$q"
drain
expect_eq "sink: 17 of news, once each" "$(sink_count '@example.com')" 17
expect_eq "no duplicates" "$(unique_at_sink)" 20
# floodgate stops answering mid-run (stopped by the first postsuper):
# the rest of the plan is not tried, since floodgate could not be told
# of it and would not charge it.
hold_two_more 19 3
printf '#!/bin/sh\nkill -STOP %s\nexec /usr/sbin/postsuper "$@"\n' "$FG_PID" > "$T/hang/postsuper"
t0=$(date +%s%N)
PATH="$T/hang:$PATH" "$FLOODGATECTL" -c "$T/floodgate.conf" -t 2 release > "$T/r7" 2> "$T/r7.err"
expect_eq "release with floodgate stopped mid-run: exit 1" $? 1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT "$FG_PID"
[ "$ms" -ge 1900 ] && [ "$ms" -lt 3500 ] && ok "  ... after one -t ($ms ms)" || fail "  ... after $ms ms"
expect_eq "  ... the first released, floodgate not told" \
    "$(grep -c 'news@list.example *released, floodgate not told$' "$T/r7")" 1
expect_eq "  ... the second not tried" "$(grep -c 'news@list.example *not tried, still held$' "$T/r7")" 1
grep -q "floodgatectl: floodgate: no answer within 2 s; the rest of this run's releases are left for the next run" "$T/r7.err" &&
    ok "  ... said so" || fail "$(cat "$T/r7.err")"
drain
expect_eq "  ... one still held" "$(held_files)" 2
expect_eq "sink: the released one" "$(sink_count '@example.com')" 20
# The request floodgatectl gave up on was still on the socket: floodgate,
# running again, read it and charged the release.
told=$(awk '/released, floodgate not told$/ {print $1}' "$T/r7")
expect_eq "  ... charged once floodgate ran again" "$(log_count "release: qid=$told released")" 1
# Mail still on hold and no run since: a release incident open again.
ended=$(log_count 'incident: ended kind=release')
wait_log 'incident: started kind=release' $((ended + 1)) 10 ||
    fail "no release incident while mail waits on hold"
# floodgatectl status with the daemon down reads on_hold from the
# database: the two held and the two odd rows.
stop_floodgate
ctl status > "$T/status.off"
expect_eq "status, daemon down: on hold from the database" \
    "$(awk '$1 == "daemon" || $1 == "on_hold" {print $2}' "$T/status.off" | tr '\n' ' ')" "not 4 "
# A restart continues the open release incident (its checks come every
# 3 s here): not ended, not started again, until a run.
start_floodgate
sleep 4
expect_eq "after a restart: the release incident continues" \
    "$(log_count 'incident: started kind=release') $(log_count 'incident: ended kind=release')" \
    "$((ended + 1)) $ended"
release > /dev/null
wait_log 'incident: ended kind=release' $((ended + 1)) 10 &&
    ok "  ... and the next run ends it" || fail "$(grep 'kind=release' "$T/floodgate.log" | tail -3)"
# floodgate restarted mid-run, while the MTA was giving a message back:
# the plan was the old floodgate's, but the database marks it, so the
# new one charges what the run says it released, over any limit.
restart_floodgate() {
	stop_floodgate
	start_floodgate
}
hold_two_more 23 $(($(held_files) + 2))
cat > "$T/hang/postsuper" <<EOT
#!/bin/sh
/usr/sbin/postsuper "\$@"; rc=\$?
if mkdir "$T/restarting" 2>/dev/null; then
	while [ ! -e "$T/restarted" ]; do sleep 0.1; done
fi
exit \$rc
EOT
PATH="$T/hang:$PATH" "$FLOODGATECTL" -c "$T/floodgate.conf" release > "$T/r12" 2> "$T/r12.err" &
rel=$!
for i in $(seq 1 100); do [ -d "$T/restarting" ] && break; sleep 0.1; done
restart_floodgate
touch "$T/restarted"
wait $rel
expect_eq "release across a restart of floodgate: exit 0" $? 0
expect_eq "  ... both of news released" "$(grep -c 'news@list.example *released$' "$T/r12")" 2
expect_eq "  ... charged by the new floodgate" \
    "$(log_count 'released as planned before floodgate restarted; charged')" 2
ctl show news@list.example > "$T/show4"
expect_eq "  ... both in news' window" "$(awk '$1 == "burst" {print $5}' "$T/show4")" 2
# A run killed just after the MTA had a message back, and floodgate
# restarted before the next run: that run finds it gone, and the new
# floodgate charges it; the other, planned but never tried, is planned
# afresh and released.
hold_two_more 27 $(($(held_files) + 2))
cat > "$T/hang/postsuper" <<EOT
#!/bin/sh
echo "\$*" >> "$T/killed2.calls"
/usr/sbin/postsuper "\$@"; rc=\$?
kill -KILL \$PPID
exit \$rc
EOT
{ PATH="$T/hang:$PATH" "$FLOODGATECTL" -c "$T/floodgate.conf" release > /dev/null 2>&1; } 2>/dev/null
expect_eq "release killed after its first postsuper" $? 137
q=$(sed -n '1s/.* //p' "$T/killed2.calls")
restart_floodgate
release > "$T/r13"
expect_eq "  ... after a restart, the next run finds it gone and floodgate charges it" \
    "$(log_count "release: qid=$q gone while its release was planned, before floodgate restarted; charged")" 1
expect_eq "  ... and releases the other" "$(grep -c 'news@list.example *released$' "$T/r13")" 1
ctl show news@list.example > "$T/show5"
expect_eq "  ... both in news' window" "$(awk '$1 == "burst" {print $5}' "$T/show5")" 2
postqueue -c "$T/etc" -i "$q"
drain
# A release that failed is no longer planned: deleted by hand afterwards,
# the message is dropped uncharged.
hold_two_more 31 $(($(held_files) + 2))
printf '#!/bin/sh\necho "postsuper: fatal: test" >&2\nexit 1\n' > "$T/hang/postsuper"
PATH="$T/hang:$PATH" "$FLOODGATECTL" -c "$T/floodgate.conf" release > "$T/r14" 2>&1
expect_eq "a failing postsuper: both of news still held" "$(grep -c 'news@list.example *failed, still held$' "$T/r14")" 2
q=$(awk '/news@list.example *failed, still held$/ {print $1; exit}' "$T/r14")
postsuper -c "$T/etc" -d "$q" 2> /dev/null
release > "$T/r15"
expect_eq "  ... one deleted by hand then: dropped, not charged" \
    "$(log_count "release: qid=$q gone$") $(grep -c 'news@list.example *released$' "$T/r15")" "1 1"
ctl show news@list.example > "$T/show6"
expect_eq "  ... news' window holds the other alone" "$(awk '$1 == "burst" {print $5}' "$T/show6")" 1
drain
expect_eq "sink: every message of news, once each" "$(sink_count '@example\.com')" 32
expect_eq "no duplicates" "$(unique_at_sink)" 35
# A held message that needs more than a window's whole limit (3
# recipients under burst's 2/10s) never goes within it: said once, and
# the tenant's later held mail no longer waits behind it for good.
printf 'Subject: big\n\nthree at once\n' |
    sendmail -C "$T/etc" -f big@list.example b1@example.net b2@example.net b3@example.net
wait_for 5 sh -c "[ -z \"\$(find '$T/spool/maildrop' -type f)\" ]" || fail "pickup took the big message"
for i in 1 2 3; do
	printf 'Subject: s%s\n\nsmall\n' $i | submit big@list.example "s$i@example.net"
done
drain
held_big() {	# the recipients of each of big's held messages
	ctl --json held big@list.example | python3 -c '
import json, sys
print(" ".join(sorted(str(r["recipients"]) for r in json.load(sys.stdin)["records"])))'
}
results() {	# release's results in FILE (run with --json) of big's messages
	python3 -c '
import json, sys
print(" ".join(r["queue_id"] + ":" + r["result"] for r in json.load(open(sys.argv[1]))["records"]))' "$1"
}
expect_eq "held: the big one (3 recipients) and the third small one" "$(held_big)" "1 3"
big=$(ctl --json held big@list.example | python3 -c '
import json, sys
print(" ".join(r["queue_id"] for r in json.load(sys.stdin)["records"] if r["recipients"] == 3))')
small=$(ctl --json held big@list.example | python3 -c '
import json, sys
print(" ".join(r["queue_id"] for r in json.load(sys.stdin)["records"] if r["recipients"] == 1))')
sleep 11.5	# the window, plus its one-second slot
PATH="$T/bin:$PATH" ctl --json release > "$T/r16"
expect_eq "  ... the small one released (before, it waited behind the big one for good)" \
    "$(results "$T/r16")" "$small:released"
expect_eq "  ... the big one said (its need, the rule, its limit) and still held" \
    "$(log_count "release: qid=$big account=big@list.example needs 3 in rule burst's window for big@list.example, over its whole limit (2/10s): it can never go within that limit and stays on hold").$(held_big)" "1.3"
sleep 11.5
release > "$T/r17"
expect_eq "  ... said once, however many runs" "$(log_count "release: qid=$big .*can never go")" 1
postsuper -c "$T/etc" -d "$big" 2> /dev/null
PATH="$T/bin:$PATH" ctl --json release > "$T/r18"
drain
expect_eq "  ... deleted by hand, dropped; the small ones at the sink, the big one never" \
    "$(results "$T/r18") $(sink_count 's[123]@example\.net') $(sink_count 'b[123]@example\.net')" "$big:gone from the hold queue 3 0"
finish
