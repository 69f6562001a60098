package config

import (
	"regexp"
)

// Groups are the groups a site belongs to. They are filters on the status
// page and labels of the one gridprobe_site_info series per site, joined in
// PromQL; they are never labels of the per-check series, so they add one
// series per site and nothing per check.
type Groups struct {
	Tier       string `yaml:"tier,omitempty"`       // WLCG tier: 0, 1, 2, 3
	Country    string `yaml:"country,omitempty"`    // e.g. US, DE (as in the site name T2_US_…)
	Federation string `yaml:"federation,omitempty"` // WLCG pledge federation (CRIC), e.g. US-MIT
}

// IsZero reports whether no group is set (for omitempty).
func (g Groups) IsZero() bool { return g == Groups{} }

var groupKeys = []string{"tier", "country", "federation"}

// wlcgName is the WLCG site naming convention T<tier>_<country>_<name>.
var wlcgName = regexp.MustCompile(`^T([0-9])_([A-Z]{2,8})_`)

// NameGroups returns the tier and country a site name says (T2_US_Florida:
// tier 2, country US); zero Groups for other names.
func NameGroups(name string) Groups {
	m := wlcgName.FindStringSubmatch(name)
	if m == nil {
		return Groups{}
	}
	return Groups{Tier: m[1], Country: m[2]}
}

// groups decodes a site's groups:; tier and country not given come from
// the site's name.
func (d *decoder) groups(f *fields, s *Site) {
	if e, ok := f.m["groups"]; ok {
		if g := d.mapping(e.val, "groups", groupKeys); g != nil {
			for _, k := range []struct {
				key string
				dst *string
			}{{"tier", &s.Groups.Tier}, {"country", &s.Groups.Country}, {"federation", &s.Groups.Federation}} {
				if v, n := d.str(g, k.key, "groups."+k.key); n != nil && d.word("groups."+k.key, v, n) {
					*k.dst = v
				}
			}
		}
	}
	byName := NameGroups(s.Name)
	if s.Groups.Tier == "" {
		s.Groups.Tier = byName.Tier
	}
	if s.Groups.Country == "" {
		s.Groups.Country = byName.Country
	}
}
