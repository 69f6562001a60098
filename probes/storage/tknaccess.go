package storage

import (
	"context"
	"fmt"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// accessFixture is what 16tkn-access sets up: a directory in the scratch
// area with two files, a and ab (whose name extends a's, so a scope for a
// does not cover it), created with a storage.create token.
type accessFixture struct {
	dir, a, ab, ref string
	original        []byte
	env             *engine.Env
	create          step // storage.create:<scratch>
	// deleted: a create-only token deleted a (a violation already
	// recorded) and it could not be put back.
	deleted bool
}

// accessFixtureOf names the fixture's paths (without creating anything).
func (b *Book) accessFixtureOf(env *engine.Env) *accessFixture {
	fx := &accessFixture{dir: b.scratch.Path(IDTknAccess), a: b.scratch.Path(IDTknAccess, "a"),
		ab: b.scratch.Path(IDTknAccess, "ab"), ref: b.t.Service.ReadFile.Path, env: env}
	if env != nil {
		fx.original = []byte(fmt.Sprintf("gridprobe %s %s original\n", env.RunID, env.Check))
	}
	return fx
}

// refusal is one sub-rule of 16tkn-access: with the narrowest token for a
// scope (and audience), one operation on an object that exists must be
// refused. Its reproduce lines come from the same description.
type refusal struct {
	name string
	// scope is the token's scope, on a fixture path; aud its audience (""
	// for the endpoint's).
	scope func(fx *accessFixture) Scope
	aud   string
	// op on target; a write writes a new object (Put) or over a (Overwrite).
	op        OpKind
	overwrite bool
	target    func(fx *accessFixture) string
	rule      string
	// loginDenies: a refused login is the refusal (another audience).
	loginDenies bool
	// before runs first; a non-nil outcome ends the check, a non-empty
	// string makes this refusal untested (with that reason).
	before func(b *Book, ctx context.Context, fx *accessFixture, t *tally) (string, *engine.Outcome)
}

func onDir(fx *accessFixture) Scope   { return Create(fx.dir) }
func readA(fx *accessFixture) Scope   { return Read(fx.a) }
func readDir(fx *accessFixture) Scope { return Read(fx.dir) }
func pathA(fx *accessFixture) string  { return fx.a }
func pathAB(fx *accessFixture) string { return fx.ab }
func pathRef(fx *accessFixture) string {
	return fx.ref
}

// refusals are the sub-rules of 16tkn-access, in order: the create-only
// attempts first, so they meet the file closed (XrdHttp keeps a file open
// after a GET until the connection's next request, and an open reader turns
// a PUT into 423 Locked, which is no denial). A new rule is a line here.
var refusals = []refusal{
	{name: "create-only overwrite", scope: onDir, op: OpPut, overwrite: true, target: pathA, rule: ruleCreateOnly},
	{name: "create-only delete", scope: onDir, op: OpDelete, target: pathA, rule: ruleCreateOnly},
	{name: "token for .../a reading sibling .../ab", scope: readA, op: OpGet, target: pathAB, rule: rulePathElements,
		before: (*Book).readsAUnchanged},
	{name: "token for .../a reading the reference file", scope: readA, op: OpGet, target: pathRef, rule: ruleOtherPath,
		before: (*Book).refExists},
	{name: "token with aud " + OtherAudience, scope: readA, aud: OtherAudience, op: OpGet, target: pathA, rule: ruleAudience,
		loginDenies: true},
	{name: "read-only token writing into .../16tkn-access", scope: readDir, op: OpPut, target: newInDir, rule: ruleReadOnly},
}

// RefusalNames lists the sub-rules of 16tkn-access, in order.
func RefusalNames() []string {
	out := make([]string, len(refusals))
	for i, r := range refusals {
		out[i] = r.name
	}
	return out
}

// newInDir is a new file in the fixture's directory (an existing parent).
func newInDir(fx *accessFixture) string { return fx.dir + "/read-only-write" }

// tknAccess (16tkn-access): the refusals the WLCG profile requires, each
// against an object shown to exist.
func (b *Book) tknAccess(ctx context.Context, env *engine.Env) engine.Outcome {
	if _, bad := b.needScratch(); bad != nil {
		return *bad
	}
	fx := b.accessFixtureOf(env)
	if o := b.accessSetUp(ctx, env, fx); o != nil {
		return *o
	}
	var t tally
	for _, r := range refusals {
		if o := b.refuse(ctx, fx, r, &t); o != nil {
			return *o
		}
	}
	return t.outcome("token refusals")
}

// accessSetUp creates the fixture with a storage.create token and shows
// both files exist with a storage.read token for their directory.
func (b *Book) accessSetUp(ctx context.Context, env *engine.Env, fx *accessFixture) *engine.Outcome {
	sc := Create(b.scratch.Dir())
	st, tok, err := b.TokenStore(ctx, b.aud, sc)
	fx.create = step{st: st, who: b.tokenWho(tok, sc), tok: tok}
	if err != nil {
		o := b.fail(fx.create, "set-up: opening the storage", "", err)
		return &o
	}
	if !tok.Narrowed {
		o := engine.Unknownf("the token source (%s) gives one token for every request: refusals of narrower tokens cannot be tested", b.t.Creds.Tokens.Describe())
		return &o
	}
	fail := func(what string, err error) *engine.Outcome {
		o := b.fail(fx.create, "set-up: "+what, ruleCreate, err)
		return &o
	}
	if err := b.ensureScratch(ctx, env, st); err != nil {
		return fail("mkdir "+b.scratch.Dir(), err)
	}
	b.cleanup(env, fx.dir, true, true)
	if err := st.Mkdir(ctx, fx.dir, false); err != nil && !Is(err, Exists) {
		return fail("mkdir "+fx.dir, err)
	}
	for _, p := range []string{fx.a, fx.ab} {
		b.cleanup(env, p, false, true)
		if err := st.Write(ctx, p, fx.original, New); err != nil {
			return fail("write "+p, err)
		}
	}
	dr, drTok, err := b.TokenStore(ctx, b.aud, Read(fx.dir))
	for _, p := range []string{fx.a, fx.ab} {
		if err == nil {
			_, err = dr.Stat(ctx, p)
		}
		if err != nil {
			o := engine.Unknownf("set-up: cannot show %s exists with the %s (%s): refusals would prove nothing",
				b.rel(p), b.tokenWho(drTok, Read(fx.dir)), b.errText(err))
			return &o
		}
	}
	return nil
}

// refuse tries one refusal and records it.
func (b *Book) refuse(ctx context.Context, fx *accessFixture, r refusal, t *tally) *engine.Outcome {
	target := r.target(fx)
	if target == "" {
		return nil // nothing configured to try it on (no read_file)
	}
	if r.before != nil {
		untested, o := r.before(b, ctx, fx, t)
		if o != nil || untested != "" {
			if untested != "" {
				t.unsure = append(t.unsure, r.name+": "+untested)
			}
			return o
		}
	}
	aud := r.aud
	if aud == "" {
		aud = b.aud
	}
	st, tok, err := b.TokenStore(ctx, aud, r.scope(fx))
	if tok == nil {
		o := b.failure("getting a token for "+r.name, "token source", "", err)
		return &o
	}
	if err == nil {
		err = b.attempt(ctx, fx, st, r, target)
	}
	t.add(r.name, err, r.loginDenies, r.rule, allowedWords[r.op]+" with the token "+b.relScopes(r.scope(fx)))
	if err == nil && r.op == OpDelete && target == fx.a {
		// Put a back so the later rules still test an existing file.
		fx.deleted = fx.create.st.Write(ctx, fx.a, fx.original, New) != nil
	}
	return nil
}

// allowedWords say what an attempt that should have been refused did.
var allowedWords = map[OpKind]string{OpGet: "read it", OpPut: "wrote it", OpDelete: "deleted it", OpMkdir: "made it"}

// attempt performs a refusal's operation (deletes and new objects pass the
// scratch guard first; a new object gets a cleanup, should it be made).
func (b *Book) attempt(ctx context.Context, fx *accessFixture, st Store, r refusal, target string) error {
	switch r.op {
	case OpGet:
		return readSome(ctx, st, target)
	case OpPut:
		mode := New
		if r.overwrite {
			mode = Overwrite
		} else {
			b.cleanup(fx.env, target, false, true)
		}
		return st.Write(ctx, target, []byte("gridprobe write attempt\n"), mode)
	case OpMkdir:
		b.cleanup(fx.env, target, true, true)
		return st.Mkdir(ctx, target, false)
	case OpDelete:
		if err := b.scratch.Check(target); err != nil {
			return err
		}
		return st.Delete(ctx, target)
	}
	return fmt.Errorf("refusal %s: no operation", r.name)
}

// readsAUnchanged: the read token for a reads it, with its original content
// (the create-only attempts must not have changed it); refusals of that
// token prove nothing otherwise.
func (b *Book) readsAUnchanged(ctx context.Context, fx *accessFixture, t *tally) (string, *engine.Outcome) {
	sc := Read(fx.a)
	st, tok, err := b.TokenStore(ctx, b.aud, sc)
	if err == nil {
		back := &sameContent{want: fx.original}
		if _, err = st.Read(ctx, fx.a, back); err == nil && !back.equal() {
			t.broken = append(t.broken, fmt.Sprintf("create-only token changed an existing file (%s)", ruleCreateOnly))
		}
	}
	if err == nil || fx.deleted && Is(err, NotFound) {
		return "", nil
	}
	o := engine.Critf("the %s cannot read %s: %s (%s; %s), so refusals of it prove nothing",
		b.tokenWho(tok, sc), b.rel(fx.a), b.errText(err), ruleRead, b.shorten(tokenDesc(tok)))
	if IsCred(err) {
		o.State = engine.Unknown
	}
	return "", &o
}

// refExists: the reference file exists for a token for it.
func (b *Book) refExists(ctx context.Context, fx *accessFixture, _ *tally) (string, *engine.Outcome) {
	st, tok, err := b.TokenStore(ctx, b.aud, Read(fx.ref))
	if err == nil {
		_, err = st.Stat(ctx, fx.ref)
	}
	if err != nil {
		return fmt.Sprintf("cannot show %s exists with a token for it: %s (%s)", fx.ref, b.errText(err), tokenDesc(tok)), nil
	}
	return "", nil
}
