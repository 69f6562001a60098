package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestMain(m *testing.M) {
	// Golden tables must not depend on the locale's East Asian width rules.
	twwidth.SetEastAsian(false)
	os.Exit(m.Run())
}

// golden compares got with testdata/<name>.golden (or rewrites it).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file\n--- got:\n%s\n--- want:\n%s", name, got, want)
	}
}

var (
	t0  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now = time.Date(2026, 3, 1, 13, 4, 30, 0, time.UTC)
)

// A JWT-shaped token as a misbehaving probe might leak it.
const leakedToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJncmlkcHJvYmUiLCJzY29wZSI6InN0b3JhZ2UucmVhZDovIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"

func webdav(check, cred string, st engine.State, detail string, offset, dur time.Duration) engine.Result {
	return engine.Result{
		Site: "T2_XX_Example", Service: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo",
		URL: "https://se.example.org:1094", Check: check, Credential: cred, State: st, Detail: detail,
		Start: t0.Add(offset), Duration: dur, RunID: "20260301T120000-ab12",
	}
}

// siteA is one WebDAV service with every state, a long detail and one
// with quotes, pipes and newlines.
func siteA() []engine.Result {
	r := []engine.Result{
		webdav("1connection", engine.CredNone, engine.OK, "connected to se.example.org:1094 (127.0.0.1, [::1])", 0, 12*time.Millisecond),
		webdav("2ssl", engine.CredNone, engine.OK, "certificate chain OK, host name matches, expires 2026-09-30", time.Second, 40*time.Millisecond),
		webdav("4crt-read", engine.CredX509, engine.Warning, "read /testvo/reference.dat OK but slow: 1048576 bytes in 12.3s", 2*time.Second, 12300*time.Millisecond),
		webdav("14tkn-read", engine.CredToken, engine.Critical,
			"file stat error: 403 Forbidden | server said \"scope storage.read:/other does not cover /testvo/reference.dat\"\nWWW-Authenticate: Bearer error='insufficient_scope'",
			15*time.Second, 123*time.Millisecond),
		webdav("17tkn-write", engine.CredToken, engine.Unknown, "prerequisite 14tkn-read failed", 16*time.Second, 0),
		webdav("18tkn-directory", engine.CredToken, engine.Critical,
			"mkdir https://se.example.org:1094/testvo/gridprobe/20260301T120000-ab12/dir-with-a-rather-long-name-to-make-the-point/ failed after 3 attempts: "+
				"PROPFIND returned 207 Multi-Status but the response body listed no entry for the new collection, "+
				"so the directory was either not created or is not visible to the token that created it; the server's "+
				"error log on se.example.org should say which of the two happened and why",
			17*time.Second, 2500*time.Millisecond),
		webdav("99summary", engine.CredNone, engine.Critical, "2 of 6 checks failed: 14tkn-read, 18tkn-directory", 20*time.Second, 0),
	}
	// Time in state (probe run --state): most have been so for 17 hours,
	// 14tkn-read turned CRITICAL in this run, 17tkn-write's is unknown.
	for i := range r {
		r[i].Since = t0.Add(-17 * time.Hour)
	}
	r[3].Since = r[3].Start
	r[4].Since = time.Time{}
	r[2].Perf = []engine.Perf{{Label: "size", Value: 1048576, Unit: "B"}}
	r[3].Perf = []engine.Perf{{Label: "duration", Value: 0.123, Unit: "s"}, {Label: "http status", Value: 403}}
	r[3].Reproduce = []string{
		`export BEARER_TOKEN_FILE=/tmp/gridprobe-20260301T120000-ab12/14tkn-read.token`,
		`curl --fail -sS -o /dev/null -H "Authorization: Bearer $(cat "$BEARER_TOKEN_FILE")" https://se.example.org:1094/testvo/reference.dat`,
	}
	r[5].Reproduce = []string{
		`curl -X MKCOL -H "Authorization: Bearer $(cat "$BEARER_TOKEN_FILE")" https://se.example.org:1094/testvo/gridprobe/20260301T120000-ab12/dir/`,
	}
	return r
}

// siteB is a second site whose TLS check fails, so the next is UNKNOWN.
func siteB() []engine.Result {
	mk := func(check string, st engine.State, detail string, offset time.Duration) engine.Result {
		r := webdav(check, engine.CredNone, st, detail, offset, 30*time.Millisecond)
		r.Site, r.URL = "T2_YY_Other", "https://webdav.other.org"
		return r
	}
	return []engine.Result{
		mk("1connection", engine.OK, "connected to webdav.other.org:443 (192.0.2.7)", 3*time.Second),
		mk("2ssl", engine.Critical, "x509: certificate signed by unknown authority (issuer CN=Other CA)", 4*time.Second),
		mk("3crt_extension", engine.Unknown, "prerequisite 2ssl failed", 5*time.Second),
	}
}

func both() []engine.Result {
	// Interleaved on purpose: the table groups by site.
	a, b := siteA(), siteB()
	return append(append(append([]engine.Result{}, a[:2]...), b...), a[2:]...)
}

func TestTable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		results []engine.Result
		opts    TableOptions
	}{
		{"table_one_site", siteA(), TableOptions{Now: now}},
		{"table_one_site_color", siteA(), TableOptions{Now: now, Color: true}},
		{"table_two_sites_wrapped", both(), TableOptions{Now: now, Width: 150, Reproduce: true}},
		{"table_narrow", siteB(), TableOptions{Now: now, Width: 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Table(&b, tc.results, tc.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
			hasESC := bytes.Contains(b.Bytes(), []byte("\x1b["))
			if hasESC != tc.opts.Color {
				t.Errorf("colour escapes present = %v, want %v", hasESC, tc.opts.Color)
			}
			if tc.opts.Width > 0 {
				checkWidth(t, b.String(), tc.opts.Width)
			}
		})
	}
}

// checkWidth asserts that the table's lines fit width, or, when the
// terminal is too narrow for that, that the detail column shrank to its
// minimum rather than disappearing. Reproduce lines are never wrapped (they
// are copied into a shell).
func checkWidth(t *testing.T, out string, width int) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "│") { // rows (border lines are as wide)
			continue
		}
		w := twwidth.Width(line)
		if w <= width {
			continue
		}
		cells := strings.Split(line, "│")
		if len(cells) < 5 || twwidth.Width(cells[len(cells)-4]) > minDetailWidth+2 {
			t.Errorf("line is %d columns wide (width %d) and the detail column is not at its minimum: %q", w, width, line)
		}
	}
}

func TestTableColorPerState(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, siteA(), TableOptions{Now: now, Color: true}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\x1b[32mOK\x1b[0m", "\x1b[33mWARNING\x1b[0m", "\x1b[31mCRITICAL\x1b[0m", "\x1b[35mUNKNOWN\x1b[0m"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing coloured state %q", want)
		}
	}
	// Only the State cell is coloured: the detail keeps plain "CRITICAL - ".
	if !strings.Contains(b.String(), "│ CRITICAL - file stat error") {
		t.Error("detail cell lost its plain STATE - prefix")
	}
}

func TestTableEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, nil, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "no results\n" {
		t.Errorf("got %q", b.String())
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                  "0s",
		3 * time.Second:               "3s",
		59*time.Second + 999:          "59s",
		2*time.Minute + 5*time.Second: "2m",
		time.Hour:                     "1h",
		time.Hour + 4*time.Minute:     "1h4m",
		50 * time.Hour:                "2d2h",
		48 * time.Hour:                "2d",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap("OK - https://se.example.org/a/very/long/path/name ok", 12)
	want := []string{"OK -", "https://se.e", "xample.org/a", "/very/long/p", "ath/name ok"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("wrap = %q, want %q", got, want)
	}
	for _, l := range got {
		if len(l) > 12 {
			t.Errorf("line %q longer than 12", l)
		}
	}
}

func TestNagios(t *testing.T) {
	a := siteA()
	allOK := []engine.Result{a[0], a[1]}
	for _, tc := range []struct {
		name    string
		results []engine.Result
		want    engine.State
	}{
		{"nagios_one_check", a[3:4], engine.Critical},
		{"nagios_service", a, engine.Critical},
		{"nagios_all_ok", allOK, engine.OK},
		{"nagios_two_sites", both(), engine.Critical},
		{"nagios_none", nil, engine.Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if got := Nagios(&b, tc.results); got != tc.want {
				t.Errorf("exit state = %v, want %v", got, tc.want)
			}
			golden(t, tc.name, b.Bytes())
			checkNagiosSyntax(t, b.String(), len(tc.results))
		})
	}
}

func TestNagiosExitState(t *testing.T) {
	a := siteA()
	for _, tc := range []struct {
		results []engine.Result
		want    engine.State
	}{
		{a[:2], engine.OK},
		{a[:3], engine.Warning},
		{append(a[:3:3], a[4]), engine.Unknown},        // WARNING + UNKNOWN
		{[]engine.Result{a[4], a[3]}, engine.Critical}, // CRITICAL beats UNKNOWN
	} {
		var b bytes.Buffer
		if got := Nagios(&b, tc.results); got != tc.want {
			t.Errorf("%s: exit state %v, want %v", strings.SplitN(b.String(), "\n", 2)[0], got, tc.want)
		}
		if first := b.String(); !strings.HasPrefix(first, tc.want.String()+" - ") {
			t.Errorf("first line %q does not start with %v", first, tc.want)
		}
	}
}

func TestNagiosWriteError(t *testing.T) {
	if got := Nagios(failWriter{}, siteA()[:1]); got != engine.Unknown {
		t.Errorf("state on write error = %v, want UNKNOWN", got)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

var perfRE = regexp.MustCompile(`^'(?:[^'=]|'')+'=(?:-?[0-9.]+|U)(?:s|ms|us|%|B|KB|MB|GB|TB|c)?;;;;$`)

// checkNagiosSyntax parses plugin output the way Nagios does: the first
// "|" of the first line starts perfdata, and no long-output line has one.
func checkNagiosSyntax(t *testing.T, out string, n int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := 1
	if n > 1 {
		want += n
	}
	if len(lines) != want {
		t.Errorf("%d lines, want %d", len(lines), want)
	}
	text, perf, found := strings.Cut(lines[0], " | ")
	if strings.Contains(text, "|") {
		t.Errorf("status text contains a pipe: %q", text)
	}
	if !regexp.MustCompile(`^(OK|WARNING|CRITICAL|UNKNOWN) - `).MatchString(text) {
		t.Errorf("status text %q is not 'STATE - ...'", text)
	}
	if len(text) > len("CRITICAL - ")+engine.MaxDetail {
		t.Errorf("status text is %d chars", len(text))
	}
	if found {
		for _, p := range splitPerf(perf) {
			if !perfRE.MatchString(p) {
				t.Errorf("bad perfdata item %q", p)
			}
		}
	} else if n > 0 {
		t.Error("no perfdata")
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "|") {
			t.Errorf("long output line has a pipe: %q", l)
		}
	}
}

// splitPerf splits perfdata at blanks outside quotes.
func splitPerf(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, cur.String())
}

func TestNagiosPerfQuoting(t *testing.T) {
	for _, tc := range []struct {
		label string
		p     engine.Perf
		want  string
	}{
		{"14tkn-read_duration", engine.Perf{Value: 0.123, Unit: "s"}, `'14tkn-read_duration'=0.123s;;;;`},
		{"it's a=b", engine.Perf{Value: 3, Unit: "furlongs"}, `'it''s a_b'=3;;;;`},
		{"x", engine.Perf{Value: 1e6, Unit: "B"}, `'x'=1000000B;;;;`},
	} {
		if got := nagiosPerf(tc.label, tc.p); got != tc.want {
			t.Errorf("nagiosPerf(%q) = %s, want %s", tc.label, got, tc.want)
		}
	}
}

var checkmkRE = regexp.MustCompile(`^([0-3]) ([^ "]+|"[^"]+") (-|[A-Za-z0-9_]+=[-0-9.]+(?:\|[A-Za-z0-9_]+=[-0-9.]+)*) ([^|]+)$`)

func TestCheckmk(t *testing.T) {
	for _, tc := range []struct {
		name    string
		results []engine.Result
	}{
		{"checkmk_one_site", siteA()},
		{"checkmk_two_sites", both()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Checkmk(&b, tc.results); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if len(lines) != len(tc.results) {
				t.Fatalf("%d lines for %d results", len(lines), len(tc.results))
			}
			seen := map[string]bool{}
			for i, l := range lines {
				m := checkmkRE.FindStringSubmatch(l)
				if m == nil {
					t.Errorf("line %d does not parse as a local check: %q", i+1, l)
					continue
				}
				if m[1] != string(rune('0'+tc.results[i].State)) {
					t.Errorf("line %d: state %s, want %d", i+1, m[1], tc.results[i].State)
				}
				if seen[m[2]] {
					t.Errorf("service name %s used twice", m[2])
				}
				seen[m[2]] = true
				if len(m[4]) > engine.MaxDetail {
					t.Errorf("detail is %d chars", len(m[4]))
				}
			}
		})
	}
}

func TestCheckmkNameQuoting(t *testing.T) {
	if got := checkmkName(`My "odd" service`); got != `"My 'odd' service"` {
		t.Errorf("got %s", got)
	}
	if got := checkmkName("org.testvo.SE-WebDAV-14tkn-read"); got != "org.testvo.SE-WebDAV-14tkn-read" {
		t.Errorf("got %s", got)
	}
}

func TestJSON(t *testing.T) {
	var lines, array bytes.Buffer
	if err := JSON(&lines, siteA(), JSONOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "json_lines", lines.Bytes())
	if err := JSON(&array, siteA(), JSONOptions{Array: true}); err != nil {
		t.Fatal(err)
	}
	golden(t, "json_array", array.Bytes())

	var fromArray []map[string]any
	if err := json.Unmarshal(array.Bytes(), &fromArray); err != nil {
		t.Fatalf("array output is not JSON: %v", err)
	}
	split := strings.Split(strings.TrimSuffix(lines.String(), "\n"), "\n")
	if len(split) != len(siteA()) || len(fromArray) != len(siteA()) {
		t.Fatalf("%d lines, %d array items for %d results", len(split), len(fromArray), len(siteA()))
	}
	for i, l := range split {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		for _, k := range []string{"site", "service", "check", "state", "state_code", "metric", "detail", "start", "end", "duration_seconds", "duration_ns", "run_id"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %q", i+1, k)
			}
		}
	}
	// Round trip into engine.Result: names stay parseable.
	var r engine.Result
	if err := json.Unmarshal([]byte(split[3]), &r); err != nil {
		t.Fatal(err)
	}
	if r.State != engine.Critical || r.Check != "14tkn-read" || len(r.Reproduce) != 2 || r.Duration != 123*time.Millisecond {
		t.Errorf("round trip lost data: %+v", r)
	}
	if strings.Contains(r.Detail, "\n") {
		t.Error("detail kept its newline")
	}
	var empty bytes.Buffer
	if err := JSON(&empty, nil, JSONOptions{Array: true}); err != nil || empty.String() != "[]\n" {
		t.Errorf("empty array = %q, %v", empty.String(), err)
	}
}

func TestReproduce(t *testing.T) {
	var b bytes.Buffer
	if err := Reproduce(&b, siteA()); err != nil {
		t.Fatal(err)
	}
	golden(t, "reproduce", b.Bytes())
	if !strings.HasPrefix(b.String(), "# org.testvo.SE-WebDAV-14tkn-read (CRITICAL)\n") {
		t.Errorf("unexpected first line in %q", b.String())
	}
	b.Reset()
	if err := Reproduce(&b, siteA()[:2]); err != nil || b.Len() != 0 {
		t.Errorf("results without reproduce lines wrote %q (%v)", b.String(), err)
	}
}

// everyFormat renders results in all formats and returns the outputs.
func everyFormat(t *testing.T, results []engine.Result) map[string]string {
	t.Helper()
	out := map[string]string{}
	var b bytes.Buffer
	if err := Table(&b, results, TableOptions{Now: now, Reproduce: true, Width: 100, Color: true}); err != nil {
		t.Fatal(err)
	}
	out["table"] = b.String()
	b.Reset()
	Nagios(&b, results)
	out["nagios"] = b.String()
	b.Reset()
	if err := Checkmk(&b, results); err != nil {
		t.Fatal(err)
	}
	out["checkmk"] = b.String()
	b.Reset()
	if err := JSON(&b, results, JSONOptions{}); err != nil {
		t.Fatal(err)
	}
	out["json"] = b.String()
	b.Reset()
	if err := Reproduce(&b, results); err != nil {
		t.Fatal(err)
	}
	out["reproduce"] = b.String()
	return out
}

// leaky returns results with a token in the detail, a reproduce line, a
// perf label and the URL: every place a probe could get wrong.
func leaky() []engine.Result {
	a := siteA()
	a[3].Detail = "403 Forbidden for Authorization: Bearer " + leakedToken
	a[3].Reproduce = append(a[3].Reproduce, "curl -H 'Authorization: Bearer "+leakedToken+"' https://se.example.org:1094/x")
	a[5].URL = "https://se.example.org:1094/?authz=" + leakedToken
	a[5].Perf = []engine.Perf{{Label: leakedToken, Value: 1}}
	a[4].Rules = []engine.RuleResult{{ID: "audience", Version: "1.0", Verdict: engine.VerdictFail, Detail: "se.example.org read it with " + leakedToken}}
	a[4].Profile = &engine.Conformance{Profile: "WLCG", Expected: "1.0", Untested: []string{leakedToken}}
	a[4].Diagnosis = &engine.Diagnosis{Cause: "se.example.org refused " + leakedToken, Party: "site",
		Steps: []engine.DiagnosisStep{{Vary: "audience", Token: leakedToken, Request: "read", Answer: "403 " + leakedToken}}}
	return a
}

func TestTokenRedactedInEveryFormat(t *testing.T) {
	parts := strings.Split(leakedToken, ".")
	for name, out := range everyFormat(t, leaky()) {
		for i, p := range parts {
			if strings.Contains(out, p) {
				t.Errorf("%s output leaks part %d of the token:\n%s", name, i, out)
			}
		}
		if !strings.Contains(out, "se.example.org") {
			t.Errorf("%s output lost the text around the token:\n%s", name, out)
		}
	}
}

// TestRegisteredSecretRedactedInEveryFormat: a secret that has no token
// shape (a client secret, say) is caught once cred knows it.
func TestRegisteredSecretRedactedInEveryFormat(t *testing.T) {
	const secret = "kT9-client-secret-Zq81x"
	cred.RegisterSecret(secret)
	a := siteA()
	a[1].Detail = "issuer said: invalid_client for secret " + secret
	a[3].Reproduce = []string{"echo " + secret + " > /dev/null"}
	for name, out := range everyFormat(t, a) {
		if strings.Contains(out, secret) || strings.Contains(out, secret[:12]) {
			t.Errorf("%s output leaks the registered secret:\n%s", name, out)
		}
	}
}

// TestEveryFormatCallsRedact proves the plumbing independently of what the
// redactor recognises: a stand-in that knows one made-up secret.
func TestEveryFormatCallsRedact(t *testing.T) {
	saved := redact
	t.Cleanup(func() { redact = saved })
	redact = func(s string) string { return strings.ReplaceAll(s, "s3cr3t-v4lue", "[gone]") }
	a := siteA()
	a[0].Detail = "password s3cr3t-v4lue in detail"
	a[3].Reproduce = []string{"echo s3cr3t-v4lue"}
	a[3].Site = "site-s3cr3t-v4lue"
	a[4].Rules = []engine.RuleResult{{ID: "r", Detail: "s3cr3t-v4lue"}}
	a[4].Profile = &engine.Conformance{Untested: []string{"s3cr3t-v4lue"}}
	a[4].Diagnosis = &engine.Diagnosis{Cause: "s3cr3t-v4lue", Steps: []engine.DiagnosisStep{{Token: "s3cr3t-v4lue", Answer: "s3cr3t-v4lue"}}}
	for name, out := range everyFormat(t, a) {
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("%s output bypasses redact:\n%s", name, out)
		}
	}
}

func TestNamesDisambiguate(t *testing.T) {
	a := siteA()[3]
	b := a
	b.URL = "https://se2.example.org:443"
	got := names([]engine.Result{a, b}, byMetric, byMetricHost)
	if got[0] == got[1] || got[1] != "org.testvo.SE-WebDAV-14tkn-read@se2.example.org:443" {
		t.Errorf("two endpoints of one site not told apart: %q", got)
	}
	c := a
	c.Site = "T2_ZZ"
	got = names([]engine.Result{a, c}, byCheck, byMetric, bySiteMetric, bySiteHost)
	if got[1] != "T2_ZZ/org.testvo.SE-WebDAV-14tkn-read" {
		t.Errorf("two sites not told apart: %q", got)
	}
	if got := names([]engine.Result{a, siteA()[4]}, byCheck, byMetric); got[0] != "14tkn-read" {
		t.Errorf("one service: want bare check ids, got %q", got)
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) || TerminalWidth(&bytes.Buffer{}) != 0 {
		t.Error("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || TerminalWidth(f) != 0 {
		t.Error("a regular file is not a terminal")
	}
}

// TestJSONFindings: rule verdicts, conformance and diagnosis reach JSON
// under their names, redacted.
func TestJSONFindings(t *testing.T) {
	a := siteA()[:1]
	a[0].Rules = []engine.RuleResult{{ID: "stat-create", Version: "1.1", Verdict: engine.VerdictFail, Detail: "refused", Informational: true}}
	a[0].Profile = &engine.Conformance{Profile: "WLCG Common JWT Profile", Expected: "1.0", Satisfied: "1.0", Untested: []string{"stage"}}
	a[0].Diagnosis = &engine.Diagnosis{Cause: "aud", Party: "site", Steps: []engine.DiagnosisStep{{Vary: "audience", Token: "aud=x", Request: "read /f", Answer: "accepted", Accepted: true}}}
	var b bytes.Buffer
	if err := JSON(&b, a, JSONOptions{}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rules     []engine.RuleResult `json:"rules"`
		Profile   engine.Conformance  `json:"profile"`
		Diagnosis engine.Diagnosis    `json:"diagnosis"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Rules) != 1 || got.Rules[0] != a[0].Rules[0] || got.Profile.Satisfied != "1.0" || got.Profile.Untested[0] != "stage" ||
		got.Diagnosis.Party != "site" || !got.Diagnosis.Steps[0].Accepted {
		t.Errorf("findings lost in JSON: %s", b.String())
	}
}
