package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// commissioned is one service under a summary policy: its token check is
// in commissioning and CRITICAL, its summary OK (raw CRITICAL), with the
// time in state of a `probe run --state` (one Age unknown).
func commissioned() []engine.Result {
	raw := engine.Critical
	r := []engine.Result{
		webdav("1connection", engine.CredNone, engine.OK, "connected", 0, 10*time.Millisecond),
		webdav("4crt-read", engine.CredX509, engine.OK, "read", time.Second, time.Second),
		webdav("10macaroon", engine.CredX509, engine.Warning, "slow", 2*time.Second, time.Second),
		webdav("16tkn-access", engine.CredToken, engine.Critical, "sibling readable", 3*time.Second, time.Second),
		webdav("99summary", engine.CredNone, engine.OK, "2 critical checks OK; commissioning: 16tkn-access CRITICAL; not counted: 10macaroon WARNING", 5*time.Second, 0),
	}
	roles := []string{engine.RoleCritical, engine.RoleCritical, engine.RoleNotCounted, engine.RoleCommissioning, ""}
	for i := range r {
		r[i].Role = roles[i]
		r[i].Since = t0.Add(-time.Hour)
		r[i].Perf = append(r[i].Perf, engine.Perf{Label: "age", Value: r[i].Start.Add(r[i].Duration).Sub(r[i].Since).Seconds(), Unit: "s"})
	}
	r[2].Since = time.Time{}
	r[2].Perf = []engine.Perf{{Label: "age", Value: math.NaN(), Unit: "s"}}
	r[4].RawState = &raw
	return r
}

func TestOverall(t *testing.T) {
	c := commissioned()
	b := siteB() // no summary: the worst of its results
	for _, tc := range []struct {
		name    string
		results []engine.Result
		want    engine.State
	}{
		{"policy summary", c, engine.OK},
		{"selected checks only", c[:4], engine.Critical},
		{"with a service without summary", append(append([]engine.Result{}, c...), b...), engine.Critical},
		{"none", nil, engine.Unknown},
	} {
		if got := Overall(tc.results); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestPolicyNagios: the plugin's state is the policy summary; the first
// line counts the critical checks and names the commissioning and
// not-counted ones; perfdata carries the age, U when unknown.
func TestPolicyNagios(t *testing.T) {
	var b bytes.Buffer
	if st := Nagios(&b, commissioned()); st != engine.OK {
		t.Errorf("state %s, want OK", st)
	}
	first := strings.SplitN(b.String(), "\n", 2)[0]
	text, perf, _ := strings.Cut(first, " | ")
	if want := "OK - all 2 critical checks OK; commissioning: 16tkn-access CRITICAL; not counted: 10macaroon WARNING"; text != want {
		t.Errorf("first line %q\nwant       %q", text, want)
	}
	for _, want := range []string{"'16tkn-access_age'=3604s;;;;", "'10macaroon_age'=U;;;;", "'99summary_age'=3605s;;;;"} {
		if !strings.Contains(perf, want) {
			t.Errorf("perfdata lacks %s: %s", want, perf)
		}
	}
	checkNagiosSyntax(t, b.String(), 5)
}

func TestPolicyCheckmkAndJSON(t *testing.T) {
	var b bytes.Buffer
	if err := Checkmk(&b, commissioned()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.HasPrefix(lines[3], "2 org.testvo.SE-WebDAV-16tkn-access age=3604|duration=1 ") ||
		!strings.HasPrefix(lines[2], "1 org.testvo.SE-WebDAV-10macaroon duration=1 slow") ||
		!strings.HasPrefix(lines[4], "0 org.testvo.SE-WebDAV-99summary age=3605 ") {
		t.Errorf("checkmk:\n%s", b.String())
	}
	b.Reset()
	if err := JSON(&b, commissioned(), JSONOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if got[3]["summary_role"] != "commissioning" || got[3]["state"] != "CRITICAL" || got[3]["since"] != "2026-03-01T11:00:00Z" {
		t.Errorf("16tkn-access: %v", got[3])
	}
	if _, ok := got[2]["since"]; ok {
		t.Errorf("unknown since written: %v", got[2])
	}
	if got[4]["state"] != "OK" || got[4]["raw_state"] != "CRITICAL" {
		t.Errorf("99summary: %v", got[4])
	}
}
