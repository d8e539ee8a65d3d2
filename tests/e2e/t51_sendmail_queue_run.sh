#!/bin/bash
# A queue run of the real Sendmail 8.17 that meets a host refusing
# connections tries it once: the rest of that run's mail for the host
# is deferred from the cached host status, logged with relay= naming no
# address. A backoff counts the attempt, not those echoes (before, the
# four lines of one run paused the domain): the second run's attempt
# makes two, and the pause.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sendmail.sh"
setup
sendmail_fetch || skip "cannot fetch Debian's sendmail packages"
CLOSED=$(free_port)
printf 'refused.test relay:[127.0.0.1]\n' > "$T/mailertable"
# Mail is queued at once and delivered by the queue runs the test starts.
SM_MC_EXTRA="define(\`RELAY_MAILER_ARGS', \`TCP \$h $CLOSED')dnl
define(\`confDELIVERY_MODE', \`q')dnl
FEATURE(\`mailertable', \`text -k0 -v1 $T/mailertable')dnl
"
write_conf <<EOT
mta sendmail
delivery_log $T/sm/maillog
backoff dead to refused.test after 2/10m on connect for 1h
EOT
start_floodgate
trap sendmail_cleanup EXIT
sendmail_setup || { fail "sendmail set-up"; finish; }
sendmail_start || { fail "sendmail did not start"; finish; }
st() { ctl status | awk -v k="$1" '$1 == k {print $2}'; }
logged() { grep -c -- "$1" "$T/sm/maillog" 2>/dev/null || true; }

for i in 1 2 3 4; do
	send "$T/m$i" $SM_PORT shop@d.example "x$i@refused.test"
done
expect_eq "four messages queued" "$(logged 'to=<x[1-4]@refused.test>, .*stat=queued')" 4
sleep 1.5	# their queue IDs reach floodgate's map
sm_run -q -v > "$T/q1.out" 2>&1	# -v: in the foreground
run_logged() {
	[ "$(logged 'relay=\[127.0.0.1\] \[127.0.0.1\], dsn=4.4.1, stat=Deferred: Connection refused').$(logged 'relay=\[127.0.0.1\], dsn=4.4.1, stat=Deferred: Connection refused')" = "$1" ]
}
wait_for 5 run_logged 1.3 &&
    ok "the first queue run: one connection tried, three deferred from the cached status" ||
    fail "the first queue run: $(grep 'stat=Deferred' "$T/sm/maillog")"
sleep 2.5
expect_eq "  ... one failure counted: no pause" "$(st paused_domains)" 0
sm_run -q -v > "$T/q2.out" 2>&1
wait_for 5 sh -c "grep -q 'backoff: domain=refused.test paused for 1h .* by rule=dead: 2 temporary failures (connect)' '$T/floodgate.log'" &&
    ok "the second run's attempt makes two: refused.test paused" ||
    fail "refused.test: $(grep -E 'backoff' "$T/floodgate.log" | tail -2); $(logged 'stat=Deferred: Connection refused') deferrals"
finish
