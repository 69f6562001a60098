package vofeed

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/protocol"
)

// service adds one feed service to its site, unless its flavour is not
// probed, a filter leaves it out, or its endpoint is already listed.
func (s *selector) service(e *SiteEntry, svc *Service) {
	typ, why := Flavour(svc.Flavour)
	if typ == "" {
		s.skip(fmt.Sprintf("flavour %s: %s", strings.ToUpper(svc.Flavour), why), svc.Where)
		return
	}
	switch prod := s.f.Production; {
	case (prod == "" || prod == "true") && !svc.Production:
		s.skip("production_status false (production services only)", svc.Where)
		return
	case prod == "false" && svc.Production:
		s.skip("a production service (non-production services only)", svc.Where)
		return
	}
	if len(s.f.Flavours) > 0 && !slices.ContainsFunc(s.f.Flavours, func(f string) bool {
		return strings.EqualFold(f, svc.Flavour) || f == typ
	}) {
		s.skip("flavour "+strings.ToUpper(svc.Flavour)+" not selected", svc.Where)
		return
	}
	se := ServiceEntry{Type: typ, Flavour: svc.Flavour, Host: svc.Host, Where: svc.Where}
	if len(svc.Paths) > 0 {
		se.Path = svc.Paths[0].Path
	}
	if len(svc.Queues) > 0 {
		se.Queue = svc.Queues[0].Queue
		if len(svc.Queues) > 1 {
			s.problem(svc.Where, "%d ce_resource queues; the first (%s) is probed", len(svc.Queues), se.Queue)
		}
	}
	u, err := s.url(e.Name, typ, svc, se.Path)
	if err != nil {
		s.problem(svc.Where, "%s %s: %v; left out", strings.ToUpper(svc.Flavour), svc.Host, err)
		return
	}
	se.URL = u
	key := typ + " " + normURL(u)
	if first, dup := s.urls[key]; dup {
		s.problem(svc.Where, "%s %s is listed again (first at %s, site %s); it is probed once, for %s",
			typ, u, first.pos, first.site, first.site)
		return
	}
	s.urls[key] = urlSeen{site: e.Name, pos: svc.Where}
	e.Services = append(e.Services, se)
}

// url builds the service's url: the feed's endpoint when it is a URL,
// else sites.yaml's url template for the type, else the default pattern,
// with $(endpoint) the feed's endpoint (host:port) or hostname.
func (s *selector) url(site, typ string, svc *Service, path string) (string, error) {
	endpoint := first(svc.Endpoint, svc.Host)
	if strings.Contains(endpoint, "://") {
		return endpoint, nil
	}
	if strings.ContainsAny(endpoint, "/?#@ ") {
		return "", fmt.Errorf("endpoint %q is neither host[:port] nor a URL", truncate(endpoint, 60))
	}
	vars := config.Vars{Site: site, VO: s.vo, Host: svc.Host, Endpoint: endpoint, Path: path}
	if s.base != nil {
		if u, pos, ok, err := s.base.Templates[typ].Render("url", vars); ok {
			if err != nil {
				return "", fmt.Errorf("url template at %s: %w", pos, err)
			}
			return u, nil
		}
	}
	p, ok := s.patterns[typ]
	if !ok {
		var err error
		spec, _ := protocol.Lookup(typ)
		if p, err = config.CompileURLPattern(spec.FeedURL); err != nil {
			return "", err
		}
		s.patterns[typ] = p
	}
	return p.Expand(vars)
}

var hostName = strings.NewReplacer(":", "_", "[", "", "]", "")

// name gives the services of a site that share a type a name each,
// <prefix>.<kind>.<host>[_<port>]: stable whatever the feed's order.
func (s *selector) name(e *SiteEntry) {
	count := map[string]int{}
	for _, sv := range e.Services {
		count[sv.Type]++
	}
	prefix := "org." + s.vo
	if s.base != nil && s.base.Prefix != "" {
		prefix = s.base.Prefix
	}
	for i := range e.Services {
		sv := &e.Services[i]
		if count[sv.Type] < 2 {
			continue
		}
		host := sv.Host
		if u, err := url.Parse(sv.URL); err == nil && u.Host != "" {
			host = hostName.Replace(u.Host)
		}
		sv.Name = config.DefaultServiceName(prefix, sv.Type) + "." + host
	}
}
