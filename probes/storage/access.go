package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// errEnough stops a read once it has shown the credential may read.
var errEnough = errors.New("storage: read enough")

// firstBytes is a writer that takes up to 64 bytes, then stops the read.
type firstBytes struct{ n int }

func (f *firstBytes) Write(p []byte) (int, error) {
	f.n += len(p)
	if f.n >= 64 {
		return len(p), errEnough
	}
	return len(p), nil
}

// readSome reads the first bytes of p with st: the smallest proof that the
// credential may read p (nil: it could).
func readSome(ctx context.Context, st Store, p string) error {
	_, err := st.Read(ctx, p, &firstBytes{})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

// showExists stats p with st; nil when it exists, else the UNKNOWN outcome
// saying why a refusal could not prove anything.
func (b *Book) showExists(ctx context.Context, st Store, openErr error, who, p string) *engine.Outcome {
	err := openErr
	if err == nil {
		_, err = st.Stat(ctx, p)
	}
	if err != nil {
		o := engine.Unknownf("cannot show that %s exists with the %s (%s): refusals of it would prove nothing", p, who, b.errText(err))
		return &o
	}
	return nil
}

// crtAccess (6crt-access): another VO's proxy and a proxy without VOMS
// attributes cannot read this VO's reference file, shown to exist with the
// VO proxy. A refused login is the refusal.
func (b *Book) crtAccess(ctx context.Context, _ *engine.Env) engine.Outcome {
	ref := b.t.Service.ReadFile.Path
	if ref == "" {
		return engine.Unknownf("no read_file configured")
	}
	own, p, err := b.Proxy(ctx, Own)
	if o := b.showExists(ctx, own, err, proxyWho(Own, p), ref); o != nil {
		return *o
	}
	var t tally
	var untested []string
	for _, role := range []Role{Foreign, NoVOMS} {
		st, p, err := b.Proxy(ctx, role)
		if IsCred(err) {
			untested = append(untested, fmt.Sprintf("%s not tested: %v", role, err))
			continue
		}
		if err == nil {
			err = readSome(ctx, st, ref)
		}
		t.add("the "+proxyWho(role, p)+" reading "+ref, err, true, ruleMembers, "read it")
	}
	o := t.outcome("other identities are kept out of " + ref)
	if len(untested) == 0 {
		return o
	}
	if len(t.ok)+len(t.broken)+len(t.unsure) == 0 {
		return engine.Unknownf("%s", strings.Join(untested, "; "))
	}
	o.Detail += "; " + strings.Join(untested, "; ")
	return o
}

// escapePath is p reached from the VO area through "..":
// /testvo/../othervo/f.
func (b *Book) escapePath(p string) string {
	base := b.voArea
	if base == "/" {
		base = ""
	}
	return base + "/.." + p
}

// contain is the body of 5crt-contain and 15tkn-contain: the other VO's
// file, shown to exist with that VO's proxy, cannot be read with st
// directly nor through "..".
func (b *Book) contain(ctx context.Context, st Store, who, rule string) engine.Outcome {
	ff := b.t.Service.ForeignFile
	foreign, p, err := b.Proxy(ctx, Foreign)
	if o := b.showExists(ctx, foreign, err, proxyWho(Foreign, p), ff); o != nil {
		return *o
	}
	var t tally
	for _, target := range []string{ff, b.escapePath(ff)} {
		t.add("read "+target, readSome(ctx, st, target), false, rule, "the "+who+" read it")
	}
	return t.outcome("the " + who + " is kept out of " + ff)
}

// crtContain (5crt-contain): the VO proxy cannot read another VO's file.
func (b *Book) crtContain(ctx context.Context, _ *engine.Env) engine.Outcome {
	if b.t.Service.ForeignFile == "" {
		return engine.Unknownf("no foreign_file configured: containment cannot be tested")
	}
	st, p, err := b.Proxy(ctx, Own)
	if err != nil {
		return b.failure("opening the storage", proxyWho(Own, p), "", err)
	}
	return b.contain(ctx, st, proxyWho(Own, p), ruleOtherVO)
}

// tknContain (15tkn-contain): a token for the whole VO area (storage.read:/
// relative to the base path) cannot read another VO's file.
func (b *Book) tknContain(ctx context.Context, _ *engine.Env) engine.Outcome {
	if b.t.Service.ForeignFile == "" {
		return engine.Unknownf("no foreign_file configured: containment cannot be tested")
	}
	sc := Read(b.voArea)
	st, tok, err := b.TokenStore(ctx, b.aud, sc)
	who := b.tokenWho(tok, sc)
	if err != nil {
		return b.tokenFailure(b.failure("opening the storage", who, "", err), tok)
	}
	return b.contain(ctx, st, who, ruleBasePath)
}
