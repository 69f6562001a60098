package serve

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard selects the sites one replica schedules: site s belongs to shard
// Index of Count when fnv32a(s) mod Count == Index. The zero value (and
// Count 1) owns every site.
type Shard struct {
	Index, Count int
}

// ParseShard parses "i/n" with 0 ≤ i < n (an empty string is all sites).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: want i/n with 0 <= i < n, e.g. 0/3", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// Owns reports whether the shard schedules the site. The hash is FNV-1a of
// the site name: stable across restarts, versions and replicas.
func (sh Shard) Owns(site string) bool {
	if sh.Count <= 1 {
		return true
	}
	return int(hash32(site)%uint32(sh.Count)) == sh.Index
}

func (sh Shard) String() string {
	if sh.Count <= 1 {
		return "all sites"
	}
	return fmt.Sprintf("shard %d/%d", sh.Index, sh.Count)
}

func hash32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
