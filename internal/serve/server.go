// Package serve is `probe serve`: it runs every configured service of the
// sites this replica owns on a schedule, keeps the latest result of every
// check, and serves them over HTTP as Prometheus metrics (/metrics), an
// ETF-like status page (/), on-demand runs (/probe) and a health check
// (/healthz).
//
// Scheduling: each (site, service) is a job with its own interval (the
// service's interval from sites.yaml), a deterministic phase within that
// interval (so a thousand sites are not hit at once and a restart keeps the
// slots), a bound on how many scheduled runs go at once, and the site's
// budget per run. A job never has two runs in flight: a scheduled tick or a
// /probe request that arrives while a run covering it is going joins that
// run instead of starting another. Reload (SIGHUP in cmd/probe) keeps the
// results and schedule of unchanged services, drops removed ones and starts
// new ones; a config that fails to load is logged and the old one kept.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/metrics"
)

// Options configure a Server.
type Options struct {
	// ConfigPath is the sites.yaml read at start and at every Reload.
	ConfigPath string
	// Shard selects the sites this replica schedules (zero: all).
	Shard Shard
	// Concurrency bounds the scheduled runs in flight at once; 0 takes
	// defaults.concurrency from the config at start. On-demand /probe runs
	// are not counted: they are bounded by the scrapes and deduplicated.
	Concurrency int
	// TokenSource builds the token source for the config's credentials
	// (cmd/probe passes its own wiring). It is called at start and when a
	// reload changes the credentials; nil or an error means no tokens (token
	// checks then report UNKNOWN saying why).
	TokenSource func(config.Token) (cred.Source, error)
	// TimeoutOffset is subtracted from Prometheus' scrape timeout header
	// (X-Prometheus-Scrape-Timeout-Seconds) for /probe runs (default 0.5s).
	TimeoutOffset time.Duration
	// InitialSpread: a service added at start or by a reload first runs
	// within this of being added (deterministic per service), then on its
	// slots. Default 1m; negative runs at once.
	InitialSpread time.Duration
	// Log is the server log (NewLogger makes a redacting one); nil discards.
	Log *slog.Logger
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// Publish, when set, gets the results of every scheduled run (not of
	// /probe runs) when the run ends; it must not block (publish.Publisher).
	Publish func([]engine.Result)
}

// Server schedules the checks and serves their results.
type Server struct {
	opts   Options
	log    *slog.Logger
	reg    *prometheus.Registry
	rounds *metrics.Rounds
	sem    chan struct{}
	feed   *feedState // sites_from: (feed.go)

	mu      sync.RWMutex
	cfg     *config.Config
	tokens  cred.Source
	jobs    map[jobKey]*job
	order   []*job // config order
	loaded  time.Time
	running bool
	ctx     context.Context // set by Run
	wg      sync.WaitGroup  // schedule loops and runs

	// beforeRun, when set (tests), is called at the start of every run.
	beforeRun func(site, service string, r *run)
}

// New loads the config and prepares the server; nothing runs until Run.
func New(opts Options) (*Server, error) {
	if opts.TimeoutOffset == 0 {
		opts.TimeoutOffset = 500 * time.Millisecond
	}
	if opts.InitialSpread == 0 {
		opts.InitialSpread = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	lg := opts.Log
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: lg, reg: prometheus.NewRegistry(), jobs: map[jobKey]*job{}, feed: &feedState{}}
	s.rounds = metrics.NewRounds(s.reg)
	cfg, err := config.Load(opts.ConfigPath)
	if err == nil {
		cfg, err = s.withFeed(context.Background(), cfg) // sites_from: the feed's sites too
	}
	if err != nil {
		return nil, err
	}
	n := opts.Concurrency
	if n <= 0 {
		n = cfg.Defaults.Concurrency
	}
	if n <= 0 {
		n = 1
	}
	s.sem = make(chan struct{}, n)
	// The per-check families are not in the registry: /metrics writes them
	// straight from s.snapshot (metrics.Handler).
	s.reg.MustRegister(
		metrics.NewCredentials(s.tokenSource, s.proxyFiles),
		feedCollector{s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.apply(cfg)
	return s, nil
}

// Registry is the registry /metrics serves next to the per-check
// families of the snapshot (tests, extra collectors).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Run starts the schedule and blocks until ctx is cancelled and every run
// has finished its cleanups.
func (s *Server) Run(ctx context.Context) {
	s.mu.Lock()
	s.ctx, s.running = ctx, true
	for _, j := range s.order {
		if j.scheduled {
			s.startLoop(j)
		}
	}
	s.wg.Add(1)
	go s.feedLoop(ctx)
	s.mu.Unlock()
	<-ctx.Done()
	s.wg.Wait()
}

// Serve runs the schedule and the HTTP server on ln until ctx is cancelled,
// then shuts both down (in-flight runs are cancelled; their cleanups run).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	<-done
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

// Reload re-reads the config. On error the old config stays in use and the
// error is returned (and logged).
func (s *Server) Reload() error {
	cfg, err := config.Load(s.opts.ConfigPath)
	if err == nil {
		cfg, err = s.withFeed(context.Background(), cfg)
	}
	if err != nil {
		s.rounds.Reloaded(false, s.opts.Now())
		s.log.Error("config reload failed; keeping the previous config", "err", err.Error())
		return fmt.Errorf("reload: %w", err)
	}
	s.apply(cfg)
	return nil
}

// apply makes cfg current: unchanged jobs are kept with their results and
// schedule, changed and new ones start afresh, removed ones stop.
func (s *Server) apply(cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if s.cfg == nil || !reflect.DeepEqual(s.cfg.Credentials, cfg.Credentials) {
		s.tokens = s.newTokens(cfg)
	}
	jobs := map[jobKey]*job{}
	var order []*job
	var kept, added int
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		for k := range cs.Services {
			sv := &cs.Services[k]
			key := jobKey{cs.Name, sv.Name}
			fp := fingerprint(cfg, cs, sv)
			j := s.jobs[key]
			if j != nil && j.fp == fp {
				j.mu.Lock()
				j.cs, j.sv = cs, sv
				changed := j.interval != sv.Interval
				j.interval = sv.Interval
				j.mu.Unlock()
				if changed && j.scheduled {
					s.rounds.Add(j.round, sv.Interval)
					select {
					case j.wake <- struct{}{}:
					default:
					}
				}
				kept++
			} else {
				if j != nil {
					s.dropJob(j)
				}
				j = newJob(key, fp, cs, sv, s.opts.Shard.Owns(cs.Name))
				if j.scheduled {
					s.rounds.Add(j.round, j.interval)
					if s.running {
						s.startLoop(j)
					}
				}
				added++
			}
			jobs[key] = j
			order = append(order, j)
		}
	}
	removed := 0
	for key, j := range s.jobs {
		if _, ok := jobs[key]; !ok {
			s.dropJob(j)
			removed++
		}
	}
	s.cfg, s.jobs, s.order, s.loaded = cfg, jobs, order, now
	s.rounds.Reloaded(true, now)
	s.log.Info("config loaded", "file", cfg.File, "services", len(order), "kept", kept, "new", added,
		"removed", removed, "shard", s.opts.Shard.String())
}

func (s *Server) newTokens(cfg *config.Config) cred.Source {
	if s.opts.TokenSource == nil {
		return nil
	}
	src, err := s.opts.TokenSource(cfg.Credentials.Token)
	if err != nil {
		s.log.Warn("no token source; token checks will report UNKNOWN", "err", err.Error())
		return nil
	}
	return metrics.CountingSource(src)
}

// dropJob stops a job's schedule (cancelling its scheduled run) and its
// round metrics. Called with s.mu held.
func (s *Server) dropJob(j *job) {
	if j.stop != nil {
		j.stop()
	}
	if j.scheduled {
		s.rounds.Remove(j.round)
	}
}

func (s *Server) startLoop(j *job) {
	ctx, cancel := context.WithCancel(s.ctx)
	j.stop = cancel
	s.wg.Add(1)
	go s.loop(ctx, j)
}

// fingerprint identifies what a service's results depend on in the config:
// the site's name, VO and budget, the service (without its interval, which
// only moves the schedule, and its line number) and the certificate warning
// period. Credentials are not part of it: new credentials are used from the
// next round on, and results so far stay.
func fingerprint(cfg *config.Config, cs *config.Site, sv *config.Service) string {
	svc := *sv
	svc.Line, svc.Interval, svc.URL = 0, 0, nil
	b, err := json.Marshal(struct {
		Site, VO    string
		Budget      time.Duration
		Service     config.Service
		CertWarning time.Duration
		Prefix      string
	}{cs.Name, cs.VO, cs.Budget, svc, cfg.Defaults.CertExpiryWarning, cfg.Prefix})
	if err != nil {
		return fmt.Sprintf("unmarshalable:%p", sv) // never equal: the job restarts
	}
	return string(b)
}

func (s *Server) tokenSource() cred.Source {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tokens
}

func (s *Server) proxyFiles() []metrics.ProxyFile {
	s.mu.RLock()
	defer s.mu.RUnlock()
	x := s.cfg.Credentials.X509
	return []metrics.ProxyFile{
		{Role: metrics.RoleProxy, Path: cred.ProxyPath(x.Proxy)},
		{Role: metrics.RoleForeignProxy, Path: x.ForeignProxy},
		{Role: metrics.RoleNoVOMSProxy, Path: x.NoVOMSProxy},
	}
}

// snapshot is the latest result of every check of every scheduled job, in
// config and catalogue order.
func (s *Server) snapshot() []metrics.Entry {
	s.mu.RLock()
	order := s.order
	s.mu.RUnlock()
	var out []metrics.Entry
	for _, j := range order {
		if !j.scheduled {
			continue
		}
		out = append(out, j.latest()...)
	}
	return out
}

// RoundsDone reports whether every scheduled service has completed at
// least one full round.
func (s *Server) RoundsDone() bool {
	s.mu.RLock()
	order := s.order
	s.mu.RUnlock()
	for _, j := range order {
		if !j.scheduled {
			continue
		}
		j.mu.Lock()
		done := !j.lastRun.IsZero()
		j.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}

// Snapshot returns the latest result of every check of the services this
// replica schedules, in config and catalogue order.
func (s *Server) Snapshot() []metrics.Entry { return s.snapshot() }
