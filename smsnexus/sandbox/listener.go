package sandbox

import (
	"net"
	"sync"
)

// gate is the fake's listener. It can stop listening, so that connections
// are refused by the operating system, and listen again on the same
// address, while the HTTP server keeps serving through it.
type gate struct {
	addr net.Addr

	mu     sync.Mutex
	ln     net.Listener  // nil while refusing
	wake   chan struct{} // non-nil while refusing; closed when that ends
	closed bool
}

func newGate(ln net.Listener) *gate { return &gate{addr: ln.Addr(), ln: ln} }

// Accept waits for a connection on the current listener; while refusing,
// it waits for listening to resume.
func (g *gate) Accept() (net.Conn, error) {
	for {
		g.mu.Lock()
		ln, wake, closed := g.ln, g.wake, g.closed
		g.mu.Unlock()
		switch {
		case closed:
			return nil, net.ErrClosed
		case ln == nil:
			<-wake
			continue
		}
		conn, err := ln.Accept()
		if err == nil {
			return conn, nil
		}
		g.mu.Lock()
		replaced := g.ln != ln || g.closed
		g.mu.Unlock()
		if !replaced {
			return nil, err
		}
	}
}

// refuse stops listening.
func (g *gate) refuse() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil || g.closed {
		return
	}
	_ = g.ln.Close()
	g.ln, g.wake = nil, make(chan struct{})
}

// listen listens again on the address, if refusing.
func (g *gate) listen() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil || g.closed {
		return nil
	}
	ln, err := net.Listen(g.addr.Network(), g.addr.String())
	if err != nil {
		return err
	}
	g.ln = ln
	close(g.wake)
	g.wake = nil
	return nil
}

// Close stops listening for good.
func (g *gate) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	if g.wake != nil {
		close(g.wake)
		g.wake = nil
	}
	if g.ln != nil {
		return g.ln.Close()
	}
	return nil
}

// Addr is the address the fake listens on, refusing or not.
func (g *gate) Addr() net.Addr { return g.addr }
