package publish

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func msg(i int) Message {
	return Message{ID: fmt.Sprintf("run.%d", i), Body: fmt.Sprintf("metricName: m%d\nEOT\n", i)}
}

func TestSpoolOrderAndRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if ev, err := s.put(msg(i)); err != nil || ev != 0 {
			t.Fatalf("put %d: %d evicted, %v", i, ev, err)
		}
	}
	seq, m, _, ok := s.oldest()
	if !ok || m.ID != "run.1" {
		t.Fatalf("oldest: %v %+v", ok, m)
	}
	s.remove(seq)
	// A second process cannot take the same spool.
	if _, err := openSpool(dir, 100, 1<<20); err == nil || !strings.Contains(err.Error(), "in use by another probe process") {
		t.Errorf("second open: %v", err)
	}
	s.close()

	// A crash mid-write leaves a temporary file: removed on open, never read as a message.
	if err := os.WriteFile(filepath.Join(dir, spoolTmp+"123"), []byte(`{"v":1,"id":"half`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = openSpool(dir, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if n, _ := s.size(); n != 4 {
		t.Errorf("after restart %d messages, want 4", n)
	}
	if _, err := os.Stat(filepath.Join(dir, spoolTmp+"123")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
	if _, err := s.put(msg(6)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		seq, m, bad, ok := s.oldest()
		if len(bad) > 0 {
			t.Errorf("bad files: %v", bad)
		}
		if !ok {
			break
		}
		ids = append(ids, m.ID)
		s.remove(seq)
	}
	if got := strings.Join(ids, " "); got != "run.2 run.3 run.4 run.5 run.6" {
		t.Errorf("order after restart: %s", got)
	}
	if n, b := s.size(); n != 0 || b != 0 {
		t.Errorf("empty spool reports %d messages, %d bytes", n, b)
	}
}

func TestSpoolBoundsDropOldestButNotInFlight(t *testing.T) {
	s, err := openSpool(t.TempDir(), 3, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for i := 1; i <= 3; i++ {
		s.put(msg(i))
	}
	inflight, m, _, _ := s.oldest() // run.1 is being sent
	if m.ID != "run.1" {
		t.Fatal(m.ID)
	}
	ev, err := s.put(msg(4))
	if err != nil || ev != 1 {
		t.Fatalf("put over the bound: %d evicted, %v", ev, err)
	}
	s.remove(inflight) // its receipt came
	var ids []string
	for {
		seq, m, _, ok := s.oldest()
		if !ok {
			break
		}
		ids = append(ids, m.ID)
		s.remove(seq)
	}
	// run.2 (the oldest not in flight) made room.
	if got := strings.Join(ids, " "); got != "run.3 run.4" {
		t.Errorf("left: %s", got)
	}

	// The byte bound: each file is about 60 bytes.
	s2, err := openSpool(t.TempDir(), 1000, 200)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.close()
	evicted := 0
	for i := 1; i <= 10; i++ {
		ev, _ := s2.put(msg(i))
		evicted += ev
	}
	if n, b := s2.size(); b > 200 || n+evicted != 10 || evicted == 0 {
		t.Errorf("%d messages, %d bytes, %d evicted", n, b, evicted)
	}
}

func TestSpoolCorruptFileSkipped(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	s.put(msg(1))
	s.put(msg(2))
	if err := os.WriteFile(s.path(1), []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, m, bad, ok := s.oldest()
	if !ok || m.ID != "run.2" || len(bad) != 1 {
		t.Errorf("oldest after a corrupt file: %v %+v %v", ok, m, bad)
	}
	if _, err := os.Stat(s.path(1)); !os.IsNotExist(err) {
		t.Errorf("corrupt file kept: %v", err)
	}
}

// FuzzDecodeSpoolFile: the spool reader never panics and accepts only
// complete messages that encode back to themselves.
func FuzzDecodeSpoolFile(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"r.1","body":"metricName: m\nEOT\n"}`))
	f.Add([]byte(`{"v":2,"id":"r.1","body":"x"}`))
	f.Add([]byte(`{"v":1,"id":"","body":"x"}`))
	f.Add([]byte(`{"v":1,"id":"a","body":"b","extra":1}`))
	f.Add([]byte(`{"v":1,"id":"a","body":"b"} {}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeSpoolFile(data)
		if err != nil {
			return
		}
		if m.ID == "" || m.Body == "" {
			t.Fatalf("accepted an empty message: %+v", m)
		}
		dir := t.TempDir()
		s, err := openSpool(dir, 10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		defer s.close()
		if _, err := s.put(m); err != nil {
			t.Fatal(err)
		}
		_, back, bad, ok := s.oldest()
		if !ok || len(bad) > 0 || back != m {
			t.Fatalf("round trip: %+v → %+v (%v)", m, back, bad)
		}
	})
}
