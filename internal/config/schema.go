package config

import (
	"errors"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gridprobe/gridprobe/internal/protocol"
)

// Known keys of each mapping.
var (
	configKeys   = []string{"vo", "prefix", "defaults", "credentials", "sites", "publish", "sites_from"}
	defaultsKeys = []string{"timeout", "budget", "concurrency", "cert_expiry_warning", "storage_interval", "ce_interval",
		"summary", "templates", "wn_min_token_lifetime", "tpc_partners", "profile_version"}
	credentialsKeys = []string{"x509", "token"}
	x509Keys        = []string{"proxy", "foreign_proxy", "novoms_proxy", "ca_dir", "voms_dir"}
	tokenKeys       = []string{"issuer", "client_id", "client_secret_file", "file", "ca_file",
		"refresh_token_file", "client_key_file", "issuer_url"}
	siteKeys    = []string{"name", "vo", "budget", "services", "groups"}
	serviceKeys = []string{"type", "url", "name", "vo", "scope_base", "read_file", "write_dir", "foreign_file",
		"federation", "queue", "audience", "timeout", "skip", "interval", "summary", "path", "issuer", "scope", "tpc_partners", "profile_version"}
	fileRefKeys = []string{"path", "adler32", "size"}

	// typeOnlyKeys are the service keys that belong to some types only
	// (which ones: internal/protocol).
	typeOnlyKeys = append(append([]string{}, protocol.StorageKeys...), "federation", "queue", "issuer", "scope")
)

var (
	// word: site names, VO names, prefixes, service names. They end up in
	// metric labels, file names and shell lines, so no spaces or quotes.
	word    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	checkID = regexp.MustCompile(`^(WN-)?[0-9]{1,3}[a-z][a-z0-9_]*(-[a-z0-9_]+)*$`) // WN-: worker-node checks of CEs
	hex8    = regexp.MustCompile(`^[0-9a-fA-F]{8}$`)
)

// positions of values that cross-field checks point at.
type defaultNodes struct{ timeout, budget *yaml.Node }

func (d *decoder) config(root *yaml.Node) *Config {
	c := &Config{Defaults: Defaults{
		Timeout:           DefaultTimeout,
		Budget:            DefaultBudget,
		Concurrency:       DefaultConcurrency,
		CertExpiryWarning: DefaultCertExpiryWarning,
		StorageInterval:   DefaultStorageInterval,
		CEInterval:        DefaultCEInterval,
	}}
	if r := deref(root); r == nil || r.Kind == yaml.ScalarNode && r.ShortTag() == "!!null" {
		d.add(&Error{Line: 1, Col: 1, Msg: "empty config: no sites"})
		return c
	}
	f := d.mapping(root, "config", configKeys)
	if f == nil {
		return c
	}
	if vo, n := d.str(f, "vo", "vo"); n != nil && d.word("vo", vo, n) {
		c.VO = vo
	}
	prefixSet := false
	if p, n := d.str(f, "prefix", "prefix"); n != nil && d.word("prefix", p, n) {
		c.Prefix, prefixSet = p, true
	}
	if !prefixSet && c.VO != "" {
		c.Prefix = "org." + c.VO
	}
	dn := d.defaults(f, &c.Defaults)
	if e, ok := f.m["credentials"]; ok {
		d.credentials(e.val, &c.Credentials)
	}
	c.Templates = d.tmpl
	c.SitesFrom = d.sitesFrom(f)
	sitesOptional := d.noSites || c.SitesFrom != nil

	e, ok := f.m["sites"]
	if !ok {
		if !sitesOptional {
			d.errorf(f.node, "config: missing required field %q (or sites_from)", "sites")
		}
		return c
	}
	items, ok := d.seq(e.val, "sites")
	if ok && len(items) == 0 && !sitesOptional {
		d.errorf(deref(e.val), "sites: no sites")
	}
	firstName := map[string]int{}
	for _, it := range items {
		s, nameNode := d.site(it, c, prefixSet, dn)
		if nameNode != nil {
			if line, dup := firstName[s.Name]; dup {
				d.errorf(nameNode, "name: site %q is already defined at line %d", s.Name, line)
			} else {
				firstName[s.Name] = s.Line
			}
		}
		c.Sites = append(c.Sites, s)
	}
	return c
}

// seq returns the items of a list; null is an empty list. ok is false
// (after reporting) when n is no list.
func (d *decoder) seq(n *yaml.Node, label string) ([]*yaml.Node, bool) {
	v := deref(n)
	if v == nil || !d.budget(v) {
		return nil, false
	}
	switch {
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
		return nil, true
	case v.Kind != yaml.SequenceNode:
		d.errorf(v, "%s: expected a list, got %s", label, kindName(v))
		return nil, false
	}
	return v.Content, true
}

func (d *decoder) word(label, s string, n *yaml.Node) bool {
	if !word.MatchString(s) {
		d.errorf(n, "%s %q: use only letters, digits, '_', '.' and '-' (at most 128, not starting with a punctuation mark)", label, truncate(s, 60))
		return false
	}
	return true
}

func (d *decoder) defaults(top *fields, def *Defaults) defaultNodes {
	var dn defaultNodes
	e, ok := top.m["defaults"]
	if !ok {
		return dn
	}
	f := d.mapping(e.val, "defaults", defaultsKeys)
	if f == nil {
		return dn
	}
	dn.timeout = d.duration(f, "timeout", &def.Timeout, false)
	dn.budget = d.duration(f, "budget", &def.Budget, false)
	d.duration(f, "cert_expiry_warning", &def.CertExpiryWarning, true)
	d.duration(f, "storage_interval", &def.StorageInterval, false)
	d.duration(f, "ce_interval", &def.CEInterval, false)
	d.templates(f) // defaults.templates
	d.defaultPartners(f, def)
	d.profileDefaults(f, def)
	if s, n := d.str(f, "concurrency", "concurrency"); n != nil {
		v, err := strconv.Atoi(s)
		switch {
		case err != nil:
			d.errorf(n, "concurrency: %q is not a whole number", s)
		case v < 1:
			d.errorf(n, "concurrency: must be at least 1, got %d", v)
		default:
			def.Concurrency = v
		}
	}
	return dn
}

func (d *decoder) credentials(n *yaml.Node, cr *Credentials) {
	f := d.mapping(n, "credentials", credentialsKeys)
	if f == nil {
		return
	}
	if e, ok := f.m["x509"]; ok {
		if x := d.mapping(e.val, "x509", x509Keys); x != nil {
			cr.X509.Proxy, _ = d.str(x, "proxy", "proxy")
			cr.X509.ForeignProxy, _ = d.str(x, "foreign_proxy", "foreign_proxy")
			cr.X509.NoVOMSProxy, _ = d.str(x, "novoms_proxy", "novoms_proxy")
			cr.X509.CADir, _ = d.str(x, "ca_dir", "ca_dir")
			cr.X509.VOMSDir, _ = d.str(x, "voms_dir", "voms_dir")
		}
	}
	e, ok := f.m["token"]
	if !ok {
		return
	}
	t := d.mapping(e.val, "token", tokenKeys)
	if t == nil {
		return
	}
	tok := &cr.Token
	issuer, issuerNode, issuerOK := d.scalar(t, "issuer", "issuer")
	if issuerOK && issuer != "" && d.url("issuer", issuer, issuerNode, []string{"https"}, "https", "the token issuer") != nil {
		tok.Issuer = issuer
	}
	// Empty values (e.g. ${VAR:-}) count as not given, so one file can
	// serve both an issuer and a token-file setup through the environment.
	id, idNode, idOK := d.scalar(t, "client_id", "client_id")
	secret, secretNode, secretOK := d.scalar(t, "client_secret_file", "client_secret_file")
	tok.ClientID, tok.ClientSecretFile = id, secret
	var fileNode *yaml.Node
	tok.File, fileNode = d.str(t, "file", "file")
	tok.CAFile, _ = d.str(t, "ca_file", "ca_file")
	secretOptional := d.tokenMore(t, tok, issuer, issuerOK)

	if issuer == "" && issuerOK {
		for _, k := range []struct {
			key string
			val string
		}{{"client_id", id}, {"client_secret_file", secret}} {
			if k.val != "" {
				d.errorf(t.keyNode(k.key), "token: %s is only used with issuer", k.key)
			}
		}
		return
	}
	if fileNode != nil {
		d.errorf(t.keyNode("file"), "token: set either issuer (client credentials) or file, not both")
	}
	for _, k := range []struct {
		key  string
		val  string
		node *yaml.Node
		ok   bool
	}{{"client_id", id, idNode, idOK}, {"client_secret_file", secret, secretNode, secretOK && !secretOptional}} {
		switch {
		case !k.ok:
		case k.node == nil:
			d.errorf(t.node, "token: missing required field %q (needed with issuer)", k.key)
		case k.val == "":
			d.errorf(k.node, "%s: must not be empty (needed with issuer)", k.key)
		}
	}
}

func (d *decoder) site(n *yaml.Node, c *Config, prefixSet bool, dn defaultNodes) (Site, *yaml.Node) {
	s := Site{VO: c.VO, Budget: c.Defaults.Budget}
	if v := deref(n); v != nil {
		s.Line = v.Line
	}
	f := d.mapping(n, "site", siteKeys)
	if f == nil {
		return s, nil
	}
	name, nameNode := d.required(f, "name", "name")
	if nameNode != nil && d.word("site name", name, nameNode) {
		s.Name = name
	} else {
		nameNode = nil
	}
	if vo, n := d.str(f, "vo", "vo"); n != nil && d.word("vo", vo, n) {
		s.VO = vo
	}
	d.groups(f, &s)
	budgetNode := d.duration(f, "budget", &s.Budget, false)

	e, ok := f.m["services"]
	if !ok {
		d.errorf(f.node, "site: missing required field %q", "services")
		return s, nameNode
	}
	items, ok := d.seq(e.val, "services")
	if ok && len(items) == 0 {
		d.errorf(deref(e.val), "services: site %q has no services", s.Name)
	}
	endpoints := map[string]int{}
	names := map[string]int{}
	for _, it := range items {
		svc, sn, ok := d.service(it, &s, c, prefixSet)
		if !ok {
			s.Services = append(s.Services, svc)
			continue
		}
		if svc.URL != nil {
			key := svc.Type + " " + svc.URL.String()
			if line, dup := endpoints[key]; dup {
				d.errorf(sn.url, "url: this %s endpoint is already defined at line %d", svc.Type, line)
			} else {
				endpoints[key] = svc.Line
			}
		}
		if svc.Name != "" {
			if line, dup := names[svc.Name]; dup {
				at := sn.name
				if at == nil {
					at = sn.node
				}
				d.errorf(at, "service name %q is already used by the service at line %d of site %q; set name: to tell them apart", svc.Name, line, s.Name)
			} else {
				names[svc.Name] = svc.Line
			}
		}
		if svc.Timeout > s.Budget {
			at := firstNode(sn.timeout, budgetNode, dn.budget, dn.timeout, sn.node)
			d.errorf(at, "site %q: budget %s is shorter than the timeout %s of the service at line %d", s.Name, s.Budget, svc.Timeout, svc.Line)
		}
		s.Services = append(s.Services, svc)
	}
	return s, nameNode
}

func firstNode(ns ...*yaml.Node) *yaml.Node {
	for _, n := range ns {
		if n != nil {
			return n
		}
	}
	return nil
}

// serviceNodes are positions inside one service, for checks across services.
type serviceNodes struct{ node, url, name, timeout *yaml.Node }

func (d *decoder) service(n *yaml.Node, site *Site, c *Config, prefixSet bool) (Service, serviceNodes, bool) {
	svc := Service{VO: site.VO, Timeout: c.Defaults.Timeout, ReadFile: FileRef{Size: -1}}
	var sn serviceNodes
	if v := deref(n); v != nil {
		svc.Line = v.Line
	}
	f := d.mapping(n, "service", serviceKeys)
	if f == nil {
		return svc, sn, false
	}
	sn.node = f.node
	errsBefore := len(d.errs)

	typ, tn := d.required(f, "type", "type")
	spec, known := protocol.Lookup(typ)
	if tn != nil {
		types := protocol.Types()
		switch {
		case len(types) == 0:
			d.errorf(tn, "type %q: this program registers no service types (a gridprobe bug: it does not link probes/all)", truncate(typ, 40))
		case known:
			svc.Type = typ
		case suggest(typ, types) != "":
			d.errorf(tn, "type %q: must be one of %s (did you mean %q?)", truncate(typ, 40), strings.Join(types, ", "), suggest(typ, types))
		default:
			d.errorf(tn, "type %q: must be one of %s", truncate(typ, 40), strings.Join(types, ", "))
		}
	}
	raw, un := d.required(f, "url", "url")
	sn.url = un
	if un != nil {
		svc.RawURL = raw
		if known {
			svc.URL = d.serviceURL(spec, raw, un)
		}
	}
	voBad := false
	if vo, n := d.str(f, "vo", "vo"); n != nil {
		if d.word("vo", vo, n) {
			svc.VO = vo
		} else {
			voBad = true
		}
	}
	if svc.VO == "" && !voBad {
		d.errorf(f.node, "service: no vo (set vo at the top, in the site or in the service)")
	}
	if name, n := d.str(f, "name", "name"); n != nil {
		if d.word("name", name, n) {
			svc.Name, sn.name = name, n
		}
	} else if svc.Type != "" && svc.VO != "" {
		prefix := c.Prefix
		if !prefixSet {
			prefix = "org." + svc.VO
		}
		svc.Name = prefix + "." + spec.Kind
	}
	d.servicePath(f, &svc)
	d.applyTemplate(f, &svc, site, c) // fills keys the service does not set from defaults.templates

	// Fields that belong to some kinds of service only.
	if known {
		for _, k := range typeOnlyKeys {
			if f.has(k) && !spec.Takes(k) {
				d.errorf(f.keyNode(k), "%s: only for type %s, not %s", k, strings.Join(protocol.TypesTaking(k), ", "), svc.Type)
			}
		}
	}
	d.storage(f, &svc)
	d.servicePartners(f, &svc, c)
	d.serviceProfile(f, &svc, &c.Defaults)
	if s, n := d.str(f, "federation", "federation"); n != nil && spec.Takes("federation") {
		// A redirector speaks the service's own protocol.
		if d.url("federation", s, n, spec.Schemes, strings.Join(spec.Schemes, " or "), "type "+spec.Type+" federation") != nil {
			svc.Federation = s
		}
	}
	svc.Queue, _ = d.str(f, "queue", "queue")
	if a, n := d.str(f, "audience", "audience"); n != nil {
		svc.Audience = a
	} else if svc.URL != nil {
		svc.Audience = svc.URL.Scheme + "://" + svc.URL.Host
	}
	sn.timeout = d.duration(f, "timeout", &svc.Timeout, false)
	if spec.Storage {
		svc.Interval = c.Defaults.StorageInterval
	} else {
		svc.Interval = c.Defaults.CEInterval
	}
	d.duration(f, "interval", &svc.Interval, false)
	svc.Skip = d.skip(f)
	d.issuerService(f, &svc, c)
	return svc, sn, len(d.errs) == errsBefore
}

// serviceURL parses and checks a service's url for its type: one of the
// type's schemes (an alias normalised), and its default port added where the
// type wants the port in the URL.
func (d *decoder) serviceURL(spec protocol.Spec, raw string, n *yaml.Node) *url.URL {
	u := d.url("url", raw, n, spec.Schemes, strings.Join(spec.Schemes, " or "), "type "+spec.Type)
	if u == nil {
		return nil
	}
	u.Scheme = spec.Normalise(u.Scheme)
	if spec.PortInURL && u.Port() == "" {
		u.Host += ":" + spec.DefaultPort
	}
	return u
}

// tokenQuery are query parameters that carry a bearer token or macaroon.
var tokenQuery = []string{"authz", "access_token", "bearer_token", "token", "macaroon"}

// url parses s and checks it has one of schemes and a host, and carries no
// credentials. Messages never show user info or a query.
func (d *decoder) url(label, s string, n *yaml.Node, schemes []string, want, forWhat string) *url.URL {
	shown := safeURL(s)
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		msg := err.Error()
		if errors.As(err, &ue) {
			msg = ue.Err.Error()
		}
		d.errorf(n, "%s %q: not a URL: %s", label, shown, msg)
		return nil
	}
	ok := true
	if !contains(schemes, strings.ToLower(u.Scheme)) {
		d.errorf(n, "%s %q: scheme must be %s for %s", label, shown, want, forWhat)
		ok = false
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.User != nil {
		d.errorf(n, "%s %q: must not contain a user name or password (credentials are configured under credentials:)", label, shown)
		ok = false
	}
	q := u.Query()
	for _, k := range tokenQuery {
		if q.Has(k) {
			d.errorf(n, "%s %q: must not carry a token (query parameter %q)", label, shown, k)
			ok = false
		}
	}
	if u.Opaque != "" || u.Hostname() == "" {
		d.errorf(n, "%s %q: host required (scheme://host[:port])", label, shown)
		ok = false
	} else if p := u.Port(); p != "" {
		if v, err := strconv.Atoi(p); err != nil || v < 1 || v > 65535 {
			d.errorf(n, "%s %q: port %q out of range", label, shown, p)
			ok = false
		}
	}
	if u.Fragment != "" {
		d.errorf(n, "%s %q: must not have a #fragment", label, shown)
		ok = false
	}
	if !ok {
		return nil
	}
	return u
}

// safeURL is s for messages: without user info, query or fragment.
func safeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.IndexAny(s, "@?#"); i >= 0 {
			s = s[:i] + "…"
		}
		return truncate(s, 80)
	}
	v := *u
	v.User = nil
	if v.RawQuery != "" || v.ForceQuery {
		v.RawQuery, v.ForceQuery = "…", false
	}
	v.Fragment, v.RawFragment = "", ""
	out := v.String()
	if u.User != nil && v.Host != "" {
		out = strings.Replace(out, "//"+v.Host, "//…@"+v.Host, 1)
	}
	return truncate(out, 80)
}

// storage decodes and checks the storage paths of a service.
func (d *decoder) storage(f *fields, svc *Service) {
	base, _ := d.absPath(f, "scope_base", "scope_base")
	svc.ScopeBase = base
	voBase := ""
	if svc.VO != "" {
		voBase = "/" + svc.VO
	}
	inside := func(p string) bool {
		return base == "" || base == "/" || p == base || strings.HasPrefix(p, base+"/")
	}

	if e, ok := f.m["read_file"]; ok {
		if rf := d.mapping(e.val, "read_file", fileRefKeys); rf != nil && len(rf.m) > 0 {
			p, pn := d.absPath(rf, "path", "read_file.path")
			if !rf.has("path") {
				d.errorf(rf.node, "read_file: missing required field %q", "path")
			}
			switch {
			case pn == nil:
			case p == "/":
				d.errorf(pn, "read_file.path: must be a file, not /")
			case !inside(p):
				d.errorf(pn, "read_file.path %q: outside scope_base %q, so no token can read it", p, base)
			default:
				svc.ReadFile.Path = p
			}
			if s, n := d.str(rf, "adler32", "read_file.adler32"); n != nil {
				if hex8.MatchString(s) {
					svc.ReadFile.Adler32 = strings.ToLower(s)
				} else {
					d.errorf(n, "read_file.adler32: %q is not 8 hex digits", truncate(s, 40))
				}
			}
			if s, n := d.str(rf, "size", "read_file.size"); n != nil {
				if v, err := strconv.ParseInt(s, 10, 64); err == nil && v >= 0 {
					svc.ReadFile.Size = v
				} else {
					d.errorf(n, "read_file.size: %q is not a size in bytes (a whole number ≥ 0)", truncate(s, 40))
				}
			}
		}
	}

	if p, n := d.absPath(f, "write_dir", "write_dir"); n != nil {
		switch {
		case p == "/":
			d.errorf(n, "write_dir: must not be / (the probe creates and deletes <write_dir>/<run id>/; use a directory of its own)")
		case p == base || p == voBase:
			d.errorf(n, "write_dir %q: must not be the VO base itself; use a directory of its own below it", p)
		case !inside(p):
			d.errorf(n, "write_dir %q: outside scope_base %q, so no token can write there", p, base)
		default:
			svc.WriteDir = p
		}
	}
	if p, n := d.absPath(f, "foreign_file", "foreign_file"); n != nil {
		switch {
		case p == "/":
			d.errorf(n, "foreign_file: must be a file, not /")
		case base != "" && base != "/" && inside(p):
			d.errorf(n, "foreign_file %q: inside scope_base %q; it must be a file the VO's tokens cannot reach", p, base)
		default:
			svc.ForeignFile = p
		}
	}
}

// absPath reads key as an absolute, clean path; a trailing slash is
// dropped. n is nil when absent or wrong.
func (d *decoder) absPath(f *fields, key, label string) (string, *yaml.Node) {
	s, n := d.str(f, key, label)
	if n == nil {
		return "", nil
	}
	switch {
	case !strings.HasPrefix(s, "/"):
		d.errorf(n, "%s %q: must be an absolute path", label, truncate(s, 80))
		return "", nil
	case contains(strings.Split(s, "/"), ".."):
		d.errorf(n, "%s %q: must not contain \"..\"", label, truncate(s, 80))
		return "", nil
	}
	p := s
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	if c := path.Clean(p); c != p {
		d.errorf(n, "%s %q: not a clean path (write %q)", label, truncate(s, 80), c)
		return "", nil
	}
	return p, n
}

func (d *decoder) skip(f *fields) []string {
	e, ok := f.m["skip"]
	if !ok {
		return nil
	}
	items, _ := d.seq(e.val, "skip")
	var out []string
	first := map[string]bool{}
	for _, it := range items {
		s, n, ok := d.scalarNode(it, "skip")
		switch {
		case !ok:
		case !checkID.MatchString(s):
			d.errorf(n, "skip: %q is not a check id (like \"14tkn-read\")", truncate(s, 40))
		case first[s]:
			d.errorf(n, "skip: %q is listed twice", s)
		default:
			first[s] = true
			out = append(out, s)
		}
	}
	return out
}
