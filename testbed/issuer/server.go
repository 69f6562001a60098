package main

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Client is one registered OAuth2 client. It authenticates with a secret
// (client_secret_basic or client_secret_post) or, when it has a public
// key, with a signed assertion (private_key_jwt).
type Client struct {
	ID            string   `json:"id"`
	SecretFile    string   `json:"secret_file,omitempty"`
	PublicKeyFile string   `json:"public_key_file,omitempty"` // PEM public key for private_key_jwt
	Sub           string   `json:"sub"`                       // token subject; default: the client id
	Scopes        []string `json:"scopes"`                    // allowed scope patterns
	secret        string
	pub           crypto.PublicKey
}

// LoadClients reads the clients JSON file ({"clients":[...]}) and each
// client's secret file.
func LoadClients(path string) (map[string]*Client, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read clients file: %w", err)
	}
	var doc struct {
		Clients []*Client `json:"clients"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse clients file %s: %w", path, err)
	}
	out := map[string]*Client{}
	for _, c := range doc.Clients {
		if c.ID == "" || (c.SecretFile == "" && c.PublicKeyFile == "") {
			return nil, fmt.Errorf("clients file %s: a client needs id and secret_file or public_key_file", path)
		}
		if c.SecretFile != "" {
			s, err := os.ReadFile(c.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("client %s: read secret file: %w", c.ID, err)
			}
			c.secret = strings.TrimSpace(string(s))
			if c.secret == "" {
				return nil, fmt.Errorf("client %s: empty secret file %s", c.ID, c.SecretFile)
			}
		}
		if c.PublicKeyFile != "" {
			pub, err := readPublicKey(c.PublicKeyFile)
			if err != nil {
				return nil, fmt.Errorf("client %s: %w", c.ID, err)
			}
			c.pub = pub
		}
		if c.Sub == "" {
			c.Sub = c.ID
		}
		out[c.ID] = c
	}
	return out, nil
}

func readPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("public key %s: no PEM block", path)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return pub, nil
}

// Issuer is the HTTP side of the token issuer.
type Issuer struct {
	URL string // issuer identifier, e.g. https://localhost:18444
	// PublicURL is where the endpoints are advertised in discovery (a node
	// reached at another address than the identifier); empty: URL.
	PublicURL string
	Keys      *KeySet
	Alg       string // signing algorithm of issued tokens
	Lifetime  time.Duration
	// NotBefore is how far nbf is back-dated (WLCG profile v1.1: ~60 s,
	// for clock skew between the issuer and relying parties).
	NotBefore time.Duration
	// RefreshLifetime is how long a refresh token is valid.
	RefreshLifetime time.Duration
	Clients         map[string]*Client
	Log             *log.Logger
	Now             func() time.Time

	mu         sync.Mutex
	assertions map[string]time.Time // jti of client assertions seen → exp (replay)
}

func (is *Issuer) publicURL() string {
	if is.PublicURL != "" {
		return is.PublicURL
	}
	return is.URL
}

// Handler returns the issuer's HTTP routes.
func (is *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("/.well-known/oauth-authorization-server", is.discovery)
	mux.HandleFunc("/jwks", is.jwks)
	mux.HandleFunc("/token", is.token)
	return mux
}

func (is *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	base := is.publicURL()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                is.URL,
		"jwks_uri":                              base + "/jwks",
		"token_endpoint":                        base + "/token",
		"grant_types_supported":                 []string{"client_credentials", "refresh_token"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{AlgRS256, AlgES256},
		"response_types_supported":                         []string{"token"},
		"scopes_supported": []string{"storage.read", "storage.create", "storage.modify", "storage.stage",
			"compute.read", "compute.create", "compute.modify", "compute.cancel", "wlcg", "openid"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "wlcg.ver"},
		"id_token_signing_alg_values_supported": []string{AlgRS256, AlgES256},
	})
}

func (is *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	set, err := is.Keys.PublicJWKS()
	if err != nil {
		is.Log.Printf("jwks: %v", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, set)
}

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (is *Issuer) fail(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	is.Log.Printf("token: %s %s -> %d %s: %s", r.RemoteAddr, r.URL.Path, status, code, desc)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="gridprobe-testbed-issuer"`)
	}
	writeJSON(w, status, oauthError{Error: code, Description: desc})
}

// token implements the client credentials grant (RFC 6749 §4.4) and the
// refresh_token grant (§6), each narrowed by scope and audience.
func (is *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		is.fail(w, r, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		is.fail(w, r, http.StatusBadRequest, "invalid_request", "cannot parse form body")
		return
	}
	c, how, err := is.authenticate(r)
	if err != nil {
		is.fail(w, r, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	form := r.PostForm
	var allowed []string
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
		allowed = c.Scopes
	case "refresh_token":
		if allowed, err = is.checkRefresh(form.Get("refresh_token"), c); err != nil {
			is.fail(w, r, http.StatusBadRequest, "invalid_grant", err.Error())
			return
		}
	default:
		is.fail(w, r, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q not supported", gt))
		return
	}
	req, err := splitRequest(form.Get("scope"), allowed)
	var scopes []string
	if err == nil && !req.onlyClaims {
		scopes, err = limitScopes(req.scopes, allowed)
	}
	if err != nil {
		is.fail(w, r, http.StatusBadRequest, "invalid_scope", err.Error())
		return
	}
	var aud []string
	for _, key := range []string{"audience", "resource"} {
		for _, v := range form[key] {
			aud = append(aud, strings.Fields(v)...)
		}
	}
	if len(aud) == 0 {
		aud = []string{AnyAudience}
	}
	is.issue(w, r, c, how, form.Get("grant_type"), scopes, aud, req)
}

// issue signs and sends the access token (and, when offline_access was
// granted with client credentials, a refresh token for the other scopes).
// req's version and group requests become claims (claims.go).
func (is *Issuer) issue(w http.ResponseWriter, r *http.Request, c *Client, how, grant string, scopes, aud []string, req tokenRequest) {
	k, ok := is.Keys.Trusted[is.Alg]
	if !ok {
		is.fail(w, r, http.StatusInternalServerError, "server_error", "no signing key for "+is.Alg)
		return
	}
	offline := slices.Contains(scopes, "offline_access")
	granted := scopes // a refresh token may ask for all of them again
	scopes = slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == "offline_access" })
	spec := TokenSpec{Issuer: is.URL, Subject: c.Sub, Audience: aud, Scope: scopes,
		Now: is.Now(), Lifetime: is.Lifetime, NotBefore: -is.NotBefore, WLCGVer: "1.0"}
	req.apply(&spec)
	tok, jti, exp, err := Sign(spec, k)
	if err != nil {
		is.fail(w, r, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	ans := map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(is.Lifetime / time.Second),
		"scope":        strings.Join(scopes, " "),
	}
	if offline && grant == "client_credentials" {
		rt, err := is.signRefresh(c, granted, k)
		if err != nil {
			is.fail(w, r, http.StatusInternalServerError, "server_error", err.Error())
			return
		}
		ans["refresh_token"] = rt
	}
	// Never log the token itself: its jti identifies it.
	is.Log.Printf("token: issued jti=%s grant=%s client=%s auth=%s sub=%s aud=%q scope=%q exp=%s",
		jti, grant, c.ID, how, c.Sub, strings.Join(aud, " "), strings.Join(scopes, " "), exp.UTC().Format(time.RFC3339))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, ans)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
