// Package registry is where each protocol probe registers itself: its
// service type (internal/protocol.Spec: type name, URL schemes, default
// port, ETF service kind, storage or not), the constructor of a service's
// checks and, for storage elements, the constructor of its storage
// transport (what `probe cleanup` lists and removes leftovers through).
//
// A probe package calls Register from its init function; probes/all
// links every probe into a binary. Adding a protocol is its own folder
// under probes/ plus one import line in probes/all.
package registry

import (
	"context"
	"fmt"
	"sync"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/protocol"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// Protocol is one registered service type with its probe.
type Protocol struct {
	protocol.Spec
	// New builds a configured service's ordered checks.
	New func(t probe.Target) (*engine.Service, error)
	// Transport opens a storage service's transport (nil for compute
	// elements); closeFn releases its connections.
	Transport func(t probe.Target) (tr storage.Transport, closeFn func(), err error)
}

var (
	mu     sync.RWMutex
	probes = map[string]Protocol{}
)

// Register adds a protocol; it panics on a duplicate or incomplete
// registration (registrations are code, run at start-up).
func Register(p Protocol) {
	if p.New == nil || p.Storage != (p.Transport != nil) {
		panic("registry: " + p.Type + ": a constructor is required, and a transport exactly for storage types")
	}
	protocol.Register(p.Spec)
	mu.Lock()
	defer mu.Unlock()
	probes[p.Type] = p
}

// Lookup returns the protocol registered for a service type.
func Lookup(typ string) (Protocol, bool) {
	mu.RLock()
	defer mu.RUnlock()
	p, ok := probes[typ]
	return p, ok
}

// OpenStore opens a storage service's storage with the probe's own proxy
// (what `probe cleanup` lists and removes leftovers through); closeFn
// releases its connections.
func OpenStore(ctx context.Context, t probe.Target) (st storage.Store, closeFn func(), err error) {
	p, ok := Lookup(t.Service.Type)
	if !ok || p.Transport == nil {
		return nil, nil, fmt.Errorf("service type %s has no storage transport", t.Service.Type)
	}
	proxy, err := t.Creds.Proxy()
	if err != nil {
		return nil, nil, err
	}
	tr, closeFn, err := p.Transport(t)
	if err != nil {
		return nil, nil, err
	}
	if st, err = tr.Proxy(ctx, storage.Own, proxy); err != nil {
		closeFn()
		return nil, nil, err
	}
	return st, closeFn, nil
}
