package engine

import (
	"context"
	"sync"
)

type cleanup struct {
	check, name string
	fn          func(ctx context.Context) error
}

// cleanupStack collects a service's cleanups; safe for concurrent pushes.
type cleanupStack struct {
	mu    sync.Mutex
	items []cleanup
}

func (s *cleanupStack) push(check, name string, fn func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = append(s.items, cleanup{check: check, name: name, fn: fn})
}

// drain returns the cleanups in last-in first-out order and empties the stack.
func (s *cleanupStack) drain() []cleanup {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]cleanup, 0, len(s.items))
	for i := len(s.items) - 1; i >= 0; i-- {
		out = append(out, s.items[i])
	}
	s.items = nil
	return out
}
