// Package factor is otpgate's second factor that costs nothing per login:
// authenticator apps (TOTP, RFC 6238) enrolled per identity, and recovery
// codes for a lost phone (CONTRACT §11).
//
// The rules live here once, for /v1/ and the /v2/ dialect alike: which
// codes a factor accepts (skew, replay), the attempt budget per identity,
// the recovery codes, and what is kept at rest. Secrets are kept only
// sealed by a Keyring (AES-256-GCM, the key id beside the ciphertext, the
// factor id as associated data); recovery codes only as HMAC-SHA256 under
// a random per-identity key that is itself sealed. Every decision about
// an identity (create, accept or refuse a code, spend a recovery code,
// replace the codes, delete) is one atomic Store call, so parallel
// submissions of one code approve once.
package factor

import (
	"context"
	"errors"
	"time"
)

// The limits of CONTRACT §11.
const (
	// MaxFactors is how many factors, verified or not, one identity holds.
	MaxFactors = 5
	// AttemptWindow is the window of TOTP_MAX_ATTEMPTS refused codes.
	AttemptWindow = 15 * time.Minute
	// UnverifiedTTL is how long an unverified factor lives.
	UnverifiedTTL = time.Hour
	// RecoveryCodeCount is how many recovery codes an identity gets.
	RecoveryCodeCount = 10
	// MaxLabel is the longest label, in bytes.
	MaxLabel = 64
)

// Errors of the factor domain; the API maps each to one status and code.
// Invalid input is an *otp.FieldError, a store failure matches
// otp.ErrUnavailable, and a locked identity is an *otp.LimitError of kind
// ErrLocked.
var (
	// ErrNotFound is an unknown identity or factor.
	ErrNotFound = errors.New("factor not found")
	// ErrLimit is a factor past MaxFactors.
	ErrLimit = errors.New("factor limit reached")
	// ErrAlreadyVerified is a verification of a verified factor.
	ErrAlreadyVerified = errors.New("factor already verified")
	// ErrUnverified is a challenge of a factor that is not verified yet.
	ErrUnverified = errors.New("factor not verified")
	// ErrLocked is an identity that used up its refused codes for the
	// window: its checks are refused, right codes included, until it ends.
	ErrLocked = errors.New("max attempts reached")
)

// Status is the state of a factor.
type Status string

// The statuses of a factor.
const (
	StatusUnverified Status = "unverified"
	StatusVerified   Status = "verified"
)

// Algorithm is the HMAC of a factor's codes.
type Algorithm string

// The algorithms an authenticator app may be asked to use.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

// Factor is an enrolled authenticator as the API and events show it: never
// its secret.
type Factor struct {
	ID         string     `json:"id"`
	Identity   string     `json:"identity"`
	Type       string     `json:"type"`
	Label      string     `json:"label"`
	Status     Status     `json:"status"`
	Digits     int        `json:"digits"`
	Period     int        `json:"period"`
	Algorithm  Algorithm  `json:"algorithm"`
	CreatedAt  time.Time  `json:"created_at"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// Skew is the time steps accepted either side of now when the factor
	// was enrolled with its own (the /v2/ Config.Skew); nil follows
	// TOTP_SKEW.
	Skew *int `json:"-"`
}

// EnrollRequest asks for a new factor. Nil Digits, Period and Algorithm
// take the defaults, 6, 30 and SHA1; a value given is checked, so an
// explicit 0 or "" is refused, not taken for the default.
type EnrollRequest struct {
	Label     string
	Digits    *int
	Period    *int
	Algorithm *Algorithm
	// Skew, when set, is the factor's own skew (0 to 2).
	Skew *int
	// Issuer, when set, is shown in the authenticator app instead of
	// Config.Issuer: /v2/ shows the service's friendly name, as Twilio does.
	Issuer string
}

// Enrollment is a new factor with what the authenticator app needs, shown
// this once.
type Enrollment struct {
	Factor Factor
	// Secret is the base32 secret (no padding), at least 160 bits.
	Secret string
	// URI is the otpauth://totp/ URI of the secret.
	URI string
	// QRPNG is a PNG of a QR code of URI.
	QRPNG []byte
}

// VerifyResult is the answer to the first code of a factor.
type VerifyResult struct {
	Valid bool
	// Factor is the factor after the check.
	Factor Factor
	// RecoveryCodes are the identity's new recovery codes, shown this
	// once: set when this verification gave the identity its first ones.
	RecoveryCodes []string
	// AttemptsLeft is what remains of the identity's budget of refused
	// codes.
	AttemptsLeft int
}

// ChallengeRequest is a code to check: a TOTP code (tried against each
// verified factor, or FactorID's alone) or a recovery code, never both.
type ChallengeRequest struct {
	Code         string
	RecoveryCode string
	// FactorID limits Code to one factor (the /v2/ FactorSid); "" tries
	// every verified factor.
	FactorID string
}

// ChallengeResult is the answer to a challenge.
type ChallengeResult struct {
	Valid bool
	// FactorID is the factor that accepted a TOTP code.
	FactorID string
	// Recovery is set when a recovery code was spent; RecoveryCodesLeft
	// then counts the identity's unspent ones.
	Recovery          bool
	RecoveryCodesLeft int
	// AttemptsLeft is what remains of the identity's budget of refused
	// codes.
	AttemptsLeft int
}

// Sealed is a secret sealed by a Keyring: "<kid>:" and then the nonce and
// the AES-GCM ciphertext, raw bytes.
type Sealed string

// Record is a factor as stored.
type Record struct {
	Factor
	// Secret is the factor's secret sealed with the factor id as
	// associated data.
	Secret Sealed
	// LastStep is the time step of the last accepted code, 0 for none.
	LastStep int64
}

// Identity is what the store holds of one identity.
type Identity struct {
	// Factors are the live ones: verified, or unverified and not yet
	// UnverifiedTTL old; oldest first.
	Factors []Record
	// Key is the sealed key of its recovery codes' HMACs, "" for none.
	Key Sealed
	// RecoveryCodes counts the unspent recovery codes.
	RecoveryCodes int
	// Failures counts the refused codes of the window that ends at
	// WindowEnd (zero when none runs).
	Failures  int
	WindowEnd time.Time
}

// Limits are the attempt rule of a check.
type Limits struct {
	MaxAttempts int
	Window      time.Duration
}

// Event is an event of CONTRACT §11 to record with a change: its type and
// its data, already rendered.
type Event struct {
	Type string
	Data []byte
}

// Candidate is a time step at which a code matched one factor.
type Candidate struct {
	FactorID string
	Step     int64
	// Approved is recorded if this candidate is accepted.
	Approved *Event
}

// Reseal replaces a factor's secret, or an identity's key, sealed under a
// key that is no longer first by the same secret under the first key, if
// it still holds Old.
type Reseal struct {
	FactorID string // "" for the identity's recovery key
	Old, New Sealed
}

// Check is one code to decide on atomically.
type Check struct {
	// Candidates are where the code matched, best first. The first whose
	// step is after its factor's LastStep is accepted; none is a refused
	// code.
	Candidates []Candidate
	// Verify makes this the first code of factor VerifyID: it must be
	// unverified, and becomes verified when a candidate is accepted.
	Verify   bool
	VerifyID string
	// Recovery, with Verify, is stored when the identity holds no
	// recovery codes yet.
	Recovery *RecoverySet
	Reseal   []Reseal
	Now      time.Time
	Limits   Limits
	// Denied is recorded when the code is refused.
	Denied *Event
}

// Spend is one recovery code to decide on atomically.
type Spend struct {
	// HMAC is the code's HMAC under the identity's key, in hex.
	HMAC string
	// Key is the sealed key HMAC was made with; a code is only spent while
	// it is still the identity's key.
	Key    Sealed
	Reseal []Reseal
	Now    time.Time
	Limits Limits
	Used   *Event
	Denied *Event
}

// RecoverySet is a set of recovery codes as stored: the sealed key and
// the HMAC of each code under it, in hex.
type RecoverySet struct {
	Key   Sealed
	HMACs []string
}

// Outcome is what the store decided on a check or a spend.
type Outcome struct {
	Valid bool
	// FactorID is the factor whose candidate was accepted.
	FactorID string
	// Replayed is a refusal whose code matched, but at a step already
	// accepted.
	Replayed bool
	// RecoveryStored reports that Check.Recovery was stored.
	RecoveryStored bool
	// RecoveryCodesLeft counts the unspent recovery codes after a spend.
	RecoveryCodesLeft int
	// AttemptsLeft is what remains of the identity's budget.
	AttemptsLeft int
}

// Store keeps factors. Every method that changes state is atomic on the
// identity, waits for replica acknowledgements as configured, and records
// its events in the same step. A failure of the store itself is an error
// matching otp.ErrUnavailable. Times are the Service's clock.
type Store interface {
	// Load returns what the store holds of identity; an unknown identity
	// is an empty Identity.
	Load(ctx context.Context, identity string, now time.Time) (*Identity, error)
	// Create stores a new unverified factor, or returns ErrLimit when the
	// identity already holds MaxFactors live ones.
	Create(ctx context.Context, identity string, r Record, now time.Time, created *Event) error
	// Check decides on one code. A locked identity is an *otp.LimitError
	// of kind ErrLocked and changes nothing; with Verify, an unknown
	// factor is ErrNotFound and a verified one ErrAlreadyVerified. A
	// refused code counts against Limits.
	Check(ctx context.Context, identity string, c Check) (*Outcome, error)
	// SpendRecovery spends one recovery code, or counts a refused code;
	// locked as Check.
	SpendRecovery(ctx context.Context, identity string, s Spend) (*Outcome, error)
	// ReplaceRecovery makes set the identity's recovery codes, the old
	// ones gone; ErrNotFound when it holds no verified factor.
	ReplaceRecovery(ctx context.Context, identity string, set RecoverySet, now time.Time) error
	// DeleteFactor removes one factor (ErrNotFound if unknown); with the
	// identity's last verified factor go its recovery codes.
	DeleteFactor(ctx context.Context, identity, id string, now time.Time, deleted *Event) error
	// DeleteIdentity removes everything of identity, or returns
	// ErrNotFound when it holds nothing.
	DeleteIdentity(ctx context.Context, identity string, now time.Time, deleted []Event) error
}
