package config

import (
	"strconv"
	"strings"
	"time"
)

// parseDuration is time.ParseDuration plus a "d" unit of 24h ("14d",
// "1d12h", "1.5d"). Each "<number>d" component is rewritten to hours and the
// rest is left to the standard library, which sums repeated units.
func parseDuration(s string) (time.Duration, bool) {
	if !strings.Contains(s, "d") {
		d, err := time.ParseDuration(s)
		return d, err == nil
	}
	var b strings.Builder
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		b.WriteByte(s[i])
		i++
	}
	for i < len(s) {
		j := i
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		if j == i {
			return 0, false
		}
		k := j
		for k < len(s) && !(s[k] >= '0' && s[k] <= '9' || s[k] == '.') {
			k++
		}
		num, unit := s[i:j], s[j:k]
		if unit == "d" {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f*24 > float64(1<<63-1)/float64(time.Hour) {
				return 0, false
			}
			num, unit = strconv.FormatFloat(f*24, 'f', -1, 64), "h"
		}
		b.WriteString(num)
		b.WriteString(unit)
		i = k
	}
	d, err := time.ParseDuration(b.String())
	return d, err == nil
}
