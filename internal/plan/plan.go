// Package plan turns a validated sites.yaml into the engine's work for one
// round: the selected sites, each service built by the probe registered for
// its type (probes/registry), narrowed to the selected checks and without
// the skipped ones.
package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	_ "github.com/gridprobe/gridprobe/probes/all" // every protocol probe
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/registry"
)

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
	reg, ok := registry.Lookup(sv.Type)
	if !ok {
		return nil, fmt.Errorf("no probe for service type %q", sv.Type)
	}
	runID, err := ScratchID(opt.RunID, cs, sv)
	if err != nil {
		return nil, err
	}
	svc, err := reg.New(probe.Target{Config: cfg, Site: cs, Service: sv, RunID: runID, Creds: opt.Creds})
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

// ScratchID is the id a service's scratch area is named after in a round:
// each service writes below its own, derived from the round's run id, the
// site and the endpoint (a site's services run side by side and may share a
// write_dir; two sites may name the same endpoint).
func ScratchID(runID string, cs *config.Site, sv *config.Service) (string, error) {
	return probe.ServiceRunID(runID, cs.Name+" "+sv.Type+" "+sv.URL.String())
}

func siteNames(cfg *config.Config) []string {
	var names []string
	for _, s := range cfg.Sites {
		names = append(names, s.Name)
	}
	return names
}
