package main

import (
	"fmt"
	"strings"
)

// scopeAllowed reports whether the requested scope s is covered by one of
// the allowed scope patterns. A pattern without a path ("compute.read")
// allows exactly itself. A pattern with a path ("storage.read:/data")
// allows the same authorization on that path and everything below it,
// matched by whole path elements (/data covers /data/x, not /database),
// as the WLCG Common JWT Profile defines it.
func scopeAllowed(s string, allowed []string) bool {
	authz, path, hasPath := strings.Cut(s, ":")
	for _, a := range allowed {
		aAuthz, aPath, aHasPath := strings.Cut(a, ":")
		if !aHasPath {
			if s == a {
				return true
			}
			continue
		}
		if !hasPath || authz != aAuthz {
			continue
		}
		if pathWithin(path, aPath) {
			return true
		}
	}
	return false
}

// pathWithin reports whether path p is base itself or below it, by whole
// path elements. Both must be absolute; p must not contain "." or ".."
// elements or empty elements (other than a trailing slash).
func pathWithin(p, base string) bool {
	if !validScopePath(p) || !validScopePath(base) {
		return false
	}
	p = strings.TrimSuffix(p, "/")
	base = strings.TrimSuffix(base, "/")
	if base == "" { // "/" covers everything
		return true
	}
	return p == base || strings.HasPrefix(p, base+"/")
}

func validScopePath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	elems := strings.Split(strings.TrimSuffix(p, "/"), "/")
	for i, e := range elems {
		if i == 0 {
			continue // the empty element before the leading slash
		}
		if e == "" || e == "." || e == ".." {
			return false
		}
	}
	return true
}

// limitScopes checks every requested scope against the allowed patterns.
// An empty request is granted all allowed scopes (the client's default).
// Duplicates are removed; the order of the request is kept.
func limitScopes(requested string, allowed []string) ([]string, error) {
	fields := strings.Fields(requested)
	if len(fields) == 0 {
		return append([]string(nil), allowed...), nil
	}
	seen := map[string]bool{}
	var granted []string
	for _, s := range fields {
		if seen[s] {
			continue
		}
		seen[s] = true
		if !scopeAllowed(s, allowed) {
			return nil, fmt.Errorf("scope %q is not allowed for this client", s)
		}
		granted = append(granted, s)
	}
	return granted, nil
}
