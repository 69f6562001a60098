#!/usr/bin/env bash
# chroot.sh RELEASE — build (once) the Debian RELEASE (trixie, sid) chroot that holds the XRootD storage
# element for the version matrix, and print its path. Reused while its marker file exists.
# Location: ${GRIDPROBE_CHROOTS:-/var/cache/gridprobe/chroots}/RELEASE (outside the testbed state dir, so
# removing the state keeps the build). The mirror is the one apt already uses (/etc/apt/sources.list*).
# For trixie, an existing chroot of an earlier helper (/tmp/gsi-trixie/root, trixie + xrootd 5.8.1) is
# copied as a seed when present; it only saves the debootstrap step.
set -euo pipefail
REL=${1:?usage: chroot.sh trixie|sid}
case $REL in trixie | sid | forky) ;; *) echo "chroot.sh: unsupported release $REL" >&2; exit 2 ;; esac
BASE=${GRIDPROBE_CHROOTS:-/var/cache/gridprobe/chroots}
ROOT="$BASE/$REL"
MARK="$ROOT/.gridprobe-complete"
PKGS="xrootd-server xrootd-server-plugins xrootd-scitokens-plugins xrootd-voms-plugins xrootd-client ca-certificates"
say() { printf 'matrix/chroot: %s\n' "$*" >&2; }
die() { printf 'matrix/chroot: ERROR: %s\n' "$*" >&2; exit 1; }

if [ -e "$MARK" ]; then echo "$ROOT"; exit 0; fi

mirror() {
	local m
	m=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
		grep -v security | grep -oE 'https?://[^ ]+' | grep -i debian | head -1)
	echo "${m:-http://deb.debian.org/debian}"
}
MIRROR=$(mirror)
command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"

mkdir -p "$BASE"
exec 8>"$BASE/.$REL.lock"
flock -w 900 8 || die "another chroot.sh builds $REL"
if [ -e "$MARK" ]; then echo "$ROOT"; exit 0; fi

BUILD="$ROOT.build.$$"
LOG="$BASE/$REL.build.log"
trap 'umount -l "$BUILD/proc" 2>/dev/null || true; rm -rf "$BUILD"' EXIT
SEED=${GRIDPROBE_TRIXIE_SEED:-/tmp/gsi-trixie/root}
if [ "$REL" = trixie ] && [ -x "$SEED/usr/bin/xrootd" ] && grep -q '^13' "$SEED/etc/debian_version" 2>/dev/null; then
	say "seeding the $REL chroot from $SEED"
	cp -a "$SEED" "$BUILD"
	rm -rf "$BUILD/srv/gsi"
	: >"$LOG"
else
	say "building the $REL chroot in $ROOT from $MIRROR (once; ~1-2 min)"
	debootstrap --variant=minbase "$REL" "$BUILD" "$MIRROR" >"$LOG" 2>&1 || { tail -20 "$LOG" >&2; die "debootstrap $REL failed (log $LOG)"; }
fi
printf '#!/bin/sh\nexit 101\n' >"$BUILD/usr/sbin/policy-rc.d"; chmod 0755 "$BUILD/usr/sbin/policy-rc.d"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$BUILD/etc/hosts"
cp /etc/resolv.conf "$BUILD/etc/resolv.conf" 2>/dev/null || true
# The mirror may serve a frozen snapshot whose sid Release file is past its Valid-Until date.
echo 'Acquire::Check-Valid-Until "false";' >"$BUILD/etc/apt/apt.conf.d/99gridprobe"
# apt inside the chroot, in a private mount namespace so /proc vanishes with it.
unshare -m -- sh -c '
	mount -t proc proc "$1/proc"
	chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get -qq update &&
	chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $2
' _ "$BUILD" "$PKGS" >>"$LOG" 2>&1 || { tail -30 "$LOG" >&2; die "apt-get install in the $REL chroot failed (log $LOG)"; }
chroot "$BUILD" apt-get clean
chroot "$BUILD" id xrootd >/dev/null 2>&1 || die "the $REL chroot has no xrootd user"
chroot "$BUILD" dpkg-query -W -f='${Version}\n' xrootd-server >"$BUILD/.gridprobe-xrootd-version"
touch "$BUILD/.gridprobe-complete"
rm -rf "$ROOT"
mv "$BUILD" "$ROOT"
trap - EXIT
say "$REL chroot ready: xrootd-server $(cat "$ROOT/.gridprobe-xrootd-version")"
echo "$ROOT"
