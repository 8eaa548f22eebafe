package connexusotp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/otp"
)

// TestSendFailuresSayWhetherTheSMSMayBeOut checks the line the service
// draws between releasing a reservation and holding the cooldown.
func TestSendFailuresSayWhetherTheSMSMayBeOut(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + refused.Addr().String()
	refused.Close()

	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		want    bool
	}{
		{"HTTP 500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, `{"error":"boom"}`, 500) }, false},
		{"HTTP 400", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, `{"error":"bad"}`, 400) }, false},
		{"connection refused", nil, false},
		{"no answer in time", func(_ http.ResponseWriter, r *http.Request) {
			// The server notices the client hang up only once the body is read.
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}, true},
		{"connection dropped after the request", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, true},
		{"2xx without a code", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"success":true,"messageId":"m1"}`))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := refusedURL
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				t.Cleanup(srv.Close)
				base = srv.URL
			}
			c, err := connexus.NewClient(connexus.WithBaseURL(base), connexus.WithPassword("user", "pass"),
				connexus.WithTimeout(200*time.Millisecond), connexus.WithBackoff(time.Millisecond, time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			a, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.SendCode(context.Background(), otp.SendRequest{To: "6421234567", Code: "123456", Brand: "Acme"})
			if !errors.Is(err, otp.ErrUpstream) {
				t.Fatalf("SendCode = %v, want ErrUpstream", err)
			}
			if got := errors.Is(err, otp.ErrMaybeSent); got != tt.want {
				t.Errorf("SendCode = %v; matches ErrMaybeSent = %v, want %v", err, got, tt.want)
			}
		})
	}
}
