package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gridprobe/gridprobe/internal/vofeed/feedgen"
)

// TestImportValidatePlan: the P5 pipeline imports every site of a feed and
// plans their services' checks.
func TestImportValidatePlan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feed.xml")
	if err := os.WriteFile(path, feedgen.Feed(60, "cms"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ImportValidatePlan(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sites != 60 || r.Services < 120 || r.Checks < 8*r.Services/2 || r.WallNS <= 0 {
		t.Errorf("%+v", r)
	}
}
