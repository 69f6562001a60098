package wn

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/internal/wnline"
	"github.com/gridprobe/gridprobe/probes/ce"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/registry"
)

// Integration tests: the payload itself, run in this process on the probe
// host as a job would run it on a worker node, against the real testbed SE
// (XRootD 5.5.3 over https and roots), with tokens from the real testbed
// issuer. The CE tests (probes/ce) run the same payload inside real jobs.

type wnBed struct {
	env   map[string]string
	cfg   *config.Config
	runID string
	scope []string // the scopes a CE gives its job (probes/ce wnPayload)
	aud   string
	src   *cred.ClientCredentials
}

func newBed(t *testing.T) *wnBed {
	t.Helper()
	env := testbedenv.Setenv(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_XROOTD_URL", "GRIDPROBE_ISSUER")
	isolate(t)
	t.Setenv("X509_CERT_DIR", env["X509_CERT_DIR"])
	cfg, err := config.Load(filepath.Join(testbedenv.RepoRoot(), "sites.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// What the job gets: the site's storage services and no credentials.
	site := cfg.Sites[0]
	var svs []config.Service
	for _, sv := range site.Services {
		if sv.IsStorage() {
			svs = append(svs, sv)
		}
	}
	site.Services = svs
	wcfg := &config.Config{File: "gridprobe-wn.yaml", VO: cfg.VO, Prefix: cfg.Prefix, Defaults: cfg.Defaults, Sites: []config.Site{site}}
	b := &wnBed{env: env, cfg: wcfg, runID: engine.NewRunID()}
	var auds []string
	for i := range wcfg.Sites[0].Services {
		sv := &wcfg.Sites[0].Services[i]
		tg := probe.Target{Config: wcfg, Site: &wcfg.Sites[0], Service: sv}
		id, err := plan.ScratchID(b.runID, &wcfg.Sites[0], sv)
		if err != nil {
			t.Fatal(err)
		}
		dir := sv.WriteDir + "/" + id
		ss, err := tg.ScopeStrings(probe.Read(sv.ReadFile.Path), probe.Read(dir), probe.Create(dir), probe.Modify(dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			if !contains(b.scope, s) {
				b.scope = append(b.scope, s)
			}
		}
		auds = append(auds, tg.Audience())
	}
	b.aud = strings.Join(auds, " ")
	tk := cfg.Credentials.Token
	if b.src, err = cred.NewClientCredentials(tk.Issuer, tk.ClientID, tk.ClientSecretFile, tk.CAFile); err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// tokenFile asks the issuer for a token and puts it where WLCG discovery
// finds it (BEARER_TOKEN_FILE).
func (b *wnBed) tokenFile(t *testing.T, aud string, scopes ...string) {
	t.Helper()
	tok, err := b.src.Token(t.Context(), cred.TokenRequest{Scopes: scopes, Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	b.writeToken(t, tok.Bearer())
}

func (b *wnBed) writeToken(t *testing.T, raw string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "bt")
	if err := os.WriteFile(f, []byte(raw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BEARER_TOKEN_FILE", f)
}

// mint signs a token with the issuer's key and chosen lifetime (client
// credentials never hand out expired or short-lived ones).
func (b *wnBed) mint(t *testing.T, exp string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "minted")
	cmd := exec.Command(b.env["GRIDPROBE_ISSUER_BIN"], "mint", "--out", out, "--aud", strings.ReplaceAll(b.aud, " ", ","),
		"--scope", strings.Join(b.scope, " "), "--iat", "-1h", "--nbf", "-1h", "--exp", exp)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mint: %v: %s", err, o)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// run runs the payload and parses its output as a CE check would.
func (b *wnBed) run(t *testing.T) (*wnline.Report, int) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := Run(ctx, Options{Config: b.cfg, RunID: b.runID, Out: &out})
	rep, err := wnline.Parse(out.Bytes())
	if err != nil {
		t.Fatalf("payload output: %v\n%s", err, out.String())
	}
	for _, l := range rep.Lines {
		t.Logf("%-19s %-8s %s", l.Check, l.State, l.Detail)
	}
	if jwtLike(out.String()) {
		t.Errorf("the payload's output carries a token")
	}
	return rep, code
}

func jwtLike(s string) bool {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" \"'\\,;:()", r) }) {
		if strings.HasPrefix(f, "eyJ") && strings.Count(f, ".") == 2 && len(f) > 60 {
			return true
		}
	}
	return false
}

func want(t *testing.T, rep *wnline.Report, id string, st engine.State, substr ...string) {
	t.Helper()
	l, ok := rep.Get(id)
	if !ok {
		t.Errorf("no %s line", id)
		return
	}
	if l.State != st {
		t.Errorf("%s: %s, want %s (%s)", id, l.State, st, l.Detail)
	}
	for _, s := range substr {
		if !strings.Contains(l.Detail, s) {
			t.Errorf("%s: detail %q lacks %q", id, l.Detail, s)
		}
	}
}

// scratchGone: the job left nothing in its scratch areas.
func (b *wnBed) scratchGone(t *testing.T) {
	t.Helper()
	creds := probe.NewCredentials(config.Credentials{X509: config.X509{Proxy: b.env["X509_USER_PROXY"], CADir: b.env["X509_CERT_DIR"]}}, nil)
	site := &b.cfg.Sites[0]
	for i := range site.Services {
		sv := &site.Services[i]
		if sv.Type != "webdav" {
			continue // one listing shows the whole namespace (both protocols serve one tree)
		}
		st, closeFn, err := registry.OpenStore(t.Context(), probe.Target{Config: b.cfg, Site: site, Service: sv, Creds: creds})
		if err != nil {
			t.Fatal(err)
		}
		ents, err := st.List(t.Context(), sv.WriteDir)
		closeFn()
		if err != nil {
			t.Fatal(err)
		}
		var mine []string
		for j := range site.Services {
			id, err := plan.ScratchID(b.runID, site, &site.Services[j])
			if err != nil {
				t.Fatal(err)
			}
			mine = append(mine, id)
		}
		for _, e := range ents {
			if contains(mine, e.Name) {
				t.Errorf("scratch area %s/%s left behind", sv.WriteDir, e.Name)
			}
		}
	}
}

// TestScratchIDsAgree: the scratch areas a CE grants its job's token are
// the ones the payload writes to.
func TestScratchIDsAgree(t *testing.T) {
	cfg, err := config.Parse("s.yaml", []byte("vo: testvo\nsites:\n  - name: T2_X\n    services:\n      - {type: webdav, url: \"https://se:443\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	run := engine.NewRunID()
	a, err1 := plan.ScratchID(run, &cfg.Sites[0], &cfg.Sites[0].Services[0])
	b, err2 := ce.ScratchID(run, &cfg.Sites[0], &cfg.Sites[0].Services[0])
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("plan.ScratchID %s %v, ce.ScratchID %s %v", a, err1, b, err2)
	}
}

func TestIntegrationPayloadAllOK(t *testing.T) {
	b := newBed(t)
	b.tokenFile(t, b.aud, b.scope...)
	t.Setenv("X509_USER_PROXY", b.env["X509_USER_PROXY"])
	rep, code := b.run(t)
	if code != 0 || rep.Summary.State != engine.OK || rep.Summary.Checks != 8 {
		t.Errorf("exit %d, summary %s %q (%d checks)", code, rep.Summary.State, rep.Summary.Detail, rep.Summary.Checks)
	}
	want(t, rep, wnline.Basic, engine.OK, "CPUs", "free", "/cvmfs", "CA directory")
	want(t, rep, wnline.Network, engine.OK, "webdav localhost:18443 reachable", "xrootd localhost:11094 reachable")
	want(t, rep, wnline.Credentials, engine.OK, "token via BEARER_TOKEN_FILE", "iss="+b.env["GRIDPROBE_ISSUER"], "vs iat", "proxy VO testvo")
	want(t, rep, wnline.TokenLifetime, engine.OK, "token lifetime left when the job started (wn_min_token_lifetime 10m)", "left at job end", "not refreshed")
	want(t, rep, wnline.TknRead, engine.OK, "webdav OK, xrootd OK")
	want(t, rep, wnline.TknWrite, engine.OK, "webdav OK", "xrootd OK", "deleted")
	want(t, rep, wnline.CrtRead, engine.OK, "webdav OK", "xrootd OK")
	want(t, rep, wnline.CrtWrite, engine.OK, "webdav OK", "xrootd OK")
	b.scratchGone(t)
}

func TestIntegrationPayloadExpiredToken(t *testing.T) {
	b := newBed(t)
	b.writeToken(t, b.mint(t, "-30m"))
	rep, code := b.run(t)
	if code != int(engine.Critical) {
		t.Errorf("exit %d, want 2", code)
	}
	want(t, rep, wnline.TokenLifetime, engine.Critical, "token EXPIRED 30m", "before the job started", "issued 1h00m before the job started")
	want(t, rep, wnline.Credentials, engine.OK, "EXPIRED 30m", "no proxy")
	want(t, rep, wnline.TknRead, engine.Unknown, "prerequisite")
	want(t, rep, wnline.TknWrite, engine.Unknown, "prerequisite")
	if _, ok := rep.Get(wnline.CrtRead); ok {
		t.Error("crt checks reported although the job has no proxy")
	}
}

func TestIntegrationPayloadShortLifetime(t *testing.T) {
	b := newBed(t)
	b.writeToken(t, b.mint(t, "4m"))
	rep, _ := b.run(t)
	want(t, rep, wnline.TokenLifetime, engine.Warning, "token lifetime left when the job started, less than wn_min_token_lifetime 10m", "issued 1h00m before the job started")
	if l, _ := rep.Get(wnline.TokenLifetime); !strings.HasPrefix(l.Detail, "only 4m ") && !strings.HasPrefix(l.Detail, "only 3m5") {
		t.Errorf("lifetime at start not about 4m: %q", l.Detail)
	}
	want(t, rep, wnline.TknRead, engine.OK)
	want(t, rep, wnline.TknWrite, engine.OK)
}

func TestIntegrationPayloadWrongAudience(t *testing.T) {
	b := newBed(t)
	b.tokenFile(t, "https://other-se.gridprobe.invalid", b.scope...)
	rep, _ := b.run(t)
	want(t, rep, wnline.Credentials, engine.Unknown, "not for the site's storage", "aud=https://other-se.gridprobe.invalid", "not the site")
	want(t, rep, wnline.TknRead, engine.Unknown, "prerequisite WN-10credentials failed")
	want(t, rep, wnline.TknWrite, engine.Unknown, "prerequisite WN-10credentials failed")
}

func TestIntegrationPayloadReadOnlyScope(t *testing.T) {
	b := newBed(t)
	b.tokenFile(t, b.aud, "storage.read:/reference.dat")
	rep, _ := b.run(t)
	want(t, rep, wnline.Credentials, engine.OK, "scope read:/reference.dat")
	want(t, rep, wnline.TknRead, engine.OK, "webdav OK", "xrootd OK")
	want(t, rep, wnline.TknWrite, engine.Unknown, "the job's token lacks create,read,modify:/gridprobe/gp-…", "has read:/reference.dat", "not the site")
}

func TestIntegrationPayloadCondorCreds(t *testing.T) {
	b := newBed(t)
	tok, err := b.src.Token(t.Context(), cred.TokenRequest{Scopes: b.scope, Audience: b.aud})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "scitokens.use"), []byte(`{"access_token":"`+tok.Bearer()+`","expires_in":1200}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CondorCredsEnv, dir)
	rep, _ := b.run(t)
	want(t, rep, wnline.Credentials, engine.OK, "token via $_CONDOR_CREDS/scitokens.use")
	want(t, rep, wnline.TknRead, engine.OK)
	want(t, rep, wnline.TknWrite, engine.OK)
	b.scratchGone(t)
}

func TestIntegrationPayloadNoCredential(t *testing.T) {
	b := newBed(t)
	rep, code := b.run(t)
	if code != int(engine.Critical) {
		t.Errorf("exit %d, want 2", code)
	}
	want(t, rep, wnline.Credentials, engine.Critical, "no usable credential", "looked in: BEARER_TOKEN: unset; BEARER_TOKEN_FILE: unset")
	want(t, rep, wnline.TknRead, engine.Unknown, "prerequisite WN-10credentials failed")
}

// refreshOnce rewrites the job's token file the first time the runner logs
// (after the first storage check), as a credential monitor refreshing the
// token in place while the job runs would.
type refreshOnce struct {
	once sync.Once
	fn   func()
}

func (r *refreshOnce) Logf(string, ...any) { r.once.Do(r.fn) }

// TestIntegrationPayloadSeesRefresh: nothing here refreshes job tokens
// (README: no credential monitor runs in the testbed's HTCondor), so the
// test plays the monitor: the payload must see the token change between
// job start and end, and keep working with the new one.
func TestIntegrationPayloadSeesRefresh(t *testing.T) {
	b := newBed(t)
	b.writeToken(t, b.mint(t, "12m"))
	file := os.Getenv("BEARER_TOKEN_FILE")
	fresh := b.mint(t, "40m")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := &refreshOnce{fn: func() {
		if err := os.WriteFile(file+".new", []byte(fresh+"\n"), 0o600); err == nil {
			_ = os.Rename(file+".new", file)
		}
	}}
	Run(ctx, Options{Config: b.cfg, RunID: b.runID, Out: &out, Log: log})
	rep, err := wnline.Parse(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want(t, rep, wnline.TokenLifetime, engine.OK, "token lifetime left when the job started", "REFRESHED during the job", "left at job end")
	want(t, rep, wnline.TknRead, engine.OK)
	want(t, rep, wnline.TknWrite, engine.OK)
	b.scratchGone(t)
}
