#!/bin/sh
# Runs every end-to-end test (tests/e2e/t*.sh) and prints one closing
# line "N passed, N failed, N skipped". A test that cannot run here (not
# root, no Postfix) exits 77 and is counted as skipped, never as passed.
#
# Every test that sends mail through an MTA runs on both milter engines,
# native and libmilter (ENGINE, which lib.sh's write_conf turns into
# "engine ..."). A test about one engine's own internals says so on a
# line "# engine: native (why)" and runs on that engine only.
# ENGINE=libmilter sh run.sh runs the suite on one engine; ONLY=t07
# runs the tests whose names start so.
cd "$(dirname "$0")" || exit 1
pass=0 failed=0 skipped=0 names=""
for t in ${ONLY:-t}*.sh; do
	only=$(sed -n 's/^# engine: \([a-z]*\).*/\1/p' "$t" | head -1)
	for engine in ${ENGINE:-native libmilter}; do
		[ -n "$only" ] && [ "$engine" != "$only" ] && continue
		echo "== e2e $t ($engine)"
		t0=$(date +%s)
		ENGINE=$engine bash "./$t"
		rc=$?
		echo "== e2e $t ($engine): $(($(date +%s) - t0)) s"
		case $rc in
		0) pass=$((pass + 1)) ;;
		77) skipped=$((skipped + 1)) ;;
		*) failed=$((failed + 1)); names="$names $t($engine)" ;;
		esac
	done
done
[ -n "$names" ] && echo "failed:$names"
echo "e2e: $pass passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
