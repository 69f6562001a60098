#!/usr/bin/env bash
# install-deps.sh — install the Debian packages the tests need besides the
# testbed's own (testbed/up.sh installs those): Prometheus (promtool, the
# real server the dashboard tests scrape with) and Chromium (status-page
# test), gfal2's file plugin (the benchmark's gfal2 baseline downloads
# to file://) and oidc-agent (the refresh-token source is tested with it as
# a real client of the testbed issuer). Does nothing when everything is
# there; retries a busy dpkg lock.
set -euo pipefail
PKGS=(prometheus chromium ca-certificates openssl curl gcc gfal2-plugin-file oidc-agent)
missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
for i in 1 2 3 4 5 6; do
	if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
		exit 0
	fi
	echo "install-deps: apt-get failed (dpkg lock busy?), retry $i in 10 s"
	sleep 10
done
echo "install-deps: could not install ${missing[*]}" >&2
exit 1
