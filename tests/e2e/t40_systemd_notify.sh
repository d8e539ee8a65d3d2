#!/bin/bash
# floodgate under systemd's Type=notify: READY=1 once the MTA is served
# (its socket answers by then, and mail flows), RELOADING=1 and READY=1
# around each reload with a STATUS= line that says whether the last
# reload failed, STOPPING=1 at the stop, WATCHDOG=1 each second when
# systemd's watchdog asks for it, nothing once detached (no -f), and a
# start that fails says why in STATUS= without READY=1. The test plays
# systemd's part: a datagram socket named by NOTIFY_SOCKET.
. "$(dirname "$0")/lib.sh"
setup
write_conf <<EOT
limit tenant-hour per account 3/1h
postfix_map unix:$T/fg/map.sock
EOT
cp "$T/floodgate.conf" "$T/floodgate.conf.good"

# notified: every message so far, one a line, its own newlines as "|";
# at READY=1 the receiver says whether the milter socket took a
# connection then.
notify_socket "$T/notify.sock" "$T/notified" "$T/fg/milter.sock"
chmod 666 "$T/notify.sock"
notified() { cat "$T/notified" 2>/dev/null; }
count() { grep -c -- "$1" "$T/notified" 2>/dev/null || true; }
readies() { [ "$(count '^READY=1')" -ge "$1" ]; }	# for wait_for
told_since() { [ "$(count '')" -gt "$1" ]; }

FG_ENV="env NOTIFY_SOCKET=$T/notify.sock"
start_floodgate
start_postfix
wait_for 5 grep -q "READY=1" "$T/notified" || fail "no READY=1: $(notified)"
expect_eq "at start: loading, then ready once, the milter socket answering" \
    "$(sed -n '1{s/|.*//;p;}' "$T/notified") $(count '^READY=1|STATUS=serving unix:.*/milter.sock: 1 rules, mode enforce, engine '"${ENGINE:-native}"' \[milter socket answers\]$')" \
    "STATUS=loading $T/floodgate.db 1"
ctl status > "$T/status0"
send "$T/m1" $SMTP_PORT a@t1.example "$(rcpts r example.com 4)"
expect_eq "mail flows: 3 accepted, the 4th deferred" "$(count_replies "$T/m1" 451)" 1

# A reload by floodgatectl, then a broken file by SIGHUP, then mended by
# SIGUSR1: each one RELOADING=1 then READY=1; a failed one says so.
ctl reload > /dev/null
wait_for 5 readies 2 || fail "reload: no READY=1: $(notified)"
expect_eq "floodgatectl reload: RELOADING=1, then READY=1 serving" \
    "$(sed -n '3,4p' "$T/notified" | sed 's/ \[.*//' | tr '\n' ' ')" \
    "RELOADING=1 READY=1|STATUS=serving unix:$T/fg/milter.sock: 1 rules, mode enforce, engine ${ENGINE:-native} "
echo "limit broken per account 3/1x" >> "$T/floodgate.conf"
kill -HUP "$FG_PID"
wait_for 5 readies 3 || fail "failed reload: no READY=1: $(notified)"
expect_eq "a reload that fails: still ready, STATUS says so" \
    "$(sed -n '5,6p' "$T/notified" | sed 's/ \[.*//' | tr '\n' ' ')" \
    "RELOADING=1 READY=1|STATUS=serving unix:$T/fg/milter.sock: 1 rules, mode enforce, engine ${ENGINE:-native}; the last reload failed: $T/floodgate.conf has errors (see the log) "
cp "$T/floodgate.conf.good" "$T/floodgate.conf"
echo "limit second per account 10/1d" >> "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_for 5 readies 4 || fail "mended reload: no READY=1: $(notified)"
expect_eq "mended: the failure is no longer said, the new rule counted" \
    "$(sed -n '8p' "$T/notified" | sed 's/ \[.*//')" \
    "READY=1|STATUS=serving unix:$T/fg/milter.sock: 2 rules, mode enforce, engine ${ENGINE:-native}"

stop_floodgate
expect_eq "at the stop: STOPPING=1, and nothing after it" \
    "$(tail -1 "$T/notified") $(count 'STOPPING=1')" "STOPPING=1|STATUS=stopping on SIGTERM 1"

# systemd's watchdog: with WATCHDOG_USEC (and no WATCHDOG_PID, or this
# process's), a WATCHDOG=1 about each second while the milter engine's
# loop and the socket map's run; none without it (above), none for
# another process's.
expect_eq "no watchdog asked for: no WATCHDOG=1" "$(count '^WATCHDOG=1$')" 0
expect_eq "  ... status says none (the last run's answer)" "$(awk '$1 == "watchdog" {print $2}' "$T/status0")" 0
FG_ENV="env NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=4000000"
start_floodgate
watchdogs() { [ "$(count '^WATCHDOG=1$')" -ge "$1" ]; }
wait_for 10 watchdogs 3 && ok "WATCHDOG_USEC=4000000: WATCHDOG=1 again and again" ||
    fail "WATCHDOG_USEC=4000000: fewer than three WATCHDOG=1 in 10 s: $(notified)"
expect_eq "  ... status says the watchdog's time" "$(ctl status | awk '$1 == "watchdog" {print $2}')" 4
stop_floodgate
n=$(count '^WATCHDOG=1$')
FG_ENV="env NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=4000000 WATCHDOG_PID=1"
start_floodgate
sleep 2.5
stop_floodgate
expect_eq "WATCHDOG_PID another process's: no WATCHDOG=1" "$(count '^WATCHDOG=1$')" "$n"

# Detached (no -f), floodgate is not the process systemd started and
# listens to: it tells nothing, watchdog or not.
n=$(count '')
env NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=4000000 "$FLOODGATE" -c "$T/floodgate.conf" 2>> "$T/floodgate.log" &&
    wait_for 10 ctl status > /dev/null || fail "floodgate detached and answers"
# The daemon's own PID (not one of the forks it detached through).
p=$(ctl status | awk '$1 == "pid" {print $2}')
if [ -n "$p" ]; then
	EXTRA_PIDS="${EXTRA_PIDS:-} $p"
	sleep 2.5
	kill -TERM "$p"
	wait_for 10 sh -c "! kill -0 $p 2>/dev/null" || fail "detached floodgate stopped on SIGTERM"
fi
expect_eq "detached: nothing told" "$(count '')" "$n"

# A start that fails (its socket's directory is missing) never says
# READY=1, and says why.
n=$(count '')
sed -i "s|^listen .*|listen unix:$T/nowhere/milter.sock|" "$T/floodgate.conf"
env NOTIFY_SOCKET="$T/notify.sock" "$FLOODGATE" -f -c "$T/floodgate.conf" >> "$T/floodgate.log" 2>&1
expect_eq "a failed start: exit 1" $? 1
wait_for 5 told_since "$n" || fail "a failed start told nothing: $(notified)"
expect_eq "  ... no READY=1, STATUS= names the cause" \
    "$(tail -n +$((n + 1)) "$T/notified" | grep -c READY=1) $(tail -1 "$T/notified" | grep -c "^STATUS=not started: listen .*$T/nowhere/milter.sock: ")" "0 1"
finish
