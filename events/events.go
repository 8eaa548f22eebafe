// Package events is what an app needs to receive otpgate's events: they
// come over Standard Webhooks v1 (standardwebhooks.com), and Verify checks
// a delivery's signature and age with the app's whsec_ secret. otpgate
// signs with Sign. The package imports nothing of otpgate's, so a receiver
// links only this.
//
// A delivery's body is {"id","type","timestamp","data"}: data is the
// verification object as GET /v1/verifications/{id} showed it just after
// the change, or for an event of authenticator apps (CONTRACT §11) the
// factor or {"identity"}. Delivery is at least once, so a receiver deduplicates on the
// webhook-id header, which stays the same on every retry. Package
// events/delivery is otpgate's side: the outbox and the delivery loop.
package events

// Type names what happened to a verification, or to an identity's
// authenticator apps (CONTRACT §11).
type Type string

// The event types of CONTRACT §9.
const (
	TypePending     Type = "verification.pending"
	TypeApproved    Type = "verification.approved"
	TypeCanceled    Type = "verification.canceled"
	TypeMaxAttempts Type = "verification.max_attempts_reached"
	TypeExpired     Type = "verification.expired"
	TypeDelivery    Type = "verification.delivery"

	TypeFactorCreated     Type = "factor.created"
	TypeFactorVerified    Type = "factor.verified"
	TypeFactorDeleted     Type = "factor.deleted"
	TypeChallengeApproved Type = "challenge.approved"
	TypeChallengeDenied   Type = "challenge.denied"
	TypeRecoveryCodeUsed  Type = "recovery_code.used"
)

// Types lists every event type.
var Types = []Type{TypePending, TypeApproved, TypeCanceled, TypeMaxAttempts, TypeExpired, TypeDelivery,
	TypeFactorCreated, TypeFactorVerified, TypeFactorDeleted, TypeChallengeApproved, TypeChallengeDenied, TypeRecoveryCodeUsed}
