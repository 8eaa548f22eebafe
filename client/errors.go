package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/upstream"
)

// The error.code values otpgate answers with (CONTRACT §2).
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidPhoneNumber     = "invalid_phone_number"
	CodeCountryNotAllowed      = "country_not_allowed"
	CodeUnauthorized           = "unauthorized"
	CodeForbidden              = "forbidden"
	CodeVerificationNotFound   = "verification_not_found"
	CodeNotFound               = "not_found"
	CodeMethodNotAllowed       = "method_not_allowed"
	CodeVerificationNotPending = "verification_not_pending"
	CodeFactorLimit            = "factor_limit"
	CodeFactorAlreadyVerified  = "factor_already_verified"
	CodeIdempotencyKeyInUse    = "idempotency_key_in_use"
	CodeRequestTooLarge        = "request_too_large"
	CodeIdempotencyConflict    = "idempotency_conflict"
	CodeRateLimited            = "rate_limited"
	CodeResendCooldown         = "resend_cooldown"
	CodeMaxSendsReached        = "max_sends_reached"
	CodeSendBudgetExhausted    = "send_budget_exhausted"
	CodeFraudGuard             = "fraud_guard"
	CodeMaxAttemptsReached     = "max_attempts_reached"
	CodeInternalError          = "internal_error"
	CodeUpstreamError          = "upstream_error"
	CodeUnavailable            = "unavailable"
)

// Error is an answer of otpgate outside 2xx. Use errors.As to get it from
// an error a call returned.
type Error struct {
	// Status is the HTTP status, e.g. 429.
	Status int
	// Code is the answer's error.code (one of the Code constants), empty
	// when the body was not otpgate's JSON error (a proxy's error page).
	Code string
	// Message is the human-readable error.message, or the status text.
	Message string
	// RequestID is error.request_id, or the X-Request-Id header.
	RequestID string
	// RetryAfter is the wait the Retry-After header asked for, zero when
	// there was none.
	RetryAfter time.Duration
	// VerificationStatus is the verification's status a 409
	// verification_not_pending names, e.g. "approved".
	VerificationStatus string
	// Response is the HTTP answer, its body already read and closed.
	Response *http.Response
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("otpgate: ")
	if r := e.Response; r != nil && r.Request != nil {
		fmt.Fprintf(&b, "%s %s: ", r.Request.Method, r.Request.URL.Path)
	}
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// maxMessageLen bounds the text kept of an answer that is not otpgate's
// JSON, so that a proxy's error page does not end up in a log line.
const maxMessageLen = 200

// newError reads an answer outside 2xx.
func newError(resp *http.Response, body []byte) *Error {
	e := &Error{
		Status:     resp.StatusCode,
		RetryAfter: upstream.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Response:   resp,
	}
	var w struct {
		Error *struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
		Status string `json:"status"`
	}
	if json.Unmarshal(body, &w) == nil && w.Error != nil {
		e.Code, e.Message, e.RequestID = w.Error.Code, w.Error.Message, w.Error.RequestID
		e.VerificationStatus = w.Status
	}
	if e.Message == "" {
		e.Message = upstream.Text(http.StatusText(resp.StatusCode), maxMessageLen)
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get(headerRequestID)
	}
	return e
}

// errorIs reports whether err is an *Error that match accepts.
func errorIs(err error, match func(*Error) bool) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && match(e)
}

func hasCode(err error, code string) bool {
	return errorIs(err, func(e *Error) bool { return e.Code == code })
}

func hasStatus(err error, status int) bool {
	return errorIs(err, func(e *Error) bool { return e.Status == status })
}

// IsCooldown reports whether err is a 429 resend_cooldown: a code went to
// the number moments ago; Error.RetryAfter says when another may.
func IsCooldown(err error) bool { return hasCode(err, CodeResendCooldown) }

// IsNotPending reports whether err is a 409 verification_not_pending;
// Error.VerificationStatus says what the verification became.
func IsNotPending(err error) bool { return hasCode(err, CodeVerificationNotPending) }

// IsNotFound reports whether err is a 404: an unknown verification, or one
// past its retention (CodeVerificationNotFound), or a path otpgate does not
// serve (CodeNotFound), such as a base URL with a wrong prefix.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsRateLimited reports whether err is any 429 (a rate limit, the cooldown,
// max sends, the send budget, the fraud guard); Error.RetryAfter says how
// long to wait.
func IsRateLimited(err error) bool { return hasStatus(err, http.StatusTooManyRequests) }

// IsInvalidPhone reports whether err is a 400 invalid_phone_number.
func IsInvalidPhone(err error) bool { return hasCode(err, CodeInvalidPhoneNumber) }

// IsInvalidRequest reports whether err is a 400 invalid_request.
func IsInvalidRequest(err error) bool { return hasCode(err, CodeInvalidRequest) }

// IsUnauthorized reports whether err is a 401: the key is missing or unknown.
func IsUnauthorized(err error) bool { return hasStatus(err, http.StatusUnauthorized) }

// IsForbidden reports whether err is a 403: the key may not use the route
// (a client key on an admin route).
func IsForbidden(err error) bool { return hasStatus(err, http.StatusForbidden) }

// IsUpstream reports whether err is a 502 upstream_error: the SMS provider
// failed.
func IsUpstream(err error) bool { return hasStatus(err, http.StatusBadGateway) }

// IsUnavailable reports whether err is a 503: otpgate cannot reach its
// store; nothing was approved.
func IsUnavailable(err error) bool { return hasStatus(err, http.StatusServiceUnavailable) }
