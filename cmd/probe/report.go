package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/gridprobe/gridprobe/internal/ar"
)

// cmdReport runs `probe report --ar`: availability and reliability per site
// (or service) over [from, to], from the A/R recording rules in Prometheus.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("report", stderr)
	arFlag := fs.Bool("ar", false, "availability and reliability (the only report so far)")
	now := time.Now().UTC()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	from := fs.String("from", monthStart.Format("2006-01-02"), "start (UTC): 2006-01-02 or RFC 3339")
	to := fs.String("to", "", "end (UTC): 2006-01-02 (midnight) or RFC 3339; default now")
	promURL := fs.String("prometheus", envOr("PROMETHEUS_URL", "http://127.0.0.1:9090"), "Prometheus that scrapes probe serve and has gridprobe.rules.yml loaded")
	format := fs.String("format", "table", "output: table, csv")
	byService := fs.Bool("services", false, "one row per service instead of per site")
	site := fs.String("site", "", "only sites matching this regular expression")
	vo := fs.String("vo", "", "only VOs matching this regular expression")
	timeout := fs.Duration("timeout", 30*time.Second, "Prometheus query timeout")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	q := ar.Query{ByService: *byService, Site: *site, VO: *vo, To: now}
	var err error
	switch {
	case !*arFlag:
		err = fmt.Errorf("say which report: --ar")
	case *format != "table" && *format != "csv":
		err = fmt.Errorf("unknown format %q (table, csv)", *format)
	}
	if err == nil {
		q.From, err = parseWhen("--from", *from)
	}
	if err == nil && *to != "" {
		q.To, err = parseWhen("--to", *to)
	}
	if err != nil {
		fmt.Fprintf(stderr, "probe report: %v\n", err)
		return 3
	}
	client, err := api.NewClient(api.Config{Address: *promURL})
	if err != nil {
		fmt.Fprintf(stderr, "probe report: prometheus %s: %v\n", *promURL, err)
		return 3
	}
	qctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rows, err := ar.Fetch(qctx, v1.NewAPI(client), q)
	if err == nil && *format == "csv" {
		err = ar.WriteCSV(stdout, rows, q)
	} else if err == nil {
		err = ar.WriteTable(stdout, rows, q)
	}
	if err != nil {
		fmt.Fprintf(stderr, "probe report: %v\n", err)
		return 3
	}
	return 0
}

// parseWhen reads a UTC date (midnight) or an RFC 3339 time.
func parseWhen(flag, s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want 2006-01-02 or 2006-01-02T15:04:05Z", flag, s)
	}
	return t.UTC(), nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
