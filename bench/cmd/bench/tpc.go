package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gridprobe/gridprobe/bench"
	"github.com/gridprobe/gridprobe/internal/cred"
)

// ---- TPC ----

// TPC targets: a copy's fixed cost (the intercept) must stay small next to
// a check's 60 s timeout, and the copy must move bytes at a useful rate
// between two SEs on one machine.
const (
	tpcOverheadTarget  = 0.25  // seconds: about one plain request with its connection
	tpcBandwidthTarget = 100e6 // bytes per second: at least a 1 Gb/s link's worth
)

func tpc(ctx context.Context, o opts) ([]bench.Row, []string) {
	const figO, figB = "TPC HTTP pull with tokens, main SE → partner SE: per-copy overhead (intercept of wall vs size)",
		"TPC HTTP pull with tokens, main SE → partner SE: throughput (slope of wall vs size)"
	tO, tB := fmt.Sprintf("≤ %.2f s", tpcOverheadTarget), fmt.Sprintf("≥ %.0f MB/s", tpcBandwidthTarget/1e6)
	sizes, err := parseMiB(o.tpcSizes)
	if err != nil {
		return []bench.Row{notMeasured(figO, tO, err.Error())}, nil
	}
	env := func(k string) string { return os.Getenv(k) }
	if env("GRIDPROBE_PARTNER_WEBDAV_URL") == "" {
		return []bench.Row{notMeasured(figO, tO, "no partner SE in the testbed environment (testbed/partner)")}, nil
	}
	ca, err := cred.LoadCAPool(env("X509_CERT_DIR"))
	if err != nil {
		return []bench.Row{notMeasured(figO, tO, err.Error())}, nil
	}
	tokens, err := cred.NewClientCredentials(env("GRIDPROBE_ISSUER"), env("GRIDPROBE_CLIENT_ID"), env("GRIDPROBE_CLIENT_SECRET_FILE"), env("GRIDPROBE_ISSUER_CA"))
	if err != nil {
		return []bench.Row{notMeasured(figO, tO, err.Error())}, nil
	}
	defer tokens.Close()
	src := bench.TPCSide{Base: env("GRIDPROBE_WEBDAV_URL"), WriteDir: "/testvo/gridprobe", ScopeBase: "/testvo"}
	dst := bench.TPCSide{Base: env("GRIDPROBE_PARTNER_WEBDAV_URL"), WriteDir: env("GRIDPROBE_PARTNER_WRITE_DIR"), ScopeBase: env("GRIDPROBE_PARTNER_SCOPE_BASE")}
	res, err := bench.TPCCopies(ctx, tokens, ca, src, dst, sizes, o.tpcRuns)
	if err != nil {
		return []bench.Row{notMeasured(figO, tO, err.Error())}, nil
	}
	for _, c := range res.Copies {
		logf("TPC %d MiB: %s, %d markers", c.Size>>20, bench.Secs(c.Duration), c.Markers)
	}
	f := res.Fit()
	var per []string
	for _, s := range f.Sizes() {
		m := f.Medians[s]
		per = append(per, fmt.Sprintf("%d MiB %s (%.0f MB/s)", s>>20, bench.Secs(m), float64(s)/m.Seconds()/1e6))
	}
	notes := []string{fmt.Sprintf("TPC: %d copies of each size (median): %s; fit wall = %s + size / %.0f MB/s. Each copy is verified at the destination (size, adler32); "+
		"the sources were uploaded first (untimed) to a scratch area on the main SE, and both scratch areas deleted after. Wall = COPY sent → final \"success\" line (probes/httptpc), both SEs XRootD 5.5.3 on this machine.",
		o.tpcRuns, strings.Join(per, ", "), bench.Secs(f.Overhead), f.Bandwidth/1e6)}
	if len(res.Leftovers) > 0 {
		notes = append(notes, "TPC clean-up failed for: "+strings.Join(res.Leftovers, "; "))
	}
	return []bench.Row{
		{Figure: figO, Measured: bench.Secs(f.Overhead), Target: tO, Verdict: bench.Verdict(f.Overhead.Seconds() <= tpcOverheadTarget)},
		{Figure: figB, Measured: fmt.Sprintf("%.0f MB/s", f.Bandwidth/1e6), Target: tB, Verdict: bench.Verdict(f.Bandwidth >= tpcBandwidthTarget)},
	}, notes
}

// parseMiB reads "1,16,64" as sizes in MiB.
func parseMiB(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-tpc-sizes: %q is not a size in MiB", f)
		}
		out = append(out, int64(n)<<20)
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("-tpc-sizes: at least two sizes are needed for the fit")
	}
	return out, nil
}
