package round

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestTuneGC: GCPercent applies without GOGC; an operator's GOGC wins.
func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	t.Setenv("GOGC", "") // restores the original value afterwards
	os.Unsetenv("GOGC")
	TuneGC()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("without GOGC: GC percent %d, want %d", got, GCPercent)
	}

	t.Setenv("GOGC", "100")
	TuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=100: GC percent %d, want 100 (left alone)", got)
	}
}
