package serve

import (
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// TestStatusPageWorkerNodes: a CE's WN checks (from its test job) get a
// table of their own, one row per CE, beside the CE's own checks.
func TestStatusPageWorkerNodes(t *testing.T) {
	cfg := `vo: testvo
defaults: {timeout: 5s, budget: 20s}
sites:
  - name: T2_A
    services:
      - {type: htcondor-ce, url: "condor://127.0.0.1:1"}
`
	s, _ := newTestServer(t, cfg, Options{})
	if len(s.order) != 1 {
		t.Fatalf("%d jobs", len(s.order))
	}
	j := s.order[0]
	now := time.Now()
	var results []engine.Result
	for _, c := range []struct {
		id, cred string
		st       engine.State
	}{{"1connection", "none", engine.OK}, {"14tkn-submit", "token", engine.OK}, {"WN-01basic", "none", engine.OK},
		{"WN-11token-lifetime", "token", engine.Warning}, {"WN-21tkn-write", "token", engine.Critical}, {"WN-99summary", "none", engine.Critical},
		{"99summary", "none", engine.Critical}} {
		results = append(results, engine.Result{Site: "T2_A", Service: "org.testvo.CE-HTCondor", Protocol: "htcondor-ce", VO: "testvo",
			Check: c.id, Credential: c.cred, State: c.st, Detail: c.id + " detail", Start: now})
	}
	j.record(results, true)
	_, body, _ := get(t, s.Handler(), "/")
	ce, wn, ok := strings.Cut(body, `data-wn="true"`)
	if !ok {
		t.Fatalf("no worker-node table:\n%s", body)
	}
	if !strings.Contains(ce, "<h2>htcondor-ce</h2>") || !strings.Contains(ce, `data-check="14tkn-submit"`) || strings.Contains(ce, `data-check="WN-`) {
		t.Errorf("the CE table holds WN checks or lacks its own")
	}
	if !strings.Contains(ce, "<h2>htcondor-ce · worker nodes (WN checks of the CE&#39;s test job)</h2>") {
		t.Errorf("no worker-node heading")
	}
	for _, w := range []string{`data-check="WN-01basic" data-credential="none" data-state="OK"`, `data-check="WN-11token-lifetime" data-credential="token" data-state="WARNING"`,
		`data-check="WN-21tkn-write" data-credential="token" data-state="CRITICAL"`, "WN-21tkn-write detail", `data-site="T2_A"`} {
		if !strings.Contains(wn, w) {
			t.Errorf("worker-node table lacks %s", w)
		}
	}
	if strings.Contains(wn, `data-check="14tkn-submit"`) {
		t.Error("the worker-node table holds the CE's own checks")
	}
}
