package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestScopeAllowed(t *testing.T) {
	allowed := []string{"storage.read:/", "storage.create:/data", "storage.modify:/data/sub/", "compute.read"}
	cases := []struct {
		s  string
		ok bool
	}{
		{"storage.read:/", true},
		{"storage.read:/anything/deep", true},
		{"storage.create:/data", true},
		{"storage.create:/data/", true},
		{"storage.create:/data/x/y", true},
		{"storage.create:/database", false}, // whole path elements only
		{"storage.create:/dat", false},
		{"storage.create:/", false},
		{"storage.modify:/data/sub", true},
		{"storage.modify:/data/sub/x", true},
		{"storage.modify:/data", false},
		{"storage.create:/data/../etc", false}, // no dot elements
		{"storage.create:/data/./x", false},
		{"storage.create:/data//x", false},
		{"storage.create:data", false}, // relative
		{"storage.stage:/", false},
		{"compute.read", true},
		{"compute.read:/x", false},
		{"compute.create", false},
		{"storage.read", false}, // a path scope without a path
	}
	for _, c := range cases {
		if got := scopeAllowed(c.s, allowed); got != c.ok {
			t.Errorf("scopeAllowed(%q) = %v, want %v", c.s, got, c.ok)
		}
	}
}

func TestLimitScopes(t *testing.T) {
	allowed := []string{"storage.read:/", "compute.read"}
	got, err := limitScopes("", allowed)
	if err != nil || strings.Join(got, " ") != "storage.read:/ compute.read" {
		t.Errorf("empty request: %v %v, want all allowed", got, err)
	}
	got, err = limitScopes(" storage.read:/a  storage.read:/a compute.read ", allowed)
	if err != nil || strings.Join(got, " ") != "storage.read:/a compute.read" {
		t.Errorf("dedupe: %v %v", got, err)
	}
	if _, err := limitScopes("storage.read:/a storage.modify:/a", allowed); err == nil {
		t.Errorf("a not-allowed scope in the request: no error")
	}
}

// testIssuer is an Issuer with fresh keys and one client, served by httptest.
func testIssuer(t *testing.T, alg string) (*Issuer, *httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	ks, err := LoadKeys(filepath.Join(dir, "keys"), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, kf := range keyFiles {
		st, err := os.Stat(filepath.Join(dir, "keys", kf.file))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file %s: %v mode %v", kf.file, err, st.Mode().Perm())
		}
	}
	secret := "s3cr3t&=+ value"
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clients := fmt.Sprintf(`{"clients":[{"id":"gridprobe","secret_file":%q,"scopes":["storage.read:/","storage.create:/gridprobe","compute.read","openid","wlcg","wlcg.groups:/testvo"]}]}`,
		filepath.Join(dir, "secret"))
	if err := os.WriteFile(filepath.Join(dir, "clients.json"), []byte(clients), 0o600); err != nil {
		t.Fatal(err)
	}
	cl, err := LoadClients(filepath.Join(dir, "clients.json"))
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{Keys: ks, Alg: alg, Lifetime: 20 * time.Minute, Clients: cl,
		Log: log.New(io.Discard, "", 0), Now: time.Now}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { is.Handler().ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	is.URL = srv.URL
	return is, srv, secret
}

// jwksKeyfunc verifies tokens against the keys served at /jwks, the way a
// relying party does: by kid, only the published keys.
func jwksKeyfunc(t *testing.T, srv *httptest.Server) jwt.Keyfunc {
	t.Helper()
	resp, err := http.Get(srv.URL + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set JWKS
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	keys := map[string]any{}
	for _, k := range set.Keys {
		switch k.Kty {
		case "RSA":
			n, _ := b64.DecodeString(k.N)
			e, _ := b64.DecodeString(k.E)
			keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case "EC":
			x, _ := b64.DecodeString(k.X)
			y, _ := b64.DecodeString(k.Y)
			keys[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		default:
			t.Fatalf("unexpected kty %q", k.Kty)
		}
	}
	if len(keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2 (RS256 + ES256, no rogue keys)", len(keys))
	}
	return func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("kid %q not in JWKS", kid)
		}
		return k, nil
	}
}

func postToken(t *testing.T, srv *httptest.Server, form url.Values, basicID, basicSecret string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return resp.StatusCode, body
}

func TestTokenEndpointClaims(t *testing.T) {
	for _, alg := range []string{AlgRS256, AlgES256} {
		t.Run(alg, func(t *testing.T) {
			is, srv, secret := testIssuer(t, alg)
			kf := jwksKeyfunc(t, srv)
			code, body := postToken(t, srv, url.Values{
				"grant_type": {"client_credentials"},
				"scope":      {"storage.read:/ref.dat storage.create:/gridprobe/run1"},
				"audience":   {"https://se.example.org:1094"},
			}, "gridprobe", secret)
			if code != 200 {
				t.Fatalf("HTTP %d %v", code, body["error"])
			}
			if body["token_type"] != "Bearer" || body["expires_in"] != float64(1200) ||
				body["scope"] != "storage.read:/ref.dat storage.create:/gridprobe/run1" {
				t.Errorf("response fields: type=%v expires_in=%v scope=%v", body["token_type"], body["expires_in"], body["scope"])
			}
			raw, _ := body["access_token"].(string)
			tok, err := jwt.Parse(raw, kf, jwt.WithValidMethods([]string{alg}), jwt.WithIssuer(is.URL),
				jwt.WithAudience("https://se.example.org:1094"), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
			if err != nil {
				t.Fatalf("verify with JWKS: %v", err)
			}
			c := tok.Claims.(jwt.MapClaims)
			if c["wlcg.ver"] != "1.0" || c["sub"] != "gridprobe" || c["aud"] != "https://se.example.org:1094" ||
				c["scope"] != "storage.read:/ref.dat storage.create:/gridprobe/run1" || c["jti"] == "" {
				t.Errorf("claims: %v", c)
			}
			iat, nbf, exp := c["iat"].(float64), c["nbf"].(float64), c["exp"].(float64)
			if exp-iat != 1200 || nbf != iat {
				t.Errorf("iat=%v nbf=%v exp=%v, want exp-iat=1200 and nbf=iat", iat, nbf, exp)
			}
			if tok.Header["kid"] != is.Keys.Trusted[alg].Kid {
				t.Errorf("kid %v", tok.Header["kid"])
			}
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	_, srv, secret := testIssuer(t, AlgRS256)
	ok := url.Values{"grant_type": {"client_credentials"}, "scope": {"storage.read:/"}}
	cases := []struct {
		name       string
		form       url.Values
		id, secret string
		status     int
		err        string
	}{
		{"scope not allowed", url.Values{"grant_type": {"client_credentials"}, "scope": {"storage.modify:/"}}, "gridprobe", secret, 400, "invalid_scope"},
		{"scope outside the allowed path", url.Values{"grant_type": {"client_credentials"}, "scope": {"storage.create:/gridprobe2"}}, "gridprobe", secret, 400, "invalid_scope"},
		{"dot-dot scope", url.Values{"grant_type": {"client_credentials"}, "scope": {"storage.read:/../x"}}, "gridprobe", secret, 400, "invalid_scope"},
		{"bad secret", ok, "gridprobe", "wrong", 401, "invalid_client"},
		{"unknown client", ok, "nobody", secret, 401, "invalid_client"},
		{"no credentials", ok, "", "", 401, "invalid_client"},
		{"grant type", url.Values{"grant_type": {"password"}}, "gridprobe", secret, 400, "unsupported_grant_type"},
	}
	for _, c := range cases {
		code, body := postToken(t, srv, c.form, c.id, c.secret)
		if code != c.status || body["error"] != c.err || body["access_token"] != nil {
			t.Errorf("%s: HTTP %d %v, want %d %s", c.name, code, body["error"], c.status, c.err)
		}
	}
	// Client authentication in the form body works as well.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"gridprobe"}, "client_secret": {secret}}
	if code, body := postToken(t, srv, form, "", ""); code != 200 || body["scope"] != "storage.read:/ storage.create:/gridprobe compute.read openid wlcg wlcg.groups:/testvo" {
		t.Errorf("form auth, no scope: HTTP %d scope=%v, want 200 and every allowed scope", code, body["scope"])
	}
	// Without an audience the token is for anyone (WLCG any).
	_, body := postToken(t, srv, ok, "gridprobe", secret)
	tok, _, err := jwt.NewParser().ParseUnverified(body["access_token"].(string), jwt.MapClaims{})
	if err != nil || tok.Claims.(jwt.MapClaims)["aud"] != AnyAudience {
		t.Errorf("default audience: %v %v", err, tok.Claims)
	}
}

func TestDiscovery(t *testing.T) {
	is, srv, _ := testIssuer(t, AlgRS256)
	resp, err := http.Get(srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d["issuer"] != is.URL || d["jwks_uri"] != is.URL+"/jwks" || d["token_endpoint"] != is.URL+"/token" {
		t.Errorf("discovery: %v", d)
	}
	if g, _ := d["grant_types_supported"].([]any); len(g) != 2 || g[0] != "client_credentials" || g[1] != "refresh_token" {
		t.Errorf("grant_types_supported: %v", d["grant_types_supported"])
	}
}

func TestMintNegativeTokens(t *testing.T) {
	is, srv, _ := testIssuer(t, AlgRS256)
	kf2 := jwksKeyfunc(t, srv)
	base := TokenSpec{Issuer: is.URL, Subject: "x", Audience: []string{"a"}, Scope: []string{"storage.read:/"},
		Now: time.Now(), Lifetime: 10 * time.Minute, WLCGVer: "1.0"}

	good, _, _, err := Sign(base, is.Keys.Trusted[AlgRS256])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(good, kf2, jwt.WithAudience("a")); err != nil {
		t.Fatalf("control token: %v", err)
	}
	expired := base
	expired.Lifetime = -time.Minute
	bad, _, _, _ := Sign(expired, is.Keys.Trusted[AlgRS256])
	if _, err := jwt.Parse(bad, kf2); err == nil {
		t.Errorf("expired token verified")
	}
	rogue, _, _, _ := Sign(base, is.Keys.Rogue[AlgRS256])
	if _, err := jwt.Parse(rogue, kf2); err == nil {
		t.Errorf("rogue-key token verified")
	}
	rogueKid := base
	rogueKid.Kid = is.Keys.Trusted[AlgRS256].Kid
	rk, _, _, _ := Sign(rogueKid, is.Keys.Rogue[AlgRS256])
	if _, err := jwt.Parse(rk, kf2); err == nil {
		t.Errorf("rogue key with the trusted kid verified")
	}
	omit := base
	omit.Omit = []string{"nbf", "wlcg.ver"}
	o, _, _, _ := Sign(omit, is.Keys.Trusted[AlgES256])
	tok, err := jwt.Parse(o, kf2)
	if err != nil {
		t.Fatalf("ES256 token: %v", err)
	}
	if c := tok.Claims.(jwt.MapClaims); c["nbf"] != nil || c["wlcg.ver"] != nil {
		t.Errorf("omitted claims present: %v", c)
	}
	multi := base
	multi.Audience = []string{"a", "b"}
	m, _, _, _ := Sign(multi, is.Keys.Trusted[AlgRS256])
	if _, err := jwt.Parse(m, kf2, jwt.WithAudience("b")); err != nil {
		t.Errorf("two audiences: %v", err)
	}
}

func TestMintCommandWritesFile0600(t *testing.T) {
	dir := t.TempDir()
	if err := cmdKeygen([]string{"--keys", dir}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tok")
	if err := cmdMint([]string{"--keys", dir, "--out", out, "--scope", "storage.read:/", "--exp", "-1h"}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v mode %v", err, st.Mode().Perm())
	}
	if err := cmdMint([]string{"--keys", dir}); err == nil {
		t.Errorf("mint without --out: no error")
	}
}

// TestClaimRequests: version and group requests become claims, not scopes;
// a request of only claims gets no capability; a group the client may not
// have and a malformed version are refused.
func TestClaimRequests(t *testing.T) {
	_, srv, secret := testIssuer(t, AlgRS256)
	claims := func(scope string) (int, jwt.MapClaims, map[string]any) {
		code, body := postToken(t, srv, url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
			"audience": {"https://se.example.org"}}, "gridprobe", secret)
		if code != 200 {
			return code, nil, body
		}
		c := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(body["access_token"].(string), c); err != nil {
			t.Fatal(err)
		}
		return code, c, body
	}
	_, c, body := claims("wlcg:1.9 storage.read:/a wlcg.groups:/testvo/sub wlcg")
	groups, _ := c["wlcg.groups"].([]any)
	if c["wlcg.ver"] != "1.9" || c["scope"] != "storage.read:/a" || body["scope"] != "storage.read:/a" || len(groups) != 1 || groups[0] != "/testvo/sub" {
		t.Errorf("claims %v, answer scope %v", c, body["scope"])
	}
	code, c, _ := claims("wlcg.groups:/testvo")
	if _, has := c["scope"]; has || code != 200 {
		t.Errorf("a request of only a group got capabilities: %v", c["scope"])
	}
	if code, c, _ := claims("openid"); code != 200 || c["scope"] != "openid" {
		t.Errorf("openid: HTTP %d scope %v", code, c["scope"])
	}
	for _, bad := range []string{"wlcg.groups:/othervo", "wlcg:one", "wlcg.groups:/testvo/../x"} {
		if code, _, body := claims(bad); code != 400 || body["error"] != "invalid_scope" {
			t.Errorf("%q: HTTP %d %v", bad, code, body["error"])
		}
	}
}
