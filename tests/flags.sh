#!/bin/sh
# The builder's flags, run by make check (the plain build): floodgate
# builds everything again in build-flags/ with CFLAGS and CPPFLAGS given
# on make's command line, as a packager or a developer gives them: -Og,
# whose warnings are not -O2's (gcc's checks of a formatted string's
# length see other bounds), and a _FORTIFY_SOURCE level of the
# builder's, 3 (as dpkg-buildflags gives one, and Ubuntu's gcc defines
# one by itself), which floodgate must not define again. Then it looks
# at what the builds hold.
#
#   tests/flags.sh MAKE BUILD    BUILD: the plain build, already made
set -u
make=$1 b=$2 f=build-flags
fails=0

ok() { echo "  ok   $1"; }
fail() { echo "  FAIL $1"; fails=$((fails + 1)); }

if $make -s -j2 B=$f CFLAGS="-Og -g" CPPFLAGS="-D_FORTIFY_SOURCE=3" everything \
    > $f.log 2>&1; then
	ok "CFLAGS=\"-Og -g\" CPPFLAGS=-D_FORTIFY_SOURCE=3: everything builds"
else
	fail "CFLAGS=\"-Og -g\" CPPFLAGS=-D_FORTIFY_SOURCE=3: $(grep -E 'error|warning' $f.log | head -5)"
fi
# What gcc records of its options (DW_AT_producer): the builder's flags
# and floodgate's own, both.
producer() {
	readelf --debug-dump=info "$1" 2>/dev/null | grep -m1 DW_AT_producer
}
p=" $(producer $f/milter/main.o) "
for want in "-Og the builder's" "-std=c11 floodgate's" \
    "-fstack-protector-strong floodgate's"; do
	case $p in
	*" ${want%% *} "*) ok "${want%% *} (${want#* }) is used" ;;
	*) fail "${want%% *} (${want#* }) is used: $p" ;;
	esac
done
# Fortified: the checked variants of the C library's string functions.
for x in $b/floodgate $f/floodgate; do
	if nm -D --undefined-only "$x" | grep -q '__[a-z]*_chk@'; then
		ok "$x is built with _FORTIFY_SOURCE"
	else
		fail "$x is built with _FORTIFY_SOURCE (no __*_chk function)"
	fi
done
if $f/floodgate -V > /dev/null; then
	ok "$f/floodgate runs"
else
	fail "$f/floodgate runs"
fi
[ $fails -eq 0 ] && echo "flags: all passed" && exit 0
echo "flags: $fails failed (the build's output in $f.log)"
exit 1
