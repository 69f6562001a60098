// Package ar reports availability and reliability (A/R) over a time window
// from Prometheus: it asks the HTTP API (client_golang's api/prometheus/v1)
// for the average of the A/R recording rules' up samples over the window
// (dashboards/ar.go says how they follow WLCG's definition) and writes a
// table or CSV. It is `probe report --ar`.
package ar

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/gridprobe/gridprobe/dashboards"
)

// Query says what to report.
type Query struct {
	From, To time.Time
	// ByService reports services; otherwise sites.
	ByService bool
	// Site and VO are regular expressions (Prometheus =~); empty: all.
	Site, VO string
}

// Row is the A/R of one site or service over the window. A ratio is NaN
// when the window holds no known time for it.
type Row struct {
	Site, Service, Protocol, VO string
	Availability, Reliability   float64
	// Known is the time the availability was known (up or down), and
	// KnownRel the same without scheduled downtime.
	Known, KnownRel time.Duration
}

// sampleStep is the A/R rules' evaluation interval: each :up sample is
// worth this much time.
const sampleStep = time.Minute

// Fetch asks Prometheus for the A/R of every site (or service) over
// [From, To].
func Fetch(ctx context.Context, api v1.API, q Query) ([]Row, error) {
	if !q.To.After(q.From) {
		return nil, fmt.Errorf("--to %s is not after --from %s", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	}
	avail, rel := dashboards.RecSiteAvailUp, dashboards.RecSiteRelUp
	if q.ByService {
		avail, rel = dashboards.RecServiceAvailUp, dashboards.RecServiceRelUp
	}
	window := fmt.Sprintf("[%ds]", int64(q.To.Sub(q.From)/time.Second))
	sel := fmt.Sprintf(`{site=~%s, vo=~%s}`, strconv.Quote(orAll(q.Site)), strconv.Quote(orAll(q.VO)))
	rows := map[string]*Row{}
	for _, part := range []struct {
		expr string
		set  func(*Row, float64)
	}{
		{"avg_over_time(" + avail + sel + window + ")", func(r *Row, v float64) { r.Availability = v }},
		{"avg_over_time(" + rel + sel + window + ")", func(r *Row, v float64) { r.Reliability = v }},
		{"count_over_time(" + avail + sel + window + ")", func(r *Row, v float64) { r.Known = time.Duration(v) * sampleStep }},
		{"count_over_time(" + rel + sel + window + ")", func(r *Row, v float64) { r.KnownRel = time.Duration(v) * sampleStep }},
	} {
		vec, err := instant(ctx, api, part.expr, q.To)
		if err != nil {
			return nil, err
		}
		for _, s := range vec {
			key := s.Metric.String()
			r := rows[key]
			if r == nil {
				r = &Row{Site: string(s.Metric["site"]), Service: string(s.Metric["service"]), Protocol: string(s.Metric["protocol"]),
					VO: string(s.Metric["vo"]), Availability: math.NaN(), Reliability: math.NaN()}
				rows[key] = r
			}
			part.set(r, float64(s.Value))
		}
	}
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Site+"\x00"+a.Service+"\x00"+a.VO < b.Site+"\x00"+b.Service+"\x00"+b.VO
	})
	return out, nil
}

func orAll(re string) string {
	if re == "" {
		return ".*"
	}
	return re
}

// instant runs one instant query; warnings are errors (a partial answer
// would be a wrong A/R).
func instant(ctx context.Context, api v1.API, expr string, at time.Time) (model.Vector, error) {
	v, warnings, _, err := api.Query(ctx, expr, at)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %s: %w", expr, err)
	}
	if len(warnings) > 0 {
		return nil, fmt.Errorf("prometheus query %s: %s", expr, strings.Join(warnings, "; "))
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("prometheus query %s: got a %s, want a vector", expr, v.Type())
	}
	return vec, nil
}

// Percent formats a ratio as a percentage with two decimals, "-" for none.
func Percent(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64)
}

func hours(d time.Duration) string { return strconv.FormatFloat(d.Hours(), 'f', 1, 64) }

// Header returns the column names for q.
func Header(q Query) []string {
	h := []string{"site"}
	if q.ByService {
		h = append(h, "service", "protocol")
	}
	return append(h, "vo", "availability %", "reliability %", "known h", "known h (excl. downtime)")
}

// Cells returns one row's columns, in Header's order.
func Cells(r Row, q Query) []string {
	c := []string{r.Site}
	if q.ByService {
		c = append(c, r.Service, r.Protocol)
	}
	return append(c, r.VO, Percent(r.Availability), Percent(r.Reliability), hours(r.Known), hours(r.KnownRel))
}

// WriteCSV writes the rows as CSV with a header line.
func WriteCSV(w io.Writer, rows []Row, q Query) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(Header(q))
	for _, r := range rows {
		_ = cw.Write(Cells(r, q))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	return nil
}

// WriteTable writes the rows as a text table with a title line.
func WriteTable(w io.Writer, rows []Row, q Query) error {
	what := "sites"
	if q.ByService {
		what = "services"
	}
	fmt.Fprintf(w, "Availability and reliability of %s, %s to %s (UTC; WLCG: unknown time excluded, reliability also excludes scheduled downtime)\n",
		what, q.From.UTC().Format("2006-01-02 15:04"), q.To.UTC().Format("2006-01-02 15:04"))
	tb := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	tb.Header(Header(q))
	for _, r := range rows {
		if err := tb.Append(Cells(r, q)); err != nil {
			return fmt.Errorf("A/R table: %w", err)
		}
	}
	if err := tb.Render(); err != nil {
		return fmt.Errorf("A/R table: %w", err)
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no A/R data in this window (are the recording rules of dashboards/prometheus/gridprobe.rules.yml loaded?)")
	}
	return nil
}
