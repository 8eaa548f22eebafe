package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"testing"

	"github.com/otpgate/otpgate/internal/upstream"
)

var (
	errDial = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	errRead = &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	errDNS  = &net.DNSError{Err: "no such host", Name: "sms.example"}
)

func TestTraceReached(t *testing.T) {
	t.Parallel()
	getConn := func(h *httptrace.ClientTrace) { h.GetConn("sms.example:443") }
	gotConn := func(h *httptrace.ClientTrace) { h.GetConn("sms.example:443"); h.GotConn(httptrace.GotConnInfo{}) }
	neither := func(*httptrace.ClientTrace) {}
	tests := []struct {
		name  string
		hooks func(*httptrace.ClientTrace)
		err   error
		want  bool
	}{
		{"GotConn, then EOF", gotConn, io.ErrUnexpectedEOF, true},
		{"GotConn, then deadline", gotConn, context.DeadlineExceeded, true},
		{"GotConn wins over a dial-looking error", gotConn, errDial, true},
		{"GetConn only, deadline while dialling", getConn, context.DeadlineExceeded, false},
		{"GetConn only, even with EOF", getConn, io.EOF, false},
		{"GetConn only, TLS failure", getConn, errors.New("tls: handshake failure"), false},
		{"neither, dial error", neither, errDial, false},
		{"neither, DNS error", neither, errDNS, false},
		{"neither, EOF", neither, io.EOF, true},
		{"neither, deadline", neither, context.DeadlineExceeded, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tr upstream.Trace
			tc.hooks(tr.Hooks())
			if got := tr.Reached(tc.err); got != tc.want {
				t.Errorf("Reached(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestTraceReachedOverHTTP checks the hooks against net/http itself: a
// refused dial calls GetConn without GotConn, a dropped answer comes after
// GotConn.
func TestTraceReachedOverHTTP(t *testing.T) {
	t.Parallel()
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		conn.Close()
	}))
	t.Cleanup(drop.Close)
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()

	tests := []struct {
		name string
		url  string
		want bool
	}{
		{"dropped after the request was written", drop.URL, true},
		{"connection refused", refused.URL, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tr upstream.Trace
			ctx := httptrace.WithClientTrace(t.Context(), tr.Hooks())
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("Do answered %s, want an error", resp.Status)
			}
			if got := tr.Reached(err); got != tc.want {
				t.Errorf("Reached(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}

func TestNotSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"dial", errDial, true},
		{"dial, wrapped", fmt.Errorf("post: %w", errDial), true},
		{"dial, in a url.Error", &url.Error{Op: "Post", URL: "https://sms.example", Err: errDial}, true},
		{"DNS", errDNS, true},
		{"DNS, inside a dial", &net.OpError{Op: "dial", Err: errDNS}, true},
		{"DNS, inside a read", &net.OpError{Op: "read", Err: errDNS}, true},
		{"read", errRead, false},
		{"EOF", io.EOF, false},
		{"deadline", context.DeadlineExceeded, false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := upstream.NotSent(tc.err); got != tc.want {
				t.Errorf("NotSent(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
