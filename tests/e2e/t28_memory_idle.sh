#!/bin/bash
# Memory returns once entries go idle: 100,000 accounts and 10,000
# domains pass through (fgload over the milter protocol) with 10-second
# windows; once the windows are empty the entries are freed (within one
# shortest window), SQLite's page cache for them is given back, and
# floodgate's resident memory comes back down.
# engine: native (fgload speaks the milter protocol to the native engine; no MTA)
# alone: fgload loads both cores, and resident memory is measured
. "$(dirname "$0")/lib.sh"
setup
[ -x "$FGLOAD" ] || skip "fgload is not built (make $FGLOAD)"
write_conf <<EOT
limit tenant-10s per account 1000/10s
limit domain-10s per domain  100000/10s
EOT
start_floodgate
before=$(kb)
many_tenants_load
peak=$(kb)
peak_keys=$(keys)
[ "$peak_keys" -ge 10000 ] && ok "$peak_keys windows tracked after the load" || fail "only $peak_keys windows tracked"
for i in $(seq 1 60); do
	[ "$(keys)" = 0 ] && break
	sleep 1
done
expect_eq "every window freed once idle (within ${i}s)" "$(keys)" 0
after=$(kb)
if ldd "$FLOODGATE" | grep -q libasan; then
	say "AddressSanitizer build: its shadow memory makes the memory figures meaningless; not checked"
else
	grown=$((peak - before)); kept=$((after - before))
	[ "$grown" -gt 8192 ] && ok "resident memory grew under load: ${before} -> ${peak} kB" ||
		fail "memory grew only ${grown} kB: the load did not take"
	[ $((kept * 4)) -lt "$grown" ] && ok "and came back down once idle: ${after} kB (kept ${kept} of ${grown} kB)" ||
		fail "memory stayed: ${before} -> ${peak} -> ${after} kB"
fi
alive "$FG_PID" && ok "still running" || fail "died"
finish
