#!/usr/bin/env bash
# se-watch.sh TB XRD_USER — bring the testbed SE back when it dies. XRootD 5.5.3 can crash (segfault in
# libXrdServer) when a client disconnects while XrdHttp still serves its request (testbed/KNOWN_ISSUES.md 9):
# without this, one crash would fail every later test of a run. Each respawn is logged with the kernel's
# line, in $TB/log/se-watch.log, so a crash is seen, not hidden. down.sh stops the watcher before the SE.
set -uo pipefail
TB=$1 XRD_USER=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG=$TB/log/se-watch.log
alive() {
	local pid; pid=$(cat "$TB/run/se/xrootd.pid" 2>/dev/null) || return 1
	kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}
while sleep 1; do
	alive && continue
	sleep 1; alive && continue # a pid file being rewritten
	{
		printf '%s SE not running; kernel says: %s\n' "$(date -u +%FT%TZ)" "$(dmesg 2>/dev/null | grep -i 'xrootd.*segfault' | tail -1)"
		"$HERE/se-start.sh" "$TB" "$XRD_USER" && printf '%s SE restarted\n' "$(date -u +%FT%TZ)"
	} >>"$LOG" 2>&1
done
