package leftovers

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// WebDAV is a Store over HTTP PROPFIND (Depth: 1) and DELETE.
type WebDAV struct {
	Base   *url.URL     // https://host:port
	Client *http.Client // carries the TLS identity (proxy) and CA pool
	// Authorize, when set, decorates each request (e.g. a bearer token).
	Authorize func(*http.Request)
}

// NewWebDAV returns a WebDAV store for the endpoint base URL.
func NewWebDAV(base string, c *http.Client) (*WebDAV, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("leftovers: bad WebDAV URL %q", base)
	}
	return &WebDAV{Base: u, Client: c}, nil
}

func (w *WebDAV) urlOf(p string) string {
	u := *w.Base
	u.Path = p
	return u.String()
}

func (w *WebDAV) do(ctx context.Context, method, p string, hdr map[string]string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, w.urlOf(p), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if w.Authorize != nil {
		w.Authorize(req)
	}
	resp, err := w.Client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: reading the answer: %w", method, p, err)
	}
	return resp.StatusCode, b, nil
}

type multistatus struct {
	Responses []struct {
		Href         string `xml:"DAV: href"`
		ResourceType struct {
			Collection *struct{} `xml:"DAV: collection"`
		} `xml:"DAV: propstat>prop>resourcetype"`
	} `xml:"DAV: response"`
}

// List implements Store with PROPFIND Depth: 1.
func (w *WebDAV) List(ctx context.Context, dir string) ([]Entry, error) {
	code, body, err := w.do(ctx, "PROPFIND", strings.TrimSuffix(dir, "/")+"/", map[string]string{"Depth": "1", "Content-Type": "application/xml"},
		[]byte(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>`))
	if err != nil {
		return nil, err
	}
	if code != http.StatusMultiStatus {
		return nil, fmt.Errorf("PROPFIND %s: HTTP %d", dir, code)
	}
	return parseListing(dir, body)
}

// parseListing decodes a Depth: 1 multistatus into the children of dir.
// An entry that is not a direct child is an error, not skipped: a listing
// that lies is not trusted for deleting.
func parseListing(dir string, body []byte) ([]Entry, error) {
	var ms multistatus
	if err := xml.Unmarshal(body, &ms); err != nil {
		return nil, fmt.Errorf("PROPFIND %s: malformed multistatus: %w", dir, err)
	}
	self := path.Clean(dir)
	var out []Entry
	for _, r := range ms.Responses {
		h := r.Href
		if u, err := url.Parse(h); err == nil {
			h = u.Path // absolute hrefs, and percent-decoding
		}
		h = path.Clean(h)
		if h == self {
			continue
		}
		if path.Dir(h) != self {
			return nil, fmt.Errorf("PROPFIND %s: entry %q is not a child", dir, h)
		}
		out = append(out, Entry{Name: path.Base(h), IsDir: r.ResourceType.Collection != nil})
	}
	return out, nil
}

// Remove implements Store with DELETE (a missing object counts as removed).
func (w *WebDAV) Remove(ctx context.Context, p string, isDir bool) error {
	code, body, err := w.do(ctx, http.MethodDelete, p, nil, nil)
	if err != nil {
		return err
	}
	switch code {
	case http.StatusOK, http.StatusNoContent, http.StatusNotFound:
		return nil
	}
	return fmt.Errorf("DELETE %s: HTTP %d: %s", p, code, strings.TrimSpace(string(body[:min(len(body), 200)])))
}
