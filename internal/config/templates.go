package config

import (
	"fmt"
	"github.com/gridprobe/gridprobe/internal/protocol"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Service templates: defaults.templates.<type> gives values to every service
// of that type that does not set the key itself, with placeholders filled
// per site and service:
//
//	$(site)      the site's name
//	$(vo)        the service's VO
//	$(host)      the host of the service's url
//	$(endpoint)  host:port of the url (for a feed: the feed's endpoint or hostname)
//	$(path)      the service's path: (for a feed: its se_resource path)
//
// $(…) cannot be confused with ${VAR}: environment references are expanded
// first, once, when sites.yaml is read (a template may use both); the
// values they insert are never searched for placeholders; placeholder values
// (a host, a feed's path) are inserted literally and never expanded again.
// $$ is a literal dollar in both. Outside templates $( is an error, as any
// lone $ is.

// Placeholders are the names a template may use in $(…).
var Placeholders = []string{"site", "vo", "host", "endpoint", "path"}

// templateKeys are the service keys a template may set. url is used only
// for services built from a feed (probe import, sites_from); a written
// service always has its own url.
var templateKeys = []string{"url", "scope_base", "read_file", "write_dir", "foreign_file", "federation", "queue",
	"audience", "skip", "tpc_partners"}

// Vars are the placeholder values for one service.
type Vars struct{ Site, VO, Host, Endpoint, Path string }

func (v Vars) get(name string) string {
	switch name {
	case "site":
		return v.Site
	case "vo":
		return v.VO
	case "host":
		return v.Host
	case "endpoint":
		return v.Endpoint
	case "path":
		return v.Path
	}
	return ""
}

// Template is defaults.templates.<type>.
type Template struct {
	Type    string
	file    string // the sites.yaml the template is in
	entries []tmplEntry
}

type tmplEntry struct {
	key     string
	keyNode *yaml.Node
	val     *tmplValue
	pos     string // file:line:col of the value
	from    string // pos (defaults.templates.<type>), for Service.From
}

// tmplValue is a template value compiled: a scalar's parts, or the
// children of a mapping (read_file) or list (skip).
type tmplValue struct {
	node  *yaml.Node
	parts []tmplPart
	kids  []*tmplValue // mapping: values in Content order (keys are copied); list: items
}

// tmplPart is literal text or one placeholder.
type tmplPart struct{ lit, ph string }

// Keys lists the keys the template sets, in file order.
func (t *Template) Keys() []string {
	if t == nil {
		return nil
	}
	var out []string
	for _, e := range t.entries {
		out = append(out, e.key)
	}
	return out
}

// Render returns a scalar key's value for v, and where the template gives
// it; ok is false when the template does not set key.
func (t *Template) Render(key string, v Vars) (val, pos string, ok bool, err error) {
	if t == nil {
		return "", "", false, nil
	}
	for _, e := range t.entries {
		if e.key == key && e.val.node.Kind == yaml.ScalarNode {
			s, err := e.val.render(v)
			return s, e.pos, true, err
		}
	}
	return "", "", false, nil
}

func (tv *tmplValue) render(v Vars) (string, error) {
	var b strings.Builder
	for _, p := range tv.parts {
		if p.ph == "" {
			b.WriteString(p.lit)
			continue
		}
		val := v.get(p.ph)
		if val == "" {
			return "", fmt.Errorf("$(%s) is empty for this service", p.ph)
		}
		b.WriteString(val)
	}
	return b.String(), nil
}

// URLPattern is a text with $(…) placeholders (and no environment
// references: it is not from sites.yaml), e.g. a feed's default URL.
type URLPattern struct{ v tmplValue }

// CompileURLPattern compiles s; $$ is a dollar.
func CompileURLPattern(s string) (*URLPattern, error) {
	parts, problems := compileTemplate(s, func(string) (string, bool) { return "", false })
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", problems[0])
	}
	return &URLPattern{v: tmplValue{parts: parts}}, nil
}

// Expand fills the placeholders.
func (p *URLPattern) Expand(v Vars) (string, error) { return p.v.render(v) }

// compileTemplate splits s into literal text and placeholders, expanding
// ${VAR} references (and $$) in the literal text.
func compileTemplate(s string, lookup func(string) (string, bool)) ([]tmplPart, []string) {
	var parts []tmplPart
	var lit strings.Builder
	var problems []string
	for i := 0; i < len(s); {
		switch {
		case s[i] != '$':
			lit.WriteByte(s[i])
			i++
		case strings.HasPrefix(s[i:], "$$"):
			lit.WriteByte('$')
			i += 2
		case strings.HasPrefix(s[i:], "$("):
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				problems = append(problems, `"$(" without a closing ")"`)
				return nil, problems
			}
			name := s[i+2 : i+end]
			if !slices.Contains(Placeholders, name) {
				problems = append(problems, fmt.Sprintf("$(%s) is not a placeholder (known: $(%s))",
					truncate(name, 40), strings.Join(Placeholders, "), $(")))
			}
			parts = append(parts, tmplPart{lit: lit.String()}, tmplPart{ph: name})
			lit.Reset()
			i += end + 1
		case strings.HasPrefix(s[i:], "${"):
			end := closingBrace(s, i+2)
			if end < 0 {
				problems = append(problems, `"${" without a closing "}"`)
				return nil, problems
			}
			name, _, _ := strings.Cut(s[i+2:end], ":-")
			if _, set := lookup(name); !set && slices.Contains(Placeholders, name) && !strings.Contains(s[i:end], ":-") {
				problems = append(problems, fmt.Sprintf("${%s} is an environment reference and %s is not set; template placeholders are written $(%s)", name, name, name))
			} else {
				v, p := expandEnv(s[i:end+1], lookup)
				problems = append(problems, p...)
				lit.WriteString(v)
			}
			i = end + 1
		default:
			problems = append(problems, `a lone "$" (write $$ for a dollar sign, ${NAME} for a variable, $(site) for a placeholder)`)
			i++
		}
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, tmplPart{lit: lit.String()})
	}
	return parts, problems
}

// templates decodes defaults.templates.
func (d *decoder) templates(f *fields) {
	e, ok := f.m["templates"]
	if !ok {
		return
	}
	types := protocol.Types()
	tf := d.mapping(e.val, "templates", types)
	if tf == nil {
		return
	}
	d.tmpl = map[string]*Template{}
	for _, typ := range types {
		te, ok := tf.m[typ]
		if !ok {
			continue
		}
		t := &Template{Type: typ, file: d.file}
		keys := d.mapping(te.val, "templates."+typ, templateKeys)
		if keys == nil {
			continue
		}
		for _, k := range templateKeys { // file order is restored below
			ke, ok := keys.m[k]
			if !ok {
				continue
			}
			if why := templateKeyProblem(typ, k); why != "" {
				d.errorf(ke.key, "templates.%s: %s", typ, why)
				continue
			}
			if tv := d.compileValue(ke.val, "templates."+typ+"."+k, 0); tv != nil {
				pos := fmt.Sprintf("%s:%d:%d", d.file, tv.node.Line, tv.node.Column)
				t.entries = append(t.entries, tmplEntry{key: k, keyNode: ke.key, val: tv, pos: pos,
					from: pos + " (defaults.templates." + typ + ")"})
			}
		}
		slices.SortStableFunc(t.entries, func(a, b tmplEntry) int { return a.keyNode.Line - b.keyNode.Line })
		d.tmpl[typ] = t
	}
}

// templateKeyProblem says why key cannot be in typ's template ("" if it
// can): the keys that belong to some types only (internal/protocol).
func templateKeyProblem(typ, key string) string {
	spec, ok := protocol.Lookup(typ)
	if ok && contains(typeOnlyKeys, key) && !spec.Takes(key) {
		return fmt.Sprintf("%s is only for type %s, not %s", key, strings.Join(protocol.TypesTaking(key), ", "), typ)
	}
	return ""
}

// compileValue compiles a template value; nil (after reporting) when it
// has a problem.
func (d *decoder) compileValue(n *yaml.Node, label string, depth int) *tmplValue {
	v := deref(n)
	if v == nil || depth > 3 || !d.budget(v) { // tpc_partners: list, partner, read_file, value
		return nil
	}
	tv := &tmplValue{node: v}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.ShortTag() == "!!null" {
			return tv
		}
		parts, problems := compileTemplate(v.Value, d.lookup)
		for _, p := range problems {
			d.errorf(v, "%s: %s", label, p)
		}
		if len(problems) > 0 {
			return nil
		}
		tv.parts = parts
	case yaml.MappingNode, yaml.SequenceNode:
		step := 1
		if v.Kind == yaml.MappingNode {
			step = 2
		}
		for i := step - 1; i < len(v.Content); i += step {
			kid := d.compileValue(v.Content[i], label, depth+1)
			if kid == nil {
				return nil
			}
			tv.kids = append(tv.kids, kid)
		}
	default:
		return nil
	}
	return tv
}
