package publish

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// spool keeps messages on disk until the broker acknowledged them: one file
// per message, named by a sequence number (oldest first), bounded in count
// and bytes. A lock file keeps two processes from sharing one spool. Safe
// for concurrent use.
type spool struct {
	dir      string
	maxMsgs  int
	maxBytes int64
	lock     *os.File

	mu       sync.Mutex
	entries  []spoolEntry // oldest first
	bytes    int64
	next     uint64 // sequence of the next message
	inflight uint64 // sequence being sent (0: none); never evicted
}

type spoolEntry struct {
	seq  uint64
	size int64
}

const (
	spoolExt    = ".msg"
	spoolTmp    = ".tmp-"
	spoolLock   = ".lock"
	spoolFormat = 1
)

// spoolFile is what one file holds.
type spoolFile struct {
	V int `json:"v"`
	Message
}

// openSpool opens (creating) dir, takes its lock and indexes what an
// earlier run left there. Temporary files of an interrupted write are
// removed.
func openSpool(dir string, maxMsgs int, maxBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, spoolLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool %s is in use by another probe process (set publish.spool_dir to a directory of its own): %w", dir, err)
	}
	s := &spool{dir: dir, maxMsgs: maxMsgs, maxBytes: maxBytes, lock: lock, next: 1}
	ents, err := os.ReadDir(dir)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, spoolTmp):
			_ = os.Remove(filepath.Join(dir, name))
		case strings.HasSuffix(name, spoolExt):
			seq, err := strconv.ParseUint(strings.TrimSuffix(name, spoolExt), 10, 64)
			info, ierr := e.Info()
			if err != nil || seq == 0 || ierr != nil || !info.Mode().IsRegular() {
				continue // not ours; left alone
			}
			s.entries = append(s.entries, spoolEntry{seq, info.Size()})
			s.bytes += info.Size()
			s.next = max(s.next, seq+1)
		}
	}
	sort.Slice(s.entries, func(i, j int) bool { return s.entries[i].seq < s.entries[j].seq })
	return s, nil
}

func (s *spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, spoolExt))
}

// put stores m durably. Before that, the oldest messages (never the one
// being sent) are removed until m fits; their number is returned.
func (s *spool) put(m Message) (evicted int, err error) {
	data, err := json.Marshal(spoolFile{V: spoolFormat, Message: m})
	if err != nil {
		return 0, fmt.Errorf("encode message %s: %w", m.ID, err)
	}
	size := int64(len(data))
	s.mu.Lock()
	seq := s.next
	s.next++
	for len(s.entries) > 0 && (len(s.entries)+1 > s.maxMsgs || s.bytes+size > s.maxBytes) {
		if !s.evictOldest() {
			break
		}
		evicted++
	}
	s.mu.Unlock()
	if err := writeAtomic(s.dir, s.path(seq), data); err != nil {
		return evicted, err
	}
	s.mu.Lock()
	s.entries = append(s.entries, spoolEntry{seq, size})
	s.bytes += size
	s.mu.Unlock()
	return evicted, nil
}

// evictOldest removes the oldest message that is not in flight. Called
// with s.mu held.
func (s *spool) evictOldest() bool {
	for i, e := range s.entries {
		if e.seq == s.inflight {
			continue
		}
		_ = os.Remove(s.path(e.seq))
		s.bytes -= e.size
		s.entries = append(s.entries[:i], s.entries[i+1:]...)
		return true
	}
	return false
}

// writeAtomic writes data to a temporary file in dir, syncs it, renames it
// to name and syncs the directory: name never holds half a message.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, spoolTmp+"*")
	if err != nil {
		return fmt.Errorf("spool write: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("spool write %s: %w", name, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool sync %s: %w", dir, err)
	}
	return nil
}

// oldest returns the oldest message and marks it in flight; ok is false
// when the spool is empty. A file that cannot be read or decoded is removed
// and reported as bad (the caller counts it dropped) with the next one
// tried.
func (s *spool) oldest() (seq uint64, m Message, bad []error, ok bool) {
	for {
		s.mu.Lock()
		if len(s.entries) == 0 {
			s.inflight = 0
			s.mu.Unlock()
			return 0, Message{}, bad, false
		}
		e := s.entries[0]
		s.inflight = e.seq
		s.mu.Unlock()
		m, err := readSpoolFile(s.path(e.seq))
		if err == nil {
			return e.seq, m, bad, true
		}
		bad = append(bad, err)
		s.remove(e.seq)
	}
}

// readSpoolFile reads one spooled message.
func readSpoolFile(path string) (Message, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Message{}, fmt.Errorf("spool read: %w", err)
	}
	return decodeSpoolFile(data)
}

// decodeSpoolFile parses a spool file's content.
func decodeSpoolFile(data []byte) (Message, error) {
	var f spoolFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Message{}, fmt.Errorf("spool file: %w", err)
	}
	if dec.More() {
		return Message{}, errors.New("spool file: data after the message")
	}
	switch {
	case f.V != spoolFormat:
		return Message{}, fmt.Errorf("spool file: format %d, want %d", f.V, spoolFormat)
	case f.ID == "" || f.Body == "":
		return Message{}, errors.New("spool file: message without id or body")
	}
	return f.Message, nil
}

// remove deletes a message (delivered, or unreadable). A message already
// evicted is no error.
func (s *spool) remove(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == seq {
		s.inflight = 0
	}
	for i, e := range s.entries {
		if e.seq == seq {
			_ = os.Remove(s.path(seq))
			s.bytes -= e.size
			s.entries = append(s.entries[:i], s.entries[i+1:]...)
			return
		}
	}
}

// release ends the in-flight mark without removing (the send failed).
func (s *spool) release(seq uint64) {
	s.mu.Lock()
	if s.inflight == seq {
		s.inflight = 0
	}
	s.mu.Unlock()
}

// size is the number of messages and their bytes on disk.
func (s *spool) size() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries), s.bytes
}

// close releases the lock; the files stay for the next run.
func (s *spool) close() {
	if s.lock != nil {
		_ = s.lock.Close()
		s.lock = nil
	}
}
