package xrootd

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/protocol"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/registry"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// Type is the sites.yaml service type of this probe.
const Type = "xrootd"

// Check ids of the XRootD-only checks (the storage rules' ids are
// probes/storage's).
const (
	IDConnection = "1connection"
	IDVersion    = "3version"
	IDFederation = "9federation"
)

func init() {
	registry.Register(registry.Protocol{
		Spec: protocol.Spec{Type: Type, Kind: "SE-XRootD", Schemes: []string{"root", "roots"},
			DefaultPort: "1094", Storage: true, Keys: []string{"federation"},
			Flavours: []string{"XROOTD", "XROOTD ORIGIN SERVER", "XROOTD COMPONENT"}, FeedURL: "root://$(endpoint)"},
		New:       New,
		Transport: openTransport,
	})
}

// svc is one service's state for one round.
type svc struct {
	t    probe.Target
	u    *url.URL
	url  string // endpoint URL without path
	aud  string
	tr   *transport
	book *storage.Book
}

// New builds the XRootD service of a target: the rulebook's storage checks
// over root:// and the XRootD-only ones (3version, and 9federation where a
// redirector is configured), in ETF order. Every rule requires 3version.
func New(t probe.Target) (*engine.Service, error) {
	s, err := newSvc(t)
	if err != nil {
		return nil, err
	}
	sv := t.NewService(Type)
	sv.Close = s.tr.close
	ver := []string{IDVersion}
	own := []engine.Check{
		{ID: IDConnection, Credential: engine.CredNone, Run: s.runConnection},
		{ID: IDVersion, Credential: engine.CredNone, Requires: []string{IDConnection}, Run: s.runVersion, Reproduce: s.reproVersion},
	}
	if t.Service.Federation != "" {
		own = append(own, engine.Check{ID: IDFederation, Credential: engine.CredX509, Requires: ver, Run: s.runFederation, Reproduce: s.reproFederation})
	}
	sv.Checks = storage.Catalogue(own, s.book.Checks(IDVersion))
	return sv, nil
}

func newSvc(t probe.Target) (*svc, error) {
	if t.Service == nil || t.Service.URL == nil {
		return nil, fmt.Errorf("xrootd: service without url")
	}
	switch t.Service.URL.Scheme {
	case "root", "roots":
	default:
		return nil, fmt.Errorf("xrootd: %s: want a root:// or roots:// URL", t.Service.RawURL)
	}
	if t.Creds == nil {
		return nil, fmt.Errorf("xrootd: no credentials")
	}
	u := *t.Service.URL
	u.Path, u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", "", nil
	s := &svc{t: t, u: &u, url: u.String(), aud: t.Audience(), tr: newTransport(&u, t.Creds)}
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

// failure turns an error of an XRootD-only check into an outcome: the
// probe's own set-up problems are UNKNOWN, everything the endpoint did (or
// did not do in time) is CRITICAL.
func failure(format string, err error, a ...any) engine.Outcome {
	if storage.IsCred(err) {
		return engine.Unknownf(format, append(a, errText(err))...)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return engine.Critf(format, append(a, "timed out: "+errText(err))...)
	}
	return engine.Critf(format, append(a, errText(err))...)
}
