#!/bin/bash
# The database removed while floodgate runs (a stray rm, a cleanup
# script): written at its path again within seconds from the file
# floodgate has open, windows, held mail and incidents in it, so that
# a restart keeps every count (before, SQLite went on writing the file
# with no name, and the next start found none: every window empty).
# The file alone, then with its -wal and -shm. A database replaced by
# another file is said once and left alone. While the file at the path
# is not floodgate's (replaced, or removed and not written back yet), a
# store incident, status and /metrics say so (before, the log alone). The control socket removed:
# made again within a second; while it cannot be (its directory gone),
# floodgatectl, the release timer's run too, says floodgate runs but
# cannot be reached (before, "not running", and the release timer's
# runs failed saying only that release needs the daemon). The MTA's socket
# removed: the native engine makes it again, and floodgate decides
# again (before, Postfix's milter_default_action decided every message
# until a restart); engine libmilter cannot, and says so once. The
# socket map's: made again, and it answers (before, Postfix deferred
# all the mail it routes through it); another program's socket renamed
# over it is said once and left alone (before, not said).
. "$(dirname "$0")/lib.sh"
setup
command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
q() { sqlite3 -bail "$T/floodgate.db" "$1"; }
put_back() { [ "$(log_count "store: database $T/floodgate.db was removed while floodgate ran: written there again from the file it had open")" -ge "$1" ]; }
db_state() {	# status's database_in_place|store incidents|gauge|put-backs since the start
	http_get /metrics | tr -d '\r' > "$T/metrics"
	printf '%s|%s|%s|%s' \
	    "$(ctl --json status | python3 -c 'import json, sys; print(json.load(sys.stdin)["records"][0]["database_in_place"])')" \
	    "$(ctl --json incidents | python3 -c '
import json, sys
print(" ".join("%s:%s" % (r["subject"], r["state"]) for r in json.load(sys.stdin)["records"] if r["kind"] == "store"))')" \
	    "$(awk '$1 == "floodgate_store_in_place" {print $2}' "$T/metrics")" \
	    "$(awk '$1 == "floodgate_store_put_back_total" {print $2}' "$T/metrics")"
}
db_state_is() { [ "$(db_state)" = "$1" ]; }

MPORT=$(free_port)
write_conf <<EOT
metrics 127.0.0.1:$MPORT
limit tenant-hour per account 10/1h
limit parked per account to hold.example 0/1h action hold
postfix_map unix:$T/fg/map.sock
postfix_config $T/etc
EOT
mkdir "$T/ctl"
sed -i "s|^control .*|control $T/ctl/control.sock|" "$T/floodgate.conf"
start_floodgate
start_postfix
send "$T/a1" $SMTP_PORT news@tenant-a.example "$(rcpts a example.com 5)"
send "$T/h1" $SMTP_PORT news@tenant-b.example h1@hold.example
wait_for 10 sh -c "[ \"\$(sqlite3 '$T/floodgate.db' 'SELECT count(*) FROM held')\" = 1 ]" ||
    fail "the held message is in the database"
expect_eq "the first five accepted" "$(count_replies "$T/a1" 4..)" 0

# The file alone: its -wal and -shm stay at the path, floodgate's own.
rm -f "$T/floodgate.db"
wait_for 10 put_back 1 ||
    fail "the removed database is put back: $(grep 'store:' "$T/floodgate.log")"
expect_eq "  ... a database at the path, whole" "$(q 'PRAGMA quick_check')" ok
expect_eq "  ... with the held message and the tenant's window" \
    "$(q "SELECT count(*) FROM held") $(q "SELECT count(*) FROM windows WHERE rule = 'tenant-hour'")" "1 1"
send "$T/a2" $SMTP_PORT news@tenant-a.example "$(rcpts b example.com 3)"
expect_eq "mail flows meanwhile" "$(count_replies "$T/a2" 4..)" 0

# The file and its -wal and -shm.
rm -f "$T/floodgate.db" "$T/floodgate.db-wal" "$T/floodgate.db-shm"
wait_for 10 put_back 2 ||
    fail "put back again, its -wal and -shm removed too: $(grep 'store:' "$T/floodgate.log")"
send "$T/a3" $SMTP_PORT news@tenant-a.example "$(rcpts c example.com 1)"
expect_eq "  ... and mail flows" "$(count_replies "$T/a3" 4..)" 0
expect_eq "  ... no error said" "$(grep -c ' floodgate error: ' "$T/floodgate.log")" 0
expect_eq "  ... in place, no incident, both put-backs counted in /metrics" \
    "$(db_state)" "yes||1|2"

# A restart keeps every count: 9 of the 10 spent, the held message kept.
stop_floodgate
expect_eq "floodgate stopped cleanly" "$FG_STATUS" 0
expect_eq "the file whole after the stop" "$(q 'PRAGMA integrity_check')" ok
start_floodgate
send "$T/a4" $SMTP_PORT news@tenant-a.example "$(rcpts d example.com 3)"
expect_eq "after a restart: one more passes, the rest deferred (9 of 10 spent before)" \
    "$(count_replies "$T/a4" 4..) $(count_replies "$T/a4" 451)" "2 2"
expect_eq "after a restart: the held message still listed" \
    "$(ctl --json held | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["records"]))')" 1

# The control socket removed: made again, floodgatectl answered.
made_again() { [ "$(log_count "control socket $T/ctl/control.sock was removed while floodgate ran: made again")" -ge "$1" ]; }
rm -f "$T/ctl/control.sock"
wait_for 5 made_again 1 ||
    fail "the removed control socket is made again: $(grep 'control socket' "$T/floodgate.log")"
expect_eq "  ... and floodgatectl reaches floodgate" \
    "$(ctl status 2>&1 | awk '$1 == "pid" {print $2}')" "$FG_PID"
# Its directory gone too: said once; floodgatectl says floodgate runs
# (its database's lock) and reads the database, and what needs the
# daemon is refused; the directory back, the socket is made again.
rm -rf "$T/ctl"
wait_for 5 sh -c "grep -q 'control socket $T/ctl/control.sock was removed while floodgate ran and cannot be made again: ' '$T/floodgate.log'" ||
    fail "a control socket that cannot be made again is said: $(grep 'control socket' "$T/floodgate.log")"
ctl status > "$T/unreached.out" 2> "$T/unreached.err"
expect_eq "  ... floodgatectl: floodgate runs but cannot be reached (before: not running)" \
    "$(grep -c "^floodgatectl: floodgate runs (it holds its database's lock) but cannot be reached at $T/ctl/control.sock: No such file or directory; a removed control socket is made again within a second, else restart floodgate\$" "$T/unreached.err").$(grep -c 'not running' "$T/unreached.err" "$T/unreached.out" | awk -F: '{s += $2} END {print s}').$(awk '$1 == "daemon" {print $2, $3, $4}' "$T/unreached.out")" \
    "1.0.running, not reachable"
ctl suspend some@one.example 1h > /dev/null 2> "$T/unreached2.err"
expect_eq "  ... and suspend needs the daemon" "$?.$(grep -c '^floodgatectl: suspend needs the daemon$' "$T/unreached2.err")" 1.1
ctl release > /dev/null 2> "$T/unreached3.err"
expect_eq "  ... and the release timer's run says floodgate runs (before: \"release needs the daemon\" alone)" \
    "$?.$(grep -c "^floodgatectl: floodgate runs (it holds its database's lock) but cannot be reached at $T/ctl/control.sock: No such file or directory; a removed control socket is made again within a second, else restart floodgate\$" "$T/unreached3.err").$(grep -c '^floodgatectl: release needs the daemon$' "$T/unreached3.err")" 1.1.1
sleep 2
expect_eq "  ... said once" "$(log_count 'cannot be made again')" 1
mkdir "$T/ctl"
wait_for 5 made_again 2 ||
    fail "made again once its directory is back: $(grep 'control socket' "$T/floodgate.log")"
ctl suspend some@one.example 1h > /dev/null 2>&1
expect_eq "  ... and suspend works" "$?" 0

# Another file put in its place: said once, left alone; floodgate goes
# on deciding from memory.
sqlite3 "$T/other.db" "CREATE TABLE mine (x); INSERT INTO mine VALUES (42);"
cp --remove-destination "$T/other.db" "$T/floodgate.db"
rm -f "$T/floodgate.db-wal" "$T/floodgate.db-shm"
wait_for 10 sh -c "grep -q 'store: database $T/floodgate.db is another file now (replaced while floodgate ran)' '$T/floodgate.log'" ||
    fail "a replaced database is said: $(grep 'store:' "$T/floodgate.log")"
send "$T/a5" $SMTP_PORT news@tenant-a.example "$(rcpts e example.com 1)"
expect_eq "  ... the tenant still deferred" "$(count_replies "$T/a5" 451)" 1
sleep 3
expect_eq "  ... said once, the new file untouched" \
    "$(log_count "store: database $T/floodgate.db is another file now") $(q 'SELECT x FROM mine') $(q "SELECT count(*) FROM sqlite_master WHERE name = 'windows'")" "1 42 0"

# While the file at the path is not floodgate's (replaced; removed where
# it cannot be written back, a directory in the way of its copy): a
# store incident (subject database), and status and /metrics say so;
# all end once it is written back. Before, the log alone said it.
wait_for 5 db_state_is "no (another file is there)|database:open|0|0"
expect_eq "  ... a store incident, status and /metrics say so (before: store ok, no incident)" \
    "$(db_state)" "no (another file is there)|database:open|0|0"
mkdir "$T/floodgate.db.put-back"
rm -f "$T/floodgate.db"
wait_for 10 sh -c "grep -q 'store: database $T/floodgate.db was removed while floodgate ran and cannot be written there again: ' '$T/floodgate.log'" ||
    fail "removed where it cannot be written back: said: $(grep 'store:' "$T/floodgate.log")"
expect_eq "  ... removed where it cannot be written back: the same incident, status says so" \
    "$(db_state)" "no (removed, not written back yet)|database:open|0|0"
rmdir "$T/floodgate.db.put-back"
wait_for 10 put_back 3 ||
    fail "written back once it can be: $(grep 'store:' "$T/floodgate.log")"
wait_for 5 db_state_is "yes|database:ended|1|1"
expect_eq "  ... written back: the incident ended, in place, counted" \
    "$(db_state)" "yes|database:ended|1|1"
expect_eq "  ... the incident's text and its end in the log" \
    "$(log_count "incident: started kind=store subject=\"database\": database $T/floodgate.db is another file now (replaced while floodgate ran)").$(log_count 'incident: ended kind=store subject="database" ')" 1.1

# The MTA's socket removed.
rm -f "$T/fg/milter.sock"
if [ "${ENGINE:-native}" = native ]; then
	wait_for 5 sh -c "grep -q 'engine: the MTA.s socket $T/fg/milter.sock was removed while floodgate ran: made again' '$T/floodgate.log'" ||
	    fail "the MTA's socket is made again: $(grep 'engine:' "$T/floodgate.log")"
	expect_eq "  ... as it was made (mode, group)" "$(stat -c '%a %G' "$T/fg/milter.sock")" "660 postfix"
	send "$T/a6" $SMTP_PORT news@tenant-a.example "$(rcpts f example.com 1)"
	grep -q "^<\*\* *451 4.7.1 floodgate: tenant-hour limit reached" "$T/a6" &&
	    ok "  ... and floodgate decides again" ||
	    fail "  ... floodgate decides again: $(grep '^<\*\*' "$T/a6")"
else
	wait_for 5 sh -c "grep -q 'engine: the MTA.s socket $T/fg/milter.sock was removed while floodgate ran: the MTA cannot reach floodgate, its milter_default_action decides every message; engine libmilter cannot make it again: restart floodgate' '$T/floodgate.log'" ||
	    fail "libmilter: the removed socket is said: $(grep 'engine:' "$T/floodgate.log")"
	sleep 2
	expect_eq "  ... once" "$(log_count "engine: the MTA's socket")" 1
fi

# The socket map's socket removed.
ctl pause docomo.test 1h > /dev/null || fail "pause docomo.test"
rm -f "$T/fg/map.sock"
wait_for 5 sh -c "grep -q 'postfix_map: its socket $T/fg/map.sock was removed while floodgate ran: made again' '$T/floodgate.log'" ||
    fail "the socket map's socket is made again: $(grep 'postfix_map' "$T/floodgate.log")"
expect_eq "  ... as it was made, and it answers" \
    "$(stat -c '%a %G' "$T/fg/map.sock") $(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport x@docomo.test | cut -d' ' -f1-4)" \
    "660 postfix OK retry:4.7.0 floodgate: docomo.test"
# Another program's socket renamed over it: said once (before, not at
# all, while Postfix deferred the mail routed through the map) and left
# alone; once that file is removed, floodgate's is made again.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/fg/other.sock"
ino=$(stat -c %i "$T/fg/other.sock")
n=$(log_count "postfix_map: its socket $T/fg/map.sock was removed while floodgate ran: made again")
mv -f "$T/fg/other.sock" "$T/fg/map.sock"
wait_for 5 sh -c "grep -q 'postfix_map: its socket $T/fg/map.sock is another file now (replaced while floodgate ran): left alone; Postfix defers the mail it routes through it until that file is removed (floodgate then makes its socket again) or floodgate restarts' '$T/floodgate.log'" ||
    fail "another socket renamed over the map's is said: $(grep 'postfix_map' "$T/floodgate.log")"
sleep 2
expect_eq "  ... said once, left alone" \
    "$(log_count 'is another file now (replaced while floodgate ran): left alone').$(stat -c %i "$T/fg/map.sock")" "1.$ino"
rm -f "$T/fg/map.sock"
wait_for 5 sh -c "[ \$(grep -c 'postfix_map: its socket $T/fg/map.sock was removed while floodgate ran: made again' '$T/floodgate.log') -gt $n ]" ||
    fail "that file removed, the map's socket is made again: $(grep 'postfix_map' "$T/floodgate.log")"
expect_eq "  ... that file removed: made again, and it answers" \
    "$(python3 "$TOP/tests/e2e/smapq.py" "$T/fg/map.sock" transport x@docomo.test | cut -d' ' -f1-4)" \
    "OK retry:4.7.0 floodgate: docomo.test"

# Removed together, made again on their threads at once: each as it
# was made (0660), and floodgate's umask as it was (each making sets
# the process's umask for its bind: interleaved, one socket came 0640
# and the process kept 0117).
for round in 1 2 3; do
	n=$(log_count 'was removed while floodgate ran: made again')
	if [ "${ENGINE:-native}" = native ]; then
		rm -f "$T/fg/milter.sock" "$T/fg/map.sock" "$T/ctl/control.sock"
		want=3
	else
		rm -f "$T/fg/map.sock" "$T/ctl/control.sock"
		want=2
	fi
	wait_for 5 sh -c "[ \$(grep -c 'was removed while floodgate ran: made again' '$T/floodgate.log') -ge $((n + want)) ]" ||
	    fail "round $round: the sockets made again: $(grep 'made again' "$T/floodgate.log" | tail -3)"
done
socks="$T/fg/map.sock $T/ctl/control.sock"
[ "${ENGINE:-native}" = native ] && socks="$T/fg/milter.sock $socks"
expect_eq "  ... removed together three times: each 0660, the umask 0027" \
    "$(stat -c '%a' $socks | sort -u | tr '\n' ' ')$(awk '$1 == "Umask:" {print $2}' /proc/$FG_PID/status)" \
    "660 0027"
stop_floodgate
ctl status > /dev/null 2> "$T/stopped.err"
expect_eq "stopped: floodgatectl says floodgate is not running" \
    "$(grep -c "^floodgatectl: floodgate is not running; reading $T/floodgate.db (read-only)\$" "$T/stopped.err").$(grep -c 'floodgate runs' "$T/stopped.err")" 1.0
finish
