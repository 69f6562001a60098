package xrootd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// runCrtRead: the reference file with the VO proxy over GSI: stat, read,
// size and adler32 (computed and the server's).
func (s *svc) runCrtRead(ctx context.Context, _ *engine.Env) engine.Outcome {
	if s.t.Service.ReadFile.Path == "" {
		return withRepro(engine.Unknownf("no read_file configured"), nil)
	}
	c, p, err := s.gsiConn(ctx, kindProxy)
	if err != nil {
		return withRepro(failure("%s", err), s.reproCrtRead())
	}
	o := s.verifyRead(ctx, c)
	if o.State != engine.OK {
		o.Detail += " (" + p.Summary() + ")"
	}
	return withRepro(o, s.reproCrtRead())
}

// escapePath is p reached from the VO area through "..": /testvo/../othervo/f.
func (s *svc) escapePath(p string) string {
	base := s.voArea
	if base == "/" {
		base = ""
	}
	return base + "/.." + p
}

// runCrtContain: VO A's proxy can neither read VO B's file (foreign_file)
// nor reach it by escaping the VO area with "..". The file is first shown
// to exist with VO B's proxy.
func (s *svc) runCrtContain(ctx context.Context, _ *engine.Env) engine.Outcome {
	ff := s.t.Service.ForeignFile
	if ff == "" {
		return engine.Unknownf("no foreign_file configured: containment cannot be tested")
	}
	esc := s.escapePath(ff)
	repro := []string{
		comment("%s exists (another VO's proxy may stat it):", ff),
		s.xrdfs(kindForeign, "stat", ff),
		comment("this VO's proxy must be refused, directly and via .."),
		denied(xrdcp(kindProxy, s.fileURL(ff), "/dev/null"), false),
		denied(xrdcp(kindProxy, s.fileURL(esc), "/dev/null"), false),
	}
	if o := s.showExists(ctx, kindForeign, ff); o != nil {
		return withRepro(*o, repro)
	}
	c, _, err := s.gsiConn(ctx, kindProxy)
	if err != nil {
		return withRepro(failure("%s", err), repro)
	}
	var t tally
	for _, p := range []string{ff, esc} {
		_, err := c.openRead(ctx, p)
		v, text := judge(err, false)
		if v == vAllowed {
			text = "this VO's proxy read it"
		}
		t.add("read "+p, v, text, "a VO's proxy must not read another VO's data")
	}
	return withRepro(t.outcome("the "+c.who+" is kept out of "+ff), repro)
}

// showExists stats p with the proxy of kind; nil when it exists, else the
// UNKNOWN outcome saying why a refusal could not prove anything.
func (s *svc) showExists(ctx context.Context, kind, p string) *engine.Outcome {
	c, _, err := s.gsiConn(ctx, kind)
	if err == nil {
		_, err = c.Stat(ctx, p)
	}
	if err != nil {
		o := engine.Unknownf("cannot show that %s exists with the %s (%s): refusals of it would prove nothing", p, kind, errText(err))
		return &o
	}
	return nil
}

// runCrtAccess: another VO's proxy and a proxy without VOMS attributes
// cannot read this VO's reference file (shown to exist with the VO proxy).
func (s *svc) runCrtAccess(ctx context.Context, _ *engine.Env) engine.Outcome {
	ref := s.t.Service.ReadFile.Path
	if ref == "" {
		return engine.Unknownf("no read_file configured")
	}
	repro := []string{
		s.xrdfs(kindProxy, "stat", ref),
		comment("another VO's proxy and a proxy without VOMS attributes must be refused"),
		denied(xrdcp(kindForeign, s.fileURL(ref), "/dev/null"), true),
		denied(xrdcp(kindNoVOMS, s.fileURL(ref), "/dev/null"), true),
	}
	if o := s.showExists(ctx, kindProxy, ref); o != nil {
		return withRepro(*o, repro)
	}
	var t tally
	var untested []string
	for _, kind := range []string{kindForeign, kindNoVOMS} {
		c, p, err := s.gsiConn(ctx, kind)
		var ce *credError
		if err != nil && errors.As(err, &ce) {
			untested = append(untested, fmt.Sprintf("%s not tested: %v", kind, err))
			continue
		}
		name := "the " + kind
		if p != nil && len(p.FQANs()) > 0 {
			name += " " + p.FQANs()[0]
		}
		if err == nil {
			_, err = c.openRead(ctx, ref)
		}
		v, text := judge(err, true)
		if v == vAllowed {
			text = "read it"
		}
		t.add(name+" reading "+ref, v, text, "only the VO's members may read its data")
	}
	o := t.outcome("other identities are kept out of " + ref)
	if len(untested) > 0 {
		switch o.State {
		case engine.OK:
			o = engine.Warnf("%s; %s", o.Detail, strings.Join(untested, "; "))
		case engine.Unknown:
			if len(t.ok)+len(t.broken)+len(t.unsure) == 0 {
				o = engine.Unknownf("%s", strings.Join(untested, "; "))
			}
		default:
			o.Detail += "; " + strings.Join(untested, "; ")
		}
	}
	return withRepro(o, repro)
}

// runCrtWrite: create, read back, checksum and delete a file in the
// scratch area with the VO proxy.
func (s *svc) runCrtWrite(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := s.needScratch()
	if bad != nil {
		return *bad
	}
	p := sc.Path(IDCrtWrite + ".dat")
	repro := s.reproWrite(kindProxy, p, "gridprobe-crt-write.dat", nil)
	c, _, err := s.gsiConn(ctx, kindProxy)
	if err != nil {
		return withRepro(failure("%s", err), repro)
	}
	return withRepro(s.writeCycle(ctx, env, cycleCreds{create: c, read: c, del: c}, p), repro)
}

// runCrtDirectory: mkdir, a file in it, list, remove both with the proxy.
func (s *svc) runCrtDirectory(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := s.needScratch()
	if bad != nil {
		return *bad
	}
	dir := sc.Path(IDCrtDirectory)
	file := sc.Path(IDCrtDirectory, "file.dat")
	repro := s.reproDir(kindProxy, dir, file, nil)
	c, _, err := s.gsiConn(ctx, kindProxy)
	if err != nil {
		return withRepro(failure("%s", err), repro)
	}
	return withRepro(s.dirCycle(ctx, env, cycleCreds{create: c, read: c, del: c}, dir, file), repro)
}
