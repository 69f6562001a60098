// Package ce probes compute elements: ARC-CE through its REST interface
// (A-REX REST 1.0, with an X.509 proxy and with WLCG bearer tokens) and
// HTCondor-CE through the HTCondor client tools (token only).
//
// Each CE gets an ordered, ETF-numbered catalogue of dependent checks:
//
//	<prefix>.CE-ARC:       1connection 2ssl 3info 4crt-submit 14tkn-submit 16tkn-access
//	<prefix>.CE-HTCondor:  1connection 13tkn-ping 14tkn-submit 16tkn-access
//
// The submit checks run a small job that prints a marker and its
// environment, follow its live state, fetch its output and verify the
// marker. Every job is removed through engine.Env.Cleanup, so it is removed
// even when the check times out or the round is interrupted.
//
// The ARC REST client is written here on net/http: there is no Go client for
// A-REX, and the REST API is small (a handful of GET/POST calls with JSON
// whose one-child-is-an-object quirk needs its own decoder, oneOrMany).
// HTCondor speaks CEDAR, whose SCITOKENS authentication runs TLS inside
// CEDAR messages; no Go implementation exists, so the checks call the
// HTCondor client tools (condor_status, condor_ping, condor_submit, condor_q,
// condor_transfer_data, condor_rm). They are found in $PATH or, with
// GRIDPROBE_CONDOR_ROOT, in an unpacked HTCondor tree (such as a Debian
// chroot) run through that tree's own dynamic loader. Tokens reach the tools
// only through a 0600 file in a private temporary directory that is removed
// after the call; a token never appears on a command line.
package ce
