package webdav

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// WLCG Common JWT Profile rules the token checks name when a server breaks
// them.
const (
	ruleCreate       = "WLCG profile: storage.create allows creating new files and directories"
	ruleModifyDelete = "WLCG profile: storage.modify includes deleting"
	rulePathElements = "WLCG profile: scope paths match whole path elements"
	ruleOtherPath    = "WLCG profile: a token grants only its scope paths"
	ruleAudience     = "WLCG profile: a token for another audience must be rejected"
	ruleCreateOnly   = "WLCG profile: storage.create must not modify existing data"
)

// tokenDesc is how a failing detail names the token (never its value).
func tokenDesc(t *cred.Token) string {
	if t == nil {
		return "no token"
	}
	d := t.Summary()
	if iss := t.Claims().Issuer; iss != "" {
		d += " iss=" + iss
	}
	return d
}

// tokenErr wraps an error from the token source as an UNKNOWN outcome.
func tokenErr(what string, err error) engine.Outcome {
	return engine.Unknownf("cannot get a %s token: %v", what, err)
}

// runTknRead: storage.read:<read path> with the endpoint as audience; GET
// and verify as in 4crt-read.
func (s *svc) runTknRead(ctx context.Context, _ *engine.Env) engine.Outcome {
	ref := s.t.Service.ReadFile
	if ref.Path == "" {
		return engine.Unknownf("no read_file configured")
	}
	sc := read(ref.Path)
	bc, _, err := s.client(kindBearer)
	if err != nil {
		return engine.Unknownf("cannot set up a client: %v", err)
	}
	tok, err := s.token(ctx, s.aud, sc)
	if err != nil {
		return tokenErr("storage.read", err)
	}
	rep, err := verifyRead(ctx, bc, tok, ref)
	o := readOutcome("token", ref, rep, err)
	if err != nil {
		o.Detail += " (" + tokenDesc(tok) + ")"
	}
	o.Reproduce = append([]string{tokenNeed(s.scopeString(sc), s.aud)}, s.reproRead(tokenAuth, "gridprobe-reference.dat", rep)...)
	return o
}

// runTknWrite: create with storage.create:<scratch dir>, read back with
// storage.read:<file>, delete with storage.modify:<file>.
func (s *svc) runTknWrite(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := s.needScratch()
	if bad != nil {
		return *bad
	}
	p := sc.Path(IDTknWrite + ".dat")
	u := s.urlOf(p)
	local := "gridprobe-tkn-write.dat"
	cr, rd, md := create(sc.Dir()), read(p), modify(p)
	repro := []string{
		payloadLine(local, payloadSize),
		tokenNeed(s.scopeString(cr), s.aud),
		curl(tokenAuth, "-X", "MKCOL", s.urlOf(sc.Dir())) + " || true",
		curl(tokenAuth, "-T", local, u),
		tokenNeed(s.scopeString(rd), s.aud),
		curl(tokenAuth, "-X", "PROPFIND", "-H", "Depth: 0", u),
		curl(tokenAuth, "-o", local+".back", u),
		probe.Command("cmp", local, local+".back"),
		tokenNeed(s.scopeString(md), s.aud),
		curl(tokenAuth, "-X", "DELETE", u),
		comment("remove the scratch directory with a token for %s (or the proxy)", s.scopeString(modify(sc.Dir()))),
	}
	w, o := s.tokenCreds(ctx, cr, rd, md)
	if o != nil {
		return withRepro(*o, repro)
	}
	out := s.writeCycle(ctx, env, w, p)
	if out.State != engine.OK {
		out.Detail += " (" + tokenDesc(w.create) + ")"
	}
	return withRepro(out, repro)
}

// tokenCreds gets the create, read and delete tokens of a write or
// directory cycle.
func (s *svc) tokenCreds(ctx context.Context, cr, rd, md scope) (writeCreds, *engine.Outcome) {
	bc, _, err := s.client(kindBearer)
	if err != nil {
		o := engine.Unknownf("cannot set up a client: %v", err)
		return writeCreds{}, &o
	}
	w := writeCreds{c: bc, label: "token", tokenFirst: true,
		createWhy: " (" + ruleCreate + ")", delWhy: " (" + ruleModifyDelete + ")"}
	for _, x := range []struct {
		dst **cred.Token
		sc  scope
	}{{&w.create, cr}, {&w.rd, rd}, {&w.del, md}} {
		t, err := s.token(ctx, s.aud, x.sc)
		if err != nil {
			o := tokenErr(x.sc.Op, err)
			return writeCreds{}, &o
		}
		*x.dst = t
	}
	return w, nil
}

// runTknDirectory: MKCOL with storage.create, list with storage.read
// (informational), remove with storage.modify.
func (s *svc) runTknDirectory(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := s.needScratch()
	if bad != nil {
		return *bad
	}
	dir := sc.Path(IDTknDirectory)
	file := sc.Path(IDTknDirectory, "file.dat")
	local := "gridprobe-tkn-dir-file.dat"
	cr, rd, md := create(sc.Dir()), read(dir), modify(dir)
	repro := []string{
		payloadLine(local, payloadSize),
		tokenNeed(s.scopeString(cr), s.aud),
		curl(tokenAuth, "-X", "MKCOL", s.urlOf(sc.Dir())) + " || true",
		curl(tokenAuth, "-X", "MKCOL", s.urlOf(dir)),
		curl(tokenAuth, "-T", local, s.urlOf(file)),
		tokenNeed(s.scopeString(rd), s.aud),
		curl(tokenAuth, "-X", "PROPFIND", "-H", "Depth: 1", s.urlOf(dir)) + " | grep -F " + probe.Quote(file),
		tokenNeed(s.scopeString(md), s.aud),
		curl(tokenAuth, "-X", "DELETE", s.urlOf(file)),
		curl(tokenAuth, "-X", "DELETE", s.urlOf(dir)),
		comment("remove the scratch directory with a token for %s (or the proxy)", s.scopeString(modify(sc.Dir()))),
	}
	w, o := s.tokenCreds(ctx, cr, rd, md)
	if o != nil {
		return withRepro(*o, repro)
	}
	d := dirCreds{c: w.c, create: w.create, list: w.rd, del: w.del, label: "token", tokenFirst: true,
		createWhy: w.createWhy, delWhy: w.delWhy, listInformational: true}
	out := s.dirCycle(ctx, env, d, dir, file)
	if out.State == engine.Critical {
		out.Detail += " (" + tokenDesc(w.create) + ")"
	}
	return withRepro(out, repro)
}

// runTknAccess: the refusals the WLCG profile requires, each against an
// object that exists.
func (s *svc) runTknAccess(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := s.needScratch()
	if bad != nil {
		return *bad
	}
	dir := sc.Path(IDTknAccess)
	a := sc.Path(IDTknAccess, "a")
	ab := sc.Path(IDTknAccess, "ab") // its name extends a's: not covered by a scope for a
	local := "gridprobe-access.dat"
	repro := []string{
		probe.Command("printf", "gridprobe access test\\n") + " > " + local,
		tokenNeed(s.scopeString(create(sc.Dir())), s.aud),
		curl(tokenAuth, "-X", "MKCOL", s.urlOf(sc.Dir())) + " || true",
		curl(tokenAuth, "-T", local, s.urlOf(a)),
		curl(tokenAuth, "-T", local, s.urlOf(ab)),
		comment("rule 3: a create-only token neither overwrites nor deletes an existing file"),
		tokenNeed(s.scopeString(create(dir)), s.aud),
		curlDenied(tokenAuth, "-T", local, s.urlOf(a)),
		curlDenied(tokenAuth, "-X", "DELETE", s.urlOf(a)),
		comment("rule 1: a token for %s reads it but not the sibling %s (whole path elements)", a, ab),
		tokenNeed(s.scopeString(read(a)), s.aud),
		curl(tokenAuth, "-o", "/dev/null", s.urlOf(a)),
		curlDenied(tokenAuth, s.urlOf(ab)),
	}
	if ref := s.t.Service.ReadFile.Path; ref != "" {
		repro = append(repro, curlDenied(tokenAuth, s.urlOf(ref)))
	}
	repro = append(repro,
		comment("rule 2: a token for another endpoint's audience is refused"),
		tokenNeed(s.scopeString(read(a)), OtherAudience),
		curlDenied(tokenAuth, s.urlOf(a)),
		comment("clean up with a token for %s (or the proxy)", s.scopeString(modify(sc.Dir()))),
	)
	return withRepro(s.tknAccess(ctx, env, dir, a, ab), repro)
}

func (s *svc) tknAccess(ctx context.Context, env *engine.Env, dir, a, ab string) engine.Outcome {
	bc, _, err := s.client(kindBearer)
	if err != nil {
		return engine.Unknownf("cannot set up a client: %v", err)
	}
	// Set-up: two files created with a create token, shown to exist with a
	// read token.
	ct, err := s.token(ctx, s.aud, create(s.scratch.Dir()))
	if err != nil {
		return tokenErr("storage.create", err)
	}
	if !ct.Narrowed {
		return engine.Unknownf("the token source (%s) gives one token for every request: refusals of narrower tokens cannot be tested", s.t.Creds.Tokens.Describe())
	}
	if err := s.ensureScratch(ctx, env, bc, ct); err != nil {
		return engine.Critf("set-up: %v (%s; %s)", err, ruleCreate, tokenDesc(ct))
	}
	original := []byte(fmt.Sprintf("gridprobe %s %s original\n", env.RunID, env.Check))
	s.cleanup(env, dir, true)
	if _, _, err := bc.call(ctx, "MKCOL", dir, ct, nil, nil, 201, 405); err != nil {
		return engine.Critf("set-up: storage.create token could not create collection %s: %v (%s; %s)", dir, err, ruleCreate, tokenDesc(ct))
	}
	for _, p := range []string{a, ab} {
		s.cleanup(env, p, true)
		if _, _, err := bc.call(ctx, http.MethodPut, p, ct, nil, original, 200, 201, 204); err != nil {
			return engine.Critf("set-up: storage.create token could not create %s: %v (%s; %s)", p, err, ruleCreate, tokenDesc(ct))
		}
	}
	dirRead, err := s.token(ctx, s.aud, read(dir))
	if err != nil {
		return tokenErr("storage.read", err)
	}
	for _, p := range []string{a, ab} {
		if _, _, err := bc.call(ctx, http.MethodHead, p, dirRead, nil, nil, 200); err != nil {
			return engine.Unknownf("set-up: cannot show %s exists with a storage.read token for %s (%v): refusals would prove nothing", p, dir, err)
		}
	}

	var ok, broken []string
	rule := func(name string, refused bool, verdict, why string) {
		if refused {
			ok = append(ok, fmt.Sprintf("%s (%s)", name, shortVerdict(verdict)))
		} else {
			broken = append(broken, fmt.Sprintf("%s: %s (%s)", name, verdict, why))
		}
	}

	// Rule 3 first: the create-only attempts must meet the file closed.
	// XrdHttp keeps a file open after a GET until the connection's next
	// request, and an open reader turns a PUT into 423 Locked, which is
	// not a denial.
	tc, err := s.token(ctx, s.aud, create(dir))
	if err != nil {
		return tokenErr("storage.create", err)
	}
	v, refused := expectDenied(ctx, bc, tc, http.MethodPut, a, []byte("gridprobe overwrite attempt\n"))
	if !refused && strings.Contains(v, "allowed") {
		rule("create-only token overwrote an existing file", false, v, ruleCreateOnly)
	} else {
		rule("create-only overwrite", refused, v, ruleCreateOnly)
	}
	// The delete that must be refused still goes through the scratch guard.
	if err := s.scratch.Check(a); err != nil {
		return engine.Unknownf("%v", err)
	}
	v, refused = expectDenied(ctx, bc, tc, http.MethodDelete, a, nil)
	if !refused && strings.Contains(v, "allowed") {
		rule("create-only token deleted an existing file", false, v, ruleCreateOnly)
		// Put it back so the read rules below still test an existing file.
		if _, _, err := bc.call(ctx, http.MethodPut, a, ct, nil, original, 200, 201, 204); err != nil {
			return engine.Critf("%d rules broken (%s); re-creating %s failed: %v", len(broken), strings.Join(broken, "; "), a, err)
		}
	} else {
		rule("create-only delete", refused, v, ruleCreateOnly)
	}

	// Rule 1: a read token for a reads a (with the original content: the
	// attempts above must not have changed it), not the sibling ab, not
	// the reference file.
	ta, err := s.token(ctx, s.aud, read(a))
	if err != nil {
		return tokenErr("storage.read", err)
	}
	_, got, err := bc.call(ctx, http.MethodGet, a, ta, nil, nil, 200)
	if err != nil {
		return engine.Critf("storage.read token for %s cannot read it: %v (%s), so refusals of it prove nothing", a, err, tokenDesc(ta))
	}
	if !bytes.Equal(got, original) {
		broken = append(broken, fmt.Sprintf("create-only token changed an existing file (%s)", ruleCreateOnly))
	}
	v, refused = expectDenied(ctx, bc, ta, http.MethodGet, ab, nil)
	rule("token for .../a reading sibling .../ab", refused, v, rulePathElements)
	if ref := s.t.Service.ReadFile.Path; ref != "" {
		v, refused = expectDenied(ctx, bc, ta, http.MethodGet, ref, nil)
		if !refused && strings.Contains(v, "404") {
			v += " (cannot tell: the reference file is not known to exist for tokens)"
		}
		rule("token for .../a reading "+ref, refused, v, ruleOtherPath)
	}

	// Rule 2: another audience.
	tw, err := s.token(ctx, OtherAudience, read(a))
	if err != nil {
		return tokenErr("storage.read (other audience)", err)
	}
	v, refused = expectDenied(ctx, bc, tw, http.MethodGet, a, nil)
	rule("token with aud "+OtherAudience, refused, v, ruleAudience)

	if len(broken) > 0 {
		return engine.Critf("%d of %d refusals not enforced: %s", len(broken), len(broken)+len(ok), strings.Join(broken, "; "))
	}
	return engine.Okf("all %d refusals enforced on existing files: %s", len(ok), strings.Join(ok, ", "))
}

// shortVerdict keeps the status of a denial ("403 Forbidden").
func shortVerdict(v string) string {
	if i := strings.Index(v, ":"); i > 0 {
		return v[:i]
	}
	return v
}
