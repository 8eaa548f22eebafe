package connexus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/upstream"
)

// Sentinels that an *Error matches with errors.Is, so callers can act on an
// upstream failure without reading status codes.
var (
	// ErrInvalidNumber: the upstream says the number is not a valid (NZ
	// mobile) number: lookup's HTTP 400 "Invalid number", or valid:false.
	ErrInvalidNumber = errors.New("connexus: invalid number")
	// ErrUnauthorized: HTTP 401, credentials or token refused.
	ErrUnauthorized = errors.New("connexus: unauthorized")
	// ErrInsufficientFunds: HTTP 403, the account balance is too low.
	ErrInsufficientFunds = errors.New("connexus: insufficient funds")
	// ErrRateLimited: HTTP 429.
	ErrRateLimited = errors.New("connexus: rate limited")
	// ErrInvalidRequest: the client refused a request before sending it.
	ErrInvalidRequest = errors.New("connexus: invalid request")
)

// codeInvalidNumber is the Code of the *Error made for a 200 valid:false
// lookup, spelled so that it matches the 400 answer's "Invalid number".
const codeInvalidNumber = "invalid_number"

// maxMessageLen bounds the upstream text kept in an Error, so that a huge
// error page does not end up in a log line.
const maxMessageLen = 200

// Error is a failure reported by the Connexus API. It never carries
// credentials, tokens, codes or request bodies.
type Error struct {
	Method     string
	Path       string // endpoint relative to the base URL, e.g. "sms/otp"
	StatusCode int
	// Code is the upstream's short error, e.g. "invalid_client" or "Invalid number".
	Code string
	// Message is the upstream's human-readable explanation, if any.
	Message string
	// RetryAfter is the wait a 429 asked for, zero when it did not say.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connexus: %s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Is reports whether e is the kind of failure target names.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalidNumber:
		return strings.EqualFold(strings.ReplaceAll(e.Code, "_", " "), "invalid number")
	case ErrUnauthorized:
		return e.StatusCode == 401
	case ErrInsufficientFunds:
		return e.StatusCode == 403
	case ErrRateLimited:
		return e.StatusCode == 429
	}
	return false
}

// IsInvalidNumber reports whether err says the number is invalid.
func IsInvalidNumber(err error) bool { return errors.Is(err, ErrInvalidNumber) }

// IsUnauthorized reports whether err is an HTTP 401 from the upstream.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsInsufficientFunds reports whether err is an HTTP 403 from the upstream.
func IsInsufficientFunds(err error) bool { return errors.Is(err, ErrInsufficientFunds) }

// IsRateLimited reports whether err is an HTTP 429 from the upstream.
func IsRateLimited(err error) bool { return errors.Is(err, ErrRateLimited) }

// transportError is a failure to get a whole answer: no connection, no
// response, or a response whose body broke off.
type transportError struct {
	method, path string
	err          error
}

// Error masks runs of 7 or more digits: net/http quotes URLs in some
// errors (a Location it cannot parse, for one), and a GET lookup's URL holds
// the number. Shorter runs stay, so ports and addresses remain readable.
func (e *transportError) Error() string {
	return fmt.Sprintf("connexus: %s %s: %s", e.method, e.path, upstream.MaskDigits(e.err.Error(), 7))
}

func (e *transportError) Unwrap() error { return e.err }

// MaybeDelivered reports whether err, returned by SendSMS, SendBulkSMS or
// SendOTP, leaves open that the upstream took the message all the same: the
// request was written and no answer came back (a timeout, a connection reset
// or EOF, the context ending mid-exchange), a 2xx answer came back that the
// client could not use, or a 5xx came back that is not in the documented
// error shape ({"success": false, ...}). It is false for any other refusal,
// for a send that never left (a failed dial or DNS lookup, a request the
// client refused, a failed token exchange), for nil, and for errors of calls
// other than sends. A send is never retried once this is true, so such an
// error is always the last attempt's.
//
// It is a function and not a field of Error because the uncertain failures
// are not HTTP answers, and because only the client knows whether the
// request that failed was the send or the token exchange before it.
func MaybeDelivered(err error) bool {
	_, ok := errors.AsType[*maybeDeliveredError](err)
	return ok
}

// maybeDeliveredError marks the failure of a send that the upstream may
// have acted on; it is what MaybeDelivered looks for.
type maybeDeliveredError struct{ err error }

func (e *maybeDeliveredError) Error() string { return e.err.Error() }

func (e *maybeDeliveredError) Unwrap() error { return e.err }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// upstreamText prepares text the upstream wrote for an error: bounded, and
// with every run of 4 or more digits masked, since an upstream may echo the
// number or the code it was sent, and errors end up in logs.
func upstreamText(s string) string { return upstream.Text(s, maxMessageLen) }
