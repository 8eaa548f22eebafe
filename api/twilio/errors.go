package twilio

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
)

// Twilio's error codes that otpgate answers with. Where Twilio has none
// for an answer only otpgate gives (an Idempotency-Key conflict, a body
// over the limit), the code is 20000 plus the HTTP status, as Twilio's own
// 20404 and 20429 are.
const (
	codeAuth             = 20003
	codeMethod           = 20004
	codeNotFound         = 20404
	codeConflict         = 20409
	codeTooLarge         = 20413
	codeUnprocessable    = 20422
	codeTooMany          = 20429
	codeInternal         = 20500
	codeInvalidParameter = 60200
	codeMaxChecks        = 60202
	codeMaxSends         = 60203
	codeLandline         = 60205
	codeChallengeLocked  = 60308
	codeFactorLocked     = 60310
	codeFactorNotVerify  = 60311
	codeFactorLimit      = 60315
	codeFactorUnverified = 60318
	codeFraudGuard       = 60410
	codeCountryBlocked   = 60605
)

// apiError is an answer in Twilio's shape. Err, when set, is the error it
// stands for, so that the host still finds its rate-limit headers and logs
// 5xx causes.
type apiError struct {
	Status  int
	Code    int
	Message string
	Err     error
}

func (e *apiError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Message
}

func (e *apiError) Unwrap() error { return e.Err }

func newError(status, code int, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func missingParam(name string) error {
	return newError(http.StatusBadRequest, codeInvalidParameter, "Missing required parameter %s in the post body", name)
}

func invalidParam(name, format string, args ...any) error {
	return newError(http.StatusBadRequest, codeInvalidParameter, "Invalid parameter `%s`: %s", name, fmt.Sprintf(format, args...))
}

// notFound is Twilio's 404, naming the resource as it was asked for.
func notFound(c *gin.Context) error {
	return newError(http.StatusNotFound, codeNotFound, "The requested resource %s was not found", c.Request.URL.Path)
}

// startError gives a start's rate limits (per DeviceIp, failures per
// number) Twilio's send-limit code, 60203, like the cooldown and the sends
// per verification; elsewhere rate_limited is the per-key 20429.
func startError(err error) error {
	if errors.Is(err, otp.ErrRateLimited) {
		return &apiError{Status: http.StatusTooManyRequests, Code: codeMaxSends, Message: "Max send attempts reached", Err: err}
	}
	return err
}

// checkError gives a check of a verification out of attempts Twilio's
// 429 60202 while it is kept; any other one that is no longer pending is
// gone (404, as fromProblem answers), as Twilio deletes them.
func checkError(err error) error {
	if np, ok := errors.AsType[*otp.NotPendingError](err); ok && np.Status == otp.StatusMaxAttempts {
		return &apiError{Status: http.StatusTooManyRequests, Code: codeMaxChecks, Message: "Max check attempts reached", Err: err}
	}
	return err
}

// WriteError answers with err in Twilio's error shape, with status equal
// to the HTTP status, as Twilio's SDKs read it from the body.
func (d *Dialect) WriteError(c *gin.Context, err error, p api.Problem) int {
	e, ok := errors.AsType[*apiError](err)
	if !ok {
		e = fromProblem(c, err, p)
	}
	if e.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Basic realm="otpgate"`)
	}
	c.AbortWithStatusJSON(e.Status, errorJSON{
		Code:     e.Code,
		Message:  e.Message,
		MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(e.Code),
		Status:   e.Status,
	})
	return e.Status
}

// errorJSON is Twilio's error body.
type errorJSON struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// fromProblem maps what the host made of an error (its /v1/ code) to
// Twilio's code and status.
func fromProblem(c *gin.Context, err error, p api.Problem) *apiError {
	e := func(status, code int, msg string) *apiError {
		return &apiError{Status: status, Code: code, Message: msg}
	}
	switch p.Code {
	case "invalid_request":
		return e(http.StatusBadRequest, codeInvalidParameter, p.Message)
	case "invalid_phone_number":
		if errors.Is(err, otp.ErrNotMobile) {
			return e(http.StatusBadRequest, codeLandline, "Invalid parameter `To`: SMS is not supported by landline phone number")
		}
		return e(http.StatusBadRequest, codeInvalidParameter, "Invalid parameter `To`: not a valid mobile number")
	case "country_not_allowed":
		return e(http.StatusForbidden, codeCountryBlocked, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number")
	case "unauthorized":
		return e(http.StatusUnauthorized, codeAuth, "Authenticate")
	case "forbidden":
		return e(http.StatusForbidden, codeAuth, p.Message)
	case "verification_not_found", "not_found", "verification_not_pending":
		return notFound(c).(*apiError)
	case "method_not_allowed":
		return e(http.StatusMethodNotAllowed, codeMethod, "Method not allowed")
	case "idempotency_key_in_use":
		return e(http.StatusConflict, codeConflict, p.Message)
	case "request_too_large":
		return e(http.StatusRequestEntityTooLarge, codeTooLarge, p.Message)
	case "idempotency_conflict":
		return e(http.StatusUnprocessableEntity, codeUnprocessable, p.Message)
	case "rate_limited":
		return e(http.StatusTooManyRequests, codeTooMany, "Too Many Requests")
	case "resend_cooldown", "max_sends_reached", "send_budget_exhausted":
		return e(http.StatusTooManyRequests, codeMaxSends, "Max send attempts reached")
	case "fraud_guard":
		return e(http.StatusTooManyRequests, codeFraudGuard, "Verification delivery attempt blocked: too many codes sent to numbers like this one were never entered")
	case "upstream_error":
		return e(http.StatusBadGateway, codeInternal, p.Message)
	case "unavailable":
		return e(http.StatusServiceUnavailable, codeInternal, p.Message)
	}
	return e(http.StatusInternalServerError, codeInternal, "Internal Server Error")
}
