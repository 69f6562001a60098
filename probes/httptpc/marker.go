package httptpc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// Marker is one performance marker of the stream:
//
//	Perf Marker
//	Timestamp: 1796671442
//	Stripe Index: 0
//	Stripe Bytes Transferred: 524288
//	Total Stripe Count: 1
//	RemoteConnections: tcp:127.0.0.1:18443
//	End
type Marker struct {
	Timestamp         time.Time // zero when the marker has none
	StripeIndex       int
	StripeBytes       int64 // bytes of this stripe so far
	TotalStripes      int   // 0 when the marker has none
	RemoteConnections string
}

// Verdict is the word of the stream's last line.
type Verdict string

// The verdicts an HTTP-TPC stream ends with.
const (
	Success Verdict = "success"
	Failure Verdict = "failure"
	Aborted Verdict = "aborted"
)

// Final is the stream's last line: "success: Created", "failure: <msg>" or
// "aborted: <msg>" (the word matched case-insensitively).
type Final struct {
	Verdict Verdict
	Message string // after the colon, trimmed and redacted
}

// Progress is what the markers said so far.
type Progress struct {
	Markers int   // complete markers read
	Bytes   int64 // sum over stripes of each stripe's last byte count
	Last    Marker
}

// Limits bound what is read from one stream.
type Limits struct {
	MaxLine  int   // bytes in one line, newline included (default 1 KiB)
	MaxTotal int64 // bytes in the whole stream (default 1 MiB: ~5 000 markers)
}

const (
	defaultMaxLine  = 1 << 10
	defaultMaxTotal = 1 << 20
	maxStripes      = 64 // stripe indexes tracked (XRootD uses 1, dCache a few)
)

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = defaultMaxLine
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = defaultMaxTotal
	}
	return l
}

// errStream is the cause of a stream that is not HTTP-TPC.
var errStream = errors.New("not an HTTP-TPC marker stream")

// parser consumes a marker stream one line at a time.
type parser struct {
	line     int
	inBlock  bool
	cur      Marker
	haveB    bool // the current block has Stripe Bytes Transferred
	stripes  map[int]int64
	progress Progress
	final    *Final
}

func (p *parser) fail(format string, a ...any) error {
	return fmt.Errorf("line %d: %s: %w", p.line, fmt.Sprintf(format, a...), errStream)
}

// feed takes one line (without its newline). It returns an error for a line
// that does not belong in a marker stream; after the final line it ignores
// the rest.
func (p *parser) feed(raw string) error {
	p.line++
	if p.final != nil {
		return nil
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil
	}
	if f, ok := finalLine(s); ok {
		p.final = &f
		return nil
	}
	if strings.EqualFold(s, "Perf Marker") {
		if p.inBlock {
			return p.fail("new marker before the End of the previous one")
		}
		p.inBlock, p.cur, p.haveB = true, Marker{}, false
		return nil
	}
	if !p.inBlock {
		return p.fail("%s outside a performance marker", quoteLine(s))
	}
	if strings.EqualFold(s, "End") {
		return p.endBlock()
	}
	key, val, ok := strings.Cut(s, ":")
	if !ok {
		return p.fail("%s is not a \"key: value\" line", quoteLine(s))
	}
	return p.field(strings.TrimSpace(key), strings.TrimSpace(val))
}

func (p *parser) field(key, val string) error {
	var err error
	switch strings.ToLower(key) {
	case "timestamp":
		var sec int64
		if sec, err = strconv.ParseInt(val, 10, 64); err == nil && sec >= 0 && sec < 1<<40 {
			p.cur.Timestamp = time.Unix(sec, 0).UTC()
		} else {
			err = errors.New("bad")
		}
	case "stripe index":
		p.cur.StripeIndex, err = smallInt(val, maxStripes-1)
	case "stripe bytes transferred":
		p.cur.StripeBytes, err = strconv.ParseInt(val, 10, 64)
		if err == nil && p.cur.StripeBytes < 0 {
			err = errors.New("negative")
		}
		p.haveB = err == nil
	case "total stripe count":
		p.cur.TotalStripes, err = smallInt(val, maxStripes)
	case "remoteconnections":
		p.cur.RemoteConnections = cred.Redact(val)
	default:
		return nil // other implementations add fields; unknown ones are ignored
	}
	if err != nil {
		return p.fail("%s value %s is not valid", key, quoteLine(val))
	}
	return nil
}

func smallInt(s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("want 0..%d", max)
	}
	return n, nil
}

func (p *parser) endBlock() error {
	if !p.haveB {
		return p.fail("performance marker without Stripe Bytes Transferred")
	}
	if p.stripes == nil {
		p.stripes = map[int]int64{}
	}
	p.stripes[p.cur.StripeIndex] = p.cur.StripeBytes
	var sum int64
	for _, b := range p.stripes {
		if sum > math.MaxInt64-b {
			sum = math.MaxInt64 // a lying server; keep the count sane
			break
		}
		sum += b
	}
	p.progress.Markers++
	p.progress.Bytes = sum
	p.progress.Last = p.cur
	p.inBlock = false
	return nil
}

// finalLine recognises "success: …", "failure: …" and "aborted: …".
func finalLine(s string) (Final, bool) {
	word, msg, ok := strings.Cut(s, ":")
	if !ok {
		return Final{}, false
	}
	for _, v := range []Verdict{Success, Failure, Aborted} {
		if strings.EqualFold(strings.TrimSpace(word), string(v)) {
			return Final{Verdict: v, Message: oneLine(msg, 300)}, true
		}
	}
	return Final{}, false
}

// readStream reads a marker stream from r until the final line, EOF or an
// error, calling onMarker after each complete marker. It returns the
// progress, the final line (nil when there was none) and the error that
// stopped it (nil at the final line or at a clean EOF).
func readStream(r io.Reader, lim Limits, onMarker func(Progress)) (Progress, *Final, error) {
	lim = lim.withDefaults()
	br := bufio.NewReaderSize(r, lim.MaxLine)
	var p parser
	var total int64
	for p.final == nil {
		line, err := br.ReadSlice('\n')
		total += int64(len(line))
		if total > lim.MaxTotal {
			return p.progress, nil, fmt.Errorf("stream longer than %d bytes without a final line: %w", lim.MaxTotal, errStream)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return p.progress, nil, p.fail("line longer than %d bytes", lim.MaxLine)
		}
		if err != nil && err != io.EOF {
			return p.progress, nil, err // a cut-off fragment is not a line
		}
		if len(line) > 0 {
			before := p.progress.Markers
			if perr := p.feed(string(bytes.TrimRight(line, "\r\n"))); perr != nil {
				return p.progress, nil, perr
			}
			if onMarker != nil && p.progress.Markers > before {
				onMarker(p.progress)
			}
		}
		if err == io.EOF {
			break
		}
	}
	return p.progress, p.final, nil
}

// quoteLine quotes a piece of server text for an error: redacted, at most
// 60 characters.
func quoteLine(s string) string {
	return strconv.Quote(oneLine(s, 60))
}

// oneLine makes server text fit a detail: redacted, white space collapsed,
// at most max bytes (cut on a rune boundary).
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(cred.Redact(s)), " ")
	if len(s) <= max {
		return s
	}
	cut := max - 3
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
