package openapitest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/openapitest"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

const secret = "client-secret-0123456789"

// verifier answers every call with one pending verification, or with err.
type verifier struct{ err error }

func (f verifier) verification() *otp.Verification {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return &otp.Verification{
		ID: "ver_0123456789abcdef0123456789abcdef", To: "64211234567", Status: otp.StatusPending,
		CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute), AttemptsLeft: 5, Sends: 1,
		ResendAt: at.Add(30 * time.Second), Sender: otp.SenderConnexus,
	}
}

func (f verifier) Start(context.Context, otp.StartRequest) (*otp.Verification, bool, error) {
	return f.verification(), true, f.err
}

func (f verifier) Get(context.Context, string) (*otp.Verification, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.verification(), nil
}

func (f verifier) Check(context.Context, otp.CheckRequest) (*otp.CheckResult, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &otp.CheckResult{ID: f.verification().ID, Status: otp.StatusPending, AttemptsLeft: 4}, nil
}

func (f verifier) Cancel(context.Context, string) (*otp.Verification, error) {
	return f.Get(context.Background(), "")
}

// server is the real API on v, behind edit, which may change its answers.
func server(t *testing.T, v api.Verifier, edit func(http.Handler) http.Handler) string {
	t.Helper()
	rdb, _ := redistest.Mini(t)
	h, err := api.New(api.Config{
		Verifier:    v,
		Idempotency: redisstore.NewIdempotency(rdb),
		Ready:       func(context.Context) error { return nil },
		ClientKeys:  map[string]string{"shop": secret},
	})
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler = h
	if edit != nil {
		handler = edit(h)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	return ts.URL
}

// recorder is a testing.TB that keeps what Errorf reports instead of
// failing the test.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errors...)
}

// send makes one request through the validating transport and returns
// the body as the caller reads it.
func send(t *testing.T, rec *recorder, ctx context.Context, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Transport: openapitest.Transport(rec, http.DefaultTransport)}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestTransportPassesDocumentedAnswers(t *testing.T) {
	base := server(t, verifier{}, nil)
	failing := server(t, verifier{err: otp.ErrNotFound}, nil)
	ctx := context.Background()
	for _, tt := range []struct {
		name, method, url, body string
		status                  int
	}{
		{"start", "POST", base + "/v1/verifications", `{"to":"021 123 4567"}`, 201},
		{"read", "GET", base + "/v1/verifications/ver_0123456789abcdef0123456789abcdef", "", 200},
		{"wrong guess", "POST", base + "/v1/verifications/ver_0123456789abcdef0123456789abcdef/check", `{"code":"123456"}`, 200},
		{"malformed body", "POST", base + "/v1/checks", `{"code":`, 400},
		{"unknown field", "POST", base + "/v1/verifications", `{"to":"021 123 4567","x":1}`, 400},
		{"unknown verification", "GET", failing + "/v1/verifications/ver_0123456789abcdef0123456789abcdef", "", 404},
		{"probe", "GET", base + "/healthz", "", 200},
		{"the document", "GET", base + "/openapi.yaml", "", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			status, body := send(t, rec, ctx, tt.method, tt.url, tt.body)
			if status != tt.status {
				t.Fatalf("status %d %s, want %d", status, body, tt.status)
			}
			if body == "" {
				t.Error("the caller read an empty body")
			}
			if got := rec.reported(); len(got) != 0 {
				t.Errorf("a documented answer was reported: %q", got)
			}
		})
	}
}

func TestTransportReportsDrift(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		edit   func(status int, header http.Header, body []byte) (int, []byte)
		method string
		path   string
		body   string
	}{
		{
			name: "a field the schema does not have",
			edit: func(s int, _ http.Header, b []byte) (int, []byte) {
				return s, bytes.Replace(b, []byte(`{"id"`), []byte(`{"code":"428613","id"`), 1)
			},
			method: "GET", path: "/v1/verifications/ver_0123456789abcdef0123456789abcdef",
		},
		{
			name: "a required field missing",
			edit: func(s int, _ http.Header, b []byte) (int, []byte) {
				return s, bytes.Replace(b, []byte(`,"attempts_left":4`), nil, 1)
			},
			method: "POST", path: "/v1/verifications/ver_0123456789abcdef0123456789abcdef/check", body: `{"code":"123456"}`,
		},
		{
			name: "a wrong guess that says no attempts are left while pending",
			edit: func(s int, _ http.Header, b []byte) (int, []byte) {
				return s, bytes.Replace(b, []byte(`"attempts_left":4`), []byte(`"attempts_left":0`), 1)
			},
			method: "POST", path: "/v1/verifications/ver_0123456789abcdef0123456789abcdef/check", body: `{"code":"123456"}`,
		},
		{
			name: "a status outside its enum",
			edit: func(s int, _ http.Header, b []byte) (int, []byte) {
				return s, bytes.Replace(b, []byte(`"status":"pending"`), []byte(`"status":"waiting"`), 1)
			},
			method: "GET", path: "/v1/verifications/ver_0123456789abcdef0123456789abcdef",
		},
		{
			name: "an error code the response does not list",
			edit: func(s int, _ http.Header, b []byte) (int, []byte) {
				return s, bytes.Replace(b, []byte(`"invalid_request"`), []byte(`"unavailable"`), 1)
			},
			method: "POST", path: "/v1/checks", body: `{"code":`,
		},
		{
			name:   "an undocumented status",
			edit:   func(_ int, _ http.Header, b []byte) (int, []byte) { return http.StatusTeapot, b },
			method: "GET", path: "/healthz",
		},
		{
			name: "no X-Request-Id",
			edit: func(s int, h http.Header, b []byte) (int, []byte) {
				h.Del("X-Request-Id")
				return s, b
			},
			method: "GET", path: "/healthz",
		},
		{
			name: "a date without Z",
			edit: func(s int, _ http.Header, b []byte) (int, []byte) {
				return s, bytes.Replace(b, []byte(`05Z"`), []byte(`05+00:00"`), 1)
			},
			method: "GET", path: "/v1/verifications/ver_0123456789abcdef0123456789abcdef",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := server(t, verifier{}, rewrite(tt.edit))
			rec := &recorder{TB: t}
			status, _ := send(t, rec, ctx, tt.method, base+tt.path, tt.body)
			got := rec.reported()
			if len(got) == 0 {
				t.Fatalf("the drifted answer (%d) was not reported", status)
			}
			want := fmt.Sprintf("%s %s answered %d", tt.method, tt.path, status)
			if !strings.Contains(got[0], want) {
				t.Errorf("report %q does not name %q", got[0], want)
			}
		})
	}
}

func TestTransportUndocumentedRoutes(t *testing.T) {
	base := server(t, verifier{}, nil)
	marked := openapitest.Undocumented(context.Background())
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		method string
		path   string
		report bool
	}{
		{"an unknown path", context.Background(), "GET", "/v1/nothing", true},
		{"an unknown method", context.Background(), "DELETE", "/v1/checks", true},
		{"a trailing slash", context.Background(), "POST", "/v1/checks/", true},
		{"a trailing slash, marked", marked, "POST", "/v1/checks/", false},
		{"an unknown path, marked", marked, "GET", "/v1/nothing", false},
		{"an unknown method, marked", marked, "DELETE", "/v1/checks", false},
		{"a documented route, marked", marked, "GET", "/healthz", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			send(t, rec, tt.ctx, tt.method, base+tt.path, "")
			if got := rec.reported(); (len(got) > 0) != tt.report {
				t.Errorf("reported %q, want a report: %v", got, tt.report)
			}
		})
	}
	t.Run("a marked request answered otherwise than the fallback", func(t *testing.T) {
		teapot := server(t, verifier{}, rewrite(func(_ int, _ http.Header, b []byte) (int, []byte) {
			return http.StatusTeapot, b
		}))
		rec := &recorder{TB: t}
		send(t, rec, marked, "GET", teapot+"/v1/nothing", "")
		if got := rec.reported(); len(got) == 0 {
			t.Error("a 418 to an undocumented route was not reported")
		}
	})
	t.Run("a documented path's other method answered 404", func(t *testing.T) {
		// A router that lost HandleMethodNotAllowed answers so.
		notFound := server(t, verifier{}, rewrite(func(_ int, h http.Header, b []byte) (int, []byte) {
			h.Del("Allow")
			return http.StatusNotFound, bytes.Replace(b, []byte(`"method_not_allowed"`), []byte(`"not_found"`), 1)
		}))
		rec := &recorder{TB: t}
		send(t, rec, marked, "DELETE", notFound+"/v1/checks", "")
		if got := rec.reported(); len(got) == 0 || !strings.Contains(got[0], "must answer 405") {
			t.Errorf("reported %q, want the 404 in place of a 405", got)
		}
	})
}

// rewrite changes the answers of a handler with edit.
func rewrite(edit func(status int, header http.Header, body []byte) (int, []byte)) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			header := rec.Header().Clone()
			status, body := edit(rec.Code, header, rec.Body.Bytes())
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			_, _ = w.Write(body)
		})
	}
}
