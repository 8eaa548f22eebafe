// Package delivery is otpgate's side of events: the Outbox where they
// wait, which otp/redisstore implements (recording each event in the same
// Lua script as the state change causing it), and the Deliverer that
// signs and posts them to the app.
//
// A Deliverer claims the events that are due, posts each to the app's URL
// and reports back: delivered (or 410 Gone, or out of time) ends an event
// and lets the next event of its verification go; anything else puts it
// back with exponential backoff. Only one event of a verification (or of
// an identity's factors) is ever out at a time, so they arrive in order.
package delivery

import (
	"context"
	"encoding/json"
	"time"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/otp"
)

// Message is one event as the app receives it.
type Message struct {
	// ID is "evt_" and 32 lowercase hex digits, the same on every attempt.
	ID   string
	Type events.Type
	// At is when it happened.
	At time.Time
	// Verification is the verification just after the change, as the API
	// showed it then; nil for an event of an identity's factors.
	Verification *otp.Verification
	// Data is the data member of an event that has no Verification,
	// rendered when it was recorded (CONTRACT §11: a factor, or the
	// identity).
	Data json.RawMessage
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
	// message of its verification go. It reports whether this call ended
	// p: false when p was ended already (a duplicate attempt after a
	// takeover got there first).
	Done(ctx context.Context, p Pending, now time.Time) (bool, error)
	// Retry puts p back with one failed attempt more, due at due. It
	// reports whether it did: false when p's lease ran out and another
	// consumer holds it now, which then answers for it.
	Retry(ctx context.Context, p Pending, due time.Time) (bool, error)
	// Stats reads what the metrics show of the outbox.
	Stats(ctx context.Context) (Stats, error)
}

// Stats is the state of an Outbox for metrics.
type Stats struct {
	// Oldest is when the oldest waiting message happened; zero when none
	// waits.
	Oldest time.Time
	// Refused counts, by type, the events the outbox did not record since
	// the previous Stats because it was full; each refusal is counted by
	// one Stats call only, whichever replica makes it.
	Refused map[events.Type]int
}
