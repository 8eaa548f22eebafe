package sandbox

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/fakenet"
)

type faultKind int

const (
	faultStatus faultKind = iota
	faultRaw
	faultHang
	faultDrop
)

type fault struct {
	kind   faultKind
	status int
	body   string
	left   int
}

// FailNext makes the next n requests to path (e.g. "sms/send") answer
// status with the documented error JSON, {"success":false,"message":…},
// before any check. A 422 names no field, which the client reads as an
// invalid recipient. A 429 also carries Retry-After and X-RateLimit-Reset
// (the end of the current rate window) and X-RateLimit-Remaining: 0.
func (s *Server) FailNext(path string, status, n int) {
	s.addFault(path, &fault{kind: faultStatus, status: status, left: n})
}

// FailNextRaw makes the next n requests to path answer status with body as
// it is, e.g. a proxy's 502 HTML page; its Content-Type is JSON when body
// starts with '{', HTML otherwise.
func (s *Server) FailNextRaw(path string, status int, body string, n int) {
	s.addFault(path, &fault{kind: faultRaw, status: status, body: body, left: n})
}

// HangNext makes the next n requests to path read the whole request, then
// never answer until the client gives up (or the server closes). Such a
// request is recorded in Requests but sends no SMS.
func (s *Server) HangNext(path string, n int) { s.addFault(path, &fault{kind: faultHang, left: n}) }

// DropNext makes the next n requests to path read the whole request, then
// close the connection without an answer. Such a request is recorded in
// Requests but sends no SMS.
func (s *Server) DropNext(path string, n int) { s.addFault(path, &fault{kind: faultDrop, left: n}) }

func (s *Server) addFault(path string, f *fault) {
	if f.left <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := cleanPath(path)
	s.faults[p] = append(s.faults[p], f)
}

// injectFault applies the path's next fault; true means it answered.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, path string, reset time.Time) bool {
	s.mu.Lock()
	q := s.faults[path]
	if len(q) == 0 {
		s.mu.Unlock()
		return false
	}
	f := *q[0]
	if q[0].left--; q[0].left <= 0 {
		s.faults[path] = q[1:]
	}
	s.mu.Unlock()
	switch f.kind {
	case faultHang:
		fakenet.Hang(r, s.ctx.Done())
	case faultDrop:
		fakenet.Drop(w)
	case faultRaw:
		ct := "text/html; charset=utf-8"
		if strings.HasPrefix(strings.TrimSpace(f.body), "{") {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(f.body))
	default:
		if f.status == http.StatusTooManyRequests {
			tooMany(w, reset, s.now())
			return true
		}
		writeError(w, f.status, http.StatusText(f.status), nil)
	}
	return true
}

// tooMany answers 429 as SMS Nexus does: wait until reset.
func tooMany(w http.ResponseWriter, reset, now time.Time) {
	wait := max(int64(reset.Sub(now).Seconds()+0.999), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(wait, 10))
	w.Header().Set("X-RateLimit-Remaining", "0")
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	writeError(w, http.StatusTooManyRequests, "Too Many Attempts.", nil)
}
