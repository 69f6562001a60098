package vofeed

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Bounds on one feed, so a hostile or broken source costs little. The
// largest VO feeds list a few hundred sites.
const (
	maxSites         = 20_000
	maxSiteChildren  = 2_000 // services + groups of one atp_site
	maxServiceChilds = 200   // se_resource + ce_resource of one service
	maxAttr          = 1024  // bytes of one attribute value or text
	maxDepth         = 32
)

// ParseXML reads an ETF VO feed. A document that is malformed, truncated or
// not a VO feed is an *Error naming the element where reading stopped; an
// entry that cannot be used (no hostname, no flavour, an atp_site without a
// name, a value with control characters) is left out and reported as a
// Problem. Unknown elements and attributes are ignored, as ETF does.
func ParseXML(source string, r io.Reader) (*Feed, []Problem, error) {
	d := xml.NewDecoder(r)
	d.Strict = true
	d.CharsetReader = charsetReader
	p := &xmlParser{src: source, d: d, feed: &Feed{Source: source}}
	if err := p.run(); err != nil {
		return nil, p.problems, err
	}
	return p.feed, p.problems, nil
}

type xmlFrame struct {
	name, path string
	line, col  int
	counts     []nameCount // children so far, by element name (few names: a slice)
	children   int
	text       *strings.Builder // collected for <vo> and <last_update>
}

type xmlParser struct {
	src      string
	d        *xml.Decoder
	stack    []*xmlFrame
	feed     *Feed
	site     *Site
	svc      *Service
	problems []Problem
	done     bool // </root> seen
}

func (p *xmlParser) run() error {
	for {
		line, col := p.d.InputPos()
		tok, err := p.d.Token()
		if err != nil {
			return p.readError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := p.start(t, line, col); err != nil {
				return err
			}
		case xml.EndElement:
			p.end()
		case xml.CharData:
			if n := len(p.stack); n > 0 && p.stack[n-1].text != nil && p.stack[n-1].text.Len() < maxAttr {
				p.stack[n-1].text.Write(t)
			}
		case xml.Directive:
			if bytes.HasPrefix(bytes.TrimSpace(t), []byte("DOCTYPE")) {
				return p.errorf(line, col, "a DOCTYPE is not allowed in a VO feed")
			}
		}
	}
}

// readError turns the decoder's error into an *Error at the open element.
func (p *xmlParser) readError(err error) error {
	line, col := p.d.InputPos()
	var se *xml.SyntaxError
	switch {
	case errors.Is(err, io.EOF) && p.done:
		return nil
	case errors.Is(err, io.EOF) && len(p.stack) == 0 && p.feed.VO == "" && len(p.feed.Sites) == 0:
		return p.errorf(line, col, "empty document: no <root> element (is this a VO feed?)")
	case errors.Is(err, io.EOF), errors.As(err, &se) && strings.Contains(se.Msg, "unexpected EOF"):
		if n := len(p.stack); n > 0 {
			f := p.stack[n-1]
			return p.errorf(line, col, "truncated: <%s> (line %d) is not closed", f.name, f.line)
		}
		return p.errorf(line, col, "truncated document")
	case errors.As(err, &se):
		return p.errorf(se.Line, 0, "malformed XML: %s", se.Msg)
	}
	return p.errorf(line, col, "reading XML: %v", err)
}

type nameCount struct {
	name string
	n    int
}

// child counts one more child element called name and returns its index.
func (f *xmlFrame) child(name string) int {
	f.children++
	for i := range f.counts {
		if f.counts[i].name == name {
			f.counts[i].n++
			return f.counts[i].n
		}
	}
	f.counts = append(f.counts, nameCount{name, 1})
	return 1
}

func (p *xmlParser) errorf(line, col int, format string, args ...any) error {
	return &Error{Pos: Pos{Source: p.src, Path: p.path(), Line: line, Col: col}, Msg: fmt.Sprintf(format, args...)}
}

func (p *xmlParser) path() string {
	if n := len(p.stack); n > 0 {
		return p.stack[n-1].path
	}
	return ""
}

func (p *xmlParser) problem(pos Pos, format string, args ...any) {
	p.problems = append(p.problems, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (p *xmlParser) start(t xml.StartElement, line, col int) error {
	name := t.Name.Local
	depth := len(p.stack)
	f := &xmlFrame{name: name, line: line, col: col}
	switch {
	case depth == 0 && p.done:
		return p.errorf(line, col, "<%s> after </root>: one feed per document", name)
	case depth == 0 && name != "root":
		return p.errorf(line, col, "the document element is <%s>, not <root>: not an ETF VO feed", name)
	case depth == 0:
		f.path = "/root"
	case depth >= maxDepth:
		return p.errorf(line, col, "elements nested more than %d deep", maxDepth)
	default:
		parent := p.stack[depth-1]
		f.path = parent.path + "/" + name + "[" + strconv.Itoa(parent.child(name)) + "]"
	}
	p.stack = append(p.stack, f)
	pos := Pos{Source: p.src, Path: f.path, Line: line, Col: col}
	switch {
	case depth == 1 && (name == "vo" || name == "last_update"):
		f.text = &strings.Builder{}
	case depth == 1 && name == "atp_site":
		if len(p.feed.Sites) >= maxSites {
			return p.errorf(line, col, "more than %d atp_site elements", maxSites)
		}
		p.site = &Site{Name: p.attr(t, "name", pos), Where: pos}
	case depth == 2 && p.site != nil && p.stack[1].children > maxSiteChildren:
		return p.errorf(line, col, "atp_site has more than %d services and groups", maxSiteChildren)
	case depth == 2 && p.site != nil && name == "service":
		p.svc = p.service(t, pos)
	case depth == 2 && p.site != nil && name == "group":
		g := Group{Name: p.attr(t, "name", pos), Type: p.attr(t, "type", pos)}
		if g.Name != "" || g.Type != "" {
			p.site.Groups = append(p.site.Groups, g)
		}
	case depth == 3 && p.svc != nil && p.stack[2].children > maxServiceChilds:
		return p.errorf(line, col, "service has more than %d resources", maxServiceChilds)
	case depth == 3 && p.svc != nil && name == "se_resource":
		if path := p.attr(t, "path", pos); path != "" {
			p.svc.Paths = append(p.svc.Paths, SEPath{ID: p.attr(t, "id", pos), Path: path})
		}
	case depth == 3 && p.svc != nil && name == "ce_resource":
		q := CEQueue{Queue: p.attr(t, "queue", pos), BatchSystem: p.attr(t, "batch_system", pos)}
		if q != (CEQueue{}) {
			p.svc.Queues = append(p.svc.Queues, q)
		}
	}
	return nil
}

func (p *xmlParser) service(t xml.StartElement, pos Pos) *Service {
	s := &Service{
		Host:       strings.ToLower(p.attr(t, "hostname", pos)),
		Flavour:    p.attr(t, "flavour", pos),
		Endpoint:   p.attr(t, "endpoint", pos),
		Production: true,
		Where:      pos,
	}
	switch ps := strings.ToLower(p.attr(t, "production_status", pos)); ps {
	case "", "true":
	case "false":
		s.Production = false
	default:
		p.problem(pos, "production_status %q is neither true nor false; taken as production (as ETF does)", ps)
	}
	return s
}

// attr returns the attribute's value, trimmed; "" (after reporting) when it
// is too long or holds control characters.
func (p *xmlParser) attr(t xml.StartElement, name string, pos Pos) string {
	for _, a := range t.Attr {
		if a.Name.Local != name {
			continue
		}
		v := strings.TrimSpace(a.Value)
		switch {
		case len(v) > maxAttr:
			p.problem(pos, "attribute %s: longer than %d bytes; ignored", name, maxAttr)
			return ""
		case strings.ContainsFunc(v, unicode.IsControl):
			p.problem(pos, "attribute %s: contains a control character; ignored", name)
			return ""
		}
		return v
	}
	return ""
}

func (p *xmlParser) end() {
	n := len(p.stack)
	f := p.stack[n-1]
	p.stack = p.stack[:n-1]
	pos := Pos{Source: p.src, Path: f.path, Line: f.line, Col: f.col}
	switch {
	case n == 1:
		p.done = true
	case n == 2 && f.name == "vo":
		p.feed.VO = strings.TrimSpace(f.text.String())
	case n == 2 && f.name == "last_update":
		s := strings.TrimSpace(f.text.String())
		if t, err := time.Parse("2006-01-02T15:04:05Z", s); err == nil {
			p.feed.LastUpdate = t
		} else if s != "" {
			p.problem(pos, "last_update %q is not YYYY-MM-DDThh:mm:ssZ; ignored", truncate(s, 40))
		}
	case n == 2 && f.name == "atp_site" && p.site != nil:
		p.endSite()
	case n == 3 && f.name == "service" && p.svc != nil:
		p.endService()
	}
}

func (p *xmlParser) endSite() {
	s := p.site
	p.site = nil
	if s.Name == "" {
		p.problem(s.Where, "atp_site without a name: left out (%d services)", len(s.Services))
		return
	}
	p.feed.Sites = append(p.feed.Sites, *s)
}

func (p *xmlParser) endService() {
	s := p.svc
	p.svc = nil
	switch {
	case s.Host == "" && s.Endpoint == "":
		p.problem(s.Where, "service without hostname or endpoint: nothing to probe; left out")
		return
	case s.Flavour == "":
		p.problem(s.Where, "service %s without a flavour: left out", s.Host)
		return
	case s.Host == "":
		s.Host = strings.ToLower(hostOf(s.Endpoint))
	}
	p.site.Services = append(p.site.Services, *s)
}

// charsetReader accepts the encodings a feed may declare besides UTF-8:
// ASCII and Latin-1 (converted to UTF-8).
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1":
		return &latin1Reader{r: in}, nil
	}
	return nil, fmt.Errorf("encoding %q is not supported (UTF-8, ASCII or ISO-8859-1)", label)
}

type latin1Reader struct {
	r   io.Reader
	buf []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	if len(p) < 2 {
		return 0, io.ErrShortBuffer
	}
	if cap(l.buf) < len(p)/2 {
		l.buf = make([]byte, len(p)/2)
	}
	n, err := l.r.Read(l.buf[:len(p)/2])
	out := 0
	for _, b := range l.buf[:n] {
		if b < 0x80 {
			p[out] = b
			out++
		} else {
			p[out], p[out+1] = 0xC0|b>>6, 0x80|b&0x3F
			out += 2
		}
	}
	return out, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
