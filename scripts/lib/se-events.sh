# se-events.sh — sourced by scripts that run tests against the testbed: what the watchers of the testbed's SEs
# (testbed/lib/se-watch.sh: main, partner, misconf) logged since a mark. XRootD 5.5.3 can crash or hang when clients
# disconnect while it serves them (testbed/KNOWN_ISSUES.md 7); a watcher restarts its SE and logs each crash or hang.
SE_WATCH_LOG=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}/log/se-watch.log
# se_mark prints the watcher log's current length (a mark for se_events).
se_mark() { if [ -f "$SE_WATCH_LOG" ]; then wc -l <"$SE_WATCH_LOG"; else echo 0; fi; }
# se_events MARK prints what the watcher logged after MARK (empty: the SE neither crashed nor hung).
se_events() { tail -n "+$(($1 + 1))" "$SE_WATCH_LOG" 2>/dev/null; }

# se_ports prints "ROOT_PORT HTTP_PORT" of every SE a watcher watches (from the watchers' command lines).
se_ports() {
	pgrep -af 'testbed/lib/se-watch.sh' 2>/dev/null | awk '{print $7, $8}'
}

. "$(dirname "${BASH_SOURCE[0]}")/../../testbed/lib/se-answer.sh"

# se_settle: after a failed run, wait (at most 75 s) while some SE does not answer, so that its watcher, which
# calls an SE hung after 30 s without answers, has logged the event before se_events is read.
se_settle() {
	local i r h quiet
	for i in $(seq 15); do
		quiet=1
		while read -r r h; do
			[ -n "$r" ] && ! se_answers "$r" "$h" 5 && quiet=0
		done < <(se_ports)
		[ "$quiet" = 1 ] && return 0
		sleep 5
	done
}
