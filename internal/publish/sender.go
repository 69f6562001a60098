package publish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"

	"github.com/gridprobe/gridprobe/internal/cred"
)

// rejectLimit is how often the broker may refuse one message (an ERROR
// frame answering its SEND) before it is dropped.
const rejectLimit = 3

// sender delivers the spool, oldest first, until Close stops it.
func (p *Publisher) sender() {
	defer close(p.senderDon)
	defer p.disconnect()
	backoff := p.o.BackoffMin
	rejects := map[string]int{}
	for {
		seq, m, bad, ok := p.spool.oldest()
		for _, err := range bad {
			p.drop(DropCorrupt, 1, err.Error())
		}
		if !ok {
			select {
			case <-p.wake:
				continue
			case <-p.stop:
				return
			}
		}
		select {
		case <-p.stop:
			p.spool.release(seq)
			return
		default:
		}
		err := p.deliver(m)
		if err == nil {
			p.spool.remove(seq)
			delete(rejects, m.ID)
			p.published.Add(1)
			p.m.published.Inc()
			p.m.lastSuccess.Set(float64(p.o.Now().UnixNano()) / 1e9)
			backoff = p.o.BackoffMin
			p.signalDrained()
			continue
		}
		p.spool.release(seq)
		p.disconnect()
		kind := failureKind(err)
		p.errs.Add(1)
		p.m.errors.WithLabelValues(kind).Inc()
		if kind == ErrReject {
			if rejects[m.ID]++; rejects[m.ID] >= rejectLimit {
				p.spool.remove(seq)
				delete(rejects, m.ID)
				p.drop(DropRejected, 1, fmt.Sprintf("the broker refused message %s %d times: %s", m.ID, rejectLimit, describe(err)))
				p.signalDrained()
				continue
			}
		}
		n, _ := p.spool.size()
		p.log.Warn(failureText[kind], "broker", p.o.Broker, "reason", kind, "err", describe(err),
			"retry_in", backoff.String(), "spooled", n)
		if !p.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, p.o.BackoffMax)
	}
}

var failureText = map[string]string{
	ErrConnect: "cannot connect to the broker; results stay in the spool",
	ErrTLS:     "TLS with the broker failed (certificate, CA or protocol); results stay in the spool",
	ErrAuth:    "the broker refused the login; results stay in the spool",
	ErrSend:    "sending to the broker failed; results stay in the spool",
	ErrReject:  "the broker refused a message",
}

func (p *Publisher) signalDrained() {
	select {
	case p.drained <- struct{}{}:
	default:
	}
}

// sleep waits d; false when Close stopped the sender meanwhile.
func (p *Publisher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stop:
		return false
	}
}

// deliver sends m on the current connection, connecting first if needed.
func (p *Publisher) deliver(m Message) error {
	p.connMu.Lock()
	c := p.conn
	p.connMu.Unlock()
	if c == nil {
		var err error
		if c, err = p.connect(); err != nil {
			return err
		}
		p.connMu.Lock()
		p.conn = c
		p.connMu.Unlock()
		p.m.connected.Set(1)
		p.log.Info("connected to the broker", "broker", p.o.Broker, "tls", p.o.TLS != nil, "server", c.sc.Server())
	}
	return c.send(p.o.Destination, m, p.o.Timeout)
}

// disconnect drops the connection (no DISCONNECT handshake: go-stomp's
// Disconnect can leave a goroutine blocked when its receipt times out).
func (p *Publisher) disconnect() {
	p.connMu.Lock()
	c := p.conn
	p.conn = nil
	p.connMu.Unlock()
	if c != nil {
		_ = c.sc.MustDisconnect()
		p.m.connected.Set(0)
	}
}

// abort breaks a send in flight (Close gave up waiting for it).
func (p *Publisher) abort() {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	if p.conn != nil && p.conn.busy.Load() {
		_ = p.conn.nc.Close()
	}
}

// brokerConn is one STOMP connection.
type brokerConn struct {
	nc   net.Conn
	sc   *stomp.Conn
	busy atomic.Bool // a Send waits for its receipt
}

// failure is an error of a known kind (ErrConnect, ErrTLS, ...).
type failure struct {
	kind string
	err  error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// connect opens a connection: TCP, TLS when configured, STOMP CONNECT; all
// within Options.Timeout.
func (p *Publisher) connect() (*brokerConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.o.Timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", p.o.Broker)
	if err != nil {
		return nil, &failure{ErrConnect, err}
	}
	if p.o.TLS != nil {
		tc := tls.Client(nc, p.o.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, &failure{ErrTLS, fmt.Errorf("TLS handshake with %s: %w", p.o.Broker, err)}
		}
		nc = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	opts := []func(*stomp.Conn) error{
		stomp.ConnOpt.Host(p.o.VHost),
		stomp.ConnOpt.MsgSendTimeout(p.o.Timeout),
		stomp.ConnOpt.RcvReceiptTimeout(0), // bounded by the watchdog in send instead
		stomp.ConnOpt.Logger(stompLogger{p.log}),
	}
	if p.o.Login != "" {
		opts = append(opts, stomp.ConnOpt.Login(p.o.Login, p.o.Passcode))
	}
	sc, err := stomp.ConnectWithContext(ctx, nc, opts...)
	if err != nil {
		nc.Close()
		return nil, connectFailure(err)
	}
	_ = nc.SetDeadline(time.Time{})
	return &brokerConn{nc: nc, sc: sc}, nil
}

// connectFailure classifies a failed STOMP CONNECT: an ERROR frame is the
// broker refusing the login; a TLS alert is the broker refusing our
// certificate (TLS 1.3 reports that only at the first read).
func connectFailure(err error) error {
	var se stomp.Error
	switch {
	case isTLSError(err):
		return &failure{ErrTLS, fmt.Errorf("the broker closed TLS: %w", err)}
	case errors.As(err, &se) && se.Frame != nil && se.Frame.Command == frame.ERROR:
		return &failure{ErrAuth, err}
	}
	return &failure{ErrConnect, fmt.Errorf("STOMP CONNECT: %w", err)}
}

// send sends m with a receipt and waits for it at most timeout: past that
// the connection is closed, which ends the wait.
func (c *brokerConn) send(dest string, m Message, timeout time.Duration) error {
	var timedOut atomic.Bool
	c.busy.Store(true)
	w := time.AfterFunc(timeout, func() { timedOut.Store(true); _ = c.nc.Close() })
	err := c.sc.Send(dest, "text/plain", []byte(m.Body), stomp.SendOpt.Receipt,
		stomp.SendOpt.Header("persistent", "true"), stomp.SendOpt.Header("gridprobe-id", m.ID))
	w.Stop()
	c.busy.Store(false)
	switch {
	case err == nil:
		return nil
	case timedOut.Load():
		return &failure{ErrSend, fmt.Errorf("no RECEIPT for message %s within %s", m.ID, timeout)}
	case brokerError(err):
		return &failure{ErrReject, err}
	}
	return &failure{ErrSend, err}
}

// brokerError reports whether err is an ERROR frame the broker sent. go-stomp
// also hands a lost connection to a waiting Send as an ERROR frame, one with
// nothing but a message header; a broker's own carries more.
func brokerError(err error) bool {
	var se stomp.Error
	if !errors.As(err, &se) || se.Frame == nil || se.Frame.Command != frame.ERROR {
		return false
	}
	return len(se.Frame.Body) > 0 || se.Frame.Header.Len() > 1
}

func isTLSError(err error) bool {
	var (
		alert    tls.AlertError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
	)
	return errors.As(err, &alert) || errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &record) || strings.Contains(err.Error(), "remote error: tls:")
}

func failureKind(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.kind
	}
	return ErrSend
}

// describe is err for a log line: redacted, with the broker's ERROR frame
// text when there is one.
func describe(err error) string {
	s := err.Error()
	var se stomp.Error
	if errors.As(err, &se) && se.Frame != nil && len(se.Frame.Body) > 0 {
		s += ": " + strings.Join(strings.Fields(string(se.Frame.Body)), " ")
	}
	return value(cred.Redact(s), 300)
}

// stompLogger sends go-stomp's own messages to the debug log (its default
// writes to standard output, which is `probe run`'s report).
type stompLogger struct{ l *slog.Logger }

func (s stompLogger) Debugf(f string, v ...any)   { s.l.Debug("stomp: " + fmt.Sprintf(f, v...)) }
func (s stompLogger) Infof(f string, v ...any)    { s.l.Debug("stomp: " + fmt.Sprintf(f, v...)) }
func (s stompLogger) Warningf(f string, v ...any) { s.l.Debug("stomp: " + fmt.Sprintf(f, v...)) }
func (s stompLogger) Errorf(f string, v ...any)   { s.l.Debug("stomp: " + fmt.Sprintf(f, v...)) }
func (s stompLogger) Debug(m string)              { s.l.Debug("stomp: " + m) }
func (s stompLogger) Info(m string)               { s.l.Debug("stomp: " + m) }
func (s stompLogger) Warning(m string)            { s.l.Debug("stomp: " + m) }
func (s stompLogger) Error(m string)              { s.l.Debug("stomp: " + m) }
