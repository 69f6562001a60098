package publish

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names (internal/metrics naming: gridprobe_<subsystem>_<what>).
const (
	MetricPublished   = "gridprobe_publish_published_total"
	MetricSpooled     = "gridprobe_publish_spooled_total"
	MetricDropped     = "gridprobe_publish_dropped_total"
	MetricErrors      = "gridprobe_publish_errors_total"
	MetricTruncated   = "gridprobe_publish_truncated_total"
	MetricLastSuccess = "gridprobe_publish_last_success_timestamp_seconds"
	MetricSpoolMsgs   = "gridprobe_publish_spool_messages"
	MetricSpoolBytes  = "gridprobe_publish_spool_bytes"
	MetricQueue       = "gridprobe_publish_queue_messages"
	MetricConnected   = "gridprobe_publish_connected"
)

// Reasons a message is dropped (the reason label of MetricDropped).
const (
	DropQueueFull = "queue_full"  // the in-memory queue was full (disk too slow)
	DropSpoolFull = "spool_full"  // the oldest spooled message made room for a new one
	DropRejected  = "rejected"    // the broker refused this message three times
	DropCorrupt   = "corrupt"     // a spool file could not be read back
	DropSpoolErr  = "spool_error" // the spool file could not be written
	DropClosed    = "closed"      // results handed over after Close
)

// Error kinds (the reason label of MetricErrors).
const (
	ErrConnect = "connect" // TCP connect failed
	ErrTLS     = "tls"     // TLS handshake failed (certificate, CA, protocol)
	ErrAuth    = "auth"    // the broker refused the login (ERROR frame to CONNECT)
	ErrSend    = "send"    // the connection broke or timed out while sending
	ErrReject  = "rejected"
)

// metricSet holds the publisher's collectors.
type metricSet struct {
	published, spooled, truncated prometheus.Counter
	dropped, errors               *prometheus.CounterVec
	lastSuccess, connected        prometheus.Gauge
	spoolMsgs, spoolBytes, queue  prometheus.GaugeFunc
}

func newMetrics(p *Publisher) *metricSet {
	m := &metricSet{
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricPublished,
			Help: "Results the broker acknowledged (RECEIPT received)."}),
		spooled: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricSpooled,
			Help: "Results written to the on-disk spool."}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricTruncated,
			Help: "Messages whose details were cut to publish.max_message_bytes."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricDropped,
			Help: "Results never published, by reason (queue_full, spool_full, rejected, corrupt, spool_error, closed)."}, []string{"reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricErrors,
			Help: "Failed broker connections and sends, by reason (connect, tls, auth, send, rejected)."}, []string{"reason"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricLastSuccess,
			Help: "When the broker last acknowledged a message (Unix seconds)."}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricConnected,
			Help: "1 while connected to the broker."}),
	}
	m.spoolMsgs = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: MetricSpoolMsgs,
		Help: "Messages in the spool waiting for the broker."}, func() float64 { n, _ := p.spool.size(); return float64(n) })
	m.spoolBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: MetricSpoolBytes,
		Help: "Bytes of the messages in the spool."}, func() float64 { _, b := p.spool.size(); return float64(b) })
	m.queue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: MetricQueue,
		Help: "Results waiting in memory to be spooled."}, func() float64 { return float64(len(p.queue)) })
	for _, r := range []string{DropQueueFull, DropSpoolFull, DropRejected, DropCorrupt, DropSpoolErr, DropClosed} {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range []string{ErrConnect, ErrTLS, ErrAuth, ErrSend, ErrReject} {
		m.errors.WithLabelValues(r)
	}
	return m
}

func (m *metricSet) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.published, m.spooled, m.truncated, m.dropped, m.errors, m.lastSuccess,
		m.connected, m.spoolMsgs, m.spoolBytes, m.queue}
}
