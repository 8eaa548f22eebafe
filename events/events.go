// Package events tells the app what happened to its verifications, over
// Standard Webhooks v1 (standardwebhooks.com): it signs and delivers the
// events that otp/redisstore records in the same Lua script as the state
// change causing them, and it verifies such deliveries for Go receivers.
//
// Events wait in an Outbox shared by every otpgate replica. A Deliverer
// claims the ones that are due, posts each to the app's URL and reports
// back: delivered (or 410 Gone, or out of time) ends an event and lets the
// next event of its verification go, anything else puts it back with
// exponential backoff. Only one event of a verification is ever out at a
// time, so a verification's events arrive in order.
package events

import (
	"context"
	"time"

	"github.com/otpgate/otpgate/otp"
)

// Type names what happened to a verification.
type Type string

// The event types of CONTRACT §9.
const (
	TypePending     Type = "verification.pending"
	TypeApproved    Type = "verification.approved"
	TypeCanceled    Type = "verification.canceled"
	TypeMaxAttempts Type = "verification.max_attempts_reached"
	TypeExpired     Type = "verification.expired"
	TypeDelivery    Type = "verification.delivery"
)

// Message is one event as the app receives it.
type Message struct {
	// ID is "evt_" and 32 lowercase hex digits, the same on every attempt.
	ID   string
	Type Type
	// At is when it happened.
	At time.Time
	// Verification is the verification just after the change, as the API
	// showed it then.
	Verification *otp.Verification
}

// Pending is a message an Outbox handed to one deliverer to try now.
type Pending struct {
	Message
	// Attempts counts the attempts that failed so far.
	Attempts int
	// Since is when the message became deliverable (the one before it of
	// its verification was done); it is retried for MaxRetryTime from then.
	Since time.Time
	// Ref is the Outbox's own handle of the message.
	Ref string
}

// Outbox holds the events waiting for delivery, shared by every replica.
// Each method returns an error matching otp.ErrUnavailable when the store
// fails.
type Outbox interface {
	// Claim hands consumer up to max messages due at now: new ones, ones
	// whose retry is due, and ones another consumer claimed but neither
	// finished nor put back within lease (its process died). A claimed
	// message is the consumer's for lease; past it, another may claim it.
	// Claim also records the expiry of verifications that expired by now.
	Claim(ctx context.Context, consumer string, now time.Time, max int, lease time.Duration) ([]Pending, error)
	// Done ends p for good (delivered, gone or dropped) and lets the next
	// message of its verification go. Doing it twice does nothing more.
	Done(ctx context.Context, p Pending, now time.Time) error
	// Retry puts p back with one failed attempt more, due at due.
	Retry(ctx context.Context, p Pending, due time.Time) error
	// Oldest returns when the oldest message still waiting happened, or the
	// zero time when none waits.
	Oldest(ctx context.Context) (time.Time, error)
}
