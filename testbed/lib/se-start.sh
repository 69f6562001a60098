#!/usr/bin/env bash
# se-start.sh TB XRD_USER — start the testbed SE's xrootd (root://, roots://, https), daemonized, forced onto
# loopback by the bind shim, as up.sh configured it. Used by up.sh and by se-watch.sh (which brings a crashed
# SE back). The SE runs in a private mount namespace where the system CA bundle is replaced by system CAs +
# the test CA, so scitokens-cpp can fetch the issuer's JWKS over https. Nothing changes outside it.
set -euo pipefail
TB=$1 XRD_USER=$2
cd "$TB/run"
exec setsid unshare -m -- sh -c 'mount --bind "$1" /etc/ssl/certs/ca-certificates.crt && shift && exec "$@"' _ \
	"$TB/etc/ca-bundle.pem" env LD_PRELOAD="$TB/bin/bindlo.so" XDG_CACHE_HOME="$TB/cache" \
	X509_CERT_DIR="$TB/certificates" X509_VOMS_DIR="$TB/vomsdir" \
	xrootd -I v4 -b -R "$XRD_USER" -n se -c "$TB/etc/se.cfg" -l "$TB/log/xrootd.log" -s "$TB/run/se/xrootd.pid" \
	</dev/null >/dev/null 2>&1
