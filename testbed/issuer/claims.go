package main

import (
	"fmt"
	"regexp"
	"strings"
)

// Requests for claims rather than capabilities (WLCG Common JWT Profile
// §3.1 and §3.4), honoured as IAM does: "wlcg" asks for a WLCG token (the
// default version), "wlcg:<MAJOR.MINOR>" for that version in wlcg.ver,
// "wlcg.groups:<group>" for that group in wlcg.groups. They are taken out
// of the scope list before the capabilities are checked, and never appear
// in the scope claim. A request of only such scopes gets no capability
// (an empty scope request, by contrast, gets all the client's scopes).

var versionGrammar = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)

// tokenRequest is a scope request split into capabilities and claims.
type tokenRequest struct {
	scopes  string   // the rest, as requested (space-separated)
	version string   // "" for the default
	groups  []string // requested groups, in order
	// onlyClaims: the request asked for claims and no capability.
	onlyClaims bool
}

// splitRequest separates the claim requests from the capabilities. A
// group must be allowed like a scope (a client pattern "wlcg.groups:/vo"
// allows /vo and its subgroups).
func splitRequest(requested string, allowed []string) (tokenRequest, error) {
	var r tokenRequest
	var rest []string
	fields := strings.Fields(requested)
	for _, s := range fields {
		v, isVer := strings.CutPrefix(s, "wlcg:")
		g, isGroup := strings.CutPrefix(s, "wlcg.groups:")
		switch {
		case s == "wlcg":
		case isVer:
			if !versionGrammar.MatchString(v) {
				return r, fmt.Errorf("version request %q: want wlcg:MAJOR.MINOR", s)
			}
			r.version = v
		case isGroup:
			if !scopeAllowed(s, allowed) {
				return r, fmt.Errorf("group %q is not allowed for this client", g)
			}
			r.groups = append(r.groups, g)
		default:
			rest = append(rest, s)
		}
	}
	r.scopes = strings.Join(rest, " ")
	r.onlyClaims = len(fields) > 0 && len(rest) == 0
	return r, nil
}

// apply puts the requested claims into a token's spec.
func (r tokenRequest) apply(spec *TokenSpec) {
	if r.version != "" {
		spec.WLCGVer = r.version
	}
	if len(r.groups) > 0 {
		if spec.Extra == nil {
			spec.Extra = map[string]any{}
		}
		spec.Extra["wlcg.groups"] = r.groups
	}
}
