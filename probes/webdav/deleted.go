package webdav

import (
	"context"
)

// deleteNow deletes p with del through the scratch guard, as a check step,
// and records a success so that p's cleanup becomes a no-op. A failure is
// del's own error (the check's detail names it as before).
func (s *svc) deleteNow(ctx context.Context, p string, del func(ctx context.Context, p string) error) error {
	var delErr error
	if err := s.scratch.Delete(ctx, p, func(ctx context.Context, p string) error {
		delErr = del(ctx, p)
		return delErr
	}); err != nil {
		if delErr != nil {
			return delErr
		}
		return err
	}
	s.deleted.Set(p, true)
	return nil
}
