package serve

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/metrics"
)

// TestSummaryPolicyInServe: a service whose checks past 1connection are in
// commissioning (left out) has an OK 99summary while its raw worst state
// stays what the checks say; /metrics carries both, the status page marks
// the commissioning cells, and a reload naming a check that does not exist
// is refused with the place in the file.
func TestSummaryPolicyInServe(t *testing.T) {
	cfg := fmt.Sprintf(`vo: testvo
defaults:
  timeout: 5s
  budget: 20s
  storage_interval: 1h
  summary:
    - type: webdav
      critical: [1connection]
      commissioning: ["[2-9]*", "1[0-9]*"]
      commissioning_effect: none
sites:
  - name: T2_A
    services:
      - {type: webdav, url: "%s"}
`, endpoint(t))
	s, path := newTestServer(t, cfg, Options{})
	h := s.Handler()
	if code, body, _ := get(t, h, "/probe?site=T2_A&service=webdav"); code != 200 {
		t.Fatalf("probe: %d %s", code, body)
	}
	entries := s.snapshot()
	var sum metrics.Entry
	worst, roles := engine.OK, map[string]string{}
	for _, e := range entries {
		if e.Check == engine.SummaryID {
			sum = e
			continue
		}
		worst = engine.Worst(worst, e.State)
		roles[e.Check] = e.Role
	}
	if worst == engine.OK {
		t.Fatalf("every check OK against a bare TLS listener: %+v", entries)
	}
	if sum.State != engine.OK || sum.RawState == nil || *sum.RawState != worst {
		t.Fatalf("99summary %s (raw %v), want OK (raw %s): %s", sum.State, sum.RawState, worst, sum.Detail)
	}
	for id, role := range roles {
		want := engine.RoleCommissioning
		if id == "1connection" {
			want = engine.RoleCritical
		}
		if role != want {
			t.Errorf("%s: role %q, want %q", id, role, want)
		}
	}

	_, body, _ := get(t, h, "/metrics")
	for _, re := range []string{
		`(?m)^gridprobe_check_state\{check="99summary",[^}]*site="T2_A"[^}]*\} 0$`,
		fmt.Sprintf(`(?m)^gridprobe_check_raw_state\{check="99summary",[^}]*site="T2_A"[^}]*\} %d$`, int(worst)),
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
	if n := strings.Count(body, "\ngridprobe_check_raw_state{"); n != 1 {
		t.Errorf("%d raw_state series, want 1 (99summary only)", n)
	}

	_, page, _ := get(t, h, "/")
	if !strings.Contains(page, `data-check="2ssl" data-credential="none" data-state=`) ||
		!regexp.MustCompile(`class="cell s-\w+ role-commissioning" data-check="2ssl"[^>]*data-role="commissioning"`).MatchString(page) {
		t.Errorf("status page does not mark 2ssl as commissioning:\n%s", grep(page, "2ssl"))
	}
	if strings.Contains(page, `role-commissioning" data-check="1connection"`) {
		t.Error("1connection marked as commissioning")
	}

	bad := strings.Replace(cfg, `critical: [1connection]`, `critical: [1conection]`, 1)
	writeConfig(t, path, bad)
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), `sites.yaml:8:18: defaults.summary[0].critical: no check "1conection"`) ||
		!strings.Contains(err.Error(), `(did you mean "1connection"?)`) {
		t.Errorf("reload with an unknown check id: %v", err)
	}
}
