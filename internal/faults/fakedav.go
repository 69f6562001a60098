package faults

import (
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
)

// MalformedDAV is an in-memory WebDAV server that behaves for GET, HEAD,
// PUT, MKCOL, DELETE and OPTIONS but answers every PROPFIND with 207 and a
// body that is not well-formed XML. It records what is left so a test can
// prove the probe's cleanup still ran.
type MalformedDAV struct {
	mu    sync.Mutex
	files map[string][]byte // path → content
	dirs  map[string]bool
	// Deletes lists every DELETE the server received.
	deletes []string
	// Macaroon, when set, is what a macaroon request (POST with
	// application/macaroon-request) is answered with.
	Macaroon string
	// macaroonUsed is set once a request carried the macaroon.
	macaroonUsed bool
}

// MacaroonUsed reports whether a request presented the macaroon.
func (d *MalformedDAV) MacaroonUsed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.macaroonUsed
}

// NewMalformedDAV returns the server with the given files (and their
// parent directories) in place.
func NewMalformedDAV(files map[string][]byte) *MalformedDAV {
	d := &MalformedDAV{files: map[string][]byte{}, dirs: map[string]bool{"/": true}}
	for p, b := range files {
		d.files[p] = b
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			d.dirs[dir] = true
		}
	}
	return d
}

// MkdirAll adds a directory.
func (d *MalformedDAV) MkdirAll(p string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ; p != "/"; p = path.Dir(p) {
		d.dirs[p] = true
	}
}

// Under lists every file and directory strictly below dir.
func (d *MalformedDAV) Under(dir string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for p := range d.files {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	for p := range d.dirs {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p+"/")
		}
	}
	sort.Strings(out)
	return out
}

// Deletes returns the paths DELETE was asked for.
func (d *MalformedDAV) Deletes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.deletes...)
}

// malformedMultistatus is cut off in the middle of an element and has an
// unclosed tag: no XML parser can accept it.
const malformedMultistatus = `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>/x</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resource`

func (d *MalformedDAV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := path.Clean(r.URL.Path)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Macaroon != "" && r.Header.Get("Authorization") == "Bearer "+d.Macaroon {
		d.macaroonUsed = true
	}
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("DAV", "1,2")
		w.Header().Set("Allow", "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, PROPFIND")
		w.WriteHeader(http.StatusOK)
	case "PROPFIND":
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(http.StatusMultiStatus)
		io.WriteString(w, malformedMultistatus)
	case http.MethodGet, http.MethodHead:
		b, ok := d.files[p]
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	case http.MethodPut:
		if !d.dirs[path.Dir(p)] {
			http.Error(w, "parent missing", http.StatusConflict)
			return
		}
		d.files[p] = body
		w.WriteHeader(http.StatusOK)
	case "MKCOL":
		if d.dirs[p] {
			http.Error(w, "exists", http.StatusMethodNotAllowed)
			return
		}
		if !d.dirs[path.Dir(p)] {
			http.Error(w, "parent missing", http.StatusConflict)
			return
		}
		d.dirs[p] = true
		w.WriteHeader(http.StatusCreated)
	case http.MethodDelete:
		d.deletes = append(d.deletes, p)
		found := false
		if _, ok := d.files[p]; ok {
			delete(d.files, p)
			found = true
		}
		if d.dirs[p] {
			for f := range d.files {
				if strings.HasPrefix(f, p+"/") {
					delete(d.files, f)
				}
			}
			for x := range d.dirs {
				if x == p || strings.HasPrefix(x, p+"/") {
					delete(d.dirs, x)
				}
			}
			found = true
		}
		if !found {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodPost:
		if d.Macaroon == "" || r.Header.Get("Content-Type") != "application/macaroon-request" {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"macaroon": %q, "expires_in": 600}`, d.Macaroon)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}
