#!/usr/bin/env bash
# down.sh [--quiet] [RELEASE...] — stop the version-matrix storage elements that up.sh started (by the
# PID in each release's pid file; nothing else is touched). Default: every release with state.
set -euo pipefail
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
MX="$TB/matrix"
QUIET=0
[ "${1:-}" = --quiet ] && { QUIET=1; shift; }
RELS=("$@")
if [ ${#RELS[@]} -eq 0 ]; then
	for d in "$MX"/*/run; do [ -d "$d" ] && RELS+=("$(basename "$(dirname "$d")")"); done
fi
for r in "${RELS[@]}"; do
	f="$MX/$r/run/xrootd.pid"
	[ -s "$f" ] || continue
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null && grep -q xrootd "/proc/$pid/comm" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
		[ "$QUIET" = 1 ] || echo "matrix: stopped $r (pid $pid)"
	fi
	rm -f "$f"
done
