package faults

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"time"
)

// TPCFault is how FakeTPC answers a third-party COPY.
type TPCFault int

// The COPY faults of the fault table.
const (
	// TPCHang accepts the COPY and never answers it.
	TPCHang TPCFault = iota + 1
	// TPCCut answers 201 and one performance marker, then drops the
	// connection in the middle of the stream.
	TPCCut
	// TPCNoFinal answers 201 and sends markers for ever, never a final
	// line.
	TPCNoFinal
	// TPCGarbage answers 201 and a stream that is not performance markers.
	TPCGarbage
)

// FakeTPC is an in-memory WebDAV storage element (well-formed PROPFIND,
// the rest as MalformedDAV) whose HTTP-TPC COPY misbehaves as its fault
// says. Like XRootD 5.5.3, a pull first creates an empty destination
// file, so the probe's cleanup of a failed copy is tested too. It checks
// no credential: it serves its files to any token (which 21tkn-tpc-access
// reports).
type FakeTPC struct {
	*MalformedDAV
	Fault TPCFault
	// Tick is the interval between markers (TPCNoFinal).
	Tick time.Duration
}

// NewFakeTPC returns the server with the given files.
func NewFakeTPC(fault TPCFault, files map[string][]byte) *FakeTPC {
	return &FakeTPC{MalformedDAV: NewMalformedDAV(files), Fault: fault, Tick: 200 * time.Millisecond}
}

func (f *FakeTPC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case "PROPFIND":
		f.propfind(w, r)
	case "COPY":
		f.copy(w, r)
	default:
		f.MalformedDAV.ServeHTTP(w, r)
	}
}

// multistatus is a minimal RFC 4918 answer.
type multistatus struct {
	XMLName   xml.Name     `xml:"D:multistatus"`
	NS        string       `xml:"xmlns:D,attr"`
	Responses []msResponse `xml:"D:response"`
}

type msResponse struct {
	Href     string `xml:"D:href"`
	Propstat struct {
		Prop struct {
			ResourceType struct {
				Collection *struct{} `xml:"D:collection"`
			} `xml:"D:resourcetype"`
			Length *int `xml:"D:getcontentlength,omitempty"`
		} `xml:"D:prop"`
		Status string `xml:"D:status"`
	} `xml:"D:propstat"`
}

func (f *FakeTPC) propfind(w http.ResponseWriter, r *http.Request) {
	p := path.Clean(r.URL.Path)
	d := f.MalformedDAV
	d.mu.Lock()
	defer d.mu.Unlock()
	_, isFile := d.files[p]
	if !isFile && !d.dirs[p] {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	entries := []string{p}
	if d.dirs[p] && r.Header.Get("Depth") == "1" {
		for q := range d.files {
			if path.Dir(q) == p {
				entries = append(entries, q)
			}
		}
		for q := range d.dirs {
			if q != p && path.Dir(q) == p {
				entries = append(entries, q)
			}
		}
		sort.Strings(entries[1:])
	}
	ms := multistatus{NS: "DAV:"}
	for _, q := range entries {
		var resp msResponse
		resp.Href = (&url.URL{Path: q}).EscapedPath()
		resp.Propstat.Status = "HTTP/1.1 200 OK"
		if b, ok := d.files[q]; ok {
			n := len(b)
			resp.Propstat.Prop.Length = &n
		} else {
			resp.Propstat.Prop.ResourceType.Collection = &struct{}{}
		}
		ms.Responses = append(ms.Responses, resp)
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	fmt.Fprint(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(ms)
}

// marker is one XRootD-style performance marker.
func marker(bytes int) string {
	return fmt.Sprintf("Perf Marker\nTimestamp: %d\nStripe Index: 0\nStripe Bytes Transferred: %d\nTotal Stripe Count: 1\nEnd\n", time.Now().Unix(), bytes)
}

// copy answers a COPY with the fault.
func (f *FakeTPC) copy(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Source") != "" { // a pull: a new destination file appears at once (5.5.3)
		d := f.MalformedDAV
		d.mu.Lock()
		p := path.Clean(r.URL.Path)
		if _, exists := d.files[p]; !exists && d.dirs[path.Dir(p)] {
			d.files[p] = nil
		}
		d.mu.Unlock()
	}
	if f.Fault == TPCHang {
		// Never answer, until the client gives up and closes. Returning
		// when the request's context ends would let the server send
		// "200 OK" if the connection were still open (seen once in a
		// loaded 100-site round: the check read a 200 without a final
		// line instead of no answer).
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			<-r.Context().Done()
			panic(http.ErrAbortHandler)
		}
		defer conn.Close()
		_, _ = io.Copy(io.Discard, conn)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusCreated)
	flush := func() { _ = http.NewResponseController(w).Flush() }
	switch f.Fault {
	case TPCCut:
		fmt.Fprint(w, marker(65536))
		flush()
		panic(http.ErrAbortHandler) // the connection is closed mid-stream, no final chunk
	case TPCGarbage:
		fmt.Fprint(w, "Perf Marker\nStripe Bytes Transferred: lots\n\x00\x01\x02 not a marker\nEnd\n")
		flush()
		<-r.Context().Done()
	case TPCNoFinal:
		for n := 0; ; n += 4096 {
			fmt.Fprint(w, marker(n))
			flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(f.Tick):
			}
		}
	}
}

// Under lists what is left below dir (files and directories).
func (f *FakeTPC) Under(dir string) []string { return f.MalformedDAV.Under(dir) }

// fakeSiteFiles are a fake site's files: the reference file, another VO's.
func fakeSiteFiles(ref []byte) map[string][]byte {
	return map[string][]byte{"/testvo/reference.dat": ref, "/othervo/reference.dat": []byte("other")}
}
