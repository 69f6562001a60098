package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// ensureScratch creates the run's scratch directory with st (with its
// parents where the protocol can; an existing one is fine) unless an
// earlier check of the service did, after registering — once per service,
// so it runs after every object's own cleanup — the sweep that removes it.
func (b *Book) ensureScratch(ctx context.Context, env *engine.Env, st Store) error {
	b.sweepOnce.Do(func() {
		env.Cleanup("scratch dir "+b.scratch.Dir(), b.sweep)
	})
	if b.scratchMade.Load() {
		return nil
	}
	if err := st.Mkdir(ctx, b.scratch.Dir(), true); err != nil && !Is(err, Exists) {
		return err
	}
	b.scratchMade.Store(true)
	return nil
}

// cleanup registers the removal of p (inside the scratch area) before the
// check creates it, so that an object created by a request that then
// failed or timed out is removed too. Once the check deleted p itself
// (deleteNow), the cleanup does nothing. tokenFirst tries a token before
// the proxy (token checks).
func (b *Book) cleanup(env *engine.Env, p string, dir, tokenFirst bool) {
	b.deleted.Set(p, false) // p is about to be created (again)
	env.Cleanup(b.rel(p), func(ctx context.Context) error {
		if b.deleted.Has(p) {
			return nil
		}
		return b.remove(ctx, p, dir, tokenFirst)
	})
}

// deleteNow deletes p with st through the scratch guard, as a check step,
// and records a success so that p's cleanup becomes a no-op. A failure is
// the delete's own error.
func (b *Book) deleteNow(ctx context.Context, st Store, p string, dir bool) error {
	var delErr error
	err := b.scratch.Delete(ctx, p, func(ctx context.Context, p string) error {
		delErr = del(ctx, st, p, dir)
		return delErr
	})
	if err != nil {
		if delErr != nil {
			return delErr
		}
		return err
	}
	b.deleted.Set(p, true)
	return nil
}

func del(ctx context.Context, st Store, p string, dir bool) error {
	if dir {
		return st.Rmdir(ctx, p)
	}
	return st.Delete(ctx, p)
}

// remove deletes p through the scratch guard with the first credential that
// may: the proxy and a storage.modify token for the scratch area (in the
// order asked), then a storage.read + storage.modify token (servers that
// stat before deleting: XRootD 5.5 over https). A missing object counts as
// removed. The next credential is tried only when the last one was refused
// or could not be used. Once a credential removed something after another
// was refused, later removals of the service try it first: a server that
// refuses storage.modify alone refuses it for every object (17tkn-write
// reports that), and over HTTP each refusal also costs a new connection.
func (b *Book) remove(ctx context.Context, p string, dir, tokenFirst bool) error {
	if err := b.scratch.Check(p); err != nil {
		return err
	}
	ways := b.removalWays(ctx, dir, tokenFirst)
	if first, ok := b.removedBy.Load().(string); ok {
		slices.SortStableFunc(ways, func(x, y removalWay) int { return boolOrder(x.name == first, y.name == first) })
	}
	var errs []string
	for i, w := range ways {
		err := w.remove(p)
		if err == nil {
			if i > 0 {
				b.removedBy.Store(w.name)
			}
			return nil
		}
		errs = append(errs, err.Error())
		if ctx.Err() != nil || !worthAnotherCredential(err) {
			break
		}
	}
	return errors.New(strings.Join(errs, "; then "))
}

// removalWay removes an object with one credential.
type removalWay struct {
	name   string
	remove func(p string) error
}

// removalWays are remove's credentials in their default order.
func (b *Book) removalWays(ctx context.Context, dir, tokenFirst bool) []removalWay {
	via := func(name string, open func() (Store, error)) removalWay {
		return removalWay{name, func(p string) error {
			st, err := open()
			if err != nil {
				return err
			}
			return b.scratch.Delete(ctx, p, func(ctx context.Context, p string) error {
				if err := del(ctx, st, p, dir); err != nil && !Is(err, NotFound) {
					return err
				}
				return nil
			})
		}}
	}
	area := b.scratch.Dir()
	viaToken := func(name string, scopes ...Scope) removalWay {
		return via(name, func() (Store, error) { st, _, err := b.TokenStore(ctx, b.aud, scopes...); return st, err })
	}
	ways := []removalWay{
		via("proxy", func() (Store, error) { st, _, err := b.Proxy(ctx, Own); return st, err }),
		viaToken("modify", Modify(area)),
	}
	if tokenFirst {
		ways[0], ways[1] = ways[1], ways[0]
	}
	return append(ways, viaToken("read+modify", Read(area), Modify(area)))
}

// boolOrder sorts true before false.
func boolOrder(x, y bool) int {
	switch {
	case x == y:
		return 0
	case x:
		return -1
	}
	return 1
}

// worthAnotherCredential: the credential was refused or unusable, so
// another may succeed; any other answer would be the same for all.
func worthAnotherCredential(err error) bool {
	switch KindOf(err) {
	case Denied, LoginRefused, NoAnswer:
		return true
	}
	return IsCred(err)
}

// sweep is the service's last cleanup: it removes the scratch directory,
// and, when that fails or creating requests went unanswered, first what is
// left in it (two levels deep: the rules create no deeper tree). Objects
// have their own cleanups; this catches what a request cut short created
// after its cleanup ran.
func (b *Book) sweep(ctx context.Context) error {
	dir := b.scratch.Dir()
	if wait := b.tr.LateWrites(); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	} else if err := b.remove(ctx, dir, true, false); err == nil {
		return nil
	}
	var errs []string
	var walk func(p string, depth int)
	walk = func(p string, depth int) {
		entries, err := b.list(ctx, p)
		if err != nil {
			if !Is(err, NotFound) {
				errs = append(errs, err.Error())
			}
			return
		}
		for _, e := range entries {
			if e.Path == p || !b.scratch.Contains(e.Path) {
				continue
			}
			if e.IsDir && depth < 2 {
				walk(e.Path, depth+1)
			}
			if err := b.remove(ctx, e.Path, e.IsDir, false); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	walk(dir, 0)
	if err := b.remove(ctx, dir, true, false); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// list lists dir with the proxy, else with a read token.
func (b *Book) list(ctx context.Context, dir string) ([]Info, error) {
	if st, _, err := b.Proxy(ctx, Own); err == nil {
		entries, err := st.List(ctx, dir)
		if err == nil || Is(err, NotFound) {
			return entries, err
		}
	}
	st, _, err := b.TokenStore(ctx, b.aud, Read(dir))
	if err != nil {
		return nil, err
	}
	return st.List(ctx, dir)
}
