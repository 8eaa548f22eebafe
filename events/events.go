// Package events is what an app needs to receive otpgate's events: they
// come over Standard Webhooks v1 (standardwebhooks.com), and Verify checks
// a delivery's signature and age with the app's whsec_ secret. otpgate
// signs with Sign. The package imports nothing of otpgate's, so a receiver
// links only this.
//
// A delivery's body is {"id","type","timestamp","data"}: data is the
// verification object as GET /v1/verifications/{id} showed it just after
// the change. Delivery is at least once, so a receiver deduplicates on the
// webhook-id header, which stays the same on every retry. Package
// events/delivery is otpgate's side: the outbox and the delivery loop.
package events

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

// Types lists every event type.
var Types = []Type{TypePending, TypeApproved, TypeCanceled, TypeMaxAttempts, TypeExpired, TypeDelivery}
