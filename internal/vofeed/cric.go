package vofeed

import (
	"fmt"
	"strconv"
	"strings"
)

// CRIC is a parsed CRIC query output: site entries (tier, country,
// federation) and, when the output lists services, those services grouped
// into sites like a feed's.
type CRIC struct {
	Source string
	Sites  []CRICSite
	Feed   *Feed // services, grouped by site; no sites when the output has none
}

// CRICSite is one site entry of a site query.
type CRICSite struct {
	Name, RCSite              string
	Tier, Country, Federation string
	Where                     Pos
}

// ParseCRIC reads a CRIC ?json query output: an object keyed by name whose
// values are sites, services, or (groupby) lists of services. vo picks the
// experiment site a service is used by (usage.<vo>[0].site). A document
// that is not JSON or not shaped like CRIC output is an *Error with its
// JSON path; an entry that cannot be used is left out and reported.
func ParseCRIC(source string, data []byte, vo string) (*CRIC, []Problem, error) {
	root, err := parseJSON(source, data)
	if err != nil {
		return nil, nil, err
	}
	c := &cricReader{src: source, lines: newLineIndex(data), vo: strings.ToLower(vo),
		out: &CRIC{Source: source, Feed: &Feed{Source: source, VO: vo}}, sites: map[string]int{}}
	if root.kind != 'o' {
		return nil, nil, c.errorf(root, "expected an object keyed by name (CRIC ?json output), got %s", kindName(root))
	}
	for i, key := range root.keys {
		if len(c.out.Sites)+len(c.out.Feed.Sites) >= maxSites {
			return nil, c.problems, c.errorf(root.vals[i], "more than %d entries", maxSites)
		}
		c.entry(key, root.vals[i])
	}
	return c.out, c.problems, nil
}

type cricReader struct {
	src      string
	lines    lineIndex
	vo       string
	out      *CRIC
	sites    map[string]int // feed site name → index in out.Feed.Sites
	problems []Problem
}

func (c *cricReader) pos(n *jnode) Pos {
	line, col := c.lines.lineCol(n.off)
	return Pos{Source: c.src, Path: n.path, Line: line, Col: col}
}

func (c *cricReader) errorf(n *jnode, format string, args ...any) *Error {
	return &Error{Pos: c.pos(n), Msg: fmt.Sprintf(format, args...)}
}

func (c *cricReader) problem(n *jnode, format string, args ...any) {
	c.problems = append(c.problems, Problem{Pos: c.pos(n), Msg: fmt.Sprintf(format, args...)})
}

func (c *cricReader) entry(key string, v *jnode) {
	switch {
	case v.kind == 'a': // ?groupby=rcsite: a list of services
		for _, it := range v.items {
			c.service(it, "", key)
		}
	case v.kind == 'o' && v.field("flavour") != nil:
		c.service(v, "", "")
	case v.kind == 'o':
		c.site(key, v)
	default:
		c.problem(v, "expected a site or service object, got %s; left out", kindName(v))
	}
}

func (c *cricReader) site(key string, v *jnode) {
	s := CRICSite{Where: c.pos(v)}
	var ok bool
	if s.Name, ok = c.str(v, "name"); !ok {
		return
	}
	if s.Name == "" {
		s.Name = key
	}
	rc, ok1 := c.str(v, "rc_site")
	rc2, ok2 := c.str(v, "rcsite")
	s.RCSite = first(rc, rc2)
	s.Tier, ok = c.tier(v)
	cc, ok3 := c.str(v, "country_code")
	cn, ok4 := c.str(v, "country")
	s.Country = first(cc, cn)
	fed, ok5 := c.federation(v)
	s.Federation = fed
	if !(ok && ok1 && ok2 && ok3 && ok4 && ok5) {
		return // reported: a field had the wrong type
	}
	c.out.Sites = append(c.out.Sites, s)
	if svcs := v.field("services"); svcs != nil {
		if svcs.kind != 'a' {
			c.problem(svcs, "expected a list of services, got %s; left out", kindName(svcs))
			return
		}
		for _, it := range svcs.items {
			c.service(it, s.Name, s.RCSite)
		}
	}
}

// str returns the string field key ("" when absent or null); ok is false
// (after reporting) when it has another type.
func (c *cricReader) str(n *jnode, key string) (string, bool) {
	v := n.field(key)
	switch {
	case v == nil || v.kind == 'z':
		return "", true
	case v.kind != 's':
		c.problem(v, "expected a string, got %s; entry left out", kindName(v))
		return "", false
	case len(v.str) > maxAttr || strings.ContainsFunc(v.str, isControl):
		c.problem(v, "value too long or with control characters; entry left out")
		return "", false
	}
	return strings.TrimSpace(v.str), true
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// tier reads rc_tier_level, tier_level or tier: a number, "Tier-2", "T2".
func (c *cricReader) tier(n *jnode) (string, bool) {
	for _, key := range []string{"rc_tier_level", "tier_level", "tier"} {
		v := n.field(key)
		switch {
		case v == nil || v.kind == 'z':
			continue
		case v.kind == 'n':
			if i, err := strconv.Atoi(v.str); err == nil && i >= 0 && i < 10 {
				return strconv.Itoa(i), true
			}
		case v.kind == 's':
			if t := normalizeTier(v.str); t != "" {
				return t, true
			}
		}
		c.problem(v, "not a tier (0-9, \"Tier-2\" or \"T2\"): %s; entry left out", kindName(v))
		return "", false
	}
	return "", true
}

// normalizeTier turns "2", "T2", "Tier-2", "Tier 2" into "2"; "" otherwise.
func normalizeTier(s string) string {
	s = strings.TrimSpace(strings.ToLower(s))
	for _, p := range []string{"tier-", "tier ", "tier", "t"} {
		if strings.HasPrefix(s, p) {
			s = s[len(p):]
			break
		}
	}
	if len(s) == 1 && s[0] >= '0' && s[0] <= '9' {
		return s
	}
	return ""
}

// federation reads federations (a list; WLCG CRIC rcsite) or federation.
func (c *cricReader) federation(n *jnode) (string, bool) {
	if v := n.field("federations"); v != nil && v.kind != 'z' {
		if v.kind != 'a' {
			c.problem(v, "expected a list of federation names, got %s; entry left out", kindName(v))
			return "", false
		}
		var names []string
		for _, it := range v.items {
			if it.kind != 's' {
				c.problem(it, "expected a federation name, got %s; entry left out", kindName(it))
				return "", false
			}
			names = append(names, strings.TrimSpace(it.str))
		}
		if len(names) > 1 {
			c.problem(v, "%d federations (%s); the first is used", len(names), strings.Join(names, ", "))
		}
		if len(names) > 0 {
			return names[0], true
		}
		return "", true
	}
	return c.str(n, "federation")
}

func first(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
