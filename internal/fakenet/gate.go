package fakenet

import (
	"net"
	"sync"
)

// Gate is a listener that can stop listening and listen again on the same
// address, so clients see connections refused and then accepted. While it
// refuses, Accept blocks instead of failing, so an HTTP server keeps
// serving on it; on Unix the port stays bound meanwhile (see holdPort).
// Its methods are safe for concurrent use.
type Gate struct {
	addr net.Addr

	mu      sync.Mutex
	l       net.Listener  // nil while refusing
	wake    chan struct{} // while refusing: closed when listening again or closed
	release func()        // while refusing: gives up the port held by holdPort
	closed  bool
}

// NewGate returns a Gate that listens through l, which it owns from now on.
func NewGate(l net.Listener) *Gate { return &Gate{addr: l.Addr(), l: l} }

// Accept waits for a connection on the current listener; while refusing,
// it waits for listening to resume.
func (g *Gate) Accept() (net.Conn, error) {
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
		// l was closed by Refuse or Close: look again at what to do.
	}
}

// Refuse closes the socket, so connecting fails until Listen. Connections
// already accepted stay open; refusing twice is harmless.
func (g *Gate) Refuse() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.l == nil || g.closed {
		return
	}
	g.l.Close()
	g.l, g.wake, g.release = nil, make(chan struct{}), holdPort(g.addr)
}

// Listen opens the socket again on the same address after Refuse; it does
// nothing when already listening or closed. It fails only if another
// socket took the port in between (on Unix, only by naming it).
func (g *Gate) Listen() error {
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

// Close stops listening for good and gives up the port.
func (g *Gate) Close() error {
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

// Addr is the address the Gate listens on, refusing or not.
func (g *Gate) Addr() net.Addr { return g.addr }
