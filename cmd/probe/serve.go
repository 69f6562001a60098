package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gridprobe/gridprobe/internal/round"
	"github.com/gridprobe/gridprobe/internal/serve"
)

// cmdServe runs `probe serve`: the scheduler plus the HTTP endpoints
// (/metrics, /probe, /, /healthz) until ctx is cancelled. SIGHUP reloads
// sites.yaml.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", stderr)
	cfgPath := fs.String("c", defaultConfig, "sites.yaml to read (SIGHUP reloads it)")
	listen := fs.String("listen", "127.0.0.1:9660", "address to serve HTTP on (e.g. :9660 in a container)")
	shardFlag := fs.String("shard", "", "schedule only the sites of shard i/n (0 <= i < n; stable hash of the site name)")
	concurrency := fs.Int("concurrency", 0, "scheduled service runs at once (default: defaults.concurrency)")
	offset := fs.Duration("timeout-offset", 500*time.Millisecond, "subtracted from Prometheus' scrape timeout for /probe runs")
	spread := fs.Duration("initial-spread", time.Minute, "first rounds after start or reload are spread over this (then: every interval, on the service's slot)")
	debug := fs.Bool("debug", false, "log every check's debug lines (credentials are never logged)")
	downtimes := fs.String("downtimes", "", "GOCDB downtime XML (get_downtime export): exports gridprobe_service_scheduled_downtime for the A/R rules")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	shard, err := serve.ParseShard(*shardFlag)
	if err != nil {
		fmt.Fprintf(stderr, "probe serve: %v\n", err)
		return 3
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	lg := serve.NewLogger(stderr, level)
	pub, publishFn, err := servePublisher(*cfgPath, lg)
	if err != nil {
		fmt.Fprintf(stderr, "probe serve: %v\n", err)
		return 3
	}
	srv, err := serve.New(serve.Options{Publish: publishFn,
		ConfigPath: *cfgPath, Shard: shard, Concurrency: *concurrency, TimeoutOffset: *offset,
		InitialSpread: *spread, Log: lg,
		TokenSource: round.TokenSource,
	})
	if err != nil {
		fmt.Fprintf(stderr, "probe serve: %v\n", err)
		return 3
	}
	closeExtras, err := serveExtras(srv, pub, *downtimes, lg)
	if err != nil {
		fmt.Fprintf(stderr, "probe serve: %v\n", err)
		return 3
	}
	defer closeExtras()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "probe serve: %v\n", err)
		return 3
	}
	fmt.Fprintf(stdout, "probe serve: listening on http://%s/ (%s)\n", ln.Addr(), shard)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				lg.Info("SIGHUP: reloading config", "file", *cfgPath)
				_ = srv.Reload() // logged by Reload; the old config stays
			}
		}
	}()
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "probe serve: %v\n", err)
		return 3
	}
	return 0
}
