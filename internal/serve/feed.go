package serve

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/metrics"
	"github.com/gridprobe/gridprobe/internal/vofeed"
)

// feedState follows sites.yaml's sites_from:. The sources are re-read every
// refresh interval; a read that fails keeps the last good sources (at start:
// the cached copy), and a result with no site, or ten times more or fewer
// sites than before, is refused: the previous configuration stays.
type feedState struct {
	mu   sync.Mutex // one load, reload or refresh at a time
	base *config.Config
	inv  *vofeed.Inventory // the good sources in use
	spec *config.SitesFrom // what inv was read for
	n    int               // sites the feed gives

	statsMu sync.Mutex // what the metrics and status page show; never held across a fetch
	stats   feedStats
}

type feedStats struct {
	on              bool
	source          string
	fetched         time.Time
	maxAge          time.Duration
	lastOK          bool
	lastErr         string
	sites, problems int
}

func (f *feedState) setStats(fn func(*feedStats)) {
	f.statsMu.Lock()
	defer f.statsMu.Unlock()
	fn(&f.stats)
}

func (f *feedState) snapshot() feedStats {
	f.statsMu.Lock()
	defer f.statsMu.Unlock()
	return f.stats
}

// withFeed returns base with the sites of its sites_from: appended (base
// itself without one). A new sites_from: (or the first) is read now, from
// the cache when a source cannot be read; otherwise the sources in use
// are re-selected for the new base. Nothing changes on error.
func (s *Server) withFeed(ctx context.Context, base *config.Config) (*config.Config, error) {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if base.SitesFrom == nil {
		f.base, f.inv, f.spec, f.n = base, nil, nil, 0
		f.setStats(func(st *feedStats) { *st = feedStats{} })
		return base, nil
	}
	inv, prev := f.inv, f.n
	if inv == nil || !reflect.DeepEqual(f.spec, base.SitesFrom) {
		var err error
		if inv, err = s.readFeed(ctx, base, true); err != nil {
			return nil, fmt.Errorf("sites_from: %w", err)
		}
		prev = 0
	}
	merged, n, err := s.feedConfig(base, inv, prev)
	if err != nil {
		return nil, err
	}
	f.base, f.inv, f.spec, f.n = base, inv, base.SitesFrom, n
	return merged, nil
}

func (s *Server) readFeed(ctx context.Context, base *config.Config, useCache bool) (*vofeed.Inventory, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*vofeed.FetchTimeout)
	defer cancel()
	inv, err := vofeed.Read(ctx, base.SitesFrom, vofeed.Options{Dir: filepath.Dir(s.opts.ConfigPath),
		CADir: base.Credentials.X509.CADir, VO: base.VO, UseCache: useCache, Now: s.opts.Now})
	if err != nil {
		return nil, err
	}
	for _, c := range inv.Cached {
		s.log.Warn("sites_from: a source could not be read; using its cached copy", "why", c)
	}
	return inv, nil
}

// feedConfig selects the inventory's sites for base and merges them,
// refusing an empty result or a tenfold change from prev sites.
func (s *Server) feedConfig(base *config.Config, inv *vofeed.Inventory, prev int) (*config.Config, int, error) {
	sel, probs := vofeed.Select(inv.Feed, inv.CRIC, vofeed.FilterOf(base.SitesFrom), base)
	merged, more := vofeed.Merge(base, sel)
	probs = append(append(inv.Problems, probs...), more...)
	n := len(merged.Sites) - len(base.Sites)
	for i, p := range probs {
		if i == 20 {
			s.log.Warn("sites_from: more problems not logged", "count", len(probs)-20)
			break
		}
		s.log.Warn("sites_from: entry left out", "problem", p.String())
	}
	if err := vofeed.CheckChange(prev, n); err != nil {
		return nil, 0, fmt.Errorf("sites_from: %w; keeping the previous configuration", err)
	}
	skipped := 0
	for _, k := range sel.Skipped {
		skipped += k.Count
	}
	s.log.Info("sites_from: feed read", "sources", fmt.Sprint(sel.Sources), "sites", n, "services", sel.Services,
		"skipped", skipped, "problems", len(probs), "read", inv.Fetched.UTC().Format(time.RFC3339))
	s.feed.setStats(func(st *feedStats) {
		*st = feedStats{on: true, source: fmt.Sprint(sel.Sources), fetched: inv.Fetched, maxAge: base.SitesFrom.MaxAge,
			lastOK: true, sites: n, problems: len(probs)}
	})
	return merged, n, nil
}

// RefreshFeed re-reads the sources of sites_from: now and applies the
// result; on failure the sources in use stay (and the failure is returned).
// The refresh loop calls it every sites_from.refresh.
func (s *Server) RefreshFeed(ctx context.Context) error {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.spec == nil {
		return nil
	}
	inv, err := s.readFeed(ctx, f.base, false)
	if err == nil {
		var merged *config.Config
		var n int
		if merged, n, err = s.feedConfig(f.base, inv, f.n); err == nil {
			f.inv, f.n = inv, n
			s.apply(merged)
			return nil
		}
	}
	s.feedFailed(err, f.inv.Fetched, f.spec.MaxAge)
	return err
}

func (s *Server) feedFailed(err error, fetched time.Time, maxAge time.Duration) {
	s.feed.setStats(func(st *feedStats) { st.lastOK, st.lastErr = false, err.Error() })
	age := s.opts.Now().Sub(fetched)
	if age > maxAge {
		s.log.Warn("WARNING sites_from: the feed in use is stale (refreshes fail)", "err", err.Error(),
			"age", age.Round(time.Second).String(), "max_age", maxAge.String())
		return
	}
	s.log.Warn("sites_from: refresh failed; keeping the feed in use", "err", err.Error(),
		"age", age.Round(time.Second).String())
}

// feedLoop refreshes the feed every sites_from.refresh until ctx ends.
func (s *Server) feedLoop(ctx context.Context) {
	defer s.wg.Done()
	for {
		s.feed.mu.Lock()
		spec := s.feed.spec
		s.feed.mu.Unlock()
		wait := time.Hour // no sites_from: look again later (a reload may add one)
		if spec != nil {
			wait = spec.Refresh
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		_ = s.RefreshFeed(ctx) // logged
	}
}

// feedCollector exports the feed's state and one gridprobe_site_info
// series per scheduled site.
type feedCollector struct{ s *Server }

var (
	siteInfoDesc = prometheus.NewDesc(metrics.SiteInfo, "A site this replica schedules, with its groups (tier, country, federation) as labels; join on site.",
		metrics.SiteInfoLabels, nil)
	feedAgeDesc    = prometheus.NewDesc(metrics.FeedAge, "Seconds since the sites_from sources in use were read.", nil, nil)
	feedMaxAgeDesc = prometheus.NewDesc(metrics.FeedMaxAge, "sites_from.max_age: older sources are stale.", nil, nil)
	feedOKDesc     = prometheus.NewDesc(metrics.FeedRefreshSuccess, "1 if the last read of the sites_from sources was used, 0 if it failed or was refused.", nil, nil)
	feedSitesDesc  = prometheus.NewDesc(metrics.FeedSites, "Sites from the sites_from sources in use.", nil, nil)
)

func (c feedCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{siteInfoDesc, feedAgeDesc, feedMaxAgeDesc, feedOKDesc, feedSitesDesc} {
		ch <- d
	}
}

func (c feedCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.RLock()
	cfg := c.s.cfg
	c.s.mu.RUnlock()
	for _, site := range cfg.Sites {
		if c.s.opts.Shard.Owns(site.Name) {
			ch <- prometheus.MustNewConstMetric(siteInfoDesc, prometheus.GaugeValue, 1,
				site.Name, site.VO, site.Groups.Tier, site.Groups.Country, site.Groups.Federation)
		}
	}
	st := c.s.feed.snapshot()
	if !st.on {
		return
	}
	ok := 0.0
	if st.lastOK {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(feedAgeDesc, prometheus.GaugeValue, c.s.opts.Now().Sub(st.fetched).Seconds())
	ch <- prometheus.MustNewConstMetric(feedMaxAgeDesc, prometheus.GaugeValue, st.maxAge.Seconds())
	ch <- prometheus.MustNewConstMetric(feedOKDesc, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(feedSitesDesc, prometheus.GaugeValue, float64(st.sites))
}
