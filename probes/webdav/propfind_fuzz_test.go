package webdav

import (
	"strings"
	"testing"
)

// FuzzParseMultistatus: no PROPFIND answer makes the parser panic, and
// what it accepts is well formed (clean paths, sizes -1 or more).
func FuzzParseMultistatus(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/testvo/a%20b/</D:href>` +
		`<D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>` +
		`</D:response><D:response><D:href>https://se.example/testvo/f</D:href><D:propstat><D:prop><D:getcontentlength>42</D:getcontentlength>` +
		`</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`))
	f.Add([]byte(`<D:multistatus xmlns:D="DAV:"><D:response><D:href>/x</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response></D:multistatus>`))
	f.Add([]byte(`<multistatus><response><href>/x</href></response>`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseMultistatus(b)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Size < -1 || strings.HasSuffix(e.Path, "/") && e.Path != "/" {
				t.Fatalf("accepted a malformed entry %+v", e)
			}
		}
	})
}
