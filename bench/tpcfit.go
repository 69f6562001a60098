package bench

import (
	"sort"
	"time"
)

// TPCFit is the least-squares line through a copy's wall time at several
// sizes: wall = Overhead + size / Bandwidth (bytes per second). The
// intercept is what a copy costs whatever its size (the COPY, the active
// side reaching the passive one, the final line); the slope is the SEs'
// transfer rate.
type TPCFit struct {
	Overhead  time.Duration
	Bandwidth float64 // bytes per second; 0 when the walls do not grow with size
}

// FitWallVsSize fits the line through (size, wall) points, one per size
// (e.g. each size's median). Fewer than two sizes give the zero fit.
func FitWallVsSize(walls map[int64]time.Duration) TPCFit {
	if len(walls) < 2 {
		return TPCFit{}
	}
	sizes := make([]int64, 0, len(walls))
	for s := range walls {
		sizes = append(sizes, s)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	var mx, my float64
	for _, s := range sizes {
		mx, my = mx+float64(s), my+walls[s].Seconds()
	}
	n := float64(len(sizes))
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for _, s := range sizes {
		dx := float64(s) - mx
		sxy += dx * (walls[s].Seconds() - my)
		sxx += dx * dx
	}
	slope := sxy / sxx // seconds per byte
	f := TPCFit{Overhead: time.Duration((my - slope*mx) * float64(time.Second))}
	if slope > 0 {
		f.Bandwidth = 1 / slope
	}
	return f
}
