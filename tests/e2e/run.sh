#!/bin/bash
# Runs every end-to-end test (tests/e2e/t*.sh) and prints one closing
# line "N passed, N failed, N skipped". A test that cannot run here (not
# root, no Postfix) exits 77 and is counted as skipped, never as passed.
#
# Every test that sends mail through an MTA runs on both milter engines,
# native and libmilter (ENGINE, which lib.sh's write_conf turns into
# "engine ..."). A test about one engine's own internals says so on a
# line "# engine: native (why)" and runs on that engine only.
# ENGINE=libmilter bash run.sh runs the suite on one engine; ONLY=t07
# runs the tests whose names start so.
#
# The tests mostly wait (for Postfix's queue, a window's slot, a service
# tick), so E2E_JOBS of them (default 3: on 2 cores a third of the CPU
# still idle with the sanitizer build) run at once, each with its own
# Postfix, floodgate and directory, and its own share of the ports
# free_port picks from (E2E_SLOT of E2E_SLOTS). A test that changes what
# is shared by the whole machine (system users, /etc) or loads it on
# purpose (fgload, 500 sessions, resident memory measured) says why on a
# line "# alone: why" and runs with no other test beside it, after the
# others. A test's output is printed whole when it ends, with its line
# "== e2e TEST (ENGINE): N s". A test still running after E2E_TIMEOUT
# seconds (default 600; the longest takes under two minutes) is stopped
# (SIGTERM to its processes, on which it cleans up) and counted failed.
cd "$(dirname "$0")" || exit 1
jobs=${E2E_JOBS:-3}
case $jobs in '' | *[!0-9]* | 0) echo "run.sh: E2E_JOBS must be a number from 1" >&2; exit 2 ;; esac
limit=${E2E_TIMEOUT:-600}
case $limit in '' | *[!0-9]* | 0) echo "run.sh: E2E_TIMEOUT must be seconds, from 1" >&2; exit 2 ;; esac
pass=0 failed=0 skipped=0 names=""
out=$(mktemp -d /tmp/floodgate-e2e-run.XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT
# Tests in the background ignore the terminal's interrupt: sent on to
# them as SIGTERM, on which each stops its processes and removes its
# directory.
trap 'kill -TERM $(jobs -p) 2>/dev/null; wait; exit 130' INT TERM

# The runs to make, "TEST ENGINE" each: those that may share the machine,
# and those that run alone. E2E_JOBS=1: one at a time, in name order, a
# test's engines one after the other. Several at once: the longest
# tests (the highest numbers) start first, to run beside the short ones
# rather than alone at the end; each engine's runs come one after
# another; a test's two runs never run at the same time.
shared=() alone=()
add() {	# add TEST ENGINE
	local only
	only=$(sed -n 's/^# engine: \([a-z]*\).*/\1/p' "$1" | head -1)
	[ -n "$only" ] && [ "$only" != "$2" ] && return
	if [ "$jobs" -gt 1 ] && grep -q '^# alone: ' "$1"; then
		alone+=("$1 $2")
	else
		shared+=("$1 $2")
	fi
}
tests=(${ONLY:-t}*.sh)
[ -e "${tests[0]}" ] || tests=()
if [ "$jobs" -eq 1 ]; then
	for t in "${tests[@]}"; do
		for engine in ${ENGINE:-native libmilter}; do add "$t" "$engine"; done
	done
else
	for engine in ${ENGINE:-native libmilter}; do
		for ((i = ${#tests[@]} - 1; i >= 0; i--)); do add "${tests[i]}" "$engine"; done
	done
fi

# result ID RC SECONDS: prints a finished run's output and counts it.
result() {
	local id=$1 rc=$2 secs=$3 t=${what[$1]% *} engine=${what[$1]#* }
	echo "== e2e $t ($engine)"
	cat "$out/$id"
	[ "$rc" = 124 ] && echo "  FAIL stopped after E2E_TIMEOUT ($limit s)"
	echo "== e2e $t ($engine): $secs s"
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); names="$names $t($engine)" ;;
	esac
}

# launch ID SLOT SLOTS: starts run ID in the background.
declare -A what start slot_of id_of busy
launch() {
	local id=$1 t=${what[$1]% *} engine=${what[$1]#* }
	ENGINE=$engine E2E_SLOT=$2 E2E_SLOTS=$3 \
	    timeout -k 30 "$limit" bash "./$t" > "$out/$id" 2>&1 &
	id_of[$!]=$id
	slot_of[$!]=$2
	start[$id]=$(date +%s)
}

# Shared runs, up to E2E_JOBS at once, each in a slot (its share of the
# ports); the next to start is the first waiting whose test is not
# running already.
n=0 waiting=()
for r in "${shared[@]}"; do what[$n]=$r; waiting+=("$n"); n=$((n + 1)); done
slots=()
for ((s = 0; s < jobs; s++)); do slots[s]=; done
running=0
while [ "${#waiting[@]}" -gt 0 ] || [ "$running" -gt 0 ]; do
	pick=
	if [ "$running" -lt "$jobs" ]; then
		for i in "${!waiting[@]}"; do
			[ -z "${busy[${what[${waiting[i]}]% *}]}" ] && { pick=$i; break; }
		done
	fi
	if [ -n "$pick" ]; then
		id=${waiting[pick]}
		unset "waiting[pick]"
		waiting=("${waiting[@]}")
		for ((s = 0; s < jobs; s++)); do [ -z "${slots[s]}" ] && break; done
		launch "$id" "$s" "$jobs"
		slots[s]=$!
		busy[${what[$id]% *}]=1
		running=$((running + 1))
		continue
	fi
	pid=
	wait -n -p pid
	rc=$?
	if [ -z "$pid" ]; then
		# Interrupted; or no run left to wait for, which counting
		# cannot explain: say so rather than wait forever.
		[ -n "$(jobs -p)" ] && continue
		echo "run.sh: lost track of $running running tests" >&2
		failed=$((failed + running))
		break
	fi
	id=${id_of[$pid]}
	result "$id" "$rc" $(($(date +%s) - start[$id]))
	slots[${slot_of[$pid]}]=
	busy[${what[$id]% *}]=
	running=$((running - 1))
done

# The runs that need the machine to themselves, one after another.
for r in "${alone[@]}"; do
	what[$n]=$r
	launch "$n" 0 1
	pid=$!
	wait "$pid"
	result "$n" "$?" $(($(date +%s) - start[$n]))
	n=$((n + 1))
done

[ -n "$names" ] && echo "failed:$names"
echo "e2e: $pass passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
