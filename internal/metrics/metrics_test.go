package metrics

import (
	"context"
	"errors"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

func exposition(t *testing.T, reg *prometheus.Registry, checks func() []Entry, rounds *Rounds) string {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(reg, checks, rounds).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	return rec.Body.String()
}

func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	pt, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (Debian package prometheus): %v", err)
	}
	cmd := exec.Command(pt, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, text)
	}
}

type fakeSource struct{ fail bool }

func (f fakeSource) Token(context.Context, cred.TokenRequest) (*cred.Token, error) {
	if f.fail {
		return nil, errors.New("no")
	}
	return &cred.Token{}, nil
}
func (fakeSource) Describe() string { return "fake" }

func TestExposition(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	entries := []Entry{
		{Result: engine.Result{Site: "T2_A", Service: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo",
			Check: "14tkn-read", Credential: "token", State: engine.Critical, Detail: "CRITICAL - 403 for /testvo/x",
			Start: start, Duration: 1500 * time.Millisecond}, LastChange: start.Add(-time.Hour)},
		{Result: engine.Result{Site: "T2_A", Service: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo",
			Check: "4crt-read", Credential: "x509", State: engine.Warning, Start: start, Duration: time.Second}},
	}
	reg := prometheus.NewRegistry()
	checks := func() []Entry { return entries }
	rounds := NewRounds(reg)
	r := Round{Site: "T2_A", Service: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo"}
	rounds.Add(r, 30*time.Minute)
	rounds.Started(r)
	rounds.Finished(r, "schedule", start, 12*time.Second, true)
	rounds.Reloaded(true, start)

	// Credentials: one source with its own stats, a proxy that loads and one that does not.
	src := CountingSource(fakeSource{})
	src.Token(context.Background(), cred.TokenRequest{})
	src.Token(context.Background(), cred.TokenRequest{})
	bad := CountingSource(fakeSource{fail: true})
	bad.Token(context.Background(), cred.TokenRequest{})
	missing := filepath.Join(t.TempDir(), "nope.pem")
	reg.MustRegister(NewCredentials(func() cred.Source { return src },
		func() []ProxyFile { return []ProxyFile{{RoleProxy, missing}, {RoleForeignProxy, ""}} }))

	text := exposition(t, reg, checks, rounds)
	for _, want := range []string{
		`gridprobe_check_state{check="14tkn-read",credential="token",protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",vo="testvo"} 2`,
		`gridprobe_check_success{check="14tkn-read",credential="token",protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",vo="testvo"} 0`,
		`gridprobe_check_success{check="4crt-read",credential="x509",protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",vo="testvo"} 1`,
		`gridprobe_check_duration_seconds{check="14tkn-read",credential="token",protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",vo="testvo"} 1.5`,
		`gridprobe_check_last_run_timestamp_seconds{check="14tkn-read",credential="token",protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",vo="testvo"} 1.8e+09`,
		`gridprobe_check_last_change_timestamp_seconds{check="14tkn-read",credential="token",protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",vo="testvo"} 1.7999964e+09`,
		`gridprobe_round_duration_seconds{protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",vo="testvo"} 12`,
		`gridprobe_round_interval_seconds{protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",vo="testvo"} 1800`,
		`gridprobe_round_running{protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",vo="testvo"} 0`,
		`gridprobe_round_runs_total{protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_A",trigger="schedule",vo="testvo"} 1`,
		`gridprobe_token_requests_total{result="issued"} 2`,
		`gridprobe_proxy_usable{role="proxy"} 0`,
		`gridprobe_config_last_reload_successful 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("exposition lacks %s", want)
		}
	}
	// No detail text and no path in any label.
	for _, leak := range []string{"403", "/testvo/x", missing, "foreign_proxy"} {
		if strings.Contains(text, leak) {
			t.Errorf("exposition contains %q", leak)
		}
	}
	if got := bad.(interface{ Stats() map[string]uint64 }).Stats()[cred.StatError]; got != 1 {
		t.Errorf("failed token requests counted %d", got)
	}
	// A service leaving the config leaves the exposition.
	rounds.Remove(r)
	entries = nil
	if text := exposition(t, reg, checks, rounds); strings.Contains(text, `site="T2_A"`) {
		t.Errorf("removed service still exported:\n%s", text)
	}
	promtoolCheck(t, text)
}
