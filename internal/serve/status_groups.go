package serve

import (
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
)

// groupFilter is one site-group filter of the status page: its query
// parameter, the value chosen and the values the scheduled sites have.
type groupFilter struct {
	Name, Label, Value string
	Values             []string
}

func groupQuery(q url.Values) config.Groups {
	return config.Groups{Tier: q.Get("tier"), Country: q.Get("country"), Federation: q.Get("federation")}
}

func (j *job) groups() config.Groups {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cs.Groups
}

func groupsMatch(site, want config.Groups) bool {
	return (want.Tier == "" || site.Tier == want.Tier) && (want.Country == "" || site.Country == want.Country) &&
		(want.Federation == "" || site.Federation == want.Federation)
}

// addGroups adds a site's groups to the filters' values (a filter is shown
// once some site has a value for it).
func addGroups(filters []groupFilter, site, chosen config.Groups) []groupFilter {
	if filters == nil {
		filters = []groupFilter{{Name: "tier", Label: "tier", Value: chosen.Tier}, {Name: "country", Label: "country", Value: chosen.Country},
			{Name: "federation", Label: "federation", Value: chosen.Federation}}
	}
	for i, v := range []string{site.Tier, site.Country, site.Federation} {
		if v != "" && !slices.Contains(filters[i].Values, v) {
			filters[i].Values = append(filters[i].Values, v)
			slices.Sort(filters[i].Values)
		}
	}
	return filters
}

// feedBanner says where the sites come from when sites.yaml has
// sites_from:, and whether the feed in use is stale.
func (s *Server) feedBanner(p *statusPage, now time.Time) {
	st := s.feed.snapshot()
	if !st.on {
		return
	}
	age := now.Sub(st.fetched)
	p.Feed = fmt.Sprintf("%d sites from %s, read %s ago", st.sites, st.source, ageText(age))
	if !st.lastOK {
		p.Feed += "; the last refresh failed: " + st.lastErr
	}
	if age > st.maxAge {
		p.FeedStale = true
		p.Feed = "WARNING: stale (older than " + ageText(st.maxAge) + "): " + p.Feed
	}
}

func ageText(d time.Duration) string { return age(d) }
