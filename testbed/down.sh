#!/usr/bin/env bash
# down.sh — stop the gridprobe local testbed: only the processes up.sh started, found by their PID
# files in ${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}/run. Credentials, data and logs are kept
# (up.sh reuses them); remove the directory by hand to start from nothing.
set -euo pipefail
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
QUIET=0; [ "${1:-}" = --quiet ] && QUIET=1
say() { [ "$QUIET" = 1 ] || printf 'testbed: %s\n' "$*"; }
"$(dirname "${BASH_SOURCE[0]}")/ce/down.sh" --quiet || true

# pidfile:expected-program
ENTRIES="$TB/run/se/xrootd.pid:xrootd $TB/run/se/cmsd.pid:cmsd $TB/run/rdr/xrootd.pid:xrootd $TB/run/rdr/cmsd.pid:cmsd $TB/run/issuer.pid:gridprobe-issuer"

ours() { # pid program: the pid is alive and runs that program (guards against recycled PIDs)
	[ -r "/proc/$1/cmdline" ] || return 1
	tr '\0' '\n' <"/proc/$1/cmdline" | head -1 | grep -q "$2\$"
}

pids=()
for e in $ENTRIES; do
	f=${e%%:*}; prog=${e#*:}
	[ -s "$f" ] || continue
	pid=$(cat "$f")
	if [[ "$pid" =~ ^[0-9]+$ ]] && ours "$pid" "$prog"; then
		kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid:$prog:$f")
	else
		rm -f "$f"
	fi
done
[ ${#pids[@]} -eq 0 ] && { say "nothing running"; exit 0; }

for ((i = 0; i < 100; i++)); do
	left=0
	for e in "${pids[@]}"; do
		IFS=: read -r pid prog _ <<<"$e"
		ours "$pid" "$prog" && left=1
	done
	[ "$left" = 0 ] && break
	sleep 0.05
done
for e in "${pids[@]}"; do
	IFS=: read -r pid prog f <<<"$e"
	if ours "$pid" "$prog"; then
		say "$prog ($pid) ignored SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
done
say "stopped ${#pids[@]} processes"
