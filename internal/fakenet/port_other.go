//go:build !unix

package fakenet

import "net"

// holdPort does nothing here: while the fake refuses, another listener may
// be given its port, and Listen then fails.
func holdPort(net.Addr) (release func()) { return func() {} }
