#!/usr/bin/env bash
# down.sh — stop the gridprobe local testbed: only the processes up.sh started, found by their PID
# files in ${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}/run. Credentials, data and logs are kept
# (up.sh reuses them); remove the directory by hand to start from nothing.
set -euo pipefail
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
QUIET=0; [ "${1:-}" = --quiet ] && QUIET=1
say() { [ "$QUIET" = 1 ] || printf 'testbed: %s\n' "$*"; }
"$(dirname "${BASH_SOURCE[0]}")/ce/down.sh" --quiet || true
"$(dirname "${BASH_SOURCE[0]}")/broker/down.sh" --quiet || true
"$(dirname "${BASH_SOURCE[0]}")/partner/down.sh" --quiet || true
"$(dirname "${BASH_SOURCE[0]}")/misconf/down.sh" --quiet || true

. "$(dirname "${BASH_SOURCE[0]}")/lib/stop.sh"
# The SE's watcher first, so it does not bring the SE back.
. "$(dirname "${BASH_SOURCE[0]}")/lib/watch.sh"
se_watch_stop "$TB" se
stop_pidfiles 2 "$TB/run/se-watch.pid:se-watch.sh"   # a watcher started by an older up.sh

# pidfile:expected-program
ENTRIES="$TB/run/se/xrootd.pid:xrootd $TB/run/se/cmsd.pid:cmsd $TB/run/rdr/xrootd.pid:xrootd $TB/run/rdr/cmsd.pid:cmsd $TB/run/issuer.pid:gridprobe-issuer"

stop_pidfiles 5 $ENTRIES
if [ "$STOPPED" = 0 ]; then say "nothing running"; else say "stopped $STOPPED processes"; fi
