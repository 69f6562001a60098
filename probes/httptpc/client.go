package httptpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Client talks to storage elements over HTTPS for copies and macaroon
// requests. It verifies every server with the TLS configuration tlsFor
// returns for the server's host:port (e.g. cred.CAStore.TLSConfig with the
// proxy as client certificate, which is how the active side of a proxy
// ("crt") copy is authenticated), speaks HTTP/1.1 only, never uses an HTTP
// proxy from the environment and counts what goes over the wire.
type Client struct {
	hc   *http.Client
	tr   *http.Transport
	wire wireCounter
}

// TLSConfigFunc returns the client TLS configuration for a server
// ("host:port").
type TLSConfigFunc func(hostport string) *tls.Config

// NewClient returns a Client; tlsFor must not be nil.
func NewClient(tlsFor TLSConfigFunc) *Client {
	c := &Client{}
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	c.tr = &http.Transport{
		Proxy: nil,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			raw, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			c.wire.conns.Add(1)
			counted := &countingConn{Conn: raw, w: &c.wire}
			cfg := tlsFor(addr)
			if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
				cfg = cfg.Clone()
				cfg.ServerName, _, _ = net.SplitHostPort(addr)
			}
			tc := tls.Client(counted, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
			}
			return tc, nil
		},
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, fmt.Errorf("plain http is not used for third-party copy")
		},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	c.hc = &http.Client{
		Transport: c.tr,
		// Redirects are followed by Copy itself: a COPY must be re-issued
		// with all its headers, and only to https.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// Close closes idle connections (and their goroutines). The Client stays
// usable.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Wire is what a Client sent and received so far: connections (each one
// TCP connect plus one TLS handshake), HTTP requests, and bytes on the
// wire (TLS records included) in each direction.
type Wire struct {
	Conns     int64
	Requests  int64
	BytesOut  int64
	BytesIn   int64
	Redirects int64
}

// Sub returns w - o (what happened between two readings).
func (w Wire) Sub(o Wire) Wire {
	return Wire{w.Conns - o.Conns, w.Requests - o.Requests, w.BytesOut - o.BytesOut, w.BytesIn - o.BytesIn, w.Redirects - o.Redirects}
}

// Wire returns the counts so far.
func (c *Client) Wire() Wire {
	return Wire{
		Conns: c.wire.conns.Load(), Requests: c.wire.requests.Load(),
		BytesOut: c.wire.out.Load(), BytesIn: c.wire.in.Load(), Redirects: c.wire.redirects.Load(),
	}
}

type wireCounter struct {
	conns, requests, out, in, redirects atomic.Int64
}

type countingConn struct {
	net.Conn
	w *wireCounter
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.out.Add(int64(n))
	return n, err
}
