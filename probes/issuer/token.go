package issuer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// WLCG Common JWT Profile limits the token check applies.
const (
	MaxLifetime     = 6 * time.Hour    // v1.0 and v1.1: an access token lives at most 6 h
	MinLifetime     = 15 * time.Minute // v1.1: at least 15 min
	NbfBackdate     = 30 * time.Second // v1.1 back-dates nbf ~60 s; less than this is not back-dated
	SlowIssuer      = 5 * time.Second  // a token taking longer is a WARNING
	RotationOverlap = time.Hour        // a key used sooner after it was published is a WARNING
	ruleV10         = "WLCG Common JWT Profile v1.0"
	ruleV11         = "WLCG Common JWT Profile v1.1"
)

// verdict collects a token's problems by severity.
type verdict struct{ crit, warn []string }

func (v *verdict) critf(format string, a ...any) { v.crit = append(v.crit, fmt.Sprintf(format, a...)) }
func (v *verdict) warnf(format string, a ...any) { v.warn = append(v.warn, fmt.Sprintf(format, a...)) }

// runToken asks the issuer for a token with the probe's own credentials
// and judges it against the profile.
func (s *svc) runToken(ctx context.Context, _ *engine.Env) engine.Outcome {
	ti, ok := cred.AsIssuer(s.t.Creds.Tokens)
	switch {
	case s.t.Creds.Tokens == nil:
		return engine.Unknownf("no token source configured: credentials.token names no issuer, so no token can be requested")
	case !ok:
		return engine.Unknownf("credentials.token is %s, not a client of this issuer: a token cannot be requested", s.t.Creds.Tokens.Describe())
	case strings.TrimSuffix(ti.IssuerURL(), "/") != s.identity:
		return engine.Unknownf("credentials.token is a client of %s, not of %s: a token cannot be requested", ti.IssuerURL(), s.identity)
	}
	req := cred.TokenRequest{Scopes: strings.Fields(s.t.Service.Scope), Audience: s.t.Audience()}
	tok, latency, err := ti.Issue(ctx, req)
	if err != nil {
		if cred.IsCentral(err) {
			return engine.Critf("no token: %v", err)
		}
		return engine.Unknownf("the probe's own client cannot get a token: %v", err)
	}
	var v verdict
	head := s.judgeSignature(tok, &v)
	judgeClaims(tok, req, s.identity, time.Now(), &v)
	if latency > SlowIssuer {
		v.warnf("the token took %s (slow: over %s)", latency.Round(time.Millisecond), SlowIssuer)
	}
	c := tok.Claims()
	desc := fmt.Sprintf("token for scope %q aud %s in %s: sub=%s %s, lifetime %s, wlcg.ver %s (%s)",
		strings.Join(req.Scopes, " "), req.Audience, latency.Round(time.Millisecond), c.Subject, head,
		c.Expiry.Sub(c.IssuedAt).Round(time.Second), orDash(c.WLCGVersion), ti.AuthMethod())
	var o engine.Outcome
	switch {
	case len(v.crit) > 0:
		o = engine.Critf("%s; %s", strings.Join(append(v.crit, v.warn...), "; "), desc)
	case len(v.warn) > 0:
		o = engine.Warnf("%s; %s", strings.Join(v.warn, "; "), desc)
	default:
		o = engine.Okf("%s", desc)
	}
	o.Perf = []engine.Perf{{Label: "token_time", Value: latency.Seconds(), Unit: "s"}}
	return o
}

// judgeSignature verifies the token with the JWKS of 4jwks: an algorithm
// relying parties verify, a kid that is published (a while already), a
// valid signature. It returns "RS256 kid X" for the detail.
func (s *svc) judgeSignature(tok *cred.Token, v *verdict) string {
	if !tok.IsJWT() {
		v.critf("the issuer handed out an opaque token, not a JWT (%s: access tokens are JWTs)", ruleV10)
		return "opaque"
	}
	var kid, alg string
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256", "ES256"}), jwt.WithoutClaimsValidation()).
		Parse(tok.Bearer(), func(t *jwt.Token) (any, error) {
			kid, _ = t.Header["kid"].(string)
			alg = t.Method.Alg()
			k, ok := s.keys.byKid[kid]
			if !ok {
				return nil, fmt.Errorf("kid %q is not in the JWKS", kid)
			}
			if k.alg != alg {
				return nil, fmt.Errorf("signed %s with key %s published for %s", alg, kid, k.alg)
			}
			return k.pub, nil
		})
	if alg == "" {
		h, _ := jwtHeader(tok)
		alg = h
	}
	head := fmt.Sprintf("%s kid %s", alg, orDash(kid))
	switch {
	case err != nil && strings.Contains(err.Error(), "not in the JWKS"):
		v.critf("kid %q is not in the JWKS at %s: no relying party can verify the token", kid, s.keys.uri)
	case err != nil:
		v.critf("the signature does not verify with the JWKS (%s): %s", s.keys.uri, shortJWTErr(err))
	default:
		if d, ok := history.publishedFor(s.identity, kid, time.Now()); ok && d < RotationOverlap {
			v.warnf("signed with key %s published only %s ago (rotation overlap: publish a new key well before signing with it; relying parties cache the JWKS)",
				kid, d.Round(time.Second))
		}
	}
	return head
}

// jwtHeader reads the alg of a JWT whose signature could not be checked.
func jwtHeader(tok *cred.Token) (string, error) {
	t, _, err := jwt.NewParser().ParseUnverified(tok.Bearer(), jwt.MapClaims{})
	if err != nil {
		return "", err
	}
	a, _ := t.Header["alg"].(string)
	return a, nil
}

func shortJWTErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}

// judgeClaims checks a token's claims against what was asked and the
// profile: iss, sub, aud and scope exactly as requested (never broader),
// exp/iat/jti/wlcg.ver present, the lifetime within 6 h (and, v1.1, at
// least 15 min), nbf back-dated (v1.1).
func judgeClaims(tok *cred.Token, req cred.TokenRequest, identity string, now time.Time, v *verdict) {
	c := tok.Claims()
	if strings.TrimSuffix(c.Issuer, "/") != identity {
		v.critf("iss is %q, not %s", c.Issuer, identity)
	}
	if c.Subject == "" {
		v.critf("no sub (%s)", ruleV10)
	}
	judgeAudience(c.Audience, req.Audience, v)
	judgeScope(c.Scopes, req.Scopes, v)
	switch {
	case c.Expiry.IsZero():
		v.critf("no exp (%s)", ruleV10)
	case !now.Before(c.Expiry):
		v.critf("issued already expired (exp %s)", c.Expiry.UTC().Format(time.RFC3339))
	}
	if c.IssuedAt.IsZero() {
		v.critf("no iat (%s)", ruleV10)
	} else if c.IssuedAt.After(now.Add(time.Minute)) {
		v.warnf("iat is %s in the future (issuer clock ahead)", c.IssuedAt.Sub(now).Round(time.Second))
	}
	if c.ID == "" {
		v.critf("no jti (%s)", ruleV10)
	}
	switch c.WLCGVersion {
	case "":
		v.critf("no wlcg.ver (%s)", ruleV10)
	case "1.0":
	default:
		v.warnf("wlcg.ver %q: scitokens-cpp (XRootD, HTCondor) accepts only \"1.0\"", c.WLCGVersion)
	}
	if !c.Expiry.IsZero() && !c.IssuedAt.IsZero() {
		switch life := c.Expiry.Sub(c.IssuedAt); {
		case life > MaxLifetime:
			v.critf("lifetime exp−iat %s is over %s (%s)", shortDur(life), shortDur(MaxLifetime), ruleV10)
		case life < MinLifetime:
			v.warnf("lifetime exp−iat %s is under %s (%s)", shortDur(life), shortDur(MinLifetime), ruleV11)
		}
	}
	switch {
	case c.NotBefore.IsZero():
		v.warnf("no nbf (%s back-dates nbf ~60 s; XRootD 5.5 refuses tokens without nbf)", ruleV11)
	case !c.IssuedAt.IsZero() && c.IssuedAt.Sub(c.NotBefore) < NbfBackdate:
		v.warnf("nbf is not back-dated (iat−nbf = %s; %s: ~60 s for clock skew)", c.IssuedAt.Sub(c.NotBefore).Round(time.Second), ruleV11)
	}
}

func judgeAudience(got []string, want string, v *verdict) {
	w := strings.TrimSuffix(want, "/")
	has := false
	var extra []string
	for _, a := range got {
		if strings.TrimSuffix(a, "/") == w {
			has = true
		} else {
			extra = append(extra, a)
		}
	}
	switch {
	case !has:
		v.critf("aud is %q, not the requested %s", strings.Join(got, " "), want)
	case len(extra) > 0:
		v.critf("aud is broader than requested: also %s", strings.Join(extra, ", "))
	}
}

func judgeScope(got, want []string, v *verdict) {
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	if len(missing) > 0 {
		v.critf("scope lacks the requested %s", strings.Join(missing, " "))
	}
	if len(extra) > 0 {
		v.critf("scope is broader than requested: also %s", strings.Join(extra, " "))
	}
}

func shortDur(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	case d >= time.Hour:
		s := strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	default:
		return d.Round(time.Second).String()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// reproToken is the token request by hand, with the credentials by file
// (never a secret or token on the line).
func (s *svc) reproToken() []string {
	tk := s.t.Config.Credentials.Token
	if s.meta == nil || tk.ClientID == "" {
		return nil
	}
	args := []string{"--data-urlencode", "scope=" + s.t.Service.Scope, "--data-urlencode", "audience=" + s.t.Audience()}
	switch {
	case tk.RefreshTokenFile != "":
		args = append([]string{"-d", "grant_type=refresh_token", "--data-urlencode", "refresh_token@" + tk.RefreshTokenFile}, args...)
	default:
		args = append([]string{"-d", "grant_type=client_credentials"}, args...)
	}
	if tk.ClientSecretFile != "" {
		// The secret is read by the shell from its file when the line runs.
		return []string{s.curl(args...) + " --user " + probe.Quote(tk.ClientID) + `:"$(cat ` + probe.Quote(tk.ClientSecretFile) + `)" ` +
			probe.Quote(s.meta.TokenEndpoint)}
	}
	return []string{s.curl(append(args, "-d", "client_id="+tk.ClientID, s.meta.TokenEndpoint)...)}
}
