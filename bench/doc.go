// Package bench measures gridprobe's performance on the local testbed for
// `make bench` (issue 6): P1 against the gfal2 command-line path an ETF
// probe takes, P2 against the round-trip floor with latency injected by a
// userspace forwarder, P3 one round over 1 000 sites, P4 rendering
// /metrics. bench/cmd/bench runs them and prints one table.
//
// The latency forwarder (Link) is written here rather than taken from
// toxiproxy: a per-chunk delivery deadline is all a propagation delay
// needs, it also charges the TCP handshake's round trip (a userspace
// proxy accepts at once, so toxiproxy's latency toxic misses it), and it
// counts the round trips each connection really made, which P2 reports
// next to the minimal count.
package bench
