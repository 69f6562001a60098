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

ours() { # pid program: alive and running that program (guards against recycled PIDs)
	[ -r "/proc/$1/cmdline" ] || return 1
	tr '\0' '\n' <"/proc/$1/cmdline" | head -3 | grep -q "$2"
}
ENTRIES=()
[ "$DO_ARC" = 1 ] && ENTRIES+=("$CE/arc/run/arched-arex-ws.pid:arched" "$CE/arc/run/arched-arex.pid:arched")
[ "$DO_CONDOR" = 1 ] && ENTRIES+=("$CE/condor/master.pid:condor_master")

pids=()
for e in "${ENTRIES[@]}"; do
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
[ ${#pids[@]} -eq 0 ] && { say "no CE running"; exit 0; }
# condor_master stops its daemons and jobs on SIGTERM (a few seconds); arched exits at once.
for ((i = 0; i < 300; i++)); do
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
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
done
say "stopped ${#pids[@]} CE processes"
