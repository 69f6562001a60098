package ce

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// A-REX 7.0 answers every authorization failure with "500 User can't be
// assigned configuration" (6.17: 403). That is a refusal signalled as a
// server error: WARNING, never OK, and never mistaken for acceptance.
func TestDeniedAsServerError(t *testing.T) {
	for _, c := range []struct {
		err             error
		denied, asError bool
	}{
		{&httpError{Method: "GET", Path: "/jobs", Code: 403, Status: "403 " + arexAuthzReason}, true, false},
		{&httpError{Method: "GET", Path: "/jobs", Code: 500, Status: "500 " + arexAuthzReason}, false, true},
		{fmt.Errorf("list: %w", &httpError{Code: 500, Status: "500 " + arexAuthzReason}), false, true},
		{&httpError{Method: "GET", Path: "/jobs", Code: 500, Status: "500 Internal Server Error"}, false, false},
		{&httpError{Method: "GET", Path: "/jobs", Code: 502, Status: "502 Bad Gateway"}, false, false},
		{errors.New("tls: first record does not look like a TLS handshake"), false, false},
	} {
		if got := isDenied(c.err); got != c.denied {
			t.Errorf("isDenied(%v) = %v", c.err, got)
		}
		if got := deniedAsServerError(c.err); got != c.asError {
			t.Errorf("deniedAsServerError(%v) = %v", c.err, got)
		}
	}
}

func TestVerdictsRefusedAsError(t *testing.T) {
	forged, expired, other := badToken{name: "forged signature"}, badToken{name: "expired 1h ago"}, badToken{name: "other audience", soft: true}

	var v verdicts
	v.refusedAsError(forged, "500")
	v.refused(expired, "403")
	o := v.outcome(nil)
	if o.State != engine.Warning || !strings.Contains(o.Detail, "1 of 2 bad tokens refused with a server error instead of 401/403") ||
		!strings.Contains(o.Detail, "forged signature (500)") || !strings.Contains(o.Detail, "refused: expired 1h ago (403)") {
		t.Errorf("refused as error: %s %q", o.State, o.Detail)
	}

	// An accepted token still makes it CRITICAL, whatever else was refused how.
	v = verdicts{}
	v.refusedAsError(forged, "500")
	v.accepted(expired)
	if o := v.outcome(nil); o.State != engine.Critical || !strings.Contains(o.Detail, "expired 1h ago ACCEPTED") || !strings.Contains(o.Detail, "refused: forged signature (500)") {
		t.Errorf("accepted + refused as error: %s %q", o.State, o.Detail)
	}

	// Both warnings are reported.
	v = verdicts{}
	v.refusedAsError(forged, "500")
	v.accepted(other)
	if o := v.outcome(nil); o.State != engine.Warning || !strings.Contains(o.Detail, "server error") || !strings.Contains(o.Detail, "does not check audiences") {
		t.Errorf("as error + soft: %s %q", o.State, o.Detail)
	}

	v = verdicts{}
	v.refused(forged, "403")
	if o := v.outcome(nil); o.State != engine.OK {
		t.Errorf("all refused properly: %s %q", o.State, o.Detail)
	}
}
