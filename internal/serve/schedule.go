package serve

import "time"

// phase is the service's deterministic offset within its interval: rounds
// of a service start at Unix times t with t ≡ phase (mod interval), so the
// services of many sites spread evenly over the interval, and a restart or
// another replica keeps the same slots.
func phase(key string, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	return time.Duration(hash64(key) % uint64(interval))
}

// nextSlot is the first slot of the service strictly after after.
func nextSlot(after time.Time, interval, ph time.Duration) time.Time {
	if interval <= 0 {
		return after
	}
	ns := after.UnixNano()
	base := ns - (ns-int64(ph))%int64(interval)
	if (ns-int64(ph))%int64(interval) < 0 { // before 1970: keep the modulo positive
		base -= int64(interval)
	}
	t := time.Unix(0, base)
	for !t.After(after) {
		t = t.Add(interval)
	}
	return t
}

// firstRun is when a newly scheduled service first runs: within spread of
// now (deterministic per service), so a fresh start has results soon
// instead of after a whole interval.
func firstRun(key string, now time.Time, spread time.Duration) time.Time {
	if spread <= 0 {
		return now
	}
	return now.Add(time.Duration(hash64("first\x00"+key) % uint64(spread)))
}

// nextAfterRun is the next round after one that started at start: the first
// slot at least half an interval later, so an off-slot first round is not
// followed at once by an on-slot one.
func nextAfterRun(start time.Time, interval, ph time.Duration) time.Time {
	return nextSlot(start.Add(interval/2), interval, ph)
}
