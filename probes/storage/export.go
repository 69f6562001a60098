package storage

import (
	"context"
	"fmt"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// What protocol-only checks (e.g. WebDAV's 10macaroon) use of the rulebook,
// so that they word and clean up as the rules do.

// ReadFacts are the figures of a verified read, for a short detail.
type ReadFacts struct {
	Bytes   int64
	Adler32 string
}

// ReadCheck reads and verifies the reference file with st (the read rules'
// verification) and words the outcome, naming the credential who.
func (b *Book) ReadCheck(ctx context.Context, st Store, who string) (engine.Outcome, ReadFacts) {
	ref := b.t.Service.ReadFile
	rep, err := b.verifyRead(ctx, st, ref)
	return b.readOutcome(who, ref, rep, err), ReadFacts{Bytes: rep.bytes, Adler32: fmt.Sprintf("%08x", rep.adler)}
}

// EnsureScratch creates the run's scratch directory with st once per
// service, registering the service-end sweep that removes it and whatever
// is left in it.
func (b *Book) EnsureScratch(ctx context.Context, env *engine.Env, st Store) error {
	if b.scratchErr != nil {
		return b.scratchErr
	}
	return b.ensureScratch(ctx, env, st)
}

// ScratchPath is a path in the run's scratch area (an error when there is
// none).
func (b *Book) ScratchPath(elems ...string) (string, error) {
	if b.scratchErr != nil {
		return "", b.scratchErr
	}
	return b.scratch.Path(elems...), nil
}

// Refused judges the error of an attempt that must be refused: true only
// for an explicit denial (or, with loginDenies, a refused login), with the
// words for the detail.
func Refused(err error, loginDenies bool) (bool, string) {
	v, text := judge(err, loginDenies)
	return v == vDenied, text
}

// Rel names a path in details (scratch paths by their place in it).
func (b *Book) Rel(p string) string { return b.rel(p) }

// Sweep removes what is left of the run's scratch area and the area itself
// (the service-end cleanup), with the proxy or tokens as the rules do.
func (b *Book) Sweep(ctx context.Context) error {
	if b.scratchErr != nil {
		return b.scratchErr
	}
	return b.sweep(ctx)
}
