package cred

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var readReq = TokenRequest{Scopes: []string{"storage.read:/a"}, Audience: "https://se.example:1094"}

// A secret with characters that RFC 6749 §2.3.1 form-encodes: an issuer
// that decodes accepts Basic at once; one that does not refuses it as
// invalid_client, and the client falls back once to client_secret_post and
// stays there.
func TestClientSecretBasicEncodingAndFallback(t *testing.T) {
	for _, decode := range []bool{true, false} {
		f := newFakeIssuer(t)
		f.set(func(f *fakeIssuer) { f.secret, f.decodeBasic = "a b+c:d%/é&=x", decode })
		c := f.cc(t)
		for i, aud := range []string{"https://a:1", "https://b:1"} {
			if _, err := c.Token(ctxT(t), TokenRequest{Scopes: []string{"storage.read:/"}, Audience: aud}); err != nil {
				t.Fatalf("decode=%v request %d: %v", decode, i, err)
			}
		}
		want := []string{AuthSecretBasic, AuthSecretBasic}
		wantMethod := AuthSecretBasic
		if !decode {
			want = []string{"refused", AuthSecretPost, AuthSecretPost}
			wantMethod = "client_secret_post (client_secret_basic refused as invalid_client)"
		}
		if got := f.seenMethods(); !slices.Equal(got, want) {
			t.Errorf("decode=%v: issuer saw %v, want %v", decode, got, want)
		}
		if got := c.AuthMethod(); got != wantMethod {
			t.Errorf("decode=%v: AuthMethod %q, want %q", decode, got, wantMethod)
		}
	}
}

func TestAdvertisedAuthMethods(t *testing.T) {
	f := newFakeIssuer(t)
	f.set(func(f *fakeIssuer) { f.methods = []string{AuthSecretPost} })
	if _, err := f.cc(t).Token(ctxT(t), readReq); err != nil {
		t.Fatal(err)
	}
	if got := f.seenMethods(); !slices.Equal(got, []string{AuthSecretPost}) {
		t.Errorf("only client_secret_post advertised, issuer saw %v", got)
	}
	// A secret for an issuer that takes only keys: the probe's problem,
	// said before anything is sent.
	f2 := newFakeIssuer(t)
	f2.set(func(f *fakeIssuer) { f.methods = []string{AuthPrivateKeyJWT} })
	_, err := f2.cc(t).Token(ctxT(t), readReq)
	if err == nil || IsCentral(err) || !strings.Contains(err.Error(), "accepts no client secret (it advertises private_key_jwt)") {
		t.Errorf("secret vs private_key_jwt only: %v", err)
	}
	if n := len(f2.seenMethods()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, key := range map[string]crypto.Signer{"RS256": rk, "ES256": ek} {
		f := newFakeIssuer(t)
		kf := f.clientKey(t, key)
		c, err := NewClientCredentialsFrom(IssuerConfig{Issuer: f.srv.URL, ClientID: f.id, ClientKeyFile: kf, CAFile: f.ca})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.Token(ctxT(t), readReq)
		if err != nil || !tok.Claims().HasAudience(readReq.Audience) {
			t.Fatalf("%s: %v", name, err)
		}
		if got := f.seenMethods(); !slices.Equal(got, []string{AuthPrivateKeyJWT}) || c.AuthMethod() != AuthPrivateKeyJWT {
			t.Errorf("%s: issuer saw %v, method %q", name, got, c.AuthMethod())
		}
	}
	// The issuer knows another key: invalid_client, the probe's fault.
	f := newFakeIssuer(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kf := f.clientKey(t, ek)
	f.set(func(f *fakeIssuer) { f.clientPub = other.Public() })
	c, _ := NewClientCredentialsFrom(IssuerConfig{Issuer: f.srv.URL, ClientID: f.id, ClientKeyFile: kf, CAFile: f.ca})
	var ie *IssuerError
	if _, err := c.Token(ctxT(t), readReq); !errors.As(err, &ie) || ie.Code != "invalid_client" || IsCentral(err) {
		t.Errorf("unknown client key: %v", err)
	}
}

// Error bodies are read whatever content type they claim.
func TestErrorBodyAnyContentType(t *testing.T) {
	cases := []struct {
		name, ctype, body string
		status            int
		code              string
		central, outage   bool
	}{
		{"json as text/plain", "text/plain", `{"error":"invalid_client","error_description":"Bad client credentials"}`, 401, "invalid_client", false, false},
		{"json as text/html", "text/html; charset=utf-8", `{"error":"invalid_scope"}`, 400, "invalid_scope", true, false},
		{"form encoded", "application/x-www-form-urlencoded", `error=invalid_grant&error_description=expired`, 400, "invalid_grant", false, false},
		{"html 503", "text/html", `<html><body>Service Unavailable</body></html>`, 503, "(no OAuth error code)", true, true},
		{"json 500", "application/json", `{"error":"server_error"}`, 500, "server_error", true, true},
	}
	for _, tc := range cases {
		f := newFakeIssuer(t)
		f.set(func(f *fakeIssuer) {
			f.fault = func(w http.ResponseWriter) bool {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
				return true
			}
		})
		_, err := f.cc(t).Token(ctxT(t), readReq)
		var ie *IssuerError
		if !errors.As(err, &ie) || ie.Code != tc.code || ie.Status != tc.status {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if IsCentral(err) != tc.central || isOutage(err) != tc.outage {
			t.Errorf("%s: central=%v outage=%v, want %v %v (%v)", tc.name, IsCentral(err), isOutage(err), tc.central, tc.outage, err)
		}
	}
}

func TestBrokenAnswersAreTheIssuers(t *testing.T) {
	f := newFakeIssuer(t)
	secretish := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw"
	f.set(func(f *fakeIssuer) {
		f.fault = func(w http.ResponseWriter) bool {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token": "` + secretish + `", oops`))
			return true
		}
	})
	_, err := f.cc(t).Token(ctxT(t), readReq)
	if !IsCentral(err) || !isOutage(err) || !strings.Contains(err.Error(), "without a token") || strings.Contains(err.Error(), secretish[:30]) {
		t.Errorf("invalid JSON: %v", err)
	}
	// No exp: refused as the issuer's fault, not an outage.
	f2 := newFakeIssuer(t)
	f2.set(func(f *fakeIssuer) { f.omitExp = true })
	_, err = f2.cc(t).Token(ctxT(t), readReq)
	if !IsCentral(err) || isOutage(err) || !strings.Contains(err.Error(), "without exp") {
		t.Errorf("no exp: %v", err)
	}
	// A lifetime of days is usable (the issuer probe warns about it).
	f3 := newFakeIssuer(t)
	f3.set(func(f *fakeIssuer) { f.lifetime = 72 * time.Hour })
	if tok, err := f3.cc(t).Token(ctxT(t), readReq); err != nil || time.Until(tok.Expiry) < 71*time.Hour {
		t.Errorf("3-day token: %v", err)
	}
}

func TestRFC8414Discovery(t *testing.T) {
	f := newFakeIssuer(t)
	f.set(func(f *fakeIssuer) { f.noOIDC = true })
	c := f.cc(t)
	if _, err := c.Token(ctxT(t), readReq); err != nil {
		t.Fatal(err)
	}
	m, err := c.Metadata(ctxT(t))
	if err != nil || !strings.HasSuffix(m.URL, "/.well-known/oauth-authorization-server") {
		t.Errorf("metadata %+v: %v", m, err)
	}
}

func TestRefreshToken(t *testing.T) {
	f := newFakeIssuer(t)
	f.set(func(f *fakeIssuer) { f.refresh["rt-one-abcdefghijk"] = true; f.rotate = true })
	rtFile := filepath.Join(t.TempDir(), "rt")
	os.WriteFile(rtFile, []byte("rt-one-abcdefghijk\n"), 0o600)
	r, err := NewRefreshToken(IssuerConfig{Issuer: f.srv.URL, ClientID: f.id, ClientSecretFile: f.secretFile(t), CAFile: f.ca}, rtFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	t1, err := r.Token(ctx, readReq)
	if err != nil {
		t.Fatal(err)
	}
	if c := t1.Claims(); !t1.Narrowed || !c.HasAudience(readReq.Audience) || strings.Join(c.Scopes, " ") != "storage.read:/a" {
		t.Errorf("token %s", t1.Summary())
	}
	// The issuer rotated the refresh token: the next exchange uses the new one.
	if _, err := r.Token(ctx, TokenRequest{Scopes: []string{"storage.create:/b"}, Audience: "https://x:1"}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	g := slices.Clone(f.grants)
	f.mu.Unlock()
	if len(g) != 2 || g[0].grant != "refresh_token" || g[0].rt != "rt-one-abcdefghijk" || !strings.HasPrefix(g[1].rt, "rt-rotated-1") ||
		g[1].scope != "storage.create:/b" || g[1].aud != "https://x:1" {
		t.Errorf("grants %+v", g)
	}
	if s := Redact("rt-one-abcdefghijk " + g[1].rt); strings.Contains(s, "rt-") {
		t.Errorf("refresh tokens not redacted: %q", s)
	}
	// A new refresh token in the file wins over the rotated one; a revoked
	// one is the probe's problem (invalid_grant), not the issuer's.
	os.WriteFile(rtFile, []byte("rt-revoked-abcdefghijk"), 0o600)
	_, err = r.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/c"}})
	var ie *IssuerError
	if !errors.As(err, &ie) || ie.Code != "invalid_grant" || IsCentral(err) {
		t.Errorf("revoked refresh token: %v", err)
	}
	os.WriteFile(rtFile, nil, 0o600)
	if _, err = r.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/d"}}); err == nil || !strings.Contains(err.Error(), "is empty") || IsCentral(err) {
		t.Errorf("empty file: %v", err)
	}
}

// A hung issuer: the first request waits one issuer timeout, the breaker
// opens, every later request of the round fails at once with the same
// reason, cached tokens are still served, and one background retry after
// the back-off closes the breaker once the issuer is back.
func TestRoundBreaker(t *testing.T) {
	f := newFakeIssuer(t)
	c := f.cc(t)
	c.Timeout = 300 * time.Millisecond
	c.ic.timeout = c.Timeout
	ctx := ctxT(t)
	cached, err := c.Token(ctx, readReq)
	if err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeIssuer) { f.hang = make(chan struct{}) })
	r := NewRound(c).(*Round)
	r.RetryAfter = 100 * time.Millisecond

	start := time.Now()
	_, err = r.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/x"}})
	first := time.Since(start)
	if !IsCentral(err) || !strings.Contains(err.Error(), "no answer within 300ms") || first < 300*time.Millisecond {
		t.Fatalf("first request after %s: %v", first, err)
	}
	start = time.Now()
	_, err = r.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/y"}})
	var ff *FailedFast
	if !errors.As(err, &ff) || !IsCentral(err) || !strings.Contains(err.Error(), "no answer within 300ms") || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("second request after %s: %v", time.Since(start), err)
	}
	if tok, err := r.Token(ctx, readReq); err != nil || tok != cached {
		t.Errorf("cached token not served while the breaker is open: %v", err)
	}
	if st := c.Stats(); st[StatFailedFast] != 1 {
		t.Errorf("stats %v", st)
	}
	// Another round over the same source starts closed.
	if NewRound(r).(*Round).Tripped() != nil {
		t.Error("a new round inherits the breaker")
	}
	// The issuer is back; after the back-off one request triggers the
	// retry (and still fails fast itself); the retry closes the breaker.
	f.set(func(f *fakeIssuer) { close(f.hang); f.hang = nil })
	time.Sleep(r.RetryAfter) // the back-off under test
	if _, err := r.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/z"}}); !errors.As(err, &ff) {
		t.Fatalf("request that starts the retry: %v", err)
	}
	waitFor(t, func() bool { return r.Tripped() == nil })
	if _, err := r.Token(ctx, TokenRequest{Scopes: []string{"storage.read:/w"}}); err != nil {
		t.Errorf("after the retry: %v", err)
	}
}

// Refusals of one request and the probe's own problems do not open it.
func TestRoundBreakerIgnoresRefusals(t *testing.T) {
	f := newFakeIssuer(t)
	f.set(func(f *fakeIssuer) {
		f.fault = func(w http.ResponseWriter) bool { f.oauthErr(w, 400, "invalid_scope"); return true }
	})
	r := NewRound(f.cc(t)).(*Round)
	for i := 0; i < 2; i++ {
		if _, err := r.Token(ctxT(t), readReq); err == nil || errors.As(err, new(*FailedFast)) {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if r.Tripped() != nil {
		t.Error("an invalid_scope refusal opened the breaker")
	}
	if NewRound(nil) != nil {
		t.Error("NewRound(nil) must be a nil Source")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The wait for the issuer does not use up a check's deadline
// (checkctx.Pause), but a cancelled round still ends it.
func TestTokenWaitPausesCheckDeadline(t *testing.T) {
	f := newFakeIssuer(t)
	f.set(func(f *fakeIssuer) {
		f.fault = func(http.ResponseWriter) bool { time.Sleep(200 * time.Millisecond); return false }
	})
	c := f.cc(t)
	ctx, cancel := checkCtx(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Token(ctx, readReq); err != nil {
		t.Fatalf("slow issuer within its own timeout: %v", err)
	}
	if ctx.Err() != nil {
		t.Error("the check's deadline ran while it waited for the token")
	}
}

// FuzzTokenAnswer: any body with any content type and status parses
// without panicking, and what an error message quotes of it never holds a
// token-like run.
func FuzzTokenAnswer(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"x.y.z","token_type":"Bearer","expires_in":"3600"}`))
	f.Add(401, "text/plain", []byte(`{"error":"invalid_client"}`))
	f.Add(400, "application/x-www-form-urlencoded", []byte(`error=invalid_scope&error_description=no`))
	f.Add(503, "text/html", []byte(`<html>down</html>`))
	f.Add(200, "", []byte(`access_token=abc&expires_in=12`))
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte) {
		if status < 100 || status > 599 {
			status = 200
		}
		c := &issuerClient{issuer: "https://issuer.example"}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ctype}}}
		ans, err := c.parseAnswer(resp, body, "https://issuer.example/token", readReq)
		if (ans == nil) == (err == nil) {
			t.Fatalf("answer %v and error %v", ans, err)
		}
		if err != nil && tokenish.MatchString(strings.ReplaceAll(err.Error(), "https://issuer.example/token", "")) {
			if s := snippet(body); tokenish.MatchString(s) {
				t.Fatalf("snippet keeps a token-like run: %q", s)
			}
		}
	})
}
