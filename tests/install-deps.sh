#!/bin/sh
# Installs the Debian packages floodgate needs to build, test and demo.
# Idempotent: runs apt-get only when a package is missing. Postfix is
# preseeded to "No configuration" so no system instance is set up.
set -eu

PKGS="gcc make pkg-config libc6-dev libmilter-dev libevent-dev libsqlite3-dev
libcmocka-dev sqlite3 postfix swaks sasl2-bin libsasl2-modules procps python3 man-db
m4 e2fsprogs strace binutils util-linux libsystemd-dev systemd systemd-journal-remote
faketime libhiredis-dev redis-server libidn2-dev"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root, or install them with apt-get" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string floodgate.invalid" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
