package round

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's growth target the probe runs with
// unless GOGC is set. A round's heap is mostly short-lived TLS handshake and
// request state, so with Go's default (100) a large round peaks at twice its
// live heap; 50 keeps the peak lower for a little CPU (the probe's CPU goes
// mostly to TLS and checksums). Measured with
// `GOGC=… go run ./bench/cmd/bench -only P3` (1 000 sites at once, 2 rounds
// each, alternating): peak RSS 227–263 MB with 100, 191–213 MB with 50;
// probe CPU 8.9–11.2 ms a site with 100, 11.2–11.8 ms with 50 (noisy: up to
// about a tenth more).
const GCPercent = 50

// TuneGC applies GCPercent when the environment does not set GOGC. Process
// entry points call it once (`probe`, and the benchmark's stand-in for
// `probe run`).
func TuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(GCPercent)
	}
}
