package xrd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
)

const (
	// maxWaits bounds the kXR_wait resends of one request, whatever the
	// deadline (a server answering "wait 0" forever would otherwise spin).
	maxWaits = 32
	// maxAuthRounds bounds kXR_authmore round trips of one protocol.
	maxAuthRounds = 16
	// defaultMaxBody bounds the accumulated (oksofar) answer of a request
	// other than kXR_read.
	defaultMaxBody = 64 << 20
)

// conn is one XRootD connection (one TCP stream, possibly upgraded to TLS),
// brought up and authenticated. It runs one request at a time.
type conn struct {
	mu       sync.Mutex
	nc       net.Conn
	addr     string // host:port dialed
	host     string
	maxFrame int
	sid      uint16
	broken   error
	info     Info
	hdr      [responseHeaderLen]byte // response header buffer of readStream
}

// connConfig is what bringing up a connection needs.
type connConfig struct {
	opts       *Options
	requireTLS bool
	loginToken string // from a kXR_redirect, appended to the login CGI
}

// ctxError wraps err with the context's error when the context is done or
// the failure was a deadline: the caller then sees context.DeadlineExceeded /
// context.Canceled via errors.Is, plus what was going on.
func ctxError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("%w: %w", cerr, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return err
}

// watch sets the connection deadline from ctx and closes nc when ctx is
// cancelled. The returned function undoes both; it reports whether the
// context fired (the connection is then closed).
func watch(ctx context.Context, nc net.Conn) func() bool {
	dl, _ := ctx.Deadline()
	_ = nc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	return func() bool {
		fired := !stop()
		_ = nc.SetDeadline(time.Time{})
		return fired
	}
}

// dialConn connects to addr and runs handshake, kXR_protocol, TLS, login
// and authentication.
func dialConn(ctx context.Context, host string, port int, cfg connConfig) (*conn, error) {
	addr := net.JoinHostPort(host, fmt.Sprint(port))
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, ctxError(ctx, fmt.Errorf("connect %s: %w", addr, err))
	}
	c := &conn{nc: nc, addr: addr, host: host, maxFrame: cfg.opts.maxFrame()}
	c.info.Addr = addr
	c.info.RemoteAddr = nc.RemoteAddr().String()
	if err := c.bringUp(ctx, cfg); err != nil {
		_ = c.nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *conn) bringUp(ctx context.Context, cfg connConfig) error {
	unwatch := watch(ctx, c.nc)
	err := c.handshake(ctx, cfg)
	if unwatch() && err == nil {
		err = errors.New("connection closed by context")
	}
	if err != nil {
		return ctxError(ctx, fmt.Errorf("%s: %w", c.addr, err))
	}
	if err := c.login(ctx, cfg); err != nil {
		return fmt.Errorf("%s: %w", c.addr, err)
	}
	if err := c.authenticate(ctx, cfg); err != nil {
		return fmt.Errorf("%s: %w", c.addr, err)
	}
	return nil
}

// handshake sends the 20-byte handshake and kXR_protocol in one write,
// reads both answers and upgrades to TLS when the server says gotoTLS.
func (c *conn) handshake(ctx context.Context, cfg connConfig) error {
	var msg [44]byte
	binary.BigEndian.PutUint32(msg[12:], 4)
	binary.BigEndian.PutUint32(msg[16:], 2012)
	// kXR_protocol on sid 0.
	binary.BigEndian.PutUint16(msg[22:], reqProtocol)
	binary.BigEndian.PutUint32(msg[24:], clientProtocolVersion)
	flags := byte(protoSecReqs | protoAbleTLS | protoBifReqs)
	if cfg.requireTLS {
		flags |= protoWantTLS
	}
	msg[28] = flags
	msg[29] = expectLogin
	if _, err := c.nc.Write(msg[:]); err != nil {
		return fmt.Errorf("send handshake: %w", err)
	}
	hs, err := readFrame(c.nc, 1024)
	if err != nil {
		return fmt.Errorf("read handshake answer: %w", eofErr(err))
	}
	if hs.status != statusOK || len(hs.body) < 8 {
		return protoErrf("handshake answer: %s with %d bytes, want kXR_ok with 8 (not an XRootD server?)", statusName(hs.status), len(hs.body))
	}
	c.info.ProtocolVersion = binary.BigEndian.Uint32(hs.body)
	pr, err := readFrame(c.nc, 4096)
	if err != nil {
		return fmt.Errorf("read kXR_protocol answer: %w", eofErr(err))
	}
	switch pr.status {
	case statusOK:
	case statusError:
		se, err := parseServerError(pr.body)
		if err != nil {
			return err
		}
		return fmt.Errorf("kXR_protocol: %w", se)
	default:
		return protoErrf("kXR_protocol answered with %s", statusName(pr.status))
	}
	rep, err := parseProtocolReply(pr.body)
	if err != nil {
		return err
	}
	c.info.ProtocolVersion = rep.pval
	c.info.Flags = rep.flags
	c.info.Signing = rep.sec
	switch {
	case rep.flags.Has(FlagGotoTLS):
		if err := c.startTLS(ctx, cfg); err != nil {
			return err
		}
	case cfg.requireTLS && !rep.flags.Has(FlagHaveTLS):
		return errors.New("TLS required (roots://) but the server is not configured for TLS (no haveTLS flag)")
	case cfg.requireTLS:
		return errors.New("TLS required (roots://) and requested with kXR_wantTLS, but the server did not answer gotoTLS")
	}
	return nil
}

// startTLS runs the TLS handshake on the existing TCP connection.
func (c *conn) startTLS(ctx context.Context, cfg connConfig) error {
	tcfg := cfg.opts.tlsConfigFor(c.host)
	tc := tls.Client(c.nc, tcfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake (server said gotoTLS): %w", err)
	}
	st := tc.ConnectionState()
	c.nc = tc
	c.info.TLS = true
	c.info.TLSVersion = st.Version
	c.info.TLSCipherSuite = st.CipherSuite
	if len(st.PeerCertificates) > 0 {
		c.info.TLSPeer = st.PeerCertificates[0].Subject.String()
		c.info.TLSNotAfter = st.PeerCertificates[0].NotAfter
	}
	return nil
}

// tlsConfigFor derives the per-host TLS configuration: the caller's
// template (RootCAs from the grid CA dir), ServerName = the host dialed,
// TLS 1.2 at least.
func (o *Options) tlsConfigFor(host string) *tls.Config {
	var cfg *tls.Config
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	cfg.ServerName = host
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if o.SkipLoopbackNameCheck && isLoopbackName(host) && !cfg.InsecureSkipVerify {
		// XrdCl parity: verify the chain but not the name for localhost,
		// 127.0.0.1 and ::1.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return cfg
}

func isLoopbackName(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// eofErr makes a clean EOF explicit.
func eofErr(err error) error {
	if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("server closed the connection: %w", err)
	}
	return err
}

// login sends kXR_login (capver 0x85) and parses the session id and the
// security list.
func (c *conn) login(ctx context.Context, cfg connConfig) error {
	var body [16]byte
	binary.BigEndian.PutUint32(body[0:], uint32(os.Getpid()))
	copy(body[4:12], cfg.opts.user())
	body[12] = 0    // ability2
	body[13] = 0    // ability: no fullurl/redirflags, so redirects carry host:port
	body[14] = 0x85 // capver: kXR_asyncap | kXR_ver005
	cgi := "&xrd.appname=" + cfg.opts.appName() + "&xrd.rn=gridprobe"
	if cfg.loginToken != "" {
		cgi += "&" + strings.TrimPrefix(cfg.loginToken, "&")
	}
	f, err := c.roundTrip(ctx, reqLogin, body, []byte(cgi), 1<<20)
	if err != nil {
		return fmt.Errorf("kXR_login: %w", err)
	}
	if f.status != statusOK {
		c.markBroken(protoErrf("kXR_login answered with %s", statusName(f.status)))
		return fmt.Errorf("kXR_login: %w", c.broken)
	}
	rep, err := parseLoginReply(f.body)
	if err != nil {
		c.markBroken(err)
		return fmt.Errorf("kXR_login: %w", err)
	}
	c.info.sec = rep.sec
	for _, e := range parseSecList(rep.sec) {
		c.info.SecProtocols = append(c.info.SecProtocols, e.name)
	}
	return nil
}

// authenticate walks the server's security list in its order and uses the
// first protocol the caller has an Authenticator for; on kXR_AuthFailed it
// tries the next one, as XrdCl does.
func (c *conn) authenticate(ctx context.Context, cfg connConfig) error {
	entries := parseSecList(c.info.sec)
	if len(entries) == 0 {
		return nil // server needs no authentication
	}
	var auths []secproto.Authenticator
	if cfg.opts.Auth != nil {
		auths = cfg.opts.Auth()
	}
	used := make([]bool, len(auths))
	aerr := &AuthError{Offered: c.info.SecProtocols}
	for _, e := range entries {
		idx := -1
		for i, a := range auths {
			if !used[i] && a != nil && a.Protocol() == e.name {
				idx = i
				break
			}
		}
		if idx < 0 {
			continue
		}
		used[idx] = true
		err := c.authWith(ctx, auths[idx], e)
		if err == nil {
			c.info.AuthProtocol = e.name
			return nil
		}
		aerr.Attempts = append(aerr.Attempts, err)
		if c.isBroken() {
			return aerr
		}
	}
	return aerr
}

func (c *conn) authWith(ctx context.Context, a secproto.Authenticator, e secEntry) error {
	name := e.name
	if len(name) > 4 {
		return fmt.Errorf("auth %s failed: protocol name longer than 4 bytes", name)
	}
	srv := secproto.Server{Host: c.host, Params: e.params, TLS: c.info.TLS}
	cred, err := a.Start(ctx, srv)
	if err != nil {
		return fmt.Errorf("auth %s failed: %w", name, err)
	}
	var body [16]byte
	copy(body[12:16], name)
	for round := 0; ; round++ {
		if round >= maxAuthRounds {
			return fmt.Errorf("auth %s failed: more than %d kXR_authmore rounds", name, maxAuthRounds)
		}
		f, err := c.roundTrip(ctx, reqAuth, body, cred, 1<<20)
		if err != nil {
			return fmt.Errorf("auth %s failed: %w", name, err)
		}
		switch f.status {
		case statusOK:
			return nil
		case statusAuthMore:
			cred, err = a.Continue(ctx, f.body)
			if err != nil {
				return fmt.Errorf("auth %s failed: %w", name, err)
			}
		default:
			c.markBroken(protoErrf("kXR_auth answered with %s", statusName(f.status)))
			return fmt.Errorf("auth %s failed: %w", name, c.broken)
		}
	}
}

func (c *conn) markBroken(err error) {
	if c.broken == nil {
		c.broken = err
	}
	_ = c.nc.Close()
}

func (c *conn) isBroken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken != nil
}

func (c *conn) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken == nil {
		c.broken = errors.New("session closed")
	}
	return c.nc.Close()
}

// closeNow closes the socket without waiting for a request in progress (it
// fails with a closed-connection error).
func (c *conn) closeNow() { _ = c.nc.Close() }

// roundTrip sends one request and returns its final answer: kXR_ok (with
// all kXR_oksofar pieces concatenated), kXR_redirect or kXR_authmore.
// kXR_error becomes a *ServerError. kXR_wait is honoured by resending
// (bounded by ctx), kXR_waitresp by waiting for the kXR_attn/kXR_asynresp
// that carries the real answer. Any I/O error or protocol violation closes
// the connection; so does ctx being cancelled during the request.
func (c *conn) roundTrip(ctx context.Context, reqID uint16, body [16]byte, payload []byte, maxBody int) (frame, error) {
	var f frame
	err := c.run(ctx, func() error {
		var err error
		f, err = c.exchange(ctx, reqID, body, payload, maxBody)
		return err
	})
	if err != nil {
		return frame{}, err
	}
	return f, nil
}

// run runs one request's I/O (fn) under the connection lock, with ctx
// watching the connection, and sorts out its failure: a cancelled context,
// an I/O error or a protocol violation closes the connection for good;
// kXR_error (except kXR_InvalidRequest, after which the server hangs up) and
// an inSyncError leave it usable.
func (c *conn) run(ctx context.Context, fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return fmt.Errorf("connection unusable: %w", c.broken)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	unwatch := watch(ctx, c.nc)
	err := fn()
	fired := unwatch()
	var se *ServerError
	var inSync *inSyncError
	switch {
	case fired:
		// The connection was closed under us by the context.
		err = ctxError(ctx, errOr(err, errors.New("request interrupted")))
		c.markBroken(err)
		return err
	case err == nil:
		return nil
	case errors.As(err, &se):
		if se.Code == ErrInvalidRequest {
			// The server closes the connection after 3006.
			c.markBroken(err)
		}
		return err
	case errors.As(err, &inSync):
		return inSync.err
	default:
		err = ctxError(ctx, err)
		c.markBroken(err)
		return err
	}
}

// inSyncError is a failure after which the connection is still in step
// with the server (the request got a final answer), so it stays usable.
type inSyncError struct{ err error }

func (e *inSyncError) Error() string { return e.err.Error() }
func (e *inSyncError) Unwrap() error { return e.err }

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

func (c *conn) nextSID() uint16 {
	c.sid++
	if c.sid == 0 {
		c.sid = 1
	}
	return c.sid
}

// exchange sends one request and reads frames until its final answer (see
// roundTrip); run sorts out what its error does to the connection.
func (c *conn) exchange(ctx context.Context, reqID uint16, body [16]byte, payload []byte, maxBody int) (frame, error) {
	tr := traceFrom(ctx)
	sid := c.nextSID()
	if _, err := c.nc.Write(encodeRequest(sid, reqID, body, payload)); err != nil {
		return frame{}, fmt.Errorf("send request %d: %w", reqID, err)
	}
	var acc []byte
	waits := 0
	for {
		f, ok, err := c.nextAnswerFrame()
		if err != nil {
			return frame{}, err
		}
		if !ok {
			continue // obsolete attn actions: ignore
		}
		if f.sid != sid {
			return frame{}, protoErrf("%s for stream %d while waiting for stream %d", statusName(f.status), f.sid, sid)
		}
		switch f.status {
		case statusOK:
			return finalOK(f, acc, maxBody)
		case statusOKSoFar:
			if acc, err = appendSoFar(acc, f.body, maxBody); err != nil {
				return frame{}, err
			}
		case statusError:
			se, err := parseServerError(f.body)
			if err != nil {
				return frame{}, err
			}
			return frame{}, se
		case statusRedirect, statusAuthMore:
			return f, nil
		case statusWait:
			if err := c.honourWait(ctx, tr, f.body, &waits); err != nil {
				return frame{}, err
			}
			// Resend, without kXR_refresh (else the server waits again).
			body = withoutRefresh(reqID, body)
			sid = c.nextSID()
			acc = nil
			if _, err := c.nc.Write(encodeRequest(sid, reqID, body, payload)); err != nil {
				return frame{}, fmt.Errorf("resend request %d after kXR_wait: %w", reqID, err)
			}
		case statusWaitResp:
			if err := c.noteWaitResp(tr, f.body); err != nil {
				return frame{}, err
			}
			// Keep reading: the answer comes as kXR_attn/kXR_asynresp.
		default:
			return frame{}, protoErrf("unexpected %s answer to request %d", statusName(f.status), reqID)
		}
	}
}

// nextAnswerFrame reads the next whole frame of an answer, unwrapping a
// kXR_attn/kXR_asynresp into the frame it carries. ok is false for an
// obsolete attn action, which the caller ignores.
func (c *conn) nextAnswerFrame() (f frame, ok bool, err error) {
	f, err = readFrame(c.nc, c.maxFrame)
	if err != nil {
		return frame{}, false, eofErr(err)
	}
	if f.sid != 0 || f.status != statusAttn {
		return f, true, nil
	}
	_, inner, ok, err := parseAttn(f.body)
	if err != nil {
		return frame{}, false, err
	}
	return inner, ok, nil
}

// appendSoFar adds the body b of a kXR_oksofar to the answer acc, bounded
// by maxBody. The result is never nil, so that finalOK knows pieces came.
func appendSoFar(acc, b []byte, maxBody int) ([]byte, error) {
	if len(acc)+len(b) > maxBody {
		return nil, protoErrf("answer longer than %d bytes", maxBody)
	}
	acc = append(acc, b...)
	if acc == nil {
		acc = []byte{}
	}
	return acc, nil
}

// finalOK completes the kXR_ok f with the kXR_oksofar pieces before it
// (acc, nil when none came), bounded by maxBody.
func finalOK(f frame, acc []byte, maxBody int) (frame, error) {
	if acc != nil {
		if len(acc)+len(f.body) > maxBody {
			return frame{}, protoErrf("answer longer than %d bytes", maxBody)
		}
		f.body = append(acc, f.body...)
	} else if len(f.body) > maxBody {
		return frame{}, protoErrf("answer longer than %d bytes", maxBody)
	}
	return f, nil
}

// withoutRefresh returns the body of request reqID with its kXR_refresh
// flag cleared (kXR_locate, kXR_open), for a resend after kXR_wait.
func withoutRefresh(reqID uint16, body [16]byte) [16]byte {
	switch reqID {
	case reqLocate:
		binary.BigEndian.PutUint16(body[0:], binary.BigEndian.Uint16(body[0:])&^locateRefresh)
	case reqOpen:
		binary.BigEndian.PutUint16(body[2:], binary.BigEndian.Uint16(body[2:])&^openRefresh)
	}
	return body
}

// noteWaitResp checks a kXR_waitresp body b and reports it to the trace.
func (c *conn) noteWaitResp(tr *Trace, b []byte) error {
	d, msg, err := parseWait(b)
	if err != nil {
		return err
	}
	if tr != nil && tr.WaitResp != nil {
		tr.WaitResp(c.addr, d, msg)
	}
	return nil
}

// honourWait handles a kXR_wait answer (body b): it counts it against
// maxWaits, reports it to the trace, refuses a wait longer than ctx allows
// and sleeps; the caller then resends. Its refusals leave the connection in
// step (inSyncError): the request got a final answer.
func (c *conn) honourWait(ctx context.Context, tr *Trace, b []byte, waits *int) error {
	d, msg, err := parseWait(b)
	if err != nil {
		return err
	}
	*waits++
	if *waits > maxWaits {
		return &inSyncError{fmt.Errorf("server asked to wait %d times, giving up", *waits-1)}
	}
	if tr != nil && tr.Wait != nil {
		tr.Wait(c.addr, d, msg)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return &inSyncError{fmt.Errorf("server asked to wait %s (%q), longer than the %s left: %w", d, msg, time.Until(dl).Round(time.Millisecond), context.DeadlineExceeded)}
	}
	return sleepCtx(ctx, d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
