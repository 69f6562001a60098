package xrootd

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path"
	"testing"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/storage"
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// TestStreamReadAgainstTestbed reads files around the kXR_read size limit
// from the testbed's SE with the store's Read (xrd.Session.StreamFile) and
// compares with what was written and with the session layer's whole-file
// read; a file of less than xrd.MaxReadChunk bytes takes one kXR_read.
func TestStreamReadAgainstTestbed(t *testing.T) {
	env := testbed(t)
	cfg, err := config.Parse("test-sites.yaml", []byte(sitesYAML(env, scenario{})))
	if err != nil {
		t.Fatal(err)
	}
	site := &cfg.Sites[0]
	target := probe.Target{Config: cfg, Site: site, Service: &site.Services[0], RunID: engine.NewRunID(),
		Creds: probe.NewCredentials(cfg.Credentials, nil)}
	s, err := newSvc(target)
	if err != nil {
		t.Fatal(err)
	}
	defer s.tr.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	proxy, err := target.Creds.Proxy()
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.tr.Proxy(ctx, storage.Own, proxy)
	if err != nil {
		t.Fatal(err)
	}
	c := st.(*store)
	dir := path.Join(target.Service.WriteDir, "streamtest-"+target.RunID)
	if err := c.sess.Mkdir(ctx, dir, 0o755, true); err != nil {
		t.Fatal(err)
	}
	defer func() { // after a failure: what the test created must not stay
		if _, err := xrdfsGSI(env, "stat", dir); err == nil {
			out, err := xrdfsGSI(env, "rm", "-r", dir)
			t.Errorf("%s was left behind (rm -r: %v %s)", dir, err, out)
		}
	}()
	for _, size := range []int{0, 1, 1 << 20, xrd.MaxReadChunk - 1, xrd.MaxReadChunk, 2*xrd.MaxReadChunk + 3} {
		p := path.Join(dir, fmt.Sprintf("f%d", size))
		data := make([]byte, size)
		_, _ = rand.Read(data)
		if err := c.Write(ctx, p, data, storage.New); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		var reads []string
		tctx := xrd.WithTrace(ctx, &xrd.Trace{Read: func(_ string, off int64, rlen int) { reads = append(reads, fmt.Sprint(off, "+", rlen)) }})
		ri, err := c.Read(tctx, p, &got)
		if err != nil || ri.Bytes != int64(size) || !bytes.Equal(got.Bytes(), data) {
			t.Errorf("size %d: read %d bytes (equal %v): %v", size, ri.Bytes, bytes.Equal(got.Bytes(), data), err)
		}
		var want []string // size+1 bytes in requests of at most MaxReadChunk
		for off := 0; off <= size; off += xrd.MaxReadChunk {
			want = append(want, fmt.Sprint(off, "+", min(size+1-off, xrd.MaxReadChunk)))
		}
		if fmt.Sprint(reads) != fmt.Sprint(want) {
			t.Errorf("size %d: kXR_reads %v, want %v", size, reads, want)
		}
		whole, wholeBy, err := c.sess.ReadFile(ctx, p, maxRead)
		if err != nil || ri.From != wholeBy || !bytes.Equal(whole, data) {
			t.Errorf("size %d: streamed from %q, whole read from %q: %v", size, ri.From, wholeBy, err)
		}
		if size > 2 {
			part, err := c.ReadRange(ctx, p, 1, int64(size-2))
			if err != nil || !bytes.Equal(part, data[1:size-1]) {
				t.Errorf("size %d: ranged read of %d B at 1: %v", size, size-2, err)
			}
		}
		if size > 0 {
			if _, _, err := c.sess.StreamFile(ctx, p, int64(size-1), &bytes.Buffer{}); !errors.Is(err, xrd.ErrTooLarge) {
				t.Errorf("size %d over a limit of %d: %v", size, size-1, err)
			}
		}
		if err := c.sess.Rm(ctx, p); err != nil {
			t.Error(err)
		}
	}
	if err := c.sess.Rmdir(ctx, dir); err != nil {
		t.Error(err)
	}
}
