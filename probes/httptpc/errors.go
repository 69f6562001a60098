package httptpc

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Kind classifies why a copy did not succeed, so that a rule never parses
// server text.
type Kind int

// The kinds of failure.
const (
	KindDenied      Kind = iota + 1 // an authorization refusal (401/403, or the passive side's 401/403)
	KindNotFound                    // the file to copy does not exist (404, ENOENT)
	KindExists                      // the destination exists and must not be overwritten (412)
	KindUnsupported                 // the active side does not do HTTP-TPC (405/501)
	KindTransport                   // no answer, or the connection broke before the final line
	KindTimeout                     // the deadline came before the final line
	KindFailed                      // the copy failed for another reason (failure: line, 5xx, other status)
	KindAborted                     // the stream ended with aborted:
	KindProtocol                    // the answer is not an HTTP-TPC marker stream
)

var kindNames = map[Kind]string{
	KindDenied: "denied", KindNotFound: "not found", KindExists: "exists", KindUnsupported: "unsupported",
	KindTransport: "transport", KindTimeout: "timeout", KindFailed: "failed", KindAborted: "aborted",
	KindProtocol: "protocol",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Side says which storage element an error comes from.
type Side int

// The sides of a copy.
const (
	SideUnknown Side = iota
	SideActive       // the element the COPY was sent to (destination of a pull, source of a push)
	SidePassive      // the other one, as reported by the active side
)

func (s Side) String() string {
	switch s {
	case SideActive:
		return "active side"
	case SidePassive:
		return "passive side"
	}
	return "unknown side"
}

// Error is a copy that did not succeed.
type Error struct {
	Kind Kind
	Side Side
	Mode Mode
	URL  string // the COPY target (after redirects)
	// Status is the active side's HTTP status (0 when there was no answer).
	Status int
	// RemoteStatus is the passive side's status as the failure line reports
	// it ("Remote side failed with status code 403"); 0 when not given.
	RemoteStatus int
	// Message is the server's text (failure line or error body): one line,
	// redacted, shortened.
	Message string
	// RefusedAsServerError: a 5xx answer whose message says permission
	// denied (XRootD 6.x for a local EACCES): a refusal signalled as a
	// server error.
	RefusedAsServerError bool
	// Progress is what the markers said before the error.
	Progress Progress
	Err      error // underlying cause (network, context, parser), may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Mode != 0 {
		fmt.Fprintf(&b, "%s COPY ", e.Mode)
	}
	fmt.Fprintf(&b, "%s: %s", e.URL, e.Kind)
	if e.Side != SideUnknown {
		fmt.Fprintf(&b, " (%s)", e.Side)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.RemoteStatus != 0 {
		fmt.Fprintf(&b, ", remote status %d", e.RemoteStatus)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Status != 0 && (e.Kind == KindTimeout || e.Kind == KindTransport || e.Kind == KindProtocol) {
		fmt.Fprintf(&b, " (after %d markers, %d bytes)", e.Progress.Markers, e.Progress.Bytes)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, httptpc.ErrDenied) and the like match by kind.
func (e *Error) Is(target error) bool {
	var k kindError
	if errors.As(target, &k) {
		return e.Kind == Kind(k)
	}
	return false
}

type kindError Kind

func (k kindError) Error() string { return Kind(k).String() }

// Sentinels for errors.Is.
var (
	ErrDenied   error = kindError(KindDenied)
	ErrNotFound error = kindError(KindNotFound)
	ErrExists   error = kindError(KindExists)
	ErrTimeout  error = kindError(KindTimeout)
)

// KindOf returns the kind of err (0 when err is not an *Error).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// statusError classifies an answer to COPY that is not "started" (XrdHttpTPC
// 5.5: 401 for a local EACCES, 412 for EEXIST, 400 for other open errors
// such as ENOENT, 400 for a bad request).
func statusError(code int, msg string) *Error {
	e := &Error{Side: SideActive, Status: code, Message: msg, Kind: KindFailed}
	// 5.8 answers a source's refusal with 500, 6.x with 403, before any
	// marker; only the text says the remote side refused.
	if rs := remoteStatus(msg); rs != 0 {
		e.blameRemote(rs)
		return e
	}
	e.RefusedAsServerError = code >= 500 && permissionDenied(msg)
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e.Kind = KindDenied
	case code == http.StatusNotFound || code == http.StatusBadRequest && noSuchFile(msg):
		e.Kind = KindNotFound
	case code == http.StatusPreconditionFailed || code == http.StatusConflict && strings.Contains(strings.ToLower(msg), "exist"):
		e.Kind = KindExists
	case code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented:
		e.Kind = KindUnsupported
	case code == http.StatusBadRequest && permissionDenied(msg):
		e.Kind = KindDenied
	}
	return e
}

// remoteStatusRE finds the passive side's status in the active side's
// text: "Remote side failed with status code 403" (5.5), "Remote side
// 127.0.0.1 failed with status code 403" (5.8), "remote host returned '403
// Forbidden'" (6.x).
var remoteStatusRE = regexp.MustCompile(`(?i)remote side(?: \S+)? failed with status code (\d{3})|remote host returned '(\d{3})`)

// remoteStatus is the passive side's status a message reports (0: none).
func remoteStatus(msg string) int {
	m := remoteStatusRE.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1] + m[2])
	return n
}

// blameRemote marks the error as the passive side's, with its status.
func (e *Error) blameRemote(code int) {
	e.RemoteStatus, e.Side = code, SidePassive
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		e.Kind = KindDenied
	case http.StatusNotFound:
		e.Kind = KindNotFound
	}
}

// finalError classifies a failure: or aborted: line.
func finalError(f Final) *Error {
	e := &Error{Kind: KindFailed, Side: SideActive, Message: f.Message}
	if f.Verdict == Aborted {
		e.Kind = KindAborted
	}
	if rs := remoteStatus(f.Message); rs != 0 {
		e.blameRemote(rs)
		return e
	}
	switch {
	case permissionDenied(f.Message):
		e.Kind = KindDenied
	case noSuchFile(f.Message):
		e.Kind = KindNotFound
	}
	return e
}

func permissionDenied(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "permission denied") || strings.Contains(m, "not authorized") ||
		strings.Contains(m, "unauthorized") || strings.Contains(m, "forbidden")
}

func noSuchFile(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "no such file") || strings.Contains(m, "not found")
}
