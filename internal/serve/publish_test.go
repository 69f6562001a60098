package serve

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// TestPublishGetsScheduledRunsOnly: Options.Publish receives every
// scheduled run's results (with the summary), and nothing from /probe runs.
func TestPublishGetsScheduledRunsOnly(t *testing.T) {
	got := make(chan []engine.Result, 16)
	s, _ := newTestServer(t, twoSites(endpoint(t)), Options{InitialSpread: -1,
		Publish: func(rs []engine.Result) { got <- rs }})
	// An on-demand run first, before the schedule starts: not published.
	if code, _, _ := get(t, s.Handler(), "/probe?site=T2_A&service=webdav"); code != http.StatusOK {
		t.Fatalf("/probe: %d", code)
	}
	select {
	case rs := <-got:
		t.Fatalf("a /probe run was published: %v", rs)
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	sites := map[string]bool{}
	for len(sites) < 2 {
		select {
		case rs := <-got:
			summary := false
			for _, r := range rs {
				sites[r.Site] = true
				summary = summary || r.Check == engine.SummaryID
			}
			if !summary {
				t.Errorf("a scheduled run's results lack 99summary: %v", rs)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("scheduled runs published for %v only", sites)
		}
	}
}
