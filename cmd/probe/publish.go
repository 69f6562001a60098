package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/downtime"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/publish"
	"github.com/gridprobe/gridprobe/internal/serve"
)

// runPublisher starts the publisher of `probe run --publish` before the
// round, so a spool another process holds or an unreadable credentials file
// stops the run before any check. Without --publish it returns nil.
func runPublisher(cfg *config.Config, want, debug bool, stderr io.Writer) (*publish.Publisher, error) {
	if !want {
		return nil, nil
	}
	if !cfg.Publish.Enabled() {
		return nil, fmt.Errorf("--publish: %s has no publish: section with a url", cfg.File)
	}
	level := slog.LevelWarn
	if debug {
		level = slog.LevelDebug
	}
	return publish.FromConfig(cfg, serve.NewLogger(stderr, level), nil)
}

// publishResults hands the round's results to the publisher and waits up to
// publish.flush_timeout for the broker to acknowledge them; what is left
// stays in the spool for the next run. Publishing never changes run's exit
// code: that is the worst check state.
func publishResults(pub *publish.Publisher, cfg *config.Config, results []engine.Result, stderr io.Writer) {
	if pub == nil {
		return
	}
	pub.Publish(results)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Publish.FlushTimeout)
	defer cancel()
	err := pub.Close(ctx)
	st := pub.Stats()
	fmt.Fprintf(stderr, "probe run: published %d results to %s %s (%d dropped, %d details cut)\n",
		st.Published, cfg.Publish.URL, cfg.Publish.Destination, st.Dropped, st.Truncated)
	if err != nil {
		fmt.Fprintf(stderr, "probe run: %v\n", err)
	}
}

// servePublisher is the publisher of `probe serve` (nil when sites.yaml
// configures none). The publish: section is read at start; a change needs a
// restart.
func servePublisher(cfgPath string, lg *slog.Logger) (*publish.Publisher, func([]engine.Result), error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	pub, err := publish.FromConfig(cfg, lg, nil)
	if err != nil || pub == nil {
		return nil, nil, err
	}
	return pub, pub.Publish, nil
}

// serveExtras registers the publisher's metrics and the downtime collector
// with the server, and returns what to run at shutdown.
func serveExtras(srv *serve.Server, pub *publish.Publisher, downtimes string, lg *slog.Logger) (closeFn func(), err error) {
	if pub != nil {
		for _, c := range pub.Collectors() {
			if err := srv.Registry().Register(c); err != nil {
				return nil, fmt.Errorf("publish metrics: %w", err)
			}
		}
	}
	if downtimes != "" {
		services := func() []downtime.Service {
			var out []downtime.Service
			for _, e := range srv.Snapshot() {
				out = append(out, downtime.Service{Site: e.Site, Name: e.Service, Protocol: e.Protocol, VO: e.VO, URL: e.URL})
			}
			return out
		}
		if err := srv.Registry().Register(downtime.NewCollector(downtimes, services, lg)); err != nil {
			return nil, fmt.Errorf("downtime metrics: %w", err)
		}
	}
	return func() {
		if pub == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := pub.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
			lg.Warn("publisher stopped", "err", err.Error())
		}
	}, nil
}
