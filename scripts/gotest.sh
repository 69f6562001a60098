#!/usr/bin/env bash
# gotest.sh — `go test -race` of every package against the testbed (make test). XRootD 5.5.3, the testbed's
# SE, can crash or hang when clients disconnect while it serves them (testbed/KNOWN_ISSUES.md 7); its
# watcher (testbed/lib/se-watch.sh) restarts it within seconds and logs each event. Tests that talk to the
# SE at that moment fail for the server's defect, not gridprobe's. So: when the run fails AND the watcher
# logged a crash or hang during it, the failed tests (or a failed package that names none, e.g. a panic)
# are run once more, printed as such; they must pass then. A failure without an SE event, a build
# failure, or a failure of the second run fails `make test`.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/se-events.sh"
GO=${GO:-go}
FLAGS=(-race -count=1 -timeout 15m)

out=$(mktemp); trap 'rm -f "$out"' EXIT
mark=$(se_mark)
"$GO" test "${FLAGS[@]}" ./... 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] && exit 0
events=$(se_events "$mark")
if [ -z "$events" ]; then exit "$rc"; fi

# "<package> <-run regex or empty>" per failed package; "!" when something cannot be retried.
failed=$(awk '
	/^--- FAIL: / { t = t (t ? "|" : "") $3 }
	/^ok  \t/ { t = "" }
	/^FAIL\t/ {
		if ($0 ~ /\[(build|setup) failed\]/) print "!"
		else print $2, (t ? "^(" t ")$" : "")
		t = ""
	}' "$out")
if [ -z "$failed" ] || grep -q '^!' <<<"$failed"; then exit "$rc"; fi

printf '\n==== The testbed SE crashed or hung during this run (testbed/KNOWN_ISSUES.md 7); watcher log:\n%s\n' "$events"
printf '==== Running once more what failed then:\n%s\n' "$failed"
rc=0
while read -r pkg run; do
	if [ -n "$run" ]; then
		"$GO" test "${FLAGS[@]}" -run "$run" "$pkg" || rc=1
	else
		"$GO" test "${FLAGS[@]}" "$pkg" || rc=1
	fi
done <<<"$failed"
if [ "$rc" = 0 ]; then
	echo "==== The tests that failed while the SE was down passed when run again."
else
	echo "==== Tests failed again: make test fails."
fi
exit "$rc"
