package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gridprobe/gridprobe/internal/protocol"
)

// Third-party-copy partners: other storage endpoints a storage service
// copies to (push) and from (pull), as FTS drives transfers between sites.
// The VO names a reference SE once in defaults.tpc_partners; a service (or
// its type's template) may give its own list instead, which replaces the
// defaults ([] for none). A partner is used by the services whose protocol
// speaks its URL's scheme (https partners by webdav services, root(s)
// partners by xrootd services); a service is never its own partner.
//
//	defaults:
//	  tpc_partners:
//	    - name: ref                      # in check ids: 19tkn-tpc-pull-ref
//	      url: https://ref-se.example.org:443
//	      read_file: {path: /vo/tpc/ref.dat, adler32: 1a2b3c4d, size: 1048576}
//	      write_dir: /vo/tpc/scratch
//	      scope_base: /vo
//	      audience: https://ref-se.example.org   # default: the URL's origin

// Partner is one TPC partner of a storage service.
type Partner struct {
	// Name is the partner's short name (check ids end in -<name>): as
	// written, or the first label of the URL's host.
	Name string `yaml:"name"`
	// URL is the parsed url (davs normalised to https); RawURL as written.
	URL    *url.URL `yaml:"-"`
	RawURL string   `yaml:"url"`
	// ScopeBase, ReadFile, WriteDir and Audience mean what a storage
	// service's keys of the same names mean, on the partner.
	ScopeBase string  `yaml:"scope_base,omitempty"`
	ReadFile  FileRef `yaml:"read_file,omitempty"`
	WriteDir  string  `yaml:"write_dir,omitempty"`
	Audience  string  `yaml:"audience"`
}

// Partners is a list of partners. nil means none given; an empty list,
// that none is wanted (tpc_partners: []), which the effective config keeps.
type Partners []Partner

// IsZero (the YAML encoder's omitempty) is true for nil only.
func (p Partners) IsZero() bool { return p == nil }

// partnerKeys are the keys of one partner.
var partnerKeys = []string{"name", "url", "read_file", "write_dir", "scope_base", "audience"}

// partnerName is what a partner's name may be: it ends check ids
// (19tkn-tpc-pull-<name>), so lower-case letters, digits and '_'.
var partnerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_]{0,31}$`)

// defaultPartnerName is the first label of host, made a partner name.
func defaultPartnerName(host string) string {
	label, _, _ := strings.Cut(strings.ToLower(host), ".")
	b := []byte(label)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	s := strings.Trim(string(b), "_")
	if len(s) > 32 {
		s = s[:32]
	}
	if s == "" {
		s = "partner"
	}
	return s
}

// defaultPartners decodes defaults.tpc_partners: partners of any storage
// protocol.
func (d *decoder) defaultPartners(f *fields, def *Defaults) {
	e, ok := f.m["tpc_partners"]
	if !ok {
		return
	}
	def.TPCPartners = d.partners(e.val, "defaults.tpc_partners", nil)
	d.partnersAt = d.posOf(e.key) + " (defaults.tpc_partners)"
}

// servicePartners gives a storage service its partners: its own list (or
// its template's), else the defaults that speak its protocol, minus
// itself.
func (d *decoder) servicePartners(f *fields, svc *Service, c *Config) {
	spec, ok := protocol.Lookup(svc.Type)
	if !ok || !spec.Storage {
		return
	}
	if e, ok := f.m["tpc_partners"]; ok {
		svc.TPCPartners = d.partners(e.val, "tpc_partners", &spec)
		return
	}
	for _, p := range c.Defaults.TPCPartners {
		if p.URL == nil || !slices.Contains(spec.Schemes, p.URL.Scheme) || sameEndpoint(p.URL, svc.URL) {
			continue
		}
		svc.TPCPartners = append(svc.TPCPartners, p)
	}
	if len(svc.TPCPartners) > 0 && svc.From != nil {
		svc.From["tpc_partners"] = d.partnersAt
		if d.partnersAt == "" { // sites of a feed: the base file's defaults
			svc.From["tpc_partners"] = "defaults.tpc_partners"
		}
	}
}

// sameEndpoint: a and b name the same endpoint (scheme, host and port).
func sameEndpoint(a, b *url.URL) bool {
	return a != nil && b != nil && strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// partners decodes a list of partners. spec, when set, is the protocol of
// the service they belong to (their URLs must be its own); otherwise any
// storage protocol's scheme is accepted.
func (d *decoder) partners(n *yaml.Node, label string, spec *protocol.Spec) Partners {
	items, ok := d.seq(n, label)
	if !ok {
		return nil
	}
	out := Partners{} // an explicit empty list means none
	names := map[string]int{}
	for i, it := range items {
		p, nameNode, ok := d.partner(it, fmt.Sprintf("%s[%d]", label, i), spec)
		if !ok {
			continue
		}
		key := storageTypeOf(p.URL) + " " + p.Name // one name per protocol: partners of one service
		if line, dup := names[key]; dup {
			at := nameNode
			if at == nil {
				at = deref(it)
			}
			d.errorf(at, "%s[%d]: partner name %q is already used by the partner at line %d; set name: to tell them apart", label, i, p.Name, line)
			continue
		}
		names[key] = deref(it).Line
		out = append(out, p)
	}
	return out
}

// storageTypeOf is the storage type whose schemes include u's.
func storageTypeOf(u *url.URL) string {
	if u == nil {
		return ""
	}
	for _, t := range protocol.Types() {
		if s, ok := protocol.Lookup(t); ok && s.Storage && slices.Contains(s.Schemes, u.Scheme) {
			return t
		}
	}
	return ""
}

// partner decodes one partner; ok is false when it has a problem.
func (d *decoder) partner(n *yaml.Node, label string, spec *protocol.Spec) (Partner, *yaml.Node, bool) {
	p := Partner{ReadFile: FileRef{Size: -1}}
	f := d.mapping(n, label, partnerKeys)
	if f == nil {
		return p, nil, false
	}
	before := len(d.errs)
	if raw, un := d.required(f, "url", label+".url"); un != nil {
		p.RawURL = raw
		p.URL = d.partnerURL(raw, un, label+".url", spec)
	}
	name, nn := d.str(f, "name", label+".name")
	switch {
	case nn != nil && !partnerName.MatchString(name):
		d.errorf(nn, "%s.name %q: use lower-case letters, digits and '_' (at most 32; it ends check ids such as 19tkn-tpc-pull-<name>)", label, truncate(name, 40))
	case nn != nil:
		p.Name = name
	case p.URL != nil:
		p.Name = defaultPartnerName(p.URL.Hostname())
	}
	d.partnerPaths(f, &p, label)
	if a, an := d.str(f, "audience", label+".audience"); an != nil {
		p.Audience = a
	} else if p.URL != nil {
		p.Audience = p.URL.Scheme + "://" + p.URL.Host
	}
	if !f.has("read_file") && !f.has("write_dir") {
		d.errorf(f.node, "%s: give read_file (a file the site pulls) and/or write_dir (where the site pushes to)", label)
	}
	return p, nn, len(d.errs) == before
}

// partnerURL checks a partner's url: a storage protocol's scheme (the
// service's own protocol, when given), normalised.
func (d *decoder) partnerURL(raw string, n *yaml.Node, label string, spec *protocol.Spec) *url.URL {
	var specs []protocol.Spec
	if spec != nil {
		specs = []protocol.Spec{*spec}
	} else {
		for _, t := range protocol.Types() {
			if s, ok := protocol.Lookup(t); ok && s.Storage {
				specs = append(specs, s)
			}
		}
	}
	var schemes []string
	for _, s := range specs {
		schemes = append(schemes, s.Schemes...)
	}
	forWhat := "a TPC partner of a storage service"
	if spec != nil {
		forWhat = "a TPC partner of a " + spec.Type + " service (partners copy over the service's own protocol)"
	}
	u := d.url(label, raw, n, schemes, strings.Join(schemes, " or "), forWhat)
	if u == nil {
		return nil
	}
	for _, s := range specs {
		if slices.Contains(s.Schemes, u.Scheme) {
			u.Scheme = s.Normalise(u.Scheme)
			break
		}
	}
	if u.Path != "" && u.Path != "/" {
		d.errorf(n, "%s %q: give the endpoint only (scheme://host[:port]); paths go in read_file and write_dir", label, safeURL(raw))
		return nil
	}
	u.Path = ""
	return u
}

// partnerPaths decodes a partner's scope_base, read_file and write_dir
// with the rules of a service's own.
func (d *decoder) partnerPaths(f *fields, p *Partner, label string) {
	base, _ := d.absPath(f, "scope_base", label+".scope_base")
	p.ScopeBase = base
	inside := func(x string) bool {
		return base == "" || base == "/" || x == base || strings.HasPrefix(x, base+"/")
	}
	if e, ok := f.m["read_file"]; ok {
		if rf := d.mapping(e.val, label+".read_file", fileRefKeys); rf != nil {
			p.ReadFile = d.partnerFile(rf, label+".read_file", base, inside)
		}
	}
	if w, n := d.absPath(f, "write_dir", label+".write_dir"); n != nil {
		switch {
		case w == "/" || w == base:
			d.errorf(n, "%s.write_dir %q: use a directory of its own (the probe creates and deletes <write_dir>/<run id>/ there)", label, w)
		case !inside(w):
			d.errorf(n, "%s.write_dir %q: outside scope_base %q, so no token can write there", label, w, base)
		default:
			p.WriteDir = w
		}
	}
}

// partnerFile decodes a partner's read_file.
func (d *decoder) partnerFile(rf *fields, label, base string, inside func(string) bool) FileRef {
	ref := FileRef{Size: -1}
	path, pn := d.absPath(rf, "path", label+".path")
	switch {
	case !rf.has("path"):
		d.errorf(rf.node, "%s: missing required field %q", label, "path")
	case pn == nil:
	case path == "/":
		d.errorf(pn, "%s.path: must be a file, not /", label)
	case !inside(path):
		d.errorf(pn, "%s.path %q: outside scope_base %q, so no token can read it", label, path, base)
	default:
		ref.Path = path
	}
	if s, n := d.str(rf, "adler32", label+".adler32"); n != nil {
		if hex8.MatchString(s) {
			ref.Adler32 = strings.ToLower(s)
		} else {
			d.errorf(n, "%s.adler32: %q is not 8 hex digits", label, truncate(s, 40))
		}
	}
	if s, n := d.str(rf, "size", label+".size"); n != nil {
		var v int64
		if _, err := fmt.Sscan(s, &v); err == nil && v >= 0 && fmt.Sprint(v) == s {
			ref.Size = v
		} else {
			d.errorf(n, "%s.size: %q is not a size in bytes (a whole number ≥ 0)", label, truncate(s, 40))
		}
	}
	return ref
}
