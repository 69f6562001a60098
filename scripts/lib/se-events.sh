# se-events.sh — sourced by scripts that run tests against the testbed: what the watchers of the testbed's SEs
# (testbed/lib/se-watch.sh: main, partner, misconf) logged since a mark. XRootD 5.5.3 can crash or hang when clients
# disconnect while it serves them (testbed/KNOWN_ISSUES.md 7); a watcher restarts its SE and logs each crash or hang.
SE_WATCH_LOG=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}/log/se-watch.log
# se_mark prints the watcher log's current length (a mark for se_events).
se_mark() { if [ -f "$SE_WATCH_LOG" ]; then wc -l <"$SE_WATCH_LOG"; else echo 0; fi; }
# se_events MARK prints what the watcher logged after MARK (empty: the SE neither crashed nor hung).
se_events() { tail -n "+$(($1 + 1))" "$SE_WATCH_LOG" 2>/dev/null; }
