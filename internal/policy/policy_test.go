package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/probes/probe"
)

const sites = `vo: testvo
defaults:
  summary:
    - {type: xrootd, critical: ["[1-9]*"], commissioning: ["1?tkn-*"], commissioning_effect: none}
sites:
  - name: T2_A
    services:
      - {type: xrootd, url: "root://127.0.0.1:1", skip: [16tkn-access]}
      - {type: webdav, url: "https://127.0.0.1:1"}
  - name: T2_B
    services:
      - {type: xrootd, url: "root://127.0.0.1:2", summary: {commissioning: [16tkn-access], commissioning_effect: warning}}
`

// TestApply: every service gets its effective policy, resolved against the
// checks the probe built; a service without one keeps the plain summary.
func TestApply(t *testing.T) {
	cfg, err := config.Parse("sites.yaml", []byte(sites))
	if err != nil {
		t.Fatal(err)
	}
	built, err := plan.Build(cfg, plan.Options{RunID: engine.NewRunID(), Creds: probe.NewCredentials(cfg.Credentials, nil)})
	if err != nil {
		t.Fatal(err)
	}
	Apply(cfg, built)
	a, webdav, b := built[0].Services[0], built[0].Services[1], built[1].Services[0]
	if webdav.Summary != nil {
		t.Errorf("webdav has a policy: %+v", webdav.Summary)
	}
	p := a.Summary
	if p == nil || p.CommissioningCap != engine.OK {
		t.Fatalf("T2_A xrootd policy %+v", p)
	}
	var comm []string
	for _, c := range a.Checks {
		if p.Commissioning[c.ID] {
			comm = append(comm, c.ID)
		}
		if !p.Critical[c.ID] {
			t.Errorf("%s not matched by [1-9]*", c.ID)
		}
	}
	// The skipped 16tkn-access is not on the service, so not resolved.
	if got := strings.Join(comm, ","); got != "14tkn-read,15tkn-contain,17tkn-write,18tkn-directory" {
		t.Errorf("commissioning %s", got)
	}
	// T2_B: its own commissioning list replaces the rule's, the rule's
	// critical stays, its own effect wins.
	if p := b.Summary; p == nil || len(p.Commissioning) != 1 || !p.Commissioning["16tkn-access"] ||
		p.CommissioningCap != engine.Warning || p.Critical == nil {
		t.Errorf("T2_B xrootd policy %+v", b.Summary)
	}
}

// TestCatalogue: the catalogue ignores skip: (a policy may name a skipped
// check), and config checks policies against it once this package is in.
func TestCatalogue(t *testing.T) {
	cfg, err := config.Parse("sites.yaml", []byte(sites))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := Catalogue(cfg, &cfg.Sites[0], &cfg.Sites[0].Services[0])
	if err != nil || !slices.Contains(ids, "16tkn-access") || slices.Contains(ids, engine.SummaryID) {
		t.Errorf("catalogue %v, %v", ids, err)
	}
	_, err = config.Parse("sites.yaml", []byte(strings.Replace(sites, "commissioning: [16tkn-access]", "commissioning: [16tkn-acess]", 1)))
	if err == nil || !strings.Contains(err.Error(), `sites.yaml:12:77: summary.commissioning: no check "16tkn-acess"`) {
		t.Errorf("unknown id: %v", err)
	}
}
