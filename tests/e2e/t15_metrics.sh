#!/bin/bash
# metrics HOST:PORT: /metrics answers in the Prometheus text format and
# its counters match what the clients were told; off by default.
. "$(dirname "$0")/lib.sh"
setup
MPORT=$(free_port)
write_conf <<EOT
metrics 127.0.0.1:$MPORT
limit tenant-hour per account 4/1h
limit tagged      per account to tag.example 1/1h action tag
EOT
start_floodgate
start_postfix

get() { http_get "$@"; }
metric() {	# metric NAME{LABELS}: its value
	awk -v m="$1" '$1 == m {print $2}' "$T/metrics"
}

send "$T/m1" $SMTP_PORT a@m.example "$(rcpts a example.com 6)"
send "$T/m2" $SMTP_PORT b@m.example "$(rcpts b tag.example 3)"
drain
sleep 1.2	# one flush tick
get /metrics | tr -d '\r' > "$T/metrics"
grep -q "^HTTP/1.[01] 200" "$T/metrics" && ok "GET /metrics: 200" || fail "$(head -3 "$T/metrics")"
grep -q "^Content-Type: text/plain; version=0.0.4" "$T/metrics" && ok "Prometheus text format" || fail "content type"
expect_eq "accepted" "$(metric 'floodgate_recipients_total{outcome="accepted"}')" 7
expect_eq "deferred" "$(metric 'floodgate_recipients_total{outcome="deferred"}')" 2
expect_eq "tenant-hour defer decisions" "$(metric 'floodgate_decisions_total{rule="tenant-hour",action="defer"}')" 2
expect_eq "tagged tag decisions" "$(metric 'floodgate_decisions_total{rule="tagged",action="tag"}')" 2
[ "$(metric floodgate_store_flush_seconds_count)" -ge 1 ] && ok "flushes counted" || fail "no flush counted"
expect_eq "store up" "$(metric floodgate_store_up)" 1
expect_eq "no store errors" "$(metric floodgate_store_errors_total)" 0
[ "$(metric floodgate_tracked_keys)" -ge 3 ] && ok "tracked keys" || fail "tracked keys: $(metric floodgate_tracked_keys)"
kill -USR1 "$FG_PID"
wait_log "reload: .* loaded"
get /metrics | tr -d '\r' > "$T/metrics"
expect_eq "reloads counted" "$(metric floodgate_reloads_total)" 1
# Every family the README's table names is on the page with the type the
# table gives it, and the page has none the table leaves out.
sed -n 's/^| `\(floodgate_[a-z_]*\)[^`]*` | \([a-z]*\) |.*/\1 \2/p' "$TOP/README.md" |
    sort > "$T/families.readme"
sed -n 's/^# TYPE \(floodgate_[a-z_]*\) \([a-z]*\)$/\1 \2/p' "$T/metrics" | sort > "$T/families.page"
[ "$(wc -l < "$T/families.readme")" -ge 25 ] &&
    diff "$T/families.readme" "$T/families.page" > "$T/families.diff" &&
    ok "every family in the README's table is served, with its type, and no other" ||
    fail "README (<) and /metrics (>) differ: $(cat "$T/families.diff")"
grep -q "m\.example" "$T/metrics" &&
    fail "an account appears in /metrics" || ok "no account appears in /metrics"
get /other | tr -d '\r' | grep -q "^HTTP/1.[01] 404" && ok "other paths: 404" || fail "other path"
expect_eq "MTA connections gauge" "$(metric floodgate_mta_connections_max)" 2048
# Slow clients cannot hold the listener: a deadline from the connect
# (not an idle timer a byte a second resets), and 16 clients at most.
python3 - "$MPORT" > "$T/slow" 2>&1 <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port))
    return s
t0 = time.time()
s = conn()
req = b"GET /metrics HTTP/1.0\r\nX-Padding: " + b"x" * 20 + b"\r\n\r\n"
closed = False
for b in req:
    try:
        s.send(bytes([b]))
    except (BrokenPipeError, ConnectionResetError):
        closed = True
        break
    s.settimeout(1)
    try:
        if s.recv(100) == b"":
            closed = True
            break
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
        break
print("trickler %s after %.0f s" % ("dropped" if closed else "served", time.time() - t0))
held = [conn() for _ in range(16)]
time.sleep(0.3)
extra = conn()
extra.settimeout(3)
print("17th:", extra.recv(100).split(b"\r\n")[0].decode())
PY
grep -q "trickler dropped after [4-7] s" "$T/slow" && ok "a client sending a byte a second is dropped by its deadline" || fail "$(cat "$T/slow")"
grep -q "17th: HTTP/1.0 503" "$T/slow" && ok "a 17th client at once gets 503" || fail "$(cat "$T/slow")"
get /metrics | tr -d '\r' | grep -q "^HTTP/1.[01] 200" && ok "then it serves again" || fail "after slow clients"
stop_floodgate
sed -i '/^metrics /d' "$T/floodgate.conf"
start_floodgate
(exec 3<>/dev/tcp/127.0.0.1/$MPORT) 2>/dev/null && fail "metrics listening without the statement" || ok "off by default"
finish
