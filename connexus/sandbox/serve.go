package sandbox

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/fakenet"
)

// cleanPath turns "/sms/otp" or "sms/otp/" into "sms/otp".
func cleanPath(p string) string { return strings.Trim(p, "/") }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, basePath) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	req, err := s.record(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if !s.delay(r, req.Path) || s.injectFault(w, r, req.Path) {
		return
	}
	switch req.Path {
	case "auth/token":
		s.handleToken(w, r, req)
	case "sms/out":
		s.route(w, r, req, map[string]handler{http.MethodPost: s.handleSMSOut})
	case "sms/otp":
		s.route(w, r, req, map[string]handler{http.MethodPost: s.handleOTP})
	case "number/lookup":
		method := http.MethodPost
		if s.style == StyleReference {
			method = http.MethodGet
		}
		s.route(w, r, req, map[string]handler{method: s.handleLookup})
	case "sms/balance":
		s.route(w, r, req, map[string]handler{http.MethodPost: s.handleBalance, http.MethodGet: s.handleBalance})
	case "mo/query":
		s.route(w, r, req, map[string]handler{http.MethodPost: s.handleQuery, http.MethodGet: s.handleQuery})
	case "sms/status":
		s.route(w, r, req, map[string]handler{http.MethodGet: s.handleStatus, http.MethodPost: s.registerURL(&s.statusURL)})
	case "sms/in":
		s.route(w, r, req, map[string]handler{http.MethodPost: s.registerURL(&s.inboundURL)})
	case "configure":
		s.route(w, r, req, map[string]handler{http.MethodGet: s.handleConfigure, http.MethodPost: s.handleConfigure})
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	}
}

type handler func(http.ResponseWriter, *http.Request, *Request)

// route checks the method, then the credentials, then calls the handler.
func (s *Server) route(w http.ResponseWriter, r *http.Request, req *Request, methods map[string]handler) {
	h, ok := methods[r.Method]
	if !ok {
		w.Header().Set("Allow", strings.Join(slices.Sorted(maps.Keys(methods)), ", "))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
		return
	}
	if s.authorize(w, r, req) {
		h(w, r, req)
	}
}

func (s *Server) record(r *http.Request) (*Request, error) {
	req := &Request{Method: r.Method, Path: cleanPath(strings.TrimPrefix(r.URL.Path, basePath)),
		Header: r.Header.Clone(), Query: r.URL.Query(), Form: url.Values{}, Time: s.now()}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var parseErr error
	switch ct {
	case "application/json":
		parseErr = json.Unmarshal(body, &req.JSON)
	case "application/x-www-form-urlencoded":
		req.Form, parseErr = url.ParseQuery(string(body))
	}
	s.mu.Lock()
	s.requests = keep(s.requests, *req, s.maxRecords)
	s.mu.Unlock()
	if parseErr != nil {
		return nil, fmt.Errorf("unreadable %s body", ct)
	}
	return req, nil
}

// delay applies the path's latency; false means the request went away.
func (s *Server) delay(r *http.Request, path string) bool {
	s.mu.Lock()
	d := s.latency[path]
	s.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.ctx.Done():
	}
	return false
}

// injectFault applies the path's next fault; true means it answered.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, path string) bool {
	s.mu.Lock()
	var f fault
	if q := s.faults[path]; len(q) > 0 {
		f = *q[0]
		if q[0].left--; q[0].left <= 0 {
			s.faults[path] = q[1:]
		}
	} else {
		f.left = -1
	}
	s.mu.Unlock()
	if f.left < 0 {
		return false
	}
	switch f.kind {
	case faultHang:
		fakenet.Hang(r, s.ctx.Done())
	case faultDrop:
		fakenet.Drop(w)
	default:
		if f.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, f.status, http.StatusText(f.status), "injected fault")
	}
	return true
}

// param reads a request field from the form, then the JSON body, then the query.
func (req *Request) param(key string) string {
	if v := req.Form.Get(key); v != "" {
		return v
	}
	if v, ok := req.JSON[key].(string); ok {
		return v
	}
	return req.Query.Get(key)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, req *Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		s.mu.Lock()
		exp, known := s.tokens[tok]
		s.mu.Unlock()
		if known && s.now().Before(exp) {
			return true
		}
		writeError(w, http.StatusUnauthorized, "invalid_token", "Invalid or expired access token")
		return false
	}
	user, pass, basic := r.BasicAuth()
	if !basic {
		user, pass = req.param("userId"), req.param("password")
	}
	if user == "" && pass == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "Missing credentials")
		return false
	}
	if !equal(user, s.userID) || !equal(pass, s.password) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "Invalid credentials")
		return false
	}
	return true
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, req *Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Only POST method is accepted")
		return
	}
	id, secret := req.param("client_id"), req.param("client_secret")
	if id == "" || secret == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request",
			"error_description": "Missing client_id or client_secret"})
		return
	}
	if !equal(id, s.clientID) || !equal(secret, s.clientSecret) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client",
			"error_description": "Invalid credentials, key disabled, or key expired"})
		return
	}
	tok := "wst_" + randomHex(16)
	now := s.now()
	s.mu.Lock()
	maps.DeleteFunc(s.tokens, func(_ string, exp time.Time) bool { return !now.Before(exp) })
	s.tokens[tok] = now.Add(s.tokenTTL)
	s.tokensIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer",
		"expires_in": int(s.tokenTTL / time.Second)})
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in the documents' error shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"success": false, "error": code, "message": message, "error_code": status})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// randomCode returns a 6-digit code from crypto/rand, as the upstream makes.
func randomCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%06d", n.Int64())
}
