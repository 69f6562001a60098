package vofeed

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
)

// Filter selects what of a feed is probed.
type Filter struct {
	// Groups keeps the sites with one of these groups: a feed group name
	// (Tier-2, a site name), or tier=2, country=US, federation=X. Empty: all.
	Groups []string
	// Production: "true" or "" (production services only), "false" (only
	// the others) or "any".
	Production string
	// Flavours keeps these flavours (WEBDAV) or service types (webdav).
	// Empty: every flavour gridprobe probes.
	Flavours []string
}

// FilterOf is the filter a sites_from: sets.
func FilterOf(sf *config.SitesFrom) Filter {
	return Filter{Groups: sf.Groups, Production: sf.Production, Flavours: sf.Flavours}
}

// Selection is what the sources become: gridprobe sites and their
// services, each endpoint once, in feed order.
type Selection struct {
	Sources    []string
	VO         string
	LastUpdate time.Time
	Sites      []SiteEntry
	Services   int
	// Skipped counts the entries left out on purpose (a flavour that is
	// not probed, a filter), by reason, in order of first appearance.
	Skipped []Skip
}

// Skip is one reason entries were left out, how often, and the first.
type Skip struct {
	Reason string
	Count  int
	First  Pos
}

// SiteEntry is one gridprobe site.
type SiteEntry struct {
	Name      string   // the experiment's site name (T2_US_Florida), else the grid site's
	GridSites []string // atp_site names merged into it
	Groups    config.Groups
	Where     Pos
	Services  []ServiceEntry
	feedNames []string // feed group names, for the group filter
}

// ServiceEntry is one service: what sites.yaml gets (type, url, and the
// name, path and queue when there are any) and where it comes from.
type ServiceEntry struct {
	Type, URL, Name, Path, Queue string
	Flavour, Host                string
	Where                        Pos
}

// Select builds gridprobe sites from a feed and/or a CRIC output (either
// may be nil). The feed's services are used when there is a feed; CRIC's
// site entries give tier, country and federation. base is sites.yaml: its
// vo, its url templates, and its written sites and endpoints, which win
// over the feed's. Every entry left out is counted in Skipped (on purpose)
// or reported as a Problem (a duplicate, a bad value).
func Select(feed *Feed, cric *CRIC, f Filter, base *config.Config) (*Selection, []Problem) {
	s := newSelector(feed, cric, f, base)
	if s.feed == nil {
		return s.sel, s.problems
	}
	for i := range s.feed.Sites {
		s.site(&s.feed.Sites[i])
	}
	s.finish()
	return s.sel, s.problems
}

type selector struct {
	feed     *Feed
	f        Filter
	base     *config.Config
	vo       string
	cricName map[string]*CRICSite // by experiment site name and by rc site
	sel      *Selection
	problems []Problem
	index    map[string]int     // site name → index in sel.Sites
	atp      map[string]Pos     // site name + atp_site name → first
	urls     map[string]urlSeen // type + url → first
	skips    map[string]int     // reason → index in sel.Skipped
	written  map[string]int     // site names in sites.yaml → line
	patterns map[string]*config.URLPattern
}

type urlSeen struct {
	site string
	pos  Pos
}

func newSelector(feed *Feed, cric *CRIC, f Filter, base *config.Config) *selector {
	s := &selector{feed: feed, f: f, base: base, sel: &Selection{}, cricName: map[string]*CRICSite{},
		index: map[string]int{}, atp: map[string]Pos{}, urls: map[string]urlSeen{}, skips: map[string]int{},
		written: map[string]int{}, patterns: map[string]*config.URLPattern{}}
	if feed != nil {
		s.sel.Sources, s.sel.VO, s.sel.LastUpdate = append(s.sel.Sources, feed.Source), feed.VO, feed.LastUpdate
	}
	if cric != nil {
		s.sel.Sources = append(s.sel.Sources, cric.Source)
		for i := range cric.Sites {
			c := &cric.Sites[i]
			s.cricName[c.Name] = c
			if c.RCSite != "" {
				s.cricName["rc:"+c.RCSite] = c
			}
		}
		switch {
		case s.feed == nil && cric.Feed != nil:
			s.feed = cric.Feed
		case cric.Feed != nil && len(cric.Feed.Sites) > 0:
			s.problems = append(s.problems, Problem{Pos: Pos{Source: cric.Source},
				Msg: fmt.Sprintf("the services of %d CRIC sites are not used: the VO feed gives the services (CRIC the sites' tier, country and federation)", len(cric.Feed.Sites))})
		}
	}
	s.vo = s.sel.VO
	if base != nil {
		if s.vo == "" {
			s.vo = base.VO
		} else if base.VO != "" && !strings.EqualFold(base.VO, s.vo) && s.feed != nil {
			s.problems = append(s.problems, Problem{Pos: Pos{Source: s.feed.Source, Path: "/root/vo"},
				Msg: fmt.Sprintf("the feed is for VO %s, sites.yaml acts for VO %s", s.vo, base.VO)})
		}
		for _, site := range base.Sites {
			s.written[site.Name] = site.Line
			for _, sv := range site.Services {
				s.urls[sv.Type+" "+normURL(sv.RawURL)] = urlSeen{site: site.Name, pos: Pos{Source: base.File, Line: sv.Line}}
			}
		}
	}
	return s
}

func (s *selector) skip(reason string, pos Pos) {
	if i, ok := s.skips[reason]; ok {
		s.sel.Skipped[i].Count++
		return
	}
	s.skips[reason] = len(s.sel.Skipped)
	s.sel.Skipped = append(s.sel.Skipped, Skip{Reason: reason, Count: 1, First: pos})
}

func (s *selector) problem(pos Pos, format string, args ...any) {
	s.problems = append(s.problems, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// expName is the experiment's name of a feed site: the <VO>_Site group.
func (s *selector) expName(site *Site) string {
	if site.ExpName != "" {
		return site.ExpName
	}
	for _, g := range site.Groups {
		if s.vo != "" && strings.EqualFold(g.Type, s.vo+"_Site") && g.Name != "" {
			return g.Name
		}
	}
	return site.Name
}

func (s *selector) site(site *Site) {
	name := s.expName(site)
	if line, ok := s.written[name]; ok {
		s.problem(site.Where, "site %s is written in %s (line %d); that one is used, the feed's left out", name, s.base.File, line)
		return
	}
	i, ok := s.index[name]
	if !ok {
		i = len(s.sel.Sites)
		s.index[name] = i
		s.sel.Sites = append(s.sel.Sites, SiteEntry{Name: name, Where: site.Where})
	}
	e := &s.sel.Sites[i]
	if first, dup := s.atp[name+"\x00"+site.Name]; dup && site.Name != "" {
		s.problem(site.Where, "atp_site %s is listed again for %s (first at %s); its services are merged, each endpoint once",
			site.Name, name, first)
	} else {
		s.atp[name+"\x00"+site.Name] = site.Where
		if site.Name != "" && site.Name != name {
			e.GridSites = append(e.GridSites, site.Name)
		}
	}
	for _, g := range site.Groups {
		e.feedNames = append(e.feedNames, g.Name)
		if strings.HasSuffix(strings.ToLower(g.Type), "_tier") && e.Groups.Tier == "" {
			e.Groups.Tier = normalizeTier(g.Name)
		}
	}
	if e.Groups.Tier == "" {
		e.Groups.Tier = site.Tier
	}
	for j := range site.Services {
		s.service(e, &site.Services[j])
	}
}

// finish fills the groups, applies the group filter, drops sites left
// without services and names services that share a type in one site.
func (s *selector) finish() {
	var kept []SiteEntry
	for _, e := range s.sel.Sites {
		s.groups(&e)
		switch {
		case !s.groupMatch(&e):
			s.skip("site not in the selected groups ("+strings.Join(s.f.Groups, ", ")+")", e.Where)
		case len(e.Services) == 0:
			s.skip("site without a service to probe (after flavours and filters)", e.Where)
		default:
			s.name(&e)
			kept = append(kept, e)
			s.sel.Services += len(e.Services)
		}
	}
	s.sel.Sites = kept
}

func (s *selector) groups(e *SiteEntry) {
	c := s.cricName[e.Name]
	for _, g := range e.GridSites {
		if c == nil {
			c = s.cricName["rc:"+g]
		}
	}
	byName := config.NameGroups(e.Name)
	if c != nil {
		e.Groups.Tier = first(e.Groups.Tier, c.Tier)
		e.Groups.Country = first(e.Groups.Country, c.Country)
		e.Groups.Federation = first(e.Groups.Federation, c.Federation)
	}
	e.Groups.Tier = first(e.Groups.Tier, byName.Tier)
	e.Groups.Country = first(e.Groups.Country, byName.Country)
}

func (s *selector) groupMatch(e *SiteEntry) bool {
	if len(s.f.Groups) == 0 {
		return true
	}
	for _, g := range s.f.Groups {
		k, v, kv := strings.Cut(g, "=")
		switch {
		case kv && k == "tier" && normalizeTier(v) != "" && normalizeTier(v) == e.Groups.Tier,
			kv && k == "country" && strings.EqualFold(v, e.Groups.Country),
			kv && k == "federation" && strings.EqualFold(v, e.Groups.Federation):
			return true
		case kv:
		case strings.EqualFold(g, e.Name), slices.ContainsFunc(e.feedNames, func(n string) bool { return strings.EqualFold(n, g) }):
			return true
		case strings.HasPrefix(strings.ToLower(g), "tier") && normalizeTier(g) != "" && normalizeTier(g) == e.Groups.Tier:
			return true
		}
	}
	return false
}

// normURL is the key that makes two spellings of one endpoint equal.
func normURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return strings.ToLower(raw)
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if u.Scheme == "davs" {
		u.Scheme = "https"
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u.String()
}
