// Package policy puts sites.yaml's summary policies (which checks count
// for 99summary, which are in commissioning) on the engine's services: it
// resolves a service's ids and glob patterns against the checks the probe
// built for it. Importing it also gives config the probes' check
// catalogue, so that config.Parse reports a policy naming a check that does
// not exist with its file:line:col (config itself cannot import the
// probes).
package policy

import (
	"fmt"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/probes/probe"
)

func init() { config.SetCatalogue(Catalogue) }

// Catalogue lists the ids of sv's full catalogue (as if nothing were
// skipped, without 99summary) by building the service as a round would,
// without running anything.
func Catalogue(cfg *config.Config, cs *config.Site, sv *config.Service) ([]string, error) {
	full := *sv
	full.Skip = nil
	svc, err := plan.BuildService(cfg, cs, &full, plan.Options{RunID: engine.NewRunID(),
		Creds: probe.NewCredentials(cfg.Credentials, nil)})
	if err != nil {
		return nil, fmt.Errorf("catalogue of %s: %w", sv.Name, err)
	}
	if svc.Close != nil {
		svc.Close()
	}
	ids := make([]string, 0, len(svc.Checks))
	for _, c := range svc.Checks {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// Resolve turns a policy as written into the engine's: the ids among
// checks that its patterns match. Nil for no policy.
func Resolve(p *config.SummaryPolicy, checks []engine.Check) *engine.SummaryPolicy {
	if p == nil {
		return nil
	}
	out := &engine.SummaryPolicy{Commissioning: match(p.Commissioning, checks), CommissioningCap: engine.Warning}
	if p.Critical != nil {
		out.Critical = match(p.Critical, checks)
	}
	if p.Effect == config.EffectNone {
		out.CommissioningCap = engine.OK
	}
	return out
}

func match(patterns []config.Pattern, checks []engine.Check) map[string]bool {
	m := map[string]bool{}
	for _, c := range checks {
		for _, p := range patterns {
			if p.Match(c.ID) {
				m[c.ID] = true
				break
			}
		}
	}
	return m
}

// ApplyService sets svc's summary policy from sv's effective one.
func ApplyService(cfg *config.Config, sv *config.Service, svc *engine.Service) {
	svc.Summary = Resolve(cfg.Summary(sv), svc.Checks)
}

// Apply sets the summary policy of every service of sites, which
// plan.Build made from cfg (services are matched by site and service name,
// unique within a site).
func Apply(cfg *config.Config, sites []*engine.Site) {
	type key struct{ site, service string }
	byName := map[key]*config.Service{}
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		for j := range cs.Services {
			byName[key{cs.Name, cs.Services[j].Name}] = &cs.Services[j]
		}
	}
	for _, s := range sites {
		for _, svc := range s.Services {
			if sv, ok := byName[key{s.Name, svc.Name}]; ok {
				ApplyService(cfg, sv, svc)
			}
		}
	}
}
