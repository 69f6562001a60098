# second-se.sh — sourced by testbed/partner/up.sh and testbed/misconf/up.sh: start one more XRootD SE of the
# testbed (idempotent), as the main SE runs: in a private mount namespace with the test CA in the system bundle
# (scitokens-cpp fetches the issuer's keys trusting only that file), forced onto loopback by the bind shim,
# refused if it listens anywhere else. The caller defines say, die, elapsed, listening, TB, XRD_USER, CHANGED,
# ROOT_PORT and HTTP_PORT, and has written the configuration.
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

	(cd "$dir/run" && setsid unshare -m -- sh -c 'mount --bind "$1" /etc/ssl/certs/ca-certificates.crt && shift && exec "$@"' _ \
		"$TB/etc/ca-bundle.pem" env LD_PRELOAD="$TB/bin/bindlo.so" XDG_CACHE_HOME="$dir/cache" \
		X509_CERT_DIR="$TB/certificates" X509_VOMS_DIR="$TB/vomsdir" \
		xrootd -I v4 -b -R "$XRD_USER" -n "$name" -c "$dir/etc/$name.cfg" -l "$dir/log/xrootd.log" -s "$pidf" \
		</dev/null >/dev/null 2>&1 8>&- 9>&-)

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
}

second_se_alive() { # pidfile
	[ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$(cat "$1")/status" 2>/dev/null
}
