package xrd

import (
	"errors"
	"fmt"
)

// Error codes of kXR_error (XProtocol.hh, XErrorCode).
const (
	ErrArgInvalid     = 3000
	ErrArgMissing     = 3001
	ErrArgTooLong     = 3002
	ErrFileLocked     = 3003
	ErrFileNotOpen    = 3004
	ErrFSError        = 3005
	ErrInvalidRequest = 3006
	ErrIOError        = 3007
	ErrNoMemory       = 3008
	ErrNoSpace        = 3009
	ErrNotAuthorized  = 3010
	ErrNotFound       = 3011
	ErrServerError    = 3012
	ErrUnsupported    = 3013
	ErrNoServer       = 3014
	ErrNotFile        = 3015
	ErrIsDirectory    = 3016
	ErrCancelled      = 3017
	ErrItExists       = 3018
	ErrChkSumErr      = 3019
	ErrInProgress     = 3020
	ErrOverQuota      = 3021
	ErrSigVerErr      = 3022
	ErrDecryptErr     = 3023
	ErrOverloaded     = 3024
	ErrFSReadOnly     = 3025
	ErrBadPayload     = 3026
	ErrAttrNotFound   = 3027
	ErrTLSRequired    = 3028
	ErrNoReplicas     = 3029
	ErrAuthFailed     = 3030
	ErrImpossible     = 3031
	ErrConflict       = 3032
	ErrTooManyErrs    = 3033
	ErrReqTimedOut    = 3034
)

var errorNames = map[int32]string{
	3000: "kXR_ArgInvalid", 3001: "kXR_ArgMissing", 3002: "kXR_ArgTooLong", 3003: "kXR_FileLocked",
	3004: "kXR_FileNotOpen", 3005: "kXR_FSError", 3006: "kXR_InvalidRequest", 3007: "kXR_IOError",
	3008: "kXR_NoMemory", 3009: "kXR_NoSpace", 3010: "kXR_NotAuthorized", 3011: "kXR_NotFound",
	3012: "kXR_ServerError", 3013: "kXR_Unsupported", 3014: "kXR_noserver", 3015: "kXR_NotFile",
	3016: "kXR_isDirectory", 3017: "kXR_Cancelled", 3018: "kXR_ItExists", 3019: "kXR_ChkSumErr",
	3020: "kXR_inProgress", 3021: "kXR_overQuota", 3022: "kXR_SigVerErr", 3023: "kXR_DecryptErr",
	3024: "kXR_Overloaded", 3025: "kXR_fsReadOnly", 3026: "kXR_BadPayload", 3027: "kXR_AttrNotFound",
	3028: "kXR_TLSRequired", 3029: "kXR_noReplicas", 3030: "kXR_AuthFailed", 3031: "kXR_Impossible",
	3032: "kXR_Conflict", 3033: "kXR_TooManyErrs", 3034: "kXR_ReqTimedOut",
}

// ErrorName returns the kXR name of an error code ("kXR_NotFound"), or
// "kXR_error" for a code this package does not know.
func ErrorName(code int32) string {
	if n, ok := errorNames[code]; ok {
		return n
	}
	return "kXR_error"
}

// ServerError is a kXR_error answer: the server's error code and its text
// (trailing NUL removed).
type ServerError struct {
	Code    int32
	Message string
}

// Error renders "kXR_NotFound (3011): <server text>".
func (e *ServerError) Error() string {
	return fmt.Sprintf("%s (%d): %s", ErrorName(e.Code), e.Code, e.Message)
}

// Is makes errors.Is(err, &ServerError{Code: c}) match any ServerError with
// code c, whatever its message.
func (e *ServerError) Is(target error) bool {
	t, ok := target.(*ServerError)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// ServerCode returns the kXR error code carried by err, if any.
func ServerCode(err error) (int32, bool) {
	var se *ServerError
	if errors.As(err, &se) {
		return se.Code, true
	}
	return 0, false
}

func hasCode(err error, code int32) bool {
	c, ok := ServerCode(err)
	return ok && c == code
}

// IsNotFound reports a kXR_NotFound (3011) answer.
func IsNotFound(err error) bool { return hasCode(err, ErrNotFound) }

// IsNotAuthorized reports a kXR_NotAuthorized (3010) answer.
func IsNotAuthorized(err error) bool { return hasCode(err, ErrNotAuthorized) }

// IsAuthFailed reports a kXR_AuthFailed (3030) answer.
func IsAuthFailed(err error) bool { return hasCode(err, ErrAuthFailed) }

// IsExists reports a kXR_ItExists (3018) answer.
func IsExists(err error) bool { return hasCode(err, ErrItExists) }

// IsUnsupported reports a kXR_Unsupported (3013) answer (e.g. checksums not
// configured on the server).
func IsUnsupported(err error) bool { return hasCode(err, ErrUnsupported) }

// ProtocolError is a violation of the XRootD protocol by the peer (garbage,
// impossible lengths, unexpected stream ids). The connection that saw it is
// closed.
type ProtocolError struct {
	Msg string
}

func (e *ProtocolError) Error() string { return "xrootd protocol error: " + e.Msg }

func protoErrf(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// AuthError reports that no security protocol could authenticate the
// session. Attempts lists each protocol tried with its failure, in order.
type AuthError struct {
	// Offered is the list of protocols the server offered, in its order.
	Offered []string
	// Attempts holds one error per protocol tried.
	Attempts []error
}

func (e *AuthError) Error() string {
	if len(e.Attempts) == 0 {
		return fmt.Sprintf("no usable security protocol: server offers %v, none configured in the client", e.Offered)
	}
	s := ""
	for i, a := range e.Attempts {
		if i > 0 {
			s += "; "
		}
		s += a.Error()
	}
	return s
}

// Unwrap exposes the individual attempts to errors.Is / errors.As.
func (e *AuthError) Unwrap() []error { return e.Attempts }

// RedirectError is returned when a request is redirected somewhere this
// package does not follow (a non-root URL, a loop, or too many hops).
type RedirectError struct {
	Reason string
	// Target is where the last redirect pointed ("host:port" or a URL).
	Target string
	// Hops is the chain of servers visited, first to last.
	Hops []string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirect %s (to %s, after %v)", e.Reason, e.Target, e.Hops)
}
