package wn

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/internal/wnline"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// part is one storage service's share of a WN storage check.
type part struct {
	kind   string // webdav, xrootd
	state  engine.State
	party  engine.Party
	detail string
	repro  []string
	perf   []engine.Perf
}

// storageRun is the storage half of the payload: the SE checks of every
// storage service of the site, run by the engine with the job's
// credentials, and the parts each WN storage check is made of.
type storageRun struct {
	cfg   *config.Config
	site  *config.Site
	runID string
	creds *probe.Credentials
	token *cred.Token // the job's token at start; nil: none usable
	proxy bool        // the job has a usable proxy

	parts map[string][]part // WN check id → parts
}

// selectChecks decides, per storage service, which SE checks run: a token
// check only when the job's token is for the service and carries the
// scopes the check needs (else an UNKNOWN part says so), a proxy check only
// when the job has a proxy.
func (r *storageRun) selectChecks(sv *config.Service) []string {
	t := probe.Target{Config: r.cfg, Site: r.site, Service: sv}
	var sel []string
	for _, c := range wnline.Catalogue {
		if c.Storage == "" || slices.Contains(sv.Skip, c.Storage) {
			continue
		}
		if c.Credential == engine.CredX509 && !r.proxy {
			continue
		}
		if why := r.unusable(t, sv, c); why != "" {
			r.parts[c.ID] = append(r.parts[c.ID], part{kind: sv.Type, state: engine.Unknown, detail: why})
			continue
		}
		sel = append(sel, c.Storage)
	}
	return sel
}

// unusable says why a WN storage check cannot run on sv ("" when it can).
func (r *storageRun) unusable(t probe.Target, sv *config.Service, c wnline.Check) string {
	isRead := c.ID == wnline.TknRead || c.ID == wnline.CrtRead
	if isRead && sv.ReadFile.Path == "" {
		return "no read_file configured"
	}
	if !isRead && sv.WriteDir == "" {
		return "no write_dir configured"
	}
	if c.Credential != engine.CredToken {
		return ""
	}
	if r.token == nil {
		return "the job has no usable token"
	}
	cl := r.token.Claims()
	if aud := t.Audience(); !cl.HasAudience(aud) {
		return fmt.Sprintf("the job's token is not for %s (aud=%s): a refusal would prove nothing (not the site's fault)", aud, dash(strings.Join(cl.Audience, ",")))
	}
	var want []probe.StorageScope
	if isRead {
		want = []probe.StorageScope{probe.Read(sv.ReadFile.Path)}
	} else {
		runID, err := plan.ScratchID(r.runID, r.site, sv)
		if err != nil {
			return err.Error()
		}
		dir := sv.WriteDir + "/" + runID
		// The write check writes, reads back and deletes.
		want = []probe.StorageScope{probe.Create(dir), probe.Read(dir), probe.Modify(dir)}
	}
	ss, err := t.ScopeStrings(want...)
	if err != nil {
		return err.Error()
	}
	var miss []string
	for _, s := range ss {
		if !r.token.Covers(s) {
			miss = append(miss, s)
		}
	}
	if len(miss) > 0 {
		return fmt.Sprintf("the job's token lacks %s (has %s; the token's issuer or VO, not the site)",
			compactScopes(miss), compactScopes(cl.Scopes))
	}
	return ""
}

// run builds the selected SE checks through plan (the same storage rules
// as the SE checks) and runs them through the engine.
func (r *storageRun) run(ctx context.Context, log engine.Logger) error {
	site := &engine.Site{Name: r.site.Name, Budget: r.site.Budget}
	for i := range r.site.Services {
		sv := &r.site.Services[i]
		if !sv.IsStorage() {
			continue
		}
		sel := r.selectChecks(sv)
		if len(sel) == 0 {
			continue
		}
		svc, err := plan.BuildService(r.cfg, r.site, sv, plan.Options{RunID: r.runID, Creds: r.creds, Checks: sel})
		if err != nil {
			return fmt.Errorf("storage service %s: %w", sv.RawURL, err)
		}
		site.Services = append(site.Services, svc)
	}
	if len(site.Services) == 0 {
		return nil
	}
	runner := &engine.Runner{RunID: r.runID, Concurrency: 1, Log: log}
	results := runner.Run(ctx, []*engine.Site{site})
	for _, c := range wnline.Catalogue {
		if c.Storage != "" {
			r.collect(c, results)
		}
	}
	return nil
}

// collect turns the engine's results of c.Storage into parts of c: a check
// that did not run because a prerequisite failed is represented by that
// prerequisite (an unreachable SE is the SE's CRITICAL, not an UNKNOWN).
func (r *storageRun) collect(c wnline.Check, results []engine.Result) {
	for i, res := range results {
		if res.Check != c.Storage {
			continue
		}
		p := part{kind: res.Protocol, state: res.State, party: res.Party, detail: res.Detail, repro: res.Reproduce}
		if res.State == engine.Unknown && strings.HasPrefix(res.Detail, "prerequisite") {
			for _, pre := range results[:i] {
				if pre.Service == res.Service && pre.State != engine.OK && pre.State != engine.Warning {
					p = part{kind: res.Protocol, state: pre.State, party: pre.Party, detail: pre.Check + " " + pre.State.String() + ": " + pre.Detail, repro: pre.Reproduce}
					break
				}
			}
		}
		for _, pf := range res.Perf {
			pf.Label = res.Protocol + "_" + pf.Label
			p.perf = append(p.perf, pf)
		}
		r.parts[c.ID] = append(r.parts[c.ID], p)
	}
}

// outcome combines the parts of one WN storage check: the worst state,
// the failing services first.
func outcome(parts []part) engine.Outcome {
	if len(parts) == 0 {
		return engine.Unknownf("no storage service of the site to check")
	}
	sorted := slices.Clone(parts)
	slices.SortStableFunc(sorted, func(a, b part) int { return b.state.Severity() - a.state.Severity() })
	// The verdict of every service first (the detail is cut at 256), then
	// the details, failing services first, run ids shortened.
	var o engine.Outcome
	var verdicts, texts []string
	for _, p := range sorted {
		o.State = engine.Worst(o.State, p.state)
		verdicts = append(verdicts, p.kind+" "+p.state.String())
		texts = append(texts, p.kind+": "+runIDElem.ReplaceAllString(p.detail, "gp-…$1"))
		if p.state != engine.OK {
			o.Reproduce = append(o.Reproduce, p.repro...)
		}
		o.Perf = append(o.Perf, p.perf...)
	}
	o.Detail = strings.Join(verdicts, ", ") + " | " + strings.Join(texts, " | ")
	o.Party = sorted[0].party // the worst service's
	return o
}
