package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/round"
)

// Round is one timed round of checks.
type Round struct {
	Results []engine.Result
	Wall    time.Duration
	// RunIDs are the names of the services' scratch dirs.
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

// RunRound runs one round of cfg the way `probe run` does (internal/round:
// fresh credentials and token source, so nothing is cached from an earlier
// round; the plan's real probes; the engine's runner). Sites that share a
// storage endpoint (P3) get scratch areas of their own (plan.ScratchID). The
// wall time covers building the plan, all checks and all cleanups.
func RunRound(ctx context.Context, cfg *config.Config, o RoundOptions) (Round, error) {
	start := time.Now()
	rd, err := round.Build(cfg, round.Options{Services: o.Types})
	if err != nil {
		return Round{}, err
	}
	defer rd.Close()
	if rd.TokenErr != nil {
		return Round{}, fmt.Errorf("token source: %w", rd.TokenErr)
	}
	if err := selectChecks(rd.Sites, o.Checks); err != nil {
		return Round{}, err
	}
	n := o.Concurrency
	if n == 0 {
		n = cfg.Defaults.Concurrency
	}
	results := rd.Runner(n, nil).Run(ctx, rd.Sites)
	return Round{Results: results, Wall: time.Since(start), RunIDs: rd.ScratchIDs(cfg)}, nil
}

// selectChecks keeps, per service type in checks, only those check ids
// (and their prerequisites); ids a service does not have are ignored.
func selectChecks(sites []*engine.Site, checks map[string][]string) error {
	for _, site := range sites {
		for i, svc := range site.Services {
			want, ok := checks[svc.Protocol]
			if !ok {
				continue
			}
			sel, err := engine.Select(svc, existing(svc, want))
			if err != nil {
				return fmt.Errorf("site %s: %w", site.Name, err)
			}
			site.Services[i] = sel
		}
	}
	return nil
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
