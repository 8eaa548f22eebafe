// Package otp is the verification domain of otpgate: the lifecycle of a
// phone verification (start, resend, check, cancel or approval without a
// code, expiry), how codes are made and hashed, the attempt and send
// rules, and the errors callers act on.
//
// It knows nothing of HTTP, Redis or Connexus. It declares the small
// interfaces it needs (Store, Sender, NumberLookup, Limiter) and is given
// implementations of them by cmd/internal/app.
package otp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Status is the state of a verification.
type Status string

// The statuses of a verification, exactly as the public API spells them.
const (
	StatusPending     Status = "pending"
	StatusApproved    Status = "approved"
	StatusCanceled    Status = "canceled"
	StatusMaxAttempts Status = "max_attempts_reached"
	StatusExpired     Status = "expired"
)

// Verification is one attempt to prove ownership of a phone number.
type Verification struct {
	ID           string
	To           string // digits with country code, no '+'
	Status       Status
	CreatedAt    time.Time
	ExpiresAt    time.Time
	AttemptsLeft int
	Sends        int
	LastSentAt   time.Time
	// SendTimes are when each code of the verification went out, the first
	// send and every resend, oldest first, so len(SendTimes) == Sends. Of a
	// verification resent by a version that did not keep them, only the
	// first send and the latest are known, so it may be shorter than Sends.
	SendTimes []time.Time
	// ResendAt is the earliest moment another code may be sent to To.
	ResendAt time.Time
	// EndedAt is when the verification stopped being pending by approval,
	// cancel or running out of attempts; zero while it is pending and for
	// an expired one. It is derived from when it stops being readable, so
	// it is off by the difference when Config.Retention changed since.
	EndedAt time.Time
	// MessageID names the latest SMS for delivery reports: the provider's
	// id, prefixed with the sender's name unless the sender is Connexus.
	MessageID string
	Sender    string // the provider that sent the latest code, when known
	Lookup    *Lookup
	Delivery  *Delivery
}

// Lookup is what the upstream number lookup knew about a number.
type Lookup struct {
	Carrier     string `json:"carrier,omitempty"`
	Ported      bool   `json:"ported"`
	NetworkCode string `json:"network_code,omitempty"`
}

// Delivery is the latest delivery report of the verification's latest SMS.
type Delivery struct {
	Status    string    `json:"status"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Domain errors. Callers test them with errors.Is; the API maps each one to
// one HTTP status and public error code.
var (
	ErrInvalidRequest = errors.New("invalid request")
	ErrInvalidPhone   = errors.New("invalid phone number")
	// ErrNotMobile marks a number the lookup says is valid but is not a
	// mobile (a landline, VoIP, ...), so no SMS could reach it. It wraps
	// ErrInvalidPhone, so every error matching it matches that too and
	// callers that do not tell the two apart need not know it.
	ErrNotMobile         = fmt.Errorf("%w: not a mobile number", ErrInvalidPhone)
	ErrCountryNotAllowed = errors.New("country not allowed")
	ErrNotFound          = errors.New("verification not found")
	ErrNotPending        = errors.New("verification not pending")
	ErrCooldown          = errors.New("resend cooldown")
	ErrMaxSends          = errors.New("max sends reached")
	ErrRateLimited       = errors.New("rate limited")
	ErrUpstream          = errors.New("upstream error")
	// ErrMaybeSent marks a failed send whose SMS may have gone out all the
	// same (the request reached the upstream but no answer came back); such
	// an error matches ErrUpstream too.
	ErrMaybeSent = errors.New("the SMS may have been sent")
	// ErrRefusedHere marks a send one provider refused for this request
	// alone (a recipient it blocks, a text it will not carry) while it is
	// working for others: nothing was sent, so another provider may be
	// tried, but this one is not skipped. Such an error matches ErrUpstream.
	ErrRefusedHere = errors.New("the provider refused this request")
	ErrUnavailable = errors.New("state store unavailable")
	// ErrUnrecorded marks a start whose SMS went out but whose outcome the
	// store did not confirm it kept (Redis failed, or its replicas did not
	// acknowledge the write in time): the code may not work. Such an error
	// matches ErrUnavailable too.
	ErrUnrecorded = errors.New("the SMS was sent, but storing it was not confirmed")
)

// FieldError is invalid input whose message names the offending field
// and is safe to show the caller. It matches ErrInvalidRequest.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Is reports whether target is ErrInvalidRequest.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidRequest }

// NotPendingError says which status a verification had when an operation
// that needs a pending one was refused. It matches ErrNotPending.
type NotPendingError struct {
	Status Status
}

func (e *NotPendingError) Error() string { return "verification is " + string(e.Status) }

// Is reports whether target is ErrNotPending.
func (e *NotPendingError) Is(target error) bool { return target == ErrNotPending }

// LimitError carries the quota that refused an operation, so the API can
// write X-RateLimit-* and Retry-After. Kind is ErrRateLimited, ErrCooldown,
// ErrMaxSends, ErrSendBudget or ErrFraudGuard, and the error matches it.
type LimitError struct {
	Kind      error
	Limit     int64
	Remaining int64
	Reset     time.Time // when the quota frees up again
	// Warnings are the fraud guard's warnings that refused a start, for
	// ErrFraudGuard.
	Warnings []Warning
}

func (e *LimitError) Error() string { return e.Kind.Error() }

// Unwrap returns the kind of limit that was hit.
func (e *LimitError) Unwrap() error { return e.Kind }

// Quota is the state of one rate limit after counting an event against it.
type Quota struct {
	Limit     int64
	Remaining int64
	Reset     time.Time
	Reached   bool
}

// Limiter is one named rate (per phone, per IP, ...). Take counts an event
// against key; Peek reads the quota without counting. A reached quota is
// reported in Quota.Reached, not as an error: errors are infrastructure
// failures.
type Limiter interface {
	Take(ctx context.Context, key string) (Quota, error)
	Peek(ctx context.Context, key string) (Quota, error)
}

// SendRequest is one code to deliver by SMS.
type SendRequest struct {
	// ID names the verification the code is for (the one being renewed,
	// or the id a new one will get; a renewal that finds its verification
	// ended meanwhile stores the code under a new id instead). Providers
	// that take a client reference (websms.com's clientMessageId) get it.
	ID      string
	To      string // digits with country code, no '+'
	Code    string // proposed code; the upstream may send another
	Brand   string
	Comment string
	// Text is the whole message, rendered from OTP_MESSAGE with Code, for
	// providers that have no endpoint of their own for codes.
	Text string
}

// SendResult is what the upstream sent.
type SendResult struct {
	MessageID string
	Code      string // the code actually sent; this is the one stored
	// Sender names the provider that sent it; the failover sender sets it.
	Sender string
}

// Sender delivers codes. Its errors say what became of the SMS, and so
// whether another provider may be tried:
//   - one matching ErrInvalidPhone: the provider refused the number, and
//     no provider will take it;
//   - one matching ErrMaybeSent (and ErrUpstream): the request reached the
//     provider but no usable answer came back, so the SMS may be out;
//   - any other one matching ErrUpstream: the provider certainly sent
//     nothing (it was not reached, or it refused the request); one that
//     also matches ErrRefusedHere says the provider is otherwise working.
//
// A *BackoffError in the chain says how long the provider asked to be left
// alone.
type Sender interface {
	SendCode(ctx context.Context, req SendRequest) (SendResult, error)
}

// BackoffError is a provider's refusal that names when to call it again
// (a 429's Retry-After or X-RateLimit-Reset). It unwraps to Err.
type BackoffError struct {
	After time.Duration
	Err   error
}

func (e *BackoffError) Error() string { return e.Err.Error() }

// Unwrap returns the provider's error.
func (e *BackoffError) Unwrap() error { return e.Err }

// NumberLookup validates a number with the upstream. It returns an error
// matching ErrInvalidPhone when the upstream says the number is invalid,
// one matching ErrNotMobile (and so ErrInvalidPhone) when it says the
// number is valid but not a mobile, and any other error when the lookup
// itself failed.
type NumberLookup interface {
	LookupNumber(ctx context.Context, number string) (*Lookup, error)
}
