package probe

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

const runID = "gp-20261124T001500Z-1f2e3d4c5b6a"

func TestScratchGuardRefusesEverythingOutside(t *testing.T) {
	s, err := NewScratch("/testvo/gridprobe", runID)
	if err != nil {
		t.Fatal(err)
	}
	inside := []string{
		s.Dir(),
		s.Path("file"),
		s.Path("dir", "file"),
		"/testvo/gridprobe/" + runID + "/a..b",
	}
	for _, p := range inside {
		if err := s.Check(p); err != nil {
			t.Errorf("inside path %q refused: %v", p, err)
		}
	}
	outside := []string{
		"/",
		"",
		"/testvo",
		"/testvo/gridprobe",
		"/testvo/gridprobe/",
		"/testvo/reference.dat",
		"/testvo/gridprobe/gp-20261124T001500Z-000000000000",          // another run
		"/testvo/gridprobe/gp-20261124T001500Z-1f2e3d4c5b6a-x",        // name extends ours
		"/testvo/gridprobe/gp-20261124T001500Z-1f2e3d4c5b6ax/f",       // sibling with longer name
		"/testvo/gridprobe/" + runID + "/../../reference.dat",         // .. escape
		"/testvo/gridprobe/" + runID + "/..",                          // parent
		"/testvo/gridprobe/" + runID + "/./f",                         // not clean
		"/testvo/gridprobe/" + runID + "//f",                          // doubled slash
		"/testvo/gridprobe/" + runID + "/",                            // trailing slash
		"testvo/gridprobe/" + runID + "/f",                            // relative
		"/othervo/gridprobe/" + runID + "/f",                          // another area
		"/testvo/gridprobe/" + runID + "/f\x00/../../x",               // NUL trick
		"/testvo/gridprobe/" + runID + "/%2e%2e/%2e%2e/reference.dat", // URL-encoded ..
		"/testvo/gridprobe/" + runID + "/\u2024\u2024/reference.dat",  // ONE DOT LEADER: NFKC ".."
		"/testvo/gridprobe/" + runID + `/a\..\..\x`,                   // backslashes
		"/testvo/gridprobe/" + runID + "/a?x=../../y",                 // query
		"/testvo/gridprobe/" + runID + "/a#../../y",                   // fragment
		"/testvo/gridprobe/" + runID + "/a\nb",                        // control character
	}
	for _, p := range outside {
		called := false
		err := s.Delete(context.Background(), p, func(context.Context, string) error { called = true; return nil })
		if err == nil || called {
			t.Errorf("outside path %q was not refused (err=%v, deleted=%v)", p, err, called)
		}
	}
	var zero Scratch
	if zero.Check("/x") == nil || zero.Check("") == nil {
		t.Error("zero scratch must refuse everything")
	}
}

func TestNewScratchRefusesBadConfig(t *testing.T) {
	for _, wd := range []string{"/", "", "relative/dir", "/testvo/../othervo", "/testvo//gridprobe", "/testvo/./x"} {
		if _, err := NewScratch(wd, runID); err == nil {
			t.Errorf("write_dir %q accepted", wd)
		}
	}
	for _, id := range []string{"", "..", "gp-x", "../" + runID, runID + "/x"} {
		if _, err := NewScratch("/testvo/gridprobe", id); err == nil {
			t.Errorf("run id %q accepted", id)
		}
	}
	if s, err := NewScratch("/testvo/gridprobe/", runID); err != nil || s.Dir() != "/testvo/gridprobe/"+runID {
		t.Errorf("trailing slash: %v %q", err, s.Dir())
	}
}

func TestScratchPathPanicsOnBadElement(t *testing.T) {
	s, _ := NewScratch("/testvo/gridprobe", runID)
	for _, e := range []string{"", ".", "..", "a/b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Path(%q) did not panic", e)
				}
			}()
			s.Path(e)
		}()
	}
}

func TestDeleteWrapsError(t *testing.T) {
	s, _ := NewScratch("/testvo/gridprobe", runID)
	err := s.Delete(context.Background(), s.Path("f"), func(context.Context, string) error { return errors.New("403") })
	if err == nil || !strings.Contains(err.Error(), s.Path("f")) {
		t.Fatalf("err = %v", err)
	}
}

func TestCommandQuotingRoundTripsThroughShell(t *testing.T) {
	line := Command("printf", "%s|", "plain", "with space", "it's", "$HOME", `Bearer $(printf %s "$HOME")`, "a;b")
	out, err := exec.Command("bash", "-c", line).Output()
	if err != nil {
		t.Fatal(err)
	}
	home := strings.TrimSpace(mustOut(t, "bash", "-c", "printf %s \"$HOME\""))
	want := "plain|with space|it's|" + home + "|Bearer " + home + "|a;b|"
	if string(out) != want {
		t.Fatalf("shell saw %q, want %q (line %s)", out, want, line)
	}
}

func mustOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestServiceRunIDSeparatesServices(t *testing.T) {
	web, err := ServiceRunID(runID, "webdav https://se.example:443")
	if err != nil {
		t.Fatal(err)
	}
	xrd, _ := ServiceRunID(runID, "xrootd roots://se.example:1094")
	again, _ := ServiceRunID(runID, "webdav https://se.example:443")
	if web == xrd || web != again || !strings.HasPrefix(web, runID[:len(runID)-12]) {
		t.Fatalf("ids %s %s %s", web, xrd, again)
	}
	for _, id := range []string{web, xrd} {
		if _, err := NewScratch("/testvo/gridprobe", id); err != nil {
			t.Fatalf("derived id %s is not a run id: %v", id, err)
		}
	}
	if _, err := ServiceRunID("../x", "s"); err == nil {
		t.Fatal("bad run id accepted")
	}
}
