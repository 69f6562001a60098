package faults

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Server is a purpose-built bad server on 127.0.0.1. Close stops it and
// every connection it holds; nothing it started outlives Close.
type Server struct {
	ln     net.Listener
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	// Accepted counts connections accepted.
	accepted int
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Accepted is how many connections the server accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Close stops the listener, closes every connection and waits for the
// server's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// serve accepts connections and runs handle on each until Close.
func serve(handle func(s *Server, c net.Conn)) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bad server: listen: %w", err)
	}
	s := &Server{ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.accepted++
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				handle(s, c)
			}()
		}
	}()
	return s, nil
}

// Blackhole accepts TCP connections, reads and discards what arrives, and
// never answers.
func Blackhole() (*Server, error) {
	return serve(func(s *Server, c net.Conn) {
		io.Copy(io.Discard, c) // returns when Close closes c
	})
}

// Trickle accepts a connection, then writes payload one byte per interval
// (the ~1 B/s server), reading and discarding what the client sends. The
// loop is bounded by len(payload).
func Trickle(payload []byte, interval time.Duration) (*Server, error) {
	return serve(func(s *Server, c net.Conn) {
		go io.Copy(io.Discard, c)
		t := time.NewTicker(interval)
		defer t.Stop()
		for _, b := range payload {
			select {
			case <-s.done:
				return
			case <-t.C:
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
		<-s.done
	})
}

// Refused returns a loopback address on which nothing listens: a TCP port
// bound and not listening (connections to it are refused), held until
// release is called. A port bound and released at once could be taken by
// another listener of the machine before the case runs (seen: a round's
// "refused" site found a TLS server there).
func Refused() (addr string, release func(), err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("refused port: socket: %w", err)
	}
	release = func() { _ = syscall.Close(fd) }
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		release()
		return "", nil, fmt.Errorf("refused port: bind: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	in4, ok := sa.(*syscall.SockaddrInet4)
	if err != nil || !ok {
		release()
		return "", nil, fmt.Errorf("refused port: getsockname: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", in4.Port), release, nil
}

// TLSServer serves h over TLS with cert on 127.0.0.1, requesting (not
// verifying) a client certificate the way grid servers do, so a proxy
// chain is presented. Go's verifier rejects proxy certificates, hence no
// verification here.
func TLSServer(cert tls.Certificate, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("TLS server: listen: %w", err)
	}
	s := &Server{ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12},
		ErrorLog:          log.New(io.Discard, "", 0), // handshake failures are the point
		ConnState: func(c net.Conn, st http.ConnState) {
			s.mu.Lock()
			defer s.mu.Unlock()
			switch st {
			case http.StateNew:
				s.accepted++
				s.conns[c] = struct{}{}
			case http.StateClosed, http.StateHijacked:
				delete(s.conns, c)
			}
		},
	}
	srv.SetKeepAlivesEnabled(true)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		srv.ServeTLS(ln, "", "")
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-s.done
		srv.Close()
	}()
	return s, nil
}

// XRootDGarbage answers the XRootD handshake with frames that make no
// sense: a well-formed 8-byte response header whose status is unknown and
// whose length announces far more data than follows, then random-looking
// bytes. It reads and discards what the client sends.
func XRootDGarbage() (*Server, error) {
	return serve(func(s *Server, c net.Conn) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		hs := make([]byte, 20)
		if _, err := io.ReadFull(c, hs); err != nil {
			return
		}
		go io.Copy(io.Discard, c)
		frame := make([]byte, 8, 64)
		binary.BigEndian.PutUint16(frame[2:], 0xbeef)     // status: no such status
		binary.BigEndian.PutUint32(frame[4:], 0x7fffff00) // dlen: ~2 GiB
		for i := 0; i < 56; i++ {
			frame = append(frame, byte(i*37+11))
		}
		c.Write(frame)
		<-s.done
	})
}
