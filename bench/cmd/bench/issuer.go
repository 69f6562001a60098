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
	ok := true
	for _, r := range f.Outages {
		parts = append(parts, fmt.Sprintf("%s %s (limit %s)", r.Kind, bench.Secs(r.Took), bench.Secs(r.Limit)))
		ok = ok && r.Took <= r.Limit
	}
	w := f.Outages[0]
	notes := []string{fmt.Sprintf("Issuer outage: %d sites (the testbed SE over WebDAV and XRootD, plus the issuer service) with a working issuer took %s; "+
		"the issuer timeout is %v. The suite's other figures (make faults judges them): issuer checks right %d / %d, site CRITICAL/WARNING results the outage caused %d, "+
		"%d problems.", w.Sites, bench.Secs(w.Working), w.IssuerTimeout, f.ChecksCorrect, f.ChecksExpected, f.SiteCriticals, len(f.Problems))}
	for i, p := range f.Problems {
		if i == 3 {
			notes = append(notes, fmt.Sprintf("Issuer outage: %d more problems (go run ./cmd/faults -v lists them all).", len(f.Problems)-i))
			break
		}
		notes = append(notes, "Issuer outage problem: "+truncate(p, 200))
	}
	return []bench.Row{{Figure: fig, Measured: strings.Join(parts, ", "), Target: target, Verdict: bench.Verdict(ok)}}, notes
}
