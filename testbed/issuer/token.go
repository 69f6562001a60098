package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AnyAudience is the WLCG audience meaning "any relying party".
const AnyAudience = "https://wlcg.cern.ch/jwt/v1/any"

// TokenSpec describes one token to sign. Offsets are relative to Now.
type TokenSpec struct {
	Issuer    string
	Subject   string
	Audience  []string // one entry: a string claim; several: an array
	Scope     []string
	Now       time.Time
	Lifetime  time.Duration // exp = Now + Lifetime (negative: already expired)
	NotBefore time.Duration // nbf = Now + NotBefore
	IssuedAt  time.Duration // iat = Now + IssuedAt
	WLCGVer   string        // "" omits wlcg.ver
	Omit      []string      // claims to leave out (negative tests)
	Extra     map[string]any
	Kid       string // "" = the key's own kid
}

// Sign builds the WLCG-profile claims of spec and signs them with k.
// It returns the token, its jti and its expiry.
func Sign(spec TokenSpec, k *Key) (string, string, time.Time, error) {
	jti, err := newJTI()
	if err != nil {
		return "", "", time.Time{}, err
	}
	exp := spec.Now.Add(spec.Lifetime)
	c := jwt.MapClaims{
		"iss": spec.Issuer,
		"sub": spec.Subject,
		"iat": spec.Now.Add(spec.IssuedAt).Unix(),
		"nbf": spec.Now.Add(spec.NotBefore).Unix(),
		"exp": exp.Unix(),
		"jti": jti,
	}
	if spec.WLCGVer != "" {
		c["wlcg.ver"] = spec.WLCGVer
	}
	switch len(spec.Audience) {
	case 0:
	case 1:
		c["aud"] = spec.Audience[0]
	default:
		c["aud"] = spec.Audience
	}
	if len(spec.Scope) > 0 {
		c["scope"] = strings.Join(spec.Scope, " ")
	}
	for name, v := range spec.Extra {
		c[name] = v
	}
	for _, name := range spec.Omit {
		delete(c, name)
	}
	t := jwt.NewWithClaims(k.Method(), c)
	t.Header["kid"] = k.Kid
	if spec.Kid != "" {
		t.Header["kid"] = spec.Kid
	}
	t.Header["typ"] = "JWT"
	s, err := t.SignedString(k.Signer)
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, jti, exp, nil
}

func newJTI() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random jti: %w", err)
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
