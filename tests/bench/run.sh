#!/bin/bash
# make bench: floodgate's cost, measured three ways on this machine.
#  1. End to end: smtp-source -> private Postfix -> smtp-sink, with no
#     milter, floodgate (nothing refused), floodgate refusing half the
#     recipients, and a trivial accept-all milter; interleaved runs,
#     medians and min-max; throughput, ratio to no milter, CPU per message.
#  2. Milter only: fgload speaks the milter protocol to floodgate directly.
#  3. Scale: 1,000,000 tracked entries (memory, flush, load at start).
# Prints a table and writes it to tests/bench/results/.
. "$(dirname "$0")/../e2e/lib.sh"
NAME=bench
BENCH=${BENCH:-$TOP/build}
RUNS=${RUNS:-5}
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

"$FLOODGATE" -f -c "$T/fg-pass.conf" 2>"$T/fg-pass.log" & FGP=$!
"$FLOODGATE" -f -c "$T/fg-half.conf" 2>"$T/fg-half.log" & FGH=$!
"$BENCH/bench/nullmilter" "unix:$T/fg/null.sock" & NULLP=$!
for i in $(seq 1 100); do
	[ -S "$T/fg/milter.sock" ] && [ -S "$T/fg/half.sock" ] && [ -S "$T/fg/null.sock" ] && break
	sleep 0.05
done
chgrp postfix "$T/fg/null.sock"; chmod 660 "$T/fg/null.sock"
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
# run MODE WORKLOAD: one timed run; prints "secs msgs rcpts pf_ticks m_ticks"
run_one() {
	local mode=$1 wl=$2 mpid=0 opts r=1 t0 t1 c0 c1 m0=0 m1=0 sent
	case $wl in
	new) opts="-s 10 -m $MSGS" ;;
	reuse) opts="-d -s 10 -m $MSGS" ;;
	rcpt20) opts="-s 10 -m $((MSGS / 4)) -r 20"; r=20 ;;
	esac
	case $mode in
	floodgate) mpid=$FGP ;;
	half) mpid=$FGH ;;
	null) mpid=$NULLP ;;
	esac
	drain >/dev/null
	c0=$(postfix_cpu)
	[ "$mpid" != 0 ] && m0=$(cpu_of $mpid)
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
	t1=$(date +%s%N)
	drain >/dev/null
	c1=$(postfix_cpu)
	[ "$mpid" != 0 ] && m1=$(cpu_of $mpid)
	echo "$(( (t1 - t0) / 1000 )) $sent $((sent * r)) $((c1 - c0)) $((m1 - m0))"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }
minmax() { sort -n | awk 'NR==1{mn=$1} {mx=$1} END {printf "%s-%s", mn, mx}'; }

report "floodgate benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
report "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
report "versions: $("$FLOODGATE" -V), Postfix $(postconf -d -h mail_version 2>/dev/null), libmilter $(dpkg-query -W -f='${Version}' libmilter1.0.1 2>/dev/null), libevent $(dpkg-query -W -f='${Version}' libevent-2.1-7 2>/dev/null), SQLite $(dpkg-query -W -f='${Version}' libsqlite3-0 2>/dev/null)"
report ""

# --- 1. end to end ---------------------------------------------------------
declare -A MIL=( [none]="" [floodgate]="unix:$T/fg/milter.sock" [half]="unix:$T/fg/half.sock" [null]="unix:$T/fg/null.sock" )
MODES="none floodgate half null"
for wl in new reuse rcpt20; do
	for i in $(seq 1 "$RUNS"); do
		for mode in $MODES; do
			use_milter "${MIL[$mode]}"
			run_one "$mode" "$wl" >> "$T/e2e.$wl.$mode"
		done
	done
done

report "1. End to end: smtp-source (10 sessions, 1 KB) -> Postfix -> smtp-sink, $RUNS interleaved runs each"
report "   workloads: new = a new session per message; reuse = -d, one session for many; rcpt20 = 20 recipients per message"
report "   half: two senders at once, one to a destination floodgate refuses (half the recipients refused)"
report "   CPU is per message submitted, in ms: Postfix (all its processes) and the milter"
report ""
report "$(printf '   %-7s %-10s %9s %13s %9s %8s %9s %9s %9s' workload milter msg/s 'msg/s min-max' rcpt/s ratio pf-ms/msg milter-ms 'sum-ms')"
for wl in new reuse rcpt20; do
	base=$(awk '{print $2 / ($1 / 1e6)}' "$T/e2e.$wl.none" | median)
	for mode in $MODES; do
		f=$T/e2e.$wl.$mode
		mps=$(awk '{print $2 / ($1 / 1e6)}' "$f" | median)
		mm=$(awk '{printf "%.0f\n", $2 / ($1 / 1e6)}' "$f" | minmax)
		rps=$(awk '{print $3 / ($1 / 1e6)}' "$f" | median)
		pf=$(awk -v hz="$HZ" '{print $4 / hz * 1000 / $2}' "$f" | median)
		ml=$(awk -v hz="$HZ" '{print $5 / hz * 1000 / $2}' "$f" | median)
		sum=$(awk -v hz="$HZ" '{print ($4 + $5) / hz * 1000 / $2}' "$f" | median)
		report "$(printf '   %-7s %-10s %9.0f %13s %9.0f %8.3f %9.3f %9.3f %9.3f' "$wl" "$mode" "$mps" "$mm" "$rps" "$(awk -v a="$mps" -v b="$base" 'BEGIN {print a / b}')" "$pf" "$ml" "$sum")"
	done
done
report ""

# --- 2. milter only --------------------------------------------------------
report "2. Milter only: fgload -> floodgate (sample rules, nothing refused unless said), no MTA"
report "$(printf '   %-44s %12s %9s %9s %9s %9s' case decisions/s p50-us p99-us p99.9-us max-us)"
ml() {
	local label=$1 sock=$2
	shift 2
	local line
	line=$("$BENCH/bench/fgload" -S "unix:$sock" "$@")
	report "$(echo "$line" | awk -v l="$label" '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}
	    printf "   %-44s %12s %9s %9s %9s %9s", l, v["decisions_per_s"], v["p50_us"], v["p99_us"], v["p999_us"], v["max_us"]}')"
}
ml "1 conn, 10 rcpt/msg" "$T/fg/milter.sock" -c 1 -m 10000 -r 10
ml "10 conns, 1 rcpt/msg" "$T/fg/milter.sock" -c 10 -m 5000 -r 1
ml "10 conns, 10 rcpt/msg" "$T/fg/milter.sock" -c 10 -m 2000 -r 10
ml "10 conns, 100 rcpt/msg" "$T/fg/milter.sock" -c 10 -m 200 -r 100
ml "100 conns, 10 rcpt/msg, flat out" "$T/fg/milter.sock" -c 100 -m 200 -r 10
ml "100 conns, 10 rcpt/msg, 20 msg/s each" "$T/fg/milter.sock" -c 100 -m 100 -r 10 -p 20
ml "10 conns, half refused" "$T/fg/half.sock" -c 10 -m 2000 -r 10 -b 50
ml "10 conns, 200k accounts (flush ~10k rows/s)" "$T/fg/milter.sock" -c 10 -m 3000 -r 10 -a 200000
ml "nullmilter: 10 conns, 10 rcpt/msg" "$T/fg/null.sock" -c 10 -m 2000 -r 10
report ""

# --- 3. scale --------------------------------------------------------------
report "3. Scale: 1,000,000 tracked (rule, key) entries in floodgate's engine"
"$BENCH/bench/fgscale" -n 1000000 -d "$T/scale.db" | awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}
    printf "   resident memory per entry: %s bytes\n   write all to SQLite: %s s\n   one flush of 10,000 dirty entries: %s s\n   load %s entries at start: %s s\n",
    v["bytes_per_entry"], v["full_write_s"], v["flush_10k_s"], v["load_entries"], v["load_s"]}' | tee -a "$OUT" >&3

stamp=$(date -u +%Y%m%d-%H%M)
cp "$OUT" "$RESULTS/bench-$stamp.txt"
cp "$OUT" "$RESULTS/latest.txt"
report ""
report "written to tests/bench/results/bench-$stamp.txt and latest.txt"
kill $FGP $FGH $NULLP 2>/dev/null
FG_PID=
KEEP=0
