package vofeed

import (
	"net"
	"net/url"
	"strings"
)

// service reads one CRIC service entry (or one service of a site entry)
// into the feed site it belongs to: the experiment site it is used by
// (usage.<vo>[0].site, a "site" field, or the enclosing site entry), else
// its rcsite.
func (c *cricReader) service(v *jnode, siteName, rcsite string) {
	if v.kind != 'o' {
		c.problem(v, "expected a service object, got %s; left out", kindName(v))
		return
	}
	s := Service{Production: true, Where: c.pos(v)}
	flavour, ok1 := c.str(v, "flavour")
	endpoint, ok2 := c.str(v, "endpoint")
	host, ok3 := c.str(v, "hostname")
	rc, ok4 := c.str(v, "rcsite")
	site, ok5 := c.str(v, "site")
	state, ok6 := c.str(v, "state")
	status, ok7 := c.str(v, "status")
	queue, ok8 := c.str(v, "queue")
	used, ok9 := c.usage(v)
	prod, ok10 := c.production(v, status)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8 && ok9 && ok10) {
		return
	}
	s.Flavour, s.Endpoint, s.Host, s.Production = flavour, endpoint, strings.ToLower(host), prod
	if queue != "" {
		s.Queues = []CEQueue{{Queue: queue}}
	}
	if !c.paths(v, &s) {
		return
	}
	switch {
	case state != "" && !strings.EqualFold(state, "ACTIVE"):
		c.problem(v, "state %s (not ACTIVE): left out", state)
		return
	case s.Flavour == "":
		c.problem(v, "service without a flavour: left out")
		return
	case s.Host == "" && s.Endpoint == "":
		c.problem(v, "service without hostname or endpoint: nothing to probe; left out")
		return
	case s.Host == "":
		s.Host = strings.ToLower(hostOf(s.Endpoint))
	}
	name := first(used, site, siteName, rc, rcsite)
	if name == "" {
		c.problem(v, "service %s: no site (usage.%s, site or rcsite); left out", s.Host, c.vo)
		return
	}
	c.add(name, first(rc, rcsite), s)
}

func (c *cricReader) add(name, rcsite string, s Service) {
	i, ok := c.sites[name]
	if !ok {
		i = len(c.out.Feed.Sites)
		c.sites[name] = i
		c.out.Feed.Sites = append(c.out.Feed.Sites, Site{Name: rcsite, ExpName: name, Where: s.Where})
	}
	c.out.Feed.Sites[i].Services = append(c.out.Feed.Sites[i].Services, s)
}

// usage reads usage.<vo>[0].site: the experiment site using the service.
func (c *cricReader) usage(v *jnode) (string, bool) {
	u := v.field("usage")
	if u == nil || u.kind == 'z' {
		return "", true
	}
	if u.kind != 'o' {
		c.problem(u, "expected an object keyed by VO, got %s; entry left out", kindName(u))
		return "", false
	}
	for i, k := range u.keys {
		if c.vo != "" && strings.ToLower(k) != c.vo {
			continue
		}
		list := u.vals[i]
		if list.kind != 'a' || len(list.items) == 0 {
			continue
		}
		return c.str(list.items[0], "site")
	}
	return "", true
}

// production reads "production" (bool) or "status" ("production" or not).
func (c *cricReader) production(v *jnode, status string) (bool, bool) {
	if p := v.field("production"); p != nil && p.kind != 'z' {
		if p.kind != 'b' {
			c.problem(p, "expected true or false, got %s; entry left out", kindName(p))
			return false, false
		}
		return p.str == "true", true
	}
	return status == "" || strings.EqualFold(status, "production"), true
}

// paths reads "paths": [[id, path], …] (the feed's se_resource).
func (c *cricReader) paths(v *jnode, s *Service) bool {
	p := v.field("paths")
	if p == nil || p.kind == 'z' {
		return true
	}
	if p.kind != 'a' {
		c.problem(p, "expected a list of [id, path] pairs, got %s; entry left out", kindName(p))
		return false
	}
	for _, it := range p.items {
		if it.kind != 'a' || len(it.items) != 2 || it.items[0].kind != 's' || it.items[1].kind != 's' {
			c.problem(it, "expected an [id, path] pair of strings, got %s; entry left out", kindName(it))
			return false
		}
		id, path := it.items[0].str, it.items[1].str
		if len(id)+len(path) > maxAttr || strings.ContainsFunc(id+path, isControl) {
			c.problem(it, "path too long or with control characters; entry left out")
			return false
		}
		s.Paths = append(s.Paths, SEPath{ID: id, Path: path})
	}
	return true
}

// hostOf returns the host of an endpoint: "host", "host:port" or a URL.
func hostOf(endpoint string) string {
	if strings.Contains(endpoint, "://") {
		if u, err := url.Parse(endpoint); err == nil {
			return u.Hostname()
		}
		return ""
	}
	if h, _, err := net.SplitHostPort(endpoint); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(endpoint, "["), "]")
}
