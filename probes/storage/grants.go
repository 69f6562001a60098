package storage

import (
	"context"
	"fmt"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// The sub-rules of 16tkn-access that take more than one request.

// createParents (create-parents): storage.create:<dir>/p/q, where neither p
// nor q exists, makes the leading directory p, then q, then a file in q
// (profile §2.2.1: "the creation of any non-existent directories required
// to create the path itself").
func (b *Book) createParents(ctx context.Context, fx *accessFixture) *engine.Outcome {
	p, q := fx.in("p"), fx.in("p/q")
	f := q + "/f"
	sc := Create(q)
	st, tok, err := b.TokenStore(ctx, b.aud, sc)
	if tok == nil {
		o := b.failure("getting a token for create-parents", "token source", "", err)
		return &o
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"making the missing parent .../p", func() error { b.cleanup(fx.env, p, true, true); return st.Mkdir(ctx, p, false) }},
		{"making .../p/q itself", func() error { b.cleanup(fx.env, q, true, true); return st.Mkdir(ctx, q, false) }},
		{"writing .../p/q/f", func() error {
			b.cleanup(fx.env, f, false, true)
			return st.Write(ctx, f, []byte("gridprobe create-parents\n"), New)
		}},
	}
	for _, s := range steps {
		if err == nil {
			err = s.do()
		}
		if err != nil {
			b.judgeGrant(fx, subRule{id: "create-parents", name: "storage.create:.../p/q " + s.what}, err)
			return nil
		}
	}
	fx.v.set("create-parents", engine.VerdictPass, "storage.create:.../p/q made .../p, .../p/q and a file in it")
	return nil
}

// capabilitiesOverGroups (capabilities-over-groups, v1.1 §2.2.3): a token
// that carries storage scopes is authorized by them alone, whatever its
// wlcg.groups. A token with storage.read on .../a (which read-no-create
// showed cannot write) and the VO's group must not write a new file; the
// same group without scopes is tried first, to say whether the group may
// write at all (XRootD, for one, honours a token's groups only beside a
// storage scope).
func (b *Book) capabilitiesOverGroups(ctx context.Context, fx *accessFixture) *engine.Outcome {
	g := b.voGroup()
	const id = "capabilities-over-groups"
	groupOnly := tokenSpec{raw: []string{"wlcg.groups:" + g}, want: wantGroup(g)}
	st, tok, untested, err := b.specStore(ctx, groupOnly)
	switch {
	case untested != "":
		fx.v.set(id, engine.VerdictUntested, untested)
		return nil
	case tok == nil:
		o := b.failure("getting a token for "+id, "token source", "", err)
		return &o
	}
	if err == nil {
		err = b.attempt(ctx, fx, st, subRule{id: id, op: OpPut}, fx.in("g1"))
	}
	alone := "the group alone may write here"
	if err != nil {
		alone = "the group alone may not write here either (" + StatusOf(err) + ")"
	}
	test := tokenSpec{scopes: []Scope{Read(fx.a)}, raw: groupOnly.raw, want: groupOnly.want}
	r := subRule{id: id, name: fmt.Sprintf("storage.read:.../a with wlcg.groups %s writing a new file", g), op: OpPut}
	st, tok, untested, err = b.specStore(ctx, test)
	switch {
	case untested != "":
		fx.v.set(id, engine.VerdictUntested, untested)
		return nil
	case tok == nil:
		o := b.failure("getting a token for "+id, "token source", "", err)
		return &o
	}
	if err == nil {
		err = b.attempt(ctx, fx, st, r, fx.in("g2"))
	}
	b.judgeRefusal(fx, r, err)
	if x := fx.v.get(id); x == engine.VerdictPass || x == engine.VerdictFail {
		fx.v.set(id, x, fmt.Sprintf("%s: %s; %s", r.name, map[string]string{engine.VerdictPass: "refused", engine.VerdictFail: "wrote it: the group's right was used though the token has storage scopes"}[x], alone))
	}
	return nil
}
