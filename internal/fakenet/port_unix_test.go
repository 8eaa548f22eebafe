//go:build unix

package fakenet_test

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/otpgate/otpgate/internal/fakenet"
)

// listenExclusive listens on addr without SO_REUSEADDR, so it fails while
// any other socket is bound to the port.
func listenExclusive(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}

func TestGateHoldsPortWhileRefusing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		after    func(*fakenet.Gate) error // what follows Refuse
		wantHeld bool
	}{
		{"refusing", func(*fakenet.Gate) error { return nil }, true},
		{"closed while refusing", (*fakenet.Gate).Close, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			g := fakenet.NewGate(l)
			t.Cleanup(func() { g.Close() })
			g.Refuse()
			if err := tc.after(g); err != nil {
				t.Fatal(err)
			}
			other, err := listenExclusive(g.Addr().String())
			if err == nil {
				other.Close()
			}
			if held := err != nil; held != tc.wantHeld {
				t.Errorf("port held = %v (another listener: %v), want %v", held, err, tc.wantHeld)
			}
		})
	}
}
