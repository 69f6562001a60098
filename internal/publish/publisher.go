package publish

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// Options configure a Publisher. FromConfig fills them from sites.yaml.
type Options struct {
	// Broker is host:port; TLS, when set, makes it STOMP over TLS (its
	// ServerName and roots must be set; a client certificate optional).
	Broker string
	TLS    *tls.Config
	// Destination is where every message goes, e.g. /topic/sam.cms.metrics.
	Destination string
	// Login and Passcode for the STOMP CONNECT; empty: none.
	Login, Passcode string
	// VHost is the STOMP host header; default "/".
	VHost string

	SpoolDir         string
	SpoolMaxMessages int
	SpoolMaxBytes    int64
	MaxMessageBytes  int
	QueueSize        int
	// Timeout bounds a connect (TCP, TLS and CONNECT) and each message's
	// receipt.
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the wait between failed attempts
	// (doubling from min to max); defaults 1s and 1m.
	BackoffMin, BackoffMax time.Duration
	// GatheredAt names this probe host in the messages.
	GatheredAt string
	// Log gets one line per failure and per (re)connect; nil discards.
	Log *slog.Logger
	// Registerer, if set, gets the publisher's metrics.
	Registerer prometheus.Registerer
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// Stats are the publisher's counts so far.
type Stats struct {
	Published, Spooled, Dropped, Truncated, Errors int64
	// Pending is what the spool still holds.
	Pending int
}

// Publisher turns results into messages and delivers them (see the package
// comment).
type Publisher struct {
	o       Options
	log     *slog.Logger
	spool   *spool
	queue   chan engine.Result
	wake    chan struct{} // a message was spooled
	drained chan struct{} // the sender removed a message
	stop    chan struct{} // Close gave up waiting: the sender stops
	runID   string
	seq     atomic.Uint64
	m       *metricSet

	closeOnce             sync.Once
	qmu                   sync.RWMutex // Publish (read) against Close closing the queue (write)
	closed                bool
	writerDone, senderDon chan struct{}

	published, spooled, dropped, truncated, errs atomic.Int64

	dropMu  sync.Mutex
	dropLog map[string]*dropNote

	connMu sync.Mutex
	conn   *brokerConn // the sender's connection; Close may abort it
}

// New opens the spool and starts delivering (including what an earlier run
// left in the spool). It fails only when the spool cannot be used.
func New(o Options) (*Publisher, error) {
	if o.BackoffMin <= 0 {
		o.BackoffMin = time.Second
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(time.Minute, o.BackoffMin)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.VHost == "" {
		o.VHost = "/"
	}
	if o.QueueSize <= 0 || o.SpoolMaxMessages <= 0 || o.SpoolMaxBytes <= 0 || o.MaxMessageBytes <= 0 || o.Timeout <= 0 {
		return nil, errors.New("publish: queue, spool and message bounds and the timeout must be positive")
	}
	sp, err := openSpool(o.SpoolDir, o.SpoolMaxMessages, o.SpoolMaxBytes)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	lg := o.Log
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{o: o, log: lg.With("component", "publish"), spool: sp, queue: make(chan engine.Result, o.QueueSize),
		wake: make(chan struct{}, 1), drained: make(chan struct{}, 1), stop: make(chan struct{}),
		runID: engine.NewRunID(), writerDone: make(chan struct{}), senderDon: make(chan struct{})}
	p.m = newMetrics(p)
	if o.Registerer != nil {
		for _, c := range p.m.collectors() {
			if err := o.Registerer.Register(c); err != nil {
				sp.close()
				return nil, fmt.Errorf("publish: register metrics: %w", err)
			}
		}
	}
	if n, _ := sp.size(); n > 0 {
		p.log.Info("spool holds messages from an earlier run; sending them first", "spool", o.SpoolDir, "messages", n)
	}
	go p.writer()
	go p.sender()
	return p, nil
}

// Publish queues results for delivery and returns at once. When the queue
// is full the rest are dropped (logged and counted): a round never waits
// for the broker or the disk.
func (p *Publisher) Publish(results []engine.Result) {
	p.qmu.RLock()
	defer p.qmu.RUnlock()
	if p.closed {
		p.drop(DropClosed, len(results), "publisher closed")
		return
	}
	for i, r := range results {
		select {
		case p.queue <- r:
		default:
			p.drop(DropQueueFull, len(results)-i, "in-memory queue full (publish.queue_size); the spool disk is too slow")
			return
		}
	}
}

func (p *Publisher) drop(reason string, n int, why string) {
	if n <= 0 {
		return
	}
	p.dropped.Add(int64(n))
	p.m.dropped.WithLabelValues(reason).Add(float64(n))
	// One line per reason and minute at most: a full spool during a long
	// outage drops on every message.
	p.dropMu.Lock()
	defer p.dropMu.Unlock()
	if p.dropLog == nil {
		p.dropLog = map[string]*dropNote{}
	}
	d := p.dropLog[reason]
	if d == nil {
		d = &dropNote{}
		p.dropLog[reason] = d
	}
	d.pending += n
	if now := p.o.Now(); d.last.IsZero() || now.Sub(d.last) >= time.Minute {
		p.log.Warn("results dropped, not published", "reason", reason, "results", d.pending, "why", why)
		d.last, d.pending = now, 0
	}
}

// dropNote is when drops of one reason were last logged, and how many
// came since.
type dropNote struct {
	last    time.Time
	pending int
}

// writer formats queued results and spools them, until the queue closes.
func (p *Publisher) writer() {
	defer close(p.writerDone)
	for r := range p.queue {
		id := p.runID + "." + strconv.FormatUint(p.seq.Add(1), 10)
		m, cut := Format(r, id, p.o.GatheredAt, p.o.MaxMessageBytes)
		if cut > 0 {
			p.truncated.Add(1)
			p.m.truncated.Inc()
			p.log.Warn("details cut to fit publish.max_message_bytes", "site", r.Site, "metric", r.Metric(),
				"cut_bytes", cut, "max_message_bytes", p.o.MaxMessageBytes)
		}
		evicted, err := p.spool.put(m)
		if evicted > 0 {
			p.drop(DropSpoolFull, evicted, "spool full (publish.spool_max_messages / spool_max_bytes); oldest messages removed")
		}
		if err != nil {
			p.drop(DropSpoolErr, 1, err.Error())
			continue
		}
		p.spooled.Add(1)
		p.m.spooled.Inc()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Close stops taking results, spools what is queued, and waits until the
// broker acknowledged everything spooled or ctx ends, whichever is first.
// What is not delivered stays in the spool for the next run. It returns an
// error when messages are left.
func (p *Publisher) Close(ctx context.Context) error {
	var err error
	p.closeOnce.Do(func() {
		p.qmu.Lock()
		p.closed = true
		close(p.queue)
		p.qmu.Unlock()
		select {
		case <-p.writerDone:
		case <-ctx.Done():
		}
	wait:
		for n, _ := p.spool.size(); n > 0; n, _ = p.spool.size() {
			select {
			case <-p.drained:
			case <-ctx.Done():
				break wait
			}
		}
		close(p.stop)
		p.abort()
		<-p.senderDon
		<-p.writerDone
		if n, _ := p.spool.size(); n > 0 {
			err = fmt.Errorf("publish: %d messages not yet acknowledged by the broker stay in %s (sent by the next run or probe serve)", n, p.o.SpoolDir)
		}
		p.spool.close()
	})
	return err
}

// Stats returns the counts so far.
func (p *Publisher) Stats() Stats {
	n, _ := p.spool.size()
	return Stats{Published: p.published.Load(), Spooled: p.spooled.Load(), Dropped: p.dropped.Load(),
		Truncated: p.truncated.Load(), Errors: p.errs.Load(), Pending: n}
}

// Collectors are the publisher's metrics (registered already when
// Options.Registerer was set).
func (p *Publisher) Collectors() []prometheus.Collector { return p.m.collectors() }
