#!/usr/bin/env bash
# faults.sh — the reliability figures (make faults): `go run ./cmd/faults` against the testbed. When a run fails AND
# the testbed SE's watcher logged a crash or hang of the SE during it (XRootD 5.5.3, testbed/KNOWN_ISSUES.md 7: a TLS
# handshake cut by a reset crashes its https door, and the suite's cut and reset connections do that), the event is
# printed and the suite runs again, at most three runs in all; a run that fails without an SE event fails at once,
# and the last run's figures decide.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/se-events.sh"
GO=${GO:-go}
for run in 1 2 3; do
	mark=$(se_mark)
	"$GO" run ./cmd/faults "$@" && exit 0
	rc=$?
	events=$(se_events "$mark")
	[ -n "$events" ] && [ "$run" -lt 3 ] || exit "$rc"
	printf '\n==== A testbed SE crashed or hung during fault-suite run %d (testbed/KNOWN_ISSUES.md 7); watcher log:\n%s\n' "$run" "$events"
	echo "==== Running the fault suite again; the last run's figures decide."
done
