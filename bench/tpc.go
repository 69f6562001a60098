package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"hash/adler32"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/httptpc"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// The TPC figure: HTTP third-party copies (pull, tokens) of files of
// several sizes from the testbed's main SE to its partner SE, both real
// XRootD 5.5.3 with libXrdHttpTPC on this machine, through probes/httptpc.
// The source files are uploaded first (untimed) into a scratch area of the
// bench's own on the main SE; every copy is verified (size and adler32 at
// the destination) and everything is deleted afterwards through the
// scratch guard.

// TPCSide is one SE of the copies.
type TPCSide struct {
	Base      string // https://host:port
	WriteDir  string // the scratch areas' parent
	ScopeBase string // the issuer's base path for this SE
}

// TPCCopy is one timed copy.
type TPCCopy struct {
	Size     int64
	Duration time.Duration // COPY sent → final line (httptpc.CopyResult.Duration)
	Markers  int
}

// TPCResult is the copies of one run, in the order made, and what the
// clean-up could not delete.
type TPCResult struct {
	Copies    []TPCCopy
	Leftovers []string
}

// tpcSideState is a side with its scratch area and plain HTTPS client.
type tpcSideState struct {
	TPCSide
	scratch probe.Scratch
	hc      *http.Client
}

func (s *tpcSideState) scope(kind, p string) string {
	rel := strings.TrimPrefix(p, s.ScopeBase)
	if rel == "" {
		rel = "/"
	}
	return "storage." + kind + ":" + rel
}

// TPCCopies uploads one file per size to src, then copies each repeats
// times to dst (pull: dst is the active side), and cleans up.
func TPCCopies(ctx context.Context, tokens cred.Source, ca *cred.CAStore, src, dst TPCSide, sizes []int64, repeats int) (res TPCResult, err error) {
	runID := engine.NewRunID()
	var sides [2]*tpcSideState
	for i, s := range []TPCSide{src, dst} {
		sc, err := probe.NewScratch(s.WriteDir, runID)
		if err != nil {
			return TPCResult{}, err
		}
		u, err := url.Parse(s.Base)
		if err != nil {
			return TPCResult{}, err
		}
		tr := &http.Transport{TLSClientConfig: ca.TLSConfig(u.Host, nil), DisableCompression: true}
		defer tr.CloseIdleConnections()
		sides[i] = &tpcSideState{TPCSide: s, scratch: sc, hc: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
	}
	s, d := sides[0], sides[1]
	var files [2][]string
	defer func() {
		for i, side := range sides {
			res.Leftovers = append(res.Leftovers, cleanupSide(context.WithoutCancel(ctx), tokens, side, files[i])...)
		}
	}()
	for _, side := range sides {
		if err := side.mkcol(ctx, tokens); err != nil {
			return TPCResult{}, err
		}
	}
	c := httptpc.NewClient(func(hostport string) *tls.Config { return ca.TLSConfig(hostport, nil) })
	defer c.Close()
	for _, size := range sizes {
		name := fmt.Sprintf("tpc-%d.dat", size)
		sum, err := s.upload(ctx, tokens, name, size)
		files[0] = append(files[0], s.scratch.Path(name))
		if err != nil {
			return res, err
		}
		for r := 0; r < repeats; r++ {
			dname := fmt.Sprintf("tpc-%d-%d.dat", size, r)
			files[1] = append(files[1], d.scratch.Path(dname))
			cp, err := copyOne(ctx, c, tokens, s, d, name, dname)
			if err != nil {
				return res, err
			}
			if err := d.verify(ctx, tokens, dname, size, sum); err != nil {
				return res, err
			}
			res.Copies = append(res.Copies, TPCCopy{Size: size, Duration: cp.Duration, Markers: cp.Progress.Markers})
		}
	}
	return res, nil
}

// copyOne pulls src's file name to dst's dname with the narrowest tokens.
func copyOne(ctx context.Context, c *httptpc.Client, tokens cred.Source, s, d *tpcSideState, name, dname string) (httptpc.CopyResult, error) {
	srcTok, err := tokens.Token(ctx, cred.TokenRequest{Scopes: []string{s.scope("read", s.scratch.Path(name))}, Audience: s.Base})
	if err != nil {
		return httptpc.CopyResult{}, err
	}
	dstTok, err := tokens.Token(ctx, cred.TokenRequest{Scopes: []string{d.scope("create", d.scratch.Dir())}, Audience: d.Base})
	if err != nil {
		return httptpc.CopyResult{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := c.Copy(cctx, httptpc.CopyRequest{Mode: httptpc.Pull, Source: s.Base + s.scratch.Path(name), Destination: d.Base + d.scratch.Path(dname),
		ActiveToken: dstTok, PassiveToken: srcTok, Overwrite: httptpc.OverwriteNo})
	if err != nil {
		return res, fmt.Errorf("copy of %s to %s: %w", name, d.Base, err)
	}
	return res, nil
}

// do sends one request with a token for scopes at the side's audience.
func (s *tpcSideState) do(ctx context.Context, tokens cred.Source, method, p string, scopes []string, body []byte, hdr map[string]string) (*http.Response, error) {
	tok, err := tokens.Token(ctx, cred.TokenRequest{Scopes: scopes, Audience: s.Base})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, s.Base+p, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Authorization", "Bearer "+tok.Bearer())
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s%s: %w", method, s.Base, p, err)
	}
	resp.Body.Close()
	return resp, nil
}

func (s *tpcSideState) mkcol(ctx context.Context, tokens cred.Source) error {
	resp, err := s.do(ctx, tokens, "MKCOL", s.scratch.Dir(), []string{s.scope("create", s.scratch.Dir())}, nil, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("MKCOL %s%s: %s", s.Base, s.scratch.Dir(), resp.Status)
	}
	return nil
}

// upload writes size pseudo-random bytes to name and returns their adler32.
func (s *tpcSideState) upload(ctx context.Context, tokens cred.Source, name string, size int64) (uint32, error) {
	body := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{'g', 'r', 'i', 'd', 'p', 'r', 'o', 'b', 'e'})
	_, _ = rng.Read(body)
	resp, err := s.do(ctx, tokens, http.MethodPut, s.scratch.Path(name), []string{s.scope("create", s.scratch.Dir())}, body, nil)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("PUT %s%s: %s", s.Base, s.scratch.Path(name), resp.Status)
	}
	return adler32.Checksum(body), nil
}

// verify compares the copy's size and adler32 (numerically) with the source's.
func (s *tpcSideState) verify(ctx context.Context, tokens cred.Source, name string, size int64, sum uint32) error {
	p := s.scratch.Path(name)
	resp, err := s.do(ctx, tokens, http.MethodHead, p, []string{s.scope("read", s.scratch.Dir())}, nil, map[string]string{"Want-Digest": "adler32"})
	if err != nil {
		return err
	}
	got, perr := strconv.ParseUint(strings.TrimPrefix(resp.Header.Get("Digest"), "adler32="), 16, 32)
	if resp.StatusCode != http.StatusOK || resp.ContentLength != size || perr != nil || uint32(got) != sum {
		return fmt.Errorf("copy %s%s: %s, %d bytes, digest %q; want %d bytes, adler32 %08x", s.Base, p, resp.Status, resp.ContentLength, resp.Header.Get("Digest"), size, sum)
	}
	return nil
}

// cleanupSide deletes files and then the scratch dir, through the guard,
// and names what it could not delete. XRootD 5.5.3 stats before a DELETE:
// the token needs read as well.
func cleanupSide(ctx context.Context, tokens cred.Source, s *tpcSideState, files []string) []string {
	scopes := []string{s.scope("read", s.scratch.Dir()), s.scope("modify", s.scratch.Dir())}
	var left []string
	for _, p := range append(files, s.scratch.Dir()) {
		err := s.scratch.Delete(ctx, p, func(ctx context.Context, p string) error {
			resp, err := s.do(ctx, tokens, http.MethodDelete, p, scopes, nil, nil)
			if err == nil && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
				err = fmt.Errorf("DELETE: %s", resp.Status)
			}
			return err
		})
		if err != nil {
			left = append(left, fmt.Sprintf("%s%s (%v)", s.Base, p, err))
		}
	}
	return left
}

// TPCFit is the least-squares line through the copies: wall = Overhead +
// size / Bandwidth (bytes per second), with each size's median.
type TPCFit struct {
	Overhead  time.Duration
	Bandwidth float64 // bytes per second
	Medians   map[int64]time.Duration
}

// Fit fits the line through the median copy time of each size.
func (r TPCResult) Fit() TPCFit {
	by := map[int64][]time.Duration{}
	for _, c := range r.Copies {
		by[c.Size] = append(by[c.Size], c.Duration)
	}
	f := TPCFit{Medians: map[int64]time.Duration{}}
	var xs, ys []float64
	for size, ds := range by {
		m := Median(ds)
		f.Medians[size] = m
		xs, ys = append(xs, float64(size)), append(ys, m.Seconds())
	}
	if len(xs) < 2 {
		return f
	}
	var mx, my float64
	for i := range xs {
		mx, my = mx+xs[i], my+ys[i]
	}
	mx, my = mx/float64(len(xs)), my/float64(len(xs))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	slope := sxy / sxx // seconds per byte
	f.Overhead = time.Duration((my - slope*mx) * float64(time.Second))
	if slope > 0 {
		f.Bandwidth = 1 / slope
	}
	return f
}

// Sizes returns the fitted sizes in increasing order.
func (f TPCFit) Sizes() []int64 {
	var s []int64
	for k := range f.Medians {
		s = append(s, k)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}
