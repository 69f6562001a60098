package gsi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/probes/xrootd/secproto"
)

// miniConn is a deliberately minimal XRootD client used only by this
// package's integration tests (SESSION.md §1): handshake, kXR_protocol,
// TLS upgrade, kXR_login, the kXR_auth loop and kXR_stat.
type miniConn struct {
	c        net.Conn
	sid      uint16
	secToken string
	tls      bool
}

// xrdError is a kXR_error reply.
type xrdError struct {
	code int
	msg  string
}

func (e *xrdError) Error() string { return fmt.Sprintf("kXR_error %d: %s", e.code, e.msg) }

// dialMini connects to addr, upgrades to TLS when told to (verifying the
// TLS certificate for tlsName against caDir) and logs in.
func dialMini(ctx context.Context, addr, tlsName, caDir string) (*miniConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	m := &miniConn{c: c}
	hs := make([]byte, 44)
	binary.BigEndian.PutUint32(hs[12:], 4)
	binary.BigEndian.PutUint32(hs[16:], 2012)
	binary.BigEndian.PutUint16(hs[22:], 3006)
	binary.BigEndian.PutUint32(hs[24:], 0x511)
	hs[28], hs[29] = 0x0b, 0x03
	if _, err := c.Write(hs); err != nil {
		c.Close()
		return nil, err
	}
	for i := 0; i < 2; i++ { // handshake answer, then kXR_protocol answer
		status, body, err := m.read()
		if err != nil || status != 0 || len(body) < 8 {
			c.Close()
			return nil, fmt.Errorf("handshake %d: status %d, %d bytes, %v", i, status, len(body), err)
		}
		if i == 1 && binary.BigEndian.Uint32(body[4:])&0x40000000 != 0 {
			pool := x509.NewCertPool()
			files, _ := filepath.Glob(filepath.Join(caDir, "*.0"))
			for _, f := range files {
				if b, err := os.ReadFile(f); err == nil {
					pool.AppendCertsFromPEM(b)
				}
			}
			tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: tlsName, MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, fmt.Errorf("TLS: %w", err)
			}
			m.c, m.tls = tc, true
		}
	}
	var body [16]byte
	binary.BigEndian.PutUint32(body[0:], uint32(os.Getpid()))
	copy(body[4:12], "gsitest")
	body[13], body[14] = 0xc5, 0x85
	status, resp, err := m.request(3007, body, nil)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("login: %w", err)
	}
	if status != 0 || len(resp) < 16 {
		m.Close()
		return nil, fmt.Errorf("login: status %d", status)
	}
	m.secToken = string(resp[16:])
	return m, nil
}

func (m *miniConn) Close() error { return m.c.Close() }

// gsiParams returns the text after "&P=gsi," in the login token.
func (m *miniConn) gsiParams() (string, bool) {
	for _, item := range strings.Split(m.secToken, "&P=") {
		if p, ok := strings.CutPrefix(item, "gsi,"); ok {
			return p, true
		}
	}
	return "", false
}

func (m *miniConn) read() (uint16, []byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(m.c, h[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(h[4:]))
	if _, err := io.ReadFull(m.c, body); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint16(h[2:]), body, nil
}

// request sends one request and returns the status and body; kXR_error
// becomes an *xrdError.
func (m *miniConn) request(id uint16, body [16]byte, payload []byte) (uint16, []byte, error) {
	m.sid++
	req := make([]byte, 24, 24+len(payload))
	binary.BigEndian.PutUint16(req[0:], m.sid)
	binary.BigEndian.PutUint16(req[2:], id)
	copy(req[4:20], body[:])
	binary.BigEndian.PutUint32(req[20:], uint32(len(payload)))
	if _, err := m.c.Write(append(req, payload...)); err != nil {
		return 0, nil, err
	}
	for {
		status, resp, err := m.read()
		if err != nil {
			return 0, nil, err
		}
		if status == 4001 { // unsolicited attn: ignore
			continue
		}
		if status == 4003 {
			e := &xrdError{}
			if len(resp) >= 4 {
				e.code = int(binary.BigEndian.Uint32(resp))
				e.msg = string(bytes.TrimRight(resp[4:], "\x00"))
			}
			return status, nil, e
		}
		return status, resp, nil
	}
}

// auth runs the kXR_auth loop with a.
func (m *miniConn) auth(ctx context.Context, a secproto.Authenticator, host string) error {
	params, ok := m.gsiParams()
	if !ok {
		return fmt.Errorf("server offers no gsi: %q", m.secToken)
	}
	cred, err := a.Start(ctx, secproto.Server{Host: host, Params: params, TLS: m.tls})
	if err != nil {
		return err
	}
	var body [16]byte
	copy(body[12:], a.Protocol())
	for round := 0; round < 4; round++ {
		status, resp, err := m.request(3000, body, cred)
		if err != nil {
			return err
		}
		switch status {
		case 0:
			return nil
		case 4002:
			if cred, err = a.Continue(ctx, resp); err != nil {
				return err
			}
		default:
			return fmt.Errorf("kXR_auth: unexpected status %d", status)
		}
	}
	return errors.New("kXR_auth: too many rounds")
}

// stat returns the kXR_stat line for path.
func (m *miniConn) stat(path string) (string, error) {
	_, resp, err := m.request(3017, [16]byte{}, []byte(path))
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(resp, "\x00")), nil
}

// withTimeout is the per-exchange deadline of the integration tests.
func withTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}
