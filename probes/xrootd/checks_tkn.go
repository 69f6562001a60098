package xrootd

import (
	"bytes"
	"context"
	"fmt"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// tokenFailure is failure() for a token session, naming the token.
func tokenFailure(err error, tok *cred.Token) engine.Outcome {
	o := failure("%s", err)
	if tok != nil && o.State == engine.Critical {
		o.Detail += " (" + tokenDesc(tok) + ")"
	}
	return o
}

// runTknRead: storage.read:<read path> with the endpoint as audience, over
// ztn only: stat, read, size and adler32.
func (s *svc) runTknRead(ctx context.Context, _ *engine.Env) engine.Outcome {
	ref := s.t.Service.ReadFile
	if ref.Path == "" {
		return engine.Unknownf("no read_file configured")
	}
	repro := s.reproTknRead()
	c, tok, err := s.tokenConn(ctx, s.aud, read(ref.Path))
	if err != nil {
		return withRepro(tokenFailure(err, tok), repro)
	}
	o := s.verifyRead(ctx, c)
	if o.State != engine.OK {
		o.Detail += " (" + tokenDesc(tok) + ")"
	}
	return withRepro(o, repro)
}

// runTknContain: a token for the whole VO area (storage.read:/ relative to
// the base path) cannot read another VO's file, directly or through "..".
// The file is first shown to exist with the other VO's proxy.
func (s *svc) runTknContain(ctx context.Context, _ *engine.Env) engine.Outcome {
	ff := s.t.Service.ForeignFile
	if ff == "" {
		return engine.Unknownf("no foreign_file configured: containment cannot be tested")
	}
	esc := s.escapePath(ff)
	sc := read(s.voArea)
	repro := []string{
		comment("%s exists (another VO's proxy may stat it):", ff),
		s.xrdfs(kindForeign, "stat", ff),
		tokenNeed(s.scopeString(sc), s.aud),
		denied(xrdcp(kindToken, s.fileURL(ff), "/dev/null"), false),
		denied(xrdcp(kindToken, s.fileURL(esc), "/dev/null"), false),
	}
	if o := s.showExists(ctx, kindForeign, ff); o != nil {
		return withRepro(*o, repro)
	}
	c, tok, err := s.tokenConn(ctx, s.aud, sc)
	if err != nil {
		return withRepro(tokenFailure(err, tok), repro)
	}
	var t tally
	for _, p := range []string{ff, esc} {
		_, err := c.openRead(ctx, p)
		v, text := judge(err, false)
		if v == vAllowed {
			text = "the token read it"
		}
		t.add("read "+p, v, text, ruleBasePath)
	}
	return withRepro(t.outcome("a token for "+s.scopeString(sc)+" is kept out of "+ff), repro)
}

// runTknWrite: create with storage.create:<scratch dir>, read back with
// storage.read:<file>, delete with storage.modify:<file>.
func (s *svc) runTknWrite(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := s.needScratch()
	if bad != nil {
		return *bad
	}
	p := sc.Path(IDTknWrite + ".dat")
	cr, rd, md := create(sc.Dir()), read(p), modify(p)
	repro := s.reproWrite(kindToken, p, "gridprobe-tkn-write.dat",
		&tokenScopes{create: s.scopeString(cr), read: s.scopeString(rd), del: s.scopeString(md)})
	w, o := s.tokenCycle(ctx, cr, rd, md)
	if o != nil {
		return withRepro(*o, repro)
	}
	out := s.writeCycle(ctx, env, w, p)
	return withRepro(out, repro)
}

// tokenCycle opens the create, read and delete sessions of a cycle.
func (s *svc) tokenCycle(ctx context.Context, cr, rd, md scope) (cycleCreds, *engine.Outcome) {
	w := cycleCreds{tokenFirst: true, createWhy: " (" + ruleCreate + ")", delWhy: " (" + ruleModifyDelete + ")"}
	for _, x := range []struct {
		dst **conn
		sc  scope
	}{{&w.create, cr}, {&w.read, rd}, {&w.del, md}} {
		c, tok, err := s.tokenConn(ctx, s.aud, x.sc)
		if err != nil {
			o := tokenFailure(err, tok)
			return cycleCreds{}, &o
		}
		*x.dst = c
	}
	return w, nil
}

// runTknDirectory: mkdir with storage.create, list with storage.read (a
// refusal is a WARNING: the profile does not define listing), remove with
// storage.modify.
func (s *svc) runTknDirectory(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := s.needScratch()
	if bad != nil {
		return *bad
	}
	dir := sc.Path(IDTknDirectory)
	file := sc.Path(IDTknDirectory, "file.dat")
	cr, rd, md := create(sc.Dir()), read(dir), modify(dir)
	repro := s.reproDir(kindToken, dir, file,
		&tokenScopes{create: s.scopeString(cr), read: s.scopeString(rd), del: s.scopeString(md)})
	d, o := s.tokenCycle(ctx, cr, rd, md)
	if o != nil {
		return withRepro(*o, repro)
	}
	d.listInformational = true
	return withRepro(s.dirCycle(ctx, env, d, dir, file), repro)
}

// runTknAccess: the refusals the WLCG profile requires, each against a file
// shown to exist: a token for another path (a sibling whose name extends
// the granted one, and the reference file), for another audience, and a
// create-only token overwriting or deleting.
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
		tokenNeed(s.scopeString(create(sc.Dir())), s.aud) + " (xrdcp also needs storage.read on the target)",
		s.xrdfs(kindToken, "mkdir", "-p", dir),
		xrdcp(kindToken, local, s.fileURL(a)),
		xrdcp(kindToken, local, s.fileURL(ab)),
		comment("a create-only token neither overwrites nor deletes an existing file (xrdcp also stats: add storage.read)"),
		tokenNeed(s.scopeString(create(dir)), s.aud),
		denied(xrdcp(kindToken, local, s.fileURL(a)), false),
		denied(s.xrdfs(kindToken, "rm", a), false),
		comment("a token for %s reads it but neither the sibling %s nor other files (whole path elements)", a, ab),
		tokenNeed(s.scopeString(read(a)), s.aud),
		xrdcp(kindToken, s.fileURL(a), "/dev/null"),
		denied(xrdcp(kindToken, s.fileURL(ab), "/dev/null"), false),
		comment("a token for another endpoint's audience is refused"),
		tokenNeed(s.scopeString(read(a)), OtherAudience),
		denied(xrdcp(kindToken, s.fileURL(a), "/dev/null"), true),
		comment("clean up with a token for %s (or the proxy)", s.scopeString(modify(sc.Dir()))),
	}
	return withRepro(s.tknAccess(ctx, env, dir, a, ab), repro)
}

func (s *svc) tknAccess(ctx context.Context, env *engine.Env, dir, a, ab string) engine.Outcome {
	// Set-up: two files created with a create token, shown to exist with a
	// read token.
	cc, ct, err := s.tokenConn(ctx, s.aud, create(s.scratch.Dir()))
	if err != nil {
		return tokenFailure(err, ct)
	}
	if !ct.Narrowed {
		return engine.Unknownf("the token source (%s) gives one token for every request: refusals of narrower tokens cannot be tested", s.t.Creds.Tokens.Describe())
	}
	if err := s.ensureScratch(ctx, env, cc); err != nil {
		return engine.Critf("set-up: %s (%s; %s)", errText(err), ruleCreate, tokenDesc(ct))
	}
	original := []byte(fmt.Sprintf("gridprobe %s %s original\n", env.RunID, env.Check))
	s.cleanup(env, dir, true, true)
	if err := cc.Mkdir(ctx, dir, false); err != nil {
		return engine.Critf("set-up: storage.create token could not mkdir %s: %s (%s; %s)", dir, errText(err), ruleCreate, tokenDesc(ct))
	}
	for _, p := range []string{a, ab} {
		s.cleanup(env, p, false, true)
		if _, err := cc.WriteFile(ctx, p, original, xrd.WriteOptions{}); err != nil {
			return engine.Critf("set-up: storage.create token could not create %s: %s (%s; %s)", p, errText(err), ruleCreate, tokenDesc(ct))
		}
	}
	dr, drt, err := s.tokenConn(ctx, s.aud, read(dir))
	if err != nil {
		return tokenFailure(err, drt)
	}
	for _, p := range []string{a, ab} {
		if _, err := dr.Stat(ctx, p); err != nil {
			return engine.Unknownf("set-up: cannot show %s exists with a storage.read token for %s (%s): refusals would prove nothing", p, dir, errText(err))
		}
	}

	var t tally
	// A create-only token for the directory: no overwrite, no delete.
	tc, tct, err := s.tokenConn(ctx, s.aud, create(dir))
	if err != nil {
		return tokenFailure(err, tct)
	}
	v, text := judge(tc.overwrite(ctx, a, []byte("gridprobe overwrite attempt\n")), false)
	name := "create-only overwrite"
	if v == vAllowed {
		name = "create-only token overwrote an existing file"
	}
	t.add(name, v, text, ruleCreateOnly)
	// The delete that must be refused still goes through the scratch guard.
	if err := s.scratch.Check(a); err != nil {
		return engine.Unknownf("%v", err)
	}
	v, text = judge(tc.Rm(ctx, a), false)
	name = "create-only delete"
	if v == vAllowed {
		name = "create-only token deleted an existing file"
	}
	t.add(name, v, text, ruleCreateOnly)

	// A read token for a reads a, with its original content, but not the
	// sibling ab, nor the reference file.
	ta, tat, err := s.tokenConn(ctx, s.aud, read(a))
	if err != nil {
		return tokenFailure(err, tat)
	}
	got, _, err := ta.ReadFile(ctx, a)
	switch {
	case xrd.IsNotFound(err) && v == vAllowed:
		// deleted by the create-only token: already reported
	case err != nil:
		return engine.Critf("storage.read token for %s cannot read it: %s (%s; %s), so refusals of it prove nothing", a, errText(err), ruleRead, tokenDesc(tat))
	case !bytes.Equal(got, original):
		t.broken = append(t.broken, fmt.Sprintf("create-only token changed an existing file (%s)", ruleCreateOnly))
	}
	_, err = ta.openRead(ctx, ab)
	v, text = judge(err, false)
	if v == vAllowed {
		text = "read it"
	}
	t.add("token for .../a reading sibling .../ab", v, text, rulePathElements)
	if ref := s.t.Service.ReadFile.Path; ref != "" {
		rc, rct, err := s.tokenConn(ctx, s.aud, read(ref))
		if err == nil {
			_, err = rc.Stat(ctx, ref)
		}
		if err != nil {
			t.add("token for .../a reading "+ref, vInconclusive, fmt.Sprintf("cannot show it exists with a token for it: %s (%s)", errText(err), tokenDesc(rct)), "")
		} else {
			_, err = ta.openRead(ctx, ref)
			v, text = judge(err, false)
			if v == vAllowed {
				text = "read it"
			}
			t.add("token for .../a reading "+ref, v, text, ruleOtherPath)
		}
	}

	// Another audience: refused at login or at authorization.
	tw, twt, err := s.tokenConn(ctx, OtherAudience, read(a))
	if err == nil {
		_, err = tw.openRead(ctx, a)
	} else if twt == nil {
		return tokenFailure(err, nil)
	}
	v, text = judge(err, true)
	if v == vAllowed {
		text = "read it"
	}
	t.add("token with aud "+OtherAudience, v, text, ruleAudience)
	return t.outcome("token refusals")
}
