package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Files renders every generated file, keyed by its path below dashboards/.
func Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range Dashboards() {
		b, err := json.MarshalIndent(f.Dash, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", f.Path, err)
		}
		out[f.Path] = append(b, '\n')
	}
	rules, err := RulesYAML()
	if err != nil {
		return nil, err
	}
	out[RulesPath] = rules
	return out, nil
}

// Write renders every file into dir (the dashboards directory).
func Write(dir string) error {
	files, err := Files()
	if err != nil {
		return err
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// Exprs returns every PromQL expression of the dashboards and rules, named
// for messages: dashboard panel queries, variable queries (label_values's
// selector) and rule expressions.
func Exprs() []NamedExpr {
	var out []NamedExpr
	for _, f := range Dashboards() {
		for _, p := range f.Dash.Panels {
			for _, t := range p.Targets {
				out = append(out, NamedExpr{Name: fmt.Sprintf("%s panel %q %s", f.Path, p.Title, t.RefID), Expr: t.Expr, Panel: true})
			}
		}
	}
	for _, g := range Rules().Groups {
		for _, r := range g.Rules {
			name := r.Record
			if r.Alert != "" {
				name = "alert " + r.Alert
			}
			out = append(out, NamedExpr{Name: RulesPath + " " + name, Expr: r.Expr, Alert: r.Alert != ""})
		}
	}
	return out
}

// NamedExpr is one expression and where it comes from.
type NamedExpr struct {
	Name, Expr   string
	Panel, Alert bool
}
