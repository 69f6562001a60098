// Package faults proves that gridprobe keeps working under faults and bad
// input, loses nothing and leaks nothing, with figures.
//
// It holds the fault-injection harness (a real userspace TCP proxy,
// github.com/Shopify/toxiproxy/v2, run in-process in front of the testbed
// endpoints, plus small purpose-built bad servers: a black hole, a trickle
// server, TLS servers with expired / wrong-host / unknown-CA certificates, a
// WebDAV server that answers PROPFIND with malformed XML, an XRootD peer that
// sends garbage frames, a WebDAV SE whose third-party COPY hangs, breaks
// its stream, never ends it or sends garbage markers), the table of faults (cases.go: each row builds one
// site and says what its checks must report), the rounds that run the real
// probes through them (built by internal/round, as `probe run` builds them),
// the token-leak proof, the delete-guard and leftover tests, and the Figures
// table that `make faults` prints (cmd/faults).
//
// The bad servers are hand-written rather than taken from a library because
// each is a few lines whose exact misbehaviour is the point; toxiproxy covers
// what a library does well (latency, bandwidth, resets on a real stream).
package faults
