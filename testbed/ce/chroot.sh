#!/usr/bin/env bash
# chroot.sh — build (once) the Debian trixie chroot that holds HTCondor (minicondor 23.9.6) for the
# gridprobe CE testbed, and print its path. Reused as long as it is complete; rebuilt only when the
# marker file is missing. Location: ${GRIDPROBE_CONDOR_CHROOT:-/var/cache/gridprobe/trixie-condor}
# (outside the testbed state dir, so removing the state keeps the 60 s build).
# The mirror is the one apt already uses (/etc/apt/sources.list*).
set -euo pipefail
ROOT=${GRIDPROBE_CONDOR_CHROOT:-/var/cache/gridprobe/trixie-condor}
MARK="$ROOT/.gridprobe-complete"
say() { printf 'testbed/ce: %s\n' "$*" >&2; }
die() { printf 'testbed/ce: ERROR: %s\n' "$*" >&2; exit 1; }

if [ -e "$MARK" ]; then echo "$ROOT"; exit 0; fi

mirror() {
	local m
	m=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
		grep -v security | grep -oE 'https?://[^ ]+' | head -1)
	echo "${m:-http://deb.debian.org/debian}"
}
MIRROR=$(mirror)
command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"

BUILD="$ROOT.build.$$"
trap 'umount -l "$BUILD/proc" 2>/dev/null || true; rm -rf "$BUILD"' EXIT
mkdir -p "$(dirname "$ROOT")"
say "building the trixie HTCondor chroot in $ROOT from $MIRROR (once; ~1 min)"
debootstrap --variant=minbase trixie "$BUILD" "$MIRROR" >"$BUILD.log" 2>&1 || { tail -20 "$BUILD.log" >&2; die "debootstrap failed (log $BUILD.log)"; }
printf '#!/bin/sh\nexit 101\n' >"$BUILD/usr/sbin/policy-rc.d"; chmod 0755 "$BUILD/usr/sbin/policy-rc.d"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$BUILD/etc/hosts"
# apt inside the chroot, in a private mount namespace so /proc vanishes with it.
unshare -m -- sh -c '
	mount -t proc proc "$1/proc"
	chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get -qq update &&
	chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends minicondor ca-certificates
' _ "$BUILD" >>"$BUILD.log" 2>&1 || { tail -30 "$BUILD.log" >&2; die "apt-get install minicondor in the chroot failed (log $BUILD.log)"; }
chroot "$BUILD" apt-get clean
# The package's systemd steps do not run in a chroot: create what they would.
mkdir -p "$BUILD"/{run/condor,run/lock/condor,var/spool/condor,var/lib/condor/execute,var/log/condor,var/lib/condor/scitokens-cache}
chroot "$BUILD" sh -c 'id gpuser >/dev/null 2>&1 || useradd -m -s /bin/sh gpuser'
chroot "$BUILD" chown -R condor:condor /run/condor /run/lock/condor /var/spool/condor /var/lib/condor /var/log/condor
chroot "$BUILD" condor_version >>"$BUILD.log" 2>&1 || die "condor_version fails in the chroot"
touch "$BUILD/.gridprobe-complete"
rm -rf "$ROOT"
mv "$BUILD" "$ROOT"
rm -f "$BUILD.log"
trap - EXIT
say "chroot ready: $(chroot "$ROOT" condor_version | head -1)"
echo "$ROOT"
