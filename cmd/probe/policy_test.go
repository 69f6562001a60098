package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/probes/probe"
)

type policyLine struct {
	Check, Detail string
	State         engine.State
	Role          string        `json:"summary_role"`
	Raw           *engine.State `json:"raw_state"`
}

// TestSummaryPolicyOnTestbed: the testbed's XRootD 5.5.3 really breaks the
// path-element rule (16tkn-access CRITICAL). With the service's token
// checks in commissioning its 99summary is what the other checks say (OK
// on a healthy testbed; WARNING when the policy caps rather than leaves
// out), the detail names 16tkn-access, the raw worst state stays CRITICAL,
// and the exit code follows the summary; without a policy the summary is
// CRITICAL as before. The token checks come from the probe's catalogue.
func TestSummaryPolicyOnTestbed(t *testing.T) {
	testbedenv.Setenv(t, "GRIDPROBE_XROOTD_URL", "GRIDPROBE_ISSUER")
	base, err := os.ReadFile(filepath.Join(testbedenv.RepoRoot(), "sites.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tokenIDs := tokenChecks(t, base)
	if len(tokenIDs) == 0 || !slices.Contains(tokenIDs, "16tkn-access") {
		t.Fatalf("token checks of the XRootD catalogue: %v", tokenIDs)
	}
	withPolicy := func(effect string) string {
		rule := "defaults:\n  summary:\n    - type: xrootd\n      commissioning: [" + strings.Join(tokenIDs, ", ") +
			"]\n      commissioning_effect: " + effect + "\n"
		return strings.Replace(string(base), "defaults:\n", rule, 1)
	}

	for _, tc := range []struct {
		name, config string
		cap          engine.State // the most a token check may add; -1: no policy
	}{
		{"commissioning, left out", withPolicy(config.EffectNone), engine.OK},
		{"commissioning, capped at WARNING", withPolicy(config.EffectWarning), engine.Warning},
		{"no policy", string(base), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, code := runPolicy(t, tc.config)
			sum, ok := lines[engine.SummaryID]
			if !ok {
				t.Fatalf("no 99summary in %v", lines)
			}
			access := lines["16tkn-access"]
			if access.State != engine.Critical {
				t.Fatalf("16tkn-access %s %q: the testbed's XRootD 5.5.3 should fail the path-element rule", access.State, access.Detail)
			}
			// Expectations from what the checks reported.
			var all, counted []engine.State
			for id, l := range lines {
				if id == engine.SummaryID {
					continue
				}
				all = append(all, l.State)
				switch {
				case tc.cap < 0 || !slices.Contains(tokenIDs, id):
					counted = append(counted, l.State)
				case l.State != engine.OK:
					counted = append(counted, min(l.State, tc.cap)) // OK < WARNING: the cap
				}
			}
			want := engine.Worst(counted...)
			if sum.State != want || sum.Raw == nil || *sum.Raw != engine.Worst(all...) || code != int(want) {
				t.Errorf("99summary %s raw %v exit %d, want %s raw %s exit %d: %s", sum.State, sum.Raw, code, want,
					engine.Worst(all...), int(want), sum.Detail)
			}
			if tc.cap < 0 {
				if sum.State != engine.Critical || !strings.Contains(sum.Detail, "CRITICAL: 16tkn-access") || access.Role != "" {
					t.Errorf("without a policy: %s %q (role %q)", sum.State, sum.Detail, access.Role)
				}
				return
			}
			if access.Role != engine.RoleCommissioning || !strings.Contains(sum.Detail, "commissioning: 16tkn-access CRITICAL") {
				t.Errorf("16tkn-access role %q; summary detail %q", access.Role, sum.Detail)
			}
			critical, nOK := 0, 0
			for id, l := range lines {
				if id != engine.SummaryID && !slices.Contains(tokenIDs, id) {
					critical++
					if l.State == engine.OK {
						nOK++
					}
				}
			}
			if nOK == critical && !strings.HasPrefix(sum.Detail, fmt.Sprintf("%d critical checks OK; commissioning: ", critical)) {
				t.Errorf("detail %q, want it to start with the %d critical checks OK", sum.Detail, critical)
			}
		})
	}
}

// tokenChecks lists the ids of the token checks of the testbed's XRootD
// service, from the catalogue the probe builds.
func tokenChecks(t *testing.T, sitesYAML []byte) []string {
	t.Helper()
	cfg, err := config.Parse("sites.yaml", sitesYAML)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		for j := range cs.Services {
			sv := &cs.Services[j]
			if sv.Type != "xrootd" {
				continue
			}
			svc, err := plan.BuildService(cfg, cs, sv, plan.Options{RunID: engine.NewRunID(), Creds: probe.NewCredentials(cfg.Credentials, nil)})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range svc.Checks {
				if c.Credential == engine.CredToken {
					ids = append(ids, c.ID)
				}
			}
		}
	}
	return ids
}

func runPolicy(t *testing.T, cfgText string) (map[string]policyLine, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sites.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"run", "-c", path, "--service", "xrootd", "--format", "json", "--progress", "off"}, &out, &errb)
	lines := map[string]policyLine{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r policyLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v (stderr %s)", l, err, errb.String())
		}
		lines[r.Check] = r
	}
	return lines, code
}

// TestValidateAndListPolicy: validate checks policy ids against the
// probes' catalogue (file:line:col), list shows the effective policy.
func TestValidateAndListPolicy(t *testing.T) {
	body := "vo: testvo\ndefaults:\n  summary:\n    - {type: xrootd, commissioning: [\"1?tkn-*\"], commissioning_effect: none}\n" +
		"sites:\n  - name: T2_A\n    services:\n      - {type: xrootd, url: \"root://127.0.0.1:1\"}\n" +
		"      - {type: webdav, url: \"https://127.0.0.1:1\", summary: {critical: [1connection, 2ssl], commissioning: [16tkn-acess]}}\n"
	var out, errb bytes.Buffer
	if code := run([]string{"validate", "-c", writeConfig(t, body)}, &out, &errb); code != 1 {
		t.Fatalf("validate: exit %d, stdout %s", code, out.String())
	}
	want := `sites.yaml:9:109: summary.commissioning: no check "16tkn-acess" in service org.testvo.SE-WebDAV of site T2_A (did you mean "16tkn-access"?)`
	if got := strings.TrimSpace(errb.String()); !strings.HasSuffix(got, "/"+want) {
		t.Errorf("validate:\n%s\nwant\n%s", errb.String(), want)
	}

	good := strings.Replace(body, "16tkn-acess", "16tkn-access", 1)
	out.Reset()
	errb.Reset()
	if code := run([]string{"list", "-c", writeConfig(t, good)}, &out, &errb); code != 0 {
		t.Fatalf("list: exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"16tkn-access     token   needs 3version  [commissioning]",
		"99summary        none    worst of the critical checks, commissioning ones left out (summary policy: critical: every check; commissioning: 1?tkn-*, effect none)",
		"10macaroon       x509    needs 2ssl  [not counted]",
		"16tkn-access     token   needs 2ssl  [commissioning]",
		"99summary        none    worst of the critical checks, commissioning ones at most WARNING (summary policy: critical: 1connection, 2ssl; commissioning: 16tkn-access, effect warning)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, out.String())
		}
	}
}
