package storage

import (
	"fmt"
	"strings"

	"github.com/gridprobe/gridprobe/probes/probe"
)

// Reproduce lines are written here once, as operations (Op) that each
// protocol renders with its own client (curl, xrdfs/xrdcp). They reference
// credentials only through the environment an admin has: X509_CERT_DIR,
// X509_USER_PROXY, BEARER_TOKEN_FILE (GRIDPROBE_FOREIGN_PROXY and
// GRIDPROBE_NOVOMS_PROXY for the access checks); a comment line before each
// group names the scopes and audience the token in the file needs.

// as is the credential of reproduce lines: a proxy role or the token.
type as struct {
	role  Role
	token bool
}

var (
	asProxy = as{role: Own}
	asToken = as{token: true}
)

// line renders one operation with the credential.
func (b *Book) line(a as, op Op) string {
	op.As, op.Token = a.role, a.token
	return b.tr.Line(op)
}

// needToken is the comment naming the token the next lines need.
func (b *Book) needToken(aud string, forWrite bool, scopes ...Scope) string {
	return b.needTokenText(aud, forWrite, b.ScopeString(scopes...))
}

// needTokenText is needToken with the scope list as the issuer sees it; an
// audience list is quoted.
func (b *Book) needTokenText(aud string, forWrite bool, scopes string) string {
	if strings.ContainsAny(aud, " \t") {
		aud = fmt.Sprintf("%q", aud)
	}
	return b.tr.Line(Op{Kind: OpToken, Scopes: scopes, Aud: aud, ForWrite: forWrite})
}

func comment(format string, a ...any) string {
	return "# " + strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " ")
}

func payloadLine(local string, size int) string {
	return fmt.Sprintf("head -c %d /dev/urandom > %s", size, probe.Quote(local))
}

// reproRead downloads the reference file and checks size, adler32, the
// server's checksum and a range, as verifyRead does.
func (b *Book) reproRead(a as, pre ...string) []string {
	ref := b.t.Service.ReadFile
	local := "gridprobe-reference.dat"
	lines := append(pre, b.line(a, Op{Kind: OpGet, Path: ref.Path, Local: local}))
	if ref.Size >= 0 {
		lines = append(lines, fmt.Sprintf(`test "$(stat -c %%s %s)" = %d`, probe.Quote(local), ref.Size))
	}
	if ref.Adler32 != "" {
		lines = append(lines, fmt.Sprintf(`test "$(xrdadler32 %s | cut -d' ' -f1)" = %s`, probe.Quote(local), probe.Quote(ref.Adler32)))
	}
	lines = append(lines, b.line(a, Op{Kind: OpChecksum, Path: ref.Path}))
	if off, n := rangeOf(ref.Size); n > 0 {
		lines = append(lines, b.line(a, Op{Kind: OpGetRange, Path: ref.Path, Local: local, Off: off, N: n}))
	}
	return lines
}

func (b *Book) reproCrtRead() []string { return b.reproRead(asProxy) }

func (b *Book) reproTknRead() []string {
	return b.reproRead(asToken, b.needToken(b.aud, false, Read(b.t.Service.ReadFile.Path)))
}

func (b *Book) reproCrtAccess() []string {
	ref := b.t.Service.ReadFile.Path
	lines := []string{
		comment("%s must exist for the probe's own proxy ...", ref),
		b.line(asProxy, Op{Kind: OpStat, Path: ref}),
		comment("... and be refused to a proxy of another VO (GRIDPROBE_FOREIGN_PROXY)"),
		b.line(as{role: Foreign}, Op{Kind: OpGet, Path: ref, Local: "/dev/null", Refused: true, LoginRefusal: true}),
	}
	if b.t.Creds.NoVOMSProxyPath != "" {
		lines = append(lines, comment("... and to a proxy without VOMS attributes (GRIDPROBE_NOVOMS_PROXY)"),
			b.line(as{role: NoVOMS}, Op{Kind: OpGet, Path: ref, Local: "/dev/null", Refused: true, LoginRefusal: true}))
	}
	return lines
}

// reproContain: the foreign file exists, and the credential a cannot read
// it, directly or through "..".
func (b *Book) reproContain(a as, pre ...string) []string {
	ff := b.t.Service.ForeignFile
	lines := []string{
		comment("%s exists (another VO's proxy may stat it):", ff),
		b.line(as{role: Foreign}, Op{Kind: OpStat, Path: ff}),
	}
	lines = append(lines, pre...)
	for _, p := range []string{ff, b.escapePath(ff)} {
		lines = append(lines, b.line(a, Op{Kind: OpGet, Path: p, Local: "/dev/null", Refused: true}))
	}
	return lines
}

func (b *Book) reproCrtContain() []string {
	return b.reproContain(asProxy, comment("this VO's proxy must be refused, directly and via .."))
}

func (b *Book) reproTknContain() []string {
	return b.reproContain(asToken, b.needToken(b.aud, false, Read(b.voArea)))
}

// cycleScopes are the scopes of a token cycle's steps (nil for a proxy).
type cycleScopes struct{ create, read, del Scope }

// reproWrite is the write cycle: upload, stat, read back, compare, the
// server's checksum, delete.
func (b *Book) reproWrite(a as, p string, ts *cycleScopes) []string {
	local := "gridprobe-write.dat"
	dir := b.scratch.Dir()
	lines := []string{payloadLine(local, payloadSize)}
	if ts != nil {
		lines = append(lines, b.needToken(b.aud, true, ts.create))
	}
	lines = append(lines,
		b.line(a, Op{Kind: OpMkdir, Path: dir, Parents: true, MayFail: true}),
		b.line(a, Op{Kind: OpPut, Path: p, Local: local}))
	if ts != nil {
		lines = append(lines, b.needToken(b.aud, false, ts.read))
	}
	lines = append(lines,
		b.line(a, Op{Kind: OpStat, Path: p}),
		b.line(a, Op{Kind: OpGet, Path: p, Local: local + ".back"}),
		probe.Command("cmp", local, local+".back"),
		b.line(a, Op{Kind: OpChecksum, Path: p}))
	if ts != nil {
		lines = append(lines, b.needToken(b.aud, false, ts.del))
	}
	lines = append(lines, b.line(a, Op{Kind: OpDelete, Path: p}))
	return append(lines, b.removeScratch(a)...)
}

// removeScratch removes the scratch directory (the proxy may; a token
// cycle's own tokens do not cover it: the comment says which does).
func (b *Book) removeScratch(a as) []string {
	rm := b.line(a, Op{Kind: OpRmdir, Path: b.scratch.Dir(), MayFail: true})
	if a.token {
		return []string{comment("remove the scratch directory with a token for %s (or the proxy)", b.ScopeString(Modify(b.scratch.Dir()))), rm}
	}
	return []string{rm}
}

// reproDir is the directory cycle: mkdir, a file in it, list, remove both.
func (b *Book) reproDir(a as, dir, file string, ts *cycleScopes) []string {
	local := "gridprobe-dir-file.dat"
	lines := []string{payloadLine(local, 1024)}
	if ts != nil {
		lines = append(lines, b.needToken(b.aud, true, ts.create))
	}
	lines = append(lines,
		b.line(a, Op{Kind: OpMkdir, Path: b.scratch.Dir(), Parents: true, MayFail: true}),
		b.line(a, Op{Kind: OpMkdir, Path: dir}),
		b.line(a, Op{Kind: OpPut, Path: file, Local: local}))
	if ts != nil {
		lines = append(lines, b.needToken(b.aud, false, ts.read))
	}
	lines = append(lines, b.line(a, Op{Kind: OpList, Path: dir, Name: file}))
	if ts != nil {
		lines = append(lines, b.needToken(b.aud, false, ts.del))
	}
	lines = append(lines, b.line(a, Op{Kind: OpDelete, Path: file}), b.line(a, Op{Kind: OpRmdir, Path: dir}))
	return append(lines, b.removeScratch(a)...)
}

func (b *Book) reproCrtWrite() []string {
	if b.scratchErr != nil {
		return nil
	}
	return b.reproWrite(asProxy, b.scratch.Path(IDCrtWrite+".dat"), nil)
}

func (b *Book) reproTknWrite() []string {
	if b.scratchErr != nil {
		return nil
	}
	p := b.scratch.Path(IDTknWrite + ".dat")
	return b.reproWrite(asToken, p, &cycleScopes{Create(b.scratch.Dir()), Read(p), Modify(p)})
}

func (b *Book) reproCrtDirectory() []string {
	if b.scratchErr != nil {
		return nil
	}
	return b.reproDir(asProxy, b.scratch.Path(IDCrtDirectory), b.scratch.Path(IDCrtDirectory, "file.dat"), nil)
}

func (b *Book) reproTknDirectory() []string {
	if b.scratchErr != nil {
		return nil
	}
	dir := b.scratch.Path(IDTknDirectory)
	return b.reproDir(asToken, dir, b.scratch.Path(IDTknDirectory, "file.dat"), &cycleScopes{Create(b.scratch.Dir()), Read(dir), Modify(dir)})
}

// reproTknAccess sets up the 16tkn-access fixture and tries each sub-rule,
// from the sub-rules' own descriptions.
func (b *Book) reproTknAccess() []string {
	if b.scratchErr != nil {
		return nil
	}
	fx := b.accessFixtureOf(nil)
	local := "gridprobe-access.dat"
	lines := []string{
		probe.Command("printf", "gridprobe access test\\n") + " > " + local,
		b.needToken(b.aud, true, Create(b.scratch.Dir())),
		b.line(asToken, Op{Kind: OpMkdir, Path: fx.dir, Parents: true}),
	}
	for _, p := range []string{fx.a, fx.ab, fx.m, fx.x} {
		lines = append(lines, b.line(asToken, Op{Kind: OpPut, Path: p, Local: local}))
	}
	reads := len(refusals)
	for i, r := range refusals {
		if r.op == OpGet && reads == len(refusals) {
			reads = i
		}
	}
	for _, rs := range [][]subRule{refusals[:reads], grants.writes} {
		lines = append(lines, b.reproSubRules(fx, rs, local)...)
	}
	lines = append(lines, b.reproCreateParents(fx, local)...)
	for _, rs := range [][]subRule{refusals[reads:], grants.reads} {
		lines = append(lines, b.reproSubRules(fx, rs, local)...)
	}
	return append(lines, comment("clean up with a token for %s (or the proxy)", b.ScopeString(Modify(b.scratch.Dir()))))
}

// reproSubRules are the lines of sub-rules: which token, then the
// operation, which must fail with a refusal (refusals) or succeed.
func (b *Book) reproSubRules(fx *accessFixture, rs []subRule, local string) []string {
	var lines []string
	for _, r := range rs {
		target := r.target(fx)
		if target == "" {
			continue
		}
		spec := r.token(b, fx)
		refused := isRefusal(r)
		must := "must be allowed"
		if refused {
			must = "must be refused"
		}
		rule := profileRule(r.id)
		lines = append(lines, comment("%s (profile %s %s): %s %s", r.id, rule.Version, rule.Section, r.name, must),
			b.needTokenText(b.audience(spec), r.op == OpPut || r.op == OpMkdir, b.scopeText(spec)),
			b.line(asToken, Op{Kind: r.op, Path: target, Local: reproLocal(r.op, local), Refused: refused, LoginRefusal: r.invalid}))
	}
	return lines
}

// reproCreateParents: storage.create on <dir>/p/q makes p, q and a file.
func (b *Book) reproCreateParents(fx *accessFixture, local string) []string {
	q := fx.in("p/q")
	return []string{
		comment("create-parents (profile 1.0 §2.2.1): storage.create:.../p/q makes the missing .../p, then .../p/q and a file in it"),
		b.needToken(b.aud, true, Create(q)),
		b.line(asToken, Op{Kind: OpMkdir, Path: fx.in("p")}),
		b.line(asToken, Op{Kind: OpMkdir, Path: q}),
		b.line(asToken, Op{Kind: OpPut, Path: q + "/f", Local: local}),
	}
}

// reproLocal is the local file of a refused operation: the upload's
// content, or where a read would go.
func reproLocal(op OpKind, upload string) string {
	if op == OpGet {
		return "/dev/null"
	}
	return upload
}
