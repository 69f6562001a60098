#!/usr/bin/env bash
# second-se-start.sh TB XRD_USER DIR NAME — start one more XRootD SE of the testbed (the TPC partner, the
# misconfigured SE), daemonized, as the main SE runs (lib/se-start.sh): in a private mount namespace with the test
# CA in the system bundle (scitokens-cpp fetches the issuer's keys trusting only that file), forced onto loopback
# by the bind shim. DIR holds etc/NAME.cfg, run/, cache/ and log/. Used by lib/second-se.sh and by the SE's
# watcher (lib/se-watch.sh), which brings a crashed or hung SE back.
set -euo pipefail
TB=$1 XRD_USER=$2 DIR=$3 NAME=$4
cd "$DIR/run"
exec setsid unshare -m -- sh -c 'mount --bind "$1" /etc/ssl/certs/ca-certificates.crt && shift && exec "$@"' _ \
	"$TB/etc/ca-bundle.pem" env LD_PRELOAD="$TB/bin/bindlo.so" XDG_CACHE_HOME="$DIR/cache" \
	X509_CERT_DIR="$TB/certificates" X509_VOMS_DIR="$TB/vomsdir" \
	xrootd -I v4 -b -R "$XRD_USER" -n "$NAME" -c "$DIR/etc/$NAME.cfg" -l "$DIR/log/xrootd.log" -s "$DIR/run/xrootd.pid" \
	</dev/null >/dev/null 2>&1 8>&- 9>&-
