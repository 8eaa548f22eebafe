package fakenet_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/otpgate/otpgate/internal/fakenet"
)

// aborts reports whether fn panicked with http.ErrAbortHandler.
func aborts(fn func()) (aborted bool) {
	defer func() {
		if p := recover(); p != nil {
			err, ok := p.(error)
			aborted = ok && errors.Is(err, http.ErrAbortHandler)
			if !aborted {
				panic(p)
			}
		}
	}()
	fn()
	return false
}

func TestHangAbortsWhenEitherSideGivesUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		clientGivesUp bool
		serverStops   bool
	}{
		{"client gives up", true, false},
		{"server stops", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			stop := make(chan struct{})
			if tc.clientGivesUp {
				cancel()
			}
			if tc.serverStops {
				close(stop)
			}
			r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/send", nil)
			if !aborts(func() { fakenet.Hang(r, stop) }) {
				t.Error("Hang returned, want an http.ErrAbortHandler panic")
			}
		})
	}
}

func TestDropClosesWithoutAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fakenet.Drop(w)
	}))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Post(srv.URL, "application/json", nil)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %s, want no answer", resp.Status)
	}
	if !errors.Is(err, io.EOF) {
		t.Errorf("error = %v, want EOF", err)
	}
}

func TestDropAbortsWithoutHijacker(t *testing.T) {
	t.Parallel()
	if !aborts(func() { fakenet.Drop(httptest.NewRecorder()) }) {
		t.Error("Drop returned on a ResponseWriter it cannot hijack, want an http.ErrAbortHandler panic")
	}
}
