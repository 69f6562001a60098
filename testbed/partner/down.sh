#!/usr/bin/env bash
# down.sh — stop the testbed's partner storage element (only the xrootd testbed/partner/up.sh started,
# found by its PID file) and its watcher. State, data and logs are kept. Option: --quiet.
set -euo pipefail
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
QUIET=0; [ "${1:-}" = --quiet ] && QUIET=1
say() { [ "$QUIET" = 1 ] || printf 'testbed/partner: %s\n' "$*"; }
. "$(dirname "${BASH_SOURCE[0]}")/../lib/stop.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/watch.sh"
se_watch_stop "$TB" partner   # first, so it does not bring the SE back
stop_pidfiles 5 "$TB/partner/run/xrootd.pid:xrootd"
if [ "$STOPPED" = 0 ]; then say "nothing running"; else say "stopped the partner SE"; fi
