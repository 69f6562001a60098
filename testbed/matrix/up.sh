#!/usr/bin/env bash
# up.sh [RELEASE...] — start the version-matrix storage elements (idempotent).
#
# For each release in releases.conf (default: all; bookworm is the main testbed's SE and is not started
# here), the XRootD storage element from a Debian RELEASE chroot (chroot.sh builds it once) is started
# on its own loopback ports, configured from templates/ exactly like the main testbed SE (testbed/up.sh):
# root(s):// + https/WebDAV, GSI+VOMS, ztn+SciTokens, macaroons. It reuses the main testbed's CA, host
# certificate, VOMS dir, reference data and token issuer: run testbed/up.sh first.
#
# Each server runs in a private mount namespace where its state directory ($TB/matrix/RELEASE) is
# bind-mounted on /srv/gridprobe inside the chroot and the chroot's CA bundle is replaced by system CAs +
# the test CA (scitokens-cpp fetches the issuer's JWKS trusting only that file). The bind shim
# (testbed/shim/bindlo.c) keeps it on 127.0.0.1. Writes $TB/matrix/releases.tsv for the matrix program:
#   release  xrootd-version  root-url  https-url  start-up-ms
set -euo pipefail
umask 022
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
MX="$TB/matrix"
IN=/srv/gridprobe           # the state directory as seen inside the chroot
ISSUER_URL="https://localhost:18444"
say() { printf 'matrix: %s\n' "$*"; }
die() { printf 'matrix: ERROR: %s\n' "$*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(now_ms)

[ "$(id -u)" = 0 ] || die "run as root (chroot, mount namespaces, xrootd -R xrootd)"
[ -s "$TB/etc/reference.env" ] && [ -s "$TB/host/hostcert.pem" ] && [ -s "$TB/bin/bindlo.so" ] ||
	die "no main testbed state in $TB: run testbed/up.sh (make testbed-up) first"
mkdir -p "$MX"
exec 9>"$MX/.up.lock"
flock -w 600 9 || die "another testbed/matrix/up.sh holds $MX/.up.lock"

# releases.conf: name root-port https-port
declare -A ROOTP HTTPP
ORDER=()
while read -r name rp hp _; do
	case $name in '' | \#*) continue ;; esac
	ROOTP[$name]=$rp; HTTPP[$name]=$hp; ORDER+=("$name")
done <"$HERE/releases.conf"
WANT=("$@"); [ ${#WANT[@]} -gt 0 ] || WANT=("${ORDER[@]}")
for r in "${WANT[@]}"; do [ -n "${ROOTP[$r]:-}" ] || die "release $r is not in releases.conf"; done

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { # pidfile
	local pid; [ -s "$1" ] || return 1; pid=$(cat "$1")
	kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}

# ver_ge A B: version A >= B (dpkg ordering)
ver_ge() { dpkg --compare-versions "$1" ge "$2"; }
# render template version: @VAR@ substitution; `?<op><ver> line` kept only when the xrootd version matches.
render() {
	local tpl=$1 ver=$2 line cond rest op v
	while IFS= read -r line || [ -n "$line" ]; do
		if [[ $line =~ ^\?(\>=|\<|=)([0-9][0-9.]*)\ (.*)$ ]]; then
			op=${BASH_REMATCH[1]}; v=${BASH_REMATCH[2]}; rest=${BASH_REMATCH[3]}
			case $op in
			'>=') dpkg --compare-versions "$ver" ge "$v" || continue ;;
			'<') dpkg --compare-versions "$ver" lt "$v" || continue ;;
			'=') [[ $ver == "$v"* ]] || continue ;;
			esac
			line=$rest
		fi
		line=${line//@S@/$IN}
		line=${line//@RELEASE@/$REL}
		line=${line//@XRD_VERSION@/$ver}
		line=${line//@ROOT_PORT@/$RP}
		line=${line//@HTTP_PORT@/$HP}
		line=${line//@SITENAME@/T2_LOCAL_Matrix_$REL}
		line=${line//@ISSUER_URL@/$ISSUER_URL}
		printf '%s\n' "$line"
	done <"$tpl"
}

TSV_TMP=$(mktemp "$MX/releases.tsv.XXXXXX")
# The bookworm column: the main testbed's SE (its start-up time is testbed/up.sh's).
BOOKWORM_VER=$(dpkg-query -W -f='${Version}' xrootd-server 2>/dev/null || echo unknown)
listening 11094 && listening 18443 || die "the main testbed SE (bookworm) is not listening on 11094/18443: run testbed/up.sh"
printf 'bookworm\t%s\troots://localhost:11094\thttps://localhost:18443\t-\n' "$BOOKWORM_VER" >>"$TSV_TMP"

for REL in "${WANT[@]}"; do
	RP=${ROOTP[$REL]}; HP=${HTTPP[$REL]}
	ROOT=$("$HERE/chroot.sh" "$REL") || die "no $REL chroot"
	VER=$(cat "$ROOT/.gridprobe-xrootd-version")
	S="$MX/$REL"
	mkdir -p "$S"/{etc,host,bin,data,run,log,cache}
	XU=$(chroot "$ROOT" id -u xrootd); XG=$(chroot "$ROOT" id -g xrootd)
	CHANGED=0
	# PKI, VOMS dir, macaroon secret, bind shim: copies of the main testbed's (uid of the chroot's xrootd).
	sync_file() { # src dst mode
		if ! cmp -s "$1" "$2"; then install -m "$3" "$1" "$2"; CHANGED=1; fi
	}
	sync_file "$TB/host/hostcert.pem" "$S/host/hostcert.pem" 0644
	sync_file "$TB/host/hostkey.pem" "$S/host/hostkey.pem" 0400
	sync_file "$TB/etc/macaroon-secret" "$S/etc/macaroon-secret" 0600
	sync_file "$TB/etc/ca-bundle.pem" "$S/etc/ca-bundle.pem" 0644
	sync_file "$TB/bin/bindlo.so" "$S/bin/bindlo.so" 0755
	chown "$XU:$XG" "$S/host/hostkey.pem" "$S/host/hostcert.pem" "$S/etc/macaroon-secret"
	rm -rf "$S/certificates.new" "$S/vomsdir.new"
	cp -rL "$TB/certificates" "$S/certificates.new"; cp -rL "$TB/vomsdir" "$S/vomsdir.new"
	for d in certificates vomsdir; do
		if diff -r "$S/$d.new" "$S/$d" >/dev/null 2>&1; then rm -rf "$S/$d.new"; else rm -rf "$S/$d"; mv "$S/$d.new" "$S/$d"; CHANGED=1; fi
	done
	# Data: the same reference files as the main testbed.
	mkdir -p "$S/data/testvo/readonly" "$S/data/testvo/gridprobe" "$S/data/othervo"
	for f in testvo/reference.dat testvo/readonly/reference.dat othervo/reference.dat; do
		cmp -s "$TB/data/$f" "$S/data/$f" || cp "$TB/data/$f" "$S/data/$f"
	done
	chown -R "$XU:$XG" "$S/data" "$S/run" "$S/log" "$S/cache"
	# Configs from the templates.
	for t in xrootd.cfg scitokens.cfg authdb; do
		render "$HERE/templates/$t" "$VER" >"$S/etc/$t.new"
		if cmp -s "$S/etc/$t.new" "$S/etc/$t"; then rm -f "$S/etc/$t.new"; else mv "$S/etc/$t.new" "$S/etc/$t"; CHANGED=1; fi
	done
	chmod 0644 "$S/etc/"{xrootd.cfg,scitokens.cfg,authdb}

	PIDF="$S/run/xrootd.pid"
	if alive "$PIDF" && listening "$RP" && listening "$HP" && [ "$CHANGED" = 0 ]; then
		say "$REL (xrootd $VER) already up on roots://localhost:$RP + https://localhost:$HP"
		printf '%s\t%s\troots://localhost:%s\thttps://localhost:%s\t%s\n' "$REL" "$VER" "$RP" "$HP" "$(cat "$S/run/startup-ms" 2>/dev/null || echo -)" >"$S/run/row.tsv"
		continue
	fi
	"$HERE/down.sh" --quiet "$REL"
	for p in "$RP" "$HP"; do
		if listening "$p"; then ss -Hltnp "sport = :$p" >&2; die "port $p (release $REL) is in use by a process this script did not start"; fi
	done
	rm -rf "$S/cache/"* "$S/run/"*
	rm -rf "$S/log/prev"; mkdir -p "$S/log/prev"; [ -d "$S/log/$REL" ] && mv "$S/log/$REL" "$S/log/prev/"
	chown "$XU:$XG" "$S/run" "$S/log" "$S/cache"
	mkdir -p "$ROOT$IN"
	TS=$(now_ms)
	# Private mount namespace: /dev, /proc, the state dir and the CA bundle, then the chroot's xrootd,
	# daemonized (-b); the namespace lives as long as the daemon.
	(cd / && setsid unshare -m -- sh -c '
		R=$1; S=$2; IN=$3; shift 3
		mount --rbind /dev "$R/dev" && mount -t proc proc "$R/proc" &&
		mount --bind "$S" "$R$IN" && mount --bind /etc/hosts "$R/etc/hosts" &&
		mount --bind "$S/etc/ca-bundle.pem" "$R/etc/ssl/certs/ca-certificates.crt" &&
		exec chroot "$R" "$@"' _ "$ROOT" "$S" "$IN" \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LD_PRELOAD="$IN/bin/bindlo.so" XDG_CACHE_HOME="$IN/cache" \
		X509_CERT_DIR="$IN/certificates" X509_VOMS_DIR="$IN/vomsdir" \
		xrootd -I v4 -b -R xrootd -n "$REL" -c "$IN/etc/xrootd.cfg" -l "$IN/log/xrootd.log" -s "$IN/run/xrootd.pid" \
		</dev/null >"$S/log/start.out" 2>&1 9>&-)
	ok=0
	for ((i = 0; i < 400; i++)); do
		if listening "$RP" && listening "$HP"; then ok=1; break; fi
		if [ "$i" -gt 40 ] && ! alive "$PIDF"; then break; fi
		sleep 0.05
	done
	if [ "$ok" != 1 ]; then
		cat "$S/log/start.out" >&2 || true
		tail -n 40 "$S/log/$REL/xrootd.log" >&2 || true
		die "$REL xrootd did not listen on $RP/$HP (log $S/log/$REL/xrootd.log)"
	fi
	MS=$(( $(now_ms) - TS ))
	echo "$MS" >"$S/run/startup-ms"
	say "$REL (xrootd $VER) up in $MS ms: roots://localhost:$RP + https://localhost:$HP (log $S/log/$REL/xrootd.log)"
	printf '%s\t%s\troots://localhost:%s\thttps://localhost:%s\t%s\n' "$REL" "$VER" "$RP" "$HP" "$MS" >"$S/run/row.tsv"
done

# Nothing of ours may listen on a non-loopback address.
SNAP=$(ss -Hltnp)
for REL in "${WANT[@]}"; do
	PIDF="$MX/$REL/run/xrootd.pid"; pid=$(cat "$PIDF")
	if grep "pid=$pid," <<<"$SNAP" | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):' | grep -q .; then
		grep "pid=$pid," <<<"$SNAP" >&2
		"$HERE/down.sh" --quiet
		die "$REL xrootd listens on a non-loopback address; stopped everything"
	fi
done
# releases.tsv: bookworm + every release of releases.conf whose server runs (also those not named on this
# command line), in releases.conf order.
for REL in "${ORDER[@]}"; do
	S="$MX/$REL"
	if alive "$S/run/xrootd.pid" && [ -s "$S/run/row.tsv" ]; then cat "$S/run/row.tsv" >>"$TSV_TMP"; fi
done
mv "$TSV_TMP" "$MX/releases.tsv"
say "ready in $(( $(now_ms) - T0 )) ms; releases in $MX/releases.tsv"
