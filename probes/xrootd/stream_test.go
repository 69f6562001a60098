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
	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// TestStreamReadAgainstTestbed reads files around the kXR_read size limit
// from the testbed's SE with conn.StreamRead (xrd.Session.StreamFile) and
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
	u := *target.Service.URL
	u.Path = ""
	s := &svc{t: target, u: &u, url: u.String(), sessions: map[string]*xrd.Session{}}
	defer s.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := s.gsiConn(ctx, kindProxy)
	if err != nil {
		t.Fatal(err)
	}
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
		if _, err := c.WriteFile(ctx, p, data, xrd.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		var reads []string
		tctx := xrd.WithTrace(ctx, &xrd.Trace{Read: func(_ string, off int64, rlen int) { reads = append(reads, fmt.Sprint(off, "+", rlen)) }})
		n, by, err := c.StreamRead(tctx, p, &got)
		if err != nil || n != int64(size) || !bytes.Equal(got.Bytes(), data) {
			t.Errorf("size %d: read %d bytes (equal %v): %v", size, n, bytes.Equal(got.Bytes(), data), err)
		}
		var want []string // size+1 bytes in requests of at most MaxReadChunk
		for off := 0; off <= size; off += xrd.MaxReadChunk {
			want = append(want, fmt.Sprint(off, "+", min(size+1-off, xrd.MaxReadChunk)))
		}
		if fmt.Sprint(reads) != fmt.Sprint(want) {
			t.Errorf("size %d: kXR_reads %v, want %v", size, reads, want)
		}
		whole, wholeBy, err := c.sess.ReadFile(ctx, p, maxRead)
		if err != nil || by != wholeBy || !bytes.Equal(whole, data) {
			t.Errorf("size %d: streamed from %q, whole read from %q: %v", size, by, wholeBy, err)
		}
		same := &sameContent{want: data}
		if _, _, err := c.StreamRead(ctx, p, same); err != nil || !same.equal() {
			t.Errorf("size %d: sameContent says differ: %v", size, err)
		}
		if size > 0 {
			other := &sameContent{want: append(bytes.Clone(data[:size-1]), data[size-1]^1)}
			c.StreamRead(ctx, p, other)
			short := &sameContent{want: data[:size-1]}
			c.StreamRead(ctx, p, short)
			if other.equal() || short.equal() {
				t.Errorf("size %d: sameContent missed a difference", size)
			}
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
