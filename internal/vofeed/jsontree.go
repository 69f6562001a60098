package vofeed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// jnode is one JSON value with its position: the tree the CRIC reader
// walks. Objects keep their keys in document order.
type jnode struct {
	kind  byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	str   string
	keys  []string
	vals  []*jnode
	items []*jnode
	path  string
	off   int64 // offset of the value's first byte
}

func (n *jnode) field(key string) *jnode {
	if n == nil || n.kind != 'o' {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

func kindName(n *jnode) string {
	switch n.kind {
	case 'o':
		return "an object"
	case 'a':
		return "a list"
	case 's':
		return fmt.Sprintf("the string %q", truncate(n.str, 40))
	case 'n':
		return "the number " + truncate(n.str, 20)
	case 'b':
		return n.str
	}
	return "null"
}

const maxJSONDepth = 32

// jsonKey is the path step for key: .key, or ["key"] when key is not a
// plain word.
func jsonKey(key string) string {
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "[" + strconv.Quote(key) + "]"
		}
	}
	if key == "" {
		return `[""]`
	}
	return "." + key
}

// jsonReader builds the tree from encoding/json's token stream, keeping
// each value's JSON path so that a syntax error or a truncated document is
// reported where it happened.
type jsonReader struct {
	src   string
	data  []byte
	dec   *json.Decoder
	lines lineIndex
}

// parseJSON reads one JSON document into a tree.
func parseJSON(src string, data []byte) (*jnode, error) {
	r := &jsonReader{src: src, data: data, dec: json.NewDecoder(bytes.NewReader(data)), lines: newLineIndex(data)}
	r.dec.UseNumber()
	root, err := r.value("$", 0)
	if err != nil {
		return nil, err
	}
	off := r.skipSpace(r.dec.InputOffset())
	if _, err := r.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, r.errorf("$", off, "more than one JSON value in the document")
	}
	return root, nil
}

func (r *jsonReader) errorf(path string, off int64, format string, args ...any) *Error {
	line, col := r.lines.lineCol(min(off, int64(len(r.data))))
	return &Error{Pos: Pos{Source: r.src, Path: path, Line: line, Col: col}, Msg: fmt.Sprintf(format, args...)}
}

func (r *jsonReader) tokenError(path string, err error) *Error {
	off := r.dec.InputOffset()
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return r.errorf(path, int64(len(r.data)), "truncated: the document ends inside this value")
	case errors.As(err, &se):
		return r.errorf(path, se.Offset, "malformed JSON: %s", se.Error())
	}
	return r.errorf(path, off, "reading JSON: %v", err)
}

func (r *jsonReader) value(path string, depth int) (*jnode, error) {
	off := r.dec.InputOffset()
	tok, err := r.dec.Token()
	if err != nil {
		return nil, r.tokenError(path, err)
	}
	off = r.skipSpace(off)
	n := &jnode{path: path, off: off}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxJSONDepth {
			return nil, r.errorf(path, off, "nested more than %d deep", maxJSONDepth)
		}
		if t == '{' {
			return n, r.object(n, depth)
		}
		return n, r.array(n, depth)
	case string:
		n.kind, n.str = 's', t
	case json.Number:
		n.kind, n.str = 'n', t.String()
	case bool:
		n.kind, n.str = 'b', strconv.FormatBool(t)
	case nil:
		n.kind = 'z'
	}
	return n, nil
}

func (r *jsonReader) object(n *jnode, depth int) error {
	n.kind = 'o'
	seen := map[string]bool{}
	for r.dec.More() {
		off := r.skipSpace(r.dec.InputOffset())
		tok, err := r.dec.Token()
		if err != nil {
			return r.tokenError(n.path, err)
		}
		key, _ := tok.(string)
		path := n.path + jsonKey(key)
		if seen[key] {
			return r.errorf(path, off, "duplicate key %q in one object", truncate(key, 60))
		}
		seen[key] = true
		v, err := r.value(path, depth+1)
		if err != nil {
			return err
		}
		n.keys, n.vals = append(n.keys, key), append(n.vals, v)
	}
	if _, err := r.dec.Token(); err != nil {
		return r.tokenError(n.path, err)
	}
	return nil
}

func (r *jsonReader) array(n *jnode, depth int) error {
	n.kind = 'a'
	for i := 0; r.dec.More(); i++ {
		v, err := r.value(n.path+"["+strconv.Itoa(i)+"]", depth+1)
		if err != nil {
			return err
		}
		n.items = append(n.items, v)
	}
	if _, err := r.dec.Token(); err != nil {
		return r.tokenError(n.path, err)
	}
	return nil
}

// skipSpace moves off past whitespace and a separating , or :, to the
// value's first byte.
func (r *jsonReader) skipSpace(off int64) int64 {
	for off < int64(len(r.data)) && strings.IndexByte(" \t\r\n,:", r.data[off]) >= 0 {
		off++
	}
	return off
}

// lineIndex finds the line and column of a byte offset: the offsets of
// the line starts, searched (positions are asked for every entry, so a
// scan from the start each time would make large documents quadratic).
type lineIndex []int

func newLineIndex(data []byte) lineIndex {
	idx := lineIndex{0}
	for i, b := range data {
		if b == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

// lineCol converts a byte offset into a 1-based line and column.
func (idx lineIndex) lineCol(off int64) (line, col int) {
	o := int(max(off, 0))
	i := sort.SearchInts(idx, o+1) - 1 // the last line start <= o
	return i + 1, o - idx[i] + 1
}
