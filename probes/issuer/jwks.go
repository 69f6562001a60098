package issuer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// maxJWKS bounds what is read of a JWKS.
const maxJWKS = 1 << 20

// jwk is one key of a JWKS as published (RFC 7517, 7518).
type jwk struct {
	Kty string   `json:"kty"`
	Kid string   `json:"kid"`
	Alg string   `json:"alg"`
	Use string   `json:"use"`
	N   string   `json:"n"`
	E   string   `json:"e"`
	Crv string   `json:"crv"`
	X   string   `json:"x"`
	Y   string   `json:"y"`
	X5c []string `json:"x5c"`
	K   string   `json:"k"` // a symmetric key: must never be published
	Exp *float64 `json:"exp"`
}

// key is a usable verification key of the JWKS.
type key struct {
	kid, alg string
	pub      crypto.PublicKey
	desc     string    // e.g. "RS256 (2048-bit RSA)"
	notAfter time.Time // of its x5c certificate or exp; zero: none
}

// keySet is what 4jwks found: the usable keys by kid, and the problems.
type keySet struct {
	uri      string
	byKid    map[string]*key
	crit     []string
	warn     []string
	keyCount int
}

var b64 = base64.RawURLEncoding

// parseJWKS reads a JWKS document and judges every key. A document that is
// not a JWKS is an error; problems of single keys are CRITICAL or WARNING
// findings in the set.
func parseJWKS(body []byte, now time.Time, warnBefore time.Duration) (*keySet, error) {
	var doc struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`no "keys" array`)
	}
	ks := &keySet{byKid: map[string]*key{}, keyCount: len(*doc.Keys)}
	seen := map[string]int{}
	for i, raw := range *doc.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			ks.crit = append(ks.crit, fmt.Sprintf("key %d is not a JWK object", i+1))
			continue
		}
		name := j.Kid
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
			ks.warn = append(ks.warn, fmt.Sprintf("key %s has no kid (relying parties pick keys by kid)", name))
		}
		seen[j.Kid]++
		if j.Kid != "" && seen[j.Kid] == 2 {
			ks.crit = append(ks.crit, fmt.Sprintf("kid %s is used by more than one key (a relying party cannot tell which verifies)", j.Kid))
		}
		k, sev, why := judgeKey(j, name, now, warnBefore)
		switch sev {
		case engine.Critical:
			ks.crit = append(ks.crit, why)
		case engine.Warning:
			ks.warn = append(ks.warn, why)
		}
		if k != nil && j.Kid != "" && seen[j.Kid] == 1 {
			ks.byKid[j.Kid] = k
		}
	}
	if ks.keyCount == 0 {
		ks.crit = append(ks.crit, "the JWKS has no keys")
	}
	return ks, nil
}

// judgeKey checks one key: type and algorithm WLCG relying parties verify
// (RS256 with RSA ≥ 2048 bits, ES256 with P-256), valid key material, use
// "sig", and an x5c certificate (or exp) not expiring soon.
func judgeKey(j jwk, name string, now time.Time, warnBefore time.Duration) (*key, engine.State, string) {
	k := &key{kid: j.Kid, alg: j.Alg}
	switch j.Kty {
	case "RSA":
		n, err1 := b64.DecodeString(j.N)
		e, err2 := b64.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, engine.Critical, fmt.Sprintf("key %s: RSA modulus or exponent is not base64url", name)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		k.pub, k.desc = pub, fmt.Sprintf("%d-bit RSA", pub.N.BitLen())
		if j.Alg == "" {
			k.alg = "RS256"
		}
		if pub.N.BitLen() < 2048 {
			return k, engine.Critical, fmt.Sprintf("key %s: RSA key of %d bits (at least 2048 for RS256)", name, pub.N.BitLen())
		}
	case "EC":
		if j.Crv != "P-256" {
			return nil, engine.Warning, fmt.Sprintf("key %s: curve %s (WLCG relying parties such as scitokens-cpp verify ES256 with P-256 only)", name, j.Crv)
		}
		x, err1 := b64.DecodeString(j.X)
		y, err2 := b64.DecodeString(j.Y)
		pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 || !validPoint(pub) {
			return nil, engine.Critical, fmt.Sprintf("key %s: not a valid P-256 point", name)
		}
		k.pub, k.desc = pub, "P-256 EC"
		if j.Alg == "" {
			k.alg = "ES256"
		}
	case "oct":
		return nil, engine.Critical, fmt.Sprintf("key %s: a symmetric (oct) key is published — anyone can sign tokens with it", name)
	default:
		return nil, engine.Warning, fmt.Sprintf("key %s: key type %q (relying parties verify RSA and EC keys)", name, j.Kty)
	}
	if want := map[string]string{"RSA": "RS256", "EC": "ES256"}[j.Kty]; k.alg != want {
		return nil, engine.Warning, fmt.Sprintf("key %s: %s key with alg %s (WLCG relying parties verify %s)", name, j.Kty, k.alg, want)
	}
	if j.Use != "" && j.Use != "sig" {
		return k, engine.Warning, fmt.Sprintf("key %s: use %q, not sig", name, j.Use)
	}
	return judgeExpiry(k, j, name, now, warnBefore)
}

// validPoint reports whether an EC public key is on its curve.
func validPoint(pub *ecdsa.PublicKey) bool {
	_, err := pub.ECDH()
	return err == nil
}

// judgeExpiry looks at a key's x5c certificate or exp.
func judgeExpiry(k *key, j jwk, name string, now time.Time, warnBefore time.Duration) (*key, engine.State, string) {
	switch {
	case len(j.X5c) > 0:
		der, err := base64.StdEncoding.DecodeString(j.X5c[0])
		if err != nil {
			return k, engine.Warning, fmt.Sprintf("key %s: x5c is not base64", name)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return k, engine.Warning, fmt.Sprintf("key %s: x5c is not a certificate", name)
		}
		k.notAfter = cert.NotAfter
	case j.Exp != nil:
		k.notAfter = time.Unix(int64(*j.Exp), 0)
	default:
		return k, engine.OK, ""
	}
	left := k.notAfter.Sub(now)
	switch {
	case left <= 0:
		return k, engine.Critical, fmt.Sprintf("key %s expired on %s", name, k.notAfter.UTC().Format("2006-01-02"))
	case warnBefore > 0 && left < warnBefore:
		return k, engine.Warning, fmt.Sprintf("key %s expires in %d days (%s)", name, int(left.Hours()/24), k.notAfter.UTC().Format("2006-01-02"))
	}
	return k, engine.OK, ""
}

// runJWKS fetches and judges the JWKS named by the discovery document.
func (s *svc) runJWKS(ctx context.Context, _ *engine.Env) engine.Outcome {
	uri := s.meta.JWKSURI
	start := time.Now()
	body, err := s.get(ctx, uri)
	took := time.Since(start)
	if err != nil {
		return engine.Critf("JWKS %s: %v", uri, err)
	}
	ks, err := parseJWKS(body, time.Now(), s.t.CertExpiryWarning())
	if err != nil {
		return engine.Critf("JWKS %s: %v", uri, err)
	}
	ks.uri = uri
	s.keys = ks
	news, gone := history.observe(s.identity, ks.kids(), time.Now())
	var notes []string
	if len(news) > 0 {
		notes = append(notes, "new since the last round: "+strings.Join(news, ", "))
	}
	if len(gone) > 0 {
		notes = append(notes, "removed since the last round: "+strings.Join(gone, ", "))
	}
	summary := fmt.Sprintf("%d keys at %s: %s", ks.keyCount, uri, ks.describe())
	if len(notes) > 0 {
		summary += "; " + strings.Join(notes, "; ")
	}
	var o engine.Outcome
	switch {
	case len(ks.crit) > 0:
		o = engine.Critf("%s; %s", strings.Join(append(ks.crit, ks.warn...), "; "), summary)
	case len(ks.warn) > 0:
		o = engine.Warnf("%s; %s", strings.Join(ks.warn, "; "), summary)
	default:
		o = engine.Okf("%s", summary)
	}
	o.Perf = []engine.Perf{{Label: "jwks_time", Value: took.Seconds(), Unit: "s"}, {Label: "keys", Value: float64(ks.keyCount)}}
	return o
}

func (ks *keySet) kids() []string {
	var out []string
	for kid := range ks.byKid {
		out = append(out, kid)
	}
	sort.Strings(out)
	return out
}

func (ks *keySet) describe() string {
	var parts []string
	for _, kid := range ks.kids() {
		k := ks.byKid[kid]
		parts = append(parts, fmt.Sprintf("%s %s (%s)", k.alg, kid, k.desc))
	}
	if len(parts) == 0 {
		return "none usable"
	}
	return strings.Join(parts, ", ")
}

// get fetches uri, refusing anything but 200.
func (s *svc) get(ctx context.Context, uri string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return body, nil
}

func (s *svc) reproJWKS() []string {
	if s.meta == nil {
		return nil
	}
	return []string{s.curl(s.meta.JWKSURI)}
}

// history remembers, per issuer and for the life of the process, when each
// kid was first published, so 5token can tell a key used as soon as it
// appeared (no rotation overlap: relying parties with a cached JWKS refuse
// its tokens until they refetch).
var history = &kidHistory{issuers: map[string]*issuerKids{}}

type kidHistory struct {
	mu      sync.Mutex
	issuers map[string]*issuerKids
}

type issuerKids struct {
	firstSeen map[string]time.Time
	current   map[string]bool
	rounds    int // JWKS observations so far
}

// observe records the kids published now and returns those new since the
// previous observation and those gone. The first observation reports none.
func (h *kidHistory) observe(issuer string, kids []string, now time.Time) (news, gone []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ik := h.issuers[issuer]
	if ik == nil {
		ik = &issuerKids{firstSeen: map[string]time.Time{}, current: map[string]bool{}}
		h.issuers[issuer] = ik
	}
	cur := map[string]bool{}
	for _, k := range kids {
		cur[k] = true
		if _, ok := ik.firstSeen[k]; !ok {
			ik.firstSeen[k] = now
			if ik.rounds > 0 {
				news = append(news, k)
			}
		}
	}
	for k := range ik.current {
		if !cur[k] {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	ik.current = cur
	ik.rounds++
	return news, gone
}

// publishedFor says how long kid has been published, when it appeared
// after the first observation of the issuer; ok is false otherwise.
func (h *kidHistory) publishedFor(issuer, kid string, now time.Time) (time.Duration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ik := h.issuers[issuer]
	if ik == nil || ik.rounds < 2 {
		return 0, false
	}
	first, ok := ik.firstSeen[kid]
	if !ok {
		return 0, false
	}
	var earliest time.Time
	for _, t := range ik.firstSeen {
		if earliest.IsZero() || t.Before(earliest) {
			earliest = t
		}
	}
	if !first.After(earliest) {
		return 0, false // published when the probe first looked
	}
	return now.Sub(first), true
}
