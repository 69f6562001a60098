package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/vofeed"
)

// loadConfig reads sites.yaml and, with sites_from:, its feed's sites;
// what the feed left out is reported on report.
func loadConfig(ctx context.Context, path string, report io.Writer) (*config.Config, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*vofeed.FetchTimeout)
	defer cancel()
	return vofeed.LoadConfig(ctx, path, report)
}

// effectiveKeys are the service values `probe list` and `probe validate
// -effective` show, with where each comes from.
var effectiveKeys = []string{"url", "path", "scope_base", "read_file", "write_dir", "foreign_file", "federation", "queue",
	"audience", "skip", "timeout", "interval", "tpc_partners"}

// writeEffective writes a service's effective values, one a line, each
// with its origin: the file:line:col of the service's own key, of the
// template (defaults.templates.<type>), or "default".
func writeEffective(w io.Writer, sv *config.Service, indent string) {
	for _, k := range effectiveKeys {
		v := effectiveValue(sv, k)
		if v == "" {
			continue
		}
		from := sv.From[k]
		if from == "" {
			from = defaultOrigin[k]
		}
		if from == "" {
			from = "default"
		}
		fmt.Fprintf(w, "%s%-13s %-44s %s\n", indent, k, v, from)
	}
}

func effectiveValue(sv *config.Service, key string) string {
	switch key {
	case "url":
		return sv.RawURL
	case "path":
		return sv.Path
	case "scope_base":
		return sv.ScopeBase
	case "read_file":
		if sv.ReadFile.Path == "" {
			return ""
		}
		s := sv.ReadFile.Path
		if sv.ReadFile.Adler32 != "" {
			s += " adler32 " + sv.ReadFile.Adler32
		}
		if sv.ReadFile.Size >= 0 {
			s += fmt.Sprintf(" size %d", sv.ReadFile.Size)
		}
		return s
	case "write_dir":
		return sv.WriteDir
	case "foreign_file":
		return sv.ForeignFile
	case "federation":
		return sv.Federation
	case "queue":
		return sv.Queue
	case "audience":
		return sv.Audience
	case "skip":
		return strings.Join(sv.Skip, ", ")
	case "timeout":
		return shortDur(sv.Timeout)
	case "interval":
		return shortDur(sv.Interval)
	case "tpc_partners":
		var ps []string
		for _, p := range sv.TPCPartners {
			ps = append(ps, p.Name+"="+p.RawURL)
		}
		return strings.Join(ps, ", ")
	}
	return ""
}

// shortDur writes 30m rather than 30m0s.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// defaultOrigin says where a value nobody wrote comes from.
var defaultOrigin = map[string]string{
	"audience": "default: the url's scheme://host[:port]",
	"timeout":  "default: defaults.timeout",
	"interval": "default: defaults.storage_interval / ce_interval",
}

// groupsText is a site's groups for list output.
func groupsText(g config.Groups) string {
	var parts []string
	for _, kv := range [][2]string{{"tier", g.Tier}, {"country", g.Country}, {"federation", g.Federation}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ", " + strings.Join(parts, ", ")
}
