package otp

import (
	"context"
	"errors"
	"time"
)

// ErrMessageNotIndexed marks a CommitSend that recorded the code but could
// not index its SMS for delivery reports: the verification returned with it
// is good, and only that SMS's delivery reports go unfiled.
var ErrMessageNotIndexed = errors.New("sent SMS not indexed for delivery reports")

// Store keeps verification state. Every method that changes state does so
// atomically, so concurrent callers (and a client that retries a command
// after a dropped connection) never double-send, double-count an attempt or
// double-approve. Times are passed in by the Service so that a test clock
// rules expiry and retention. Any failure of the store itself is returned as
// an error matching ErrUnavailable.
//
// Verifications a Store returns carry LastSentAt, or a zero one if it was
// stored by a version that did not keep it; the Service then derives it
// from ExpiresAt, and ResendAt from LastSentAt. They carry SendTimes: the
// first send at CreatedAt and the resends the store knows of, and the
// Service adds LastSentAt when the latest is not among them. Those of a
// method given a retention carry EndedAt.
type Store interface {
	// Ping reports whether the store answers; it returns ErrUnavailable if not.
	Ping(ctx context.Context) error

	// CachedLookup returns the cached lookup of number, or ErrNotFound.
	CachedLookup(ctx context.Context, number string, now time.Time) (*Lookup, error)
	// CacheLookup keeps l as the lookup of number until now+ttl.
	CacheLookup(ctx context.Context, number string, l Lookup, now time.Time, ttl time.Duration) error

	// ReserveSend claims the right to send one SMS to r.To. It returns the id
	// of the pending verification the send would renew ("" for a new one),
	// or a *LimitError of kind ErrCooldown or ErrMaxSends.
	ReserveSend(ctx context.Context, r SendReservation) (reuseID string, err error)
	// ReleaseSend gives back a reservation whose send failed, so it starts
	// no cooldown (the cooldown runs from the latest successful send).
	// Releasing a reservation that is no longer held is a no-op.
	ReleaseSend(ctx context.Context, number, token string) error
	// HoldSend keeps a reservation whose send may have gone out unrecorded
	// until until instead of its hold, so the cooldown covers that SMS.
	// Holding a reservation that is no longer held is a no-op.
	HoldSend(ctx context.Context, number, token string, now, until time.Time) error
	// CommitSend records a sent code: it renews c.ReuseID if that one is
	// still pending, or else creates c.NewID. created reports which. When
	// only indexing c.MessageID failed, it returns the verification and an
	// error matching ErrMessageNotIndexed, since the SMS is out and its code
	// works.
	CommitSend(ctx context.Context, c SendCommit) (v *Verification, created bool, err error)

	// Get returns a verification as stored (a pending one past ExpiresAt is
	// still StatusPending here), or ErrNotFound once past retention.
	Get(ctx context.Context, id string, now time.Time, retention time.Duration) (*Verification, error)
	// Newest returns the id of the latest verification of number, or
	// ErrNotFound. The verification itself may already be past retention.
	Newest(ctx context.Context, number string) (id string, err error)

	// ReserveAttempt uses one attempt of verification id for the guess
	// identified by nonce; repeating it with the same nonce uses no more.
	// It returns ErrNotFound or a *NotPendingError (StatusMaxAttempts when
	// concurrent guesses hold the last attempts).
	ReserveAttempt(ctx context.Context, id, nonce string, now time.Time, retention time.Duration) (*Attempt, error)
	// ResolveAttempt records the outcome of a compared guess: a right one
	// approves the verification unless its code was replaced meanwhile, a
	// wrong one may end it with StatusMaxAttempts. The guess answers with
	// the attempts its own reservation left. Repeating it with the same
	// attempt applies nothing twice; the guess that approved or ended the
	// verification gets the same answer again, another one the attempts
	// left by then. An ended verification stays readable
	// for retention, and the number's cooldown (from its latest send) holds
	// for cooldown whatever retention is. It returns ErrNotFound or a
	// *NotPendingError.
	ResolveAttempt(ctx context.Context, a *Attempt, right bool, now time.Time, retention, cooldown time.Duration) (*CheckResult, error)

	// End ends a pending verification without a code, with status
	// StatusApproved or StatusCanceled (any other is a programming error,
	// refused with an error matching no sentinel), for the request
	// identified by nonce; repeating it with the same nonce and status
	// succeeds again. It ends a verification at most once, whatever checks
	// and ends race it. Retention and cooldown are as for ResolveAttempt.
	// It returns ErrNotFound or a *NotPendingError (StatusExpired for a
	// pending one past its expiry).
	End(ctx context.Context, id, nonce string, status Status, now time.Time, retention, cooldown time.Duration) (*Verification, error)
	// RecordDelivery stores d on the verification whose latest SMS has
	// messageID. found is false, with a nil error, for unknown ids.
	RecordDelivery(ctx context.Context, messageID string, d Delivery) (found bool, err error)
}

// SendReservation asks a Store for the right to send one SMS.
type SendReservation struct {
	To       string
	Token    string // names this reservation in ReleaseSend and CommitSend
	Now      time.Time
	Cooldown time.Duration
	// TTL and Retention say how long the number's current verification
	// lasts, so the store can tell whether it may be renewed.
	TTL, Retention time.Duration
	// Hold is how long an unfinished send blocks others to the same number,
	// in case the process dies before committing or releasing it.
	Hold     time.Duration
	MaxSends int
}

// SendCommit records one sent code.
type SendCommit struct {
	To          string
	Token       string
	ReuseID     string // from ReserveSend
	NewID       string // used when ReuseID is empty or no longer pending
	CodeHash    string
	MessageID   string
	Sender      string
	Lookup      *Lookup
	Now         time.Time
	TTL         time.Duration
	Cooldown    time.Duration
	Retention   time.Duration
	MaxAttempts int
	MaxSends    int
}

// Attempt is one reserved guess at a verification's code.
type Attempt struct {
	ID           string
	To           string
	Nonce        string
	CodeHash     string // compared with the guess; never leaves the process
	AttemptsLeft int
}
