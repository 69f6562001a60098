package publish

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/publish/stomptest"
)

func sampleResult() engine.Result {
	return engine.Result{
		Site: "T2_XX_Example", Service: "org.testvo.SE-XRootD", Protocol: "xrootd", VO: "testvo",
		URL: "roots://se.example.org:1094", Check: "14tkn-read", Credential: engine.CredToken,
		State: engine.Critical, Detail: "read /testvo/reference.dat refused: kXR_NotAuthorized (site)",
		Reproduce: []string{"xrdcp -f roots://se.example.org:1094//testvo/reference.dat /dev/null"},
		Perf:      []engine.Perf{{Label: "duration", Value: 0.25, Unit: "s"}},
		Start:     time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), Duration: 1500 * time.Millisecond,
		RunID: "r1",
	}
}

func TestFormatFields(t *testing.T) {
	m, cut := Format(sampleResult(), "r1.1", "probe01.example.org", 64<<10)
	if cut != 0 || m.ID != "r1.1" {
		t.Fatalf("cut %d, id %q", cut, m.ID)
	}
	got, err := stomptest.ParseMetricOutput(m.Body)
	if err != nil {
		t.Fatalf("%v\n%s", err, m.Body)
	}
	want := map[string]string{
		"serviceURI":     "se.example.org:1094",
		"hostName":       "se.example.org",
		"serviceFlavour": "XROOTD",
		"siteName":       "T2_XX_Example",
		"metricStatus":   "CRITICAL",
		"metricName":     "org.testvo.SE-XRootD-14tkn-read",
		"summaryData":    "CRITICAL - read /testvo/reference.dat refused: kXR_NotAuthorized (site)",
		"gatheredAt":     "probe01.example.org",
		"timestamp":      "2026-12-07T10:00:01Z",
		"nagiosName":     "org.testvo.SE-XRootD-14tkn-read-testvo",
		"voName":         "testvo",
		"serviceType":    "XROOTD",
		"perfData":       "'14tkn-read_duration'=0.25s;;;;",
		"detailsData": "read /testvo/reference.dat refused: kXR_NotAuthorized (site)\nReproduce:\n" +
			"xrdcp -f roots://se.example.org:1094//testvo/reference.dat /dev/null",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want exactly %d", got, len(want))
	}
	// The key order of GridMon::MetricOutput, details last.
	var keys []string
	for _, l := range strings.Split(m.Body, "\n") {
		if k, _, ok := strings.Cut(l, ": "); ok && !strings.Contains(k, " ") {
			keys = append(keys, k)
		}
	}
	if order := strings.Join(keys[:9], ","); order != "serviceURI,hostName,serviceFlavour,siteName,metricStatus,metricName,summaryData,gatheredAt,timestamp" {
		t.Errorf("key order %s", order)
	}
	if !strings.HasSuffix(m.Body, "\nEOT\n") {
		t.Errorf("body does not end with EOT: %q", m.Body)
	}
}

func TestFormatSummaryCut(t *testing.T) {
	r := sampleResult()
	r.Detail = strings.Repeat("é", 400) // 800 bytes, never cut inside a character
	m, _ := Format(r, "x", "h", 64<<10)
	f, err := stomptest.ParseMetricOutput(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if s := f["summaryData"]; len(s) > MaxSummary || !utf8.ValidString(s) || !strings.HasPrefix(s, "CRITICAL - é") {
		t.Errorf("summary %d bytes, valid %v: %q", len(s), utf8.ValidString(s), s)
	}
}

func TestFormatOversizedDetails(t *testing.T) {
	r := sampleResult()
	r.Reproduce = []string{strings.Repeat("curl -H 'X: y' https://se.example.org/a ", 500)} // ~20 KB
	m, cut := Format(r, "x", "h", 2048)
	if len(m.Body) > 2048 {
		t.Errorf("body %d bytes > 2048", len(m.Body))
	}
	if cut < 18000 {
		t.Errorf("cut %d bytes", cut)
	}
	f, err := stomptest.ParseMetricOutput(m.Body)
	if err != nil {
		t.Fatalf("cut message malformed: %v", err)
	}
	if !strings.Contains(f["detailsData"], "[gridprobe: details cut, ") || f["metricStatus"] != "CRITICAL" {
		t.Errorf("details %q", f["detailsData"])
	}
}

func TestFormatHostileText(t *testing.T) {
	secret := "publish-test-secret-" + strings.Repeat("z", 12)
	cred.RegisterSecret(secret)
	r := sampleResult()
	r.Site = "T2_A\nmetricStatus: OK" // a newline must not forge a field
	r.Detail = "token " + secret + " refused"
	r.Reproduce = []string{"echo", "EOT", "curl -H 'Authorization: Bearer " + secret + "'"}
	m, _ := Format(r, "x", "h", 64<<10)
	if strings.Contains(m.Body, secret) {
		t.Fatalf("secret in message:\n%s", m.Body)
	}
	f, err := stomptest.ParseMetricOutput(m.Body)
	if err != nil {
		t.Fatalf("%v\n%s", err, m.Body)
	}
	if f["metricStatus"] != "CRITICAL" || f["siteName"] != "T2_A metricStatus: OK" {
		t.Errorf("forged fields: %v", f)
	}
	if !strings.Contains(f["detailsData"], "\nEOT.\n") || !strings.Contains(f["detailsData"], cred.Redacted) {
		t.Errorf("details %q", f["detailsData"])
	}
}

func TestFlavours(t *testing.T) {
	for typ, want := range map[string]string{"webdav": "WEBDAV", "xrootd": "XROOTD", "arc-ce": "ARC-CE", "htcondor-ce": "HTCONDOR-CE"} {
		r := sampleResult()
		r.Protocol, r.URL = typ, "condor://ce.example.org:9619"
		m, _ := Format(r, "x", "h", 4096)
		f, _ := stomptest.ParseMetricOutput(m.Body)
		if f["serviceFlavour"] != want || f["hostName"] != "ce.example.org" || f["serviceURI"] != "ce.example.org:9619" {
			t.Errorf("%s: %v", typ, f)
		}
	}
}
