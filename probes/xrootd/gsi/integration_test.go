package gsi

import (
	"github.com/gridprobe/gridprobe/internal/testbedenv"

	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Integration tests against the real XRootD 5.5.3 testbed (testbed/up.sh).
// They fail when no server is reachable, unless GRIDPROBE_NO_TESTBED=1.

// testbed returns the testbed environment (internal/testbedenv: the test
// fails when it is down, unless GRIDPROBE_NO_TESTBED=1, which skips it
// saying so).
func testbed(t *testing.T) map[string]string {
	t.Helper()
	env := testbedenv.Load(t, "GRIDPROBE_XROOTD_URL")
	for _, k := range []string{"X509_CERT_DIR", "X509_USER_PROXY", "GRIDPROBE_EXPIRED_PROXY", "GRIDPROBE_UNTRUSTED_PROXY",
		"GRIDPROBE_FOREIGN_PROXY", "GRIDPROBE_XROOTD_LOG", "GRIDPROBE_REF_PATH"} {
		if env[k] == "" {
			t.Fatalf("the testbed environment has no %s (testbed/env sets it)", k)
		}
	}
	return env
}

func findTestbedEnv() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "testbed", "env")
			if _, err := os.Stat(p); err != nil {
				return "", errors.New("no testbed/env script and GRIDPROBE_XROOTD_URL unset")
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root not found")
		}
		dir = parent
	}
}

// realAttempt logs in to the testbed SE (as host, TLS checked for
// localhost) and runs GSI with cfg; it returns the connection (open) or the
// authentication error.
func realAttempt(t *testing.T, env map[string]string, host string, a *Authenticator) (*miniConn, error) {
	t.Helper()
	u, err := url.Parse(env["GRIDPROBE_XROOTD_URL"])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := withTimeout()
	defer cancel()
	addr := net.JoinHostPort(host, u.Port())
	m, err := dialMini(ctx, addr, u.Hostname(), env["X509_CERT_DIR"])
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	if !m.tls {
		t.Errorf("server at %s did not ask for TLS", addr)
	}
	t.Cleanup(func() { m.Close() })
	return m, m.auth(ctx, a, host)
}

// logSince returns the server log written after offset, once it holds
// every one of want (the server writes its log asynchronously: wait for the
// lines, not for a while), or what there is after 10 s.
func logSince(t *testing.T, path string, offset int64, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("server log: %v", err)
		}
		text := string(b)
		if int64(len(b)) >= offset {
			text = string(b[offset:])
		}
		all := true
		for _, w := range want {
			all = all && strings.Contains(text, w)
		}
		if all || time.Now().After(deadline) {
			return text
		}
		time.Sleep(20 * time.Millisecond) // poll the file for the lines
	}
}

func logSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("server log: %v", err)
	}
	return st.Size()
}

func TestRealServerVOMSProxy(t *testing.T) {
	env := testbed(t)
	off := logSize(t, env["GRIDPROBE_XROOTD_LOG"])
	a := New(Config{ProxyFile: env["X509_USER_PROXY"], CADir: env["X509_CERT_DIR"]})
	m, err := realAttempt(t, env, "localhost", a)
	if err != nil {
		t.Fatalf("GSI with the VOMS proxy: %v", err)
	}
	st, err := m.stat(env["GRIDPROBE_REF_PATH"])
	if err != nil {
		t.Fatalf("stat after GSI: %v", err)
	}
	if f := strings.Fields(st); len(f) < 4 {
		t.Fatalf("stat reply %q", st)
	}
	r := a.Result()
	t.Logf("stat %s: %q; result %+v", env["GRIDPROBE_REF_PATH"], st, r)
	// The server announces v:10600 in 5.x (5.5.3, 5.8.1) and v:10700 in
	// 6.2.0; the exchange with a 10600 client is the same in both.
	if r.ServerVersion < clientVersion || r.Cipher != "aes-128-cbc" || r.DHBits < 512 || r.ServerSubject == "" {
		t.Errorf("result = %+v", r)
	}
	// The authdb grants /testvo only through "o testvo": a grant proves
	// that the server extracted the VOMS attributes from our chain.
	logText := logSince(t, env["GRIDPROBE_XROOTD_LOG"], off, "login as", "grant gsi")
	var login, grant bool
	for _, l := range strings.Split(logText, "\n") {
		if !strings.Contains(l, "gsitest.") {
			continue
		}
		login = login || strings.Contains(l, "login as")
		grant = grant || (strings.Contains(l, "grant gsi") && strings.Contains(l, "stat "+env["GRIDPROBE_REF_PATH"]))
	}
	if !login || !grant {
		t.Errorf("server log lacks the GSI login (%v) or the VO-based grant (%v):\n%s", login, grant, logText)
	}
}

func TestRealServerForeignVOProxyDenied(t *testing.T) {
	env := testbed(t)
	off := logSize(t, env["GRIDPROBE_XROOTD_LOG"])
	a := New(Config{ProxyFile: env["GRIDPROBE_FOREIGN_PROXY"], CADir: env["X509_CERT_DIR"]})
	m, err := realAttempt(t, env, "localhost", a)
	if err != nil {
		t.Fatalf("GSI with the othervo proxy: %v", err)
	}
	_, err = m.stat(env["GRIDPROBE_REF_PATH"])
	var xe *xrdError
	if !errors.As(err, &xe) || xe.code != 3010 {
		t.Fatalf("stat of a testvo file with an othervo proxy: err = %v, want kXR_NotAuthorized 3010", err)
	}
	if l := logSince(t, env["GRIDPROBE_XROOTD_LOG"], off, "deny gsi"); !strings.Contains(l, "deny gsi") {
		t.Errorf("server log lacks the deny line:\n%s", l)
	}
}

func TestRealServerExpiredProxy(t *testing.T) {
	env := testbed(t)
	a := New(Config{ProxyFile: env["GRIDPROBE_EXPIRED_PROXY"], CADir: env["X509_CERT_DIR"]})
	_, err := realAttempt(t, env, "localhost", a)
	if !errors.Is(err, ErrProxyExpired) {
		t.Fatalf("expired proxy: err = %v, want ErrProxyExpired", err)
	}
	t.Logf("local check: %v", err)
	// Send it anyway: the server refuses it.
	a = New(Config{ProxyFile: env["GRIDPROBE_EXPIRED_PROXY"], CADir: env["X509_CERT_DIR"]})
	a.noExpiry = true
	_, err = realAttempt(t, env, "localhost", a)
	var xe *xrdError
	if !errors.As(err, &xe) || xe.code != 3030 {
		t.Fatalf("expired proxy sent anyway: err = %v, want kXR_AuthFailed 3030", err)
	}
	if c := ClassifyServerError(xe.msg); c != ClassProxyExpired {
		t.Errorf("class of %q = %q, want %q", xe.msg, c, ClassProxyExpired)
	}
	t.Logf("server: %s", xe.msg)
}

func TestRealServerUntrustedProxy(t *testing.T) {
	env := testbed(t)
	a := New(Config{ProxyFile: env["GRIDPROBE_UNTRUSTED_PROXY"], CADir: env["X509_CERT_DIR"]})
	_, err := realAttempt(t, env, "localhost", a)
	var xe *xrdError
	if !errors.As(err, &xe) || xe.code != 3030 {
		t.Fatalf("untrusted proxy: err = %v, want kXR_AuthFailed 3030", err)
	}
	if c := ClassifyServerError(xe.msg); c != ClassClientCAUnknown {
		t.Errorf("class of %q = %q, want %q", xe.msg, c, ClassClientCAUnknown)
	}
	t.Logf("server: %s", xe.msg)
}

func TestRealServerHostNameMismatch(t *testing.T) {
	env := testbed(t)
	a := New(Config{ProxyFile: env["X509_USER_PROXY"], CADir: env["X509_CERT_DIR"]})
	_, err := realAttempt(t, env, "127.0.0.1", a)
	if !errors.Is(err, ErrHostNameMismatch) {
		t.Fatalf("connect as 127.0.0.1: err = %v, want ErrHostNameMismatch", err)
	}
	t.Logf("%v", err)
}

func TestRealServerUnknownCA(t *testing.T) {
	env := testbed(t)
	a := New(Config{ProxyFile: env["X509_USER_PROXY"], CADir: t.TempDir()})
	_, err := realAttempt(t, env, "localhost", a)
	if !errors.Is(err, ErrUnknownCA) {
		t.Fatalf("CA dir without the server's CA: err = %v, want ErrUnknownCA", err)
	}
	t.Logf("%v", err)
}

// TestRealServerDHPadding forces DH secrets with a leading zero byte, where
// padded and unpadded session keys differ, in both padding modes.
func TestRealServerDHPadding(t *testing.T) {
	env := testbed(t)
	no := false
	for _, tc := range []struct {
		name  string
		force *bool
	}{{"ssl padded", nil}, {"sslnopad", &no}} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(Config{ProxyFile: env["X509_USER_PROXY"], CADir: env["X509_CERT_DIR"]})
			a.forcePad = tc.force
			var lead bool
			zero := leadingZeroExp(t)
			a.dhPrivate = func(p, y *big.Int) (*big.Int, error) {
				x, err := zero(p, y)
				lead = err == nil
				return x, err
			}
			m, err := realAttempt(t, env, "localhost", a)
			if err != nil {
				t.Fatalf("GSI: %v", err)
			}
			if !lead {
				t.Fatal("leading-zero secret not used")
			}
			if _, err := m.stat(env["GRIDPROBE_REF_PATH"]); err != nil {
				t.Fatalf("stat: %v", err)
			}
			if r := a.Result(); r.Padded != (tc.force == nil) {
				t.Errorf("padded = %v", r.Padded)
			}
		})
	}
}
