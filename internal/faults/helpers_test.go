package faults

import (
	"testing"
)

// testbed returns the running testbed (internal/testbedenv's rules).
func testbed(t *testing.T) *Testbed { return TestTestbed(t) }
