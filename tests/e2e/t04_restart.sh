#!/bin/bash
# (e) counts survive a floodgate restart: state, statistics and the
# refusal log are in the SQLite file.
. "$(dirname "$0")/lib.sh"
setup
command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
write_conf <<EOT
limit tenant-hour per account 10/1h
EOT
start_floodgate
start_postfix

send "$T/r1" $SMTP_PORT bulk@r.example "$(rcpts a example.com 6)"
expect_eq "before the restart: 6 pass" "$(count_replies "$T/r1" 451)" 0
start=$(date +%s%N)
stop_floodgate
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -lt 3000 ] && ok "SIGTERM: flushed and exited in ${ms} ms" || fail "SIGTERM took ${ms} ms"
grep -q "floodgate stopped" "$T/floodgate.log" && ok "clean stop logged" || fail "no stop line"
expect_eq "schema version: the one this floodgate writes" "$(sqlite3 "$T/floodgate.db" 'PRAGMA user_version')" \
    "$(awk '$2 == "FG_SCHEMA_VERSION" {print $3}' "$TOP/lib/store.h")"
expect_eq "window row written" "$(sqlite3 "$T/floodgate.db" "SELECT count(*) FROM windows WHERE rule='tenant-hour' AND key='bulk@r.example'")" 1
# While floodgate is down, Postfix defers (milter_default_action).
send "$T/r2" $SMTP_PORT bulk@r.example "$(rcpts b example.com 1)"
grep -q "^<\*\* *4[0-9][0-9] " "$T/r2" && ok "floodgate down: Postfix answers 4xx" || fail "floodgate down: $(grep '<\*\*' "$T/r2" | head -1)"
start_floodgate
grep -q "entries_loaded=1" "$T/floodgate.log" && ok "state loaded at start" || fail "no entries loaded"
send "$T/r3" $SMTP_PORT bulk@r.example "$(rcpts c example.com 6)"
expect_eq "after the restart: 4 pass, 2 deferred" "$(count_replies "$T/r3" 451)" 2
# A second floodgate on the same configuration (started by hand while
# the service runs) refuses to start. Before, it replaced the milter
# socket: the MTA reached the second, and the first went on unseen,
# each with its own count of the same budget.
"$FLOODGATE" -f -c "$T/floodgate.conf" > "$T/second.out" 2>&1
expect_eq "a second floodgate on the same socket: exit 1" "$?" 1
grep -q "listen $T/fg/milter.sock: a process listens on this socket (is floodgate running already?); not replacing it" "$T/second.out" &&
    ok "  ... saying why" || fail "  ... its output: $(cat "$T/second.out")"
# ... and on sockets of its own, the same database (a copy of the file
# for a second MTA instance that kept its database line): it waits 5 s
# for the first to stop, then stops. Before, both counted in one file.
sed -e "s|^listen .*|listen   unix:$T/fg/second.sock|" \
    -e "s|^control .*|control  $T/fg/second-control.sock|" "$T/floodgate.conf" > "$T/second.conf"
echo "postfix_map unix:$T/fg/second-map.sock" >> "$T/second.conf"
start=$(date +%s)
"$FLOODGATE" -f -c "$T/second.conf" > "$T/second.out" 2>&1
expect_eq "a second floodgate on the same database: exit 1" "$?" 1
grep -q "database $T/floodgate.db: another floodgate holds it; waiting up to 5 s for it to stop" "$T/second.out" &&
    grep -q "database $T/floodgate.db: another floodgate uses it (it holds the file's lock), and two would each count part of every budget: stop that one, or give this one a database of its own" "$T/second.out" &&
    ok "  ... waiting for it first, then saying why ($(( $(date +%s) - start )) s)" ||
    fail "  ... its output: $(cat "$T/second.out")"
[ ! -e "$T/fg/second.sock" ] && [ ! -e "$T/fg/second-map.sock" ] &&
    ok "  ... and removes the sockets it had made (milter, socket map)" ||
    fail "  ... left its sockets: $(ls -l "$T/fg"/second*.sock)"
send "$T/r3b" $SMTP_PORT bulk@r.example "$(rcpts g example.com 1)"
grep -q "^<\*\* *451 4.7.1 floodgate: tenant-hour limit reached" "$T/r3b" &&
    ok "  ... the first still answers on its socket (10 of 10 used: deferred)" ||
    fail "  ... after the second's start: $(grep '<\*\*' "$T/r3b" | head -1)"
drain
expect_eq "sink: 10 recipients in all" "$(sink_count '@example.com')" 10
stop_floodgate
expect_eq "stats: accepted this hour" "$(sqlite3 "$T/floodgate.db" "SELECT sum(accepted) FROM stats WHERE kind='account' AND name='bulk@r.example'")" 10
expect_eq "stats: deferred this hour" "$(sqlite3 "$T/floodgate.db" "SELECT sum(deferred) FROM stats WHERE kind='account' AND name='bulk@r.example'")" 3
expect_eq "stats per destination domain" "$(sqlite3 "$T/floodgate.db" "SELECT sum(accepted) FROM stats WHERE kind='domain' AND name='example.com'")" 10
expect_eq "events: one row per refusal" "$(sqlite3 "$T/floodgate.db" "SELECT count(*) FROM events WHERE account='bulk@r.example' AND rule='tenant-hour' AND action='defer'")" 3

# A SIGTERM right after the start, before the event loops run: each
# loop's start delayed 300 ms by a preloaded shim, as a loaded machine
# can delay a new thread. A stop told to a loop that had not started
# was lost, and floodgate never stopped.
cat > "$T/late.c" <<'EOC'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>
struct event_base;
int
event_base_dispatch(struct event_base *b)
{
	int (*real)(struct event_base *) =
	    (int (*)(struct event_base *))dlsym(RTLD_NEXT, "event_base_dispatch");

	usleep(300000);
	return real(b);
}
EOC
cc -shared -fPIC -o "$T/late.so" "$T/late.c" -ldl || { fail "the shim builds"; finish; }
FG_ENV=$(preload "$T/late.so")
start_floodgate
FG_ENV=
stops=$(grep -c "floodgate stopped" "$T/floodgate.log")
stop_floodgate
expect_eq "a SIGTERM before the event loops ran: floodgate stopped" \
    "$(( $(grep -c "floodgate stopped" "$T/floodgate.log") - stops ))" 1

# A floodgate started while the one before still stops (a restart that
# does not wait) waits for the database, and starts once it is free.
start_floodgate
"$FLOODGATE" -f -c "$T/second.conf" > "$T/second.out" 2>&1 &
pid2=$!
wait_for 5 grep -q "another floodgate holds it; waiting" "$T/second.out" ||
    fail "the second did not wait: $(cat "$T/second.out")"
stop_floodgate
wait_for 5 grep -q "started:" "$T/second.out" &&
    ok "a second floodgate waiting for the database starts once the first has stopped" ||
    fail "the second, after the first stopped: $(cat "$T/second.out")"
kill -TERM "$pid2" 2>/dev/null
wait "$pid2"
expect_eq "  ... and stops cleanly" "$?" 0
# A start that fails at any of its threads (one made to fail in turn
# by a preloaded shim, the first 1), or that goes on without it and is
# stopped, leaves none of its sockets: the milter's, the socket map's,
# the control socket. Before, the service thread's failure left the
# control socket, and libmilter (which removes its socket only when it
# does not run as root) the milter's at every stop. One refused never
# logs "started:" (before, a refused engine did).
cat > "$T/nothread.c" <<'EOC'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
static int calls;
int
pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *),
    void *arg)
{
	int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
	    void *) = dlsym(RTLD_NEXT, "pthread_create");
	const char *nth = getenv("FG_FAIL_THREAD");

	if (nth != NULL && __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST) == atoi(nth))
		return EAGAIN;
	return real(t, a, f, arg);
}
EOC
cc -shared -fPIC -o "$T/nothread.so" "$T/nothread.c" -ldl || { fail "the shim builds"; finish; }
sed -e "s|^listen .*|listen   unix:$T/fg/third.sock|" \
    -e "s|^control .*|control  $T/fg/third-control.sock|" \
    -e "s|^database .*|database $T/third.db|" "$T/floodgate.conf" > "$T/third.conf"
echo "postfix_map unix:$T/fg/third-map.sock" >> "$T/third.conf"
service= refused= left= said=
for n in $(seq 1 8); do
	: > "$T/third.out"
	$(preload "$T/nothread.so") FG_FAIL_THREAD=$n \
	    "$FLOODGATE" -f -c "$T/third.conf" >> "$T/third.out" 2>&1 &
	pid3=$!
	wait_for 10 eval '! kill -0 $pid3 2>/dev/null || grep -q "started:" "$T/third.out"' ||
	    fail "thread $n made to fail: neither started nor stopped"
	kill -TERM "$pid3" 2>/dev/null
	wait "$pid3"
	rc=$?
	[ "$rc" -ne 0 ] && refused="$refused $n"
	[ "$rc" -ne 0 ] && grep -q "started:" "$T/third.out" && said="$said $n"
	grep -q "cannot start the service thread" "$T/third.out" && service=$n
	for s in third.sock third-map.sock third-control.sock; do
		[ -e "$T/fg/$s" ] && left="$left $n:$s"
	done
	rm -f "$T/fg"/third*.sock
done
[ -n "$service" ] &&
    ok "a start whose service thread cannot be made (thread $service) is refused" ||
    fail "no thread made to fail refused the start at the service thread: refused at [$refused ]; last output: $(cat "$T/third.out")"
expect_eq "  ... and no start refused said it had started (before, the engine's did)" "$said" ""
[ -z "$left" ] &&
    ok "  ... and no start, refused (threads$refused) or stopped, left a socket" ||
    fail "  ... sockets left (thread made to fail:socket):$left"
finish
