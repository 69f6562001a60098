package cred

// The OAuth2 token requests are written here rather than with
// golang.org/x/oauth2, which the package used before: x/oauth2 cannot send
// scope and audience with a refresh_token grant (its refresher takes no
// parameters), reads an error body as a query string when the issuer says
// text/plain (so `{"error":"invalid_client"}` loses its code), retries
// with every auth style on any error (AuthStyleAutoDetect) instead of once
// on invalid_client, and has no private_key_jwt. What is left is one form
// POST and one JSON answer (RFC 6749 §4.4, §6, §5.1–5.2; RFC 7523 §2.2).

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client authentication methods at the token endpoint (RFC 8414
// token_endpoint_auth_methods_supported).
const (
	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none" // a public client: client_id only
)

// Metadata is what an issuer's discovery document says, as far as the
// probe uses it.
type Metadata struct {
	Issuer          string   `json:"issuer"`
	TokenEndpoint   string   `json:"token_endpoint"`
	JWKSURI         string   `json:"jwks_uri"`
	AuthMethods     []string `json:"token_endpoint_auth_methods_supported"`
	AuthSigningAlgs []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	GrantTypes      []string `json:"grant_types_supported"`
	ScopesSupported []string `json:"scopes_supported"`
	// URL is where the document was read.
	URL string `json:"-"`
}

// WellKnownURLs are the discovery documents of an issuer reached at base,
// in the order they are tried: OpenID Connect Discovery, then RFC 8414
// (whose suffix goes between the host and the issuer's path).
func WellKnownURLs(base string) []string {
	base = strings.TrimSuffix(base, "/")
	oidc := base + "/.well-known/openid-configuration"
	u, err := url.Parse(base)
	if err != nil {
		return []string{oidc}
	}
	return []string{oidc, u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + u.Path}
}

// maxIssuerBody bounds what is read of an issuer's answer.
const maxIssuerBody = 1 << 20

// ReadMetadata reads one discovery document at docURL and checks it names
// issuer and an https token endpoint. Every error is an *IssuerFailure
// (stage "discovery"); an HTTP 404 also matches ErrNoDiscoveryDocument.
func ReadMetadata(ctx context.Context, hc *http.Client, docURL, issuer string) (*Metadata, error) {
	fail := func(format string, a ...any) (*Metadata, error) {
		return nil, issuerFailure(issuer, "discovery", true, "%s: "+format, append([]any{docURL}, a...)...)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, docURL, nil)
	if err != nil {
		return fail("%v", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportFailure(issuer, "discovery", docURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIssuerBody))
	if err != nil {
		return nil, transportFailure(issuer, "discovery", docURL, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fail("HTTP %s: %w", resp.Status, ErrNoDiscoveryDocument)
	case resp.StatusCode != http.StatusOK:
		return fail("HTTP %s", resp.Status)
	}
	var m Metadata
	if err := json.Unmarshal(body, &m); err != nil {
		return fail("not JSON (%s): %s", contentType(resp), snippet(body))
	}
	m.URL = docURL
	if strings.TrimSuffix(m.Issuer, "/") != strings.TrimSuffix(issuer, "/") {
		return fail("metadata names issuer %q, configured %q", m.Issuer, issuer)
	}
	if u, err := url.Parse(m.TokenEndpoint); err != nil || u.Scheme != "https" || u.Host == "" {
		return fail("token_endpoint %q is not an https URL", m.TokenEndpoint)
	}
	return &m, nil
}

// ErrNoDiscoveryDocument is matched by ReadMetadata's error when the
// document is not there (HTTP 404).
var ErrNoDiscoveryDocument = errors.New("no discovery document")

// FetchMetadata reads the issuer's discovery document from base (its URL,
// or where it is reached instead): openid-configuration, or, when that is
// 404, oauth-authorization-server.
func FetchMetadata(ctx context.Context, hc *http.Client, base, issuer string) (*Metadata, error) {
	docs := WellKnownURLs(base)
	for _, doc := range docs {
		m, err := ReadMetadata(ctx, hc, doc, issuer)
		if err == nil || !errors.Is(err, ErrNoDiscoveryDocument) {
			return m, err
		}
	}
	return nil, issuerFailure(issuer, "discovery", true, "%s: HTTP 404 Not Found (and %s)", docs[0], strings.Join(docs[1:], ", "))
}

// clientAuth is how the probe authenticates to the token endpoint: a
// secret (read from its file at every request, since it may be rotated), a
// private key for private_key_jwt, or nothing (a public client).
type clientAuth struct {
	ID         string
	SecretFile string
	KeyFile    string
}

// issuerClient talks to one issuer: discovery once, then token requests
// with the client authentication the issuer advertises. Safe for
// concurrent use.
type issuerClient struct {
	issuer  string // the issuer's identifier (its tokens' iss)
	base    string // where it is reached: issuer, or a node/proxy in front of it
	hc      *http.Client
	auth    clientAuth
	timeout time.Duration // for messages: how long a request may take

	mu       sync.Mutex
	meta     *Metadata
	disc     *discCall
	method   string // the auth method in use, once chosen
	fellBack bool   // basic was refused as invalid_client and post worked
}

type discCall struct {
	done chan struct{}
	meta *Metadata
	err  error
}

// newIssuerClient checks the URLs and builds the HTTPS client. caFile,
// when not empty, is a PEM file of CAs trusted besides the system ones.
func newIssuerClient(issuer, base, caFile string, auth clientAuth) (*issuerClient, error) {
	for _, s := range []string{issuer, base} {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("token issuer %q: want an https:// URL", s)
		}
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("token issuer CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("token issuer CA file %s: no PEM certificate", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	// Tokens are fetched in a burst at the start of a round and then come
	// from the cache: a connection idle that long will not be reused soon,
	// and its read loop should not outlive the round by the default 90s.
	tr.IdleConnTimeout = IdleConnTimeout
	return &issuerClient{issuer: strings.TrimSuffix(issuer, "/"), base: strings.TrimSuffix(base, "/"),
		hc: &http.Client{Transport: tr}, auth: auth}, nil
}

// metadata discovers the issuer once successfully; concurrent callers
// share one discovery and each gives up with its own context.
func (c *issuerClient) metadata(ctx context.Context) (*Metadata, error) {
	c.mu.Lock()
	if c.meta != nil {
		m := c.meta
		c.mu.Unlock()
		return m, nil
	}
	if call := c.disc; call != nil {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.meta, call.err
		case <-ctx.Done():
			return nil, c.wrapCtx("discovery", c.base, ctx.Err())
		}
	}
	call := &discCall{done: make(chan struct{})}
	c.disc = call
	c.mu.Unlock()
	m, err := FetchMetadata(ctx, c.hc, c.base, c.issuer)
	if err != nil {
		err = c.timeoutWords(err)
	}
	c.mu.Lock()
	call.meta, call.err, c.disc = m, err, nil
	if err == nil {
		c.meta = m
	}
	c.mu.Unlock()
	close(call.done)
	return m, err
}

// timeoutWords rewrites a deadline error as "no answer within <timeout>".
func (c *issuerClient) timeoutWords(err error) error {
	var f *IssuerFailure
	if errors.As(err, &f) && errors.Is(f.Err, context.DeadlineExceeded) {
		return issuerFailure(f.Issuer, f.Stage, true, "no answer within %s (timeout)", c.timeoutText())
	}
	return err
}

func (c *issuerClient) wrapCtx(stage, endpoint string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return issuerFailure(c.issuer, stage, true, "%s: no answer within %s (timeout)", endpoint, c.timeoutText())
	}
	return fmt.Errorf("waiting for the issuer %s: %w", c.issuer, err)
}

func (c *issuerClient) timeoutText() string {
	if c.timeout <= 0 {
		return "the deadline"
	}
	return c.timeout.String()
}

// chooseMethod picks the client authentication for the advertised
// methods: private_key_jwt with a key, else client_secret_basic (the
// default when the issuer advertises nothing, RFC 8414 §2), else
// client_secret_post, else none for a public client.
func (c *issuerClient) chooseMethod(m *Metadata) (string, error) {
	adv := m.AuthMethods
	ok := func(method string) bool {
		return len(adv) == 0 && method == AuthSecretBasic || slices.Contains(adv, method)
	}
	switch {
	case c.auth.KeyFile != "":
		if len(adv) > 0 && !slices.Contains(adv, AuthPrivateKeyJWT) {
			return "", fmt.Errorf("a client key is configured but the issuer %s does not accept private_key_jwt (it advertises %s)", c.issuer, strings.Join(adv, ", "))
		}
		return AuthPrivateKeyJWT, nil
	case c.auth.SecretFile != "":
		for _, method := range []string{AuthSecretBasic, AuthSecretPost} {
			if ok(method) {
				return method, nil
			}
		}
		return "", fmt.Errorf("the issuer %s accepts no client secret (it advertises %s)", c.issuer, strings.Join(adv, ", "))
	default:
		return AuthNone, nil
	}
}

// AuthMethod is the client authentication in use ("" before the first
// request), e.g. "client_secret_post (client_secret_basic refused)".
func (c *issuerClient) AuthMethod() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fellBack {
		return c.method + " (" + AuthSecretBasic + " refused as invalid_client)"
	}
	return c.method
}

// tokenAnswer is a successful token endpoint answer (RFC 6749 §5.1).
type tokenAnswer struct {
	AccessToken  string
	TokenType    string
	ExpiresIn    time.Duration // 0: not given
	RefreshToken string
	Scope        string
	Latency      time.Duration
}

// post sends one grant to the token endpoint with the client's
// authentication; an invalid_client answer to client_secret_basic is
// retried once with client_secret_post when the issuer accepts it (some
// issuers do not form-decode the Basic credentials, RFC 6749 §2.3.1), and
// post is used from then on.
func (c *issuerClient) post(ctx context.Context, grant url.Values, req TokenRequest) (*tokenAnswer, error) {
	m, err := c.metadata(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	method := c.method
	if method == "" {
		if method, err = c.chooseMethod(m); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.method = method
	}
	c.mu.Unlock()
	ans, err := c.postWith(ctx, m, method, grant, req)
	var ie *IssuerError
	if method == AuthSecretBasic && errors.As(err, &ie) && ie.Code == "invalid_client" &&
		(len(m.AuthMethods) == 0 || slices.Contains(m.AuthMethods, AuthSecretPost)) {
		if ans, err2 := c.postWith(ctx, m, AuthSecretPost, grant, req); err2 == nil {
			c.mu.Lock()
			c.method, c.fellBack = AuthSecretPost, true
			c.mu.Unlock()
			return ans, nil
		}
	}
	return ans, err
}

func (c *issuerClient) postWith(ctx context.Context, m *Metadata, method string, grant url.Values, req TokenRequest) (*tokenAnswer, error) {
	form := url.Values{}
	for k, v := range grant {
		form[k] = v
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, m.TokenEndpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("token request: %w", err)
	}
	if err := c.authenticate(hreq, form, method, m.TokenEndpoint); err != nil {
		return nil, err
	}
	body := form.Encode()
	hreq.Body = io.NopCloser(strings.NewReader(body))
	hreq.ContentLength = int64(len(body))
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, c.timeoutWords(transportFailure(c.issuer, "token endpoint", m.TokenEndpoint, err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxIssuerBody))
	if err != nil {
		return nil, c.timeoutWords(transportFailure(c.issuer, "token endpoint", m.TokenEndpoint, err))
	}
	ans, err := c.parseAnswer(resp, raw, m.TokenEndpoint, req)
	if ans != nil {
		ans.Latency = time.Since(start)
	}
	return ans, err
}

// authenticate adds the client's credentials to the request as method
// says. The secret is registered for redaction before it is used.
func (c *issuerClient) authenticate(hreq *http.Request, form url.Values, method, endpoint string) error {
	switch method {
	case AuthNone:
		form.Set("client_id", c.auth.ID)
		return nil
	case AuthPrivateKeyJWT:
		assertion, err := clientAssertion(c.auth, endpoint)
		if err != nil {
			return err
		}
		form.Set("client_id", c.auth.ID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
		return nil
	}
	secret, err := os.ReadFile(c.auth.SecretFile)
	if err != nil {
		return fmt.Errorf("client secret: %w", err)
	}
	sec := strings.TrimSpace(string(secret))
	if sec == "" {
		return fmt.Errorf("client secret file %s is empty", c.auth.SecretFile)
	}
	RegisterSecret(sec)
	if method == AuthSecretPost {
		form.Set("client_id", c.auth.ID)
		form.Set("client_secret", sec)
		return nil
	}
	// RFC 6749 §2.3.1: id and secret are form-urlencoded, then Basic.
	hreq.SetBasicAuth(formEncode(c.auth.ID), formEncode(sec))
	return nil
}

// formEncode is application/x-www-form-urlencoded for one value (space as
// '+'), as RFC 6749 §2.3.1 asks before Basic encoding.
func formEncode(s string) string { return url.QueryEscape(s) }

// oauthBody is a token endpoint answer, success or error (RFC 6749 §5.1,
// §5.2).
type oauthBody struct {
	AccessToken  string          `json:"access_token"`
	TokenType    string          `json:"token_type"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	RefreshToken string          `json:"refresh_token"`
	Scope        string          `json:"scope"`
	Error        string          `json:"error"`
	Description  string          `json:"error_description"`
}

// decodeOAuth reads an answer whatever content type it claims: JSON
// first (issuers send JSON as text/plain or text/html), then a
// form-encoded body (older issuers). ok is false when it is neither.
func decodeOAuth(raw []byte) (oauthBody, bool) {
	var b oauthBody
	if json.Unmarshal(bytes.TrimSpace(raw), &b) == nil {
		return b, true
	}
	vals, err := url.ParseQuery(strings.TrimSpace(string(raw)))
	if err != nil || (vals.Get("access_token") == "" && vals.Get("error") == "") {
		return oauthBody{}, false
	}
	b = oauthBody{AccessToken: vals.Get("access_token"), TokenType: vals.Get("token_type"), RefreshToken: vals.Get("refresh_token"),
		Scope: vals.Get("scope"), Error: vals.Get("error"), Description: vals.Get("error_description")}
	if e := vals.Get("expires_in"); e != "" {
		b.ExpiresIn = json.RawMessage(strconv.Quote(e))
	}
	return b, true
}

func (c *issuerClient) parseAnswer(resp *http.Response, raw []byte, endpoint string, req TokenRequest) (*tokenAnswer, error) {
	b, ok := decodeOAuth(raw)
	if ok {
		// Whatever the outcome, keep what the issuer sent out of output.
		registerToken(b.AccessToken, time.Time{})
		registerSecret(b.RefreshToken, time.Time{})
	}
	status := resp.StatusCode
	if status < 200 || status > 299 {
		ie := &IssuerError{Issuer: c.issuer, Status: status, Code: b.Error, Description: Redact(b.Description),
			Scopes: req.Scopes, Audience: req.Audience}
		if ie.Code == "" {
			ie.Code = "(no OAuth error code)"
			ie.Description = fmt.Sprintf("%s: %s", contentType(resp), snippet(raw))
		}
		if status >= 500 {
			return nil, &IssuerFailure{Issuer: c.issuer, Stage: "token endpoint", Outage: true, Err: ie}
		}
		return nil, ie
	}
	if ok && b.AccessToken == "" && b.Error != "" {
		return nil, &IssuerError{Issuer: c.issuer, Status: status, Code: b.Error, Description: Redact(b.Description),
			Scopes: req.Scopes, Audience: req.Audience}
	}
	if !ok {
		return nil, issuerFailure(c.issuer, "token endpoint", true, "%s answered HTTP %d without a token (%s): %s",
			endpoint, status, contentType(resp), snippet(raw))
	}
	if b.AccessToken == "" {
		return nil, issuerFailure(c.issuer, "token endpoint", true, "%s answered HTTP %d without an access_token", endpoint, status)
	}
	if b.TokenType != "" && !strings.EqualFold(b.TokenType, "bearer") {
		return nil, issuerFailure(c.issuer, "token endpoint", false, "%s issued a %q token, not a Bearer token", endpoint, b.TokenType)
	}
	ans := &tokenAnswer{AccessToken: b.AccessToken, TokenType: b.TokenType, RefreshToken: b.RefreshToken, Scope: b.Scope}
	if len(b.ExpiresIn) > 0 {
		var n json.Number
		s := strings.Trim(string(b.ExpiresIn), `"`)
		if err := json.Unmarshal([]byte(s), &n); err == nil {
			if f, err := n.Float64(); err == nil && f > 0 {
				ans.ExpiresIn = time.Duration(f * float64(time.Second))
			}
		}
	}
	return ans, nil
}

func contentType(resp *http.Response) string {
	ct, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || ct == "" {
		return "no content type"
	}
	return ct
}

// tokenish matches words that could be credentials (long base64-like
// runs); snippet hides them.
var tokenish = regexp.MustCompile(`[A-Za-z0-9_\-+/=.~]{24,}`)

// snippet is the start of an unexpected answer, for an error message: one
// line, at most 120 characters, with anything token-like hidden.
func snippet(raw []byte) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if s == "" {
		return "(empty body)"
	}
	s = tokenish.ReplaceAllString(Redact(s), "[…]")
	if len(s) > 120 {
		cut := 117
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
