package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/gridprobe/gridprobe/bench"
	"github.com/gridprobe/gridprobe/internal/faults"
)

// ---- issuer outage (from the fault suite) ----

// issuerOutage runs the fault suite's issuer part (internal/faults, as
// `make faults` does) and shows its outage rounds: testbed sites probed
// while the token issuer hangs or is gone, held to the suite's own limit
// (one issuer timeout + the round with a working issuer + 5 s).
func issuerOutage(ctx context.Context) ([]bench.Row, []string) {
	const fig, target = "Issuer outage: 20-site round with the token issuer hung / dead (internal/faults)", "≤ issuer timeout + working round + 5 s"
	root, err := faults.FindRoot()
	if err != nil {
		return []bench.Row{notMeasured(fig, target, err.Error())}, nil
	}
	tb, err := faults.LoadTestbed(root)
	if err != nil {
		return []bench.Row{notMeasured(fig, target, err.Error())}, nil
	}
	f, err := faults.RunIssuerSuite(ctx, tb, faults.IssuerOptions{Sites: 20, Log: os.Stderr})
	if err != nil {
		return []bench.Row{notMeasured(fig, target, err.Error())}, nil
	}
	if len(f.Outages) == 0 {
		return []bench.Row{notMeasured(fig, target, "the suite ran no outage round")}, nil
	}
	var parts []string
	ok := f.SiteCriticals == 0
	for _, r := range f.Outages {
		parts = append(parts, fmt.Sprintf("%s %s (limit %s)", r.Kind, bench.Secs(r.Took), bench.Secs(r.Limit)))
		ok = ok && r.Took <= r.Limit
	}
	w := f.Outages[0]
	notes := []string{fmt.Sprintf("Issuer outage: %d sites (the testbed SE over WebDAV and XRootD, plus the issuer service) with a working issuer took %s; "+
		"the issuer timeout is %v; site CRITICAL/WARNING results the outage caused: %d; issuer checks right %d / %d (the fault suite's issuer part, run here as make faults runs it).",
		w.Sites, bench.Secs(w.Working), w.IssuerTimeout, f.SiteCriticals, f.ChecksCorrect, f.ChecksExpected)}
	for _, p := range f.Problems {
		notes = append(notes, "Issuer outage problem: "+truncate(p, 200))
	}
	return []bench.Row{{Figure: fig, Measured: strings.Join(parts, ", "), Target: target, Verdict: bench.Verdict(ok)}}, notes
}
