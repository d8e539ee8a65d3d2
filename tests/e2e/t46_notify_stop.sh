#!/bin/bash
# floodgate's stop waits up to 5 s for the notify programs still
# running, then ends them with what they started, as at their timeout:
# SIGTERM, and a second later SIGKILL for what ignored it. One that ends
# within the 5 s finishes its work (its output read meanwhile); nothing
# of theirs outlives floodgate. One that cannot be reaped once killed
# (stuck in the kernel; here held by a tracer, stuck.py) does not hold
# the stop up: said, and left to the system.
# A stop with no program running is not held up.
# engine: native (notifications are the service thread's, whichever engine)
. "$(dirname "$0")/lib.sh"
setup
# slow: done in 2 s, within the stop's wait, writing more than a pipe
# holds on its way (its output is read during the wait too).
cat > "$T/slow.sh" <<EOT
#!/bin/sh
cat > /dev/null
echo started > "$T/slow.started"
sleep 2
head -c 300000 /dev/zero && echo done > "$T/slow.done"
EOT
hard_to_end_programs 3
stuck_program
chmod 755 "$T/slow.sh"
write_conf <<EOT
postfix_config $T/etc
notify exec:$T/slow.sh on suspend
notify exec:$T/polite.sh on suspend
notify exec:$T/deaf.sh on suspend
notify exec:$T/stuck.sh on suspend
EOT
start_floodgate
ctl suspend bad@bad.tenant > "$T/suspend" 2>&1 ||
    fail "floodgatectl suspend: $(cat "$T/suspend")"
wait_for 10 sh -c "[ -s '$T/slow.started' ] && [ -s '$T/polite.child' ] && [ -s '$T/deaf.child' ]" ||
    fail "the three programs started: $(grep notify "$T/floodgate.log")"
pc=$(cat "$T/polite.child" 2>/dev/null)
dc=$(cat "$T/deaf.child" 2>/dev/null)
stuck_held && held=1 || held=0
t0=$(date +%s%N)
stop_floodgate 20
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_eq "floodgate exited 0" "$FG_STATUS" 0
[ "$ms" -ge 5000 ] && [ "$ms" -lt 12000 ] &&
    ok "the stop waited its 5 s, and a second for SIGKILL, no more (${ms} ms)" ||
    fail "the stop took ${ms} ms: expected 5 to 6 s, 12 at most"
grep -q "notify: 4 programs running; the stop waits up to 5 s for them" "$T/floodgate.log" &&
    ok "the wait is said" || fail "the wait is said: $(grep notify "$T/floodgate.log")"
expect_eq "the slow program finished its work within the wait, 300 kB written" "$(cat "$T/slow.done" 2>/dev/null)" done
expect_eq "  ... nothing said of it" "$(grep -c 'notify: exec:.*slow.sh' "$T/floodgate.log")" 0
expect_eq "the polite program was told to end (SIGTERM)" "$(cat "$T/polite.term" 2>/dev/null)" told
grep -q "notify: exec:$T/polite.sh: still running at floodgate's stop; ended on SIGTERM\$" "$T/floodgate.log" &&
    ok "  ... said so" || fail "  ... said: $(grep polite "$T/floodgate.log")"
grep -q "notify: exec:$T/deaf.sh: still running at floodgate's stop; killed (it ignored SIGTERM): still waiting for the webhook\$" "$T/floodgate.log" &&
    ok "the deaf program was killed, said so with what it wrote" || fail "the deaf program: $(grep deaf "$T/floodgate.log")"
expect_eq "their children ended with them" \
    "$(alive "$pc" && echo running; alive "$dc" && echo running; echo)" ""
expect_eq "no program of theirs left" "$(pgrep -fc '^sleep 30[34]$')" 0
if [ "$held" = 1 ]; then
	grep -q "notify: exec:$T/stuck.sh: not gone 100 ms after SIGKILL (stuck in the kernel?); its slot is kept until it is\$" "$T/floodgate.log" &&
	grep -q "notify: exec:$T/stuck.sh: killed, still not gone; left to the system at floodgate's exit\$" "$T/floodgate.log" &&
	    ok "the program held by its tracer was killed, not waited for, said so" ||
	    fail "the held program: $(grep stuck "$T/floodgate.log")"
	sp=$(cat "$T/stuck.pid" 2>/dev/null)
	expect_eq "  ... still there (a zombie) while held" "$([ -n "$sp" ] && [ -e "/proc/$sp" ] && ! alive "$sp" && echo zombie)" zombie
	stuck_let_go
fi
# Without a program running, the stop does not wait.
start_floodgate
t0=$(date +%s%N)
stop_floodgate
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 4000 ] && ok "a stop with no program running does not wait (${ms} ms)" ||
    fail "a stop with no program running took ${ms} ms"
expect_eq "  ... nor says it would" "$(grep -c 'the stop waits' "$T/floodgate.log")" 1
finish
