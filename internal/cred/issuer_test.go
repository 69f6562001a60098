package cred

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testIssuer is a small but real OAuth2 issuer over HTTPS: OIDC discovery
// and a client-credentials token endpoint that signs ES256 WLCG JWTs.
type testIssuer struct {
	srv      *httptest.Server
	key      *ecdsa.PrivateKey
	clientID string
	secret   string
	caFile   string // PEM of the server's certificate
	lifetime atomic.Int64
	delay    atomic.Int64

	mu       sync.Mutex
	requests map[string]int // "scope|audience" → count
	authSeen []string       // how the client authenticated
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &testIssuer{key: key, clientID: "gridprobe", secret: "s3cr3t-client-password-xyz", requests: map[string]int{}}
	is.lifetime.Store(int64(20 * time.Minute))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                is.srv.URL,
			"token_endpoint":                        is.srv.URL + "/token",
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		})
	})
	mux.HandleFunc("POST /token", is.token)
	is.srv = httptest.NewUnstartedServer(mux)
	is.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	is.srv.StartTLS()
	t.Cleanup(is.srv.Close)
	is.caFile = filepath.Join(t.TempDir(), "issuer-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.srv.Certificate().Raw})
	if err := os.WriteFile(is.caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return is
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (is *testIssuer) token(w http.ResponseWriter, r *http.Request) {
	if d := time.Duration(is.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, 400, "invalid_request", err.Error())
		return
	}
	id, sec, basic := r.BasicAuth()
	how := "basic"
	if !basic {
		id, sec, how = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), "post"
	}
	is.mu.Lock()
	is.authSeen = append(is.authSeen, how)
	is.mu.Unlock()
	if id != is.clientID || sec != is.secret {
		oauthError(w, 401, "invalid_client", "Bad client credentials")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, 400, "unsupported_grant_type", "only client_credentials")
		return
	}
	scope, aud := r.PostForm.Get("scope"), r.PostForm.Get("audience")
	is.mu.Lock()
	is.requests[scope+"|"+aud]++
	is.mu.Unlock()
	for _, s := range strings.Fields(scope) {
		if strings.HasPrefix(s, "storage.stage:") {
			oauthError(w, 400, "invalid_scope", "Scope '"+s+"' not allowed for client "+id)
			return
		}
	}
	if aud == "" {
		aud = AnyAudience
	}
	life := time.Duration(is.lifetime.Load())
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": id, "iss": is.srv.URL, "aud": aud, "scope": scope, "wlcg.ver": "1.0",
		"iat": now.Unix(), "nbf": now.Unix() - 60, "exp": now.Add(life).Unix(),
		"jti": fmt.Sprintf("jti-%d", now.UnixNano()),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = "test"
	signed, err := tok.SignedString(is.key)
	if err != nil {
		oauthError(w, 500, "server_error", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": signed, "token_type": "Bearer", "expires_in": int(life / time.Second), "scope": scope,
	})
}

func (is *testIssuer) count(scope, aud string) int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.requests[scope+"|"+aud]
}

func (is *testIssuer) total() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	n := 0
	for _, v := range is.requests {
		n += v
	}
	return n
}

func (is *testIssuer) client(t *testing.T) *ClientCredentials {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte(is.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewClientCredentials(is.srv.URL+"/", is.clientID, secretFile, is.caFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signJWT makes a real signed WLCG token for file/env tests.
func signJWT(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wlcgClaims(sub string, life time.Duration, scope string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": sub, "iss": "https://issuer.example", "aud": []string{"https://se.example:1094", "other"},
		"scope": scope, "wlcg.ver": "1.0", "wlcg.groups": []string{"/testvo"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(life).Unix(), "jti": "abc-123",
	}
}
