package bench

import (
	"testing"
	"time"
)

func TestTPCFitRecoversOverheadAndBandwidth(t *testing.T) {
	const overhead, bw = 30 * time.Millisecond, 200e6 // 200 MB/s
	var r TPCResult
	for _, size := range []int64{1 << 20, 16 << 20, 64 << 20} {
		base := overhead + time.Duration(float64(size)/bw*float64(time.Second))
		// the median of each size is base; the others are outliers
		for _, d := range []time.Duration{base + time.Second, base, base - time.Millisecond} {
			r.Copies = append(r.Copies, TPCCopy{Size: size, Duration: d})
		}
	}
	f := r.Fit()
	if d := f.Overhead - overhead; d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("overhead %v, want %v", f.Overhead, overhead)
	}
	if f.Bandwidth < bw*0.999 || f.Bandwidth > bw*1.001 {
		t.Errorf("bandwidth %.0f, want %.0f", f.Bandwidth, bw)
	}
	if s := f.Sizes(); len(s) != 3 || s[0] != 1<<20 || s[2] != 64<<20 {
		t.Errorf("sizes %v", s)
	}
}
