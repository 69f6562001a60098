// Package issuerfake is an in-process OAuth2 token issuer whose
// misbehaviour is chosen (hang, slow, 5xx, broken JSON, a discovery
// document naming another issuer, a JWKS without the signing key, tokens
// without exp or living for days, a token endpoint over http://), for the
// issuer probe's tests and the fault suite (internal/faults). It is never
// the proof that the probe works against a real issuer: that is the
// testbed's issuer (testbed/issuer) and oidc-agent.
//
// It is hand-written because each misbehaviour is a line or two of exactly
// the wrong answer; no issuer library can be made to answer wrongly.
package issuerfake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
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
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Fault is how the issuer misbehaves.
type Fault string

// Faults.
const (
	Healthy      Fault = "healthy"
	Hang         Fault = "hang"                // every request accepted, never answered
	Slow         Fault = "slow"                // the token endpoint answers after Delay
	ServerError  Fault = "5xx"                 // every request: 503 with an HTML page
	InvalidJSON  Fault = "invalid-json"        // the token endpoint: 200 with broken JSON
	WrongIssuer  Fault = "wrong-issuer"        // discovery names another issuer
	KidMissing   Fault = "jwks-without-kid"    // tokens signed with a kid the JWKS lacks
	NoExp        Fault = "no-exp"              // tokens without exp
	LongLifetime Fault = "lifetime-days"       // tokens valid for three days
	HTTPEndpoint Fault = "http-token-endpoint" // discovery advertises an http:// token endpoint
)

// ClientID is the client the fake issuer knows.
const ClientID = "gridprobe"

// Server is a running fake issuer.
type Server struct {
	URL        string // https://127.0.0.1:port
	CAFile     string // PEM of its certificate
	SecretFile string // the client secret
	srv        *httptest.Server
	key        *ecdsa.PrivateKey
	secret     string
	quit       chan struct{}
	closeOnce  sync.Once

	mu       sync.Mutex
	fault    Fault
	delay    time.Duration
	requests atomic.Int64
}

// Start runs a fake issuer with fault, writing its CA and secret files in
// dir. delay is the answer time of Slow.
func Start(dir string, fault Fault, delay time.Duration) (*Server, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	var sb [18]byte
	if _, err := rand.Read(sb[:]); err != nil {
		return nil, err
	}
	s := &Server{key: key, secret: base64.RawURLEncoding.EncodeToString(sb[:]), quit: make(chan struct{}), fault: fault, delay: delay}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.discovery)
	mux.HandleFunc("GET /jwks", s.jwks)
	mux.HandleFunc("POST /token", s.token)
	s.srv = httptest.NewUnstartedServer(s.gate(mux))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	s.URL = s.srv.URL
	s.CAFile = filepath.Join(dir, "issuer-ca.pem")
	s.SecretFile = filepath.Join(dir, "issuer-secret")
	if err := os.WriteFile(s.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o644); err != nil {
		s.Close()
		return nil, err
	}
	if err := os.WriteFile(s.SecretFile, []byte(s.secret+"\n"), 0o600); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// SetFault changes the misbehaviour (an outage, then recovery).
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

func (s *Server) current() (Fault, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault, s.delay
}

// Requests is how many requests reached the issuer.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close stops the server (hung requests are released).
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.srv.Close()
	})
}

// gate applies the faults that hit every endpoint.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		switch f, _ := s.current(); f {
		case Hang:
			// Take the connection from the HTTP server and hold it, silent,
			// until Close: a hung issuer, whatever the client does.
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					go func() {
						<-s.quit
						conn.Close()
					}()
					return
				}
			}
			<-s.quit
			return
		case ServerError:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<html><body><h1>503 Service Unavailable</h1></body></html>\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	f, _ := s.current()
	iss, tokenURL := s.URL, s.URL+"/token"
	if f == WrongIssuer {
		iss = "https://other-issuer.gridprobe.invalid"
	}
	if f == HTTPEndpoint {
		tokenURL = "http" + strings.TrimPrefix(s.URL, "https") + "/token"
	}
	writeJSON(w, map[string]any{
		"issuer": iss, "token_endpoint": tokenURL, "jwks_uri": s.URL + "/jwks",
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"grant_types_supported":                 []string{"client_credentials"},
	})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	raw, _ := s.key.PublicKey.ECDH()
	b := raw.Bytes()
	enc := base64.RawURLEncoding
	writeJSON(w, map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": "fake-es256-1", "alg": "ES256", "use": "sig",
		"x": enc.EncodeToString(b[1:33]), "y": enc.EncodeToString(b[33:65]),
	}}})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	f, delay := s.current()
	if f == Slow {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, sec, ok := r.BasicAuth()
	if !ok {
		id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != ClientID || sec != s.secret {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if f == InvalidJSON {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token": "eyJ`)
		return
	}
	tok, life, err := s.sign(r.PostForm.Get("scope"), r.PostForm.Get("audience"), f)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error")
		return
	}
	ans := map[string]any{"access_token": tok, "token_type": "Bearer", "scope": r.PostForm.Get("scope")}
	if f != NoExp {
		ans["expires_in"] = int(life / time.Second)
	}
	writeJSON(w, ans)
}

// sign makes a WLCG token for scope and aud, bent by fault.
func (s *Server) sign(scope, aud string, f Fault) (string, time.Duration, error) {
	now := time.Now()
	life := 20 * time.Minute
	if f == LongLifetime {
		life = 72 * time.Hour
	}
	var jti [12]byte
	rand.Read(jti[:])
	c := jwt.MapClaims{"iss": s.URL, "sub": ClientID, "scope": scope, "wlcg.ver": "1.0", "jti": fmt.Sprintf("%x", jti),
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(life).Unix()}
	if aud != "" {
		c["aud"] = aud
	}
	if f == NoExp {
		delete(c, "exp")
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = "fake-es256-1"
	if f == KidMissing {
		t.Header["kid"] = "fake-es256-rotated-away"
	}
	tok, err := t.SignedString(s.key)
	return tok, life, err
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q}`, code)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
