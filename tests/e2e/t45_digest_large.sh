#!/bin/bash
# Digests larger than a pipe holds reach an exec program and the
# admin's mailbox whole: a notify program's stdin is a memory file,
# where a pipe written once cut a digest at the pipe's 64 kB. And what
# waited goes in digests of at most 256 incidents, each one of the
# hour's notify_max messages: 601 suspensions of long account names,
# notify_max 2, so two are told at once and 599 wait; at the hour two
# digests of 256 go out, and the other 87 wait for the next hour (before,
# one digest went and the rest one message each). floodgate runs on a
# clock (libfaketime) 30 seconds before an hour turns.
# engine: native (notifications are the service thread's, whichever engine)
. "$(dirname "$0")/lib.sh"
need_faketime
setup
use_feedback_sink
# The two digests' programs run at once, and each document (about 165
# kB) is more than cat writes at a time (128 kB): without the lock the
# second's first write can land between the first's two. Either may
# take the lock first: their numbers are compared sorted.
printf '#!/bin/sh\nexec flock %s cat >> %s\n' "$T/notify.lock" "$T/notify.out" > "$T/notify.sh"
chmod 755 "$T/notify.sh"
write_conf <<EOT
postfix_config $T/etc
notify exec:$T/notify.sh on suspend
notify mailto:admin@notify.example on suspend
notify_from floodgate@floodgate.test
notify_max 2
EOT
start_postfix
clock_before_hour 30
start_floodgate
# 601 operator's suspensions: the first two are told at once, 599 wait.
# The first two by floodgatectl, the other 599 by suspend_many (lib.sh).
long=$(printf 'x%.0s' $(seq 1 200))
for i in 0 1; do
	ctl suspend "${long}$i@t.example" > /dev/null || fail "floodgatectl suspend ${long}$i@t.example"
done
suspend_many "$long" 2 600 @t.example 2> "$T/suspend.err" ||
    fail "suspend by the control socket: $(head -3 "$T/suspend.err")"
took=$(( $(date +%s) - NOW ))
[ "$took" -lt 25 ] && ok "the start and the suspensions within the faked hour (${took}s of 25)" ||
    fail "the start and the suspensions took ${took}s: the faked hour may have turned before they were all made"
# Each suspension's incident starts at the service thread's next tick.
waiting() { [ "$(ctl incidents | grep -c ' suspend .*not yet')" -ge "$1" ]; }
wait_for 10 waiting 599
expect_eq "all but the first two wait for the digest" "$(ctl incidents | grep -c ' suspend .*not yet')" 599
wait_for 70 sh -c "[ \$(grep -c '\"event\":\"digest\"' '$T/notify.out') -ge 2 ]" ||
    fail "the digests went out when the hour turned"
sleep 2		# two ticks: nothing more may come
expect_eq "exec: two digest documents, whole, numbered 1 and 2, of 256 incidents each, 512 accounts, each over 64 kB; nothing else after the first two" \
    "$(python3 -c 'import json,sys
lines=open(sys.argv[1]).read().splitlines()
docs=[json.loads(l) for l in lines]
d=[x for x in docs if x.get("event")=="digest"]
names=set(i["subject"] for x in d for i in x["incidents"])
print(len(docs), [len(x["incidents"]) for x in d], sorted(x.get("number") for x in d), len(names), all(len(l) > 65536 for l in lines if "digest" in l))' "$T/notify.out" 2>&1 | tail -1)" \
    "4 [256, 256] [1, 2] 512 True"
expect_eq "the other 87 wait for the next hour" "$(ctl incidents | grep -c ' suspend .*not yet')" 87
wait_for 30 sh -c "[ \$(grep -c '^=== [0-9]* admin@notify.example' '$T/sink/messages' 2>/dev/null) -ge 4 ]" ||
    fail "mailto: four messages reached the admin"
expect_eq "mailto: four messages, the two digests naming 512 accounts, numbered in their subject" \
    "$(python3 -c 'import email,re,sys
msgs=[m for m in open(sys.argv[1]).read().split("=== ")[1:] if "admin@notify.example" in m.split("\n")[0]]
bodies=[email.message_from_string(m.split("\n", 1)[1]) for m in msgs]
dig=[b for b in bodies if "digest" in b["Subject"]]
names=set()
for b in dig:
    names |= set(re.findall(r"x{200}([0-9]+)@t\.example", b.get_payload(decode=True).decode()))
print(len(msgs), len(dig), len(names), sorted(re.sub(r"^floodgate on [^:]*: ", "", b["Subject"]) for b in dig))' "$T/sink/messages")" \
    "4 2 512 ['256 incidents (digest 1 this hour: more than notify_max 2 in an hour)', '256 incidents (digest 2 this hour: more than notify_max 2 in an hour)']"
finish
