# second-se.sh — sourced by testbed/partner/up.sh and testbed/misconf/up.sh: start one more XRootD SE of the
# testbed (idempotent) with lib/second-se-start.sh, refused if it listens anywhere but loopback, and its watcher
# (lib/se-watch.sh). The caller defines say, die, elapsed, listening, TB, XRD_USER, CHANGED, ROOT_PORT and
# HTTP_PORT, and has written the configuration.
#
# second_se_up DIR NAME WHAT DOWN_SCRIPT [FILE…]: DIR holds etc/NAME.cfg, run/, cache/ and log/; WHAT names the SE
# in messages ("the partner SE"); FILEs, when newer than the running server, make it restart (besides the CA
# bundle and the shim, which always do).
second_se_up() {
	local dir=$1 name=$2 what=$3 down=$4 pidf=$1/run/xrootd.pid f p i pid
	shift 4
	if second_se_alive "$pidf"; then
		for f in "$TB/etc/ca-bundle.pem" "$TB/bin/bindlo.so" "$@"; do
			[ "$f" -nt "$pidf" ] && CHANGED=1
		done
	fi
	if second_se_alive "$pidf" && listening "$ROOT_PORT" && listening "$HTTP_PORT" && [ "$CHANGED" = 0 ]; then
		second_se_watch "$dir" "$name"
		say "already up; checked in $(elapsed)"
		exit 0
	fi
	"$down" --quiet
	for p in $ROOT_PORT $HTTP_PORT; do
		for ((i = 0; i < 200; i++)); do listening "$p" || break; sleep 0.05; done
		listening "$p" && { ss -Hltnp "sport = :$p" >&2; die "port $p is already in use by a process this testbed did not start"; }
	done
	rm -rf "$dir/cache/"* "$dir/run/"*
	rm -rf "$dir/log/prev"; mkdir -p "$dir/log/prev"
	[ -e "$dir/log/$name" ] && mv "$dir/log/$name" "$dir/log/prev/"
	mkdir -p "$dir/log/$name"; chown "$XRD_USER:" "$dir/log/$name"

	"$(dirname "${BASH_SOURCE[0]}")/second-se-start.sh" "$TB" "$XRD_USER" "$dir" "$name"

	for p in $ROOT_PORT $HTTP_PORT; do
		for ((i = 0; i < 200; i++)); do
			listening "$p" && break
			if [ "$i" -gt 10 ] && ! second_se_alive "$pidf"; then break; fi
			sleep 0.05
		done
		listening "$p" || { tail -n 40 "$dir/log/$name/xrootd.log" >&2 || true; die "$what did not listen on port $p"; }
	done
	pid=$(cat "$pidf")
	if ss -Hltnp | grep "pid=$pid," | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):' | grep -q .; then
		"$down" --quiet
		die "$what listens on a non-loopback address; stopped it"
	fi
	second_se_watch "$dir" "$name"
}

# second_se_watch DIR NAME: start the SE's watcher (lib/se-watch.sh), which restarts it when it crashes or hangs
# (KNOWN_ISSUES 7); its down script stops the watcher first.
second_se_watch() {
	local lib
	lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	. "$lib/watch.sh"
	se_watch_start "$TB" "$2" "$1/run/xrootd.pid" "$ROOT_PORT" "$HTTP_PORT" "$XRD_USER" "$lib/second-se-start.sh" "$TB" "$XRD_USER" "$1" "$2"
}

second_se_alive() { # pidfile
	[ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$(cat "$1")/status" 2>/dev/null
}
