package faults

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestNoTokenLeaks runs the probe binary everywhere it writes with known
// secrets and finds none of them in any output.
func TestNoTokenLeaks(t *testing.T) {
	tb := testbed(t)
	h, err := NewHarness(tb, 5*time.Second, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lp, err := h.RunLeakProof(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lp.Problems {
		t.Error(p)
	}
	total := 0
	for _, s := range lp.Surfaces {
		total += len(s.Text)
	}
	t.Logf("%d needles searched in %d outputs (%d bytes)", len(lp.Needles), len(lp.Surfaces), total)
	for _, l := range lp.Leaks {
		t.Errorf("LEAK: %s found %d times in %s", l.Needle, l.Count, l.Surface)
	}
	// The proof must be able to fail: the needles are found where they are.
	probe := &LeakProof{Needles: lp.Needles, Surfaces: []Surface{{"planted", strings.Repeat("x", 10)}}}
	for _, n := range lp.Needles {
		probe.Surfaces[0].Text += " " + n.Value
	}
	probe.Scan()
	if probe.Leaked() < len(lp.Needles) {
		t.Errorf("scanner found %d of %d planted needles", probe.Leaked(), len(lp.Needles))
	}
	if len(lp.Surfaces) < 15 {
		t.Errorf("only %d outputs searched", len(lp.Surfaces))
	}
}
