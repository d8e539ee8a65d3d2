#!/bin/bash
# floodgatectl after a real burst: status, top, show and explain report
# exactly what the clients were told and the sink received; explain
# charges nothing; reset lets a refused tenant send at once; --json
# parses; an unprivileged user is refused; a daemon that does not
# answer is given up on after -t seconds; a file with errors elsewhere
# still reaches the daemon; with the daemon stopped, the read-only
# commands read the database.
. "$(dirname "$0")/lib.sh"
setup
cat > "$T/accounts" <<EOT
tenant-a.example  tenant-a
tenant-b.example  tenant-b
digits.example    12345
EOT
write_conf <<EOT
account_map $T/accounts
group carriers docomo.ne.jp
limit tenant-hour    per account                      5/1h
limit tenant-carrier per account+domain to @carriers  2/1h
EOT
start_floodgate
start_postfix

send "$T/a1" $SMTP_PORT news@tenant-a.example "$(rcpts a example.com 8)"
send "$T/b1" $SMTP_PORT info@tenant-b.example "$(rcpts b docomo.ne.jp 3)"
drain
expect_eq "client: tenant-a deferred" "$(count_replies "$T/a1" 451)" 3
expect_eq "client: tenant-b deferred" "$(count_replies "$T/b1" 451)" 1
expect_eq "sink" "$(sink_count)" 7

ctl status > "$T/status"
expect_eq "status: exit 0" $? 0
expect_eq "status: accepted" "$(awk '$1 == "accepted" {print $2}' "$T/status")" 7
expect_eq "status: deferred" "$(awk '$1 == "deferred" {print $2}' "$T/status")" 4
expect_eq "status: store" "$(awk '$1 == "store" {print $2}' "$T/status")" ok

ctl top > "$T/top"
expect_eq "top: tenant-a accepted/deferred" "$(awk '$1 == "tenant-a" {print $2 "/" $3}' "$T/top")" 5/3
expect_eq "top: tenant-b accepted/deferred" "$(awk '$1 == "tenant-b" {print $2 "/" $3}' "$T/top")" 2/1
ctl top --by rule > "$T/toprule"
expect_eq "top --by rule: tenant-hour refusals" "$(awk '$1 == "tenant-hour" {print $2}' "$T/toprule")" 3
ctl top --by domain --since 1d -n 5 > "$T/topdom"
expect_eq "top --by domain: docomo.ne.jp accepted" "$(awk '$1 == "docomo.ne.jp" {print $2}' "$T/topdom")" 2

ctl show tenant-a > "$T/show"
expect_eq "show: tenant-hour used/limit" "$(awk '$1 == "tenant-hour" {print $5 "/" $6}' "$T/show")" 5/5
expect_eq "show: three recent refusals" "$(grep -c '^20[0-9-]* [0-9:]* *tenant-hour *example.com *defer' "$T/show")" 3
ctl show news@tenant-a.example > "$T/show2"
grep -q "^account *tenant-a$" "$T/show2" && ok "show: a sender address resolves to its tenant" || fail "$(head -3 "$T/show2")"
ctl show tenant-b > "$T/showb"
expect_eq "show: account+domain window" "$(awk '$1 == "tenant-carrier" {print $4 " " $5 "/" $6}' "$T/showb")" "tenant-b/docomo.ne.jp 2/2"

for i in 1 2 3; do ctl explain tenant-a someone@example.com > "$T/explain"; done
grep -q "^verdict *defer$" "$T/explain" && grep -q "^rule *tenant-hour$" "$T/explain" &&
    ok "explain: would be deferred by tenant-hour" || fail "$(cat "$T/explain")"
ctl explain tenant-a someone@docomo.ne.jp > "$T/explain2"
grep -q "^verdict *defer$" "$T/explain2" && ok "explain: carrier recipient too" || fail "$(cat "$T/explain2")"
ctl explain tenant-b someone@example.com > "$T/explain3"
grep -q "^verdict *pass$" "$T/explain3" && ok "explain: tenant-b may send to example.com" || fail "$(cat "$T/explain3")"
ctl show tenant-a > "$T/show3"
expect_eq "explain charged nothing" "$(awk '$1 == "tenant-hour" {print $5}' "$T/show3")" 5

if command -v python3 >/dev/null; then
	for c in status top show explain; do
		case $c in
		show) args="show tenant-a" ;;
		explain) args="explain tenant-a x@example.com" ;;
		*) args=$c ;;
		esac
		ctl --json $args | python3 -m json.tool > /dev/null &&
		    ok "--json $c parses" || fail "--json $c: $(ctl --json $args | head -c 300)"
	done
	expect_eq "--json: numbers are numbers" \
	    "$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["accepted"] + 0)')" 7
	# Types follow the field, not the value: an account of digits is text.
	send "$T/n1" $SMTP_PORT info@digits.example "$(rcpts n example.net 1)"
	expect_eq "--json: an all-digit account is a string (top)" \
	    "$(ctl --json top | python3 -c 'import json,sys; print([type(r["account"]).__name__ for r in json.load(sys.stdin)["records"] if r["account"] == "12345"])')" "['str']"
	expect_eq "--json: an all-digit account is a string (show)" \
	    "$(ctl --json show 12345 | python3 -c 'import json,sys; r = json.load(sys.stdin)["records"]; print(type(r[0]["account"]).__name__, type(r[1]["used"]).__name__)')" "str int"
else
	say "python3 not installed: --json not parsed"
fi

# An unprivileged user: the configuration (0640, as installed) and the
# socket's directory already keep it out; open both and floodgate
# itself refuses it (SO_PEERCRED).
out=$(su nobody -s /bin/sh -c "$FLOODGATECTL -c $T/floodgate.conf status" 2>&1)
expect_eq "unprivileged: refused" "$?" 1
chmod o+x "$T/fg"
chmod 666 "$T/fg/control.sock"
chmod 644 "$T/floodgate.conf"
out=$(su nobody -s /bin/sh -c "$FLOODGATECTL -c $T/floodgate.conf status" 2>&1)
echo "$out" | grep -q "permission denied: the control socket is for root and the floodgate group" &&
    ok "unprivileged: refused by floodgate's peer check" || fail "nobody got: $out"
wait_log "control: refused uid=$(id -u nobody)" && ok "the refusal is logged" || fail "no log line"
chmod 660 "$T/fg/control.sock"
chmod o-x "$T/fg"
chmod 640 "$T/floodgate.conf"

# Slow and greedy clients cannot stall the service thread.
if command -v python3 >/dev/null; then
	python3 - "$T/fg/control.sock" > "$T/stall" 2>&1 <<'PY'
import socket, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s
stalled = [conn() for _ in range(4)]
for s in stalled:
    s.send(b"floodgate/1 sta")          # half a request, then nothing
time.sleep(0.3)
fifth = conn()
fifth.settimeout(3)
print("fifth:", fifth.recv(200).decode().splitlines()[0])
t0 = time.time()
stalled[0].settimeout(10)
data = stalled[0].recv(100)
print("stalled closed after %.0f s with %r" % (time.time() - t0, data))
PY
	grep -q "fifth: error too many control connections" "$T/stall" && ok "a fifth connection of one user is refused" || fail "$(cat "$T/stall")"
	grep -q "stalled closed after [3-9] s with b''" "$T/stall" && ok "a stalled client is dropped after 5 s" || fail "$(cat "$T/stall")"
	ctl status > /dev/null && ok "the service thread still answers" || fail "status after stalls"
	# A byte a second keeps no connection: the deadline counts from
	# the connect, not from the last byte.
	python3 - "$T/fg/control.sock" > "$T/trickle" 2>&1 <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
t0 = time.time()
req = b"floodgate/1 status extra-words-to-make-it-long\n"
try:
    for b in req:
        s.send(bytes([b]))
        s.settimeout(1)
        try:
            if s.recv(100) == b"":
                break
        except socket.timeout:
            pass
except (BrokenPipeError, ConnectionResetError):
    pass
print("trickler dropped after %.0f s" % (time.time() - t0))
PY
	grep -q "trickler dropped after [4-7] s" "$T/trickle" && ok "a client sending a byte a second is dropped by its 5 s deadline" ||
	    fail "$(cat "$T/trickle")"
fi

# The release steps are root's, whatever floodgatectl does: a member of
# floodgate's group may read the held list but not drop a held message
# from it or release one.
chmod o+x "$T/fg"
chmod 666 "$T/fg/control.sock"
cat > "$T/ask.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile("rb").read().decode().splitlines()[0])
PY
member() { setpriv --reuid=nobody --regid=0 --clear-groups /usr/bin/python3 "$T/ask.py" "$T/fg/control.sock" "$1"; }
expect_eq "group member: held is allowed" "$(member "floodgate/1 held")" "ok"
expect_eq "group member: release-done refused by the daemon" "$(member "floodgate/1 release-done ABC123 gone")" \
    "error release-done: permission denied: root only"
expect_eq "group member: release-plan refused by the daemon" "$(member "floodgate/1 release-plan")" \
    "error release-plan: permission denied: root only"
wait_log "control: refused release-done from uid=$(id -u nobody): root only" && ok "the refusal is logged" || fail "no log line"
expect_eq "group member: reset is allowed" "$(member "floodgate/1 reset tenant-c")" "ok"
wait_log "control: reset account=tenant-c rule=\* windows=0; asked by uid=$(id -u nobody) (nobody)" &&
    ok "the reset is logged with who asked" || fail "reset: $(grep 'control: reset' "$T/floodgate.log")"
chmod 660 "$T/fg/control.sock"
chmod o-x "$T/fg"

ctl reset tenant-a > "$T/reset"
expect_eq "reset: windows reset" "$(awk '$1 == "windows_reset" {print $2}' "$T/reset")" 1
send "$T/a2" $SMTP_PORT news@tenant-a.example "$(rcpts c example.com 2)"
expect_eq "after reset: tenant-a sends at once" "$(count_replies "$T/a2" 451)" 0
ctl reset tenant-b tenant-carrier > /dev/null
send "$T/b2" $SMTP_PORT info@tenant-b.example "$(rcpts d docomo.ne.jp 2)"
expect_eq "reset of one rule: tenant-b's carrier budget is back" "$(count_replies "$T/b2" 451)" 0
ctl reload > /dev/null
expect_eq "reload" $? 0
wait_log "control: reload of $T/floodgate.conf; asked by uid=0 (root)" &&
    ok "the reload is logged with who asked" || fail "reload: $(grep 'control: reload' "$T/floodgate.log")"
ctl frobnicate > /dev/null 2> "$T/unknown"
expect_eq "unknown command: a usage error, exit 2" $? 2
grep -q '"frobnicate": unknown command; expected status, top, show, explain, held, release, reset, reload, suspend, resume, pauses, pause, unpause or incidents' "$T/unknown" &&
    ok "unknown command: says so, with the commands from the table" || fail "$(cat "$T/unknown")"
# The daemon's own answer to a verb it does not know lists the same.
printf 'floodgate/1 frobnicate\n' | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
print(s.makefile("rb").read().decode())' "$T/fg/control.sock" > "$T/unknown2"
grep -q '^error "frobnicate": unknown command; expected status, top, show, explain, held, release, reset, reload, suspend, resume, pauses, pause, unpause or incidents' "$T/unknown2" &&
    ok "the daemon names the commands too" || fail "$(cat "$T/unknown2")"
# Asked for, the usage is no error: stdout, exit 0; the version is
# floodgate's own.
"$FLOODGATECTL" --help > "$T/help" 2> "$T/help.err"
expect_eq "--help: exit 0, the usage on stdout, nothing on stderr" \
    "$? $(grep -c '^usage: floodgatectl ' "$T/help") $(grep -c '^  incidents ' "$T/help") $(wc -c < "$T/help.err")" "0 1 1 0"
expect_eq "--version: floodgate's" "$("$FLOODGATECTL" --version) $("$FLOODGATECTL" -V)" \
    "floodgatectl ${FG_VERSION:=$("$FLOODGATE" --version | sed -n 's/^floodgate \([0-9][0-9.]*\)$/\1/p')} floodgatectl $FG_VERSION"
# incidents takes its duration after --since only: a bare word was
# sent on as if --since stood before it.
ctl incidents 7d > /dev/null 2> "$T/inc-bare"
expect_eq "incidents 7d: a usage error, exit 2, naming the word" \
    "$? $(grep -c 'incidents: "7d": expected --since DURATION' "$T/inc-bare")" "2 1"
ctl incidents --since 7d --since 1d > /dev/null 2> "$T/inc-twice"
expect_eq "incidents with --since twice: exit 2" \
    "$? $(grep -c 'incidents: "--since": expected --since DURATION (once)' "$T/inc-twice")" "2 1"
ctl incidents --since 7d > "$T/inc-ok"
expect_eq "incidents --since 7d answers" $? 0
"$FLOODGATECTL" -x > /dev/null 2> "$T/bad-opt"
expect_eq "an unknown option: the usage on stderr, exit 2" "$? $(grep -c '^usage: floodgatectl ' "$T/bad-opt")" "2 1"
# An empty argument (a script's variable unset) is an error: sent on,
# it vanished between the request's blanks and the next word took its
# place, so that suspend "" 2h suspended an account named 2h for good.
ctl suspend "" 2h > "$T/empty.out" 2> "$T/empty.err"
expect_eq "suspend \"\" 2h: exit 2, the empty argument named, nothing sent" \
    "$? $(grep -c '^floodgatectl: suspend: argument 1 is empty; expected suspend ACCOUNT \[DURATION\]$' "$T/empty.err") $(wc -c < "$T/empty.out")" "2 1 0"
ctl reset tenant-b "" > /dev/null 2> "$T/empty2.err"
expect_eq "reset tenant-b \"\": exit 2, the second argument named" \
    "$? $(grep -c 'reset: argument 2 is empty' "$T/empty2.err")" "2 1"
ctl show 2h > "$T/empty.show"
expect_eq "no account named 2h was suspended" "$(awk '$1 == "suspended" {print $2}' "$T/empty.show")" no
expect_eq "nor any other" "$(ctl status | awk '$1 == "suspended_accounts" {print $2}')" 0
"$FLOODGATECTL" -s "" status > /dev/null 2> "$T/empty3.err"
expect_eq "-s \"\": exit 2, said (before, the database read as if floodgate were stopped)" \
    "$? $(grep -c '^floodgatectl: -s: expected a control socket, not an empty word$' "$T/empty3.err")" "2 1"
drain

# A daemon that does not answer (stopped): floodgatectl gives up after
# -t seconds with a reason, rather than wait for ever.
kill -STOP "$FG_PID"
start=$(date +%s)
ctl -t 2 status > /dev/null 2> "$T/stopped.err"
rc=$? took=$(( $(date +%s) - start ))
kill -CONT "$FG_PID"
expect_eq "stopped daemon: exit 1" "$rc" 1
grep -q "^floodgatectl: $T/fg/control.sock: no answer within 2 s$" "$T/stopped.err" &&
    ok "stopped daemon: says it had no answer within 2 s" || fail "$(cat "$T/stopped.err")"
[ "$took" -ge 2 ] && [ "$took" -le 6 ] && ok "stopped daemon: gave up after ${took} s" ||
    fail "gave up after ${took} s"
ctl status > /dev/null && ok "resumed daemon: answers again" || fail "status after SIGCONT"

# A file with an error elsewhere: floodgate runs the one it last loaded,
# and floodgatectl still reaches it by the file's sound control line,
# and runs release with its MTA's settings; without the daemon it stops
# and says why.
cp "$T/floodgate.conf" "$T/good.conf"
printf 'postfix_config %s\nlimit broken per acount 1/1h\n' "$T/etc" >> "$T/floodgate.conf"
ctl show tenant-a > "$T/broken" 2> "$T/broken.err"
expect_eq "a file with errors: show answers from the daemon, exit 0" \
    "$?:$(awk '$1 == "tenant-hour" {print $5}' "$T/broken")" "0:2"
grep -q "floodgate.conf:[0-9]*: limit broken: \"acount\": expected a scope" "$T/broken.err" &&
    grep -q "configuration has errors (floodgate runs the one it last loaded); only its control, database, mta, postfix_config, sendmail_path and sendmail_config are read$" "$T/broken.err" &&
    ok "  ... and says what is wrong, and what it read" || fail "$(cat "$T/broken.err")"
ctl release > "$T/broken-rel" 2> /dev/null
expect_eq "  ... release runs" $? 0
stop_floodgate
ctl status > /dev/null 2> "$T/broken-off.err"
expect_eq "  ... without the daemon: exit 1" $? 1
grep -q "floodgate is not running, and its database is read here only with a configuration without errors$" "$T/broken-off.err" &&
    ok "  ... and says why" || fail "$(cat "$T/broken-off.err")"
cp "$T/good.conf" "$T/floodgate.conf"
ctl show tenant-a > "$T/off" 2> "$T/off.err"
expect_eq "offline show: exit 0" $? 0
grep -q "floodgate is not running; reading $T/floodgate.db (read-only)" "$T/off.err" &&
    ok "offline: says it reads the database" || fail "$(cat "$T/off.err")"
expect_eq "offline show: the window as the daemon left it" "$(awk '$1 == "tenant-hour" {print $5}' "$T/off")" 2
ctl top > "$T/offtop" 2>/dev/null
expect_eq "offline top: tenant-a accepted" "$(awk '$1 == "tenant-a" {print $2}' "$T/offtop")" 7
ctl reset tenant-a > /dev/null 2> "$T/offreset"
expect_eq "offline reset: refused" $? 1
finish
