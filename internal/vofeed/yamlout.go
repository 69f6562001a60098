package vofeed

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/gridprobe/gridprobe/internal/config"
)

// WriteSites writes the selection as the sites: list of a sites.yaml: one
// line per service (type, url, and name, path, queue when there are any),
// the rest coming from the templates in defaults.templates. Each site is
// preceded by a comment saying where the feed lists it.
func WriteSites(w io.Writer, sel *Selection) error {
	b := bufio.NewWriter(w)
	fmt.Fprintln(b, "sites:")
	for _, e := range sel.Sites {
		from := e.Where.String()
		if len(e.GridSites) > 0 {
			from = "atp_site " + strings.Join(e.GridSites, ", ") + " — " + from
		}
		fmt.Fprintf(b, "  # %s\n", oneLine(from))
		fmt.Fprintf(b, "  - name: %s\n", yq(e.Name))
		if g := groupsFlow(e.Groups); g != "" {
			fmt.Fprintf(b, "    groups: %s\n", g)
		}
		fmt.Fprintln(b, "    services:")
		for _, sv := range e.Services {
			fmt.Fprintf(b, "      - %s\n", serviceFlow(sv))
		}
	}
	return b.Flush()
}

func groupsFlow(g config.Groups) string {
	var parts []string
	for _, kv := range [][2]string{{"tier", g.Tier}, {"country", g.Country}, {"federation", g.Federation}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+yq(kv[1]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func serviceFlow(sv ServiceEntry) string {
	parts := []string{"type: " + yq(sv.Type), "url: " + yq(sv.URL)}
	for _, kv := range [][2]string{{"name", sv.Name}, {"path", sv.Path}, {"queue", sv.Queue}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+yq(kv[1]))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// plainSafe are values that need no quotes in a YAML flow mapping and do
// not read as a number, boolean or null.
var (
	plainSafe   = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./-]*$`)
	plainTyped  = regexp.MustCompile(`^(?i:true|false|yes|no|on|off|null|y|n)$`)
	dollarQuote = strings.NewReplacer("$", "$$")
)

// yq writes s as a YAML scalar that reads back as s: sites.yaml expands
// ${…} in every value, so a dollar is written $$.
func yq(s string) string {
	s = dollarQuote.Replace(s)
	if plainSafe.MatchString(s) && !plainTyped.MatchString(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0xfeff || r == utf8.RuneError:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, s)
}

// Nodes returns the selection as sites.yaml site mappings for
// config.AppendSites: every node carries the line and column of the feed
// entry it comes from, and its origin names the source and the element or
// JSON path, so a problem found while decoding points into the feed.
func (sel *Selection) Nodes() ([]*yaml.Node, map[config.Position]config.Origin) {
	nb := &nodeBuilder{origins: map[config.Position]config.Origin{}, keys: map[string]*yaml.Node{}}
	var out []*yaml.Node
	for _, e := range sel.Sites {
		m := nb.mapping(e.Where)
		nb.add(m, e.Where, "name", e.Name)
		if !e.Groups.IsZero() {
			g := nb.mapping(e.Where)
			for _, kv := range [][2]string{{"tier", e.Groups.Tier}, {"country", e.Groups.Country}, {"federation", e.Groups.Federation}} {
				if kv[1] != "" {
					nb.add(g, e.Where, kv[0], kv[1])
				}
			}
			m.Content = append(m.Content, nb.key("groups"), g)
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: e.Where.Line, Column: e.Where.Col}
		for _, sv := range e.Services {
			sm := nb.mapping(sv.Where)
			for _, kv := range [][2]string{{"type", sv.Type}, {"url", sv.URL}, {"name", sv.Name}, {"path", sv.Path}, {"queue", sv.Queue}} {
				if kv[1] != "" {
					nb.add(sm, sv.Where, kv[0], kv[1])
				}
			}
			seq.Content = append(seq.Content, sm)
		}
		m.Content = append(m.Content, nb.key("services"), seq)
		out = append(out, m)
	}
	return out, nb.origins
}

// nodeBuilder makes the nodes: every node of an entry has the entry's
// position, whose origin is recorded once; keys are shared (no position:
// config takes their value's).
type nodeBuilder struct {
	origins map[config.Position]config.Origin
	keys    map[string]*yaml.Node
}

func (nb *nodeBuilder) at(p Pos) {
	nb.origins[config.Position{Line: p.Line, Col: p.Col}] = config.Origin{File: p.Source, Note: p.Path}
}

func (nb *nodeBuilder) mapping(p Pos) *yaml.Node {
	nb.at(p)
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: p.Line, Column: p.Col}
}

func (nb *nodeBuilder) key(k string) *yaml.Node {
	n := nb.keys[k]
	if n == nil {
		n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}
		nb.keys[k] = n
	}
	return n
}

func (nb *nodeBuilder) add(m *yaml.Node, p Pos, key, val string) {
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: dollarQuote.Replace(val), Line: p.Line, Column: p.Col}
	m.Content = append(m.Content, nb.key(key), v)
}
