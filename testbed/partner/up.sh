#!/usr/bin/env bash
# up.sh — start the testbed's partner storage element (idempotent), on loopback only:
#   * a second XRootD 5.5.3 SE, root(s)://localhost:11194 + https://localhost:18543 (XrdHttp/WebDAV),
#     the third-party-copy partner of the main SE (testbed/up.sh: 11094/18443).
# It has its own host certificate (signed by the testbed CA, OU=Partner), its own VO area and reference
# file (1 MiB, different content from the main SE's), its own macaroon secret, and the same token issuer,
# VOMS set-up and authorization rules as the main SE. Third-party copy is on: HTTP-TPC (XrdHttpTPC) and
# root:// TPC (ofs.tpc, xrdcp --server, delegated credentials: see testbed/partner/NOTES.md).
# Needs the main testbed's CA, CA bundle, bind shim and issuer (testbed/up.sh runs this script after
# starting them). State in ${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}/partner; the server log is
# partner/log/partner/xrootd.log. testbed/env prints GRIDPROBE_PARTNER_* for clients.
set -euo pipefail
umask 022

T0=$(date +%s%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
P="$TB/partner"
ROOT_PORT=11194
HTTP_PORT=18543
ISSUER_URL="https://localhost:18444"
SITENAME=T1_LOCAL_Partner
XRD_USER=xrootd
DAY=86400

say() { printf 'testbed/partner: %s\n' "$*"; }
die() { printf 'testbed/partner: ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( ($(date +%s%N) - T0) / 1000000 )) ms"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

[ "$(id -u)" = 0 ] || die "run as root (xrootd is started with -R ${XRD_USER})"
for f in "$TB/ca/ca.pem" "$TB/ca/ca.key" "$TB/etc/ca-bundle.pem" "$TB/bin/bindlo.so" "$TB/etc/authdb"; do
	[ -s "$f" ] || die "no $f: run testbed/up.sh first"
done
dpkg-query -W -f='${db:Status-Status}' xrootd-server 2>/dev/null | grep -qx installed || die "xrootd-server not installed (testbed/up.sh installs it)"

mkdir -p "$P"/{host,etc,data,run,log,cache}
exec 8>"$P/.up.lock"   # one partner/up.sh at a time (the server is started with 8>&-)
flock -w 120 8 || die "another testbed/partner/up.sh holds $P/.up.lock"
chmod 0755 "$P" "$P"/{host,etc,log}
chown "$XRD_USER:" "$P"/{data,run,log,cache}
CHANGED=0

# ---------------------------------------------------------------- host certificate (from the test CA)
CERT="$P/host/hostcert.pem" KEY="$P/host/hostkey.pem"
if ! { [ -s "$CERT" ] && openssl x509 -in "$CERT" -noout -checkend $DAY >/dev/null 2>&1 &&
	openssl verify -CAfile "$TB/ca/ca.pem" "$CERT" >/dev/null 2>&1; }; then
	say "issuing the partner host certificate for localhost from the test CA"
	openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$KEY" -out "$P/host/host.csr" \
		-subj "/DC=org/DC=gridprobe/OU=Partner/CN=localhost" 2>/dev/null
	printf '%s\n' 'basicConstraints=critical,CA:false' 'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid' \
		'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth,clientAuth' \
		'subjectAltName=DNS:localhost,IP:127.0.0.1' >"$P/host/host.ext"
	openssl x509 -req -sha256 -days 365 -in "$P/host/host.csr" -CA "$TB/ca/ca.pem" -CAkey "$TB/ca/ca.key" \
		-set_serial "0x$(openssl rand -hex 12)" -extfile "$P/host/host.ext" -out "$CERT" 2>/dev/null
	rm -f "$P/host/host.csr" "$P/host/host.ext"
	CHANGED=1
fi
chown "$XRD_USER:" "$CERT" "$KEY"; chmod 0644 "$CERT"; chmod 0400 "$KEY"

# Own macaroon secret (a partner at another site does not share the main SE's).
if [ ! -s "$P/etc/macaroon-secret" ]; then
	openssl rand -base64 -out "$P/etc/macaroon-secret" 64
	CHANGED=1
fi
chown "$XRD_USER:" "$P/etc/macaroon-secret"; chmod 0600 "$P/etc/macaroon-secret"

# ---------------------------------------------------------------- data
# 1 MiB of deterministic content that differs from the main SE's reference file (a copy of the wrong
# file shows in the checksum): 32768 lines "gridprobe partner line NNNNNNNN\n".
REF="$P/data/testvo/reference.dat"
mkdir -p "$P/data/testvo/readonly" "$P/data/testvo/gridprobe" "$P/data/othervo"
gen_ref() { seq -f 'gridprobe partner line %08g' 0 32767; }
[ "$(stat -c %s "$REF" 2>/dev/null || echo 0)" = 1048576 ] || gen_ref >"$REF"
[ -s "$P/data/testvo/readonly/reference.dat" ] || cp "$REF" "$P/data/testvo/readonly/reference.dat"
[ -s "$P/data/othervo/reference.dat" ] || gen_ref | tr 'a-z' 'A-Z' >"$P/data/othervo/reference.dat"
chown -R "$XRD_USER:" "$P/data"
if [ ! -s "$P/etc/reference.env" ] || [ "$REF" -nt "$P/etc/reference.env" ]; then
	printf 'PARTNER_REF_ADLER32=%s\nPARTNER_REF_SIZE=%s\n' "$(xrdadler32 "$REF" | awk '{print $1}')" "$(stat -c %s "$REF")" \
		>"$P/etc/reference.env"
fi

# ---------------------------------------------------------------- configs
put_cfg() { # FILE < content: replace FILE only when the content differs (then the server restarts)
	local tmp
	tmp=$(mktemp "$1.XXXXXX")
	cat >"$tmp"
	chmod 0644 "$tmp"
	if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; CHANGED=1; fi
}
put_cfg "$P/etc/authdb" <"$TB/etc/authdb"
put_cfg "$P/etc/scitokens.cfg" <<EOF
[Global]
onmissing = passthrough
audience_json = ["https://localhost:${HTTP_PORT}", "roots://localhost:${ROOT_PORT}", "root://localhost:${ROOT_PORT}", "localhost:${ROOT_PORT}"]

[Issuer testbed]
issuer = ${ISSUER_URL}
base_path = /testvo
default_user = ${XRD_USER}
EOF
put_cfg "$P/etc/partner.cfg" <<EOF
# gridprobe testbed partner storage element (generated by testbed/partner/up.sh)
all.role server
all.export /
all.sitename ${SITENAME}
all.adminpath ${P}/run
all.pidpath ${P}/run
oss.localroot ${P}/data
xrootd.chksum adler32

xrd.port ${ROOT_PORT}
xrd.protocol XrdHttp:${HTTP_PORT} libXrdHttp.so
xrd.tls ${P}/host/hostcert.pem ${P}/host/hostkey.pem
xrd.tlsca certdir ${TB}/certificates
xrootd.tls capable all

xrootd.seclib libXrdSec.so
sec.protocol ztn
sec.protocol gsi -certdir:${TB}/certificates -cert:${P}/host/hostcert.pem -key:${P}/host/hostkey.pem -crldir:${TB}/certificates -crl:1 -vomsfun:libXrdVoms.so -vomsat:extract -dlgpxy:request -exppxy:=creds
sec.trace authentication

ofs.authorize 1
acc.authdb ${P}/etc/authdb
acc.audit deny grant
ofs.authlib ++ libXrdAccSciTokens.so config=${P}/etc/scitokens.cfg
ofs.authlib ++ libXrdMacaroons.so
scitokens.trace all

http.header2cgi Authorization authz
http.secxtractor libXrdVoms.so
http.exthandler xrdmacaroons libXrdMacaroons.so
macaroons.secretkey ${P}/etc/macaroon-secret
macaroons.trace all

# Third-party copy, configured as on the main SE: HTTP-TPC, and root:// TPC with delegated credentials.
http.exthandler xrdtpc libXrdHttpTPC.so
tpc.trace all
ofs.tpc logok echo autorm fcreds ?gsi =X509_USER_PROXY fcreds ?ztn =BEARER_TOKEN_FILE pgm /usr/bin/xrdcp --server
EOF

# ---------------------------------------------------------------- process
. "$HERE/../lib/second-se.sh"
second_se_up "$P" partner "the partner SE" "$HERE/down.sh"
say "up in $(elapsed): roots://localhost:${ROOT_PORT} + https://localhost:${HTTP_PORT} (${SITENAME})"
