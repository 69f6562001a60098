package publish

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// closedPort is a local port nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestPublishNeverBlocks: with the broker unreachable and a queue of one,
// publishing a large round returns at once; every result is either spooled
// or counted as dropped, none is lost silently.
func TestPublishNeverBlocks(t *testing.T) {
	lines := newLogLines("cannot connect to the broker", "results dropped")
	p, err := New(Options{Broker: closedPort(t), Destination: "/queue/x", SpoolDir: filepath.Join(t.TempDir(), "spool"),
		SpoolMaxMessages: 100_000, SpoolMaxBytes: 1 << 30, MaxMessageBytes: 4096, QueueSize: 1, Timeout: time.Second,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond, Log: lines.logger()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	start := time.Now()
	p.Publish(results(n))
	took := time.Since(start)
	lines.wait(t, "results dropped", time.Second)
	lines.wait(t, "cannot connect to the broker", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err == nil || !strings.Contains(err.Error(), "not yet acknowledged") {
		t.Errorf("Close: %v", err)
	}
	st := p.Stats()
	if st.Spooled+st.Dropped != n || st.Dropped == 0 || st.Published != 0 || st.Pending != int(st.Spooled) {
		t.Errorf("stats %+v (publish took %s)", st, took)
	}
	if v := testutil.ToFloat64(p.m.dropped.WithLabelValues(DropQueueFull)); v != float64(st.Dropped) {
		t.Errorf("%s{reason=queue_full} = %v, want %d", MetricDropped, v, st.Dropped)
	}
	if v := testutil.ToFloat64(p.m.errors.WithLabelValues(ErrConnect)); v < 1 {
		t.Errorf("%s{reason=connect} = %v", MetricErrors, v)
	}
	t.Logf("Publish of %d results took %s; %d spooled, %d dropped", n, took, st.Spooled, st.Dropped)
}

func TestNewRefusesBadOptions(t *testing.T) {
	if _, err := New(Options{SpoolDir: t.TempDir()}); err == nil {
		t.Error("zero bounds accepted")
	}
}
