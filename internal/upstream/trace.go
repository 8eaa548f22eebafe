package upstream

import (
	"errors"
	"net"
	"net/http/httptrace"
	"sync/atomic"
)

// Trace watches one attempt's connection through httptrace, so that
// Reached can tell a failure before the request was written from one
// after. Its hooks may run on the transport's goroutines, hence the
// atomics. The zero value is ready; use one Trace per attempt.
type Trace struct {
	getConn atomic.Bool // the transport started looking for a connection
	gotConn atomic.Bool // it has one, and the request is written on it next
}

// Hooks returns the httptrace hooks that feed t; pass them to
// httptrace.WithClientTrace for the request's context.
func (t *Trace) Hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { t.getConn.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { t.gotConn.Store(true) },
	}
}

// Reached reports whether a request that failed with err may have reached
// the upstream. net/http's transports (HTTP/1 and HTTP/2) call GotConn
// before they write a byte, so a failure without it (a dial, DNS, TLS or
// proxy failure, or a deadline while any of these ran) certainly sent
// nothing. A RoundTripper that calls no hooks is judged by err alone.
func (t *Trace) Reached(err error) bool {
	if t.gotConn.Load() {
		return true
	}
	if t.getConn.Load() {
		return false
	}
	return !NotSent(err)
}

// NotSent reports whether a transport error certainly happened before the
// request reached the upstream, judged by its type alone: the connection
// was never made (a failed dial or DNS lookup).
func NotSent(err error) bool {
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return true
	}
	_, dns := errors.AsType[*net.DNSError](err)
	return dns
}
