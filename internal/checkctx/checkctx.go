// Package checkctx is what a running check's context carries besides
// cancellation, between the engine that makes it and the credential
// sources the check calls (DESIGN.md, "Who is to blame"):
//
//   - a deadline that stops running while the check waits for something
//     that is not the site's work — a token from the VO's issuer — so that
//     a check's deadline covers the site's work, not the wait for a token
//     (Pause);
//   - a note that a credential could not be had because a central service
//     failed (NoteCentral), so the engine can blame an UNKNOWN on that
//     service rather than on the probe without every probe saying so.
//
// The engine makes each check's context with WithTimeout; a token source
// brackets its wait for the issuer with Pause and notes a central failure.
// Both are no-ops on any other context, so code that never runs under the
// engine is unaffected.
//
// The standard library has no context whose deadline can move, hence this
// small type; it implements the context package's AfterFunc hook so that
// contexts derived from it need no goroutine each.
package checkctx

import (
	"context"
	"sync"
	"time"
)

type pauseKey struct{}

// pausable is a context whose deadline moves later by the time spent
// paused. It is done when its (moved) deadline passes, when its parent is
// done, or when it is cancelled.
type pausable struct {
	parent context.Context
	mu     sync.Mutex
	end    time.Time // the deadline, not counting a pause in progress
	timer  *time.Timer
	done   chan struct{}
	err    error
	paused int       // pauses in progress (a check may wait on several)
	since  time.Time // when the current pause began
	funcs  map[int]func()
	nextID int
	stop   func() bool // stops the parent's AfterFunc
	noDL   bool        // no deadline of its own (timeout ≤ 0)

	central error // the first central failure noted
}

// WithTimeout returns a child of parent that is done d after now, plus
// however long it spends paused (Pause), or when parent is done; d ≤ 0
// means no deadline of its own. Cancel releases its timer; call it when
// the work is over.
func WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	p := &pausable{parent: parent, end: time.Now().Add(d), done: make(chan struct{}), funcs: map[int]func(){}, noDL: d <= 0}
	if err := parent.Err(); err != nil {
		p.finish(err)
		return p, func() {}
	}
	p.mu.Lock()
	if p.noDL {
		d = 1<<63 - 1
	}
	p.timer = time.AfterFunc(d, p.expire)
	p.stop = context.AfterFunc(parent, func() { p.finish(context.Cause(parent)) })
	p.mu.Unlock()
	return p, func() { p.finish(context.Canceled) }
}

// Pause stops the clock of the deadline of the WithTimeout context ctx
// descends from, until resume is called (resume is idempotent). The
// parent's own deadline (a site's budget) keeps running. Pause on a context
// without such an ancestor does nothing.
func Pause(ctx context.Context) (resume func()) {
	p, ok := ctx.Value(pauseKey{}).(*pausable)
	if !ok {
		return func() {}
	}
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return func() {}
	}
	if p.paused == 0 {
		p.since = time.Now()
		p.timer.Stop()
	}
	p.paused++
	p.mu.Unlock()
	var once sync.Once
	return func() { once.Do(p.resume) }
}

func (p *pausable) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused--
	if p.paused > 0 || p.err != nil || p.noDL {
		return
	}
	p.end = p.end.Add(time.Since(p.since))
	p.timer.Reset(time.Until(p.end))
}

// expire runs when the timer fires; a pause that began just before may
// have stopped the clock, so it rechecks.
func (p *pausable) expire() {
	p.mu.Lock()
	live := p.noDL || p.paused > 0 || time.Now().Before(p.end)
	p.mu.Unlock()
	if !live {
		p.finish(context.DeadlineExceeded)
	}
}

func (p *pausable) finish(err error) {
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return
	}
	p.err = err
	if p.timer != nil {
		p.timer.Stop()
	}
	funcs, stop := p.funcs, p.stop
	p.funcs = nil
	close(p.done)
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, f := range funcs {
		go f()
	}
}

// Deadline is the moved deadline (during a pause, as if it ended now), or
// the parent's when that is earlier.
func (p *pausable) Deadline() (time.Time, bool) {
	if p.noDL {
		return p.parent.Deadline()
	}
	p.mu.Lock()
	d := p.end
	if p.paused > 0 {
		d = d.Add(time.Since(p.since))
	}
	p.mu.Unlock()
	if pd, ok := p.parent.Deadline(); ok && pd.Before(d) {
		return pd, true
	}
	return d, true
}

func (p *pausable) Done() <-chan struct{} { return p.done }

func (p *pausable) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *pausable) Value(key any) any {
	if key == (pauseKey{}) {
		return p
	}
	return p.parent.Value(key)
}

// AfterFunc lets the context package propagate cancellation to children
// without a goroutine per child (context's afterFuncer hook).
func (p *pausable) AfterFunc(f func()) func() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		go f()
		return func() bool { return false }
	}
	id := p.nextID
	p.nextID++
	p.funcs[id] = f
	return func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		_, ok := p.funcs[id]
		delete(p.funcs, id)
		return ok
	}
}

func (p *pausable) String() string { return "checkctx.WithTimeout" }

// NoteCentral records, in the check context ctx descends from, that a
// credential could not be had because a central service (the token issuer)
// failed, with that error. The first note is kept. No-op elsewhere.
func NoteCentral(ctx context.Context, err error) {
	p, ok := ctx.Value(pauseKey{}).(*pausable)
	if !ok || err == nil {
		return
	}
	p.mu.Lock()
	if p.central == nil {
		p.central = err
	}
	p.mu.Unlock()
}

// Central returns the central failure noted in ctx's check, or nil.
func Central(ctx context.Context) error {
	p, ok := ctx.Value(pauseKey{}).(*pausable)
	if !ok {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.central
}
