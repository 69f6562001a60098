package metrics

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// Proxy roles exported by the credential collector.
const (
	RoleProxy        = "proxy"
	RoleForeignProxy = "foreign_proxy"
	RoleNoVOMSProxy  = "novoms_proxy"
)

// ProxyFile is one configured proxy.
type ProxyFile struct {
	Role, Path string
}

// Credentials exports the credential metrics: token requests by result and,
// for every configured proxy, its expiry and whether it loads. The token
// source and proxy list are read at every scrape, so a reload that replaces
// them is seen at once.
type Credentials struct {
	tokens  func() cred.Source
	proxies func() []ProxyFile

	tokReq, expiry, usable *prometheus.Desc
}

// NewCredentials returns the collector. tokens may return nil (no source).
func NewCredentials(tokens func() cred.Source, proxies func() []ProxyFile) *Credentials {
	return &Credentials{
		tokens:  tokens,
		proxies: proxies,
		tokReq: prometheus.NewDesc(TokenRequests,
			"Token requests of the checks by result (issued, cache_hit, shared, refused, error).", []string{"result"}, nil),
		expiry: prometheus.NewDesc(ProxyExpiry,
			"When the proxy (the earliest certificate of its chain) expires (Unix seconds).", []string{"role"}, nil),
		usable: prometheus.NewDesc(ProxyUsable,
			"1 if the proxy file loads (present, private, not expired), else 0.", []string{"role"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Credentials) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.tokReq
	ch <- c.expiry
	ch <- c.usable
}

// Collect implements prometheus.Collector.
func (c *Credentials) Collect(ch chan<- prometheus.Metric) {
	if src := c.tokens(); src != nil {
		if st, ok := src.(interface{ Stats() map[string]uint64 }); ok {
			for res, n := range st.Stats() {
				ch <- prometheus.MustNewConstMetric(c.tokReq, prometheus.CounterValue, float64(n), res)
			}
		}
	}
	for _, p := range c.proxies() {
		if p.Path == "" {
			continue
		}
		px, err := cred.LoadProxy(p.Path)
		if err != nil {
			ch <- prometheus.MustNewConstMetric(c.usable, prometheus.GaugeValue, 0, p.Role)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.usable, prometheus.GaugeValue, 1, p.Role)
		ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, unixSeconds(px.NotAfter), p.Role)
	}
}

// CountingSource wraps a token source that keeps no statistics of its own
// (a token file, BEARER_TOKEN) so that it reports Stats like
// cred.ClientCredentials: every successful call counts as issued, every
// failure as error. A source that already has Stats is returned unchanged.
func CountingSource(src cred.Source) cred.Source {
	if src == nil {
		return nil
	}
	if _, ok := src.(interface{ Stats() map[string]uint64 }); ok {
		return src
	}
	return &countingSource{Source: src, stats: map[string]uint64{}}
}

type countingSource struct {
	cred.Source
	mu    sync.Mutex
	stats map[string]uint64
}

func (s *countingSource) Token(ctx context.Context, req cred.TokenRequest) (*cred.Token, error) {
	t, err := s.Source.Token(ctx, req)
	s.mu.Lock()
	if err != nil {
		s.stats[cred.StatError]++
	} else {
		s.stats[cred.StatIssued]++
	}
	s.mu.Unlock()
	return t, err
}

// Stats returns the counts by result.
func (s *countingSource) Stats() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.stats))
	for k, v := range s.stats {
		out[k] = v
	}
	return out
}
