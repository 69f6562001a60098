// Package leftovers finds the scratch directories of crashed gridprobe runs
// below a write_dir and cleans those that are provably the probe's own: a
// name of the run-id shape gp-YYYYMMDDTHHMMSSZ-<12 hex> (engine.NewRunID)
// whose time, parsed from the name, is older than a configured age.
// Everything is removed through probe.Scratch.Delete, the one guarded
// delete, so cleaning cannot reach outside the leftover run's own area.
//
// It works over any storage protocol's storage.Store (probes/storage):
// listing and removing, with the probe's own proxy.
package leftovers

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"time"

	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
)

var runDirRE = regexp.MustCompile(`^gp-([0-9]{8}T[0-9]{6}Z)-[0-9a-f]{12}$`)

// RunStarted parses the start time from a run id; ok is false for any
// name that is not a run id.
func RunStarted(name string) (time.Time, bool) {
	m := runDirRE.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405Z", m[1])
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// Leftover is one scratch directory of a past run.
type Leftover struct {
	Dir     string // <write_dir>/<run id>
	RunID   string
	Started time.Time
	Age     time.Duration
	// Removed is set when Clean removed it; Err when removing failed.
	Removed bool
	Err     error
	// Objects is how many files and directories were removed (or, when
	// not cleaned, 0).
	Objects int
}

// Limits bound the walk of one leftover directory.
const (
	maxDepth   = 8
	maxObjects = 10000
)

// Find lists write_dir and returns the run-id directories in it (oldest
// first). Entries whose names are not run ids are ignored: they are not
// the probe's.
func Find(ctx context.Context, st storage.Store, writeDir string, now time.Time) ([]Leftover, error) {
	ents, err := st.List(ctx, writeDir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", writeDir, err)
	}
	var out []Leftover
	for _, e := range ents {
		if !e.IsDir {
			continue
		}
		started, ok := RunStarted(e.Name)
		if !ok {
			continue
		}
		out = append(out, Leftover{Dir: path.Join(writeDir, e.Name), RunID: e.Name, Started: started, Age: now.Sub(started)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// Clean finds the leftovers below writeDir and removes those older than
// olderThan (which must be positive), skipping skipRunID (the current
// run). It returns every leftover found, with Removed/Err set on those it
// tried.
func Clean(ctx context.Context, st storage.Store, writeDir string, olderThan time.Duration, skipRunID string, now time.Time) ([]Leftover, error) {
	if olderThan <= 0 {
		return nil, errors.New("leftovers: refusing to clean without a positive minimum age")
	}
	found, err := Find(ctx, st, writeDir, now)
	if err != nil {
		return nil, err
	}
	for i := range found {
		l := &found[i]
		if l.RunID == skipRunID || l.Age < olderThan {
			continue
		}
		sc, err := probe.NewScratch(writeDir, l.RunID)
		if err != nil {
			l.Err = err
			continue
		}
		n := 0
		l.Err = removeTree(ctx, st, sc, sc.Dir(), 0, &n)
		l.Objects = n
		l.Removed = l.Err == nil
	}
	return found, nil
}

// removeTree removes dir and everything below it, deepest first, each
// object through the guarded delete.
func removeTree(ctx context.Context, st storage.Store, sc probe.Scratch, dir string, depth int, n *int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: deeper than %d levels; not removing", dir, maxDepth)
	}
	ents, err := st.List(ctx, dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.Name == "" || e.Name == "." || e.Name == ".." || path.Base(e.Name) != e.Name {
			return fmt.Errorf("listing %s: unusable entry name %q", dir, e.Name)
		}
		p := dir + "/" + e.Name
		if *n >= maxObjects {
			return fmt.Errorf("%s: more than %d objects; stopping", sc.Dir(), maxObjects)
		}
		if e.IsDir {
			if err := removeTree(ctx, st, sc, p, depth+1, n); err != nil {
				return err
			}
			continue
		}
		if err := sc.Delete(ctx, p, removeFunc(st, false)); err != nil {
			return err
		}
		*n++
	}
	if err := sc.Delete(ctx, dir, removeFunc(st, true)); err != nil {
		return err
	}
	*n++
	return nil
}

// removeFunc removes a file or a directory with st; a missing object
// counts as removed.
func removeFunc(st storage.Store, dir bool) func(ctx context.Context, p string) error {
	return func(ctx context.Context, p string) error {
		var err error
		if dir {
			err = st.Rmdir(ctx, p)
		} else {
			err = st.Delete(ctx, p)
		}
		if storage.Is(err, storage.NotFound) {
			return nil
		}
		return err
	}
}
