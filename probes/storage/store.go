package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Store is one credential's view of one storage endpoint. Every call takes
// a context and honours its deadline. Paths are absolute storage paths.
type Store interface {
	// Stat describes p.
	Stat(ctx context.Context, p string) (Info, error)
	// Read streams the whole of p to w; From names the server that served
	// it (after redirects).
	Read(ctx context.Context, p string, w io.Writer) (ReadInfo, error)
	// ReadRange returns n bytes of p from offset off.
	ReadRange(ctx context.Context, p string, off, n int64) ([]byte, error)
	// Write stores data as p: a new file (New: an existing p is the
	// server's business) or over an existing one (Overwrite).
	Write(ctx context.Context, p string, data []byte, mode WriteMode) error
	// Delete removes the file p; Rmdir the empty directory p.
	Delete(ctx context.Context, p string) error
	Rmdir(ctx context.Context, p string) error
	// Mkdir makes the directory p (with its missing parents when parents
	// is set and the protocol can).
	Mkdir(ctx context.Context, p string, parents bool) error
	// List lists the directory p (its entries only, not p itself).
	List(ctx context.Context, p string) ([]Info, error)
	// Checksum is the server's checksum of p with the algorithm (e.g.
	// adler32), as lower-case hex; Unsupported when it has none.
	Checksum(ctx context.Context, p, alg string) (string, error)
}

// Info describes one object.
type Info struct {
	Path  string // absolute
	Name  string // last element
	Size  int64
	IsDir bool
}

// ReadInfo is what a whole-file read saw.
type ReadInfo struct {
	Bytes int64
	From  string // host:port that served the data
}

// WriteMode says whether a write creates or replaces.
type WriteMode int

// Write modes.
const (
	New WriteMode = iota
	Overwrite
)

// Kind classifies an error of a Store.
type Kind int

// Error kinds.
const (
	// Other: the server answered something else (an unexpected status,
	// a malformed answer).
	Other Kind = iota
	// Denied: an explicit authorization refusal (HTTP 401/403,
	// kXR_NotAuthorized).
	Denied
	// NotFound: the object does not exist.
	NotFound
	// Exists: the object exists already.
	Exists
	// Unsupported: the server does not do this (no checksum, 501).
	Unsupported
	// LoginRefused: the credential was refused when the session was
	// authenticated (kXR_AuthFailed at login).
	LoginRefused
	// NoAnswer: no answer (connection, TLS, timeout, reset, a peer that
	// does not speak the protocol).
	NoAnswer
)

var kindNames = [...]string{"other", "denied", "not found", "exists", "unsupported", "login refused", "transport"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a classified Store error. Text is what a detail shows: the
// server's status and message, or what went wrong on the way.
type Error struct {
	Op   string // protocol operation, e.g. "PUT", "open"
	Path string
	Kind Kind
	// Status is the server's answer in short ("403 Forbidden",
	// "kXR_NotAuthorized (3010)"), "" when there was none.
	Status string
	// HTTPStatus is the HTTP status of the answer (0: not HTTP, or none).
	HTTPStatus int
	Text       string
	Err        error // the underlying error, if any
}

func (e *Error) Error() string { return e.Text }
func (e *Error) Unwrap() error { return e.Err }

// KindOf classifies err: its *Error's kind, NoAnswer for a context
// deadline or cancellation, Other for anything else (nil: Other).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return NoAnswer
	}
	return Other
}

// StatusOf is the short server answer of err, else its text.
func StatusOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Status != "" {
		return e.Status
	}
	return err.Error()
}

// httpStatus is the HTTP status of err's answer (0 for none).
func httpStatus(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.HTTPStatus
	}
	return 0
}

// Is reports whether err is a Store error of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// CredError marks a failure of the probe's own credentials or set-up (no
// proxy, no token source, an unusable CA directory): the probe's fault,
// reported UNKNOWN, never the site's.
type CredError struct{ Err error }

func (e *CredError) Error() string { return e.Err.Error() }
func (e *CredError) Unwrap() error { return e.Err }

// IsCred reports whether err is (or wraps) a CredError.
func IsCred(err error) bool {
	var ce *CredError
	return errors.As(err, &ce)
}

// Sink passes a read on to a writer and remembers the writer's own error, so
// that a transport tells a stop its caller asked for (storage's rules stop
// reads early on purpose) from a broken connection.
type Sink struct {
	W   io.Writer
	Err error
}

func (s *Sink) Write(p []byte) (int, error) {
	n, err := s.W.Write(p)
	if err != nil {
		s.Err = err
	}
	return n, err
}
