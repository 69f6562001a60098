package ce

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// maxBody bounds what is read from any A-REX answer.
const maxBody = 4 << 20

// callTimeout bounds one REST call inside a check's longer deadline.
const callTimeout = 30 * time.Second

// arcClient talks to one A-REX REST endpoint (<wsurl>/rest/1.0) with one
// credential: a proxy (TLS client certificate) or a bearer token.
type arcClient struct {
	base string // https://host:port/arex/rest/1.0
	hc   *http.Client
	tok  *cred.Token // nil: X.509
}

func newARCClient(wsURL string, tlsCfg *tls.Config, tok *cred.Token) *arcClient {
	tr := &http.Transport{
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   20 * time.Second,
		ResponseHeaderTimeout: callTimeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
	}
	return &arcClient{
		base: strings.TrimSuffix(wsURL, "/") + "/rest/1.0",
		hc:   &http.Client{Transport: tr},
		tok:  tok,
	}
}

func (c *arcClient) close() { c.hc.CloseIdleConnections() }

// httpError is a non-2xx answer. A-REX puts its message in the reason
// phrase ("403 User can't be assigned configuration").
type httpError struct {
	Method, Path string
	Code         int
	Status       string // "403 User can't be assigned configuration"
	Body         string // first line of the body, if any
}

func (e *httpError) Error() string {
	msg := e.Status
	if e.Body != "" && !strings.Contains(msg, e.Body) {
		msg += ": " + e.Body
	}
	return fmt.Sprintf("%s %s: %s", e.Method, e.Path, msg)
}

// denied reports an authentication or authorization refusal.
func (e *httpError) denied() bool {
	return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden
}

func isDenied(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.denied()
}

// arexAuthzReason is the reason phrase A-REX gives every authorization
// failure (no credential, a refused token, an unmapped proxy).
const arexAuthzReason = "User can't be assigned configuration"

// deniedAsServerError reports A-REX's authorization failure sent with a
// 5xx status: A-REX 7.0 answers "500 User can't be assigned
// configuration" where 6.17 answers 403. The request was refused, but a
// client sees a server fault, not a refusal.
func deniedAsServerError(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.Code >= 500 && strings.Contains(he.Status, arexAuthzReason)
}

func isNotFound(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.Code == http.StatusNotFound
}

// call does one request and returns the body of a 2xx answer.
func (c *arcClient) call(ctx context.Context, method, path, ctype string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.tok != nil {
		req.Header.Set("Authorization", "Bearer "+c.tok.Bearer())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, scrubURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &httpError{Method: method, Path: path, Code: resp.StatusCode, Status: cred.Redact(resp.Status), Body: cred.Redact(firstLine(string(data), 120))}
	}
	return data, nil
}

// scrubURLError drops the *url.Error wrapper (its URL is already in our
// message) and keeps the cause.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func firstLine(s string, max int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

func (c *arcClient) info(ctx context.Context) ([]byte, error) {
	return c.call(ctx, http.MethodGet, "/info", "", nil)
}

// submit posts an ADL job description and returns the new job's id.
func (c *arcClient) submit(ctx context.Context, adl []byte) (jobItem, error) {
	body, err := c.call(ctx, http.MethodPost, "/jobs?action=new", "application/xml", adl)
	if err != nil {
		return jobItem{}, err
	}
	items, err := parseJobs(body)
	if err != nil {
		return jobItem{}, err
	}
	if len(items) != 1 {
		return jobItem{}, fmt.Errorf("submission answered %d job items, want 1", len(items))
	}
	it := items[0]
	if it.StatusCode != "201" && it.StatusCode != "200" {
		return it, fmt.Errorf("submission refused: %s %s", it.StatusCode, it.Reason)
	}
	if it.ID == "" {
		return it, errors.New("submission answered no job id")
	}
	return it, nil
}

// diagnose reads a control file of the job: status (the live state),
// failed (the failure reason), errors (the job's log), local, ...
func (c *arcClient) diagnose(ctx context.Context, id, what string) (string, error) {
	b, err := c.call(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/diagnose/"+what, "", nil)
	return string(b), err
}

func (c *arcClient) sessionFile(ctx context.Context, id, name string) ([]byte, error) {
	return c.call(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/session/"+name, "", nil)
}

func (c *arcClient) session(ctx context.Context, id string) (sessionList, error) {
	b, err := c.call(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/session", "", nil)
	if err != nil {
		return sessionList{}, err
	}
	return parseSession(b)
}

// bulk runs action (kill, clean, status, info) on one job. A-REX answers 201
// for every bulk POST; the item's status-code is the real result.
func (c *arcClient) bulk(ctx context.Context, action, id string) (jobItem, error) {
	req := fmt.Sprintf(`{"job":[{"id":%q}]}`, id)
	body, err := c.call(ctx, http.MethodPost, "/jobs?action="+action, "application/json", []byte(req))
	if err != nil {
		return jobItem{}, err
	}
	items, err := parseJobs(body)
	if err != nil {
		return jobItem{}, err
	}
	for _, it := range items {
		if it.ID == id {
			return it, nil
		}
	}
	return jobItem{}, fmt.Errorf("%s: no answer for job %s", action, id)
}

// list returns the ids of the caller's jobs.
func (c *arcClient) list(ctx context.Context) ([]string, error) {
	body, err := c.call(ctx, http.MethodGet, "/jobs", "", nil)
	if err != nil {
		return nil, err
	}
	items, err := parseJobs(body)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids, nil
}

// remove kills (when still active) and cleans a job, then waits until the
// CE no longer lists it: clean is asynchronous in A-REX.
func (c *arcClient) remove(ctx context.Context, id string) error {
	st, err := c.diagnose(ctx, id, "status")
	if isNotFound(err) {
		if gone, lerr := c.gone(ctx, id); lerr == nil && gone {
			return nil
		}
	}
	if !arcTerminal(strings.TrimSpace(st)) {
		if it, err := c.bulk(ctx, "kill", id); err != nil {
			return fmt.Errorf("kill job %s: %w", id, err)
		} else if it.StatusCode == "404" {
			return nil
		}
	}
	it, err := c.bulk(ctx, "clean", id)
	if err != nil {
		return fmt.Errorf("clean job %s: %w", id, err)
	}
	switch it.StatusCode {
	case "200", "202", "204":
	case "404":
		return nil
	default:
		return fmt.Errorf("clean job %s: %s %s", id, it.StatusCode, it.Reason)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		gone, err := c.gone(ctx, id)
		if err == nil && gone {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %s queued for cleaning but still listed: %w", id, ctx.Err())
		case <-tick.C:
		}
	}
}

func (c *arcClient) gone(ctx context.Context, id string) (bool, error) {
	ids, err := c.list(ctx)
	if err != nil {
		return false, err
	}
	for _, j := range ids {
		if j == id {
			return false, nil
		}
	}
	return true, nil
}

// arcTerminal: the job will not change state any more by itself.
func arcTerminal(state string) bool {
	switch strings.ToUpper(state) {
	case "FINISHED", "DELETED", "FAILED", "KILLED":
		return true
	}
	return false
}

// uploadTimeout bounds one input-file upload (the probe binary is ~20 MB).
const uploadTimeout = 3 * time.Minute

// upload puts the job's input files into its session directory
// (PUT <job>/session/<name>): A-REX starts a job whose description lists
// input files without a source once the client has uploaded them.
func (c *arcClient) upload(ctx context.Context, id string, files []inputFile) error {
	for _, f := range files {
		if err := c.put(ctx, id, f); err != nil {
			return err
		}
	}
	return nil
}

func (c *arcClient) put(ctx context.Context, id string, f inputFile) error {
	ctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	defer cancel()
	var body io.Reader = bytes.NewReader(f.content)
	size := int64(len(f.content))
	if f.content == nil {
		fh, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("input file %s: %w", f.name, err)
		}
		defer fh.Close()
		st, err := fh.Stat()
		if err != nil {
			return fmt.Errorf("input file %s: %w", f.name, err)
		}
		body, size = fh, st.Size()
	}
	p := "/jobs/" + url.PathEscape(id) + "/session/" + url.PathEscape(f.name)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+p, body)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", p, err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if c.tok != nil {
		req.Header.Set("Authorization", "Bearer "+c.tok.Bearer())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", p, scrubURLError(err))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &httpError{Method: http.MethodPut, Path: p, Code: resp.StatusCode, Status: cred.Redact(resp.Status), Body: cred.Redact(firstLine(string(data), 120))}
	}
	return nil
}
