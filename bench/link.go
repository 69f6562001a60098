package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Link is a TCP forwarder on 127.0.0.1 that delays every byte by OneWay in
// each direction, like a path with round-trip time 2×OneWay and unlimited
// bandwidth. The client's connect returns at once (the forwarder accepts),
// so the TCP handshake is charged on the first client bytes instead: they
// reach the upstream no earlier than one RTT after the connect, plus the
// one-way delay, as on a real path.
type Link struct {
	upstream string
	oneWay   time.Duration
	ln       net.Listener

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	accepted   atomic.Int64
	spoken     atomic.Int64 // connections on which the client sent bytes
	down       atomic.Int64 // bytes the server sent
	roundTrips atomic.Int64
	stalls     atomic.Int64
	longest    atomic.Int64 // ns
}

// StallAfter is how long a server may leave a client's request
// unanswered before the link counts the connection as stalled.
const StallAfter = 10 * time.Second

// LinkStats counts what crossed a link.
type LinkStats struct {
	// Conns is the number of connections accepted; Spoken those on which
	// the client sent anything (a TLS connection, where 1connection only
	// connects); BytesDown the bytes the servers sent.
	Conns, Spoken, BytesDown int64
	// RoundTrips counts, over all connections, the TCP handshakes plus every
	// time the client sent after having received: the round trips the
	// client really waited for.
	RoundTrips int64
	// Stalls counts connections on which the server left the client's
	// bytes unanswered for StallAfter or more (until it answered or the
	// connection ended); LongestWait is the longest such wait on any
	// connection. They tell a server that stops answering from a client
	// that never asked.
	Stalls      int64
	LongestWait time.Duration
}

// NewLink listens on a free loopback port and forwards to upstream.
func NewLink(upstream string, oneWay time.Duration) (*Link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("link to %s: %w", upstream, err)
	}
	l := &Link{upstream: upstream, oneWay: oneWay, ln: ln, conns: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

// Addr is the listening address, 127.0.0.1:<port>.
func (l *Link) Addr() string { return l.ln.Addr().String() }

// Port is the listening port.
func (l *Link) Port() int { return l.ln.Addr().(*net.TCPAddr).Port }

// Stats returns the counts so far.
func (l *Link) Stats() LinkStats {
	return LinkStats{Conns: l.accepted.Load(), Spoken: l.spoken.Load(), BytesDown: l.down.Load(), RoundTrips: l.roundTrips.Load(),
		Stalls: l.stalls.Load(), LongestWait: time.Duration(l.longest.Load())}
}

// Close stops accepting, drops every open connection and waits until all
// of the link's goroutines are gone.
func (l *Link) Close() error {
	l.mu.Lock()
	l.closed = true
	for c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	err := l.ln.Close()
	l.wg.Wait()
	return err
}

func (l *Link) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *Link) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

func (l *Link) serve() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // EMFILE and friends: back off, keep serving
			continue
		}
		accepted := time.Now()
		l.accepted.Add(1)
		l.roundTrips.Add(1) // the TCP handshake
		l.wg.Add(1)
		go l.forward(c, accepted)
	}
}

func (l *Link) forward(client net.Conn, accepted time.Time) {
	defer l.wg.Done()
	if !l.track(client) {
		_ = client.Close()
		return
	}
	defer l.untrack(client)
	defer client.Close()
	up, err := net.DialTimeout("tcp", l.upstream, 10*time.Second)
	if err != nil {
		return
	}
	if !l.track(up) {
		_ = up.Close()
		return
	}
	defer l.untrack(up)
	defer up.Close()

	var received atomic.Bool // the client got bytes since it last sent
	received.Store(true)     // so its first bytes start a round trip
	var spoke sync.Once
	w := &waits{}
	rtt := 2 * l.oneWay
	var done sync.WaitGroup
	done.Add(2)
	go func() {
		defer done.Done()
		l.pipe(client, up, accepted.Add(rtt), func(int) {
			spoke.Do(func() { l.spoken.Add(1) })
			if received.Swap(false) {
				l.roundTrips.Add(1)
			}
			w.asked()
		}, nil)
	}()
	go func() {
		defer done.Done()
		l.pipe(up, client, time.Time{}, func(n int) { l.down.Add(int64(n)); w.answered() }, func() { received.Store(true) })
	}()
	done.Wait()
	if longest := w.end(); longest >= StallAfter {
		l.stalls.Add(1)
		for {
			cur := l.longest.Load()
			if int64(longest) <= cur || l.longest.CompareAndSwap(cur, int64(longest)) {
				break
			}
		}
	}
}

// waits measures, on one connection, how long the server took to send
// anything after the client's bytes reached the link.
type waits struct {
	mu      sync.Mutex
	since   time.Time // the client's oldest unanswered bytes; zero: none
	longest time.Duration
}

func (w *waits) asked() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since.IsZero() {
		w.since = time.Now()
	}
}

func (w *waits) answered() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.since.IsZero() {
		w.longest = max(w.longest, time.Since(w.since))
		w.since = time.Time{}
	}
}

// end closes the books: bytes still unanswered waited until now.
func (w *waits) end() time.Duration {
	w.answered()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.longest
}

// chunk is data read at one instant, due at the other end later.
type chunk struct {
	data []byte
	due  time.Time
	end  bool // source finished (EOF or error)
	err  error
}

// pipe copies src to dst, delivering each read oneWay after it was read
// (and never before notBefore+oneWay). onRead runs after each read with
// its length, onWrite just before each delivery. It returns when src is finished and all
// its data delivered (or dst failed).
func (l *Link) pipe(src, dst net.Conn, notBefore time.Time, onRead func(int), onWrite func()) {
	q := make(chan chunk, 512)
	go func() {
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				at := time.Now()
				if at.Before(notBefore) {
					at = notBefore
				}
				if onRead != nil {
					onRead(n)
				}
				q <- chunk{data: buf[:n], due: at.Add(l.oneWay)}
			}
			if err != nil {
				q <- chunk{end: true, err: err}
				return
			}
		}
	}()
	failed := false
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for c := range q {
		if c.end {
			if failed {
				return
			}
			if errors.Is(c.err, net.ErrClosed) || !isEOF(c.err) {
				_ = dst.Close()
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
		if failed {
			continue
		}
		if d := time.Until(c.due); d > 0 {
			timer.Reset(d)
			<-timer.C
		}
		if onWrite != nil {
			onWrite() // before the write: the peer may answer before Write returns
		}
		if _, err := dst.Write(c.data); err != nil {
			failed = true
			_ = dst.Close()
			_ = src.Close() // unblocks the reader, which then ends the queue
		}
	}
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
