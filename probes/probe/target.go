package probe

import (
	"fmt"
	"path"
	"strings"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// Target is what a protocol probe is given to build one service's checks.
type Target struct {
	Config  *config.Config
	Site    *config.Site
	Service *config.Service
	RunID   string
	Creds   *Credentials
}

// Scratch is the run's scratch area below the service's write_dir.
func (t Target) Scratch() (Scratch, error) {
	if t.Service.WriteDir == "" {
		return Scratch{}, fmt.Errorf("no write_dir configured for %s", t.Service.RawURL)
	}
	return NewScratch(t.Service.WriteDir, t.RunID)
}

// Audience is the token audience for the endpoint: the configured one, or
// the WLCG profile's default, the endpoint URL scheme://host[:port] with no
// path and no trailing slash.
func (t Target) Audience() string {
	if t.Service.Audience != "" {
		return t.Service.Audience
	}
	u := t.Service.URL
	return u.Scheme + "://" + u.Host
}

// ScopePath turns an absolute storage path into the path a token scope
// names: relative to the issuer's base path (scope_base), e.g. /testvo/a →
// /a. A path outside the base cannot be granted and is an error.
func (t Target) ScopePath(p string) (string, error) {
	base := strings.TrimSuffix(t.Service.ScopeBase, "/")
	p = path.Clean(p)
	switch {
	case base == "":
		return p, nil
	case p == base:
		return "/", nil
	case strings.HasPrefix(p, base+"/"):
		return strings.TrimPrefix(p, base), nil
	default:
		return "", fmt.Errorf("%s is outside the token scope base %s", p, base)
	}
}

// NewService starts an engine.Service for the target with its name, VO,
// URL and timeout filled in.
func (t Target) NewService(protocol string) *engine.Service {
	return &engine.Service{
		Name:     t.Service.Name,
		Protocol: protocol,
		VO:       t.Service.VO,
		URL:      t.Service.URL.String(),
		Timeout:  t.Service.Timeout,
	}
}

// VOArea is the VO's area on the endpoint: the token scope base, else the
// directory of the reference file, else write_dir's parent.
func (t Target) VOArea() string {
	sv := t.Service
	switch {
	case sv.ScopeBase != "":
		return path.Clean(sv.ScopeBase)
	case sv.ReadFile.Path != "":
		return path.Dir(sv.ReadFile.Path)
	case sv.WriteDir != "":
		return path.Dir(path.Clean(sv.WriteDir))
	}
	return "/"
}

// StorageScope is one WLCG storage scope on an absolute storage path.
type StorageScope struct{ Op, Path string }

// Read, Create and Modify are the storage.read, storage.create and
// storage.modify scopes on an absolute storage path.
func Read(p string) StorageScope { return StorageScope{"storage.read", p} }

// Create is storage.create on p.
func Create(p string) StorageScope { return StorageScope{"storage.create", p} }

// Modify is storage.modify on p.
func Modify(p string) StorageScope { return StorageScope{"storage.modify", p} }

// ScopeStrings maps scopes onto the issuer's base path, e.g.
// storage.read on /testvo/a → "storage.read:/a".
func (t Target) ScopeStrings(scopes ...StorageScope) ([]string, error) {
	ss := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		p, err := t.ScopePath(sc.Path)
		if err != nil {
			return nil, err
		}
		ss = append(ss, sc.Op+":"+p)
	}
	return ss, nil
}

// ScopeString is ScopeStrings joined by spaces, for details and reproduce
// comments; a path outside the base is shown as is.
func (t Target) ScopeString(scopes ...StorageScope) string {
	ss := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		p, err := t.ScopePath(sc.Path)
		if err != nil {
			p = sc.Path
		}
		ss = append(ss, sc.Op+":"+p)
	}
	return strings.Join(ss, " ")
}
