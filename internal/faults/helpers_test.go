package faults

import (
	"errors"
	"os"
	"testing"
)

// testbed returns the running testbed; the test fails when it is down
// unless GRIDPROBE_NO_TESTBED=1 (then it is skipped, saying so).
func testbed(t *testing.T) *Testbed {
	t.Helper()
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	tb, err := LoadTestbed(root)
	if err != nil {
		if errors.Is(err, ErrNoTestbed) && os.Getenv("GRIDPROBE_NO_TESTBED") == "1" {
			t.Skipf("GRIDPROBE_NO_TESTBED=1: %v", err)
		}
		t.Fatalf("%v (start it with testbed/up.sh, or set GRIDPROBE_NO_TESTBED=1 to skip)", err)
	}
	return tb
}
