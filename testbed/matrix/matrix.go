// Package matrix turns one round of probe results against several server
// releases into the version matrix (rows = checks, columns = releases,
// cells = Nagios state; one matrix per product: the storage element, ARC-CE,
// HTCondor-CE, since each product has its own releases) and, with a small annotations file, into the
// known-issues table: one row per non-OK cell saying what the server does
// wrong, which WLCG rule that breaks and whether a site can work around it.
//
// The table is generated, not written by hand, so it stays true when a
// release changes: a non-OK cell without an annotation is listed as
// unexplained, and an annotation no cell matches any more is reported as
// stale. Running the probes and the servers is the job of cmd/matrix and the
// scripts beside this file.
package matrix

import (
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// Products, in report order: the storage element (XRootD, probed over
// WebDAV and root://), ARC-CE and HTCondor-CE.
const (
	ProductXRootD   = "xrootd"
	ProductARC      = "arc"
	ProductHTCondor = "condor"
)

// ProductTitle names a product and the package its version is of.
func ProductTitle(p string) (title, pkg string) {
	switch p {
	case ProductXRootD:
		return "Storage element (XRootD)", "xrootd-server"
	case ProductARC:
		return "ARC-CE (A-REX)", "nordugrid-arc-arex"
	case ProductHTCondor:
		return "HTCondor-CE (HTCondor)", "minicondor"
	}
	return p, p
}

// Release is one column: a server release under test.
type Release struct {
	Product   string // xrootd, arc, condor
	Name      string // the Debian release it comes from: bookworm, trixie, sid
	Version   string // the product's package version, e.g. 5.8.1-1
	Site      string // the site name its results carry
	StartupMS string // server start-up time in ms, "-" when not started by the matrix
}

// Row identifies a check across releases.
type Row struct {
	Protocol string // webdav, xrootd
	Check    string // e.g. 14tkn-read
}

func (r Row) String() string { return protoLabel(r.Protocol) + " " + r.Check }

// Cell is one result of one check against one release.
type Cell struct {
	Release string
	Row     Row
	State   engine.State
	Detail  string
	Rules   []engine.RuleResult // the rules the check tested (rules.go)
}

// Matrix holds the cells of one run in row and column order.
type Matrix struct {
	Releases []Release
	Rows     []Row
	cells    map[string]map[Row]Cell // release name -> row -> cell
}

// New builds the matrix from the results of one round; a result belongs to
// the release whose Site it carries. Rows keep the probes' catalogue order
// (first seen), WebDAV before XRootD.
func New(releases []Release, results []engine.Result) *Matrix {
	m := &Matrix{Releases: releases, cells: map[string]map[Row]Cell{}}
	bySite := map[string]string{}
	for _, r := range releases {
		bySite[r.Site] = r.Name
		m.cells[r.Name] = map[Row]Cell{}
	}
	seen := map[Row]bool{}
	var rows []Row
	for _, res := range results {
		rel, ok := bySite[res.Site]
		if !ok {
			continue
		}
		row := Row{Protocol: res.Protocol, Check: res.Check}
		if !seen[row] {
			seen[row] = true
			rows = append(rows, row)
		}
		m.cells[rel][row] = Cell{Release: rel, Row: row, State: res.State, Detail: res.Detail, Rules: res.Rules}
	}
	// Stable: protocol order, then first-seen order (catalogue order) within a protocol.
	order := map[string]int{"webdav": 0, "xrootd": 1, "arc-ce": 2, "htcondor-ce": 3}
	slices.SortStableFunc(rows, func(a, b Row) int {
		oa, okA := order[a.Protocol]
		ob, okB := order[b.Protocol]
		if !okA {
			oa = 9
		}
		if !okB {
			ob = 9
		}
		return oa - ob
	})
	m.Rows = rows
	return m
}

// Label is a release's column label: name and short version.
func (m *Matrix) Label(release string) string { return m.releaseLabel(release) }

// Cell returns the cell of a release and row; ok is false when that check
// did not run against the release (not configured there).
func (m *Matrix) Cell(release string, row Row) (Cell, bool) {
	c, ok := m.cells[release][row]
	return c, ok
}

// NonOK returns every cell that is not OK, by row then release.
func (m *Matrix) NonOK() []Cell {
	var out []Cell
	for _, row := range m.Rows {
		for _, r := range m.Releases {
			if c, ok := m.cells[r.Name][row]; ok && c.State != engine.OK {
				out = append(out, c)
			}
		}
	}
	return out
}

// WriteTable writes the matrix as a Markdown table. A cell is the state; a
// check that did not run against a release is "–".
func (m *Matrix) WriteTable(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| check |")
	for _, r := range m.Releases {
		fmt.Fprintf(&b, " %s %s |", r.Name, shortVersion(r.Version))
	}
	b.WriteString("\n|---|")
	for range m.Releases {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range m.Rows {
		fmt.Fprintf(&b, "| %s |", row)
		for _, r := range m.Releases {
			c, ok := m.cells[r.Name][row]
			if !ok {
				b.WriteString(" – |")
				continue
			}
			if c.State == engine.OK {
				b.WriteString(" OK |")
			} else {
				fmt.Fprintf(&b, " **%s** |", c.State)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteNonOK writes the non-OK cells with the probe's detail as a Markdown
// list.
func (m *Matrix) WriteNonOK(w io.Writer) error {
	var b strings.Builder
	cells := m.NonOK()
	if len(cells) == 0 {
		b.WriteString("Every check is OK against every release.\n")
	}
	for _, c := range cells {
		fmt.Fprintf(&b, "- %s · %s: `%s - %s`\n", m.releaseLabel(c.Release), c.Row, c.State, mdCode(c.Detail))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (m *Matrix) releaseLabel(name string) string {
	for _, r := range m.Releases {
		if r.Name == name {
			return name + " " + shortVersion(r.Version)
		}
	}
	return name
}

// Annotation explains non-OK cells: which release(s), which check, what the
// server does wrong, which rule that breaks, and the site's workaround.
type Annotation struct {
	ID string `yaml:"id"`
	// Releases the annotation applies to (release names); empty = all.
	Releases []string `yaml:"releases"`
	// Protocol (webdav, xrootd) and Check (e.g. 16tkn-access, or a pattern
	// such as 21tkn-tpc-access-* for a TPC rule with every partner) it
	// explains.
	Protocol string `yaml:"protocol"`
	Check    string `yaml:"check"`
	// Detail, when set, is a regular expression the probe's detail must
	// match: when the failure changes, the annotation stops matching.
	Detail string `yaml:"detail"`
	// State, when set, is the state the cell must have (e.g. CRITICAL).
	State string `yaml:"state"`
	// ProfileRules, when set, makes the annotation explain those rules'
	// verdicts in the check's rules (rules.go), not the cell; Verdict, when
	// set, is the verdict they must have (fail, warn, inconclusive). Detail
	// then matches the rule's detail.
	ProfileRules []string `yaml:"profile_rules"`
	Verdict      string   `yaml:"verdict"`

	Wrong      string `yaml:"wrong"`      // what the server does wrong
	Rule       string `yaml:"rule"`       // the WLCG rule it breaks ("none" for a testbed/probe matter)
	Workaround string `yaml:"workaround"` // whether and how a site can work around it
	Reproduce  string `yaml:"reproduce"`  // how it was confirmed by hand (shell, reference clients)

	detail *regexp.Regexp
}

// Matches reports whether the annotation explains the cell.
func (a *Annotation) Matches(c Cell) bool {
	if len(a.ProfileRules) > 0 {
		return false
	}
	if len(a.Releases) > 0 && !slices.Contains(a.Releases, c.Release) {
		return false
	}
	if a.Protocol != "" && a.Protocol != c.Row.Protocol {
		return false
	}
	if ok, _ := path.Match(a.Check, c.Row.Check); !ok && a.Check != c.Row.Check {
		return false // a pattern names a rule with any partner: 21tkn-tpc-access-*
	}
	if a.State != "" && !strings.EqualFold(a.State, c.State.String()) {
		return false
	}
	return a.detail == nil || a.detail.MatchString(c.Detail)
}

// Finding is a release defect established by hand that no probe check
// covers (e.g. one that takes the server down); listed beside the
// generated table so the README keeps it, with how to reproduce it.
type Finding struct {
	ID         string   `yaml:"id"`
	Releases   []string `yaml:"releases"` // affected releases, as "name version"
	Fine       []string `yaml:"fine"`     // releases that behave correctly
	Wrong      string   `yaml:"wrong"`
	Rule       string   `yaml:"rule"`
	Workaround string   `yaml:"workaround"`
	Reproduce  string   `yaml:"reproduce"`
}

// File is the annotations file: annotations for non-OK cells, and
// findings no check covers.
type File struct {
	Annotations []*Annotation `yaml:"annotations"`
	Findings    []*Finding    `yaml:"findings"`
}

// LoadAnnotations reads the annotations file.
func LoadAnnotations(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read annotations: %w", err)
	}
	return ParseFile(data)
}

// ParseAnnotations parses annotations YAML and returns its annotations.
func ParseAnnotations(data []byte) ([]*Annotation, error) {
	f, err := ParseFile(data)
	if err != nil {
		return nil, err
	}
	return f.Annotations, nil
}

// ParseFile parses the annotations file: `annotations:` and `findings:`.
func ParseFile(data []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err != io.EOF {
		return nil, fmt.Errorf("parse annotations: %w", err)
	}
	for i, fd := range f.Findings {
		if fd.ID == "" || fd.Wrong == "" || fd.Rule == "" || fd.Workaround == "" || len(fd.Releases) == 0 {
			return nil, fmt.Errorf("finding %d (%s): id, releases, wrong, rule and workaround are required", i+1, fd.ID)
		}
	}
	ids := map[string]bool{}
	for i, a := range f.Annotations {
		switch {
		case a.ID == "":
			return nil, fmt.Errorf("annotation %d: no id", i+1)
		case ids[a.ID]:
			return nil, fmt.Errorf("annotation %s: duplicate id", a.ID)
		case a.Check == "":
			return nil, fmt.Errorf("annotation %s: no check", a.ID)
		case a.Wrong == "" || a.Rule == "" || a.Workaround == "":
			return nil, fmt.Errorf("annotation %s: wrong, rule and workaround are required", a.ID)
		}
		ids[a.ID] = true
		if a.State != "" {
			if _, err := engine.ParseState(a.State); err != nil {
				return nil, fmt.Errorf("annotation %s: %w", a.ID, err)
			}
		}
		if a.Verdict != "" && !slices.Contains([]string{engine.VerdictFail, engine.VerdictWarn, engine.VerdictInconclusive}, a.Verdict) {
			return nil, fmt.Errorf("annotation %s: verdict %q: want fail, warn or inconclusive", a.ID, a.Verdict)
		}
		if a.Detail != "" {
			re, err := regexp.Compile(a.Detail)
			if err != nil {
				return nil, fmt.Errorf("annotation %s: detail: %w", a.ID, err)
			}
			a.detail = re
		}
	}
	return &f, nil
}

// WriteFindings writes the by-hand findings as a Markdown table followed by
// their reproduce commands.
func WriteFindings(w io.Writer, fs []*Finding) error {
	if len(fs) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("| affected | fine | what the server does wrong | WLCG rule broken | site workaround |\n|---|---|---|---|---|\n")
	for _, f := range fs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdCell(strings.Join(f.Releases, "; ")), mdCell(strings.Join(f.Fine, "; ")),
			mdCell(f.Wrong), mdCell(f.Rule), mdCell(f.Workaround))
	}
	b.WriteString("\n")
	for _, f := range fs {
		if f.Reproduce != "" {
			fmt.Fprintf(&b, "#### %s\n\n```sh\n%s\n```\n\n", f.ID, strings.TrimRight(f.Reproduce, "\n"))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// prereqRE matches the engine's detail for a check not run because a
// prerequisite failed.
var prereqRE = regexp.MustCompile(`^prerequisites? (.+) failed$`)

// Issue is one row of the known-issues table: a non-OK cell and what
// explains it (nil Annotation: unexplained).
type Issue struct {
	Cell       Cell
	Annotation *Annotation
	// Derived is set for cells explained by another cell of the same
	// release: a prerequisite that failed, or the summary.
	Derived string
	// Label is the cell's release as its matrix labels it (name and
	// version), so issues of several matrices can share one table.
	Label string
}

// Explain matches every non-OK cell against the annotations. It returns
// the issues in matrix order and the ids of annotations that matched no
// cell (stale: the server changed, or the run did not reach that check).
// Cells that only follow from another failure (UNKNOWN after a failed
// prerequisite, and 99summary) are derived, not annotated.
func Explain(m *Matrix, anns []*Annotation) (issues []Issue, stale []string) {
	used := map[string]bool{}
	for _, c := range m.NonOK() {
		is := Issue{Cell: c, Label: m.releaseLabel(c.Release)}
		switch {
		case c.Row.Check == engine.SummaryID:
			is.Derived = "worst state of the service's checks"
		case c.State == engine.Unknown && prereqRE.MatchString(c.Detail):
			is.Derived = "follows from the failed " + prereqRE.FindStringSubmatch(c.Detail)[1]
		}
		if is.Derived == "" {
			for _, a := range anns {
				if a.Matches(c) {
					is.Annotation = a
					used[a.ID] = true
					break
				}
			}
		}
		if is.Annotation == nil && is.Derived == "" && rulesExplain(c, anns) {
			is.Derived = "the rules it found broken (rule issues)"
		}
		issues = append(issues, is)
	}
	for _, a := range anns {
		if !used[a.ID] && !a.matchesAnyRule(m) {
			stale = append(stale, a.ID)
		}
	}
	return issues, stale
}

// matchesAnyRule: a rule annotation that explains a verdict of m.
func (a *Annotation) matchesAnyRule(m *Matrix) bool {
	if len(a.ProfileRules) == 0 {
		return false
	}
	for _, row := range m.RuleRows() {
		for _, r := range m.Releases {
			if c, ok := m.RuleCell(r.Name, row); ok && notHeld(c.Verdict) && a.MatchesRule(c) {
				return true
			}
		}
	}
	return false
}

// ExplainAll explains the cells of several matrices (one per product) with
// one annotations list: the issues of every matrix in order, and the ids of
// annotations that matched no cell in any of them.
func ExplainAll(ms []*Matrix, anns []*Annotation) (issues []Issue, stale []string) {
	unused := map[string]int{}
	for _, m := range ms {
		is, st := Explain(m, anns)
		issues = append(issues, is...)
		for _, id := range st {
			unused[id]++
		}
	}
	for _, a := range anns {
		if unused[a.ID] == len(ms) {
			stale = append(stale, a.ID)
		}
	}
	return issues, stale
}

// Unexplained returns the issues that are neither annotated nor derived.
func Unexplained(issues []Issue) []Issue {
	var out []Issue
	for _, is := range issues {
		if is.Annotation == nil && is.Derived == "" {
			out = append(out, is)
		}
	}
	return out
}

// WriteKnownIssues writes the known-issues table in Markdown: one row per
// annotated non-OK cell (cells sharing an annotation are merged into one
// row listing their releases), then the unexplained cells. Derived cells
// are left out: their cause is another row.
func WriteKnownIssues(w io.Writer, issues []Issue) error {
	var b strings.Builder
	b.WriteString("| release | check | state | what the server does wrong | WLCG rule broken | site workaround |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	type key struct {
		id  string
		row Row
	}
	var order []key
	rels := map[key][]string{}
	states := map[key][]string{}
	byKey := map[key]*Annotation{}
	for _, is := range issues {
		if is.Annotation == nil {
			continue
		}
		k := key{is.Annotation.ID, is.Cell.Row}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
			byKey[k] = is.Annotation
		}
		rels[k] = append(rels[k], is.Label)
		if s := is.Cell.State.String(); !slices.Contains(states[k], s) {
			states[k] = append(states[k], s)
		}
	}
	for _, k := range order {
		a := byKey[k]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", strings.Join(rels[k], ", "), k.row, strings.Join(states[k], ", "),
			mdCell(a.Wrong), mdCell(a.Rule), mdCell(a.Workaround))
	}
	for _, is := range Unexplained(issues) {
		fmt.Fprintf(&b, "| %s | %s | %s | UNEXPLAINED: `%s` | ? | ? |\n", is.Label, is.Cell.Row, is.Cell.State, mdCode(is.Cell.Detail))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteReproduce writes, per annotation used, how it was confirmed by hand.
func WriteReproduce(w io.Writer, issues []Issue) error {
	var b strings.Builder
	done := map[string]bool{}
	for _, is := range issues {
		a := is.Annotation
		if a == nil || done[a.ID] || a.Reproduce == "" {
			continue
		}
		done[a.ID] = true
		fmt.Fprintf(&b, "#### %s (%s)\n\n```sh\n%s\n```\n\n", a.ID, Row{a.Protocol, a.Check}, strings.TrimRight(a.Reproduce, "\n"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func protoLabel(p string) string {
	switch p {
	case "webdav":
		return "WebDAV"
	case "xrootd":
		return "XRootD"
	case "arc-ce":
		return "ARC-CE"
	case "htcondor-ce":
		return "HTCondor-CE"
	}
	return p
}

// shortVersion drops the Debian revision and repack suffix: 5.8.1-1 →
// 5.8.1, 23.9.6+dfsg-2.1+b10 → 23.9.6.
func shortVersion(v string) string {
	if i := strings.LastIndex(v, "-"); i > 0 {
		v = v[:i]
	}
	if i := strings.Index(v, "+"); i > 0 {
		v = v[:i]
	}
	return v
}

// mdCell makes text safe inside a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// mdCode makes text safe inside inline code in a table or list.
func mdCode(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "`", "'"), "|", "¦")
}
