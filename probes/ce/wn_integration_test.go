package ce

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/internal/wnline"
)

// The worker-node checks on the real CEs: the submit job carries the real
// static probe binary (built here as make builds it), runs probe wn on the
// CE's worker node (ARC's fork LRMS on this host; HTCondor's trixie chroot)
// against the testbed SE, and the CE check reads its lines back.

var wnBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gridprobe-ce-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wnBin.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wnTestBinary builds the static probe binary once per test run.
func wnTestBinary(t *testing.T) string {
	t.Helper()
	wnBin.once.Do(func() {
		p := filepath.Join(wnBin.dir, "probe")
		cmd := exec.Command("go", "build", "-o", p, "./cmd/probe")
		cmd.Dir = testbedenv.RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			wnBin.err = fmt.Errorf("go build ./cmd/probe: %v: %s", err, out)
			return
		}
		wnBin.path = p
	})
	if wnBin.err != nil {
		t.Fatal(wnBin.err)
	}
	return wnBin.path
}

// wnIDs are the WN checks of a CE service whose probe has a proxy.
func wnIDs() []string {
	var ids []string
	for _, c := range wnline.Catalogue {
		ids = append(ids, c.ID)
	}
	return ids
}

// wantWNAllOK: every WN check of the round is OK and the job cleaned up.
func wantWNAllOK(t *testing.T, r *ceRun) {
	t.Helper()
	r.want(t, IDTknSubmit, engine.OK, "worker-node payload on", "8 checks, OK")
	r.want(t, wnline.Basic, engine.OK, "CPUs", "free", "CA directory /")
	r.want(t, wnline.Network, engine.OK, "webdav localhost:18443 reachable", "xrootd localhost:11094 reachable")
	r.want(t, wnline.Credentials, engine.OK, "token via BEARER_TOKEN_FILE", "iss=https://localhost:18444", "aud=https://localhost:18443,roots://localhost:11094", "vs iat", "proxy VO testvo")
	r.want(t, wnline.TokenLifetime, engine.OK, "token lifetime left when the job started (wn_min_token_lifetime", "left at job end")
	r.want(t, wnline.TknRead, engine.OK, "webdav OK", "xrootd OK")
	r.want(t, wnline.TknWrite, engine.OK, "webdav OK", "xrootd OK", "deleted")
	r.want(t, wnline.CrtRead, engine.OK, "webdav OK", "xrootd OK")
	r.want(t, wnline.CrtWrite, engine.OK, "webdav OK", "xrootd OK")
	r.want(t, wnline.Summary, engine.OK, "all 8 worker-node checks OK")
	for _, id := range []string{wnline.TknRead, wnline.Summary} {
		repro := strings.Join(r.results[id].Reproduce, "\n")
		for _, w := range []string{"probe wn -c gridprobe-wn.yaml --run-id gp-", "gridprobe-wn.token: a token with scope", "printf '%s\\n'"} {
			if !strings.Contains(repro, w) {
				t.Errorf("%s reproduce lines lack %q:\n%s", id, w, repro)
			}
		}
	}
}

// brokenJobToken hands the job (the request with storage.create) a broken
// storage token; every other request goes to the real source.
type brokenJobToken struct {
	cred.Source
	kind string // expired, audience, readonly
	mint func(aud string, scopes []string) (*cred.Token, error)
}

func (b brokenJobToken) Token(ctx context.Context, req cred.TokenRequest) (*cred.Token, error) {
	if !slices.ContainsFunc(req.Scopes, func(s string) bool { return strings.HasPrefix(s, "storage.create:") }) {
		return b.Source.Token(ctx, req)
	}
	switch b.kind {
	case "expired":
		return b.mint(req.Audience, req.Scopes)
	case "audience":
		req.Audience = "https://other-se.gridprobe.invalid"
	case "readonly":
		req.Scopes = []string{"storage.read:/reference.dat"}
	}
	return b.Source.Token(ctx, req)
}

// minter signs an expired token with the testbed issuer's key (client
// credentials never hand one out).
func minter(t *testing.T, env map[string]string) func(string, []string) (*cred.Token, error) {
	dir := t.TempDir()
	return func(aud string, scopes []string) (*cred.Token, error) {
		out := filepath.Join(dir, "expired-"+fmt.Sprint(len(scopes)))
		cmd := exec.Command(env["GRIDPROBE_ISSUER_BIN"], "mint", "--out", out, "--aud", strings.ReplaceAll(aud, " ", ","),
			"--scope", strings.Join(scopes, " "), "--iat", "-90m", "--nbf", "-90m", "--exp", "-30m")
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("mint: %v: %s", err, o)
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			return nil, err
		}
		tok, err := cred.NewToken(string(raw), "minted expired test token")
		if err == nil {
			tok.Narrowed = true
		}
		return tok, err
	}
}

// TestIntegrationWNBrokenTokens breaks the job's storage token on purpose,
// on both CEs at once (six jobs side by side).
func TestIntegrationWNBrokenTokens(t *testing.T) {
	env := cetestbed(t)
	mint := minter(t, env)
	type tc struct {
		kind, ce string
		run      *ceRun
	}
	var cases []*tc
	for _, kind := range []string{"expired", "audience", "readonly"} {
		for _, ce := range []string{TypeARC, TypeHTCondor} {
			cases = append(cases, &tc{kind: kind, ce: ce})
		}
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		sc := ceScenario{kind: c.ce, checks: wnIDs(), tokens: func(s cred.Source) cred.Source {
			return brokenJobToken{Source: s, kind: c.kind, mint: mint}
		}}
		target := sc.target(t, env)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run = runCETarget(t, sc, target)
		}()
	}
	wg.Wait()
	for _, c := range cases {
		t.Run(c.kind+"/"+c.ce, func(t *testing.T) {
			r := c.run
			r.want(t, IDTknSubmit, engine.OK, "worker-node payload on")
			switch c.kind {
			case "expired":
				r.want(t, wnline.TokenLifetime, engine.Critical, "token EXPIRED 30m", "before the job started", "issued 1h30m before the job started")
				r.want(t, wnline.TknRead, engine.Unknown, "prerequisite WN-11token-lifetime failed: token EXPIRED")
				r.want(t, wnline.TknWrite, engine.Unknown, "prerequisite WN-11token-lifetime failed")
				r.want(t, wnline.CrtRead, engine.OK)
				r.want(t, wnline.Summary, engine.Critical, "WN-11token-lifetime CRITICAL")
			case "audience":
				r.want(t, wnline.Credentials, engine.Unknown, "not for the site's storage", "aud=https://other-se.gridprobe.invalid", "not the site")
				r.want(t, wnline.TknRead, engine.Unknown, "prerequisite WN-10credentials failed")
				r.want(t, wnline.TknWrite, engine.Unknown, "prerequisite WN-10credentials failed")
				r.want(t, wnline.Summary, engine.Unknown)
			case "readonly":
				r.want(t, wnline.Credentials, engine.OK, "scope read:/reference.dat")
				r.want(t, wnline.TknRead, engine.OK, "webdav OK", "xrootd OK")
				r.want(t, wnline.TknWrite, engine.Unknown, "the job's token lacks create,read,modify:/gridprobe/gp-", "not the site")
				r.want(t, wnline.CrtWrite, engine.OK)
				r.want(t, wnline.Summary, engine.Unknown, "WN-21tkn-write UNKNOWN")
			}
		})
	}
}

// TestIntegrationWNHeldJob: HTCondor holds the job (an output file it
// never writes): the WN checks are UNKNOWN with the CE's hold reason, and
// the CE check's cleanup finds the job's scratch areas already removed.
func TestIntegrationWNHeldJob(t *testing.T) {
	env := cetestbed(t)
	r := runCE(t, env, ceScenario{kind: TypeHTCondor, job: jobSpec{holdOnExit: true}, checks: wnIDs()})
	r.want(t, IDTknSubmit, engine.Critical, "HELD on schedd localhost", "gridprobe-never-written")
	for _, id := range wnIDs() {
		r.want(t, id, engine.Unknown, "prerequisite 14tkn-submit failed: job", "HELD on schedd localhost")
	}
	if left := intersect(r.jobIDs(), condorJobs(t, r.target)); len(left) > 0 {
		t.Errorf("held job left in the queue: %v", left)
	}
}
