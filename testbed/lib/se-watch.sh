#!/usr/bin/env bash
# se-watch.sh TB NAME PIDFILE ROOT_PORT HTTP_PORT XRD_USER START_CMD… — bring one of the testbed's XRootD SEs
# back when it dies or hangs. XRootD 5.5.3 can crash (segfault in libXrdServer, libXrdUtils or libssl) or stop
# answering when clients disconnect while it serves them (testbed/KNOWN_ISSUES.md 7): without this, one crash
# would fail every later test of a run. Every SE of the testbed (the main SE, the TPC partner, the misconfigured
# SE) has one watcher; lib/watch.sh starts and stops them.
#
# Dead: the pid in PIDFILE is gone or a zombie (checked every second). Hung: the root:// port accepts but does
# not answer the XRootD handshake, or the https port gives no HTTP answer, within 10 s, three times in a row
# (checked every 5 s; a busy SE answers a handshake in milliseconds). A hung SE's threads are written to
# log/se-hang-<NAME>-<time>.txt (gdb, when installed) before it is killed. Before a restart (START_CMD), whatever
# still holds the SE's ports as XRD_USER (a child the dead SE forked) is killed. Every event is logged, with
# NAME, in $TB/log/se-watch.log, so a crash or a hang is seen, not hidden (scripts/gotest.sh and scripts/faults.sh
# read it).
set -uo pipefail
TB=$1 NAME=$2 PIDFILE=$3 ROOT_PORT=$4 HTTP_PORT=$5 XRD_USER=$6
shift 6
START=("$@")
LOG=$TB/log/se-watch.log
now() { date -u +%FT%TZ; }
sepid() { cat "$PIDFILE" 2>/dev/null; }
alive() {
	local pid; pid=$(sepid) || return 1
	kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}
. "$(dirname "${BASH_SOURCE[0]}")/se-answer.sh"
answers() { se_answers "$ROOT_PORT" "$HTTP_PORT" 10; }
free_ports() { # kill what still listens on the SE's ports as XRD_USER (never another user's process)
	local p pid
	for p in "$ROOT_PORT" "$HTTP_PORT"; do
		for pid in $(ss -Hltnp "sport = :$p" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
			[ "$(stat -c %U "/proc/$pid" 2>/dev/null)" = "$XRD_USER" ] || continue
			printf '%s %s SE port %s still held by pid %s (%s): killed\n' "$(now)" "$NAME" "$p" "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)"
			kill -9 "$pid" 2>/dev/null
		done
	done
}
restart() {
	free_ports
	"${START[@]}" && printf '%s %s SE restarted\n' "$(now)" "$NAME"
}
hung() { # pid: record the threads, kill
	local pid=$1 f
	f=$TB/log/se-hang-$NAME-$(date -u +%Y%m%dT%H%M%SZ).txt
	if command -v gdb >/dev/null; then
		timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt 12' >"$f" 2>&1
		printf '%s %s SE (pid %s) hung: no answer on ports %s/%s for 30 s; threads in %s; killed\n' "$(now)" "$NAME" "$pid" "$ROOT_PORT" "$HTTP_PORT" "$f"
	else
		printf '%s %s SE (pid %s) hung: no answer on ports %s/%s for 30 s; killed (no gdb for its threads)\n' "$(now)" "$NAME" "$pid" "$ROOT_PORT" "$HTTP_PORT"
	fi
	kill -9 "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
silent=0 tick=0
while sleep 1; do
	if ! alive; then
		sleep 1; alive && continue # a pid file being rewritten
		{
			printf '%s %s SE not running; kernel says: %s\n' "$(now)" "$NAME" "$(dmesg 2>/dev/null | grep -i 'xrootd.*segfault' | tail -1)"
			restart
		} >>"$LOG" 2>&1
		silent=0
		continue
	fi
	tick=$((tick + 1))
	[ $((tick % 5)) = 0 ] || continue
	if answers; then silent=0; continue; fi
	silent=$((silent + 1))
	[ "$silent" -ge 3 ] || continue
	{ hung "$(sepid)"; restart; } >>"$LOG" 2>&1
	silent=0
done
