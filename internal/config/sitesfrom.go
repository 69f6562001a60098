package config

import (
	"fmt"
	"github.com/gridprobe/gridprobe/internal/protocol"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults of sites_from.
const (
	DefaultFeedRefresh = 6 * time.Hour  // ETF rebuilds its configuration from the feed every 6 hours
	DefaultFeedMaxAge  = 24 * time.Hour // older than this, the feed in use is stale (WARNING)
)

// SitesFrom is sites_from: a VO feed and/or a CRIC query whose sites are
// probed besides the sites written in the file (a written site or endpoint
// wins over the feed's). internal/vofeed reads it; Parse only checks it.
type SitesFrom struct {
	// VOFeed and CRIC are https URLs or file paths (relative to the
	// directory of sites.yaml). At least one is set.
	VOFeed string `yaml:"vofeed,omitempty"`
	CRIC   string `yaml:"cric,omitempty"`
	// Refresh: probe serve re-reads the sources this often.
	Refresh time.Duration `yaml:"refresh"`
	// MaxAge: a feed in use that was fetched longer ago than this (because
	// fetches fail) is stale: logged as a WARNING and shown on the status page.
	MaxAge time.Duration `yaml:"max_age"`
	// Cache: a file keeping the last good source, used when a fetch fails
	// (also at start); empty: none.
	Cache string `yaml:"cache,omitempty"`
	// Groups keeps sites with one of these groups: a feed group name
	// (Tier-2) or tier=2, country=US, federation=X.
	Groups []string `yaml:"groups,omitempty"`
	// Production: "true" (production services only; default), "false"
	// (only the others) or "any".
	Production string `yaml:"production,omitempty"`
	// Flavours keeps only these flavours (WEBDAV, …) or types (webdav, …).
	Flavours []string `yaml:"flavours,omitempty"`
}

var sitesFromKeys = []string{"vofeed", "cric", "refresh", "max_age", "cache", "groups", "production", "flavours"}

func (d *decoder) sitesFrom(top *fields) *SitesFrom {
	e, ok := top.m["sites_from"]
	if !ok {
		return nil
	}
	f := d.mapping(e.val, "sites_from", sitesFromKeys)
	if f == nil {
		return nil
	}
	sf := &SitesFrom{Refresh: DefaultFeedRefresh, MaxAge: DefaultFeedMaxAge, Production: "true"}
	sf.VOFeed = d.source(f, "vofeed")
	sf.CRIC = d.source(f, "cric")
	if !f.has("vofeed") && !f.has("cric") {
		d.errorf(f.node, "sites_from: set vofeed (the ETF VO feed XML) or cric (a CRIC JSON query), or both")
	}
	d.duration(f, "refresh", &sf.Refresh, false)
	d.duration(f, "max_age", &sf.MaxAge, false)
	sf.Cache, _ = d.str(f, "cache", "cache")
	if p, n := d.str(f, "production", "production"); n != nil {
		if slices.Contains([]string{"true", "false", "any"}, p) {
			sf.Production = p
		} else {
			d.errorf(n, "production: %q must be true, false or any", truncate(p, 20))
		}
	}
	sf.Groups = d.wordList(f, "groups")
	sf.Flavours = d.wordList(f, "flavours")
	return sf
}

// source reads a feed location: an https URL or a file path.
func (d *decoder) source(f *fields, key string) string {
	s, n := d.str(f, key, key)
	if n == nil {
		return ""
	}
	if strings.Contains(s, "://") {
		if d.url(key, s, n, []string{"https"}, "https (the feed decides what is probed: it must come over a verified connection)", "sites_from") == nil {
			return ""
		}
	}
	return s
}

// wordList reads a list of plain values (a feed group may be k=v).
func (d *decoder) wordList(f *fields, key string) []string {
	e, ok := f.m[key]
	if !ok {
		return nil
	}
	items, _ := d.seq(e.val, key)
	var out []string
	for _, it := range items {
		s, n, ok := d.scalarNode(it, key)
		if !ok || s == "" {
			continue
		}
		if k, v, kv := strings.Cut(s, "="); kv && !(slices.Contains(groupKeys, k) && v != "") {
			d.errorf(n, "%s: %q: a group filter is a feed group name or tier=…, country=…, federation=…", key, truncate(s, 40))
			continue
		}
		out = append(out, s)
	}
	return out
}

// AppendSites decodes sites built from a feed — site mappings whose nodes
// carry the feed's line and column, with the origin of each position (the
// feed's file and the element or JSON path) for messages — exactly like
// written sites, with base's defaults and
// templates. It returns a copy of base with the sites that have no problem
// appended; a site with a problem is left out and its problems returned,
// as is a site whose name is written in base (the written one is used).
func AppendSites(base *Config, sites []*yaml.Node, origins map[Position]Origin) (*Config, Errors) {
	c := *base
	c.Sites = slices.Clone(base.Sites)
	d := &decoder{file: "feed", lookup: func(string) (string, bool) { return "", false }, seen: map[string]bool{}, at: origins}
	written := map[string]int{}
	for _, s := range base.Sites {
		written[s.Name] = s.Line
	}
	prefixSet := base.Prefix != "" && base.Prefix != "org."+base.VO
	for _, n := range sites {
		before := len(d.errs)
		s, nameNode := d.site(n, &c, prefixSet, defaultNodes{})
		if len(d.errs) > before {
			continue
		}
		if line, dup := written[s.Name]; dup {
			d.errorf(nameNode, "site %q is also in %s (line %d); that one is used", s.Name, base.File, line)
			continue
		}
		written[s.Name] = s.Line
		c.Sites = append(c.Sites, s)
	}
	if len(d.errs) == 0 {
		return &c, nil
	}
	return &c, d.errs
}

// ParseBase parses a sites.yaml that may have no sites (the base file of
// probe import: vo, credentials, defaults and templates).
func ParseBase(file string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	d := &decoder{file: file, lookup: lookup, seen: map[string]bool{}, noSites: true}
	root, err := readYAML(data)
	if err != nil {
		d.add(syntaxError(file, err))
		return nil, d.result()
	}
	if root == nil {
		return nil, fmt.Errorf("%s: empty file", file)
	}
	c := d.config(root)
	if err := d.result(); err != nil {
		return nil, err
	}
	c.File = file
	return c, nil
}

// DefaultServiceName is the ETF service name a service of typ gets when
// sites.yaml does not name it: <prefix>.SE-WebDAV, ….
func DefaultServiceName(prefix, typ string) string {
	spec, _ := protocol.Lookup(typ)
	return prefix + "." + spec.Kind
}
