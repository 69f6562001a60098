// Package round builds a round of checks in one place, for every caller
// (`probe run`, `probe serve`'s scheduled and /probe runs, `probe validate`
// and `list`, the benchmarks and the fault suite): the token source picked
// from the config, the round's credentials, the engine's sites from the
// plan with the summary policies on the services (internal/policy), and
// what must be released when the round is over (Close). It also
// holds the garbage collector's setting for the process (gc.go).
package round

import (
	"errors"
	"io"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/internal/policy"
	"github.com/gridprobe/gridprobe/internal/tokensource"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Options select a round's work and its credentials.
type Options struct {
	// Sites, Services (types or names) and Checks (ids, with their
	// prerequisites) select the work; empty selects everything.
	Sites, Services, Checks []string
	// RunID names the round; a fresh one when empty.
	RunID string
	// Tokens is the token source to use (serve keeps one across rounds);
	// nil builds it from the config and Close releases it.
	Tokens cred.Source
	// NoTokens builds the round without a token source (validate, list:
	// nothing is run).
	NoTokens bool
}

// Round is one round's work and credentials.
type Round struct {
	RunID string
	Sites []*engine.Site
	Creds *probe.Credentials
	// TokenErr is why there is no token source (token checks then report
	// UNKNOWN saying so); nil when there is one.
	TokenErr error
	closers  []func()
}

// Build builds a round of the selected work.
func Build(cfg *config.Config, opt Options) (*Round, error) {
	r := newRound(cfg, opt)
	sites, err := plan.Build(cfg, plan.Options{Sites: opt.Sites, Services: opt.Services, Checks: opt.Checks, RunID: r.RunID, Creds: r.Creds})
	if err != nil {
		r.Close()
		return nil, err
	}
	r.Sites = sites
	policy.Apply(cfg, r.Sites)
	return r, nil
}

// One builds a round of one configured service.
func One(cfg *config.Config, cs *config.Site, sv *config.Service, opt Options) (*Round, error) {
	r := newRound(cfg, opt)
	svc, err := plan.BuildService(cfg, cs, sv, plan.Options{Checks: opt.Checks, RunID: r.RunID, Creds: r.Creds})
	if err != nil {
		r.Close()
		return nil, err
	}
	r.Sites = []*engine.Site{{Name: cs.Name, Budget: cs.Budget, Services: []*engine.Service{svc}}}
	policy.ApplyService(cfg, sv, svc)
	return r, nil
}

// Catalogue builds every service of the config without credentials (for
// validate and list) and returns them per site; the error joins every
// service that could not be built, each naming its site and URL.
func Catalogue(cfg *config.Config) ([]*engine.Site, error) {
	r := newRound(cfg, Options{NoTokens: true})
	defer r.Close()
	var sites []*engine.Site
	var errs []error
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		site := &engine.Site{Name: cs.Name, Budget: cs.Budget}
		for j := range cs.Services {
			svc, err := plan.BuildService(cfg, cs, &cs.Services[j], plan.Options{RunID: r.RunID, Creds: r.Creds})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			site.Services = append(site.Services, svc)
		}
		sites = append(sites, site)
	}
	return sites, errors.Join(errs...)
}

func newRound(cfg *config.Config, opt Options) *Round {
	r := &Round{RunID: opt.RunID}
	if r.RunID == "" {
		r.RunID = engine.NewRunID()
	}
	tokens := opt.Tokens
	if tokens == nil && !opt.NoTokens {
		tokens, r.TokenErr = TokenSource(cfg.Credentials.Token)
		if c, ok := tokens.(io.Closer); ok {
			r.closers = append(r.closers, func() { _ = c.Close() }) // the issuer's idle connections end with the round
		}
	}
	// Each round gets its own view of the source: after the issuer fails,
	// the rest of the round fails at once with the same reason (tokens still
	// valid in the cache keep being used).
	r.Creds = probe.NewCredentials(cfg.Credentials, cred.NewRound(tokens))
	return r
}

// ScratchIDs are the names of the scratch directories the round's storage
// services write below their write_dir.
func (r *Round) ScratchIDs(cfg *config.Config) []string {
	var ids []string
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		for j := range cs.Services {
			if !r.has(cs.Name, cs.Services[j].Name) || !cs.Services[j].IsStorage() {
				continue
			}
			if id, err := plan.ScratchID(r.RunID, cs, &cs.Services[j]); err == nil {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// has reports whether the round runs the named service of the site.
func (r *Round) has(site, service string) bool {
	for _, s := range r.Sites {
		if s.Name != site {
			continue
		}
		for _, svc := range s.Services {
			if svc.Name == service {
				return true
			}
		}
	}
	return false
}

// Runner is an engine runner for this round.
func (r *Round) Runner(concurrency int, log engine.Logger) *engine.Runner {
	return &engine.Runner{Concurrency: concurrency, RunID: r.RunID, Log: log}
}

// Close releases what the round opened (the token source's connections).
func (r *Round) Close() {
	for _, c := range r.closers {
		c()
	}
	r.closers = nil
}

// TokenSource picks the configured token source (internal/tokensource): an
// issuer (client credentials or a refresh token), a file, or else WLCG
// bearer-token discovery. No source is an error the caller may ignore: token
// checks then report UNKNOWN saying why.
func TokenSource(t config.Token) (cred.Source, error) { return tokensource.New(t) }
