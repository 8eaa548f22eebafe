package fakenet_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/otpgate/otpgate/internal/fakenet"
)

// newServer serves "ok" through a Gate, without keep-alives on the client
// side, so every request dials.
func newServer(t *testing.T) (*httptest.Server, *fakenet.Gate, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	g := fakenet.NewGate(srv.Listener)
	srv.Listener = g
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, g, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func get(hc *http.Client, url string) error {
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && string(body) != "ok" {
		err = errors.New("unexpected body " + string(body))
	}
	return err
}

func dialRefused(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}

func TestGateRefuseThenListen(t *testing.T) {
	t.Parallel()
	srv, g, hc := newServer(t)
	addr := g.Addr().String()
	if err := get(hc, srv.URL); err != nil {
		t.Fatalf("before Refuse: %v", err)
	}
	g.Refuse()
	g.Refuse() // twice is harmless
	if err := get(hc, srv.URL); !dialRefused(err) {
		t.Fatalf("while refusing: got %v, want a refused dial", err)
	}
	if got := g.Addr().String(); got != addr {
		t.Errorf("Addr while refusing = %s, want %s", got, addr)
	}
	if err := g.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if err := g.Listen(); err != nil {
		t.Fatalf("Listen again: %v", err)
	}
	if err := get(hc, srv.URL); err != nil {
		t.Fatalf("after Listen: %v", err)
	}
	if got := g.Addr().String(); got != addr {
		t.Errorf("Addr after Listen = %s, want %s", got, addr)
	}
}

func TestGateCloseWhileRefusing(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := fakenet.NewGate(l)
	g.Refuse()
	accepted := make(chan error, 1)
	go func() {
		conn, err := g.Accept()
		if conn != nil {
			conn.Close()
		}
		accepted <- err
	}()
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
	if err := g.Listen(); err != nil {
		t.Errorf("Listen after Close = %v, want nil (a no-op)", err)
	}
	if _, err := g.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Listen after Close = %v, want net.ErrClosed", err)
	}
}
