package httptpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// Macaroon activities (XrdMacaroons, dCache) a proxy ("crt") copy asks the
// passive side for: what its role in the copy needs and nothing more.
var (
	// SourceActivities let the active side read the source (HEAD, GET).
	SourceActivities = []string{"DOWNLOAD", "READ_METADATA"}
	// DestinationActivities let the active side write the destination.
	DestinationActivities = []string{"UPLOAD"}
)

// MacaroonBody is the JSON a macaroon request sends.
func MacaroonBody(activities []string, validity time.Duration) string {
	b, _ := json.Marshal(struct {
		Caveats  []string `json:"caveats"`
		Validity string   `json:"validity"`
	}{[]string{"activity:" + strings.Join(activities, ",")}, isoDuration(validity)})
	return string(b)
}

// isoDuration writes d as an ISO 8601 duration in whole seconds (PT600S).
func isoDuration(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 60 {
		s = 60
	}
	return fmt.Sprintf("PT%dS", s)
}

// RequestMacaroon asks the storage element at fileURL for a macaroon
// limited to fileURL's path, the activities and validity, authenticated
// with the Client's certificate (the proxy). This is how gfal2 gives the
// passive side of a proxy copy a credential. The macaroon is registered
// for redaction.
func (c *Client) RequestMacaroon(ctx context.Context, fileURL string, activities []string, validity time.Duration) (*cred.Token, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, fileURL, strings.NewReader(MacaroonBody(activities, validity)))
	if err != nil {
		return nil, fmt.Errorf("macaroon request to %s: %w", fileURL, err)
	}
	hr.Header.Set("Content-Type", "application/macaroon-request")
	hr.Header.Set("User-Agent", "gridprobe-httptpc")
	resp, err := c.roundTrip(hr)
	if err != nil {
		return nil, netError(ctx, 0, fileURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, netError(ctx, 0, fileURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := statusError(resp.StatusCode, oneLine(string(body), 200))
		e.URL, e.Side = fileURL, SidePassive
		return nil, fmt.Errorf("macaroon request (POST %s): %w", fileURL, e)
	}
	var answer struct {
		Macaroon string `json:"macaroon"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&answer); err != nil || answer.Macaroon == "" {
		return nil, fmt.Errorf("macaroon request (POST %s): 200 without a macaroon in a JSON body (%d bytes)", fileURL, len(body))
	}
	tok, err := cred.NewToken(answer.Macaroon, "macaroon from "+fileURL)
	if err != nil {
		return nil, fmt.Errorf("macaroon from %s: %w", fileURL, err)
	}
	return tok, nil
}
