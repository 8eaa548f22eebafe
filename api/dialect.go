package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
)

// Dialect is another HTTP dialect of the verification API on the same
// listener, such as api/twilio's /v2/. It brings its routes and its error
// shape, and borrows the host's keys, limits, idempotency and logs, so
// that no rule has a second copy.
type Dialect interface {
	// Prefix is the path prefix the dialect owns, such as "/v2/". Every
	// error under it, unknown routes and panics included, is written by
	// WriteError.
	Prefix() string
	// Register adds the dialect's routes to e.
	Register(e *gin.Engine, h *Host)
	// WriteError answers with err, which the host classified as p, in the
	// dialect's shape, and returns the HTTP status it wrote.
	WriteError(c *gin.Context, err error, p Problem) int
}

// Problem is how the host classifies an error: the status and public code
// /v1/ would answer with, and a message safe to show the caller.
type Problem struct {
	Status  int
	Code    string
	Message string
}

// Host is what a Dialect borrows from the API.
type Host struct {
	s *server
}

// BasicAuth requires HTTP Basic credentials naming an API key and its
// secret (Twilio's AccountSid:AuthToken). The secret is found as Bearer
// secrets are, in constant time over every key; the name must then match.
func (h *Host) BasicAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		name, secret, ok := c.Request.BasicAuth()
		if !ok || secret == "" {
			writeError(c, errUnauthorized)
			return
		}
		k, found := h.s.findKey(secret)
		want, got := sha256.Sum256([]byte(k.name)), sha256.Sum256([]byte(name))
		if !found || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
			writeError(c, errUnauthorized)
			return
		}
		c.Set(ctxKey, k)
		c.Next()
	}
}

// LimitKey counts each request against its key's quota, as on /v1/.
func (h *Host) LimitKey() gin.HandlerFunc { return h.s.limitKey }

// LimitBody refuses bodies over n bytes with request_too_large.
func (h *Host) LimitBody(n int64) gin.HandlerFunc { return limitBody(n) }

// KeyName is the name of the API key that made the request.
func (h *Host) KeyName(c *gin.Context) string {
	k, _ := c.Value(ctxKey).(apiKey)
	return k.name
}

// ReadForm parses a form body as url.Values; a body over the route's limit
// is request_too_large. The query is not read: a code in a URL would end
// up in every proxy's access log.
func (h *Host) ReadForm(c *gin.Context) (url.Values, error) {
	if err := c.Request.ParseForm(); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, errTooLarge
		}
		return nil, invalidRequest("request body is not a valid form")
	}
	return c.Request.PostForm, nil
}

// Digest is an HMAC of value under the request's API key, for binding an
// Idempotency-Key to a value that must not be kept in a form that can be
// guessed back, such as a code a caller chose: Redis never holds the key.
func (h *Host) Digest(c *gin.Context, value string) string {
	k, _ := c.Value(ctxKey).(apiKey)
	m := hmac.New(sha256.New, k.hash[:])
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// ClientIPKey is what per-IP limits count an end user's address under, as
// for /v1/'s client_ip; ok is false when s is not an IP address.
func (h *Host) ClientIPKey(s string) (key string, ok bool) {
	key, err := parseClientIP(s)
	return key, err == nil
}

// Idempotent answers with fn's JSON exactly once per Idempotency-Key and
// body fingerprint, replaying the first answer as /v1/ starts do; without
// the header it just runs fn.
func (h *Host) Idempotent(c *gin.Context, fingerprint string, fn func() (status int, body any, err error)) error {
	run := func() (response, error) {
		status, body, err := fn()
		if err != nil {
			return response{}, err
		}
		return newResponse(status, body)
	}
	var (
		resp response
		err  error
	)
	if key := c.GetHeader(headerIdempotencyKey); key != "" {
		resp, err = h.s.idempotent(c, key, fingerprint, run)
	} else {
		resp, err = run()
	}
	if err != nil {
		return err
	}
	resp.write(c)
	return nil
}

// LogVerification names the verification a request is about in its log line.
func (h *Host) LogVerification(c *gin.Context, id string) { c.Set(ctxID, id) }

// LogPhone puts a number, masked, in the request's log line.
func (h *Host) LogPhone(c *gin.Context, number string) { c.Set(ctxPhone, maskInput(number)) }

// WriteError answers with err through the one error path: the dialect's
// shape, the rate-limit headers, and 5xx errors kept for the log.
func (h *Host) WriteError(c *gin.Context, err error) { writeError(c, err) }

// Fingerprint identifies a request body independently of its layout.
func (h *Host) Fingerprint(v any) string { return fingerprint(v) }

const ctxDialect = "otpgate.dialect"

// pickDialect notes which dialect owns the request's path, for writeError.
func (s *server) pickDialect(c *gin.Context) {
	path := c.Request.URL.Path
	for _, d := range s.dialects {
		if strings.HasPrefix(path, d.Prefix()) || path == strings.TrimSuffix(d.Prefix(), "/") {
			c.Set(ctxDialect, d)
			break
		}
	}
	c.Next()
}

func dialectOf(c *gin.Context) Dialect {
	d, _ := c.Value(ctxDialect).(Dialect)
	return d
}

// messageOf is the message of err that may be shown to the caller.
func messageOf(err error, k errorKind) string {
	if pe, ok := errors.AsType[*publicError](err); ok && k.status < 500 {
		return pe.msg
	}
	if fe, ok := errors.AsType[*otp.FieldError](err); ok && k.status < 500 {
		return fe.Error()
	}
	return k.message
}
