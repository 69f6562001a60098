package ce

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/registry"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// The job cleans its own scratch areas (the SE checks' cleanups run inside
// probe wn). After the job the CE check looks again, with its own token
// (storage.read and storage.modify on the area only), and removes what is
// left through the scratch guard: a killed or crashed job must not leave
// files behind.

// maxCleanObjects bounds what one area's cleanup removes.
const maxCleanObjects = 1000

// cleanWNScratch removes what the job left in its scratch areas. The note
// is "" when every area was already gone.
func cleanWNScratch(ctx context.Context, t probe.Target, p *wnPayload) (string, error) {
	var notes []string
	var errs []error
	for _, a := range p.areas {
		n, err := cleanArea(ctx, t, a)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s %s: %w", a.sv.Type, a.dir, err))
		case n > 0:
			notes = append(notes, fmt.Sprintf("the job left %d objects in %s %s; removed by the CE check", n, a.sv.Type, a.dir))
		}
	}
	return strings.Join(notes, "; "), errors.Join(errs...)
}

// cleanArea removes one scratch area and everything in it; it returns how
// many objects there were (0: the job had removed it).
func cleanArea(ctx context.Context, t probe.Target, a scratchArea) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	sc, err := probe.NewScratch(a.sv.WriteDir, path.Base(a.dir))
	if err != nil {
		return 0, err
	}
	st, closeFn, err := openStore(ctx, t, a)
	if err != nil {
		return 0, err
	}
	defer closeFn()
	n := 0
	err = removeTree(ctx, st, sc, sc.Dir(), 0, &n)
	if notFound(err) && n == 0 {
		return 0, nil
	}
	return n, err
}

func notFound(err error) bool { return storage.Is(err, storage.NotFound) }

// removeTree removes dir and everything below it, deepest first, every
// object through the scratch guard.
func removeTree(ctx context.Context, st storage.Store, sc probe.Scratch, dir string, depth int, n *int) error {
	if depth > 4 {
		return fmt.Errorf("%s: deeper than 4 levels; not removing", dir)
	}
	ents, err := st.List(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name == "" || e.Name == "." || e.Name == ".." || path.Base(e.Name) != e.Name {
			return fmt.Errorf("listing %s: unusable entry name %q", dir, e.Name)
		}
		if *n >= maxCleanObjects {
			return fmt.Errorf("%s: more than %d objects; stopping", sc.Dir(), maxCleanObjects)
		}
		p := dir + "/" + e.Name
		if e.IsDir {
			if err := removeTree(ctx, st, sc, p, depth+1, n); err != nil {
				return err
			}
			continue
		}
		if err := sc.Delete(ctx, p, gone(st.Delete)); err != nil {
			return err
		}
		*n++
	}
	if err := sc.Delete(ctx, dir, gone(st.Rmdir)); err != nil {
		return err
	}
	*n++
	return nil
}

// gone makes a removal of an object that is already gone a success.
func gone(rm func(ctx context.Context, p string) error) func(ctx context.Context, p string) error {
	return func(ctx context.Context, p string) error {
		if err := rm(ctx, p); err != nil && !storage.Is(err, storage.NotFound) {
			return err
		}
		return nil
	}
}

// openStore opens the area's storage service, through the transport its
// protocol registered (probes/registry), with a token narrowed to the area
// (storage.read to list, storage.modify to delete).
func openStore(ctx context.Context, t probe.Target, a scratchArea) (storage.Store, func(), error) {
	st := probe.Target{Config: t.Config, Site: t.Site, Service: a.sv, Creds: t.Creds}
	scopes, err := st.ScopeStrings(probe.Read(a.dir), probe.Modify(a.dir))
	if err != nil {
		return nil, nil, err
	}
	tok, err := t.Creds.Token(ctx, st.Audience(), scopes...)
	if err != nil {
		return nil, nil, err
	}
	p, ok := registry.Lookup(a.sv.Type)
	if !ok || p.Transport == nil {
		return nil, nil, fmt.Errorf("service type %s has no storage transport", a.sv.Type)
	}
	tr, closeFn, err := p.Transport(st)
	if err != nil {
		return nil, nil, err
	}
	store, err := tr.Token(ctx, tok)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return store, closeFn, nil
}
