#!/usr/bin/env bash
# down.sh — stop the gridprobe testbed's compute elements: only the processes testbed/ce/up.sh
# started, found by their PID files under ${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}/ce.
# State, logs and the HTCondor chroot are kept (up.sh reuses them).
# Options: --quiet, --arc-only, --condor-only.
set -euo pipefail
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
CE="$TB/ce"
QUIET=0 DO_ARC=1 DO_CONDOR=1
for a in "$@"; do
	case $a in
	--quiet) QUIET=1 ;; --arc-only) DO_CONDOR=0 ;; --condor-only) DO_ARC=0 ;;
	*) echo "usage: $0 [--quiet] [--arc-only|--condor-only]" >&2; exit 2 ;;
	esac
done
say() { [ "$QUIET" = 1 ] || printf 'testbed/ce: %s\n' "$*"; }

ENTRIES=()
[ "$DO_ARC" = 1 ] && ENTRIES+=("$CE/arc/run/arched-arex-ws.pid:arched" "$CE/arc/run/arched-arex.pid:arched")
[ "$DO_CONDOR" = 1 ] && ENTRIES+=("$CE/condor/master.pid:condor_master")

. "$(dirname "${BASH_SOURCE[0]}")/../lib/stop.sh"
# condor_master stops its daemons and jobs on SIGTERM (a few seconds); arched exits at once.
stop_pidfiles 15 "${ENTRIES[@]}"
if [ "$STOPPED" = 0 ]; then say "no CE running"; else say "stopped $STOPPED CE processes"; fi
# A condor_master killed after ignoring SIGTERM can leave daemons behind in their own sessions (seen:
# condor_shared_port still holding 9619): stop what still runs inside the testbed's HTCondor chroot.
if [ "$DO_CONDOR" = 1 ]; then
	ROOT=$(readlink -f "${GRIDPROBE_CONDOR_CHROOT:-/var/cache/gridprobe/trixie-condor}" 2>/dev/null || true)
	for d in /proc/[0-9]*; do
		[ -n "$ROOT" ] && [ "$ROOT" != / ] && [ "$(readlink "$d/root" 2>/dev/null)" = "$ROOT" ] || continue
		pid=${d#/proc/}
		say "stopping a leftover HTCondor process $pid ($(tr '\0' ' ' <"$d/cmdline" 2>/dev/null | cut -c1-60))"
		kill -KILL "$pid" 2>/dev/null || true
	done
fi
