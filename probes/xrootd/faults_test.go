package xrootd

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/storage"
	"github.com/gridprobe/gridprobe/probes/xrootd/gsi"
)

// rawTokenSource hands out the token in a file as it is — unlike
// cred.FileSource it does not refuse an expired token locally, so the
// server's verdict can be tested.
type rawTokenSource struct{ path string }

func (r rawTokenSource) Describe() string { return "test token file " + r.path }

func (r rawTokenSource) Token(_ context.Context, req cred.TokenRequest) (*cred.Token, error) {
	b, err := os.ReadFile(r.path)
	if err != nil {
		return nil, err
	}
	t, err := cred.NewToken(strings.TrimSpace(string(b)), r.Describe())
	if err != nil {
		return nil, err
	}
	t.Request = req
	return t, nil
}

// mint writes a token from the testbed issuer into a 0600 file.
func mint(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "token")
	cmd := exec.Command(env["GRIDPROBE_ISSUER_BIN"], append([]string{"mint", "--out", file}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mint %v: %v: %s", args, err, out)
	}
	return file
}

// A token the server must refuse at login makes 14tkn-read CRITICAL with
// the server's reason; 3version still logs in (with the proxy).
func TestBadTokensFailLogin(t *testing.T) {
	env := testbed(t)
	aud := env["GRIDPROBE_XROOTD_URL"]
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"expired", []string{"--aud", aud, "--scope", "storage.read:/", "--exp", "-1h"}, "token expired"},
		{"untrusted issuer key", []string{"--aud", aud, "--scope", "storage.read:/", "--key", "rogue"}, "kXR_AuthFailed (3030)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := mint(t, env, tc.args...)
			r := runScenario(t, env, scenario{tokens: rawTokenSource{file}, checks: []string{storage.IDTknRead}})
			defer assertScratchEmpty(t, env, r)
			r.want(t, IDVersion, engine.OK)
			res := r.want(t, storage.IDTknRead, engine.Critical, "kXR_AuthFailed (3030)", tc.want)
			// The reproduce lines, run with that token, fail the same way.
			out, err := runRepro(t, env, res.Reproduce, "BEARER_TOKEN_FILE="+file)
			if err == nil || !strings.Contains(out, "Auth failed") {
				t.Errorf("reproduce with the %s token: err=%v, want an auth failure; output:\n%s", tc.name, err, out)
			}
		})
	}
}

// writeCADir writes a CA directory holding one unrelated CA.
func writeCADir(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gridprobe unrelated CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	h, err := gsi.SubjectHash(cert.RawSubject)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%08x.0", h)), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A CA directory without the server's CA: 3version fails on TLS, every
// dependent check is UNKNOWN, nothing is written.
func TestWrongCADir(t *testing.T) {
	env := testbed(t)
	r := runScenario(t, env, scenario{caDir: writeCADir(t)})
	defer assertScratchEmpty(t, env, r)
	r.want(t, IDConnection, engine.OK)
	r.want(t, IDVersion, engine.Critical, "TLS handshake", "certificate")
	for _, x := range r.order {
		if x.Check == IDConnection || x.Check == IDVersion || x.Check == engine.SummaryID {
			continue
		}
		if x.State != engine.Unknown || !strings.Contains(x.Detail, IDVersion) {
			t.Errorf("%s: %s %q, want UNKNOWN naming the failed prerequisite %s", x.Check, x.State, x.Detail, IDVersion)
		}
	}
}

// A server that accepts TCP and never answers costs only the check
// timeout.
func TestSilentServer(t *testing.T) {
	env := testbed(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	r := runScenario(t, env, scenario{url: "roots://" + ln.Addr().String(), federation: "-", timeout: "2s"})
	r.want(t, IDConnection, engine.OK)
	v := r.want(t, IDVersion, engine.Critical)
	if v.Duration > 3500*time.Millisecond {
		t.Errorf("3version took %s with a 2s timeout", v.Duration)
	}
	if r.took > 10*time.Second {
		t.Errorf("the round took %s against a silent server (timeout 2s)", r.took)
	}
	for _, x := range r.order {
		if x.Check != IDConnection && x.Check != IDVersion && x.Check != engine.SummaryID && x.State != engine.Unknown {
			t.Errorf("%s: %s, want UNKNOWN (prerequisite failed)", x.Check, x.State)
		}
	}
}

// throwawayXrootd starts an xrootd with TLS and GSI (the testbed's host
// certificate; no authorization, no ztn) on a loopback port with a copy of
// the reference file; kill stops it.
func throwawayXrootd(t *testing.T, env map[string]string, secure bool) (url string, kill func()) {
	t.Helper()
	shim := filepath.Join(env["GRIDPROBE_TESTBED"], "bin", "bindlo.so")
	if _, err := os.Stat(shim); err != nil {
		t.Fatalf("bind shim: %v", err)
	}
	bin, err := exec.LookPath("xrootd")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "gridprobe-xrootd-kill-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"data/testvo/gridprobe", "data/othervo", "admin", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := os.ReadFile(filepath.Join(env["GRIDPROBE_TESTBED"], "data", "testvo", "reference.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "testvo", "reference.dat"), ref, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	tb := env["GRIDPROBE_TESTBED"]
	cfg := fmt.Sprintf(`all.export /
oss.localroot %[1]s/data
all.adminpath %[1]s/admin
all.pidpath %[1]s/run
xrd.port %[2]d
xrootd.chksum adler32
xrd.tls %[3]s/host/hostcert.pem %[3]s/host/hostkey.pem
xrd.tlsca certdir %[3]s/certificates
xrootd.tls capable all
xrootd.seclib libXrdSec.so
sec.protocol gsi -certdir:%[3]s/certificates -cert:%[3]s/host/hostcert.pem -key:%[3]s/host/hostkey.pem -crl:0
`, dir, port, tb)
	if !secure {
		cfg = fmt.Sprintf("all.export /\noss.localroot %[1]s/data\nall.adminpath %[1]s/admin\nall.pidpath %[1]s/run\nxrd.port %[2]d\nxrootd.chksum adler32\n", dir, port)
	}
	if err := os.WriteFile(filepath.Join(dir, "x.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", "xrootd:", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	cmd := exec.Command(bin, "-I", "v4", "-R", "xrootd", "-n", "gpkill", "-c", filepath.Join(dir, "x.cfg"), "-l", filepath.Join(dir, "xrootd.log"))
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+shim)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	kill = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(kill)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("throwaway xrootd on %s did not come up: %v", addr, err)
		}
	}
	if !secure {
		return "root://localhost:" + strconv.Itoa(port), kill
	}
	return "roots://localhost:" + strconv.Itoa(port), kill
}

// Killing the server in the middle of a round gives CRITICAL/UNKNOWN
// results for the checks after it, and no panic.
func TestServerKilledMidRun(t *testing.T) {
	env := testbed(t)
	url, kill := throwawayXrootd(t, env, true)
	r := runKilled(t, env, url, storage.IDCrtRead, kill)
	r.want(t, IDVersion, engine.Warning, "does not offer ztn", "logged in with gsi")
	r.want(t, storage.IDCrtRead, engine.OK)
	after := false
	for _, x := range r.order {
		if x.Check == storage.IDCrtRead {
			after = true
			continue
		}
		if after && x.Check != engine.SummaryID && x.State != engine.Critical && x.State != engine.Unknown {
			t.Errorf("%s after the kill: %s %q, want CRITICAL or UNKNOWN", x.Check, x.State, x.Detail)
		}
		if strings.Contains(x.Detail, "panic") {
			t.Errorf("%s: %s", x.Check, x.Detail)
		}
	}
	if r.took > 60*time.Second {
		t.Errorf("the round took %s after the server died", r.took)
	}
}

// A server that lets anyone in never sees the credential: crt and tkn
// checks cannot pass on it (and must not fall back to anonymous access).
func TestAnonymousServer(t *testing.T) {
	env := testbed(t)
	url, _ := throwawayXrootd(t, env, false)
	r := runScenario(t, env, scenario{url: url, federation: "-", timeout: "10s"})
	r.want(t, IDVersion, engine.Warning, "no authentication required", "cannot do TLS")
	for _, x := range r.order {
		if x.Credential == engine.CredNone || x.Check == engine.SummaryID {
			continue
		}
		if x.State == engine.OK || x.State == engine.Warning {
			t.Errorf("%s passed against a server without authentication: %s %q", x.Check, x.State, x.Detail)
		}
	}
	r.want(t, storage.IDCrtRead, engine.Critical, "no authentication at all", "never presented")
	r.want(t, storage.IDTknRead, engine.Critical, "no authentication at all", "never presented")
}

// runKilled runs the catalogue against url and calls kill right after the
// check `after` has run.
func runKilled(t *testing.T, env map[string]string, url, after string, kill func()) *run {
	t.Helper()
	mutate := func(sv *engine.Service) {
		for i := range sv.Checks {
			if sv.Checks[i].ID == after {
				run := sv.Checks[i].Run
				sv.Checks[i].Run = func(ctx context.Context, e *engine.Env) engine.Outcome {
					o := run(ctx, e)
					kill()
					return o
				}
			}
		}
	}
	return runScenario(t, env, scenario{url: url, federation: "-", timeout: "5s", mutate: mutate})
}

// runRepro runs reproduce lines as a script (set -e) in a temporary
// directory with the testbed's client environment plus extra.
func runRepro(t *testing.T, env map[string]string, lines []string, extra ...string) (string, error) {
	t.Helper()
	if len(lines) == 0 {
		t.Fatal("no reproduce lines")
	}
	cmd := exec.Command("bash", "-c", "set -e\n"+strings.Join(lines, "\n"))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "X509_USER_PROXY="+env["X509_USER_PROXY"], "X509_CERT_DIR="+env["X509_CERT_DIR"],
		"GRIDPROBE_FOREIGN_PROXY="+env["GRIDPROBE_FOREIGN_PROXY"], "GRIDPROBE_NOVOMS_PROXY="+env["GRIDPROBE_NOVOMS_PROXY"],
		"XRD_LOGLEVEL=")
	cmd.Env = append(cmd.Env, extra...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// The reproduce lines of the OK checks, run with the same credentials,
// succeed (including the refusals of the contain/access checks). The
// 16tkn-access violation is reproduced by hand in KNOWN_ISSUES.md.
func TestReproduceLines(t *testing.T) {
	env := testbed(t)
	r := runScenario(t, env, scenario{})
	defer assertScratchEmpty(t, env, r)
	for _, id := range []string{storage.IDCrtRead, storage.IDCrtContain, storage.IDCrtAccess, storage.IDCrtWrite, storage.IDCrtDirectory, IDFederation} {
		res := r.want(t, id, engine.OK)
		if out, err := runRepro(t, env, res.Reproduce); err != nil {
			t.Errorf("%s reproduce failed: %v\n%s\n%s", id, err, strings.Join(res.Reproduce, "\n"), out)
		}
	}
	aud := env["GRIDPROBE_XROOTD_URL"]
	readTok := mint(t, env, "--aud", aud, "--scope", "storage.read:/reference.dat")
	res := r.want(t, storage.IDTknRead, engine.OK)
	if out, err := runRepro(t, env, res.Reproduce, "BEARER_TOKEN_FILE="+readTok); err != nil {
		t.Errorf("%s reproduce failed: %v\n%s", storage.IDTknRead, err, out)
	}
	allTok := mint(t, env, "--aud", aud, "--scope", "storage.read:/ storage.create:/gridprobe storage.modify:/gridprobe")
	for _, id := range []string{storage.IDTknWrite, storage.IDTknDirectory} {
		res := r.want(t, id, engine.OK)
		if out, err := runRepro(t, env, res.Reproduce, "BEARER_TOKEN_FILE="+allTok); err != nil {
			t.Errorf("%s reproduce failed: %v\n%s", id, err, out)
		}
	}
	voTok := mint(t, env, "--aud", aud, "--scope", "storage.read:/")
	res = r.want(t, storage.IDTknContain, engine.OK)
	if out, err := runRepro(t, env, res.Reproduce, "BEARER_TOKEN_FILE="+voTok); err != nil {
		t.Errorf("%s reproduce failed: %v\n%s", storage.IDTknContain, err, out)
	}
	// Nothing of the reproduce runs is left behind either.
	assertScratchEmpty(t, env, r)
}
