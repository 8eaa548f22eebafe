package factor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/otp"
)

// errReached is what refuseStore answers: the input passed validation.
var errReached = errors.New("reached the store")

// refuseStore answers every call with errReached, so a table can tell
// input refused before the store from input that got there.
type refuseStore struct{}

func (refuseStore) Load(context.Context, string, time.Time) (*Identity, error) {
	return nil, errReached
}
func (refuseStore) Create(context.Context, string, Record, time.Time, *Event) error {
	return errReached
}
func (refuseStore) Check(context.Context, string, Check) (*Outcome, error) { return nil, errReached }
func (refuseStore) SpendRecovery(context.Context, string, Spend) (*Outcome, error) {
	return nil, errReached
}
func (refuseStore) ReplaceRecovery(context.Context, string, RecoverySet, time.Time) error {
	return errReached
}
func (refuseStore) DeleteFactor(context.Context, string, string, time.Time, *Event) error {
	return errReached
}
func (refuseStore) DeleteIdentity(context.Context, string, time.Time, []Event) error {
	return errReached
}

func TestServiceValidatesInputNamingTheField(t *testing.T) {
	s, err := NewService(Config{Issuer: "otpgate", Skew: 1, MaxAttempts: 5}, refuseStore{}, mustKeyring(t, newKey(t, "a")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const ident, id = "user-0001", "fac_0123456789abcdef0123456789abcdef"
	enroll := func(identity string, req EnrollRequest) func() error {
		return func() error { _, err := s.Enroll(ctx, identity, req); return err }
	}
	verify := func(identity, id, code string) func() error {
		return func() error { _, err := s.Verify(ctx, identity, id, code); return err }
	}
	challenge := func(identity string, req ChallengeRequest) func() error {
		return func() error { _, err := s.Challenge(ctx, identity, req); return err }
	}
	label := EnrollRequest{Label: "phone"}
	for _, tc := range []struct {
		name string
		call func() error
		// field is the FieldError's field; "" wants the call to reach the store.
		field string
		// is, when set, is the error wanted instead.
		is error
	}{
		{"identity too short", enroll("user-01", label), "identity", nil},
		{"identity of 8", enroll("user-001", label), "", nil},
		{"identity of 64", enroll(strings.Repeat("a", 64), label), "", nil},
		{"identity too long", enroll(strings.Repeat("a", 65), label), "identity", nil},
		{"identity with a slash", enroll("user/0001", label), "identity", nil},
		{"identity with @", enroll("user@example.com", label), "identity", nil},
		{"identity of . _ -", enroll("A.b_C-9.z", label), "", nil},
		{"no label", enroll(ident, EnrollRequest{}), "label", nil},
		{"label of 64 bytes", enroll(ident, EnrollRequest{Label: strings.Repeat("é", 32)}), "", nil},
		{"label of 65 bytes", enroll(ident, EnrollRequest{Label: strings.Repeat("a", 65)}), "label", nil},
		{"label not UTF-8", enroll(ident, EnrollRequest{Label: "a\xffb"}), "label", nil},
		{"digits 5", enroll(ident, EnrollRequest{Label: "p", Digits: new(5)}), "digits", nil},
		{"digits 7", enroll(ident, EnrollRequest{Label: "p", Digits: new(7)}), "", nil},
		{"digits 9", enroll(ident, EnrollRequest{Label: "p", Digits: new(9)}), "digits", nil},
		{"period 45", enroll(ident, EnrollRequest{Label: "p", Period: new(45)}), "period", nil},
		{"period 60", enroll(ident, EnrollRequest{Label: "p", Period: new(60)}), "", nil},
		{"algorithm lowercase", enroll(ident, EnrollRequest{Label: "p", Algorithm: new(Algorithm("sha1"))}), "algorithm", nil},
		{"algorithm MD5", enroll(ident, EnrollRequest{Label: "p", Algorithm: new(Algorithm("MD5"))}), "algorithm", nil},
		{"algorithm SHA512", enroll(ident, EnrollRequest{Label: "p", Algorithm: new(SHA512)}), "", nil},
		// Only an absent value takes the default; an explicit zero is refused.
		{"digits, period and algorithm absent", enroll(ident, EnrollRequest{Label: "p"}), "", nil},
		{"digits 0", enroll(ident, EnrollRequest{Label: "p", Digits: new(0)}), "digits", nil},
		{"period 0", enroll(ident, EnrollRequest{Label: "p", Period: new(0)}), "period", nil},
		{"algorithm empty", enroll(ident, EnrollRequest{Label: "p", Algorithm: new(Algorithm(""))}), "algorithm", nil},
		{"skew -1", enroll(ident, EnrollRequest{Label: "p", Skew: new(-1)}), "skew", nil},
		{"skew 3", enroll(ident, EnrollRequest{Label: "p", Skew: new(3)}), "skew", nil},
		{"skew 2", enroll(ident, EnrollRequest{Label: "p", Skew: new(2)}), "", nil},
		{"verify code of 5", verify(ident, id, "12345"), "code", nil},
		{"verify code of 9", verify(ident, id, "123456789"), "code", nil},
		{"verify code with a letter", verify(ident, id, "12345a"), "code", nil},
		{"verify code with a space", verify(ident, id, " 123456"), "code", nil},
		{"verify code of 8", verify(ident, id, "12345678"), "", nil},
		{"verify bad identity", verify("x", id, "123456"), "identity", nil},
		// A malformed id is not found, as an unknown one, and so only after
		// the store has told the identity is not locked (TestTheLockComesFirst).
		{"verify malformed id", verify(ident, "fac_XYZ", "123456"), "", nil},
		{"verify id in upper case", verify(ident, strings.ToUpper(id), "123456"), "", nil},
		{"challenge neither", challenge(ident, ChallengeRequest{}), "code", nil},
		{"challenge both", challenge(ident, ChallengeRequest{Code: "123456", RecoveryCode: "abcde-fghjk"}), "recovery_code", nil},
		{"challenge bad code", challenge(ident, ChallengeRequest{Code: "1234"}), "code", nil},
		{"challenge bad recovery code", challenge(ident, ChallengeRequest{RecoveryCode: "abcde-fghju"}), "recovery_code", nil},
		{"challenge recovery code", challenge(ident, ChallengeRequest{RecoveryCode: "ABCDE FGHJK"}), "", nil},
		{"challenge malformed factor id", challenge(ident, ChallengeRequest{Code: "123456", FactorID: "YF123"}), "", nil},
		{"challenge bad identity", challenge("", ChallengeRequest{Code: "123456"}), "identity", nil},
		{"list bad identity", func() error { _, err := s.List(ctx, "a b c d e f"); return err }, "identity", nil},
		{"get malformed id", func() error { _, err := s.Get(ctx, ident, "fac_1"); return err }, "", ErrNotFound},
		{"delete malformed id", func() error { return s.DeleteFactor(ctx, ident, "1") }, "", ErrNotFound},
		{"delete factor bad identity", func() error { return s.DeleteFactor(ctx, "short", id) }, "identity", nil},
		{"delete identity bad identity", func() error { return s.DeleteIdentity(ctx, "short") }, "identity", nil},
		{"regenerate bad identity", func() error { _, err := s.RegenerateRecoveryCodes(ctx, "short"); return err }, "identity", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			switch {
			case tc.is != nil:
				if !errors.Is(err, tc.is) {
					t.Fatalf("error = %v, want %v", err, tc.is)
				}
			case tc.field == "":
				if !errors.Is(err, errReached) {
					t.Fatalf("error = %v, want the input to reach the store", err)
				}
			default:
				var fe *otp.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, otp.ErrInvalidRequest) {
					t.Fatalf("error = %v, want a FieldError of %s", err, tc.field)
				}
				if !strings.HasPrefix(err.Error(), tc.field+": ") {
					t.Fatalf("message %q does not name %s", err, tc.field)
				}
			}
		})
	}
}

func TestNewServiceValidatesConfig(t *testing.T) {
	keys := mustKeyring(t, newKey(t, "a"))
	good := Config{Issuer: "otpgate", Skew: 1, MaxAttempts: 5}
	for _, tc := range []struct {
		name  string
		cfg   Config
		store Store
		keys  *Keyring
		opts  []Option
		want  string
	}{
		{"no issuer", Config{Skew: 1, MaxAttempts: 5}, refuseStore{}, keys, nil, "Issuer"},
		{"skew -1", Config{Issuer: "x", Skew: -1, MaxAttempts: 5}, refuseStore{}, keys, nil, "Skew is -1"},
		{"skew 3", Config{Issuer: "x", Skew: 3, MaxAttempts: 5}, refuseStore{}, keys, nil, "Skew is 3"},
		{"max attempts 0", Config{Issuer: "x", Skew: 1}, refuseStore{}, keys, nil, "MaxAttempts is 0"},
		{"no store", good, nil, keys, nil, "no store"},
		{"no keyring", good, refuseStore{}, nil, nil, "no keyring"},
		{"nil clock", good, refuseStore{}, keys, []Option{WithClock(nil)}, "WithClock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewService(tc.cfg, tc.store, tc.keys, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewService = %v, %v; want an error containing %q", s, err, tc.want)
			}
		})
	}
	for _, cfg := range []Config{good, {Issuer: "x", Skew: 0, MaxAttempts: 1}, {Issuer: "x", Skew: 2, MaxAttempts: 100}} {
		if _, err := NewService(cfg, refuseStore{}, keys, WithObserver(nil)); err != nil {
			t.Errorf("NewService(%+v) = %v, want it built", cfg, err)
		}
	}
}

func TestEventTypesAreTheEventsPackages(t *testing.T) {
	for got, want := range map[string]events.Type{
		eventFactorCreated:     events.TypeFactorCreated,
		eventFactorVerified:    events.TypeFactorVerified,
		eventFactorDeleted:     events.TypeFactorDeleted,
		eventChallengeApproved: events.TypeChallengeApproved,
		eventChallengeDenied:   events.TypeChallengeDenied,
		eventRecoveryCodeUsed:  events.TypeRecoveryCodeUsed,
	} {
		if got != string(want) {
			t.Errorf("event type %q, events says %q", got, want)
		}
	}
}
