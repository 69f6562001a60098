package checkctx

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestExpiresWithoutPause(t *testing.T) {
	start := time.Now()
	ctx, cancel := WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", ctx.Err())
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Fatalf("done after %s, before its deadline", took)
	}
}

// The time spent paused does not count: a 40 ms deadline with a 120 ms
// pause is still live after the pause and ends about 40 ms of unpaused
// time after it began.
func TestPauseMovesTheDeadline(t *testing.T) {
	ctx, cancel := WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	d0, _ := ctx.Deadline()
	resume := Pause(ctx)
	time.Sleep(120 * time.Millisecond) // the pause being measured, not a synchronisation
	if err := ctx.Err(); err != nil {
		t.Fatalf("done during a pause: %v", err)
	}
	resume()
	resume() // idempotent
	d1, _ := ctx.Deadline()
	if moved := d1.Sub(d0); moved < 120*time.Millisecond {
		t.Fatalf("deadline moved by %s, want ≥ the 120ms pause", moved)
	}
	select {
	case <-ctx.Done():
		t.Fatal("done right after resume; the paused time was counted")
	default:
	}
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("err = %v", ctx.Err())
	}
}

func TestNestedPauses(t *testing.T) {
	ctx, cancel := WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	r1 := Pause(ctx)
	r2 := Pause(ctx)
	r1()
	time.Sleep(60 * time.Millisecond) // still paused by r2
	if ctx.Err() != nil {
		t.Fatal("done while one of two pauses is still on")
	}
	r2()
	<-ctx.Done()
}

func TestParentEndsIt(t *testing.T) {
	parent, pcancel := context.WithCancel(context.Background())
	ctx, cancel := WithTimeout(parent, time.Hour)
	defer cancel()
	child, ccancel := context.WithTimeout(ctx, time.Hour) // derived: needs the AfterFunc hook
	defer ccancel()
	resume := Pause(ctx)
	defer resume()
	pcancel()
	<-ctx.Done()
	<-child.Done()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("err = %v, want canceled", ctx.Err())
	}
}

// The parent's own deadline (a site budget) is not paused.
func TestParentDeadlineKeepsRunning(t *testing.T) {
	parent, pcancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer pcancel()
	ctx, cancel := WithTimeout(parent, time.Hour)
	defer cancel()
	resume := Pause(ctx)
	defer resume()
	if d, _ := ctx.Deadline(); time.Until(d) > time.Second {
		t.Fatalf("deadline %s ignores the parent's", time.Until(d))
	}
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("err = %v", ctx.Err())
	}
}

func TestCancelAndDerived(t *testing.T) {
	ctx, cancel := WithTimeout(context.Background(), time.Hour)
	child, ccancel := context.WithCancel(ctx)
	defer ccancel()
	if v := Pause(child); v == nil {
		t.Fatal("nil resume")
	}
	cancel()
	<-child.Done()
	if !errors.Is(child.Err(), context.Canceled) {
		t.Fatalf("child err = %v", child.Err())
	}
	// A context created after the end is done at once.
	late, lcancel := context.WithCancel(ctx)
	defer lcancel()
	<-late.Done()
}

func TestPauseOnPlainContextIsNoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	resume := Pause(ctx)
	<-ctx.Done() // a plain deadline is not paused
	resume()
}

func TestParentAlreadyDone(t *testing.T) {
	parent, pcancel := context.WithCancel(context.Background())
	pcancel()
	ctx, cancel := WithTimeout(parent, time.Hour)
	defer cancel()
	<-ctx.Done()
	Pause(ctx)()
}

func TestNoDeadlineOfItsOwn(t *testing.T) {
	parent, pcancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer pcancel()
	ctx, cancel := WithTimeout(parent, 0)
	defer cancel()
	pd, _ := parent.Deadline()
	if d, ok := ctx.Deadline(); !ok || !d.Equal(pd) {
		t.Fatalf("deadline %v %v, want the parent's %v", d, ok, pd)
	}
	Pause(ctx)()
	<-ctx.Done()
	if free, fcancel := WithTimeout(context.Background(), 0); free.Err() != nil {
		t.Fatal("done at once")
	} else {
		fcancel()
	}
}

func TestCentralNote(t *testing.T) {
	ctx, cancel := WithTimeout(context.Background(), time.Second)
	defer cancel()
	child, ccancel := context.WithCancel(ctx)
	defer ccancel()
	if Central(child) != nil {
		t.Fatal("note before any")
	}
	first, second := errors.New("issuer down"), errors.New("later")
	NoteCentral(child, first)
	NoteCentral(ctx, second)
	if Central(ctx) != first || Central(child) != first {
		t.Errorf("note %v, want the first", Central(ctx))
	}
	NoteCentral(context.Background(), first) // no-op
	if Central(context.Background()) != nil {
		t.Error("note on a plain context")
	}
}
