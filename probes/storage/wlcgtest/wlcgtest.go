// Package wlcgtest is an in-process model of the storage rules of the WLCG
// Common JWT Profile (v1.0–v1.2), for unit tests of the storage rulebook
// and its protocols: a fake issuer that shapes tokens as the testbed issuer
// does (version and group requests, audience lists), and a policy that
// decides each request as a conforming storage element must — with knobs
// that break one rule at a time, so that a test can show the rulebook
// notices each violation. It is a test double: real servers are tested
// against the testbed.
package wlcgtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// Op is what a request does.
type Op int

// Operations.
const (
	Read   Op = iota // read data (GET, kXR_read)
	Stat             // metadata: stat, checksum
	List             // list a directory
	Write            // create a new file
	Over             // write over an existing file
	Delete           // delete a file or an empty directory
	Mkdir            // make a directory
)

// Request is one request with a token.
type Request struct {
	Op     Op
	Path   string // absolute storage path
	Claims cred.Claims
}

// Policy decides requests as a storage element following the profile
// would. Break names rules (the rulebook's profile rule ids) to violate.
type Policy struct {
	Audience string // the endpoint's audience
	Base     string // where the issuer's scope paths start, e.g. /testvo
	// GroupArea: a group's own right (without storage scopes): the area it
	// may do everything in.
	GroupArea map[string]string
	Break     map[string]bool
	// Issuer, when set, is the only issuer trusted (else any).
	Issuer string
	// DeleteNeedsRead: deleting needs storage.read too (XrdHttp 5.5
	// stats before a DELETE).
	DeleteNeedsRead bool
	// GroupsWithScopesOnly: groups are honoured only beside a storage
	// scope (XrdAccSciTokens: a token without scope is refused).
	GroupsWithScopesOnly bool
}

// Decide is 0 to allow the request, else the HTTP status of the refusal:
// 401 for an invalid token, 403 for one whose rights do not cover it.
func (p Policy) Decide(r Request) int {
	c := r.Claims
	if p.invalid(c) {
		if p.Break["invalid-token-401"] {
			return 403
		}
		return 401
	}
	caps := storageScopes(c.Scopes)
	groups := len(caps) == 0 && !p.GroupsWithScopesOnly || len(caps) > 0 && p.Break["capabilities-over-groups"]
	if groups && p.groupAllows(r) || len(caps) == 0 && p.Break["no-storage-scope"] {
		return 0
	}
	for _, sc := range caps {
		if p.allows(sc, r) && (r.Op != Delete || !p.DeleteNeedsRead || p.covers(caps, Request{Op: Read, Path: r.Path, Claims: c})) {
			return 0
		}
	}
	return 403
}

// covers: one of caps allows r.
func (p Policy) covers(caps []string, r Request) bool {
	for _, sc := range caps {
		if p.allows(sc, r) {
			return true
		}
	}
	return false
}

func storageScopes(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if strings.HasPrefix(s, "storage.") {
			out = append(out, s)
		}
	}
	return out
}

// invalid: the token must be refused whatever it asks (profile §2.1.1
// audience, §4.3.3 version, §2.2.1 a storage scope without a path).
func (p Policy) invalid(c cred.Claims) bool {
	audOK := false
	for _, a := range c.Audience {
		audOK = audOK || a == p.Audience || a == cred.AnyAudience
	}
	switch n := len(c.Audience); {
	case n == 1 && p.Break["audience"], n > 1 && p.Break["audience-list-other"]:
		audOK = true
	case n > 1 && p.Break["audience-list"]:
		audOK = false
	}
	major, minor, _ := strings.Cut(c.WLCGVersion, ".")
	verOK := major == "1" || p.Break["wlcg-ver-major"]
	if p.Break["wlcg-ver-minor"] && minor != "0" {
		verOK = false
	}
	for _, s := range storageScopes(c.Scopes) {
		if !strings.Contains(s, ":") && !p.Break["scope-without-path"] {
			return true
		}
	}
	untrusted := p.Issuer != "" && c.Issuer != p.Issuer
	notYet := !c.NotBefore.IsZero() && c.NotBefore.After(time.Now())
	return !audOK || !verOK || untrusted || notYet
}

func (p Policy) groupAllows(r Request) bool {
	for _, g := range r.Claims.Groups {
		if area, ok := p.GroupArea[g]; ok && within(r.Path, area, false) {
			return true
		}
	}
	return false
}

// within: p is base or below it, by whole path elements (prefix: as a
// string prefix, the violation).
func within(p, base string, prefix bool) bool {
	p, base = path.Clean(p), path.Clean(base)
	if prefix {
		return strings.HasPrefix(p, base)
	}
	return base == "/" || p == base || strings.HasPrefix(p, base+"/")
}

// allows: the storage scope sc covers the request.
func (p Policy) allows(sc string, r Request) bool {
	name, sp, ok := strings.Cut(sc, ":")
	if !ok {
		sp = "/" // a scope without a path that a broken server accepted
	}
	dirScope := strings.HasSuffix(sp, "/") && sp != "/"
	full := path.Join(p.Base, sp)
	op := strings.TrimPrefix(name, "storage.")
	in := within(r.Path, full, p.Break["path-elements-"+op])
	if op == "read" && p.Break["other-path"] {
		// Everything outside the scope path's own directory too.
		in = in || within(r.Path, p.Base, false) && !within(r.Path, path.Dir(full), false)
	}
	switch op {
	case "read":
		return p.read(r, in)
	case "create":
		leading := within(full, r.Path, false) && r.Path != full // an ancestor of the scope path
		return p.create(r, in, leading, dirScope && path.Clean(r.Path) == full)
	case "modify":
		return in && p.modify(r)
	case "stage":
		return in && (r.Op == Stat && !p.Break["stat-stage"] || r.Op == Read && p.Break["stage-no-read"])
	}
	return false
}

func (p Policy) read(r Request, in bool) bool {
	switch {
	case !in:
		return false
	case r.Op == Read:
		return !p.Break["read"]
	case r.Op == Stat, r.Op == List:
		return true
	case r.Op == Write:
		return p.Break["read-no-create"]
	case r.Op == Delete:
		return p.Break["read-no-delete"]
	}
	return false
}

// create: in the scope's path; leading: a missing ancestor of it (may be
// made as a directory, never written as a file); atDirScope: the path of a
// scope ending in "/" (a directory, never a file).
func (p Policy) create(r Request, in, leading, atDirScope bool) bool {
	switch r.Op {
	case Stat:
		return in && !p.Break["stat-create"]
	case Mkdir:
		return in && !p.Break["create-mkdir"] || leading && !p.Break["create-parents"]
	case Write:
		if leading {
			return p.Break["create-parent-not-file"]
		}
		if atDirScope {
			return p.Break["create-trailing-slash"]
		}
		return in && !p.Break["create-new"]
	case Over:
		return in && p.Break["create-no-overwrite"]
	case Delete:
		return in && p.Break["create-no-delete"]
	case Read:
		return in && p.Break["create-no-read"]
	}
	return false
}

func (p Policy) modify(r Request) bool {
	switch r.Op {
	case Stat:
		return !p.Break["stat-modify"]
	case Write:
		return !p.Break["modify-create"]
	case Over:
		return !p.Break["modify-overwrite"]
	case Delete:
		return !p.Break["modify-delete"]
	case Mkdir:
		return !p.Break["modify-mkdir"]
	case Read:
		return p.Break["modify-no-read"]
	}
	return false
}

// Issuer hands out unsigned JWTs shaped as the testbed issuer shapes them:
// the requested scopes, the audience (several: a list), wlcg.ver from a
// version request (wlcg:<v>, profile §3.4) else 1.0, wlcg.groups from group
// requests (wlcg.groups:<g>). Broad: one token for every request (not
// narrowed), as a token file is.
type Issuer struct {
	Broad bool
	// Ignore: version and group requests are ignored (as many real
	// issuers do).
	Ignore bool
	// Version is wlcg.ver when none is requested (default 1.0).
	Version string
	// Ahead moves iat and nbf into the future (an issuer whose clock runs
	// ahead).
	Ahead time.Duration
	n     atomic.Int64
}

// Describe implements cred.Source.
func (i *Issuer) Describe() string { return "the wlcgtest issuer" }

// Token implements cred.Source.
func (i *Issuer) Token(_ context.Context, req cred.TokenRequest) (*cred.Token, error) {
	ver, groups := "1.0", []string{}
	if i.Version != "" {
		ver = i.Version
	}
	var scopes []string
	for _, s := range req.Scopes {
		v, isVer := strings.CutPrefix(s, "wlcg:")
		g, isGroup := strings.CutPrefix(s, "wlcg.groups:")
		switch {
		case isVer && !i.Ignore:
			ver = v
		case isGroup && !i.Ignore:
			groups = append(groups, g)
		case isVer, isGroup:
		default:
			scopes = append(scopes, s)
		}
	}
	now := time.Now().Add(i.Ahead)
	claims := map[string]any{"iss": "https://issuer.example", "sub": "gridprobe", "wlcg.ver": ver,
		"scope": strings.Join(scopes, " "), "iat": now.Unix(), "nbf": now.Unix() - 60, "exp": now.Add(20 * time.Minute).Unix(),
		"jti": fmt.Sprintf("jti-%d", i.n.Add(1))}
	if auds := strings.Fields(req.Audience); len(auds) == 1 {
		claims["aud"] = auds[0]
	} else if len(auds) > 1 {
		claims["aud"] = auds
	}
	if len(groups) > 0 {
		claims["wlcg.groups"] = groups
	}
	raw, err := unsigned(claims)
	if err != nil {
		return nil, err
	}
	t, err := cred.NewToken(raw, i.Describe())
	if err != nil {
		return nil, err
	}
	t.Narrowed, t.Request = !i.Broad, req
	return t, nil
}

func unsigned(claims map[string]any) (string, error) {
	h, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "test"})
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString([]byte("not-a-signature")), nil
}
