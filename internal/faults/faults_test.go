package faults

import (
	"context"
	"testing"
	"time"
)

// TestEachFault runs every fault once, all in one round, with the real
// probes, and judges each site.
func TestEachFault(t *testing.T) {
	tb := testbed(t)
	h, err := NewHarness(tb, 5*time.Second, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	var cases []*Case
	for i, f := range Faults {
		c, err := h.Case(ctx, f, i)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cases = append(cases, c)
	}
	rr, err := h.RunRound(ctx, cases, len(cases))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("round %s took %s (limit %s)", rr.RunID, rr.Duration.Round(time.Millisecond), rr.Limit)
	for _, v := range rr.Verdicts {
		for _, id := range sortedChecks(v.Results) {
			r := v.Results[id]
			t.Logf("%-26s %-16s %-8s %s", v.Case.Fault, id, r.State, r.Detail)
		}
		for _, p := range v.Problems {
			t.Errorf("%s (%s): %s", v.Case.Fault, v.Site, p)
		}
		// The checks end within the budget (and the runner's grace); the
		// cleanups that follow have their own timeout (as figures.go judges).
		if v.ChecksDuration > h.Budget+rr.Grace+2*time.Second {
			t.Errorf("%s: checks took %s, budget %s", v.Case.Fault, v.ChecksDuration, h.Budget)
		}
		if v.Duration > h.Budget+rr.Grace+rr.CleanupTimeout+2*time.Second {
			t.Errorf("%s: site took %s with cleanups, budget %s + cleanup %s", v.Case.Fault, v.Duration, h.Budget, rr.CleanupTimeout)
		}
	}
	if rr.Duration > rr.Limit {
		t.Errorf("round took %s, limit %s", rr.Duration, rr.Limit)
	}
	if rr.Panics != 0 {
		t.Errorf("%d panics", rr.Panics)
	}
	if len(rr.Foreign) != 0 {
		t.Errorf("deletes outside any scratch area: %q", rr.Foreign)
	}
}
