package cred

import (
	"errors"
	"fmt"
	"net/url"
)

// ErrIssuer marks a failure of the token issuer — a central service, not
// the site and not the probe: unreachable, hung, answering 5xx or garbage,
// a discovery document naming another issuer, a token that breaks the WLCG
// profile. Every such error from this package satisfies
// errors.Is(err, ErrIssuer); IsCentral says it in one call.
//
// What is not an issuer failure is the probe's own (no token configured,
// an empty or expired token file, a missing client secret, a client the
// issuer does not know): those errors never match ErrIssuer.
var ErrIssuer = errors.New("token issuer failed")

// IsCentral reports whether err means the token could not be had because
// the issuer (a central service) failed, as opposed to the probe's own
// credentials or configuration. A check that gets such an error is
// UNKNOWN with party central, never the site's CRITICAL.
func IsCentral(err error) bool { return errors.Is(err, ErrIssuer) }

// IssuerFailure is a failure of the issuer at one stage of getting a
// token: discovery, the token endpoint, or the token it handed out.
type IssuerFailure struct {
	Issuer string
	Stage  string // "discovery", "token endpoint", "token"
	Err    error
	// Outage is true when the issuer is down or broken for every request
	// (no answer, timeout, 5xx, unreadable answer, bad discovery) rather
	// than for this one request; an outage opens a round's breaker.
	Outage bool
}

func (e *IssuerFailure) Error() string {
	return Redact(fmt.Sprintf("issuer %s %s: %v", e.Issuer, e.Stage, e.Err))
}

// Unwrap gives errors.Is and errors.As both ErrIssuer and the cause.
func (e *IssuerFailure) Unwrap() []error { return []error{ErrIssuer, e.Err} }

func issuerFailure(issuer, stage string, outage bool, format string, a ...any) *IssuerFailure {
	return &IssuerFailure{Issuer: issuer, Stage: stage, Outage: outage, Err: fmt.Errorf(format, a...)}
}

// isOutage reports whether err says the issuer is down or broken for
// every request (what opens a round's breaker).
func isOutage(err error) bool {
	var f *IssuerFailure
	if errors.As(err, &f) && f.Outage {
		return true
	}
	var ie *IssuerError
	return errors.As(err, &ie) && (ie.Status >= 500 || ie.Code == "server_error" || ie.Code == "temporarily_unavailable")
}

// probeCodes are OAuth error codes that blame the probe's own client
// registration or credential (RFC 6749 §5.2): the issuer is up and
// answered correctly.
var probeCodes = map[string]bool{"invalid_client": true, "unauthorized_client": true, "invalid_grant": true}

// Is makes an issuer's refusal match ErrIssuer unless it blames the
// probe's own client or grant (invalid_client, unauthorized_client,
// invalid_grant): a refused scope or audience, a server error or an answer
// without an error code are the issuer's.
func (e *IssuerError) Is(target error) bool { return target == ErrIssuer && !probeCodes[e.Code] }

// transportFailure names a network failure reaching the issuer.
func transportFailure(issuer, stage, endpoint string, err error) *IssuerFailure {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return issuerFailure(issuer, stage, true, "%s: %w", endpoint, err)
}
