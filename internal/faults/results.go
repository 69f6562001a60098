package faults

import (
	"sort"

	"github.com/gridprobe/gridprobe/internal/engine"
)

func sortedChecks(m map[string]engine.Result) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return checkNum(ids[i]) < checkNum(ids[j]) })
	return ids
}

// checkNum is the ETF number at the start of a check id.
func checkNum(id string) int {
	n := 0
	for _, c := range id {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
