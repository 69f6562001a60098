// Package bench measures gridprobe's performance on the local testbed for
// `make bench` (issues 6 and 22): P1 against the gfal2 command-line path
// an ETF probe takes and P1b against gfal2's Python API in one process
// (gfal2_ops.py, the fair peer), P2 against the round-trip floor with
// latency injected by a userspace forwarder, P3 one round over 1 000 sites
// (the probe's CPU per site against the floor of its work, cpufloor.go;
// the round's wall against what the machine allows; memory), P4 rendering
// /metrics, P5 a VO feed's import, and HTTP third-party copies between the
// testbed's two SEs (tpc.go). bench/cmd/bench runs them and prints one
// table.
//
// The latency forwarder (Link) is written here rather than taken from
// toxiproxy: a per-chunk delivery deadline is all a propagation delay
// needs, it also charges the TCP handshake's round trip (a userspace
// proxy accepts at once, so toxiproxy's latency toxic misses it), and it
// counts the round trips each connection really made, which P2 reports
// next to the minimal count.
package bench
