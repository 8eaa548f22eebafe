package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
)

const headerRequestID = "X-Request-Id"

// Keys of values that middleware and handlers leave in the gin context.
const (
	ctxKey   = "otpgate.key"   // apiKey of the caller
	ctxClock = "otpgate.clock" // func() time.Time
	ctxPhone = "otpgate.phone" // masked number, for the request log
	ctxID    = "otpgate.verification"
	// ctxIdentity and ctxFactor name what a request of CONTRACT §11 is
	// about; neither is a secret.
	ctxIdentity = "otpgate.identity"
	ctxFactor   = "otpgate.factor"
)

// saneRequestID is what an incoming X-Request-Id must look like to be
// reused; anything else could forge or garble log lines.
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID gives every response an X-Request-Id, the caller's when sane.
func (s *server) requestID(c *gin.Context) {
	id := c.GetHeader(headerRequestID)
	if !saneRequestID.MatchString(id) {
		id = rand.Text()
	}
	c.Header(headerRequestID, id)
	c.Set(ctxClock, s.now)
	c.Next()
}

// clock is the server's clock as requestID left it.
func clock(c *gin.Context) func() time.Time {
	if now, ok := c.Value(ctxClock).(func() time.Time); ok {
		return now
	}
	return time.Now
}

// probeRoutes are logged at debug level unless they fail, so probes every
// few seconds do not drown the log.
var probeRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// logRequest writes one structured line per request and counts it. It
// never logs bodies, secrets, codes or full numbers.
func (s *server) logRequest(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	status := c.Writer.Status()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	method := metricMethod(c.Request.Method)
	s.metrics.observeRequest(route, method, status, elapsed)

	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", elapsed),
		slog.String("request_id", c.Writer.Header().Get(headerRequestID)),
		slog.String("client_ip", c.ClientIP()),
	}
	if k, ok := c.Value(ctxKey).(apiKey); ok {
		attrs = append(attrs, slog.String("key", k.name))
	}
	if id := c.GetString(ctxID); id != "" {
		attrs = append(attrs, slog.String("verification_id", id))
	}
	if p := c.GetString(ctxPhone); p != "" {
		attrs = append(attrs, slog.String("to", p))
	}
	if id := c.GetString(ctxIdentity); id != "" {
		attrs = append(attrs, slog.String("identity", id))
	}
	if id := c.GetString(ctxFactor); id != "" {
		attrs = append(attrs, slog.String("factor_id", id))
	}
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
		if err := c.Errors.Last(); err != nil {
			attrs = append(attrs, slog.String("err", scrubDigits(err.Error())))
		}
	case probeRoutes[route]:
		level = slog.LevelDebug
	}
	s.log.LogAttrs(c.Request.Context(), level, "request", attrs...)
}

// longDigits finds runs long enough to be phone numbers.
var longDigits = regexp.MustCompile(`[0-9]{7,}`)

// scrubDigits masks anything that looks like a phone number in an error
// text before it is logged; the domain masks its own, this guards the rest.
func scrubDigits(s string) string {
	return longDigits.ReplaceAllStringFunc(s, otp.MaskPhone)
}

// recoverPanic turns a panic into a 500 so one bad request cannot kill the
// process, and logs the stack.
func (s *server) recoverPanic(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r)
		}
		s.log.ErrorContext(c.Request.Context(), "panic serving request",
			"request_id", c.Writer.Header().Get(headerRequestID), "stack", string(debug.Stack()))
		writeError(c, fmt.Errorf("panic: %v", r))
	}()
	c.Next()
}

// authenticate requires a known Bearer key and remembers which one it was.
// Every configured key is compared, in constant time and without an early
// exit, so timing tells neither which key matched nor whether one did.
func (s *server) authenticate(c *gin.Context) {
	scheme, secret, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		writeError(c, errUnauthorized)
		return
	}
	k, ok := s.findKey(strings.TrimSpace(secret))
	if !ok {
		writeError(c, errUnauthorized)
		return
	}
	c.Set(ctxKey, k)
	c.Next()
}

func (s *server) findKey(secret string) (apiKey, bool) {
	h := sha256.Sum256([]byte(secret))
	match, found := 0, 0
	for i, k := range s.keys {
		eq := subtle.ConstantTimeCompare(h[:], k.hash[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
		found |= eq
	}
	if found == 0 {
		return apiKey{}, false
	}
	return s.keys[match], true
}

// requireAdmin refuses client keys: 403. Use it after authenticate.
func (s *server) requireAdmin(c *gin.Context) {
	if k, ok := c.Value(ctxKey).(apiKey); !ok || !k.admin {
		writeError(c, errForbidden)
		return
	}
	c.Next()
}

// limitKey counts the request against the caller's per-key quota and
// reports the quota in X-RateLimit-* on every answer.
func (s *server) limitKey(c *gin.Context) {
	if s.keyLimiter == nil {
		c.Next()
		return
	}
	k, _ := c.Value(ctxKey).(apiKey)
	q, err := s.keyLimiter.Take(c.Request.Context(), k.name)
	if err != nil {
		writeError(c, fmt.Errorf("per-key limit: %w: %w", otp.ErrUnavailable, err))
		return
	}
	setRateHeaders(c, q.Limit, q.Remaining, q.Reset)
	if q.Reached {
		s.metrics.observeKeyLimited()
		writeError(c, &otp.LimitError{Kind: otp.ErrRateLimited, Limit: q.Limit, Remaining: q.Remaining, Reset: q.Reset})
		return
	}
	c.Next()
}

// limitBody refuses request bodies over n bytes with 413 request_too_large.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			writeError(c, errTooLarge)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}
