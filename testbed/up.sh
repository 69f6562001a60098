#!/usr/bin/env bash
# up.sh — start the gridprobe local testbed (idempotent).
#
# Starts, all on loopback only:
#   * the test token issuer          https://localhost:18444   (gridprobe-issuer)
#   * the XRootD storage element     root(s)://localhost:11094 + https://localhost:18443 (XrdHttp/WebDAV)
#     with its cmsd (server role) subscribed to
#   * the federation redirector      root://localhost:11095 (xrootd manager) + cmsd manager on 11213
#   * the TPC partner SE             root(s)://localhost:11194 + https://localhost:18543 (testbed/partner/up.sh)
#   * a misconfigured SE             root(s)://localhost:11294 + https://localhost:18643 (testbed/misconf/up.sh)
#   then testbed/ce/up.sh (ARC-CE, HTCondor-CE) and testbed/broker/up.sh (RabbitMQ STOMP stomp(s)://localhost:61613/61614)
# State (CA, credentials, data, logs, PID files) lives in ${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}.
# Credentials are generated once and reused; regenerated only when missing or expiring within a day.
# A second run finds everything up and returns at once. `testbed/env` prints the client environment.
set -euo pipefail
umask 022

T0=$(date +%s%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}

SE_ROOT_PORT=11094
SE_HTTP_PORT=18443
RDR_PORT=11095
RDR_CMS_PORT=11213
ISSUER_PORT=18444
ISSUER_URL="https://localhost:${ISSUER_PORT}"
VOMS_URI="localhost:15000"
SITENAME=T2_LOCAL_Testbed
XRD_USER=xrootd
DAY=86400

say() { printf 'testbed: %s\n' "$*"; }
die() { printf 'testbed: ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( ($(date +%s%N) - T0) / 1000000 )) ms"; }

[ "$(id -u)" = 0 ] || die "run as root (xrootd is started with -R ${XRD_USER}; packages may need installing)"

# The kernel's ephemeral range here starts at 1024 (/proc/sys/net/ipv4/ip_local_port_range), so any client
# connection may take a testbed port as its local port, and a server (re)started then fails with "address
# already in use" (seen: the SE watcher's restart, the issuer-outage test's instance on 18544). Reserve the
# testbed's fixed ports from the ephemeral range (ip_local_reserved_ports; listening on them is unaffected).
TESTBED_PORTS=(9619 11094 11095 11194 11213 11294 18443 18444 18450 18543 18544 18545 18643 61613 61614 4369 25672)
reserve_ports() {
	local f=/proc/sys/net/ipv4/ip_local_reserved_ports cur want
	cur=$(cat "$f" 2>/dev/null) || return 0
	want="${cur:+$cur,}$(IFS=,; echo "${TESTBED_PORTS[*]}")" # the kernel merges the list (a bitmap)
	echo "$want" >"$f" 2>/dev/null || say "note: cannot reserve the testbed ports in $f (ephemeral ports may collide with them)"
}
reserve_ports

# ---------------------------------------------------------------- packages
PKGS=(xrootd-server xrootd-server-plugins xrootd-scitokens-plugins xrootd-voms-plugins xrootd-client
      voms-clients davix gfal2-util-scripts gfal2-plugin-http gfal2-plugin-xrootd gfal2-plugin-file python3-gfal2 curl openssl gcc)
ensure_packages() {
	local missing=() p st
	for p in "${PKGS[@]}"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$st" = installed ] || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing missing packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	local i
	for i in 1 2 3 4 5 6; do
		if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
			return 0
		fi
		say "apt-get failed (dpkg lock busy?), retry $i in 10 s"
		sleep 10
	done
	die "could not install: ${missing[*]}"
}
mkdir -p "$TB"
exec 9>"$TB/.up.lock"   # one up.sh at a time per state directory (the servers are started with 9>&-)
flock -w 300 9 || die "another testbed/up.sh holds $TB/.up.lock"
ensure_packages
command -v go >/dev/null || die "go not found in PATH (needed to build the token issuer)"
id "$XRD_USER" >/dev/null 2>&1 || die "user ${XRD_USER} missing (the xrootd-server package creates it)"

mkdir -p "$TB"/{bin,ca,certificates,host,voms,users,untrusted,proxies,vomsdir/testvo,vomsdir/othervo,issuer/keys,etc,run/se,run/rdr,log,data,cache}
chmod 0755 "$TB" "$TB"/{bin,certificates,host,vomsdir,vomsdir/testvo,vomsdir/othervo,etc,run,log}
chmod 0700 "$TB"/{ca,users,untrusted,proxies,issuer,issuer/keys,voms}
chown "$XRD_USER:" "$TB"/{data,run/se,run/rdr,log,cache}

# ---------------------------------------------------------------- credentials
CHANGED=0          # 1 when something the running servers use was (re)generated
SUBJ_BASE="/DC=org/DC=gridprobe"
CA_SUBJ="$SUBJ_BASE/CN=GridProbe Testbed CA"

valid_for() { # file seconds: the certificate exists and is valid for at least that long
	[ -s "$1" ] && openssl x509 -in "$1" -noout -checkend "$2" >/dev/null 2>&1
}

# new_ca dir subject
new_ca() {
	openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
		-keyout "$1/ca.key" -out "$1/ca.pem" -subj "$2" \
		-addext "basicConstraints=critical,CA:true" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" 2>/dev/null
	chmod 0600 "$1/ca.key"
}

# issue cadir name subject ext-lines outdir days: key + cert signed by the CA in cadir
issue() {
	local cadir=$1 name=$2 subj=$3 ext=$4 out=$5 days=${6:-365}
	openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$out/$name.key" -out "$out/$name.csr" -subj "$subj" 2>/dev/null
	printf '%b\n' "$ext" >"$out/$name.ext"
	openssl x509 -req -sha256 -days "$days" -in "$out/$name.csr" -CA "$cadir/ca.pem" -CAkey "$cadir/ca.key" \
		-set_serial "0x$(openssl rand -hex 12)" -extfile "$out/$name.ext" -out "$out/$name.pem" 2>/dev/null
	rm -f "$out/$name.csr" "$out/$name.ext"
	chmod 0600 "$out/$name.key"
}

EXT_COMMON='basicConstraints=critical,CA:false\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid'
EXT_HOST="$EXT_COMMON\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1"
EXT_USER="$EXT_COMMON\nkeyUsage=critical,digitalSignature,keyEncipherment,dataEncipherment\nextendedKeyUsage=clientAuth"
EXT_VOMS="$EXT_COMMON\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth"

# The trusted test CA.
if ! valid_for "$TB/ca/ca.pem" $((30 * DAY)); then
	say "creating test CA"
	rm -rf "$TB/ca" "$TB/certificates" "$TB/host" "$TB/voms" "$TB/users" "$TB/proxies" "$TB/untrusted"
	mkdir -p "$TB"/{ca,certificates,host,voms,users,proxies,untrusted}
	chmod 0700 "$TB"/{ca,users,proxies,untrusted,voms}; chmod 0755 "$TB"/{certificates,host}
	new_ca "$TB/ca" "$CA_SUBJ"
	CHANGED=1
fi
CA_HASH=$(openssl x509 -in "$TB/ca/ca.pem" -noout -subject_hash)

# Hashed CA directory: <hash>.0, .signing_policy, .namespaces and a CRL <hash>.r0.
install -m 0644 "$TB/ca/ca.pem" "$TB/certificates/$CA_HASH.0"
cat >"$TB/certificates/$CA_HASH.signing_policy" <<EOF
access_id_CA      X509         '$CA_SUBJ'
pos_rights        globus        CA:sign
cond_subjects     globus       '"$SUBJ_BASE/*"'
EOF
cat >"$TB/certificates/$CA_HASH.namespaces" <<EOF
TO Issuer "$CA_SUBJ" \\
  PERMIT Subject "$SUBJ_BASE/.*"
EOF
if [ ! -s "$TB/certificates/$CA_HASH.r0" ] || [ "$CHANGED" = 1 ] || [ -n "$(find "$TB/certificates/$CA_HASH.r0" -mtime +7)" ]; then
	: >"$TB/ca/index.txt"
	[ -s "$TB/ca/crlnumber" ] || echo 1000 >"$TB/ca/crlnumber"
	cat >"$TB/ca/ca.cnf" <<EOF
[ca]
default_ca = testca
[testca]
database = $TB/ca/index.txt
crlnumber = $TB/ca/crlnumber
certificate = $TB/ca/ca.pem
private_key = $TB/ca/ca.key
default_md = sha256
default_crl_days = 30
EOF
	openssl ca -gencrl -config "$TB/ca/ca.cnf" -out "$TB/certificates/$CA_HASH.r0" 2>/dev/null
	chmod 0644 "$TB/certificates/$CA_HASH.r0"
	CHANGED=1
fi
install -m 0644 "$TB/ca/ca.pem" "$TB/etc/ca.pem"
# System CAs + the test CA: bind-mounted over /etc/ssl/certs/ca-certificates.crt in the SE's private
# mount namespace, because scitokens-cpp trusts only that file when it fetches the issuer's JWKS.
if [ ! -s "$TB/etc/ca-bundle.pem" ] || [ "$TB/ca/ca.pem" -nt "$TB/etc/ca-bundle.pem" ] ||
	[ /etc/ssl/certs/ca-certificates.crt -nt "$TB/etc/ca-bundle.pem" ]; then
	cat /etc/ssl/certs/ca-certificates.crt "$TB/ca/ca.pem" >"$TB/etc/ca-bundle.pem"
	chmod 0644 "$TB/etc/ca-bundle.pem"
	CHANGED=1
fi

# Host certificate for localhost (server side of the SE and the issuer).
if ! valid_for "$TB/host/hostcert.pem" $DAY; then
	say "creating host certificate for localhost"
	issue "$TB/ca" host "$SUBJ_BASE/CN=localhost" "$EXT_HOST" "$TB/host"
	mv "$TB/host/host.pem" "$TB/host/hostcert.pem"; mv "$TB/host/host.key" "$TB/host/hostkey.pem"
	CHANGED=1
fi
chown "$XRD_USER:" "$TB/host/hostcert.pem" "$TB/host/hostkey.pem"
chmod 0644 "$TB/host/hostcert.pem"; chmod 0400 "$TB/host/hostkey.pem"

# Fake VOMS signer (both VOs) and its .lsc files.
if ! valid_for "$TB/voms/voms.pem" $DAY; then
	say "creating VOMS signer certificate"
	issue "$TB/ca" voms "$SUBJ_BASE/CN=voms.localhost" "$EXT_VOMS" "$TB/voms"
	rm -f "$TB/proxies/"*.pem
fi
VOMS_DN=$(openssl x509 -in "$TB/voms/voms.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
for vo in testvo othervo; do
	mkdir -p "$TB/vomsdir/$vo"; chmod 0755 "$TB/vomsdir/$vo"
	printf '%s\n%s\n' "$VOMS_DN" "$CA_SUBJ" >"$TB/vomsdir/$vo/${VOMS_URI%%:*}.lsc"
	chmod 0644 "$TB/vomsdir/$vo/${VOMS_URI%%:*}.lsc"
done

# User certificates: A (testvo) and B (othervo).
for u in userA:"Test User A" userB:"Test User B"; do
	n=${u%%:*}; cn=${u#*:}
	if ! valid_for "$TB/users/$n.pem" $((2 * DAY)); then
		say "creating user certificate $n"
		issue "$TB/ca" "$n" "$SUBJ_BASE/CN=$cn" "$EXT_USER" "$TB/users"
		rm -f "$TB/proxies/"*.pem
	fi
done

# An untrusted CA (not in certificates/) with its own user, for negative tests.
if ! valid_for "$TB/untrusted/ca.pem" $((30 * DAY)) || ! valid_for "$TB/untrusted/user.pem" $((2 * DAY)); then
	say "creating untrusted CA and user"
	new_ca "$TB/untrusted" "/DC=org/DC=untrusted/CN=Untrusted Testbed CA"
	issue "$TB/untrusted" user "/DC=org/DC=untrusted/CN=Untrusted User" "$EXT_USER" "$TB/untrusted"
	rm -f "$TB/proxies/untrusted.pem"
fi

# Proxies (RFC 3820) with fake VOMS ACs; 7 days, regenerated when less than 2 days remain.
PROXY_H=168
fake_proxy() { # out user [vo] [extra args...]
	local out=$1 user=$2 vo=${3:-}; shift 3 || shift $#
	local args=(-q -rfc -bits 2048 -hours "$PROXY_H" -certdir "$TB/certificates" -cert "$TB/users/$user.pem" -key "$TB/users/$user.key" -out "$out")
	if [ -n "$vo" ]; then
		args+=(-voms "$vo" -fqan "/$vo/Role=NULL/Capability=NULL" -uri "$VOMS_URI" -vomslife "$PROXY_H"
		       -hostcert "$TB/voms/voms.pem" -hostkey "$TB/voms/voms.key")
	fi
	voms-proxy-fake "${args[@]}" "$@" >"$TB/log/voms-proxy-fake.log" 2>&1 ||
		{ cat "$TB/log/voms-proxy-fake.log" >&2; die "voms-proxy-fake failed for $out"; }
	chmod 0600 "$out"
}
if ! valid_for "$TB/proxies/testvo.pem" $((2 * DAY)); then
	say "creating proxies"
	fake_proxy "$TB/proxies/testvo.pem" userA testvo
	fake_proxy "$TB/proxies/othervo.pem" userB othervo
	fake_proxy "$TB/proxies/novoms.pem" userA ""
fi
for p in othervo novoms; do
	valid_for "$TB/proxies/$p.pem" $((2 * DAY)) || die "proxy $p.pem not valid (remove $TB/proxies and rerun)"
done
if [ ! -s "$TB/proxies/expired.pem" ]; then
	# Started 72 h ago, valid 24 h: expired for two days (AC too).
	PROXY_H=24 fake_proxy "$TB/proxies/expired.pem" userA testvo -pastproxy 72:00 -pastac 72:00
	PROXY_H=168
fi
if [ ! -s "$TB/proxies/untrusted.pem" ]; then
	mkdir -p "$TB/untrusted/certdir"
	install -m 0644 "$TB/untrusted/ca.pem" "$TB/untrusted/certdir/$(openssl x509 -in "$TB/untrusted/ca.pem" -noout -subject_hash).0"
	voms-proxy-fake -q -rfc -bits 2048 -hours "$PROXY_H" -certdir "$TB/untrusted/certdir" -cert "$TB/untrusted/user.pem" \
		-key "$TB/untrusted/user.key" -out "$TB/proxies/untrusted.pem" >"$TB/log/voms-proxy-fake.log" 2>&1 ||
		{ cat "$TB/log/voms-proxy-fake.log" >&2; die "voms-proxy-fake failed for untrusted.pem"; }
	chmod 0600 "$TB/proxies/untrusted.pem"
fi

# Issuer: keys, client secret, clients file, TLS (the localhost host cert; root reads it).
if [ ! -s "$TB/issuer/client-secret" ]; then
	(umask 077; openssl rand -hex 24 >"$TB/issuer/client-secret")
fi
chmod 0600 "$TB/issuer/client-secret"
# wlcg.groups:/testvo: the group 16tkn-access asks for (capabilities over groups); "storage.read" without a path:
# the invalid token 16tkn-access must see refused (WLCG profile: a storage scope without a path invalidates the token).
cat >"$TB/issuer/clients.json" <<EOF
{"clients": [{
  "id": "gridprobe",
  "secret_file": "$TB/issuer/client-secret",
  "sub": "gridprobe",
  "scopes": ["storage.read:/", "storage.create:/", "storage.modify:/", "storage.stage:/",
             "compute.read", "compute.create", "compute.modify", "compute.cancel",
             "wlcg", "openid", "offline_access", "wlcg.groups:/testvo",
             "storage.read"]
}]}
EOF
ISSUER_BIN="$TB/bin/gridprobe-issuer"
if [ ! -x "$ISSUER_BIN" ] || [ -n "$(find "$HERE/issuer" -name '*.go' ! -name '*_test.go' -newer "$ISSUER_BIN" | head -1)" ]; then
	say "building token issuer"
	# -trimpath: the same source gives the same binary from any clone, so a fresh clone does not restart a running testbed.
	(cd "$REPO" && go build -trimpath -o "$ISSUER_BIN.new" ./testbed/issuer) || die "go build ./testbed/issuer failed"
	if cmp -s "$ISSUER_BIN.new" "$ISSUER_BIN"; then
		rm -f "$ISSUER_BIN.new"; touch "$ISSUER_BIN"
	else
		mv "$ISSUER_BIN.new" "$ISSUER_BIN"; CHANGED=1
	fi
fi
[ -s "$TB/issuer/keys/rs256.key" ] || CHANGED=1
"$ISSUER_BIN" keygen --keys "$TB/issuer/keys"

# Macaroon secret (owned by xrootd).
if [ ! -s "$TB/etc/macaroon-secret" ]; then
	openssl rand -base64 -out "$TB/etc/macaroon-secret" 64
	CHANGED=1
fi
chown "$XRD_USER:" "$TB/etc/macaroon-secret"; chmod 0600 "$TB/etc/macaroon-secret"

# Bind shim.
if [ ! -s "$TB/bin/bindlo.so" ] || [ "$HERE/shim/bindlo.c" -nt "$TB/bin/bindlo.so" ]; then
	gcc -shared -fPIC -O2 -Wall -o "$TB/bin/bindlo.so" "$HERE/shim/bindlo.c" -ldl || die "cannot build the bind shim"
	chmod 0755 "$TB/bin/bindlo.so"
	CHANGED=1
fi

# ---------------------------------------------------------------- data
REF="$TB/data/testvo/reference.dat"
mkdir -p "$TB/data/testvo/readonly" "$TB/data/testvo/gridprobe" "$TB/data/othervo"
# 1 MiB of deterministic, non-zero content: 32768 lines "gridprobe reference line NNNNNN\n".
gen_ref() { seq -f 'gridprobe reference line %06g' 0 32767; } # 32768 lines x 32 bytes
[ "$(stat -c %s "$REF" 2>/dev/null || echo 0)" = 1048576 ] || gen_ref >"$REF"
[ -s "$TB/data/othervo/reference.dat" ] || gen_ref | tr 'a-z' 'A-Z' >"$TB/data/othervo/reference.dat"
[ -s "$TB/data/testvo/readonly/reference.dat" ] || cp "$REF" "$TB/data/testvo/readonly/reference.dat"
chown -R "$XRD_USER:" "$TB/data"
if [ ! -s "$TB/etc/reference.env" ] || [ "$REF" -nt "$TB/etc/reference.env" ]; then
	REF_ADLER32=$(xrdadler32 "$REF" | awk '{print $1}')
	REF_SIZE=$(stat -c %s "$REF")
	printf 'REF_ADLER32=%s\nREF_SIZE=%s\n' "$REF_ADLER32" "$REF_SIZE" >"$TB/etc/reference.env"
fi

# ---------------------------------------------------------------- configs
# put_cfg FILE < content: replace FILE only when the content differs (then the servers restart).
put_cfg() {
	local tmp
	tmp=$(mktemp "$1.XXXXXX")
	cat >"$tmp"
	chmod 0644 "$tmp"
	if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; CHANGED=1; fi
}
put_cfg "$TB/etc/authdb" <<'EOF'
# acc.authdb of the gridprobe testbed SE. Identities come from VOMS (GSI -vomsat:extract,
# XrdHttp secxtractor): `o <vo>` matches the VO. No user (u) rules: a token that the
# SciTokens plugin does not authorize falls through to this file with sub as user name,
# and must get nothing here. A proxy without VOMS matches nothing.
# More specific paths first: the first matching path prefix wins.
# The group /testvo (a token's wlcg.groups, a VOMS FQAN's group) may do everything in /testvo/gridprobe:
# 16tkn-access shows with it that a token's storage scopes take precedence over its groups (WLCG profile v1.1).
o testvo /testvo/readonly rl /testvo a
o othervo /othervo a
g /testvo /testvo/gridprobe a
EOF

put_cfg "$TB/etc/scitokens.cfg" <<EOF
[Global]
onmissing = passthrough
audience_json = ["https://localhost:${SE_HTTP_PORT}", "roots://localhost:${SE_ROOT_PORT}", "root://localhost:${SE_ROOT_PORT}", "localhost:${SE_ROOT_PORT}"]

[Issuer testbed]
issuer = ${ISSUER_URL}
base_path = /testvo
default_user = ${XRD_USER}
EOF

put_cfg "$TB/etc/se.cfg" <<EOF
# gridprobe testbed storage element (generated by testbed/up.sh)
all.role server
all.manager localhost:${RDR_CMS_PORT}
all.export /
all.sitename ${SITENAME}
all.adminpath ${TB}/run/se
all.pidpath ${TB}/run/se
oss.localroot ${TB}/data
xrootd.chksum adler32

xrd.port ${SE_ROOT_PORT}
xrd.protocol XrdHttp:${SE_HTTP_PORT} libXrdHttp.so
xrd.tls ${TB}/host/hostcert.pem ${TB}/host/hostkey.pem
xrd.tlsca certdir ${TB}/certificates
xrootd.tls capable all

xrootd.seclib libXrdSec.so
sec.protocol ztn
sec.protocol gsi -certdir:${TB}/certificates -cert:${TB}/host/hostcert.pem -key:${TB}/host/hostkey.pem -crldir:${TB}/certificates -crl:1 -vomsfun:libXrdVoms.so -vomsat:extract -dlgpxy:request -exppxy:=creds
sec.trace authentication

ofs.authorize 1
acc.authdb ${TB}/etc/authdb
acc.audit deny grant
ofs.authlib ++ libXrdAccSciTokens.so config=${TB}/etc/scitokens.cfg
ofs.authlib ++ libXrdMacaroons.so
scitokens.trace all

http.header2cgi Authorization authz
http.secxtractor libXrdVoms.so
http.exthandler xrdmacaroons libXrdMacaroons.so
macaroons.secretkey ${TB}/etc/macaroon-secret
macaroons.trace all

# Third-party copy with the partner SE (testbed/partner/up.sh). HTTP-TPC: pull = COPY + Source,
# push = COPY + Destination; TransferHeaderAuthorization is forwarded to the passive side.
http.exthandler xrdtpc libXrdHttpTPC.so
tpc.trace all
# root:// TPC: the destination runs xrdcp --server with the client's delegated credential, a GSI proxy
# (gsi -dlgpxy:request -exppxy:=creds above) or the ztn login token (as BEARER_TOKEN_FILE); see
# testbed/partner/NOTES.md for what works with which client.
ofs.tpc logok echo autorm fcreds ?gsi =X509_USER_PROXY fcreds ?ztn =BEARER_TOKEN_FILE pgm /usr/bin/xrdcp --server
EOF

put_cfg "$TB/etc/se-cmsd.cfg" <<EOF
# cmsd of the testbed SE (server role), subscribed to the redirector
all.role server
all.manager localhost:${RDR_CMS_PORT}
all.export /
all.sitename ${SITENAME}
all.adminpath ${TB}/run/se
all.pidpath ${TB}/run/se
oss.localroot ${TB}/data
EOF

put_cfg "$TB/etc/rdr.cfg" <<EOF
# federation redirector: xrootd + cmsd manager (one file for both)
all.role manager
all.manager localhost:${RDR_CMS_PORT}
all.export /
all.adminpath ${TB}/run/rdr
all.pidpath ${TB}/run/rdr
all.sitename T0_LOCAL_Redirector
xrd.port ${RDR_PORT} if exec xrootd
xrd.port ${RDR_CMS_PORT} if exec cmsd
cms.delay startup 1
# TLS on the redirector too, so roots://localhost:${RDR_PORT} works (token clients need TLS end to end).
# Note: the manager redirects to the SE by IP (127.0.0.1); XrdSecgsi clients check the SE certificate
# CN (localhost) against that and refuse it unless XrdSecGSISRVNAMES=localhost (see KNOWN_ISSUES.md).
xrd.tls ${TB}/host/hostcert.pem ${TB}/host/hostkey.pem
xrd.tlsca certdir ${TB}/certificates
xrootd.tls capable all
EOF

# ---------------------------------------------------------------- processes
# The services up.sh starts: their pid files, ports and logs.
SERVICES="issuer rdr-cmsd rdr-xrootd se-cmsd se-xrootd"
pidfile() {
	case $1 in
	issuer) echo "$TB/run/issuer.pid" ;;
	rdr-cmsd) echo "$TB/run/rdr/cmsd.pid" ;;
	rdr-xrootd) echo "$TB/run/rdr/xrootd.pid" ;;
	se-cmsd) echo "$TB/run/se/cmsd.pid" ;;
	se-xrootd) echo "$TB/run/se/xrootd.pid" ;;
	esac
}
port_of() {
	case $1 in
	issuer) echo $ISSUER_PORT ;; rdr-cmsd) echo $RDR_CMS_PORT ;; rdr-xrootd) echo $RDR_PORT ;;
	se-xrootd) echo "$SE_ROOT_PORT $SE_HTTP_PORT" ;; *) echo "" ;;
	esac
}
alive() { # the PID in the service's pid file runs and is not a zombie (a crashed xrootd lingers as one)
	local f pid; f=$(pidfile "$1"); [ -s "$f" ] || return 1
	pid=$(cat "$f"); kill -0 "$pid" 2>/dev/null || return 1
	! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}
# A TCP connect to 127.0.0.1 (bash /dev/tcp): much faster than ss under gVisor.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
log_of() {
	case $1 in
	issuer) echo "$TB/log/issuer.log" ;;
	rdr-*) echo "$TB/log/rdr/${1#rdr-}.log" ;;
	se-*) echo "$TB/log/se/${1#se-}.log" ;;
	esac
}

all_up=1
for s in $SERVICES; do
	alive "$s" || { all_up=0; break; }
	for p in $(port_of "$s"); do listening "$p" || all_up=0; done
done
# The SE's watcher (lib/se-watch.sh) brings a crashed or hung SE back (KNOWN_ISSUES 7).
. "$HERE/lib/watch.sh"
start_watch() {
	se_watch_start "$TB" se "$TB/run/se/xrootd.pid" "$SE_ROOT_PORT" "$SE_HTTP_PORT" "$XRD_USER" "$HERE/lib/se-start.sh" "$TB" "$XRD_USER"
}
if [ "$all_up" = 1 ] && [ "$CHANGED" = 0 ]; then
	say "already up ($TB); checked in $(elapsed)"
	start_watch
	"$HERE/partner/up.sh" 9>&-   # the TPC partner SE; idempotent
	"$HERE/misconf/up.sh" 9>&-   # the SE misconfigured on purpose (refusal diagnosis); idempotent
	"$HERE/ce/up.sh" 9>&-   # the compute elements (ARC A-REX, HTCondor-CE); idempotent; 9>&-: its daemons must not hold our lock
	"$HERE/broker/up.sh" 9>&-   # the STOMP broker (RabbitMQ); idempotent
	exit 0
fi
if [ "$all_up" = 1 ]; then
	say "credentials or binaries changed: restarting"
fi
"$HERE/down.sh" --quiet

# A stopped server's listening socket can outlive its process for a moment: give ports up to 10 s to clear.
for p in $ISSUER_PORT $SE_ROOT_PORT $SE_HTTP_PORT $RDR_PORT $RDR_CMS_PORT; do
	for ((i = 0; i < 200; i++)); do listening "$p" || break; sleep 0.05; done
	if listening "$p"; then
		ss -Hltnp "sport = :$p" >&2
		die "port $p is already in use by a process this testbed did not start"
	fi
done

rm -rf "$TB/cache/"* "$TB/run/se/"* "$TB/run/rdr/"*
# Keep the previous run's logs in log/prev/; every run starts with fresh logs.
rm -rf "$TB/log/prev"; mkdir -p "$TB/log/prev"
for f in se rdr issuer.log; do [ -e "$TB/log/$f" ] && mv "$TB/log/$f" "$TB/log/prev/"; done
mkdir -p "$TB/log/se" "$TB/log/rdr"; chown "$XRD_USER:" "$TB/log/se" "$TB/log/rdr"

wait_port() { # service port seconds
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		listening "$2" && return 0
		if ! alive "$1" && [ "$i" -gt 10 ]; then break; fi
		sleep 0.05
	done
	echo "---- tail of $(log_of "$1")" >&2
	tail -n 40 "$(log_of "$1")" >&2 || true
	die "$1 did not listen on port $2"
}

# Token issuer (setsid: outlives the shell that ran up.sh).
setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$TB/run/issuer.pid" \
	"$ISSUER_BIN" serve --keys "$TB/issuer/keys" --listen "127.0.0.1:$ISSUER_PORT" --url "$ISSUER_URL" \
	--tls-cert "$TB/host/hostcert.pem" --tls-key "$TB/host/hostkey.pem" --clients "$TB/issuer/clients.json" \
	</dev/null >>"$TB/log/issuer.log" 2>&1 9>&- &

# xrootd/cmsd: run as $XRD_USER, daemonized (-b), forced onto loopback by the bind shim.
XRD_ENV=(env LD_PRELOAD="$TB/bin/bindlo.so" XDG_CACHE_HOME="$TB/cache"
	X509_CERT_DIR="$TB/certificates" X509_VOMS_DIR="$TB/vomsdir")
start_xrd() { # prog instance cfg log pidfile (the log lands in <dir of log>/<instance>/<name of log>)
	(cd "$TB/run" && setsid "${XRD_ENV[@]}" "$1" -I v4 -b -R "$XRD_USER" -n "$2" -c "$3" -l "$4" -s "$5" </dev/null >/dev/null 2>&1 9>&-)
}
start_xrd cmsd rdr "$TB/etc/rdr.cfg" "$TB/log/cmsd.log" "$TB/run/rdr/cmsd.pid"
start_xrd xrootd rdr "$TB/etc/rdr.cfg" "$TB/log/xrootd.log" "$TB/run/rdr/xrootd.pid"
start_xrd cmsd se "$TB/etc/se-cmsd.cfg" "$TB/log/cmsd.log" "$TB/run/se/cmsd.pid"
"$HERE/lib/se-start.sh" "$TB" "$XRD_USER" 9>&-   # in a private mount namespace: see there

wait_port issuer $ISSUER_PORT 10
wait_port rdr-cmsd $RDR_CMS_PORT 10
wait_port rdr-xrootd $RDR_PORT 10
wait_port se-xrootd $SE_ROOT_PORT 10
wait_port se-xrootd $SE_HTTP_PORT 10
for s in $SERVICES; do
	alive "$s" || { tail -n 40 "$(log_of "$s")" >&2 || true; die "$s is not running"; }
done

# The SE's cmsd must have logged in to the manager (federation).
for ((i = 0; i < 200; i++)); do
	grep -q "Primary ${SITENAME} server" "$TB/log/rdr/cmsd.log" 2>/dev/null && break
	sleep 0.05
done
grep -q "Primary ${SITENAME} server" "$TB/log/rdr/cmsd.log" || { tail -n 30 "$TB/log/rdr/cmsd.log" "$TB/log/se/cmsd.log" >&2 || true; die "the SE did not subscribe to the redirector"; }

# Nothing of ours may listen on a non-loopback address (one ss snapshot; ss is slow under gVisor).
SNAP=$(ss -Hltnp)
if awk '{print $4}' <<<"$SNAP" | grep -E '^(0\.0\.0\.0|\*|\[::\]|\[::ffff:0\.0\.0\.0\]):' |
	grep -E ":(${ISSUER_PORT}|${SE_ROOT_PORT}|${SE_HTTP_PORT}|${RDR_PORT}|${RDR_CMS_PORT})$" >/dev/null; then
	echo "$SNAP" >&2
	"$HERE/down.sh" --quiet
	die "a testbed port is bound to a wildcard address; stopped everything"
fi
for s in $SERVICES; do
	pid=$(cat "$(pidfile "$s")")
	if grep "pid=$pid," <<<"$SNAP" | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):' | grep -q .; then
		grep "pid=$pid," <<<"$SNAP" >&2
		"$HERE/down.sh" --quiet
		die "$s listens on a non-loopback address; stopped everything"
	fi
done

start_watch
say "up in $(elapsed): issuer ${ISSUER_URL}, SE roots://localhost:${SE_ROOT_PORT} + https://localhost:${SE_HTTP_PORT}, redirector root://localhost:${RDR_PORT} (cmsd ${RDR_CMS_PORT})"
say "state in $TB; client environment: eval \"\$($HERE/env)\""

# The third-party-copy partner SE (its own host cert from the CA above, the same issuer).
"$HERE/partner/up.sh" 9>&-
# The SE misconfigured on purpose (audience list, base path), for the token checks' refusal diagnosis.
"$HERE/misconf/up.sh" 9>&-

# The compute elements (ARC A-REX, HTCondor-CE from a trixie chroot) need the CA and the issuer above.
"$HERE/ce/up.sh" 9>&-   # its daemons must not inherit the up.sh lock
# The STOMP broker (RabbitMQ) the publisher's tests send results to; it needs only the CA above.
"$HERE/broker/up.sh" 9>&-
