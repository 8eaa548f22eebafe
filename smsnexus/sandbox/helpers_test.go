package sandbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/smsnexus/sandbox"
)

// start is 10 s into a rate window.
var start = time.Date(2026, 3, 8, 12, 0, 10, 0, time.UTC)

// newServer starts a fake on a clock of its own, closed when t ends.
func newServer(t *testing.T, opts ...sandbox.Option) (*sandbox.Server, *otptest.Clock) {
	t.Helper()
	clock := otptest.NewClock(start)
	s := sandbox.NewServer(append([]sandbox.Option{sandbox.WithClock(clock.Now)}, opts...)...)
	t.Cleanup(s.Close)
	return s, clock
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

// call sends a request with the default token and a JSON body when body
// is not nil; a string body is sent as it is.
func call(t *testing.T, s *sandbox.Server, method, path string, body any) reply {
	t.Helper()
	return callAs(t, s, sandbox.DefaultToken, method, path, body)
}

func callAs(t *testing.T, s *sandbox.Server, token, method, path string, body any) reply {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, s.URL+"/"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := reply{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 && resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %v", method, path, err)
		}
	}
	return out
}

// sms is a valid send body to to.
func sms(to, text string) map[string]any {
	return map[string]any{"from": sandbox.DefaultFrom, "to": to, "message": text}
}

// fieldsOf returns the sorted field names of a 422's errors object.
func fieldsOf(r reply) []string {
	errs, _ := r.body["errors"].(map[string]any)
	return slices.Sorted(maps.Keys(errs))
}
