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
