package dashboards

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaVars are the values the tests give Grafana's variables and
// macros before parsing or running an expression.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$vo", ".*",
	"$site", ".*",
	"$protocol", ".*",
)

// Substitute fills in Grafana variables for running an expression outside
// Grafana (every VO, site and protocol; a 5m rate window).
func Substitute(expr string) string { return grafanaVars.Replace(expr) }

func TestCommittedFilesAreGenerated(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%s: %v (run: go run ./dashboards/gen)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the generator writes; run `go run ./dashboards/gen` and commit", name)
		}
	}
	// No stale generated file lies around.
	for _, dir := range []string{"grafana"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if _, ok := files[filepath.Join(dir, e.Name())]; !ok {
				t.Errorf("%s/%s is not generated any more; delete it", dir, e.Name())
			}
		}
	}
}

func TestExpressionsParse(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	exprs := Exprs()
	if len(exprs) < 15 {
		t.Fatalf("only %d expressions", len(exprs))
	}
	for _, e := range exprs {
		if _, err := p.ParseExpr(Substitute(e.Expr)); err != nil {
			t.Errorf("%s: %q: %v", e.Name, e.Expr, err)
		}
	}
	for _, f := range Dashboards() {
		for _, v := range f.Dash.Templating.List {
			if v.Type != "query" {
				continue
			}
			// label_values(<selector>, label): the selector must parse.
			def := strings.TrimSuffix(strings.TrimPrefix(v.Definition, "label_values("), ")")
			i := strings.LastIndex(def, ",")
			if i < 0 {
				t.Errorf("%s variable %s: %q", f.Path, v.Name, v.Definition)
				continue
			}
			if _, err := p.ParseExpr(Substitute(def[:i])); err != nil {
				t.Errorf("%s variable %s: %v", f.Path, v.Name, err)
			}
		}
	}
}

func TestDashboardShape(t *testing.T) {
	for _, f := range Dashboards() {
		names := map[string]bool{}
		for _, v := range f.Dash.Templating.List {
			names[v.Name] = true
		}
		for _, want := range []string{"datasource", "vo", "site", "protocol", "tier", "country", "federation"} {
			if !names[want] {
				t.Errorf("%s lacks variable %s", f.Path, want)
			}
		}
		ids := map[int]bool{}
		for _, p := range f.Dash.Panels {
			if ids[p.ID] {
				t.Errorf("%s: duplicate panel id %d", f.Path, p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f.Path, p.Title)
			}
			for _, tg := range p.Targets {
				if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
					t.Errorf("%s: panel %q does not use the datasource variable", f.Path, p.Title)
				}
			}
		}
	}
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (Debian package prometheus): %v", err)
	}
	return p
}

func TestPromtoolRules(t *testing.T) {
	pt := promtool(t)
	out, err := exec.Command(pt, "check", "rules", RulesPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	cmd := exec.Command(pt, "test", "rules", filepath.Base(strings.TrimSuffix(RulesPath, ".rules.yml")+".rules_test.yml"))
	cmd.Dir = filepath.Dir(RulesPath)
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}
