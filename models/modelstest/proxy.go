package modelstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections from a loopback address of its own to a target address, and can
// inject the faults a database client meets: a refused connection (Refuse), a reset one (Drop),
// a database or network that stops answering (Hang) and one that stops taking connections
// while its sessions go on (HangNew). Tests put it between a store and
// PostgreSQL to check that Keysmith fails fast and recovers; bench/dbproxy puts it between a
// running server and PostgreSQL. It is safe for concurrent use.
type Proxy struct {
	// Logf, when set, is told at once of an error the proxy meets while it runs: listening again
	// on its address after Refuse. Set it before the first Forward or Hang. Errors it is not told
	// of are returned by Close. NewProxy sets it to the test's Errorf.
	Logf func(format string, args ...any)

	// t is the test of a proxy made by NewProxy; nil for one made by StartProxy.
	t      testing.TB
	target string
	// addr is fixed by the first listen, so Refuse and Forward keep the address clients know.
	addr string
	// ctx ends when the proxy is closed and cancels dials to the target still under way.
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex
	// cond wakes copy loops waiting on a hung connection when it is closed.
	cond   *sync.Cond
	mode   proxyMode
	ln     net.Listener // nil while refusing and after Close
	conns  map[*proxyConn]struct{}
	closed bool
	// errs are the errors met while Logf was nil, for Close to return.
	errs []error

	wg sync.WaitGroup // the accept loop, dials and copy loops
}

// proxyMode is the fault a Proxy injects.
type proxyMode int

const (
	modeForward proxyMode = iota
	modeRefuse
	modeHang
	modeHangNew
)

// proxyConn is one client connection and, once dialled, its connection to the target. Its
// fields other than client are guarded by Proxy.mu.
type proxyConn struct {
	client net.Conn
	server net.Conn
	// hung marks a connection that lived through a Hang: it forwards nothing and Forward closes it.
	hung   bool
	closed bool
}

// dialTimeout bounds the proxy's own dial to the target.
const dialTimeout = 2 * time.Second

// cleanupWait bounds how long Close waits for the proxy's goroutines.
const cleanupWait = 5 * time.Second

// aLongTimeAgo is a deadline in the past: it fails writes under way at once.
var aLongTimeAgo = time.Unix(1, 0)

// NewProxy starts a proxy to target ("host:port") on 127.0.0.1 with a free port and stops it
// when the test ends (t.Cleanup). The target must be a loopback address, so a test can never
// reach past the machine it runs on. Errors the proxy meets fail the test.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := StartProxy(target)
	if err != nil {
		t.Fatalf("%v", err)
	}
	p.t = t
	p.Logf = t.Errorf
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return p
}

// StartProxy starts a proxy to target ("host:port") on 127.0.0.1 with a free port, for use
// outside tests (bench/dbproxy); Close stops it. The target must be a loopback address, so the
// faults it injects can never reach past the machine it runs on.
func StartProxy(target string) (*Proxy, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("modelstest: proxy target %q: %w", target, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("modelstest: proxy target %q is not a loopback address", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("modelstest: proxy listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target: target,
		addr:   ln.Addr().String(),
		ctx:    ctx,
		cancel: cancel,
		ln:     ln,
		conns:  make(map[*proxyConn]struct{}),
	}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept(ln)
	return p, nil
}

// Addr is the proxy's listening address host:port.
func (p *Proxy) Addr() string { return p.addr }

// URL returns databaseURL (a postgres:// URL) with its host:port replaced by the proxy's, so a
// store opened with it goes through the proxy. User, database and query parameters
// (search_path etc.) are kept. A URL that does not parse fails the test, or panics on a proxy
// made by StartProxy.
func (p *Proxy) URL(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		if p.t == nil {
			panic(fmt.Sprintf("modelstest: proxy URL: %v", err))
		}
		p.t.Helper()
		p.t.Fatalf("modelstest: proxy URL: %v", err)
	}
	u.Host = p.addr
	return u.String()
}

// Forward returns the proxy to normal operation: new connections are accepted and forwarded.
// Connections that lived through a Hang are closed (both sides), as a failover would leave
// them, rather than resumed. After Refuse it listens again on the same address.
func (p *Proxy) Forward() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.mode = modeForward
	for c := range p.conns {
		if c.hung {
			p.closeConnLocked(c)
		}
	}
	p.listenLocked()
}

// Refuse makes new connections fail at once with ECONNREFUSED, as a stopped database does, and
// drops every existing connection (both sides closed). The listener is closed for real; Forward
// or Hang opens it again on the same port.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.mode = modeRefuse
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.closeAllLocked()
}

// Drop closes every existing connection (both sides) but keeps accepting new ones: a database
// restart or a network reset. It leaves the mode as it was, so after Hang new connections
// still hang and after Refuse they are still refused.
func (p *Proxy) Drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeAllLocked()
}

// Hang makes the proxy stop answering without closing anything: new connections are accepted
// but nothing is forwarded in either direction, and existing connections stop forwarding too,
// including bytes the proxy has read but not yet written. Forward ends the hang and closes the
// connections that were hung.
func (p *Proxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.mode = modeHang
	for c := range p.conns {
		c.hung = true
		// A deadline in the past fails writes under way, so not even a write that started before
		// the hang finishes; the copy loop keeps the unwritten bytes and waits.
		c.client.SetWriteDeadline(aLongTimeAgo)
		if c.server != nil {
			c.server.SetWriteDeadline(aLongTimeAgo)
		}
	}
	p.listenLocked()
}

// HangNew makes new connections hang as Hang does, while connections already forwarded keep
// working: a database that stops taking connections (its max_connections reached, or its
// postmaster stuck) while its sessions go on. Forward closes the connections that hung.
func (p *Proxy) HangNew() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.mode = modeHangNew
	p.listenLocked()
}

// Connections returns how many connections the proxy currently holds open (for tests that
// check clients reconnect).
func (p *Proxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// listenLocked listens again on the proxy's address after Refuse closed the listener.
func (p *Proxy) listenLocked() {
	if p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		// Reported, not fatal: the mode may change from any goroutine. Later dials fail and
		// this says why.
		err = fmt.Errorf("modelstest: proxy listen again on %s: %w", p.addr, err)
		if p.Logf != nil {
			p.Logf("%v", err)
		} else {
			p.errs = append(p.errs, err)
		}
		return
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
}

// accept takes connections from ln until it is closed.
func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		client, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off; closing ln ends the loop.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		if p.closed || p.mode == modeRefuse {
			// Accepted just before Refuse closed the listener.
			p.mu.Unlock()
			client.Close()
			continue
		}
		c := &proxyConn{client: client, hung: p.mode == modeHang || p.mode == modeHangNew}
		p.conns[c] = struct{}{}
		// A hung connection never reaches the target: it is held until Forward or Drop closes it.
		if !c.hung {
			p.wg.Add(1)
			go p.connect(c)
		}
		p.mu.Unlock()
	}
}

// connect dials the target for c and starts copying both ways.
func (p *Proxy) connect(c *proxyConn) {
	defer p.wg.Done()
	dialer := net.Dialer{Timeout: dialTimeout}
	server, err := dialer.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		// The client sees its connection closed, as if the database had refused it.
		p.closeConn(c)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.closed {
		server.Close()
		return
	}
	c.server = server
	p.wg.Add(2)
	go p.pipe(c, server, c.client)
	go p.pipe(c, c.client, server)
}

// pipe copies src to dst until either fails, then closes both sides of c, so a half-closed
// connection never lingers.
func (p *Proxy) pipe(c *proxyConn, dst, src net.Conn) {
	defer p.wg.Done()
	defer p.closeConn(c)
	buf := make([]byte, 32*1024)
	for {
		n, readErr := src.Read(buf)
		if n > 0 && !p.write(c, dst, buf[:n]) {
			return
		}
		if readErr != nil {
			return
		}
	}
}

// write writes data to dst, waiting before each write while c is hung. It reports whether c
// is still open.
func (p *Proxy) write(c *proxyConn, dst net.Conn, data []byte) bool {
	for len(data) > 0 {
		if !p.waitForward(c) {
			return false
		}
		n, err := dst.Write(data)
		data = data[n:]
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// Hang set the deadline: wait with the rest of the bytes.
				continue
			}
			return false
		}
	}
	return true
}

// waitForward blocks while c is hung and reports whether c is still open. A hung connection
// is only ever closed, so a write deadline can only be set on a connection that waits here.
func (p *Proxy) waitForward(c *proxyConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c.hung && !c.closed {
		p.cond.Wait()
	}
	return !c.closed
}

// closeConn closes both sides of c.
func (p *Proxy) closeConn(c *proxyConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeConnLocked(c)
}

// closeConnLocked closes both sides of c and wakes its copy loops; it is safe to call twice.
func (p *Proxy) closeConnLocked(c *proxyConn) {
	if c.closed {
		return
	}
	c.closed = true
	delete(p.conns, c)
	c.client.Close()
	if c.server != nil {
		c.server.Close()
	}
	p.cond.Broadcast()
}

// closeAllLocked closes every connection the proxy holds.
func (p *Proxy) closeAllLocked() {
	for c := range p.conns {
		p.closeConnLocked(c)
	}
}

// Close stops the proxy: it closes its listener and every connection (both sides), and waits,
// for a bounded time, for its goroutines. It returns the errors met that Logf was not told of,
// and an error if goroutines are still running when the wait ends. Closing a closed proxy
// does nothing.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	errs := p.errs
	p.errs = nil
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.closeAllLocked()
	p.cancel()
	p.mu.Unlock()

	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(cleanupWait):
		errs = append(errs, fmt.Errorf("modelstest: proxy goroutines still running %v after Close", cleanupWait))
	}
	return errors.Join(errs...)
}
