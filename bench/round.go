package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/internal/round"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Round is one timed round of checks.
type Round struct {
	Results []engine.Result
	Wall    time.Duration
	// RunIDs are the sites' run ids (their scratch dirs' names).
	RunIDs []string
}

// RoundOptions tunes RunRound.
type RoundOptions struct {
	// Concurrency is the number of sites at once; the config's default
	// when 0.
	Concurrency int
	// Checks keeps only these check ids (and their prerequisites) per
	// service type; a type not in the map runs all its checks. Ids a
	// service does not have are ignored.
	Checks map[string][]string
	// Types keeps only services of these types; empty keeps all.
	Types []string
}

// RunRound runs one round of cfg the way `probe run` does: fresh
// credentials and token source (so nothing is cached from an earlier
// round), the plan's real probes, the engine's runner. Every site gets its
// own run id, so sites that share a storage endpoint (P3) never share a
// scratch area. The wall time covers building the plan, all checks and all
// cleanups.
func RunRound(ctx context.Context, cfg *config.Config, o RoundOptions) (Round, error) {
	start := time.Now()
	creds, done, err := roundCredentials(cfg)
	if err != nil {
		return Round{}, err
	}
	defer done()
	var sites []*engine.Site
	var ids []string
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		site := &engine.Site{Name: cs.Name, Budget: cs.Budget}
		opt := plan.Options{RunID: engine.NewRunID(), Creds: creds}
		ids = append(ids, opt.RunID)
		for j := range cs.Services {
			sv := &cs.Services[j]
			if len(o.Types) > 0 && !slices.Contains(o.Types, sv.Type) {
				continue
			}
			svc, err := plan.BuildService(cfg, cs, sv, opt)
			if err != nil {
				return Round{}, err
			}
			if want, ok := o.Checks[sv.Type]; ok {
				if svc, err = engine.Select(svc, existing(svc, want)); err != nil {
					return Round{}, fmt.Errorf("site %s: %w", cs.Name, err)
				}
			}
			site.Services = append(site.Services, svc)
		}
		if len(site.Services) > 0 {
			sites = append(sites, site)
		}
	}
	n := o.Concurrency
	if n == 0 {
		n = cfg.Defaults.Concurrency
	}
	runner := &engine.Runner{Concurrency: n}
	results := runner.Run(ctx, sites)
	return Round{Results: results, Wall: time.Since(start), RunIDs: ids}, nil
}

// roundCredentials is what a round's probes authenticate with, as `probe
// run` builds it: fresh (nothing cached from an earlier round), with the
// configured token source. done ends the token source's idle connections to
// the issuer, as the end of a `probe run` round does.
func roundCredentials(cfg *config.Config) (creds *probe.Credentials, done func(), err error) {
	tokens, err := round.TokenSource(cfg.Credentials.Token)
	if err != nil {
		return nil, nil, fmt.Errorf("token source: %w", err)
	}
	done = func() {}
	if c, ok := tokens.(io.Closer); ok {
		done = func() { _ = c.Close() }
	}
	return probe.NewCredentials(cfg.Credentials, tokens), done, nil
}

// existing keeps the ids svc has.
func existing(svc *engine.Service, ids []string) []string {
	var out []string
	for _, c := range svc.Checks {
		if slices.Contains(ids, c.ID) {
			out = append(out, c.ID)
		}
	}
	return out
}

// Tally counts results by state, summaries excluded.
type Tally struct {
	Checks                         int
	OK, Warning, Critical, Unknown int
	NotOK                          []string // "<service>-<check>: <detail>", first few
}

// Count tallies rs.
func Count(rs []engine.Result) Tally {
	var t Tally
	for _, r := range rs {
		if r.Check == engine.SummaryID {
			continue
		}
		t.Checks++
		switch r.State {
		case engine.OK:
			t.OK++
		case engine.Warning:
			t.Warning++
		case engine.Critical:
			t.Critical++
		default:
			t.Unknown++
		}
		if r.State != engine.OK && len(t.NotOK) < 8 {
			t.NotOK = append(t.NotOK, fmt.Sprintf("%s %s-%s: %s", r.Site, r.Service, r.Check, r.Detail))
		}
	}
	return t
}

// String is "n checks: a OK, b WARNING, c CRITICAL, d UNKNOWN".
func (t Tally) String() string {
	return fmt.Sprintf("%d checks: %d OK, %d WARNING, %d CRITICAL, %d UNKNOWN", t.Checks, t.OK, t.Warning, t.Critical, t.Unknown)
}
