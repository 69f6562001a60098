# stop.sh — sourced by the testbed's down scripts: stop only processes this testbed started, found by
# their PID files and checked against the program name (guards against recycled PIDs).

# pid_is PID PROGRAM: the process is alive and PROGRAM is among the first words of its command line.
pid_is() {
	[ -r "/proc/$1/cmdline" ] || return 1
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | head -3 | grep -q "$2"
}

# stop_pidfiles SECONDS PIDFILE:PROGRAM...: SIGTERM each live one, wait up to SECONDS for all to exit,
# then SIGKILL what is left (its process group first). Removes the PID files. Sets STOPPED to the
# number of processes signalled.
stop_pidfiles() {
	local secs=$1 e f prog pid i left
	local -a live=()
	shift
	for e in "$@"; do
		f=${e%%:*}; prog=${e#*:}
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		if [[ $pid =~ ^[0-9]+$ ]] && pid_is "$pid" "$prog"; then
			kill -TERM "$pid" 2>/dev/null || true
			live+=("$pid:$prog")
		fi
		rm -f "$f"
	done
	STOPPED=${#live[@]}
	for ((i = 0; i < secs * 20; i++)); do
		left=0
		for e in "${live[@]}"; do pid_is "${e%%:*}" "${e#*:}" && left=1; done
		[ "$left" = 0 ] && return 0
		sleep 0.05
	done
	for e in "${live[@]}"; do
		pid=${e%%:*}
		if pid_is "$pid" "${e#*:}"; then
			echo "testbed: ${e#*:} ($pid) ignored SIGTERM; sending SIGKILL" >&2
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}
