package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"hash/adler32"
	"path"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// payloadSize is what the write rules upload.
const payloadSize = 64 << 10

// payload is the content a write uploads: a header naming the run and the
// check, then random bytes.
func payload(env *engine.Env, size int) []byte {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	copy(b, fmt.Sprintf("gridprobe %s %s\n", env.RunID, env.Check))
	return b
}

// step is one credential of a cycle: the store, how details name it, and
// the token (nil for a proxy) whose description a failure adds.
type step struct {
	st  Store
	who string
	tok *cred.Token
	// scopes the token was asked for (nil for a proxy), for a diagnosis.
	scopes []Scope
}

// cycle are the credentials of each step of a write or directory cycle.
type cycle struct {
	create, read, del step
	tokenFirst        bool
	// createWhy/delWhy name the rule a refusal breaks (tokens).
	createWhy, delWhy string
	// listInformational: a refused listing is a WARNING (the token profile
	// does not define listing).
	listInformational bool
}

// fail is failure() for a step, naming its token.
func (b *Book) fail(s step, what, why string, err error) engine.Outcome {
	return b.tokenFailure(b.failure(what, s.who, why, err), s.tok)
}

// failAgain is fail() for a step whose token was refused: the diagnosis
// (diagnose.go) repeats the operation op (again) with varied tokens. A
// proxy's failure is fail()'s.
func (b *Book) failAgain(ctx context.Context, s step, what, why string, err error, op Op, again func(context.Context, Store) error) engine.Outcome {
	o := b.fail(s, what, why, err)
	if s.tok == nil {
		return o
	}
	return b.withDiagnosis(ctx, o, diagCase{what: what, scopes: s.scopes, aud: b.aud, tok: s.tok, err: err, op: op, again: again})
}

// whom names the credentials of a cycle, once when they are the same.
func (c cycle) whom() string {
	if c.create.who == c.read.who && c.read.who == c.del.who {
		return "the " + c.create.who
	}
	ws := []string{c.create.who, c.read.who, c.del.who}
	for i := range ws {
		ws[i] = strings.TrimPrefix(ws[i], "token ")
	}
	return "tokens " + strings.Join(ws, ", ")
}

// writeCycle (7crt-write, 17tkn-write): create p, stat it, read it back,
// compare, the server's checksum, delete it, confirm it is gone.
func (b *Book) writeCycle(ctx context.Context, env *engine.Env, c cycle, p string) engine.Outcome {
	if err := b.ensureScratch(ctx, env, c.create.st); err != nil {
		return b.failMkdirScratch(ctx, c, err)
	}
	data := payload(env, payloadSize)
	sum := adler32.Checksum(data)
	b.cleanup(env, p, false, c.tokenFirst)
	start := time.Now()
	if err := c.create.st.Write(ctx, p, data, New); err != nil {
		return b.failAgain(ctx, c.create, "write "+p, c.createWhy, err, Op{Kind: OpPut, Path: p},
			func(ctx context.Context, st Store) error { return st.Write(ctx, p, data, New) })
	}
	wrote := time.Since(start)
	info, err := c.read.st.Stat(ctx, p)
	if err != nil {
		return b.failAgain(ctx, c.read, "stat of the new file "+p, "", err, Op{Kind: OpStat, Path: p}, statAgain(p))
	}
	if info.IsDir || info.Size != int64(len(data)) {
		return engine.Critf("wrote %d B to %s, stat says %s", len(data), b.rel(p), describe(info))
	}
	back := &sameContent{want: data}
	if _, err := c.read.st.Read(ctx, p, back); err != nil {
		return b.failAgain(ctx, c.read, "read-back of "+p, "", err, Op{Kind: OpGet, Path: p},
			func(ctx context.Context, st Store) error { return readSome(ctx, st, p) })
	}
	if !back.equal() {
		return engine.Critf("read back %d B of %s that differ from the %d B written", back.n, b.rel(p), len(data))
	}
	var rep readReport
	if err := b.serverChecksum(ctx, c.read.st, p, sum, &rep); err != nil {
		return engine.Critf("%s", err)
	}
	if err := b.deleteNow(ctx, c.del.st, p, false); err != nil {
		return b.failAgain(ctx, c.del, "delete "+p, c.delWhy, err, Op{Kind: OpDelete, Path: p}, b.deleteAgain(p, false))
	}
	if err := b.gone(ctx, c.read, p); err != nil {
		return *err
	}
	o := engine.Okf("created, read back and deleted %s (%d B in %.3fs, adler32 %08x, %s) with %s",
		b.rel(p), len(data), wrote.Seconds(), sum, checksumNote(rep), c.whom())
	if rep.warning != "" {
		o = engine.Warnf("%s; but %s", o.Detail, rep.warning)
	}
	o.Perf = []engine.Perf{{Label: "write_time", Value: wrote.Seconds(), Unit: "s"}, {Label: "size", Value: float64(len(data)), Unit: "B"}}
	return o
}

// failMkdirScratch: the create step could not make the scratch directory.
func (b *Book) failMkdirScratch(ctx context.Context, c cycle, err error) engine.Outcome {
	dir := b.scratch.Dir()
	return b.failAgain(ctx, c.create, "mkdir "+dir, c.createWhy, err, Op{Kind: OpMkdir, Path: dir, Parents: true},
		func(ctx context.Context, st Store) error {
			if err := st.Mkdir(ctx, dir, true); err != nil && !Is(err, Exists) {
				return err
			}
			return nil
		})
}

// statAgain repeats a stat of p.
func statAgain(p string) func(context.Context, Store) error {
	return func(ctx context.Context, st Store) error { _, err := st.Stat(ctx, p); return err }
}

// deleteAgain repeats a delete of p through the scratch guard.
func (b *Book) deleteAgain(p string, dir bool) func(context.Context, Store) error {
	return func(ctx context.Context, st Store) error { return b.deleteNow(ctx, st, p, dir) }
}

// checksumNote says what the server's checksum showed.
func checksumNote(rep readReport) string {
	switch {
	case rep.server != "":
		return "the server's agrees"
	case rep.noServer != "":
		return rep.noServer
	}
	return "no server checksum"
}

// gone confirms p no longer exists (NotFound), else the outcome.
func (b *Book) gone(ctx context.Context, s step, p string) *engine.Outcome {
	info, err := s.st.Stat(ctx, p)
	switch {
	case Is(err, NotFound):
		return nil
	case err == nil:
		o := engine.Critf("%s still exists after a successful delete (%s)", b.rel(p), describe(info))
		return &o
	}
	o := b.fail(s, "stat after deleting "+p+" (want: not found)", "", err)
	return &o
}

func describe(i Info) string {
	if i.IsDir {
		return "a directory"
	}
	return fmt.Sprintf("a file of %d B", i.Size)
}

// dirCycle (8crt-directory, 18tkn-directory): make dir, create a file in
// it, list it, remove file and dir, confirm dir is gone.
func (b *Book) dirCycle(ctx context.Context, env *engine.Env, c cycle, dir, file string) engine.Outcome {
	if err := b.ensureScratch(ctx, env, c.create.st); err != nil {
		return b.failMkdirScratch(ctx, c, err)
	}
	b.cleanup(env, dir, true, c.tokenFirst)
	if err := c.create.st.Mkdir(ctx, dir, false); err != nil {
		return b.failAgain(ctx, c.create, "mkdir "+dir, c.createWhy, err, Op{Kind: OpMkdir, Path: dir},
			func(ctx context.Context, st Store) error { return st.Mkdir(ctx, dir, false) })
	}
	data := payload(env, 1024)
	b.cleanup(env, file, false, c.tokenFirst)
	if err := c.create.st.Write(ctx, file, data, New); err != nil {
		return b.failAgain(ctx, c.create, "write "+file+" in the new directory", c.createWhy, err, Op{Kind: OpPut, Path: file},
			func(ctx context.Context, st Store) error { return st.Write(ctx, file, data, New) })
	}
	n, note, o := b.listShows(ctx, c, dir, file, int64(len(data)))
	if o != nil {
		return *o
	}
	if err := b.deleteNow(ctx, c.del.st, file, false); err != nil {
		return b.failAgain(ctx, c.del, "delete "+file, c.delWhy, err, Op{Kind: OpDelete, Path: file}, b.deleteAgain(file, false))
	}
	if err := b.deleteNow(ctx, c.del.st, dir, true); err != nil {
		return b.failAgain(ctx, c.del, "rmdir "+dir, c.delWhy, err, Op{Kind: OpRmdir, Path: dir}, b.deleteAgain(dir, true))
	}
	if err := b.gone(ctx, c.read, dir); err != nil {
		return *err
	}
	if note != "" {
		return engine.Warnf("created %s and a file in it, removed both; %s; with %s", b.rel(dir), note, c.whom())
	}
	return engine.Okf("created %s and a file in it, listed it (%d entries), removed both, with %s", b.rel(dir), n, c.whom())
}

// listShows lists dir and finds file (a file of size). A refused listing,
// or one without the file, is a note when listing is informational.
func (b *Book) listShows(ctx context.Context, c cycle, dir, file string, size int64) (int, string, *engine.Outcome) {
	ents, err := c.read.st.List(ctx, dir)
	if err != nil {
		if c.listInformational && Is(err, Denied) {
			return 0, fmt.Sprintf("listing refused with the %s: %s (the WLCG profile does not define listing)", c.read.who, b.errText(err)), nil
		}
		o := b.fail(c.read, "listing "+dir, "", err)
		return 0, "", &o
	}
	name := path.Base(file)
	for _, e := range ents {
		if e.Name == name && !e.IsDir && (e.Size < 0 || e.Size == size) {
			return len(ents), "", nil
		}
	}
	msg := fmt.Sprintf("listing of %s with the %s does not show %s as a file of %d B (%d entries)", b.rel(dir), c.read.who, name, size, len(ents))
	if c.listInformational {
		return len(ents), msg, nil
	}
	o := engine.Critf("%s", msg)
	return 0, "", &o
}

// sameContent is an io.Writer that compares what is written to it with
// want, without keeping it.
type sameContent struct {
	want   []byte
	n      int
	differ bool
}

func (s *sameContent) Write(p []byte) (int, error) {
	end := s.n + len(p)
	if !s.differ && (end > len(s.want) || !bytes.Equal(s.want[s.n:end], p)) {
		s.differ = true
	}
	s.n = end
	return len(p), nil
}

// equal reports whether everything written equals want.
func (s *sameContent) equal() bool { return !s.differ && s.n == len(s.want) }
