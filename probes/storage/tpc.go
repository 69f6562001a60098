package storage

import (
	"context"
	"net/url"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// Third-party copy (TPC), as FTS drives it: the probe asks one storage
// element (the active side) to copy a file to or from another (the passive
// side) and follows the copy to its end. The rules (tpc_rules.go) are
// written once here; a protocol that can drive copies implements Copier on
// its Transport (WebDAV: HTTP-TPC through probes/httptpc). A protocol that
// cannot implements NoCopier, and its TPC checks say exactly what is
// missing.

// CopyMode is the direction of a copy, seen from the site: in a pull the
// destination fetches (COPY <dst> + Source:), in a push the source sends
// (COPY <src> + Destination:).
type CopyMode int

// Copy directions.
const (
	Pull CopyMode = iota + 1
	Push
)

func (m CopyMode) String() string {
	if m == Push {
		return "push"
	}
	return "pull"
}

// CopyRequest is one third-party copy between two endpoints of one
// protocol. The active side is the destination of a pull, the source of a
// push.
type CopyRequest struct {
	Mode                CopyMode
	Source, Destination string // URLs of the file and of its copy
	// ActiveToken authorises the active side; PassiveToken is what the
	// active side presents to the passive side (TransferHeaderAuthorization).
	ActiveToken, PassiveToken *cred.Token
	// Proxy, for a proxy ("crt") copy: the active side is authenticated
	// with it, and the passive side gets a credential obtained from it
	// with the proxy (a macaroon), as gfal2 does.
	Proxy *cred.Proxy
	// Overwrite asks the destination to replace an existing file.
	Overwrite bool
}

// CopyResult is a copy that ended in success.
type CopyResult struct {
	Status    int // the active side's answer (201 for XRootD 5.x, 202 for 6.x)
	Markers   int // performance markers read
	Bytes     int64
	Redirects int
	Took      time.Duration
}

// CopySide says which endpoint of a copy failed.
type CopySide int

// The sides of a copy.
const (
	ActiveSide CopySide = iota
	PassiveSide
)

// CopyError is a copy that did not succeed: a classified Error (Kind,
// Status, Text) and the side it comes from. Stage names a step before the
// copy itself ("credential": the passive side refused or failed the
// request for a credential, e.g. a macaroon); Remote is the passive side's
// status as the active side reports it (0 when not given).
type CopyError struct {
	Side   CopySide
	Stage  string
	Remote int
	// RefusedAsServerError: the side refused (its message says permission
	// denied) but answered with a server error (5xx) instead of 401/403.
	RefusedAsServerError bool
	Err                  *Error
}

// StageCredential is the Stage of a failed request for the passive side's
// credential.
const StageCredential = "credential"

func (e *CopyError) Error() string { return e.Err.Error() }
func (e *CopyError) Unwrap() error { return e.Err }

// CopyExpect is what a reproduce line of a copy must see to exit 0.
type CopyExpect int

// Expectations of a copy's reproduce line.
const (
	ExpectSuccess       CopyExpect = iota // the final line is success:
	ExpectActiveRefusal                   // the active side refuses (401/403)
	ExpectRemoteRefusal                   // the passive side refuses (the failure line reports 401/403)
)

// CopyRepro describes a copy for its reproduce lines. Tokens are read from
// $SRC_TOKEN_FILE (the source side's) and $DST_TOKEN_FILE (the
// destination side's), the proxy from $X509_USER_PROXY.
type CopyRepro struct {
	Mode                                CopyMode
	Source, Destination                 Location
	Proxy                               bool
	SourceScopes, DestinationScopes     string
	SourceAudience, DestinationAudience string
	Overwrite                           bool
	Timeout                             time.Duration
	Expect                              CopyExpect
}

// Location is a file on an endpoint: the endpoint's URL (scheme://host[:port])
// and the storage path.
type Location struct {
	Base *url.URL
	Path string
}

// Environment variables of the TPC reproduce lines.
const (
	EnvSrcTokenFile = "SRC_TOKEN_FILE"
	EnvDstTokenFile = "DST_TOKEN_FILE"
)

// CopyReproducer is a Transport that knows third-party copy: it opens the
// transport of a partner and renders a copy as shell lines with the
// protocol's reference client.
type CopyReproducer interface {
	// Peer opens the transport of another endpoint of the same protocol
	// (a TPC partner, described by t) with the same credentials; closeFn
	// releases its connections. No connection is made before a request.
	Peer(t probe.Target) (tr Transport, closeFn func(), err error)
	CopyLines(r CopyRepro) []string
}

// Copier is a Transport that drives third-party copies.
type Copier interface {
	CopyReproducer
	// URL is the URL of a storage path on the transport's endpoint.
	URL(p string) string
	// Copy performs the copy and follows it to its end (or ctx's
	// deadline). A nil error means the copy reported success; every other
	// outcome is a *CopyError (or a *CredError for the probe's own
	// credentials).
	Copy(ctx context.Context, req CopyRequest) (CopyResult, error)
}

// NoCopier is a Transport whose protocol has no native third-party copy
// in this probe: Missing says exactly what would be needed, for the
// UNKNOWN detail of its TPC checks (proxy: for the proxy variant).
type NoCopier interface {
	CopyReproducer
	TPCMissing(proxy bool) string
}
