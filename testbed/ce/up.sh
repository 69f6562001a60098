#!/usr/bin/env bash
# up.sh — start the gridprobe testbed's compute elements (idempotent), on loopback only:
#   * ARC A-REX 6.17 (Debian bookworm nordugrid-arc, fork LRMS), REST at https://localhost:18450/arex,
#     queue "grid"; X.509 (test CA + VOMS testvo) and WLCG tokens from the testbed issuer (RS256).
#   * HTCondor 23.9.6 (Debian trixie minicondor, in a debootstrap chroot built once by chroot.sh),
#     configured like an HTCondor-CE: shared port 127.0.0.1:9619, SCITOKENS, token mapfile, scopes enforced.
# Needs the storage testbed's CA, issuer and proxies (testbed/up.sh): it does not start them.
# State in ${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}/ce; the chroot in
# ${GRIDPROBE_CONDOR_CHROOT:-/var/cache/gridprobe/trixie-condor}. `testbed/ce/env` prints the client environment.
# Options: --arc-only, --condor-only.
set -euo pipefail
umask 022

T0=$(date +%s%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
CE="$TB/ce"
ARC_PORT=18450
CONDOR_PORT=9619
ISSUER_URL="https://localhost:18444"
DAY=86400
DO_ARC=1 DO_CONDOR=1
case "${1:-}" in
--arc-only) DO_CONDOR=0 ;;
--condor-only) DO_ARC=0 ;;
"") ;;
*) echo "usage: $0 [--arc-only|--condor-only]" >&2; exit 2 ;;
esac

say() { printf 'testbed/ce: %s\n' "$*"; }
die() { printf 'testbed/ce: ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( ($(date +%s%N) - T0) / 1000000 )) ms"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

[ "$(id -u)" = 0 ] || die "run as root"
[ -s "$TB/ca/ca.pem" ] && [ -s "$TB/ca/ca.key" ] && [ -d "$TB/certificates" ] ||
	die "no test CA in $TB (run testbed/up.sh first)"

# ---------------------------------------------------------------- packages
PKGS=(nordugrid-arc-arex nordugrid-arc-arcctl nordugrid-arc-client nordugrid-arc-plugins-arcrest
      nordugrid-arc-hed nordugrid-arc-plugins-needed debootstrap)
missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing missing packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	for i in 1 2 3 4 5 6; do
		apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" && break
		[ "$i" = 6 ] && die "could not install: ${missing[*]}"
		say "apt-get failed (dpkg lock busy?), retry $i in 10 s"; sleep 10
	done
fi

mkdir -p "$CE"/{host,etc,log}
chmod 0755 "$CE" "$CE"/{host,etc,log}

# put_cfg FILE < content: replace FILE only when the content differs; returns 1 when it changed.
put_cfg() {
	local tmp
	tmp=$(mktemp "$1.XXXXXX")
	cat >"$tmp"
	chmod 0644 "$tmp"
	if cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 0; fi
	mv "$tmp" "$1"
	return 1
}

# ---------------------------------------------------------------- host certificate (from the test CA)
HOSTCERT="$CE/host/hostcert.pem" HOSTKEY="$CE/host/hostkey.pem"
CERT_CHANGED=0
if ! { [ -s "$HOSTCERT" ] && openssl x509 -in "$HOSTCERT" -noout -checkend $DAY >/dev/null 2>&1 &&
	openssl verify -CAfile "$TB/ca/ca.pem" "$HOSTCERT" >/dev/null 2>&1; }; then
	say "issuing the CE host certificate for localhost from the test CA"
	openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$HOSTKEY" -out "$CE/host/host.csr" \
		-subj "/DC=org/DC=gridprobe/CN=localhost" 2>/dev/null
	printf '%s\n' 'basicConstraints=critical,CA:false' 'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid' \
		'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth,clientAuth' \
		'subjectAltName=DNS:localhost,IP:127.0.0.1' >"$CE/host/host.ext"
	openssl x509 -req -sha256 -days 365 -in "$CE/host/host.csr" -CA "$TB/ca/ca.pem" -CAkey "$TB/ca/ca.key" \
		-set_serial "0x$(openssl rand -hex 12)" -extfile "$CE/host/host.ext" -out "$HOSTCERT" 2>/dev/null
	rm -f "$CE/host/host.csr" "$CE/host/host.ext"
	chmod 0600 "$HOSTKEY"; chmod 0644 "$HOSTCERT"
	CERT_CHANGED=1
fi

# ---------------------------------------------------------------- ARC A-REX
start_arc() {
	local A="$CE/arc" changed=$CERT_CHANGED
	mkdir -p "$A"/{run,log,control,session,tmp,bin}
	chmod 0755 "$A" "$A"/{run,log,control,session,bin}
	chmod 1777 "$A/tmp"
	# A pre-made (RFC 7919) DH group, or the start script makes a 4096-bit one in the background.
	[ -s "$A/control/dhparam.pem" ] ||
		(umask 077; openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out "$A/control/dhparam.pem")
	# The package's start scripts, with one change: the generated XML listens on 127.0.0.1 only
	# (arc.conf has no listen-address option; the TCP component accepts <tcp:Interface>).
	for s in arc-arex-start arc-arex-ws-start; do
		sed 's#<tcp:Listen><tcp:Port>#<tcp:Listen><tcp:Interface>127.0.0.1</tcp:Interface><tcp:Port>#g' \
			"/usr/share/arc/$s" | put_cfg "$A/bin/$s" || changed=1
		chmod 0755 "$A/bin/$s"
	done
	grep -q '<tcp:Interface>127.0.0.1' "$A/bin/arc-arex-ws-start" || die "could not patch arc-arex-ws-start to bind 127.0.0.1"
	put_cfg "$A/arc.conf" <<EOF || changed=1
# gridprobe testbed ARC CE (generated by testbed/ce/up.sh)
[common]
hostname = localhost
x509_host_key = $HOSTKEY
x509_host_cert = $HOSTCERT
x509_cert_dir = $TB/certificates
x509_voms_dir = $TB/vomsdir

# WLCG tokens from the testbed issuer, for this CE as audience, allowed to create jobs.
[authgroup:tokens]
authtokens = * $ISSUER_URL https://localhost:$ARC_PORT compute.create *

# X.509 proxies with a testvo VOMS attribute.
[authgroup:testvo]
voms = testvo * * *

[mapping]
map_to_user = tokens nobody:nogroup
map_to_user = testvo nobody:nogroup
policy_on_nomap = stop

[authtokens]

[lrms]
lrms = fork

[arex]
user = root
loglevel = 3
logfile = $A/log/arex.log
joblog = $A/log/arex-jobs.log
helperlog = $A/log/job.helper.errors
controldir = $A/control
sessiondir = $A/session
tmpdir = $A/tmp
pidfile = $A/run/arched-arex.pid
wakeupperiod = 5

[arex/ws]
wsurl = https://localhost:$ARC_PORT/arex
logfile = $A/log/ws-interface.log
pidfile = $A/run/arched-arex-ws.pid

[arex/ws/jobs]
allowaccess = tokens
allowaccess = testvo

[infosys]
logfile = $A/log/infoprovider.log

[infosys/glue2]
admindomain_name = T2_LOCAL_Testbed

[infosys/cluster]
alias = gridprobe-testbed-arc
advertisedvo = testvo

[queue:grid]
comment = gridprobe testbed fork queue
advertisedvo = testvo
EOF
	local ws_pid="$A/run/arched-arex-ws.pid" gm_pid="$A/run/arched-arex.pid"
	if [ "$changed" = 0 ] && alive "$ws_pid" && alive "$gm_pid" && listening $ARC_PORT; then
		say "ARC already up (https://localhost:$ARC_PORT/arex)"
		return 0
	fi
	"$HERE/down.sh" --quiet --arc-only
	listening $ARC_PORT && { ss -Hltnp "sport = :$ARC_PORT" >&2; die "port $ARC_PORT is in use by a process this testbed did not start"; }
	local t0; t0=$(date +%s%N)
	STARTED+=(arc)
	for f in arex.log ws-interface.log infoprovider.log; do [ -e "$A/log/$f" ] && mv "$A/log/$f" "$A/log/$f.prev"; done
	# Each daemon runs in a private mount namespace in which the test CA directory is bind-mounted
	# over /etc/grid-security/certificates: ARC fetches the token issuer's keys over https trusting
	# only that directory; the VOMS .lsc files are read from /etc/grid-security/vomsdir whatever
	# x509_voms_dir says. Nothing changes outside the namespace.
	for s in arc-arex-start arc-arex-ws-start; do
		setsid unshare -m --propagation private -- sh -c \
			'{ [ -d /etc/grid-security/certificates ] || { mount -t tmpfs gridprobe /etc/grid-security && mkdir /etc/grid-security/certificates; }; } &&
			 mount --bind "$1" /etc/grid-security/certificates &&
			 { [ ! -d /etc/grid-security/vomsdir ] || mount --bind "$2" /etc/grid-security/vomsdir; } && shift 2 && exec "$@"' _ \
			"$TB/certificates" "$TB/vomsdir" env ARC_CONFIG="$A/arc.conf" X509_VOMS_DIR="$TB/vomsdir" "$A/bin/$s" </dev/null >>"$A/log/start.log" 2>&1 &
	done
	local i
	for ((i = 0; i < 400; i++)); do
		listening $ARC_PORT && alive "$gm_pid" && break
		sleep 0.05
	done
	if ! listening $ARC_PORT || ! alive "$gm_pid"; then
		tail -n 30 "$A/log/start.log" "$A/log/ws-interface.log" "$A/log/arex.log" >&2 || true
		die "ARC did not start"
	fi
	# GET /rest/1.0/info serves what the info provider last wrote: wait for its first document.
	for ((i = 0; i < 1200; i++)); do
		[ -s "$A/control/info.xml" ] && break
		sleep 0.05
	done
	[ -s "$A/control/info.xml" ] || { tail -n 20 "$A/log/infoprovider.log" >&2 || true; die "the ARC info provider wrote no info.xml within 60 s"; }
	say "ARC up in $(( ($(date +%s%N) - t0) / 1000000 )) ms: https://localhost:$ARC_PORT/arex (queue grid)"
}

# shellcheck source=../lib/wn-node.sh
. "$HERE/../lib/wn-node.sh"

# ---------------------------------------------------------------- HTCondor (trixie chroot)
CONDOR_ROOT=""
start_condor() {
	CONDOR_ROOT=$("$HERE/chroot.sh") || die "cannot build the HTCondor chroot"
	local R=$CONDOR_ROOT changed=$CERT_CHANGED C="$CE/condor"
	mkdir -p "$C"
	chmod 0755 "$C"
	# The daemons fetch the issuer's keys over https trusting the chroot's system bundle: add the test CA.
	if ! cmp -s "$TB/ca/ca.pem" "$R/usr/local/share/ca-certificates/gridprobe-testbed.crt"; then
		install -m 0644 "$TB/ca/ca.pem" "$R/usr/local/share/ca-certificates/gridprobe-testbed.crt"
		chroot "$R" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates in the chroot failed"
		changed=1
	fi
	# The chroot is also the jobs' worker node: like a site's worker nodes it has the grid CA directory at
	# /etc/grid-security/certificates, and it resolves names as the host does (the testbed SE listens on
	# 127.0.0.1 only; a ::1 localhost line would send the jobs' storage checks to a closed port first).
	# Neither needs a restart.
	wn_node_files "$TB/certificates" "$R"
	# SCITOKENS runs a TLS handshake inside CEDAR: the daemons present the CE host certificate.
	mkdir -p "$R/etc/condor/gridprobe"
	if ! cmp -s "$HOSTCERT" "$R/etc/condor/gridprobe/hostcert.pem" || ! cmp -s "$HOSTKEY" "$R/etc/condor/gridprobe/hostkey.pem"; then
		install -m 0644 "$HOSTCERT" "$R/etc/condor/gridprobe/hostcert.pem"
		install -m 0600 "$HOSTKEY" "$R/etc/condor/gridprobe/hostkey.pem"
		changed=1
	fi
	put_cfg "$R/etc/condor/gridprobe.mapfile" <<EOF || changed=1
# gridprobe testbed: tokens of the testbed issuer for subject gridprobe run as gpuser.
SCITOKENS /^https:\/\/localhost:18444,gridprobe$/ gpuser@users.htcondor.org
EOF
	put_cfg "$R/etc/condor/config.d/99-gridprobe.conf" <<EOF || changed=1
# gridprobe testbed: HTCondor configured like an HTCondor-CE (generated by testbed/ce/up.sh)
NETWORK_HOSTNAME = localhost
NETWORK_INTERFACE = 127.0.0.1
CONDOR_HOST = localhost
USE_SHARED_PORT = True
SHARED_PORT_PORT = $CONDOR_PORT
COLLECTOR_HOST = \$(CONDOR_HOST):$CONDOR_PORT
ENABLE_IPV6 = False
UID_DOMAIN = users.htcondor.org
TRUST_UID_DOMAIN = True

SEC_DEFAULT_AUTHENTICATION = REQUIRED
SEC_DEFAULT_AUTHENTICATION_METHODS = FS, SCITOKENS
SEC_READ_AUTHENTICATION_METHODS = FS, SCITOKENS
SEC_WRITE_AUTHENTICATION_METHODS = FS, SCITOKENS
SEC_CLIENT_AUTHENTICATION_METHODS = FS, SCITOKENS
SCITOKENS_SERVER_AUDIENCE = condor://localhost:$CONDOR_PORT
AUTH_SSL_SERVER_CERTFILE = /etc/condor/gridprobe/hostcert.pem
AUTH_SSL_SERVER_KEYFILE = /etc/condor/gridprobe/hostkey.pem
CERTIFICATE_MAPFILE = /etc/condor/gridprobe.mapfile
CERTIFICATE_MAPFILE_ASSUME_HASH_KEYS = True
SEC_SCITOKENS_CACHE = /var/lib/condor/scitokens-cache
# Like a CE: only mapped token users (and the daemons, root inside the chroot by FS) may write.
ALLOW_READ = *
ALLOW_WRITE = gpuser@users.htcondor.org, condor@users.htcondor.org, root@users.htcondor.org

MOUNT_UNDER_SCRATCH =
NEGOTIATOR_INTERVAL = 1
NEGOTIATOR_CYCLE_DELAY = 1
SCHEDD_INTERVAL = 2
STARTER_UPDATE_INTERVAL = 2
UPDATE_INTERVAL = 2
EOF
	local pidf="$C/master.pid"
	if [ "$changed" = 0 ] && alive "$pidf" && listening $CONDOR_PORT; then
		say "HTCondor already up (condor://localhost:$CONDOR_PORT)"
		return 0
	fi
	"$HERE/down.sh" --quiet --condor-only
	listening $CONDOR_PORT && { ss -Hltnp "sport = :$CONDOR_PORT" >&2; die "port $CONDOR_PORT is in use by a process this testbed did not start"; }
	local t0; t0=$(date +%s%N)
	STARTED+=(condor)
	rm -rf "$R/var/lib/condor/scitokens-cache/"* "$R/run/condor/"*
	mkdir -p "$R"/{run/condor,run/lock/condor,var/spool/condor,var/lib/condor/execute,var/log/condor,var/lib/condor/scitokens-cache}
	chroot "$R" chown -R condor:condor /run/condor /run/lock/condor /var/lib/condor/scitokens-cache /var/log/condor
	# condor_master runs in the foreground (-f) in a private mount namespace holding the chroot's
	# /proc, /dev/pts and /dev/shm: they disappear with it.
	setsid unshare -m --propagation private -- sh -c '
		R=$1; P=$2
		mount -t proc proc "$R/proc" && mount --bind /dev "$R/dev" && mount -t devpts devpts "$R/dev/pts" -o newinstance,ptmxmode=0666 2>/dev/null
		mount -t tmpfs shm "$R/dev/shm" 2>/dev/null
		echo $$ >"$P"
		exec chroot "$R" /usr/sbin/condor_master -f' _ "$R" "$pidf" </dev/null >>"$C/master.out" 2>&1 &
	local i
	for ((i = 0; i < 400; i++)); do
		listening $CONDOR_PORT && break
		sleep 0.05
	done
	listening $CONDOR_PORT || { tail -n 30 "$C/master.out" "$R/var/log/condor/MasterLog" >&2 || true; die "HTCondor did not listen on $CONDOR_PORT"; }
	# The schedd must have advertised itself to the collector.
	for ((i = 0; i < 200; i++)); do
		chroot "$R" env _condor_SEC_CLIENT_AUTHENTICATION_METHODS=FS condor_status -schedd -af Name 2>/dev/null | grep -qx localhost && break
		sleep 0.1
	done
	chroot "$R" env _condor_SEC_CLIENT_AUTHENTICATION_METHODS=FS condor_status -schedd -af Name 2>/dev/null | grep -qx localhost ||
		{ tail -n 30 "$R/var/log/condor/SchedLog" "$R/var/log/condor/CollectorLog" >&2 || true; die "the HTCondor schedd did not advertise itself"; }
	say "HTCondor up in $(( ($(date +%s%N) - t0) / 1000000 )) ms: condor://localhost:$CONDOR_PORT (schedd localhost)"
}

# On failure, stop what this run started (never leave half a testbed running).
STARTED=()
trap 'rc=$?; if [ $rc -ne 0 ]; then for s in "${STARTED[@]}"; do "$HERE/down.sh" --quiet "--$s-only" || true; done; fi' EXIT
# A validly signed but expired token for both CEs (tkn-access: "an expired token is refused").
# Client-credential issuers never hand one out; the testbed issuer's mint command does. Re-minted on
# every run so it always matches the issuer's current key.
mkdir -p "$CE/tokens"; chmod 0700 "$CE/tokens"
ISSUER_BIN="$TB/bin/gridprobe-issuer"
[ -x "$ISSUER_BIN" ] || die "no token issuer binary $ISSUER_BIN (run testbed/up.sh first)"
"$ISSUER_BIN" mint --keys "$TB/issuer/keys" --out "$CE/tokens/expired.jwt" --sub gridprobe \
	--aud "https://localhost:$ARC_PORT,condor://localhost:$CONDOR_PORT" \
	--scope "compute.create compute.read compute.modify compute.cancel" --iat -2h --nbf -2h --exp -1h ||
	die "cannot mint the expired test token"

[ "$DO_ARC" = 1 ] && start_arc
[ "$DO_CONDOR" = 1 ] && start_condor

# Nothing of ours may listen on a non-loopback address.
SNAP=$(ss -Hltnp)
bad=$(awk '{print $4}' <<<"$SNAP" | grep -E ":(${ARC_PORT}|${CONDOR_PORT})$" | grep -vE '^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):' || true)
if [ -n "$bad" ]; then
	echo "$SNAP" >&2
	"$HERE/down.sh" --quiet
	die "a CE port is bound to a non-loopback address ($bad); stopped the CEs"
fi
for pat in arched condor_; do
	if grep "\"$pat" <<<"$SNAP" | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):' | grep -q .; then
		grep "\"$pat" <<<"$SNAP" >&2
		"$HERE/down.sh" --quiet
		die "a $pat process listens on a non-loopback address; stopped the CEs"
	fi
done
say "CEs ready in $(elapsed); client environment: eval \"\$($HERE/env)\""
