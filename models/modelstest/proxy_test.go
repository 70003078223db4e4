package modelstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"keysmith/models"
)

// silence is how long a hung connection must stay quiet for the tests to call it hung.
const silence = 200 * time.Millisecond

// startEcho starts a TCP server on 127.0.0.1 that writes back whatever it reads, and stops it
// when the test ends.
func startEcho(t *testing.T) string {
	t.Helper()
	return startServer(t, func(conn net.Conn) { io.Copy(conn, conn) })
}

// startServer starts a TCP server on 127.0.0.1 that runs serve on each connection, and stops it
// (listener, connections and goroutines) when the test ends.
func startServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, conn := range conns {
			conn.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dial connects to addr and closes the connection when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// echo writes msg to conn and reads it back within a second, returning what came back.
func echo(conn net.Conn, msg string) (string, error) {
	conn.SetDeadline(time.Now().Add(time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, msg); err != nil {
		return "", err
	}
	got := make([]byte, len(msg))
	_, err := io.ReadFull(conn, got)
	return string(got), err
}

// assertEchoes fails the test unless msg comes back through conn.
func assertEchoes(t *testing.T, conn net.Conn, msg string) {
	t.Helper()
	got, err := echo(conn, msg)
	if err != nil {
		t.Fatalf("echo %q: got error %v, want %q back", msg, err, msg)
	}
	if got != msg {
		t.Fatalf("echo: got %q, want %q", got, msg)
	}
}

// assertSilent fails the test unless nothing arrives on conn for silence.
func assertSilent(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(silence))
	defer conn.SetReadDeadline(time.Time{})
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a hung connection: got %q, error %v, want nothing until the %v deadline", buf[:n], err, silence)
	}
}

// assertClosed fails the test unless a read on conn ends with an error (EOF or reset) within
// a second; the read deadline running out means the proxy kept the connection open.
func assertClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 64)
	for {
		n, err := conn.Read(buf)
		if err == nil {
			// Bytes the proxy forwarded before closing may still be queued; read past them.
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: got a connection still open after a second (last read %q), want it closed", buf[:n])
		}
		return
	}
}

// assertRefused fails the test unless a dial to addr is refused quickly.
func assertRefused(t *testing.T, addr string) {
	t.Helper()
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s: got a connection, want connection refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: got error %v, want %v", addr, err, syscall.ECONNREFUSED)
	}
	if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
		t.Fatalf("dial %s: refused after %v, want within 100ms", addr, elapsed)
	}
}

// waitConnections waits up to a second for the proxy to hold want connections; the proxy
// registers and closes connections on goroutines of its own.
func waitConnections(t *testing.T, proxy *Proxy, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got := proxy.Connections()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Connections: got %d, want %d", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProxyForwards(t *testing.T) {
	proxy := NewProxy(t, startEcho(t))
	first, second := dial(t, proxy.Addr()), dial(t, proxy.Addr())
	assertEchoes(t, first, "hello")
	assertEchoes(t, second, "world")
	waitConnections(t, proxy, 2)

	// More than the proxy's buffer, so the copy loops go round several times.
	big := make([]byte, 1<<20)
	rand.Read(big)
	errc := make(chan error, 1)
	go func() {
		_, err := first.Write(big)
		errc <- err
	}()
	first.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(big))
	if _, err := io.ReadFull(first, got); err != nil {
		t.Fatalf("read 1 MiB back: got error %v, want none", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write 1 MiB: got error %v, want none", err)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("1 MiB echo: got different bytes, want the bytes written")
	}

	first.Close()
	waitConnections(t, proxy, 1)
}

// TestProxyFaults injects each fault into a proxy holding one connection, checks the existing
// connection and a new one, then checks that Forward closes what was left and serves again on
// the same address.
func TestProxyFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault func(*Proxy)
		// existingClosed: the fault closes existing connections; otherwise existingEchoes tells
		// whether they go on or fall silent.
		existingClosed bool
		existingEchoes bool
		// newRefused: new dials are refused; otherwise newEchoes tells whether they echo or
		// fall silent.
		newRefused bool
		newEchoes  bool
	}{
		{name: "drop", fault: (*Proxy).Drop, existingClosed: true, newEchoes: true},
		{name: "refuse", fault: (*Proxy).Refuse, existingClosed: true, newRefused: true},
		{name: "hang", fault: (*Proxy).Hang, existingClosed: false, newEchoes: false},
		{name: "hang new", fault: (*Proxy).HangNew, existingEchoes: true, newEchoes: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy := NewProxy(t, startEcho(t))
			addr := proxy.Addr()
			existing := dial(t, addr)
			assertEchoes(t, existing, "before")
			waitConnections(t, proxy, 1)

			tt.fault(proxy)
			if proxy.Addr() != addr {
				t.Fatalf("Addr after %s: got %q, want %q", tt.name, proxy.Addr(), addr)
			}
			var during net.Conn
			switch {
			case tt.newRefused:
				assertRefused(t, addr)
			case tt.newEchoes:
				during = dial(t, addr)
				assertEchoes(t, during, "during")
			default:
				during = dial(t, addr)
				io.WriteString(during, "during")
				assertSilent(t, during)
			}
			switch {
			case tt.existingClosed:
				assertClosed(t, existing)
			case tt.existingEchoes:
				assertEchoes(t, existing, "during")
				waitConnections(t, proxy, 2)
			default:
				io.WriteString(existing, "during")
				assertSilent(t, existing)
				// Hung connections stay open: a hang closes nothing.
				waitConnections(t, proxy, 2)
			}

			proxy.Forward()
			stillOpen := 0
			if tt.existingEchoes {
				assertEchoes(t, existing, "still")
				stillOpen++
			} else {
				assertClosed(t, existing)
			}
			switch {
			case during == nil:
			case tt.newEchoes:
				// Forward closes only hung connections; one that forwarded goes on.
				assertEchoes(t, during, "still")
				stillOpen++
			default:
				assertClosed(t, during)
			}
			waitConnections(t, proxy, stillOpen)
			if proxy.Addr() != addr {
				t.Fatalf("Addr after Forward: got %q, want %q", proxy.Addr(), addr)
			}
			assertEchoes(t, dial(t, addr), "after")
			waitConnections(t, proxy, stillOpen+1)
		})
	}
}

// TestProxyHangHoldsReadBytes hangs the proxy after the target has answered into it, so the
// answer is on its way back through the proxy, and checks the answer never arrives.
func TestProxyHangHoldsReadBytes(t *testing.T) {
	received := make(chan struct{})
	release := make(chan struct{})
	answered := make(chan error, 1)
	target := startServer(t, func(conn net.Conn) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(conn, buf); err != nil {
			answered <- err
			return
		}
		close(received)
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		_, err := conn.Write(buf)
		answered <- err
		io.Copy(io.Discard, conn)
	})
	proxy := NewProxy(t, target)
	conn := dial(t, proxy.Addr())
	io.WriteString(conn, "hello")
	select {
	case <-received:
	case <-time.After(time.Second):
		t.Fatalf("target: got nothing within a second, want %q", "hello")
	}

	proxy.Hang()
	close(release)
	if err := <-answered; err != nil {
		t.Fatalf("target write into the hung proxy: got error %v, want none", err)
	}
	assertSilent(t, conn)

	proxy.Forward()
	assertClosed(t, conn)
}

func TestProxyRefuseRepeated(t *testing.T) {
	proxy := NewProxy(t, startEcho(t))
	for range 3 {
		proxy.Refuse()
		assertRefused(t, proxy.Addr())
		proxy.Forward()
		assertEchoes(t, dial(t, proxy.Addr()), "again")
	}
}

// TestProxyCleanup checks that the proxy's cleanup closes its listener and its connections in
// every state; a goroutine still running fails the test from the cleanup itself.
func TestProxyCleanup(t *testing.T) {
	target := startEcho(t)
	var (
		addr  string
		conns []net.Conn
	)
	t.Run("busy", func(t *testing.T) {
		proxy := NewProxy(t, target)
		addr = proxy.Addr()
		for _, fault := range []func(){proxy.Forward, proxy.Hang} {
			fault()
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			conns = append(conns, conn)
		}
		waitConnections(t, proxy, 2)
	})
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	for _, conn := range conns {
		assertClosed(t, conn)
	}
	assertRefused(t, addr)
}

func TestNewProxyRejectsRemoteTarget(t *testing.T) {
	tests := []struct {
		target string
		want   bool
	}{
		{target: "127.0.0.1:5432", want: true},
		{target: "localhost:5432", want: true},
		{target: "[::1]:5432", want: true},
		{target: "10.0.0.1:5432", want: false},
		{target: "db.example.com:5432", want: false},
		{target: "127.0.0.1", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			rec := &fatalRecorder{TB: t}
			done := make(chan struct{})
			// Fatalf ends the goroutine it runs on, so NewProxy runs on one of its own.
			go func() {
				defer close(done)
				NewProxy(rec, tt.target)
			}()
			<-done
			if got := !rec.failed; got != tt.want {
				t.Fatalf("NewProxy(%q) accepted: got %v, want %v (%s)", tt.target, got, tt.want, rec.message)
			}
		})
	}
}

// fatalRecorder records a Fatalf instead of failing the test.
type fatalRecorder struct {
	testing.TB
	failed  bool
	message string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.message = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestProxyURL(t *testing.T) {
	proxy := NewProxy(t, startEcho(t))
	host := proxy.Addr()
	tests := []struct {
		in   string
		want string
	}{
		{
			in:   "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=x",
			want: "postgres://postgres@" + host + "/test?sslmode=disable&search_path=x",
		},
		{
			in:   "postgresql://keysmith:s3cret@localhost:5432/test?search_path=keysmith_test_1&sslmode=disable",
			want: "postgresql://keysmith:s3cret@" + host + "/test?search_path=keysmith_test_1&sslmode=disable",
		},
		{
			in:   "postgres://postgres@127.0.0.1/test",
			want: "postgres://postgres@" + host + "/test",
		},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := proxy.URL(tt.in); got != tt.want {
				t.Fatalf("URL: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestProxyPostgres runs a store through the proxy to PostgreSQL: a hang makes Ping fail
// within its deadline, and the store recovers by itself once the proxy forwards again.
func TestProxyPostgres(t *testing.T) {
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("%s is not set", EnvPostgres)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	proxy := NewProxy(t, net.JoinHostPort(u.Hostname(), port))

	ctx := context.Background()
	store, err := models.Open(ctx, proxy.URL(base))
	if err != nil {
		t.Fatalf("open through the proxy: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Ping(ctx); err != nil {
		t.Fatalf("Ping through the proxy: got %v, want nil", err)
	}

	proxy.Hang()
	start := time.Now()
	pingCtx, cancel := context.WithTimeout(ctx, time.Second)
	err = store.Ping(pingCtx)
	cancel()
	if err == nil {
		t.Fatalf("Ping while hung: got nil, want an error")
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Ping while hung: failed after %v, want within 2s", elapsed)
	}

	proxy.Forward()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := store.Ping(pingCtx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping 5s after Forward: got %v, want nil", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
