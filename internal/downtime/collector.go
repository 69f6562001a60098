package downtime

import (
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names.
const (
	MetricScheduled = "gridprobe_service_scheduled_downtime"
	MetricFileValid = "gridprobe_downtime_file_valid"
)

// Service is one service the collector reports on.
type Service struct {
	Site, Name, Protocol, VO string
	URL                      string // its host is matched against HOSTNAME
}

// Collector exports, at every scrape, 1 for each service a scheduled outage
// covers now and 0 for the others, and whether the file loaded. The file is
// re-read when its modification time or size changes; a file that fails to
// load keeps the last good downtimes (logged, and the validity gauge is 0).
type Collector struct {
	path     string
	services func() []Service
	now      func() time.Time
	log      *slog.Logger

	mu     sync.Mutex
	list   []Downtime
	stamp  [2]int64 // mtime, size of the loaded file
	loaded bool
	valid  bool

	scheduled, fileValid *prometheus.Desc
}

// NewCollector returns a collector over the downtime file at path for the
// services services returns (called at every scrape).
func NewCollector(path string, services func() []Service, log *slog.Logger) *Collector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{path: path, services: services, now: time.Now, log: log,
		scheduled: prometheus.NewDesc(MetricScheduled,
			"1 while a SCHEDULED OUTAGE downtime (GOCDB) covers the service, else 0; reliability leaves that time out.",
			[]string{"site", "service", "protocol", "vo"}, nil),
		fileValid: prometheus.NewDesc(MetricFileValid,
			"1 if the downtime file last read parsed (else the previous downtimes are kept, and the log says why).", nil, nil)}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.scheduled
	ch <- c.fileValid
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	list, valid := c.current()
	ch <- prometheus.MustNewConstMetric(c.fileValid, prometheus.GaugeValue, b2f(valid))
	now := c.now()
	seen := map[[2]string]bool{}
	for _, s := range c.services() {
		key := [2]string{s.Site, s.Name}
		if seen[key] {
			continue
		}
		seen[key] = true
		host := s.URL
		if u, err := url.Parse(s.URL); err == nil && u.Host != "" {
			host = u.Hostname()
		}
		in := false
		for _, d := range list {
			if d.Covers(s.Site, host, s.Protocol, now) {
				in = true
				break
			}
		}
		ch <- prometheus.MustNewConstMetric(c.scheduled, prometheus.GaugeValue, b2f(in), s.Site, s.Name, s.Protocol, s.VO)
	}
}

// current re-reads the file when it changed.
func (c *Collector) current() ([]Downtime, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := os.Stat(c.path)
	if err != nil {
		if c.valid || !c.loaded {
			c.log.Error("downtime file unreadable; keeping the previous downtimes", "file", c.path, "err", err.Error())
		}
		c.valid, c.loaded = false, true
		return c.list, false
	}
	stamp := [2]int64{st.ModTime().UnixNano(), st.Size()}
	if c.loaded && stamp == c.stamp {
		return c.list, c.valid
	}
	c.stamp, c.loaded = stamp, true
	list, err := Load(c.path)
	if err != nil {
		c.valid = false
		c.log.Error("downtime file invalid; keeping the previous downtimes", "err", err.Error())
		return c.list, false
	}
	c.list, c.valid = list, true
	c.log.Info("downtimes loaded", "file", c.path, "downtimes", len(list))
	return c.list, true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
