package factor_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	gotp "github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestReplayIsRefused(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, rdb, setup{cfg: factor.Config{Skew: 1}})
		en := e.enroll(t, factor.EnrollRequest{})
		code := e.code(t, en, 0)
		if res, err := e.svc.Verify(ctx, ident, en.Factor.ID, code); err != nil || !res.Valid {
			t.Fatalf("Verify = %+v, %v", res, err)
		}
		// Verification counts as a use: the same code cannot then log in.
		ch := e.challenge(t, factor.ChallengeRequest{Code: code})
		if ch.Valid || ch.AttemptsLeft != 4 {
			t.Fatalf("replayed code = %+v; want refused, 4 left", ch)
		}
		// Nor can it a step later, where skew 1 still matches it.
		e.clock.Advance(30 * time.Second)
		if ch := e.challenge(t, factor.ChallengeRequest{Code: code}); ch.Valid {
			t.Fatalf("replayed code a step later = %+v; want refused", ch)
		}
		if ch := e.challenge(t, factor.ChallengeRequest{Code: e.code(t, en, 0)}); !ch.Valid {
			t.Fatalf("the next step's code = %+v; want valid", ch)
		}
		if h := e.heard(); !slices.Equal(h, []string{"valid", "replayed", "replayed", "valid"}) {
			t.Errorf("observer heard %v", h)
		}
	})
}

func TestSkew(t *testing.T) {
	zero := 0
	for _, tc := range []struct {
		name    string
		cfgSkew int
		own     *int
		back    int
		want    bool
	}{
		{"skew 1 accepts one step back", 1, nil, 1, true},
		{"skew 1 refuses two steps back", 1, nil, 2, false},
		{"skew 0 refuses one step back", 0, nil, 1, false},
		{"a factor's own skew 0 wins over skew 1", 1, &zero, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
				e := newEnv(t, rdb, setup{cfg: factor.Config{Skew: tc.cfgSkew}})
				en, _ := e.enrolled(t, factor.EnrollRequest{Skew: tc.own})
				e.clock.Advance(5 * 30 * time.Second)
				late := e.code(t, en, -tc.back)
				ch := e.challenge(t, factor.ChallengeRequest{Code: late})
				if ch.Valid != tc.want {
					t.Fatalf("code %d step(s) back = %+v; want valid %v", tc.back, ch, tc.want)
				}
				if !tc.want {
					return
				}
				if ch := e.challenge(t, factor.ChallengeRequest{Code: late}); ch.Valid {
					t.Fatal("the late code was accepted twice")
				}
				// Its step is spent: so is the code of an earlier step.
				if ch := e.challenge(t, factor.ChallengeRequest{Code: e.code(t, en, -tc.back-1)}); ch.Valid {
					t.Fatal("a code before the last accepted step was accepted")
				}
				if h := e.heard(); !slices.Equal(h, []string{"valid", "replayed", "invalid"}) {
					t.Errorf("observer heard %v", h)
				}
			})
		})
	}
}

func TestParallelSubmissionsOfOneCodeApproveOnce(t *testing.T) {
	e := newEnv(t, redistest.Real(t), setup{cfg: factor.Config{MaxAttempts: 100}})
	en, _ := e.enrolled(t, factor.EnrollRequest{})
	e.clock.Advance(30 * time.Second)
	code := e.code(t, en, 0)
	const n = 20
	results := make(chan *factor.ChallengeResult, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := e.svc.Challenge(context.Background(), ident, factor.ChallengeRequest{Code: code})
			if err != nil {
				errs <- err
				return
			}
			results <- res
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatalf("Challenge: %v", err)
	}
	approved := 0
	for r := range results {
		if r.Valid {
			approved++
		}
	}
	if approved != 1 {
		t.Fatalf("%d of %d parallel submissions approved, want 1", approved, n)
	}
	h := e.heard()
	slices.Sort(h)
	if want := append(slices.Repeat([]string{"replayed"}, n-1), "valid"); !slices.Equal(h, want) {
		t.Errorf("observer heard %v, want one valid and %d replayed", h, n-1)
	}
}

func TestLockAfterMaxAttempts(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, rdb, setup{cfg: factor.Config{MaxAttempts: 3}})
		en, codes := e.enrolled(t, factor.EnrollRequest{})
		e.clock.Advance(30 * time.Second)
		first := e.clock.Now()
		for want := 2; want >= 0; want-- {
			ch := e.challenge(t, factor.ChallengeRequest{Code: e.wrong(t, en)})
			if ch.Valid || ch.AttemptsLeft != want {
				t.Fatalf("wrong code = %+v; want refused with %d left", ch, want)
			}
			e.clock.Advance(time.Second)
		}
		for _, req := range []factor.ChallengeRequest{{Code: e.code(t, en, 0)}, {RecoveryCode: codes[0]}} {
			_, err := e.svc.Challenge(ctx, ident, req)
			le, ok := errors.AsType[*gotp.LimitError](err)
			if !ok || !errors.Is(err, factor.ErrLocked) || le.Limit != 3 || le.Remaining != 0 || !le.Reset.Equal(first.Add(factor.AttemptWindow)) {
				t.Fatalf("right code while locked = %v (%+v); want ErrLocked resetting at %v", err, le, first.Add(factor.AttemptWindow))
			}
		}
		en2 := e.enroll(t, factor.EnrollRequest{Label: "tablet"})
		if _, err := e.svc.Verify(ctx, ident, en2.Factor.ID, e.code(t, en2, 0)); !errors.Is(err, factor.ErrLocked) {
			t.Fatalf("Verify while locked = %v, want ErrLocked", err)
		}
		if h := e.heard(); !slices.Equal(h, []string{"invalid", "invalid", "invalid", "locked", "locked", "locked"}) {
			t.Errorf("observer heard %v", h)
		}
		e.clock.Advance(first.Add(factor.AttemptWindow).Sub(e.clock.Now()))
		if ch := e.challenge(t, factor.ChallengeRequest{Code: e.code(t, en, 0)}); !ch.Valid || ch.AttemptsLeft != 3 {
			t.Fatalf("right code once the window ended = %+v; want valid, 3 left", ch)
		}
	})
}

func TestRecoveryCodes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, rdb, setup{})
		en, codes := e.enrolled(t, factor.EnrollRequest{})
		ch := e.challenge(t, factor.ChallengeRequest{RecoveryCode: codes[0]})
		if !ch.Valid || !ch.Recovery || ch.RecoveryCodesLeft != 9 || ch.AttemptsLeft != 5 {
			t.Fatalf("recovery code = %+v; want valid with 9 left", ch)
		}
		if ch := e.challenge(t, factor.ChallengeRequest{RecoveryCode: codes[0]}); ch.Valid || ch.Recovery || ch.AttemptsLeft != 4 {
			t.Fatalf("spent recovery code = %+v; want refused, 4 left", ch)
		}
		// As a person may type it: upper case, no dash, i/l/o for 1/0.
		typed := strings.NewReplacer("-", "", "1", "l", "0", "O").Replace(strings.ToUpper(codes[1]))
		if ch := e.challenge(t, factor.ChallengeRequest{RecoveryCode: typed}); !ch.Valid || ch.RecoveryCodesLeft != 8 {
			t.Fatalf("recovery code typed as %q = %+v; want valid with 8 left", typed, ch)
		}
		if h := e.heard(); !slices.Equal(h, []string{"recovery_valid", "recovery_invalid", "recovery_valid"}) {
			t.Errorf("observer heard %v", h)
		}

		// A second factor's verification keeps the identity's codes.
		en2 := e.enroll(t, factor.EnrollRequest{Label: "tablet"})
		res, err := e.svc.Verify(ctx, ident, en2.Factor.ID, e.code(t, en2, 0))
		if err != nil || !res.Valid || res.RecoveryCodes != nil {
			t.Fatalf("second factor's Verify = %+v, %v; want valid without new codes", res, err)
		}
		if ch := e.challenge(t, factor.ChallengeRequest{RecoveryCode: codes[2]}); !ch.Valid || ch.RecoveryCodesLeft != 7 {
			t.Fatalf("first set's code after a second factor = %+v; want valid", ch)
		}

		fresh, err := e.svc.RegenerateRecoveryCodes(ctx, ident)
		if err != nil || len(fresh) != factor.RecoveryCodeCount {
			t.Fatalf("RegenerateRecoveryCodes = %d codes, %v", len(fresh), err)
		}
		if ch := e.challenge(t, factor.ChallengeRequest{RecoveryCode: codes[3]}); ch.Valid {
			t.Fatal("an old code works after the codes were regenerated")
		}
		if ch := e.challenge(t, factor.ChallengeRequest{RecoveryCode: fresh[9]}); !ch.Valid || ch.RecoveryCodesLeft != 9 {
			t.Fatalf("a new code = %+v; want valid with 9 left", ch)
		}

		// With the last verified factor go the codes.
		for _, id := range []string{en.Factor.ID, en2.Factor.ID} {
			if err := e.svc.DeleteFactor(ctx, ident, id); err != nil {
				t.Fatalf("DeleteFactor: %v", err)
			}
		}
		if _, err := e.svc.RegenerateRecoveryCodes(ctx, ident); !errors.Is(err, factor.ErrNotFound) {
			t.Fatalf("RegenerateRecoveryCodes without a verified factor = %v, want ErrNotFound", err)
		}
		_, codes3 := e.enrolled(t, factor.EnrollRequest{})
		if len(codes3) != factor.RecoveryCodeCount {
			t.Fatalf("a new first factor gave %d codes, want %d", len(codes3), factor.RecoveryCodeCount)
		}
		if ch := e.challenge(t, factor.ChallengeRequest{RecoveryCode: fresh[0]}); ch.Valid {
			t.Fatal("a code of deleted factors' set works")
		}
	})
}

// TestTheLockComesFirst: a locked identity's verify and challenges answer
// the lock until the window ends, before any answer that depends on the
// factor (unknown, already verified, not verified, none to challenge).
func TestTheLockComesFirst(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, rdb, setup{cfg: factor.Config{MaxAttempts: 1}})
		pending := e.enroll(t, factor.EnrollRequest{})
		// An identity with no verified factor is locked by its verifies.
		if res, err := e.svc.Verify(ctx, ident, pending.Factor.ID, e.wrong(t, pending)); err != nil || res.Valid || res.AttemptsLeft != 0 {
			t.Fatalf("wrong first code = %+v, %v; want refused, 0 left", res, err)
		}
		end := start.Add(factor.AttemptWindow)
		wantLocked := func(name string, err error) {
			t.Helper()
			le, ok := errors.AsType[*gotp.LimitError](err)
			if !ok || !errors.Is(err, factor.ErrLocked) || le.Limit != 1 || le.Remaining != 0 || !le.Reset.Equal(end) {
				t.Errorf("%s while locked = %v (%+v); want ErrLocked resetting at %v", name, err, le, end)
			}
		}
		_, err := e.svc.Challenge(ctx, ident, factor.ChallengeRequest{Code: e.code(t, pending, 0)})
		wantLocked("a challenge with no verified factor", err)
		_, err = e.svc.Challenge(ctx, ident, factor.ChallengeRequest{Code: e.code(t, pending, 0), FactorID: pending.Factor.ID})
		wantLocked("a challenge of an unverified factor", err)
		_, err = e.svc.Challenge(ctx, ident, factor.ChallengeRequest{RecoveryCode: "abcde-12345"})
		wantLocked("a recovery code with none", err)
		_, err = e.svc.Verify(ctx, ident, "fac_00000000000000000000000000000000", "123456")
		wantLocked("the verify of an unknown factor", err)
		_, err = e.svc.Verify(ctx, ident, "not-a-factor-id", "123456")
		wantLocked("the verify of a malformed factor id", err)

		// And the verify of a factor already verified.
		e.clock.Advance(factor.AttemptWindow)
		if res, err := e.svc.Verify(ctx, ident, pending.Factor.ID, e.code(t, pending, 0)); err != nil || !res.Valid {
			t.Fatalf("Verify once the window ended = %+v, %v", res, err)
		}
		e.clock.Advance(30 * time.Second)
		if ch := e.challenge(t, factor.ChallengeRequest{Code: e.wrong(t, pending)}); ch.Valid {
			t.Fatal("a wrong code was accepted")
		}
		end = e.clock.Now().Add(factor.AttemptWindow)
		_, err = e.svc.Verify(ctx, ident, pending.Factor.ID, e.code(t, pending, 0))
		wantLocked("the verify of a verified factor", err)
		if h := e.heard(); !slices.Equal(h, []string{"invalid", "locked", "locked", "locked", "locked", "locked", "valid", "invalid", "locked"}) {
			t.Errorf("observer heard %v", h)
		}
	})
}
