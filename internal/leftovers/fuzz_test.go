package leftovers

import (
	"path"
	"strings"
	"testing"
)

// FuzzParseListing: no input panics, and every entry returned is a plain
// child name of the listed directory (so removeTree never gets "..").
func FuzzParseListing(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/vo/wd/</D:href></D:response><D:response><D:href>/vo/wd/gp-20261124T001500Z-1f2e3d4c5b6a/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop></D:propstat></D:response></D:multistatus>`))
	f.Add([]byte(`<D:multistatus xmlns:D="DAV:"><D:response><D:href>https://h:1/vo/wd/%2e%2e</D:href></D:response></D:multistatus>`))
	f.Add([]byte(`<D:multistatus xmlns:D="DAV:"><D:response><D:href>/vo/wd/../x</D:href></D:response>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ents, err := parseListing("/vo/wd", b)
		if err != nil {
			return
		}
		for _, e := range ents {
			if e.Name == "" || e.Name == "." || e.Name == ".." || strings.Contains(e.Name, "/") || path.Join("/vo/wd", e.Name) != "/vo/wd/"+e.Name {
				t.Fatalf("entry %q escapes the listed directory", e.Name)
			}
		}
	})
}
