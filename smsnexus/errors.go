package smsnexus

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/upstream"
)

// Sentinels that errors of this package match with errors.Is, so callers
// can act on a failure without reading status codes.
var (
	// ErrInvalidRequest: the client refused a request before sending it.
	ErrInvalidRequest = errors.New("smsnexus: invalid request")
	// ErrInvalidRecipient: the recipient cannot be texted. See IsInvalidRecipient.
	ErrInvalidRecipient = errors.New("smsnexus: invalid recipient")
	// ErrUnauthorized: HTTP 401, the token was refused.
	ErrUnauthorized = errors.New("smsnexus: unauthorized")
	// ErrRateLimited: HTTP 429.
	ErrRateLimited = errors.New("smsnexus: rate limited")
)

const (
	// maxMessageLen bounds each upstream text kept in an Error, so that a
	// huge error page does not end up in a log line.
	maxMessageLen = 200
	// maxFields and maxFieldMessages bound the validation details kept.
	maxFields        = 10
	maxFieldMessages = 3
)

// Error is an HTTP answer of SMS Nexus that is not a success. It never
// carries the token, the message text or a request body; upstream text in
// it is bounded and its runs of 4 or more digits are masked, since SMS
// Nexus may echo the number or the code it was sent.
type Error struct {
	Method     string
	Path       string // endpoint relative to the base URL, e.g. "sms/send"
	StatusCode int
	// Message is the upstream's "message", or the HTTP status text.
	Message string
	// Fields is the upstream's "errors" object of a 422: field → messages.
	Fields map[string][]string
	// RetryAfter is the wait a 429 asked for (Retry-After, else
	// X-RateLimit-Reset against the client's clock), zero when it did not say.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "smsnexus: %s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for i, k := range slices.Sorted(maps.Keys(e.Fields)) {
		sep := "; "
		if i == 0 {
			sep = " ("
		}
		b.WriteString(sep + k + ": " + strings.Join(e.Fields[k], " "))
	}
	if len(e.Fields) > 0 {
		b.WriteString(")")
	}
	return b.String()
}

// Is reports whether e is the kind of failure target names.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalidRecipient:
		return e.invalidRecipient()
	case ErrUnauthorized:
		return e.StatusCode == 401
	case ErrRateLimited:
		return e.StatusCode == 429
	}
	return false
}

// invalidRecipient: a send's 422 that names "to", or names no field. A 422
// that names only other fields (from, message) is the sender's own
// configuration at fault, which another provider may not share.
func (e *Error) invalidRecipient() bool {
	if e.StatusCode != 422 || e.Path != pathSend {
		return false
	}
	_, to := e.Fields["to"]
	return to || len(e.Fields) == 0
}

// IsInvalidRecipient reports whether err says the recipient cannot be
// texted: a 422 of sms/send whose errors name "to" or name no field at
// all, or the client's own refusal of a malformed To.
func IsInvalidRecipient(err error) bool { return errors.Is(err, ErrInvalidRecipient) }

// IsUnauthorized reports whether err is an HTTP 401 from SMS Nexus.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsRateLimited reports whether err is an HTTP 429 from SMS Nexus.
func IsRateLimited(err error) bool { return errors.Is(err, ErrRateLimited) }

// MaybeDelivered reports whether err, returned by Send, leaves open that
// SMS Nexus sent the message all the same: the request may have been
// written and no usable answer came back (a timeout, reset or EOF once the
// connection was obtained; a 2xx whose body is not success:true with a
// data.id; a 5xx whose body is not the documented error JSON). It is false
// for nil, for errors of calls other than Send, and for every failure that
// certainly sent nothing: an HTTP answer below 500 (401, 403, 404, 422,
// 429, a redirect the client did not follow), a 5xx with the documented error
// JSON, a failed dial, DNS lookup or TLS handshake, a context done before
// the request left, and a request the client refused.
func MaybeDelivered(err error) bool {
	_, ok := errors.AsType[*maybeDeliveredError](err)
	return ok
}

// maybeDeliveredError marks a failed send that SMS Nexus may have acted on.
type maybeDeliveredError struct{ err error }

func (e *maybeDeliveredError) Error() string { return e.err.Error() }

func (e *maybeDeliveredError) Unwrap() error { return e.err }

// transportError is a failure to get a whole answer: no connection, no
// response, or a response whose body broke off.
type transportError struct {
	method, path string
	err          error
}

// Error masks runs of 7 or more digits: net/http quotes URLs in some
// errors, and a URL may hold a number. Shorter runs stay, so ports and
// addresses remain readable.
func (e *transportError) Error() string {
	return fmt.Sprintf("smsnexus: %s %s: %s", e.method, e.path, upstream.MaskDigits(e.err.Error(), 7))
}

func (e *transportError) Unwrap() error { return e.err }

// requestError is the client's refusal of a request it will not send. Its
// text names the field, never the value.
type requestError struct {
	field, problem string
}

func (e *requestError) Error() string {
	return fmt.Sprintf("%v: %s %s", ErrInvalidRequest, e.field, e.problem)
}

// Is matches ErrInvalidRequest, and ErrInvalidRecipient for a malformed To:
// SMS Nexus would refuse it as well.
func (e *requestError) Is(target error) bool {
	return target == ErrInvalidRequest || (target == ErrInvalidRecipient && e.field == "to")
}

func invalid(field, problem string) error { return &requestError{field: field, problem: problem} }

// upstreamText prepares text the upstream wrote for an error: secrets (the
// token, the message text) replaced, every run of 4 or more digits masked,
// and bounded.
func upstreamText(s string, secrets ...string) string {
	return upstream.Text(s, maxMessageLen, secrets...)
}

// maxRetryAfter bounds the wait a 429 may ask for, so that a garbled
// header does not put the sender aside for years.
const maxRetryAfter = time.Hour

// retryAfter reads a 429's wait: Retry-After (seconds or an HTTP date),
// else X-RateLimit-Reset, a Unix time in seconds, against now. A reset
// below 10⁹ (before 2001) is read as seconds to wait, as some gateways
// send. Zero when neither says.
func retryAfter(h http.Header, now time.Time) time.Duration {
	var d time.Duration
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		d = upstream.ParseRetryAfter(v, now)
	} else if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if reset, err := strconv.ParseInt(v, 10, 64); err == nil && reset < 1e9 {
			d = seconds(reset)
		} else if err == nil {
			d = seconds(reset - now.Unix())
		}
	}
	return min(max(d, 0), maxRetryAfter)
}

// seconds converts n seconds to a Duration without overflowing.
func seconds(n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	if n > int64(maxRetryAfter/time.Second) {
		return maxRetryAfter
	}
	return time.Duration(n) * time.Second
}
