// Package plan turns a validated sites.yaml into the engine's work for one
// round: the selected sites, each service built by the probe for its type,
// narrowed to the selected checks and without the skipped ones.
package plan

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/ce"
	"github.com/gridprobe/gridprobe/probes/issuer"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/webdav"
	"github.com/gridprobe/gridprobe/probes/xrootd"
)

// Builder builds one service's ordered checks.
type Builder func(t probe.Target) (*engine.Service, error)

// builders maps a service type to its probe.
var builders = map[string]Builder{}

func register(typ string, b Builder) { builders[typ] = b }

func init() {
	register(config.TypeWebDAV, webdav.New)
	register(config.TypeARCCE, ce.NewARC)
	register(config.TypeHTCondorCE, ce.NewHTCondor)
	register(config.TypeXRootD, xrootd.New)
	register(config.TypeIssuer, issuer.New)
	for _, typ := range []string{config.TypeWebDAV, config.TypeXRootD, config.TypeARCCE, config.TypeHTCondorCE} {
		if _, ok := builders[typ]; !ok {
			register(typ, connectionOnly(typ))
		}
	}
}

// connectionOnly serves a service type whose probe is not built yet: it
// checks reachability and says nothing it cannot back.
func connectionOnly(typ string) Builder {
	return func(t probe.Target) (*engine.Service, error) {
		svc := t.NewService(typ)
		u := t.Service.URL
		svc.Checks = []engine.Check{{
			ID: "1connection", Credential: engine.CredNone,
			Run: func(ctx context.Context, _ *engine.Env) engine.Outcome { return probe.Connection(ctx, u, nil) },
		}}
		return svc, nil
	}
}

// Options selects what a round runs.
type Options struct {
	Sites    []string // site names; empty = all
	Services []string // service types or names; empty = all
	Checks   []string // check ids (with their prerequisites); empty = all
	RunID    string
	Creds    *probe.Credentials
}

// Build returns the engine sites for one round.
func Build(cfg *config.Config, opt Options) ([]*engine.Site, error) {
	if opt.RunID == "" {
		return nil, fmt.Errorf("plan: no run id")
	}
	known := map[string]bool{}
	var sites []*engine.Site
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		known[cs.Name] = true
		if len(opt.Sites) > 0 && !slices.Contains(opt.Sites, cs.Name) {
			continue
		}
		site := &engine.Site{Name: cs.Name, Budget: cs.Budget}
		for j := range cs.Services {
			sv := &cs.Services[j]
			if len(opt.Services) > 0 && !slices.Contains(opt.Services, sv.Type) && !slices.Contains(opt.Services, sv.Name) {
				continue
			}
			svc, err := BuildService(cfg, cs, sv, opt)
			if err != nil {
				return nil, err
			}
			site.Services = append(site.Services, svc)
		}
		if len(site.Services) > 0 {
			sites = append(sites, site)
		}
	}
	for _, s := range opt.Sites {
		if !known[s] {
			return nil, fmt.Errorf("no site %q in %s (sites: %s)", s, cfg.File, strings.Join(siteNames(cfg), ", "))
		}
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("nothing selected: no service matches %v in the selected sites", opt.Services)
	}
	return sites, nil
}

// BuildService builds one configured service, applying skip and check
// selection.
func BuildService(cfg *config.Config, cs *config.Site, sv *config.Service, opt Options) (*engine.Service, error) {
	b, ok := builders[sv.Type]
	if !ok {
		return nil, fmt.Errorf("no probe for service type %q", sv.Type)
	}
	// Each service writes below its own id: a site's services run side by
	// side and may share a write_dir.
	runID, err := probe.ServiceRunID(opt.RunID, sv.Type+" "+sv.URL.String())
	if err != nil {
		return nil, err
	}
	svc, err := b(probe.Target{Config: cfg, Site: cs, Service: sv, RunID: runID, Creds: opt.Creds})
	if err != nil {
		return nil, fmt.Errorf("site %s service %s: %w", cs.Name, sv.RawURL, err)
	}
	svc = engine.Skip(svc, sv.Skip)
	if len(opt.Checks) > 0 {
		if svc, err = engine.Select(svc, opt.Checks); err != nil {
			return nil, fmt.Errorf("site %s: %w", cs.Name, err)
		}
	}
	return svc, nil
}

func siteNames(cfg *config.Config) []string {
	var names []string
	for _, s := range cfg.Sites {
		names = append(names, s.Name)
	}
	return names
}
