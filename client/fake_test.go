package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Keys and the code the fake knows.
const (
	clientKey = "test-client-key"
	adminKey  = "test-admin-key"
	fakeCode  = "123456"
)

// fakeNow is the fake's clock: whole seconds, as the API writes times.
var fakeNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fake is a small otpgate speaking the contract's wire shapes (§2, §3),
// enough to drive the client: starts with Idempotency-Key replays and the
// resend cooldown, checks, reads, cancels and the inbound list. Faults
// make it answer or drop a route's next requests.
type fake struct {
	*httptest.Server
	mu       sync.Mutex
	requests []seen
	faults   map[string][]fault
	vers     map[string]*fakeVerification
	idem     map[string][]byte
	sent     int // codes sent, as SMS would count them
	nextID   int
}

// seen is one request the fake received.
type seen struct {
	method, path string
	query        string
	header       http.Header
	body         map[string]any
}

// fault replaces the handling of one request of a route ("POST
// /v1/verifications"): with an answer, or, when drop is set, by handling
// it and then closing the connection without answering.
type fault struct {
	status int
	header map[string]string
	body   string
	drop   bool
	// truncate cuts the connection after the status and the body, before
	// the length the headers promised.
	truncate bool
}

type fakeVerification struct {
	ID           string `json:"id"`
	To           string `json:"to"`
	Channel      string `json:"channel"`
	Status       string `json:"status"`
	CreatedAt    string `json:"created_at"`
	ExpiresAt    string `json:"expires_at"`
	AttemptsLeft int    `json:"attempts_left"`
	Sends        int    `json:"sends"`
	Sender       string `json:"sender"`
	ResendAt     string `json:"resend_available_at"`
	Lookup       any    `json:"lookup,omitempty"`
	Delivery     any    `json:"delivery,omitempty"`
}

func newFake(t testing.TB) *fake {
	f := &fake{faults: map[string][]fault{}, vers: map[string]*fakeVerification{}, idem: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/verifications", f.start)
	mux.HandleFunc("GET /v1/verifications/{id}", f.get)
	mux.HandleFunc("POST /v1/verifications/{id}/check", f.check)
	mux.HandleFunc("POST /v1/verifications/{id}/cancel", f.cancel)
	mux.HandleFunc("POST /v1/checks", f.check)
	mux.HandleFunc("GET /v1/inbound", f.inbound)
	f.Server = httptest.NewServer(f.serve(mux))
	if t != nil {
		t.Cleanup(f.Close)
	}
	return f
}

// fail queues faults for route's next requests.
func (f *fake) fail(route string, faults ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[route] = append(f.faults[route], faults...)
}

// seenOn returns the requests route received.
func (f *fake) seenOn(route string) []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []seen
	for _, s := range f.requests {
		if s.method+" "+s.path == route {
			out = append(out, s)
		}
	}
	return out
}

func (f *fake) codesSent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent
}

func (f *fake) serve(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		f.mu.Lock()
		f.requests = append(f.requests, seen{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
		rid := "req_" + strconv.Itoa(len(f.requests))
		route := r.Method + " " + r.URL.Path
		var ft *fault
		if q := f.faults[route]; len(q) > 0 {
			ft, f.faults[route] = &q[0], q[1:]
		}
		f.mu.Unlock()
		w.Header().Set("X-Request-Id", rid)
		switch {
		case ft != nil && ft.drop:
			mux.ServeHTTP(httptest.NewRecorder(), r.WithContext(context.WithValue(r.Context(), ridKey{}, rid)))
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		case ft != nil:
			for k, v := range ft.header {
				if v == "" {
					w.Header().Del(k)
				} else {
					w.Header().Set(k, v)
				}
			}
			if ft.truncate {
				w.Header().Set("Content-Length", strconv.Itoa(len(ft.body)+100))
			}
			w.WriteHeader(ft.status)
			io.WriteString(w, ft.body)
			if ft.truncate {
				rc := http.NewResponseController(w)
				_ = rc.Flush()
				if conn, _, err := rc.Hijack(); err == nil {
					conn.Close()
				}
			}
		case r.Header.Get("Authorization") != "Bearer "+clientKey && r.Header.Get("Authorization") != "Bearer "+adminKey:
			writeError(w, rid, http.StatusUnauthorized, "unauthorized", "")
		default:
			mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ridKey{}, rid)))
		}
	})
}

type ridKey struct{}

func requestID(r *http.Request) string { s, _ := r.Context().Value(ridKey{}).(string); return s }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes the contract's error, with the top-level status of a
// 409 when status is set.
func writeError(w http.ResponseWriter, rid string, code int, errCode, status string) {
	body := map[string]any{"error": map[string]any{"code": errCode, "message": "fake says " + errCode, "request_id": rid}}
	if status != "" {
		body["status"] = status
	}
	writeJSON(w, code, body)
}

func (f *fake) start(w http.ResponseWriter, r *http.Request) {
	var body struct{ To string }
	json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	key := r.Header.Get("Idempotency-Key")
	if b, ok := f.idem[key]; ok && key != "" {
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
		return
	}
	if body.To == "" {
		writeError(w, requestID(r), http.StatusBadRequest, "invalid_request", "")
		return
	}
	for _, v := range f.vers {
		if v.To == body.To && v.Status == "pending" {
			w.Header().Set("Retry-After", "30")
			writeError(w, requestID(r), http.StatusTooManyRequests, "resend_cooldown", "")
			return
		}
	}
	f.nextID++
	v := &fakeVerification{
		ID: fmt.Sprintf("ver_%032x", f.nextID), To: body.To, Channel: "sms", Status: "pending",
		CreatedAt: fakeNow.Format(time.RFC3339), ExpiresAt: fakeNow.Add(5 * time.Minute).Format(time.RFC3339),
		AttemptsLeft: 5, Sends: 1, Sender: "connexus", ResendAt: fakeNow.Add(30 * time.Second).Format(time.RFC3339),
		Lookup:   map[string]any{"carrier": "Spark", "ported": true, "network_code": "TCNZ"},
		Delivery: map[string]any{"status": "delivered", "updated_at": fakeNow.Add(2 * time.Second).Format(time.RFC3339)},
	}
	f.vers[v.ID] = v
	f.sent++
	b, _ := json.Marshal(v)
	if key != "" {
		f.idem[key] = b
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(b)
}

func (f *fake) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vers[r.PathValue("id")]
	if !ok {
		writeError(w, requestID(r), http.StatusNotFound, "verification_not_found", "")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (f *fake) cancel(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vers[r.PathValue("id")]
	switch {
	case !ok:
		writeError(w, requestID(r), http.StatusNotFound, "verification_not_found", "")
	case v.Status != "pending":
		writeError(w, requestID(r), http.StatusConflict, "verification_not_pending", v.Status)
	default:
		v.Status = "canceled"
		writeJSON(w, http.StatusOK, v)
	}
}

func (f *fake) check(w http.ResponseWriter, r *http.Request) {
	var body struct{ To, Code string }
	json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vers[r.PathValue("id")]
	if body.To != "" {
		for _, cand := range f.vers {
			if cand.To == body.To {
				v, ok = cand, true
			}
		}
	}
	switch {
	case !ok:
		writeError(w, requestID(r), http.StatusNotFound, "verification_not_found", "")
		return
	case v.Status != "pending":
		writeError(w, requestID(r), http.StatusConflict, "verification_not_pending", v.Status)
		return
	}
	v.AttemptsLeft--
	valid := body.Code == fakeCode
	switch {
	case valid:
		v.Status = "approved"
	case v.AttemptsLeft == 0:
		v.Status = "max_attempts_reached"
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": v.ID, "status": v.Status, "valid": valid, "attempts_left": v.AttemptsLeft})
}

func (f *fake) inbound(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+adminKey {
		writeError(w, requestID(r), http.StatusForbidden, "forbidden", "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": []map[string]any{
		{"id": "m2", "from": "6421234567", "to": "552", "body": "YES", "received_at": fakeNow.Format(time.RFC3339)},
		{"from": "6427654321", "to": "552", "body": "STOP", "received_at": fakeNow.Add(-time.Hour).Format(time.RFC3339)},
	}})
}
