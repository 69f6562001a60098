package config

import (
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The WLCG Common JWT Profile version a VO expects its sites to satisfy.
// The storage token checks test the rules of every version; the rules of a
// version above the expected one are informational (their verdicts are
// reported, the check's state does not follow them).
//
//	defaults:
//	  profile_version: "1.1"              # every VO
//	  profile_version: {cms: "1.2", "*": "1.0"}   # or per VO ("*": the others)
//	sites: [{services: [{type: webdav, …, profile_version: "1.0"}]}]   # one service

// ProfileVersions are the WLCG Common JWT Profile versions gridprobe knows,
// oldest first.
var ProfileVersions = []string{"1.0", "1.1", "1.2"}

// DefaultProfileVersion is the expected version when sites.yaml names none:
// the first one (which every issuer still puts in wlcg.ver).
const DefaultProfileVersion = "1.0"

// profileVO is the key of defaults.profile_version for every VO not named.
const profileVO = "*"

var verGrammar = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)

// profileVersion checks one version value.
func (d *decoder) profileVersion(label, s string, n *yaml.Node) bool {
	switch {
	case !verGrammar.MatchString(s):
		d.errorf(n, "%s %q: a profile version is MAJOR.MINOR, e.g. \"1.1\"", label, truncate(s, 40))
	case !slices.Contains(ProfileVersions, s):
		d.errorf(n, "%s %q: gridprobe knows the WLCG Common JWT Profile versions %s", label, s, strings.Join(ProfileVersions, ", "))
	default:
		return true
	}
	return false
}

// profileDefaults decodes defaults.profile_version: one version, or a
// mapping from VO (or "*") to version.
func (d *decoder) profileDefaults(f *fields, def *Defaults) {
	e, ok := f.m["profile_version"]
	if !ok {
		return
	}
	def.ProfileVersion = map[string]string{}
	d.profileFrom = map[string]string{}
	v := deref(e.val)
	if v != nil && v.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := deref(v.Content[i]), deref(v.Content[i+1])
			if k.Kind != yaml.ScalarNode || (k.Value != profileVO && !d.word("profile_version: vo", k.Value, k)) {
				continue
			}
			if _, dup := def.ProfileVersion[k.Value]; dup {
				d.errorf(k, "profile_version: %q is listed twice", k.Value)
				continue
			}
			s, n, ok := d.scalarNode(val, "profile_version."+k.Value)
			if ok && d.profileVersion("profile_version."+k.Value, s, n) {
				def.ProfileVersion[k.Value], d.profileFrom[k.Value] = s, d.posOf(val)+" (defaults.profile_version)"
			}
		}
		return
	}
	if s, n := d.str(f, "profile_version", "profile_version"); n != nil && d.profileVersion("profile_version", s, n) {
		def.ProfileVersion[profileVO], d.profileFrom[profileVO] = s, d.posOf(n)+" (defaults.profile_version)"
	}
}

// serviceProfile sets the service's expected profile version: its own, else
// the defaults' for its VO, else the defaults' for every VO, else
// DefaultProfileVersion.
func (d *decoder) serviceProfile(f *fields, svc *Service, def *Defaults) {
	if s, n := d.str(f, "profile_version", "profile_version"); n != nil {
		if d.profileVersion("profile_version", s, n) {
			svc.ProfileVersion = s
		}
		return
	}
	for _, k := range []string{svc.VO, profileVO} {
		if v, ok := def.ProfileVersion[k]; ok {
			svc.ProfileVersion = v
			if svc.From != nil {
				svc.From["profile_version"] = d.profileFrom[k]
			}
			return
		}
	}
	svc.ProfileVersion = DefaultProfileVersion
}
