// Package testbed_test runs the gridprobe testbed's integration tests: it
// checks, with the reference clients only (xrdcp/xrdfs, curl, davix and the
// testbed's issuer binary), that the running local testbed (testbed/up.sh)
// behaves as the probe expects — and records where the real server departs
// from the WLCG profile (see KNOWN_ISSUES.md).
//
// The tests fail when the testbed is not up, unless GRIDPROBE_NO_TESTBED=1
// (then they are skipped with that reason). Tokens and secrets only ever live
// in 0600 temporary files; they never appear in argv, in logs or in failure
// messages.
package testbed_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"hash/adler32"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// env is the testbed environment printed by testbed/env.
type env map[string]string

// testbed returns the environment of the running testbed (internal/testbedenv:
// the test fails when the testbed is not up, unless GRIDPROBE_NO_TESTBED=1,
// which skips it saying so).
func testbed(t *testing.T) env {
	t.Helper()
	return env(testbedenv.Load(t, "GRIDPROBE_WEBDAV_URL", "GRIDPROBE_XROOTD_URL", "GRIDPROBE_REDIRECTOR_URL", "GRIDPROBE_ISSUER",
		"GRIDPROBE_PARTNER_WEBDAV_URL", "GRIDPROBE_PARTNER_XROOTD_URL"))
}

// result of one reference-client run.
type result struct {
	code           int // exit code; -1 when it did not run
	stdout, stderr string
}

// String is the exit code and the output's last lines, with anything shaped
// like a token redacted (a client may echo a source URL's authz CGI).
func (r result) String() string {
	return fmt.Sprintf("exit %d; stderr: %s", r.code, cred.Redact(lastLines(r.stderr+r.stdout, 3)))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// clientEnv is the environment of every reference client: the caller's,
// without any credential variables, plus the testbed's CA/VOMS dirs.
func (e env) clientEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "X509_") || strings.HasPrefix(k, "BEARER_TOKEN") || strings.HasPrefix(k, "XrdSec") ||
			strings.HasPrefix(k, "XRD_") || k == "XDG_RUNTIME_DIR" {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "X509_CERT_DIR="+e["X509_CERT_DIR"], "X509_VOMS_DIR="+e["X509_VOMS_DIR"],
		"XDG_RUNTIME_DIR=/nonexistent") // no stray bt_u<uid> token discovery
	return append(out, extra...)
}

// run runs a reference client with a 60 s deadline.
func run(t *testing.T, environ []string, name string, args ...string) result {
	t.Helper()
	r, timedOut := tryRun(t, environ, name, args...)
	if timedOut {
		t.Fatalf("%s %s: timed out after 60 s (stderr so far %q)%s", name, strings.Join(args, " "), cred.Redact(r.stderr), xrootdDoorsNow(args))
	}
	return r
}

// xrootdDoorsNow says, for each root(s):// URL in args, whether its server
// answers the XRootD handshake now: after a client timed out, it tells a
// hung server (testbed/KNOWN_ISSUES.md 7) from a client that hung.
func xrootdDoorsNow(args []string) string {
	var out []string
	for _, a := range args {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "root" && u.Scheme != "roots") || u.Port() == "" {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s", u.Host, xrootdAnswers(u.Host)))
	}
	if len(out) == 0 {
		return ""
	}
	return "; the server now: " + strings.Join(out, ", ")
}

// xrootdAnswers sends the XRootD handshake (with kXR_protocol) and reads the
// 16-byte handshake answer within 10 s.
func xrootdAnswers(hostport string) string {
	c, err := net.DialTimeout("tcp", hostport, 10*time.Second)
	if err != nil {
		return "no connection: " + err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	hello := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 7, 220}
	if _, err := c.Write(hello); err != nil {
		return "handshake not sent: " + err.Error()
	}
	if _, err := io.ReadFull(c, make([]byte, 16)); err != nil {
		return "no handshake answer in 10 s (" + err.Error() + ")"
	}
	return "answers the handshake"
}

// tryRun is run that reports a timeout instead of failing the test.
func tryRun(t *testing.T, environ []string, name string, args ...string) (result, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = environ
	cmd.Dir = t.TempDir()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run %s: %v", name, err)
	}
	return r, ctx.Err() != nil
}

// ---------------------------------------------------------------- X.509

// gsi returns the environment of an XRootD client using GSI with proxy.
func (e env) gsi(proxy string, extra ...string) []string {
	return e.clientEnv(append([]string{"XrdSecPROTOCOL=gsi", "X509_USER_PROXY=" + proxy}, extra...)...)
}

// ztn returns the environment of an XRootD client using a token file.
func (e env) ztn(tokenFile string) []string {
	return e.clientEnv("XrdSecPROTOCOL=ztn", "BEARER_TOKEN_FILE="+tokenFile)
}

// xrd runs xrdcp/xrdfs.
func xrd(t *testing.T, environ []string, prog string, args ...string) result {
	t.Helper()
	return run(t, environ, prog, args...)
}

// curlCert runs curl with a proxy as client certificate; returns the
// HTTP status (0 when no HTTP answer) and the result.
func (e env) curlCert(t *testing.T, proxy string, args ...string) (int, result) {
	t.Helper()
	base := []string{"-sS", "--capath", e["X509_CERT_DIR"], "--cert", proxy, "--key", proxy}
	return curlStatus(t, e, append(base, args...))
}

// curlToken runs curl with "Authorization: Bearer <token>" read from a 0600
// header file (never on the command line).
func (e env) curlToken(t *testing.T, tokenFile string, args ...string) (int, result) {
	t.Helper()
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("read token file: %v", err)
	}
	hdr := secretFile(t, "auth-header", "Authorization: Bearer "+strings.TrimSpace(string(tok))+"\n")
	base := []string{"-sS", "--capath", e["X509_CERT_DIR"], "-H", "@" + hdr}
	return curlStatus(t, e, append(base, args...))
}

// curlStatus runs curl and returns the HTTP status (0: no HTTP answer).
func curlStatus(t *testing.T, e env, args []string) (int, result) {
	t.Helper()
	r := run(t, e.clientEnv(), "curl", append([]string{"-w", "%{http_code}"}, args...)...)
	out := strings.TrimSpace(r.stdout)
	if len(out) < 3 {
		return 0, r
	}
	code, err := strconv.Atoi(out[len(out)-3:])
	if err != nil {
		return 0, r
	}
	r.stdout = out[:len(out)-3]
	return code, r
}

// ---------------------------------------------------------------- files

// secretFile writes content to a new 0600 file in the test's temp dir.
func secretFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	return p
}

// localFile writes content to a temp file and returns its path.
func localFile(t *testing.T, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatalf("write local file: %v", err)
	}
	return p
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return b
}

func adler(b []byte) string { return fmt.Sprintf("%08x", adler32.Checksum(b)) }

// checkReference verifies that data is the reference file (size + adler32).
func (e env) checkReference(t *testing.T, data []byte, via string) {
	t.Helper()
	if strconv.Itoa(len(data)) != e["GRIDPROBE_REF_SIZE"] || adler(data) != e["GRIDPROBE_REF_ADLER32"] {
		t.Errorf("%s: got %d bytes adler32 %s, want %s bytes adler32 %s", via, len(data), adler(data),
			e["GRIDPROBE_REF_SIZE"], e["GRIDPROBE_REF_ADLER32"])
	}
}

// scratch creates a unique scratch directory under /testvo/gridprobe with
// the testvo proxy and removes it (recursively, with the proxy) at cleanup.
// It returns the directory path (storage namespace, no URL).
func (e env) scratch(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.TrimPrefix(t.Name(), "Test"))
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
	if len(name) > 40 {
		name = name[:40]
	}
	dir := "/testvo/gridprobe/tb-" + name + "-" + hex.EncodeToString(randomBytes(t, 4))
	if r := xrd(t, e.gsi(e["X509_USER_PROXY"]), "xrdfs", e["GRIDPROBE_XROOTD_URL"], "mkdir", dir); r.code != 0 {
		t.Fatalf("create scratch dir %s: %s", dir, r)
	}
	t.Cleanup(func() { e.removeTree(t, dir) })
	return dir
}

// removeTree deletes dir and everything in it with the testvo proxy.
func (e env) removeTree(t *testing.T, dir string) {
	t.Helper()
	g := e.gsi(e["X509_USER_PROXY"])
	r := xrd(t, g, "xrdfs", e["GRIDPROBE_XROOTD_URL"], "ls", dir)
	if r.code != 0 {
		if !strings.Contains(r.stdout+r.stderr, "[3011]") { // already gone is fine
			t.Errorf("cleanup: list %s: %s", dir, r)
		}
		return
	}
	for _, p := range strings.Fields(r.stdout) {
		if st := xrd(t, g, "xrdfs", e["GRIDPROBE_XROOTD_URL"], "stat", "-q", "IsDir", p); st.code == 0 {
			e.removeTree(t, p)
			continue
		}
		if rm := xrd(t, g, "xrdfs", e["GRIDPROBE_XROOTD_URL"], "rm", p); rm.code != 0 {
			t.Errorf("cleanup: rm %s: %s", p, rm)
		}
	}
	if rd := xrd(t, g, "xrdfs", e["GRIDPROBE_XROOTD_URL"], "rmdir", dir); rd.code != 0 {
		t.Errorf("cleanup: rmdir %s: %s", dir, rd)
	}
}

// ---------------------------------------------------------------- tokens

// issue obtains a token from the issuer's token endpoint (OAuth2 client
// credentials) with curl. The request body (with the client secret) and the
// token are kept in 0600 files; the returned path holds the token.
func (e env) issue(t *testing.T, scope, audience string) string {
	t.Helper()
	tok, status, errBody := e.tokenRequest(t, scope, audience)
	if status != 200 || tok == "" {
		t.Fatalf("token request scope=%q aud=%q: HTTP %d %s", scope, audience, status, errBody)
	}
	return tok
}

// tokenRequest posts a client-credentials request. It returns the path of
// the token file (when one was issued), the HTTP status, and the OAuth2
// error fields (never the token).
func (e env) tokenRequest(t *testing.T, scope, audience string) (string, int, string) {
	t.Helper()
	secret, err := os.ReadFile(e["GRIDPROBE_CLIENT_SECRET_FILE"])
	if err != nil {
		t.Fatalf("read client secret: %v", err)
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {e["GRIDPROBE_CLIENT_ID"]},
		"client_secret": {strings.TrimSpace(string(secret))},
		"scope":         {scope},
		"audience":      {audience},
	}
	body := secretFile(t, "token-request", form.Encode())
	out := filepath.Join(t.TempDir(), "token-response")
	code, r := curlStatus(t, e, []string{"-sS", "--cacert", e["GRIDPROBE_ISSUER_CA"], "-o", out,
		"--data-binary", "@" + body, "-H", "Content-Type: application/x-www-form-urlencoded",
		e["GRIDPROBE_ISSUER"] + "/token"})
	if code == 0 {
		t.Fatalf("token endpoint: no HTTP answer: %s", r)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("read token response: %v", err)
	}
	os.Remove(out)
	var resp struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("token response (HTTP %d) is not JSON: %v", code, err)
	}
	if resp.AccessToken == "" {
		return "", code, resp.Error + ": " + resp.Description
	}
	if resp.TokenType != "Bearer" || resp.ExpiresIn <= 0 || resp.Scope == "" && scope != "" {
		t.Errorf("token response: token_type=%q expires_in=%d scope=%q", resp.TokenType, resp.ExpiresIn, resp.Scope)
	}
	return secretFile(t, "token", resp.AccessToken+"\n"), code, ""
}

// mint mints a token with the issuer binary's mint command (for negative
// tests) and returns the path of the 0600 token file.
func (e env) mint(t *testing.T, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "minted-token")
	r := run(t, e.clientEnv("GRIDPROBE_TESTBED="+e["GRIDPROBE_TESTBED"], "GRIDPROBE_ISSUER="+e["GRIDPROBE_ISSUER"]),
		e["GRIDPROBE_ISSUER_BIN"], append([]string{"mint", "--out", out}, args...)...)
	if r.code != 0 {
		t.Fatalf("mint %v: %s", args, r)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("minted token file: %v mode %v, want 0600", err, st.Mode().Perm())
	}
	return out
}

// webdav returns the https URL of a storage path.
func (e env) webdav(p string) string { return e["GRIDPROBE_WEBDAV_URL"] + p }

// root returns the roots:// URL of a storage path.
func (e env) root(p string) string { return e["GRIDPROBE_XROOTD_URL"] + "/" + p }

// readFile reads a local file or fails.
func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return b
}

// denied reports whether an XRootD client run ended in an explicit
// authorization denial (kXR_NotAuthorized 3010).
func deniedXrd(r result) bool {
	return r.code != 0 && strings.Contains(r.stdout+r.stderr, "[3010]")
}

// authFailedXrd reports whether an XRootD client run failed authentication.
func authFailedXrd(r result) bool {
	return r.code != 0 && strings.Contains(r.stdout+r.stderr, "Auth failed")
}
