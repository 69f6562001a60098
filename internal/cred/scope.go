package cred

import (
	"path"
	"strings"
)

// ScopeCovers reports whether a token granted scope `granted` may do what
// scope `wanted` allows, by the WLCG Common JWT Profile:
//   - storage.<activity>:<path> covers the same activity on that path and
//     everything below it, matched by whole path elements (/foo covers
//     /foo/x, not /foobar); storage.modify also covers storage.create;
//     a storage scope without a path covers nothing;
//   - every other scope (compute.*, wlcg.groups…) covers only itself.
//
// Paths are compared after cleaning ("/a/../b" is "/b"), relative to the
// VO's base path like the scopes themselves.
func ScopeCovers(granted, wanted string) bool {
	gAct, gPath, gHas := strings.Cut(granted, ":")
	wAct, wPath, wHas := strings.Cut(wanted, ":")
	if !strings.HasPrefix(gAct, "storage.") || !strings.HasPrefix(wAct, "storage.") {
		return granted == wanted
	}
	if !gHas || !wHas || gPath == "" || wPath == "" {
		return false
	}
	if gAct != wAct && !(gAct == "storage.modify" && wAct == "storage.create") {
		return false
	}
	g, w := cleanScopePath(gPath), cleanScopePath(wPath)
	return g == "/" || w == g || strings.HasPrefix(w, g+"/")
}

// ScopesCover reports whether any of granted covers wanted.
func ScopesCover(granted []string, wanted string) bool {
	for _, g := range granted {
		if ScopeCovers(g, wanted) {
			return true
		}
	}
	return false
}

func cleanScopePath(p string) string { return path.Clean("/" + p) }
