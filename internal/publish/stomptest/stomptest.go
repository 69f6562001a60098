// Package stomptest is a minimal STOMP 1.2 consumer for tests and the
// leak proof: it connects, subscribes and reads MESSAGE frames. It is
// written from the STOMP 1.2 specification rather than with go-stomp, the
// client the publisher sends with, so a test reads back what the broker
// really holds through an independent implementation. It also parses the
// metricOutput body (ParseMetricOutput).
package stomptest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// MaxFrame bounds one frame (headers and body).
const MaxFrame = 1 << 20

// Frame is one STOMP frame.
type Frame struct {
	Command string
	Header  map[string]string // the first value of each header, as STOMP 1.2 says
	Body    []byte
}

// Consumer is one STOMP connection that receives messages.
type Consumer struct {
	conn   net.Conn
	r      *bufio.Reader
	frames chan Frame
	done   chan struct{}
	err    error
	subs   int
}

// Dial connects to addr (host:port), over TLS when tlsConf is set, and logs
// in (login may be empty). The CONNECT exchange is bounded by ctx.
func Dial(ctx context.Context, addr string, tlsConf *tls.Config, login, passcode string) (*Consumer, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stomptest: %w", err)
	}
	if tlsConf != nil {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("stomptest: TLS: %w", err)
		}
		conn = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c := &Consumer{conn: conn, r: bufio.NewReader(conn), frames: make(chan Frame, 64), done: make(chan struct{})}
	hdr := [][2]string{{"accept-version", "1.2"}, {"host", "/"}, {"heart-beat", "0,0"}}
	if login != "" {
		hdr = append(hdr, [2]string{"login", login}, [2]string{"passcode", passcode})
	}
	if err := c.write("CONNECT", hdr); err != nil {
		conn.Close()
		return nil, err
	}
	f, err := ReadFrame(c.r, MaxFrame)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("stomptest: CONNECT: %w", err)
	}
	if f.Command != "CONNECTED" {
		conn.Close()
		return nil, fmt.Errorf("stomptest: CONNECT answered %s: %s %s", f.Command, f.Header["message"], bytes.TrimSpace(f.Body))
	}
	_ = conn.SetDeadline(time.Time{})
	go c.readLoop()
	return c, nil
}

// Subscribe starts receiving dest's messages (ack: auto).
func (c *Consumer) Subscribe(dest string) error {
	c.subs++
	return c.write("SUBSCRIBE", [][2]string{{"id", strconv.Itoa(c.subs)}, {"destination", dest}, {"ack", "auto"}})
}

// Next returns the next MESSAGE frame; an ERROR frame or a broken
// connection is an error.
func (c *Consumer) Next(ctx context.Context) (Frame, error) {
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.done:
		select {
		case f := <-c.frames:
			return f, nil
		default:
		}
		return Frame{}, c.err
	case <-ctx.Done():
		return Frame{}, fmt.Errorf("stomptest: waiting for a message: %w", ctx.Err())
	}
}

// Close drops the connection.
func (c *Consumer) Close() error { return c.conn.Close() }

func (c *Consumer) readLoop() {
	defer close(c.done)
	for {
		f, err := ReadFrame(c.r, MaxFrame)
		if err != nil {
			c.err = fmt.Errorf("stomptest: %w", err)
			return
		}
		switch f.Command {
		case "MESSAGE":
			c.frames <- f
		case "ERROR":
			c.err = fmt.Errorf("stomptest: broker ERROR: %s %s", f.Header["message"], bytes.TrimSpace(f.Body))
			return
		}
	}
}

var escaper = strings.NewReplacer(`\`, `\\`, "\r", `\r`, "\n", `\n`, ":", `\c`)

func (c *Consumer) write(cmd string, hdr [][2]string) error {
	var b strings.Builder
	b.WriteString(cmd + "\n")
	for _, h := range hdr {
		if cmd == "CONNECT" {
			b.WriteString(h[0] + ":" + h[1] + "\n") // CONNECT headers are not escaped (STOMP 1.2)
		} else {
			b.WriteString(escaper.Replace(h[0]) + ":" + escaper.Replace(h[1]) + "\n")
		}
	}
	b.WriteString("\n\x00")
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		return fmt.Errorf("stomptest: %s: %w", cmd, err)
	}
	return nil
}

// ReadFrame reads one frame (skipping heart-beat newlines before it): the
// command line, headers (STOMP 1.2 escapes undone, first value wins), a
// blank line, then content-length bytes of body, or up to the NUL when no
// content-length is given. Frames longer than max are an error.
func ReadFrame(r *bufio.Reader, max int) (Frame, error) {
	var f Frame
	n := 0
	line := func() (string, error) {
		s, err := r.ReadString('\n')
		n += len(s)
		if err != nil {
			return "", err
		}
		if n > max {
			return "", errors.New("frame too long")
		}
		return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r"), nil
	}
	for f.Command == "" {
		s, err := line()
		if err != nil {
			return f, err
		}
		f.Command = s
	}
	f.Header = map[string]string{}
	for {
		s, err := line()
		if err != nil {
			return f, err
		}
		if s == "" {
			break
		}
		k, v, ok := strings.Cut(s, ":")
		if !ok {
			return f, fmt.Errorf("header line without ':' in %s frame", f.Command)
		}
		if k, err = unescape(k); err == nil {
			v, err = unescape(v)
		}
		if err != nil {
			return f, err
		}
		if _, seen := f.Header[k]; !seen {
			f.Header[k] = v
		}
	}
	return readBody(r, f, max-n)
}

func readBody(r *bufio.Reader, f Frame, room int) (Frame, error) {
	if cl, ok := f.Header["content-length"]; ok {
		size, err := strconv.Atoi(cl)
		if err != nil || size < 0 || size >= room {
			return f, fmt.Errorf("bad content-length %q", cl)
		}
		f.Body = make([]byte, size+1)
		if _, err := io.ReadFull(r, f.Body); err != nil {
			return f, err
		}
		if f.Body[size] != 0 {
			return f, errors.New("frame does not end with NUL after content-length bytes")
		}
		f.Body = f.Body[:size]
		return f, nil
	}
	var body []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return f, err
		}
		if b == 0 {
			f.Body = body
			return f, nil
		}
		if len(body) >= room {
			return f, errors.New("frame too long")
		}
		body = append(body, b)
	}
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New(`header ends in a lone "\"`)
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'c':
			b.WriteByte(':')
		default:
			return "", fmt.Errorf(`undefined escape "\%c" in a header`, s[i])
		}
	}
	return b.String(), nil
}

// ParseMetricOutput reads a WLCG metricOutput body: "key: value" lines,
// detailsData (which runs over several lines) last, then "EOT". It returns
// the fields; an error when the shape is wrong (no EOT, a line without
// "key: ", a key twice).
func ParseMetricOutput(body string) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.Split(body, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l == "EOT" {
			if rest := strings.Join(lines[i+1:], ""); rest != "" {
				return out, fmt.Errorf("text after EOT: %q", rest)
			}
			return out, nil
		}
		k, v, ok := strings.Cut(l, ": ")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return out, fmt.Errorf("line %d %q is not \"key: value\"", i+1, l)
		}
		if _, dup := out[k]; dup {
			return out, fmt.Errorf("key %s twice", k)
		}
		if k == "detailsData" {
			var d []string
			for i++; i < len(lines) && lines[i] != "EOT"; i++ {
				d = append(d, lines[i])
			}
			out[k] = strings.Join(append([]string{v}, d...), "\n")
			i--
			continue
		}
		out[k] = v
	}
	return out, errors.New("no EOT line")
}
