package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/gridprobe/gridprobe/bench"
	"github.com/gridprobe/gridprobe/internal/vofeed/feedgen"
)

// ---- P5 ----

const p5Sites = 1000

// p5 measures probe import + validate + plan of a 1 000-site VO feed, each
// run in a child process of its own (this binary with -child-p5) so its
// peak RSS is the pipeline's alone.
func p5(ctx context.Context, o opts) ([]bench.Row, []string) {
	const figW, figM = "P5 1 000-site VO feed: import + validate + plan (one process)", "P5 peak RSS of that process"
	dir, err := os.MkdirTemp("", "gridprobe-bench-feed-")
	if err != nil {
		return []bench.Row{notMeasured(figW, "< 1 s", err.Error())}, nil
	}
	defer os.RemoveAll(dir)
	feed := filepath.Join(dir, "vofeed.xml")
	data := feedgen.Feed(p5Sites, "cms")
	if err := os.WriteFile(feed, data, 0o644); err != nil {
		return []bench.Row{notMeasured(figW, "< 1 s", err.Error())}, nil
	}
	var runs []bench.FeedResult
	for i := 0; i < o.p3Runs; i++ {
		cmd := exec.CommandContext(ctx, os.Args[0], "-child-p5", feed)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		var r bench.FeedResult
		if err == nil {
			err = json.Unmarshal(out, &r)
		}
		if err == nil && r.Error != "" {
			err = fmt.Errorf("%s", r.Error)
		}
		if err != nil {
			return []bench.Row{notMeasured(figW, "< 1 s", err.Error())}, nil
		}
		logf("P5 run %d: %s (import %s, validate %s, plan %s), RSS %d MB", i+1, bench.Secs(time.Duration(r.WallNS)),
			ms(r.ImportNS), ms(r.ValidateNS), ms(r.PlanNS), r.VmHWMkB>>10)
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(a, b bench.FeedResult) int { return int(a.WallNS - b.WallNS) })
	med := runs[len(runs)/2]
	var rss int64
	for _, r := range runs {
		rss = max(rss, r.VmHWMkB)
	}
	rssMB := float64(rss) / 1024
	wall := time.Duration(med.WallNS)
	return []bench.Row{
			{Figure: figW, Measured: fmt.Sprintf("%.0f ms (import %s, validate %s, plan %s)", float64(wall)/1e6, ms(med.ImportNS),
				ms(med.ValidateNS), ms(med.PlanNS)), Target: "< 1 s", Verdict: bench.Verdict(wall < time.Second)},
			{Figure: figM, Measured: fmt.Sprintf("%.0f MB", rssMB), Target: "< 50 MB", Verdict: bench.Verdict(rssMB < 50)},
		}, []string{fmt.Sprintf("P5: a %d-site feed of %d KB (internal/vofeed/feedgen, the mix of the CMS feed: HTCondor-CEs and ARC-CEs, "+
			"XRootD and WebDAV doors, SRM and perfSONAR entries skipped) becomes %d sites, %d services, %d planned checks; "+
			"median of %d runs, each in a fresh process (largest RSS shown).", p5Sites, len(data)>>10, med.Sites, med.Services,
			med.Checks, len(runs))}
}

func ms(ns int64) string { return fmt.Sprintf("%.0f ms", float64(ns)/1e6) }

// runChildP5 is the child of P5: one import + validate + plan, printed as JSON.
func runChildP5(ctx context.Context, feed string) int {
	r, err := bench.ImportValidatePlan(ctx, feed)
	if err != nil {
		r.Error = err.Error()
	}
	r.VmHWMkB = vmHWM()
	_ = json.NewEncoder(os.Stdout).Encode(r)
	if err != nil {
		return 1
	}
	return 0
}
