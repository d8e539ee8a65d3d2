#!/bin/bash
# A digest larger than a pipe holds (160 incidents of long account
# names, over 64 kB) reaches an exec program and the admin's mailbox
# whole: a notify program's stdin is a memory file, where a pipe written
# once cut the digest at the pipe's 64 kB. floodgate runs on a clock
# (libfaketime) 50 seconds before an hour turns; notify_max 1 keeps all
# but the first incident for the digest.
# engine: native (notifications are the service thread's, whichever engine)
. "$(dirname "$0")/lib.sh"
need_faketime
setup
use_feedback_sink
printf '#!/bin/sh\ncat >> %s\n' "$T/notify.out" > "$T/notify.sh"
chmod 755 "$T/notify.sh"
write_conf <<EOT
postfix_config $T/etc
notify exec:$T/notify.sh on suspend
notify mailto:admin@notify.example on suspend
notify_from floodgate@floodgate.test
notify_max 1
EOT
start_postfix
clock_before_hour 50
start_floodgate
# 161 operator's suspensions: the first is told at once, 160 wait.
long=$(printf 'x%.0s' $(seq 1 200))
seq 0 160 | xargs -P 4 -I{} "$FLOODGATECTL" -c "$T/floodgate.conf" suspend "${long}{}@t.example" > /dev/null 2> "$T/suspend.err" ||
    fail "floodgatectl suspend: $(head -3 "$T/suspend.err")"
took=$(( $(date +%s) - NOW ))
[ "$took" -lt 45 ] ||
    fail "the start and the suspensions took ${took}s: the faked hour may have turned before they were all made"
# Each suspension's incident starts at the service thread's next tick.
waiting() { [ "$(ctl incidents | grep -c ' suspend .*not yet')" -ge 160 ]; }
wait_for 10 waiting
expect_eq "all but the first wait for the digest" "$(ctl incidents | grep -c ' suspend .*not yet')" 160
wait_for 60 sh -c "grep -q '\"event\":\"digest\"' '$T/notify.out'" ||
    fail "the digest went out when the hour turned"
expect_eq "exec: the digest document is whole, its 160 incidents, over 64 kB" \
    "$(python3 -c 'import json,sys
docs=[json.loads(l) for l in open(sys.argv[1])]
d=[x for x in docs if x.get("event")=="digest"]
size=max(len(l) for l in open(sys.argv[1]))
print(len(d), len(d[0]["incidents"]) if d else "-", size > 65536)' "$T/notify.out" 2>&1 | tail -1)" \
    "1 160 True"
wait_for 30 sh -c "[ \$(grep -c '^=== [0-9]* admin@notify.example' '$T/sink/messages' 2>/dev/null) -ge 2 ]" ||
    fail "mailto: two messages reached the admin"
expect_eq "mailto: the digest message names all 160 accounts" \
    "$(python3 -c 'import email,re,sys
msgs=[m for m in open(sys.argv[1]).read().split("=== ")[1:] if "admin@notify.example" in m.split("\n")[0]]
body=email.message_from_string(msgs[1].split("\n", 1)[1]).get_payload(decode=True).decode() if len(msgs) > 1 else ""
print(len(set(re.findall(r"x{200}([0-9]+)@t\.example", body))))' "$T/sink/messages")" 160
finish
