// Package protocol is the registry of the service types gridprobe speaks:
// for each, what sites.yaml accepts (type name, URL schemes, default port,
// the keys only that type takes), the ETF service kind its results are
// named after, and whether it is a storage element. Config validation,
// plans, `probe cleanup`, default ports and help texts read it instead of
// switching on type names.
//
// The registry holds data only, so that internal/config can read it without
// importing the probes. Each probe package registers its own Spec (with its
// constructor, see probes/probe.Register); probes/all links them all in.
package protocol

import (
	"fmt"
	"slices"
	"sync"
)

// Spec describes one service type.
type Spec struct {
	// Type is the sites.yaml `type`, e.g. "webdav".
	Type string
	// Kind is the ETF service kind: the service name is <prefix>.<Kind>
	// (e.g. "SE-WebDAV") and a result's metric <prefix>.<Kind>-<check id>.
	Kind string
	// Schemes are the URL schemes sites.yaml accepts; Canonical maps an
	// accepted alias onto the scheme the probe uses (davs → https).
	Schemes   []string
	Canonical map[string]string
	// DefaultPort is the port of a URL that gives none; PortInURL adds it
	// to the URL itself (the audience then names it too).
	DefaultPort string
	PortInURL   bool
	// Storage marks a storage element: the storage keys (read_file,
	// write_dir, ...) apply, it has a scratch area probe cleanup visits,
	// and serve runs it on the storage interval.
	Storage bool
	// Keys are the service keys only this type takes (e.g. federation).
	Keys []string
	// Flavours are the service flavours of ETF VO feeds and CRIC (upper
	// case) that are this type; FeedURL builds the service URL from a feed
	// entry ($(endpoint) is its host[:port]) when sites.yaml gives none.
	Flavours []string
	FeedURL  string
}

// StorageKeys are the service keys every storage type takes.
var StorageKeys = []string{"scope_base", "read_file", "write_dir", "foreign_file", "tpc_partners"}

// Takes reports whether a service of this type may set key, among the
// keys that belong to some types only.
func (s Spec) Takes(key string) bool {
	return slices.Contains(s.Keys, key) || s.Storage && slices.Contains(StorageKeys, key)
}

// Normalise returns the canonical form of an accepted scheme.
func (s Spec) Normalise(scheme string) string {
	if c, ok := s.Canonical[scheme]; ok {
		return c
	}
	return scheme
}

var (
	mu    sync.RWMutex
	specs []Spec
)

// Register adds a service type. It panics on a duplicate or incomplete
// spec: registrations happen at start-up, from code.
func Register(s Spec) {
	if s.Type == "" || s.Kind == "" || len(s.Schemes) == 0 || s.DefaultPort == "" {
		panic(fmt.Sprintf("protocol: incomplete spec %+v", s))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, have := range specs {
		if have.Type == s.Type {
			panic("protocol: " + s.Type + " registered twice")
		}
	}
	specs = append(specs, s)
}

// Lookup returns the spec of a type.
func Lookup(typ string) (Spec, bool) {
	mu.RLock()
	defer mu.RUnlock()
	for _, s := range specs {
		if s.Type == typ {
			return s, true
		}
	}
	return Spec{}, false
}

// Types lists the registered types, sorted (registration order depends on
// package initialisation).
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Type
	}
	slices.Sort(out)
	return out
}

// TypesTaking lists the types that take key (for error messages).
func TypesTaking(key string) []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for _, s := range specs {
		if s.Takes(key) {
			out = append(out, s.Type)
		}
	}
	slices.Sort(out)
	return out
}

// ForFlavour is the type a feed flavour (upper case) is probed as.
func ForFlavour(flavour string) (Spec, bool) {
	mu.RLock()
	defer mu.RUnlock()
	for _, s := range specs {
		if slices.Contains(s.Flavours, flavour) {
			return s, true
		}
	}
	return Spec{}, false
}

// DefaultPort is the port of a URL scheme that gives none: that of the
// first type accepting the scheme, "" for a scheme no type accepts.
func DefaultPort(scheme string) string {
	mu.RLock()
	defer mu.RUnlock()
	for _, s := range specs {
		if slices.Contains(s.Schemes, scheme) {
			return s.DefaultPort
		}
	}
	return ""
}
