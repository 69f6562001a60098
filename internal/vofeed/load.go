package vofeed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
)

// Inventory is what the sources of a sites_from: said at one time.
type Inventory struct {
	Feed     *Feed
	CRIC     *CRIC
	Fetched  time.Time // when the oldest source in use was read
	Problems []Problem
	// Cached names the sources taken from the cache, with why the fetch
	// failed.
	Cached []string
}

// Options say where a Read finds its sources.
type Options struct {
	Dir      string // directory of sites.yaml: relative file sources and cache are below it
	CADir    string // grid CA directory for https sources
	VO       string // the VO whose CRIC usage names the site
	UseCache bool   // fall back to the cache when a source cannot be read
	Now      func() time.Time
}

// Read fetches and parses the sources of sf. A source that cannot be
// fetched or parsed is an error, unless the cache holds a good copy and
// UseCache is set: then the copy is used and Cached says why. A source
// read successfully replaces its copy in the cache.
func Read(ctx context.Context, sf *config.SitesFrom, o Options) (*Inventory, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	inv := &Inventory{Fetched: now()}
	if sf.VOFeed != "" {
		err := readSource(ctx, sf, o, sf.VOFeed, "vofeed.xml", inv, func(name string, data []byte) ([]Problem, error) {
			f, probs, err := ParseXML(name, bytes.NewReader(data))
			inv.Feed = f
			return probs, err
		})
		if err != nil {
			return nil, err
		}
	}
	if sf.CRIC != "" {
		vo := o.VO
		if inv.Feed != nil && inv.Feed.VO != "" {
			vo = inv.Feed.VO
		}
		err := readSource(ctx, sf, o, sf.CRIC, "cric.json", inv, func(name string, data []byte) ([]Problem, error) {
			c, probs, err := ParseCRIC(name, data, vo)
			inv.CRIC = c
			return probs, err
		})
		if err != nil {
			return nil, err
		}
	}
	return inv, nil
}

type parseFunc func(name string, data []byte) ([]Problem, error)

func readSource(ctx context.Context, sf *config.SitesFrom, o Options, src, cacheName string, inv *Inventory, parse parseFunc) error {
	name := src
	if IsURL(src) {
		name = SafeURL(src)
	}
	data, err := Fetch(ctx, src, o.Dir, o.CADir)
	if err == nil {
		var probs []Problem
		if probs, err = parse(name, data); err == nil {
			inv.Problems = append(inv.Problems, probs...)
			if sf.Cache != "" {
				if werr := writeCache(cachePath(sf, o, cacheName), data); werr != nil {
					inv.Problems = append(inv.Problems, Problem{Pos: Pos{Source: name}, Msg: "cache: " + werr.Error()})
				}
			}
			return nil
		}
	}
	if !o.UseCache || sf.Cache == "" {
		return err
	}
	path := cachePath(sf, o, cacheName)
	st, serr := os.Stat(path)
	cached, rerr := os.ReadFile(path)
	if serr != nil || rerr != nil {
		return fmt.Errorf("%w (and no cached copy in %s)", err, path)
	}
	probs, perr := parse(path, cached)
	if perr != nil {
		return fmt.Errorf("%w (and the cached copy is unusable: %v)", err, perr)
	}
	inv.Problems = append(inv.Problems, probs...)
	inv.Cached = append(inv.Cached, fmt.Sprintf("%s: %v; using the copy of %s", name, err, st.ModTime().UTC().Format(time.RFC3339)))
	if st.ModTime().Before(inv.Fetched) {
		inv.Fetched = st.ModTime()
	}
	return nil
}

func cachePath(sf *config.SitesFrom, o Options, name string) string {
	dir := sf.Cache
	if o.Dir != "" && !filepath.IsAbs(dir) {
		dir = filepath.Join(o.Dir, dir)
	}
	return filepath.Join(dir, name)
}

// writeCache replaces path atomically.
func writeCache(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Merge appends the selection's sites to base (config.AppendSites); the
// sites that fail validation are left out and returned as problems.
func Merge(base *config.Config, sel *Selection) (*config.Config, []Problem) {
	nodes, origins := sel.Nodes()
	c, errs := config.AppendSites(base, nodes, origins)
	var probs []Problem
	for _, e := range errs {
		probs = append(probs, Problem{Pos: Pos{Source: e.File, Line: e.Line, Col: e.Col}, Msg: e.Msg + "; site left out"})
	}
	return c, probs
}

// ErrNoSites is a selection without any site.
var ErrNoSites = errors.New("no sites selected")

// CheckChange refuses a new selection of next sites that replaces one of
// prev sites when it is empty or changes the count tenfold: a feed that
// suddenly lists no site or ten times more (or fewer) is more likely
// broken than true, and the previous configuration is kept. prev 0: no
// previous selection.
func CheckChange(prev, next int) error {
	switch {
	case next == 0:
		return ErrNoSites
	case prev > 0 && next >= 10*prev:
		return fmt.Errorf("the feed now lists %d sites, ten times or more the %d before: refused", next, prev)
	case prev > 0 && 10*next <= prev:
		return fmt.Errorf("the feed now lists %d sites, a tenth or less of the %d before: refused", next, prev)
	}
	return nil
}

// LoadConfig reads sites.yaml and, when it has sites_from:, adds its feed's
// sites (from the cache when a source cannot be read). Problems and
// skipped entries are written to report (nil: not written).
func LoadConfig(ctx context.Context, path string, report io.Writer) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil || cfg.SitesFrom == nil {
		return cfg, err
	}
	inv, err := Read(ctx, cfg.SitesFrom, Options{Dir: filepath.Dir(path), CADir: cfg.Credentials.X509.CADir, VO: cfg.VO, UseCache: true})
	if err != nil {
		return nil, fmt.Errorf("sites_from: %w", err)
	}
	sel, probs := Select(inv.Feed, inv.CRIC, FilterOf(cfg.SitesFrom), cfg)
	merged, mprobs := Merge(cfg, sel)
	if report != nil {
		Report(report, inv, sel, append(probs, mprobs...))
	}
	if err := CheckChange(0, len(merged.Sites)-len(cfg.Sites)); err != nil {
		return nil, fmt.Errorf("sites_from: %w (filters: %s)", err, describeFilter(FilterOf(cfg.SitesFrom)))
	}
	return merged, nil
}

// Report writes what a read left out: the inventory's and selection's
// problems, one a line, and the skipped entries by reason.
func Report(w io.Writer, inv *Inventory, sel *Selection, probs []Problem) {
	if inv != nil {
		for _, c := range inv.Cached {
			fmt.Fprintf(w, "sites_from: WARNING: %s\n", c)
		}
		for _, p := range inv.Problems {
			fmt.Fprintf(w, "%s\n", p)
		}
	}
	for _, p := range probs {
		fmt.Fprintf(w, "%s\n", p)
	}
	for _, s := range sel.Skipped {
		fmt.Fprintf(w, "skipped %d: %s (first: %s)\n", s.Count, s.Reason, s.First)
	}
}

func describeFilter(f Filter) string {
	s := "production " + first(f.Production, "true")
	if len(f.Groups) > 0 {
		s += fmt.Sprintf(", groups %v", f.Groups)
	}
	if len(f.Flavours) > 0 {
		s += fmt.Sprintf(", flavours %v", f.Flavours)
	}
	return s
}
