package config

import (
	"encoding/json"
	"fmt"
	"github.com/gridprobe/gridprobe/internal/protocol"
	"path"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Summary policies: which checks count for a service's 99summary and which
// are in commissioning, per VO and service type in defaults.summary, and
// per service in its own summary: mapping.
//
//	defaults:
//	  summary:
//	    - type: xrootd            # optional; vo: optional too
//	      critical: ["*"]         # ids or glob patterns that count; default: every check
//	      commissioning: ["1?tkn-*"]
//	      commissioning_effect: warning   # or none
//	sites:
//	  - services:
//	      - type: xrootd
//	        summary: {commissioning: [16tkn-access]}   # replaces only the keys it sets
//
// Parse checks the shape here. Whether an id or pattern names a check of
// the service needs the probes' catalogue, which config cannot import: a
// program that can build services registers it with SetCatalogue, and
// Parse then reports, with file:line:col, every id or pattern that matches
// no check.

// Commissioning effects: how far a commissioning check can pull 99summary
// down.
const (
	// EffectWarning: a commissioning check that is not OK makes the
	// summary at most WARNING (the default).
	EffectWarning = "warning"
	// EffectNone: commissioning checks are left out of the summary state
	// (they are still named in its detail).
	EffectNone = "none"
)

var (
	summaryPolicyKeys = []string{"critical", "commissioning", "commissioning_effect"}
	summaryRuleKeys   = append([]string{"vo", "type"}, summaryPolicyKeys...)
	effects           = []string{EffectWarning, EffectNone}
)

// Pattern is a check id ("16tkn-access") or a glob over ids ("1?tkn-*",
// path.Match syntax), with where it was written.
type Pattern struct {
	Text      string
	Line, Col int
}

// MarshalYAML writes the pattern as its text.
func (p Pattern) MarshalYAML() (any, error) { return p.Text, nil }

// MarshalJSON writes the pattern as its text: where it stands in the file
// is no part of what it means (`probe serve` compares services as JSON).
func (p Pattern) MarshalJSON() ([]byte, error) { return json.Marshal(p.Text) }

// Match reports whether the pattern matches check id.
func (p Pattern) Match(id string) bool {
	ok, err := path.Match(p.Text, id)
	return err == nil && ok
}

// SummaryPolicy is a summary policy as written: a nil list is not set (it
// inherits), an empty Commissioning list means "none".
type SummaryPolicy struct {
	// Critical: the checks that count for 99summary; nil: every check.
	Critical []Pattern
	// Commissioning: checks that run and report but whose effect on
	// 99summary is capped by Effect. They never count as critical.
	Commissioning []Pattern
	// Effect is EffectWarning or EffectNone; "" inherits (default warning).
	Effect string
}

// SummaryRule is one entry of defaults.summary: a policy for the services
// of a VO and/or a type ("" matches any).
type SummaryRule struct {
	VO, Type string
	Policy   SummaryPolicy
	Line     int // where the rule starts in the file
}

// MarshalYAML writes only the keys that are set, so Config.Redacted
// parses back to the same policy.
func (p SummaryPolicy) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	p.appendTo(n)
	return n, nil
}

// MarshalYAML writes the rule as one mapping.
func (r SummaryRule) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, kv := range [][2]string{{"vo", r.VO}, {"type", r.Type}} {
		if kv[1] != "" {
			n.Content = append(n.Content, str(kv[0]), str(kv[1]))
		}
	}
	r.Policy.appendTo(n)
	return n, nil
}

func (p SummaryPolicy) appendTo(n *yaml.Node) {
	for _, l := range []struct {
		key  string
		list []Pattern
	}{{"critical", p.Critical}, {"commissioning", p.Commissioning}} {
		if l.list == nil {
			continue
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, pt := range l.list {
			seq.Content = append(seq.Content, str(pt.Text))
		}
		n.Content = append(n.Content, str(l.key), seq)
	}
	if p.Effect != "" {
		n.Content = append(n.Content, str("commissioning_effect"), str(p.Effect))
	}
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// Summary returns sv's effective summary policy, or nil when none applies:
// the most specific rule of defaults.summary for the service's VO and type
// (both given, then type, then vo, then neither), with the keys the
// service's own summary: sets replacing the rule's. Effect is always set.
func (c *Config) Summary(sv *Service) *SummaryPolicy {
	p, _, ok := c.summary(sv)
	if !ok {
		return nil
	}
	return &p
}

// summary is Summary plus the index of the rule it started from (-1: none).
func (c *Config) summary(sv *Service) (SummaryPolicy, int, bool) {
	rule, best := -1, -1
	for i, r := range c.Defaults.Summary {
		if (r.VO != "" && r.VO != sv.VO) || (r.Type != "" && r.Type != sv.Type) {
			continue
		}
		score := 0
		if r.Type != "" {
			score += 2
		}
		if r.VO != "" {
			score++
		}
		if score > best {
			rule, best = i, score
		}
	}
	var p SummaryPolicy
	if rule >= 0 {
		p = c.Defaults.Summary[rule].Policy
	}
	if own := sv.Summary; own != nil {
		if own.Critical != nil {
			p.Critical = own.Critical
		}
		if own.Commissioning != nil {
			p.Commissioning = own.Commissioning
		}
		if own.Effect != "" {
			p.Effect = own.Effect
		}
	}
	if rule < 0 && sv.Summary == nil {
		return p, -1, false
	}
	if p.Effect == "" {
		p.Effect = EffectWarning
	}
	return p, rule, true
}

// summaryPolicies decodes defaults.summary and every service's summary:
// (a second walk over the tree: the first one, in schema.go, only accepts
// the keys), then checks ids and patterns against the catalogue.
func (d *decoder) summaryPolicies(root *yaml.Node, c *Config) {
	f := d.mapping(root, "config", configKeys)
	if f == nil {
		return
	}
	if e, ok := f.m["defaults"]; ok {
		if df := d.mapping(e.val, "defaults", defaultsKeys); df != nil {
			if e, ok := df.m["summary"]; ok {
				c.Defaults.Summary = d.summaryRules(e.val)
			}
		}
	}
	if e, ok := f.m["sites"]; ok {
		sites, _ := d.seq(e.val, "sites")
		for i, it := range sites {
			if i < len(c.Sites) {
				d.siteSummaries(it, &c.Sites[i])
			}
		}
	}
	if catalogue != nil && len(d.errs) == 0 {
		d.checkCatalogue(c)
	}
}

func (d *decoder) siteSummaries(n *yaml.Node, s *Site) {
	sf := d.mapping(n, "site", siteKeys)
	if sf == nil {
		return
	}
	e, ok := sf.m["services"]
	if !ok {
		return
	}
	items, _ := d.seq(e.val, "services")
	for j, it := range items {
		if j >= len(s.Services) {
			return
		}
		vf := d.mapping(it, "service", serviceKeys)
		if vf == nil {
			continue
		}
		if e, ok := vf.m["summary"]; ok {
			if pf := d.mapping(e.val, "summary", summaryPolicyKeys); pf != nil {
				p := d.summaryPolicy(pf, "summary")
				s.Services[j].Summary = &p
			}
		}
	}
}

func (d *decoder) summaryRules(n *yaml.Node) []SummaryRule {
	items, _ := d.seq(n, "defaults.summary")
	var rules []SummaryRule
	first := map[[2]string]int{}
	for i, it := range items {
		label := fmt.Sprintf("defaults.summary[%d]", i)
		rf := d.mapping(it, label, summaryRuleKeys)
		if rf == nil {
			continue
		}
		r := SummaryRule{Line: rf.node.Line}
		if vo, n := d.str(rf, "vo", label+".vo"); n != nil && d.word("vo", vo, n) {
			r.VO = vo
		}
		if typ, n := d.str(rf, "type", label+".type"); n != nil {
			if _, ok := protocol.Lookup(typ); ok {
				r.Type = typ
			} else {
				d.errorf(n, "%s.type %q: must be one of %s", label, truncate(typ, 40), strings.Join(protocol.Types(), ", "))
			}
		}
		key := [2]string{r.VO, r.Type}
		if line, dup := first[key]; dup {
			d.errorf(rf.node, "%s: a rule for %s is already defined at line %d", label, ruleScope(r), line)
		} else {
			first[key] = r.Line
		}
		r.Policy = d.summaryPolicy(rf, label)
		rules = append(rules, r)
	}
	return rules
}

func ruleScope(r SummaryRule) string {
	switch {
	case r.VO != "" && r.Type != "":
		return fmt.Sprintf("vo %s and type %s", r.VO, r.Type)
	case r.Type != "":
		return "type " + r.Type
	case r.VO != "":
		return "vo " + r.VO
	}
	return "every service"
}

func (d *decoder) summaryPolicy(f *fields, label string) SummaryPolicy {
	var p SummaryPolicy
	if e, ok := f.m["critical"]; ok {
		p.Critical = d.patterns(e.val, label+".critical")
		if len(p.Critical) == 0 && d.isEmptyList(e.val) {
			d.errorf(deref(e.val), "%s.critical: empty; leave the key out to count every check", label)
		}
	}
	if e, ok := f.m["commissioning"]; ok {
		p.Commissioning = d.patterns(e.val, label+".commissioning")
	}
	if s, n := d.str(f, "commissioning_effect", label+".commissioning_effect"); n != nil {
		if contains(effects, s) {
			p.Effect = s
		} else {
			d.errorf(n, "%s.commissioning_effect %q: must be %s (cap the summary at WARNING) or %s (leave it out)",
				label, truncate(s, 40), EffectWarning, EffectNone)
		}
	}
	return p
}

func (d *decoder) isEmptyList(n *yaml.Node) bool {
	v := deref(n)
	return v != nil && (v.Kind == yaml.SequenceNode && len(v.Content) == 0 || v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null")
}

// patterns reads a list of check ids or glob patterns; a given list is
// never nil (empty means "none").
func (d *decoder) patterns(n *yaml.Node, label string) []Pattern {
	items, ok := d.seq(n, label)
	if !ok {
		return nil
	}
	out := []Pattern{}
	seen := map[string]bool{}
	for _, it := range items {
		s, v, ok := d.scalarNode(it, label)
		switch {
		case !ok:
		case s == SummaryID:
			d.errorf(v, "%s: %q is the summary itself", label, s)
		case !strings.ContainsAny(s, "*?[") && !checkID.MatchString(s):
			d.errorf(v, "%s: %q is not a check id (like \"16tkn-access\") or a pattern (like \"1?tkn-*\")", label, truncate(s, 40))
		case !validGlob(s):
			d.errorf(v, "%s: %q is not a valid pattern (*, ? and [...] over check ids)", label, truncate(s, 40))
		case seen[s]:
			d.errorf(v, "%s: %q is listed twice", label, s)
		default:
			seen[s] = true
			out = append(out, Pattern{Text: s, Line: v.Line, Col: v.Column})
		}
	}
	return out
}

// SummaryID is the id of the summary check (engine.SummaryID; config does
// not import the engine).
const SummaryID = "99summary"

var globChars = regexp.MustCompile(`^[A-Za-z0-9_.*?\[\]!^-]{1,64}$`)

func validGlob(s string) bool {
	if !globChars.MatchString(s) {
		return false
	}
	_, err := path.Match(s, "")
	return err == nil
}

// Catalogue lists the check ids of a configured service's full catalogue
// (before skip:, without 99summary). An error means the service cannot be
// built; its policy is then not checked here (the run reports the error).
type Catalogue func(c *Config, site *Site, sv *Service) ([]string, error)

var catalogue Catalogue

// SetCatalogue registers the catalogue Parse checks summary policies
// against. Call it from an init function (it is not synchronised); nil
// turns the check off.
func SetCatalogue(fn Catalogue) { catalogue = fn }

// checkCatalogue reports every id or pattern of a summary policy that
// matches no check: a service's own against its catalogue, a rule's
// against the catalogues of the services that take that key from it.
func (d *decoder) checkCatalogue(c *Config) {
	type union struct {
		ids  []string
		used bool
	}
	ruleIDs := make([][2]union, len(c.Defaults.Summary)) // per rule: critical, commissioning
	for i := range c.Sites {
		cs := &c.Sites[i]
		for j := range cs.Services {
			sv := &cs.Services[j]
			ids, err := catalogue(c, cs, sv)
			if err != nil {
				continue
			}
			_, rule, _ := c.summary(sv)
			own := sv.Summary
			if own == nil {
				own = &SummaryPolicy{}
			}
			of := "service " + sv.Name + " of site " + cs.Name
			for k, list := range [2][]Pattern{own.Critical, own.Commissioning} {
				if list != nil {
					d.matchAll(list, ids, "summary."+[2]string{"critical", "commissioning"}[k], of)
				} else if rule >= 0 {
					u := &ruleIDs[rule][k]
					u.used = true
					for _, id := range ids {
						if !slices.Contains(u.ids, id) {
							u.ids = append(u.ids, id)
						}
					}
				}
			}
		}
	}
	for r, rule := range c.Defaults.Summary {
		for k, list := range [2][]Pattern{rule.Policy.Critical, rule.Policy.Commissioning} {
			if u := ruleIDs[r][k]; u.used {
				label := fmt.Sprintf("defaults.summary[%d].%s", r, [2]string{"critical", "commissioning"}[k])
				d.matchAll(list, u.ids, label, "the services of "+ruleScope(rule)+" it applies to")
			}
		}
	}
}

func (d *decoder) matchAll(list []Pattern, ids []string, label, of string) {
	for _, p := range list {
		if slices.ContainsFunc(ids, p.Match) {
			continue
		}
		e := &Error{Line: p.Line, Col: p.Col}
		if strings.ContainsAny(p.Text, "*?[") {
			e.Msg = fmt.Sprintf("%s: pattern %q matches no check of %s (checks: %s)", label, p.Text, of, strings.Join(ids, ", "))
		} else if s := suggest(p.Text, ids); s != "" {
			e.Msg = fmt.Sprintf("%s: no check %q in %s (did you mean %q?)", label, p.Text, of, s)
		} else {
			e.Msg = fmt.Sprintf("%s: no check %q in %s (checks: %s)", label, p.Text, of, strings.Join(ids, ", "))
		}
		d.add(e)
	}
}
