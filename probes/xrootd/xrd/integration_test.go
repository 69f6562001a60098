package xrd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/testbedenv"
	"github.com/gridprobe/gridprobe/probes/xrootd/gsi"
	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
	"github.com/gridprobe/gridprobe/probes/xrootd/ztn"
)

// testbed is the environment of the shared testbed (testbed/env), or the
// same variables set by hand for a developer's own xrootd.
type testbed struct {
	seURL, rdrURL string
	caDir         string
	issuerBin     string
	refPath       string
	refSize       int64
	refAdler      string
	scratchBase   string // a directory the session may write below
}

// tbEnv is the testbed environment of the running test binary.
var tbEnv map[string]string

// needTestbed returns the testbed (internal/testbedenv: the test fails when
// it is down, unless GRIDPROBE_NO_TESTBED=1, which skips it saying so).
func needTestbed(t *testing.T) *testbed {
	t.Helper()
	tbEnv = testbedenv.Load(t, "GRIDPROBE_XROOTD_URL", "GRIDPROBE_REDIRECTOR_URL")
	for _, k := range []string{"GRIDPROBE_ISSUER_BIN", "GRIDPROBE_REF_PATH", "X509_CERT_DIR"} {
		if tbEnv[k] == "" {
			t.Fatalf("the testbed environment has no %s (testbed/env sets it)", k)
		}
	}
	tb := &testbed{
		seURL:     tbEnv["GRIDPROBE_XROOTD_URL"],
		rdrURL:    tbEnv["GRIDPROBE_REDIRECTOR_URL"],
		caDir:     tbEnv["X509_CERT_DIR"],
		issuerBin: tbEnv["GRIDPROBE_ISSUER_BIN"],
		refPath:   tbEnv["GRIDPROBE_REF_PATH"],
		refAdler:  tbEnv["GRIDPROBE_REF_ADLER32"],
	}
	tb.refSize, _ = strconv.ParseInt(tbEnv["GRIDPROBE_REF_SIZE"], 10, 64)
	tb.scratchBase = tbEnv["GRIDPROBE_XROOTD_SCRATCH"]
	if tb.scratchBase == "" {
		tb.scratchBase = "/testvo/gridprobe-xrdtest"
	}
	return tb
}

func (tb *testbed) tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	ents, err := os.ReadDir(tb.caDir)
	if err != nil {
		t.Fatalf("CA dir: %v", err)
	}
	n := 0
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".0") && !strings.HasSuffix(e.Name(), ".pem") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(tb.caDir, e.Name()))
		if err == nil && pool.AppendCertsFromPEM(b) {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no CA certificates in %s", tb.caDir)
	}
	return &tls.Config{RootCAs: pool}
}

// mint writes a token with the testbed issuer and returns a token source
// reading it back (the token itself never enters the test's output).
func (tb *testbed) mint(t *testing.T, args ...string) func() (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "token")
	cmd := exec.Command(tb.issuerBin, append([]string{"mint", "--out", file}, args...)...)
	if tb := tbEnv["GRIDPROBE_TESTBED"]; tb != "" {
		cmd.Env = append(os.Environ(), "GRIDPROBE_TESTBED="+tb)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mint token: %v: %s", err, out)
	}
	return func() (string, error) {
		b, err := os.ReadFile(file)
		return string(b), err
	}
}

// audience of the SE for tokens.
func (tb *testbed) audience() string { return tb.seURL }

func (tb *testbed) options(t *testing.T, tok func() (string, error)) xrd.Options {
	o := xrd.Options{TLSConfig: tb.tlsConfig(t)}
	if tok != nil {
		o.Auth = func() []secproto.Authenticator { return []secproto.Authenticator{ztn.New(tok)} }
	}
	return o
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func randName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dialSE opens an authenticated session to the SE with a full-rights token
// (or none when the server needs no authentication).
func dialSE(t *testing.T, tb *testbed) *xrd.Session {
	t.Helper()
	var tok func() (string, error)
	if tb.issuerBin != "" {
		tok = tb.mint(t, "--aud", tb.audience(), "--scope", "storage.read:/ storage.create:/ storage.modify:/")
	}
	start := time.Now()
	s, err := xrd.Dial(ctxT(t, 20*time.Second), tb.seURL, tb.options(t, tok))
	if err != nil {
		t.Fatalf("dial %s: %v", tb.seURL, err)
	}
	t.Logf("bring-up of %s (TCP, TLS, login, %s) took %s", tb.seURL, s.Info().AuthProtocol, time.Since(start).Round(time.Microsecond))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestIntegrationBringUp(t *testing.T) {
	tb := needTestbed(t)
	s := dialSE(t, tb)
	info := s.Info()
	t.Logf("SE %s: protocol %s flags %s TLS=%v %s %s auth=%q offered=%v peer=%q",
		info.Addr, info.Version(), info.Flags, info.TLS, info.TLSVersionName(), info.TLSCipherName(), info.AuthProtocol, info.SecProtocols, info.TLSPeer)
	if !info.TLS || info.TLSVersion < tls.VersionTLS12 {
		t.Errorf("session is not TLS-protected (TLS=%v version %x)", info.TLS, info.TLSVersion)
	}
	if !info.IsServer() || info.IsManager() {
		t.Errorf("flags %s: want a data server", info.Flags)
	}
	if info.ProtocolVersion < 0x500 {
		t.Errorf("protocol version %x, want >= 0x500", info.ProtocolVersion)
	}
	if len(info.SecProtocols) > 0 && info.AuthProtocol != "ztn" {
		t.Errorf("server offers %v but the session authenticated with %q, want ztn", info.SecProtocols, info.AuthProtocol)
	}
	v, err := s.Version(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	if !strings.HasPrefix(v, "v5.") && !strings.HasPrefix(v, "v6.") {
		t.Errorf("version %q, want v5.x or v6.x", v)
	}
	cfg, err := s.QueryConfig(ctxT(t, 10*time.Second), "role", "sitename", "nosuchkey")
	if err != nil {
		t.Fatal(err)
	}
	if cfg["role"] != "server" {
		t.Errorf("role %q, want server", cfg["role"])
	}
	if _, ok := cfg["nosuchkey"]; ok {
		t.Errorf("an unknown config key was reported as set: %v", cfg)
	}
	if err := s.Ping(ctxT(t, 5*time.Second)); err != nil {
		t.Errorf("ping: %v", err)
	}
	// root:// (not roots://) still ends up on TLS: the server says gotoTLS.
	host, port, _, _, _ := xrd.ParseURL(tb.seURL)
	var tok func() (string, error)
	if tb.issuerBin != "" {
		tok = tb.mint(t, "--aud", tb.audience(), "--scope", "storage.read:/")
	}
	s2, err := xrd.Dial(ctxT(t, 20*time.Second), "root://"+net.JoinHostPort(host, strconv.Itoa(port)), tb.options(t, tok))
	if err != nil {
		t.Fatalf("root:// dial: %v", err)
	}
	defer s2.Close()
	if !s2.Info().TLS {
		t.Errorf("root:// session not upgraded to TLS")
	}
}

func TestIntegrationTLSVerification(t *testing.T) {
	tb := needTestbed(t)
	host, port, _, _, _ := xrd.ParseURL(tb.seURL)
	target := net.JoinHostPort(host, strconv.Itoa(port))
	// A CA pool without the testbed CA: the upgrade must fail.
	other := &tls.Config{RootCAs: x509.NewCertPool()}
	_, err := xrd.Dial(ctxT(t, 10*time.Second), tb.seURL, xrd.Options{TLSConfig: other})
	var ue x509.UnknownAuthorityError
	if !errors.As(err, &ue) {
		t.Errorf("unknown CA: %v, want x509.UnknownAuthorityError", err)
	}
	// A name the certificate does not carry (127.0.0.2 via a forwarder).
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	ln.Close()
	p := newProxyOn(t, ln.Addr().String(), target)
	_, err = xrd.Dial(ctxT(t, 10*time.Second), "roots://"+p.ln.Addr().String(), tb.options(t, nil))
	var he x509.HostnameError
	if !errors.As(err, &he) {
		t.Errorf("wrong host name: %v, want x509.HostnameError", err)
	}
	t.Logf("wrong name: %v", err)
	// XrdCl parity: no name check for loopback hosts, chain still verified.
	opts := tb.options(t, nil)
	opts.SkipLoopbackNameCheck = true
	_, err = xrd.Dial(ctxT(t, 10*time.Second), "roots://"+p.ln.Addr().String(), opts)
	var ae *xrd.AuthError
	if !errors.As(err, &ae) {
		t.Errorf("loopback exemption: %v, want TLS to pass and auth to fail (no credentials)", err)
	}
	opts.TLSConfig = other
	if _, err := xrd.Dial(ctxT(t, 10*time.Second), "roots://"+p.ln.Addr().String(), opts); !errors.As(err, &ue) {
		t.Errorf("loopback exemption with an unknown CA: %v, want x509.UnknownAuthorityError", err)
	}
}

func TestIntegrationFileCycle(t *testing.T) {
	tb := needTestbed(t)
	s := dialSE(t, tb)
	ctx := ctxT(t, 60*time.Second)
	dir := tb.scratchBase + "/" + randName()
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ents, _ := s.Dirlist(c, dir+"/sub", false)
		for _, e := range ents {
			_ = s.Rm(c, dir+"/sub/"+e.Name)
		}
		_ = s.Rmdir(c, dir+"/sub")
		_ = s.Rmdir(c, dir)
	})
	if err := s.Mkdir(ctx, dir+"/sub", 0o755, true); err != nil {
		t.Fatalf("mkdir -p: %v", err)
	}
	if err := s.Mkdir(ctx, dir+"/sub", 0o755, false); err != nil {
		t.Errorf("mkdir of an existing dir with the same mode: %v (server says OK)", err)
	}
	st, err := s.Stat(ctx, dir+"/sub")
	if err != nil || !st.IsDir() {
		t.Fatalf("stat dir: %+v %v", st, err)
	}
	data := make([]byte, 300_000)
	_, _ = rand.Read(data)
	file := dir + "/sub/f.dat"
	where, err := s.WriteFile(ctx, file, data, xrd.WriteOptions{POSC: true})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if where != s.Addr() {
		t.Errorf("written to %s, want %s", where, s.Addr())
	}
	if _, err := s.WriteFile(ctx, file, data, xrd.WriteOptions{}); !xrd.IsExists(err) {
		t.Errorf("second create: %v, want kXR_ItExists", err)
	}
	st, err = s.Stat(ctx, file)
	if err != nil || st.Size != int64(len(data)) || st.IsDir() {
		t.Fatalf("stat file: %+v %v", st, err)
	}
	got, _, err := s.ReadFile(ctx, file, 1<<20)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, differ from the %d written", len(got), len(data))
	}
	if _, _, err := s.ReadFile(ctx, file, 1000); !errors.Is(err, xrd.ErrTooLarge) {
		t.Errorf("read with a small limit: %v, want ErrTooLarge", err)
	}
	// Partial reads through the handle.
	f, err := s.Open(ctx, file, xrd.OpenRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	n, err := f.ReadAt(ctx, buf, int64(len(data))-500)
	if n != 500 || !errors.Is(err, io.EOF) || !bytes.Equal(buf[:n], data[len(data)-500:]) {
		t.Errorf("read past the end: n=%d err=%v", n, err)
	}
	if fst, err := f.Stat(ctx); err != nil || fst.Size != int64(len(data)) {
		t.Errorf("stat by handle: %+v %v", fst, err)
	}
	if err := f.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
	// Checksum (the first one arrives through kXR_waitresp + kXR_attn).
	var waitresps int
	tctx := xrd.WithTrace(ctx, &xrd.Trace{WaitResp: func(string, time.Duration, string) { waitresps++ }})
	ck, err := s.Checksum(tctx, file, "adler32")
	if err != nil {
		t.Fatalf("checksum: %v", err)
	}
	want := fmt.Sprintf("%08x", adler32.Checksum(data))
	if ck.Type != "adler32" || ck.Value != want {
		t.Errorf("checksum %v, want adler32:%s", ck, want)
	}
	t.Logf("checksum %v (kXR_waitresp seen %d times)", ck, waitresps)
	ents, err := s.Dirlist(ctx, dir+"/sub", true)
	if err != nil || len(ents) != 1 || ents[0].Name != "f.dat" || ents[0].Stat == nil || ents[0].Stat.Size != int64(len(data)) {
		t.Errorf("dirlist: %+v %v", ents, err)
	}
	if err := s.Rmdir(ctx, dir+"/sub"); err == nil {
		t.Errorf("rmdir of a non-empty directory succeeded")
	} else if c, _ := xrd.ServerCode(err); c != xrd.ErrFSError && c != xrd.ErrItExists {
		// 5.5.3 answers kXR_FSError, 5.8.1 and 6.2.0 kXR_ItExists.
		t.Errorf("rmdir non-empty: %v, want kXR_FSError (5.5) or kXR_ItExists (5.8+)", err)
	}
	if err := s.Rm(ctx, file); err != nil {
		t.Fatalf("rm: %v", err)
	}
	if err := s.Rm(ctx, file); !xrd.IsNotFound(err) {
		t.Errorf("rm again: %v, want kXR_NotFound", err)
	}
	if _, err := s.Stat(ctx, file); !xrd.IsNotFound(err) {
		t.Errorf("stat removed file: %v, want kXR_NotFound", err)
	}
	if err := s.Rmdir(ctx, dir+"/sub"); err != nil {
		t.Errorf("rmdir: %v", err)
	}
	if err := s.Rmdir(ctx, dir); err != nil {
		t.Errorf("rmdir: %v", err)
	}
}

func TestIntegrationReference(t *testing.T) {
	tb := needTestbed(t)
	s := dialSE(t, tb)
	ctx := ctxT(t, 30*time.Second)
	data, _, err := s.ReadFile(ctx, tb.refPath, 64<<20)
	if err != nil {
		t.Fatalf("read reference: %v", err)
	}
	if int64(len(data)) != tb.refSize {
		t.Errorf("reference size %d, want %d", len(data), tb.refSize)
	}
	sum := fmt.Sprintf("%08x", adler32.Checksum(data))
	ck, err := s.Checksum(ctx, tb.refPath, "")
	if err != nil {
		t.Fatalf("checksum: %v", err)
	}
	if sum != tb.refAdler || ck.Value != tb.refAdler {
		t.Errorf("adler32 local %s, server %v, testbed says %s", sum, ck, tb.refAdler)
	}
}

// TestIntegrationReferenceStreamed reads the reference file from the real
// SE with one streaming kXR_read, hashing it as it arrives, and compares
// what that allocates with the 256 KiB ReadAt loop the probe used before.
func TestIntegrationReferenceStreamed(t *testing.T) {
	tb := needTestbed(t)
	s := dialSE(t, tb)
	ctx := ctxT(t, 60*time.Second)
	f, err := s.Open(ctx, tb.refPath, xrd.OpenRead|xrd.OpenRetstat, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	size := f.OpenStat().Size
	var reads int
	tctx := xrd.WithTrace(ctx, &xrd.Trace{Read: func(string, int64, int) { reads++ }})
	streamed := func() error {
		h := adler32.New()
		n, err := f.ReadTo(tctx, h, 0, size+1)
		if !errors.Is(err, io.EOF) || n != size {
			return fmt.Errorf("ReadTo: %d of %d bytes: %v", n, size, err)
		}
		if sum := fmt.Sprintf("%08x", h.Sum32()); sum != tb.refAdler {
			return fmt.Errorf("adler32 %s, testbed says %s", sum, tb.refAdler)
		}
		return nil
	}
	buf := make([]byte, 256<<10+1)
	chunked := func() error {
		h := adler32.New()
		for n := int64(0); ; {
			k, err := f.ReadAt(tctx, buf[:min(int64(256<<10), size-n+1)], n)
			h.Write(buf[:k])
			n += int64(k)
			if errors.Is(err, io.EOF) {
				if sum := fmt.Sprintf("%08x", h.Sum32()); sum != tb.refAdler {
					return fmt.Errorf("adler32 %s, testbed says %s", sum, tb.refAdler)
				}
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	perRead := func(read func() error) (allocated uint64, requests int) {
		const runs = 10
		if err := read(); err != nil { // warm up
			t.Fatal(err)
		}
		reads = 0
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			if err := read(); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / runs, reads / runs
	}
	sAlloc, sReqs := perRead(streamed)
	cAlloc, cReqs := perRead(chunked)
	t.Logf("reference file, %d bytes: ReadTo %d kXR_read(s), %d B allocated per read; 256 KiB ReadAt loop %d kXR_reads, %d B allocated (plus its %d B buffer)",
		size, sReqs, sAlloc, cReqs, cAlloc, len(buf))
	if size < xrd.MaxReadChunk && sReqs != 1 {
		t.Errorf("ReadTo of %d bytes sent %d kXR_reads, want 1", size, sReqs)
	}
	if sAlloc > 128<<10 {
		t.Errorf("ReadTo of %d bytes allocated %d bytes per read, want under 128 KiB", size, sAlloc)
	}
}

func TestIntegrationTokenFailures(t *testing.T) {
	tb := needTestbed(t)
	expired := tb.mint(t, "--aud", tb.audience(), "--scope", "storage.read:/", "--exp", "-10m")
	_, err := xrd.Dial(ctxT(t, 20*time.Second), tb.seURL, tb.options(t, expired))
	if !xrd.IsAuthFailed(err) {
		t.Fatalf("expired token: %v, want kXR_AuthFailed", err)
	}
	if !strings.Contains(err.Error(), "auth ztn failed: kXR_AuthFailed (3030): ") || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token error %q lacks the protocol, code or server text", err)
	}
	t.Logf("expired token: %v", err)

	// Walking the server's list: ztn fails, gsi (listed after it) is tried
	// on the same connection and succeeds.
	if proxy := tbEnv["X509_USER_PROXY"]; proxy != "" {
		opts := tb.options(t, nil)
		opts.Auth = func() []secproto.Authenticator {
			return []secproto.Authenticator{gsi.New(gsi.Config{ProxyFile: proxy, CADir: tb.caDir}), ztn.New(expired)}
		}
		s, err := xrd.Dial(ctxT(t, 20*time.Second), tb.seURL, opts)
		if err != nil {
			t.Errorf("expired token + proxy: %v, want a fallback to gsi", err)
		} else {
			if p := s.Info().AuthProtocol; p != "gsi" {
				t.Errorf("fallback authenticated with %q, want gsi", p)
			}
			s.Close()
		}
	}

	rogue := tb.mint(t, "--aud", tb.audience(), "--scope", "storage.read:/", "--key", "rogue")
	_, err = xrd.Dial(ctxT(t, 20*time.Second), tb.seURL, tb.options(t, rogue))
	if !xrd.IsAuthFailed(err) {
		t.Errorf("rogue-key token: %v, want kXR_AuthFailed", err)
	}
	t.Logf("rogue key: %v", err)

	// Read-only token: authentication works, writing is not authorized.
	ro := tb.mint(t, "--aud", tb.audience(), "--scope", "storage.read:/")
	s, err := xrd.Dial(ctxT(t, 20*time.Second), tb.seURL, tb.options(t, ro))
	if err != nil {
		t.Fatalf("read-only token: %v", err)
	}
	defer s.Close()
	_, err = s.WriteFile(ctxT(t, 10*time.Second), tb.scratchBase+"/"+randName()+"/x", []byte("x"), xrd.WriteOptions{MkPath: true})
	if !xrd.IsNotAuthorized(err) {
		t.Errorf("write with a read-only token: %v, want kXR_NotAuthorized", err)
	}
	// The session is still usable after a 3010.
	if err := s.Ping(ctxT(t, 5*time.Second)); err != nil {
		t.Errorf("ping after 3010: %v", err)
	}

	// Wrong audience: authentication passes, every operation is refused.
	wrongAud := tb.mint(t, "--aud", "https://other.example.org", "--scope", "storage.read:/")
	s3, err := xrd.Dial(ctxT(t, 20*time.Second), tb.seURL, tb.options(t, wrongAud))
	if err != nil {
		t.Fatalf("wrong-audience token: %v (the server checks audience at authorization)", err)
	}
	defer s3.Close()
	if tb.refPath != "" {
		if _, err := s3.Stat(ctxT(t, 10*time.Second), tb.refPath); !xrd.IsNotAuthorized(err) {
			t.Errorf("stat with a wrong-audience token: %v, want kXR_NotAuthorized", err)
		}
	}

	// No authenticator at all for a server that demands one.
	_, err = xrd.Dial(ctxT(t, 20*time.Second), tb.seURL, tb.options(t, nil))
	var ae *xrd.AuthError
	if !errors.As(err, &ae) || len(ae.Attempts) != 0 {
		t.Errorf("dial without credentials: %v, want an AuthError with no attempts", err)
	}
}

func TestIntegrationRedirector(t *testing.T) {
	tb := needTestbed(t)
	if tb.rdrURL == "" {
		t.Fatal("GRIDPROBE_REDIRECTOR_URL not set")
	}
	var tok func() (string, error)
	if tb.issuerBin != "" {
		tok = tb.mint(t, "--aud", tb.audience(), "--scope", "storage.read:/ storage.create:/ storage.modify:/")
	}
	var mu sync.Mutex
	var events []string
	tr := &xrd.Trace{
		Connected: func(i xrd.Info) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, fmt.Sprintf("connected %s (%s, TLS=%v, auth=%q)", i.Addr, i.Flags, i.TLS, i.AuthProtocol))
		},
		Redirect: func(from, to string) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, "redirect "+from+" -> "+to)
		},
		Wait: func(addr string, d time.Duration, msg string) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, fmt.Sprintf("wait %s at %s %q", d, addr, msg))
		},
	}
	ctx := xrd.WithTrace(ctxT(t, 60*time.Second), tr)
	// The manager redirects to 127.0.0.1: the SE certificate must carry
	// that IP (the testbed's does), as no name check is skipped here.
	opts := tb.options(t, tok)
	s, err := xrd.Dial(ctx, tb.rdrURL, opts)
	if err != nil {
		t.Fatalf("dial redirector: %v", err)
	}
	defer s.Close()
	if !s.Info().IsManager() {
		t.Errorf("redirector flags %s: want isManager", s.Info().Flags)
	}
	ref := tb.refPath
	if ref == "" {
		t.Fatal("GRIDPROBE_REF_PATH not set")
	}
	locs, err := s.Locate(ctx, ref, xrd.LocateOptions{})
	if err != nil {
		t.Fatalf("locate: %v", err)
	}
	if len(locs) == 0 || !locs[0].Online() || locs[0].IsManager() {
		t.Fatalf("locate %s: %v, want an online data server", ref, locs)
	}
	_, sePort, _, _, _ := xrd.ParseURL(tb.seURL)
	if _, p, _ := net.SplitHostPort(locs[0].Addr); p != strconv.Itoa(sePort) {
		t.Errorf("locate points at %s, want port %d", locs[0].Addr, sePort)
	}
	data, servedBy, err := s.ReadFile(ctx, ref, 64<<20)
	if err != nil {
		t.Fatalf("read through the redirector: %v (events %v)", err, events)
	}
	if _, p, _ := net.SplitHostPort(servedBy); p != strconv.Itoa(sePort) || servedBy == s.Addr() {
		t.Errorf("served by %s, want the SE on port %d", servedBy, sePort)
	}
	if tb.refSize > 0 && int64(len(data)) != tb.refSize {
		t.Errorf("read %d bytes via the redirector, want %d", len(data), tb.refSize)
	}
	st, err := s.Stat(ctx, ref)
	if err != nil || st.Size != int64(len(data)) {
		t.Errorf("stat via redirector: %+v %v", st, err)
	}
	if _, err := s.Locate(ctx, "/testvo/no-such-file-"+randName(), xrd.LocateOptions{}); !xrd.IsNotFound(err) {
		t.Errorf("locate of a missing file: %v, want kXR_NotFound", err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("events: %v", events)
	redirects := 0
	for _, e := range events {
		if strings.HasPrefix(e, "redirect ") {
			redirects++
		}
	}
	if redirects == 0 {
		t.Errorf("no redirect observed: %v", events)
	}
}

// A server that accepts TCP and never answers costs only the deadline.
func TestIntegrationSilentServer(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = xrd.Dial(ctx, "root://"+ln.Addr().String(), xrd.Options{})
	el := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("dial of a silent server: %v, want context.DeadlineExceeded", err)
	}
	if el > 1500*time.Millisecond {
		t.Errorf("dial of a silent server took %s, deadline was 700ms", el)
	}
	t.Logf("silent server: %v after %s", err, el.Round(time.Millisecond))
}

// killableProxy forwards one TCP connection to target until kill.
type killableProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *killableProxy {
	return newProxyOn(t, "127.0.0.1:0", target)
}

func newProxyOn(t *testing.T, listen, target string) *killableProxy {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &killableProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				t.Logf("proxy: dial %s: %v", target, err)
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(p.kill)
	return p
}

func (p *killableProxy) kill() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// The server going away mid-session gives errors, never a panic, and the
// session stays closed-for-business.
func TestIntegrationServerGone(t *testing.T) {
	tb := needTestbed(t)
	host, port, _, _, err := xrd.ParseURL(tb.seURL)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, net.JoinHostPort(host, strconv.Itoa(port)))
	var tok func() (string, error)
	if tb.issuerBin != "" {
		tok = tb.mint(t, "--aud", tb.audience(), "--scope", "storage.read:/")
	}
	opts := tb.options(t, tok)
	opts.SkipLoopbackNameCheck = true // dialing 127.0.0.1 (the proxy), certificate for localhost
	s, err := xrd.Dial(ctxT(t, 20*time.Second), "root://"+p.ln.Addr().String(), opts)
	if err != nil {
		t.Fatalf("dial via proxy: %v", err)
	}
	defer s.Close()
	if err := s.Ping(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	p.kill()
	err = s.Ping(ctxT(t, 5*time.Second))
	if err == nil {
		t.Fatal("ping after the server went away succeeded")
	}
	t.Logf("after kill: %v", err)
	if _, err := s.Stat(ctxT(t, 5*time.Second), "/x"); err == nil {
		t.Fatal("stat after the server went away succeeded")
	}
}

// TestIntegrationServerKilled starts a throwaway xrootd (loopback only,
// through the testbed's bind shim), kills it in the middle of a session and
// checks that every call then fails with an error.
func TestIntegrationServerKilled(t *testing.T) {
	needTestbed(t)
	shim := filepath.Join(tbEnv["GRIDPROBE_TESTBED"], "bin", "bindlo.so")
	if _, err := os.Stat(shim); err != nil {
		t.Fatalf("bind shim: %v", err)
	}
	bin, err := exec.LookPath("xrootd")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "gridprobe-xrdkill-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"data", "admin", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	if err := os.WriteFile(filepath.Join(dir, "data", "f.dat"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := fmt.Sprintf("all.export /\noss.localroot %s/data\nall.adminpath %s/admin\nall.pidpath %s/run\nxrd.port %d\n", dir, dir, dir, port)
	if err := os.WriteFile(filepath.Join(dir, "x.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", "xrootd:", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	cmd := exec.Command(bin, "-I", "v4", "-R", "xrootd", "-n", "kill", "-c", filepath.Join(dir, "x.cfg"), "-l", filepath.Join(dir, "xrootd.log"))
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+shim)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ctx := ctxT(t, 30*time.Second)
	var s *xrd.Session
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		s, err = xrd.Dial(ctxT(t, 2*time.Second), "root://"+addr, xrd.Options{})
		if err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("throwaway xrootd on %s did not come up: %v", addr, err)
		}
	}
	defer s.Close()
	f, err := s.Open(ctx, "/f.dat", xrd.OpenRead, 0)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	buf := make([]byte, 1000)
	if _, err := f.ReadAt(ctx, buf, 0); err != nil || !bytes.Equal(buf, data[:1000]) {
		t.Fatalf("read before the kill: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	big := make([]byte, len(data))
	n, err := f.ReadAt(ctx, big, 0)
	if err == nil {
		t.Fatalf("read after the server was killed returned %d bytes and no error", n)
	}
	t.Logf("read after kill: %v", err)
	if _, err := s.Stat(ctx, "/f.dat"); err == nil {
		t.Fatal("stat after the server was killed succeeded")
	}
	if err := f.Close(ctx); err == nil {
		t.Fatal("close after the server was killed succeeded")
	}
	if _, err := xrd.Dial(ctxT(t, 2*time.Second), "root://"+addr, xrd.Options{}); err == nil {
		t.Fatal("dial of the killed server succeeded")
	}
}
