// Command gen writes gridprobe's Grafana dashboards and Prometheus rules
// (dashboards/grafana/*.json, dashboards/prometheus/gridprobe.rules.yml).
// Run from the repository root: go run ./dashboards/gen [-dir dashboards].
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gridprobe/gridprobe/dashboards"
)

func main() {
	dir := flag.String("dir", "dashboards", "dashboards directory to write into")
	flag.Parse()
	if err := dashboards.Write(*dir); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}
