package engine

import (
	"context"
	"strings"
	"testing"
)

// TestUnmetWording: a check with Unmet words its own UNKNOWN detail when a
// prerequisite failed (e.g. with the prerequisite's reason); it still does
// not run and stays UNKNOWN.
func TestUnmetWording(t *testing.T) {
	ran := false
	s := site("A",
		Check{ID: "14tkn-submit", Run: func(context.Context, *Env) Outcome { return Critf("job HELD: no space") }},
		Check{ID: "WN-01basic", Requires: []string{"14tkn-submit"},
			Unmet: func(failed []string) string {
				return "prerequisite " + strings.Join(failed, ", ") + " failed: job HELD: no space"
			},
			Run: func(context.Context, *Env) Outcome { ran = true; return Okf("ran") }},
	)
	m := byCheck((&Runner{}).Run(context.Background(), []*Site{s}))
	if ran {
		t.Fatal("a check whose prerequisite failed ran")
	}
	if r := m["A/WN-01basic"]; r.State != Unknown || r.Detail != "prerequisite 14tkn-submit failed: job HELD: no space" {
		t.Errorf("WN-01basic = %s %q", r.State, r.Detail)
	}
}
