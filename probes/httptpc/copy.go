package httptpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// Mode is the direction of a copy.
type Mode int

// Pull: the destination fetches from the source. Push: the source sends.
const (
	Pull Mode = iota + 1
	Push
)

func (m Mode) String() string {
	switch m {
	case Pull:
		return "pull"
	case Push:
		return "push"
	}
	return "mode?"
}

// Overwrite is the Overwrite header: absent (the server's default, which
// for XRootD is to truncate an existing destination), T or F.
type Overwrite int

// Overwrite settings.
const (
	OverwriteUnset Overwrite = iota
	OverwriteYes
	OverwriteNo
)

// CopyRequest is one third-party copy.
type CopyRequest struct {
	Mode        Mode
	Source      string // https URL of the file to copy
	Destination string // https URL of the copy
	// ActiveToken authorises the active side (Authorization: Bearer). Nil:
	// the active side is authenticated by the Client's TLS certificate.
	ActiveToken *cred.Token
	// PassiveToken is forwarded to the passive side
	// (TransferHeaderAuthorization: Bearer): a token or a macaroon. Nil:
	// the passive side gets no credential.
	PassiveToken *cred.Token
	Overwrite    Overwrite
	Limits       Limits
	// MaxRedirects bounds the 307s followed (default 5).
	MaxRedirects int
	// OnMarker, when set, is called after each complete marker.
	OnMarker func(Progress)
}

// CopyResult is a copy that ended with "success:".
type CopyResult struct {
	Status    int      // the active side's status (201 for XRootD 5.x, 202 for 6.x)
	URL       string   // the COPY target after redirects
	Redirects []string // Location of each redirect followed
	Final     Final
	Progress  Progress
	Duration  time.Duration // from the first COPY to the final line
}

// DefaultTimeout bounds a copy whose context has no deadline.
const DefaultTimeout = 10 * time.Minute

// Header names as XRootD before 5.7 matches them (case-sensitively).
const (
	hdrTransferAuth = "TransferHeaderAuthorization"
	hdrCredential   = "Credential"
)

// Copy asks the active side to copy and follows the stream to its final
// line or ctx's deadline. A nil error means the final line was "success:";
// every other outcome is an *Error.
func (c *Client) Copy(ctx context.Context, req CopyRequest) (CopyResult, error) {
	active, err := req.active()
	if err != nil {
		return CopyResult{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	start := time.Now()
	resp, res, err := c.send(ctx, req, active)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	prog, final, rerr := readStream(resp.Body, req.Limits, req.OnMarker)
	res.Progress, res.Duration = prog, time.Since(start)
	if final == nil {
		return res, streamError(ctx, req.Mode, res, rerr)
	}
	// Let the connection be reused: the terminating chunk follows at once.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	res.Final = *final
	if final.Verdict != Success {
		e := finalError(*final)
		e.Mode, e.URL, e.Status, e.Progress = req.Mode, res.URL, res.Status, prog
		return res, e
	}
	return res, nil
}

func (r CopyRequest) active() (*url.URL, error) {
	target := r.Destination
	switch r.Mode {
	case Pull:
	case Push:
		target = r.Source
	default:
		return nil, fmt.Errorf("httptpc: copy mode not set (Pull or Push)")
	}
	for _, s := range []string{r.Source, r.Destination} {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("httptpc: %q is not an https URL", s)
		}
	}
	return url.Parse(target)
}

// send issues the COPY and follows redirects until an answer that is not
// one. On success the caller owns resp.Body.
func (c *Client) send(ctx context.Context, req CopyRequest, target *url.URL) (*http.Response, CopyResult, error) {
	res := CopyResult{URL: target.String()}
	max := req.MaxRedirects
	if max <= 0 {
		max = 5
	}
	for {
		resp, err := c.do(ctx, req, target)
		if err != nil {
			return nil, res, netError(ctx, req.Mode, res.URL, err)
		}
		res.Status = resp.StatusCode
		switch resp.StatusCode {
		case http.StatusOK, http.StatusCreated, http.StatusAccepted:
			return resp, res, nil
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
			http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			next, err := redirectTarget(target, resp)
			if err == nil && len(res.Redirects) >= max {
				err = fmt.Errorf("more than %d redirects", max)
			}
			if err != nil {
				return nil, res, &Error{Kind: KindProtocol, Side: SideActive, Mode: req.Mode, URL: res.URL, Status: resp.StatusCode, Err: err}
			}
			c.wire.redirects.Add(1)
			target = next
			res.URL = next.String()
			res.Redirects = append(res.Redirects, res.URL)
		default:
			e := statusError(resp.StatusCode, bodyText(resp))
			resp.Body.Close()
			e.Mode, e.URL = req.Mode, res.URL
			return nil, res, e
		}
	}
}

func (c *Client) do(ctx context.Context, req CopyRequest, target *url.URL) (*http.Response, error) {
	hr, err := http.NewRequestWithContext(ctx, "COPY", target.String(), nil)
	if err != nil {
		return nil, err
	}
	if req.Mode == Pull {
		hr.Header.Set("Source", req.Source)
	} else {
		hr.Header.Set("Destination", req.Destination)
	}
	if req.ActiveToken != nil {
		hr.Header.Set("Authorization", "Bearer "+req.ActiveToken.Bearer())
	}
	if req.PassiveToken != nil {
		// Set directly: Header.Set would send "Transferheaderauthorization".
		hr.Header[hdrTransferAuth] = []string{"Bearer " + req.PassiveToken.Bearer()}
	}
	hr.Header[hdrCredential] = []string{"none"}
	switch req.Overwrite {
	case OverwriteYes:
		hr.Header.Set("Overwrite", "T")
	case OverwriteNo:
		hr.Header.Set("Overwrite", "F")
	}
	hr.Header.Set("User-Agent", "gridprobe-httptpc")
	return c.roundTrip(hr)
}

// roundTrip sends one request, counted; errors lose their url.Error
// wrapping (the caller names the request).
func (c *Client) roundTrip(hr *http.Request) (*http.Response, error) {
	c.wire.requests.Add(1)
	resp, err := c.hc.Do(hr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	return resp, nil
}

func redirectTarget(from *url.URL, resp *http.Response) (*url.URL, error) {
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%d without Location", resp.StatusCode)
	}
	next, err := from.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("redirect Location %s: %v", quoteLine(loc), err)
	}
	if next.Scheme != "https" || next.Host == "" {
		return nil, fmt.Errorf("redirect to %s refused: not an https URL", quoteLine(next.Redacted()))
	}
	return next, nil
}

// bodyText reads (a bounded part of) an error body as one line.
func bodyText(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return oneLine(string(b), 200)
}

// netError classifies a COPY that got no answer.
func netError(ctx context.Context, mode Mode, u string, err error) *Error {
	e := &Error{Kind: KindTransport, Side: SideActive, Mode: mode, URL: u, Err: err}
	if ctx.Err() != nil {
		e.Kind, e.Err = KindTimeout, fmt.Errorf("no answer to COPY within the deadline: %w", ctx.Err())
	}
	return e
}

// streamError classifies a stream that stopped before its final line.
func streamError(ctx context.Context, mode Mode, res CopyResult, rerr error) *Error {
	e := &Error{Kind: KindTransport, Side: SideActive, Mode: mode, URL: res.URL, Status: res.Status, Progress: res.Progress, Err: rerr}
	switch {
	case ctx.Err() != nil:
		e.Kind, e.Err = KindTimeout, fmt.Errorf("no final line within the deadline: %w", ctx.Err())
	case errors.Is(rerr, errStream):
		e.Kind = KindProtocol
	case rerr == nil:
		e.Err = errors.New("stream ended without a final success/failure line")
	default:
		e.Err = fmt.Errorf("stream broken before the final line: %w", rerr)
	}
	return e
}
