package wnline

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

func sample(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, l := range []Line{
		{Check: Basic, Credential: engine.CredNone, State: engine.OK, Detail: "Debian GNU/Linux 13, 2 CPUs", Start: start},
		{Check: TknRead, Credential: engine.CredToken, State: engine.Critical, Detail: "webdav: 403\nForbidden",
			Reproduce: []string{"curl -H \"Authorization: Bearer $(cat \"$BEARER_TOKEN_FILE\")\" https://se/f"},
			Perf:      []engine.Perf{{Label: "read_time", Value: 0.5, Unit: "s"}}, Start: start},
		{Check: Summary, Credential: engine.CredNone, State: engine.Critical, Detail: "1 of 2 checks not OK", Host: "wn1", RunID: "gp-x", Checks: 2, Start: start},
	} {
		line, err := Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	rep, err := Parse(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Lines) != 2 || rep.Summary.Host != "wn1" || rep.Summary.Checks != 2 {
		t.Fatalf("report %+v", rep)
	}
	l, ok := rep.Get(TknRead)
	if !ok || l.State != engine.Critical || l.Detail != "webdav: 403 Forbidden" || l.Version != Version ||
		len(l.Perf) != 1 || len(l.Reproduce) != 1 {
		t.Errorf("line %+v", l)
	}
}

func TestBadOutputs(t *testing.T) {
	good := sample(t)
	lines := strings.SplitAfter(string(good), "\n")
	for _, c := range []struct {
		name string
		out  string
		err  error
		want string
	}{
		{"empty", "  \n", ErrEmpty, "no output"},
		{"not json", "Segmentation fault\n", ErrNotJSON, `line 1: "Segmentation fault"`},
		{"html", "<html>503</html>", ErrNotJSON, `"<html>503</html>"`},
		{"cut mid-line", lines[0] + lines[1][:40], ErrNotJSON, "line 2"},
		{"no summary", lines[0] + lines[1], ErrTruncated, "no WN-99summary line after 2 check lines"},
		{"summary count", lines[0] + lines[2], ErrTruncated, "counts 2 check lines, 1 arrived"},
		{"older", `{"wn_version":0,"check":"WN-01basic","state":"OK"}` + "\n", ErrVersion, "from an older probe wn (wn_version 0, this probe reads 1)"},
		{"newer", `{"wn_version":7,"check":"WN-01basic","state":"OK"}` + "\n", ErrVersion, "from a newer probe wn"},
		{"no version", `{"check":"WN-01basic","state":"OK"}` + "\n", ErrNotJSON, "has no wn_version"},
		{"bad state", `{"wn_version":1,"check":"WN-01basic","state":"FINE"}` + "\n", ErrNotJSON, `unknown state "FINE"`},
		{"bad id", `{"wn_version":1,"check":"14tkn-read","state":"OK"}` + "\n", ErrNotJSON, "is not a WN check id"},
		{"repeat", lines[0] + lines[0], ErrNotJSON, "repeats WN-01basic"},
		{"after summary", string(good) + "trailing\n", ErrNotJSON, "after WN-99summary"},
		{"huge", strings.Repeat("x", MaxOutput+1), ErrNotJSON, "more than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.out))
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %v containing %q", err, c.err, c.want)
			}
		})
	}
}

// TestHeadRedacts: quoted output never carries a token, and is bounded.
func TestHeadRedacts(t *testing.T) {
	tok := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eHh4eHh4eHh4eCJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2ln"
	h := Head([]byte("token "+tok+" leaked"), 200)
	if strings.Contains(h, tok) || strings.Contains(h, "eyJzdWIi") {
		t.Errorf("Head leaks the token: %s", h)
	}
	if h := Head(bytes.Repeat([]byte("\x00\xff"), 500), 20); len(h) > 140 {
		t.Errorf("Head too long: %d", len(h))
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample(f))
	f.Add([]byte(`{"wn_version":1,"check":"WN-99summary","state":"OK","checks":0}`))
	f.Add([]byte("{\"wn_version\":1}\n{"))
	f.Add([]byte{0xff, '{', '\n'})
	f.Fuzz(func(t *testing.T, out []byte) {
		rep, err := Parse(out)
		if err == nil && rep.Summary.Check != Summary {
			t.Fatalf("no error and no summary")
		}
		if err != nil && len(err.Error()) > 600 {
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
		if rep != nil {
			for _, l := range rep.Lines {
				if len(l.Detail) > engine.MaxDetail {
					t.Fatalf("detail of %d bytes", len(l.Detail))
				}
			}
		}
	})
}
