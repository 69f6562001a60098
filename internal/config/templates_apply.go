package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Origin says where a node that is not from the file's own text comes
// from: a template's copy, or an entry of a feed. File is the file its
// line and column are in ("" for the decoder's file); Note is added to
// messages (which service a template value is for; a feed's element path).
type Origin struct{ File, Note string }

// Position is a line and column, for origins of nodes by position.
type Position struct{ Line, Col int }

// tmplCopy marks the nodes instantiate makes (a style bit the decoder
// never reads): their origin is the template's, for the service being
// decoded (d.copyOrigin). Marking them costs nothing per node, where a map from
// node to origin would grow with every service of a large feed.
const tmplCopy yaml.Style = 1 << 12

// origin returns n's origin: the template's for a template copy, else
// that of its position (a feed's node).
func (d *decoder) origin(n *yaml.Node) (Origin, bool) {
	if n.Style&tmplCopy != 0 {
		return d.copyOrigin, true
	}
	o, ok := d.at[Position{n.Line, n.Column}]
	return o, ok
}

// posOf is "file:line:col" of n, with its note.
func (d *decoder) posOf(n *yaml.Node) string {
	file := d.file
	o, ok := d.origin(n)
	if ok && o.File != "" {
		file = o.File
	}
	s := file + ":" + strconv.Itoa(n.Line) + ":" + strconv.Itoa(n.Column)
	if ok && o.Note != "" {
		s += " " + o.Note
	}
	return s
}

// servicePath decodes the service's path: (the storage path a feed gives,
// filled into $(path)).
func (d *decoder) servicePath(f *fields, svc *Service) {
	if p, n := d.absPath(f, "path", "path"); n != nil {
		svc.Path = p
	}
}

// applyTemplate gives the service the values of its type's template for
// the keys it does not set itself, and records where every value it has
// comes from (Service.From). Call after type, url, vo and path are known.
func (d *decoder) applyTemplate(f *fields, svc *Service, site *Site, c *Config) {
	t := c.Templates[svc.Type]
	svc.From = make(map[string]string, len(f.m)+len(t.Keys()))
	for k, e := range f.m {
		at := e.key
		if at.Line == 0 { // a key shared by a feed's entries: its value has the entry's position
			at = e.val
		}
		svc.From[k] = d.posOf(at)
	}
	if t == nil || svc.Type == "" {
		return
	}
	vars := Vars{Site: site.Name, VO: svc.VO, Path: svc.Path}
	if svc.URL != nil {
		vars.Host, vars.Endpoint = svc.URL.Hostname(), svc.URL.Host
	}
	d.copyOrigin = Origin{}
	for _, e := range t.entries {
		if e.key == "url" || f.has(e.key) {
			continue
		}
		if svc.URL == nil && (usesPlaceholder(e.val, "host") || usesPlaceholder(e.val, "endpoint")) {
			continue // the url is wrong; that is reported already
		}
		if d.copyOrigin.File == "" {
			d.copyOrigin = Origin{File: t.file, Note: fmt.Sprintf("from defaults.templates.%s, for the service at %s:%d of site %q",
				svc.Type, d.file, svc.Line, site.Name)}
		}
		n, err := d.instantiate(e.val, vars)
		if err != nil {
			d.add(&Error{File: t.file, Line: e.val.node.Line, Col: e.val.node.Column,
				Msg: fmt.Sprintf("templates.%s.%s: %v (%s; set path: or %s: on the service)", svc.Type, e.key, err,
					strings.TrimPrefix(d.copyOrigin.Note, "from defaults.templates."+svc.Type+", "), e.key)})
			continue
		}
		f.m[e.key] = entry{key: e.keyNode, val: n}
		svc.From[e.key] = e.from
	}
}

// usesPlaceholder reports whether the value uses $(name) anywhere.
func usesPlaceholder(tv *tmplValue, name string) bool {
	for _, p := range tv.parts {
		if p.ph == name {
			return true
		}
	}
	for _, k := range tv.kids {
		if usesPlaceholder(k, name) {
			return true
		}
	}
	return false
}

// instantiate makes the service's own copy of a template value with the
// placeholders filled. The copy keeps the template's positions (errors
// point at the template and say for which service); its text is escaped
// so that the environment expansion every value goes through leaves it as
// it is.
func (d *decoder) instantiate(tv *tmplValue, v Vars) (*yaml.Node, error) {
	src := tv.node
	n := &yaml.Node{Kind: src.Kind, Tag: src.Tag, Line: src.Line, Column: src.Column, Style: tmplCopy}
	switch src.Kind {
	case yaml.ScalarNode:
		n.Value = src.Value
		if src.ShortTag() != "!!null" {
			s, err := tv.render(v)
			if err != nil {
				return nil, err
			}
			n.Value = strings.ReplaceAll(s, "$", "$$")
		}
	case yaml.MappingNode:
		for i, kid := range tv.kids {
			c, err := d.instantiate(kid, v)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, src.Content[2*i], c)
		}
	case yaml.SequenceNode:
		for _, kid := range tv.kids {
			c, err := d.instantiate(kid, v)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
	}
	return n, nil
}
