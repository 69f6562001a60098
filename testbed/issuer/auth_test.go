package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The refresh_token grant: a client-credentials request with offline_access
// gets a refresh token; exchanging it gives access tokens narrowed to any
// scope and audience it covers, only to the client it was issued to.
func TestRefreshTokenGrant(t *testing.T) {
	is, srv, secret := testIssuer(t, AlgES256)
	is.NotBefore = 60 * time.Second
	is.Clients["gridprobe"].Scopes = append(is.Clients["gridprobe"].Scopes, "offline_access")
	code, body := postToken(t, srv, url.Values{"grant_type": {"client_credentials"},
		"scope": {"storage.read:/ storage.create:/gridprobe offline_access"}}, "gridprobe", secret)
	rt, _ := body["refresh_token"].(string)
	if code != 200 || rt == "" || strings.Contains(body["scope"].(string), "offline_access") {
		t.Fatalf("HTTP %d %v (refresh token %v)", code, body["scope"], rt != "")
	}
	kf := jwksKeyfunc(t, srv)
	code, body = postToken(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"scope": {"storage.create:/gridprobe/run1"}, "audience": {"https://se.example:8443"}}, "gridprobe", secret)
	if code != 200 {
		t.Fatalf("refresh: HTTP %d %v", code, body)
	}
	c := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(body["access_token"].(string), c, kf, jwt.WithAudience("https://se.example:8443")); err != nil {
		t.Fatal(err)
	}
	if c["scope"] != "storage.create:/gridprobe/run1" || c["iat"].(float64)-c["nbf"].(float64) != 60 {
		t.Errorf("claims %v: want the narrowed scope and nbf 60 s before iat", c)
	}
	cases := []struct {
		name string
		form url.Values
		code int
		err  string
	}{
		{"scope beyond the refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"compute.read"}}, 400, "invalid_scope"},
		{"access token as refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["access_token"].(string)}}, 400, "invalid_grant"},
		{"garbage", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, 400, "invalid_grant"},
	}
	for _, tc := range cases {
		if code, b := postToken(t, srv, tc.form, "gridprobe", secret); code != tc.code || b["error"] != tc.err {
			t.Errorf("%s: HTTP %d %v, want %d %s", tc.name, code, b["error"], tc.code, tc.err)
		}
	}
	// Another client cannot use it.
	other := filepath.Join(t.TempDir(), "other-secret")
	os.WriteFile(other, []byte("other-secret-value"), 0o600)
	is.Clients["other"] = &Client{ID: "other", Sub: "other", Scopes: []string{"storage.read:/"}, secret: "other-secret-value"}
	if code, b := postToken(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "other", "other-secret-value"); code != 400 || b["error"] != "invalid_grant" {
		t.Errorf("other client: HTTP %d %v", code, b["error"])
	}
}

// private_key_jwt: an assertion signed with the registered key is
// accepted once; a replay, another key or another audience are refused.
func TestPrivateKeyJWTClient(t *testing.T) {
	is, srv, _ := testIssuer(t, AlgRS256)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	pubFile := filepath.Join(t.TempDir(), "client.pub")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	clients := fmt.Sprintf(`{"clients":[{"id":"keyed","public_key_file":%q,"scopes":["storage.read:/"]}]}`, pubFile)
	cf := filepath.Join(t.TempDir(), "clients.json")
	os.WriteFile(cf, []byte(clients), 0o600)
	cl, err := LoadClients(cf)
	if err != nil {
		t.Fatal(err)
	}
	is.Clients["keyed"] = cl["keyed"]
	assertion := func(signer *ecdsa.PrivateKey, aud, jti string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "keyed", "sub": "keyed", "aud": aud,
			"jti": jti, "exp": time.Now().Add(time.Minute).Unix()}).SignedString(signer)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {"keyed"}, "scope": {"storage.read:/x"},
			"client_assertion_type": {assertionType}, "client_assertion": {a}}
	}
	good := assertion(key, srv.URL+"/token", "j1")
	if code, b := postToken(t, srv, form(good), "", ""); code != 200 || b["scope"] != "storage.read:/x" {
		t.Fatalf("good assertion: HTTP %d %v", code, b)
	}
	rogue, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, a := range map[string]string{
		"replay":         good,
		"other key":      assertion(rogue, srv.URL+"/token", "j2"),
		"other audience": assertion(key, "https://elsewhere.example/token", "j3"),
	} {
		if code, b := postToken(t, srv, form(a), "", ""); code != 401 || b["error"] != "invalid_client" {
			t.Errorf("%s: HTTP %d %v", name, code, b["error"])
		}
	}
}

// A second instance advertises its own endpoints under the same identity.
func TestPublicURL(t *testing.T) {
	is, srv, _ := testIssuer(t, AlgRS256)
	is.PublicURL = "https://localhost:18544"
	resp, err := http.Get(srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	json.NewDecoder(resp.Body).Decode(&d)
	if d["issuer"] != is.URL || d["token_endpoint"] != "https://localhost:18544/token" || d["jwks_uri"] != "https://localhost:18544/jwks" {
		t.Errorf("discovery %v", d)
	}
	if m, _ := d["token_endpoint_auth_methods_supported"].([]any); len(m) != 3 || m[2] != "private_key_jwt" {
		t.Errorf("auth methods %v", d["token_endpoint_auth_methods_supported"])
	}
}
