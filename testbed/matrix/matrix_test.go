package matrix

import (
	"os"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/engine"
)

var testReleases = []Release{
	{Name: "bookworm", Version: "5.5.3-1", Site: "T2_LOCAL_bookworm", StartupMS: "-"},
	{Name: "trixie", Version: "5.8.1-1", Site: "T2_LOCAL_trixie", StartupMS: "600"},
}

func res(site, proto, check string, st engine.State, detail string) engine.Result {
	return engine.Result{Site: site, Protocol: proto, Check: check, State: st, Detail: detail}
}

func testResults() []engine.Result {
	return []engine.Result{
		res("T2_LOCAL_bookworm", "xrootd", "1connection", engine.OK, "ok"),
		res("T2_LOCAL_bookworm", "xrootd", "16tkn-access", engine.Critical, "1 of 5 refusals not enforced: token for .../a reading sibling .../ab: read it"),
		res("T2_LOCAL_bookworm", "xrootd", "17tkn-write", engine.Unknown, "prerequisite 3version failed"),
		res("T2_LOCAL_bookworm", "xrootd", "99summary", engine.Critical, "1 of 2 checks not OK"),
		res("T2_LOCAL_bookworm", "webdav", "1connection", engine.OK, "ok"),
		res("T2_LOCAL_trixie", "webdav", "1connection", engine.OK, "ok"),
		res("T2_LOCAL_trixie", "xrootd", "1connection", engine.OK, "ok"),
		res("T2_LOCAL_trixie", "xrootd", "16tkn-access", engine.Warning, "something | new `here`"),
		res("T2_LOCAL_trixie", "xrootd", "99summary", engine.Warning, "1 of 2 checks not OK"),
		res("T2_LOCAL_elsewhere", "xrootd", "1connection", engine.Critical, "not a column"),
	}
}

const testAnnotations = `
annotations:
  - id: prefix
    releases: [bookworm]
    protocol: xrootd
    check: 16tkn-access
    state: CRITICAL
    detail: 'sibling .*: read it'
    wrong: prefix matching
    rule: whole path elements
    workaround: upgrade
    reproduce: xrdfs stat
  - id: gone
    protocol: webdav
    check: 17tkn-write
    wrong: w
    rule: r
    workaround: none
`

func TestMatrixTable(t *testing.T) {
	m := New(testReleases, testResults())
	var rows []string
	for _, r := range m.Rows {
		rows = append(rows, r.String())
	}
	want := "WebDAV 1connection,XRootD 1connection,XRootD 16tkn-access,XRootD 17tkn-write,XRootD 99summary"
	if got := strings.Join(rows, ","); got != want {
		t.Fatalf("rows = %s, want %s", got, want)
	}
	var b strings.Builder
	if err := m.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	table := b.String()
	for _, line := range []string{
		"| check | bookworm 5.5.3 | trixie 5.8.1 |",
		"| XRootD 16tkn-access | **CRITICAL** | **WARNING** |",
		"| XRootD 17tkn-write | **UNKNOWN** | – |",
		"| WebDAV 1connection | OK | OK |",
	} {
		if !strings.Contains(table, line+"\n") {
			t.Errorf("table lacks %q:\n%s", line, table)
		}
	}
	if strings.Contains(table, "elsewhere") || strings.Contains(table, "not a column") {
		t.Errorf("a result of no release leaked into the table:\n%s", table)
	}
	if n := len(m.NonOK()); n != 5 {
		t.Errorf("NonOK = %d cells, want 5", n)
	}
}

func TestExplain(t *testing.T) {
	anns, err := ParseAnnotations([]byte(testAnnotations))
	if err != nil {
		t.Fatal(err)
	}
	m := New(testReleases, testResults())
	issues, stale := Explain(m, anns)
	if len(stale) != 1 || stale[0] != "gone" {
		t.Errorf("stale = %v, want [gone]", stale)
	}
	got := map[string]string{}
	for _, is := range issues {
		k := is.Cell.Release + " " + is.Cell.Row.String()
		switch {
		case is.Annotation != nil:
			got[k] = "ann:" + is.Annotation.ID
		case is.Derived != "":
			got[k] = "derived:" + is.Derived
		default:
			got[k] = "unexplained"
		}
	}
	want := map[string]string{
		"bookworm XRootD 16tkn-access": "ann:prefix",
		"bookworm XRootD 17tkn-write":  "derived:follows from the failed 3version",
		"bookworm XRootD 99summary":    "derived:worst state of the service's checks",
		"trixie XRootD 16tkn-access":   "unexplained", // the annotation is for bookworm only
		"trixie XRootD 99summary":      "derived:worst state of the service's checks",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("issues %v, want %v", got, want)
	}

	var b strings.Builder
	if err := WriteKnownIssues(&b, issues); err != nil {
		t.Fatal(err)
	}
	tbl := b.String()
	if !strings.Contains(tbl, "| bookworm 5.5.3 | XRootD 16tkn-access | CRITICAL | prefix matching | whole path elements | upgrade |") {
		t.Errorf("annotated row missing:\n%s", tbl)
	}
	// The unexplained cell's detail must not break the table (| and backquotes).
	if !strings.Contains(tbl, "| trixie 5.8.1 | XRootD 16tkn-access | WARNING | UNEXPLAINED: `something ¦ new 'here'` | ? | ? |") {
		t.Errorf("unexplained row missing or unescaped:\n%s", tbl)
	}
	if strings.Contains(tbl, "99summary") || strings.Contains(tbl, "17tkn-write") {
		t.Errorf("derived cells must not be rows of the known-issues table:\n%s", tbl)
	}
}

func TestAnnotationMatching(t *testing.T) {
	anns, err := ParseAnnotations([]byte(testAnnotations))
	if err != nil {
		t.Fatal(err)
	}
	a := anns[0]
	base := Cell{Release: "bookworm", Row: Row{"xrootd", "16tkn-access"}, State: engine.Critical, Detail: "token for a reading sibling ab: read it"}
	if !a.Matches(base) {
		t.Fatal("the annotated cell does not match")
	}
	for name, mut := range map[string]func(*Cell){
		"other release":  func(c *Cell) { c.Release = "sid" },
		"other protocol": func(c *Cell) { c.Row.Protocol = "webdav" },
		"other check":    func(c *Cell) { c.Row.Check = "15tkn-contain" },
		"other state":    func(c *Cell) { c.State = engine.Warning },
		"changed detail": func(c *Cell) { c.Detail = "token for a reading sibling ab: refused" },
	} {
		c := base
		mut(&c)
		if a.Matches(c) {
			t.Errorf("%s: still matches", name)
		}
	}
}

func TestParseAnnotationsErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"no id":         "annotations:\n  - {check: x, wrong: w, rule: r, workaround: a}\n",
		"duplicate id":  "annotations:\n  - {id: a, check: x, wrong: w, rule: r, workaround: a}\n  - {id: a, check: y, wrong: w, rule: r, workaround: a}\n",
		"no workaround": "annotations:\n  - {id: a, check: x, wrong: w, rule: r}\n",
		"bad regexp":    "annotations:\n  - {id: a, check: x, wrong: w, rule: r, workaround: a, detail: '('}\n",
		"bad state":     "annotations:\n  - {id: a, check: x, wrong: w, rule: r, workaround: a, state: BAD}\n",
		"unknown key":   "annotations:\n  - {id: a, check: x, wrong: w, rule: r, workaround: a, typo: 1}\n",
	} {
		if _, err := ParseAnnotations([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestAnnotationsFile keeps the committed annotations file valid.
func TestAnnotationsFile(t *testing.T) {
	data, err := os.ReadFile("annotations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Annotations) == 0 || len(f.Findings) == 0 {
		t.Fatalf("annotations.yaml has %d annotations and %d findings", len(f.Annotations), len(f.Findings))
	}
	var b strings.Builder
	if err := WriteFindings(&b, f.Findings); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "#### "+f.Findings[0].ID) {
		t.Errorf("findings output lacks the reproduce section of %s", f.Findings[0].ID)
	}
}

// CE columns: one matrix per product, one annotations list; rows in
// protocol order; annotations unused in every matrix are stale, those used
// in one are not; labels carry each product's own version.
func TestExplainAllProducts(t *testing.T) {
	arc := []Release{
		{Product: ProductARC, Name: "bookworm", Version: "6.17.0-3", Site: "T2_LOCAL_ARC_bookworm"},
		{Product: ProductARC, Name: "trixie", Version: "7.0.0-3", Site: "T2_LOCAL_ARC_trixie"},
	}
	condor := []Release{{Product: ProductHTCondor, Name: "sid", Version: "25.14.1+dfsg-1", Site: "T2_LOCAL_HTCondor_sid"}}
	results := append(testResults(),
		res("T2_LOCAL_ARC_bookworm", "arc-ce", "1connection", engine.OK, "ok"),
		res("T2_LOCAL_ARC_trixie", "arc-ce", "16tkn-access", engine.Warning, "4 of 4 bad tokens refused with a server error instead of 401/403"),
		res("T2_LOCAL_ARC_trixie", "arc-ce", "1connection", engine.OK, "ok"),
		res("T2_LOCAL_HTCondor_sid", "htcondor-ce", "13tkn-ping", engine.Critical, "cannot locate"),
	)
	ms := []*Matrix{New(testReleases, results), New(arc, results), New(condor, results)}
	if got := ms[1].Rows; len(got) != 2 || got[0].String() != "ARC-CE 1connection" {
		t.Errorf("ARC rows = %v", got)
	}
	if got := ms[2].Label("sid"); got != "sid 25.14.1" {
		t.Errorf("label = %q", got)
	}
	anns, err := ParseAnnotations([]byte(testAnnotations + `
  - id: arc500
    releases: [trixie]
    protocol: arc-ce
    check: 16tkn-access
    state: WARNING
    detail: 'server error instead of 401/403'
    wrong: w
    rule: r
    workaround: none
`))
	if err != nil {
		t.Fatal(err)
	}
	issues, stale := ExplainAll(ms, anns)
	if strings.Join(stale, ",") != "gone" {
		t.Errorf("stale = %v", stale)
	}
	var un []string
	for _, is := range Unexplained(issues) {
		un = append(un, is.Label+" "+is.Cell.Row.String())
	}
	// trixie XRootD 16tkn-access (WARNING, no annotation) and the HTCondor cell stay unexplained.
	if strings.Join(un, "|") != "trixie 5.8.1 XRootD 16tkn-access|sid 25.14.1 HTCondor-CE 13tkn-ping" {
		t.Errorf("unexplained = %v", un)
	}
	var b strings.Builder
	if err := WriteKnownIssues(&b, issues); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| trixie 7.0.0 | ARC-CE 16tkn-access | WARNING | w | r | none |") {
		t.Errorf("known issues:\n%s", b.String())
	}
}
