package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/internal/protocol"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/probes/probe"
)

const fixtures = "../../internal/vofeed/testdata/"

// importTestbed writes the sites.yaml `probe import` makes of the testbed
// feed and returns its path.
func importTestbed(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "imported.yaml")
	var stdout, stderr bytes.Buffer
	code := run([]string{"import", "--vofeed", fixtures + "testbed.xml", "--base", fixtures + "testbed-base.yaml", "-o", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{"skipped 1: flavour SRM: ", "skipped 1: flavour PERFSONAR: ", "probe import: 1 sites, 4 services from"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	return out
}

type plannedService struct {
	Checks []string // id/credential/requires
	Config config.Service
}

// planOf builds the round of cfgPath and returns every service by type and
// url: its check list and its effective config (without positions).
func planOf(t *testing.T, cfgPath string) map[string]plannedService {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sites, err := plan.Build(cfg, plan.Options{RunID: engine.NewRunID(), Creds: probe.NewCredentials(cfg.Credentials, nil)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]plannedService{}
	for i, s := range sites {
		for j, svc := range s.Services {
			cs := cfg.Sites[i].Services[j]
			var checks []string
			for _, c := range svc.Checks {
				checks = append(checks, fmt.Sprintf("%s/%s/%s", c.ID, c.Credential, strings.Join(c.Requires, "+")))
			}
			cs.Line, cs.From, cs.Path = 0, nil, "" // where values come from differs, and path feeds the templates only
			out[s.Name+" "+cs.Type+" "+cs.URL.String()] = plannedService{Checks: checks, Config: cs}
		}
	}
	return out
}

// TestImportTestbedPlansTheSameChecks: the sites.yaml imported from the
// testbed's feed plans, for every service, the same checks with the same
// prerequisites and the same effective values as the hand-written one.
func TestImportTestbedPlansTheSameChecks(t *testing.T) {
	testbedenv.Setenv(t)
	imported := planOf(t, importTestbed(t))
	written := planOf(t, "../../sites.yaml")
	for key, w := range written { // a type no feed lists (the token issuer) is not imported
		if spec, ok := protocol.Lookup(w.Config.Type); !ok || len(spec.Flavours) == 0 {
			delete(written, key)
		}
	}
	if len(imported) != 4 || len(written) != len(imported) {
		t.Fatalf("%d imported services, %d written", len(imported), len(written))
	}
	for key, w := range written {
		i, ok := imported[key]
		switch {
		case !ok:
			t.Errorf("%s: not imported", key)
		case !slices.Equal(i.Checks, w.Checks):
			t.Errorf("%s: checks\n%v\nwant\n%v", key, i.Checks, w.Checks)
		case !reflect.DeepEqual(i.Config, w.Config):
			t.Errorf("%s: effective config\n%+v\nwant\n%+v", key, i.Config, w.Config)
		}
	}
}

// TestImportTestbedSameVerdicts runs a round of the storage services with
// each sites.yaml against the real testbed: every check reaches the same
// state.
func TestImportTestbedSameVerdicts(t *testing.T) {
	testbedenv.Setenv(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_XROOTD_URL", "GRIDPROBE_ISSUER")
	imported := importTestbed(t)
	states := func(cfg string) map[string]string {
		var out, errb bytes.Buffer
		run([]string{"run", "-c", cfg, "--service", "webdav,xrootd", "--format", "json", "--progress", "off"}, &out, &errb)
		m := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var r struct{ Site, Protocol, Check, Credential, State string }
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s: bad JSON line %q: %v\n%s", cfg, line, err, errb.String())
			}
			m[r.Site+" "+r.Protocol+" "+r.Check+" "+r.Credential] = r.State
		}
		return m
	}
	want, got := states("../../sites.yaml"), states(imported)
	if len(want) < 20 {
		t.Fatalf("only %d results from the hand-written sites.yaml: %v", len(want), want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("imported sites.yaml: states\n%v\nwant (hand-written)\n%v", got, want)
	}
	t.Logf("%d checks, same states", len(got))
}

func TestImportGeneratedFeed(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"import", "--vofeed", fixtures + "cms-200.xml", "--cric", fixtures + "cric-200.json",
		"--group", "Tier-1", "--group", "T0_CH_CERN"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	cfg, err := config.Parse("imported.yaml", stdout.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if len(cfg.Sites) != 8 || cfg.VO != "cms" || cfg.Sites[0].Name != "T0_CH_CERN" ||
		cfg.Sites[1].Groups != (config.Groups{Tier: "1", Country: "US", Federation: "US-FNAL-CMS"}) {
		t.Errorf("sites %+v", cfg.Sites[:2])
	}
	if !strings.Contains(stdout.String(), "# atp_site CERN-PROD — "+fixtures+"cms-200.xml:9:4: /root/atp_site[1]") {
		t.Errorf("no origin comment:\n%s", stdout.String()[:1500])
	}
}

func TestImportErrors(t *testing.T) {
	dir := t.TempDir()
	truncated := filepath.Join(dir, "feed.xml")
	data, err := os.ReadFile(fixtures + "cms-200.xml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	withSites := writeConfig(t, "vo: cms\nsites:\n  - name: T2_A\n    services: [{type: webdav, url: \"https://a\"}]\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import"}, 3, "give --vofeed, --cric or both"},
		{[]string{"import", "--vofeed", truncated}, 1, "feed.xml:2246:62: /root/atp_site[102]: truncated: <atp_site> (line 2242) is not closed"},
		{[]string{"import", "--vofeed", fixtures + "cms-200.xml", "--group", "tier=7"}, 1, "no sites selected (filters: production true, groups [tier=7]"},
		{[]string{"import", "--vofeed", fixtures + "cms-200.xml", "--base", withSites}, 1, "has sites: probe import writes them"},
		{[]string{"import", "--vofeed", "http://example.org/feed.xml"}, 1, "http://example.org/feed.xml: not an https URL"},
		{[]string{"import", "--vofeed", fixtures + "testbed.xml", "--production", "maybe"}, 3, `--production "maybe"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) || stdout.Len() > 0 {
			t.Errorf("%v: exit %d, stderr %q (want %d, %q)", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}
