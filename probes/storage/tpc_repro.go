package storage

import (
	"fmt"

	"github.com/gridprobe/gridprobe/probes/probe"
)

// Reproduce lines of the TPC rules: the copy itself as the protocol renders
// it (CopyReproducer.CopyLines: curl for HTTP-TPC), with tokens read from
// $SRC_TOKEN_FILE and $DST_TOKEN_FILE, and around it the destination
// directory, the check of the copy and the clean-up, as the rulebook's
// other lines. Each group of lines needs the tokens its comments name.

// reproCopyRule gives a copy rule's reproduce lines.
func reproCopyRule(mode CopyMode, crt bool) func(pr *pair, id string) []string {
	return func(pr *pair, id string) []string { return pr.reproCopy(id, mode, crt) }
}

// reproducer is the site's transport as a CopyReproducer, with the
// partner's side opened; false when the protocol knows no TPC.
func (pr *pair) reproducer() (CopyReproducer, bool) {
	cr, ok := pr.site.tr.(CopyReproducer)
	if !ok || pr.ensure(cr) != nil {
		return nil, false
	}
	return cr, true
}

// needIn is the comment naming the token a token file must hold (the
// format of the copy lines' own).
func needIn(env, scopes, aud string) string {
	return fmt.Sprintf("# needs in $%s a token with scope %q and audience %s", env, scopes, aud)
}

// withToken runs line with $BEARER_TOKEN_FILE set to the file in env.
func withToken(env, line string) string {
	return `(BEARER_TOKEN_FILE="$` + env + `"; ` + line + `)`
}

// reproEnd is one end of a copy for reproduce lines.
type reproEnd struct {
	b   *Book
	loc Location
}

// reproEnds are the source and destination of a copy rule's copy.
func (pr *pair) reproEnds(id string, mode CopyMode) (src, dst reproEnd, ok bool) {
	b, p := pr.site, pr.p
	if mode == Pull {
		src = reproEnd{p, Location{pr.cfg.URL, pr.cfg.ReadFile.Path}}
		dst = reproEnd{b, Location{b.t.Service.URL, ""}}
	} else {
		src = reproEnd{b, Location{b.t.Service.URL, b.t.Service.ReadFile.Path}}
		dst = reproEnd{p, Location{pr.cfg.URL, ""}}
	}
	if src.loc.Path == "" || dst.b.scratchErr != nil {
		return src, dst, false
	}
	dst.loc.Path = dst.b.scratch.Path(id + ".dat")
	return src, dst, true
}

// reproCopy: make the destination directory, copy, check the copy's
// adler32 at the destination, clean up.
func (pr *pair) reproCopy(id string, mode CopyMode, crt bool) []string {
	cr, ok := pr.reproducer()
	if !ok {
		return nil
	}
	src, dst, ok := pr.reproEnds(id, mode)
	if !ok {
		return nil
	}
	r := CopyRepro{Mode: mode, Source: src.loc, Destination: dst.loc, Proxy: crt,
		SourceScopes: src.b.ScopeString(Read(src.loc.Path)), DestinationScopes: dst.b.ScopeString(Create(dst.b.scratch.Dir())),
		SourceAudience: src.b.aud, DestinationAudience: dst.b.aud, Timeout: pr.site.t.Service.Timeout}
	lines := []string{comment("%s %s: the destination directory first, with the credential of the destination", id, r.Mode)}
	if !crt {
		lines = append(lines, needIn(EnvDstTokenFile, r.DestinationScopes, r.DestinationAudience))
	}
	lines = append(lines, pr.mkdirLine(dst.b, crt))
	lines = append(lines, cr.CopyLines(r)...)
	adler := src.b.t.Service.ReadFile.Adler32
	if adler != "" {
		lines = append(lines, comment("the copy must have the source's adler32 %s (checked with the proxy)", adler),
			dst.b.line(asProxy, Op{Kind: OpChecksum, Path: dst.loc.Path})+" | grep -qi "+probe.Quote(adler))
	}
	return append(lines, pr.cleanLines(dst.b, dst.loc.Path)...)
}

// mkdirLine makes an end's scratch directory with the proxy, or with the
// storage.create token in $DST_TOKEN_FILE.
func (pr *pair) mkdirLine(b *Book, crt bool) string {
	if crt {
		return b.line(asProxy, Op{Kind: OpMkdir, Path: b.scratch.Dir(), Parents: true, MayFail: true})
	}
	return withToken(EnvDstTokenFile, b.line(asToken, Op{Kind: OpMkdir, Path: b.scratch.Dir(), Parents: true, MayFail: true}))
}

// cleanLines remove the files and the scratch directory of an end with the
// proxy (or a storage.modify token for the scratch area).
func (pr *pair) cleanLines(b *Book, files ...string) []string {
	lines := []string{comment("clean up with the proxy (or a token for %s)", b.ScopeString(Modify(b.scratch.Dir())))}
	for _, f := range files {
		lines = append(lines, b.line(asProxy, Op{Kind: OpDelete, Path: f, MayFail: true}))
	}
	return append(lines, b.line(asProxy, Op{Kind: OpRmdir, Path: b.scratch.Dir(), MayFail: true}))
}

// reproTknTPCAccess: the three copies that must be refused, each group
// with the tokens its comments name.
func (pr *pair) reproTknTPCAccess(id string) []string {
	cr, ok := pr.reproducer()
	b, p := pr.site, pr.p
	pref := pr.cfg.ReadFile.Path
	if !ok || pref == "" || b.scratchErr != nil {
		return nil
	}
	partnerSrc := Location{pr.cfg.URL, pref}
	copyTo := func(target string, dstScope Scope, overwrite bool) []string {
		return cr.CopyLines(CopyRepro{Mode: Pull, Source: partnerSrc, Destination: Location{b.t.Service.URL, target},
			SourceScopes: p.ScopeString(Read(pref)), DestinationScopes: b.ScopeString(dstScope),
			SourceAudience: p.aud, DestinationAudience: b.aud, Overwrite: overwrite, Timeout: b.t.Service.Timeout, Expect: ExpectActiveRefusal})
	}
	readOnly, existing := b.scratch.Path(id+"-read-only.dat"), b.scratch.Path(id+"-existing.dat")
	local := "gridprobe-tpc-existing.dat"
	lines := []string{
		comment("set-up: the site's scratch directory, with a storage.create token"),
		needIn(EnvDstTokenFile, b.ScopeString(Create(b.scratch.Dir())), b.aud),
		pr.mkdirLine(b, false),
		comment("(1) %s: must be refused by the site (%s)", tpcRefusals[0].name, tpcRefusals[0].rule),
	}
	lines = append(lines, copyTo(readOnly, Read(b.scratch.Dir()), false)...)
	lines = append(lines, comment("(2) %s: must be refused by the site (%s); the file first, with the storage.create token", tpcRefusals[1].name, tpcRefusals[1].rule),
		needIn(EnvDstTokenFile, b.ScopeString(Create(b.scratch.Dir())), b.aud),
		probe.Command("printf", "gridprobe existing\\n")+" > "+local,
		withToken(EnvDstTokenFile, b.line(asToken, Op{Kind: OpPut, Path: existing, Local: local})))
	lines = append(lines, copyTo(existing, Create(b.scratch.Dir()), true)...)
	lines = append(lines, pr.reproOtherPath(cr, id)...)
	lines = append(lines, pr.cleanLines(b, readOnly, existing)...)
	if p.scratchErr == nil {
		lines = append(lines, pr.cleanLines(p, p.scratch.Path(id+"-other-path.dat"))...)
	}
	return lines
}

// reproOtherPath: the partner pulls the site's file with a site token for
// the site's scratch area; the site must refuse it as the source.
func (pr *pair) reproOtherPath(cr CopyReproducer, id string) []string {
	b, p := pr.site, pr.p
	ref := b.t.Service.ReadFile.Path
	if ref == "" || p.scratchErr != nil {
		return nil
	}
	r := tpcRefusals[2]
	lines := []string{
		comment("(3) %s: must be refused by the site as the source (%s); the partner's directory first", r.name, r.rule),
		needIn(EnvDstTokenFile, p.ScopeString(Create(p.scratch.Dir())), p.aud),
		pr.mkdirLine(p, false),
	}
	return append(lines, cr.CopyLines(CopyRepro{Mode: Pull, Source: Location{b.t.Service.URL, ref},
		Destination:  Location{pr.cfg.URL, p.scratch.Path(id + "-other-path.dat")},
		SourceScopes: b.ScopeString(Read(b.scratch.Dir())), DestinationScopes: p.ScopeString(Create(p.scratch.Dir())),
		SourceAudience: b.aud, DestinationAudience: p.aud, Timeout: b.t.Service.Timeout, Expect: ExpectRemoteRefusal})...)
}
