#!/bin/bash
# A notify program that has not ended 30 s after it started is ended
# with what it started (its process group: a script's hung curl too),
# as systemd ends a unit: SIGTERM, which one that handles it ends on,
# then SIGKILL a tick later, for what ignored SIGTERM; the log says
# which. floodgate runs on
# a clock ten times as fast (libfaketime), so its 30 s are 3 here; the
# programs' own clock is real. A program's output is read as it comes:
# one may write more than a pipe holds; one that fails is logged with
# its status and what it said.
# A program that cannot be reaped once killed (stuck in the kernel; here
# held by a tracer, stuck.py) keeps its slot, said, and holds nothing
# up: the service thread goes on (another event's program runs), and
# when it is gone at last that is said.
# engine: native (notifications are the service thread's, whichever engine)
. "$(dirname "$0")/lib.sh"
need_faketime
setup
MPORT=$(free_port)
hard_to_end_programs 1
# chatty: writes more than a pipe holds (curl printing a webhook's
# answer), then ends well within its time.
cat > "$T/chatty.sh" <<EOT
#!/bin/sh
cat > /dev/null
if head -c 300000 /dev/zero; then r=wrote; else r="failed \$?"; fi
echo "\$r" > "$T/chatty.done"
EOT
# flood: writes without end (a script looping on an error message): it
# must not hold the service thread, which reads its output, and is
# ended at its 30 s like the others.
printf '#!/bin/sh\ncat > /dev/null\nexec yes flooding\n' > "$T/flood.sh"
# failing: says why on stderr and exits 3.
printf '#!/bin/sh\ncat > /dev/null\necho "webhook said no" >&2\nexit 3\n' > "$T/failing.sh"
printf '#!/bin/sh\ncat > /dev/null\necho ran > %s\n' "$T/probe.done" > "$T/probe.sh"
chmod 755 "$T/chatty.sh" "$T/flood.sh" "$T/failing.sh" "$T/probe.sh"
# noexec: not executable (warned of at the start), so never started.
printf '#!/bin/sh\ncat > /dev/null\n' > "$T/noexec.sh"
chmod 644 "$T/noexec.sh"
# A pause is told to 16 targets: probe.sh and p2.sh to p16.sh. With the
# held program's slot taken, 15 are free: the 15 first run, the 16th is
# dropped, said (before, the pause waited for all 16 to be free, and
# every notification after it with it, as long as the program was held).
for i in $(seq 2 16); do
	printf '#!/bin/sh\ncat > /dev/null\necho ran > %s\n' "$T/probe.$i" > "$T/p$i.sh"
	chmod 755 "$T/p$i.sh"
done
stuck_program
write_conf <<EOT
metrics 127.0.0.1:$MPORT
postfix_config $T/etc
notify exec:$T/polite.sh on suspend
notify exec:$T/deaf.sh on suspend
notify exec:$T/chatty.sh on suspend
notify exec:$T/flood.sh on suspend
notify exec:$T/failing.sh on suspend
notify exec:$T/stuck.sh on suspend
notify exec:$T/noexec.sh on suspend
notify exec:$T/probe.sh on pause
$(for i in $(seq 2 16); do echo "notify exec:$T/p$i.sh on pause"; done)
EOT
FG_ENV="$(preload "$FAKETIME_LIB") FAKETIME=+0x10 FAKETIME_DONT_FAKE_MONOTONIC=1"
start_floodgate
t0=$(date +%s)
ctl suspend bad@bad.tenant > "$T/suspend" 2>&1 ||
    fail "floodgatectl suspend: $(cat "$T/suspend")"
wait_for 10 sh -c "[ -s '$T/polite.child' ] && [ -s '$T/deaf.child' ]" ||
    fail "both programs started: $(grep notify "$T/floodgate.log")"
pc=$(cat "$T/polite.child" 2>/dev/null)
dc=$(cat "$T/deaf.child" 2>/dev/null)
gone() { ! alive "$1"; }
wait_for 20 sh -c "[ \$(grep -c 'notify: exec:.*\.sh: timed out after 30 s; ' '$T/floodgate.log') -ge 3 ]" ||
    fail "the three ended after 30 s, said: $(grep notify "$T/floodgate.log" | cut -c1-300)"
took=$(( $(date +%s) - t0 ))
[ "$took" -lt 15 ] && ok "  ... on floodgate's faster clock (${took}s here)" ||
    fail "  ... after ${took}s: the faked clock did not run faster"
expect_eq "the polite program was told to end first (SIGTERM)" "$(cat "$T/polite.term" 2>/dev/null)" told
grep -q "notify: exec:$T/polite.sh: timed out after 30 s; ended on SIGTERM\$" "$T/floodgate.log" &&
    ok "  ... said so" || fail "  ... said: $(grep polite "$T/floodgate.log")"
grep -q "notify: exec:$T/deaf.sh: timed out after 30 s; killed (it ignored SIGTERM): still waiting for the webhook\$" "$T/floodgate.log" &&
    ok "the deaf program was killed a tick later, said so with what it wrote" ||
    fail "the deaf program: $(grep deaf "$T/floodgate.log")"
grep -q "notify: exec:$T/flood.sh: timed out after 30 s; ended on SIGTERM: flooding\\\\x0aflooding" "$T/floodgate.log" &&
    ok "the program that wrote without end was ended at its time, what it wrote first logged" ||
    fail "the flooding program: $(grep flood.sh "$T/floodgate.log" | cut -c1-300)"
wait_for 5 gone "$pc"
expect_eq "  ... and its child ended with it" "$(alive "$pc" && echo running || echo ended)" ended
wait_for 5 gone "$dc"
expect_eq "the deaf program's child, which ignored SIGTERM, was killed" "$(alive "$dc" && echo running || echo ended)" ended
expect_eq "no program of theirs left" "$(pgrep -fc '^sleep 30[12]$')" 0
expect_eq "a program that wrote 300 kB ended well, its output read as it came" \
    "$(cat "$T/chatty.done" 2>/dev/null)" wrote
expect_eq "  ... nothing said of it" "$(grep -c 'notify: exec:.*chatty.sh' "$T/floodgate.log")" 0
grep -q "notify: exec:$T/failing.sh: exit 3: webhook said no\$" "$T/floodgate.log" &&
    ok "a program that failed: its status and what it said, logged" ||
    fail "a program that failed: $(grep failing "$T/floodgate.log")"
grep -q "notify: exec:$T/noexec.sh: cannot run $T/noexec.sh: Permission denied\$" "$T/floodgate.log" &&
    ok "a program that cannot be run: said so" ||
    fail "a program that cannot be run: $(grep noexec "$T/floodgate.log")"
if stuck_held; then
	wait_for 5 grep -q "notify: exec:$T/stuck.sh: timed out after 30 s; killed (it ignored SIGTERM)\$" "$T/floodgate.log" &&
	    ok "the program held by its tracer was killed at its time" ||
	    fail "the held program: $(grep stuck "$T/floodgate.log")"
	wait_for 5 grep -q "notify: exec:$T/stuck.sh: not gone 100 ms after SIGKILL (stuck in the kernel?); its slot is kept until it is\$" "$T/floodgate.log" &&
	    ok "  ... not gone 100 ms after, said so" ||
	    fail "  ... not said as not gone: $(grep stuck "$T/floodgate.log")"
	t1=$(date +%s)
	ctl pause probe.test 1h > "$T/pause" 2>&1 || fail "floodgatectl pause: $(cat "$T/pause")"
	wait_for 10 test -s "$T/probe.done"
	took=$(( $(date +%s) - t1 ))
	[ -s "$T/probe.done" ] && [ "$took" -lt 10 ] &&
	    ok "  ... and nothing waits for it: a pause's program ran meanwhile (${took}s)" ||
	    fail "  ... the pause's program did not run while the killed one was held (${took}s): $(grep notify "$T/floodgate.log" | tail -3)"
	wait_for 5 sh -c "[ \$(ls '$T' | grep -c '^probe\.[0-9]*\$') -ge 14 ]"
	expect_eq "  ... told to 15 of its 16 targets, the 15 slots free (probe.sh and 14 of p2.sh to p16.sh)" "$(ls "$T" | grep -c '^probe\.[0-9]*$')" 14
	grep -Eq "notify: exec:$T/p16.sh: no notify program slot free \([0-9]+ running, 1 killed and not gone, of 16\); this one is dropped\$" "$T/floodgate.log" &&
	    ok "  ... the 16th dropped, said so" ||
	    fail "  ... the 16th: $(grep -E 'p16|dropped' "$T/floodgate.log")"
	# polite, deaf, flood and the held one timed out; failing failed;
	# noexec never started.
	expect_eq "  ... /metrics counts the notifications that failed, by how" \
	    "$(http_get /metrics | tr -d '\r' | awk '$1 ~ /^floodgate_notify_failures_total/ {printf "%s %s ", $1, $2}')" \
	    'floodgate_notify_failures_total{why="dropped"} 1 floodgate_notify_failures_total{why="not_started"} 1 floodgate_notify_failures_total{why="failed"} 1 floodgate_notify_failures_total{why="timed_out"} 4 '
	expect_eq "  ... not said gone while its tracer holds it" "$(grep -c 'stuck.sh: gone at last' "$T/floodgate.log")" 0
	programs() { ctl status | awk '$1 ~ /^notify_(running|not_gone)$/ {printf "%s=%s ", $1, $2}'; }
	# The pause's program ends by itself, reaped at the next tick.
	wait_for 5 eval '[ "$(programs)" = "notify_running=0 notify_not_gone=1 " ]'
	expect_eq "  ... status counts it apart from those running" "$(programs)" "notify_running=0 notify_not_gone=1 "
	expect_eq "  ... and so does /metrics" \
	    "$(http_get /metrics | tr -d '\r' | awk '$1 ~ /^floodgate_notify_programs/ {printf "%s %s ", $1, $2}')" \
	    'floodgate_notify_programs{state="running"} 0 floodgate_notify_programs{state="not_gone"} 1 '
	stuck_let_go
	wait_for 10 grep -Eq "notify: exec:$T/stuck.sh: gone at last, [0-9]+ s after SIGKILL\$" "$T/floodgate.log" &&
	    ok "  ... gone once let go, said so" ||
	    fail "  ... not said gone once let go: $(grep stuck "$T/floodgate.log")"
	expect_eq "  ... and status no longer counts it" "$(ctl status | awk '$1 == "notify_not_gone" {print $2}')" 0
fi
finish
