package stomptest

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestReadFrame(t *testing.T) {
	in := "\n\nMESSAGE\ndestination:/queue/a\\cb\nx:1\nx:2\ncontent-length:5\n\nhe\x00lo\x00\nERROR\nmessage:bad\n\nno length\x00"
	r := bufio.NewReader(strings.NewReader(in))
	f, err := ReadFrame(r, MaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	if f.Command != "MESSAGE" || f.Header["destination"] != "/queue/a:b" || f.Header["x"] != "1" || string(f.Body) != "he\x00lo" {
		t.Errorf("frame %+v", f)
	}
	f, err = ReadFrame(r, MaxFrame)
	if err != nil || f.Command != "ERROR" || string(f.Body) != "no length" || f.Header["message"] != "bad" {
		t.Errorf("frame %+v, %v", f, err)
	}
	if _, err := ReadFrame(bufio.NewReader(strings.NewReader("MESSAGE\ncontent-length:99\n\nshort\x00")), MaxFrame); err == nil {
		t.Error("short body accepted")
	}
	if _, err := ReadFrame(bufio.NewReader(strings.NewReader("MESSAGE\n\n"+strings.Repeat("x", 100)+"\x00")), 50); err == nil {
		t.Error("frame over the bound accepted")
	}
}

func TestParseMetricOutput(t *testing.T) {
	f, err := ParseMetricOutput("a: 1\nb: x: y\ndetailsData: l1\nl2\n\nl4\nEOT\n")
	if err != nil || f["a"] != "1" || f["b"] != "x: y" || f["detailsData"] != "l1\nl2\n\nl4" {
		t.Errorf("%v %v", f, err)
	}
	for _, bad := range []string{"a: 1\n", "a: 1\na: 2\nEOT\n", "not a field\nEOT\n", "a: 1\nEOT\nmore\n"} {
		if _, err := ParseMetricOutput(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzReadFrame: the frame reader never panics, never returns more than
// its bound, and a frame with a body it accepted has a command.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("MESSAGE\ndestination:/queue/a\ncontent-length:2\n\nhi\x00"))
	f.Add([]byte("\nCONNECTED\nversion:1.2\n\n\x00"))
	f.Add([]byte("ERROR\nmessage:x\\\n\n\x00"))
	f.Add([]byte("MESSAGE\ncontent-length:-1\n\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := ReadFrame(bufio.NewReader(bytes.NewReader(data)), 4096)
		if err != nil {
			return
		}
		if fr.Command == "" || len(fr.Body) > 4096 {
			t.Fatalf("frame %+v", fr)
		}
	})
}

// FuzzParseMetricOutput: the body parser never panics and an accepted
// body has no key twice.
func FuzzParseMetricOutput(f *testing.F) {
	f.Add("a: 1\ndetailsData: x\ny\nEOT\n")
	f.Add("EOT")
	f.Add("detailsData: \nEOT\nEOT\n")
	f.Fuzz(func(t *testing.T, body string) {
		m, err := ParseMetricOutput(body)
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}
