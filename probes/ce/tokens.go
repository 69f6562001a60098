package ce

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// credUnknown is the UNKNOWN of a check that could not get its credential:
// the issuer's (central) fault when the issuer failed, else the probe's.
func credUnknown(err error, format string, a ...any) engine.Outcome {
	o := engine.Unknownf(format, a...)
	if cred.IsCentral(err) {
		o.Party = engine.PartyCentral
	}
	return o
}

// UntrustedIssuer is the iss of the token from an issuer no CE trusts.
const UntrustedIssuer = "https://untrusted-issuer.gridprobe.invalid"

// badToken is a token tkn-access expects the CE to refuse.
type badToken struct {
	name string // what is wrong with it, e.g. "forged signature"
	tok  *cred.Token
	// soft: accepting it is a WARNING, not a CRITICAL (audience checks
	// are a CE option).
	soft bool
}

// rogueKey signs forged tokens: generated once per process, never published.
var rogueKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// forge signs a copy of the good token's claims with a key no issuer
// published, claiming issuer iss.
func forge(good *cred.Token, iss, desc string) (*cred.Token, error) {
	k, err := rogueKey()
	if err != nil {
		return nil, fmt.Errorf("forging a token: %w", err)
	}
	c := good.Claims()
	now := time.Now()
	var jti [8]byte
	_, _ = rand.Read(jti[:])
	claims := jwt.MapClaims{
		"iss": iss, "sub": c.Subject, "scope": strings.Join(c.Scopes, " "),
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(20 * time.Minute).Unix(),
		"jti": "gridprobe-forged-" + hex.EncodeToString(jti[:]), "wlcg.ver": "1.0",
	}
	if len(c.Audience) == 1 {
		claims["aud"] = c.Audience[0]
	} else if len(c.Audience) > 1 {
		claims["aud"] = c.Audience
	}
	jt := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	jt.Header["kid"] = "gridprobe-rogue"
	raw, err := jt.SignedString(k)
	if err != nil {
		return nil, fmt.Errorf("forging a token: %w", err)
	}
	return cred.NewToken(raw, desc)
}

// badTokens prepares the refusal cases for a CE with audience aud: forged
// (the real issuer's name and claims, signed with a key it never
// published), untrusted issuer, expired (from ExpiredTokenEnv) and another
// audience (OtherAudience).
// notes lists what could not be tested and why.
func badTokens(ctx context.Context, creds *probe.Credentials, good *cred.Token, aud string, scopes []string) ([]badToken, []string, error) {
	if !good.IsJWT() {
		return nil, nil, fmt.Errorf("the token source gives an opaque token: cannot derive refusal cases")
	}
	var cases []badToken
	var notes []string
	iss := good.Claims().Issuer
	forged, err := forge(good, iss, "forged token")
	if err != nil {
		return nil, nil, err
	}
	cases = append(cases, badToken{name: "forged signature", tok: forged})
	untrusted, err := forge(good, UntrustedIssuer, "untrusted-issuer token")
	if err != nil {
		return nil, nil, err
	}
	cases = append(cases, badToken{name: "untrusted issuer", tok: untrusted})

	if f := os.Getenv(ExpiredTokenEnv); f == "" {
		notes = append(notes, "expired: not tested (set "+ExpiredTokenEnv+")")
	} else if raw, err := os.ReadFile(f); err != nil {
		notes = append(notes, fmt.Sprintf("expired: not tested (%s: %v)", ExpiredTokenEnv, err))
	} else if et, err := cred.NewToken(string(raw), ExpiredTokenEnv); err != nil {
		notes = append(notes, fmt.Sprintf("expired: not tested (%v)", err))
	} else if ec := et.Claims(); ec.Expiry.IsZero() || time.Now().Before(ec.Expiry) {
		notes = append(notes, "expired: not tested (the token in "+ExpiredTokenEnv+" has not expired)")
	} else if !ec.HasAudience(aud) {
		notes = append(notes, "expired: not tested (the token in "+ExpiredTokenEnv+" is not for "+aud+")")
	} else {
		cases = append(cases, badToken{name: "expired " + shortAge(time.Since(ec.Expiry)) + " ago", tok: et})
	}

	other, err := creds.Token(ctx, OtherAudience, scopes...)
	switch {
	case err != nil:
		notes = append(notes, fmt.Sprintf("other audience: not tested (%v)", err))
	case !other.Narrowed || other.Claims().HasAudience(aud):
		notes = append(notes, "other audience: not tested (the token source gives one token for all audiences)")
	default:
		cases = append(cases, badToken{name: "other audience", tok: other, soft: true})
	}
	return cases, notes, nil
}

func shortAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return d.Round(time.Second).String()
	}
}

// verdicts collects what the CE did with each bad token.
type verdicts struct {
	ok, broken, soft, unclear []string
	// asError: refused, but signalled as a server error (5xx) instead of
	// 401/403, so clients and monitoring cannot tell it from a fault.
	asError []string
}

func (v *verdicts) refusedAsError(bt badToken, how string) {
	v.asError = append(v.asError, fmt.Sprintf("%s (%s)", bt.name, how))
}

func (v *verdicts) refused(bt badToken, how string) {
	v.ok = append(v.ok, fmt.Sprintf("%s (%s)", bt.name, how))
}

func (v *verdicts) accepted(bt badToken) {
	if bt.soft {
		v.soft = append(v.soft, bt.name+" accepted (the CE does not check audiences)")
		return
	}
	v.broken = append(v.broken, bt.name+" ACCEPTED")
}

func (v *verdicts) noAnswer(bt badToken, err error) {
	v.unclear = append(v.unclear, fmt.Sprintf("%s: no clear answer (%v)", bt.name, err))
}

func (v *verdicts) outcome(notes []string) engine.Outcome {
	n := len(v.ok) + len(v.broken) + len(v.soft) + len(v.unclear) + len(v.asError)
	tail := ""
	if len(notes) > 0 {
		tail = "; " + strings.Join(notes, "; ")
	}
	switch {
	case len(v.broken) > 0 || len(v.unclear) > 0:
		bad := append(append([]string{}, v.broken...), v.unclear...)
		return engine.Critf("%d of %d bad tokens not refused: %s; refused: %s%s", len(bad), n, strings.Join(bad, "; "), orNone(slices.Concat(v.ok, v.asError)), tail)
	case len(v.soft) > 0 || len(v.asError) > 0:
		var warn []string
		if len(v.asError) > 0 {
			warn = append(warn, fmt.Sprintf("%d of %d bad tokens refused with a server error instead of 401/403 (RFC 6750 §3.1; clients retry or report a fault): %s",
				len(v.asError), n, strings.Join(v.asError, ", ")))
		}
		warn = append(warn, v.soft...)
		return engine.Warnf("%s; refused: %s%s", strings.Join(warn, "; "), orNone(v.ok), tail)
	}
	return engine.Okf("all %d bad tokens refused: %s%s", len(v.ok), strings.Join(v.ok, ", "), tail)
}
