#!/bin/bash
# notify_max and the digest: floodgate runs on a clock (libfaketime) a
# few seconds before an hour turns. Three accounts are refused: the
# first incident is told at once, the other two wait, and when the hour
# turns they go together as one digest, to the exec target (one JSON
# document) and to the mailto one (one message). A restart within the
# hour keeps its budget spent (the two still wait); nothing is told
# again after a restart.
. "$(dirname "$0")/lib.sh"
need_faketime
setup
use_feedback_sink
# The program also keeps the signals it was started with blocked and
# ignored: none, as a fresh process's (floodgate's own threads block
# SIGTERM and ignore SIGPIPE, which a child would keep across exec).
# The shell reads its own status with builtins, before it forks: dash
# blocks every signal around each vfork of its own, so a child reading
# the shell's status could see that instead.
cat > "$T/notify.sh" <<EOT
#!/bin/sh
while read -r k v; do
	case \$k in SigBlk:|SigIgn:) echo "\$k \$v" ;; esac
done < /proc/self/status >> "$T/notify.sig"
cat >> "$T/notify.out"
EOT
chmod 755 "$T/notify.sh"
write_conf <<EOT
postfix_config $T/etc
limit tiny per account to tiny.example 1/1h
notify exec:$T/notify.sh on refused
notify mailto:admin@notify.example on refused
notify_from floodgate@floodgate.test
notify_max 1
EOT
# The faked clock: 30 seconds before the next hour, then running on.
# Postfix starts first, so the 30 seconds are only floodgate's start,
# the three sends and a restart.
start_postfix
clock_before_hour 30
start_floodgate
for s in r1 r2 r3; do
	send "$T/$s" $SMTP_PORT "$s@t.example" "a@tiny.example,b@tiny.example"
done
wait_for 5 sh -c "[ \$('$FLOODGATECTL' -c '$T/floodgate.conf' incidents 2>/dev/null | grep -c ' refused ') -ge 3 ]" ||
    fail "three refused incidents: $(ctl incidents)"
took=$(( $(date +%s) - NOW ))
[ "$took" -lt 24 ] && ok "floodgate's start and the three sends within the faked hour (${took}s of 24)" ||
    fail "floodgate's start and the three sends took ${took}s: the faked hour may have turned before the checks below"
sleep 1.5
expect_eq "notify_max 1: one notification before the hour turns" "$(wc -l < "$T/notify.out")" 1
expect_eq "  ... its detail: the rule, what it did and where" \
    "$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["detail"])' "$T/notify.out")" \
    "limit tiny: defer (1 of 1), first to tiny.example"
# Signals 1 to 31: glibc's posix_spawn ignores its own (32 and 33).
expect_eq "the notify program starts with no signal blocked or ignored" \
    "$(sort -u "$T/notify.sig" | while read -r k v; do printf '%s%x ' "$k" $((0x$v & 0x7fffffff)); done)" "SigBlk:0 SigIgn:0 "
expect_eq "the other two wait for the digest" "$(ctl incidents | grep -c ' refused .*not yet')" 2
stop_floodgate
start_floodgate
sleep 1.5
took=$(( $(date +%s) - NOW ))
[ "$took" -lt 28 ] && ok "  ... and the restart (${took}s of 28)" ||
    fail "the restart ended ${took}s after the start: the faked hour may have turned before the checks below"
expect_eq "restarted within the hour: its budget still spent, nothing more told" "$(wc -l < "$T/notify.out")" 1
expect_eq "  ... the two still wait for the digest" "$(ctl incidents | grep -c ' refused .*not yet')" 2

# The hour turns 30 s after the start.
wait_for 30 sh -c "grep -q '\"event\":\"digest\"' '$T/notify.out'" ||
    fail "the digest went out when the hour turned"
expect_eq "exec: the first incident alone, then one digest document (number 1) with the other two" \
    "$(python3 -c 'import json,sys
docs=[json.loads(l) for l in open(sys.argv[1])]
d=[x for x in docs if x.get("event")=="digest"]
first=[x["subject"] for x in docs if x.get("event")=="start"]
print(len(docs), len(d), d[0].get("number") if d else "-", len(d[0]["incidents"]) if d else "-",
    sorted(first + [i["subject"] for i in d[0]["incidents"]]) if d else "-")' "$T/notify.out")" \
    "2 1 1 2 ['r1@t.example', 'r2@t.example', 'r3@t.example']"
wait_for 20 sh -c "[ \$(grep -c '^=== [0-9]* admin@notify.example' '$T/sink/messages' 2>/dev/null) -ge 2 ]" ||
    fail "mailto: two messages reached the admin"
expect_eq "mailto: one message of the first incident, then one digest of the other two" \
    "$(python3 -c 'import re,sys
msgs=[m for m in open(sys.argv[1]).read().split("=== ")[1:] if "admin@notify.example" in m.split("\n")[0]]
subj=[re.sub(r"^floodgate on [^:]*: ", "", re.search(r"^Subject: (.*)$", m, re.M).group(1)) for m in msgs]
named=sorted(set(re.findall(r"r[123]@t\.example", msgs[1]))) if len(msgs) > 1 else []
print(len(msgs), re.sub(r"r[123]@", "R@", subj[0]) if subj else "-", "|", subj[1] if len(subj) > 1 else "-", named)' "$T/sink/messages")" \
    "2 account R@t.example refused by rate limits | 2 incidents (digest 1 this hour: more than notify_max 1 in an hour) $(python3 -c 'import json,sys
d=[json.loads(l) for l in open(sys.argv[1])]
print(sorted(i["subject"] for x in d if x.get("event")=="digest" for i in x["incidents"]))' "$T/notify.out")"
expect_eq "nothing waits any more" "$(ctl incidents | grep -c 'not yet')" 0

stop_floodgate
start_floodgate
sleep 2
expect_eq "after a restart nothing is told again" "$(wc -l < "$T/notify.out")" 2
finish
