package issuer

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/issuerfake"
	"github.com/gridprobe/gridprobe/internal/tokensource"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// runFake runs the issuer service against a fake issuer with fault and
// returns the results by check id.
func runFake(t *testing.T, fault issuerfake.Fault, delay, timeout time.Duration) map[string]engine.Result {
	t.Helper()
	fi, err := issuerfake.Start(t.TempDir(), fault, delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fi.Close)
	m := runService(t, fi.URL, fi.URL, fi.SecretFile, fi.CAFile, timeout, "")
	secret, err := os.ReadFile(fi.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	noSecrets(t, m, strings.TrimSpace(string(secret)))
	return m
}

// jwtLike matches anything shaped like a JWT (or its first two parts).
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)

// noSecrets: no detail or reproduce line holds the client secret or a token.
func noSecrets(t *testing.T, m map[string]engine.Result, secret string) {
	t.Helper()
	for id, r := range m {
		for _, out := range append([]string{r.Detail}, r.Reproduce...) {
			if strings.Contains(out, secret) || jwtLike.MatchString(out) {
				t.Errorf("%s leaks a secret or token: %q", id, out)
			}
		}
	}
}

// runService runs an issuer service at url with client credentials of
// credIssuer; extra is appended to the service's YAML.
func runService(t *testing.T, url, credIssuer, secret, ca string, timeout time.Duration, extra string) map[string]engine.Result {
	t.Helper()
	yaml := fmt.Sprintf(`vo: testvo
defaults: {timeout: %s, budget: 1m}
credentials:
  token: {issuer: %q, client_id: gridprobe, client_secret_file: %q, ca_file: %q}
sites:
  - name: CENTRAL
    services:
      - type: issuer
        url: %q
%s`, timeout, credIssuer, secret, ca, url, extra)
	cfg, err := config.Parse("sites.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	src, err := tokensource.New(cfg.Credentials.Token)
	if err != nil {
		t.Fatal(err)
	}
	site := &cfg.Sites[0]
	target := probe.Target{Config: cfg, Site: site, Service: &site.Services[0], RunID: "gp-test",
		Creds: probe.NewCredentials(cfg.Credentials, cred.NewRound(src))}
	svc, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	res := (&engine.Runner{}).RunSite(context.Background(), &engine.Site{Name: site.Name, Budget: time.Minute, Services: []*engine.Service{svc}})
	m := map[string]engine.Result{}
	for _, r := range res {
		m[r.Check] = r
	}
	return m
}

func expect(t *testing.T, m map[string]engine.Result, check string, st engine.State, words ...string) {
	t.Helper()
	r := m[check]
	if r.State != st {
		t.Errorf("%s = %s %q, want %s", check, r.State, r.Detail, st)
		return
	}
	if st != engine.OK && r.Party != engine.PartyCentral {
		t.Errorf("%s party %q, want central", check, r.Party)
	}
	for _, w := range words {
		if !strings.Contains(r.Detail, w) {
			t.Errorf("%s detail %q lacks %q", check, r.Detail, w)
		}
	}
}

func TestHealthyIssuer(t *testing.T) {
	m := runFake(t, issuerfake.Healthy, 0, 5*time.Second)
	for _, id := range []string{IDConnection, IDSSL, IDDiscovery, IDJWKS, IDToken, engine.SummaryID} {
		expect(t, m, id, engine.OK)
	}
	expect(t, m, IDToken, engine.OK, `token for scope "storage.read:/"`, "ES256 kid fake-es256-1", "lifetime 20m", "client_secret_basic")
	expect(t, m, IDJWKS, engine.OK, "ES256 fake-es256-1 (P-256 EC)")
}

// Every fault ends as the issuer's (central) CRITICAL, with a clear reason.
func TestIssuerFaults(t *testing.T) {
	cases := []struct {
		fault issuerfake.Fault
		check string
		words []string
	}{
		{issuerfake.Hang, IDDiscovery, []string{"context deadline exceeded"}},
		{issuerfake.ServerError, IDDiscovery, []string{"HTTP 503"}},
		{issuerfake.InvalidJSON, IDToken, []string{"without a token", "application/json"}},
		{issuerfake.WrongIssuer, IDDiscovery, []string{`metadata names issuer "https://other-issuer.gridprobe.invalid"`}},
		{issuerfake.HTTPEndpoint, IDDiscovery, []string{"is not an https URL"}},
		{issuerfake.KidMissing, IDToken, []string{`kid "fake-es256-rotated-away" is not in the JWKS`}},
		{issuerfake.NoExp, IDToken, []string{"without exp"}},
		{issuerfake.LongLifetime, IDToken, []string{"lifetime exp−iat 3.0d is over 6h", "v1.0"}},
	}
	for _, tc := range cases {
		t.Run(string(tc.fault), func(t *testing.T) {
			m := runFake(t, tc.fault, 0, time.Second)
			expect(t, m, tc.check, engine.Critical, tc.words...)
			expect(t, m, engine.SummaryID, engine.Critical)
		})
	}
}

// A slow issuer: just under the check's deadline the token check passes,
// just over it is the issuer's CRITICAL timeout.
func TestSlowIssuer(t *testing.T) {
	m := runFake(t, issuerfake.Slow, 300*time.Millisecond, 2*time.Second)
	expect(t, m, IDToken, engine.OK)
	m = runFake(t, issuerfake.Slow, 2500*time.Millisecond, 2*time.Second)
	expect(t, m, IDToken, engine.Critical, "timeout after 2s")
}

func TestOtherIssuersCredentials(t *testing.T) {
	fi, err := issuerfake.Start(t.TempDir(), issuerfake.Healthy, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fi.Close()
	// The probe's credentials are for another issuer: the token check
	// cannot run (the probe's problem); the issuer's own checks pass and
	// its summary says whose problem the rest is.
	m := runService(t, fi.URL, "https://elsewhere.example", fi.SecretFile, fi.CAFile, 2*time.Second, "")
	expect(t, m, IDJWKS, engine.OK)
	if r := m[IDToken]; r.State != engine.Unknown || r.Party != engine.PartyProbe || !strings.Contains(r.Detail, "client of https://elsewhere.example") {
		t.Errorf("5token %s %q %q", r.State, r.Party, r.Detail)
	}
	if r := m[engine.SummaryID]; r.State != engine.Unknown || r.Party != engine.PartyProbe {
		t.Errorf("summary %s %q %q", r.State, r.Party, r.Detail)
	}
	// The service expects another identifier than the issuer announces.
	m = runService(t, fi.URL, fi.URL, fi.SecretFile, fi.CAFile, 2*time.Second, "        issuer: https://elsewhere.example\n")
	expect(t, m, IDDiscovery, engine.Critical, `configured "https://elsewhere.example"`)
}
