package storage

import (
	"context"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// proxyCycle is a cycle whose every step uses the VO proxy.
func (b *Book) proxyCycle(ctx context.Context) (cycle, *engine.Outcome) {
	st, p, err := b.Proxy(ctx, Own)
	if err != nil {
		o := b.failure("opening the storage", proxyWho(Own, p), "", err)
		return cycle{}, &o
	}
	s := step{st: st, who: proxyWho(Own, p)}
	return cycle{create: s, read: s, del: s}, nil
}

// tokenCycle opens the create, read and delete steps of a token cycle, each
// with the narrowest token for it.
func (b *Book) tokenCycle(ctx context.Context, cr, rd, md Scope) (cycle, *engine.Outcome) {
	c := cycle{tokenFirst: true, createWhy: ruleCreate, delWhy: ruleModifyDelete}
	for _, x := range []struct {
		dst *step
		sc  Scope
	}{{&c.create, cr}, {&c.read, rd}, {&c.del, md}} {
		st, tok, err := b.TokenStore(ctx, b.aud, x.sc)
		who := b.tokenWho(tok, x.sc)
		s := step{st: st, who: who, tok: tok, scopes: []Scope{x.sc}}
		if err != nil {
			// A refused token login (root://): the diagnosis varies the
			// token of the login.
			o := b.failAgain(ctx, s, "token login", "", err, Op{Kind: OpStat, Path: b.voArea},
				func(context.Context, Store) error { return nil })
			return cycle{}, &o
		}
		*x.dst = s
	}
	return c, nil
}

// withProxyCycle runs body with the VO proxy's cycle in the scratch area.
func (b *Book) withProxyCycle(ctx context.Context, body func(sc probe.Scratch, c cycle) engine.Outcome) engine.Outcome {
	sc, bad := b.needScratch()
	if bad != nil {
		return *bad
	}
	c, o := b.proxyCycle(ctx)
	if o != nil {
		return *o
	}
	return body(sc, c)
}

// crtWrite (7crt-write): the write cycle with the VO proxy.
func (b *Book) crtWrite(ctx context.Context, env *engine.Env) engine.Outcome {
	return b.withProxyCycle(ctx, func(sc probe.Scratch, c cycle) engine.Outcome {
		return b.writeCycle(ctx, env, c, sc.Path(IDCrtWrite+".dat"))
	})
}

// tknWrite (17tkn-write): create with storage.create:<scratch>, read back
// with storage.read:<file>, delete with storage.modify:<file>.
func (b *Book) tknWrite(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := b.needScratch()
	if bad != nil {
		return *bad
	}
	p := sc.Path(IDTknWrite + ".dat")
	c, o := b.tokenCycle(ctx, Create(sc.Dir()), Read(p), Modify(p))
	if o != nil {
		return *o
	}
	return b.writeCycle(ctx, env, c, p)
}

// crtDirectory (8crt-directory): the directory cycle with the VO proxy.
func (b *Book) crtDirectory(ctx context.Context, env *engine.Env) engine.Outcome {
	return b.withProxyCycle(ctx, func(sc probe.Scratch, c cycle) engine.Outcome {
		return b.dirCycle(ctx, env, c, sc.Path(IDCrtDirectory), sc.Path(IDCrtDirectory, "file.dat"))
	})
}

// tknDirectory (18tkn-directory): mkdir with storage.create, list with
// storage.read (a refusal is a WARNING: the profile does not define
// listing), remove with storage.modify.
func (b *Book) tknDirectory(ctx context.Context, env *engine.Env) engine.Outcome {
	sc, bad := b.needScratch()
	if bad != nil {
		return *bad
	}
	dir := sc.Path(IDTknDirectory)
	c, o := b.tokenCycle(ctx, Create(sc.Dir()), Read(dir), Modify(dir))
	if o != nil {
		return *o
	}
	c.listInformational = true
	return b.dirCycle(ctx, env, c, dir, sc.Path(IDTknDirectory, "file.dat"))
}
