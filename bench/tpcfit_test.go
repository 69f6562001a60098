package bench

import (
	"testing"
	"time"
)

func TestFitWallVsSizeRecoversOverheadAndBandwidth(t *testing.T) {
	const overhead, bw = 30 * time.Millisecond, 200e6 // 200 MB/s
	walls := map[int64]time.Duration{}
	for _, size := range []int64{1 << 20, 16 << 20, 128 << 20} {
		walls[size] = overhead + time.Duration(float64(size)/bw*float64(time.Second))
	}
	f := FitWallVsSize(walls)
	if d := f.Overhead - overhead; d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("overhead %v, want %v", f.Overhead, overhead)
	}
	if f.Bandwidth < bw*0.999 || f.Bandwidth > bw*1.001 {
		t.Errorf("bandwidth %.0f, want %.0f", f.Bandwidth, bw)
	}
	if z := FitWallVsSize(map[int64]time.Duration{1: time.Second}); z != (TPCFit{}) {
		t.Errorf("one size: %+v", z)
	}
}
