#!/bin/bash
# engine: native (the store's connection is the same code on both engines)
# The ways to reach Redis: store redis+unix:///PATH?db=N and
# redis://HOST:PORT/DB with redis_password_file, against a redis-server
# that wants a password (requirepass). Decided from Redis, the keys in
# the database named and no other; a password file every local user can
# read is warned about (at start and by floodgate -n) and still used; a
# wrong password or a database Redis does not have is told once, not at
# every retry, status says why, and mail is decided from memory with the
# divided limit; a restart meanwhile continues the store incident; a
# missing password file stops the start with its name. A clean stop
# while Redis answers gives it the last second's statistics and keeps
# nothing owed.
# On a Redis Cluster of two masters every key lands on the node that
# serves the installation's hash tag, and a prefix served elsewhere is
# an outage (MOVED).
# An ACL user of floodgate's own (redis_user, the README's rule): the
# relay logs in as it; should the rule lose a command a script runs,
# Redis's refusal from inside the script is an outage whose charges are
# kept and added once the ACL lets them through (with the relay's
# windows, given to a Redis emptied meanwhile and refused too), told as
# added once. A command of the scripts the user may not run is named at
# connect (the probe), as after an upgrade under a user made by an
# earlier README. A user or password in the store URL is refused, and
# not echoed. A connection Redis drops soon after each reconnect: the
# backoff goes on doubling (1 s, 2 s, 4 s, said in the log), and starts
# over once Redis has answered for more than 2 s.
. "$(dirname "$0")/lib.sh"
REDIS=/usr/bin/redis-server
[ -x "$REDIS" ] || skip "no $REDIS (Debian package redis-server)"
setup
RPORT=$(free_port)
# A space, printf's % and a quote: AUTH must send it as one argument.
PASS='p w%s"x'
start_redis "$RPORT" --unixsocket "$T/rdata/redis.sock" --unixsocketperm 700 \
    --requirepass "$PASS"
wait_for 5 test -S "$T/rdata/redis.sock" || { fail "redis-server made its socket"; finish; }
rcli() { redis-cli -s "$T/rdata/redis.sock" -a "$PASS" --no-auth-warning "$@"; }
printf '%s\n' "$PASS" > "$T/redis.pass"
chmod 600 "$T/redis.pass"
OPEN="is open to every local user"

# conf STORE PASSWORD-FILE: floodgate.conf for this store.
conf() {
	write_conf <<EOT
store $1
redis_password_file $2
relays 2
limit hour per account 3/1h
EOT
}
decisions() { ctl status 2>/dev/null | awk '$1 == "decisions" {sub(/^decisions */, ""); print}'; }
# sent NAME FROM N: N recipients in one message; prints how many got 451.
sent() {
	send "$T/$1" $SMTP_PORT "$2" "$(rcpts r example.com "$3")"
	count_replies "$T/$1" 451
}

# 1. Over the Unix socket, database 3, with the password.
conf "redis+unix://$T/rdata/redis.sock?db=3" "$T/redis.pass"
"$FLOODGATE" -n -c "$T/floodgate.conf" >/dev/null 2>"$T/check.err"
expect_eq "floodgate -n: a root-only password file passes, nothing said" \
    "$?:$(cat "$T/check.err")" "0:"
start_floodgate
start_postfix
wait_log "answers; deciding from it" ||
    fail "Redis answered over its socket: $(grep shared "$T/floodgate.log")"
expect_eq "unix socket: the fourth recipient over 3/1h is deferred" "$(sent u1 a@t1.example 4)" 1
decisions | grep -q "^redis redis+unix://.*?db=3 (up)$" &&
    ok "status: decided by Redis over the socket" ||
    fail "status: decided by Redis over the socket: $(decisions)"
# windows DB ACCOUNT: the account's windows in that database.
windows() { rcli -n "$1" --scan --pattern "{floodgate}:w:*$2*" | grep -c .; }
expect_eq "unix socket: the window is in database 3, nothing in 0" \
    "$(windows 3 a@t1.example) $(rcli -n 0 dbsize)" "1 0"
expect_eq "no warning for a root-only password file" "$(log_count "$OPEN")" 0
# A clean stop while Redis answers: the statistics of the service's
# last flush, which comes after the store's connection closed, go to
# Redis at the stop (on a connection of their own, with the password,
# in database 3); nothing is left owed in the database. A message just
# before the stop makes that flush hold some (unless a tick took them
# first: then there is nothing to give, and nothing is kept either).
expect_eq "a message just before the stop passes" "$(sent u1b b@t1.example 1)" 0
stop_floodgate
expect_eq "the stop keeps nothing owed in the database" \
    "$(log_count "is owed in the database") $(sqlite3 "$T/floodgate.db" "SELECT count(*) FROM pending")" "0 0"
expect_eq "and says of no statistics it could not give" "$(log_count "cannot give")" 0
# The account's accepted messages over the pool's hours (one, unless
# the hour turned meanwhile).
pool_a() {
	local k
	for k in $(rcli -n 3 --scan --pattern '{floodgate}:st:*:a'); do
		rcli -n 3 hget "$k" "$1"$'\037'a
	done | awk '{n += $1} END {print n + 0}'
}
expect_eq "the pool's statistics in database 3 count the message" \
    "$(pool_a b@t1.example)" 1

# 2. Over TCP, database 5 (empty: the relay gives it its windows, so
# the tenant's three stay counted).
conf "redis://127.0.0.1:$RPORT/5" "$T/redis.pass"
start_floodgate
wait_log "answers; deciding from it" 2 ||
    fail "Redis answered over TCP: $(grep shared "$T/floodgate.log" | tail -3)"
expect_eq "TCP, database 5: the relay's windows given to it, 3 of 3 used" "$(sent t1 a@t1.example 1)" 1
expect_eq "TCP, database 5: another tenant's 3 pass, the fourth is deferred" "$(sent t2 c@t3.example 4)" 1
expect_eq "TCP: that tenant's window is in database 5, not in 3" \
    "$(windows 5 c@t3.example) $(windows 3 c@t3.example)" "1 0"

# 3. A password file every local user can read: said, and still used;
# written as a Windows editor saves it (a byte order mark, CRLF), read.
printf '\xef\xbb\xbf%s\r\n' "$PASS" > "$T/redis.pass"
chmod 644 "$T/redis.pass"
"$FLOODGATE" -n -c "$T/floodgate.conf" >/dev/null 2>"$T/check.err"
rc=$?
grep -q "warning: redis_password_file $T/redis.pass $OPEN (mode 0644)" "$T/check.err" ||
    fail "floodgate -n warns of the open password file: $(cat "$T/check.err")"
expect_eq "floodgate -n: a warning, not an error" "$rc" 0
stop_floodgate
start_floodgate
wait_log "answers; deciding from it" 3 || fail "the open password file (a mark, CRLF) is still used"
expect_eq "the open password file is warned about at start, once" "$(log_count "$OPEN (mode 0644)")" 1

# 4. A wrong password: told once however often floodgate retries; mail
# is decided from memory with 3/1h divided by 2 relays.
printf 'wrong\n' > "$T/bad.pass"
chmod 600 "$T/bad.pass"
stop_floodgate
conf "redis://127.0.0.1:$RPORT/5" "$T/bad.pass"
rcli acl log reset >/dev/null
# refusals: failed AUTHs in Redis's ACL log (one entry, counted).
refusals() { rcli acl log 1 | awk 'p {print; exit} $0 == "count" {p = 1}'; }
start_floodgate
wait_log "AUTH refused: WRONGPASS" || fail "the refused password is logged: $(grep shared "$T/floodgate.log" | tail -3)"
expect_eq "wrong password: from memory, 3/1h over 2 relays lets 2 through" "$(sent w1 b@t2.example 3)" 1
decisions | grep -q "down for .*AUTH refused: WRONGPASS .*memory, limits divided by relays" &&
    ok "status says why Redis is not used" ||
    fail "status says why Redis is not used: $(decisions)"
# Retries at 1 s and 3 s after the first refusal.
three_refusals() { [ "$(refusals)" -ge 3 ] 2>/dev/null; }
wait_for 8 three_refusals && ok "floodgate retried: $(refusals) refusals so far" ||
    fail "floodgate retried the connection: $(refusals) refusals"
expect_eq "wrong password: one error line for three refusals" \
    "$(grep -c "error: shared store: redis://127.0.0.1:$RPORT/5: AUTH refused: WRONGPASS" "$T/floodgate.log")" 1
expect_eq "no 5xx while Redis refuses floodgate" "$(count_replies "$T/w1" 5..)" 0
# A restart during the outage continues its incident (told once).
INC='incident: started kind=store subject="shared"'
END='incident: ended kind=store subject="shared"'
wait_log "$INC" || fail "the outage is an incident: $(grep incident "$T/floodgate.log")"
stop_floodgate
start_floodgate
wait_log "AUTH refused: WRONGPASS" 3 || fail "the restarted relay is refused too"
sleep 3
expect_eq "a restart while Redis refuses: the same incident, not ended and started again" \
    "$(log_count "$INC") $(log_count "$END")" "1 0"

# 5. A database Redis does not have (16 by default).
stop_floodgate
conf "redis+unix://$T/rdata/redis.sock?db=99" "$T/redis.pass"
chmod 600 "$T/redis.pass"
start_floodgate
wait_log "SELECT refused: ERR DB index is out of range" ||
    fail "the refused database is logged: $(grep shared "$T/floodgate.log" | tail -3)"
# The charges the relay still owed the store of step 4 (it never
# answered) wait in the database for a start with that store, within
# their hour; each start says so.
expect_eq "charges owed to another store: said at start, not given to this one" \
    "$(log_count "warning: shared store: charges in 1 windows and slots owed to redis://127.0.0.1:$RPORT/5 {floodgate} at an earlier stop wait in the database for a start with that store (the last of their windows passes in [0-9hms]*); not given to redis+unix://$T/rdata/redis.sock?db=99 {floodgate}$")" 1
decisions | grep -q "SELECT refused: ERR DB index is out of range" &&
    ok "status says the database was refused" ||
    fail "status says the database was refused: $(decisions)"

# 6. A missing password file: no start, and the file is named.
stop_floodgate
conf "redis://127.0.0.1:$RPORT/5" "$T/none.pass"
"$FLOODGATE" -n -c "$T/floodgate.conf" >"$T/check.out" 2>"$T/check.err"
rc=$?
expect_eq "floodgate -n: not printed as OK" "$(grep -c ": OK$" "$T/check.out")" 0
pline=$(grep -n '^redis_password_file ' "$T/floodgate.conf" | cut -d: -f1)
grep -q "^$T/floodgate.conf:$pline: redis_password_file $T/none.pass: No such file or directory" "$T/check.err" ||
    fail "floodgate -n names the missing file, at its line: $(cat "$T/check.err")"
expect_eq "floodgate -n: a missing password file is an error" "$rc" 1
timeout 10 "$FLOODGATE" -f -c "$T/floodgate.conf" >"$T/nostart.log" 2>&1
rc=$?
grep -q "$T/floodgate.conf:$pline: redis_password_file $T/none.pass: No such file or directory" "$T/nostart.log" ||
    fail "the start names the missing file, at its line: $(cat "$T/nostart.log")"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "floodgate does not start without its password file (exit $rc)"
# A password longer than floodgate reads is said, not sent cut (Redis
# would refuse it as a wrong one); one of 511 bytes, CRLF, is read.
head -c 600 /dev/zero | tr '\0' p > "$T/long.pass"
chmod 600 "$T/long.pass"
conf "redis://127.0.0.1:$RPORT/5" "$T/long.pass"
"$FLOODGATE" -n -c "$T/floodgate.conf" >"$T/check.out" 2>"$T/check.err"
rc=$?
grep -q "^$T/floodgate.conf:$pline: redis_password_file $T/long.pass: the password (its first line) is longer than 511 bytes" "$T/check.err" &&
    [ "$rc" -eq 1 ] && ok "a 600-byte password: an error, at its line" ||
    fail "a 600-byte password: an error, at its line (exit $rc): $(cat "$T/check.err")"
{ head -c 511 /dev/zero | tr '\0' p; printf '\r\n'; } > "$T/long.pass"
"$FLOODGATE" -n -c "$T/floodgate.conf" >"$T/check.out" 2>"$T/check.err"
expect_eq "  ... one of 511 bytes and CRLF: read" "$?" 0

# 7. Redis Cluster, two masters, the slots split in halves: every key of
# an installation carries the hash tag {floodgate} (slot 4522), so the
# node that serves that slot holds them all and the scripts run there.
# A prefix whose slot another node serves is told MOVED: an outage,
# decided from memory.
for n in 1 2; do
	p=$(free_port)
	b=$(free_port)		# the cluster bus
	eval "CPORT$n=$p CBUS$n=$b"
	mkdir -p "$T/c$n"
	start_redis "$p" --cluster-enabled yes --cluster-port "$b" \
	    --cluster-config-file "$T/c$n/nodes.conf" --dir "$T/c$n"
done
c1() { redis-cli -p "$CPORT1" "$@"; }
c2() { redis-cli -p "$CPORT2" "$@"; }
expect_eq "cluster: the hash tags' slots" \
    "$(c1 cluster keyslot '{floodgate}:epoch') $(c1 cluster keyslot '{other}:epoch')" "4522 11361"
c1 cluster addslotsrange 0 8191 >/dev/null
c2 cluster addslotsrange 8192 16383 >/dev/null
c1 cluster meet 127.0.0.1 "$CPORT2" "$CBUS2" >/dev/null
cluster_ok() { c1 cluster info | tr -d '\r' | grep -qx "cluster_state:ok" &&
    c2 cluster info | tr -d '\r' | grep -qx "cluster_state:ok"; }
wait_for 10 cluster_ok || { fail "the cluster formed: $(c1 cluster info | head -1)"; finish; }
write_conf <<EOT
store redis://127.0.0.1:$CPORT1
relays 2
limit hour per account 3/1h
EOT
start_floodgate
wait_log "answers; deciding from it" 4 ||
    fail "cluster: the node with the tag's slot answered: $(grep shared "$T/floodgate.log" | tail -3)"
wait_log "$END" && ok "the incident ends when Redis answers" ||
    fail "the incident ends when Redis answers: $(grep incident "$T/floodgate.log")"
expect_eq "cluster: the fourth recipient over 3/1h is deferred" "$(sent k1 k@t9.example 4)" 1
expect_eq "cluster: every key on the node that serves the tag's slot, none on the other" \
    "$(c1 --scan --pattern '{floodgate}:*' | grep -c .) $(c1 dbsize) $(c2 dbsize)" \
    "$(c1 dbsize) $(c1 dbsize) 0"
# The statistics reach Redis with the next second's flush.
wait_for 5 top_is "$T/floodgate.conf" k@t9.example "pool 3 1" &&
    ok "cluster: top counts the tenant from Redis (pool 3 1)" ||
    fail "cluster: top counts the tenant from Redis: $(top_a "$T/floodgate.conf" k@t9.example)"
ctl reset k@t9.example >/dev/null 2>&1 || fail "cluster: reset"
expect_eq "cluster: reset cleared the tenant's window in Redis" "$(sent k2 k@t9.example 3)" 0
stop_floodgate
echo "redis_prefix other" >> "$T/floodgate.conf"
start_floodgate
wait_log "is down (refuses writes: MOVED 11361 " ||
    fail "cluster: another node's slot is an outage: $(grep shared "$T/floodgate.log" | tail -3)"
expect_eq "cluster: told MOVED, decided from memory, no 5xx" \
    "$(sent m1 m@t9.example 3) $(count_replies "$T/m1" 5..)" "1 0"

# 8. An ACL user of its own, made with the README's rule.
stop_floodgate
printf 'acl-pw\n' > "$T/acl.pass"
chmod 600 "$T/acl.pass"
read -ra rule <<< "$(readme_acl acl-pw)"
[ "${rule[*]:0:3}" = "ACL SETUSER floodgate" ] ||
    { fail "the README gives floodgate's ACL rule: ${rule[*]}"; finish; }
expect_eq "the README's ACL rule is taken" "$(rcli "${rule[@]}")" OK
conf "redis://floodgate:acl-pw@127.0.0.1:$RPORT/6" "$T/acl.pass"
"$FLOODGATE" -n -c "$T/floodgate.conf" >/dev/null 2>"$T/check.err"
rc=$?
grep -q "store: a user or password in the URL is not read" "$T/check.err" &&
    ! grep -q "acl-pw" "$T/check.err" &&
    ok "a password in the URL: refused, not echoed" ||
    fail "a password in the URL: refused, not echoed: $(cat "$T/check.err")"
expect_eq "floodgate -n: a password in the URL is an error" "$rc" 1
conf "redis://127.0.0.1:$RPORT/6" "$T/acl.pass"
echo "redis_user floodgate" >> "$T/floodgate.conf"
start_floodgate
wait_log "answers; deciding from it" 5 ||
    fail "the ACL user got in: $(grep shared "$T/floodgate.log" | tail -3)"
expect_eq "the relay's connection is the ACL user floodgate" \
    "$(rcli client list | grep -c ' user=floodgate ')" 1
# The commit script's HINCRBY refused (the reserve needs none).
rcli acl setuser floodgate -hincrby >/dev/null
expect_eq "ACL without HINCRBY: the recipient passes" "$(sent a1 acl@t1.example 1)" 0
wait_log "is down (refuses writes: ERR The user executing the script can't run this command or subcommand (ACL LOG in Redis names it))" ||
    fail "the refusal inside the commit script is an outage: $(grep shared "$T/floodgate.log" | tail -3)"
# Retried at 1 s and 3 s: each try's probe finds HINCRBY refused and
# names it (once in the log), the charge stays kept, and nothing says
# it was added.
sleep 4
expect_eq "while the ACL refuses: retried, no charge told as added" \
    "$(log_count "is down (refuses writes: ERR The user executing") $(log_count "added [0-9]* charges made while")" "1 0"
expect_eq "the retries name the command the ACL refuses, once" \
    "$(log_count "error: shared store: redis://127.0.0.1:$RPORT/6: ACL user floodgate may not run hincrby (ACL SETUSER floodgate +hincrby)$")" 1
# HINCRBY back, the windows' keys given only in a selector without
# EVALSHA (every other key of floodgate's as before): commands may read
# and write them, so the probe lets the relay in, but Redis refuses the
# scripts that name them. Redis lost its windows meanwhile (FLUSHDB),
# so the relay finds no mark, sets it and gives Redis its windows,
# which the ACL refuses: kept with the commit's charge, none told as
# added.
marked() { [ "$(rcli -n 6 EXISTS "{floodgate}:epoch")" = 1 ]; }
gave0=$(log_count "came back empty; gave it this relay's windows")
rcli -n 6 FLUSHDB >/dev/null
rcli acl setuser floodgate +hincrby resetkeys '~{floodgate}:epoch' \
    '~{floodgate}:at:*' '~{floodgate}:q:*' '~{floodgate}:probe' \
    '~{floodgate}:st:*' '~{floodgate}:fb' '~{floodgate}:susp' \
    '~{floodgate}:pause' '(~{floodgate}:w:* ~{floodgate}:s:* +get +set)' >/dev/null
wait_for 20 marked ||
    fail "the relay tried again and set the mark Redis lost"
sleep 0.5
expect_eq "while the ACL refuses: the windows given to an emptied Redis, refused, are not told as added" \
    "$(($(log_count "came back empty; gave it this relay's windows") - gave0)) $(log_count "added [0-9]* charges made while")" "1 0"
rcli acl setuser floodgate resetkeys '~{floodgate}:*' clearselectors >/dev/null
wait_log "answers; deciding from it" 6 40 ||
    fail "the relay uses Redis again once the ACL lets it: $(grep shared "$T/floodgate.log" | tail -3)"
expect_eq "the refused commit's charge and the windows given are added, and told so once" \
    "$(log_count "shared store: added [0-9]* charges made while")" 1
# One add for each slot given (the commit's charge is in its slot).
given=$(grep "came back empty; gave it this relay's windows" "$T/floodgate.log" | tail -1 | sed -n 's/.*, \([0-9]*\) slots)$/\1/p')
[ "${given:-0}" -ge 2 ] ||
    fail "the relay gave its windows, the commit's among them: $(grep "came back empty" "$T/floodgate.log" | tail -1)"
expect_eq "every slot given while refused is added" \
    "$(grep "shared store: added [0-9]* charges made while" "$T/floodgate.log" | sed -n 's/.*(\([0-9]*\) adds)$/\1/p')" "$given"
expect_eq "the refused commit counts: 1 + 2 of 3/1h pass, the third is deferred" \
    "$(sent a2 acl@t1.example 3) $(count_replies "$T/a1" 5..) $(count_replies "$T/a2" 5..)" "1 0 0"

# 9. A relay upgraded under a user made by an earlier README, without
# SETRANGE: at connect the probe names the command and the fix, mail
# is decided from memory (the divided limit), nothing reaches the ACL
# log; once the command is added the relay decides from Redis again.
stop_floodgate
rcli acl setuser floodgate -setrange >/dev/null
rcli acl log reset >/dev/null
up0=$(log_count "answers; deciding from it")
start_floodgate
wait_log "is down (ACL user floodgate may not run setrange (ACL SETUSER floodgate +setrange))" ||
    fail "without SETRANGE: the relay names it at connect: $(grep shared "$T/floodgate.log" | tail -3)"
expect_eq "without SETRANGE: told once as an error, decided from memory, 3/1h divided by 2: the third of three deferred, none refused" \
    "$(log_count "error: .*ACL user floodgate may not run setrange") $(sent a3 acl@t2.example 3) $(count_replies "$T/a3" 5..) $(rcli acl log | grep -c .)" "1 1 0 0"
decisions | grep -q "down for .*ACL user floodgate may not run setrange (ACL SETUSER floodgate +setrange).*memory, limits divided by relays" &&
    ok "without SETRANGE: status names the command and the fix" ||
    fail "without SETRANGE: status names the command and the fix: $(decisions)"
rcli acl setuser floodgate +setrange >/dev/null
wait_log "answers; deciding from it" $((up0 + 1)) 40 ||
    fail "SETRANGE added: the relay decides from Redis again: $(grep shared "$T/floodgate.log" | tail -3)"
# A key pattern that leaves out the windows' keys and lets the marks
# be read only (every other family of floodgate's allowed): named at
# the next connect too, with the fix, once.
sleep 2.5	# up long enough that the backoff starts over at 1 s
rcli acl setuser floodgate resetkeys '~{floodgate}:probe' '~{floodgate}:epoch' \
    '~{floodgate}:at:*' '%R~{floodgate}:q:*' '~{floodgate}:s:*' '~{floodgate}:st:*' \
    '~{floodgate}:fb' '~{floodgate}:susp' '~{floodgate}:pause' >/dev/null
rcli client kill user floodgate >/dev/null
KEYS_WHY="ACL user floodgate may not use the keys {floodgate}:w:\\*, {floodgate}:q:\\* (ACL SETUSER floodgate ~{floodgate}:\\*)"
wait_log "error: .*$KEYS_WHY" 1 10 ||
    fail "keys left out: the relay names them at connect: $(grep shared "$T/floodgate.log" | tail -3)"
sleep 3.5	# two more connects
# The outage began with the connection lost; status gives the refusal.
expect_eq "keys left out: told once as an error, and status gives it as the reason" \
    "$(log_count "error: .*$KEYS_WHY") $(decisions | grep -c "down for .*: $KEYS_WHY; memory")" "1 1"
rcli acl setuser floodgate resetkeys '~{floodgate}:*' >/dev/null
wait_log "answers; deciding from it" $((up0 + 2)) 40 ||
    fail "the keys allowed: the relay decides from Redis again: $(grep shared "$T/floodgate.log" | tail -3)"

# 10. Redis drops the relay's connection soon after each reconnect (as a
# Redis that takes the connection but, under load, answers the reserves
# too late): the backoff goes on doubling, 1 s, 2 s, 4 s, and the log
# says it; the relay does not come back and go down every second. Once
# Redis has answered for more than 2 s, it starts over at 1 s.
up=$(log_count "answers; deciding from it")
# dropped DELAY: the relay's connection killed; it says it retries in
# DELAY seconds, and is back after that.
dropped() {
	local n
	n=$(log_count "is down (.*); deciding from memory with limits divided by relays, retrying in $1s\$")
	rcli client kill user floodgate >/dev/null
	wait_log "is down (.*); deciding from memory with limits divided by relays, retrying in $1s\$" $((n + 1)) 5 ||
	    fail "$2: retrying in $1s: $(grep 'is down' "$T/floodgate.log" | tail -1)"
	wait_log "answers; deciding from it" $((up + 1)) $(($1 + 10)) ||
	    fail "$2: back after $1s: $(grep shared "$T/floodgate.log" | tail -2)"
	up=$((up + 1))
}
sleep 3		# up for more than 2 s: the backoff starts over
dropped 1 "dropped after 3 s up"
dropped 2 "dropped again at once"
dropped 4 "and again"
sleep 3
dropped 1 "dropped after 3 s up: the backoff starts over"
expect_eq "the last four outages, one line each: retried in 1 s, 2 s and 4 s in a row, then 1 s again" \
    "$(grep "is down" "$T/floodgate.log" | tail -4 | sed -n 's/.*retrying in \([0-9]*\)s$/\1/p' | tr '\n' ' ')" "1 2 4 1 "
finish
