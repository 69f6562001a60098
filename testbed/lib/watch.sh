# watch.sh — sourced by the testbed's up and down scripts: start and stop the watcher (lib/se-watch.sh) of one
# of the testbed's XRootD SEs. A watcher's pid is in $TB/run/se-watch-NAME.pid. up scripts start it after the SE
# is up; down scripts stop it before the SE, so it does not bring the SE back.

# se_watch_start TB NAME PIDFILE ROOT_PORT HTTP_PORT XRD_USER START_CMD…: start NAME's watcher unless it runs.
se_watch_start() {
	local tb=$1 name=$2 pidf pid
	pidf=$tb/run/se-watch-$name.pid
	pid=$(cat "$pidf" 2>/dev/null || true)
	if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "se-watch.sh $tb $name "; then return 0; fi
	mkdir -p "$tb/run" "$tb/log"
	setsid "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/se-watch.sh" "$@" </dev/null >/dev/null 2>&1 8>&- 9>&- &
	echo $! >"$pidf"
}

# se_watch_stop TB NAME: stop NAME's watcher (lib/stop.sh must be sourced).
se_watch_stop() {
	stop_pidfiles 2 "$1/run/se-watch-$2.pid:se-watch.sh"
}
