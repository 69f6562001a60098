#!/usr/bin/env bash
# chroot.sh RELEASE [COMPONENT...] — build (once) the Debian RELEASE (trixie, sid) chroot that holds the
# servers of the version matrix, and print its path. Reused while its marker file exists.
# The base holds the XRootD storage element; COMPONENT adds, once, into the same chroot:
#   arc     nordugrid-arc-arex + nordugrid-arc-client (A-REX with REST; arcsub/arcstat for by-hand checks)
#   condor  minicondor (HTCondor, configured as an HTCondor-CE by up.sh), plus the directories its systemd
#           steps would make and the job user gpuser
# Each component leaves .gridprobe-<component>-version (the package version) as its marker.
# Location: ${GRIDPROBE_CHROOTS:-/var/cache/gridprobe/chroots}/RELEASE (outside the testbed state dir, so
# removing the state keeps the build). The mirror is the one apt already uses (/etc/apt/sources.list*).
# For trixie, an existing chroot of an earlier helper (/tmp/gsi-trixie/root, trixie + xrootd 5.8.1) is
# copied as a seed when present; it only saves the debootstrap step.
set -euo pipefail
REL=${1:?usage: chroot.sh trixie|sid [arc|condor...]}
shift
COMPS=("$@")
for c in "${COMPS[@]}"; do case $c in arc | condor) ;; *) echo "chroot.sh: unknown component $c" >&2; exit 2 ;; esac; done
case $REL in trixie | sid | forky) ;; *) echo "chroot.sh: unsupported release $REL" >&2; exit 2 ;; esac
BASE=${GRIDPROBE_CHROOTS:-/var/cache/gridprobe/chroots}
ROOT="$BASE/$REL"
MARK="$ROOT/.gridprobe-complete"
PKGS="xrootd-server xrootd-server-plugins xrootd-scitokens-plugins xrootd-voms-plugins xrootd-client ca-certificates"
say() { printf 'matrix/chroot: %s\n' "$*" >&2; }
die() { printf 'matrix/chroot: ERROR: %s\n' "$*" >&2; exit 1; }

# comp_pkgs COMPONENT: packages; comp_main: the package whose version is the marker.
comp_pkgs() { case $1 in arc) echo "nordugrid-arc-arex nordugrid-arc-client nordugrid-arc-plugins-needed" ;; condor) echo "minicondor" ;; esac; }
comp_main() { case $1 in arc) echo nordugrid-arc-arex ;; condor) echo minicondor ;; esac; }
all_done() {
	[ -e "$MARK" ] || return 1
	local c
	for c in "${COMPS[@]}"; do [ -s "$ROOT/.gridprobe-$c-version" ] || return 1; done
}
# add_components: install the missing components into the finished chroot (under the lock).
add_components() {
	local c
	for c in "${COMPS[@]}"; do
		[ -s "$ROOT/.gridprobe-$c-version" ] && continue
		say "installing $c ($(comp_pkgs "$c")) into the $REL chroot (once; ~1 min)"
		echo 'Acquire::Check-Valid-Until "false";' >"$ROOT/etc/apt/apt.conf.d/99gridprobe"
		if [ "$c" = arc ]; then
			# nordugrid-arc-arex's postinst makes an ARC test CA and host certificate (arcctl test-ca) unless
			# this file exists; that fails in a chroot ("hostname: Name or service not known") and would
			# only add an unwanted CA: the servers use the testbed CA, bind-mounted at run time.
			mkdir -p "$ROOT/etc/grid-security"; touch "$ROOT/etc/grid-security/testCA-hostcert.pem"
		fi
		unshare -m -- sh -c '
			mount -t proc proc "$1/proc"
			chroot "$1" env DEBIAN_FRONTEND=noninteractive dpkg --configure -a &&
			chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get -qq update &&
			chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $2
		' _ "$ROOT" "$(comp_pkgs "$c")" >>"$LOG" 2>&1 || { tail -30 "$LOG" >&2; die "apt-get install $c in the $REL chroot failed (log $LOG)"; }
		chroot "$ROOT" apt-get clean
		if [ "$c" = condor ]; then
			# The package's systemd steps do not run in a chroot: create what they would.
			mkdir -p "$ROOT"/{run/condor,run/lock/condor,var/spool/condor,var/lib/condor/execute,var/log/condor,var/lib/condor/scitokens-cache}
			chroot "$ROOT" sh -c 'id gpuser >/dev/null 2>&1 || useradd -m -s /bin/sh gpuser'
			chroot "$ROOT" chown -R condor:condor /run/condor /run/lock/condor /var/spool/condor /var/lib/condor /var/log/condor
			chroot "$ROOT" condor_version >>"$LOG" 2>&1 || die "condor_version fails in the $REL chroot"
		fi
		chroot "$ROOT" dpkg-query -W -f='${Version}\n' "$(comp_main "$c")" >"$ROOT/.gridprobe-$c-version.tmp"
		mv "$ROOT/.gridprobe-$c-version.tmp" "$ROOT/.gridprobe-$c-version"
		say "$REL chroot: $(comp_main "$c") $(cat "$ROOT/.gridprobe-$c-version")"
	done
}

if all_done; then echo "$ROOT"; exit 0; fi

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
LOG="$BASE/$REL.build.log"
if [ -e "$MARK" ]; then add_components; echo "$ROOT"; exit 0; fi

BUILD="$ROOT.build.$$"
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
add_components
echo "$ROOT"
