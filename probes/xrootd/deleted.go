package xrootd

import (
	"context"
	"sync"
)

// deletedSet remembers the scratch objects the checks deleted themselves,
// so that their registered cleanups cost no round trip. A cleanup still
// registered for an object whose deletion failed, or that a check never
// reached, runs as before: the scratch area is empty after every run.
type deletedSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (d *deletedSet) set(p string, deleted bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]bool{}
	}
	d.m[p] = deleted
}

func (d *deletedSet) has(p string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[p]
}

// deleteNow deletes p with del through the scratch guard, as a check step,
// and records a success so that p's cleanup becomes a no-op.
func (s *svc) deleteNow(ctx context.Context, p string, del func(ctx context.Context, p string) error) error {
	if err := s.scratch.Delete(ctx, p, del); err != nil {
		return err
	}
	s.deleted.set(p, true)
	return nil
}
