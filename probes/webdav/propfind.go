package webdav

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// entry is one resource of a PROPFIND answer.
type entry struct {
	Path   string // unescaped, without trailing slash
	IsDir  bool
	Size   int64 // -1 when not given
	Status int   // of the propstat that carried the properties
}

const propfindBody = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/></D:prop></D:propfind>`

// propfind sends PROPFIND with the given depth ("0" or "1") and parses the
// 207 multistatus strictly.
func (c *client) propfind(ctx context.Context, p string, tok *cred.Token, depth string) ([]entry, error) {
	_, body, err := c.call(ctx, "PROPFIND", p, tok,
		map[string]string{"Depth": depth, "Content-Type": `application/xml; charset="utf-8"`},
		[]byte(propfindBody), http.StatusMultiStatus)
	if err != nil {
		return nil, err
	}
	entries, err := parseMultistatus(body)
	if err != nil {
		return nil, fmt.Errorf("PROPFIND %s answered 207 with a malformed multistatus: %w", p, err)
	}
	return entries, nil
}

type msResponse struct {
	Href     []string     `xml:"DAV: href"`
	Status   string       `xml:"DAV: status"`
	Propstat []msPropstat `xml:"DAV: propstat"`
}

type msPropstat struct {
	Status string `xml:"DAV: status"`
	Prop   struct {
		ResourceType *struct {
			Collection *struct{} `xml:"DAV: collection"`
		} `xml:"DAV: resourcetype"`
		ContentLength *string `xml:"DAV: getcontentlength"`
	} `xml:"DAV: prop"`
}

// parseMultistatus decodes a RFC 4918 multistatus document. Unlike a lenient
// parser, any XML error, a wrong root element, a response without exactly
// one href or a propstat without a parsable status is an error: a listing
// the probe cannot read is not an empty listing.
func parseMultistatus(b []byte) ([]entry, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var root *xml.StartElement
	var out []entry
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == nil {
			if se.Name.Space != "DAV:" || se.Name.Local != "multistatus" {
				return nil, fmt.Errorf("root element is %s, want DAV: multistatus", se.Name.Local)
			}
			r := se
			root = &r
			continue
		}
		if se.Name.Space != "DAV:" || se.Name.Local != "response" {
			if err := d.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		var r msResponse
		if err := d.DecodeElement(&r, &se); err != nil {
			return nil, err
		}
		e, err := r.entry()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if root == nil {
		return nil, fmt.Errorf("no multistatus element")
	}
	return out, nil
}

func (r msResponse) entry() (entry, error) {
	if len(r.Href) != 1 {
		return entry{}, fmt.Errorf("a response has %d href elements, want 1", len(r.Href))
	}
	href := strings.TrimSpace(r.Href[0])
	if u, err := url.Parse(href); err == nil && u.Path != "" {
		href = u.Path // absolute URL or escaped path → path
	} else if err != nil {
		return entry{}, fmt.Errorf("bad href %q: %w", href, err)
	}
	e := entry{Path: cleanHref(href), Size: -1}
	if len(r.Propstat) == 0 {
		code, err := parseStatusLine(r.Status)
		if err != nil {
			return entry{}, fmt.Errorf("response for %s: %w", e.Path, err)
		}
		e.Status = code
		return e, nil
	}
	for _, ps := range r.Propstat {
		code, err := parseStatusLine(ps.Status)
		if err != nil {
			return entry{}, fmt.Errorf("propstat of %s: %w", e.Path, err)
		}
		if code != http.StatusOK {
			if e.Status == 0 {
				e.Status = code
			}
			continue
		}
		e.Status = code
		if ps.Prop.ResourceType != nil && ps.Prop.ResourceType.Collection != nil {
			e.IsDir = true
		}
		if ps.Prop.ContentLength != nil {
			n, err := strconv.ParseInt(strings.TrimSpace(*ps.Prop.ContentLength), 10, 64)
			if err != nil || n < 0 {
				return entry{}, fmt.Errorf("getcontentlength of %s is %q", e.Path, *ps.Prop.ContentLength)
			}
			e.Size = n
		}
	}
	return e, nil
}

func cleanHref(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	return path.Clean(p)
}

// parseStatusLine reads "HTTP/1.1 200 OK".
func parseStatusLine(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return 0, fmt.Errorf("bad status line %q", s)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 100 || code > 599 {
		return 0, fmt.Errorf("bad status line %q", s)
	}
	return code, nil
}

// find returns the entry for p.
func find(entries []entry, p string) (entry, bool) {
	p = cleanHref(p)
	for _, e := range entries {
		if e.Path == p {
			return e, true
		}
	}
	return entry{}, false
}
