#!/bin/bash
# make install puts the binary, the sample config and the systemd files
# in place (PREFIX, DESTDIR, sbindir, sysconfdir), and systemd accepts
# the unit where systemd-analyze is available.
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/floodgate-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
P=$T/prefix
make -s -C "$TOP" install PREFIX="$P" sysconfdir="$P/etc" unitdir="$P/unit" docdir="$P/doc" \
    sysusersdir="$P/sysusers" tmpfilesdir="$P/tmpfiles" >"$T/make.log" 2>&1
expect_eq "make install" $? 0
for f in sbin/floodgate etc/floodgate/floodgate.conf etc/floodgate/accounts \
    unit/floodgate.service sysusers/floodgate.conf tmpfiles/floodgate.conf doc/README.md; do
	[ -e "$P/$f" ] && ok "installed $f" || fail "missing $f"
done
[ -x "$P/sbin/floodgate" ] && ok "binary is executable" || fail "binary mode"
grep -q "^ExecStart=$P/sbin/floodgate -f -c $P/etc/floodgate/floodgate.conf$" "$P/unit/floodgate.service" &&
    ok "unit names the installed paths" || fail "ExecStart: $(grep ExecStart "$P/unit/floodgate.service")"
# The installed sample is a valid config (with its map next to it).
sed -i "s|^account_map .*|account_map $P/etc/floodgate/accounts|; s|^user .*|user root|" "$P/etc/floodgate/floodgate.conf"
"$P/sbin/floodgate" -n -c "$P/etc/floodgate/floodgate.conf" >"$T/n.out" 2>&1
expect_eq "the sample config checks clean" $? 0
grep -q "cap   carrier-fanout" "$T/n.out" && ok "sample has the carrier cap" || fail "$(cat "$T/n.out")"
# DESTDIR staging.
make -s -C "$TOP" install DESTDIR="$T/stage" >"$T/make2.log" 2>&1
[ -x "$T/stage/usr/local/sbin/floodgate" ] && [ -f "$T/stage/etc/floodgate/floodgate.conf" ] &&
    ok "DESTDIR staging" || fail "DESTDIR: $(find "$T/stage" -type f | head)"
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify "$P/unit/floodgate.service" 2>&1)
	expect_eq "systemd-analyze verify finds nothing" "$out" ""
else
	say "systemd-analyze not available: unit not verified"
fi
finish
