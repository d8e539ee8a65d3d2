#!/bin/bash
# A burst of incidents (20 accounts suspended within a second) while
# notify programs are slow: floodgate runs at most 16 at a time, and the
# notifications past those wait for a free slot, still owed, and go out
# when one frees; none is dropped (before, the 17th on were, logged
# "...; this one is dropped").
# engine: native (notifications are the service thread's, whichever engine)
. "$(dirname "$0")/lib.sh"
setup
printf '#!/bin/sh\ncat >> %s\nsleep 10\n' "$T/notify.out" > "$T/notify.sh"
chmod 755 "$T/notify.sh"
write_conf <<EOT
postfix_config $T/etc
notify exec:$T/notify.sh on suspend
notify_max 40
EOT
start_floodgate
# By one client of the control socket (suspend_many, lib.sh): 20
# floodgatectl runs of the sanitizer build took 3 s on a loaded machine.
t0=$(date +%s)
suspend_many tenant 1 20 @t.example 2> "$T/suspend.err" ||
    fail "suspend by the control socket: $(head -3 "$T/suspend.err")"
took=$(( $(date +%s) - t0 ))
# The programs take 10 s: the burst, and the count a second after the
# 16th started, must come before the first of them ends.
[ "$took" -le 5 ] && ok "the burst of suspensions while the first programs run (${took}s of 5)" ||
    fail "the suspensions took ${took}s: the burst must come while the first programs run"
told() { python3 -c 'import json,sys
print(len(set(json.loads(l)["subject"] for l in open(sys.argv[1]) if l.strip())))' "$T/notify.out" 2>/dev/null; }
lines() { cat "$T/notify.out" 2>/dev/null | grep -c .; }
at_least() { [ "$(lines)" -ge "$1" ]; }
wait_for 5 at_least 16 ||
    fail "the first 16 programs started"
sleep 1
expect_eq "16 programs at a time: the first 16 told, 4 owed" "$(told)" 16
wait_for 25 at_least 20
expect_eq "the other 4 told once slots freed, each once" "$(told) $(lines)" "20 20"
expect_eq "none dropped" "$(grep -c 'dropped' "$T/floodgate.log")" 0
expect_eq "none left owed" "$(ctl incidents | grep -c ' suspend .*not yet')" 0
finish
