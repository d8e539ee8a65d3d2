#!/bin/bash
# make install puts the binary, the sample config and the systemd files
# in place (PREFIX, DESTDIR, sbindir, sysconfdir), and systemd accepts
# the unit where systemd-analyze is available.
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/floodgate-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
P=$T/prefix
make -s -C "$TOP" install PREFIX="$P" sysconfdir="$P/etc" unitdir="$P/unit" docdir="$P/doc" mandir="$P/man" \
    sysusersdir="$P/sysusers" tmpfilesdir="$P/tmpfiles" >"$T/make.log" 2>&1
expect_eq "make install" $? 0
for f in sbin/floodgate etc/floodgate/floodgate.conf etc/floodgate/accounts \
    unit/floodgate.service sysusers/floodgate.conf tmpfiles/floodgate.conf doc/README.md \
    unit/floodgate-release.service unit/floodgate-release.timer \
    sbin/floodgatectl man/man8/floodgate.8 man/man8/floodgatectl.8 man/man5/floodgate.conf.5; do
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
if command -v man >/dev/null; then
	for m in man8/floodgate.8 man8/floodgatectl.8 man5/floodgate.conf.5; do
		out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$P/man/$m" 2>&1 >/dev/null)
		expect_eq "man -l $m renders without warnings" "$out" ""
		LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$P/man/$m" 2>/dev/null | grep -q "^SEE ALSO" &&
		    ok "$m has its sections" || fail "$m did not render"
	done
else
	say "man is not installed: man pages not rendered"
fi
# DESTDIR staging.
make -s -C "$TOP" install DESTDIR="$T/stage" >"$T/make2.log" 2>&1
[ -x "$T/stage/usr/local/sbin/floodgate" ] && [ -f "$T/stage/etc/floodgate/floodgate.conf" ] &&
    ok "DESTDIR staging" || fail "DESTDIR: $(find "$T/stage" -type f | head)"
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify "$P/unit/floodgate.service" 2>&1)
	expect_eq "systemd-analyze verify finds nothing" "$out" ""
	out=$(systemd-analyze verify "$P/unit/floodgate-release.service" "$P/unit/floodgate-release.timer" 2>&1)
	expect_eq "the release service and timer verify" "$out" ""
else
	say "systemd-analyze not available: unit not verified"
fi
finish
