//go:build unix

package fakenet

import (
	"net"
	"syscall"
)

// holdPort binds a socket to addr without listening on it. Connections to
// addr are still refused, but the kernel no longer hands the port to
// another listener asking for a free one (a parallel test's fake would
// otherwise answer in its place), so listening there again succeeds.
// SO_REUSEADDR lets it bind beside the closed listener's TIME_WAIT
// connections, and lets a listener bind beside it. Best effort: on failure
// the port is merely free while refusing.
func holdPort(addr net.Addr) (release func()) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return func() {}
	}
	family, sa := syscall.AF_INET6, syscall.Sockaddr(nil)
	if ip4 := ta.IP.To4(); ip4 != nil {
		family, sa = syscall.AF_INET, &syscall.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ip4)}
	} else {
		sa = &syscall.SockaddrInet6{Port: ta.Port, Addr: [16]byte(ta.IP.To16())}
	}
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return func() {}
	}
	if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1) != nil || syscall.Bind(fd, sa) != nil {
		syscall.Close(fd)
		return func() {}
	}
	return func() { syscall.Close(fd) }
}
