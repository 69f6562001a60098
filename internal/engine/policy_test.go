package engine

import (
	"context"
	"strings"
	"testing"
)

func outcome(o Outcome) func(context.Context, *Env) Outcome {
	return func(context.Context, *Env) Outcome { return o }
}

// policySite is a service with two critical-looking checks, a failing
// token check and a warning, run under policy p.
func policySite(p *SummaryPolicy) *Site {
	s := site("A",
		Check{ID: "1connection", Run: ok},
		Check{ID: "4crt-read", Requires: []string{"1connection"}, Run: ok},
		Check{ID: "10macaroon", Requires: []string{"1connection"}, Run: outcome(Warnf("slow"))},
		Check{ID: "14tkn-read", Requires: []string{"1connection"}, Run: ok},
		Check{ID: "16tkn-access", Requires: []string{"1connection"}, Run: crit},
		Check{ID: "17tkn-write", Requires: []string{"16tkn-access"}, Run: ok}, // UNKNOWN: prerequisite failed
	)
	s.Services[0].Summary = p
	return s
}

func set(ids ...string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func TestPolicySummary(t *testing.T) {
	tkn := set("14tkn-read", "16tkn-access", "17tkn-write")
	tests := []struct {
		name       string
		policy     *SummaryPolicy
		state, raw State
		detail     string
	}{
		{"no policy: worst of all", nil, Critical, Critical,
			"3 of 6 checks not OK; CRITICAL: 16tkn-access; UNKNOWN: 17tkn-write; WARNING: 10macaroon"},
		{"token checks commissioning, left out", &SummaryPolicy{Commissioning: tkn, CommissioningCap: OK}, Warning, Critical,
			"1 of 3 critical checks not OK; WARNING: 10macaroon; commissioning: 16tkn-access CRITICAL, 17tkn-write UNKNOWN"},
		{"token checks commissioning, capped", &SummaryPolicy{Commissioning: tkn, CommissioningCap: Warning}, Warning, Critical,
			"1 of 3 critical checks not OK; WARNING: 10macaroon; commissioning: 16tkn-access CRITICAL, 17tkn-write UNKNOWN"},
		{"critical subset, rest not counted", &SummaryPolicy{Critical: set("1connection", "4crt-read"), Commissioning: set("16tkn-access"), CommissioningCap: OK},
			OK, Critical, "2 critical checks OK; commissioning: 16tkn-access CRITICAL; not counted: 10macaroon WARNING, 17tkn-write UNKNOWN"},
		{"commissioning wins over critical", &SummaryPolicy{Critical: set("1connection", "16tkn-access"), Commissioning: set("16tkn-access"), CommissioningCap: Warning},
			Warning, Critical, "1 critical check OK; commissioning: 16tkn-access CRITICAL; not counted: 10macaroon WARNING, 17tkn-write UNKNOWN"},
		{"everything commissioning", &SummaryPolicy{Commissioning: set("1connection", "4crt-read", "10macaroon", "14tkn-read", "16tkn-access", "17tkn-write"), CommissioningCap: OK},
			OK, Critical, "no critical checks; commissioning: 10macaroon WARNING, 16tkn-access CRITICAL, 17tkn-write UNKNOWN"},
		{"critical failure still counts", &SummaryPolicy{Critical: set("16tkn-access"), CommissioningCap: Warning},
			Critical, Critical, "1 of 1 critical check not OK; CRITICAL: 16tkn-access; not counted: 10macaroon WARNING, 17tkn-write UNKNOWN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := byCheck((&Runner{}).Run(context.Background(), []*Site{policySite(tc.policy)}))
			sum := m["A/99summary"]
			if sum.State != tc.state || sum.RawState == nil || *sum.RawState != tc.raw || sum.Detail != tc.detail {
				raw := "nil"
				if sum.RawState != nil {
					raw = sum.RawState.String()
				}
				t.Errorf("summary %s (raw %s) %q\nwant      %s (raw %s) %q", sum.State, raw, sum.Detail, tc.state, tc.raw, tc.detail)
			}
			// The checks keep their own states, and say their role.
			if r := m["A/16tkn-access"]; r.State != Critical || r.Role != tc.policy.Role("16tkn-access") {
				t.Errorf("16tkn-access %s role %q", r.State, r.Role)
			}
			if sum.Role != "" {
				t.Errorf("99summary has role %q", sum.Role)
			}
		})
	}
}

func TestPolicyRoles(t *testing.T) {
	p := &SummaryPolicy{Critical: set("1connection", "16tkn-access"), Commissioning: set("16tkn-access")}
	for id, want := range map[string]string{"1connection": RoleCritical, "16tkn-access": RoleCommissioning,
		"2ssl": RoleNotCounted, SummaryID: ""} {
		if got := p.Role(id); got != want {
			t.Errorf("Role(%s) = %q, want %q", id, got, want)
		}
	}
	if got := (*SummaryPolicy)(nil).Role("1connection"); got != "" {
		t.Errorf("nil policy role %q", got)
	}
	if got := (&SummaryPolicy{}).Role("2ssl"); got != RoleCritical {
		t.Errorf("nil Critical: role %q, want critical", got)
	}
}

// TestPolicySummaryCleanupAndLength: a failed cleanup still warns, and a
// long list is cut to one line of at most MaxDetail characters.
func TestPolicySummaryCleanupAndLength(t *testing.T) {
	var checks []Check
	comm := map[string]bool{}
	for i := range 40 {
		id := "1" + strings.Repeat("x", i%5) + "tkn-check-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		comm[id] = true
		checks = append(checks, Check{ID: id, Run: crit})
	}
	checks = append(checks, Check{ID: "1connection", Run: func(_ context.Context, env *Env) Outcome {
		env.Cleanup("remove", func(context.Context) error { return context.DeadlineExceeded })
		return Okf("up")
	}})
	s := site("A", checks...)
	s.Services[0].Summary = &SummaryPolicy{Commissioning: comm, CommissioningCap: OK}
	sum := byCheck((&Runner{}).Run(context.Background(), []*Site{s}))["A/99summary"]
	if sum.State != Warning || *sum.RawState != Critical {
		t.Errorf("summary %s raw %s, want WARNING (failed cleanup) raw CRITICAL", sum.State, *sum.RawState)
	}
	if len(sum.Detail) > MaxDetail || !strings.HasPrefix(sum.Detail, "1 critical check OK; 1connection cleanup remove: ") ||
		!strings.Contains(sum.Detail, "; commissioning: 1tkn-check-aa CRITICAL, ") || !strings.HasSuffix(sum.Detail, "...") {
		t.Errorf("detail (%d chars) %q", len(sum.Detail), sum.Detail)
	}
}
