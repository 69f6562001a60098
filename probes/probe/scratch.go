package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
)

// runIDPattern is the shape engine.NewRunID produces; a scratch area is
// only ever a directory with such a name directly below write_dir.
var runIDPattern = regexp.MustCompile(`^gp-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$`)

// ServiceRunID derives, from a round's run id, the id under which one
// service of the round keeps its scratch area. Services of a site run side
// by side and often share a write_dir (WebDAV and XRootD on one SE), so
// each gets its own area; the derived id keeps the run-id shape (and the
// round's start time) so leftover finders recognise it.
func ServiceRunID(runID, service string) (string, error) {
	if !runIDPattern.MatchString(runID) {
		return "", fmt.Errorf("scratch: %q is not a gridprobe run id", runID)
	}
	sum := sha256.Sum256([]byte(runID + "\x00" + service))
	return runID[:len(runID)-12] + hex.EncodeToString(sum[:6]), nil
}

// Scratch is a run's scratch area on a storage endpoint:
// <write_dir>/<run id>/. It is the only place the probe writes, and the only
// place it ever deletes; Delete is the one guarded function every probe
// deletes through.
type Scratch struct {
	writeDir string
	runID    string
}

// NewScratch validates write_dir and the run id and returns the area.
func NewScratch(writeDir, runID string) (Scratch, error) {
	if !runIDPattern.MatchString(runID) {
		return Scratch{}, fmt.Errorf("scratch: %q is not a gridprobe run id", runID)
	}
	clean := path.Clean(writeDir)
	if !path.IsAbs(writeDir) || clean != strings.TrimSuffix(writeDir, "/") || clean == "/" {
		return Scratch{}, fmt.Errorf("scratch: write_dir %q must be an absolute, clean path other than /", writeDir)
	}
	return Scratch{writeDir: clean, runID: runID}, nil
}

// Dir is the run's scratch directory.
func (s Scratch) Dir() string { return s.writeDir + "/" + s.runID }

// Path joins name (one or more plain path elements) below the scratch dir.
// It panics on an element that is empty, "." or ".." — names are chosen by
// the probe, never by the endpoint, so that is a programming error.
func (s Scratch) Path(elems ...string) string {
	for _, e := range elems {
		if e == "" || e == "." || e == ".." || strings.Contains(e, "/") {
			panic(fmt.Sprintf("scratch: bad path element %q", e))
		}
	}
	return s.Dir() + "/" + strings.Join(elems, "/")
}

// Contains reports whether p is the scratch dir itself or lies inside it,
// comparing whole path elements on the cleaned, literal path.
func (s Scratch) Contains(p string) bool {
	if s.runID == "" || p != path.Clean(p) || strings.Contains(p, "//") {
		return false
	}
	return p == s.Dir() || strings.HasPrefix(p, s.Dir()+"/")
}

// Check refuses any path that is not inside this run's scratch area: a
// relative path, one with "..", ".", doubled or trailing slashes, another
// run's area, or write_dir itself. Below the scratch dir it also refuses
// any character a server or client might decode into something else
// ("%2e%2e", "\", "?", "#", control characters, non-ASCII such as U+2024
// that normalises to ".."): names the probe chooses never contain them.
func (s Scratch) Check(p string) error {
	if !s.Contains(p) {
		return fmt.Errorf("delete guard: refusing %q: not inside this run's scratch area %s", p, s.Dir())
	}
	for _, r := range strings.TrimPrefix(p, s.Dir()) {
		if r < 0x20 || r > 0x7e || strings.ContainsRune(`%\?#`, r) {
			return fmt.Errorf("delete guard: refusing %q: character %q could be decoded by the server into another path", p, r)
		}
	}
	return nil
}

// Delete removes p with del after checking it lies inside the scratch area.
// It is the only way a probe deletes anything.
func (s Scratch) Delete(ctx context.Context, p string, del func(ctx context.Context, p string) error) error {
	if err := s.Check(p); err != nil {
		return err
	}
	if err := del(ctx, p); err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	return nil
}

// DeletedSet remembers the scratch objects the checks deleted themselves,
// so that their registered cleanups cost no round trip. A cleanup still
// registered for an object whose deletion failed, or that a check never
// reached, runs as before: the scratch area is empty after every run.
type DeletedSet struct {
	mu sync.Mutex
	m  map[string]bool
}

// Set records whether p is deleted.
func (d *DeletedSet) Set(p string, deleted bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]bool{}
	}
	d.m[p] = deleted
}

// Has reports whether p was recorded as deleted.
func (d *DeletedSet) Has(p string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[p]
}
