#!/bin/bash
# make bench: floodgate's cost, measured six ways on this machine.
#  1. End to end: smtp-source -> private Postfix -> smtp-sink, with no
#     milter, floodgate (nothing refused; charge_at data, the default, and
#     charge_at end; the native engine and engine libmilter), floodgate
#     refusing half the recipients, a trivial
#     accept-all milter, and two do-nothing milters that show the floor
#     (what any milter of either protocol shape costs);
#     interleaved runs, medians and min-max; throughput, ratio to no
#     milter, CPU per message.
#  2. Milter only: fgload speaks the milter protocol to floodgate directly.
#  3. Scale: 1,000,000 tracked entries (memory, flush, load at start).
#  4. Delivery feedback: log lines parsed a second, the queue-ID map's cost.
#  5. Where the instructions go: perf record, by process.
#  6. Shared store: floodgate deciding in a local redis-server (store
#     redis) beside the in-memory engine, fgload at 10 and 100 connections,
#     Redis's time a call of each script (SLOWLOG), then end to end
#     through Postfix (redis/memory ratio); then the reserve script
#     alone in Redis (fgrscript).
#  7. Hold and release: one release-plan over 10,000 and 100,000 held
#     messages, as open plans pile up; then a whole floodgatectl release
#     with the MTA's commands stubbed.
# Prints a table and writes it to tests/bench/results/.
. "$(dirname "$0")/../e2e/lib.sh"
NAME=bench
BENCH=${BENCH:-$TOP/build}
RUNS=${RUNS:-7}
MSGS=${MSGS:-2000}
RESULTS=$TOP/tests/bench/results
SINK_FAST=1
setup
mkdir -p "$RESULTS"
OUT=$T/report
exec 3>&1
report() { printf '%s\n' "$*" | tee -a "$OUT" >&3; }

# --- configurations -------------------------------------------------------
# The sample's rules, with limits so high that nothing is refused.
sample_rules() {
	grep -E '^(group|limit|cap|exempt account)' "$TOP/conf/floodgate.conf" |
	    sed -E 's#([0-9]+)/(1m|1h|1d)#100000000/\2#'
}
write_conf < <(sample_rules)
cp "$T/floodgate.conf" "$T/fg-pass.conf"
{ cat "$T/fg-pass.conf"; echo "limit blocked per account to blocked.example 0/1h"; } > "$T/fg-half.conf"
sed -i "s|^listen .*|listen unix:$T/fg/half.sock|; s|^database .*|database $T/half.db|" "$T/fg-half.conf"
{ cat "$T/fg-pass.conf"; echo "charge_at end"; } > "$T/fg-end.conf"
sed -i "s|^listen .*|listen unix:$T/fg/end.sock|; s|^database .*|database $T/end.db|; s|^control .*|control $T/fg/end-control.sock|" "$T/fg-end.conf"
{ cat "$T/fg-pass.conf"; echo "engine libmilter"; } > "$T/fg-lib.conf"
sed -i "s|^listen .*|listen unix:$T/fg/lib.sock|; s|^database .*|database $T/lib.db|; s|^control .*|control $T/fg/lib-control.sock|" "$T/fg-lib.conf"

"$FLOODGATE" -f -c "$T/fg-pass.conf" 2>"$T/fg-pass.log" & FGP=$!
"$FLOODGATE" -f -c "$T/fg-half.conf" 2>"$T/fg-half.log" & FGH=$!
"$FLOODGATE" -f -c "$T/fg-end.conf" 2>"$T/fg-end.log" & FGE=$!
"$FLOODGATE" -f -c "$T/fg-lib.conf" 2>"$T/fg-lib.log" & FGL=$!
"$BENCH/bench/nullmilter" "unix:$T/fg/null.sock" & NULLP=$!
"$BENCH/bench/floormilter" "unix:$T/fg/floor.sock" & FLOORP=$!
"$BENCH/bench/floormilter" -d "unix:$T/fg/floordata.sock" & FLOORDP=$!
for i in $(seq 1 100); do
	[ -S "$T/fg/milter.sock" ] && [ -S "$T/fg/half.sock" ] && [ -S "$T/fg/end.sock" ] &&
	    [ -S "$T/fg/lib.sock" ] &&
	    [ -S "$T/fg/null.sock" ] &&
	    [ -S "$T/fg/floor.sock" ] && [ -S "$T/fg/floordata.sock" ] && break
	sleep 0.05
done
EXTRA_PIDS="$FGP $FGH $FGE $FGL $NULLP $FLOORP $FLOORDP"
for s in null floor floordata; do
	chgrp postfix "$T/fg/$s.sock"; chmod 660 "$T/fg/$s.sock"
done
start_postfix

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# CPU ticks of this Postfix instance: live processes plus reaped children.
postfix_cpu() {
	local sum=0 p master
	master=$(head -1 "$T/spool/pid/master.pid" 2>/dev/null | tr -d ' ')
	for p in $(pgrep -d ' ' . ); do
		if { tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qx "MAIL_CONFIG=$T/etc"; then
			sum=$((sum + $(cpu_of "$p")))
		fi
	done
	[ -n "$master" ] && sum=$((sum + $(awk '{print $16 + $17}' "/proc/$master/stat")))
	echo $sum
}

use_milter() {
	postconf -c "$T/etc" -e "smtpd_milters = $1" "milter_default_action = tempfail"
	touch -d '-10 seconds' "$T/etc/main.cf"
	postfix -c "$T/etc" reload >/dev/null 2>&1
	sleep 1.5
}

HZ=$(getconf CLK_TCK)
# Busy CPU ticks of the whole machine (smtp-source, smtp-sink, kernel too).
machine_cpu() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# Instructions the whole machine executed in user space, where perf can
# count them: on this shared machine time per message swings by a quarter
# from run to run and so do kernel instructions (spinning on contended
# locks, polling before idle), user-space instructions per message hardly
# at all.
# A machine without a usable counter (a VM without a virtual PMU) runs
# perf stat fine and reports "<not supported>": that is no count.
PERF=0
perf stat -a -e instructions:u -x, -o "$T/perf.probe" -- true 2>/dev/null &&
    awk -F, '$3 ~ /^instructions/ && $1 ~ /^[0-9]+$/ {ok = 1} END {exit !ok}' "$T/perf.probe" &&
    PERF=1
perf_start() {
	[ "$PERF" = 1 ] || return 0
	perf stat -a -e instructions:u -x, -o "$T/perf.out" &
	PERFP=$!
	EXTRA_PIDS="$EXTRA_PIDS $PERFP"
	sleep 0.1
}
# Sets INSNS (not a $(...): a subshell cannot wait for perf).
perf_stop() {
	INSNS=0
	[ "$PERF" = 1 ] || return 0
	kill -INT "$PERFP"
	wait "$PERFP" 2>/dev/null
	EXTRA_PIDS=${EXTRA_PIDS% $PERFP}
	INSNS=$(awk -F, '$3 ~ /^instructions/ && $1 ~ /^[0-9]+$/ {print $1; exit}' "$T/perf.out")
	INSNS=${INSNS:-0}
}

# Until Postfix has delivered everything (incoming and active empty),
# polled with find, which costs next to nothing, not postqueue.
queue_empty() {
	local i
	for i in $(seq 1 3000); do
		[ -z "$(find "$T/spool/incoming" "$T/spool/active" -type f 2>/dev/null | head -1)" ] && return 0
		sleep 0.02
	done
}

# run MODE WORKLOAD: one timed run;
# prints "usecs msgs rcpts pf_ticks m_ticks machine_ticks instructions"
run_one() {
	local mode=$1 wl=$2 mpid=0 opts r=1 t0 t1 c0 c1 m0=0 m1=0 a0 a1 sent
	case $wl in
	new) opts="-s 10 -m $MSGS" ;;
	reuse) opts="-d -s 10 -m $MSGS" ;;
	rcpt20) opts="-s 10 -m $((MSGS / 4)) -r 20"; r=20 ;;
	esac
	case $mode in
	floodgate) mpid=$FGP ;;
	half) mpid=$FGH ;;
	fgend) mpid=$FGE ;;
	fglib) mpid=$FGL ;;
	redis) mpid=$FGR ;;
	null) mpid=$NULLP ;;
	floor) mpid=$FLOORP ;;
	floordata) mpid=$FLOORDP ;;
	esac
	drain >/dev/null
	c0=$(postfix_cpu)
	[ "$mpid" != 0 ] && m0=$(cpu_of $mpid)
	perf_start
	a0=$(machine_cpu)
	t0=$(date +%s%N)
	if [ "$mode" = half ]; then
		# Two senders at once: one to a domain it may not send to.
		smtp-source -A -l 1024 ${opts//-s 10/-s 5} -f a@ok.example -t r@dest.example 127.0.0.1:$SMTP_PORT >/dev/null 2>&1 &
		local p1=$!
		smtp-source -A -l 1024 ${opts//-s 10/-s 5} -f b@ok.example -t r@blocked.example 127.0.0.1:$SMTP_PORT >/dev/null 2>&1
		wait $p1
		sent=$(( $(echo "$opts" | sed -E 's/.*-m ([0-9]+).*/\1/') * 2 ))
	else
		smtp-source -A -l 1024 $opts -f a@ok.example -t r@dest.example 127.0.0.1:$SMTP_PORT >/dev/null 2>&1
		sent=$(echo "$opts" | sed -E 's/.*-m ([0-9]+).*/\1/')
	fi
	queue_empty
	t1=$(date +%s%N)
	a1=$(machine_cpu)
	perf_stop
	drain >/dev/null
	c1=$(postfix_cpu)
	[ "$mpid" != 0 ] && m1=$(cpu_of $mpid)
	echo "$(( (t1 - t0) / 1000 )) $sent $((sent * r)) $((c1 - c0)) $((m1 - m0)) $((a1 - a0)) ${INSNS:-0}"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }
minmax() { sort -n | awk 'NR==1{mn=$1} {mx=$1} END {printf "%s-%s", mn, mx}'; }

# Round i starts at the i-th milter: where a run stands in its round
# (the state of the queue's file system, say) is spread over all of them.
rotate() { local n=$1; shift; local a=("$@"); echo "${a[@]:n % $#}" "${a[@]:0:n % $#}"; }

# Round i of milter A against round i of milter B, msg/s over msg/s:
# ratios WORKLOAD A B writes one per round to $T/ratios; paired prints
# their median and range.
ratios() {
	paste -d ' ' "$T/e2e.$1.$2" "$T/e2e.$1.$3" |
	    awk '{print ($2 / $1) / ($9 / $8)}' > "$T/ratios"
}
paired() {
	ratios "$@"
	printf '%.3f (%s)' "$(median < "$T/ratios")" "$(awk '{printf "%.2f\n", $1}' "$T/ratios" | minmax)"
}

# --- 6. shared store -----------------------------------------------------------
shared_section() {
	local rport i c
	[ -x /usr/bin/redis-server ] || { report "6. Shared store: no redis-server, skipped"; return; }
	rport=$(free_port)
	/usr/bin/redis-server --port "$rport" --bind 127.0.0.1 --save '' \
	    --appendonly no --loglevel warning >"$T/redis.log" 2>&1 &
	RP=$!
	EXTRA_PIDS="$EXTRA_PIDS $RP"
	wait_for 5 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$rport) 2>/dev/null"
	{ cat "$T/fg-pass.conf"; echo "store redis://127.0.0.1:$rport"; echo "relays 2"; } > "$T/fg-redis.conf"
	sed -i "s|^listen .*|listen unix:$T/fg/redis.sock|; s|^database .*|database $T/redis.db|; s|^control .*|control $T/fg/redis-control.sock|" "$T/fg-redis.conf"
	"$FLOODGATE" -f -c "$T/fg-redis.conf" 2>"$T/fg-redis.log" & FGR=$!
	EXTRA_PIDS="$EXTRA_PIDS $FGR"
	wait_for 10 grep -qs "answers; deciding from it" "$T/fg-redis.log" ||
	    { report "6. Shared store: floodgate did not reach redis-server"; return; }
	report "6. Shared store: fgload -> floodgate with store redis (local redis-server, sample rules, nothing refused), beside the in-memory engine; medians of 3"
	report "$(printf '   %-56s %12s %9s %9s %9s' case decisions/s p50-us p99-us max-us)"
	for c in "10 conns, 10 rcpt/msg|-c 10 -m 2000 -r 10" \
	    "100 conns, 10 rcpt/msg, flat out|-c 100 -m 200 -r 10" \
	    "100 conns, 10 rcpt/msg, 20 msg/s each|-c 100 -m 100 -r 10 -p 20"; do
		fc=0; rc=0
		for i in 1 2 3; do
			f0=$(cpu_of "$FGR"); r0=$(cpu_of "$RP")
			# shellcheck disable=SC2086
			"$BENCH/bench/fgload" -S "unix:$T/fg/redis.sock" ${c#*|} >> "$T/sh.redis.$i"
			fc=$((fc + $(cpu_of "$FGR") - f0)); rc=$((rc + $(cpu_of "$RP") - r0))
			# shellcheck disable=SC2086
			"$BENCH/bench/fgload" -S "unix:$T/fg/milter.sock" ${c#*|} >> "$T/sh.memory.$i"
		done
		for b in redis memory; do
			for i in 1 2 3; do tail -1 "$T/sh.$b.$i"; done > "$T/sh.$b.last"
			report "$(awk -v l="${c%%|*}: $b" '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}
			    print v["decisions_per_s"], v["p50_us"], v["p99_us"], v["max_us"]}' "$T/sh.$b.last" |
			    sort -n -k1 | awk -v l="${c%%|*}: $b" 'NR == 2 {printf "   %-56s %12s %9s %9s %9s", l, $1, $2, $3, $4}')"
		done
		dr=$(awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); if (kv[1] == "decisions_per_s") print kv[2]}}' "$T/sh.redis.last" | median)
		dm=$(awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); if (kv[1] == "decisions_per_s") print kv[2]}}' "$T/sh.memory.last" | median)
		pr=$(awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); if (kv[1] == "p99_us") print kv[2]}}' "$T/sh.redis.last" | median)
		report "   $(printf '%-56s' "${c%%|*}: redis/memory") $(awk -v a="$dr" -v b="$dm" 'BEGIN {printf "%.3f", a / b}') (decisions/s; target 30,000: $(awk -v a="$dr" 'BEGIN {print (a >= 30000) ? "met" : "missed"}'); p99 target 2,000 us: $(awk -v a="$pr" 'BEGIN {print (a < 2000) ? "met" : "missed"}'))"
		# CPU per decision, the three redis runs together.
		nd=$(cat "$T"/sh.redis.? | awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); if (kv[1] == "decisions") s += kv[2]}} END {print s + 0}')
		report "   $(printf '%-56s' "${c%%|*}: CPU a decision") $(awk -v f="$fc" -v r="$rc" -v n="$nd" -v hz="$(getconf CLK_TCK)" 'BEGIN {if (n > 0) printf "floodgate %.1f us, redis-server %.1f us", f * 1e6 / hz / n, r * 1e6 / hz / n}')"
		rm -f "$T"/sh.redis.? "$T"/sh.memory.?
		script_calls "${c%%|*}" "${c#*|}"
	done
	# A reserve past redis_timeout is decided from memory: such
	# decisions would flatter the figures above.
	report "   $(printf '%-56s' "store redis: outages during these runs") $(grep -c "is down" "$T/fg-redis.log") (0: every decision above from Redis)"
	shared_e2e
	# Redis alone: floodgate's own calls would count in Redis's figures.
	kill "$FGR" 2>/dev/null; wait "$FGR" 2>/dev/null
	redis_alone "$rport"
	report ""
}

# One more run of the case, apart from the timed ones above, with
# Redis's SLOWLOG timing every command: Redis's time a call of each
# script and the reserve's recipients a call, the split that INFO
# commandstats (one evalsha line) cannot give. The last 200,000
# commands of the run, the scripts' own among them.
script_calls() {
	local what=$1 args=$2
	redis-cli -p "$rport" CONFIG SET slowlog-max-len 200000 >/dev/null
	redis-cli -p "$rport" SLOWLOG RESET >/dev/null
	redis-cli -p "$rport" CONFIG SET slowlog-log-slower-than 0 >/dev/null
	# shellcheck disable=SC2086
	"$BENCH/bench/fgload" -S "unix:$T/fg/redis.sock" $args > /dev/null
	redis-cli -p "$rport" CONFIG SET slowlog-log-slower-than 10000 >/dev/null
	"$BENCH/bench/fgrscript" calls "$rport" | grep -E "^script=(reserve|commit) " |
	    while read -r line; do
		report "   $(printf '%-56s' "$what: in Redis (SLOWLOG)") $line"
	    done
	redis-cli -p "$rport" SLOWLOG RESET >/dev/null
	redis-cli -p "$rport" CONFIG SET slowlog-max-len 128 >/dev/null
}

# End to end through the same Postfix (smtp-source -> Postfix ->
# smtp-sink): floodgate deciding in Redis beside floodgate in memory,
# interleaved rounds; what Postfix's own cost leaves of the difference.
# Its rounds go to files of their own (e2e.WORKLOAD.shMODE): section 1's
# floodgate rounds are in e2e.WORKLOAD.floodgate.
shared_e2e() {
	local wl mode i r0 n=${SHARED_RUNS:-5}
	declare -A sock=( [floodgate]="unix:$T/fg/milter.sock" [redis]="unix:$T/fg/redis.sock" )
	for wl in new rcpt20; do
		for i in $(seq 1 "$n"); do
			for mode in $(rotate "$i" floodgate redis); do
				use_milter "${sock[$mode]}"
				r0=$(cpu_of "$RP")
				run_one "$mode" "$wl" >> "$T/e2e.$wl.sh$mode"
				echo $(( $(cpu_of "$RP") - r0 )) >> "$T/e2e.$wl.sh$mode.redis"
			done
		done
	done
	report "   end to end: smtp-source (10 sessions, 1 KB) -> Postfix -> smtp-sink, $n interleaved runs; memory = floodgate in memory, redis = store redis"
	report "$(printf '   %-8s %-8s %8s %11s %8s %9s %9s %9s' workload backend msg/s min-max rcpt/s pf-ms/msg fg-ms/msg redis-ms)"
	for wl in new rcpt20; do
		for mode in floodgate redis; do
			report "$(paste -d ' ' "$T/e2e.$wl.sh$mode" "$T/e2e.$wl.sh$mode.redis" |
			    awk -v hz="$HZ" '{m = $2 * 1e6 / $1; print m, $3 * 1e6 / $1, $4 * 1e3 / hz / $2, $5 * 1e3 / hz / $2, $8 * 1e3 / hz / $2}' |
			    sort -n -k1 | awk -v w="$wl" -v b="${mode/floodgate/memory}" '{v[NR] = $0; m[NR] = $1}
			    END {split(v[int((NR + 1) / 2)], x, " ");
			    printf "   %-8s %-8s %8.0f %5.0f-%-5.0f %8.0f %9.3f %9.3f %9.3f", w, b, x[1], m[1], m[NR], x[2], x[3], x[4], x[5]}')"
		done
		report "   $(printf '%-8s' "$wl") redis/memory msg/s $(paired "$wl" shredis shfloodgate) (median of the rounds' ratios, range)"
	done
}

# Redis alone: floodgate's reserve script, called by fgrscript as
# floodgate calls it (16 calls in flight, accounts of 1000), one
# recipient of the sample rules (three windows) a call, then ten in one
# call as floodgate batches them under load. Redis's own time a call
# (INFO commandstats) says what one whole core of Redis could decide,
# before floodgate or the MTA side take any CPU. Then messages of one
# recipient, reserve and commit.
redis_alone() {
	local rport=$1 us n
	for n in 1 10; do
		redis-cli -p "$rport" FLUSHALL >/dev/null
		# The first calls make the keys; the timed ones find them.
		"$BENCH/bench/fgrscript" call "$rport" "$n" $((5000 / n)) || { report "   Redis alone: fgrscript failed"; return; }
		redis-cli -p "$rport" CONFIG RESETSTAT >/dev/null
		"$BENCH/bench/fgrscript" call "$rport" "$n" $((100000 / n)) || { report "   Redis alone: fgrscript failed"; return; }
		us=$(redis-cli -p "$rport" INFO commandstats | sed -n 's/^cmdstat_evalsha:.*usec_per_call=\([0-9.]*\).*/\1/p')
		report "   $(printf '%-56s' "Redis alone, reserve script, $n recipient(s) a call") $(awk -v u="$us" -v n="$n" 'BEGIN {if (u > 0) printf "%.1f us of Redis a recipient: one whole core, at most %.0f decisions/s", u / n, 1e6 * n / u}')"
	done
	# A message of one recipient, as most come through an MTA: its
	# reserve, then its commit (with a mark), one message at a time.
	redis-cli -p "$rport" FLUSHALL >/dev/null
	"$BENCH/bench/fgrscript" message "$rport" 2000 || { report "   Redis alone: fgrscript failed"; return; }
	redis-cli -p "$rport" CONFIG RESETSTAT >/dev/null
	"$BENCH/bench/fgrscript" message "$rport" 20000 || { report "   Redis alone: fgrscript failed"; return; }
	us=$(redis-cli -p "$rport" INFO commandstats | sed -n 's/^cmdstat_evalsha:.*usec_per_call=\([0-9.]*\).*/\1/p')
	report "   $(printf '%-56s' "Redis alone, a message of 1 recipient (reserve, commit)") $(awk -v u="$us" 'BEGIN {if (u > 0) printf "%.1f us of Redis a message: one whole core, at most %.0f messages/s", 2 * u, 1e6 / (2 * u)}')"
}

# --- 7. hold and release ------------------------------------------------------
# floodgate on a database of N held messages (50 tenants, each under a
# budget of 1,000 an hour): three release-plan requests in a row, each
# planning the default 1,000 more while the earlier plans stay open
# (nobody confirms them). The time is the daemon's answer, read whole.
# Then one whole floodgatectl release, the MTA's commands stubbed:
# postqueue -j lists every held message in the hold queue, postsuper
# and postqueue -i do nothing (two execs of sh a message).
release_section() {
	local d=$T/release n pid k t0
	report "7. Hold and release: one release-plan (1,000 messages planned) over the held list, with 0, 1,000 and 2,000 plans still open;"
	report "   then a whole floodgatectl release (its MTA commands stubbed: 2,000 execs of sh)"
	if [ "$(id -u)" -ne 0 ]; then
		report "   not measured: release-plan is served to root only"
		report ""
		return
	fi
	mkdir -p "$d/fg" "$d/bin"
	printf '#!/bin/sh\n[ "$3" = -j ] && exec cat %s\nexit 0\n' "$d/queue.json" > "$d/bin/postqueue"
	printf '#!/bin/sh\nexit 0\n' > "$d/bin/postsuper"
	chmod 755 "$d/bin/postqueue" "$d/bin/postsuper"
	cat > "$d/fg.conf" <<EOT
listen   unix:$d/fg/milter.sock
control  $d/fg/control.sock
database $d/floodgate.db
limit tenant per account 1000/1h
user     root
EOT
	for n in 10000 100000; do
		rm -f "$d"/floodgate.db*
		: > "$d/fg.log"
		"$FLOODGATE" -f -c "$d/fg.conf" >> "$d/fg.log" 2>&1 & pid=$!
		wait_for 10 grep -qs 'started:' "$d/fg.log"
		kill "$pid"; wait "$pid"
		python3 - "$d/floodgate.db" "$n" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time())
db.executemany("INSERT INTO held (queue_id, time, account, rule, recipients, domains) VALUES (?, ?, ?, ?, 1, 'example.com')",
    (("%X" % (0x10000000 + i), now - 3600 + i * 3600 // int(sys.argv[2]), "t%d@tenant.example" % (i % 50), "tenant-hour")
     for i in range(int(sys.argv[2]))))
db.commit()
with open(sys.argv[1].replace("floodgate.db", "queue.json"), "w") as f:
    for i in range(int(sys.argv[2])):
        f.write('{"queue_name": "hold", "queue_id": "%X", "arrival_time": 1800000000}\n' % (0x10000000 + i))
PY
		: > "$d/fg.log"
		"$FLOODGATE" -f -c "$d/fg.conf" >> "$d/fg.log" 2>&1 & pid=$!
		wait_for 10 grep -qs 'started:' "$d/fg.log"
		report "$(printf '   %7d held: %s' "$n" "$(for k in 1 2 3; do python3 - "$d/fg/control.sock" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
t = time.monotonic()
s.sendall(b"floodgate/1 release-plan\n")
buf = b""
while not (buf.endswith(b"\n.\n") or buf.startswith(b"error")):
    d = s.recv(65536)
    if not d:
        break
    buf += d
print("%.0f ms (%d planned)" % ((time.monotonic() - t) * 1000, buf.count(b"\tqueue_id=")))
PY
		done | paste -sd ';' | sed 's/;/; /g')")"
		t0=$(date +%s%N)
		PATH="$d/bin:$PATH" "$FLOODGATECTL" -c "$d/fg.conf" release > "$d/release.out" 2>&1
		k=$?
		report "$(printf '   %7s       floodgatectl release: %.1f s (exit %s, %d released)' "" \
		    "$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN {print (b - a) / 1e9}')" "$k" \
		    "$(grep -c ' released$' "$d/release.out")")"
		kill "$pid"; wait "$pid"
	done
	report ""
}

report "floodgate benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
report "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
report "versions: $("$FLOODGATE" -V), Postfix $(postconf -d -h mail_version 2>/dev/null), libmilter $(dpkg-query -W -f='${Version}' libmilter1.0.1 2>/dev/null), libevent $(dpkg-query -W -f='${Version}' libevent-2.1-7 2>/dev/null), SQLite $(dpkg-query -W -f='${Version}' libsqlite3-0 2>/dev/null)"
report ""
if [ "${BENCH_ONLY:-}" = shared ]; then
	# make bench BENCH_ONLY=shared: section 6 alone.
	shared_section
	cp "$OUT" "$RESULTS/bench-shared-$(date -u +%Y%m%d-%H%M).txt"
	exit 0
fi
if [ "${BENCH_ONLY:-}" = release ]; then
	# make bench BENCH_ONLY=release: section 7 alone (not kept).
	release_section
	exit 0
fi

# --- 1. end to end ---------------------------------------------------------
declare -A MIL=( [none]="" [floodgate]="unix:$T/fg/milter.sock" [fgend]="unix:$T/fg/end.sock"
    [fglib]="unix:$T/fg/lib.sock"
    [half]="unix:$T/fg/half.sock" [null]="unix:$T/fg/null.sock"
    [floor]="unix:$T/fg/floor.sock" [floordata]="unix:$T/fg/floordata.sock" )
MODES=${MODES:-none floodgate fglib fgend half null floor floordata}
WORKLOADS=${WORKLOADS:-new reuse rcpt20}
for wl in $WORKLOADS; do
	for i in $(seq 1 "$RUNS"); do
		for mode in $(rotate "$i" $MODES); do
			use_milter "${MIL[$mode]}"
			run_one "$mode" "$wl" >> "$T/e2e.$wl.$mode"
		done
	done
done


report "1. End to end: smtp-source (10 sessions, 1 KB) -> Postfix -> smtp-sink, $RUNS interleaved runs each"
report "   workloads: new = a new session per message; reuse = -d, one session for many; rcpt20 = 20 recipients per message"
report "   milters: floodgate = sample rules, nothing refused, charge_at data (the default: charged at DATA, answers"
report "   ACCEPT there, Postfix leaves it out of the rest of the message); fglib = the same on engine libmilter;"
report "   fgend = the same as floodgate with charge_at end;"
report "   half = floodgate, two senders at once, one to a destination floodgate refuses (half the recipients);"
report "   null = trivial libmilter milter taking every step; floor = does nothing, fgend's protocol shape (reply at"
report "   RCPT and end of message); floordata = does nothing, floodgate's shape (reply at RCPT, ACCEPT at DATA)"
report "   msg/s = messages over the time from smtp-source's first connection until Postfix has delivered them all"
report "   ratio = median over rounds of msg/s against the no-milter run of the same round (min-max beside it)"
report "   CPU is per message, in ms: Postfix (all its processes), the milter, their sum, and the whole machine"
report "   over the same time (all-ms: with smtp-source, smtp-sink and the kernel; the cores are saturated, so msg/s"
report "   follows it); Minsn = millions of user-space instructions the whole machine executed per message over"
report "   that time (perf stat -a -e instructions:u), the cost measure this shared machine does not blur"
report ""
report "$(printf '   %-7s %-10s %7s %9s %7s %6s %11s %9s %9s %7s %7s %8s' workload milter msg/s min-max rcpt/s ratio 'ratio range' pf-ms/msg milter-ms sum-ms all-ms Minsn)"
for wl in $WORKLOADS; do
	for mode in $MODES; do
		f=$T/e2e.$wl.$mode
		mps=$(awk '{print $2 / ($1 / 1e6)}' "$f" | median)
		mm=$(awk '{printf "%.0f\n", $2 / ($1 / 1e6)}' "$f" | minmax)
		rps=$(awk '{print $3 / ($1 / 1e6)}' "$f" | median)
		ratios "$wl" "$mode" none
		ratio=$(median < "$T/ratios")
		rr=$(awk '{printf "%.2f\n", $1}' "$T/ratios" | minmax)
		pf=$(awk -v hz="$HZ" '{print $4 / hz * 1000 / $2}' "$f" | median)
		ml=$(awk -v hz="$HZ" '{print $5 / hz * 1000 / $2}' "$f" | median)
		sum=$(awk -v hz="$HZ" '{print ($4 + $5) / hz * 1000 / $2}' "$f" | median)
		all=$(awk -v hz="$HZ" '{print $6 / hz * 1000 / $2}' "$f" | median)
		insn=$(awk '{print $7 / 1e6 / $2}' "$f" | median)
		report "$(printf '   %-7s %-10s %7.0f %9s %7.0f %6.3f %11s %9.3f %9.3f %7.3f %7.3f %8.2f' "$wl" "$mode" "$mps" "$mm" "$rps" "$ratio" "$rr" "$pf" "$ml" "$sum" "$all" "$insn")"
	done
done
report ""

has() { case " $MODES " in *" $1 "*) return 0 ;; esac; return 1; }
if has floodgate && has floordata && has fgend && has floor; then
	report "   Targets (msg/s ratios are medians over rounds, range in brackets):"
	for wl in $WORKLOADS; do
		target=; case $wl in new) target=0.90 ;; reuse) target=0.97 ;; esac
		report "   $(printf '%-7s' "$wl") floodgate/none $(paired "$wl" floodgate none)${target:+ target $target}; floordata/none $(paired "$wl" floordata none) (the most any milter of floodgate's shape keeps)"
		report "           floodgate/floordata $(paired "$wl" floodgate floordata) (1 = floodgate costs no more than doing nothing)"
		report "           charge_at end: fgend/none $(paired "$wl" fgend none), floor/none $(paired "$wl" floor none), fgend/floor $(paired "$wl" fgend floor)"
		if [ "$PERF" = 1 ]; then
			in_none=$(awk '{print $7 / 1e6 / $2}' "$T/e2e.$wl.none" | median)
			in_floor=$(awk '{print $7 / 1e6 / $2}' "$T/e2e.$wl.floordata" | median)
			in_fg=$(awk '{print $7 / 1e6 / $2}' "$T/e2e.$wl.floodgate" | median)
			in_end=$(awk '{print $7 / 1e6 / $2}' "$T/e2e.$wl.fgend" | median)
			report "           user-space instructions per message, whole machine: none $(printf %.2f "$in_none")M, floordata $(printf %.2f "$in_floor")M, floodgate $(printf %.2f "$in_fg")M, fgend $(printf %.2f "$in_end")M:"
			report "           none/floordata $(awk -v a="$in_none" -v b="$in_floor" 'BEGIN {printf "%.3f", a / b}'), none/floodgate $(awk -v a="$in_none" -v b="$in_fg" 'BEGIN {printf "%.3f", a / b}'), none/fgend $(awk -v a="$in_none" -v b="$in_end" 'BEGIN {printf "%.3f", a / b}')"
		fi
		has null || continue
		fsum=$(awk -v hz="$HZ" '{print ($4 + $5) / hz * 1000 / $2}' "$T/e2e.$wl.floodgate" | median)
		esum=$(awk -v hz="$HZ" '{print ($4 + $5) / hz * 1000 / $2}' "$T/e2e.$wl.fgend" | median)
		nsum=$(awk -v hz="$HZ" '{print ($4 + $5) / hz * 1000 / $2}' "$T/e2e.$wl.null" | median)
		report "           Postfix+milter CPU per message: floodgate $(printf %.3f "$fsum") ms, fgend $(printf %.3f "$esum") ms, trivial milter $(printf %.3f "$nsum") ms ($(awk -v a="$fsum" -v b="$nsum" 'BEGIN {print (a < b) ? "below: met" : "not below: missed"}'))"
		if has fglib; then
			lsum=$(awk -v hz="$HZ" '{print ($4 + $5) / hz * 1000 / $2}' "$T/e2e.$wl.fglib" | median)
			lml=$(awk -v hz="$HZ" '{print $5 / hz * 1000 / $2}' "$T/e2e.$wl.fglib" | median)
			fml=$(awk -v hz="$HZ" '{print $5 / hz * 1000 / $2}' "$T/e2e.$wl.floodgate" | median)
			report "           engines: native floodgate/none $(paired "$wl" floodgate none), libmilter fglib/none $(paired "$wl" fglib none); fglib/floodgate $(paired "$wl" fglib floodgate)"
			report "           milter CPU per message: native $(printf %.3f "$fml") ms, libmilter $(printf %.3f "$lml") ms; Postfix+milter: native $(printf %.3f "$fsum") ms, libmilter $(printf %.3f "$lsum") ms"
		fi
	done
	report ""
fi

# --- 2. milter only --------------------------------------------------------
report "2. Milter only: fgload -> floodgate (sample rules, nothing refused unless said), no MTA"
report "$(printf '   %-56s %12s %9s %9s %9s %9s' case decisions/s p50-us p99-us p99.9-us max-us)"
ml() {
	local label=$1 sock=$2
	shift 2
	local line
	line=$("$BENCH/bench/fgload" -S "unix:$sock" "$@")
	report "$(echo "$line" | awk -v l="$label" '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}
	    printf "   %-56s %12s %9s %9s %9s %9s", l, v["decisions_per_s"], v["p50_us"], v["p99_us"], v["p999_us"], v["max_us"]}')"
}
ml "1 conn, 10 rcpt/msg" "$T/fg/milter.sock" -c 1 -m 10000 -r 10
ml "10 conns, 1 rcpt/msg" "$T/fg/milter.sock" -c 10 -m 5000 -r 1
ml "10 conns, 10 rcpt/msg" "$T/fg/milter.sock" -c 10 -m 2000 -r 10
ml "10 conns, 100 rcpt/msg" "$T/fg/milter.sock" -c 10 -m 200 -r 100
ml "100 conns, 10 rcpt/msg, flat out" "$T/fg/milter.sock" -c 100 -m 200 -r 10
ml "100 conns, 10 rcpt/msg, 20 msg/s each" "$T/fg/milter.sock" -c 100 -m 100 -r 10 -p 20
ml "10 conns, half refused" "$T/fg/half.sock" -c 10 -m 2000 -r 10 -b 50
ml "10 conns, 200k accounts (flush ~10k rows/s)" "$T/fg/milter.sock" -c 10 -m 3000 -r 10 -a 200000
ml "engine libmilter: 10 conns, 1 rcpt/msg" "$T/fg/lib.sock" -c 10 -m 5000 -r 1
ml "engine libmilter: 10 conns, 10 rcpt/msg" "$T/fg/lib.sock" -c 10 -m 2000 -r 10
ml "engine libmilter: 100 conns, 10 rcpt/msg, flat out" "$T/fg/lib.sock" -c 100 -m 200 -r 10
ml "engine libmilter: 100 conns, 10 rcpt/msg, 20 msg/s each" "$T/fg/lib.sock" -c 100 -m 100 -r 10 -p 20
ml "nullmilter: 10 conns, 10 rcpt/msg" "$T/fg/null.sock" -c 10 -m 2000 -r 10
ml "floormilter (no work): 10 conns, 10 rcpt/msg" "$T/fg/floor.sock" -c 10 -m 2000 -r 10
ml "floormilter (no work): 100 conns, 20 msg/s each" "$T/fg/floor.sock" -c 100 -m 100 -r 10 -p 20
report ""

# --- 3. scale --------------------------------------------------------------
report "3. Scale: 1,000,000 tracked (rule, key) entries in floodgate's engine"
"$BENCH/bench/fgscale" -n 1000000 -d "$T/scale.db" | awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}
    printf "   resident memory per entry: %s bytes\n   write all to SQLite: %s s\n   one flush of 10,000 dirty entries: %s s\n   load %s entries at start: %s s\n",
    v["bytes_per_entry"], v["full_write_s"], v["flush_10k_s"], v["load_entries"], v["load_s"]}' | tee -a "$OUT" >&3

report ""
# --- 4. delivery feedback -----------------------------------------------------
report "4. Delivery feedback: the delivery log and the queue-ID map (fglog, one core, median of 3 runs)"
for i in 1 2 3; do "$BENCH/bench/fglog" -n 1000000 -m 200000 -d "$T/fglog.db"; done > "$T/fglog"
field() { awk -v k="$1" '{for (i = 1; i <= NF; i++) {split($i, kv, "="); if (kv[1] == k) print kv[2]}}' "$T/fglog" | median; }
report "$(printf '   log lines parsed per second: %.0f (target 200,000; mix of 8 line kinds, 3 of them delivery results, %s bytes a line)' "$(field lines_per_s)" "$(field bytes_per_line)")"
report "$(printf '   queue-ID map per message: %.2f us to record (batches of 1,000), %.2f us to look up, %s bytes in SQLite' "$(field add_us)" "$(field lookup_us)" "$(field db_bytes_per_message)")"
report "$(printf '   (200,000 messages mapped: 5 days of a server sending 40,000 a day; the lookup is once per delivery result)')"
report ""
shared_section
release_section

# --- 5. where the instructions go -------------------------------------------
# perf record of user-space instructions on the whole machine, one run of
# 6,000 messages each, from the first connection until the queue is
# empty. One sample per 2,000,000 instructions: in a VM the kernel lowers
# kernel.perf_event_max_sample_rate when NMIs are slow (6,000/s here) and
# then throttles, dropping samples without a word (at 500,000 it lost
# more than half); the run reports any throttling it saw.
profile_one() {
	local mode=$1 wl=$2 n=6000 opts="-s 10" pp
	[ "$wl" = reuse ] && opts="-d -s 10"
	use_milter "${MIL[$mode]}"
	drain >/dev/null
	perf record -q -a -e instructions:u -c 2000000 -o "$T/perf.rec" 2>/dev/null &
	pp=$!
	EXTRA_PIDS="$EXTRA_PIDS $pp"
	sleep 0.3
	smtp-source -A -l 1024 $opts -m $n -f a@ok.example -t r@dest.example 127.0.0.1:$SMTP_PORT >/dev/null 2>&1
	queue_empty
	kill -INT $pp
	wait $pp 2>/dev/null
	EXTRA_PIDS=${EXTRA_PIDS% $pp}
	perf report -q -i "$T/perf.rec" --sort comm --stdio -F sample,comm 2>/dev/null |
	    awk -v n=$n 'NF == 2 {c = $2; if (c == "floodgate" || c == "floormilter") c = "the-milter"; k[c] += $1 * 2000 / n}
	    END {for (c in k) printf "%s %.1f\n", c, k[c]}' > "$T/prof.$wl.$mode"
	perf report -i "$T/perf.rec" --stats 2>/dev/null |
	    awk -v m="$mode $wl" '$1 == "THROTTLE" && $3 > 0 {print m ": " $3 " throttle events"}' >> "$T/prof.throttled"
}
PROF="none floodgate fgend floordata"
if [ "$PERF" = 1 ] && has floodgate && has fgend && has floordata; then
	report "5. Where the instructions go: thousands of user-space instructions per message, by process"
	report "   (perf record -a -e instructions:u; one run of 6,000 messages each, until the queue is empty;"
	report "   \"section 1\": the same measured by perf stat in section 1, for comparison with \"all\")"
	for wl in reuse new; do
		for mode in $PROF; do
			profile_one "$mode" "$wl"
		done
		report "$(printf '   %-7s %-16s %9s %9s %9s %9s %9s' "$wl" process $PROF 'fg-none')"
		cat "$T"/prof.$wl.* | awk '{print $1}' | sort -u | while read -r c; do
			for m in $PROF; do
				awk -v c="$c" '$1 == c {x = $2} END {printf "%s ", x + 0}' "$T/prof.$wl.$m"
			done
			echo "$c"
		done | awk '$1 + $2 + $3 + $4 >= 6' | sort -k2 -nr | while read -r a b e f c; do
			report "$(printf '   %-7s %-16s %9.1f %9.1f %9.1f %9.1f %+9.1f' "" "$c" "$a" "$b" "$e" "$f" "$(awk -v a="$a" -v b="$b" 'BEGIN {print b - a}')")"
		done
		report "$(for m in $PROF; do awk '{s += $2} END {printf "%s ", s}' "$T/prof.$wl.$m"; done |
		    awk '{printf "   %-7s %-16s %9.1f %9.1f %9.1f %9.1f %+9.1f", "", "all", $1, $2, $3, $4, $2 - $1}')"
		# Section 1's median (perf stat, while smtp-source ran) for each.
		ls $(for m in $PROF; do echo "$T/e2e.$wl.$m"; done) >/dev/null 2>&1 || continue
		report "$(for m in $PROF; do awk '{print $7 / 1e3 / $2}' "$T/e2e.$wl.$m" | median; done | tr '\n' ' ' |
		    awk '{printf "   %-7s %-16s %9.1f %9.1f %9.1f %9.1f %+9.1f", "", "section 1", $1, $2, $3, $4, $2 - $1}')"
	done
	[ -s "$T/prof.throttled" ] &&
	    report "   perf was throttled, some samples were lost: $(tr '\n' ';' < "$T/prof.throttled")"
	report ""
elif [ "$PERF" != 1 ]; then
	report "5. Where the instructions go: not measured, this machine has no instruction counter perf can read"
	report "   (perf stat reports instructions:u \"<not supported>\"; CPU time per message in section 1 stands alone)"
	report ""
fi

stamp=$(date -u +%Y%m%d-%H%M)
cp "$OUT" "$RESULTS/bench-$stamp.txt"
cp "$OUT" "$RESULTS/latest.txt"
report ""
report "written to tests/bench/results/bench-$stamp.txt and latest.txt"
kill $FGP $FGH $FGE $NULLP $FLOORP $FLOORDP 2>/dev/null
FG_PID=
KEEP=0
