package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/httptpc"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// TPC (P6): the wall time of one HTTP-TPC copy between the testbed's two
// storage elements, by file size, and what the probe itself sends and
// receives for it (the file travels only between the SEs).

// TPCEnv is where P6 copies: the site (source of a pull by the partner,
// of a push to it) and the partner, each https://host:port with its scope
// base and a write directory, and the credentials.
type TPCEnv struct {
	Site, Partner                   string
	SiteScopeBase, PartnerScopeBase string
	SiteWriteDir, PartnerWriteDir   string
	Proxy                           *cred.Proxy
	CAs                             *cred.CAStore
	Tokens                          cred.Source
}

// TPCResult is one timed copy.
type TPCResult struct {
	Mode    httptpc.Mode
	Size    int64
	Wall    time.Duration // COPY sent to final line read
	Markers int
	Wire    httptpc.Wire // the probe's own traffic for the copy
}

// MeasureTPC makes a source file of each size on the site (with the
// proxy), copies it to the partner with tokens by pull (the partner
// fetches) and by push (the site sends), runs times each, and removes
// every file through the scratch guards. Results are in size, mode, run
// order.
func MeasureTPC(ctx context.Context, e TPCEnv, sizes []int64, runs int) ([]TPCResult, error) {
	runID := engine.NewRunID()
	siteArea, err := probe.NewScratch(e.SiteWriteDir, runID)
	if err != nil {
		return nil, err
	}
	partnerArea, err := probe.NewScratch(e.PartnerWriteDir, runID)
	if err != nil {
		return nil, err
	}
	pc, pp := proxyClient(e, e.Site), proxyClient(e, e.Partner)
	defer pc.CloseIdleConnections()
	defer pp.CloseIdleConnections()
	defer removeArea(pc, e.Site, siteArea)
	defer removeArea(pp, e.Partner, partnerArea)
	for _, a := range []struct {
		hc   *http.Client
		base string
		s    probe.Scratch
	}{{pc, e.Site, siteArea}, {pp, e.Partner, partnerArea}} {
		if err := davDo(ctx, a.hc, "MKCOL", a.base+a.s.Dir(), nil, 201); err != nil {
			return nil, err
		}
	}
	c := httptpc.NewClient(func(hostport string) *tls.Config { return e.CAs.TLSConfig(hostport, nil) })
	defer c.Close()
	var out []TPCResult
	for _, size := range sizes {
		src := siteArea.Path(fmt.Sprintf("src-%d.dat", size))
		data := make([]byte, size)
		_, _ = rand.Read(data)
		if err := davDo(ctx, pc, http.MethodPut, e.Site+src, data, 200, 201); err != nil {
			return nil, err
		}
		for _, mode := range []httptpc.Mode{httptpc.Pull, httptpc.Push} {
			for i := 0; i < runs; i++ {
				r, err := copyOnce(ctx, c, e, mode, src, partnerArea.Path(fmt.Sprintf("%s-%d-%d.dat", mode, size, i)), size)
				if err != nil {
					return nil, err
				}
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// copyOnce copies src on the site to dst on the partner with the
// narrowest tokens and times it.
func copyOnce(ctx context.Context, c *httptpc.Client, e TPCEnv, mode httptpc.Mode, src, dst string, size int64) (TPCResult, error) {
	srcTok, err := e.Tokens.Token(ctx, cred.TokenRequest{Scopes: []string{"storage.read:" + rel(src, e.SiteScopeBase)}, Audience: e.Site})
	if err != nil {
		return TPCResult{}, err
	}
	dstTok, err := e.Tokens.Token(ctx, cred.TokenRequest{Scopes: []string{"storage.create:" + rel(dirOf(dst), e.PartnerScopeBase)}, Audience: e.Partner})
	if err != nil {
		return TPCResult{}, err
	}
	req := httptpc.CopyRequest{Mode: mode, Source: e.Site + src, Destination: e.Partner + dst, ActiveToken: dstTok, PassiveToken: srcTok}
	if mode == httptpc.Push {
		req.ActiveToken, req.PassiveToken = srcTok, dstTok
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	before := c.Wire()
	res, err := c.Copy(cctx, req)
	if err != nil {
		return TPCResult{}, fmt.Errorf("%s of %d B: %w", mode, size, err)
	}
	return TPCResult{Mode: mode, Size: size, Wall: res.Duration, Markers: res.Progress.Markers, Wire: c.Wire().Sub(before)}, nil
}

func rel(p, base string) string {
	r := strings.TrimPrefix(p, strings.TrimSuffix(base, "/"))
	if r == "" {
		return "/"
	}
	return r
}

func dirOf(p string) string { return p[:strings.LastIndexByte(p, '/')] }

// proxyClient is an HTTP client for the endpoint base with the proxy as
// TLS client certificate.
func proxyClient(e TPCEnv, base string) *http.Client {
	host := base
	if u, err := url.Parse(base); err == nil {
		host = u.Host
	}
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		TLSClientConfig: e.CAs.TLSConfig(host, &e.Proxy.Cert), DisableCompression: true}}
}

// davDo sends one request and wants one of the statuses.
func davDo(ctx context.Context, hc *http.Client, method, u string, body []byte, ok ...int) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(body))
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	resp.Body.Close()
	for _, c := range ok {
		if resp.StatusCode == c {
			return nil
		}
	}
	return fmt.Errorf("%s %s: %s", method, u, resp.Status)
}

// removeArea removes a scratch area and the files in it (one level),
// through its guard, with the proxy.
func removeArea(hc *http.Client, base string, s probe.Scratch) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	del := func(ctx context.Context, p string) error {
		return davDo(ctx, hc, http.MethodDelete, base+p, nil, 200, 204, 404)
	}
	for _, p := range listNames(ctx, hc, base, s.Dir()) {
		_ = s.Delete(ctx, p, del)
	}
	_ = s.Delete(ctx, s.Dir(), del)
}

// listNames lists dir's entries (PROPFIND Depth 1) by path.
func listNames(ctx context.Context, hc *http.Client, base, dir string) []string {
	req, err := http.NewRequestWithContext(ctx, "PROPFIND", base+dir, nil)
	if err != nil {
		return nil
	}
	req.Header.Set("Depth", "1")
	resp, err := hc.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	var out []string
	for _, part := range strings.Split(buf.String(), "href>")[1:] {
		h, _, _ := strings.Cut(part, "<")
		if p, err := url.PathUnescape(strings.TrimSuffix(h, "/")); err == nil && p != dir && strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}
