//go:build !unix

package sandbox

import "net"

// holdPort does nothing here: while the fake refuses, another listener may
// be given its port, and Accept then fails.
func holdPort(net.Addr) (release func()) { return func() {} }
