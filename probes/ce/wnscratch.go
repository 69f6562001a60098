package ce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/leftovers"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
	"github.com/gridprobe/gridprobe/probes/xrootd/ztn"
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

func notFound(err error) bool {
	return err != nil && (xrd.IsNotFound(err) || strings.Contains(err.Error(), "HTTP 404"))
}

// removeTree removes dir and everything below it, deepest first, every
// object through the scratch guard.
func removeTree(ctx context.Context, st leftovers.Store, sc probe.Scratch, dir string, depth int, n *int) error {
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
		if err := sc.Delete(ctx, p, func(ctx context.Context, p string) error { return st.Remove(ctx, p, false) }); err != nil {
			return err
		}
		*n++
	}
	if err := sc.Delete(ctx, dir, func(ctx context.Context, p string) error { return st.Remove(ctx, p, true) }); err != nil {
		return err
	}
	*n++
	return nil
}

// openStore opens the area's storage service with a token narrowed to the
// area (storage.read to list, storage.modify to delete).
func openStore(ctx context.Context, t probe.Target, a scratchArea) (leftovers.Store, func(), error) {
	st := probe.Target{Config: t.Config, Site: t.Site, Service: a.sv}
	scopes, err := st.ScopeStrings(probe.Read(a.dir), probe.Modify(a.dir))
	if err != nil {
		return nil, nil, err
	}
	tok, err := t.Creds.Token(ctx, st.Audience(), scopes...)
	if err != nil {
		return nil, nil, err
	}
	ca, err := t.Creds.CA()
	if err != nil {
		return nil, nil, err
	}
	u := a.sv.URL
	switch a.sv.Type {
	case config.TypeWebDAV:
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.TLSConfig(u.Host, nil)}, Timeout: 30 * time.Second}
		w, err := leftovers.NewWebDAV(u.Scheme+"://"+u.Host, hc)
		if err != nil {
			return nil, nil, err
		}
		w.Authorize = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Bearer()) }
		return w, hc.CloseIdleConnections, nil
	case config.TypeXRootD:
		s, err := xrd.Dial(ctx, u.String(), xrd.Options{
			TLSConfig: ca.TLSConfig(u.Hostname(), nil), RequireTLS: true,
			Auth: func() []secproto.Authenticator {
				return []secproto.Authenticator{ztn.New(func() (string, error) { return tok.Bearer(), nil })}
			},
		})
		if err != nil {
			return nil, nil, fmt.Errorf("token login: %w", err)
		}
		return leftovers.NewXRootD(s), func() { _ = s.Close() }, nil
	}
	return nil, nil, fmt.Errorf("no store for service type %s", a.sv.Type)
}
