#!/bin/bash
# Bounded memory: 100,000 distinct accounts and 10,000 destination
# domains pass through floodgate (driven over the milter protocol by
# fgload); max_keys caps the table, least recently used windows first,
# and resident memory stays under the documented bound.
# engine: native (fgload speaks the milter protocol to the native engine; no MTA)
# alone: fgload loads both cores, and resident memory is measured
. "$(dirname "$0")/lib.sh"
setup
[ -x "$FGLOAD" ] || skip "fgload is not built (make $FGLOAD)"
write_conf <<EOT
max_keys 20000
limit tenant-hour   per account 1000/1h
limit domain-hour   per domain  100000/1h
EOT
start_floodgate
before=$(kb)
many_tenants_load
peak=$(kb)
sleep 2.5	# a flush and an eviction pass
after_keys=$(keys)
after=$(kb)
[ "$after_keys" -le 20000 ] && ok "tracked keys capped: $after_keys <= 20000" || fail "tracked keys $after_keys"
evictions=$(ctl status | awk '$1 == "evictions" {print $2}')
[ "$evictions" -gt 0 ] && ok "least recently used windows forgotten: $evictions" || fail "no eviction"
if ldd "$FLOODGATE" | grep -q libasan; then
	say "AddressSanitizer build: its shadow memory makes the memory figures meaningless; not checked"
else
	[ "$peak" -lt 131072 ] && ok "resident memory under 128 MB at the peak: ${before} -> ${peak} kB" || fail "peak ${peak} kB"
	# The flush and the eviction pass allocate too: the bound is what holds.
	[ "$after" -lt 131072 ] && ok "after the eviction pass, still under 128 MB: ${after} kB" || fail "after: ${after} kB"
fi
wait_log "max_keys 20000 reached" && ok "eviction is logged" || fail "no eviction log"
alive "$FG_PID" && ok "still running" || fail "died"
cat "$T/load"
finish
