package webdav

import (
	"context"
	"fmt"
	"net/url"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/protocol"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/registry"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// Type is the sites.yaml service type of this probe.
const Type = "webdav"

// Check ids of the WebDAV-only checks (the storage rules' ids are
// probes/storage's).
const (
	IDConnection   = "1connection"
	IDSSL          = "2ssl"
	IDCrtExtension = "3crt_extension"
	IDMacaroon     = "10macaroon"
)

// Without lists the rulebook's rules a WebDAV service does not run: ETF
// has no WebDAV containment checks (an HTTP client normalises ".." away).
var Without = []string{storage.IDCrtContain, storage.IDTknContain}

func init() {
	registry.Register(registry.Protocol{
		Spec: protocol.Spec{Type: Type, Kind: "SE-WebDAV", Schemes: []string{"https", "davs"},
			Canonical: map[string]string{"davs": "https"}, DefaultPort: "443", Storage: true,
			Flavours: []string{"WEBDAV"}, FeedURL: "https://$(endpoint)"},
		New:       New,
		Transport: openTransport,
	})
}

// svc is one service's state for one round.
type svc struct {
	t    probe.Target
	u    *url.URL
	tr   *transport
	book *storage.Book
}

// New builds the WebDAV service of a target: the rulebook's storage checks
// over HTTPS and the WebDAV-only ones, in ETF order. Credentials are loaded
// by the checks, so a missing or expired proxy is the detail of the checks
// that need it.
func New(t probe.Target) (*engine.Service, error) {
	s, err := newSvc(t)
	if err != nil {
		return nil, err
	}
	return s.service(), nil
}

// service is the ordered check list.
func (s *svc) service() *engine.Service {
	sv := s.t.NewService(Type)
	sv.Close = s.tr.close
	ssl := []string{IDSSL}
	own := []engine.Check{
		{ID: IDConnection, Credential: engine.CredNone, Run: s.runConnection},
		{ID: IDSSL, Credential: engine.CredNone, Requires: []string{IDConnection}, Run: s.runSSL, Reproduce: func() []string { return probe.ReproduceTLS(s.u) }},
		{ID: IDCrtExtension, Credential: engine.CredX509, Requires: ssl, Run: s.runCrtExtension},
		{ID: IDMacaroon, Credential: engine.CredX509, Requires: ssl, Run: s.runMacaroon},
	}
	sv.Checks = storage.Catalogue(own, s.book.Checks(IDSSL, Without...))
	return sv
}

func newSvc(t probe.Target) (*svc, error) {
	if t.Service == nil || t.Service.URL == nil {
		return nil, fmt.Errorf("webdav: service without url")
	}
	if t.Service.URL.Scheme != "https" {
		return nil, fmt.Errorf("webdav: %s: want an https:// (or davs://) URL", t.Service.RawURL)
	}
	if t.Creds == nil {
		return nil, fmt.Errorf("webdav: no credentials")
	}
	s := &svc{t: t, u: t.Service.URL, tr: newTransport(t.Service.URL, t.Creds)}
	s.book = storage.NewBook(t, s.tr)
	return s, nil
}

// openTransport is the registry's transport constructor (probe cleanup).
func openTransport(t probe.Target) (storage.Transport, func(), error) {
	s, err := newSvc(t)
	if err != nil {
		return nil, nil, err
	}
	return s.tr, s.tr.close, nil
}

// runConnection is the shared 1connection check (every address).
func (s *svc) runConnection(ctx context.Context, _ *engine.Env) engine.Outcome {
	return probe.Connection(ctx, s.u, nil)
}

// runSSL is the shared 2ssl check.
func (s *svc) runSSL(ctx context.Context, _ *engine.Env) engine.Outcome {
	ca, err := s.t.Creds.CA()
	if err != nil {
		return engine.Unknownf("cannot load the CA directory: %v", err)
	}
	return probe.TLS(ctx, s.u, ca, s.t.CertExpiryWarning())
}
