package serve

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/metrics"
	"github.com/gridprobe/gridprobe/internal/round"
)

// Triggers of a run (the trigger label of gridprobe_round_runs_total).
const (
	TriggerSchedule = "schedule"
	TriggerProbe    = "probe"
)

type jobKey struct{ site, service string }

// job is one service of one site: its schedule, its run in flight and the
// latest result of each of its checks.
type job struct {
	key       jobKey
	fp        string
	scheduled bool // owned by this replica's shard
	round     metrics.Round
	wake      chan struct{} // the interval changed
	stop      context.CancelFunc

	mu       sync.Mutex
	cs       *config.Site
	sv       *config.Service
	interval time.Duration
	inflight *run
	entries  []metrics.Entry // latest per check, catalogue order
	next     time.Time       // next scheduled run
	lastRun  time.Time       // end of the latest complete run
}

func newJob(key jobKey, fp string, cs *config.Site, sv *config.Service, scheduled bool) *job {
	return &job{
		key: key, fp: fp, scheduled: scheduled, cs: cs, sv: sv, interval: sv.Interval,
		round: metrics.Round{Site: cs.Name, Service: sv.Name, Protocol: sv.Type, VO: sv.VO},
		wake:  make(chan struct{}, 1),
	}
}

func (j *job) config() (*config.Site, *config.Service) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cs, j.sv
}

func (j *job) latest() []metrics.Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries)
}

// selection is which checks a run covers: all (checks nil) or the listed
// ones with their prerequisites (ids).
type selection struct {
	checks []string
	ids    map[string]bool
}

func (s selection) full() bool { return s.checks == nil }

// run is one run of a job's checks, shared by everyone waiting for it.
type run struct {
	id      string
	sel     selection
	trigger string
	start   time.Time
	log     *runLog
	done    chan struct{}
	// Set before done is closed.
	end     time.Time
	results []engine.Result
	err     error
}

// covers reports whether the run produces every result sel asks for.
func (r *run) covers(sel selection) bool {
	if r.sel.full() {
		return true
	}
	if sel.full() {
		return false
	}
	for id := range sel.ids {
		if !r.sel.ids[id] {
			return false
		}
	}
	return true
}

// startOrJoin returns the run that will produce sel's results: the one in
// flight if it covers sel, else a new one started on runCtx (whose cancel
// is called when the run ends). A run in flight that does not cover sel is
// waited for first, so a job never has two runs at once; waiting gives up
// when ctx ends.
func (s *Server) startOrJoin(ctx context.Context, j *job, sel selection, trigger string,
	runCtx context.Context, cancel context.CancelFunc) (*run, error) {
	for {
		j.mu.Lock()
		cur := j.inflight
		if cur == nil {
			r := &run{id: engine.NewRunID(), sel: sel, trigger: trigger, start: s.opts.Now(), done: make(chan struct{})}
			r.log = &runLog{log: s.log, runID: r.id}
			j.inflight = r
			j.mu.Unlock()
			s.wg.Add(1)
			go s.execute(runCtx, cancel, j, r)
			return r, nil
		}
		j.mu.Unlock()
		if cur.covers(sel) {
			cancel()
			return cur, nil
		}
		select {
		case <-cur.done:
		case <-ctx.Done():
			cancel()
			return nil, fmt.Errorf("waiting for the run in flight (%s): %w", cur.id, ctx.Err())
		}
	}
}

// execute builds the service's checks with this round's credentials, runs
// them within the site budget and records the results.
func (s *Server) execute(ctx context.Context, cancel context.CancelFunc, j *job, r *run) {
	defer s.wg.Done()
	defer cancel()
	s.mu.RLock()
	cfg, tokens := s.cfg, s.tokens
	s.mu.RUnlock()
	cs, sv := j.config()
	if j.scheduled {
		s.rounds.Started(j.round)
	}
	if s.beforeRun != nil {
		s.beforeRun(cs.Name, sv.Name, r)
	}
	r.log.Logf("run %s of %s %s (%s) started by %s", r.id, cs.Name, sv.Name, sv.RawURL, r.trigger)

	var results []engine.Result
	rd, err := round.One(cfg, cs, sv, round.Options{RunID: r.id, Tokens: tokens, NoTokens: tokens == nil, Checks: r.sel.checks})
	if err != nil {
		r.err = err
		r.log.Logf("cannot build the checks: %v", err)
		if r.sel.full() {
			results = []engine.Result{{
				Site: cs.Name, Service: sv.Name, Protocol: sv.Type, VO: sv.VO, URL: sv.RawURL,
				Check: engine.SummaryID, Credential: engine.CredNone, State: engine.Unknown,
				Detail: engine.OneLine("cannot build the checks: " + err.Error()), Start: r.start, RunID: r.id,
			}}
		}
	} else {
		runner := rd.Runner(1, r.log)
		runner.Now = s.opts.Now
		results = runner.RunSite(ctx, rd.Sites[0])
		rd.Close()
	}
	end := s.opts.Now()
	took := end.Sub(r.start)
	counts := [4]int{}
	for _, res := range results {
		if res.State >= engine.OK && res.State <= engine.Unknown {
			counts[res.State]++
		}
	}
	s.log.Info("run done", "site", cs.Name, "service", sv.Name, "run", r.id, "trigger", r.trigger,
		"checks", len(results), "ok", counts[0], "warning", counts[1], "critical", counts[2], "unknown", counts[3],
		"took", took.Round(time.Millisecond).String())

	j.mu.Lock()
	j.record(results, r.sel.full())
	if r.sel.full() {
		j.lastRun = end
	}
	r.end, r.results = end, results
	j.inflight = nil
	j.mu.Unlock()
	if j.scheduled {
		s.rounds.Finished(j.round, r.trigger, end, took, r.sel.full())
	}
	if s.opts.Publish != nil && r.trigger == TriggerSchedule {
		s.opts.Publish(results)
	}
	close(r.done)
}

// record merges a run's results into the job's latest entries, carrying
// the last-change time over where a check's state did not change. A full
// run replaces the list (checks no longer in the catalogue disappear); a
// partial one updates its checks. Called with j.mu held.
func (j *job) record(results []engine.Result, full bool) {
	type ck struct{ check, cred string }
	prev := map[ck]metrics.Entry{}
	for _, e := range j.entries {
		prev[ck{e.Check, e.Credential}] = e
	}
	next := func(res engine.Result) metrics.Entry {
		e := metrics.Entry{Result: res, LastChange: res.Start}
		if p, ok := prev[ck{res.Check, res.Credential}]; ok && p.State == res.State && !p.LastChange.IsZero() {
			e.LastChange = p.LastChange
		}
		e.Since = e.LastChange // every output (status page, /probe's table) shows the same time in state
		return e
	}
	if full {
		out := make([]metrics.Entry, 0, len(results))
		for _, res := range results {
			out = append(out, next(res))
		}
		j.entries = out
		return
	}
	for _, res := range results {
		e := next(res)
		i := slices.IndexFunc(j.entries, func(x metrics.Entry) bool {
			return x.Check == res.Check && x.Credential == res.Credential
		})
		if i >= 0 {
			j.entries[i] = e
		} else {
			j.entries = append(j.entries, e)
		}
	}
}

// entriesOf returns a finished run's results for sel as metric entries,
// with the last-change times the job recorded for them.
func (j *job) entriesOf(r *run, sel selection) []metrics.Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []metrics.Entry
	for _, res := range r.results {
		if !sel.full() && !sel.ids[res.Check] {
			continue
		}
		e := metrics.Entry{Result: res}
		for _, st := range j.entries {
			if st.Check == res.Check && st.Credential == res.Credential && st.RunID == res.RunID {
				e.LastChange, e.Since = st.LastChange, st.LastChange
			}
		}
		out = append(out, e)
	}
	return out
}

// loop runs the job on its schedule until ctx ends.
func (s *Server) loop(ctx context.Context, j *job) {
	defer s.wg.Done()
	key := j.key.site + "\x00" + j.key.service
	next := firstRun(key, s.opts.Now(), s.opts.InitialSpread)
	for {
		j.mu.Lock()
		j.next = next
		interval := j.interval
		j.mu.Unlock()
		t := time.NewTimer(next.Sub(s.opts.Now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-j.wake:
			t.Stop()
			j.mu.Lock()
			interval = j.interval
			j.mu.Unlock()
			next = nextSlot(s.opts.Now(), interval, phase(key, interval))
			continue
		case <-t.C:
		}
		start := s.opts.Now()
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		runCtx, cancel := context.WithCancel(ctx)
		r, err := s.startOrJoin(ctx, j, selection{}, TriggerSchedule, runCtx, cancel)
		if err == nil {
			select {
			case <-r.done:
			case <-ctx.Done():
				<-r.done // cancelled: wait for its cleanups before leaving
			}
		}
		<-s.sem
		ph := phase(key, interval)
		next = nextAfterRun(start, interval, ph)
		if now := s.opts.Now(); next.Before(now) {
			next = nextSlot(now, interval, ph) // the run overran its slots: skip them
		}
	}
}
