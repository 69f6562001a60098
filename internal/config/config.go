package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Defaults that apply when sites.yaml does not set them.
const (
	DefaultTimeout           = 60 * time.Second
	DefaultBudget            = 10 * time.Minute
	DefaultConcurrency       = 20
	DefaultCertExpiryWarning = 14 * 24 * time.Hour
	DefaultStorageInterval   = 30 * time.Minute
	DefaultCEInterval        = 60 * time.Minute
	DefaultHTCondorCEPort    = "9619"
)

// maxNodes bounds the work on one file; anchors and aliases could otherwise
// make a small file expand to an enormous tree.
const maxNodes = 100_000

// Load reads and parses the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses sites.yaml content; file names it in messages. ${VAR} is
// expanded from the process environment. On failure the error is of type
// Errors and lists every problem as file:line:col: message, in file order.
func Parse(file string, data []byte) (*Config, error) {
	return parse(file, data, os.LookupEnv)
}

func parse(file string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	d := &decoder{file: file, lookup: lookup, seen: map[string]bool{}}
	root, err := readYAML(data)
	if err != nil {
		d.add(syntaxError(file, err))
		return nil, d.result()
	}
	c := d.config(root)
	d.wnDefaults(root, &c.Defaults)
	d.summaryPolicies(root, c)
	d.publishSection(root, c)
	if err := d.result(); err != nil {
		return nil, err
	}
	c.File = file
	return c, nil
}

// readYAML returns the single document's top node, nil for an empty file.
func readYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// The parser is a port of libyaml; should it ever panic on odd
		// input, a bad config must still be an error, not a crash.
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &Error{Line: next.Line, Col: next.Column, Msg: "a second YAML document (\"---\"); sites.yaml holds one"}
	case !errors.Is(err, io.EOF):
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxError(file string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		e.File = file
		return e
	}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "YAML syntax: " + m[2]}
	}
	return &Error{File: file, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

// decoder walks the node tree, collecting every problem.
type decoder struct {
	file   string
	lookup func(string) (string, bool)
	errs   Errors
	seen   map[string]bool
	nodes  int
	// Origins of nodes that are not from this file's text
	// (templates_apply.go): copyOrigin is that of the template copies of
	// the service being decoded; at those of a feed's entries by position.
	copyOrigin Origin
	at         map[Position]Origin
	// noSites: a file without sites is fine (probe import's base file).
	noSites bool
	tmpl    map[string]*Template // defaults.templates, for Config.Templates
	// partnersAt is where defaults.tpc_partners is (Service.From).
	partnersAt string
	// profileFrom: where each value of defaults.profile_version is written.
	profileFrom map[string]string
	// stopped: the node budget ran out; further problems are not reported
	// (they would mostly be repeats through aliases).
	stopped bool
}

func (d *decoder) add(e *Error) {
	if d.stopped {
		return
	}
	if e.File == "" {
		e.File = d.file
	}
	if k := e.Error(); !d.seen[k] { // an aliased node is visited once per alias
		d.seen[k] = true
		d.errs = append(d.errs, e)
	}
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
		if o, ok := d.origin(n); ok { // a template's or a feed's value
			e.File = o.File
			if o.Note != "" {
				e.Msg += " (" + o.Note + ")"
			}
		}
	}
	d.add(e)
}

func (d *decoder) result() error {
	if len(d.errs) == 0 {
		return nil
	}
	d.errs.sort()
	return d.errs
}

// budget counts a visited node; false once the file is too big to walk.
func (d *decoder) budget(n *yaml.Node) bool {
	d.nodes++
	if d.nodes == maxNodes {
		d.errorf(n, "too many values (%d; anchors and aliases expand too much)", maxNodes)
		d.stopped = true
	}
	return d.nodes < maxNodes
}

// deref follows aliases to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		return "an empty value"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("the value %q", truncate(n.Value, 40))
	}
	return "an alias"
}

type entry struct{ key, val *yaml.Node }

// fields is a decoded mapping: its known keys, each once.
type fields struct {
	what string
	node *yaml.Node
	m    map[string]entry
}

func (f *fields) has(key string) bool { _, ok := f.m[key]; return ok }

// keyNode is the position of key, or of the mapping if key is absent.
func (f *fields) keyNode(key string) *yaml.Node {
	if e, ok := f.m[key]; ok {
		return e.key
	}
	return f.node
}

// mapping checks that n is a mapping whose keys are all known and unique,
// applies YAML merge keys (<<), and returns its entries. Null means an
// empty mapping. It returns nil (after reporting) if n is no mapping.
func (d *decoder) mapping(n *yaml.Node, what string, known []string) *fields {
	n = deref(n)
	if n == nil || !d.budget(n) {
		return nil
	}
	f := &fields{what: what, node: n, m: map[string]entry{}}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return f
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping, got %s", what, kindName(n))
		return nil
	}
	d.collect(f, n, known, true, 0)
	return f
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.ShortTag() == "!!merge")
}

func (d *decoder) collect(f *fields, n *yaml.Node, known []string, explicit bool, depth int) {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k == nil || !d.budget(k) {
			return
		}
		if isMergeKey(k) {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: a key must be a plain word, got %s", f.what, kindName(k))
			continue
		}
		name := k.Value
		if !contains(known, name) {
			d.unknownKey(k, name, f.what, known)
			continue
		}
		if prev, ok := f.m[name]; ok {
			if explicit {
				d.errorf(k, "%s: duplicate key %q (first at line %d)", f.what, name, prev.key.Line)
			}
			continue // explicit keys win over merged ones
		}
		f.m[name] = entry{k, v}
	}
	for _, m := range merges {
		m = deref(m)
		var srcs []*yaml.Node
		if m != nil && m.Kind == yaml.SequenceNode {
			for _, c := range m.Content {
				srcs = append(srcs, deref(c))
			}
		} else {
			srcs = append(srcs, m)
		}
		for _, s := range srcs {
			if s == nil || s.Kind != yaml.MappingNode {
				d.errorf(s, "%s: << merges a mapping, got %s", f.what, kindName(s))
				continue
			}
			if depth >= 8 {
				d.errorf(s, "%s: << merges nested too deeply", f.what)
				continue
			}
			d.collect(f, s, known, false, depth+1)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// secretKeys are keys people may try to use for a secret value; the
// message says where it belongs instead.
var secretKeys = map[string]string{
	"client_secret": "put it in a file readable only by the probe and set client_secret_file",
	"secret":        "put it in a file readable only by the probe and set client_secret_file",
	"token":         "put it in a file and set credentials.token.file",
	"access_token":  "put it in a file and set credentials.token.file",
	"password":      "sites.yaml never holds a password",
}

func (d *decoder) unknownKey(k *yaml.Node, name, what string, known []string) {
	shown := strconv.Quote(truncate(name, 60))
	if hint, ok := secretKeys[name]; ok && !(what == "credentials" && name == "token") {
		d.errorf(k, "unknown key %s in %s: secrets are never written in sites.yaml; %s", shown, what, hint)
		return
	}
	if s := suggest(name, known); s != "" {
		d.errorf(k, "unknown key %s in %s (did you mean %q?)", shown, what, s)
		return
	}
	d.errorf(k, "unknown key %s in %s (known: %s)", shown, what, strings.Join(known, ", "))
}

// scalar returns key's value after ${VAR} expansion. n is nil when the key
// is absent; ok is false when a problem was reported. A null value is "".
func (d *decoder) scalar(f *fields, key, label string) (s string, n *yaml.Node, ok bool) {
	e, present := f.m[key]
	if !present {
		return "", nil, true
	}
	return d.scalarNode(e.val, label)
}

func (d *decoder) scalarNode(n *yaml.Node, label string) (string, *yaml.Node, bool) {
	v := deref(n)
	if v == nil || !d.budget(v) {
		return "", n, false
	}
	if v.Kind != yaml.ScalarNode {
		d.errorf(v, "%s: expected a single value, got %s", label, kindName(v))
		return "", v, false
	}
	if v.ShortTag() == "!!null" {
		return "", v, true
	}
	s, problems := expandEnv(v.Value, d.lookup)
	for _, p := range problems {
		d.errorf(v, "%s: %s", label, p)
	}
	if len(problems) > 0 {
		return "", v, false
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		d.errorf(v, "%s: contains a control character (tab, newline, ...)", label)
		return "", v, false
	}
	if why := secretLooking(s); why != "" {
		d.errorf(v, "%s: the value looks like %s; sites.yaml never holds secrets (reference a file instead)", label, why)
		return "", v, false
	}
	return s, v, true
}

// secretLooking says what secret s looks like, or "".
func secretLooking(s string) string {
	switch {
	case strings.Contains(s, "-----BEGIN"):
		return "a PEM block"
	case jwtLike.MatchString(s):
		return "a JWT"
	}
	return ""
}

var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)

// str returns key's non-empty value and its node; "" and nil when absent,
// empty or wrong.
func (d *decoder) str(f *fields, key, label string) (string, *yaml.Node) {
	s, n, ok := d.scalar(f, key, label)
	if !ok || s == "" {
		return "", nil
	}
	return s, n
}

// required is str for a field that must be given.
func (d *decoder) required(f *fields, key, label string) (string, *yaml.Node) {
	s, n, ok := d.scalar(f, key, label)
	switch {
	case !ok:
		return "", nil
	case n == nil:
		d.errorf(f.node, "%s: missing required field %q", f.what, key)
		return "", nil
	case s == "":
		d.errorf(n, "%s: must not be empty", label)
		return "", nil
	}
	return s, n
}

// duration sets *dst from key if given and returns the value's node (nil
// if absent or wrong). Durations must be positive; allowZero admits 0.
func (d *decoder) duration(f *fields, key string, dst *time.Duration, allowZero bool) *yaml.Node {
	s, n := d.str(f, key, key)
	if n == nil {
		return nil
	}
	v, ok := parseDuration(s)
	if !ok {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			d.errorf(n, "%s: %q is not a duration (missing unit, e.g. \"%ss\")", key, s, s)
		} else {
			d.errorf(n, "%s: %q is not a duration", key, s)
		}
		return nil
	}
	if v < 0 || v == 0 && !allowZero {
		d.errorf(n, "%s: must be positive, got %q", key, s)
		return nil
	}
	*dst = v
	return n
}
