package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
)

// Errors of the HTTP layer itself; the domain's come from otp.
var (
	errUnauthorized        = errors.New("unauthorized")
	errForbidden           = errors.New("forbidden")
	errRouteNotFound       = errors.New("route not found")
	errMethodNotAllowed    = errors.New("method not allowed")
	errTooLarge            = errors.New("request too large")
	errIdempotencyConflict = errors.New("idempotency key reused with another body")
	errIdempotencyInUse    = errors.New("idempotency key in use")
	// errIdempotencyUnsaved is a start that succeeded but whose answer
	// could not be saved for replays; it matches otp.ErrUnavailable too.
	errIdempotencyUnsaved = errors.New("idempotent response not saved")
)

// errorKind is one row of the error table.
type errorKind struct {
	err     error
	status  int
	code    string
	message string
}

// errorTable maps every error the API answers with to its status and
// public code. The first row an error matches (errors.Is) wins; anything
// else is a 500 without details.
var errorTable = []errorKind{
	{otp.ErrInvalidRequest, http.StatusBadRequest, "invalid_request", "The request is not valid."},
	{otp.ErrInvalidPhone, http.StatusBadRequest, "invalid_phone_number", "The phone number is not a valid mobile number."},
	{otp.ErrCountryNotAllowed, http.StatusBadRequest, "country_not_allowed", "Codes cannot be sent to this country."},
	{errUnauthorized, http.StatusUnauthorized, "unauthorized", "A valid API key is required."},
	{errForbidden, http.StatusForbidden, "forbidden", "This API key may not use this endpoint."},
	// The factor rows come before the verification ones, so a factor error
	// can never be read as a verification's.
	{factor.ErrNotFound, http.StatusNotFound, "not_found", "The identity or factor does not exist."},
	// /v1/ challenges try only verified factors, so only a dialect that
	// names a factor meets this; to /v1/ an unverified factor is not there.
	{factor.ErrUnverified, http.StatusNotFound, "not_found", "The factor is not verified yet."},
	{otp.ErrNotFound, http.StatusNotFound, "verification_not_found", "The verification does not exist."},
	{errRouteNotFound, http.StatusNotFound, "not_found", "No such endpoint."},
	{errNoSMS, http.StatusNotFound, "not_found", "No SMS has been sent to this number."},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed", "The endpoint does not accept this method."},
	{otp.ErrNotPending, http.StatusConflict, "verification_not_pending", "The verification is no longer pending."},
	{factor.ErrLimit, http.StatusConflict, "factor_limit", "The identity already holds the most factors it may; delete one first."},
	{factor.ErrAlreadyVerified, http.StatusConflict, "factor_already_verified", "The factor is already verified."},
	{errIdempotencyInUse, http.StatusConflict, "idempotency_key_in_use", "A request with this Idempotency-Key is still in progress; retry shortly."},
	{errTooLarge, http.StatusRequestEntityTooLarge, "request_too_large", "The request body is too large."},
	{errIdempotencyConflict, http.StatusUnprocessableEntity, "idempotency_conflict", "The Idempotency-Key was used with a different request body."},
	{factor.ErrLocked, http.StatusTooManyRequests, "max_attempts_reached", "Too many wrong codes for this identity; retry at the time Retry-After gives."},
	{otp.ErrRateLimited, http.StatusTooManyRequests, "rate_limited", "Too many requests; retry later."},
	{otp.ErrCooldown, http.StatusTooManyRequests, "resend_cooldown", "A code was sent to this number recently; retry later."},
	{otp.ErrMaxSends, http.StatusTooManyRequests, "max_sends_reached", "No more codes may be sent for this verification."},
	{otp.ErrSendBudget, http.StatusTooManyRequests, "send_budget_exhausted", "The daily budget of SMS codes is used up; retry at the time Retry-After gives."},
	{otp.ErrFraudGuard, http.StatusTooManyRequests, "fraud_guard", "The fraud guard refused to send this code, as too many codes sent recently were never entered; retry later."},
	{otp.ErrMaybeSent, http.StatusBadGateway, "upstream_error", "The SMS provider did not confirm the send; a code may arrive, but it will not work. Retry after the resend cooldown."},
	{otp.ErrUpstream, http.StatusBadGateway, "upstream_error", "The SMS provider failed; nothing was sent. Retry later."},
	{errIdempotencyUnsaved, http.StatusServiceUnavailable, "unavailable", "The code was sent and the verification stored, but saving this answer for Idempotency-Key replays was not confirmed, so a retry with this key is refused for a while; check the code by number (POST /v1/checks)."},
	{otp.ErrUnrecorded, http.StatusServiceUnavailable, "unavailable", "A code was sent, but the service could not confirm it stored the outcome: the code may not work, and a retry may meet the resend cooldown."},
	{otp.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "The service is temporarily unavailable."},
}

var internalError = errorKind{status: http.StatusInternalServerError, code: "internal_error", message: "internal error"}

func kindOf(err error) errorKind {
	for _, k := range errorTable {
		if errors.Is(err, k.err) {
			return k
		}
	}
	return internalError
}

// publicError is an error whose message is safe to show the caller, such
// as what was wrong with a request body. Domain errors are never shown:
// their text may hold ids or masked numbers.
type publicError struct {
	kind error
	msg  string
}

func (e *publicError) Error() string { return e.msg }
func (e *publicError) Unwrap() error { return e.kind }

func invalidRequest(format string, args ...any) error {
	return &publicError{kind: otp.ErrInvalidRequest, msg: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
	Status otp.Status `json:"status,omitempty"`
}

// writeError answers the request with err as the contract's JSON error and
// stops the handler chain. Errors without a row in the table become a 500
// "internal error"; 5xx errors are kept for the request log.
func writeError(c *gin.Context, err error) {
	k := kindOf(err)
	if le, ok := errors.AsType[*otp.LimitError](err); ok {
		setRateHeaders(c, le.Limit, le.Remaining, le.Reset)
		c.Header("Retry-After", strconv.FormatInt(retryAfter(le.Reset, clock(c)()), 10))
	}
	if errors.Is(err, errIdempotencyInUse) {
		c.Header("Retry-After", "1")
	}
	status := k.status
	if d := dialectOf(c); d != nil {
		status = d.WriteError(c, err, Problem{Status: k.status, Code: k.code, Message: messageOf(err, k)})
		c.Abort()
	} else {
		var body errorBody
		body.Error.Code = k.code
		body.Error.Message = messageOf(err, k)
		body.Error.RequestID = c.Writer.Header().Get(headerRequestID)
		if np, ok := errors.AsType[*otp.NotPendingError](err); ok {
			body.Status = np.Status
		}
		if k.status == http.StatusUnauthorized {
			c.Header("WWW-Authenticate", `Bearer realm="otpgate"`)
		}
		c.AbortWithStatusJSON(k.status, body)
	}
	if status >= 500 {
		_ = c.Error(err)
	}
}

// setRateHeaders writes the X-RateLimit-* headers of one quota.
func setRateHeaders(c *gin.Context, limit, remaining int64, reset time.Time) {
	c.Header("X-RateLimit-Limit", strconv.FormatInt(limit, 10))
	c.Header("X-RateLimit-Remaining", strconv.FormatInt(max(remaining, 0), 10))
	c.Header("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
}

// retryAfter is the whole seconds until reset, rounded up and at least 1,
// so a client that waits exactly that long is not refused again.
func retryAfter(reset, now time.Time) int64 {
	secs := int64(math.Ceil(reset.Sub(now).Seconds()))
	return max(secs, 1)
}
