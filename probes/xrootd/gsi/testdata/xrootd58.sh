#!/bin/bash
# xrootd58.sh — run this package's real-server tests against XRootD 5.8.1
# (Debian trixie, in a debootstrap chroot) instead of the 5.5.3 testbed.
# Reuses the testbed's PKI and proxies (testbed/up.sh must have run). The
# server and the tests run in a private network namespace, so the server's
# wildcard bind is reachable from nowhere else; xrootd is stopped at the end.
# Usage (root): probes/xrootd/gsi/testdata/xrootd58.sh [test regexp]
set -euo pipefail
W=${GSI_TRIXIE:-/tmp/gsi-trixie}
R=$W/root
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
PKG=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ ! -x "$R/usr/bin/xrootd" ]; then
	mkdir -p "$W"
	debootstrap --variant=minbase trixie "$R" http://deb.debian.org/debian >"$W/debootstrap.log"
	printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"
	cp /etc/hosts /etc/resolv.conf "$R/etc/"
	chroot "$R" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xrootd-server xrootd-server-plugins xrootd-voms-plugins' >"$W/apt.log"
fi
S=$R/srv/gsi
rm -rf "$S"; mkdir -p "$S/data/testvo" "$S/log" "$S/run"
cp -rL "$TB/certificates" "$TB/vomsdir" "$S/"
cp "$TB/host/hostcert.pem" "$TB/host/hostkey.pem" "$S/"
echo hello >"$S/data/testvo/hello.txt"
echo 'o testvo /testvo a' >"$S/authdb"
cat >"$S/xrootd.cfg" <<'CFG'
xrootd.seclib libXrdSec.so
all.adminpath /srv/gsi/run
all.pidpath /srv/gsi/run
xrd.port 22094
all.export /testvo
oss.localroot /srv/gsi/data
xrd.tls /srv/gsi/hostcert.pem /srv/gsi/hostkey.pem
xrd.tlsca certdir /srv/gsi/certificates
xrootd.tls capable all
sec.protocol gsi -certdir:/srv/gsi/certificates -cert:/srv/gsi/hostcert.pem -key:/srv/gsi/hostkey.pem -crldir:/srv/gsi/certificates -crl:1 -vomsfun:libXrdVoms.so -vomsat:extract
sec.trace authentication
ofs.authorize 1
acc.authdb /srv/gsi/authdb
acc.audit deny grant
CFG
U=$(chroot "$R" id -u xrootd); G=$(chroot "$R" id -g xrootd)
chown -R "$U:$G" "$S/hostcert.pem" "$S/hostkey.pem" "$S/log" "$S/run" "$S/data"; chmod 400 "$S/hostkey.pem"
(cd "$PKG" && go test -c -o "$W/gsi.test" .)
mountpoint -q "$R/proc" || mount -t proc proc "$R/proc"
trap 'umount "$R/proc" 2>/dev/null || true' EXIT
export R TB W PKG RUN="${1:-RealServer|Xrd}"
unshare -n bash -c '
	ip link set lo up
	chroot $R env X509_VOMS_DIR=/srv/gsi/vomsdir X509_CERT_DIR=/srv/gsi/certificates \
		xrootd -R xrootd -c /srv/gsi/xrootd.cfg -l /srv/gsi/log/xrootd.log -n gsi58 &
	XPID=$!
	for i in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/22094) 2>/dev/null && break; sleep 0.2; done
	cd $PKG
	rc=0
	env GRIDPROBE_XROOTD_URL=roots://localhost:22094 X509_CERT_DIR=$TB/certificates X509_USER_PROXY=$TB/proxies/testvo.pem \
		GRIDPROBE_EXPIRED_PROXY=$TB/proxies/expired.pem GRIDPROBE_UNTRUSTED_PROXY=$TB/proxies/untrusted.pem \
		GRIDPROBE_FOREIGN_PROXY=$TB/proxies/othervo.pem GRIDPROBE_XROOTD_LOG=$R/srv/gsi/log/gsi58/xrootd.log \
		GRIDPROBE_REF_PATH=/testvo/hello.txt $W/gsi.test -test.count=1 -test.v -test.run "$RUN" || rc=$?
	kill -TERM $XPID; wait $XPID 2>/dev/null || true
	exit $rc'
