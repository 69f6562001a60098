package ce

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/internal/wnline"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Integration tests: the real ARC A-REX and HTCondor of the local testbed
// (testbed/up.sh, then testbed/ce/up.sh), through the engine as `probe run`
// would run them.

// cetestbed returns the client environment of the storage and CE testbeds.
// The test fails when a CE is unreachable, unless GRIDPROBE_NO_TESTBED=1.
func cetestbed(t *testing.T) map[string]string {
	t.Helper()
	env := testbedenv.Load(t, "GRIDPROBE_ARC_URL", "GRIDPROBE_HTCONDOR_URL")
	t.Setenv(CondorRootEnv, env["GRIDPROBE_CONDOR_ROOT"])
	t.Setenv(ExpiredTokenEnv, env["GRIDPROBE_CE_EXPIRED_TOKEN_FILE"])
	t.Setenv(WNBinaryEnv, wnTestBinary(t))
	return env
}

// scopeOverride asks its source for fixed scopes whatever a check wants.
type scopeOverride struct {
	cred.Source
	scopes []string
}

func (s scopeOverride) Token(ctx context.Context, req cred.TokenRequest) (*cred.Token, error) {
	req.Scopes = s.scopes
	return s.Source.Token(ctx, req)
}

// ceScenario is one probe run of one CE.
type ceScenario struct {
	kind   string // TypeARC or TypeHTCondor
	url    string // "" = the testbed's
	tokens func(cred.Source) cred.Source
	job    jobSpec
	checks []string
	// onLog sees every runner/check log line (e.g. to interrupt the round).
	onLog func(msg string)
	ctx   context.Context
}

type testLog struct {
	t     *testing.T
	onLog func(string)
}

func (l testLog) Logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.Contains(msg, "cleanup") || strings.Contains(msg, "submitted") {
		l.t.Log(msg)
	}
	if l.onLog != nil {
		l.onLog(msg)
	}
}

type ceRun struct {
	results map[string]engine.Result
	order   []engine.Result
	target  probe.Target
	took    time.Duration
}

func (sc ceScenario) target(t *testing.T, env map[string]string) probe.Target {
	t.Helper()
	u := sc.url
	if u == "" {
		if sc.kind == TypeARC {
			u = env["GRIDPROBE_ARC_URL"]
		} else {
			u = env["GRIDPROBE_HTCONDOR_URL"]
		}
	}
	queue := ""
	if sc.kind == TypeARC {
		queue = "\n        queue: " + env["GRIDPROBE_ARC_QUEUE"]
	}
	yml := fmt.Sprintf(`vo: testvo
prefix: org.testvo
defaults: {timeout: 60s, budget: 10m}
credentials:
  x509:
    proxy: %s
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
      - type: %s
        url: %s%s
      # the site's storage: what the test job's probe wn checks
      - {type: webdav, url: %s, scope_base: /testvo, write_dir: /testvo/gridprobe,
         read_file: {path: /testvo/reference.dat, adler32: "%s", size: %s}}
      - {type: xrootd, url: %s, scope_base: /testvo, write_dir: /testvo/gridprobe,
         read_file: {path: /testvo/reference.dat, adler32: "%s", size: %s}}
`, env["X509_USER_PROXY"], env["X509_CERT_DIR"], env["X509_VOMS_DIR"], env["GRIDPROBE_ISSUER"], env["GRIDPROBE_CLIENT_ID"],
		env["GRIDPROBE_CLIENT_SECRET_FILE"], env["GRIDPROBE_ISSUER_CA"], sc.kind, u, queue,
		env["GRIDPROBE_WEBDAV_URL"], env["GRIDPROBE_REF_ADLER32"], env["GRIDPROBE_REF_SIZE"],
		env["GRIDPROBE_XROOTD_URL"], env["GRIDPROBE_REF_ADLER32"], env["GRIDPROBE_REF_SIZE"])
	cfg, err := config.Parse("ce-test-sites.yaml", []byte(yml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tk := cfg.Credentials.Token
	var src cred.Source
	src, err = cred.NewClientCredentials(tk.Issuer, tk.ClientID, tk.ClientSecretFile, tk.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if sc.tokens != nil {
		src = sc.tokens(src)
	}
	site := &cfg.Sites[0]
	return probe.Target{Config: cfg, Site: site, Service: &site.Services[0], RunID: engine.NewRunID(),
		Creds: probe.NewCredentials(cfg.Credentials, src)}
}

func runCE(t *testing.T, env map[string]string, sc ceScenario) *ceRun {
	t.Helper()
	return runCETarget(t, sc, sc.target(t, env))
}

// runCETarget runs a scenario on a prepared target. It calls no t.Fatal
// after the service is built, so scenarios may run on other goroutines.
func runCETarget(t *testing.T, sc ceScenario, target probe.Target) *ceRun {
	t.Helper()
	var svc *engine.Service
	var err error
	if sc.kind == TypeARC {
		svc, err = newARC(target, sc.job)
	} else {
		svc, err = newHTCondor(target, sc.job)
	}
	if err == nil && len(sc.checks) > 0 {
		svc, err = engine.Select(svc, sc.checks)
	}
	if err != nil {
		t.Error(err)
		return &ceRun{results: map[string]engine.Result{}, target: target}
	}
	r := engine.Runner{RunID: target.RunID, Log: testLog{t, sc.onLog}, CleanupTimeout: 2 * time.Minute}
	ctx := sc.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	start := time.Now()
	out := r.Run(ctx, []*engine.Site{{Name: target.Site.Name, Budget: target.Site.Budget, Services: []*engine.Service{svc}}})
	res := &ceRun{results: map[string]engine.Result{}, order: out, target: target, took: time.Since(start)}
	for _, x := range out {
		res.results[x.Check] = x
		t.Logf("%-13s %-8s %-6s %s (%s)", x.Check, x.State, x.Credential, x.Detail, x.Duration.Round(time.Millisecond))
		assertNoSecret(t, x.Check+" detail", x.Detail)
		for _, l := range x.Reproduce {
			assertNoSecret(t, x.Check+" reproduce", l)
		}
	}
	return res
}

var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)

func assertNoSecret(t *testing.T, where, s string) {
	t.Helper()
	if jwtLike.MatchString(s) || strings.Contains(s, "PRIVATE KEY") {
		t.Errorf("%s seems to contain a token or key: %q", where, s)
	}
}

func (r *ceRun) want(t *testing.T, check string, st engine.State, substr ...string) engine.Result {
	t.Helper()
	res, ok := r.results[check]
	if !ok {
		t.Errorf("no result for %s", check)
		return res
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

// arcJobs lists the jobs the credential kind sees on the testbed ARC CE.
func arcJobs(t *testing.T, target probe.Target, kind string) []string {
	t.Helper()
	s := &arcSvc{t: target, u: target.Service.URL, ws: strings.TrimSuffix(target.Service.URL.String(), "/"), aud: target.Audience()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := s.client(ctx, kind, SubmitScopes...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	ids, err := c.list(ctx)
	if err != nil {
		t.Fatalf("list ARC jobs (%s): %v", kind, err)
	}
	return ids
}

// condorJobs lists the gridprobe jobs in the testbed schedd's queue.
func condorJobs(t *testing.T, target probe.Target) []string {
	t.Helper()
	host, port := probe.HostPort(target.Service.URL)
	s := &condorSvc{t: target, u: target.Service.URL, host: host, pool: net.JoinHostPort(host, port), aud: target.Audience()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tools, tok, sd, bad := s.prepare(ctx, SubmitScopes...)
	if bad != nil {
		t.Fatalf("condor: %s", bad.Detail)
	}
	ids, err := s.listJobs(ctx, tools, tok, sd)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestIntegrationARCAllOK(t *testing.T) {
	env := cetestbed(t)
	before := map[string][]string{}
	tgt := ceScenario{kind: TypeARC}.target(t, env)
	for _, k := range []string{engine.CredX509, engine.CredToken} {
		before[k] = arcJobs(t, tgt, k)
	}
	r := runCE(t, env, ceScenario{kind: TypeARC})
	r.want(t, IDConnection, engine.OK, "reachable")
	r.want(t, IDSSL, engine.OK, "CN=localhost")
	r.want(t, IDInfo, engine.OK, "queue grid production", "REST org.nordugrid.arcrest", "quality production")
	r.want(t, IDCrtSubmit, engine.OK, "marker found", "FINISHED", "proxy")
	r.want(t, IDTknSubmit, engine.OK, "marker found", "FINISHED", "token sub=gridprobe")
	r.want(t, IDTknAccess, engine.OK, "all 4 bad tokens refused", "forged signature (403", "untrusted issuer (403", "expired 1h ago (403", "other audience (403")
	r.want(t, engine.SummaryID, engine.OK)
	wantWNAllOK(t, r)
	for _, id := range []string{IDCrtSubmit, IDTknSubmit} {
		res := r.results[id]
		if len(res.Reproduce) < 4 || !strings.Contains(strings.Join(res.Reproduce, "\n"), "diagnose/status") {
			t.Errorf("%s reproduce lines: %q", id, res.Reproduce)
		}
		t.Logf("%s job turnaround %s", id, res.Duration.Round(time.Millisecond))
	}
	// This round's jobs are gone after it (cleanups wait until A-REX stops
	// listing them). Other test packages probe the same CE at the same time,
	// so only the jobs this round submitted count.
	mine := r.jobIDs()
	if len(mine) != 2 {
		t.Fatalf("round submitted jobs %v, want 2", mine)
	}
	for _, k := range []string{engine.CredX509, engine.CredToken} {
		if left := intersect(mine, newIDs(before[k], arcJobs(t, tgt, k))); len(left) > 0 {
			t.Errorf("%s jobs left behind on the ARC CE: %v", k, left)
		}
	}
	t.Logf("ARC round took %s", r.took.Round(time.Millisecond))
}

// jobIDs are the ids of the jobs this round submitted, from the submit
// checks' details ("job <id> finished ...").
func (r ceRun) jobIDs() []string {
	var ids []string
	for _, id := range []string{IDCrtSubmit, IDTknSubmit} {
		if m := jobIDPattern.FindStringSubmatch(r.results[id].Detail); m != nil {
			ids = append(ids, m[1])
		}
	}
	return ids
}

var jobIDPattern = regexp.MustCompile(`\bjob ([A-Za-z0-9.]+) `)

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func newIDs(before, after []string) []string {
	var out []string
	for _, id := range after {
		if !slices.Contains(before, id) {
			out = append(out, id)
		}
	}
	return out
}

func TestIntegrationHTCondorAllOK(t *testing.T) {
	env := cetestbed(t)
	r := runCE(t, env, ceScenario{kind: TypeHTCondor})
	r.want(t, IDConnection, engine.OK, "reachable")
	r.want(t, IDTknPing, engine.OK, "WRITE authorized on schedd localhost", "as gpuser@users.htcondor.org", "via SCITOKENS")
	r.want(t, IDTknSubmit, engine.OK, "marker found", "Completed", "owner gpuser")
	r.want(t, IDTknAccess, engine.OK, "all 5 bad tokens refused", "compute.read only (DENIED)", "forged signature (AUTHENTICATE:1004)",
		"untrusted issuer (AUTHENTICATE:1004)", "expired 1h ago (AUTHENTICATE:1004)", "other audience (AUTHENTICATE:1004)")
	r.want(t, engine.SummaryID, engine.OK)
	wantWNAllOK(t, r)
	if _, ok := r.results[IDSSL]; ok {
		t.Error("HTCondor-CE has no 2ssl check")
	}
	if left := intersect(r.jobIDs(), condorJobs(t, r.target)); len(left) > 0 {
		t.Errorf("this round's jobs left in the HTCondor queue: %v", left)
	}
	t.Logf("HTCondor job turnaround %s, round %s", r.results[IDTknSubmit].Duration.Round(time.Millisecond), r.took.Round(time.Millisecond))
}

func TestIntegrationFailingJob(t *testing.T) {
	env := cetestbed(t)
	t.Run("arc", func(t *testing.T) {
		r := runCE(t, env, ceScenario{kind: TypeARC, job: jobSpec{exit: 3}, checks: []string{IDTknSubmit, wnline.Summary, wnline.TknRead}})
		r.want(t, IDTknSubmit, engine.Critical, "FINISHED", "Job finished with wrong exit code - 3 != 0")
		// The WN checks say why they have nothing: the CE's reason.
		for _, id := range []string{wnline.Summary, wnline.TknRead} {
			r.want(t, id, engine.Unknown, "prerequisite 14tkn-submit failed: job", "Job finished with wrong exit code - 3 != 0")
		}
	})
	t.Run("htcondor", func(t *testing.T) {
		r := runCE(t, env, ceScenario{kind: TypeHTCondor, job: jobSpec{exit: 3}, checks: []string{IDTknSubmit}})
		r.want(t, IDTknSubmit, engine.Critical, "completed with exit code 3")
		if left := intersect(r.jobIDs(), condorJobs(t, r.target)); len(left) > 0 {
			t.Errorf("this round's jobs left in the HTCondor queue: %v", left)
		}
	})
}

func TestIntegrationHTCondorReadOnlyToken(t *testing.T) {
	env := cetestbed(t)
	readOnly := func(s cred.Source) cred.Source { return scopeOverride{s, []string{"compute.read"}} }
	r := runCE(t, env, ceScenario{kind: TypeHTCondor, tokens: readOnly})
	r.want(t, IDTknPing, engine.Critical, "DENIED", "lacks compute.create compute.modify compute.cancel", `has "compute.read"`)
	r.want(t, IDTknSubmit, engine.Unknown, "prerequisite "+IDTknPing+" failed")
	r.want(t, engine.SummaryID, engine.Critical)
}

func TestIntegrationStoppedCE(t *testing.T) {
	env := cetestbed(t)
	// A port nothing listens on stands for a stopped CE.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for _, sc := range []ceScenario{
		{kind: TypeARC, url: fmt.Sprintf("https://localhost:%d/arex", port)},
		{kind: TypeHTCondor, url: fmt.Sprintf("condor://localhost:%d", port)},
	} {
		t.Run(sc.kind, func(t *testing.T) {
			r := runCE(t, env, sc)
			r.want(t, IDConnection, engine.Critical, "connection refused")
			for _, res := range r.order {
				switch res.Check {
				case IDConnection:
				case engine.SummaryID:
					if res.State != engine.Critical {
						t.Errorf("99summary %s, want CRITICAL", res.State)
					}
				default:
					if res.State != engine.Unknown || !strings.Contains(res.Detail, "prerequisite") {
						t.Errorf("%s: %s %q, want UNKNOWN prerequisite ... failed", res.Check, res.State, res.Detail)
					}
				}
			}
			if r.took > 20*time.Second {
				t.Errorf("a stopped CE took %s", r.took)
			}
		})
	}
}

// TestIntegrationInterrupted cancels the round while the job runs: the
// cleanups still remove it, and the CE lists no job of ours afterwards.
func TestIntegrationInterrupted(t *testing.T) {
	env := cetestbed(t)
	for _, kind := range []string{TypeARC, TypeHTCondor} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var once sync.Once
			var jobID string
			sc := ceScenario{kind: kind, job: jobSpec{sleep: 40 * time.Second}, checks: []string{IDTknSubmit}, ctx: ctx,
				onLog: func(msg string) {
					if m := regexp.MustCompile(`submitted (?:ARC|HTCondor) job (\S+)`).FindStringSubmatch(msg); m != nil {
						once.Do(func() {
							jobID = strings.TrimSuffix(m[1], ".0")
							// Let the job start running, then interrupt (as Ctrl-C would).
							time.AfterFunc(4*time.Second, cancel)
						})
					}
				}}
			r := runCE(t, env, sc)
			if jobID == "" {
				t.Fatal("no job was submitted")
			}
			res := r.want(t, IDTknSubmit, engine.Unknown, "interrupted")
			if res.Duration > 30*time.Second {
				t.Errorf("interrupted check took %s", res.Duration)
			}
			var left []string
			if kind == TypeARC {
				left = arcJobs(t, r.target, engine.CredToken)
			} else {
				left = condorJobs(t, r.target)
			}
			if slices.Contains(left, jobID) {
				t.Errorf("job %s left behind after the interrupted round (jobs: %v)", jobID, left)
			}
			t.Logf("job %s removed; round incl. cleanup took %s", jobID, r.took.Round(time.Millisecond))
		})
	}
}

func TestIntegrationCondorToolsMissing(t *testing.T) {
	env := cetestbed(t)
	t.Setenv(CondorRootEnv, "")
	t.Setenv("PATH", t.TempDir())
	r := runCE(t, env, ceScenario{kind: TypeHTCondor})
	r.want(t, IDConnection, engine.OK)
	r.want(t, IDTknPing, engine.Unknown, "HTCondor client tools not installed")
	r.want(t, IDTknAccess, engine.Unknown, "HTCondor client tools not installed")
	r.want(t, IDTknSubmit, engine.Unknown, "prerequisite")
}
