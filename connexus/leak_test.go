package connexus_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
)

// Numbers and codes that the upstream echoes must not reach error texts:
// otp logs these errors, and its logs must hold no number and no code.
const (
	leakNumber = "0211234567"
	leakCode   = "847291"
)

// rawClient returns a client of h, in API-key mode unless opts say
// otherwise, that never waits between retries.
func rawClient(t *testing.T, h http.Handler, opts ...connexus.Option) *connexus.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts = append([]connexus.Option{
		connexus.WithBaseURL(srv.URL),
		connexus.WithAPIKey("cid", "csk_secret-value"),
		connexus.WithTimeout(time.Second),
		connexus.WithSleeper(func(context.Context, time.Duration) error { return nil }),
	}, opts...)
	c, err := connexus.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// upstream answers auth/token with a token and everything else with fn.
func upstream(fn http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"wst_token","expires_in":3600}`))
	})
	mux.HandleFunc("/", fn)
	return mux
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// lookupByGET refuses POST lookups, so the client falls back to GET with
// the number in the query, and answers GETs with fn.
func lookupByGET(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		fn(w, r)
	}
}

func assertNoLeak(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	for _, secret := range []string{leakNumber, "1234567", leakCode, "csk_secret-value", "wst_token"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestErrorsHideNumbersAndCodes(t *testing.T) {
	lookup := func(c *connexus.Client) error {
		_, err := c.LookupNumber(context.Background(), leakNumber)
		return err
	}
	sendOTP := func(c *connexus.Client) error {
		_, err := c.SendOTP(context.Background(), &connexus.OTPRequest{To: leakNumber, Company: "Acme", Code: leakCode})
		return err
	}
	tests := []struct {
		name string
		h    http.HandlerFunc
		call func(*connexus.Client) error
		want string // what the error must still say
	}{
		{"upstream message echoes the number", answer(500, `{"error":"Server error","message":"lookup of `+leakNumber+` failed"}`), lookup, "HTTP 500"},
		{"upstream error echoes the number", answer(400, `{"error":"Invalid number `+leakNumber+`"}`), lookup, "HTTP 400"},
		{"error_description echoes the number", answer(400, `{"error":"bad","error_description":"number=`+leakNumber+`"}`), lookup, "HTTP 400"},
		{"success:false echoes the code", answer(200, `{"success":false,"error":"duplicate","message":"code `+leakCode+` was used"}`), sendOTP, "duplicate"},
		{"OTP status echoes the code", answer(200, `{"status":"rejected `+leakCode+`"}`), sendOTP, "rejected"},
		{"code of the wrong JSON type", answer(200, `{"status":"success","message_id":"m1","code":["`+leakCode+`"]}`), sendOTP, "decode answer"},
		{"number of the wrong JSON type", answer(200, `{"valid":true,"number":{"e164":"`+leakNumber+`"}}`), lookup, "decode answer"},
		{"Location that does not parse, after a GET lookup", lookupByGET(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://[::1%zz/?number="+r.URL.Query().Get("number"))
			w.WriteHeader(http.StatusFound)
		}), lookup, "GET number/lookup"},
		{"connection closed, after a GET lookup", lookupByGET(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}), lookup, "GET number/lookup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(rawClient(t, upstream(tt.h)))
			assertNoLeak(t, err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestNoRedirects: a redirect is answered, not followed. Following a 307
// or 308 would send the body again, with the client secret or the
// account password in it, to whatever host the Location names.
func TestNoRedirects(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(other.Close)
	redirect := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}
	tests := []struct {
		name string
		h    http.Handler
		opts []connexus.Option
	}{
		{"token exchange", http.HandlerFunc(redirect), nil},
		{"password mode", http.HandlerFunc(redirect), []connexus.Option{connexus.WithPassword("user", "pw_secret")}},
		{"bearer call", upstream(redirect), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elsewhere.Store(0)
			c := rawClient(t, tt.h, tt.opts...)
			_, err := c.Balance(context.Background())
			var apiErr *connexus.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTemporaryRedirect {
				t.Fatalf("err = %v, want the 307 as a *connexus.Error", err)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Fatalf("the redirect target received %d requests", n)
			}
		})
	}
}

// TestBaseURLErrorsHidePassword: a refused CONNEXUS_BASE_URL stops
// start-up with this error, and a URL may carry a password.
func TestBaseURLErrorsHidePassword(t *testing.T) {
	for _, raw := range []string{
		"ftp://user:pw_secret@example.test/api",
		"https://user:pw_secret@example.test:port/api",
		"https://user:pw_secret@example.test/api",
		"https://example.test/api?password=pw_secret",
	} {
		t.Run(raw, func(t *testing.T) {
			_, err := connexus.NewClient(connexus.WithAPIKey("cid", "csk"), connexus.WithBaseURL(raw))
			if err == nil || strings.Contains(err.Error(), "pw_secret") {
				t.Fatalf("err = %v, want an error without the password", err)
			}
		})
	}
}
