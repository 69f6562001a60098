package main

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Client is one registered OAuth2 client.
type Client struct {
	ID         string   `json:"id"`
	SecretFile string   `json:"secret_file"`
	Sub        string   `json:"sub"`    // token subject; default: the client id
	Scopes     []string `json:"scopes"` // allowed scope patterns
	secret     string
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
		if c.ID == "" || c.SecretFile == "" {
			return nil, fmt.Errorf("clients file %s: a client needs id and secret_file", path)
		}
		s, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("client %s: read secret file: %w", c.ID, err)
		}
		c.secret = strings.TrimSpace(string(s))
		if c.secret == "" {
			return nil, fmt.Errorf("client %s: empty secret file %s", c.ID, c.SecretFile)
		}
		if c.Sub == "" {
			c.Sub = c.ID
		}
		out[c.ID] = c
	}
	return out, nil
}

// Issuer is the HTTP side of the token issuer.
type Issuer struct {
	URL      string // issuer identifier, e.g. https://localhost:18444
	Keys     *KeySet
	Alg      string // signing algorithm of issued tokens
	Lifetime time.Duration
	Clients  map[string]*Client
	Log      *log.Logger
	Now      func() time.Time
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
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                is.URL,
		"jwks_uri":                              is.URL + "/jwks",
		"token_endpoint":                        is.URL + "/token",
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"response_types_supported":              []string{"token"},
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

// token implements the OAuth2 client credentials grant (RFC 6749 §4.4).
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
	form := r.PostForm
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	c, ok := is.Clients[id]
	if !ok || secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1 {
		is.fail(w, r, http.StatusUnauthorized, "invalid_client", "unknown client or bad secret")
		return
	}
	if gt := form.Get("grant_type"); gt != "client_credentials" {
		is.fail(w, r, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q not supported", gt))
		return
	}
	req, err := splitRequest(form.Get("scope"), c.Scopes)
	var scopes []string
	if err == nil && !req.onlyClaims {
		scopes, err = limitScopes(req.scopes, c.Scopes)
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
	k, ok := is.Keys.Trusted[is.Alg]
	if !ok {
		is.fail(w, r, http.StatusInternalServerError, "server_error", "no signing key for "+is.Alg)
		return
	}
	spec := TokenSpec{Issuer: is.URL, Subject: c.Sub, Audience: aud, Scope: scopes,
		Now: is.Now(), Lifetime: is.Lifetime, WLCGVer: "1.0"}
	req.apply(&spec)
	tok, jti, exp, err := Sign(spec, k)
	if err != nil {
		is.fail(w, r, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	// Never log the token itself: its jti identifies it.
	is.Log.Printf("token: issued jti=%s client=%s sub=%s aud=%q scope=%q exp=%s",
		jti, c.ID, c.Sub, strings.Join(aud, " "), strings.Join(scopes, " "), exp.UTC().Format(time.RFC3339))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(is.Lifetime / time.Second),
		"scope":        strings.Join(scopes, " "),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
