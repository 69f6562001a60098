package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/httptpc"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/registry"
	"github.com/gridprobe/gridprobe/probes/storage"
	"github.com/gridprobe/gridprobe/probes/webdav"
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
	// Creds: the proxy the files are made and removed with (through
	// the WebDAV storage of probes/webdav), the CA directory and the
	// token source of the copies.
	Creds *probe.Credentials
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
	site, err := openArea(ctx, e.Creds, e.Site, e.SiteWriteDir, runID)
	if err != nil {
		return nil, err
	}
	defer site.remove()
	partner, err := openArea(ctx, e.Creds, e.Partner, e.PartnerWriteDir, runID)
	if err != nil {
		return nil, err
	}
	defer partner.remove()
	ca, err := e.Creds.CA()
	if err != nil {
		return nil, err
	}
	c := httptpc.NewClient(func(hostport string) *tls.Config { return ca.TLSConfig(hostport, nil) })
	defer c.Close()
	var out []TPCResult
	for _, size := range sizes {
		src := site.s.Path(fmt.Sprintf("src-%d.dat", size))
		data := make([]byte, size)
		_, _ = rand.Read(data)
		if err := site.st.Write(ctx, src, data, storage.New); err != nil {
			return nil, err
		}
		for _, mode := range []httptpc.Mode{httptpc.Pull, httptpc.Push} {
			for i := 0; i < runs; i++ {
				r, err := copyOnce(ctx, c, e, mode, src, partner.s.Path(fmt.Sprintf("%s-%d-%d.dat", mode, size, i)), size)
				if err != nil {
					return nil, err
				}
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// area is a run's scratch area on one SE, reached through that SE's WebDAV
// storage with the proxy.
type area struct {
	st    storage.Store
	s     probe.Scratch
	close func()
}

// openArea opens the WebDAV storage of base and makes the scratch area.
func openArea(ctx context.Context, creds *probe.Credentials, base, writeDir, runID string) (*area, error) {
	s, err := probe.NewScratch(writeDir, runID)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	t := probe.Target{Config: &config.Config{}, Site: &config.Site{Name: "bench"}, Creds: creds,
		Service: &config.Service{Type: webdav.Type, URL: u, RawURL: base}}
	st, closeFn, err := registry.OpenStore(ctx, t)
	if err != nil {
		return nil, err
	}
	if err := st.Mkdir(ctx, s.Dir(), true); err != nil && !storage.Is(err, storage.Exists) {
		closeFn()
		return nil, err
	}
	return &area{st: st, s: s, close: closeFn}, nil
}

// remove deletes the area's files and the area itself, through its guard.
func (a *area) remove() {
	defer a.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	entries, _ := a.st.List(ctx, a.s.Dir())
	for _, f := range entries {
		_ = a.s.Delete(ctx, f.Path, a.st.Delete)
	}
	_ = a.s.Delete(ctx, a.s.Dir(), a.st.Rmdir)
}

// copyOnce copies src on the site to dst on the partner with the
// narrowest tokens and times it.
func copyOnce(ctx context.Context, c *httptpc.Client, e TPCEnv, mode httptpc.Mode, src, dst string, size int64) (TPCResult, error) {
	srcTok, err := e.Creds.Tokens.Token(ctx, cred.TokenRequest{Scopes: []string{"storage.read:" + rel(src, e.SiteScopeBase)}, Audience: e.Site})
	if err != nil {
		return TPCResult{}, err
	}
	dstTok, err := e.Creds.Tokens.Token(ctx, cred.TokenRequest{Scopes: []string{"storage.create:" + rel(dirOf(dst), e.PartnerScopeBase)}, Audience: e.Partner})
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
