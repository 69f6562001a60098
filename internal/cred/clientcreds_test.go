package cred

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientCredentialsCaching(t *testing.T) {
	is := newTestIssuer(t)
	c := is.client(t)
	ctx := ctxT(t)
	aud := "https://localhost:18443"
	req := TokenRequest{Scopes: []string{"storage.read:/reference.dat", "storage.create:/scratch"}, Audience: aud}
	t1, err := c.Token(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	cl := t1.Claims()
	if !t1.Narrowed || cl.Subject != "gridprobe" || !cl.HasAudience(aud) || cl.Issuer != is.srv.URL || cl.WLCGVersion != "1.0" {
		t.Errorf("token: narrowed=%v claims=%+v", t1.Narrowed, cl)
	}
	if !t1.Covers("storage.read:/reference.dat") || t1.Covers("storage.modify:/scratch") || len(t1.Excess(req.Scopes)) != 0 {
		t.Errorf("scopes %q", cl.Scopes)
	}
	if d := time.Until(t1.Expiry); d < 19*time.Minute || d > 20*time.Minute {
		t.Errorf("expiry in %v", d)
	}
	// Same scopes in another order and duplicated: the cached token.
	t2, err := c.Token(ctx, TokenRequest{Scopes: []string{"storage.create:/scratch", "storage.read:/reference.dat", "storage.create:/scratch"}, Audience: aud})
	if err != nil || t2 != t1 {
		t.Fatalf("second call: %v, same=%v", err, t2 == t1)
	}
	if n := is.count("storage.create:/scratch storage.read:/reference.dat", aud); n != 1 {
		t.Errorf("issuer saw %d requests for the key, want 1", n)
	}
	// Another audience and another scope set are other keys.
	t3, err := c.Token(ctx, TokenRequest{Scopes: req.Scopes, Audience: "https://other:443"})
	if err != nil || t3 == t1 || !t3.Claims().HasAudience("https://other:443") {
		t.Fatalf("other audience: %v", err)
	}
	t4, err := c.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/reference.dat"}, Audience: aud})
	if err != nil || t4 == t1 || t4.Bearer() == t1.Bearer() {
		t.Fatalf("other scopes: %v", err)
	}
	if is.total() != 3 {
		t.Errorf("issuer saw %d requests, want 3", is.total())
	}
	if got := c.Stats(); got[StatIssued] != 3 || got[StatCacheHit] != 1 || got[StatError] != 0 {
		t.Errorf("stats %v", got)
	}
	is.mu.Lock()
	for _, h := range is.authSeen {
		if h != "basic" {
			t.Errorf("client authenticated with %q, want basic only (no auto-detect retries)", h)
		}
	}
	is.mu.Unlock()
	re := `^token sub=gridprobe scope="storage.read:/reference.dat" aud=https://localhost:18443 expires in 19m$`
	if s := t4.Summary(); !strings.HasPrefix(s, `token sub=gridprobe scope="storage.read:/reference.dat" aud=https://localhost:18443 expires in 19m`) {
		t.Errorf("Summary = %q, want %s", s, re)
	}
}

func TestClientCredentialsRefresh(t *testing.T) {
	is := newTestIssuer(t)
	c := is.client(t)
	ctx := ctxT(t)
	req := TokenRequest{Scopes: []string{"storage.read:/"}, Audience: "https://se:1094"}
	t1, err := c.Token(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// 61 s before expiry: still cached. 59 s before: replaced.
	c.now = func() time.Time { return t1.Expiry.Add(-61 * time.Second) }
	if t2, _ := c.Token(ctx, req); t2 != t1 {
		t.Error("token replaced more than 60 s before expiry")
	}
	c.now = func() time.Time { return t1.Expiry.Add(-59 * time.Second) }
	t3, err := c.Token(ctx, req)
	if err != nil || t3 == t1 {
		t.Fatalf("token not refreshed near expiry: %v", err)
	}
	if n := is.count("storage.read:/", "https://se:1094"); n != 2 {
		t.Errorf("issuer saw %d requests, want 2", n)
	}
}

func TestClientCredentialsSingleflight(t *testing.T) {
	is := newTestIssuer(t)
	is.delay.Store(int64(300 * time.Millisecond))
	c := is.client(t)
	ctx := ctxT(t)
	req := TokenRequest{Scopes: []string{"storage.read:/a"}, Audience: "https://se:1094"}
	var wg sync.WaitGroup
	toks := make([]*Token, 10)
	errs := make([]error, 10)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], errs[i] = c.Token(ctx, req)
		}()
	}
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
	}
	if n := is.total(); n != 1 {
		t.Errorf("issuer saw %d requests for one key, want 1", n)
	}
	st := c.Stats()
	if st[StatIssued] != 1 || st[StatShared]+st[StatCacheHit] != 9 {
		t.Errorf("stats %v", st)
	}
	// A caller that gives up does not break the request for the others.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	req2 := TokenRequest{Scopes: []string{"storage.read:/b"}}
	if _, err := c.Token(short, req2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient caller: %v", err)
	}
	if _, err := c.Token(ctx, req2); err != nil {
		t.Fatal(err)
	}
	if n := is.count("storage.read:/b", ""); n != 1 {
		t.Errorf("issuer saw %d requests for key b, want 1 (the abandoned one was reused)", n)
	}
}

func TestClientCredentialsRefused(t *testing.T) {
	is := newTestIssuer(t)
	c := is.client(t)
	ctx := ctxT(t)
	req := TokenRequest{Scopes: []string{"storage.stage:/tape"}, Audience: "https://se:1094"}
	for i := 0; i < 2; i++ {
		_, err := c.Token(ctx, req)
		var ie *IssuerError
		if !errors.As(err, &ie) || ie.Code != "invalid_scope" || ie.Status != 400 {
			t.Fatalf("err = %v", err)
		}
		want := "Scope 'storage.stage:/tape' not allowed for client gridprobe"
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "invalid_scope") || !strings.Contains(err.Error(), is.srv.URL) {
			t.Errorf("error %q lacks the issuer's text %q", err, want)
		}
	}
	if n := is.count("storage.stage:/tape", "https://se:1094"); n != 2 {
		t.Errorf("refusals must not be cached: %d requests", n)
	}
	if st := c.Stats(); st[StatRefused] != 2 {
		t.Errorf("stats %v", st)
	}
	// Wrong secret: invalid_client, and the secret is not in the error.
	os.WriteFile(c.ClientSecretFile, []byte("wrong-secret-value-123"), 0o600)
	_, err := c.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/"}})
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), "wrong-secret-value-123") {
		t.Errorf("bad secret: %v", err)
	}
	if got := Redact("secret was wrong-secret-value-123 and " + is.secret); strings.Contains(got, "wrong-secret") || strings.Contains(got, is.secret) {
		t.Errorf("client secrets not registered for redaction: %q", got)
	}
}

func TestClientCredentialsDiscoveryErrors(t *testing.T) {
	is := newTestIssuer(t)
	ctx := ctxT(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(is.secret), 0o600)

	if _, err := NewClientCredentials("http://issuer.example", "id", secret, ""); err == nil {
		t.Error("http issuer accepted")
	}
	if _, err := NewClientCredentials(is.srv.URL, "id", secret, filepath.Join(t.TempDir(), "none.pem")); err == nil {
		t.Error("missing CA file accepted")
	}
	// Without the issuer's CA: TLS verification fails, named as discovery.
	c, err := NewClientCredentials(is.srv.URL, is.clientID, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/"}})
	if err == nil || !strings.Contains(err.Error(), "discovery") || !strings.Contains(err.Error(), "certificate") || !IsCentral(err) {
		t.Errorf("untrusted issuer: %v", err)
	}
	if c.Stats()[StatError] != 1 {
		t.Errorf("stats %v", c.Stats())
	}
	// An issuer path without metadata: 404.
	c, _ = NewClientCredentials(is.srv.URL+"/nothing", is.clientID, secret, is.caFile)
	_, err = c.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/"}})
	if err == nil || !strings.Contains(err.Error(), "/nothing/.well-known/openid-configuration: HTTP 404") {
		t.Errorf("no metadata: %v", err)
	}
	// Metadata of another issuer.
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":"https://elsewhere.example","token_endpoint":"https://elsewhere.example/token"}`)
	}))
	defer other.Close()
	c, _ = NewClientCredentials(other.URL, is.clientID, secret, "")
	c.ic.hc = other.Client()
	_, err = c.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/"}})
	if err == nil || !strings.Contains(err.Error(), `metadata names issuer "https://elsewhere.example"`) {
		t.Errorf("issuer mismatch: %v", err)
	}
	// Missing secret file.
	c, _ = NewClientCredentials(is.srv.URL, is.clientID, filepath.Join(t.TempDir(), "nope"), is.caFile)
	if _, err = c.Token(ctx, TokenRequest{}); err == nil || !strings.Contains(err.Error(), "client secret") {
		t.Errorf("missing secret: %v", err)
	}
	// Issuer gone.
	c, _ = NewClientCredentials(is.srv.URL, is.clientID, secret, is.caFile)
	is.srv.Close()
	if _, err = c.Token(ctx, TokenRequest{}); err == nil || !strings.Contains(err.Error(), "discovery") || !IsCentral(err) {
		t.Errorf("issuer down: %v", err)
	}
}

// TestClientCredentialsCloseLeavesNoGoroutine: after Close, no connection
// to the issuer (HTTP/1.1 or HTTP/2) keeps a goroutine running.
func TestClientCredentialsCloseLeavesNoGoroutine(t *testing.T) {
	is := newTestIssuer(t)
	// Discovery over HTTP/2 at another URL naming the issuer; its token
	// endpoint is the issuer's HTTP/1.1 one.
	var h2 *httptest.Server
	var sawH2 atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		sawH2.Store(r.ProtoMajor == 2)
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, is.srv.URL, is.srv.URL+"/token")
	})
	h2 = httptest.NewUnstartedServer(mux)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	c := is.client(t)
	c.ic.base = h2.URL // reached through another URL (IssuerConfig.URL)
	var _ io.Closer = c
	before := runtime.NumGoroutine()
	if _, err := c.Token(ctxT(t), TokenRequest{Scopes: []string{"storage.read:/a"}, Audience: "https://localhost:1"}); err != nil {
		t.Fatal(err)
	}
	if !sawH2.Load() {
		t.Error("discovery did not use HTTP/2")
	}
	if n := runtime.NumGoroutine(); n <= before {
		t.Fatalf("no connection goroutines after a token request (%d before, %d after): the test proves nothing", before, n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left after Close (%d before):\n%s", n-before, before, buf[:runtime.Stack(buf, true)])
	}
	// Still usable: the cached token, then a new connection for a new key.
	if _, err := c.Token(ctxT(t), TokenRequest{Scopes: []string{"storage.read:/b"}, Audience: "https://localhost:1"}); err != nil {
		t.Errorf("after Close: %v", err)
	}
	c.Close()
}
