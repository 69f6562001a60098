package serve

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/metrics"
	"github.com/gridprobe/gridprobe/internal/report"
	"github.com/gridprobe/gridprobe/internal/round"
)

// badRequest is a /probe parameter problem (answered with 400).
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

// resolve finds the job for site and service (a type such as webdav or an
// ETF service name) and the checks selected (with their prerequisites).
func (s *Server) resolve(site, service string, checks []string) (*job, selection, *config.Config, error) {
	s.mu.RLock()
	cfg, jobs := s.cfg, s.order
	s.mu.RUnlock()
	if site == "" || service == "" {
		return nil, selection{}, nil, badRequest{"missing parameter: want /probe?site=<site>&service=<type or name>[&check=<id>][&debug=true]"}
	}
	var siteNames []string
	var inSite, match []*job
	for _, j := range jobs {
		if !slices.Contains(siteNames, j.key.site) {
			siteNames = append(siteNames, j.key.site)
		}
		if j.key.site != site {
			continue
		}
		inSite = append(inSite, j)
		_, sv := j.config()
		if sv.Name == service || sv.Type == service {
			match = append(match, j)
		}
	}
	if len(inSite) == 0 {
		return nil, selection{}, nil, badRequest{fmt.Sprintf("unknown site %q (configured sites: %s)", site, strings.Join(siteNames, ", "))}
	}
	var have []string
	for _, j := range inSite {
		_, sv := j.config()
		have = append(have, sv.Type+" ("+sv.Name+")")
	}
	switch len(match) {
	case 0:
		return nil, selection{}, nil, badRequest{fmt.Sprintf("site %s has no service %q (its services: %s)", site, service, strings.Join(have, ", "))}
	case 1:
	default:
		return nil, selection{}, nil, badRequest{fmt.Sprintf("site %s has several %s services; name one: %s", site, service, strings.Join(have, ", "))}
	}
	j := match[0]
	if len(checks) == 0 {
		return j, selection{}, cfg, nil
	}
	cs, sv := j.config()
	rd, err := round.One(cfg, cs, sv, round.Options{Checks: checks, NoTokens: true})
	if err != nil {
		return nil, selection{}, nil, badRequest{fmt.Sprintf("check %s: %v", strings.Join(checks, ","), err)}
	}
	sel := selection{checks: checks, ids: map[string]bool{}}
	for _, c := range rd.Sites[0].Services[0].Checks {
		sel.ids[c.ID] = true
	}
	return j, sel, cfg, nil
}

// probeTimeout is Prometheus' scrape timeout minus the offset, like
// blackbox_exporter; without the header, the site's budget.
func (s *Server) probeTimeout(r *http.Request, budget time.Duration) (time.Duration, error) {
	h := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if h == "" {
		if budget <= 0 {
			budget = config.DefaultBudget
		}
		return budget, nil
	}
	secs, err := strconv.ParseFloat(h, 64)
	if err != nil || secs <= 0 {
		return 0, badRequest{fmt.Sprintf("bad X-Prometheus-Scrape-Timeout-Seconds %q", h)}
	}
	t := time.Duration(secs * float64(time.Second))
	if t-s.opts.TimeoutOffset > 0 {
		t -= s.opts.TimeoutOffset
	}
	return t, nil
}

func (s *Server) handleProbe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var checks []string
	for _, v := range q["check"] {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				checks = append(checks, c)
			}
		}
	}
	debug, _ := strconv.ParseBool(q.Get("debug"))
	j, sel, cfg, err := s.resolve(q.Get("site"), q.Get("service"), checks)
	if err != nil {
		http.Error(w, "probe: "+cred.Redact(err.Error()), http.StatusBadRequest)
		return
	}
	cs, sv := j.config()
	timeout, err := s.probeTimeout(r, cs.Budget)
	if err != nil {
		http.Error(w, "probe: "+err.Error(), http.StatusBadRequest)
		return
	}
	start := s.opts.Now()
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	// The run gets a little less than the request, so its results (and
	// cleanups of checks cut short) are in before the scrape gives up. It
	// does not end with the request: others may be waiting for it.
	margin := min(timeout/10, time.Second)
	runCtx, runCancel := context.WithDeadline(context.WithoutCancel(s.baseContext()), deadline.Add(-margin))

	rn, err := s.startOrJoin(ctx, j, sel, TriggerProbe, runCtx, runCancel)
	complete := false
	if err == nil {
		select {
		case <-rn.done:
			complete = true
		case <-ctx.Done():
		}
	}
	var entries []metrics.Entry
	if complete {
		entries = j.entriesOf(rn, sel)
	}
	took := s.opts.Now().Sub(start)
	reg := prometheus.NewRegistry()
	success := complete && len(entries) > 0
	for _, e := range entries {
		success = success && metrics.Success(e.State)
	}
	reg.MustRegister(metrics.NewCheckCollector(func() []metrics.Entry { return entries }),
		gauge(metrics.ProbeSuccess, "1 if the run finished in time and every check it returned is OK or WARNING.", b2f(success)),
		gauge(metrics.ProbeDuration, "How long the /probe request waited for its run.", took.Seconds()))
	if !debug {
		metrics.Write(w, reg, nil)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, cred.Redact(s.debugText(cfg, cs, sv, rn, err, complete, entries, reg)))
}

func (s *Server) baseContext() context.Context {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ctx != nil {
		return s.ctx
	}
	return context.Background()
}

func (s *Server) debugText(cfg *config.Config, cs *config.Site, sv *config.Service, rn *run, waitErr error,
	complete bool, entries []metrics.Entry, reg *prometheus.Registry) string {
	var b strings.Builder
	switch {
	case rn == nil:
		fmt.Fprintf(&b, "No run: %v\n", waitErr)
	case complete:
		fmt.Fprintf(&b, "Run %s of %s %s (trigger %s) finished in %s.\n", rn.id, cs.Name, sv.Name, rn.trigger,
			rn.end.Sub(rn.start).Round(time.Millisecond))
	default:
		fmt.Fprintf(&b, "Run %s of %s %s (trigger %s) did not finish before the deadline; its log so far follows.\n",
			rn.id, cs.Name, sv.Name, rn.trigger)
	}
	if rn != nil {
		b.WriteString("\nLogs for the run:\n")
		b.WriteString(rn.log.String())
	}
	b.WriteString("\nResults:\n")
	results := make([]engine.Result, len(entries))
	for i, e := range entries {
		results[i] = e.Result
	}
	var tb bytes.Buffer
	if err := report.Table(&tb, results, report.TableOptions{Now: s.opts.Now(), Reproduce: true}); err != nil {
		fmt.Fprintf(&tb, "(table: %v)\n", err)
	}
	b.Write(tb.Bytes())
	b.WriteString("\nMetrics that would have been returned:\n")
	if mfs, err := reg.Gather(); err == nil {
		var mb bytes.Buffer
		enc := expfmt.NewEncoder(&mb, expfmt.FmtText)
		for _, mf := range mfs {
			_ = enc.Encode(mf)
		}
		b.Write(mb.Bytes())
	}
	b.WriteString("\nEffective config of this service (sites.yaml holds no secrets, only paths to them):\n")
	one := *cfg
	site := *cs
	site.Services = []config.Service{*sv}
	one.Sites = []config.Site{site}
	if y, err := one.Redacted(); err == nil {
		b.Write(y)
	} else {
		fmt.Fprintf(&b, "(config: %v)\n", err)
	}
	return b.String()
}

type constGauge struct {
	desc *prometheus.Desc
	v    float64
}

func gauge(name, help string, v float64) prometheus.Collector {
	return constGauge{prometheus.NewDesc(name, help, nil, nil), v}
}

func (g constGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }
func (g constGauge) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.v)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
