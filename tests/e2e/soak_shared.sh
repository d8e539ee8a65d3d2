#!/bin/bash
# make soak (not part of make check: random, and minutes long): two
# relays with store redis on one private redis-server, fgload on each,
# while every second or so Redis is killed and started again empty, shut
# down, flushed, paused for all commands or for writes, filled
# (maxmemory), its clients or scripts thrown away, the relays reloaded
# (SIGUSR1, SIGHUP), and floodgatectl asked on relay 1. For SOAK_SECONDS
# (default 300).
# Checks: no protocol error and no stalled run in any fgload run, both
# relays alive throughout and back on Redis once the faults stop, every
# floodgatectl command answered, systemd's watchdog (played by a socket
# of the test's) pinged all along by both, clean exits on SIGTERM, and
# (with make soak SANITIZE=1) no sanitizer report. Random by design: a failure
# prints the actions that led to it ($T/actions).
. "$(dirname "$0")/lib.sh"
REDIS=/usr/bin/redis-server
[ -x "$REDIS" ] || skip "no $REDIS (Debian package redis-server)"
[ -x "$FGLOAD" ] || skip "fgload is not built (make $FGLOAD)"
SECONDS_LEFT=${SOAK_SECONDS:-300}
setup
RPORT=$(free_port)
rcli() { timeout 10 redis-cli -p "$RPORT" "$@" >/dev/null 2>&1; }
start_redis

# The sample's rules, tenants' limits raised so that most recipients
# pass and some are refused.
RULES="$(grep -E '^(group|limit|cap|exempt account)' "$TOP/conf/floodgate.conf" |
    sed -E 's#30/1m#300/1m#; s#200/1h#2000/1h#')
store redis://127.0.0.1:$RPORT
relays 2
redis_reservation_ttl 1m"
write_conf <<EOT
$RULES
EOT
mkdir -p "$T/fg2"
cat > "$T/fg2.conf" <<EOT
listen   unix:$T/fg2/milter.sock
control  $T/fg2/control.sock
database $T/fg2.db
engine   ${ENGINE:-native}
$RULES
user     root
EOT
# systemd's part for the watchdog, one socket a relay: WATCHDOG=1 is
# sent only while the milter loop has run within 5 s (half of 10 s).
notify_socket "$T/notify1.sock" "$T/notified1"
notify_socket "$T/notify2.sock" "$T/notified2"
watched() { echo "env NOTIFY_SOCKET=$T/notify$1.sock WATCHDOG_USEC=10000000"; }
FG_ENV=$(watched 1)
start_floodgate
$(watched 2) "$FLOODGATE" -f -c "$T/fg2.conf" >>"$T/fg2.log" 2>&1 &
FG2_PID=$!
EXTRA_PIDS="${EXTRA_PIDS:-} $FG2_PID"
up_on() { grep -q "answers; deciding from it" "$1"; }
wait_for 10 up_on "$T/floodgate.log" && wait_for 10 up_on "$T/fg2.log" ||
    { fail "both relays reached Redis"; finish; }

# load N SOCKET: fgload runs of 20 s until $T/running goes; each run's
# output in $T/loadN.K.
load() {
	local k=0
	while [ -e "$T/running" ]; do
		k=$((k + 1))
		timeout 120 "$FGLOAD" -S "unix:$2" -c 20 -m 100000 -r 5 -p 30 \
		    -a 300 -t 20 > "$T/load$1.$k" 2>&1
		[ $? = 124 ] && echo "relay $1, run $k: no end within 120 s" >> "$T/stalls"
	done
}
: > "$T/stalls"
: > "$T/ctl-failed"
touch "$T/running"
load 1 "$T/fg/milter.sock" & L1=$!
load 2 "$T/fg2/milter.sock" & L2=$!
EXTRA_PIDS="${EXTRA_PIDS:-} $L1 $L2"

end=$(( $(date +%s) + SECONDS_LEFT ))
died=
while [ "$(date +%s)" -lt "$end" ]; do
	a=$((RANDOM % 10))
	echo "$(date +%T) $a" >> "$T/actions"
	case $a in
	0) kill_hard "$REDIS_PID"
	   sleep $((RANDOM % 4)); start_redis ;;
	1) rcli CLIENT KILL TYPE normal ;;
	2) rcli SCRIPT FLUSH ;;
	3) rcli FLUSHALL ;;
	4) rcli CLIENT PAUSE $((RANDOM % 800)) ALL ;;
	5) rcli CONFIG SET maxmemory 1; sleep $((RANDOM % 3))
	   rcli CONFIG SET maxmemory 0 ;;
	6) rcli SHUTDOWN NOSAVE; wait "$REDIS_PID" 2>/dev/null; sleep 1
	   start_redis ;;
	7) for c in status top "show user@tenant5.example" \
	       "explain user@tenant5.example x@docomo.ne.jp" pauses incidents; do
		# shellcheck disable=SC2086
		timeout 30 "$FLOODGATECTL" -c "$T/floodgate.conf" $c >/dev/null 2>>"$T/ctl.log" ||
		    echo "$c: exit $?" >> "$T/ctl-failed"
	   done ;;
	8) kill -USR1 "$FG_PID"; kill -HUP "$FG2_PID" ;;
	9) rcli CLIENT PAUSE 3000 WRITE; sleep 0.5
	   rcli CLIENT KILL TYPE normal; sleep 1; rcli CLIENT UNPAUSE ;;
	esac
	sleep "0.$((RANDOM % 9))"
	alive "$FG_PID" || { died="relay 1"; break; }
	alive "$FG2_PID" || { died="relay 2"; break; }
done
rm -f "$T/running"
wait "$L1" "$L2" 2>/dev/null
rcli CLIENT UNPAUSE
rcli CONFIG SET maxmemory 0
expect_eq "both relays alive through $(wc -l < "$T/actions") faults" "${died:-none died}" "none died"
runs=$(cat "$T"/load1.* "$T"/load2.* | grep -c 'decisions=')
decided=$(cat "$T"/load1.* "$T"/load2.* | awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); if (kv[1] == "decisions") s += kv[2]}} END {print s + 0}')
expect_eq "every fgload run ended with its counts ($runs runs, $decided decisions)" \
    "$(ls "$T"/load1.* "$T"/load2.* | wc -l)" "$runs"
expect_eq "no protocol error in any run" \
    "$(cat "$T"/load1.* "$T"/load2.* | grep -c 'errors=[1-9]')" 0
expect_eq "no run stalled" "$(wc -l < "$T/stalls")" 0
expect_eq "floodgatectl answered every command" "$(cat "$T/ctl-failed")" ""
# The soak's length in pings, give or take the start and the end.
pings() { grep -c '^WATCHDOG=1$' "$T/notified$1" 2>/dev/null || true; }
expect_eq "the watchdog pinged by both, about each second ($(pings 1) and $(pings 2) in ${SOAK_SECONDS:-300} s), no stall logged" \
    "$([ "$(pings 1)" -ge $((${SOAK_SECONDS:-300} * 9 / 10)) ] && [ "$(pings 2)" -ge $((${SOAK_SECONDS:-300} * 9 / 10)) ] && echo yes) $(cat "$T/floodgate.log" "$T/fg2.log" | grep -c 'watchdog: ')" "yes 0"
# Once the faults stop, both relays decide from Redis again.
back_up() {
	[ "$(ctl status | awk '$1 == "decisions" {print $4}')" = "(up)" ] &&
	    [ "$("$FLOODGATECTL" -c "$T/fg2.conf" status 2>/dev/null |
	    awk '$1 == "decisions" {print $4}')" = "(up)" ]
}
if wait_for 60 back_up; then
	ok "both relays back on Redis once the faults stopped"
else
	fail "both relays back on Redis: $(ctl status | grep '^decisions') / $("$FLOODGATECTL" -c "$T/fg2.conf" status 2>&1 | grep '^decisions')"
fi
kill -TERM "$FG2_PID"
for _ in $(seq 1 100); do alive "$FG2_PID" || break; sleep 0.1; done
wait "$FG2_PID" 2>/dev/null
expect_eq "relay 2 exited cleanly on SIGTERM" "$?" 0
if grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T/fg2.log"; then
	fail "sanitizer report in relay 2's output"
	grep -A5 "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T/fg2.log" | head -30
fi
[ "$FAILS" -gt 0 ] && { echo "the faults, in order:"; cat "$T/actions"; }
finish
