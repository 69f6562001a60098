package webdav

import (
	"context"
	"crypto/tls"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/probes/httptpc"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// transport is storage.Transport over HTTPS: one HTTP client (connection
// pool, TLS session cache) per TLS identity; tokens and macaroons ride on
// the client without a certificate.
type transport struct {
	u     *url.URL
	creds *probe.Credentials

	mu      sync.Mutex
	clients map[string]*client
	tpc     map[string]*httptpc.Client // third-party copies, per TLS identity (tpc.go)
	// uncertain: a PUT or MKCOL got no answer (timeout, reset); the final
	// sweep then waits for late server operations.
	uncertain atomic.Bool
}

var _ storage.Transport = (*transport)(nil)

func newTransport(u *url.URL, creds *probe.Credentials) *transport {
	return &transport{u: u, creds: creds, clients: map[string]*client{}}
}

// bearerKind keys the client without a certificate.
const bearerKind = "token"

// client returns the client of a TLS identity (cert nil: none).
func (t *transport) client(kind string, cert *tls.Certificate) (*client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clients[kind]; ok {
		return c, nil
	}
	ca, err := t.creds.CA()
	if err != nil {
		return nil, &storage.CredError{Err: err}
	}
	c := newClient(t.u, ca.TLSConfig(t.u.Host, cert), kind)
	c.uncertain = &t.uncertain
	t.clients[kind] = c
	return c, nil
}

func (t *transport) Proxy(_ context.Context, role storage.Role, p *cred.Proxy) (storage.Store, error) {
	c, err := t.client(role.String(), &p.Cert)
	if err != nil {
		return nil, err
	}
	return store{c: c}, nil
}

func (t *transport) Token(_ context.Context, tok *cred.Token) (storage.Store, error) {
	c, err := t.client(bearerKind, nil)
	if err != nil {
		return nil, err
	}
	return store{c: c, tok: tok}, nil
}

// lateWrites is how long the final sweep waits when a creating request got
// no answer: the server may carry it out after the client gave up.
const lateWrites = 3 * time.Second

func (t *transport) LateWrites() time.Duration {
	if t.uncertain.Load() {
		return lateWrites
	}
	return 0
}

func (t *transport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.clients {
		c.close()
	}
	for _, c := range t.tpc {
		c.Close()
	}
}
