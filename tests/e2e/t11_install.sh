#!/bin/bash
# make install puts the binary, the sample config and the systemd files
# in place (PREFIX, DESTDIR, sbindir, sysconfdir; the binaries' default
# config follows sysconfdir even after a make without it), and systemd accepts
# the unit where systemd-analyze is available. The binaries are built
# hardened. Then the installed floodgate runs the way its unit runs it:
# as user and group floodgate (from the installed sysusers.d file), with
# the installed account map and configuration (their group set by the
# installed tmpfiles.d file; another user cannot read them), and
# floodgatectl answers that user.
# engine: native (installing is the same for both engines; no mail goes through an MTA)
# alone: makes and removes the system user floodgate
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/floodgate-install.XXXXXX)
chmod 755 "$T"
CREATED_USER=0
install_cleanup() {
	[ -n "$FG_PID" ] && kill "$FG_PID" 2>/dev/null
	if [ "$CREATED_USER" = 1 ]; then
		userdel floodgate 2>/dev/null
		groupdel floodgate 2>/dev/null
	fi
	rm -rf "$T"
}
trap install_cleanup EXIT
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
# Both name the installed configuration as their default, though the
# tree was built for /etc before (the objects that name it are rebuilt).
expect_eq "floodgate's default config is the installed one" \
    "$("$P/sbin/floodgate" -h 2>&1 | sed -n 's/.*-c FILE  configuration (default \(.*\))$/\1/p')" \
    "$P/etc/floodgate/floodgate.conf"
expect_eq "floodgatectl's default config is the installed one" \
    "$("$P/sbin/floodgatectl" -h 2>&1 | sed -n 's/.*Default FILE: //p')" "$P/etc/floodgate/floodgate.conf"
grep -q "^ExecStart=$P/sbin/floodgate -f -c $P/etc/floodgate/floodgate.conf$" "$P/unit/floodgate.service" &&
    ok "unit names the installed paths" || fail "ExecStart: $(grep ExecStart "$P/unit/floodgate.service")"
# The installed sample is a valid config (with its map next to it).
sed -i "s|^account_map .*|account_map $P/etc/floodgate/accounts|; s|^user .*|user root|" "$P/etc/floodgate/floodgate.conf"
"$P/sbin/floodgate" -n -c "$P/etc/floodgate/floodgate.conf" >"$T/n.out" 2>&1
expect_eq "the sample config checks clean" $? 0
# As root with user root, -n looks as root, as the start runs: no error.
expect_eq "  ... with no error said" "$(grep -c ' error: ' "$T/n.out")" 0
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
# Debian's hardening: PIE, full RELRO, stack protector, fortified calls.
if command -v readelf >/dev/null; then
	for b in floodgate floodgatectl; do
		f=$P/sbin/$b
		readelf -h "$f" | grep -q 'Type: *DYN' && ok "$b: PIE" || fail "$b: not PIE"
		readelf -l "$f" | grep -q GNU_RELRO && readelf -d "$f" | grep -q 'BIND_NOW\|FLAGS_1.*NOW' &&
		    ok "$b: full RELRO" || fail "$b: no full RELRO"
		readelf -W --dyn-syms "$f" | grep -q __stack_chk_fail && ok "$b: stack protector" ||
		    fail "$b: no stack protector"
		if readelf -W --dyn-syms "$f" | grep -q __asan_init; then
			say "$b: a sanitizer build, which leaves _FORTIFY_SOURCE out"
		else
			readelf -W --dyn-syms "$f" | grep -q '__[a-z]*_chk@' && ok "$b: _FORTIFY_SOURCE" ||
			    fail "$b: no fortified calls"
		fi
	done
fi

# The installed daemon, started as its unit starts it.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	if ! getent passwd floodgate >/dev/null; then
		if command -v systemd-sysusers >/dev/null; then
			systemd-sysusers "$P/sysusers/floodgate.conf" >/dev/null 2>&1
		else
			useradd --system --user-group --no-create-home --shell /usr/sbin/nologin floodgate
		fi
		getent passwd floodgate >/dev/null && CREATED_USER=1
	fi
	expect_eq "user floodgate exists" "$(getent passwd floodgate | cut -d: -f1)" floodgate
	if command -v systemd-tmpfiles >/dev/null; then
		# Only the installed lines for the configuration and the
		# account map: the others name the system's own directories.
		grep -E '^z .*/(accounts|floodgate\.conf) ' "$P/tmpfiles/floodgate.conf" > "$T/z.conf"
		expect_eq "tmpfiles.d has a line for each" "$(wc -l < "$T/z.conf")" 2
		systemd-tmpfiles --create "$T/z.conf"
	else
		chgrp floodgate "$P/etc/floodgate/accounts" "$P/etc/floodgate/floodgate.conf"
	fi
	expect_eq "the account map and the configuration: root, group floodgate, 0640" \
	    "$(stat -c '%U %G %a' "$P/etc/floodgate/accounts" "$P/etc/floodgate/floodgate.conf" | sort -u)" \
	    "root floodgate 640"
	expect_eq "  ... which another user (a tenant) cannot read" \
	    "$(for f in floodgate.conf accounts floodgate.conf.sample; do
		setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$P/etc/floodgate/$f" > /dev/null 2>&1 &&
		    echo "$f"; done | tr '\n' ' ')" "floodgate.conf.sample "
	mkdir -p "$T/run" "$T/spool" "$T/lib"
	chown floodgate:floodgate "$T/run" "$T/lib"
	chmod 750 "$T/run" "$T/lib"
	chown floodgate:postfix "$T/spool"
	chmod 2750 "$T/spool"
	cp "$P/etc/floodgate/floodgate.conf" "$T/fg.conf"
	sed -i "s|^user .*|user floodgate|; s|^listen .*|listen unix:$T/spool/milter.sock|; s|^control .*|control $T/run/control.sock|;
	    s|^database .*|database $T/lib/floodgate.db|; s|^account_map .*|account_map $P/etc/floodgate/accounts|" \
	    "$T/fg.conf"
	chgrp floodgate "$T/fg.conf"
	chmod 640 "$T/fg.conf"
	# Run as root, -n looks as floodgate's user: the installed files
	# and these directories give it all it needs; a database directory
	# of root's is said (the start would fail).
	"$P/sbin/floodgate" -n -c "$T/fg.conf" > /dev/null 2> "$T/n3.out"
	expect_eq "floodgate -n as root: nothing user floodgate cannot read or write" \
	    "$(grep -c "user floodgate cannot" "$T/n3.out")" 0
	chown root "$T/lib"
	"$P/sbin/floodgate" -n -c "$T/fg.conf" > /dev/null 2> "$T/n3.out"
	expect_eq "  ... a database directory of root's said" \
	    "$(grep -c "$T/fg.conf:$(awk '/^database/ {print NR}' "$T/fg.conf"): warning: database $T/lib/floodgate.db: user floodgate cannot write its directory $T/lib (Permission denied): floodgate would not start" "$T/n3.out")" 1
	chown floodgate "$T/lib"
	as_floodgate() { setpriv --reuid=floodgate --regid=floodgate --init-groups "$@"; }
	as_floodgate "$P/sbin/floodgate" -n -c "$T/fg.conf" > "$T/n2.out" 2>&1
	expect_eq "floodgate -n as user floodgate" $? 0
	[ $? -eq 0 ] || cat "$T/n2.out"
	# setpriv execs floodgate: the pid is floodgate's.
	setpriv --reuid=floodgate --regid=floodgate --init-groups \
	    "$P/sbin/floodgate" -f -c "$T/fg.conf" > "$T/fg.log" 2>&1 &
	FG_PID=$!
	for i in $(seq 1 100); do
		grep -q "started:" "$T/fg.log" && break
		alive "$FG_PID" || break
		sleep 0.05
	done
	grep -q "started:" "$T/fg.log" && ok "the installed daemon starts as floodgate:floodgate" ||
	    fail "not started: $(cat "$T/fg.log")"
	expect_eq "its socket: 0660, group postfix" "$(stat -c '%a %U %G' "$T/spool/milter.sock" 2>&1)" "660 floodgate postfix"
	as_floodgate "$P/sbin/floodgatectl" -c "$T/fg.conf" status > "$T/status" 2>&1
	expect_eq "floodgatectl status as floodgate" $? 0
	expect_eq "  ... the store is ok" "$(awk '$1 == "store" {print $2}' "$T/status")" ok
	kill -TERM "$FG_PID"
	for i in $(seq 1 100); do alive "$FG_PID" || break; sleep 0.05; done
	alive "$FG_PID" && fail "did not stop" || ok "stopped on SIGTERM"
	FG_PID=
else
	say "not root or no setpriv: the installed daemon is not started as its user"
fi

# DESTDIR staging.
make -s -C "$TOP" install DESTDIR="$T/stage" >"$T/make2.log" 2>&1
[ -x "$T/stage/usr/local/sbin/floodgate" ] && [ -f "$T/stage/etc/floodgate/floodgate.conf" ] &&
    ok "DESTDIR staging" || fail "DESTDIR: $(find "$T/stage" -type f | head)"
expect_eq "  ... the configuration and the map 0640 as installed, the sample 0644" \
    "$(cd "$T/stage/etc/floodgate" && stat -c '%n %a' floodgate.conf accounts floodgate.conf.sample | tr '\n' ' ')" \
    "floodgate.conf 640 accounts 640 floodgate.conf.sample 644 "
expect_eq "  ... its floodgatectl defaults to /etc/floodgate/floodgate.conf" \
    "$("$T/stage/usr/local/sbin/floodgatectl" -h 2>&1 | sed -n 's/.*Default FILE: //p')" /etc/floodgate/floodgate.conf
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify "$P/unit/floodgate.service" 2>&1)
	expect_eq "systemd-analyze verify finds nothing" "$out" ""
	out=$(systemd-analyze verify "$P/unit/floodgate-release.service" "$P/unit/floodgate-release.timer" 2>&1)
	expect_eq "the release service and timer verify" "$out" ""
else
	say "systemd-analyze not available: unit not verified"
fi
finish
