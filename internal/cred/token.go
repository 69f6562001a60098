package cred

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenRequest is what a check asks a token for: the narrowest scopes it
// needs and the endpoint as audience.
type TokenRequest struct {
	Scopes   []string
	Audience string
}

// Token is a bearer token. The raw value is reachable only through Bearer;
// every other way of printing or encoding a Token shows "[token sub=… exp=…]".
// Obtaining a Token registers it (and its payload and signature) for Redact.
type Token struct {
	secret *tokenValue // masked: even reflection-based printing cannot show it
	claims Claims
	isJWT  bool
	// Expiry is when the token stops being usable (exp claim, or the
	// issuer's expires_in for opaque tokens); zero if unknown.
	Expiry time.Time
	// Narrowed is true when the token was issued for Request; false when one
	// token (a file, the environment) serves every request.
	Narrowed bool
	// Request is what was asked for when the token was obtained.
	Request TokenRequest
	// Source describes where the token came from (never its value).
	Source string
}

// tokenValue holds the token XORed with a per-process random key, so that
// fmt's reflection (unexported fields, bad verbs such as %s on a pointer)
// prints only noise.
type tokenValue struct{ masked []byte }

var tokenMask = func() [64]byte {
	var k [64]byte
	if _, err := rand.Read(k[:]); err != nil {
		panic("cred: no randomness for the token mask: " + err.Error())
	}
	return k
}()

func maskToken(raw string) *tokenValue {
	b := []byte(raw)
	for i := range b {
		b[i] ^= tokenMask[i%len(tokenMask)]
	}
	return &tokenValue{masked: b}
}

func (v *tokenValue) reveal() string {
	b := make([]byte, len(v.masked))
	for i := range b {
		b[i] = v.masked[i] ^ tokenMask[i%len(tokenMask)]
	}
	return string(b)
}

// Claims are a JWT's claims as the token states them, NOT verified: the
// probe reports what it sends; the server verifies.
type Claims struct {
	Subject     string
	Issuer      string
	Audience    []string
	Scopes      []string // "scope" split on spaces (or an "scp" array)
	Groups      []string // wlcg.groups
	Expiry      time.Time
	NotBefore   time.Time
	IssuedAt    time.Time
	ID          string // jti
	WLCGVersion string // wlcg.ver
}

// AnyAudience is the WLCG audience that any service accepts.
const AnyAudience = "https://wlcg.cern.ch/jwt/v1/any"

// NewToken wraps a bearer token obtained elsewhere (e.g. a macaroon a check
// got from a storage element, or a deliberately expired token for a negative
// check) and registers it for redaction. A JWT's claims are parsed; any other
// single-word bearer string is kept as an opaque token without claims.
func NewToken(raw, source string) (*Token, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("%s: empty token", source)
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return nil, fmt.Errorf("%s: token contains white space", source)
	}
	t := &Token{secret: maskToken(raw), Source: source}
	if looksLikeJWT(raw) {
		c, err := parseClaims(raw)
		if err != nil {
			registerToken(raw, time.Time{})
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		t.claims, t.Expiry, t.isJWT = c, c.Expiry, true
	}
	registerToken(raw, t.Expiry)
	return t, nil
}

// looksLikeJWT checks the compact JWS shape: three base64url parts, the
// first two non-empty and the header starting with '{' ("eyJ").
func looksLikeJWT(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) < 4 || parts[1] == "" || !strings.HasPrefix(parts[0], "eyJ") {
		return false
	}
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '=') {
				return false
			}
		}
	}
	return true
}

var errNotJWT = errors.New("not a JWT (want header.payload.signature in base64url)")

// parseClaims reads the claims without verifying the signature. Its errors
// never contain the token.
func parseClaims(raw string) (Claims, error) {
	if !looksLikeJWT(raw) {
		return Claims{}, errNotJWT
	}
	mc := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, mc); err != nil {
		return Claims{}, errors.New("unreadable JWT (header or claims are not base64url JSON)")
	}
	var c Claims
	c.Subject = claimString(mc["sub"])
	c.Issuer = claimString(mc["iss"])
	c.Audience = claimStrings(mc["aud"], false)
	c.Scopes = claimStrings(mc["scope"], true)
	if len(c.Scopes) == 0 {
		c.Scopes = claimStrings(mc["scp"], true)
	}
	c.Groups = claimStrings(mc["wlcg.groups"], false)
	c.Expiry = claimTime(mc["exp"])
	c.NotBefore = claimTime(mc["nbf"])
	c.IssuedAt = claimTime(mc["iat"])
	c.ID = claimString(mc["jti"])
	c.WLCGVersion = claimString(mc["wlcg.ver"])
	return c, nil
}

func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	return ""
}

func claimStrings(v any, splitSpaces bool) []string {
	var out []string
	add := func(s string) {
		if splitSpaces {
			out = append(out, strings.Fields(s)...)
		} else if s != "" {
			out = append(out, s)
		}
	}
	switch x := v.(type) {
	case string:
		add(x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
	return out
}

func claimTime(v any) time.Time {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return time.Time{}
		}
	default:
		return time.Time{}
	}
	if math.IsNaN(f) || f <= 0 || f > 1e11 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// Bearer returns the raw token for an Authorization header or a token file.
// It is the only way to the value.
func (t *Token) Bearer() string {
	if t == nil || t.secret == nil {
		return ""
	}
	return t.secret.reveal()
}

// Claims returns the token's claims (zero for an opaque token).
func (t *Token) Claims() Claims {
	if t == nil {
		return Claims{}
	}
	c := t.claims
	c.Audience = append([]string(nil), c.Audience...)
	c.Scopes = append([]string(nil), c.Scopes...)
	c.Groups = append([]string(nil), c.Groups...)
	return c
}

// IsJWT reports whether the token is a JWT (else an opaque bearer string).
func (t *Token) IsJWT() bool { return t != nil && t.secret != nil && t.isJWT }

// Covers reports whether a scope of the token covers wanted (ScopeCovers).
func (t *Token) Covers(wanted string) bool { return ScopesCover(t.claims.Scopes, wanted) }

// Excess lists the token's scopes that none of wanted covers: what makes the
// token broader than a check needs. Empty means the token is narrow enough.
func (t *Token) Excess(wanted []string) []string {
	var out []string
	for _, g := range t.claims.Scopes {
		if !ScopesCover(wanted, g) {
			out = append(out, g)
		}
	}
	return out
}

// HasAudience reports whether the token is meant for aud (exactly, ignoring
// a trailing slash, or through the WLCG "any" audience).
func (c Claims) HasAudience(aud string) bool {
	aud = strings.TrimSuffix(aud, "/")
	for _, a := range c.Audience {
		if a == AnyAudience || strings.TrimSuffix(a, "/") == aud {
			return true
		}
	}
	return false
}

// Summary is one line for check details, e.g.
// `token sub=gridprobe scope="storage.read:/reference.dat" aud=https://localhost:18443 expires in 19m`.
func (t *Token) Summary() string { return t.summary(time.Now()) }

func (t *Token) summary(now time.Time) string {
	if t == nil || t.secret == nil {
		return "no token"
	}
	var b strings.Builder
	if !t.IsJWT() {
		fmt.Fprintf(&b, "opaque token (%d bytes)", len(t.secret.masked))
	} else {
		c := t.claims
		fmt.Fprintf(&b, "token sub=%s scope=%q aud=%s", orDash(c.Subject), strings.Join(c.Scopes, " "), orDash(strings.Join(c.Audience, ",")))
	}
	switch {
	case t.Expiry.IsZero():
	case now.Before(t.Expiry):
		fmt.Fprintf(&b, " expires in %s", shortDuration(t.Expiry.Sub(now)))
	default:
		fmt.Fprintf(&b, " expired %s ago", shortDuration(now.Sub(t.Expiry)))
	}
	if !t.Narrowed {
		b.WriteString(" (not narrowed to the check)")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// String returns "[token sub=… exp=…]", never the value.
func (t Token) String() string {
	if t.secret == nil {
		return "[no token]"
	}
	if !t.isJWT {
		return "[opaque token]"
	}
	exp := "-"
	if !t.Expiry.IsZero() {
		exp = t.Expiry.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("[token sub=%s exp=%s]", orDash(t.claims.Subject), exp)
}

// GoString is String, for %#v.
func (t Token) GoString() string { return t.String() }

// Format makes every fmt verb (%v %+v %#v %s %q %x …) print String.
func (t Token) Format(f fmt.State, verb rune) {
	s := t.String()
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = f.Write([]byte(s))
}

// MarshalJSON encodes the redacted form.
func (t Token) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// MarshalText encodes the redacted form (YAML, XML attributes, map keys).
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// LogValue makes slog log the redacted form.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }
