package sandbox

import (
	"net"
	"sync"
)

// gate is a listener that can stop listening and listen again on the same
// address, so clients see connections refused and then accepted. While it
// refuses, Accept blocks instead of failing, so the HTTP server keeps
// serving on it.
type gate struct {
	addr net.Addr

	mu      sync.Mutex
	l       net.Listener  // nil while refusing
	wake    chan struct{} // while refusing: closed when listening again or closed
	release func()        // while refusing: gives up the port held by holdPort
	closed  bool
}

func newGate(l net.Listener) *gate { return &gate{addr: l.Addr(), l: l} }

func (g *gate) Accept() (net.Conn, error) {
	for {
		g.mu.Lock()
		l, wake, closed := g.l, g.wake, g.closed
		g.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if l == nil {
			<-wake
			continue
		}
		conn, err := l.Accept()
		if err == nil {
			return conn, nil
		}
		g.mu.Lock()
		replaced := g.l != l || g.closed
		g.mu.Unlock()
		if !replaced {
			return nil, err
		}
		// l was closed by refuse or Close: look again at what to do.
	}
}

// refuse closes the socket, so connecting fails until listen.
func (g *gate) refuse() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.l == nil || g.closed {
		return
	}
	g.l.Close()
	g.l, g.wake, g.release = nil, make(chan struct{}), holdPort(g.addr)
}

// listen opens the socket again on the same address.
func (g *gate) listen() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.l != nil || g.closed {
		return nil
	}
	l, err := net.Listen(g.addr.Network(), g.addr.String())
	if err != nil {
		return err
	}
	g.release()
	g.l, g.release = l, nil
	close(g.wake)
	g.wake = nil
	return nil
}

func (g *gate) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	if g.wake != nil {
		g.release()
		close(g.wake)
		g.wake, g.release = nil, nil
	}
	if g.l != nil {
		return g.l.Close()
	}
	return nil
}

func (g *gate) Addr() net.Addr { return g.addr }
