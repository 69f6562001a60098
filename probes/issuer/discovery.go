package issuer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// runDiscovery reads both discovery documents. Neither there, or one that
// is broken (names another issuer, a token endpoint over http://, not
// JSON, an error status), is CRITICAL; a missing or non-https jwks_uri is
// CRITICAL (relying parties cannot get the keys); two documents that
// disagree are a WARNING.
func (s *svc) runDiscovery(ctx context.Context, _ *engine.Env) engine.Outcome {
	start := time.Now()
	var found []*cred.Metadata
	var absent []string
	for _, doc := range cred.WellKnownURLs(s.u.String()) {
		m, err := cred.ReadMetadata(ctx, s.hc, doc, s.identity)
		switch {
		case errors.Is(err, cred.ErrNoDiscoveryDocument):
			absent = append(absent, docName(doc))
		case err != nil:
			return engine.Critf("%v", err)
		default:
			found = append(found, m)
		}
	}
	took := time.Since(start)
	if len(found) == 0 {
		return engine.Critf("no discovery document at %s (HTTP 404 for %s)", s.u, strings.Join(absent, " and "))
	}
	m := found[0]
	if u, err := url.Parse(m.JWKSURI); err != nil || u.Scheme != "https" || u.Host == "" {
		return engine.Critf("%s: jwks_uri %q is not an https URL: relying parties cannot fetch the issuer's keys", m.URL, m.JWKSURI)
	}
	s.meta = m
	var warn []string
	for _, o := range found[1:] {
		if o.TokenEndpoint != m.TokenEndpoint || o.JWKSURI != m.JWKSURI {
			warn = append(warn, fmt.Sprintf("%s and %s disagree (token endpoint %s vs %s, jwks_uri %s vs %s)",
				docName(m.URL), docName(o.URL), m.TokenEndpoint, o.TokenEndpoint, m.JWKSURI, o.JWKSURI))
		}
	}
	docs := make([]string, len(found))
	for i, f := range found {
		docs[i] = docName(f.URL)
	}
	detail := fmt.Sprintf("%s name issuer %s; token endpoint %s; jwks_uri %s; client authentication %s; grants %s",
		strings.Join(docs, " and "), s.identity, m.TokenEndpoint, m.JWKSURI, listOr(m.AuthMethods, "not advertised (client_secret_basic)"),
		listOr(m.GrantTypes, "not advertised"))
	o := engine.Okf("%s", detail)
	if len(warn) > 0 {
		o = engine.Warnf("%s; %s", strings.Join(warn, "; "), detail)
	}
	o.Perf = []engine.Perf{{Label: "discovery_time", Value: took.Seconds(), Unit: "s"}}
	return o
}

// docName is which discovery document a URL is.
func docName(u string) string {
	if strings.Contains(u, "/.well-known/openid-configuration") {
		return "openid-configuration"
	}
	return "oauth-authorization-server"
}

func listOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ", ")
}

func (s *svc) reproDiscovery() []string {
	var out []string
	for _, doc := range cred.WellKnownURLs(s.u.String()) {
		out = append(out, s.curl(doc))
	}
	return out
}
