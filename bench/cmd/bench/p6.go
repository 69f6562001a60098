package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/bench"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/probes/httptpc"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// ---- P6 ----

// p6Sizes are the file sizes P6 copies.
var p6Sizes = []int64{1 << 20, 16 << 20, 128 << 20}

// p6 times one HTTP-TPC token copy between the testbed SE and its partner
// by size, pull and push (median of the runs), and holds the probe's own
// traffic for a copy to a size-independent bound: the data travels between
// the SEs only.
func p6(ctx context.Context, o opts) ([]bench.Row, []string) {
	const target = "probe traffic < 16 KB whatever the size"
	env, closeFn, err := p6Env()
	if err != nil {
		return []bench.Row{notMeasured("P6 HTTP-TPC copy, wall time by size", target, err.Error())}, nil
	}
	defer closeFn()
	rs, err := bench.MeasureTPC(ctx, env, p6Sizes, max(o.p2Runs, 1))
	if err != nil {
		return []bench.Row{notMeasured("P6 HTTP-TPC copy, wall time by size", target, err.Error())}, nil
	}
	var rows []bench.Row
	var notes []string
	medians := map[httptpc.Mode]map[int64]time.Duration{httptpc.Pull: {}, httptpc.Push: {}}
	for _, size := range p6Sizes {
		for _, mode := range []httptpc.Mode{httptpc.Pull, httptpc.Push} {
			var walls []time.Duration
			var wire httptpc.Wire
			markers := 0
			for _, r := range rs {
				if r.Size == size && r.Mode == mode {
					walls = append(walls, r.Wall)
					wire.BytesOut, wire.BytesIn = max(wire.BytesOut, r.Wire.BytesOut), max(wire.BytesIn, r.Wire.BytesIn)
					markers = max(markers, r.Markers)
				}
			}
			slices.Sort(walls)
			med := walls[len(walls)/2]
			medians[mode][size] = med
			traffic := wire.BytesOut + wire.BytesIn
			rows = append(rows, bench.Row{
				Figure:   fmt.Sprintf("P6 HTTP-TPC token %s, %d MiB, site ⇄ partner (XRootD 5.5.3 both)", mode, size>>20),
				Measured: fmt.Sprintf("%s (%.0f MB/s); probe %.1f KB", bench.Secs(med), float64(size)/med.Seconds()/1e6, float64(traffic)/1e3),
				Target:   target, Verdict: bench.Verdict(traffic < 16<<10),
			})
			logf("P6 %s %d MiB: walls %v, %d marker(s), probe out %d B in %d B", mode, size>>20, walls, markers, wire.BytesOut, wire.BytesIn)
		}
	}
	rows = append(rows, p6Fit(medians)...)
	notes = append(notes, fmt.Sprintf("P6: one token copy (COPY to its final line: the wall an FTS transfer of that size has on this pair) per size and direction, median of %d; "+
		"files of %s made by the bench on the site, copied to the partner SE's scratch area and removed; the probe's traffic is the COPY, the markers and the final line "+
		"(most connections were warm: the first copy of a run pays TCP + TLS, ~3 KB more).", max(o.p2Runs, 1), sizesText()))
	return rows, notes
}

// p6OverheadTarget bounds what a copy costs whatever its size: about one
// plain request with its connection.
const p6OverheadTarget = 250 * time.Millisecond

// p6Fit is, per direction, the line through the median walls: the
// per-copy overhead (its intercept; with three noisy points it can come
// out below zero, so the smallest copy's whole wall, which bounds it, is
// what is held to p6OverheadTarget) and the SEs' throughput (its slope).
func p6Fit(medians map[httptpc.Mode]map[int64]time.Duration) []bench.Row {
	smallest := slices.Min(p6Sizes)
	var rows []bench.Row
	for _, mode := range []httptpc.Mode{httptpc.Pull, httptpc.Push} {
		f := bench.FitWallVsSize(medians[mode])
		bound := medians[mode][smallest]
		rows = append(rows, bench.Row{
			Figure: fmt.Sprintf("P6 HTTP-TPC token %s: per-copy overhead (intercept of the median walls against size, %s) and throughput (slope)", mode, sizesText()),
			Measured: fmt.Sprintf("%s (at most the %d MiB copy's %s); %.0f MB/s", bench.Secs(max(f.Overhead, 0)), smallest>>20, bench.Secs(bound),
				f.Bandwidth/1e6),
			Target: fmt.Sprintf("overhead ≤ %s", bench.Secs(p6OverheadTarget)), Verdict: bench.Verdict(bound <= p6OverheadTarget),
		})
	}
	return rows
}

func sizesText() string {
	var s []string
	for _, n := range p6Sizes {
		s = append(s, fmt.Sprintf("%d MiB", n>>20))
	}
	return strings.Join(s, ", ")
}

// p6Env is the testbed's site and partner SE with its credentials.
func p6Env() (bench.TPCEnv, func(), error) {
	g := os.Getenv
	if g("GRIDPROBE_PARTNER_WEBDAV_URL") == "" {
		return bench.TPCEnv{}, nil, fmt.Errorf("no partner SE in the testbed environment (testbed/partner/up.sh)")
	}
	cc, err := cred.NewClientCredentials(g("GRIDPROBE_ISSUER"), g("GRIDPROBE_CLIENT_ID"), g("GRIDPROBE_CLIENT_SECRET_FILE"), g("GRIDPROBE_ISSUER_CA"))
	if err != nil {
		return bench.TPCEnv{}, nil, err
	}
	creds := &probe.Credentials{ProxyPath: g("X509_USER_PROXY"), CADir: g("X509_CERT_DIR"), Tokens: cc}
	return bench.TPCEnv{Site: g("GRIDPROBE_WEBDAV_URL"), Partner: g("GRIDPROBE_PARTNER_WEBDAV_URL"),
		SiteScopeBase: "/testvo", PartnerScopeBase: g("GRIDPROBE_PARTNER_SCOPE_BASE"),
		SiteWriteDir: "/testvo/gridprobe", PartnerWriteDir: g("GRIDPROBE_PARTNER_WRITE_DIR"),
		Creds: creds}, func() { cc.Close() }, nil
}
