package vofeed

import (
	"bytes"
	"os"
	"testing"

	"github.com/gridprobe/gridprobe/internal/vofeed/feedgen"
)

// updateFixtures rewrites the generated fixtures instead of checking them.
const updateFixtures = "GRIDPROBE_UPDATE_FIXTURES"

// TestGeneratedFixtures: testdata/cms-200.xml and cric-200.json are what
// feedgen writes (GRIDPROBE_UPDATE_FIXTURES=1 rewrites them).
func TestGeneratedFixtures(t *testing.T) {
	for _, f := range []struct {
		path string
		data []byte
	}{
		{"testdata/cms-200.xml", feedgen.Feed(200, "cms")},
		{"testdata/cric-200.json", feedgen.CRICSites(200)},
	} {
		if os.Getenv(updateFixtures) == "1" {
			if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s is not what feedgen writes: run %s=1 go test ./internal/vofeed -run TestGeneratedFixtures", f.path, updateFixtures)
		}
	}
}
