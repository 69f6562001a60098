package cred

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gridprobe/gridprobe/internal/checkctx"
)

// fakeIssuer is an in-process OAuth2 issuer whose behaviour the tests
// set: advertised auth methods, whether it form-decodes Basic credentials,
// client_credentials and refresh_token grants, private_key_jwt, and
// faults (hang, 5xx, odd content types, tokens without exp).
type fakeIssuer struct {
	t   *testing.T
	srv *httptest.Server
	key *ecdsa.PrivateKey
	ca  string // PEM file of the server certificate

	mu          sync.Mutex
	id, secret  string
	methods     []string // token_endpoint_auth_methods_supported (nil: not advertised)
	decodeBasic bool     // RFC 6749 §2.3.1 decoding of Basic credentials
	noOIDC      bool     // only /.well-known/oauth-authorization-server
	clientPub   crypto.PublicKey
	refresh     map[string]bool // valid refresh tokens
	rotate      bool            // hand out a new refresh token with every answer
	lifetime    time.Duration
	omitExp     bool
	fault       func(w http.ResponseWriter) bool // answers instead when it returns true
	hang        chan struct{}                    // token endpoint blocks until closed
	seen        []string                         // auth method of each token request
	grants      []grantSeen                      // each token request
}

type grantSeen struct{ grant, scope, aud, rt string }

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIssuer{t: t, key: key, id: "gridprobe", secret: "s3cr3t-client-password-xyz", decodeBasic: true,
		refresh: map[string]bool{}, lifetime: 20 * time.Minute,
		methods: []string{AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT}}
	mux := http.NewServeMux()
	meta := func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.noOIDC && strings.HasSuffix(r.URL.Path, "openid-configuration") {
			http.NotFound(w, r)
			return
		}
		m := map[string]any{"issuer": f.srv.URL, "token_endpoint": f.srv.URL + "/token", "jwks_uri": f.srv.URL + "/jwks"}
		if f.methods != nil {
			m["token_endpoint_auth_methods_supported"] = f.methods
		}
		json.NewEncoder(w).Encode(m)
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", meta)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", meta)
	mux.HandleFunc("POST /token", f.token)
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(func() {
		f.mu.Lock()
		if f.hang != nil {
			close(f.hang)
			f.hang = nil
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	f.ca = filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(f.ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o644)
	return f
}

func (f *fakeIssuer) set(fn func(f *fakeIssuer)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

func (f *fakeIssuer) seenMethods() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

func (f *fakeIssuer) oauthErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"error_description":"fake issuer says %s"}`, code, code)
}

// authenticate returns the method the request used, or "" when the
// client is not authenticated.
func (f *fakeIssuer) authenticate(r *http.Request) string {
	if id, sec, ok := r.BasicAuth(); ok {
		if f.decodeBasic {
			id, _ = url.QueryUnescape(id)
			sec, _ = url.QueryUnescape(sec)
		}
		if id == f.id && sec == f.secret {
			return AuthSecretBasic
		}
		return ""
	}
	if a := r.PostForm.Get("client_assertion"); a != "" && f.clientPub != nil {
		claims := jwt.MapClaims{}
		_, err := jwt.NewParser(jwt.WithAudience(f.srv.URL+"/token"), jwt.WithIssuer(f.id), jwt.WithSubject(f.id), jwt.WithExpirationRequired()).
			ParseWithClaims(a, claims, func(*jwt.Token) (any, error) { return f.clientPub, nil })
		if err == nil && r.PostForm.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return AuthPrivateKeyJWT
		}
		return ""
	}
	if r.PostForm.Get("client_id") == f.id && r.PostForm.Get("client_secret") == f.secret {
		return AuthSecretPost
	}
	return ""
}

func (f *fakeIssuer) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	hang, fault := f.hang, f.fault
	f.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		return
	}
	if fault != nil && fault(w) {
		return
	}
	r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	how := f.authenticate(r)
	f.seen = append(f.seen, orString(how, "refused"))
	g := grantSeen{r.PostForm.Get("grant_type"), r.PostForm.Get("scope"), r.PostForm.Get("audience"), r.PostForm.Get("refresh_token")}
	f.grants = append(f.grants, g)
	if how == "" {
		f.oauthErr(w, 401, "invalid_client")
		return
	}
	var newRT string
	switch g.grant {
	case "client_credentials":
	case "refresh_token":
		if !f.refresh[g.rt] {
			f.oauthErr(w, 400, "invalid_grant")
			return
		}
		if f.rotate {
			delete(f.refresh, g.rt)
			newRT = fmt.Sprintf("rt-rotated-%d-abcdefgh", len(f.grants))
			f.refresh[newRT] = true
		}
	default:
		f.oauthErr(w, 400, "unsupported_grant_type")
		return
	}
	now := time.Now()
	claims := jwt.MapClaims{"sub": f.id, "iss": f.srv.URL, "scope": g.scope, "wlcg.ver": "1.0",
		"iat": now.Unix(), "nbf": now.Unix() - 60, "exp": now.Add(f.lifetime).Unix(), "jti": fmt.Sprint(now.UnixNano())}
	if g.aud != "" {
		claims["aud"] = g.aud
	}
	if f.omitExp {
		delete(claims, "exp")
	}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(f.key)
	ans := map[string]any{"access_token": tok, "token_type": "Bearer", "scope": g.scope}
	if !f.omitExp {
		ans["expires_in"] = int(f.lifetime / time.Second)
	}
	if newRT != "" {
		ans["refresh_token"] = newRT
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ans)
}

func (f *fakeIssuer) secretFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(f.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fakeIssuer) cc(t *testing.T) *ClientCredentials {
	t.Helper()
	c, err := NewClientCredentialsFrom(IssuerConfig{Issuer: f.srv.URL, ClientID: f.id, ClientSecretFile: f.secretFile(t), CAFile: f.ca, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clientKey makes a private key file for private_key_jwt and registers its
// public key with the issuer.
func (f *fakeIssuer) clientKey(t *testing.T, signer crypto.Signer) string {
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "client.key")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	f.set(func(f *fakeIssuer) { f.clientPub = signer.Public() })
	return p
}

// checkCtx is a check's context as the engine makes it.
func checkCtx(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return checkctx.WithTimeout(parent, d)
}
