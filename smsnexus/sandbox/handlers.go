package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otpgate/otpgate/smsnexus"
)

type handler func(http.ResponseWriter, *Request)

// window is one fixed rate-limit window of a minute of the clock.
type window struct {
	start time.Time
	used  int
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, basePath) {
		s.rate(w, false)
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	req := s.record(r)
	send := r.Method == http.MethodPost && req.Path == "sms/send"
	reset, exceeded := s.rate(w, send)
	if s.injectFault(w, r, req.Path, reset) {
		return
	}
	methods := s.routes(req.Path)
	if methods == nil {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	h, ok := methods[r.Method]
	if !ok {
		w.Header().Set("Allow", strings.Join(slices.Sorted(maps.Keys(methods)), ", "))
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed", nil)
		return
	}
	tok, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !bearer || subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
		writeError(w, http.StatusUnauthorized, "Unauthenticated.", nil)
		return
	}
	if exceeded {
		tooMany(w, reset, s.now())
		return
	}
	h(w, req)
}

// routes returns the handlers of path by method, nil for an unknown path.
func (s *Server) routes(path string) map[string]handler {
	switch path {
	case "sms/send":
		return map[string]handler{http.MethodPost: s.handleSend}
	case "balance":
		return map[string]handler{http.MethodGet: s.handleBalance}
	case "messages":
		return map[string]handler{http.MethodGet: s.handleMessages}
	case "webhooks":
		return map[string]handler{http.MethodGet: s.handleWebhooks, http.MethodPost: s.handleCreateWebhook}
	}
	if id, ok := strings.CutPrefix(path, "webhooks/"); ok && !strings.Contains(id, "/") {
		return map[string]handler{http.MethodDelete: func(w http.ResponseWriter, _ *Request) { s.handleDeleteWebhook(w, id) }}
	}
	return nil
}

// record reads and keeps the request.
func (s *Server) record(r *http.Request) *Request {
	req := &Request{Method: r.Method, Path: cleanPath(strings.TrimPrefix(r.URL.Path, basePath)),
		Header: r.Header.Clone(), Query: r.URL.Query(), Time: s.now()}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		_ = json.Unmarshal(body, &req.JSON)
	}
	s.mu.Lock()
	s.requests = keep(s.requests, *req, s.maxRecords)
	s.mu.Unlock()
	return req
}

// rate counts the request in its window and writes the X-RateLimit-*
// headers. exceeded says the window was already spent; such a request is
// not counted, as SMS Nexus's throttle does not.
func (s *Server) rate(w http.ResponseWriter, send bool) (reset time.Time, exceeded bool) {
	limit, i := ReadLimit, 0
	if send {
		limit, i = SendLimit, 1
	}
	now := s.now()
	s.mu.Lock()
	win := &s.windows[i]
	if start := now.Truncate(time.Minute); !start.Equal(win.start) {
		*win = window{start: start}
	}
	exceeded = win.used >= limit
	if !exceeded {
		win.used++
	}
	remaining, reset := limit-win.used, win.start.Add(time.Minute)
	s.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	return reset, exceeded && s.enforceLimits
}

func (s *Server) handleSend(w http.ResponseWriter, req *Request) {
	errs := map[string][]string{}
	from, to := field(req, "from", errs), field(req, "to", errs)
	text, media := field(req, "message", errs), optional(req, "media_url", errs)
	switch {
	case to == "":
	case !e164(to):
		errs["to"] = []string{"The to field must be a valid E.164 phone number."}
	case s.isInvalid(to):
		errs["to"] = []string{"The to number cannot receive messages."}
	}
	switch {
	case from == "":
	case !slices.Contains(s.numbers, from):
		errs["from"] = []string{"The selected from is not a number of your account."}
	}
	if utf8.RuneCountInString(text) > smsnexus.MaxMessageLen {
		errs["message"] = []string{"The message may not be greater than 1600 characters."}
	}
	if u, err := url.Parse(media); media != "" && (err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https")) {
		errs["media_url"] = []string{"The media url must be a valid URL."}
	}
	if len(errs) > 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed", errs)
		return
	}
	m, ok := s.send(Message{From: from, To: to, Body: text, MediaURL: media, Status: smsnexus.StatusQueued,
		Segments: segments(text)})
	if !ok {
		writeError(w, http.StatusForbidden, "Insufficient credits", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Message sent successfully",
		"data": map[string]any{"id": number(m.ID), "from": m.From, "to": m.To, "body": m.Body, "status": m.Status,
			"credits_used": m.Segments, "created_at": stamp(m.Time)}})
}

// field reads a required string field, noting in errs what is wrong with it.
func field(req *Request, key string, errs map[string][]string) string {
	v, present := req.JSON[key]
	s, isString := v.(string)
	switch {
	case !present || v == nil || strings.TrimSpace(s) == "" && isString:
		errs[key] = []string{"The " + key + " field is required."}
	case !isString:
		errs[key] = []string{"The " + key + " field must be a string."}
	}
	return s
}

// optional reads an optional string field.
func optional(req *Request, key string, errs map[string][]string) string {
	if v, present := req.JSON[key]; present && v != nil {
		return field(req, key, errs)
	}
	return ""
}

func (s *Server) isInvalid(to string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invalid[to]
}

// send records one SMS, charging its segments. It returns false when the
// credits do not cover it.
func (s *Server) send(m Message) (Message, bool) {
	now := s.now()
	s.mu.Lock()
	if s.credits < int64(m.Segments) {
		s.mu.Unlock()
		return m, false
	}
	s.credits -= int64(m.Segments)
	if day := now.UTC().Format(time.DateOnly); day != s.usedDay {
		s.usedDay, s.usedToday = day, 0
	}
	s.usedToday += int64(m.Segments)
	s.seq++
	m.ID, m.Time = strconv.FormatInt(12344+s.seq, 10), now
	s.messages = keep(s.messages, m, s.maxRecords)
	s.mu.Unlock()
	if s.onMessage != nil {
		s.onMessage(m)
	}
	return m, true
}

func (s *Server) handleBalance(w http.ResponseWriter, _ *Request) {
	today := s.now().UTC().Format(time.DateOnly)
	s.mu.Lock()
	credits, used := s.credits, s.usedToday
	if s.usedDay != today {
		used = 0
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": map[string]any{
		"credits": credits, "currency": "credits", "plan": "Sandbox", "credits_used_today": used}})
}

func (s *Server) handleMessages(w http.ResponseWriter, req *Request) {
	errs := map[string][]string{}
	page, perPage := intParam(req, "page", 1, 1<<30, errs), intParam(req, "per_page", 25, 100, errs)
	status, direction := req.Query.Get("status"), req.Query.Get("direction")
	if status != "" && !slices.Contains([]string{smsnexus.StatusQueued, smsnexus.StatusSent, smsnexus.StatusDelivered, smsnexus.StatusFailed}, status) {
		errs["status"] = []string{"The selected status is invalid."}
	}
	if direction != "" && direction != smsnexus.DirectionOutbound && direction != smsnexus.DirectionInbound {
		errs["direction"] = []string{"The selected direction is invalid."}
	}
	if len(errs) > 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed", errs)
		return
	}
	var match []map[string]any
	s.mu.Lock()
	for _, m := range slices.Backward(s.messages) {
		// The fake sends only; it has no inbound messages.
		if (status == "" || m.Status == status) && (direction == "" || direction == smsnexus.DirectionOutbound) {
			match = append(match, messageJSON(m))
		}
	}
	s.mu.Unlock()
	total := len(match)
	lo, hi := min((page-1)*perPage, total), min(page*perPage, total)
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": append([]map[string]any{}, match[lo:hi]...),
		"meta": map[string]any{"current_page": page, "last_page": max((total+perPage-1)/perPage, 1),
			"per_page": perPage, "total": total}})
}

// intParam reads a query integer in [1, max], def when absent.
func intParam(req *Request, key string, def, max int, errs map[string][]string) int {
	v := req.Query.Get(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		errs[key] = []string{"The " + key + " must be an integer between 1 and " + strconv.Itoa(max) + "."}
		return def
	}
	return n
}

func messageJSON(m Message) map[string]any {
	return map[string]any{"id": number(m.ID), "from": m.From, "to": m.To, "body": m.Body,
		"direction": smsnexus.DirectionOutbound, "status": m.Status, "credits_used": m.Segments, "created_at": stamp(m.Time)}
}

// number writes a decimal id as the JSON number SMS Nexus uses.
func number(id string) json.Number { return json.Number(id) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// segments counts SMS segments: 160/153 GSM characters, 70/67 otherwise.
func segments(text string) int {
	single, multi := 160, 153
	for _, r := range text {
		if r > 0x7e {
			single, multi = 70, 67
			break
		}
	}
	n := utf8.RuneCountInString(text)
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in the documented error shape.
func writeError(w http.ResponseWriter, status int, message string, errs map[string][]string) {
	body := map[string]any{"success": false, "message": message}
	if errs != nil {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}
