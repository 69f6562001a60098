package bench

import (
	"bufio"
	"net"
	"runtime"
	"testing"
	"time"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestLinkDelaysEachRoundTrip(t *testing.T) {
	before := runtime.NumGoroutine()
	const oneWay = 15 * time.Millisecond
	l, err := NewLink(echoServer(t), oneWay)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	const exchanges = 3
	for i := 0; i < exchanges; i++ {
		if _, err := c.Write([]byte("ping\n")); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil || line != "ping\n" {
			t.Fatalf("echo %d: %q, %v", i, line, err)
		}
	}
	took := time.Since(start)
	// handshake RTT + 3 exchange RTTs
	want := time.Duration(exchanges+1) * 2 * oneWay
	if took < want || took > want+60*time.Millisecond {
		t.Errorf("%d exchanges took %v, want about %v", exchanges, took, want)
	}
	c.Close()
	// The link counts the last turn when its reader sees the close: wait
	// for that, not for a while.
	settled := time.Now().Add(2 * time.Second)
	for got := l.Stats(); got.RoundTrips < exchanges+1 && time.Now().Before(settled); got = l.Stats() {
		runtime.Gosched()
	}
	if got := l.Stats(); got.Conns != 1 || got.RoundTrips != exchanges+1 {
		t.Errorf("stats %+v, want 1 conn and %d round trips", got, exchanges+1)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) { // +2: the echo server
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

func TestLinkCloseDropsOpenConnections(t *testing.T) {
	l, err := NewLink(echoServer(t), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { l.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close hangs with an open connection")
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after Close")
	}
}
