package testbedenv

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BrokerLock takes the testbed broker's test lock until the test ends:
// shared for tests that only send to and read from the broker, exclusive
// for a test that stops and restarts it (go test runs packages in
// parallel). env is what Load returned.
func BrokerLock(t testing.TB, env map[string]string, exclusive bool) {
	t.Helper()
	dir := filepath.Join(env["GRIDPROBE_TESTBED"], "broker")
	f, err := os.OpenFile(filepath.Join(dir, "test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("broker test lock: %v", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), how) }()
	select {
	case err = <-done:
	case <-time.After(5 * time.Minute):
		err = os.ErrDeadlineExceeded
	}
	if err != nil {
		f.Close()
		t.Fatalf("broker test lock %s: %v", f.Name(), err)
	}
	t.Cleanup(func() { f.Close() })
}
