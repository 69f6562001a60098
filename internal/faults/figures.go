package faults

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Figures are the suite's numbers: what `make faults` prints and what makes
// it fail.
type Figures struct {
	Parts          []string // the suite's parts that ran (SuiteParts)
	FaultKinds     int      // distinct faults injected
	FaultySites    int      // sites that had a fault (baselines and healthy excluded)
	Sites          int
	SitesInBudget  int
	Rounds         int
	RoundsInBudget int
	ChecksExpected int // expectations judged (state + detail, or same-as-baseline)
	ChecksCorrect  int
	Leftovers      int // scratch areas not empty after a round
	TokensLeaked   int // secret occurrences found in any output
	LeakSurfaces   int // outputs searched by the leak proof
	ForeignDeletes int // deletes outside the run's scratch area (servers + guard)
	GuardAttempts  int // adversarial deletes tried through probe.Scratch
	GuardRefused   int
	Panics         int
	// LeakIncomplete is set when a step of the leak proof could not run.
	LeakIncomplete bool
	Fuzz           []FuzzResult
	Problems       []string
	Durations      []string // "round N: took X (limit Y)"
}

// AddRound folds a round into the figures.
func (f *Figures) AddRound(name string, rr *RoundResult) {
	f.Rounds++
	if rr.Duration <= rr.Limit {
		f.RoundsInBudget++
	} else {
		f.Problems = append(f.Problems, fmt.Sprintf("%s: round took %s, limit %s", name, rr.Duration, rr.Limit))
	}
	f.Durations = append(f.Durations, fmt.Sprintf("%s: %d sites in %s (limit %s)", name, len(rr.Verdicts), rr.Duration.Round(time.Millisecond), rr.Limit))
	kinds := map[string]bool{}
	for _, v := range rr.Verdicts {
		f.Sites++
		// A site's checks end within its budget plus the runner's grace for
		// a check that ignores its context; its cleanups then have their own
		// deadline.
		slack := 250 * time.Millisecond
		switch {
		case v.ChecksDuration > rr.Budget+rr.Grace+slack:
			f.Problems = append(f.Problems, fmt.Sprintf("%s: %s (%s) checks took %s, budget %s", name, v.Site, v.Case.Fault, v.ChecksDuration, rr.Budget))
		case v.Duration > rr.Budget+rr.Grace+rr.CleanupTimeout+slack:
			f.Problems = append(f.Problems, fmt.Sprintf("%s: %s (%s) took %s with cleanups, budget %s + cleanup %s", name, v.Site, v.Case.Fault, v.Duration, rr.Budget, rr.CleanupTimeout))
		default:
			f.SitesInBudget++
		}
		if v.Case.SameAs == "" && !strings.HasPrefix(v.Case.Fault, "baseline") {
			f.FaultySites++
			kinds[v.Case.Fault] = true
		}
		f.ChecksExpected += v.Checked
		f.ChecksCorrect += v.Correct
		if len(v.Leftovers) > 0 {
			f.Leftovers++
		}
		f.ForeignDeletes += len(v.Foreign)
		for _, p := range v.Problems {
			f.Problems = append(f.Problems, fmt.Sprintf("%s: %s (%s): %s", name, v.Site, v.Case.Fault, p))
		}
	}
	if len(kinds) > f.FaultKinds {
		f.FaultKinds = len(kinds)
	}
	f.ForeignDeletes += len(rr.Foreign)
	for _, p := range rr.Foreign {
		f.Problems = append(f.Problems, fmt.Sprintf("%s: foreign delete %s", name, p))
	}
	f.Panics += rr.Panics
}

// Failures lists every figure that is wrong; empty means the suite passed.
func (f *Figures) Failures() []string {
	var out []string
	if f.Rounds == 0 && (slices.Contains(f.Parts, "each") || slices.Contains(f.Parts, "mixed")) {
		out = append(out, "no round ran")
	}
	if f.ChecksCorrect != f.ChecksExpected {
		out = append(out, fmt.Sprintf("%d of %d checks reported wrongly", f.ChecksExpected-f.ChecksCorrect, f.ChecksExpected))
	}
	if f.RoundsInBudget != f.Rounds {
		out = append(out, fmt.Sprintf("%d rounds over budget", f.Rounds-f.RoundsInBudget))
	}
	if f.SitesInBudget != f.Sites {
		out = append(out, fmt.Sprintf("%d sites over budget", f.Sites-f.SitesInBudget))
	}
	if f.Leftovers != 0 {
		out = append(out, fmt.Sprintf("%d scratch areas left behind", f.Leftovers))
	}
	if f.LeakIncomplete {
		out = append(out, "token-leak proof incomplete")
	}
	if f.TokensLeaked != 0 {
		out = append(out, fmt.Sprintf("%d secrets leaked", f.TokensLeaked))
	}
	if f.ForeignDeletes != 0 {
		out = append(out, fmt.Sprintf("%d foreign deletes", f.ForeignDeletes))
	}
	if f.GuardRefused != f.GuardAttempts {
		out = append(out, fmt.Sprintf("%d of %d adversarial deletes not refused", f.GuardAttempts-f.GuardRefused, f.GuardAttempts))
	}
	if f.Panics != 0 {
		out = append(out, fmt.Sprintf("%d panics", f.Panics))
	}
	return out
}

// Table writes the figures as a two-column table.
func (f *Figures) Table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	fmt.Fprintln(tw, "figure\tvalue")
	fmt.Fprintln(tw, "------\t-----")
	row("parts run", strings.Join(f.Parts, ", "))
	row("fault kinds injected", f.FaultKinds)
	row("faulty sites probed", f.FaultySites)
	row("checks that reported correctly", fmt.Sprintf("%d / %d", f.ChecksCorrect, f.ChecksExpected))
	row("rounds within budget", fmt.Sprintf("%d / %d", f.RoundsInBudget, f.Rounds))
	row("sites within budget", fmt.Sprintf("%d / %d", f.SitesInBudget, f.Sites))
	row("scratch areas left behind", f.Leftovers)
	row("tokens leaked", fmt.Sprintf("%d (%d outputs searched)", f.TokensLeaked, f.LeakSurfaces))
	row("foreign deletes", f.ForeignDeletes)
	row("adversarial deletes refused", fmt.Sprintf("%d / %d", f.GuardRefused, f.GuardAttempts))
	if len(f.Fuzz) > 0 {
		ok := 0
		for _, r := range f.Fuzz {
			if r.OK {
				ok++
			}
		}
		row("fuzz targets without a failure", fmt.Sprintf("%d / %d", ok, len(f.Fuzz)))
	}
	row("panics", f.Panics)
	tw.Flush()
	for _, r := range f.Fuzz {
		fmt.Fprintf(w, "fuzz %-34s %-28s execs %-9s %s\n", r.Pkg, r.Name, r.Execs, map[bool]string{true: "ok", false: "FAIL"}[r.OK])
	}
	for _, d := range f.Durations {
		fmt.Fprintln(w, d)
	}
}

// MixCases builds n sites: the two baselines first, then the faults in
// turn (so a 100-site round holds every fault several times and healthy
// sites between them).
func (h *Harness) MixCases(ctx context.Context, n int) ([]*Case, error) {
	var kinds []string
	for _, f := range Faults {
		if !strings.HasPrefix(f, "baseline") {
			kinds = append(kinds, f)
		}
	}
	cases := make([]*Case, 0, n)
	for i := 0; i < n; i++ {
		f := ""
		switch {
		case i == 0:
			f = "baseline-webdav"
		case i == 1:
			f = "baseline-xrootd"
		default:
			f = kinds[(i-2)%len(kinds)]
		}
		c, err := h.Case(ctx, f, i)
		if err != nil {
			return nil, fmt.Errorf("site %d (%s): %w", i, f, err)
		}
		cases = append(cases, c)
	}
	return cases, nil
}
