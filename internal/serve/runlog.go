package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// maxRunLog bounds the log kept per run for /probe?debug=true.
const maxRunLog = 1 << 20

// runLog is the engine.Logger of one run: every line is redacted, kept (up
// to maxRunLog) for the debug output and passed to the server log at debug
// level.
type runLog struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
	log       *slog.Logger
	runID     string
}

func (l *runLog) Logf(format string, args ...any) {
	line := cred.Redact(fmt.Sprintf(format, args...))
	l.mu.Lock()
	if l.buf.Len()+len(line) < maxRunLog {
		fmt.Fprintf(&l.buf, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), line)
	} else {
		l.truncated = true
	}
	l.mu.Unlock()
	if l.log != nil {
		l.log.Debug(line, "run", l.runID)
	}
}

func (l *runLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	if l.truncated {
		s += "[log truncated]\n"
	}
	return s
}

// redactingHandler keeps every server log line free of credentials, whatever
// a caller passes as message or attribute.
type redactingHandler struct{ slog.Handler }

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, cred.Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(slog.String(a.Key, cred.Redact(a.Value.String())))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = slog.String(a.Key, cred.Redact(a.Value.String()))
	}
	return redactingHandler{h.Handler.WithAttrs(red)}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h.Handler.WithGroup(name)}
}

// NewLogger returns a text slog.Logger on w whose lines pass through
// cred.Redact; level is the minimum level.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(redactingHandler{slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})})
}
