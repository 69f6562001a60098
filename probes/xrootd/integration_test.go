package xrootd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// Integration tests: the real XRootD SE (roots://) and redirector of the
// local testbed (testbed/up.sh), through the engine, as `probe run` would.

// testbed returns the client environment of the testbed; the test fails
// when the testbed is unreachable unless GRIDPROBE_NO_TESTBED=1.
func testbed(t *testing.T) map[string]string {
	t.Helper()
	return testbedenv.Load(t, "GRIDPROBE_XROOTD_URL", "GRIDPROBE_REDIRECTOR_URL")
}

// testLog shows the runner's cleanup lines in the test log.
type testLog struct{ t *testing.T }

func (l testLog) Logf(format string, args ...any) {
	if msg := fmt.Sprintf(format, args...); strings.Contains(msg, "cleanup") {
		l.t.Log(msg)
	}
}

// scenario is one probe run against the testbed with some part changed.
type scenario struct {
	url        string // default GRIDPROBE_XROOTD_URL
	federation string // default GRIDPROBE_REDIRECTOR_URL; "-" for none
	caDir      string
	proxy      string
	tokens     cred.Source // nil: the testbed issuer
	timeout    string      // per-check timeout, default 30s
	checks     []string    // only these (with prerequisites)
	mutate     func(*engine.Service)
	// scopeBase, audience, when set, replace the testbed SE's.
	scopeBase, audience string
}

func sitesYAML(env map[string]string, sc scenario) string {
	ca := env["X509_CERT_DIR"]
	if sc.caDir != "" {
		ca = sc.caDir
	}
	proxy := env["X509_USER_PROXY"]
	if sc.proxy != "" {
		proxy = sc.proxy
	}
	u := env["GRIDPROBE_XROOTD_URL"]
	if sc.url != "" {
		u = sc.url
	}
	fed := "federation: " + env["GRIDPROBE_REDIRECTOR_URL"]
	if sc.federation == "-" {
		fed = ""
	} else if sc.federation != "" {
		fed = "federation: " + sc.federation
	}
	timeout := "30s"
	if sc.timeout != "" {
		timeout = sc.timeout
	}
	base, aud := "/testvo", ""
	if sc.scopeBase != "" {
		base = sc.scopeBase
	}
	if sc.audience != "" {
		aud = "audience: " + sc.audience
	}
	return fmt.Sprintf(`vo: testvo
prefix: org.testvo
defaults: {timeout: %s, budget: 5m}
credentials:
  x509:
    proxy: %s
    foreign_proxy: %s
    novoms_proxy: %s
    ca_dir: %s
    voms_dir: %s
  token:
    issuer: %s
    client_id: %s
    client_secret_file: %s
    ca_file: %s
sites:
  - name: T2_LOCAL_Testbed
    services:
      - type: xrootd
        url: %s
        scope_base: %s
        read_file: {path: /testvo/reference.dat, adler32: "%s", size: %s}
        write_dir: /testvo/gridprobe
        foreign_file: /othervo/reference.dat
        %s
        %s
`, timeout, proxy, env["GRIDPROBE_FOREIGN_PROXY"], env["GRIDPROBE_NOVOMS_PROXY"], ca, env["X509_VOMS_DIR"],
		env["GRIDPROBE_ISSUER"], env["GRIDPROBE_CLIENT_ID"], env["GRIDPROBE_CLIENT_SECRET_FILE"], env["GRIDPROBE_ISSUER_CA"],
		u, base, env["GRIDPROBE_REF_ADLER32"], env["GRIDPROBE_REF_SIZE"], fed, aud)
}

// run is one round: the results by check id and the target.
type run struct {
	results map[string]engine.Result
	order   []engine.Result
	target  probe.Target
	took    time.Duration
}

func runScenario(t *testing.T, env map[string]string, sc scenario) *run {
	t.Helper()
	cfg, err := config.Parse("test-sites.yaml", []byte(sitesYAML(env, sc)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tokens := sc.tokens
	if tokens == nil {
		tk := cfg.Credentials.Token
		cc, err := cred.NewClientCredentials(tk.Issuer, tk.ClientID, tk.ClientSecretFile, tk.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		tokens = cc
	}
	runID := engine.NewRunID()
	site := &cfg.Sites[0]
	target := probe.Target{Config: cfg, Site: site, Service: &site.Services[0], RunID: runID,
		Creds: probe.NewCredentials(cfg.Credentials, tokens)}
	svc, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	if sc.mutate != nil {
		sc.mutate(svc)
	}
	if len(sc.checks) > 0 {
		if svc, err = engine.Select(svc, sc.checks); err != nil {
			t.Fatal(err)
		}
	}
	r := engine.Runner{RunID: runID, Log: testLog{t}}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	out := r.Run(ctx, []*engine.Site{{Name: site.Name, Budget: site.Budget, Services: []*engine.Service{svc}}})
	res := &run{results: map[string]engine.Result{}, order: out, target: target, took: time.Since(start)}
	for _, x := range out {
		res.results[x.Check] = x
		t.Logf("%-16s %-8s %s", x.Check, x.State, x.Detail)
		if strings.Contains(x.Detail, "eyJ") {
			t.Errorf("%s: detail seems to contain a token: %q", x.Check, x.Detail)
		}
		for _, l := range x.Reproduce {
			if strings.Contains(l, "eyJ") {
				t.Errorf("%s: reproduce line seems to contain a token: %q", x.Check, l)
			}
		}
	}
	return res
}

func (r *run) want(t *testing.T, check string, st engine.State, substr ...string) engine.Result {
	t.Helper()
	res, ok := r.results[check]
	if !ok {
		t.Fatalf("no result for %s", check)
	}
	if res.State != st {
		t.Errorf("%s: state %s, want %s (%s)", check, res.State, st, res.Detail)
	}
	for _, s := range substr {
		if !strings.Contains(res.Detail, s) {
			t.Errorf("%s: detail %q lacks %q", check, res.Detail, s)
		}
	}
	return res
}

// xrdfsGSI runs xrdfs with the testbed proxy (the reference client).
func xrdfsGSI(env map[string]string, args ...string) (string, error) {
	cmd := exec.Command("xrdfs", append([]string{env["GRIDPROBE_XROOTD_URL"]}, args...)...)
	cmd.Env = append(os.Environ(), "XrdSecPROTOCOL=gsi", "X509_USER_PROXY="+env["X509_USER_PROXY"], "X509_CERT_DIR="+env["X509_CERT_DIR"])
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// assertScratchEmpty: the run's scratch dir is gone (xrdfs, with the proxy).
func assertScratchEmpty(t *testing.T, env map[string]string, r *run) {
	t.Helper()
	sc, err := r.target.Scratch()
	if err != nil {
		t.Fatal(err)
	}
	out, err := xrdfsGSI(env, "stat", sc.Dir())
	if err == nil || !strings.Contains(out, "3011") {
		t.Errorf("scratch dir %s still there after the run (or unknown): %v %s", sc.Dir(), err, out)
	}
}

// knownViolations are the WLCG-profile violations of the testbed's XRootD
// 5.5.3 (KNOWN_ISSUES.md), each named by what its detail must say; those
// checks stay CRITICAL. Every other check of the catalogue must be OK.
var knownViolations = map[string][]string{
	// KNOWN_ISSUES.md, testbed/matrix/RESULTS.md: scope paths matched by
	// string prefix, no parents for storage.create, …; every rule checked
	// one by one (testbedenv.ProfileVerdicts).
	storage.IDTknAccess: {"satisfies WLCG profile none (expected 1.0)", "create-parents 1.0", "path-elements-read 1.0"},
}

// TestChecksAgainstTestbed: a full round; every check of the catalogue OK
// except the known violations, each named.
func TestChecksAgainstTestbed(t *testing.T) {
	env := testbed(t)
	r := runScenario(t, env, scenario{})
	defer assertScratchEmpty(t, env, r)
	for _, res := range r.order {
		switch want, known := knownViolations[res.Check]; {
		case res.Check == engine.SummaryID:
			r.want(t, res.Check, engine.Critical)
		case known:
			r.want(t, res.Check, engine.Critical, want...)
		default:
			r.want(t, res.Check, engine.OK)
		}
	}
	r.want(t, IDVersion, engine.OK, "v5.", "TLS 1.3", "ztn")
	r.want(t, IDFederation, engine.OK, "sent the read to 127.0.0.1:")
	r.want(t, storage.IDTknRead, engine.OK, env["GRIDPROBE_REF_ADLER32"], "matches sites.yaml and the server's", "ranged read")
	testbedenv.AssertProfileVerdicts(t, r.results[storage.IDTknAccess], testbedenv.ProfileVerdicts(t, env, "xrootd", "5.5.3"))
}

// TestIntegrationProfileRules: 16tkn-access over root:// with tokens minted
// by the issuer built from this tree: every rule has the verdict known for
// XRootD 5.5.3, the same as over https where the server behaves the same.
func TestIntegrationProfileRules(t *testing.T) {
	env := testbed(t)
	r := runScenario(t, env, scenario{tokens: testbedenv.NewMint(t, env), checks: []string{storage.IDTknAccess}})
	defer assertScratchEmpty(t, env, r)
	want := testbedenv.ProfileVerdicts(t, env, "xrootd", "5.5.3")
	for id, v := range testbedenv.MintedVerdicts(env, "xrootd", "5.5.3") {
		want[id] = v
	}
	testbedenv.AssertProfileVerdicts(t, r.results[storage.IDTknAccess], want)
}

// TestIntegrationDiagnosis: as WebDAV's, over root:// against the testbed's
// SE misconfigured on purpose (testbed/misconf): the same causes, named in
// the same words.
func TestIntegrationDiagnosis(t *testing.T) {
	env := testbedenv.Load(t, "GRIDPROBE_MISCONF_XROOTD_URL")
	u := env["GRIDPROBE_MISCONF_XROOTD_URL"]
	cases := []struct {
		name  string
		sc    scenario
		check string
		state engine.State
		party string
		words []string
	}{
		{"audience list lacks the URL used", scenario{url: u, federation: "-", scopeBase: "/", checks: []string{storage.IDTknRead}},
			storage.IDTknRead, engine.Critical, "site",
			[]string{"site: refused with aud " + u + ", accepted with aud root://localhost:11294: the SE's audience list lacks the URL clients use (profile §2.1.1)"}},
		{"base path differs", scenario{url: u, federation: "-", audience: "root://localhost:11294", checks: []string{storage.IDTknRead}},
			storage.IDTknRead, engine.Critical, "site",
			[]string{"site: refused with storage.read:/reference.dat, accepted with the absolute path storage.read:/testvo/reference.dat: the SE's base path for this issuer is not scope_base /testvo"}},
		{"untrusted issuer", scenario{url: u, federation: "-", scopeBase: "/", audience: "root://localhost:11294", checks: []string{storage.IDTknRead},
			tokens: testbedenv.NewMint(t, env, "--iss", "https://localhost:18444/untrusted")},
			storage.IDTknRead, engine.Critical, "site",
			[]string{"site: the SE accepted none of", "tokens of https://localhost:18444/untrusted (any audience, path, age): untrusted issuer"}},
		{"issuer clock ahead", scenario{url: u, federation: "-", scopeBase: "/", audience: "root://localhost:11294", checks: []string{storage.IDTknRead},
			tokens: testbedenv.NewMint(t, env, "--nbf", "5m", "--iat", "5m")},
			storage.IDTknRead, engine.Unknown, "central",
			[]string{"central: the token is not valid yet: its nbf is", "ahead of this host's clock, so the issuer's clock runs ahead"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runScenario(t, env, c.sc)
			res := r.want(t, c.check, c.state, c.words...)
			if d := res.Diagnosis; d == nil || d.Party != c.party || len(d.Steps) > 18 {
				t.Fatalf("diagnosis %+v", d)
			}
			if c.party == "site" && !strings.Contains(strings.Join(res.Reproduce, "\n"), "# diagnosis: ") {
				t.Errorf("no decisive pair:\n%s", strings.Join(res.Reproduce, "\n"))
			}
		})
	}
}
