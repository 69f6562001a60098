package issuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gridprobe/gridprobe/internal/cred"
)

const iss = "https://iam.example.org"

var req = cred.TokenRequest{Scopes: []string{"storage.read:/"}, Audience: "https://iam.example.org"}

func mkToken(t *testing.T, edit func(jwt.MapClaims)) *cred.Token {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": iss, "sub": "gridprobe", "aud": req.Audience, "scope": "storage.read:/", "wlcg.ver": "1.0",
		"jti": "j1", "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(20 * time.Minute).Unix()}
	edit(c)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	raw, err := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.NewToken(raw, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestJudgeClaims(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name       string
		edit       func(jwt.MapClaims)
		crit, warn string
	}{
		{"good", func(jwt.MapClaims) {}, "", ""},
		{"broader scope", func(c jwt.MapClaims) { c["scope"] = "storage.read:/ storage.modify:/" }, "scope is broader than requested: also storage.modify:/", ""},
		{"narrower scope", func(c jwt.MapClaims) { c["scope"] = "storage.read:/a" }, "scope lacks the requested storage.read:/", ""},
		{"other audience", func(c jwt.MapClaims) { c["aud"] = "https://other" }, "not the requested https://iam.example.org", ""},
		{"broader audience", func(c jwt.MapClaims) { c["aud"] = []string{req.Audience, cred.AnyAudience} }, "aud is broader than requested: also https://wlcg.cern.ch/jwt/v1/any", ""},
		{"other iss", func(c jwt.MapClaims) { c["iss"] = "https://evil" }, `iss is "https://evil"`, ""},
		{"no sub", func(c jwt.MapClaims) { delete(c, "sub") }, "no sub", ""},
		{"no jti", func(c jwt.MapClaims) { delete(c, "jti") }, "no jti", ""},
		{"no wlcg.ver", func(c jwt.MapClaims) { delete(c, "wlcg.ver") }, "no wlcg.ver", ""},
		{"wlcg.ver 1.1", func(c jwt.MapClaims) { c["wlcg.ver"] = "1.1" }, "", `wlcg.ver "1.1"`},
		{"no exp", func(c jwt.MapClaims) { delete(c, "exp") }, "no exp", ""},
		{"7 h", func(c jwt.MapClaims) { c["exp"] = c["iat"].(int64) + 7*3600 }, "lifetime exp−iat 7h is over 6h (WLCG Common JWT Profile v1.0)", ""},
		{"10 min", func(c jwt.MapClaims) { c["exp"] = c["iat"].(int64) + 600 }, "", "lifetime exp−iat 10m0s is under 15m0s (WLCG Common JWT Profile v1.1)"},
		{"nbf = iat", func(c jwt.MapClaims) { c["nbf"] = c["iat"] }, "", "nbf is not back-dated"},
		{"no nbf", func(c jwt.MapClaims) { delete(c, "nbf") }, "", "no nbf"},
		{"expired", func(c jwt.MapClaims) {
			c["exp"] = now.Add(-time.Minute).Unix()
			c["iat"] = now.Add(-21 * time.Minute).Unix()
			c["nbf"] = now.Add(-22 * time.Minute).Unix()
		}, "issued already expired", ""},
	}
	for _, tc := range cases {
		var v verdict
		judgeClaims(mkToken(t, tc.edit), req, iss, now, &v)
		crit, warn := strings.Join(v.crit, "; "), strings.Join(v.warn, "; ")
		if (tc.crit == "") != (crit == "") || !strings.Contains(crit, tc.crit) {
			t.Errorf("%s: critical %q, want %q", tc.name, crit, tc.crit)
		}
		if (tc.warn == "") != (warn == "") || !strings.Contains(warn, tc.warn) {
			t.Errorf("%s: warning %q, want %q", tc.name, warn, tc.warn)
		}
	}
}

func jwkOf(t *testing.T, kid string, pub any) map[string]any {
	enc := base64.RawURLEncoding
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": enc.EncodeToString(k.N.Bytes()), "e": "AQAB"}
	case *ecdsa.PublicKey:
		b, _ := k.ECDH()
		raw := b.Bytes()
		return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": enc.EncodeToString(raw[1:33]), "y": enc.EncodeToString(raw[33:65])}
	}
	t.Fatalf("key %T", pub)
	return nil
}

func TestParseJWKS(t *testing.T) {
	now := time.Now()
	r2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	r1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	soon := jwkOf(t, "soon", &ec.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "k"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(3 * 24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	soon["x5c"] = []string{base64.StdEncoding.EncodeToString(der)}
	doc := func(keys ...map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return b
	}
	ks, err := parseJWKS(doc(jwkOf(t, "r", &r2048.PublicKey), jwkOf(t, "e", &ec.PublicKey)), now, 14*24*time.Hour)
	if err != nil || len(ks.crit)+len(ks.warn) != 0 || len(ks.byKid) != 2 || ks.describe() != "ES256 e (P-256 EC), RS256 r (2048-bit RSA)" {
		t.Fatalf("good JWKS: %v %+v %s", err, ks, ks.describe())
	}
	p384 := map[string]any{"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"}
	ks, _ = parseJWKS(doc(jwkOf(t, "r", &r2048.PublicKey), jwkOf(t, "r", &ec.PublicKey), jwkOf(t, "short", &r1024.PublicKey),
		map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}, p384, soon, map[string]any{"kty": "RSA", "n": "!!", "e": "AQAB"}), now, 14*24*time.Hour)
	got := fmt.Sprint(ks.crit, ks.warn)
	for _, want := range []string{"kid r is used by more than one key", "RSA key of 1024 bits", "symmetric (oct) key", "curve P-384",
		"key soon expires in 2 days", "key #7: RSA modulus or exponent is not base64url", "key #7 has no kid"} {
		if !strings.Contains(got, want) {
			t.Errorf("findings %s lack %q", got, want)
		}
	}
	_ = ec384
	for _, bad := range []string{"", "{}", `{"keys": 3}`, "<html>"} {
		if _, err := parseJWKS([]byte(bad), now, 0); err == nil {
			t.Errorf("%q parsed as a JWKS", bad)
		}
	}
}

func TestKidHistory(t *testing.T) {
	h := &kidHistory{issuers: map[string]*issuerKids{}}
	t0 := time.Now()
	if n, g := h.observe("i", []string{"a"}, t0); len(n)+len(g) != 0 {
		t.Errorf("first look reports %v %v", n, g)
	}
	if _, ok := h.publishedFor("i", "a", t0); ok {
		t.Error("a key there at the first look has no known age")
	}
	n, g := h.observe("i", []string{"b"}, t0.Add(time.Minute))
	if fmt.Sprint(n, g) != "[b] [a]" {
		t.Errorf("second look: new %v gone %v", n, g)
	}
	if d, ok := h.publishedFor("i", "b", t0.Add(3*time.Minute)); !ok || d != 2*time.Minute {
		t.Errorf("b published for %v %v", d, ok)
	}
}

// FuzzParseJWKS: any document parses or is refused without panicking, and
// every usable key has a kid and a public key.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","kid":"a","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB","x5c":["MIIB"]}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"x"},{"kid":"a"},{"kid":"a"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := parseJWKS(b, time.Now(), 14*24*time.Hour)
		if err != nil {
			return
		}
		for kid, k := range ks.byKid {
			if kid == "" || k.pub == nil {
				t.Fatalf("usable key %q without kid or key", kid)
			}
		}
	})
}
