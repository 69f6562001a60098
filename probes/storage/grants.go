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
// wlcg.groups. Shown only where the VO's group may write by itself (the
// control); elsewhere untested.
func (b *Book) capabilitiesOverGroups(ctx context.Context, fx *accessFixture) *engine.Outcome {
	g := b.voGroup()
	const id = "capabilities-over-groups"
	control := tokenSpec{raw: []string{"wlcg.groups:" + g}, want: wantGroup(g)}
	st, tok, untested, err := b.specStore(ctx, control)
	if untested != "" {
		fx.v.set(id, engine.VerdictUntested, untested)
		return nil
	}
	if tok == nil {
		o := b.failure("getting a token for "+id, "token source", "", err)
		return &o
	}
	if err == nil {
		err = b.attempt(ctx, fx, st, subRule{id: id, op: OpPut}, fx.in("g1"))
	}
	if err != nil {
		fx.v.set(id, engine.VerdictUntested, fmt.Sprintf("a token with only wlcg.groups %s may not write here either (%s): no group right to ignore", g, b.errText(err)))
		return nil
	}
	test := tokenSpec{scopes: []Scope{Read(fx.a)}, raw: control.raw, want: control.want}
	r := subRule{id: id, name: fmt.Sprintf("storage.read:.../a with wlcg.groups %s (which may write) writing a new file", g), op: OpPut}
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
	return nil
}
