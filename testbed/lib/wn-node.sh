# wn-node.sh — sourced by testbed/ce/up.sh and testbed/matrix/up.sh.
# wn_node_files CERTDIR ROOT: make the chroot ROOT a worker node for the gridprobe CE test jobs (probe wn), as a
# site's worker nodes are: the grid CA directory (the files of CERTDIR) at /etc/grid-security/certificates, and
# the host's /etc/hosts (the testbed SE listens on 127.0.0.1 only; a "::1 localhost" line sends the jobs' storage
# checks to a closed port first). Idempotent; the chroot's running daemons need no restart. The directory is
# synced file by file, never replaced: A-REX bind-mounts over it in its own mount namespace.
wn_node_files() {
	local certs=$1 root=$2 dst f
	dst="$root/etc/grid-security/certificates"
	mkdir -p "$dst"
	for f in "$certs"/*; do
		[ -e "$f" ] || continue
		cmp -s "$f" "$dst/${f##*/}" || install -m 0644 "$f" "$dst/${f##*/}"
	done
	for f in "$dst"/*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		[ -e "$certs/${f##*/}" ] || rm -f "$f"
	done
	cmp -s /etc/hosts "$root/etc/hosts" || install -m 0644 /etc/hosts "$root/etc/hosts"
}
