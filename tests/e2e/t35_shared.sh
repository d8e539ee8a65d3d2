#!/bin/bash
# Several relays, one budget (store redis): two floodgate daemons, each
# the milter of its own smtpd listener, share one redis-server started
# here on a private port (no persistence). A tenant sending through both
# gets exactly its limit in total, and a carrier's server-wide limit
# holds across both; a relay killed mid-transaction frees its
# reservation after redis_reservation_ttl; Redis killed mid-burst: each
# relay decides from memory with the limit divided by relays, nothing
# is lost, and once Redis is back what was charged meanwhile is added to
# the shared windows.
# engine: native (the asynchronous RCPT is the native engine's)
. "$(dirname "$0")/lib.sh"
REDIS=/usr/bin/redis-server
[ -x "$REDIS" ] || skip "no $REDIS (Debian package redis-server)"
setup
RPORT=$(free_port)
SMTP2=$(free_port)
start_redis() {
	"$REDIS" --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
	    --loglevel warning >>"$T/redis.log" 2>&1 &
	REDIS_PID=$!
	EXTRA_PIDS="${EXTRA_PIDS:-} $REDIS_PID"
	wait_for 5 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$RPORT) 2>/dev/null" ||
	    { fail "redis-server started"; finish; }
}
start_redis

# The second relay: its own listener, socket, control socket, database.
mkdir -p "$T/fg2"
chgrp postfix "$T/fg2"
chmod 2750 "$T/fg2"
postconf -c "$T/etc" -M "127.0.0.1:$SMTP2/inet=127.0.0.1:$SMTP2 inet n - n - - smtpd -o smtpd_milters=unix:$T/fg2/milter.sock"
touch -d '-10 seconds' "$T/etc/main.cf" "$T/etc/master.cf"
RULES="store redis://127.0.0.1:$RPORT
relays 2
redis_timeout 300ms
redis_reservation_ttl 3s
limit hour per account 8/1h
limit docomo per server to docomo.ne.jp 5/1h"
write_conf <<EOT
$RULES
EOT
cat > "$T/fg2.conf" <<EOT
listen   unix:$T/fg2/milter.sock
control  $T/fg2/control.sock
database $T/fg2.db
engine   native
$RULES
EOT
start_floodgate
start_fg2() {
	"$FLOODGATE" -f -c "$T/fg2.conf" >>"$T/fg2.log" 2>&1 &
	FG2_PID=$!
	EXTRA_PIDS="${EXTRA_PIDS:-} $FG2_PID"
	wait_for 5 sh -c "[ -S '$T/fg2/milter.sock' ] && grep -q 'answers; deciding from it' '$T/fg2.log'" ||
	    { cat "$T/fg2.log"; fail "the second relay started"; finish; }
}
start_fg2
wait_for 5 grep -q "answers; deciding from it" "$T/floodgate.log" ||
    fail "relay 1 reached Redis: $(grep shared "$T/floodgate.log")"
start_postfix

# mails PREFIX FROM TO N: N one-recipient messages, alternating relays.
mails() {
	local i port
	for i in $(seq 1 "$4"); do
		port=$SMTP_PORT
		[ $((i % 2)) = 0 ] && port=$SMTP2
		send "$T/$1-$i" $port "$2" "$3"
	done
}
# refused PREFIX: recipients deferred in those transcripts.
refused() { cat "$T/$1"-* | grep -c '^<\*\* *451 ' || true; }

# 1. One budget through both relays.
mails a a@t1.example r@example.com 12
expect_eq "a tenant through both relays: 8 of 12 (limit 8/1h), 4 deferred" "$(refused a)" 4
expect_eq "each relay deferred some" \
    "$(( $(cat "$T"/a-1 "$T"/a-3 "$T"/a-5 "$T"/a-7 "$T"/a-9 "$T"/a-11 | grep -c '^<\*\* *451 ') > 0 && $(cat "$T"/a-2 "$T"/a-4 "$T"/a-6 "$T"/a-8 "$T"/a-10 "$T"/a-12 | grep -c '^<\*\* *451 ') > 0 ))" 1

# 2. A carrier's server-wide limit across both relays.
for b in b1 b2 b3 b4; do
	mails "$b" "$b@t2.example" "x@docomo.ne.jp" 2
done
expect_eq "docomo.ne.jp for the whole pool: 5 of 8, 3 deferred" \
    "$(cat "$T"/b1-* "$T"/b2-* "$T"/b3-* "$T"/b4-* | grep -c '^<\*\* *451 ')" 3

# 3. A relay killed mid-transaction: its reservation comes back by itself.
mails k1 k@t3.example r@example.com 1
for i in 2 3 4 5 6 7; do send "$T/k-$i" $SMTP2 k@t3.example r@example.com; done
exec {fd}<>/dev/tcp/127.0.0.1/$SMTP_PORT
read_reply $fd >/dev/null
for cmd in "EHLO relay.test" "MAIL FROM:<k@t3.example>" "RCPT TO:<r8@example.com>"; do
	printf '%s\r\n' "$cmd" >&$fd
	read_reply $fd > "$T/k-open"
done
grep -q "^250" "$T/k-open" || fail "the 8th recipient was reserved on relay 1: $(cat "$T/k-open")"
kill -9 "$FG_PID"
wait "$FG_PID" 2>/dev/null
FG_PID=
send "$T/k-9" $SMTP2 k@t3.example r@example.com
expect_eq "while the dead relay's reservation lives, the limit holds" "$(count_replies "$T/k-9" 451)" 1
sleep 3.5
send "$T/k-10" $SMTP2 k@t3.example r@example.com
expect_eq "after redis_reservation_ttl it is free again" "$(count_replies "$T/k-10" 4..)" 0
exec {fd}>&-
start_floodgate 2
wait_for 5 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/floodgate.log') -ge 2 ]" ||
    fail "relay 1 back on Redis"

# 4. Redis killed mid-burst, then back.
mails d1 d@t4.example r@example.com 1
kill -9 "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null
for i in $(seq 1 6); do send "$T/d2-$i" $SMTP_PORT d@t4.example r@example.com; done
expect_eq "Redis down: relay 1 decides alone with 8/2 = 4" "$(refused d2)" 2
expect_eq "logged once" "$(log_count 'shared store: .* is down')" 1
start_redis
wait_for 20 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/floodgate.log') -ge 3 ]" ||
    fail "relay 1 found Redis again"
wait_for 20 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/fg2.log') -ge 2 ]" ||
    fail "relay 2 found Redis again"
grep -q "added 4 charges made while" "$T/floodgate.log" ||
    fail "relay 1 added what it charged meanwhile: $(grep 'shared store' "$T/floodgate.log")"
for i in $(seq 1 6); do send "$T/d3-$i" $SMTP2 d@t4.example r@example.com; done
expect_eq "shared again: relay 2 sees relay 1's 4 (Redis restarted empty)" "$(refused d3)" 2
drain
expect_eq "nothing lost: every accepted message reached the sink" \
    "$(sink_count)" "$(cat "$T"/a-* "$T"/b?-* "$T"/k-* "$T"/k1-* "$T"/d1-* "$T"/d2-* "$T"/d3-* | grep -c '^ *<- *250 .*[Qq]ueued')"
finish
