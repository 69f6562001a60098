package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/checkctx"
)

// Runner runs sites concurrently and each site's services and checks in
// order. The zero value is usable: concurrency 1, a fresh run id, no log.
type Runner struct {
	// Concurrency bounds how many sites run at once (≥1).
	Concurrency int
	// RunID names this round (and its scratch areas); NewRunID when empty.
	RunID string
	// Log receives debug lines; nil discards them.
	Log Logger
	// CleanupTimeout bounds all cleanups of one service (default 2m). They
	// run on a context detached from the round's cancellation.
	CleanupTimeout time.Duration
	// Grace is how long the runner waits for a check that ignores its
	// expired context before reporting it and moving on (default 2s).
	Grace time.Duration
	// OnSiteDone, when set, receives each site's results as soon as that
	// site finishes (sites finish in any order). Called from the site's
	// goroutine; it must be safe for concurrent use.
	OnSiteDone func(site string, results []Result)
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// NewRunID returns a unique, path-safe run id: UTC time plus 48 random bits,
// e.g. gp-20261124T001500Z-1f2e3d4c5b6a.
func NewRunID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("engine: no randomness for a run id: %v", err))
	}
	return "gp-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		r.Log.Logf(format, args...)
	}
}

// Run runs every site and returns all results in site, service and catalogue
// order, whatever order sites finished in. Cancelling ctx stops the round:
// checks not yet run report UNKNOWN, cleanups still run.
func (r *Runner) Run(ctx context.Context, sites []*Site) []Result {
	if r.RunID == "" {
		r.RunID = NewRunID()
	}
	n := r.Concurrency
	if n < 1 {
		n = 1
	}
	sem := make(chan struct{}, n)
	perSite := make([][]Result, len(sites))
	var wg sync.WaitGroup
	for i, site := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				perSite[i] = r.notRun(site, "round cancelled before the site started")
				r.siteDone(site, perSite[i])
				return
			}
			defer func() { <-sem }()
			perSite[i] = r.RunSite(ctx, site)
			r.siteDone(site, perSite[i])
		}()
	}
	wg.Wait()
	var all []Result
	for _, rs := range perSite {
		all = append(all, rs...)
	}
	return all
}

func (r *Runner) siteDone(site *Site, results []Result) {
	if r.OnSiteDone != nil {
		r.OnSiteDone(site.Name, results)
	}
}

// notRun reports every check of a site UNKNOWN with the given reason.
func (r *Runner) notRun(site *Site, reason string) []Result {
	var out []Result
	now := r.now()
	for _, svc := range site.Services {
		var states []checkState
		for _, c := range svc.Checks {
			res := r.result(site, svc, c.ID, c.Credential, now)
			res.State, res.Party, res.Detail = Unknown, PartyProbe, "not run: "+reason
			out = append(out, res)
			states = append(states, checkState{c.ID, Unknown, PartyProbe})
		}
		if !svc.partial {
			out = append(out, r.summary(site, svc, states, nil, now))
		}
	}
	return out
}

// RunSite runs one site's services, concurrently, within the site's budget.
func (r *Runner) RunSite(ctx context.Context, site *Site) []Result {
	siteCtx := ctx
	if site.Budget > 0 {
		var cancel context.CancelFunc
		siteCtx, cancel = context.WithTimeout(ctx, site.Budget)
		defer cancel()
	}
	// A site's services are independent endpoints: they run side by side
	// (each its checks in catalogue order), sharing the site's budget.
	// The last one runs on this goroutine: a large round holds one
	// goroutine (and its stack) fewer per site.
	perService := make([][]Result, len(site.Services))
	var wg sync.WaitGroup
	for i, svc := range site.Services {
		if i == len(site.Services)-1 {
			perService[i] = r.runService(ctx, siteCtx, site, svc)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			perService[i] = r.runService(ctx, siteCtx, site, svc)
		}()
	}
	wg.Wait()
	var out []Result
	for _, rs := range perService {
		out = append(out, rs...)
	}
	return out
}

type checkState struct {
	id    string
	state State
	party Party
}

func (r *Runner) result(site *Site, svc *Service, check, cred string, start time.Time) Result {
	return Result{
		Site: site.Name, Service: svc.Name, Protocol: svc.Protocol, VO: svc.VO, URL: svc.URL,
		Check: check, Credential: cred, Start: start, RunID: r.RunID, Role: svc.Summary.Role(check),
	}
}

func (r *Runner) runService(roundCtx, siteCtx context.Context, site *Site, svc *Service) []Result {
	stack := &cleanupStack{}
	states := make(map[string]checkState, len(svc.Checks))
	var ordered []checkState
	var out []Result
	for _, c := range svc.Checks {
		res := r.runCheck(roundCtx, siteCtx, site, svc, c, states, stack)
		states[c.ID] = checkState{c.ID, res.State, res.Party}
		ordered = append(ordered, states[c.ID])
		out = append(out, res)
	}
	cleanupErrs := r.runCleanups(siteCtx, site, svc, stack)
	if svc.Close != nil {
		svc.Close()
	}
	if !svc.partial {
		out = append(out, r.summary(site, svc, ordered, cleanupErrs, r.now()))
	} else if len(cleanupErrs) > 0 && len(out) > 0 {
		last := &out[len(out)-1]
		last.State = Worst(last.State, Warning)
		last.Detail = OneLine(last.Detail + "; " + strings.Join(cleanupErrs, "; "))
	}
	return out
}

func (r *Runner) runCheck(roundCtx, siteCtx context.Context, site *Site, svc *Service, c Check,
	states map[string]checkState, stack *cleanupStack) (res Result) {
	start := r.now()
	res = r.result(site, svc, c.ID, c.Credential, start)
	defer func() {
		if len(res.Reproduce) == 0 && c.Reproduce != nil && res.State != OK {
			res.Reproduce = c.Reproduce()
		}
		res.Detail = OneLine(res.Detail)
	}()

	if failed := failedPrerequisites(c.Requires, states); len(failed) > 0 {
		res.State, res.Party, res.Detail = Unknown, prerequisiteParty(failed, svc.own()), prerequisiteDetail(failed)
		if c.Unmet != nil {
			ids := make([]string, len(failed))
			for i, f := range failed {
				ids[i] = f.id
			}
			res.Detail = c.Unmet(ids)
		}
		return res
	}
	if err := siteCtx.Err(); err != nil {
		res.State, res.Party = Unknown, svc.own()
		if roundCtx.Err() != nil {
			res.Party, res.Detail = PartyProbe, "not run: round cancelled"
		} else {
			res.Detail = fmt.Sprintf("not run: site budget of %s exhausted", site.Budget)
		}
		return res
	}

	timeout := c.Timeout
	if timeout <= 0 {
		timeout = svc.Timeout
	}
	// Its clock stops while the check waits for a token from the issuer:
	// the deadline covers the site's work (checkctx.Pause).
	checkCtx, cancel := checkctx.WithTimeout(siteCtx, timeout)
	defer cancel()

	env := &Env{RunID: r.RunID, Site: site.Name, Service: svc, Check: c.ID, cleanups: stack, log: r.Log}
	done := make(chan Outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				r.logf("%s %s %s: panic: %v\n%s", site.Name, svc.Name, c.ID, p, debug.Stack())
				done <- Unknownf("internal error in check (a gridprobe bug, not a site problem): panic: %v", p).Blame(PartyProbe)
			}
		}()
		done <- c.Run(checkCtx, env)
	}()

	var o Outcome
	select {
	case o = <-done:
	case <-checkCtx.Done():
		grace := r.Grace
		if grace <= 0 {
			grace = 2 * time.Second
		}
		select {
		case o = <-done:
		case <-time.After(grace):
			o = Outcome{State: Critical, Detail: "check did not return after its deadline"}
		}
	}
	res.Duration = r.now().Sub(start)
	res.State, res.Party, res.Detail, res.Reproduce, res.Perf = o.State, o.Party, o.Detail, o.Reproduce, o.Perf
	res.Rules, res.Profile, res.Diagnosis = o.Rules, o.Profile, o.Diagnosis
	if res.Detail == "" {
		res.Detail = "no detail"
	}
	blame(&res, checkCtx, svc.own(), func() (State, Party, string) {
		return deadlineOutcome(roundCtx, siteCtx, site, timeout, res.Duration, res.Detail)
	})
	r.logf("%s %s %s: %s - %s (%s)", site.Name, svc.Name, c.ID, res.State, res.Detail, res.Duration.Round(time.Millisecond))
	return res
}

// blame settles a finished check's party. An UNKNOWN whose credential's
// issuer failed (checkctx.NoteCentral) is the central service's. A check
// that failed for a central service or the probe keeps its verdict even
// when it ran out of time; any other failure past its deadline becomes the
// timeout (late). The rest take the default party, the service's own for
// WARNING and CRITICAL.
func blame(res *Result, checkCtx context.Context, own Party, late func() (State, Party, string)) {
	if res.Party == "" && res.State == Unknown && checkctx.Central(checkCtx) != nil {
		res.Party = PartyCentral
	}
	if timedOut(checkCtx) && res.State != OK && res.State != Warning && (res.Party == "" || res.Party == PartySite) {
		res.State, res.Party, res.Detail = late()
	}
	if res.Party == "" || res.State == OK {
		res.Party = defaultParty(res.State)
	}
	if res.Party == PartySite {
		res.Party = own
	}
}

// prerequisiteDetail is "prerequisite X failed" or "prerequisites X, Y failed".
func prerequisiteDetail(failed []checkState) string {
	ids := make([]string, len(failed))
	for i, f := range failed {
		ids[i] = f.id
	}
	if len(ids) == 1 {
		return "prerequisite " + ids[0] + " failed"
	}
	return "prerequisites " + strings.Join(ids, ", ") + " failed"
}

// timedOut reports whether ctx ended or its deadline has passed: a network
// deadline derived from ctx can fire a moment before ctx itself is done.
func timedOut(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// deadlineOutcome words a check cut short by its own timeout, the site
// budget, or a cancelled round.
func deadlineOutcome(roundCtx, siteCtx context.Context, site *Site, timeout, took time.Duration, detail string) (State, Party, string) {
	switch {
	case roundCtx.Err() != nil:
		return Unknown, PartyProbe, "interrupted: round cancelled (" + detail + ")"
	case siteCtx.Err() != nil:
		return Critical, PartySite, fmt.Sprintf("timeout after %s (site budget %s exhausted): %s", roundSeconds(took), site.Budget, detail)
	default:
		return Critical, PartySite, fmt.Sprintf("timeout after %s: %s", roundSeconds(timeout), detail)
	}
}

func roundSeconds(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

func failedPrerequisites(requires []string, states map[string]checkState) []checkState {
	var failed []checkState
	for _, id := range requires {
		st, ran := states[id]
		if ran && st.state != OK && st.state != Warning {
			failed = append(failed, st)
		}
	}
	return failed
}

// prerequisiteParty is the party of a check skipped for failed
// prerequisites: the site's if any of them failed for the site, else a
// central service's if any failed for one, else the probe's.
func prerequisiteParty(failed []checkState, own Party) Party {
	p := PartyProbe
	for _, f := range failed {
		switch f.party {
		case own, "":
			return own
		case PartyCentral, PartySite:
			p = f.party
		}
	}
	return p
}

// runCleanups runs the service's cleanups LIFO on a context that survives
// the round's cancellation but has its own deadline.
func (r *Runner) runCleanups(siteCtx context.Context, site *Site, svc *Service, stack *cleanupStack) []string {
	items := stack.drain()
	if len(items) == 0 {
		return nil
	}
	timeout := r.CleanupTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(siteCtx), timeout)
	defer cancel()
	var failed []string
	for _, c := range items {
		err := safeCleanup(ctx, c.fn)
		if err != nil {
			r.logf("%s %s %s: cleanup %s failed: %v", site.Name, svc.Name, c.check, c.name, err)
			failed = append(failed, fmt.Sprintf("%s cleanup %s: %v", c.check, c.name, err))
		} else {
			r.logf("%s %s %s: cleanup %s done", site.Name, svc.Name, c.check, c.name)
		}
	}
	return failed
}

func safeCleanup(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	err = fn(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("cleanup timed out: %w", err)
	}
	return err
}

// summary makes the 99summary result: the worst state of the service's
// checks that failed for the service itself (the site; a central
// service's own row), or what its summary policy makes of them
// (policy.go). A check that failed for a central service or for the probe
// counts as UNKNOWN whatever its own state (only the site's faults make the
// site WARNING or CRITICAL), and the detail names those checks by party. A
// failed cleanup makes it at least WARNING.
func (r *Runner) summary(site *Site, svc *Service, states []checkState, cleanupErrs []string, now time.Time) Result {
	if svc.Summary != nil {
		return r.policySummary(site, svc, states, cleanupErrs, now)
	}
	res := r.result(site, svc, SummaryID, CredNone, now)
	own := svc.own()
	byState := map[State][]string{}
	byParty := map[Party][]string{}
	var siteStates []State
	notOK := 0
	for _, s := range states {
		switch {
		case s.state == OK:
		case s.party != own && s.party != "":
			byParty[s.party] = append(byParty[s.party], s.id)
			notOK++
		default:
			byState[s.state] = append(byState[s.state], s.id)
			siteStates = append(siteStates, s.state)
			notOK++
		}
	}
	res.State = Worst(siteStates...)
	if len(byParty) > 0 {
		res.State = Worst(res.State, Unknown)
	}
	if len(cleanupErrs) > 0 {
		res.State = Worst(res.State, Warning)
	}
	res.Party = summaryParty(res.State, own, siteStates, byParty)
	var parts []string
	for _, st := range []State{Critical, Unknown, Warning} { // most severe first
		if ids := byState[st]; len(ids) > 0 {
			parts = append(parts, fmt.Sprintf("%s: %s", st, strings.Join(ids, ", ")))
		}
	}
	if len(byParty) > 0 {
		parts = append(parts, fmt.Sprintf("not the %s's fault: %s", partyWords[own], partyParts(byParty)))
	}
	switch {
	case len(states) == 0:
		res.State, res.Party, res.Detail = Unknown, PartyProbe, "no checks ran"
	case len(parts) == 0:
		res.Detail = fmt.Sprintf("all %d checks OK", len(states))
	default:
		res.Detail = fmt.Sprintf("%d of %d checks not OK; %s", notOK, len(states), strings.Join(parts, "; "))
	}
	if len(cleanupErrs) > 0 {
		res.Detail += "; " + strings.Join(cleanupErrs, "; ")
	}
	res.Detail = OneLine(res.Detail)
	raw := res.State // without a policy the raw worst is the summary
	res.RawState = &raw
	return res
}

// partyParts lists failed checks by party: "central service: a, b; probe: c".
func partyParts(byParty map[Party][]string) string {
	var other []string
	for _, p := range []Party{PartySite, PartyCentral, PartyProbe} {
		if ids := byParty[p]; len(ids) > 0 {
			other = append(other, fmt.Sprintf("%s: %s", partyWords[p], strings.Join(ids, ", ")))
		}
	}
	return strings.Join(other, "; ")
}

// partyWords name the parties in a summary detail.
var partyWords = map[Party]string{PartySite: "site", PartyCentral: "central service", PartyProbe: "probe"}

// summaryParty: the site's when a site failure decides the state (or a
// cleanup failed), else a central service's when one failed, else the
// probe's.
func summaryParty(st State, own Party, siteStates []State, byParty map[Party][]string) Party {
	switch {
	case st == OK:
		return ""
	case Worst(siteStates...) == st || st == Warning:
		return own
	case len(byParty[PartyCentral]) > 0:
		return PartyCentral
	case len(byParty[PartySite]) > 0:
		return PartySite
	default:
		return PartyProbe
	}
}

// Select narrows a service to the given check ids plus, transitively, their
// prerequisites, keeping catalogue order. It reports unknown ids.
func Select(svc *Service, ids []string) (*Service, error) {
	byID := make(map[string]Check, len(svc.Checks))
	for _, c := range svc.Checks {
		byID[c.ID] = c
	}
	want := map[string]bool{}
	var visit func(id string) error
	visit = func(id string) error {
		if want[id] {
			return nil
		}
		c, ok := byID[id]
		if !ok {
			return fmt.Errorf("service %s has no check %q (checks: %s)", svc.Name, id, strings.Join(checkIDs(svc), ", "))
		}
		want[id] = true
		for _, p := range c.Requires {
			if _, ok := byID[p]; ok {
				if err := visit(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, id := range ids {
		if id == SummaryID {
			return svc, nil
		}
		if err := visit(id); err != nil {
			return nil, err
		}
	}
	cp := *svc
	cp.Checks = nil
	cp.partial = true
	for _, c := range svc.Checks {
		if want[c.ID] {
			cp.Checks = append(cp.Checks, c)
		}
	}
	return &cp, nil
}

// Skip removes the given check ids from a service. A skipped prerequisite
// counts as satisfied.
func Skip(svc *Service, ids []string) *Service {
	if len(ids) == 0 {
		return svc
	}
	drop := map[string]bool{}
	for _, id := range ids {
		drop[id] = true
	}
	cp := *svc
	cp.Checks = nil
	for _, c := range svc.Checks {
		if !drop[c.ID] {
			cp.Checks = append(cp.Checks, c)
		}
	}
	return &cp
}

func checkIDs(svc *Service) []string {
	ids := make([]string, 0, len(svc.Checks)+1)
	for _, c := range svc.Checks {
		ids = append(ids, c.ID)
	}
	return append(ids, SummaryID)
}

// CheckIDs lists a service's check ids in catalogue order, 99summary last.
func CheckIDs(svc *Service) []string { return checkIDs(svc) }
