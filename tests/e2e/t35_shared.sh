#!/bin/bash
# Several relays, one budget (store redis): two Postfix instances, each
# with its own floodgate, share one redis-server started here on a
# private port (no persistence). A tenant sending through both gets
# exactly its limit in total, and a carrier's server-wide limit holds
# across both; top on either relay ranks the pool; a relay killed
# mid-transaction frees its reservation after redis_reservation_ttl;
# Redis killed mid-burst: each relay decides from memory with the limit
# divided by relays (counting what it sent before), nothing is lost,
# and once Redis is back empty both relays give it their windows (and
# relay 1 the statistics of the outage); flushed under live connections,
# the same; a relay stopped while Redis restarted gives its windows when
# it starts again; restarted from an older snapshot, each relay gives
# back what it charged since, and only that; full (maxmemory), each
# relay decides from memory and adds what it charged once Redis takes
# writes again (and gives back the reservation of a transaction that
# ended meanwhile); stopped while Redis is down, a relay keeps what it
# owes Redis in its database and gives it after its next start; a
# commit whose answer was lost with its connection is added again when
# the connection's mark says Redis did not apply it, and so is each add
# of a give-back cut short by a lost connection; a reserve Redis
# answers after redis_timeout has its reservation given back once Redis
# answers again. A relay started with
# another's name (a copied database) takes one of its own. A
# suspension and a pause made on one relay hold on the other (one for a
# while ends on both, and leaves Redis), and delivery results read by one count on the other. Both relays log in as
# an ACL user made with the README's rule (redis_user), which lets all
# of this through: Redis refuses nothing. On both engines: the native
# loop does not wait for Redis, libmilter's threads do.
. "$(dirname "$0")/lib.sh"
REDIS=/usr/bin/redis-server
[ -x "$REDIS" ] || skip "no $REDIS (Debian package redis-server)"
setup
RPORT=$(free_port)
SMTP2=$(free_port)
# floodgate's own ACL user, in an ACL file so that it outlives every
# restart below; the test's redis-cli stays the default user.
printf 'acl-pw\n' > "$T/redis.pass"
chmod 600 "$T/redis.pass"
readme_acl acl-pw | sed 's/^ACL SETUSER /user /' > "$T/users.acl"
grep -q '^user floodgate on >acl-pw ' "$T/users.acl" ||
    { fail "the README gives floodgate's ACL rule: $(cat "$T/users.acl")"; finish; }
redis_up() { start_redis "$RPORT" --aclfile "$T/users.acl"; }
redis_up

# The second relay: a Postfix instance of its own (configuration, queue,
# log, one smtpd on SMTP2, the same sink), its own floodgate (socket,
# control socket, database).
mkdir -p "$T/fg2"
chgrp postfix "$T/fg2"
chmod 2750 "$T/fg2"
PF2=$T/pf2
POSTFIX_MORE=$PF2/etc
mkdir -p "$PF2/etc" "$PF2/spool" "$PF2/data"
chown postfix "$PF2/data"
sed -e "s|^queue_directory = .*|queue_directory = $PF2/spool|" \
    -e "s|^data_directory = .*|data_directory = $PF2/data|" \
    -e "s|^maillog_file = .*|maillog_file = $PF2/maillog|" \
    -e "s|^myhostname = .*|myhostname = mta2.floodgate.test|" \
    -e "s|^smtpd_milters = .*|smtpd_milters = unix:$T/fg2/milter.sock|" \
    "$T/etc/main.cf" > "$PF2/etc/main.cf"
{ grep -v '^127\.0\.0\.1:' "$T/etc/master.cf"
  echo "127.0.0.1:$SMTP2 inet n - n - - smtpd"; } > "$PF2/etc/master.cf"
touch -d '-10 seconds' "$PF2/etc/main.cf" "$PF2/etc/master.cf"
RULES="store redis://127.0.0.1:$RPORT
redis_user floodgate
redis_password_file $T/redis.pass
relays 2
redis_timeout 300ms
redis_reservation_ttl 3s
limit hour per account 8/1h
limit docomo per server to docomo.ne.jp 5/1h
limit spam per account to spam.example 1/1h action suspend
limit unk per account 3/1h count unknown
limit holdme per account to hold.example 1/1h action hold
limit snap per account to snap.example 4/100s
limit pair per account+domain to pair.example,pair2.example 1/1h"
: > "$T/fake.log"
write_conf <<EOT
$RULES
delivery_log $T/fake.log
postfix_config $T/etc
backoff carrier to docomo.test after 2/1m on 4xx for 1m
EOT
cat > "$T/fg2.conf" <<EOT
listen   unix:$T/fg2/milter.sock
control  $T/fg2/control.sock
database $T/fg2.db
engine   ${ENGINE:-native}
postfix_config $PF2/etc
$RULES
user     root
EOT
start_floodgate
start_fg2() {
	local n
	n=$(grep -c 'answers; deciding from it' "$T/fg2.log" 2>/dev/null)
	"$FLOODGATE" -f -c "$T/fg2.conf" >>"$T/fg2.log" 2>&1 &
	FG2_PID=$!
	EXTRA_PIDS="${EXTRA_PIDS:-} $FG2_PID"
	wait_for 5 sh -c "[ -S '$T/fg2/milter.sock' ] && [ \$(grep -c 'answers; deciding from it' '$T/fg2.log') -gt ${n:-0} ]" ||
	    { cat "$T/fg2.log"; fail "the second relay started"; finish; }
}
start_fg2
wait_for 5 grep -q "answers; deciding from it" "$T/floodgate.log" ||
    fail "relay 1 reached Redis: $(grep shared "$T/floodgate.log")"
expect_eq "both relays logged in as the ACL user floodgate" \
    "$(redis-cli -p "$RPORT" CLIENT LIST | grep -c ' user=floodgate ')" 2
start_postfix
postfix -c "$PF2/etc" check && postfix -c "$PF2/etc" start >/dev/null 2>&1 ||
    { fail "the second Postfix instance started"; finish; }
wait_for 5 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$SMTP2) 2>/dev/null" ||
    { fail "the second Postfix listens on $SMTP2"; finish; }

# mails PREFIX FROM TO N: N one-recipient messages, alternating relays.
mails() {
	local i port
	for i in $(seq 1 "$4"); do
		port=$SMTP_PORT
		[ $((i % 2)) = 0 ] && port=$SMTP2
		send "$T/$1-$i" $port "$2" "$3"
	done
}
# open_rcpt PORT FROM TO FILE: an SMTP session left open after its
# RCPT, on file descriptor $SESS; the last reply in FILE.
open_rcpt() {
	local cmd
	exec {SESS}<>/dev/tcp/127.0.0.1/$1
	read_reply $SESS >/dev/null
	for cmd in "EHLO relay.test" "MAIL FROM:<$2>" "RCPT TO:<$3>"; do
		printf '%s\r\n' "$cmd" >&$SESS
		read_reply $SESS > "$4"
	done
}
# refused PREFIX: recipients deferred in those transcripts.
refused() { cat "$T/$1"-* | grep -c '^<\*\* *451 ' || true; }
# charged ACCOUNT: the charges in the pool's hour window for the
# account (its slots in Redis, without reservations in flight).
charged() {
	redis-cli -p "$RPORT" HVALS "{floodgate}:w:hour"$'\037'"$1" |
	    awk '{s += $1} END {print s + 0}'
}
charged_is() { [ "$(charged "$1")" = "$2" ]; }
# finish_data FILE: the open session's message and QUIT; the reply to
# the message in FILE.
finish_data() {
	printf 'DATA\r\n' >&$SESS
	read_reply $SESS >/dev/null
	printf 'Subject: floodgate e2e\r\n\r\ntest\r\n.\r\n' >&$SESS
	read_reply $SESS | sed 's/^/<- /' > "$1"
	printf 'QUIT\r\n' >&$SESS
	exec {SESS}>&-
}

expect_eq "status says where decisions come from" \
    "$(ctl status | awk '$1 == "decisions" {print $2, $3, $4}')" "redis redis://127.0.0.1:$RPORT (up)"

# 1. One budget through both relays.
# A message of three recipients: the second and third reserve in the
# bucket the first one's reservation made, which rewrites only that
# bucket (SETRANGE, in the README's rule).
send "$T/multi" $SMTP_PORT m@t0.example "r1@example.com,r2@example.com,r3@example.com"
expect_eq "a message of three recipients, all accepted" \
    "$(count_replies "$T/multi" 4..) $(count_replies "$T/multi" 5..)" "0 0"
wait_for 5 charged_is m@t0.example 3 ||
    fail "the three recipients charged once each in the pool: $(charged m@t0.example)"
grep -q "is down" "$T/floodgate.log" &&
    fail "Redis refused the reserve of a message of three recipients: $(grep "is down" "$T/floodgate.log" | head -2)"
mails a a@t1.example r@example.com 12
expect_eq "a tenant through both relays: 8 of 12 (limit 8/1h), 4 deferred" "$(refused a)" 4
expect_eq "each relay deferred some" \
    "$(( $(cat "$T"/a-1 "$T"/a-3 "$T"/a-5 "$T"/a-7 "$T"/a-9 "$T"/a-11 | grep -c '^<\*\* *451 ') > 0 && $(cat "$T"/a-2 "$T"/a-4 "$T"/a-6 "$T"/a-8 "$T"/a-10 "$T"/a-12 | grep -c '^<\*\* *451 ') > 0 ))" 1

# top on either relay (lib.sh's top_a): the pool's statistics, from
# Redis. Each relay adds its counts at its next tick.
both_top() { top_is "$T/fg2.conf" "$1" "$2" && top_is "$T/floodgate.conf" "$1" "$2"; }
wait_for 5 both_top a@t1.example "pool 8 4"
expect_eq "top on relay 2: the tenant's messages through both relays" "$(top_a "$T/fg2.conf" a@t1.example)" "pool 8 4"
expect_eq "top on relay 1: the same" "$(top_a "$T/floodgate.conf" a@t1.example)" "pool 8 4"
# top reads each hour's hash a thousand fields at a time, summing per
# name: 3000 more accounts in this hour's hash (bulkN accepted N), bulk1
# also in the hour before (1000 more).
python3 - "$(( $(date +%s) / 3600 * 3600 ))" > "$T/bulk.resp" <<'PY'
import sys
h = int(sys.argv[1])
def cmd(*a):
    out = "*%d\r\n" % len(a)
    for x in a:
        x = str(x)
        out += "$%d\r\n%s\r\n" % (len(x.encode()), x)
    return out
for n in range(1, 3001):
    sys.stdout.write(cmd("HSET", "{floodgate}:st:%d:a" % h, "bulk%d@x.example\x1fa" % n, n))
sys.stdout.write(cmd("HSET", "{floodgate}:st:%d:a" % (h - 3600), "bulk1@x.example\x1fa", 1000))
PY
redis-cli -p "$RPORT" --pipe < "$T/bulk.resp" > /dev/null
"$FLOODGATECTL" -c "$T/fg2.conf" top --json --since 2h -n 10000 > "$T/top-bulk" 2>&1
expect_eq "top over 3000 more accounts: each read once, ranked, summed across hours" \
    "$(python3 -c '
import json, sys
r = [x for x in json.load(open(sys.argv[1]))["records"] if x["account"].startswith("bulk")]
print(len(r), r[0]["account"], r[0]["accepted"], [x["accepted"] for x in r if x["account"] == "bulk1@x.example"][0])' "$T/top-bulk")" \
    "3000 bulk3000@x.example 3000 1001"
ctl show a@t1.example > "$T/show-a"
"$FLOODGATECTL" -c "$T/fg2.conf" explain a@t1.example r@example.com > "$T/explain-a" 2>&1
expect_eq "show on relay 1: the tenant's whole budget used, through both relays, from the pool" \
    "$(awk '$1 == "hour" && $2 == "account" {print $5 "/" $6, $9, $NF}' "$T/show-a")" "8/8 over pool"
grep -q "defer" "$T/explain-a" || fail "explain on relay 2 says defer: $(cat "$T/explain-a")"
"$FLOODGATECTL" -c "$T/fg2.conf" reset a@t1.example > "$T/reset-a" 2>&1 ||
    fail "floodgatectl reset on relay 2: $(cat "$T/reset-a")"
send "$T/a-after" $SMTP_PORT a@t1.example r@example.com
expect_eq "reset on relay 2 lets the tenant send through relay 1" "$(count_replies "$T/a-after" 4..)" 0
# A rule per account+domain: the tenant's windows, one a domain, are
# found in Redis and reset for the pool (that rule's only).
send "$T/pair-1" $SMTP_PORT a@t1.example r@pair.example
send "$T/pair-2" $SMTP2 a@t1.example r@pair.example
send "$T/pair-3" $SMTP2 a@t1.example r@pair2.example
expect_eq "per account+domain through both relays: one a domain" \
    "$(count_replies "$T/pair-1" 4..) $(count_replies "$T/pair-2" 451) $(count_replies "$T/pair-3" 4..)" "0 1 0"
"$FLOODGATECTL" -c "$T/fg2.conf" reset a@t1.example pair > "$T/reset-pair" 2>&1 ||
    fail "floodgatectl reset ACCOUNT pair on relay 2: $(cat "$T/reset-pair")"
pair_used() {
	"$FLOODGATECTL" -c "$T/floodgate.conf" explain a@t1.example "r@$1" |
	    awk '$1 == "pair" {print $5, $NF}'
}
expect_eq "reset of pair on relay 2: relay 1 reads both domains' windows empty in the pool" \
    "$(pair_used pair.example), $(pair_used pair2.example)" "0 pool, 0 pool"
send "$T/pair-4" $SMTP_PORT a@t1.example r@pair.example
expect_eq "and the tenant sends to that domain again" "$(count_replies "$T/pair-4" 4..)" 0

# 2. A carrier's server-wide limit across both relays.
for b in b1 b2 b3 b4; do
	mails "$b" "$b@t2.example" "x@docomo.ne.jp" 2
done
expect_eq "docomo.ne.jp for the whole pool: 5 of 8, 3 deferred" \
    "$(cat "$T"/b1-* "$T"/b2-* "$T"/b3-* "$T"/b4-* | grep -c '^<\*\* *451 ')" 3

# 3. A relay killed mid-transaction: its reservation comes back by itself.
# Its own windows reach its database each second; a kill -9 right after
# step 2 would lose its share of the carrier's window, which step 10
# gives back to an empty Redis. b3's message, relay 1's last to the
# carrier, was written with it.
b3_written() {
	[ "$(sqlite3 "$T/floodgate.db" "SELECT count(*) FROM windows WHERE rule = 'hour' AND key = 'b3@t2.example'" 2>/dev/null)" = 1 ]
}
wait_for 5 b3_written || fail "relay 1 wrote its windows to its database"
mails k1 k@t3.example r@example.com 1
for i in 2 3 4 5 6 7; do send "$T/k-$i" $SMTP2 k@t3.example r@example.com; done
open_rcpt $SMTP_PORT k@t3.example r8@example.com "$T/k-open"
grep -q "^250" "$T/k-open" || fail "the 8th recipient was reserved on relay 1: $(cat "$T/k-open")"
kill_hard "$FG_PID"
FG_PID=
send "$T/k-9" $SMTP2 k@t3.example r@example.com
expect_eq "while the dead relay's reservation lives, the limit holds" "$(count_replies "$T/k-9" 451)" 1
sleep 3.5
send "$T/k-10" $SMTP2 k@t3.example r@example.com
expect_eq "after redis_reservation_ttl it is free again" "$(count_replies "$T/k-10" 4..)" 0
exec {SESS}>&-
start_floodgate
wait_for 5 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/floodgate.log') -ge 2 ]" ||
    fail "relay 1 back on Redis"

# reason CONF ACCOUNT RECIPIENT: why that relay would defer the
# recipient now (explain's reason: suspended, paused DOMAIN, ...), or
# nothing. A stop made on one relay reaches the other at its next
# service tick (each second).
reason() {
	"$FLOODGATECTL" -c "$1" explain "$2" "$3" 2>/dev/null |
	    awk 'NF == 0 {exit} $1 == "reason" {$1 = ""; print substr($0, 2)}'
}
reason_is() { [ "$(reason "$1" "$2" "$3")" = "$4" ]; }

# 4. A suspension made on relay 1 holds on relay 2; resumed on relay 2,
# it is lifted on relay 1.
send "$T/s-1" $SMTP_PORT s@t5.example "a@spam.example,b@spam.example"
wait_for 5 grep -q "account=s@t5.example .*rule=spam .*action=suspend" "$T/floodgate.log" ||
    fail "relay 1 suspended s@t5.example: $(grep spam "$T/floodgate.log")"
wait_for 5 reason_is "$T/fg2.conf" s@t5.example r@example.com suspended ||
    fail "relay 2 holds the suspension: $(reason "$T/fg2.conf" s@t5.example r@example.com)"
send "$T/s-2" $SMTP2 s@t5.example r@example.com
grep -q "^<\*\* *451 .*account suspended" "$T/s-2" ||
    fail "relay 2 refuses the suspended account: $(grep '^<\*\*' "$T/s-2")"
"$FLOODGATECTL" -c "$T/fg2.conf" resume s@t5.example >/dev/null 2>&1 ||
    fail "floodgatectl resume on relay 2"
# Made by hand on relay 2 (floodgatectl suspend and pause): relay 1
# holds them too.
"$FLOODGATECTL" -c "$T/fg2.conf" suspend h@t5.example >/dev/null 2>&1 ||
    fail "floodgatectl suspend on relay 2"
"$FLOODGATECTL" -c "$T/fg2.conf" pause hand.test 1h >/dev/null 2>&1 ||
    fail "floodgatectl pause on relay 2"
"$FLOODGATECTL" -c "$T/fg2.conf" suspend t@t5.example 1h >/dev/null 2>&1 ||
    fail "floodgatectl suspend for 1h on relay 2"
hand_held() {
	reason_is "$T/floodgate.conf" h@t5.example r@example.com suspended &&
	    reason_is "$T/floodgate.conf" t@t5.example r@example.com suspended &&
	    reason_is "$T/floodgate.conf" s@t5.example r@hand.test "paused hand.test"
}
wait_for 5 hand_held || fail "relay 1 holds relay 2's stops: $(reason "$T/floodgate.conf" h@t5.example r@example.com), $(reason "$T/floodgate.conf" s@t5.example r@hand.test)"
# Its end set anew on relay 1: relay 2 follows.
ctl suspend t@t5.example 5s >/dev/null 2>&1 ||
    fail "floodgatectl suspend for 5s on relay 1, of the suspension for 1h"
t_end=$(($(date +%s) + 5))
send "$T/s-3" $SMTP_PORT s@t5.example r@example.com
expect_eq "resumed on relay 2, relay 1 lets it send" "$(count_replies "$T/s-3" 4..)" 0
send "$T/h-1" $SMTP_PORT h@t5.example "r@example.com"
send "$T/h-2" $SMTP_PORT s@t5.example "r@hand.test"
expect_eq "suspended and paused by hand on relay 2: relay 1 defers both" \
    "$(count_replies "$T/h-1" 451) $(grep -c '^<\*\* *45[01] .*hand.test paused until' "$T/h-2")" "1 1"
ctl resume h@t5.example >/dev/null || fail "floodgatectl resume on relay 1"
ctl unpause hand.test >/dev/null || fail "floodgatectl unpause on relay 1"
# The suspension for 5s (made for 1h on relay 2, its end moved on
# relay 1): held on relay 1 with its end, over on both at that end, and
# gone from Redis.
send "$T/t-1" $SMTP_PORT t@t5.example "r@example.com"
ctl --json show t@t5.example | python3 -c 'import json,sys; r=json.load(sys.stdin)["records"][0]; print(r["suspended"], -1 <= r["until"] - int(sys.argv[1]) <= 0)' "$t_end" > "$T/tshow"
expect_eq "suspended for 5s on relay 2: relay 1 defers it and knows its end" \
    "$(count_replies "$T/t-1" 451) $(cat "$T/tshow")" "1 yes True"
while [ "$(date +%s)" -le "$t_end" ]; do sleep 0.2; done
send "$T/t-2" $SMTP_PORT t@t5.example "r@example.com"
send "$T/t-3" $SMTP2 t@t5.example "r@example.com"
expect_eq "after the end set on relay 1, both relays let it send" "$(count_replies "$T/t-2" 4..) $(count_replies "$T/t-3" 4..)" "0 0"
wait_for 5 sh -c "! redis-cli -p $RPORT HEXISTS '{floodgate}:susp' t@t5.example | grep -q 1" &&
    ok "the ended suspension is gone from Redis" ||
    fail "still in Redis: $(redis-cli -p "$RPORT" HGETALL '{floodgate}:susp')"
# A relay drops a suspension it saw end only as it ended: one set anew
# in Redis since its last read (a third relay's, written here while
# both relays are stopped) stands, on both.
ctl suspend e@t5.example 3s >/dev/null || fail "floodgatectl suspend e@t5.example 3s"
e_end=$(($(date +%s) + 3))
wait_for 5 reason_is "$T/fg2.conf" e@t5.example r@example.com suspended ||
    fail "relay 2 holds e@t5.example's suspension"
kill -STOP "$FG_PID" "$FG2_PID"
redis-cli -p "$RPORT" HSET '{floodgate}:susp' e@t5.example "spam|$e_end|0" >/dev/null
while [ "$(date +%s)" -le "$((e_end + 1))" ]; do sleep 0.2; done
kill -CONT "$FG_PID" "$FG2_PID"
sleep 2
expect_eq "a suspension set anew in Redis as the relays' copy ended: kept there, held by both relays" \
    "$(redis-cli -p "$RPORT" HGET '{floodgate}:susp' e@t5.example), $(reason "$T/floodgate.conf" e@t5.example r@example.com), $(reason "$T/fg2.conf" e@t5.example r@example.com)" \
    "spam|$e_end|0, suspended, suspended"
ctl resume e@t5.example >/dev/null || fail "floodgatectl resume e@t5.example"

# 5. A carrier paused by relay 1 (421s in its delivery log) is paused on
# relay 2 too.
send "$T/p-1" $SMTP_PORT p@t6.example x@docomo.test
drain
QID=$(smtp_qid x@docomo.test)
[ -n "$QID" ] || fail "a queue ID for the docomo.test message"
sleep 1.5	# in relay 1's queue-ID map
for i in 1 2; do
	echo "$(date '+%b %e %H:%M:%S') mta postfix/smtp[9]: $QID: to=<x$i@docomo.test>, relay=mx.docomo.test[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=4.7.0, status=deferred (host mx.docomo.test[1.2.3.4] refused to talk to me: 421 4.7.0 try again later)" >> "$T/fake.log"
done
wait_for 5 grep -q "backoff: domain=docomo.test paused" "$T/floodgate.log" ||
    fail "relay 1 paused docomo.test: $(grep -i 'backoff\|follow' "$T/floodgate.log")"
wait_for 5 reason_is "$T/fg2.conf" p@t6.example y@docomo.test "paused docomo.test" ||
    fail "relay 2 holds the pause: $(reason "$T/fg2.conf" p@t6.example y@docomo.test)"
send "$T/p-2" $SMTP2 p@t6.example y@docomo.test
grep -q "^<\*\* *45[01] .*docomo.test paused until" "$T/p-2" ||
    fail "relay 2 defers the paused domain: $(grep '^<\*\*' "$T/p-2")"

# 6. Delivery feedback: relay 1 reads three unknown recipients of a
# tenant's message in its log; relay 2, which reads no log, stops the
# tenant too.
send "$T/f-1" $SMTP_PORT f@t7.example list@example.org
drain
QID=$(smtp_qid list@example.org)
[ -n "$QID" ] || fail "a queue ID for the list message"
sleep 1.5
for i in 1 2 3; do
	echo "$(date '+%b %e %H:%M:%S') mta postfix/smtp[9]: $QID: to=<nx$i@example.org>, relay=mx.example.org[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.example.org[1.2.3.4] said: 550 5.1.1 User unknown)" >> "$T/fake.log"
done
wait_for 8 grep -q "rule=unk key=f@t7.example tripped" "$T/floodgate.log" ||
    fail "relay 1 tripped the feedback limit"
wait_for 5 grep -q "rule=unk key=f@t7.example tripped" "$T/fg2.log" ||
    fail "relay 2 tripped it on relay 1's results: $(grep feedback "$T/fg2.log")"
send "$T/f-2" $SMTP2 f@t7.example r@example.com
grep -q "^<\*\* *451 .*too many unknown recipients" "$T/f-2" ||
    fail "relay 2 defers the tenant: $(grep '^<\*\*' "$T/f-2")"

# 7. Held mail: relay 1 releases it only when the shared window allows
# (a reset on relay 2 does), and the release is charged there: relay 2
# then holds the tenant's next message.
send "$T/h-1" $SMTP_PORT h@t10.example x@hold.example
send "$T/h-2" $SMTP_PORT h@t10.example y@hold.example
wait_for 5 grep -q "account=h@t10.example .*rule=holdme .*action=hold" "$T/floodgate.log" ||
    fail "relay 1 held the second message"
ctl release > "$T/release0" 2>&1
grep -q "^result *released" "$T/release0" &&
    fail "the release waits while the shared window is full: $(cat "$T/release0")"
"$FLOODGATECTL" -c "$T/fg2.conf" reset h@t10.example >/dev/null 2>&1 ||
    fail "reset on relay 2"
ctl release > "$T/release" 2>&1
grep -q "^result *released" "$T/release" ||
    fail "relay 1 released the held message: $(cat "$T/release")"
send "$T/h-3" $SMTP2 h@t10.example z@hold.example
wait_for 5 grep -q "account=h@t10.example .*rule=holdme .*action=hold" "$T/fg2.log" ||
    fail "relay 2 holds the next message: the release was charged in Redis"

# 8. Redis forgot the scripts (SCRIPT FLUSH, as after a restart with
# persistence): the next reserve loads them again and is answered.
redis-cli -p "$RPORT" SCRIPT FLUSH >/dev/null
send "$T/n-1" $SMTP_PORT n@t8.example r@example.com
expect_eq "after SCRIPT FLUSH the recipient is still decided by Redis" "$(count_replies "$T/n-1" 4..)" 0
grep -q "lost floodgate's scripts; loading them again" "$T/floodgate.log" ||
    fail "the scripts were loaded again on NOSCRIPT"
# A commit that meets NOSCRIPT (the scripts flushed while its
# transaction was open) loads them and is sent again: charged once.
open_rcpt $SMTP_PORT y@t8.example r@example.com "$T/y-open"
redis-cli -p "$RPORT" SCRIPT FLUSH >/dev/null
finish_data "$T/y-1"
grep -q "250 .*queued" "$T/y-1" || fail "the message was accepted: $(cat "$T/y-1")"
wait_for 5 charged_is y@t8.example 1 ||
    fail "the commit was charged after NOSCRIPT: $(charged y@t8.example)"

# 9. Redis slow (CLIENT PAUSE): past redis_timeout relay 1 decides from
# memory, then goes back to Redis by itself. A reload sets its
# redis_timeout first (300ms to 400ms).
sed -i 's/^redis_timeout 300ms$/redis_timeout 400ms/' "$T/floodgate.conf"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded" || fail "relay 1 reloaded"
redis-cli -p "$RPORT" CLIENT PAUSE 1500 ALL >/dev/null
send "$T/w-1" $SMTP_PORT w@t9.example r@example.com
expect_eq "Redis paused: the recipient is decided from memory, not refused" "$(count_replies "$T/w-1" 4..)" 0
grep -q "is down (no answer within redis_timeout 400ms)" "$T/floodgate.log" ||
    fail "the timeout, as reloaded, is logged: $(grep 'shared store' "$T/floodgate.log" | tail -3)"
wait_for 10 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/floodgate.log') -ge 3 ]" ||
    fail "relay 1 went back to Redis after the pause"

# 10. Redis killed mid-burst, then back. A pause long enough in 9 made
# an incident of its own; it ends at the next tick after Redis answers.
wait_for 5 sh -c "[ \$(grep -c 'incident: started kind=store' '$T/floodgate.log') = \$(grep -c 'incident: ended kind=store' '$T/floodgate.log') ]" ||
    fail "no store incident open before Redis is killed: $(grep 'incident: .*kind=store' "$T/floodgate.log")"
mails d1 d@t4.example r@example.com 1
wait_for 5 top_is "$T/fg2.conf" d@t4.example "pool 1 0" ||	# before Redis goes
    fail "the pool's top counts d's message before Redis goes: $(top_a "$T/fg2.conf" d@t4.example)"
# A pause and a suspension made by hand before the restart: the relays,
# which still hold them, write them back as they were.
ctl pause kept.test 1h >/dev/null || fail "floodgatectl pause kept.test"
ctl suspend kept@t4.example 1h >/dev/null || fail "floodgatectl suspend kept@t4.example"
kept() { redis-cli -p "$RPORT" HGET '{floodgate}:pause' kept.test; redis-cli -p "$RPORT" HGET '{floodgate}:susp' kept@t4.example; }
kept_both() { [ "$(kept | grep -c .)" = 2 ]; }
wait_for 5 kept_both || fail "the pause and the suspension reached Redis: $(kept)"
kept0=$(kept)
down0=$(log_count 'shared store: .* is down')
inc0=$(log_count 'incident: started kind=store')
kill_hard "$REDIS_PID"
for i in $(seq 1 6); do send "$T/d2-$i" $SMTP_PORT d@t4.example r@example.com; done
expect_eq "Redis down: relay 1 decides alone with 8/2 = 4, its message from before counted" "$(refused d2)" 3
expect_eq "logged once" "$(( $(log_count 'shared store: .* is down') - down0 ))" 1
expect_eq "top while Redis is down: this relay's statistics, and it says so" \
    "$(top_a "$T/floodgate.conf" a@t1.example | cut -d' ' -f1)" "relay"
expect_eq "explain while Redis is down: this relay's memory answers, with the divided limit, and says so" \
    "$(ctl explain d@t4.example r@example.com | awk '$1 == "hour" && $2 == "account" {print $5 "/" $6, $NF}')" "4/4 relay"
wait_for 5 sh -c "[ \$(grep -c 'incident: started kind=store subject=\"shared\"' '$T/floodgate.log') -gt $inc0 ]" ||
    fail "a store incident: $(grep incident "$T/floodgate.log")"
redis_up
wait_for 20 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/floodgate.log') -ge 4 ]" ||
    fail "relay 1 found Redis again"
wait_for 20 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/fg2.log') -ge 2 ]" ||
    fail "relay 2 found Redis again"
wait_for 5 sh -c "[ \$(grep -c 'incident: started kind=store' '$T/floodgate.log') = \$(grep -c 'incident: ended kind=store' '$T/floodgate.log') ]" ||
    fail "the store incident ended"
expect_eq "one store incident for the outage" "$(( $(log_count 'incident: started kind=store') - inc0 ))" 1
grep -q "came back empty; gave it this relay's windows" "$T/floodgate.log" ||
    fail "relay 1 gave the empty Redis its windows: $(grep 'shared store' "$T/floodgate.log")"
grep -q "came back empty; gave it this relay's windows" "$T/fg2.log" ||
    fail "relay 2 gave the empty Redis its windows: $(grep 'shared store' "$T/fg2.log")"
wait_for 5 kept_both
expect_eq "Redis came back empty: the relays gave it the pause and the suspension as they were" \
    "$(kept | tr '\n' ' ')" "$(echo "$kept0" | tr '\n' ' ')"
ctl unpause kept.test >/dev/null || fail "floodgatectl unpause kept.test"
ctl resume kept@t4.example >/dev/null || fail "floodgatectl resume kept@t4.example"
for i in $(seq 1 6); do send "$T/d3-$i" $SMTP2 d@t4.example r@example.com; done
expect_eq "shared again: relay 2 sees relay 1's 4 (Redis restarted empty)" "$(refused d3)" 2
# What both relays sent before the restart is whole again: docomo.ne.jp's
# server-wide window holds its 5 (from both), a sixth waits.
send "$T/c-1" $SMTP2 c@t11.example y@docomo.ne.jp
expect_eq "after Redis came back empty, the carrier's window holds what both relays sent" \
    "$(count_replies "$T/c-1" 451)" 1
# What relay 1 counted while Redis was down reaches the pool's top once
# it is back (what came before the restart went with Redis's memory):
# its 3 accepted and 3 deferred, and relay 2's 4 and 2 since.
wait_for 5 top_is "$T/fg2.conf" d@t4.example "pool 7 5"
expect_eq "top on relay 2 counts what relay 1 decided while Redis was down" \
    "$(top_a "$T/fg2.conf" d@t4.example)" "pool 7 5"
grep -q "gave .* the statistics counted while it was down" "$T/floodgate.log" ||
    fail "relay 1 says it gave its outage's statistics: $(grep 'shared store' "$T/floodgate.log")"

# 11. Redis flushed under live connections (FLUSHALL): each relay sees
# the keyspace's mark gone or changed within a second or two and gives
# it its windows; the tenant's and the carrier's budgets stay spent.
redis-cli -p "$RPORT" FLUSHALL >/dev/null
wait_for 5 grep -q "lost its windows (flushed); gave it this relay's windows" "$T/floodgate.log" ||
    fail "relay 1 gave the flushed Redis its windows: $(grep 'shared store' "$T/floodgate.log")"
wait_for 5 grep -q "lost its windows (flushed); gave it this relay's windows" "$T/fg2.log" ||
    fail "relay 2 gave the flushed Redis its windows: $(grep 'shared store' "$T/fg2.log")"
send "$T/e-1" $SMTP_PORT d@t4.example r@example.com
expect_eq "after FLUSHALL the tenant's 8 (4 through each relay) still count" "$(count_replies "$T/e-1" 451)" 1
send "$T/e-2" $SMTP_PORT c@t11.example z@docomo.ne.jp
expect_eq "after FLUSHALL the carrier's window is whole" "$(count_replies "$T/e-2" 451)" 1

# 12. Redis restarted empty while relay 2 was stopped: relay 1 finds it
# first and sets a new mark; relay 2, started again, finds a mark other
# than the one its database kept, and gives its windows too.
kill -TERM "$FG2_PID"
wait "$FG2_PID" 2>/dev/null
expect_eq "relay 2 stopped cleanly before the restart" "$?" 0
kill_hard "$REDIS_PID"
back0=$(grep -c "came back empty; gave it this relay's windows" "$T/fg2.log")
redis_up
wait_for 20 sh -c "[ \$(grep -c \"came back empty; gave it this relay's windows\" '$T/floodgate.log') -ge 2 ]" ||
    fail "relay 1 gave the restarted Redis its windows: $(grep 'shared store' "$T/floodgate.log" | tail -3)"
start_fg2
wait_for 5 sh -c "[ \$(grep -c \"came back empty; gave it this relay's windows\" '$T/fg2.log') -gt $back0 ]"
expect_eq "relay 2, restarted meanwhile, gave its windows too (the mark in its database)" \
    "$(( $(grep -c "came back empty; gave it this relay's windows" "$T/fg2.log") - back0 ))" 1
send "$T/e-3" $SMTP_PORT d@t4.example r@example.com
expect_eq "after both restarts the tenant's 8 still count" "$(count_replies "$T/e-3" 451)" 1

# 13. Redis restarted from an older snapshot (SAVE, then killed, its
# dump loaded again): the mark is the same, but each relay's own record
# in it is older than the last one it saw acknowledged, so each gives
# back what it charged since, and only that. The tenant's 1 before the
# snapshot (in it, more than the margin before) and 2 after (one through
# each relay) make 3 of 4 in 100s: one more passes, the next waits.
send "$T/g-1" $SMTP_PORT g@t13.example r@snap.example
sleep 5
redis-cli -p "$RPORT" SAVE >/dev/null
send "$T/g-2" $SMTP_PORT g@t13.example r@snap.example
send "$T/g-3" $SMTP2 g@t13.example r@snap.example
expect_eq "three to snap.example before the restart" "$(cat "$T"/g-* | grep -c '^ *<- *250 .*[Qq]ueued')" 3
old1=$(grep -c "went back to an older state; gave it this relay's charges since" "$T/floodgate.log")
old2=$(grep -c "went back to an older state; gave it this relay's charges since" "$T/fg2.log")
empty0=$(cat "$T/floodgate.log" "$T/fg2.log" | grep -c "came back empty")
sleep 1.5
kill_hard "$REDIS_PID"
redis_up
wait_for 20 sh -c "[ \$(grep -c \"went back to an older state; gave it this relay's charges since\" '$T/floodgate.log') -gt $old1 ]" ||
    fail "relay 1 gave Redis back what it charged since the snapshot: $(grep 'shared store' "$T/floodgate.log" | tail -3)"
wait_for 20 sh -c "[ \$(grep -c \"went back to an older state; gave it this relay's charges since\" '$T/fg2.log') -gt $old2 ]" ||
    fail "relay 2 gave Redis back what it charged since the snapshot: $(grep 'shared store' "$T/fg2.log" | tail -3)"
expect_eq "neither relay took the restored Redis for an empty one" \
    "$(cat "$T/floodgate.log" "$T/fg2.log" | grep -c "came back empty")" "$empty0"
send "$T/g-4" $SMTP2 g@t13.example r@snap.example
expect_eq "after the restore, the fourth of 4 passes (nothing counted twice)" "$(count_replies "$T/g-4" 451)" 0
send "$T/g-5" $SMTP_PORT g@t13.example r@snap.example
expect_eq "after the restore, the fifth waits (both relays' charges since the snapshot are back)" "$(count_replies "$T/g-5" 451)" 1

# 14. Redis full (maxmemory reached, noeviction): it answers, but takes
# no write. Each relay sees it at its next check (a write, each second),
# says so once, and decides from memory with divided limits; what it
# charged meanwhile is added when Redis takes writes again, in one add
# per window and slot.
inc0=$(log_count 'incident: started kind=store')
up1=$(log_count 'answers; deciding from it')
up2=$(grep -c 'answers; deciding from it' "$T/fg2.log")
redis-cli -p "$RPORT" CONFIG SET maxmemory 1 >/dev/null
wait_for 5 grep -q "is down (refuses writes: OOM" "$T/floodgate.log" ||
    fail "relay 1 saw Redis refuse writes: $(grep 'shared store' "$T/floodgate.log" | tail -3)"
wait_for 5 grep -q "is down (refuses writes: OOM" "$T/fg2.log" ||
    fail "relay 2 saw Redis refuse writes: $(grep 'shared store' "$T/fg2.log" | tail -3)"
mails h1 h@t14.example r@example.com 6
expect_eq "Redis full: the divided limit (4 a relay) lets 3 through each relay" "$(refused h1)" 0
wait_for 5 sh -c "[ \$(grep -c 'incident: started kind=store' '$T/floodgate.log') -gt $inc0 ]"
expect_eq "Redis full: status says why decisions come from memory" \
    "$(ctl status | awk '$1 == "decisions"' | grep -c "(down for [0-9]*s: refuses writes: OOM command not allowed when used memory > 'maxmemory'.; memory, limits divided by relays)")" 1
grep -q 'incident: started kind=store subject="shared": .*refuses writes: OOM' "$T/floodgate.log" ||
    fail "the store incident says why: $(grep 'incident: started kind=store' "$T/floodgate.log" | tail -1)"
redis-cli -p "$RPORT" CONFIG SET maxmemory 0 >/dev/null
wait_for 40 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/floodgate.log') -gt $up1 ] && [ \$(grep -c 'answers; deciding from it' '$T/fg2.log') -gt $up2 ]" ||
    fail "both relays use Redis again once it takes writes"
expect_eq "Redis full: said once by each relay" \
    "$(cat "$T/floodgate.log" "$T/fg2.log" | grep -c 'is down (refuses writes: OOM')" 2
expect_eq "Redis full: one store incident" "$(( $(log_count 'incident: started kind=store') - inc0 ))" 1
grep -q "added 3 charges made while .* was down" "$T/floodgate.log" ||
    fail "relay 1 added what it charged while Redis was full: $(grep 'shared store' "$T/floodgate.log" | tail -3)"
for i in 1 2 3 4; do send "$T/h2-$i" $SMTP_PORT h@t14.example r@example.com; done
expect_eq "after Redis takes writes again, the tenant's 6 count: 2 more of 8 pass" "$(refused h2)" 2

# 15. Redis restarted from an older snapshot while relay 2 was stopped:
# relay 2's database kept its name in Redis and the last record Redis
# acknowledged, so at its start it sees the record in Redis older than
# that, and gives back what it charged since the snapshot.
send "$T/q-1" $SMTP2 k@t15.example r@snap.example
sleep 5
redis-cli -p "$RPORT" SAVE >/dev/null
send "$T/q-2" $SMTP2 k@t15.example r@snap.example
send "$T/q-3" $SMTP2 k@t15.example r@snap.example
sleep 1.5
kill -TERM "$FG2_PID"
wait "$FG2_PID" 2>/dev/null
expect_eq "relay 2 stopped cleanly before the restore" "$?" 0
old2=$(grep -c "went back to an older state; gave it this relay's charges since" "$T/fg2.log")
up1=$(log_count 'answers; deciding from it')
kill_hard "$REDIS_PID"
redis_up
start_fg2
wait_for 10 sh -c "[ \$(grep -c \"went back to an older state; gave it this relay's charges since\" '$T/fg2.log') -gt $old2 ]" ||
    fail "relay 2, restarted meanwhile, gave back what it charged since the snapshot: $(grep 'shared store' "$T/fg2.log" | tail -3)"
wait_for 20 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/floodgate.log') -gt $up1 ]" ||
    fail "relay 1 found Redis again"
send "$T/q-4" $SMTP_PORT k@t15.example r@snap.example
expect_eq "after the restore, relay 2's two since the snapshot count: the fourth of 4 passes" "$(count_replies "$T/q-4" 451)" 0
send "$T/q-5" $SMTP_PORT k@t15.example r@snap.example
expect_eq "and the fifth waits" "$(count_replies "$T/q-5" 451)" 1

# 16. A transaction that ends while Redis is down: its commit is charged
# once Redis takes writes again, and its reservation, still in Redis, is
# given back then too, rather than counting beside the charge until
# redis_reservation_ttl (a minute on relay 2 for this step, so that only
# the give-back can empty it in time).
kill -TERM "$FG2_PID"
wait "$FG2_PID" 2>/dev/null
sed -i 's/^redis_reservation_ttl .*/redis_reservation_ttl 1m/' "$T/fg2.conf"
start_fg2
# used_hour CONF ACCOUNT: the pool's hour window for the account, with
# reservations in flight, as floodgatectl explain shows it.
used_hour() {
	"$FLOODGATECTL" -c "$1" explain "$2" r@example.com 2>&1 |
	    awk '$1 == "hour" && $2 == "account" {print $5, $NF}'
}
open_rcpt $SMTP2 u@t16.example r@example.com "$T/u-open"
grep -q "^250" "$T/u-open" || fail "the recipient was reserved on relay 2: $(cat "$T/u-open")"
expect_eq "the reservation is in the pool's window" "$(used_hour "$T/fg2.conf" u@t16.example)" "1 pool"
down2=$(grep -c 'is down (refuses writes: OOM' "$T/fg2.log")
up2=$(grep -c 'answers; deciding from it' "$T/fg2.log")
redis-cli -p "$RPORT" CONFIG SET maxmemory 1 >/dev/null
wait_for 5 sh -c "[ \$(grep -c 'is down (refuses writes: OOM' '$T/fg2.log') -gt $down2 ]" ||
    fail "relay 2 saw Redis refuse writes: $(grep 'shared store' "$T/fg2.log" | tail -3)"
finish_data "$T/u-1"
grep -q "250 .*queued" "$T/u-1" || fail "the message was accepted while Redis was full: $(cat "$T/u-1")"
redis-cli -p "$RPORT" CONFIG SET maxmemory 0 >/dev/null
wait_for 20 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/fg2.log') -gt $up2 ]" ||
    fail "relay 2 uses Redis again once it takes writes"
grep -q "gave redis://127.0.0.1:$RPORT back 1 reservations left from while it was down" "$T/fg2.log" ||
    fail "relay 2 gave its reservation back: $(grep 'shared store' "$T/fg2.log" | tail -3)"
expect_eq "after Redis takes writes again, the window holds the charge, not the reservation too" \
    "$(used_hour "$T/fg2.conf" u@t16.example)" "1 pool"

# 17. A relay stopped while Redis is down keeps what it owes Redis (the
# outage's charges and statistics) in its database, and gives it when
# Redis answers after its next start.
down2=$(grep -c 'is down (refuses writes: OOM' "$T/fg2.log")
redis-cli -p "$RPORT" CONFIG SET maxmemory 1 >/dev/null
wait_for 5 sh -c "[ \$(grep -c 'is down (refuses writes: OOM' '$T/fg2.log') -gt $down2 ]" ||
    fail "relay 2 saw Redis refuse writes: $(grep 'shared store' "$T/fg2.log" | tail -3)"
for i in 1 2; do send "$T/v-$i" $SMTP2 v@t17.example r@example.com; done
expect_eq "Redis full: relay 2 lets the tenant's 2 through" "$(refused v)" 0
kill -TERM "$FG2_PID"
wait "$FG2_PID" 2>/dev/null
grep -q "kept what redis://127.0.0.1:$RPORT is owed in the database for the next start (charges in 1 windows and slots" "$T/fg2.log" ||
    fail "relay 2 kept the outage's charges at its stop: $(grep 'shared store' "$T/fg2.log" | tail -3)"
expect_eq "relay 2's database holds them" \
    "$(sqlite3 "$T/fg2.db" "SELECT sum(n) FROM pending WHERE kind = 'c' AND name LIKE 'hour%v@t17.example'")" 2
redis-cli -p "$RPORT" CONFIG SET maxmemory 0 >/dev/null
added2=$(grep -c 'added 2 charges made while' "$T/fg2.log")
start_fg2
wait_for 10 sh -c "[ \$(grep -c 'added 2 charges made while' '$T/fg2.log') -gt $added2 ]" ||
    fail "relay 2 added them once Redis answered: $(grep 'shared store' "$T/fg2.log" | tail -3)"
expect_eq "the pool's window holds the 2 charged while Redis was full" \
    "$(used_hour "$T/fg2.conf" v@t17.example)" "2 pool"
expect_eq "and the database no longer" "$(sqlite3 "$T/fg2.db" "SELECT count(*) FROM pending")" 0
wait_for 5 top_is "$T/floodgate.conf" v@t17.example "pool 2 0" ||
    fail "the pool's statistics count them: $(top_a "$T/floodgate.conf" v@t17.example)"

# 18. A commit whose answer is lost with its connection: Redis, paused
# for writes, holds the commit unrun when relay 2's connection is
# killed. The next connection reads the lost connection's mark, learns
# that the commit was not applied, and adds its charge (and gives its
# reservation back) with the outage's, where it used to be lost.
open_rcpt $SMTP2 x@t18.example r@example.com "$T/x-open"
grep -q "^250" "$T/x-open" || fail "the recipient was reserved on relay 2: $(cat "$T/x-open")"
up2=$(grep -c 'answers; deciding from it' "$T/fg2.log")
redis-cli -p "$RPORT" CLIENT PAUSE 20000 WRITE >/dev/null
finish_data "$T/x-1"
grep -q "250 .*queued" "$T/x-1" || fail "the message was accepted while Redis held its commit: $(cat "$T/x-1")"
sleep 1		# the commit reaches Redis, which holds it
conn2=$(ss -tnpH "dport = :$RPORT" | awk -v p="pid=$FG2_PID," 'index($0, p) {print $4}')
[ -n "$conn2" ] || fail "relay 2's connection to Redis is there: $(ss -tnp "dport = :$RPORT")"
redis-cli -p "$RPORT" CLIENT KILL ADDR "$conn2" >/dev/null
redis-cli -p "$RPORT" CLIENT UNPAUSE >/dev/null
wait_for 20 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/fg2.log') -gt $up2 ]" ||
    fail "relay 2 uses Redis again after its connection was killed: $(grep 'shared store' "$T/fg2.log" | tail -3)"
grep -q "1 calls to redis://127.0.0.1:$RPORT had no answer when a connection was lost: 0 were applied, 1 are kept to be sent again" "$T/fg2.log" ||
    fail "relay 2 learned the commit was not applied: $(grep 'shared store' "$T/fg2.log" | tail -4)"
expect_eq "the pool's window holds the commit's charge" "$(charged x@t18.example)" 1
expect_eq "and not its reservation besides" "$(used_hour "$T/fg2.conf" x@t18.example)" "1 pool"

# 19. A give-back cut short: after FLUSHALL relay 2 gives Redis its
# windows (12,000 tenants' hour windows, charged over the milter
# protocol by fgload: about half a second of Redis), Redis is paused for writes while they are under way and
# both relays' connections are killed. The adds Redis held unrun, and
# those sent after, are in doubt: the next connection reads the mark and
# sends again exactly those Redis did not apply. The tenants' hour
# windows sum to what was charged, where they used to lose what was in
# flight.
[ -x "$FGLOAD" ] || fail "fgload is built (make $FGLOAD)"
"$FGLOAD" -S "unix:$T/fg2/milter.sock" -c 2 -m 6000 -r 1 -a 1000000 > "$T/load" 2>&1
load_ok=$(awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}} END {print v["decisions"] - v["refused"]}' "$T/load")
expect_eq "fgload through relay 2: no protocol error" \
    "$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^errors=/) print substr($i, 8)}' "$T/load")" 0
# pool_hours: the charges of fgload's tenants in the pool's hour windows.
pool_hours() {
	redis-cli -p "$RPORT" EVAL "local s, c = 0, '0'
	    repeat
	      local r = redis.call('SCAN', c, 'MATCH', ARGV[1], 'COUNT', 1000)
	      c = r[1]
	      for _, k in ipairs(r[2]) do
	        for _, v in ipairs(redis.call('HVALS', k)) do s = s + tonumber(v) end
	      end
	    until c == '0'
	    return s" 0 "{floodgate}:w:hour"$'\037'"user@tenant*"
}
pool_hours_are() { [ "$(pool_hours)" = "$1" ]; }
wait_for 10 pool_hours_are "$load_ok" ||
    fail "the pool's hour windows hold fgload's $load_ok: $(pool_hours)"
flushed2=$(grep -c 'lost its windows (flushed)' "$T/fg2.log")
doubt2=$(grep -c 'had no answer when a connection was lost' "$T/fg2.log")
up2=$(grep -c 'answers; deciding from it' "$T/fg2.log")
redis-cli -p "$RPORT" FLUSHALL >/dev/null
# Polled closely: the pause must come while the adds are under way.
for i in $(seq 1 500); do
	[ "$(grep -c 'lost its windows (flushed)' "$T/fg2.log")" -gt "$flushed2" ] && break
	sleep 0.01
done
[ "$(grep -c 'lost its windows (flushed)' "$T/fg2.log")" -gt "$flushed2" ] ||
    fail "relay 2 gave its windows back after FLUSHALL: $(grep 'shared store' "$T/fg2.log" | tail -3)"
redis-cli -p "$RPORT" CLIENT PAUSE 10000 WRITE >/dev/null
redis-cli -p "$RPORT" CLIENT KILL TYPE normal SKIPME yes >/dev/null
redis-cli -p "$RPORT" CLIENT UNPAUSE >/dev/null
wait_for 20 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/fg2.log') -gt $up2 ]" ||
    fail "relay 2 uses Redis again: $(grep 'shared store' "$T/fg2.log" | tail -3)"
[ "$(grep -c 'had no answer when a connection was lost' "$T/fg2.log")" -gt "$doubt2" ] ||
    fail "relay 2 had adds in doubt: $(grep 'shared store' "$T/fg2.log" | tail -4)"
wait_for 10 pool_hours_are "$load_ok" ||
    fail "after the cut give-back, the pool's hour windows hold fgload's $load_ok: $(pool_hours) ($(grep 'shared store' "$T/fg2.log" | tail -4))"
expect_eq "after the cut give-back, the tenants' hour windows hold what was charged" "$(pool_hours)" "$load_ok"

# 20. Two relays under one name: relay 2 restarted from a copy of relay
# 1's record in its database (as a relay built from a copy of another's
# disk is). Each check would read the other's record, and a clock a
# moment behind reads as Redis going back in time; the younger process
# takes a name of its own, the older keeps its name. Then another copy
# of relay 1, older, with a clock 5 s behind (its writes made here):
# relay 1 gives back at most once before it takes a new name.
# at_mark DB: the relay's name and last acknowledged record it keeps.
at_mark() { sqlite3 -cmd '.timeout 3000' "$1" "SELECT value FROM marks WHERE name = 'shared redis://127.0.0.1:$RPORT {floodgate}:at'"; }
kill -TERM "$FG2_PID"
wait "$FG2_PID" 2>/dev/null
id1=$(at_mark "$T/floodgate.db" | cut -d' ' -f1)
[ -n "$id1" ] && [ "$id1" != "$(at_mark "$T/fg2.db" | cut -d' ' -f1)" ] ||
    fail "each relay keeps a name of its own: $(at_mark "$T/floodgate.db") / $(at_mark "$T/fg2.db")"
sqlite3 "$T/fg2.db" "UPDATE marks SET value = '$(at_mark "$T/floodgate.db")' WHERE name = 'shared redis://127.0.0.1:$RPORT {floodgate}:at'"
clash="another relay writes this relay's record in redis://127.0.0.1:$RPORT ({floodgate}:at:$id1; started from a copy of this relay's database?): this relay is"
start_fg2
wait_for 10 grep -qF "$clash" "$T/fg2.log" ||
    fail "relay 2, a copy of relay 1, took a name of its own: $(grep 'shared store' "$T/fg2.log" | tail -3)"
renamed2() { at_mark "$T/fg2.db" | grep -q . && ! at_mark "$T/fg2.db" | grep -q "^$id1 "; }
wait_for 5 renamed2 || fail "relay 2 keeps its new name: $(at_mark "$T/fg2.db")"
expect_eq "relay 1, the older, kept its name" "$(grep -cF "$clash" "$T/floodgate.log")" 0
backs1=$(log_count 'went back to an older state')
redis-cli -p "$RPORT" -r 50 -i 0.2 SET "{floodgate}:at:$id1" \
    "$(( $(date +%s) - 5 )) 1000000000000000" >/dev/null &
copy=$!
wait_for 10 grep -qF "$clash" "$T/floodgate.log" ||
    fail "relay 1 took a new name beside an older copy of itself: $(grep 'shared store' "$T/floodgate.log" | tail -3)"
kill "$copy" 2>/dev/null
wait "$copy" 2>/dev/null
expect_eq "meanwhile relay 1 took the copy's clock for Redis going back at most once" \
    "$(( $(log_count 'went back to an older state') - backs1 <= 1 ))" 1

# 21. A reserve answered after redis_timeout: Redis, paused for a
# second, holds relay 2's reserve; the recipient is decided from memory
# and the store goes down; then Redis makes the reservation and answers,
# before relay 2 tries to reconnect (a second after the timeout). The
# relay gives that reservation back once Redis answers again, with the
# reservations of transactions that ended meanwhile, where it used to
# count in the pool's window until redis_reservation_ttl (a minute on
# relay 2).
up2=$(grep -c 'answers; deciding from it' "$T/fg2.log")
slow2=$(grep -c 'is down (no answer within redis_timeout 300ms)' "$T/fg2.log")
exec {SESS}<>/dev/tcp/127.0.0.1/$SMTP2
read_reply $SESS >/dev/null
for cmd in "EHLO relay.test" "MAIL FROM:<l@t21.example>"; do
	printf '%s\r\n' "$cmd" >&$SESS
	read_reply $SESS >/dev/null
done
redis-cli -p "$RPORT" CLIENT PAUSE 1000 ALL >/dev/null
printf 'RCPT TO:<r@example.com>\r\n' >&$SESS
read_reply $SESS > "$T/l-open"
grep -q "^250" "$T/l-open" || fail "the recipient was accepted while Redis was paused: $(cat "$T/l-open")"
finish_data "$T/l-1"
grep -q "250 .*[Qq]ueued" "$T/l-1" || fail "the message was accepted while Redis was paused: $(cat "$T/l-1")"
expect_eq "relay 2 decided the recipient from memory" \
    "$(( $(grep -c 'is down (no answer within redis_timeout 300ms)' "$T/fg2.log") - slow2 ))" 1
wait_for 20 sh -c "[ \$(grep -c 'answers; deciding from it' '$T/fg2.log') -gt $up2 ]" ||
    fail "relay 2 uses Redis again after the pause: $(grep 'shared store' "$T/fg2.log" | tail -3)"
late_given() { [ "$(used_hour "$T/fg2.conf" l@t21.example)" = "1 pool" ]; }
wait_for 5 late_given
expect_eq "the pool's window holds the message's charge, not the late reserve's reservation too" \
    "$(used_hour "$T/fg2.conf" l@t21.example)" "1 pool"

# The ACL user let every command through (since the last restart, in
# Redis's log; over the whole test, in both relays' logs).
expect_eq "the README's ACL rule: Redis refused floodgate nothing" \
    "$(redis-cli -p "$RPORT" ACL LOG | grep -c .) $(cat "$T/floodgate.log" "$T/fg2.log" | grep -c "NOPERM\|executing the script can't")" "0 0"

drain
held=$(( $(postqueue -c "$T/etc" -j 2>/dev/null | grep -c '"queue_name": *"hold"') +
    $(postqueue -c "$PF2/etc" -j 2>/dev/null | grep -c '"queue_name": *"hold"') ))
# (the sink counts recipients: the message of three, three times)
expect_eq "nothing lost: every accepted message reached the sink or waits in the hold queue" \
    "$(( $(sink_count) + held ))" "$(( $(cat "$T"/a-* "$T"/b?-* "$T"/k-* "$T"/k1-* "$T"/s-* "$T"/p-* "$T"/f-* "$T"/h-* "$T"/n-* "$T"/w-* "$T"/d1-* "$T"/d2-* "$T"/d3-* "$T"/c-* "$T"/e-* "$T"/g-* "$T"/h?-* "$T"/q-* "$T"/u-* "$T"/v-* "$T"/x-* "$T"/y-* "$T"/l-* "$T"/t-* "$T"/pair-* | grep -c '^ *<- *250 .*[Qq]ueued') +
    3 * $(grep -c '^ *<- *250 .*[Qq]ueued' "$T/multi") ))"
# The second relay stops cleanly too (a sanitizer build reports here).
kill -TERM "$FG2_PID"
for i in $(seq 1 50); do alive "$FG2_PID" || break; sleep 0.1; done
alive "$FG2_PID" && fail "relay 2 stopped on SIGTERM"
wait "$FG2_PID" 2>/dev/null
expect_eq "relay 2 exited cleanly on SIGTERM" "$?" 0
if grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T/fg2.log"; then
	fail "sanitizer report in relay 2's output"
	grep -A5 "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T/fg2.log" | head -30
fi
finish
