#!/usr/bin/env bash
# up.sh [--no-ce|--ce-only] [RELEASE...] — start the version-matrix servers (idempotent).
#
# Storage elements:
# For each release in releases.conf (default: all; bookworm is the main testbed's SE and is not started
# here), the XRootD storage element from a Debian RELEASE chroot (chroot.sh builds it once) is started
# on its own loopback ports, configured from templates/ exactly like the main testbed SE (testbed/up.sh):
# root(s):// + https/WebDAV, GSI+VOMS, ztn+SciTokens, macaroons. It reuses the main testbed's CA, host
# certificate, VOMS dir, reference data and token issuer: run testbed/up.sh first.
#
# Each server runs in a private mount namespace where its state directory ($TB/matrix/RELEASE) is
# bind-mounted on /srv/gridprobe inside the chroot and the chroot's CA bundle is replaced by system CAs +
# the test CA (scitokens-cpp fetches the issuer's JWKS trusting only that file). The bind shim
# (testbed/shim/bindlo.c) keeps it on 127.0.0.1.
#
# Compute elements (releases.conf lines `arc` and `condor`), beside the testbed's own (testbed/ce/up.sh:
# bookworm ARC 6.17 on 18450, trixie HTCondor 23.9.6 on 9619, which are the reference columns):
#   * ARC A-REX from the RELEASE chroot (chroot.sh RELEASE arc), configured from templates/arc.conf, its
#     two daemons each in a private mount namespace with the test CA and VOMS dir bind-mounted on
#     /etc/grid-security/{certificates,vomsdir} (ARC fetches the token issuer's keys trusting only that
#     directory) and listening on 127.0.0.1 only (<tcp:Interface> patched into the start script).
#   * HTCondor from the RELEASE chroot (chroot.sh RELEASE condor), configured like an HTCondor-CE from
#     templates/condor.conf + condor.mapfile (NETWORK_INTERFACE = 127.0.0.1, ENABLE_IPV6 = False).
# The CE host certificate is testbed/ce's ($TB/ce/host). An expired token for every CE endpoint is minted
# into $TB/matrix/tokens/ce-expired.jwt (16tkn-access tests it).
#
# Writes $TB/matrix/releases.tsv for the matrix program, one line per server:
#   product  release  version  start-up-ms  url  url2   (product xrootd: url=root, url2=https; arc/condor: url2 "-")
# --no-ce: storage elements only; --ce-only: compute elements only.
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

DO_SE=1 DO_CE=1
case "${1:-}" in
--no-ce) DO_CE=0; shift ;;
--ce-only) DO_SE=0; shift ;;
esac
[ "$(id -u)" = 0 ] || die "run as root (chroot, mount namespaces, xrootd -R xrootd)"
[ -s "$TB/etc/reference.env" ] && [ -s "$TB/host/hostcert.pem" ] && [ -s "$TB/bin/bindlo.so" ] ||
	die "no main testbed state in $TB: run testbed/up.sh (make testbed-up) first"
mkdir -p "$MX"
exec 9>"$MX/.up.lock"
flock -w 600 9 || die "another testbed/matrix/up.sh holds $MX/.up.lock"

# releases.conf: product release port [port2]
declare -A ROOTP HTTPP ARCP CONDORP KNOWN
ORDER=() ARC_ORDER=() CONDOR_ORDER=()
while read -r product name p1 p2 _; do
	case $product in '' | \#*) continue ;; esac
	KNOWN[$name]=1
	case $product in
	xrootd) ROOTP[$name]=$p1; HTTPP[$name]=$p2; ORDER+=("$name") ;;
	arc) ARCP[$name]=$p1; ARC_ORDER+=("$name") ;;
	condor) CONDORP[$name]=$p1; CONDOR_ORDER+=("$name") ;;
	*) die "releases.conf: unknown product $product" ;;
	esac
done <"$HERE/releases.conf"
SEL=("$@")
for r in "${SEL[@]}"; do [ -n "${KNOWN[$r]:-}" ] || die "release $r is not in releases.conf"; done
selected() { # release list...: the releases of the list named on the command line (all when none)
	local r s
	for r in "$@"; do
		if [ ${#SEL[@]} -eq 0 ]; then echo "$r"; continue; fi
		for s in "${SEL[@]}"; do [ "$s" = "$r" ] && echo "$r"; done
	done
	return 0
}
WANT=() WANT_ARC=() WANT_CONDOR=()
if [ "$DO_SE" = 1 ]; then mapfile -t WANT < <(selected "${ORDER[@]}"); fi
if [ "$DO_CE" = 1 ]; then
	mapfile -t WANT_ARC < <(selected "${ARC_ORDER[@]}")
	mapfile -t WANT_CONDOR < <(selected "${CONDOR_ORDER[@]}")
fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# settle PORT...: wait (up to 70 s) until no socket at all uses the port locally. The kernel's ephemeral
# range here starts low (see /proc/sys/net/ipv4/ip_local_port_range), so a client connection of any
# test may hold a matrix port in TIME-WAIT, and xrootd then fails with "address already in use".
settle() {
	local p i
	for p in "$@"; do
		for ((i = 0; i < 140; i++)); do
			[ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] && break
			[ "$i" = 0 ] && say "port $p is held by a closing connection (ephemeral port); waiting for it"
			sleep 0.5
		done
	done
}
alive() { # pidfile
	local pid; [ -s "$1" ] || return 1; pid=$(cat "$1")
	kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}

# ver_ge A B: version A >= B (dpkg ordering)
ver_ge() { dpkg --compare-versions "$1" ge "$2"; }
# render template version: @VAR@ substitution; `?<op><ver> line` kept only when the version of the
# release's package (xrootd-server, nordugrid-arc-arex, minicondor) matches.
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
		line=${line//@VERSION@/$ver}
		line=${line//@ROOT_PORT@/${RP:-}}
		line=${line//@HTTP_PORT@/${HP:-}}
		line=${line//@PORT@/${PORT:-}}
		line=${line//@SITENAME@/T2_LOCAL_Matrix_$REL}
		line=${line//@ISSUER_URL@/$ISSUER_URL}
		printf '%s\n' "$line"
	done <"$tpl"
}

TSV_TMP=$(mktemp "$MX/releases.tsv.XXXXXX")
# The bookworm column: the main testbed's SE (its start-up time is testbed/up.sh's).
BOOKWORM_VER=$(dpkg-query -W -f='${Version}' xrootd-server 2>/dev/null || echo unknown)
if [ "$DO_SE" = 1 ]; then
	listening 11094 && listening 18443 || die "the main testbed SE (bookworm) is not listening on 11094/18443: run testbed/up.sh"
fi
if listening 11094 && listening 18443; then
	printf 'xrootd\tbookworm\t%s\t-\troots://localhost:11094\thttps://localhost:18443\n' "$BOOKWORM_VER" >>"$TSV_TMP"
fi

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
		printf 'xrootd\t%s\t%s\t%s\troots://localhost:%s\thttps://localhost:%s\n' "$REL" "$VER" "$(cat "$S/run/startup-ms" 2>/dev/null || echo -)" "$RP" "$HP" >"$S/run/row.tsv"
		continue
	fi
	"$HERE/down.sh" --quiet "xrootd/$REL"
	for p in "$RP" "$HP"; do
		if listening "$p"; then ss -Hltnp "sport = :$p" >&2; die "port $p (release $REL) is in use by a process this script did not start"; fi
	done
	rm -rf "$S/cache/"* "$S/run/"*
	rm -rf "$S/log/prev"; mkdir -p "$S/log/prev"; [ -d "$S/log/$REL" ] && mv "$S/log/$REL" "$S/log/prev/"
	chown "$XU:$XG" "$S/run" "$S/log" "$S/cache"
	mkdir -p "$ROOT$IN"
	settle "$RP" "$HP"
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
		</dev/null >"$S/log/start.out" 2>&1 9>&-) || true   # a failed start shows below, with its log
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
	printf 'xrootd\t%s\t%s\t%s\troots://localhost:%s\thttps://localhost:%s\n' "$REL" "$VER" "$MS" "$RP" "$HP" >"$S/run/row.tsv"
done

# ---------------------------------------------------------------- compute elements
CE_HOST="$TB/ce/host"
if [ ${#WANT_ARC[@]} -gt 0 ] || [ ${#WANT_CONDOR[@]} -gt 0 ]; then
	[ -s "$CE_HOST/hostcert.pem" ] && [ -s "$CE_HOST/hostkey.pem" ] ||
		die "no CE host certificate in $CE_HOST: run testbed/ce/up.sh (testbed/up.sh starts it)"
	# A validly signed but expired token for every CE of the matrix (16tkn-access: "an expired token is
	# refused"); the reference CEs' audiences too, so one file serves every column. Re-minted every run.
	AUDS="https://localhost:18450,condor://localhost:9619"
	for r in "${ARC_ORDER[@]}"; do AUDS+=",https://localhost:${ARCP[$r]}"; done
	for r in "${CONDOR_ORDER[@]}"; do AUDS+=",condor://localhost:${CONDORP[$r]}"; done
	mkdir -p "$MX/tokens"; chmod 0700 "$MX/tokens"
	"$TB/bin/gridprobe-issuer" mint --keys "$TB/issuer/keys" --out "$MX/tokens/ce-expired.jwt" --sub gridprobe \
		--aud "$AUDS" --scope "compute.create compute.read compute.modify compute.cancel" --iat -2h --nbf -2h --exp -1h ||
		die "cannot mint the expired CE test token"
fi
# The reference columns: the testbed's own CEs (testbed/ce/up.sh).
if [ "$DO_CE" = 1 ]; then
	listening 18450 || die "the testbed's ARC CE (bookworm) is not listening on 18450: run testbed/ce/up.sh"
	listening 9619 || die "the testbed's HTCondor-CE (trixie) is not listening on 9619: run testbed/ce/up.sh"
fi
if listening 18450; then
	ARC_REF_VER=$(dpkg-query -W -f='${Version}' nordugrid-arc-arex 2>/dev/null || echo unknown)
	printf 'arc\tbookworm\t%s\t-\thttps://localhost:18450/arex\t-\n' "$ARC_REF_VER" >>"$TSV_TMP"
fi
if listening 9619; then
	CONDOR_REF_ROOT=${GRIDPROBE_CONDOR_CHROOT:-/var/cache/gridprobe/trixie-condor}
	CONDOR_REF_VER=$(chroot "$CONDOR_REF_ROOT" dpkg-query -W -f='${Version}' minicondor 2>/dev/null || echo unknown)
	printf 'condor\ttrixie\t%s\t-\tcondor://localhost:9619\t-\n' "$CONDOR_REF_VER" >>"$TSV_TMP"
fi

# put_file SRC DST MODE: copy when different; sets CHANGED=1 then.
put_file() { if ! cmp -s "$1" "$2"; then install -m "$3" "$1" "$2"; CHANGED=1; fi; }
# put_rendered TEMPLATE VERSION DST: render, replace DST when different; sets CHANGED=1 then.
put_rendered() {
	render "$1" "$2" >"$3.new"
	if cmp -s "$3.new" "$3"; then rm -f "$3.new"; else chmod 0644 "$3.new"; mv "$3.new" "$3"; CHANGED=1; fi
}

# shellcheck source=../lib/wn-node.sh
. "$HERE/../lib/wn-node.sh"

start_arc() { # REL
	local REL=$1 PORT=${ARCP[$1]} ROOT VER S t
	RP="" HP=""
	ROOT=$("$HERE/chroot.sh" "$REL" arc) || die "no $REL chroot with ARC"
	VER=$(cat "$ROOT/.gridprobe-arc-version")
	S="$MX/arc-$REL"
	# The fork jobs run in the chroot: it is their worker node (probe wn).
	wn_node_files "$TB/certificates" "$ROOT"
	mkdir -p "$S"/{host,run,log,control,session,tmp,bin}
	chmod 0755 "$S" "$S"/{run,log,control,session,bin}
	chmod 1777 "$S/tmp"
	CHANGED=0
	put_file "$CE_HOST/hostcert.pem" "$S/host/hostcert.pem" 0644
	put_file "$CE_HOST/hostkey.pem" "$S/host/hostkey.pem" 0600
	rm -rf "$S/certificates.new" "$S/vomsdir.new"
	cp -rL "$TB/certificates" "$S/certificates.new"; cp -rL "$TB/vomsdir" "$S/vomsdir.new"
	for d in certificates vomsdir; do
		if diff -r "$S/$d.new" "$S/$d" >/dev/null 2>&1; then rm -rf "$S/$d.new"; else rm -rf "$S/$d"; mv "$S/$d.new" "$S/$d"; CHANGED=1; fi
	done
	# A pre-made (RFC 7919) DH group, or the start script makes a 4096-bit one in the background.
	[ -s "$S/control/dhparam.pem" ] ||
		(umask 077; openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out "$S/control/dhparam.pem")
	# The release's own start scripts, with one change: the generated XML listens on 127.0.0.1 only.
	for t in arc-arex-start arc-arex-ws-start; do
		sed 's#<tcp:Listen><tcp:Port>#<tcp:Listen><tcp:Interface>127.0.0.1</tcp:Interface><tcp:Port>#g' \
			"$ROOT/usr/share/arc/$t" >"$S/bin/$t.new"
		chmod 0755 "$S/bin/$t.new"
		if cmp -s "$S/bin/$t.new" "$S/bin/$t"; then rm -f "$S/bin/$t.new"; else mv "$S/bin/$t.new" "$S/bin/$t"; CHANGED=1; fi
	done
	grep -q '<tcp:Interface>127.0.0.1' "$S/bin/arc-arex-ws-start" || die "could not patch $REL arc-arex-ws-start to bind 127.0.0.1"
	put_rendered "$HERE/templates/arc.conf" "$VER" "$S/arc.conf"
	local ws_pid="$S/run/arched-arex-ws.pid" gm_pid="$S/run/arched-arex.pid"
	if [ "$CHANGED" = 0 ] && alive "$ws_pid" && alive "$gm_pid" && listening "$PORT"; then
		say "$REL ARC ($VER) already up on https://localhost:$PORT/arex"
		printf 'arc\t%s\t%s\t%s\thttps://localhost:%s/arex\t-\n' "$REL" "$VER" "$(cat "$S/run/startup-ms" 2>/dev/null || echo -)" "$PORT" >"$S/row.tsv"
		return 0
	fi
	"$HERE/down.sh" --quiet "arc/$REL"
	if listening "$PORT"; then ss -Hltnp "sport = :$PORT" >&2; die "port $PORT ($REL ARC) is in use by a process this script did not start"; fi
	rm -f "$S/row.tsv" "$S/control/info.xml"
	for f in arex.log ws-interface.log infoprovider.log start.log; do [ -e "$S/log/$f" ] && mv "$S/log/$f" "$S/log/$f.prev"; done
	mkdir -p "$ROOT$IN" "$ROOT/etc/grid-security/certificates" "$ROOT/etc/grid-security/vomsdir"
	settle "$PORT"
	local TS; TS=$(now_ms)
	# Each daemon in a private mount namespace: the chroot's /proc and /dev, the state dir on $IN, the test
	# CA and VOMS dir over /etc/grid-security/{certificates,vomsdir}. They vanish with the daemon.
	for t in arc-arex-start arc-arex-ws-start; do
		(cd / && exec setsid unshare -m --propagation private -- sh -c '
			R=$1; S=$2; IN=$3; shift 3
			mount -t proc proc "$R/proc" && mount --rbind /dev "$R/dev" &&
			mount --bind "$S" "$R$IN" &&
			mount --bind "$S/certificates" "$R/etc/grid-security/certificates" &&
			mount --bind "$S/vomsdir" "$R/etc/grid-security/vomsdir" &&
			exec chroot "$R" "$@"' _ "$ROOT" "$S" "$IN" \
			env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ARC_CONFIG="$IN/arc.conf" X509_VOMS_DIR="$IN/vomsdir" "$IN/bin/$t" \
) </dev/null >>"$S/log/start.log" 2>&1 9>&- &
	done
	local i
	for ((i = 0; i < 600; i++)); do
		listening "$PORT" && alive "$gm_pid" && break
		sleep 0.05
	done
	if ! listening "$PORT" || ! alive "$gm_pid"; then
		tail -n 30 "$S/log/start.log" "$S/log/ws-interface.log" "$S/log/arex.log" >&2 || true
		"$HERE/down.sh" --quiet "arc/$REL"
		die "$REL ARC did not start (logs in $S/log)"
	fi
	# GET /rest/1.0/info serves what the info provider last wrote: wait for its first document.
	for ((i = 0; i < 1800; i++)); do
		[ -s "$S/control/info.xml" ] && break
		sleep 0.05
	done
	[ -s "$S/control/info.xml" ] || { tail -n 20 "$S/log/infoprovider.log" >&2 || true; "$HERE/down.sh" --quiet "arc/$REL"; die "the $REL ARC info provider wrote no info.xml within 90 s"; }
	local MS=$(( $(now_ms) - TS ))
	echo "$MS" >"$S/run/startup-ms"
	say "$REL ARC ($VER) up in $MS ms: https://localhost:$PORT/arex (queue grid; logs $S/log)"
	printf 'arc\t%s\t%s\t%s\thttps://localhost:%s/arex\t-\n' "$REL" "$VER" "$MS" "$PORT" >"$S/row.tsv"
}

start_condor() { # REL
	local REL=$1 PORT=${CONDORP[$1]} ROOT VER S
	RP="" HP=""
	ROOT=$("$HERE/chroot.sh" "$REL" condor) || die "no $REL chroot with HTCondor"
	VER=$(cat "$ROOT/.gridprobe-condor-version")
	S="$MX/condor-$REL"
	mkdir -p "$S"; chmod 0755 "$S"
	CHANGED=0
	# The daemons fetch the issuer's keys over https trusting the chroot's system bundle: add the test CA.
	if ! cmp -s "$TB/ca/ca.pem" "$ROOT/usr/local/share/ca-certificates/gridprobe-testbed.crt"; then
		install -m 0644 "$TB/ca/ca.pem" "$ROOT/usr/local/share/ca-certificates/gridprobe-testbed.crt"
		chroot "$ROOT" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates in the $REL chroot failed"
		CHANGED=1
	fi
	# The chroot is the test jobs' worker node (probe wn): CA directory and name resolution as on the host.
	wn_node_files "$TB/certificates" "$ROOT"
	# SCITOKENS runs a TLS handshake inside CEDAR: the daemons present the CE host certificate.
	mkdir -p "$ROOT/etc/condor/gridprobe"
	put_file "$CE_HOST/hostcert.pem" "$ROOT/etc/condor/gridprobe/hostcert.pem" 0644
	put_file "$CE_HOST/hostkey.pem" "$ROOT/etc/condor/gridprobe/hostkey.pem" 0600
	put_rendered "$HERE/templates/condor.mapfile" "$VER" "$ROOT/etc/condor/gridprobe.mapfile"
	put_rendered "$HERE/templates/condor.conf" "$VER" "$ROOT/etc/condor/config.d/99-gridprobe.conf"
	local pidf="$S/master.pid"
	if [ "$CHANGED" = 0 ] && alive "$pidf" && listening "$PORT"; then
		say "$REL HTCondor ($VER) already up on condor://localhost:$PORT"
		printf 'condor\t%s\t%s\t%s\tcondor://localhost:%s\t-\n' "$REL" "$VER" "$(cat "$S/startup-ms" 2>/dev/null || echo -)" "$PORT" >"$S/row.tsv"
		return 0
	fi
	"$HERE/down.sh" --quiet "condor/$REL"
	if listening "$PORT"; then ss -Hltnp "sport = :$PORT" >&2; die "port $PORT ($REL HTCondor) is in use by a process this script did not start"; fi
	rm -f "$S/row.tsv"
	rm -rf "$ROOT/var/lib/condor/scitokens-cache/"* "$ROOT/run/condor/"*
	mkdir -p "$ROOT"/{run/condor,run/lock/condor,var/spool/condor,var/lib/condor/execute,var/log/condor,var/lib/condor/scitokens-cache}
	chroot "$ROOT" chown -R condor:condor /run/condor /run/lock/condor /var/lib/condor/scitokens-cache /var/log/condor
	settle "$PORT"
	local TS; TS=$(now_ms)
	# condor_master in the foreground (-f) in a private mount namespace holding the chroot's /proc,
	# /dev/pts and /dev/shm: they disappear with it.
	# exec: no shell stays behind holding this script's output or lock.
	(cd / && exec setsid unshare -m --propagation private -- sh -c '
		R=$1; P=$2
		mount -t proc proc "$R/proc" && mount --bind /dev "$R/dev" && mount -t devpts devpts "$R/dev/pts" -o newinstance,ptmxmode=0666 2>/dev/null
		mount -t tmpfs shm "$R/dev/shm" 2>/dev/null
		echo $$ >"$P"
		exec chroot "$R" /usr/sbin/condor_master -f' _ "$ROOT" "$pidf") </dev/null >>"$S/master.out" 2>&1 9>&- &
	local i
	for ((i = 0; i < 400; i++)); do listening "$PORT" && break; sleep 0.05; done
	listening "$PORT" || { tail -n 30 "$S/master.out" "$ROOT/var/log/condor/MasterLog" >&2 || true; "$HERE/down.sh" --quiet "condor/$REL"; die "$REL HTCondor did not listen on $PORT"; }
	# The schedd must have advertised itself to the collector.
	for ((i = 0; i < 300; i++)); do
		chroot "$ROOT" env _condor_SEC_CLIENT_AUTHENTICATION_METHODS=FS condor_status -schedd -af Name 2>/dev/null | grep -qx localhost && break
		sleep 0.1
	done
	chroot "$ROOT" env _condor_SEC_CLIENT_AUTHENTICATION_METHODS=FS condor_status -schedd -af Name 2>/dev/null | grep -qx localhost ||
		{ tail -n 30 "$ROOT/var/log/condor/SchedLog" "$ROOT/var/log/condor/CollectorLog" >&2 || true; "$HERE/down.sh" --quiet "condor/$REL"; die "the $REL HTCondor schedd did not advertise itself"; }
	local MS=$(( $(now_ms) - TS ))
	echo "$MS" >"$S/startup-ms"
	say "$REL HTCondor ($VER) up in $MS ms: condor://localhost:$PORT (schedd localhost; logs $ROOT/var/log/condor)"
	printf 'condor\t%s\t%s\t%s\tcondor://localhost:%s\t-\n' "$REL" "$VER" "$MS" "$PORT" >"$S/row.tsv"
}

for REL in "${WANT_ARC[@]}"; do start_arc "$REL"; done
for REL in "${WANT_CONDOR[@]}"; do start_condor "$REL"; done

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
if [ ${#WANT_ARC[@]} -gt 0 ] || [ ${#WANT_CONDOR[@]} -gt 0 ]; then
	for pat in arched condor_; do
		if grep "\"$pat" <<<"$SNAP" | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):' | grep -q .; then
			grep "\"$pat" <<<"$SNAP" >&2
			"$HERE/down.sh" --quiet
			die "a $pat process listens on a non-loopback address; stopped everything"
		fi
	done
fi
# Each storage protocol writes below its own directory (matrix-webdav, matrix-xrootd): the engine runs a
# site's services side by side, and WebDAV and XRootD of one release are the same server, so a shared write
# directory would make their scratch areas (same run id) collide. Made with the reference client and the proxy.
if [ "$DO_SE" = 1 ]; then
	for RP in 11094 $(for r in "${ORDER[@]}"; do echo "${ROOTP[$r]}"; done); do
		listening "$RP" || continue
		for d in matrix-webdav matrix-xrootd; do
			XrdSecPROTOCOL=gsi X509_CERT_DIR="$TB/certificates" X509_VOMS_DIR="$TB/vomsdir" X509_USER_PROXY="$TB/proxies/testvo.pem" \
				timeout 30 xrdfs "roots://localhost:$RP" mkdir -p "/testvo/gridprobe/$d" ||
				die "cannot make /testvo/gridprobe/$d on roots://localhost:$RP (xrdfs with the testvo proxy)"
		done
	done
fi
# releases.tsv: the reference servers that listen + every server of releases.conf that runs (also those
# not named on this command line, or left out by --no-ce/--ce-only), in releases.conf order.
for REL in "${ORDER[@]}"; do
	S="$MX/$REL"
	if alive "$S/run/xrootd.pid" && [ -s "$S/run/row.tsv" ]; then cat "$S/run/row.tsv" >>"$TSV_TMP"; fi
done
for REL in "${ARC_ORDER[@]}"; do
	S="$MX/arc-$REL"
	if alive "$S/run/arched-arex-ws.pid" && alive "$S/run/arched-arex.pid" && [ -s "$S/row.tsv" ]; then cat "$S/row.tsv" >>"$TSV_TMP"; fi
done
for REL in "${CONDOR_ORDER[@]}"; do
	S="$MX/condor-$REL"
	if alive "$S/master.pid" && [ -s "$S/row.tsv" ]; then cat "$S/row.tsv" >>"$TSV_TMP"; fi
done
mv "$TSV_TMP" "$MX/releases.tsv"
say "ready in $(( $(now_ms) - T0 )) ms; releases in $MX/releases.tsv"
