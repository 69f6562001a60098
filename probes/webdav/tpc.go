package webdav

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/probes/httptpc"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
)

// HTTP third-party copy for the rulebook's TPC rules: the transport is a
// storage.Copier through probes/httptpc (COPY with Source/Destination,
// TransferHeaderAuthorization with exactly that casing, Credential: none,
// the marker stream read to its final line; a macaroon from the passive
// side for a proxy copy, as gfal2 does).

var _ storage.Copier = (*transport)(nil)

// URL is the URL of a storage path on the endpoint.
func (t *transport) URL(p string) string { return t.urlOf(p) }

// Peer opens the transport of a partner endpoint with the same credentials.
func (t *transport) Peer(pt probe.Target) (storage.Transport, func(), error) {
	if pt.Service == nil || pt.Service.URL == nil || pt.Service.URL.Scheme != "https" {
		return nil, nil, fmt.Errorf("webdav: a TPC partner needs an https:// URL")
	}
	tr := newTransport(pt.Service.URL, pt.Creds)
	return tr, tr.close, nil
}

// tpcClient is the HTTP-TPC client of a TLS identity (cert nil: tokens).
func (t *transport) tpcClient(cert *tls.Certificate) (*httptpc.Client, error) {
	ca, err := t.creds.CA()
	if err != nil {
		return nil, &storage.CredError{Err: err}
	}
	kind := bearerKind
	if cert != nil {
		kind = "proxy"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tpc == nil {
		t.tpc = map[string]*httptpc.Client{}
	}
	if c, ok := t.tpc[kind]; ok {
		return c, nil
	}
	c := httptpc.NewClient(func(hostport string) *tls.Config { return ca.TLSConfig(hostport, cert) })
	t.tpc[kind] = c
	return c, nil
}

// Copy performs one HTTP-TPC copy. With a proxy the active side is
// authenticated by the TLS client certificate and the passive side by a
// macaroon it issues to the proxy (DOWNLOAD for a pull's source, UPLOAD
// for a push's destination).
func (t *transport) Copy(ctx context.Context, req storage.CopyRequest) (storage.CopyResult, error) {
	var cert *tls.Certificate
	if req.Proxy != nil {
		cert = &req.Proxy.Cert
	}
	c, err := t.tpcClient(cert)
	if err != nil {
		return storage.CopyResult{}, err
	}
	mode, passiveURL, acts := httptpc.Pull, req.Source, httptpc.SourceActivities
	if req.Mode == storage.Push {
		mode, passiveURL, acts = httptpc.Push, req.Destination, httptpc.DestinationActivities
	}
	hr := httptpc.CopyRequest{Mode: mode, Source: req.Source, Destination: req.Destination,
		ActiveToken: req.ActiveToken, PassiveToken: req.PassiveToken}
	if req.Overwrite {
		hr.Overwrite = httptpc.OverwriteYes
	}
	if req.Proxy != nil {
		mac, err := c.RequestMacaroon(ctx, passiveURL, acts, tpcMacaroonValidity(ctx))
		if err != nil {
			e := copyError(err)
			e.Side, e.Stage = storage.PassiveSide, storage.StageCredential
			return storage.CopyResult{}, e
		}
		hr.ActiveToken, hr.PassiveToken = nil, mac
	}
	res, err := c.Copy(ctx, hr)
	if err != nil {
		return storage.CopyResult{}, copyError(err)
	}
	return storage.CopyResult{Status: res.Status, Markers: res.Progress.Markers, Bytes: res.Progress.Bytes,
		Redirects: len(res.Redirects), Took: res.Duration}, nil
}

// tpcMacaroonValidity covers the copy: the time left to the deadline and a
// minute more.
func tpcMacaroonValidity(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl) + time.Minute
	}
	return httptpc.DefaultTimeout + time.Minute
}

// tpcKinds maps httptpc's classification onto the rulebook's.
var tpcKinds = map[httptpc.Kind]storage.Kind{
	httptpc.KindDenied: storage.Denied, httptpc.KindNotFound: storage.NotFound, httptpc.KindExists: storage.Exists,
	httptpc.KindUnsupported: storage.Unsupported, httptpc.KindTransport: storage.NoAnswer, httptpc.KindTimeout: storage.NoAnswer,
}

// copyError turns an httptpc error into a storage.CopyError: its kind, the
// side at fault, the passive side's status, and the short status a detail
// shows.
func copyError(err error) *storage.CopyError {
	var he *httptpc.Error
	if !errors.As(err, &he) {
		return &storage.CopyError{Err: &storage.Error{Op: "COPY", Kind: storage.Other, Text: err.Error(), Err: err}}
	}
	// The text leaves out "pull COPY <url>: ": the rule's detail names the copy.
	text := strings.TrimPrefix(he.Error(), fmt.Sprintf("%s COPY %s: ", he.Mode, he.URL))
	e := &storage.CopyError{Remote: he.RemoteStatus, RefusedAsServerError: he.RefusedAsServerError,
		Err: &storage.Error{Op: "COPY", Path: pathOf(he.URL), Kind: tpcKinds[he.Kind], Text: text, Err: err}}
	if he.Side == httptpc.SidePassive {
		e.Side = storage.PassiveSide
	}
	switch {
	case he.RemoteStatus != 0:
		e.Err.Status = fmt.Sprintf("remote %d %s", he.RemoteStatus, http.StatusText(he.RemoteStatus))
	case he.Kind == httptpc.KindTimeout:
		e.Err.Status = "no final line within the deadline"
	case he.Status != 0:
		e.Err.Status = fmt.Sprintf("%d %s", he.Status, http.StatusText(he.Status))
	}
	return e
}

// pathOf is the path of a URL (for the error's Path).
func pathOf(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Path
	}
	return ""
}

// CopyLines renders a copy as curl lines (probes/httptpc.Repro).
func (t *transport) CopyLines(r storage.CopyRepro) []string {
	hr := httptpc.Repro{Mode: httptpc.Pull, Source: locURL(r.Source), Destination: locURL(r.Destination), Proxy: r.Proxy,
		SourceScopes: r.SourceScopes, DestinationScopes: r.DestinationScopes, SourceAudience: r.SourceAudience,
		DestinationAudience: r.DestinationAudience, Timeout: r.Timeout, Expect: reproExpect[r.Expect]}
	if r.Mode == storage.Push {
		hr.Mode = httptpc.Push
	}
	if r.Overwrite {
		hr.Overwrite = httptpc.OverwriteYes
	}
	return hr.Lines()
}

var reproExpect = map[storage.CopyExpect]httptpc.Expect{storage.ExpectSuccess: httptpc.ExpectSuccess,
	storage.ExpectActiveRefusal: httptpc.ExpectActiveRefusal, storage.ExpectRemoteRefusal: httptpc.ExpectRemoteRefusal}

// locURL is the https URL of a location.
func locURL(l storage.Location) string {
	if l.Base == nil {
		return l.Path
	}
	u := *l.Base
	u.Path, u.RawPath, u.RawQuery, u.Fragment = l.Path, "", "", ""
	return u.String()
}
