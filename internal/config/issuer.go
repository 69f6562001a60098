package config

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gridprobe/gridprobe/internal/protocol"
)

// DefaultIssuerScope is what the token check of an issuer service asks
// for when the service names no scope.
const DefaultIssuerScope = "storage.read:/"

// tokenMore reads the token keys that go with an issuer besides client
// credentials: refresh_token_file, client_key_file and issuer_url. It
// reports whether client_secret_file may then be left out (a refresh token
// of a public client, or a key for private_key_jwt).
func (d *decoder) tokenMore(t *fields, tok *Token, issuer string, issuerOK bool) (secretOptional bool) {
	var rtNode, keyNode, urlNode *yaml.Node
	tok.RefreshTokenFile, rtNode = d.str(t, "refresh_token_file", "refresh_token_file")
	tok.ClientKeyFile, keyNode = d.str(t, "client_key_file", "client_key_file")
	var u string
	u, urlNode = d.str(t, "issuer_url", "issuer_url")
	if urlNode != nil && d.url("issuer_url", u, urlNode, []string{"https"}, "https", "the token issuer") != nil {
		tok.IssuerURL = u
	}
	if issuer == "" {
		if !issuerOK {
			return true // the issuer's own error is enough
		}
		for _, k := range []struct {
			key  string
			node *yaml.Node
		}{{"refresh_token_file", rtNode}, {"client_key_file", keyNode}, {"issuer_url", urlNode}} {
			if k.node != nil {
				d.errorf(t.keyNode(k.key), "token: %s is only used with issuer", k.key)
			}
		}
		return true
	}
	if keyNode != nil && t.has("client_secret_file") {
		d.errorf(t.keyNode("client_key_file"), "token: set either client_secret_file or client_key_file (private_key_jwt), not both")
	}
	return rtNode != nil || keyNode != nil
}

// issuerService reads the keys of an issuer service (issuer, scope; the
// protocol registry refuses them for other types) and gives an issuer the
// storage interval: it is checked as often as the token checks that
// depend on it.
func (d *decoder) issuerService(f *fields, svc *Service, c *Config) {
	if spec, ok := protocol.Lookup(svc.Type); !ok || !spec.Takes("issuer") {
		return
	}
	if s, n := d.str(f, "issuer", "issuer"); n != nil {
		if d.url("issuer", s, n, []string{"https"}, "https", "an issuer's identifier") != nil {
			svc.Issuer = strings.TrimSuffix(s, "/")
		}
	} else if svc.URL != nil {
		svc.Issuer = strings.TrimSuffix(svc.URL.String(), "/")
	}
	svc.Scope = DefaultIssuerScope
	if s, n := d.str(f, "scope", "scope"); n != nil {
		svc.Scope = strings.Join(strings.Fields(s), " ")
	}
	if !f.has("interval") {
		svc.Interval = c.Defaults.StorageInterval
	}
}
