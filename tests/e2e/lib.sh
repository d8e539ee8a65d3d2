# Shared by floodgate's end-to-end tests: a private Postfix on loopback
# with floodgate attached and smtp-sink behind it, all under one
# temporary directory. Sourced by each test; see POSTFIX-TESTING notes in
# README.md for the quirks worked around here.

set -u
# A test started by a systemd service must not pass its notify socket or
# watchdog on to the floodgates it starts (t40 sets its own).
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID

TOP=$(cd "$(dirname "$0")/../.." && pwd)
FLOODGATE=${FLOODGATE:-$TOP/build/floodgate}
NAME=$(basename "$0" .sh)
FAILS=0
CHECKS=0

# --- reporting -----------------------------------------------------------

say() { printf '%s: %s\n' "$NAME" "$*"; }

ok() {
	CHECKS=$((CHECKS + 1))
	printf '  ok   %s\n' "$*"
}

fail() {
	CHECKS=$((CHECKS + 1))
	FAILS=$((FAILS + 1))
	printf '  FAIL %s\n' "$*"
}

# expect_eq WHAT GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}

# skip REASON: exit 77, the automake convention run.sh counts as skipped.
skip() {
	say "SKIP: $*"
	exit 77
}

finish() {
	# Stop floodgate cleanly so that a sanitizer build reports leaks,
	# then look for any sanitizer report in its log.
	if [ -n "$FG_PID" ]; then
		stop_floodgate
	fi
	stuck_let_go
	# Every file the test kept its programs' output in, not only the
	# daemon's log: a floodgate -n, a second daemon or floodgatectl
	# whose stderr went elsewhere (regular files only: a socket or a
	# FIFO would hang grep).
	local reports
	reports=$(find "$T" -maxdepth 1 -type f -print0 |
	    xargs -0 grep -l "AddressSanitizer\|LeakSanitizer\|ThreadSanitizer\|runtime error:" 2>/dev/null)
	if [ -n "$reports" ]; then
		fail "sanitizer report in $(echo $reports | tr ' ' ',')"
		# shellcheck disable=SC2086
		grep -h -A5 "AddressSanitizer\|LeakSanitizer\|ThreadSanitizer\|runtime error:" $reports | head -30
	fi
	if [ "$FAILS" -gt 0 ]; then
		say "$FAILS of $CHECKS checks failed (state kept in $T)"
		KEEP=1
		exit 1
	fi
	if [ "$CHECKS" -eq 0 ]; then
		say "no check ran"
		exit 1
	fi
	say "all $CHECKS checks passed"
	exit 0
}

# --- set-up --------------------------------------------------------------

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (Postfix's master has no unprivileged mode)"
	command -v postfix >/dev/null || skip "postfix is not installed"
	command -v swaks >/dev/null || skip "swaks is not installed"
}

# A port nothing listens on, below the kernel's ephemeral range: a port
# in that range may be held by a connection in TIME_WAIT, and bind fails.
# Nor one this test was given already ($T/ports): setup takes three
# before any server listens, and the same random pick twice made Postfix
# relay to its own smtpd instead of the sink. Tests that run.sh runs at
# the same time pick from shares of the range that do not meet (E2E_SLOT
# of E2E_SLOTS): between one's check and its server's bind, the other
# could have taken the same port.
free_port() {
	local p low base width
	low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ -n "$low" ] && [ "$low" -gt 12000 ] || low=32768
	width=$(((low - 10000) / ${E2E_SLOTS:-1}))
	base=$((10000 + ${E2E_SLOT:-0} * width))
	while :; do
		p=$((base + RANDOM % width))
		grep -qx "$p" "${T:?}/ports" 2>/dev/null && continue
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
			echo "$p" >> "$T/ports"
			echo $p
			return
		fi
	done
}

T=
KEEP=${KEEP:-0}
FG_PID=
SINK_PID=
# Other background processes a script started (make bench's milters,
# perf): stopped with the rest, also when the script is interrupted.
EXTRA_PIDS=

cleanup() {
	[ -n "$T" ] || return
	[ -n "$FG_PID" ] && kill "$FG_PID" 2>/dev/null
	[ -n "$EXTRA_PIDS" ] && kill $EXTRA_PIDS 2>/dev/null
	postfix -c "$T/etc" stop >/dev/null 2>&1
	for d in ${POSTFIX_MORE:-}; do postfix -c "$d" stop >/dev/null 2>&1; done
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null
	wait 2>/dev/null
	if [ "$KEEP" = 1 ]; then
		say "left $T in place"
	else
		rm -rf "$T"
	fi
}

setup() {
	need_root
	T=$(mktemp -d /tmp/floodgate-e2e.XXXXXX)
	chmod 755 "$T"
	# Debian's Python, found first in PATH, where another python3 comes
	# before it (pyenv's shim, a shell script, spends about 0.25 s at
	# each start, paid at every poll of a loop that reads JSON). A
	# command in PATH, not a shell function: "python3 ... &" must give
	# Python's own PID in $!.
	if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
		mkdir "$T/python"
		ln -s /usr/bin/python3 "$T/python/python3"
		PATH="$T/python:$PATH"
	fi
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	SMTP_PORT=$(free_port)
	SUB_PORT=$(free_port)
	SINK_PORT=$(free_port)
	mkdir -p "$T/etc/sasl" "$T/spool" "$T/data" "$T/sink" "$T/fg"
	chown postfix "$T/data"
	chmod 1777 "$T/sink"
	# The milter socket's directory is set-group-ID postfix: the socket
	# floodgate creates there (mode 0660) is then connectable by Postfix.
	chgrp postfix "$T/fg"
	chmod 2750 "$T/fg"
	write_postfix
	start_sink
}

write_postfix() {
	cat > "$T/etc/main.cf" <<EOT
compatibility_level = 3.6
queue_directory = $T/spool
data_directory = $T/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $T/maillog
maillog_file_prefixes = $T
myhostname = mta.floodgate.test
mydomain = floodgate.test
myorigin = floodgate.test
mydestination =
local_recipient_maps =
relay_domains =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK_PORT
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_milters = unix:$T/fg/milter.sock
milter_default_action = tempfail
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 2000
smtpd_recipient_limit = 20000
smtp_connect_timeout = 5s
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $T/etc/sasl
smtpd_sasl_local_domain = floodgate.test
biff = no
delay_warning_time = 0
EOT
	# qmgr's wakeup is 10 s, not the usual 300: a deferred file qmgr
	# meets while a delivery agent still holds it ("skipped, still being
	# delivered") goes to the incoming queue dated 60 s ahead, and the
	# incoming queue is scanned on new mail or this wakeup only; with
	# 300 s such a message sat there for up to 5 minutes.
	cat > "$T/etc/master.cf" <<EOT
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$SUB_PORT inet n - n - - smtpd -o smtpd_sasl_auth_enable=yes
pickup     unix  n - n 60   1 pickup
cleanup    unix  n - n -    0 cleanup
qmgr       unix  n - n 10   1 qmgr
rewrite    unix  - - n -    - trivial-rewrite
bounce     unix  - - n -    0 bounce
defer      unix  - - n -    0 bounce
trace      unix  - - n -    0 bounce
verify     unix  - - n -    1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -    - proxymap
proxywrite unix  - - n -    1 proxymap
smtp       unix  - - n -    - smtp
relay      unix  - - n -    - smtp
showq      unix  n - n -    - showq
error      unix  - - n -    - error
retry      unix  - - n -    - error
discard    unix  - - n -    - discard
local      unix  - n n -    - local
anvil      unix  - - n -    1 anvil
scache     unix  - - n -    1 scache
postlog    unix-dgram n - n - 1 postlogd
EOT
	cat > "$T/etc/sasl/smtpd.conf" <<EOT
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $T/etc/sasldb2
mech_list: PLAIN LOGIN
EOT
	# Postfix waits for a config file that changed in the last seconds.
	touch -d '-10 seconds' "$T/etc/main.cf" "$T/etc/master.cf"
}

# add_sasl_user NAME PASSWORD: login NAME@floodgate.test
add_sasl_user() {
	echo "$2" | saslpasswd2 -p -c -f "$T/etc/sasldb2" -u floodgate.test "$1"
	chown root:postfix "$T/etc/sasldb2"
	chmod 0640 "$T/etc/sasldb2"
}

start_sink() {
	if [ -n "${SINK_FAST:-}" ]; then
		# Benchmarks: accept and forget, as fast as it goes.
		smtp-sink -u nobody -h sink.floodgate.test 127.0.0.1:$SINK_PORT 1024 &
	else
		# Its warnings (a command line too long, from t21) to a file.
		smtp-sink -u nobody -d "$T/sink/m." -h sink.floodgate.test \
		    127.0.0.1:$SINK_PORT 256 2>>"$T/sink.log" &
	fi
	SINK_PID=$!
	local i
	for i in $(seq 1 50); do
		(exec 3<>/dev/tcp/127.0.0.1/$SINK_PORT) 2>/dev/null && return 0
		alive "$SINK_PID" || break
		sleep 0.05
	done
	fail "smtp-sink did not start on port $SINK_PORT: $(tail -3 "$T/sink.log" 2>/dev/null)"
	finish
}

start_postfix() {
	postfix -c "$T/etc" check || { cat "$T/maillog" 2>/dev/null; fail "postfix check"; finish; }
	postfix -c "$T/etc" start >/dev/null 2>&1 ||
	    { cat "$T/maillog" 2>/dev/null; fail "postfix start"; finish; }
	local i
	for i in $(seq 1 50); do
		(exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT) 2>/dev/null && return 0
		sleep 0.1
	done
	fail "postfix did not listen on $SMTP_PORT"
	finish
}

# reload_postfix: postfix reload, returning once it has taken effect
# (the queue manager that ran on the old settings gone, another
# running). A reload is asynchronous: master rereads main.cf, and the
# old queue manager may still take a flush (postqueue -f) or run the
# deferred queue, move mail to its active queue and leave; the new one
# puts what it finds there back in the incoming queue dated a minute
# ahead, and a queue run leaves it there that minute. A flush sent
# after reload_postfix is taken by the new one, and ignores those dates.
qmgr_pids() {
	pgrep -P "$(tr -d ' ' < "$T/spool/pid/master.pid")" -x qmgr
}
reload_postfix() {
	local old
	old=$(qmgr_pids)
	postfix -c "$T/etc" reload >/dev/null 2>&1 || fail "postfix reload"
	wait_for 20 qmgr_replaced "$old" ||
	    fail "Postfix's queue manager restarted on the reload (was ${old:-none}, now $(qmgr_pids | tr '\n' ' '))"
}
qmgr_replaced() {
	local now
	now=$(qmgr_pids)
	[ -n "$now" ] && ! printf '%s\n' "$now" | grep -qxF -e "${1:-none}"
}

# write_conf: floodgate.conf from standard input, with the paths of
# this instance prepended, and the milter engine when ENGINE is set
# (native or libmilter; run.sh runs each test that sends mail through an
# MTA on both), and `user root` appended unless the test names a user
# (the tests run floodgate as root on purpose; floodgate warns of root
# without a user statement); mode 0640, as installed, since it may name
# accounts.
write_conf() {
	{
		echo "listen   unix:$T/fg/milter.sock"
		echo "control  $T/fg/control.sock"
		echo "database $T/floodgate.db"
		[ -n "${ENGINE:-}" ] && echo "engine   $ENGINE"
		cat
	} > "$T/floodgate.conf"
	# Last: the lines above keep their numbers.
	grep -q '^user ' "$T/floodgate.conf" || echo "user     root" >> "$T/floodgate.conf"
	chmod 0640 "$T/floodgate.conf"
}

# A faked clock (libfaketime) for floodgate, for the tests that need one.
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
need_faketime() {
	[ -r "$FAKETIME_LIB" ] || skip "no libfaketime (Debian package faketime)"
}

# hard_to_end_programs N: two notify programs that outlast their time,
# $T/polite.sh and $T/deaf.sh. polite ends on SIGTERM, writing "told"
# to $T/polite.term; its child (sleep 30N, its PID in $T/polite.child)
# does not handle SIGTERM. deaf ignores SIGTERM, and so does its child
# (sleep 30N+1, inherited; $T/deaf.child); it says "still waiting for
# the webhook" on stderr.
hard_to_end_programs() {
	cat > "$T/polite.sh" <<EOT
#!/bin/sh
cat > /dev/null
sleep 30$1 &
echo \$! > "$T/polite.child"
trap 'echo told >> "$T/polite.term"; exit 0' TERM
wait
EOT
	cat > "$T/deaf.sh" <<EOT
#!/bin/sh
cat > /dev/null
trap '' TERM
sleep 30$(($1 + 1)) &
echo \$! > "$T/deaf.child"
echo "still waiting for the webhook" >&2
wait
EOT
	chmod 755 "$T/polite.sh" "$T/deaf.sh"
}

# stuck_program: $T/stuck.sh, a notify program that floodgate cannot
# reap once it has killed it (stuck.py: held by a tracer of its own,
# which writes its PID to $T/stuck.tracer), as one stuck in the kernel.
# stuck_held: waits for the tracer; 0 when it holds the program (its PID
# in STUCK_TRACER), else says why nothing of it is checked here.
# stuck_let_go: ends the tracer, the program's end then told to
# floodgate (or, once floodgate has exited, to init).
stuck_program() {
	printf '#!/bin/sh\nexec /usr/bin/python3 %s %s\n' \
	    "$TOP/tests/e2e/stuck.py" "$T" > "$T/stuck.sh"
	chmod 755 "$T/stuck.sh"
}
stuck_held() {
	wait_for 10 test -s "$T/stuck.tracer"
	STUCK_TRACER=$(cat "$T/stuck.tracer" 2>/dev/null)
	case $STUCK_TRACER in
	[0-9]*) return 0 ;;
	'') fail "stuck.py's tracer did not start: $(grep stuck "$T/floodgate.log")" ;;
	*) say "NOT CHECKED here, a program floodgate cannot reap: ptrace $STUCK_TRACER" ;;
	esac
	return 1
}
stuck_let_go() {
	case ${STUCK_TRACER:-} in
	[0-9]*) kill "$STUCK_TRACER" 2>/dev/null ;;
	esac
	return 0
}

# clock_before_hour SECONDS: an FG_ENV that starts floodgate on a clock
# SECONDS before the next hour turns, running on from there; NOW is the
# real second it was asked at.
clock_before_hour() {
	local off
	NOW=$(date +%s)
	off=$(( (3600 - NOW % 3600) - $1 ))
	[ "$off" -lt 0 ] && off=$((off + 3600))
	FG_ENV="$(preload "$FAKETIME_LIB") FAKETIME=+$off FAKETIME_DONT_FAKE_MONOTONIC=1"
}

# start_floodgate: starts floodgate and waits for its own "started:"
# line (one more than the log held before), so that a restart never
# takes the last start's line for its own. FG_ENV, when set, is put
# before the command (env VAR=VALUE ...).
# preload LIB: an FG_ENV that starts floodgate with LIB preloaded (a
# sanitizer build then lets LIB come before its runtime; a
# ThreadSanitizer build reads tsan.supp, which names the races inside
# libfaketime).
preload() {
	echo "env LD_PRELOAD=$1 ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0" \
	    "TSAN_OPTIONS=${TSAN_OPTIONS:-}${TSAN_OPTIONS:+:}suppressions=$TOP/tests/e2e/tsan.supp"
}

start_floodgate() {
	local i n sock=$T/fg/milter.sock
	n=$(log_count "started:")
	n=${n:-0}	# no log yet
	# A test's listener over TCP: its start is the log line alone.
	grep -q "^listen *unix:$sock\$" "$T/floodgate.conf" || sock=
	${FG_ENV:-} "$FLOODGATE" -f -c "$T/floodgate.conf" >>"$T/floodgate.log" 2>&1 &
	FG_PID=$!
	for i in $(seq 1 100); do
		if { [ -z "$sock" ] || [ -S "$sock" ]; } &&
		    [ "$(log_count "started:")" -gt "$n" ]; then
			return 0
		fi
		if ! alive "$FG_PID"; then
			cat "$T/floodgate.log"
			fail "floodgate exited at start"
			finish
		fi
		sleep 0.05
	done
	fail "floodgate did not start"
	finish
}

# system_checked [WHAT]: floodgatectl status in $T/status once the
# start's (or reload's) look at the system and the MTA's settings is
# done; it runs beside serving (system_check running until then). Not
# done in 10 s: a failure naming WHAT (default: the look at the system).
system_checked() {
	local i
	for i in $(seq 1 100); do
		ctl status > "$T/status"
		[ "$(awk '$1 == "system_check" {print $2}' "$T/status")" = done ] &&
		    return 0
		sleep 0.1
	done
	fail "status: ${1:-the look at the system} not done: $(grep system_ "$T/status")"
	return 1
}

# A stopped process can linger as a zombie here: check its state.
alive() {
	local st
	st=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

# stop_floodgate [SECONDS]: SIGTERM, and floodgate's end within SECONDS
# (default 5); its exit status in FG_STATUS.
stop_floodgate() {
	local i
	kill -TERM "$FG_PID" 2>/dev/null
	for i in $(seq 1 $((${1:-5} * 20))); do
		if ! alive "$FG_PID"; then
			# A crash on the way out is a failure too.
			wait "$FG_PID" 2>/dev/null
			FG_STATUS=$?
			[ "$FG_STATUS" -lt 128 ] || [ "$FG_STATUS" = 127 ] ||
			    fail "floodgate died of signal $((FG_STATUS - 128)) on SIGTERM"
			FG_PID=
			return 0
		fi
		sleep 0.05
	done
	fail "floodgate did not stop within ${1:-5} s of SIGTERM"
	kill_hard "$FG_PID"
	FG_PID=
	FG_STATUS=
}

# notify_socket SOCKET OUT [MILTER_SOCKET]: play systemd's notify
# socket (notifysock.py) until the test ends; each message a line of OUT.
notify_socket() {
	python3 "$(dirname "$0")/notifysock.py" "$@" &
	EXTRA_PIDS="${EXTRA_PIDS:-} $!"
	wait_for 5 test -S "$1" || { fail "the test's notify socket $1"; finish; }
}

# kill_hard PID: SIGKILL a child of the test and reap it, without bash's
# "Killed" line (printed when it reaps, which may be before a `wait` of
# its own had its stderr redirected): a kill the test meant is no news.
kill_hard() {
	{ kill -9 "$1"; wait "$1"; } 2>/dev/null
}

# --- clients and counting --------------------------------------------

# rcpts PREFIX DOMAIN N: "PREFIX1@DOMAIN,PREFIX2@DOMAIN,..."
rcpts() {
	local i out=
	for i in $(seq 1 "$3"); do out="$out${out:+,}$1$i@$2"; done
	echo "$out"
}

# send OUT PORT FROM TO [swaks options...]: one message; swaks' transcript
# goes to OUT. swaks exits 24 when some recipients were refused.
send() {
	local out=$1 port=$2 from=$3 to=$4
	shift 4
	swaks --server 127.0.0.1:$port --from "$from" --to "$to" \
	    --h-Subject "floodgate e2e" --body "test" "$@" >"$out" 2>&1
	return 0
}

# count_replies FILE CODE: recipients refused with CODE (e.g. 451) in a
# swaks transcript.
count_replies() {
	grep -c "^<\*\* *$2 " "$1" 2>/dev/null || true
}

# Wait until Postfix's queue holds nothing but held mail, so the sink
# has everything that was let through.
drain() {
	local i n d
	for i in $(seq 1 150); do
		n=0
		for d in "$T/etc" ${POSTFIX_MORE:-}; do
			n=$((n + $(postqueue -c "$d" -j 2>/dev/null | grep -vc '"queue_name": *"hold"')))
		done
		[ "$n" = 0 ] && return 0
		sleep 0.1
	done
	fail "Postfix's queue did not drain"
	for d in "$T/etc" ${POSTFIX_MORE:-}; do postqueue -c "$d" -p | tail -5; done
}

# maillog_settled: Postfix's log lines reach $T/maillog through postlogd,
# a little after the event: wait until the file has stopped growing
# (before counting lines of mail that just drained).
maillog_settled() {
	local i a b
	b=$(stat -c %s "$T/maillog" 2>/dev/null)
	for i in $(seq 1 30); do
		sleep 0.1
		a=$b
		b=$(stat -c %s "$T/maillog" 2>/dev/null)
		[ "$a" = "$b" ] && return 0
	done
}

# smtp_qid RCPT [STATUS]: the queue ID of Postfix's delivery line to
# RCPT (with status=STATUS), waited for up to 5 s: postlogd may write it
# after the queue has drained.
smtp_qid() {
	local i q
	for i in $(seq 1 50); do
		q=$(sed -n "s/.*postfix\/smtp\[[0-9]*\]: \([0-9A-F]*\): to=<$1>.*status=${2:-}.*/\1/p" "$T/maillog" | head -1)
		[ -n "$q" ] && { echo "$q"; return 0; }
		sleep 0.1
	done
	return 1
}

# held_files: the messages in the private Postfix's hold queue.
held_files() { find "$T/spool/hold" -type f 2>/dev/null | wc -l; }

# submit SENDER RCPT: submit one local message (stdin) with sendmail(1)
# and wait until pickup has taken it: pickup reads maildrop in
# directory order, not submission order, so two files waiting there
# together could reach floodgate the other way round.
submit() {
	sendmail -C "$T/etc" -f "$1" "$2"
	for _ in $(seq 1 100); do
		[ -z "$(find "$T/spool/maildrop" -type f 2>/dev/null)" ] && return
		sleep 0.05
	done
	fail "pickup did not take the message to $2 within 5 s"
}

# sink_count [PATTERN]: recipients the sink received (matching PATTERN).
sink_count() {
	cat "$T"/sink/m.* 2>/dev/null | grep '^X-Rcpt-Args: ' |
	    grep -ci -- "${1:-.}" || true
}

# burst NAME N: smtp-source sends N one-recipient messages from
# NAME@load.example to NAME@burst.example in the background, for a fault
# to happen under load; burst_accounted NAME N then counts them.
burst() {
	smtp-source -A -s 2 -m "$2" -l 512 -f "$1@load.example" -t "$1@burst.example" \
	    127.0.0.1:$SMTP_PORT > "$T/burst-$1.out" 2>&1 &
	eval "BURST_$1=\$!"
}

# queued_messages [TEXT], sent_messages [TEXT]: the messages (with TEXT
# in their line) that Postfix's qmgr took in, and those with a delivery
# logged status=sent, each once however often it was tried. Postfix
# reuses a queue ID once its file is gone (seen within a second under
# load), so an ID counts again after qmgr logged it removed.
queued_messages() { postfix_messages ': from=' "${1:-}"; }
sent_messages() { postfix_messages ' status=sent ' "${1:-}"; }
postfix_messages() {
	awk -v what="$1" -v text="$2" '
	    $5 ~ /^postfix\/qmgr/ && $7 == "removed" {use[$6]++; next}
	    index($0, what) && (text == "" || index($0, text)) {seen[$6 SUBSEP use[$6] + 0] = 1}
	    END {n = 0; for (k in seen) n++; print n}' "$T/maillog"
}

# burst_accounted NAME N: every message of the burst is at the sink, in
# Postfix's queue to be retried, or was refused to its client; none
# missing, none delivered twice.
burst_accounted() {
	local pid sink queued refused accepted
	eval "pid=\$BURST_$1"
	wait "$pid"
	drain
	maillog_settled
	sink=$(sink_count "$1@burst\.example")
	queued=$(postqueue -c "$T/etc" -j 2>/dev/null | grep -c "$1@burst\.example")
	refused=$(grep -c "NOQUEUE: .*from=<$1@load.example>" "$T/maillog")
	accepted=$(queued_messages "from=<$1@load.example>")
	expect_eq "$1: $2 sent = $sink at the sink + $queued queued + $refused refused" \
	    "$((sink + queued + refused))" "$2"
	expect_eq "$1: each message Postfix accepted reached the sink once" \
	    "$sink" "$((accepted - queued))"
}

# lock_db SECONDS: another process holds floodgate's database locked
# for writing for SECONDS from when it has the lock, or until unlock_db,
# in the background (its PID in LOCK_PID); returns once the lock is
# held, whatever the machine's load (the lock can take a while to get:
# counted from its start, a loaded machine's lock was seconds shorter
# than asked). A check of what floodgate does while it is locked is
# made before unlock_db, not raced against SECONDS.
# unlock_db [MIN]: lets go of it, MIN seconds after it was taken at the
# earliest, and waits for that.
lock_db() {
	rm -f "$T/db-locked" "$T/db-unlock"
	( echo ".timeout 5000"; echo "BEGIN EXCLUSIVE;"; echo ".system touch '$T/db-locked'"
	  while [ ! -e "$T/db-locked" ]; do sleep 0.05; done
	  n=$(($1 * 20))
	  while [ "$n" -gt 0 ] && [ ! -e "$T/db-unlock" ]; do sleep 0.05; n=$((n - 1)); done
	  echo "COMMIT;" ) | sqlite3 -bail "$T/floodgate.db" &
	LOCK_PID=$!
	wait_for 10 test -e "$T/db-locked" || fail "the database could not be locked"
	LOCK_T0=$(date +%s%N)
}
unlock_db() {
	local left=$(( ${1:-0} * 1000 - ($(date +%s%N) - LOCK_T0) / 1000000 ))
	[ "$left" -gt 0 ] && sleep "$((left / 1000)).$(printf %03d $((left % 1000)))"
	touch "$T/db-unlock"
	wait "$LOCK_PID"
}

# log_count PATTERN: floodgate log lines matching PATTERN.
log_count() {
	grep -c -- "$1" "$T/floodgate.log" 2>/dev/null || true
}

# smtp_session PORT CMD...: a raw SMTP dialogue for what swaks cannot do
# (RSET mid-transaction, a dropped connection). "DATA" sends a small
# message; "DROP" closes the connection without QUIT. Replies on stdout.
# SMTP_HOST: another address than 127.0.0.1 (::1).
smtp_session() {
	local port=$1 fd cmd
	shift
	exec {fd}<>/dev/tcp/${SMTP_HOST:-127.0.0.1}/$port || return 1
	read_reply $fd
	for cmd in "$@"; do
		case $cmd in
		DROP)
			exec {fd}>&-
			return 0 ;;
		DATA)
			printf 'DATA\r\n' >&$fd
			read_reply $fd
			printf 'Subject: e2e\r\n\r\nbody\r\n.\r\n' >&$fd
			read_reply $fd ;;
		*)
			printf '%s\r\n' "$cmd" >&$fd
			read_reply $fd ;;
		esac
	done
	exec {fd}>&-
}

read_reply() {
	local line
	while IFS= read -r -t 10 line <&$1; do
		line=${line%$'\r'}
		echo "$line"
		case $line in [0-9][0-9][0-9]' '*) return 0 ;; esac
	done
	return 1
}

# wait_log PATTERN [N [SECONDS]]: until the floodgate log has N lines
# matching (5 s at most unless told).
wait_log() {
	local i
	for i in $(seq 1 $((${3:-5} * 20))); do
		[ "$(log_count "$1")" -ge "${2:-1}" ] && return 0
		sleep 0.05
	done
	return 1
}

FLOODGATECTL=${FLOODGATECTL:-$(dirname "$FLOODGATE")/floodgatectl}
FGLOAD=${FGLOAD:-$(dirname "$FLOODGATE")/bench/fgload}

# kb, keys: floodgate's resident memory and tracked windows (status).
kb() { ctl status | awk '$1 == "memory_kb" {print $2}'; }
keys() { ctl status | awk '$1 == "tracked_keys" {print $2}'; }

# many_tenants_load: 100,000 accounts and 10,000 destination domains,
# one recipient each, through fgload over the milter protocol.
many_tenants_load() {
	"$FGLOAD" -S "unix:$T/fg/milter.sock" -c 10 -m 10000 -r 1 -a 100000 -d 10000 > "$T/load" 2>&1
	expect_eq "fgload: no protocol error" \
	    "$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^errors=/) print substr($i, 8)}' "$T/load")" 0
}

# ctl ARGS...: floodgatectl against this instance's config.
# Its standard error is kept in ctl.log too, where finish() looks for
# sanitizer reports.
ctl() {
	local rc
	"$FLOODGATECTL" -c "$T/floodgate.conf" "$@" 2> "$T/ctl.err"
	rc=$?
	cat "$T/ctl.err" >> "$T/ctl.log"
	cat "$T/ctl.err" >&2
	return $rc
}

# suspend_many PREFIX FIRST LAST SUFFIX: suspends the accounts
# PREFIX{FIRST..LAST}SUFFIX at once, by one client of the control socket
# asking as floodgatectl does (one request a connection); 1, and the
# first refusal on standard error, if one is refused. For bursts: each
# floodgatectl of the sanitizer build takes some 30 to 90 ms of CPU to
# start, and 599 of them, on a loaded machine, took 59 s.
suspend_many() {
	python3 -c 'import socket,sys
p,a,b,x=sys.argv[2:6]
for i in range(int(a), int(b) + 1):
    s=socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(("floodgate/1 suspend %s%d%s\n" % (p, i, x)).encode())
    r=b""
    while True:
        c=s.recv(65536)
        if not c: break
        r+=c
    s.close()
    if not r.startswith(b"ok\n"): sys.exit("suspend %s%d%s: %r" % (p, i, x, r[:200]))' "$T/fg/control.sock" "$@"
}

# http_get PATH: the HTTP response (headers and body) of floodgate's
# metrics listener on $MPORT.
http_get() {
	local fd
	exec {fd}<>/dev/tcp/127.0.0.1/$MPORT || return 1
	printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&$fd
	timeout 5 cat <&$fd
	exec {fd}>&-
}

# --- delivery feedback ---------------------------------------------------

# use_feedback_sink: the next hop becomes tests/e2e/sink.py, which
# refuses recipients named nx* "550 5.1.1 User unknown" and, on a second
# port ($CARRIER_PORT, where docomo.test is routed), answers 421 for
# SINK_BLOCK seconds after more than SINK_BURST (N/SECONDS) recipients.
# Postfix retries deferred mail every second or two. With MAP set, the
# transport table asks floodgate's socketmap first.
use_feedback_sink() {
	kill "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null
	CARRIER_PORT=$(free_port)
	python3 "$TOP/tests/e2e/sink.py" --dir "$T/sink" --port "$SINK_PORT" \
	    --carrier-port "$CARRIER_PORT" --burst "${SINK_BURST:-3/60}" \
	    --block "${SINK_BLOCK:-5}" 2>>"$T/sink.log" &
	SINK_PID=$!
	local i
	for i in $(seq 1 100); do
		[ -e "$T/sink/ready" ] && break
		sleep 0.05
	done
	[ -e "$T/sink/ready" ] || { fail "sink.py did not start"; finish; }
	echo "docomo.test smtp:[127.0.0.1]:$CARRIER_PORT" > "$T/etc/transport"
	postconf -c "$T/etc" -e \
	    "transport_maps = ${MAP:+socketmap:unix:$T/fg/map.sock:transport, }texthash:$T/etc/transport" \
	    "minimal_backoff_time = 1s" "maximal_backoff_time = 2s" \
	    "queue_run_delay = 1s"
	touch -d '-10 seconds' "$T/etc/main.cf"
}

# list N BAD DOMAIN: N addresses at DOMAIN, BAD of them nonexistent
# (sink.py refuses nx*).
list() {
	local i out=
	for i in $(seq 1 "$1"); do
		if [ "$i" -le "$2" ]; then out="$out${out:+,}nx$i@$3"; else out="$out${out:+,}u$i@$3"; fi
	done
	echo "$out"
}

# delivered ADDRESS-PATTERN [PORT]: recipients sink.py took.
delivered() {
	grep -c -- "^${2:-[0-9]*} $1" "$T/sink/delivered" 2>/dev/null || true
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds; 1 when it never did.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# start_redis [PORT [OPTION...]]: a private redis-server ($REDIS) on PORT
# ($RPORT), no persistence unless asked (SAVE), its files in $T/rdata;
# each OPTION is added to its command line (a later one wins: --dir);
# REDIS_PID.
start_redis() {
	local port=${1:-$RPORT}
	[ $# -gt 0 ] && shift
	mkdir -p "$T/rdata"
	"$REDIS" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
	    --dir "$T/rdata" --loglevel warning "$@" >>"$T/redis.log" 2>&1 &
	REDIS_PID=$!
	EXTRA_PIDS="${EXTRA_PIDS:-} $REDIS_PID"
	wait_for 5 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" ||
	    { fail "redis-server started on $port"; finish; }
}

# top_a CONF ACCOUNT: where floodgatectl top's numbers for ACCOUNT come
# from (pool or relay), accepted, deferred.
top_a() {
	"$FLOODGATECTL" -c "$1" top --json -n 10000 | python3 -c '
import json, sys
for r in json.load(sys.stdin)["records"]:
    if r.get("account") == sys.argv[1]:
        print(r["from"], r["accepted"], r["deferred"])' "$2"
}
# top_is CONF ACCOUNT "FROM ACCEPTED DEFERRED"
top_is() { [ "$(top_a "$1" "$2")" = "$3" ]; }

# readme_acl PASSWORD: the README's ACL rule for floodgate's own Redis
# user (ACL SETUSER floodgate ...), its password filled in: the tests
# run the line operators copy.
readme_acl() {
	grep -m1 '^    ACL SETUSER floodgate ' "$TOP/README.md" |
	    sed -e 's/^ *//' -e "s/>PASSWORD />$1 /"
}

# add_return_listener PORT: the README's master.cf listener for mail a
# content filter gives back (no_milters), on PORT, added to this
# Postfix's master.cf: the tests run the lines operators copy.
add_return_listener() {
	sed -n '/^    127\.0\.0\.1:10025 inet /,/^$/p' "$TOP/README.md" |
	    sed -e 's/^    //' -e "s/^127\.0\.0\.1:10025 /127.0.0.1:$1 /" > "$T/return.cf"
	grep -q 'no_milters' "$T/return.cf" || fail "the README's listener: $(cat "$T/return.cf")"
	cat "$T/return.cf" >> "$T/etc/master.cf"
	touch -d '-10 seconds' "$T/etc/master.cf"
}

# results ACCOUNT: the delivery results floodgatectl top has for
# ACCOUNT, "SENT BOUNCED UNKNOWN" ("" when it has none; top's table
# becomes a record when it lists one account, so its JSON is read).
# results_are ACCOUNT "SENT BOUNCED UNKNOWN"
results() {
	ctl top --json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["records"]:
    if r["account"] == sys.argv[1]:
        print(r["sent"], r["bounced"], r["unknown"])' "$1"
}
results_are() { [ "$(results "$1")" = "$2" ]; }

# results_read N: floodgate has read at least N delivery results of mail
# it charged (floodgate_delivery_results_total is on the status line
# too: sent + bounced).
results_read() {
	[ "$(ctl status 2>/dev/null | awk '$1 == "sent" || $1 == "bounced" {n += $2} END {print n + 0}')" -ge "$1" ]
}
