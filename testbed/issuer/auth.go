package main

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// assertionType is the client_assertion_type of private_key_jwt (RFC 7523).
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// authenticate finds the client of a token request: HTTP Basic (id and
// secret form-urlencoded first, RFC 6749 §2.3.1), client_secret_post, or
// private_key_jwt. It returns the method used.
func (is *Issuer) authenticate(r *http.Request) (*Client, string, error) {
	form := r.PostForm
	if id, secret, basic := r.BasicAuth(); basic {
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
		return is.bySecret(id, secret, "client_secret_basic")
	}
	if a := form.Get("client_assertion"); a != "" {
		c, err := is.byAssertion(form.Get("client_id"), form.Get("client_assertion_type"), a)
		return c, "private_key_jwt", err
	}
	return is.bySecret(form.Get("client_id"), form.Get("client_secret"), "client_secret_post")
}

func (is *Issuer) bySecret(id, secret, how string) (*Client, string, error) {
	c, ok := is.Clients[id]
	if !ok || secret == "" || c.secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1 {
		return nil, how, errors.New("unknown client or bad secret")
	}
	return c, how, nil
}

// byAssertion checks a private_key_jwt assertion (RFC 7523 §3): signed by
// the client's registered key, iss = sub = the client, aud = this token
// endpoint or the issuer, not expired, jti not seen before.
func (is *Issuer) byAssertion(id, typ, assertion string) (*Client, error) {
	if typ != assertionType {
		return nil, fmt.Errorf("client_assertion_type %q not supported", typ)
	}
	claims := jwt.MapClaims{}
	_, _, err := jwt.NewParser().ParseUnverified(assertion, claims)
	if err != nil {
		return nil, errors.New("client_assertion is not a JWT")
	}
	sub, _ := claims["sub"].(string)
	if id != "" && id != sub {
		return nil, errors.New("client_id and the assertion's sub differ")
	}
	c, ok := is.Clients[sub]
	if !ok || c.pub == nil {
		return nil, errors.New("unknown client or no registered key")
	}
	var verified jwt.MapClaims
	var lastErr error
	for _, aud := range []string{is.publicURL() + "/token", is.URL + "/token", is.URL} {
		verified = jwt.MapClaims{}
		_, lastErr = jwt.NewParser(jwt.WithValidMethods([]string{AlgRS256, AlgES256}), jwt.WithIssuer(sub),
			jwt.WithSubject(sub), jwt.WithAudience(aud), jwt.WithExpirationRequired(), jwt.WithTimeFunc(is.Now)).
			ParseWithClaims(assertion, verified, func(*jwt.Token) (any, error) { return c.pub, nil })
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("client assertion refused: %v", lastErr)
	}
	jti, _ := verified["jti"].(string)
	exp, _ := verified.GetExpirationTime()
	if jti == "" || exp == nil {
		return nil, errors.New("client assertion without jti or exp")
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.assertions == nil {
		is.assertions = map[string]time.Time{}
	}
	now := is.Now()
	for k, e := range is.assertions {
		if now.After(e) {
			delete(is.assertions, k)
		}
	}
	if _, seen := is.assertions[jti]; seen {
		return nil, errors.New("client assertion replayed (jti seen before)")
	}
	is.assertions[jti] = exp.Time
	return c, nil
}

// refreshTyp marks the issuer's refresh tokens (a JWT header typ), so an
// access token is never accepted as one.
const refreshTyp = "refresh+jwt"

// signRefresh makes a refresh token: a JWT signed with the issuer's key,
// naming the client and the scopes it may later ask for.
func (is *Issuer) signRefresh(c *Client, scopes []string, k *Key) (string, error) {
	jti, err := newJTI()
	if err != nil {
		return "", err
	}
	now := is.Now()
	life := is.RefreshLifetime
	if life <= 0 {
		life = 30 * 24 * time.Hour
	}
	t := jwt.NewWithClaims(k.Method(), jwt.MapClaims{
		"iss": is.URL, "sub": c.Sub, "client_id": c.ID, "scope": strings.Join(scopes, " "),
		"iat": now.Unix(), "exp": now.Add(life).Unix(), "jti": jti,
	})
	t.Header["kid"], t.Header["typ"] = k.Kid, refreshTyp
	s, err := t.SignedString(k.Signer)
	if err != nil {
		return "", fmt.Errorf("sign refresh token: %w", err)
	}
	return s, nil
}

// checkRefresh verifies a refresh token for client c and returns the
// scopes it allows.
func (is *Issuer) checkRefresh(rt string, c *Client) ([]string, error) {
	if rt == "" {
		return nil, errors.New("no refresh_token")
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(jwt.WithValidMethods([]string{AlgRS256, AlgES256}), jwt.WithIssuer(is.URL),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(is.Now)).
		ParseWithClaims(rt, claims, func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			for _, k := range is.Keys.Trusted {
				if k.Kid == kid {
					return k.Signer.Public(), nil
				}
			}
			return nil, fmt.Errorf("unknown kid %q", kid)
		})
	if err != nil {
		return nil, fmt.Errorf("refresh token refused: %v", err)
	}
	if typ, _ := tok.Header["typ"].(string); typ != refreshTyp {
		return nil, errors.New("not a refresh token")
	}
	if id, _ := claims["client_id"].(string); id != c.ID {
		return nil, errors.New("refresh token was issued to another client")
	}
	scope, _ := claims["scope"].(string)
	return strings.Fields(scope), nil
}
