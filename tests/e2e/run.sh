#!/bin/sh
# Runs every end-to-end test (tests/e2e/t*.sh) and prints one closing
# line "N passed, N failed, N skipped". A test that cannot run here (not
# root, no Postfix) exits 77 and is counted as skipped, never as passed.
cd "$(dirname "$0")" || exit 1
pass=0 failed=0 skipped=0 names=""
for t in t*.sh; do
	echo "== e2e $t"
	bash "./$t"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); names="$names $t" ;;
	esac
done
[ -n "$names" ] && echo "failed:$names"
echo "e2e: $pass passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
