package faults

import (
	"context"
	"testing"
	"time"
)

// TestHundredSites runs 100 sites with a mix of every fault in one round
// and checks the round stays within its budget with every site judged
// correctly.
func TestHundredSites(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the 100-site round takes about a minute")
	}
	tb := testbed(t)
	h, err := NewHarness(tb, 5*time.Second, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	cases, err := h.MixCases(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := h.RunRound(ctx, cases, 20)
	if err != nil {
		t.Fatal(err)
	}
	var f Figures
	f.AddRound("100 sites", rr)
	t.Logf("round %s: %s", rr.RunID, f.Durations[0])
	for _, p := range f.Problems {
		t.Error(p)
	}
	if fs := f.Failures(); len(fs) > 0 {
		t.Errorf("figures wrong: %v", fs)
	}
	if f.FaultySites < 80 || f.FaultKinds < 15 {
		t.Errorf("round too tame: %d faulty sites, %d fault kinds", f.FaultySites, f.FaultKinds)
	}
}
