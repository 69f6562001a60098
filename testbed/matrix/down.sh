#!/usr/bin/env bash
# down.sh [--quiet] [WHAT...] — stop the version-matrix servers that up.sh started (by the PID in each
# server's pid file, checked against the program name; nothing else is touched). WHAT is a release
# (every server of it: trixie), or product/release (xrootd/trixie, arc/trixie, condor/sid).
# Default: every server with state. The testbed's own SE and CEs are never touched.
set -euo pipefail
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
MX="$TB/matrix"
QUIET=0
[ "${1:-}" = --quiet ] && { QUIET=1; shift; }
say() { [ "$QUIET" = 1 ] || echo "matrix: $*"; }
. "$(dirname "${BASH_SOURCE[0]}")/../lib/stop.sh"
# stop NAME PROGRAM PIDFILE...: TERM, wait up to 15 s, then KILL.
stop() {
	local name=$1 prog=$2 f
	local -a entries=()
	shift 2
	for f in "$@"; do entries+=("$f:$prog"); done
	stop_pidfiles 15 "${entries[@]}"
	[ "$STOPPED" = 0 ] || say "stopped $name ($STOPPED processes)"
}
stop_one() { # product release
	case $1 in
	xrootd) stop "xrootd $2" xrootd "$MX/$2/run/xrootd.pid" ;;
	arc) stop "ARC $2" arched "$MX/arc-$2/run/arched-arex-ws.pid" "$MX/arc-$2/run/arched-arex.pid" ;;
	condor) stop "HTCondor $2" condor_master "$MX/condor-$2/master.pid" ;;
	*) echo "down.sh: unknown product $1" >&2; exit 2 ;;
	esac
}
WHAT=("$@")
if [ ${#WHAT[@]} -eq 0 ]; then
	for d in "$MX"/*/run/xrootd.pid; do [ -e "$d" ] && WHAT+=("xrootd/$(basename "$(dirname "$(dirname "$d")")")"); done
	for d in "$MX"/arc-*/run; do [ -d "$d" ] && { b=$(basename "$(dirname "$d")"); WHAT+=("arc/${b#arc-}"); }; done
	for d in "$MX"/condor-*/master.pid; do [ -e "$d" ] && { b=$(basename "$(dirname "$d")"); WHAT+=("condor/${b#condor-}"); }; done
fi
for w in "${WHAT[@]}"; do
	case $w in
	*/*) stop_one "${w%%/*}" "${w#*/}" ;;
	*) for p in xrootd arc condor; do stop_one "$p" "$w"; done ;;
	esac
done
