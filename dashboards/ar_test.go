package dashboards

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPromtoolARRules runs the A/R rules' unit tests (synthetic 99summary
// series with UNKNOWN stretches, a gap without results and a scheduled
// downtime) with promtool.
func TestPromtoolARRules(t *testing.T) {
	cmd := exec.Command(promtool(t), "test", "rules", "gridprobe-ar.rules_test.yml")
	cmd.Dir = filepath.Dir(RulesPath)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

// TestARRulesAreInTheRuleFile: every A/R record the dashboards and the
// report use is generated.
func TestARRulesAreInTheRuleFile(t *testing.T) {
	have := map[string]bool{}
	for _, g := range Rules().Groups {
		for _, r := range g.Rules {
			have[r.Record] = true
		}
	}
	for _, r := range []string{RecServiceAvailUp, RecServiceRelUp, RecSiteAvailUp, RecSiteRelUp, RecSiteAvail1d, RecServiceRel1d} {
		if !have[r] {
			t.Errorf("%s is not recorded", r)
		}
	}
}

// TestPromtoolPublishRules runs the publishing alert's unit tests.
func TestPromtoolPublishRules(t *testing.T) {
	cmd := exec.Command(promtool(t), "test", "rules", "gridprobe-publish.rules_test.yml")
	cmd.Dir = filepath.Dir(RulesPath)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}
